//! What the stages exchange: the files on disk and what they promise.
//!
//! - [`atomic`]: every artifact is written to a temporary name and renamed, so
//!   an interrupted stage never leaves a half-file that Make would take as done.
//! - [`provenance`]: who made an artifact from what (model sha256, prompt-set
//!   and corpus hashes, seed, stage arguments, tool version), and the checks a
//!   stage runs on what it reads.
//! - [`table`]: Parquet read/write with provenance in the key-value metadata.
//! - [`samples`]: the sample table (one row per evaluated mask).
//! - [`trajectory`]: the annealing trajectory table.

pub mod atomic;
pub mod provenance;
pub mod samples;
pub mod table;
pub mod trajectory;

pub use atomic::{staging_folder, write_atomic, write_atomic_bytes};
pub use provenance::{sha256_file, Fingerprint, Provenance};
pub use samples::{SampleRow, SampleTable, SampleTableWriter};

/// Errors about artifacts: I/O, schemas, provenance mismatches.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// A file could not be read or written.
    #[error("cannot access `{path}`: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A Parquet file could not be read or written.
    #[error("`{path}` is not a readable Parquet table: {message}")]
    Parquet {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A table does not have the schema this tool expects.
    #[error("`{path}` does not have the expected schema: {message}")]
    Schema {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Two artifacts disagree on where they come from.
    #[error("{message}")]
    Mismatch {
        /// Names both files and what differs.
        message: String,
    },
    /// A metric is NaN or infinite.
    #[error("`{path}`: {message}")]
    BadValue {
        /// The file.
        path: String,
        /// Which value is wrong.
        message: String,
    },
    /// A head mask problem (wrong length, out of range).
    #[error("`{path}`: {source}")]
    Mask {
        /// The file.
        path: String,
        /// The mask error.
        source: attnprune_mask::MaskError,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = ArtifactError> = std::result::Result<T, E>;

/// The version of this tool, recorded in every artifact's provenance.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");
