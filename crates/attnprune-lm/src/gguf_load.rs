//! GGUF (llama.cpp) checkpoints: config from `llama.*` / `qwen2.*` metadata,
//! weights renamed to HF names, and q/k rows un-permuted.
//!
//! llama.cpp's converter reorders the rows of each `llama` head's q and k
//! projections so that rotary pairs are adjacent (interleaved rope); we undo
//! it to use HF's rotate-half layout. `qwen2` files keep HF's layout.

use crate::config::{Family, LlamaConfig};
use crate::weights::{Weight, WeightMap};
use crate::LmError;
use attnprune_gguf::GgufFile;
use std::collections::BTreeMap;

/// GGUF tensor name -> HF name, for per-layer tensors (`blk.N.` prefix).
const LAYER_NAMES: &[(&str, &str)] = &[
    ("attn_norm.weight", "input_layernorm.weight"),
    ("attn_q.weight", "self_attn.q_proj.weight"),
    ("attn_k.weight", "self_attn.k_proj.weight"),
    ("attn_v.weight", "self_attn.v_proj.weight"),
    ("attn_q.bias", "self_attn.q_proj.bias"),
    ("attn_k.bias", "self_attn.k_proj.bias"),
    ("attn_v.bias", "self_attn.v_proj.bias"),
    ("attn_output.weight", "self_attn.o_proj.weight"),
    ("ffn_norm.weight", "post_attention_layernorm.weight"),
    ("ffn_gate.weight", "mlp.gate_proj.weight"),
    ("ffn_up.weight", "mlp.up_proj.weight"),
    ("ffn_down.weight", "mlp.down_proj.weight"),
];

/// GGUF tensor name -> HF name, for model-level tensors.
const GLOBAL_NAMES: &[(&str, &str)] = &[
    ("token_embd.weight", "model.embed_tokens.weight"),
    ("output_norm.weight", "model.norm.weight"),
    ("output.weight", "lm_head.weight"),
];

/// Reads the model configuration from GGUF metadata.
pub fn config_from_gguf(file: &GgufFile, origin: &str) -> Result<LlamaConfig, LmError> {
    let arch = file
        .architecture()
        .map_err(|e| gguf_err(origin, e))?
        .to_string();
    let family = match arch.as_str() {
        "llama" => Family::Llama,
        "qwen2" => Family::Qwen2,
        _ => {
            return Err(LmError::UnsupportedArchitecture {
                path: origin.to_string(),
                name: arch,
            })
        }
    };
    let int = |key: &str| {
        file.meta_u64(&format!("{arch}.{key}"))
            .map(|v| v as usize)
            .map_err(|e| gguf_err(origin, e))
    };
    let hidden_size = int("embedding_length")?;
    let num_heads = int("attention.head_count")?;
    let vocab_size = match file.tensor_info("token_embd.weight") {
        Some(t) => t.shape().first().copied().unwrap_or(0),
        None => {
            return Err(LmError::MissingTensor {
                path: origin.to_string(),
                name: "token_embd.weight".into(),
            })
        }
    };
    let config = LlamaConfig {
        family,
        vocab_size,
        hidden_size,
        intermediate_size: int("feed_forward_length")?,
        num_layers: int("block_count")?,
        num_heads,
        num_kv_heads: int("attention.head_count_kv").unwrap_or(num_heads),
        head_dim: int("attention.key_length").unwrap_or(hidden_size / num_heads.max(1)),
        rope_theta: file
            .meta_f64(&format!("{arch}.rope.freq_base"))
            .unwrap_or(10000.0),
        rms_norm_eps: file
            .meta_f64(&format!("{arch}.attention.layer_norm_rms_epsilon"))
            .map_err(|e| gguf_err(origin, e))?,
        max_position_embeddings: int("context_length").unwrap_or(2048),
        tie_word_embeddings: file.tensor_info("output.weight").is_none(),
        attention_bias: family == Family::Qwen2,
    };
    if file.tensor_info("rope_freqs.weight").is_some() {
        return Err(LmError::Config {
            path: origin.to_string(),
            message: "rope frequency scaling (`rope_freqs.weight`) is not supported".into(),
        });
    }
    config.validate(origin)?;
    Ok(config)
}

