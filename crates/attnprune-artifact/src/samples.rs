//! The sample table: one row per evaluated head mask.
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `mask_id` | UInt64 | index of the mask in the run's draw (0 = unpruned) |
//! | `origin` | Utf8 | `unpruned`, `single-head`, `random` or `proposed` |
//! | `mask` | FixedSizeList<Boolean>[layers x heads] | `true` = pruned, flat `layer * heads + head` |
//! | `num_pruned` | UInt32 | number of pruned heads |
//! | `bias/<axis>` | Float64 | bias of the axis (sum over buckets of \|axis mean - bucket mean\|) |
//! | `bucket_mean/<axis>/<bucket>` | Float64 | mean reply score of the bucket's prompts (field metadata `prompts`: how many) |
//! | `logit_bias/<axis>` | Float64 | the same bias on the log-odds scale (scores `s` as `ln(s / (1 - s))`) |
//! | `logit_bucket_mean/<axis>/<bucket>` | Float64 | mean log-odds score of the bucket's prompts |
//! | `perplexity` | Float64 | perplexity on the utility text |
//! | `window_nll` | List<Float64> | mean NLL per token of each perplexity window (for paired intervals) |
//! | `eval_seconds` | Float64 | wall time of the evaluation (the only non-deterministic column) |
//!
//! The model layout, prompt set, corpus and settings are in the provenance.

mod lock;
mod parts;

pub use lock::PartsLock;
pub use parts::SampleTableWriter;

use crate::table::{column, read_table, write_table};
use crate::{ArtifactError, Provenance, Result};
use arrow::array::{
    Array, ArrayRef, BooleanArray, BooleanBuilder, FixedSizeListArray, FixedSizeListBuilder,
    Float64Array, Float64Builder, ListArray, ListBuilder, RecordBatch, StringArray, UInt32Array,
    UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema};
use attnprune_mask::{HeadLayout, HeadMask};
use std::path::Path;
use std::sync::Arc;

/// Artifact kind of sample tables.
pub const SAMPLE_TABLE_KIND: &str = "sample-table";
/// Schema version of sample tables (2: log-odds bias and bucket means, per-window NLL,
/// bucket prompt counts).
pub const SAMPLE_TABLE_VERSION: u32 = 2;

/// Field-metadata key of a `bucket_mean/...` column holding the bucket's prompt count.
pub const BUCKET_COUNT_KEY: &str = "prompts";

/// The measured columns of a sample table: which axes and buckets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleColumns {
    /// Demographic axes, one `bias/<axis>` column each.
    pub axes: Vec<String>,
    /// `(axis, bucket)` pairs, one `bucket_mean/<axis>/<bucket>` column each.
    pub buckets: Vec<(String, String)>,
    /// Prompts measured in each bucket, aligned with `buckets` (the weights of the axis mean).
    pub bucket_counts: Vec<u64>,
}

/// One evaluated mask.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleRow {
    /// Index of the mask in the run's draw.
    pub mask_id: u64,
    /// How the mask was chosen: `unpruned`, `single-head`, `random`, `proposed`.
    pub origin: String,
    /// The mask.
    pub mask: HeadMask,
    /// Bias per axis, aligned with [`SampleColumns::axes`].
    pub bias: Vec<f64>,
    /// Mean score per bucket, aligned with [`SampleColumns::buckets`].
    pub bucket_means: Vec<f64>,
    /// Bias per axis on the log-odds scale, aligned with [`SampleColumns::axes`].
    pub logit_bias: Vec<f64>,
    /// Mean log-odds score per bucket, aligned with [`SampleColumns::buckets`].
    pub logit_bucket_means: Vec<f64>,
    /// Perplexity on the utility text.
    pub perplexity: f64,
    /// Mean NLL per token of each perplexity window, in window order.
    pub window_nll: Vec<f64>,
    /// Wall-clock seconds the evaluation took.
    pub eval_seconds: f64,
}

