//! The single error type of this crate.

use std::path::PathBuf;

/// Boxed error produced by the HF `tokenizers` crate.
pub type TokenizersError = tokenizers::Error;

/// Everything that can go wrong while loading, building, using or saving a tokenizer
/// or rendering a chat template.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenizerError {
    /// A file could not be read or written.
    #[error("cannot access `{path}`: {source}")]
    Io {
        /// The file that failed.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file (`tokenizer.json`, `tokenizer_config.json`) is not valid for its purpose.
    #[error("malformed JSON in `{path}`: {source}")]
    MalformedJson {
        /// The offending file.
        path: PathBuf,
        /// What the parser or the tokenizer loader reported.
        #[source]
        source: TokenizersError,
    },
    /// The GGUF `tokenizer.ggml.model` is not one this crate can rebuild.
    #[error("unsupported tokenizer model `{model}`; supported: {supported}")]
    UnsupportedModel {
        /// The model name found in the metadata.
        model: String,
        /// Comma-separated supported names.
        supported: String,
    },
    /// The GGUF `tokenizer.ggml.pre` names a pre-tokenizer this crate does not know.
    #[error("unsupported pre-tokenizer `{pre}`; supported: {supported}")]
    UnsupportedPre {
        /// The pre-tokenizer name found in the metadata.
        pre: String,
        /// Comma-separated supported names.
        supported: String,
    },
    /// The vocabulary data are inconsistent (bad merge, id out of range, length mismatch...).
    #[error("invalid vocabulary: {0}")]
    InvalidVocab(String),
    /// A GGUF file could not be opened or parsed.
    #[error("cannot read GGUF file: {0}")]
    Gguf(#[from] attnprune_gguf::GgufError),
    /// A required GGUF metadata key is missing or has the wrong type.
    #[error("GGUF metadata key `{key}`: {reason}")]
    GgufMetadata {
        /// The metadata key.
        key: String,
        /// Why it could not be used.
        reason: String,
    },
    /// The HF `tokenizers` pipeline failed while building, encoding, decoding or saving.
    #[error("tokenizer failed to {action}: {source}")]
    Tokenizers {
        /// What was being done (`encode`, `decode`, `build`, `serialize`).
        action: &'static str,
        /// The underlying error.
        #[source]
        source: TokenizersError,
    },
    /// A token id has no entry in the vocabulary.
    #[error("token id `{id}` is out of range for vocabulary size `{vocab_size}`")]
    UnknownId {
        /// The offending id.
        id: u32,
        /// Number of ids the tokenizer knows.
        vocab_size: usize,
    },
    /// A configured token string (BOS/EOS) is not in the vocabulary.
    #[error("{role} token `{token}` is not in the vocabulary")]
    UnknownToken {
        /// `bos` or `eos`.
        role: &'static str,
        /// The token string.
        token: String,
    },
    /// A chat was requested but the tokenizer has no chat template.
    #[error("this tokenizer has no chat template")]
    NoChatTemplate,
    /// The chat template failed to compile or raised an exception while rendering.
    #[error("chat template error: {0:#}")]
    Template(#[from] minijinja::Error),
}

impl TokenizerError {
    /// Wraps an error of the `tokenizers` crate, naming the action that failed.
    pub(crate) fn tk(action: &'static str) -> impl FnOnce(TokenizersError) -> Self {
        move |source| Self::Tokenizers { action, source }
    }

    /// Builds an [`TokenizerError::Io`] for `path`.
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Builds a [`TokenizerError::MalformedJson`] for `path`.
    pub(crate) fn json<E>(path: &std::path::Path) -> impl FnOnce(E) -> Self + '_
    where
        E: Into<TokenizersError>,
    {
        move |e| Self::MalformedJson {
            path: path.to_path_buf(),
            source: e.into(),
        }
    }
}
