//! Reader for GGUF model files (llama.cpp's format) with dequantization to
//! f32, plus a small writer used by tests.
//!
//! The reader is meant to be sound on hostile input: the file is read into
//! memory, every count, length and offset is checked against the bytes
//! actually present before it is used, and no code path panics on bad data.
//! Supported tensor types: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
//! Q4_K, Q5_K, Q6_K; dequantization follows ggml's reference code exactly.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod cursor;
mod dequant;
mod error;
mod file;
mod metadata;
mod quantize;
mod tensor;
mod types;
mod writer;

pub use error::GgufError;
pub use file::{GgufFile, ALIGNMENT_KEY, DEFAULT_ALIGNMENT, MAGIC};
pub use metadata::{MetadataValue, MAX_ARRAY_DEPTH};
pub use tensor::{TensorInfo, MAX_DIMS};
pub use types::GgmlType;
pub use writer::GgufWriter;