/// Dequantizes every tensor to f32 under its HF name, un-permuting llama q/k.
pub fn weights_from_gguf(
    file: &GgufFile,
    config: &LlamaConfig,
    origin: &str,
) -> Result<WeightMap, LmError> {
    let mut tensors = BTreeMap::new();
    for info in &file.tensors {
        let Some(hf_name) = hf_name(&info.name) else {
            return Err(LmError::Format {
                path: origin.to_string(),
                message: format!("unexpected tensor `{}` for a Llama-family model", info.name),
            });
        };
        let mut data = file
            .dequantize(&info.name)
            .map_err(|e| gguf_err(origin, e))?;
        let shape = info.shape();
        if config.family == Family::Llama {
            if hf_name.ends_with("q_proj.weight") {
                data = unpermute_rows(
                    &data,
                    config.num_heads,
                    config.head_dim,
                    shape.get(1).copied().unwrap_or(0),
                );
            } else if hf_name.ends_with("k_proj.weight") {
                data = unpermute_rows(
                    &data,
                    config.num_kv_heads,
                    config.head_dim,
                    shape.get(1).copied().unwrap_or(0),
                );
            }
        }
        tensors.insert(hf_name, Weight { shape, data });
    }
    Ok(WeightMap {
        tensors,
        origin: origin.to_string(),
    })
}

fn hf_name(gguf: &str) -> Option<String> {
    if let Some(&(_, hf)) = GLOBAL_NAMES.iter().find(|(g, _)| *g == gguf) {
        return Some(hf.to_string());
    }
    let rest = gguf.strip_prefix("blk.")?;
    let (layer, suffix) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let &(_, hf) = LAYER_NAMES.iter().find(|(g, _)| *g == suffix)?;
    Some(format!("model.layers.{layer}.{hf}"))
}

/// Undoes llama.cpp's q/k row permutation: within each head, GGUF row
/// `2 * i + j` holds HF row `j * head_dim / 2 + i`.
fn unpermute_rows(data: &[f32], heads: usize, head_dim: usize, cols: usize) -> Vec<f32> {
    let half = head_dim / 2;
    let mut out = vec![0.0; data.len()];
    for h in 0..heads {
        for i in 0..half {
            for j in 0..2 {
                let src = (h * head_dim + 2 * i + j) * cols;
                let dst = (h * head_dim + j * half + i) * cols;
                if src + cols <= data.len() && dst + cols <= out.len() {
                    out[dst..dst + cols].copy_from_slice(&data[src..src + cols]);
                }
            }
        }
    }
    out
}

fn gguf_err(origin: &str, e: attnprune_gguf::GgufError) -> LmError {
    LmError::Format {
        path: origin.to_string(),
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpermute_inverts_llama_cpp_permutation() {
        // llama.cpp: w.reshape(heads, 2, hd/2, cols).swapaxes(1, 2)
        let (heads, hd, cols) = (2, 4, 3);
        let hf: Vec<f32> = (0..heads * hd * cols).map(|x| x as f32).collect();
        let mut gguf = vec![0.0; hf.len()];
        for h in 0..heads {
            for j in 0..2 {
                for i in 0..hd / 2 {
                    let src = (h * hd + j * hd / 2 + i) * cols;
                    let dst = (h * hd + 2 * i + j) * cols;
                    gguf[dst..dst + cols].copy_from_slice(&hf[src..src + cols]);
                }
            }
        }
        assert_eq!(unpermute_rows(&gguf, heads, hd, cols), hf);
    }

    #[test]
    fn names_map() {
        assert_eq!(
            hf_name("blk.12.attn_output.weight").unwrap(),
            "model.layers.12.self_attn.o_proj.weight"
        );
        assert_eq!(
            hf_name("token_embd.weight").unwrap(),
            "model.embed_tokens.weight"
        );
        assert!(hf_name("blk.x.attn_q.weight").is_none());
        assert!(hf_name("rope_freqs.weight").is_none());
    }
}