/// A whole sample table in memory.
#[derive(Debug, Clone)]
pub struct SampleTable {
    /// Where it comes from (holds the layout, model, prompt set and corpus).
    pub provenance: Provenance,
    /// The model's head layout.
    pub layout: HeadLayout,
    /// The measured columns.
    pub columns: SampleColumns,
    /// The rows, sorted by `mask_id`.
    pub rows: Vec<SampleRow>,
}

impl SampleTable {
    /// Index of an axis' bias column, or an error naming the available axes.
    pub fn axis_index(&self, axis: &str, origin: &Path) -> Result<usize> {
        self.columns
            .axes
            .iter()
            .position(|a| a == axis)
            .ok_or_else(|| ArtifactError::Schema {
                path: origin.display().to_string(),
                message: format!(
                    "no bias column for axis `{axis}`; the table has {:?}",
                    self.columns.axes
                ),
            })
    }
}

fn bias_column(axis: &str) -> String {
    format!("bias/{axis}")
}

fn bucket_column(axis: &str, bucket: &str) -> String {
    format!("bucket_mean/{axis}/{bucket}")
}

fn logit_bias_column(axis: &str) -> String {
    format!("logit_bias/{axis}")
}

fn logit_bucket_column(axis: &str, bucket: &str) -> String {
    format!("logit_bucket_mean/{axis}/{bucket}")
}

fn window_nll_field() -> Field {
    Field::new(
        "window_nll",
        DataType::List(Arc::new(Field::new("item", DataType::Float64, false))),
        false,
    )
}

/// The Arrow schema of a sample table with these columns and layout.
pub fn sample_schema(layout: HeadLayout, columns: &SampleColumns) -> Arc<Schema> {
    let item = Arc::new(Field::new("item", DataType::Boolean, false));
    let mut fields = vec![
        Field::new("mask_id", DataType::UInt64, false),
        Field::new("origin", DataType::Utf8, false),
        Field::new(
            "mask",
            DataType::FixedSizeList(item, layout.total() as i32),
            false,
        ),
        Field::new("num_pruned", DataType::UInt32, false),
    ];
    fields.extend(
        columns
            .axes
            .iter()
            .map(|a| Field::new(bias_column(a), DataType::Float64, false)),
    );
    fields.extend(
        columns
            .buckets
            .iter()
            .zip(&columns.bucket_counts)
            .map(|((a, b), n)| {
                let meta = std::collections::HashMap::from([(
                    BUCKET_COUNT_KEY.to_string(),
                    n.to_string(),
                )]);
                Field::new(bucket_column(a, b), DataType::Float64, false).with_metadata(meta)
            }),
    );
    fields.extend(
        columns
            .axes
            .iter()
            .map(|a| Field::new(logit_bias_column(a), DataType::Float64, false)),
    );
    fields.extend(
        columns
            .buckets
            .iter()
            .map(|(a, b)| Field::new(logit_bucket_column(a, b), DataType::Float64, false)),
    );
    fields.push(Field::new("perplexity", DataType::Float64, false));
    fields.push(window_nll_field());
    fields.push(Field::new("eval_seconds", DataType::Float64, false));
    Arc::new(Schema::new(fields))
}

