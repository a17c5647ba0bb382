//! Batched reply generation with a KV cache and left padding, one head mask
//! per sequence; greedy or seeded sampling (temperature, top-k, top-p).

use crate::batch::{bool_tensor, head_keep_tensor, int_tensor, PaddedBatch};
use crate::cache::KvCache;
use crate::model::{ForwardBatch, LlamaModel, Logits};
use crate::LmError;
use attnprune_mask::HeadMask;
use burn::tensor::backend::Backend;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// How the next token is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampling {
    /// The most likely token (ties: lowest id).
    Greedy,
    /// A seeded draw from the tempered, top-k and top-p filtered distribution.
    Sample {
        /// Softmax temperature (> 0).
        temperature: f64,
        /// Keep only the k most likely tokens (0 = all).
        top_k: usize,
        /// Keep the smallest set of tokens whose probability reaches p (1.0 = all).
        top_p: f64,
    },
}

/// Settings of a generation run.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationConfig {
    /// Most new tokens per reply.
    pub max_new_tokens: usize,
    /// Token choice.
    pub sampling: Sampling,
    /// A reply ends at the first of these tokens (which is kept in the output).
    pub stop_ids: Vec<u32>,
}

/// One reply to generate.
#[derive(Debug, Clone)]
pub struct GenerationRequest<'a> {
    /// Prompt token ids (already chat-formatted if needed).
    pub prompt: &'a [u32],
    /// Heads pruned for this sequence.
    pub mask: &'a HeadMask,
    /// Seed of this reply's sampling (ignored when greedy): the reply does not
    /// depend on which other requests share its batch.
    pub seed: u64,
}

/// Generates one reply per request, all in one batch; returns the new token ids.
pub fn generate<B: Backend>(
    model: &LlamaModel<B>,
    requests: &[GenerationRequest<'_>],
    config: &GenerationConfig,
) -> Result<Vec<Vec<u32>>, LmError> {
    if requests.is_empty() || config.max_new_tokens == 0 {
        return Ok(vec![Vec::new(); requests.len()]);
    }
    if requests.iter().any(|r| r.prompt.is_empty()) {
        return Err(LmError::Usage(
            "cannot generate from an empty prompt".into(),
        ));
    }
    let device = model.device();
    let prompts: Vec<&[u32]> = requests.iter().map(|r| r.prompt).collect();
    let masks: Vec<&HeadMask> = requests.iter().map(|r| r.mask).collect();
    let batch = PaddedBatch::left_padded(&prompts, 0);
    let keep = head_keep_tensor(&masks, model);
    let mut cache = KvCache::new(model.config.num_layers);
    let mut rngs: Vec<ChaCha8Rng> = requests
        .iter()
        .map(|r| ChaCha8Rng::seed_from_u64(r.seed))
        .collect();
    let mut logits = model.forward(
        batch.to_forward(keep.clone(), device),
        Some(&mut cache),
        Logits::Last,
    );
    let b = requests.len();
    let mut padding: Vec<bool> = batch.padding.iter().flatten().copied().collect();
    let mut next_pos: Vec<i64> = batch
        .positions
        .iter()
        .map(|p| p.last().copied().unwrap_or(0) + 1)
        .collect();
    let mut out = vec![Vec::new(); b];
    let mut done = vec![false; b];
    for step in 0..config.max_new_tokens {
        let rows = logits_rows(logits, model.config.vocab_size)?;
        let tokens: Vec<u32> = (0..b)
            .map(|i| pick(&rows[i], config.sampling, &mut rngs[i]))
            .collect();
        for i in 0..b {
            if !done[i] {
                out[i].push(tokens[i]);
                done[i] = config.stop_ids.contains(&tokens[i]);
            }
        }
        if done.iter().all(|&d| d) || step + 1 == config.max_new_tokens {
            break;
        }
        padding = append_column(&padding, b, false);
        let keys = padding.len() / b;
        let step_batch = ForwardBatch {
            tokens: int_tensor(tokens.iter().map(|&t| t as i64).collect(), b, 1, device),
            positions: int_tensor(next_pos.clone(), b, 1, device),
            key_padding: batch
                .has_padding()
                .then(|| bool_tensor(padding.clone(), b, keys, device)),
            head_keep: keep.clone(),
            fan_out: None,
        };
        next_pos.iter_mut().for_each(|p| *p += 1);
        logits = model.forward(step_batch, Some(&mut cache), Logits::Last);
    }
    Ok(out)
}

fn append_column(flags: &[bool], rows: usize, value: bool) -> Vec<bool> {
    let cols = flags.len() / rows;
    flags
        .chunks(cols.max(1))
        .take(rows)
        .flat_map(|row| row.iter().copied().chain(std::iter::once(value)))
        .collect()
}

fn logits_rows<B: Backend>(
    logits: burn::tensor::Tensor<B, 3>,
    vocab: usize,
) -> Result<Vec<Vec<f32>>, LmError> {
    let values = crate::model::host_f32(logits.into_data())?;
    Ok(values.chunks(vocab).map(<[f32]>::to_vec).collect())
}

/// Chooses the next token from one row of logits.
pub fn pick(logits: &[f32], sampling: Sampling, rng: &mut ChaCha8Rng) -> u32 {
    match sampling {
        Sampling::Greedy => argmax(logits),
        Sampling::Sample {
            temperature,
            top_k,
            top_p,
        } => sample(logits, temperature, top_k, top_p, rng),
    }
}

fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &x) in logits.iter().enumerate() {
        if x > logits[best] {
            best = i;
        }
    }
    best as u32
}

fn sample(logits: &[f32], temperature: f64, top_k: usize, top_p: f64, rng: &mut ChaCha8Rng) -> u32 {
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
    if top_k > 0 {
        order.truncate(top_k);
    }
    let t = temperature.max(1e-6);
    let max = logits[order[0]] as f64;
    let weights: Vec<f64> = order
        .iter()
        .map(|&i| ((logits[i] as f64 - max) / t).exp())
        .collect();
    let total: f64 = weights.iter().sum();
    let mut kept = 0;
    let mut mass = 0.0;
    while kept < weights.len() {
        mass += weights[kept] / total;
        kept += 1;
        if mass >= top_p {
            break;
        }
    }
    let kept_total: f64 = weights[..kept].iter().sum();
    let mut u = rng.random::<f64>() * kept_total;
    for (j, w) in weights[..kept].iter().enumerate() {
        if u < *w {
            return order[j] as u32;
        }
        u -= w;
    }
    order[kept - 1] as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_first_maximum() {
        assert_eq!(argmax(&[0.0, 3.0, 3.0, -1.0]), 1);
    }

    #[test]
    fn sampling_is_seeded_and_respects_top_k() {
        let logits = [1.0, 2.0, 3.0, 0.5];
        let s = Sampling::Sample {
            temperature: 1.0,
            top_k: 2,
            top_p: 1.0,
        };
        let draw = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..50)
                .map(|_| pick(&logits, s, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        assert!(draw(3).iter().all(|&t| t == 1 || t == 2));
    }

    #[test]
    fn padding_grows_by_a_column() {
        assert_eq!(
            append_column(&[true, false, false, false], 2, false),
            vec![true, false, false, false, false, false]
        );
    }
}
