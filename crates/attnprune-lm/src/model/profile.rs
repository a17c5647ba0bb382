//! Where the generic path's forward time goes: each step of a decoder layer
//! timed alone at one batch shape.
//!
//! The generic path (burn's ops, the path every GPU runs) is a chain of
//! kernels; a forward can be slow because its matrix products are (the
//! kernels burn picks for these shapes) or because of everything between
//! them (element-wise ops, casts, masks, each its own trip through memory).
//! [`profile_forward`] tells the two apart: it runs the same steps the
//! forward runs ([`LlamaModel`]'s own helpers, on layer 0's weights and
//! random hidden states), waits for the device around each, and reports
//! their times next to a whole forward's and to a square matrix product of
//! the same number format (what the device's product kernel reaches when
//! the shape is easy). `device-check --profile` prints and saves it.

use super::{apply_head_keep, LlamaModel, Logits};
use crate::batch::PaddedBatch;
use crate::LmError;
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor};
use std::time::Instant;

/// One step of the forward, timed alone.
#[derive(Debug, Clone, PartialEq)]
pub struct StepTime {
    /// What the step computes.
    pub name: &'static str,
    /// How many times a forward runs it (per layer steps: layers x per layer).
    pub calls_per_forward: usize,
    /// Median seconds of one call.
    pub seconds: f64,
    /// Multiply-add FLOPs of one call (2 per multiply-add; 0 for element-wise steps).
    pub flops: f64,
}

/// A forward's time, step by step.
#[derive(Debug, Clone, PartialEq)]
pub struct ForwardProfile {
    /// Sequences in the batch.
    pub batch: usize,
    /// Tokens per sequence.
    pub seq: usize,
    /// The steps, in forward order.
    pub steps: Vec<StepTime>,
    /// Median seconds of one whole forward (all logits) at the same shape.
    pub forward_seconds: f64,
    /// Side of the square product `[n, n] x [n, n]` timed as the reference.
    pub square_side: usize,
    /// Median seconds of that product.
    pub square_seconds: f64,
}

impl ForwardProfile {
    /// Seconds a forward spends in the steps, by their times alone.
    pub fn steps_seconds(&self) -> f64 {
        self.steps
            .iter()
            .map(|s| s.seconds * s.calls_per_forward as f64)
            .sum()
    }

    /// TFLOP/s of the square reference product.
    pub fn square_tflops(&self) -> f64 {
        2.0 * (self.square_side as f64).powi(3) / self.square_seconds / 1e12
    }
}

/// `len` token ids spread over a vocabulary of `vocab` (any model's: the tiny
/// test model has 384), the throughput and profile runs' input: what the ids
/// are does not change a forward's cost.
pub fn spread_token_ids(len: usize, vocab: usize) -> Vec<u32> {
    let vocab = vocab.max(1) as u64;
    (0..len as u64)
        .map(|i| ((1000 + i * 7919) % vocab) as u32)
        .collect()
}