fn to_batch(
    layout: HeadLayout,
    columns: &SampleColumns,
    rows: &[SampleRow],
    path: &Path,
) -> Result<RecordBatch> {
    let schema = sample_schema(layout, columns);
    let item = Field::new("item", DataType::Boolean, false);
    let mut masks =
        FixedSizeListBuilder::new(BooleanBuilder::new(), layout.total() as i32).with_field(item);
    for row in rows {
        masks.values().append_slice(row.mask.bits());
        masks.append(true);
    }
    let f64s = |values: Vec<f64>| Arc::new(Float64Array::from(values)) as ArrayRef;
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from_iter_values(
            rows.iter().map(|r| r.mask_id),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.origin.as_str()),
        )),
        Arc::new(masks.finish()),
        Arc::new(UInt32Array::from_iter_values(
            rows.iter().map(|r| r.mask.num_pruned() as u32),
        )),
    ];
    arrays.extend((0..columns.axes.len()).map(|i| f64s(rows.iter().map(|r| r.bias[i]).collect())));
    arrays.extend(
        (0..columns.buckets.len()).map(|i| f64s(rows.iter().map(|r| r.bucket_means[i]).collect())),
    );
    arrays.extend(
        (0..columns.axes.len()).map(|i| f64s(rows.iter().map(|r| r.logit_bias[i]).collect())),
    );
    arrays.extend(
        (0..columns.buckets.len())
            .map(|i| f64s(rows.iter().map(|r| r.logit_bucket_means[i]).collect())),
    );
    arrays.push(f64s(rows.iter().map(|r| r.perplexity).collect()));
    let mut windows = ListBuilder::new(Float64Builder::new()).with_field(Arc::new(Field::new(
        "item",
        DataType::Float64,
        false,
    )));
    for row in rows {
        windows.values().append_slice(&row.window_nll);
        windows.append(true);
    }
    arrays.push(Arc::new(windows.finish()));
    arrays.push(f64s(rows.iter().map(|r| r.eval_seconds).collect()));
    RecordBatch::try_new(schema, arrays).map_err(|e| ArtifactError::Schema {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// Checks that a row's metrics are finite and aligned with the columns.
fn check_row(row: &SampleRow, columns: &SampleColumns, path: &Path) -> Result<()> {
    let bad = |message: String| ArtifactError::BadValue {
        path: path.display().to_string(),
        message,
    };
    if row.bias.len() != columns.axes.len()
        || row.bucket_means.len() != columns.buckets.len()
        || row.logit_bias.len() != columns.axes.len()
        || row.logit_bucket_means.len() != columns.buckets.len()
        || columns.bucket_counts.len() != columns.buckets.len()
    {
        return Err(bad(format!(
            "row for mask {} has the wrong number of metrics",
            row.mask_id
        )));
    }
    let named = columns.axes.iter().map(|a| bias_column(a)).zip(&row.bias);
    let buckets = columns
        .buckets
        .iter()
        .map(|(a, b)| bucket_column(a, b))
        .zip(&row.bucket_means);
    let logit_named = columns
        .axes
        .iter()
        .map(|a| logit_bias_column(a))
        .zip(&row.logit_bias);
    let logit_buckets = columns
        .buckets
        .iter()
        .map(|(a, b)| logit_bucket_column(a, b))
        .zip(&row.logit_bucket_means);
    let windows = row.window_nll.iter().map(|v| ("window_nll".to_string(), v));
    let all = named
        .chain(buckets)
        .chain(logit_named)
        .chain(logit_buckets)
        .chain(windows)
        .chain(std::iter::once(("perplexity".to_string(), &row.perplexity)));
    for (name, value) in all {
        if !value.is_finite() {
            return Err(bad(format!(
                "mask {}: `{name}` is {value}, not a finite number",
                row.mask_id
            )));
        }
    }
    Ok(())
}

/// Writes a sample table atomically (rows must have finite metrics).
pub fn write_sample_table(path: &Path, table: &SampleTable) -> Result<()> {
    for row in &table.rows {
        check_row(row, &table.columns, path)?;
    }
    let batch = to_batch(table.layout, &table.columns, &table.rows, path)?;
    write_table(path, batch.schema(), &[batch], &table.provenance)
}

/// Reads a sample table, checking its kind, schema, mask length and values.
pub fn read_sample_table(path: &Path) -> Result<SampleTable> {
    let table = read_table(path)?;
    let provenance = table.provenance;
    provenance.check_kind(path, SAMPLE_TABLE_KIND, SAMPLE_TABLE_VERSION)?;
    let layout = provenance.layout.ok_or_else(|| ArtifactError::Schema {
        path: path.display().to_string(),
        message: "provenance has no head layout".into(),
    })?;
    let columns = columns_from_schema(&table.schema, path)?;
    let mut rows = Vec::new();
    for batch in &table.batches {
        rows.extend(rows_from_batch(batch, layout, &columns, path)?);
    }
    rows.sort_by_key(|r| r.mask_id);
    Ok(SampleTable {
        provenance,
        layout,
        columns,
        rows,
    })
}

/// Reads one or more sample tables and checks that they were measured the same way (model,
/// prompts, corpus, settings, columns) as the first; returns them in order.
pub fn read_tables(paths: &[std::path::PathBuf]) -> Result<Vec<SampleTable>> {
    let first_path = paths.first().ok_or_else(|| ArtifactError::Mismatch {
        message: "no sample table given".into(),
    })?;
    let first = read_sample_table(first_path)?;
    let mut tables = Vec::with_capacity(paths.len());
    for path in &paths[1..] {
        let table = read_sample_table(path)?;
        table
            .provenance
            .check_same_measurement(path, &first.provenance, first_path)?;
        if table.columns != first.columns {
            return Err(ArtifactError::Mismatch {
                message: format!(
                    "`{}` has other measured columns than `{}`",
                    path.display(),
                    first_path.display()
                ),
            });
        }
        tables.push(table);
    }
    tables.insert(0, first);
    Ok(tables)
}

/// Reads one or more sample tables (shards of a run, or the rounds of a search) measured
/// the same way and combines their rows; a mask measured in several tables (such as the
/// unpruned model, row 0 of every round) is kept once, from the first table. Tables of the
/// same mask plan (the shards of one run: same `masks` setting, seed and input lists) count as
/// one table: their rows are put in `mask_id` order before duplicates are dropped, so the
/// shards of a run combine exactly as its unsharded table reads (a random mask that repeats a
/// single-head knockout keeps the knockout's lower id whichever shard holds it). Returns the
/// combined table and the first path (for messages).
pub fn read_samples(paths: &[std::path::PathBuf]) -> Result<(SampleTable, std::path::PathBuf)> {
    let mut tables = read_tables(paths)?.into_iter();
    let mut combined = tables.next().ok_or_else(|| ArtifactError::Mismatch {
        message: "no sample table given".into(),
    })?;
    let plan = |p: &Provenance| (p.settings.get("masks").cloned(), p.seed, p.inputs.clone());
    let mut plans = vec![plan(&combined.provenance)];
    let mut keyed: Vec<(usize, SampleRow)> = std::mem::take(&mut combined.rows)
        .into_iter()
        .map(|r| (0, r))
        .collect();
    for table in tables {
        let p = plan(&table.provenance);
        let group = match plans.iter().position(|q| *q == p) {
            Some(g) => g,
            None => {
                plans.push(p);
                plans.len() - 1
            }
        };
        keyed.extend(table.rows.into_iter().map(|r| (group, r)));
    }
    // Stable: within a plan, equal ids keep the tables' order.
    keyed.sort_by_key(|(g, r)| (*g, r.mask_id));
    let mut seen = std::collections::HashSet::new();
    combined.rows = keyed
        .into_iter()
        .map(|(_, r)| r)
        .filter(|r| seen.insert(r.mask.bits().to_vec()))
        .collect();
    combined.rows.sort_by_key(|r| r.mask_id);
    Ok((combined, paths[0].clone()))
}

fn columns_from_schema(schema: &Schema, path: &Path) -> Result<SampleColumns> {
    let mut axes = Vec::new();
    let mut buckets = Vec::new();
    let mut bucket_counts = Vec::new();
    for field in schema.fields() {
        if let Some(axis) = field.name().strip_prefix("bias/") {
            axes.push(axis.to_string());
        } else if let Some(rest) = field.name().strip_prefix("bucket_mean/") {
            if let Some((axis, bucket)) = rest.split_once('/') {
                buckets.push((axis.to_string(), bucket.to_string()));
                let count = field
                    .metadata()
                    .get(BUCKET_COUNT_KEY)
                    .and_then(|n| n.parse().ok());
                bucket_counts.push(count.ok_or_else(|| ArtifactError::Schema {
                    path: path.display().to_string(),
                    message: format!(
                        "column `{}` has no `{BUCKET_COUNT_KEY}` count in its field metadata",
                        field.name()
                    ),
                })?);
            }
        }
    }
    Ok(SampleColumns {
        axes,
        buckets,
        bucket_counts,
    })
}

fn rows_from_batch(
    batch: &RecordBatch,
    layout: HeadLayout,
    columns: &SampleColumns,
    path: &Path,
) -> Result<Vec<SampleRow>> {
    let ids = column::<UInt64Array>(batch, "mask_id", path)?;
    let origins = column::<StringArray>(batch, "origin", path)?;
    let masks = column::<FixedSizeListArray>(batch, "mask", path)?;
    let ppl = column::<Float64Array>(batch, "perplexity", path)?;
    let secs = column::<Float64Array>(batch, "eval_seconds", path)?;
    let bias: Vec<&Float64Array> = columns
        .axes
        .iter()
        .map(|a| column(batch, &bias_column(a), path))
        .collect::<Result<_>>()?;
    let means: Vec<&Float64Array> = columns
        .buckets
        .iter()
        .map(|(a, b)| column(batch, &bucket_column(a, b), path))
        .collect::<Result<_>>()?;
    let logit_bias: Vec<&Float64Array> = columns
        .axes
        .iter()
        .map(|a| column(batch, &logit_bias_column(a), path))
        .collect::<Result<_>>()?;
    let logit_means: Vec<&Float64Array> = columns
        .buckets
        .iter()
        .map(|(a, b)| column(batch, &logit_bucket_column(a, b), path))
        .collect::<Result<_>>()?;
    let windows = column::<ListArray>(batch, "window_nll", path)?;
    (0..batch.num_rows())
        .map(|i| {
            let row = SampleRow {
                mask_id: ids.value(i),
                origin: origins.value(i).to_string(),
                mask: mask_at(masks, i, layout, path)?,
                bias: bias.iter().map(|c| c.value(i)).collect(),
                bucket_means: means.iter().map(|c| c.value(i)).collect(),
                logit_bias: logit_bias.iter().map(|c| c.value(i)).collect(),
                logit_bucket_means: logit_means.iter().map(|c| c.value(i)).collect(),
                perplexity: ppl.value(i),
                window_nll: f64_list(windows, i, path)?,
                eval_seconds: secs.value(i),
            };
            check_row(&row, columns, path)?;
            Ok(row)
        })
        .collect()
}

fn f64_list(list: &ListArray, i: usize, path: &Path) -> Result<Vec<f64>> {
    let values = list.value(i);
    let values = values
        .as_any()
        .downcast_ref::<Float64Array>()
        .ok_or_else(|| ArtifactError::Schema {
            path: path.display().to_string(),
            message: "column `window_nll` is not a list of Float64".into(),
        })?;
    Ok(values.values().to_vec())
}

fn mask_at(
    masks: &FixedSizeListArray,
    i: usize,
    layout: HeadLayout,
    path: &Path,
) -> Result<HeadMask> {
    let values = masks.value(i);
    let bits = values
        .as_any()
        .downcast_ref::<BooleanArray>()
        .ok_or_else(|| ArtifactError::Schema {
            path: path.display().to_string(),
            message: "column `mask` is not a list of booleans".into(),
        })?;
    let bits: Vec<bool> = (0..bits.len()).map(|j| bits.value(j)).collect();
    HeadMask::from_bits(layout, bits).map_err(|source| ArtifactError::Mask {
        path: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests;
