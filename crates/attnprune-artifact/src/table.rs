//! Parquet tables with provenance in their key-value metadata.

use crate::atomic::write_atomic;
use crate::{ArtifactError, Provenance, Result};
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use std::path::Path;

/// Key-value metadata key holding the provenance JSON.
pub const PROVENANCE_KEY: &str = "attnprune.provenance";
/// Key-value metadata key holding the schema version (also inside the provenance), for people and other tools.
pub const SCHEMA_VERSION_KEY: &str = "attnprune.schema_version";

/// A table read back: its batches, schema and provenance.
pub struct ReadTable {
    /// The Arrow schema.
    pub schema: SchemaRef,
    /// All record batches, in file order.
    pub batches: Vec<RecordBatch>,
    /// The provenance found in the metadata.
    pub provenance: Provenance,
}

/// Writes `batches` (all of `schema`) to `path` atomically, with `provenance` in the file's
/// key-value metadata and on the embedded Arrow schema too (where
/// `pyarrow.parquet.read_table(f).schema.metadata`, and pandas on top of it, look).
pub fn write_table(
    path: &Path,
    schema: SchemaRef,
    batches: &[RecordBatch],
    provenance: &Provenance,
) -> Result<()> {
    let mut metadata = schema.metadata().clone();
    metadata.insert(PROVENANCE_KEY.to_string(), provenance.to_json());
    metadata.insert(
        SCHEMA_VERSION_KEY.to_string(),
        provenance.schema_version.to_string(),
    );
    let schema = std::sync::Arc::new(schema.as_ref().clone().with_metadata(metadata));
    let batches = batches
        .iter()
        .map(|b| RecordBatch::try_new(schema.clone(), b.columns().to_vec()))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| ArtifactError::Schema {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_key_value_metadata(Some(vec![
            KeyValue::new(PROVENANCE_KEY.to_string(), provenance.to_json()),
            KeyValue::new(
                SCHEMA_VERSION_KEY.to_string(),
                provenance.schema_version.to_string(),
            ),
        ]))
        .build();
    let parquet_err = |e: parquet::errors::ParquetError| ArtifactError::Parquet {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    write_atomic(path, |file| {
        let mut writer = ArrowWriter::try_new(file, schema, Some(props)).map_err(parquet_err)?;
        for batch in &batches {
            writer.write(batch).map_err(parquet_err)?;
        }
        writer.close().map_err(parquet_err)?;
        Ok(())
    })
}

/// Reads a whole table and its provenance; a file without attnprune
/// provenance, or not Parquet at all, is an error naming the file.
pub fn read_table(path: &Path) -> Result<ReadTable> {
    let origin = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| ArtifactError::Io {
        path: origin.clone(),
        source,
    })?;
    // The parquet crate panics on some corrupt files (thrift metadata it cannot decode): such
    // a file is refused with an error like any other corrupt one.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_parquet(file, &origin))) {
        Ok(result) => result,
        Err(panic) => Err(ArtifactError::Parquet {
            path: origin.clone(),
            message: format!(
                "corrupt file: the parquet reader failed ({})",
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
                    .unwrap_or_else(|| "a panic".into())
            ),
        }),
    }
}

fn read_parquet(file: std::fs::File, origin: &str) -> Result<ReadTable> {
    let origin = origin.to_string();
    let parquet_err = |e: parquet::errors::ParquetError| ArtifactError::Parquet {
        path: origin.clone(),
        message: e.to_string(),
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet_err)?;
    let provenance_json = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kvs| kvs.iter().find(|kv| kv.key == PROVENANCE_KEY))
        .and_then(|kv| kv.value.clone())
        .ok_or_else(|| ArtifactError::Schema {
            path: origin.clone(),
            message: format!("no `{PROVENANCE_KEY}` metadata: not written by attnprune"),
        })?;
    let provenance = Provenance::from_json(&provenance_json, &origin)?;
    let schema = builder.schema().clone();
    let reader = builder.build().map_err(parquet_err)?;
    let batches = reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| ArtifactError::Parquet {
            path: origin.clone(),
            message: e.to_string(),
        })?;
    Ok(ReadTable {
        schema,
        batches,
        provenance,
    })
}

/// A column of `batch` by name, downcast to the Arrow array type `T`; a
/// missing column or another type is a schema error naming `path`.
pub fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str, path: &Path) -> Result<&'a T> {
    let schema_err = |message: String| ArtifactError::Schema {
        path: path.display().to_string(),
        message,
    };
    let array = batch
        .column_by_name(name)
        .ok_or_else(|| schema_err(format!("missing column `{name}`")))?;
    array.as_any().downcast_ref::<T>().ok_or_else(|| {
        schema_err(format!(
            "column `{name}` has type `{}`, not the expected one",
            array.data_type()
        ))
    })
}
