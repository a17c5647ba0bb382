//! [`GgufFile`]: header parsing and typed access to metadata and tensors.

use std::collections::BTreeMap;
use std::path::Path;

use crate::cursor::{utf8, Cursor};
use crate::dequant;
use crate::error::GgufError;
use crate::metadata::{MetadataValue, ValueReader};
use crate::tensor::{check_data_range, read_tensor_infos, TensorInfo};

/// The four magic bytes that start every GGUF file.
pub const MAGIC: [u8; 4] = *b"GGUF";
/// Alignment of the data section when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// Metadata key that overrides the data alignment.
pub const ALIGNMENT_KEY: &str = "general.alignment";
/// Largest accepted alignment (keeps padding arithmetic far from overflow).
const MAX_ALIGNMENT: u64 = 1 << 30;
/// Smallest encoded size of one metadata entry (empty key, one-byte value).
const MIN_KV_SIZE: u64 = 8 + 4 + 1;

/// A parsed GGUF file held in memory.
///
/// The whole file is read into memory (no `unsafe` memory map); every
/// offset and length in it has been validated by the time this exists.
#[derive(Clone)]
pub struct GgufFile {
    /// GGUF format version (2 or 3).
    pub version: u32,
    /// All metadata key/value pairs.
    pub metadata: BTreeMap<String, MetadataValue>,
    /// The tensor table, in file order.
    pub tensors: Vec<TensorInfo>,
    bytes: Vec<u8>,
    data_start: u64,
    alignment: u64,
}

impl GgufFile {
    /// Read and parse the file at `path`; errors name the path.
    pub fn open(path: &Path) -> Result<GgufFile, GgufError> {
        let bytes = std::fs::read(path).map_err(|source| GgufError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        GgufFile::from_bytes(bytes).map_err(|e| GgufError::InFile {
            path: path.to_path_buf(),
            source: Box::new(e),
        })
    }

    /// Parse a GGUF file from its bytes.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<GgufFile, GgufError> {
        let mut cur = Cursor::new(&bytes);
        let version = read_preamble(&mut cur)?;
        let tensor_count = cur.u64().map_err(|s| s.with("tensor count"))?;
        let kv_count = cur.u64().map_err(|s| s.with("metadata count"))?;
        let metadata = read_metadata(&mut cur, kv_count)?;
        let tensors = read_tensor_infos(&mut cur, tensor_count)?;
        let alignment = alignment_of(&metadata)?;
        let data_start = align_up(cur.pos() as u64, alignment);
        let file_len = bytes.len() as u64;
        for info in &tensors {
            check_data_range(info, data_start, alignment, file_len)?;
        }
        Ok(GgufFile {
            version,
            metadata,
            tensors,
            bytes,
            data_start,
            alignment,
        })
    }

