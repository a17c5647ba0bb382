//! BERT/RoBERTa encoders and sequence classifiers in burn, loaded from HF checkpoints.
//!
//! The `classifier` reply scorer runs a sequence-classification checkpoint of the
//! BERT/RoBERTa family (for example Detoxify's unbiased toxic RoBERTa, which FASP used)
//! and scores a reply with the probability of one label (`toxicity` by default).
//!
//! A checkpoint folder holds `config.json`, `model.safetensors` and `tokenizer.json`:
//!
//! - [`config`]: the hyper-parameters, labels (`id2label`) and output activation
//!   (`problem_type`) from `config.json`.
//! - [`weights`]: safetensors weights by HF name, with or without the `bert.` /
//!   `roberta.` prefix (sentence-transformers checkpoints have none).
//! - [`encoder`]: the transformer encoder (embeddings, post-LayerNorm layers, erf GELU),
//!   its tokenizer, batched inference with padding, mean-pooled sentence embeddings.
//! - [`classifier`]: the classification head (BERT pooler + `classifier`, RoBERTa
//!   `classifier.dense` + `classifier.out_proj`) and label probabilities.
//!
//! The reference is HF transformers (`modeling_bert.py`, `modeling_roberta.py`);
//! `tools/make_classifier_fixtures.py` writes the golden fixtures the tests compare with.

#![forbid(unsafe_code)]

pub mod classifier;
pub mod config;
pub mod encoder;
pub mod weights;

pub use classifier::SequenceClassifier;
pub use config::{Architecture, EncoderConfig, HiddenActivation, OutputActivation};
pub use encoder::Encoder;

/// The label scored when the user names none (Detoxify's first label).
pub const DEFAULT_LABEL: &str = "toxicity";

/// Errors of loading and running an encoder or classifier; each names the file involved.
#[derive(Debug, thiserror::Error)]
pub enum ClassifierError {
    /// A file could not be read.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file is not in the format it claims (truncated safetensors, invalid JSON).
    #[error("`{path}`: {message}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// `config.json` lacks a value or is inconsistent.
    #[error("`{path}`: bad classifier configuration: {message}")]
    Config {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The checkpoint is of a model family this crate does not implement.
    #[error(
        "`{path}`: model_type `{name}` is not supported (supported: bert, roberta, xlm-roberta)"
    )]
    UnsupportedModelType {
        /// The file (`config.json`).
        path: String,
        /// The `model_type` found.
        name: String,
    },
    /// A weight the architecture needs is absent.
    #[error("`{path}`: missing tensor `{name}`")]
    MissingTensor {
        /// The weights file.
        path: String,
        /// The tensor.
        name: String,
    },
    /// A weight's shape disagrees with `config.json`.
    #[error("`{path}`: tensor `{name}` has shape {found:?} but config.json implies {expected:?}")]
    ShapeMismatch {
        /// The weights file.
        path: String,
        /// The tensor.
        name: String,
        /// Shape implied by the configuration.
        expected: Vec<usize>,
        /// Shape found.
        found: Vec<usize>,
    },
    /// The label asked for is not one of the checkpoint's labels.
    #[error("`{path}`: the classifier has no label `{label}` (its labels, from id2label: {})", available.join(", "))]
    UnknownLabel {
        /// The file (`config.json`).
        path: String,
        /// The label asked for.
        label: String,
        /// The labels the checkpoint has, in id order.
        available: Vec<String>,
    },
    /// The tokenizer could not be loaded or could not encode a text.
    #[error("`{path}`: {message}")]
    Tokenizer {
        /// The file (`tokenizer.json`).
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A backend operation failed (reading a tensor back).
    #[error("tensor backend error: {0}")]
    Backend(String),
}

impl ClassifierError {
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
