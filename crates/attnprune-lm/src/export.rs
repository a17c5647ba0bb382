//! Exporting a pruned model as an HF checkpoint folder.
//!
//! Pruned heads are **zeroed**, not removed: the columns of `o_proj` that read
//! a pruned head's output are set to zero (and the head's `q_proj` rows too,
//! so the head is visibly dead). HF configs cannot express a different head
//! count per layer, so zeroing keeps the export loadable by transformers,
//! llama.cpp's converter and this tool, and reproduces the masked outputs
//! exactly.

use crate::config::LlamaConfig;
use crate::weights::WeightMap;
use crate::LmError;
use attnprune_mask::HeadMask;
use attnprune_tokenizer::Tokenizer;
use std::path::Path;

/// Zeroes the pruned heads' `o_proj` input columns and `q_proj` rows in `weights`.
pub fn zero_pruned_heads(
    weights: &mut WeightMap,
    config: &LlamaConfig,
    mask: &HeadMask,
) -> Result<(), LmError> {
    config
        .head_layout()
        .check_matches(&mask.layout())
        .map_err(|e| LmError::Usage(e.to_string()))?;
    let hd = config.head_dim;
    for head in mask.pruned_heads() {
        let p = format!("model.layers.{}.self_attn", head.layer);
        let o = weights
            .tensors
            .get_mut(&format!("{p}.o_proj.weight"))
            .ok_or_else(|| missing(&weights.origin, "o_proj"))?;
        let cols = o.shape[1];
        for row in o.data.chunks_mut(cols) {
            row[head.head * hd..(head.head + 1) * hd]
                .iter_mut()
                .for_each(|x| *x = 0.0);
        }
        let q = weights
            .tensors
            .get_mut(&format!("{p}.q_proj.weight"))
            .ok_or_else(|| missing(&weights.origin, "q_proj"))?;
        let cols = q.shape[1];
        q.data[head.head * hd * cols..(head.head + 1) * hd * cols]
            .iter_mut()
            .for_each(|x| *x = 0.0);
    }
    Ok(())
}

fn missing(origin: &str, name: &str) -> LmError {
    LmError::MissingTensor {
        path: origin.to_string(),
        name: name.into(),
    }
}

/// Writes `config.json`, `model.safetensors` (f32), `tokenizer.json` and
/// `tokenizer_config.json` of a (pruned) model into `dir`.
pub fn export_hf_dir(
    dir: &Path,
    config: &LlamaConfig,
    weights: &WeightMap,
    tokenizer: &Tokenizer,
) -> Result<(), LmError> {
    std::fs::create_dir_all(dir).map_err(|source| LmError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let mut weights = weights.clone();
    if config.tie_word_embeddings {
        weights.tensors.remove("lm_head.weight");
    }
    weights.save_safetensors(&dir.join("model.safetensors"))?;
    let json = serde_json::to_string_pretty(&config.to_hf_json()).unwrap_or_default();
    crate::write_file_atomic(&dir.join("config.json"), json.as_bytes())?;
    let tok_err = |e: attnprune_tokenizer::TokenizerError| LmError::Format {
        path: dir.display().to_string(),
        message: e.to_string(),
    };
    tokenizer
        .save(&dir.join("tokenizer.json"))
        .map_err(tok_err)?;
    tokenizer
        .save_config(&dir.join("tokenizer_config.json"))
        .map_err(tok_err)?;
    Ok(())
}
