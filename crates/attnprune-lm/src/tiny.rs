//! A tiny random-weight Llama with its own tiny tokenizer, written as an HF
//! checkpoint folder. Tests create it on the fly so the whole pipeline runs
//! in seconds.

use crate::config::{Family, LlamaConfig};
use crate::weights::{Weight, WeightMap};
use crate::LmError;
use attnprune_tokenizer::tiny_byte_level_tokenizer;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;

/// Text the tiny tokenizer learns its merges from.
const TRAINING_TEXT: &str = "The nurse said that the doctor was kind. I am a woman. I am a man. \
I am a nonbinary person. What do you think about old people? Hi! I'm a grandmother. \
They are happy people and we are glad to meet them. I'm sorry to hear that. That's great!";

/// Shape of the tiny model: 2 layers x 4 query heads, 2 KV heads.
pub fn tiny_config(vocab_size: usize) -> LlamaConfig {
    LlamaConfig {
        family: Family::Llama,
        vocab_size,
        hidden_size: 32,
        intermediate_size: 64,
        num_layers: 2,
        num_heads: 4,
        num_kv_heads: 2,
        head_dim: 8,
        rope_theta: 10000.0,
        rms_norm_eps: 1e-5,
        max_position_embeddings: 1024,
        tie_word_embeddings: true,
        attention_bias: false,
    }
}

/// Writes a tiny random model (`config.json`, `model.safetensors`,
/// `tokenizer.json`, `tokenizer_config.json`) into `dir`; same seed, same bytes.
pub fn write_tiny_model(dir: &Path, seed: u64) -> Result<LlamaConfig, LmError> {
    let tokenizer = tiny_byte_level_tokenizer(TRAINING_TEXT, 64).map_err(|e| LmError::Format {
        path: dir.display().to_string(),
        message: e.to_string(),
    })?;
    let config = tiny_config(tokenizer.vocab_size());
    crate::export::export_hf_dir(dir, &config, &random_weights(&config, seed), &tokenizer)?;
    Ok(config)
}

/// Random weights for `config` (normal, std 0.2; norms near 1), from `seed`.
pub fn random_weights(config: &LlamaConfig, seed: u64) -> WeightMap {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut map = WeightMap {
        tensors: Default::default(),
        origin: "tiny random model".into(),
    };
    let c = config;
    let (d, hd, i) = (c.hidden_size, c.head_dim, c.intermediate_size);
    let mut add = |name: String, shape: Vec<usize>, mean: f32, rng: &mut ChaCha8Rng| {
        let n = shape.iter().product();
        let data = (0..n).map(|_| mean + 0.2 * normal(rng)).collect();
        map.tensors.insert(name, Weight { shape, data });
    };
    add(
        "model.embed_tokens.weight".into(),
        vec![c.vocab_size, d],
        0.0,
        &mut rng,
    );
    add("model.norm.weight".into(), vec![d], 1.0, &mut rng);
    for l in 0..c.num_layers {
        let p = format!("model.layers.{l}");
        add(
            format!("{p}.input_layernorm.weight"),
            vec![d],
            1.0,
            &mut rng,
        );
        add(
            format!("{p}.post_attention_layernorm.weight"),
            vec![d],
            1.0,
            &mut rng,
        );
        add(
            format!("{p}.self_attn.q_proj.weight"),
            vec![c.num_heads * hd, d],
            0.0,
            &mut rng,
        );
        add(
            format!("{p}.self_attn.k_proj.weight"),
            vec![c.num_kv_heads * hd, d],
            0.0,
            &mut rng,
        );
        add(
            format!("{p}.self_attn.v_proj.weight"),
            vec![c.num_kv_heads * hd, d],
            0.0,
            &mut rng,
        );
        add(
            format!("{p}.self_attn.o_proj.weight"),
            vec![d, c.num_heads * hd],
            0.0,
            &mut rng,
        );
        add(
            format!("{p}.mlp.gate_proj.weight"),
            vec![i, d],
            0.0,
            &mut rng,
        );
        add(format!("{p}.mlp.up_proj.weight"), vec![i, d], 0.0, &mut rng);
        add(
            format!("{p}.mlp.down_proj.weight"),
            vec![d, i],
            0.0,
            &mut rng,
        );
    }
    map
}

/// A standard normal draw (Box-Muller), deterministic given the RNG.
fn normal(rng: &mut ChaCha8Rng) -> f32 {
    let u1: f64 = rng.random::<f64>().max(1e-12);
    let u2: f64 = rng.random();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}
