//! The crate's single error type.

use std::path::PathBuf;

/// Everything that can go wrong while reading, dequantizing or writing GGUF.
///
/// Messages quote the offending values in backticks so that a failing stage
/// tells the user exactly which key, tensor or byte offset is at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GgufError {
    /// Reading or writing the file itself failed.
    #[error("cannot access `{path}`: {source}")]
    Io {
        /// The file that could not be read or written.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The file at `path` was read but its contents are invalid.
    #[error("invalid GGUF file `{path}`: {source}")]
    InFile {
        /// The file that failed to parse.
        path: PathBuf,
        /// What is wrong with it.
        source: Box<GgufError>,
    },
    /// The first four bytes are not `GGUF`.
    #[error("bad magic: expected `GGUF` (47 47 55 46), found `{}` ({})", escape(.found), hex(.found))]
    BadMagic {
        /// The four bytes found at the start of the file.
        found: [u8; 4],
    },
    /// The GGUF version is not 2 or 3 (version 1 used 32-bit counts and is obsolete).
    #[error("unsupported GGUF version `{version}` (only versions 2 and 3 are supported{hint})")]
    UnsupportedVersion {
        /// The version number read from the file (little-endian).
        version: u32,
        /// Extra explanation, e.g. that the file looks big-endian.
        hint: &'static str,
    },
    /// The file ended before a structure could be read completely.
    #[error("file truncated while reading {what} at byte `{offset}`: need `{needed}` bytes, only `{available}` left")]
    Truncated {
        /// What was being read.
        what: String,
        /// Byte offset where the read started.
        offset: u64,
        /// Bytes needed.
        needed: u64,
        /// Bytes remaining in the file.
        available: u64,
    },
    /// A tensor's data lies (partly) beyond the end of the file.
    #[error("tensor `{name}` data is truncated: it spans bytes `{start}..{end}` but the file has `{file_len}` bytes")]
    TruncatedTensor {
        /// Tensor name.
        name: String,
        /// Absolute start of the tensor data.
        start: u64,
        /// Absolute end (exclusive) of the tensor data.
        end: u64,
        /// File length in bytes.
        file_len: u64,
    },
    /// A metadata value has a type id not defined by GGUF.
    #[error("metadata key `{key}` has unknown value type id `{type_id}`")]
    UnknownValueType {
        /// The key whose value could not be decoded.
        key: String,
        /// The unknown type id.
        type_id: u32,
    },
    /// Arrays are nested deeper than this reader allows.
    #[error("metadata key `{key}` nests arrays deeper than `{max}` levels")]
    NestingTooDeep {
        /// The key whose value is nested too deeply.
        key: String,
        /// The maximum nesting depth.
        max: usize,
    },
    /// A string in the file is not valid UTF-8.
    #[error("{what} is not valid UTF-8 (at byte `{offset}`)")]
    InvalidUtf8 {
        /// Which string (key, value or tensor name).
        what: String,
        /// Byte offset of the string data.
        offset: u64,
    },
    /// The same metadata key appears twice.
    #[error("duplicate metadata key `{0}`")]
    DuplicateKey(String),
    /// The same tensor name appears twice.
    #[error("duplicate tensor name `{0}`")]
    DuplicateTensor(String),
    /// `general.alignment` is zero, not a power of two, or not an integer.
    #[error("invalid alignment `{0}` (must be a power of two between 1 and 2^30)")]
    BadAlignment(String),
    /// A tensor has more than four dimensions (ggml's limit).
    #[error("tensor `{name}` has `{n_dims}` dimensions (at most 4 are allowed)")]
    TooManyDims {
        /// Tensor name.
        name: String,
        /// The dimension count read from the file.
        n_dims: u32,
    },
    /// The product of a tensor's dimensions (or its byte size) overflows.
    #[error(
        "tensor `{name}` with dims `{dims:?}` is too large (element count or byte size overflows)"
    )]
    SizeOverflow {
        /// Tensor name.
        name: String,
        /// Its dimensions in GGUF order.
        dims: Vec<u64>,
    },
    /// A quantized tensor's row length is not a multiple of the type's block size.
    #[error("tensor `{name}` of type `{dtype}` has row length `{row_len}`, not a multiple of the block size `{block}`")]
    NotBlockMultiple {
        /// Tensor name.
        name: String,
        /// Type name.
        dtype: &'static str,
        /// Length of the fastest-varying dimension.
        row_len: u64,
        /// Elements per block for this type.
        block: u64,
    },
    /// A tensor's data offset is not a multiple of the file alignment.
    #[error(
        "tensor `{name}` has offset `{offset}`, not a multiple of the alignment `{alignment}`"
    )]
    MisalignedTensor {
        /// Tensor name.
        name: String,
        /// Offset relative to the data section.
        offset: u64,
        /// The file's alignment.
        alignment: u64,
    },
    /// The tensor's type cannot be dequantized by this crate.
    #[error("tensor `{name}` has unsupported type `{dtype}` (id {id})")]
    UnsupportedType {
        /// Tensor name.
        name: String,
        /// ggml's name of the type, or `unknown`.
        dtype: &'static str,
        /// Numeric ggml type id.
        id: u32,
    },
    /// No tensor with this name exists.
    #[error("no tensor named `{0}`")]
    TensorNotFound(String),
    /// A metadata key is absent.
    #[error("missing metadata key `{0}`")]
    MissingKey(String),
    /// A metadata value has a different type than requested.
    #[error("metadata key `{key}` is `{found}`, expected {expected}")]
    TypeMismatch {
        /// The key.
        key: String,
        /// What the caller asked for.
        expected: &'static str,
        /// The value's actual type (or the offending value).
        found: String,
    },
    /// Data handed to the writer does not match the declared shape or type.
    #[error("cannot write tensor `{name}`: {reason}")]
    InvalidTensor {
        /// Tensor name.
        name: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A metadata value handed to the writer cannot be encoded.
    #[error("cannot write metadata key `{key}`: {reason}")]
    InvalidMetadata {
        /// The key.
        key: String,
        /// Why it was rejected.
        reason: String,
    },
}

impl GgufError {
    /// The underlying error, looking through the path wrapper added by `open`.
    ///
    /// Lets callers match on the specific variant regardless of how the file
    /// was loaded.
    pub fn root(&self) -> &GgufError {
        match self {
            GgufError::InFile { source, .. } => source.root(),
            other => other,
        }
    }
}

/// Printable rendering of raw bytes (non-printables as `\xNN`).
fn escape(bytes: &[u8]) -> String {
    bytes
        .iter()
        .flat_map(|b| std::ascii::escape_default(*b))
        .map(char::from)
        .collect()
}

/// Hex rendering of raw bytes separated by spaces.
fn hex(bytes: &[u8]) -> String {
    let parts: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    parts.join(" ")
}
