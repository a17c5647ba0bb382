//! Error type of the surrogate crate.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong when training, evaluating, saving or loading a surrogate.
#[derive(Debug, Error)]
pub enum SurrogateError {
    /// No training rows were given.
    #[error("no training rows")]
    EmptyData,
    /// Inputs and targets have different numbers of rows.
    #[error("`{inputs}` input rows but `{targets}` targets")]
    RowCountMismatch {
        /// Number of input rows.
        inputs: usize,
        /// Number of targets.
        targets: usize,
    },
    /// A mask has the wrong number of bits.
    #[error("mask `{row}` has `{found}` bits, expected `{expected}`")]
    MaskLength {
        /// Row index (0 for a single mask).
        row: usize,
        /// Expected number of bits.
        expected: usize,
        /// Bits found.
        found: usize,
    },
    /// A target or prediction is NaN or infinite.
    #[error("value `{row}` is not finite: `{value}`")]
    NonFinite {
        /// Row index.
        row: usize,
        /// The value.
        value: f64,
    },
    /// A configuration value is out of range.
    #[error("invalid surrogate config: `{field}` = `{value}` ({reason})")]
    InvalidConfig {
        /// Field name.
        field: &'static str,
        /// Offending value, formatted.
        value: String,
        /// Valid range.
        reason: &'static str,
    },
    /// Layer shapes do not chain (or the output is not scalar).
    #[error("invalid architecture: {0}")]
    Architecture(String),
    /// No epoch reached a finite validation loss.
    #[error(
        "training diverged: no epoch reached a finite validation loss (first epoch: `{first}`)"
    )]
    TrainingDiverged {
        /// Validation MSE of the first epoch.
        first: f64,
    },
    /// Reading tensor data back from the backend failed.
    #[error("reading tensor data from the backend failed: `{0}`")]
    TensorData(String),
    /// The saved surrogate was trained for a different mask length.
    #[error("surrogate `{path}` expects `{found}` inputs, but `{expected}` were requested", path = path.display())]
    InputLengthMismatch {
        /// The file that was loaded.
        path: PathBuf,
        /// Mask length the caller needs.
        expected: usize,
        /// Mask length stored in the file.
        found: usize,
    },
    /// The weight file does not match the architecture in the metadata file.
    #[error("weights in `{path}` do not match the metadata: {detail}", path = path.display())]
    WeightShape {
        /// The weight file.
        path: PathBuf,
        /// What mismatched.
        detail: String,
    },
    /// File system error.
    #[error("I/O error on `{path}`: {source}", path = path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Metadata (JSON) error.
    #[error("metadata error in `{path}`: {source}", path = path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// A surrogate file of the wrong kind, version or shape.
    #[error("surrogate file `{path}` cannot be used: {message}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// burn recorder error.
    #[error("burn recorder error on `{path}`: `{message}`", path = path.display())]
    Recorder {
        /// The file.
        path: PathBuf,
        /// The recorder's message.
        message: String,
    },
}

/// Shorthand for building a [`SurrogateError::InvalidConfig`].
pub(crate) fn invalid(
    field: &'static str,
    value: impl ToString,
    reason: &'static str,
) -> SurrogateError {
    SurrogateError::InvalidConfig {
        field,
        value: value.to_string(),
        reason,
    }
}
