//! Llama-family language models in burn, with per-sequence head masks.
//!
//! - [`config`]: hyper-parameters from HF `config.json` or GGUF metadata.
//! - [`weights`], [`gguf_load`], [`source`]: reading checkpoints (GGUF with
//!   dequantization, HF safetensors folders) into f32 weights in HF naming.
//! - [`model`]: the decoder (RMSNorm, rotary embeddings, grouped-query
//!   attention, SwiGLU) whose forward takes one head mask per sequence.
//! - [`generate`], [`perplexity`]: replies with a KV cache, and the
//!   perplexity contract.
//! - [`reuse`]: replaying the unpruned model's lower layers for masks that
//!   prune only higher ones.
//! - [`device`]: `--device cpu|cuda[:N]` and `--precision f32|bf16`.
//! - [`tiny`]: a tiny random model for tests; [`export`]: pruned checkpoints.

pub mod batch;
pub mod cache;
pub mod config;
pub mod continuation;
#[cfg(any(feature = "cuda", feature = "wgpu"))]
mod cube;
#[cfg(not(any(feature = "cuda", feature = "wgpu")))]
#[path = "cube_none.rs"]
mod cube;
pub mod device;
pub mod exp;
pub mod export;
pub mod generate;
pub mod gguf_load;
pub mod kernels;
pub mod logprob;
pub mod model;
pub mod packed;
pub mod perplexity;
pub mod reuse;
pub mod simd;
pub mod source;
pub mod tiny;
pub mod weights;

pub use attnprune_tokenizer::{ChatMessage, Tokenizer};
pub use config::{Family, LlamaConfig};
pub use device::{run_on_device, AttentionOp, DeviceSpec, OnDevice, Precision};
pub use model::{LlamaModel, Logits};
pub use source::{read_model_files, ModelFiles};

use burn::tensor::backend::Backend;
use std::path::Path;

/// Errors of model loading and running.
#[derive(Debug, thiserror::Error)]
pub enum LmError {
    /// A file could not be read or written.
    #[error("cannot access `{path}`: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file is not in the format it claims (truncated, wrong magic, bad header).
    #[error("`{path}`: {message}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A configuration is missing a value or is inconsistent.
    #[error("`{path}`: bad model configuration: {message}")]
    Config {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The model is of an architecture this tool does not implement.
    #[error("`{path}`: architecture `{name}` is not supported (supported: llama, mistral, qwen2)")]
    UnsupportedArchitecture {
        /// The file.
        path: String,
        /// The architecture found.
        name: String,
    },
    /// A weight the architecture needs is absent.
    #[error("`{path}`: missing tensor `{name}`")]
    MissingTensor {
        /// The file.
        path: String,
        /// The tensor.
        name: String,
    },
    /// A weight's shape disagrees with the configuration.
    #[error(
        "`{path}`: tensor `{name}` has shape {found:?} but the configuration implies {expected:?}"
    )]
    ShapeMismatch {
        /// The file.
        path: String,
        /// The tensor.
        name: String,
        /// Shape implied by the config.
        expected: Vec<usize>,
        /// Shape found.
        found: Vec<usize>,
    },
    /// The requested device cannot be used.
    #[error("{0}")]
    Device(String),
    /// A backend operation failed.
    #[error("tensor backend error: {0}")]
    Backend(String),
    /// The caller asked for something inconsistent.
    #[error("{0}")]
    Usage(String),
}

/// A model and its tokenizer, ready to run on backend `B`.
#[derive(Debug, Clone)]
pub struct LanguageModel<B: Backend> {
    /// The decoder.
    pub model: LlamaModel<B>,
    /// Its tokenizer (with chat template, if any).
    pub tokenizer: Tokenizer,
}

impl<B: Backend> LanguageModel<B> {
    /// Loads a model from a GGUF file or HF folder onto `device`.
    pub fn load(path: &Path, device: &B::Device) -> Result<Self, LmError> {
        let files = read_model_files(path)?;
        Self::from_files(files, device)
    }

    /// Builds the model from files already read (keeps no copy of the weights).
    pub fn from_files(files: ModelFiles, device: &B::Device) -> Result<Self, LmError> {
        let model = LlamaModel::from_weights(files.config, files.weights, device)?;
        Ok(Self {
            model,
            tokenizer: files.tokenizer,
        })
    }

    /// The model computing in `precision` (see [`Precision`]).
    pub fn in_precision(self, precision: Precision) -> Self {
        Self {
            model: self.model.in_precision(precision),
            tokenizer: self.tokenizer,
        }
    }

    /// The model with its generic path computing attention by `op` (see
    /// [`LlamaModel::with_attention`]).
    pub fn with_attention(self, op: AttentionOp) -> Self {
        Self {
            model: self.model.with_attention(op),
            tokenizer: self.tokenizer,
        }
    }

    /// The model with attnprune's own GPU kernels on or off (see
    /// [`LlamaModel::with_gpu_kernels`]).
    pub fn with_gpu_kernels(self, on: bool) -> Self {
        Self {
            model: self.model.with_gpu_kernels(on),
            tokenizer: self.tokenizer,
        }
    }

    /// The model as every model stage sets it up: computing in `precision`, attention by
    /// `op`, attnprune's GPU kernels on or off.
    pub fn configured(self, precision: Precision, op: AttentionOp, gpu_kernels: bool) -> Self {
        self.in_precision(precision)
            .with_attention(op)
            .with_gpu_kernels(gpu_kernels)
    }
}

/// Writes bytes atomically (the project's one atomic writer), as an [`LmError`].
pub(crate) fn write_file_atomic(path: &Path, bytes: &[u8]) -> Result<(), LmError> {
    attnprune_artifact::write_atomic_bytes(path, bytes).map_err(|e| LmError::Format {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}