/// Median seconds of `repeats` timed calls of `f` after one warm-up call,
/// each between two waits for `device`'s queue (the output is kept alive until
/// the second wait, so a lazy backend cannot skip the work).
fn timed<B: Backend, T>(
    device: &B::Device,
    repeats: usize,
    mut f: impl FnMut() -> T,
) -> Result<f64, LmError> {
    let sync = || B::sync(device).map_err(|e| LmError::Backend(format!("{e:?}")));
    let mut times = Vec::with_capacity(repeats);
    for r in 0..=repeats.max(1) {
        sync()?;
        let start = Instant::now();
        let out = f();
        sync()?;
        drop(out);
        if r > 0 {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// Times the generic forward of `model` step by step at `batch` sequences of
/// `seq` tokens (no padding, one head in nine pruned), `repeats` calls per
/// step, and a square product of side `square_side` in the model's number
/// format. The fused CPU kernels are not profiled: it runs burn's generic ops.
pub fn profile_forward<B: Backend>(
    model: &LlamaModel<B>,
    batch: usize,
    seq: usize,
    repeats: usize,
    square_side: usize,
) -> Result<ForwardProfile, LmError> {
    let model = model.generic_view();
    let c = model.config.clone();
    let layer = model
        .layers
        .first()
        .ok_or_else(|| LmError::Usage("the model has no layers: nothing to profile".to_string()))?;
    if batch == 0 || seq == 0 {
        return Err(LmError::Usage(format!(
            "cannot profile a batch of {batch} x {seq} tokens"
        )));
    }
    let device = model.device.clone();
    let dtype = model.embed.dtype();
    let (b, s, d) = (batch, seq, c.hidden_size);
    let (hq, hkv, hd) = (c.num_heads, c.num_kv_heads, c.head_dim);
    let rows = b * s;
    let layers = c.num_layers;
    let random = |shape: [usize; 2]| {
        Tensor::<B, 2>::random(shape, Distribution::Normal(0.0, 1.0), &device).cast(dtype)
    };
    let x = random([rows, d]).reshape([b, s, d]);
    let h = random([rows, d]);
    let seq_ids = spread_token_ids(s, c.vocab_size);
    let seqs: Vec<&[u32]> = vec![seq_ids.as_slice(); b];
    let inputs = PaddedBatch::left_padded(&seqs, 0).to_forward::<B>(None, &device);
    let (tokens, positions) = (inputs.tokens, inputs.positions);
    let rope_q = model.rope_rows(&positions, hq);
    let rope_k = model.rope_rows(&positions, hkv);
    let (q_raw, k_raw, v) = layer.qkv(h.clone());
    let (q_raw, k_raw) = (
        q_raw.reshape([rows, hq, hd]),
        k_raw.reshape([rows, hkv, hd]),
    );
    let q = model.apply_rope(q_raw.clone(), &rope_q);
    let k = model.apply_rope(k_raw.clone(), &rope_k);
    let mask = model.call_mask(None, (b, s, 0));
    // One head in nine pruned, as a random mask of the search prunes about that many.
    let keep_data: Vec<f32> = (0..b * hq)
        .map(|i| if i % 9 == 4 { 0.0 } else { 1.0 })
        .collect();
    let keep = Tensor::<B, 1>::from_floats(keep_data.as_slice(), &device).reshape([b, hq, 1]);
    let heads_out = model.attend((q.clone(), k.clone(), v.clone()), b, mask.clone(), None);
    let (qkv_out, inter, vocab) = ((hq + 2 * hkv) * hd, c.intermediate_size, c.vocab_size);
    let product = |m: usize, k: usize, n: usize| 2.0 * (m * k * n) as f64;
    // Attention's two products, causal half included (the kernels compute it).
    let attention_flops = 2.0 * product(b * hq * s, hd, s);
    let mut steps = Vec::new();
    let mut step = |name, per_layer: Option<usize>, flops, seconds| {
        steps.push(StepTime {
            name,
            calls_per_forward: per_layer.map_or(1, |n| n * layers),
            seconds,
            flops,
        });
    };
    step(
        "embedding lookup",
        None,
        0.0,
        timed::<B, _>(&device, repeats, || {
            burn::tensor::module::embedding(model.embed.clone(), tokens.clone())
        })?,
    );
    step(
        "rotary tables (cos, sin rows for q and k)",
        None,
        0.0,
        timed::<B, _>(&device, repeats, || {
            (
                model.rope_rows(&positions, hq),
                model.rope_rows(&positions, hkv),
            )
        })?,
    );
    step(
        "attention mask",
        None,
        0.0,
        timed::<B, _>(&device, repeats, || model.call_mask(None, (b, s, 0)))?,
    );
    step(
        "RMSNorm",
        Some(2),
        0.0,
        timed::<B, _>(&device, repeats, || {
            model.rms_norm(x.clone(), &layer.attn_norm)
        })?,
    );
    step(
        "q, k, v projections",
        Some(1),
        product(rows, d, qkv_out),
        timed::<B, _>(&device, repeats, || layer.qkv(h.clone()))?,
    );
    step(
        "rotary (q and k)",
        Some(1),
        product(rows * (hq + hkv), hd, hd),
        timed::<B, _>(&device, repeats, || {
            (
                model.apply_rope(q_raw.clone(), &rope_q),
                model.apply_rope(k_raw.clone(), &rope_k),
            )
        })?,
    );
    step(
        "attention (scores, mask, softmax, values)",
        Some(1),
        attention_flops,
        timed::<B, _>(&device, repeats, || {
            model.attend((q.clone(), k.clone(), v.clone()), b, mask.clone(), None)
        })?,
    );
    step(
        "head mask",
        Some(1),
        0.0,
        timed::<B, _>(&device, repeats, || {
            apply_head_keep(heads_out.clone(), keep.clone())
        })?,
    );
    step(
        "o projection",
        Some(1),
        product(rows, hq * hd, d),
        timed::<B, _>(&device, repeats, || layer.project_heads(heads_out.clone()))?,
    );
    step(
        "residual add",
        Some(2),
        0.0,
        timed::<B, _>(&device, repeats, || x.clone() + x.clone())?,
    );
    step(
        "MLP (gate, up, SiLU x up, down)",
        Some(1),
        3.0 * product(rows, d, inter),
        timed::<B, _>(&device, repeats, || layer.mlp(h.clone(), model.gpu_kernels))?,
    );
    step(
        "final RMSNorm, LM head (every position), f32 logits",
        None,
        product(rows, d, vocab),
        timed::<B, _>(&device, repeats, || model.logits_of(h.clone()))?,
    );
    let forward_seconds = timed::<B, _>(&device, repeats, || {
        let batch = PaddedBatch::left_padded(&seqs, 0).to_forward::<B>(None, &device);
        model.forward(batch, None, Logits::All)
    })?;
    let square = random([square_side, square_side]);
    let square_seconds = timed::<B, _>(&device, repeats, || square.clone().matmul(square.clone()))?;
    Ok(ForwardProfile {
        batch,
        seq,
        steps,
        forward_seconds,
        square_side,
        square_seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tiny::{random_weights, tiny_config};
    use burn::backend::Flex;

    fn tiny_model() -> LlamaModel<Flex> {
        let config = tiny_config(384);
        let weights = random_weights(&config, 3);
        LlamaModel::from_weights(config, weights, &Default::default()).unwrap()
    }

    #[test]
    fn profile_names_every_step_and_times_them() {
        let model = tiny_model();
        let p = profile_forward(&model, 2, 8, 1, 16).unwrap();
        let names: Vec<&str> = p.steps.iter().map(|s| s.name).collect();
        assert!(names.contains(&"attention (scores, mask, softmax, values)"));
        assert!(names.contains(&"MLP (gate, up, SiLU x up, down)"));
        let layers = model.config.num_layers;
        let norm = p.steps.iter().find(|s| s.name == "RMSNorm").unwrap();
        assert_eq!(norm.calls_per_forward, 2 * layers);
        let mlp = p.steps.iter().find(|s| s.name.starts_with("MLP")).unwrap();
        let c = &model.config;
        assert_eq!(
            mlp.flops,
            3.0 * 2.0 * (16 * c.hidden_size * c.intermediate_size) as f64
        );
        assert!(p.forward_seconds > 0.0 && p.square_seconds > 0.0);
        assert!(p.steps_seconds().is_finite());
        assert_eq!(p.square_side, 16);
    }

    #[test]
    fn profile_refuses_an_empty_batch() {
        let model = tiny_model();
        assert!(profile_forward(&model, 0, 8, 1, 16).is_err());
    }
}
