//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong while loading prompts, corpora or replies,
/// scoring replies, or computing bias.
#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    /// A file or directory could not be read.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A JSON file is not valid JSON of the expected shape.
    #[error("`{path}` is not valid: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's complaint (with line and column).
        source: serde_json::Error,
    },
    /// A file parsed but its content breaks a rule of its format.
    #[error("`{path}` is invalid: {reason}")]
    InvalidData {
        /// The file (or directory) at fault.
        path: PathBuf,
        /// What is wrong, naming the offending value.
        reason: String,
    },
    /// A text file is not UTF-8.
    #[error("`{path}` is not UTF-8 text (first bad byte at offset `{offset}`)")]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// Byte offset of the first invalid sequence.
        offset: usize,
    },
    /// A prompt selection names an axis the prompt set does not have.
    #[error("unknown axis `{axis}`; the prompt set has: {available}")]
    UnknownAxis {
        /// The requested axis.
        axis: String,
        /// The available axes, comma-separated, each in backticks.
        available: String,
    },
    /// A selection, bootstrap or scorer parameter is out of its range.
    #[error("invalid parameter `{name}` = `{value}`: {reason}")]
    InvalidParameter {
        /// The parameter's name.
        name: String,
        /// Its value, as given.
        value: String,
        /// The allowed range or rule.
        reason: String,
    },
    /// A score is NaN or infinite.
    #[error("score #{index} of group `{group}` is not finite (`{value}`)")]
    NonFiniteScore {
        /// Position of the score in the input.
        index: usize,
        /// The group (bucket) it belongs to.
        group: String,
        /// The offending value.
        value: f64,
    },
    /// Two inputs that must pair up element by element differ in length.
    #[error("length mismatch: `{left_name}` has `{left}` items but `{right_name}` has `{right}`")]
    LengthMismatch {
        /// Name of the first input.
        left_name: String,
        /// Its length.
        left: usize,
        /// Name of the second input.
        right_name: String,
        /// Its length.
        right: usize,
    },
    /// An input that must not be empty is empty.
    #[error("`{what}` is empty")]
    Empty {
        /// What is empty.
        what: String,
    },
    /// An embedded resource (e.g. the VADER lexicon) is malformed.
    #[error("embedded resource `{name}` is malformed at line `{line}`: {reason}")]
    Resource {
        /// The resource's file name.
        name: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

impl MeasureError {
    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// Builds an [`MeasureError::InvalidData`] for `path`.
    pub(crate) fn invalid(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::InvalidData {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// Builds an [`MeasureError::InvalidParameter`].
    pub(crate) fn param(name: &str, value: impl ToString, reason: &str) -> Self {
        Self::InvalidParameter {
            name: name.to_owned(),
            value: value.to_string(),
            reason: reason.to_owned(),
        }
    }
}
