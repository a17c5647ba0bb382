//! Small file and hashing helpers shared by the loaders.

use crate::error::MeasureError;
use sha2::{Digest, Sha256};
use std::path::Path;

/// Reads a whole file, naming it in the error.
pub(crate) fn read_bytes(path: &Path) -> Result<Vec<u8>, MeasureError> {
    std::fs::read(path).map_err(|e| MeasureError::io(path, e))
}

/// Reads a whole file as UTF-8 text, naming it in the error.
pub(crate) fn read_text(path: &Path) -> Result<String, MeasureError> {
    let bytes = read_bytes(path)?;
    String::from_utf8(bytes).map_err(|e| MeasureError::NotUtf8 {
        path: path.to_path_buf(),
        offset: e.utf8_error().valid_up_to(),
    })
}

/// Parses a JSON file into `T`, naming the file in the error.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    path: &Path,
    bytes: &[u8],
) -> Result<T, MeasureError> {
    serde_json::from_slice(bytes).map_err(|source| MeasureError::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// SHA-256 of `bytes`, as lowercase hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// SHA-256 over several named parts; each part is fed as its name, a NUL,
/// its length (u64 little-endian) and its bytes, so that no two different
/// sequences of parts can hash alike by shifting bytes between parts.
pub(crate) fn sha256_parts<'a>(parts: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> String {
    let mut hasher = Sha256::new();
    for (name, bytes) in parts {
        hasher.update(name.as_bytes());
        hasher.update([0u8]);
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    }
    hex::encode(hasher.finalize())
}
