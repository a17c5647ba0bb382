//! Model configuration of the Llama family (Llama, Mistral, Qwen2, SmolLM2),
//! read from an HF `config.json` or from GGUF metadata.

use crate::LmError;
use attnprune_mask::HeadLayout;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

/// Which checkpoint family a model comes from (they differ in small details).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Llama 1/2/3 and SmolLM2.
    Llama,
    /// Mistral (no sliding window supported: full attention).
    Mistral,
    /// Qwen2: biases on q, k and v.
    Qwen2,
}

/// Hyper-parameters of a Llama-family decoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlamaConfig {
    /// Checkpoint family.
    pub family: Family,
    /// Vocabulary size (rows of the embedding).
    pub vocab_size: usize,
    /// Model width.
    pub hidden_size: usize,
    /// Width of the SwiGLU MLP.
    pub intermediate_size: usize,
    /// Number of decoder layers.
    pub num_layers: usize,
    /// Query heads per layer.
    pub num_heads: usize,
    /// Key/value heads per layer (grouped-query attention).
    pub num_kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// Rotary embedding base.
    pub rope_theta: f64,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// Longest context the model was trained for.
    pub max_position_embeddings: usize,
    /// Whether the output head shares the embedding matrix.
    pub tie_word_embeddings: bool,
    /// Whether q/k/v projections have biases (Qwen2).
    pub attention_bias: bool,
}

impl LlamaConfig {
    /// The head layout (layers x query heads) masks of this model use.
    pub fn head_layout(&self) -> HeadLayout {
        HeadLayout::new(self.num_layers, self.num_heads)
    }

    /// Checks the numbers are consistent (heads divide evenly, nothing zero).
    pub fn validate(&self, origin: &str) -> Result<(), LmError> {
        let bad = |message: String| LmError::Config {
            path: origin.to_string(),
            message,
        };
        let sizes = [
            self.vocab_size,
            self.hidden_size,
            self.intermediate_size,
            self.num_layers,
            self.num_heads,
            self.num_kv_heads,
            self.head_dim,
        ];
        if sizes.contains(&0) {
            return Err(bad(format!("a size is zero: {self:?}")));
        }
        if !self.num_heads.is_multiple_of(self.num_kv_heads) {
            return Err(bad(format!(
                "`num_attention_heads` {} is not a multiple of `num_key_value_heads` {}",
                self.num_heads, self.num_kv_heads
            )));
        }
        if !self.head_dim.is_multiple_of(2) {
            return Err(bad(format!(
                "head dimension {} is odd; rotary embeddings need it even",
                self.head_dim
            )));
        }
        Ok(())
    }

    /// Reads an HF `config.json` (Llama, Mistral or Qwen2), accepting both the
    /// transformers 4.x (`rope_theta`) and 5.x (`rope_parameters.rope_theta`) forms.
    pub fn from_hf_config(path: &Path) -> Result<Self, LmError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| LmError::Io {
            path: origin.clone(),
            source,
        })?;
        let value: Value = serde_json::from_str(&text).map_err(|e| LmError::Config {
            path: origin.clone(),
            message: format!("not valid JSON: {e}"),
        })?;
        let config = Self::from_hf_json(&value, &origin)?;
        config.validate(&origin)?;
        Ok(config)
    }

    fn from_hf_json(v: &Value, origin: &str) -> Result<Self, LmError> {
        let bad = |message: String| LmError::Config {
            path: origin.to_string(),
            message,
        };
        let model_type = v.get("model_type").and_then(Value::as_str).unwrap_or("");
        let family = match model_type {
            "llama" => Family::Llama,
            "mistral" => Family::Mistral,
            "qwen2" => Family::Qwen2,
            other => {
                return Err(LmError::UnsupportedArchitecture {
                    path: origin.to_string(),
                    name: other.to_string(),
                })
            }
        };
        let int = |key: &str| {
            v.get(key)
                .and_then(Value::as_u64)
                .map(|x| x as usize)
                .ok_or_else(|| bad(format!("missing integer `{key}`")))
        };
        let hidden_size = int("hidden_size")?;
        let num_heads = int("num_attention_heads")?;
        let rope_theta = v
            .get("rope_theta")
            .or_else(|| v.get("rope_parameters").and_then(|r| r.get("rope_theta")))
            .and_then(Value::as_f64)
            .unwrap_or(10000.0);
        check_rope_scaling(v, origin)?;
        Ok(Self {
            family,
            vocab_size: int("vocab_size")?,
            hidden_size,
            intermediate_size: int("intermediate_size")?,
            num_layers: int("num_hidden_layers")?,
            num_heads,
            num_kv_heads: int("num_key_value_heads").unwrap_or(num_heads),
            head_dim: int("head_dim").unwrap_or(hidden_size / num_heads.max(1)),
            rope_theta,
            rms_norm_eps: v
                .get("rms_norm_eps")
                .and_then(Value::as_f64)
                .unwrap_or(1e-6),
            max_position_embeddings: int("max_position_embeddings").unwrap_or(2048),
            tie_word_embeddings: v
                .get("tie_word_embeddings")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            attention_bias: family == Family::Qwen2
                || v.get("attention_bias")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
        })
    }

    /// The HF `config.json` of this configuration (for exported models).
    pub fn to_hf_json(&self) -> Value {
        let (model_type, arch) = match self.family {
            Family::Llama => ("llama", "LlamaForCausalLM"),
            Family::Mistral => ("mistral", "MistralForCausalLM"),
            Family::Qwen2 => ("qwen2", "Qwen2ForCausalLM"),
        };
        serde_json::json!({
            "architectures": [arch],
            "model_type": model_type,
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_layers,
            "num_attention_heads": self.num_heads,
            "num_key_value_heads": self.num_kv_heads,
            "head_dim": self.head_dim,
            "rope_theta": self.rope_theta,
            "rms_norm_eps": self.rms_norm_eps,
            "max_position_embeddings": self.max_position_embeddings,
            "tie_word_embeddings": self.tie_word_embeddings,
            "attention_bias": self.attention_bias,
            "hidden_act": "silu",
            "torch_dtype": "float32",
        })
    }
}

/// Rope scaling (Llama 3.1 style, YaRN, ...) changes the frequencies; refuse
/// rather than silently compute something else.
fn check_rope_scaling(v: &Value, origin: &str) -> Result<(), LmError> {
    let kind = v
        .get("rope_scaling")
        .filter(|s| !s.is_null())
        .map(|s| {
            s.get("rope_type")
                .or_else(|| s.get("type"))
                .and_then(Value::as_str)
                .unwrap_or("unknown")
        })
        .or_else(|| {
            v.get("rope_parameters")
                .and_then(|r| r.get("rope_type"))
                .and_then(Value::as_str)
        });
    match kind {
        None | Some("default") => Ok(()),
        Some(other) => Err(LmError::Config {
            path: origin.to_string(),
            message: format!(
                "rope scaling `{other}` is not supported (only the default rotary embedding)"
            ),
        }),
    }
}
