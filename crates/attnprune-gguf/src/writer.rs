//! [`GgufWriter`]: builds small GGUF v3 files in memory (for tests and tools).

use std::path::Path;

use crate::error::GgufError;
use crate::file::{align_up, check_alignment, ALIGNMENT_KEY, MAGIC};
use crate::metadata::{MetadataValue, MAX_ARRAY_DEPTH};
use crate::quantize::quantize_q8_0;
use crate::tensor::{TensorInfo, MAX_DIMS};
use crate::types::GgmlType;

/// A tensor queued for writing: its table entry (offset filled in later) and bytes.
#[derive(Debug, Clone)]
struct PendingTensor {
    info: TensorInfo,
    data: Vec<u8>,
}

/// Builder for a GGUF v3 file: metadata and tensors are collected in memory,
/// then serialized by [`GgufWriter::to_bytes`] or [`GgufWriter::write`].
///
/// Data alignment is 32 bytes unless `general.alignment` is set.
#[derive(Debug, Clone, Default)]
pub struct GgufWriter {
    metadata: Vec<(String, MetadataValue)>,
    tensors: Vec<PendingTensor>,
}

impl GgufWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set metadata `key` to `value`, replacing an earlier value for the same key.
    pub fn add_metadata(&mut self, key: impl Into<String>, value: MetadataValue) -> &mut Self {
        let key = key.into();
        match self.metadata.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.metadata.push((key, value)),
        }
        self
    }

    /// Set a string metadata value.
    pub fn add_string(&mut self, key: impl Into<String>, value: &str) -> &mut Self {
        self.add_metadata(key, MetadataValue::String(value.to_owned()))
    }

    /// Set a `u32` metadata value.
    pub fn add_u32(&mut self, key: impl Into<String>, value: u32) -> &mut Self {
        self.add_metadata(key, MetadataValue::U32(value))
    }

    /// Set an `f32` metadata value.
    pub fn add_f32(&mut self, key: impl Into<String>, value: f32) -> &mut Self {
        self.add_metadata(key, MetadataValue::F32(value))
    }

    /// Set an array-of-strings metadata value.
    pub fn add_string_array<S: AsRef<str>>(
        &mut self,
        key: impl Into<String>,
        values: &[S],
    ) -> &mut Self {
        let items = values
            .iter()
            .map(|s| MetadataValue::String(s.as_ref().to_owned()))
            .collect();
        self.add_metadata(key, MetadataValue::Array(items))
    }

    /// Add a tensor from f32 data in row-major order with row-major `shape`,
    /// stored as `dtype` (F32, F16, or Q8_0 quantized like ggml).
    pub fn add_tensor(
        &mut self,
        name: &str,
        shape: &[usize],
        dtype: GgmlType,
        data: &[f32],
    ) -> Result<&mut Self, GgufError> {
        let invalid = |reason: String| GgufError::InvalidTensor {
            name: name.to_owned(),
            reason,
        };
        let n = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
        if n != Some(data.len()) {
            return Err(invalid(format!(
                "shape `{shape:?}` does not match `{}` values",
                data.len()
            )));
        }
        let bytes = match dtype {
            GgmlType::F32 => data.iter().flat_map(|x| x.to_le_bytes()).collect(),
            GgmlType::F16 => data
                .iter()
                .flat_map(|&x| half::f16::from_f32(x).to_bits().to_le_bytes())
                .collect(),
            GgmlType::Q8_0 => quantize_q8_0(data),
            other => {
                return Err(invalid(format!(
                    "writer cannot encode type `{}`",
                    other.name()
                )))
            }
        };
        let dims: Vec<u64> = shape.iter().rev().map(|&d| d as u64).collect();
        self.add_raw_tensor(name, &dims, dtype, bytes)
    }

    /// Add a tensor from already-encoded bytes; `dims` are in GGUF order
    /// (fastest-varying first). Useful for writing arbitrary types in tests.
    pub fn add_raw_tensor(
        &mut self,
        name: &str,
        dims: &[u64],
        dtype: GgmlType,
        data: Vec<u8>,
    ) -> Result<&mut Self, GgufError> {
        let invalid = |reason: String| GgufError::InvalidTensor {
            name: name.to_owned(),
            reason,
        };
        if dims.len() > MAX_DIMS as usize {
            return Err(invalid(format!("`{}` dimensions (at most 4)", dims.len())));
        }
        if self.tensors.iter().any(|t| t.info.name == name) {
            return Err(GgufError::DuplicateTensor(name.to_owned()));
        }
        let info = TensorInfo {
            name: name.to_owned(),
            dims: dims.to_vec(),
            dtype,
            offset: 0,
        };
        info.validate_shape()?;
        if let Some(size) = info.byte_size() {
            if size != data.len() as u64 {
                return Err(invalid(format!(
                    "`{}` bytes given, type needs `{size}`",
                    data.len()
                )));
            }
        }
        self.tensors.push(PendingTensor { info, data });
        Ok(self)
    }

    /// Serialize the file to bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, GgufError> {
        let alignment = check_alignment(
            self.metadata
                .iter()
                .find(|(k, _)| k == ALIGNMENT_KEY)
                .map(|(_, v)| v),
        )?;
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (key, value) in &self.metadata {
            put_string(&mut out, key);
            out.extend_from_slice(&value.type_id_name().0.to_le_bytes());
            put_value(&mut out, key, value, 0)?;
        }
        let mut offset = 0u64;
        for t in &self.tensors {
            put_tensor_info(&mut out, &t.info, offset);
            offset = align_up(offset.saturating_add(t.data.len() as u64), alignment);
        }
        pad_to(&mut out, alignment);
        for t in &self.tensors {
            out.extend_from_slice(&t.data);
            pad_to(&mut out, alignment);
        }
        Ok(out)
    }

    /// Serialize the file and write it to `path`.
    pub fn write(&self, path: &Path) -> Result<(), GgufError> {
        let bytes = self.to_bytes()?;
        std::fs::write(path, bytes).map_err(|source| GgufError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Append a GGUF string (u64 length + bytes).
fn put_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Append a tensor-table entry with data offset `offset`.
fn put_tensor_info(out: &mut Vec<u8>, info: &TensorInfo, offset: u64) {
    put_string(out, &info.name);
    out.extend_from_slice(&(info.dims.len() as u32).to_le_bytes());
    for d in &info.dims {
        out.extend_from_slice(&d.to_le_bytes());
    }
    out.extend_from_slice(&info.dtype.id().to_le_bytes());
    out.extend_from_slice(&offset.to_le_bytes());
}

/// Append zero bytes up to the next multiple of `alignment`.
fn pad_to(out: &mut Vec<u8>, alignment: u64) {
    let target = align_up(out.len() as u64, alignment);
    out.resize(usize::try_from(target).unwrap_or(out.len()), 0);
}

/// Append a value's payload (its type id is written by the caller).
fn put_value(
    out: &mut Vec<u8>,
    key: &str,
    value: &MetadataValue,
    depth: usize,
) -> Result<(), GgufError> {
    match value {
        MetadataValue::U8(v) => out.push(*v),
        MetadataValue::I8(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetadataValue::U16(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetadataValue::I16(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetadataValue::U32(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetadataValue::I32(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetadataValue::F32(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetadataValue::Bool(v) => out.push(u8::from(*v)),
        MetadataValue::String(s) => put_string(out, s),
        MetadataValue::Array(items) => put_array(out, key, items, depth)?,
        MetadataValue::U64(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetadataValue::I64(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetadataValue::F64(v) => out.extend_from_slice(&v.to_le_bytes()),
    }
    Ok(())
}

/// Append an array: element type (u8 for an empty array), count, elements.
fn put_array(
    out: &mut Vec<u8>,
    key: &str,
    items: &[MetadataValue],
    depth: usize,
) -> Result<(), GgufError> {
    let invalid = |reason: String| GgufError::InvalidMetadata {
        key: key.to_owned(),
        reason,
    };
    if depth >= MAX_ARRAY_DEPTH {
        return Err(invalid(format!(
            "arrays nested deeper than `{MAX_ARRAY_DEPTH}` levels"
        )));
    }
    let elem_type = items.first().map_or(0, |v| v.type_id_name().0);
    if let Some(bad) = items.iter().find(|v| v.type_id_name().0 != elem_type) {
        return Err(invalid(format!(
            "mixed array element types (`{}` among `{}`)",
            bad.type_name(),
            items
                .first()
                .map(MetadataValue::type_name)
                .unwrap_or_default()
        )));
    }
    out.extend_from_slice(&elem_type.to_le_bytes());
    out.extend_from_slice(&(items.len() as u64).to_le_bytes());
    for item in items {
        put_value(out, key, item, depth + 1)?;
    }
    Ok(())
}