    /// The tensor called `name`, if present.
    pub fn tensor_info(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// Data alignment in bytes (`general.alignment` or 32).
    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    /// Absolute file offset where the tensor data section starts.
    pub fn data_start(&self) -> u64 {
        self.data_start
    }

    /// The raw stored bytes of tensor `name` (for types with a known layout).
    pub fn tensor_data(&self, name: &str) -> Result<&[u8], GgufError> {
        let info = self
            .tensor_info(name)
            .ok_or_else(|| GgufError::TensorNotFound(name.to_owned()))?;
        let unsupported = || GgufError::UnsupportedType {
            name: info.name.clone(),
            dtype: info.dtype.name(),
            id: info.dtype.id(),
        };
        let size = info.byte_size().ok_or_else(unsupported)?;
        let start = self.data_start.saturating_add(info.offset);
        let end = start.saturating_add(size);
        let truncated = || GgufError::TruncatedTensor {
            name: info.name.clone(),
            start,
            end,
            file_len: self.bytes.len() as u64,
        };
        let start_us = usize::try_from(start).map_err(|_| truncated())?;
        let end_us = usize::try_from(end).map_err(|_| truncated())?;
        self.bytes.get(start_us..end_us).ok_or_else(truncated)
    }

    /// Dequantize tensor `name` to f32 in row-major order
    /// (length = product of dims), exactly as ggml does.
    pub fn dequantize(&self, name: &str) -> Result<Vec<f32>, GgufError> {
        let info = self
            .tensor_info(name)
            .ok_or_else(|| GgufError::TensorNotFound(name.to_owned()))?;
        if !info.dtype.is_supported() {
            return Err(GgufError::UnsupportedType {
                name: info.name.clone(),
                dtype: info.dtype.name(),
                id: info.dtype.id(),
            });
        }
        let data = self.tensor_data(name)?;
        dequant::dequantize(info.dtype, data, info.num_elements()).map_err(|reason| {
            GgufError::InvalidTensor {
                name: info.name.clone(),
                reason,
            }
        })
    }

    /// The metadata value under `key`.
    pub fn meta(&self, key: &str) -> Result<&MetadataValue, GgufError> {
        self.metadata
            .get(key)
            .ok_or_else(|| GgufError::MissingKey(key.to_owned()))
    }

    /// An integer metadata value of any width, as `u64` (negative values are an error).
    pub fn meta_u64(&self, key: &str) -> Result<u64, GgufError> {
        let v = self.meta(key)?;
        v.as_u64()
            .ok_or_else(|| mismatch(key, "a non-negative integer", v))
    }

    /// A float or integer metadata value, as `f64`.
    pub fn meta_f64(&self, key: &str) -> Result<f64, GgufError> {
        let v = self.meta(key)?;
        v.as_f64().ok_or_else(|| mismatch(key, "a number", v))
    }

    /// A string metadata value.
    pub fn meta_str(&self, key: &str) -> Result<&str, GgufError> {
        let v = self.meta(key)?;
        v.as_str().ok_or_else(|| mismatch(key, "a string", v))
    }

    /// An array-of-strings metadata value (e.g. `tokenizer.ggml.tokens`).
    pub fn meta_string_array(&self, key: &str) -> Result<Vec<&str>, GgufError> {
        let v = self.meta(key)?;
        let items = v
            .as_array()
            .ok_or_else(|| mismatch(key, "an array of strings", v))?;
        items
            .iter()
            .map(|item| {
                item.as_str()
                    .ok_or_else(|| mismatch(key, "an array of strings", v))
            })
            .collect()
    }

    /// The model architecture (`general.architecture`, e.g. `llama`).
    pub fn architecture(&self) -> Result<&str, GgufError> {
        self.meta_str("general.architecture")
    }
}

impl std::fmt::Debug for GgufFile {
    /// Summarizes the file instead of dumping its (large) bytes and vocabulary.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("version", &self.version)
            .field("metadata_keys", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .field("file_len", &self.bytes.len())
            .field("data_start", &self.data_start)
            .field("alignment", &self.alignment)
            .finish()
    }
}

/// The error for a metadata value of the wrong type.
fn mismatch(key: &str, expected: &'static str, found: &MetadataValue) -> GgufError {
    GgufError::TypeMismatch {
        key: key.to_owned(),
        expected,
        found: found.type_name(),
    }
}

/// Check the magic and read the version.
fn read_preamble(cur: &mut Cursor<'_>) -> Result<u32, GgufError> {
    let magic: [u8; 4] = cur.array().map_err(|s| s.with("magic"))?;
    if magic != MAGIC {
        return Err(GgufError::BadMagic { found: magic });
    }
    let version = cur.u32().map_err(|s| s.with("version"))?;
    match version {
        2 | 3 => Ok(version),
        1 => Err(GgufError::UnsupportedVersion {
            version,
            hint: "; version 1 is obsolete, re-convert the model",
        }),
        v if v.swap_bytes() == 2 || v.swap_bytes() == 3 => Err(GgufError::UnsupportedVersion {
            version,
            hint: "; this looks like a big-endian file",
        }),
        _ => Err(GgufError::UnsupportedVersion { version, hint: "" }),
    }
}

/// Read `count` metadata entries.
fn read_metadata(
    cur: &mut Cursor<'_>,
    count: u64,
) -> Result<BTreeMap<String, MetadataValue>, GgufError> {
    cur.check_count(count, MIN_KV_SIZE)
        .map_err(|s| s.with(format!("`{count}` metadata entries")))?;
    let mut map = BTreeMap::new();
    for index in 0..count {
        let start = cur.pos();
        let key_bytes = cur
            .string_bytes()
            .map_err(|s| s.with(format!("metadata key #{index}")))?;
        let key = utf8(key_bytes, start, || format!("metadata key #{index}"))?;
        let type_id = cur
            .u32()
            .map_err(|s| s.with(format!("type of metadata key `{key}`")))?;
        let value = ValueReader { key }.read(cur, type_id, 0)?;
        if map.insert(key.to_owned(), value).is_some() {
            return Err(GgufError::DuplicateKey(key.to_owned()));
        }
    }
    Ok(map)
}

/// The data alignment declared by the metadata, validated.
pub(crate) fn alignment_of(metadata: &BTreeMap<String, MetadataValue>) -> Result<u64, GgufError> {
    check_alignment(metadata.get(ALIGNMENT_KEY))
}

/// Validate an optional `general.alignment` value (absent means 32).
pub(crate) fn check_alignment(value: Option<&MetadataValue>) -> Result<u64, GgufError> {
    let Some(value) = value else {
        return Ok(DEFAULT_ALIGNMENT);
    };
    match value.as_u64() {
        Some(a) if a.is_power_of_two() && a <= MAX_ALIGNMENT => Ok(a),
        Some(a) => Err(GgufError::BadAlignment(a.to_string())),
        None => Err(GgufError::BadAlignment(format!("{value:?}"))),
    }
}

/// Round `pos` up to a multiple of `alignment` (a power of two ≤ 2^30).
pub(crate) fn align_up(pos: u64, alignment: u64) -> u64 {
    pos.div_ceil(alignment).saturating_mul(alignment)
}
