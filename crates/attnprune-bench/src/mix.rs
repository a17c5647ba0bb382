//! Workload 6: the masks `sample` really evaluates in the demo's screening,
//! evaluated as `sample` evaluates them.
//!
//! The demo's screening table holds the unpruned model, all 270 single-head
//! knockouts and 20 random masks (`pipelines/demo.mk`), measured with the
//! screening protocol (1 template x 1 noun = 18 prompts, 3 + 3 canned replies,
//! 2 perplexity windows of 128 tokens). This workload takes a seeded subset of
//! the same mix in the same proportions (knockouts spread over all layers,
//! random masks of up to 40 heads) and evaluates it the way `sample` does,
//! with its [`WorkerPool`]: one evaluator per worker thread over the shared
//! model, each evaluating a group of masks per pass (multi-mask batching, the
//! layers below the group's first pruned layer run once), each evaluator
//! replaying the unpruned model's lower layers for masks that spare them
//! (layer reuse, recorded by its first evaluation, which is timed). PyTorch
//! evaluates the same masks one by one.

use crate::lm::{mask_spec, seeded_mask, EvalSpec, Lm, MaskSpec};
use crate::stats::{rates, Metric, WorkloadResult};
use anyhow::{Context, Result};
use attnprune_eval::pool::WorkerPool;
use attnprune_eval::{EvalData, EvalSettings};
use attnprune_mask::{HeadLayout, HeadMask};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::time::Instant;

/// Workload 6's inputs, for the PyTorch side.
#[derive(Debug, Clone, Serialize)]
pub struct MixSpec {
    /// The screening protocol (same layout as workload 3's).
    pub evaluate: EvalSpec,
    /// The masks, in evaluation order: the unpruned model, knockouts, random masks.
    pub masks: Vec<MaskSpec>,
    /// What each mask is (`unpruned`, `knockout`, `random`).
    pub kinds: Vec<String>,
    /// Worker threads on our side (`sample --workers`, default one per core).
    pub workers: usize,
    /// Masks per worker and forward pass on our side (`sample --masks-per-pass`).
    pub masks_per_pass: usize,
}

/// The unpruned mask, `knockouts` single-head masks spread evenly over the
/// heads (so over all layers), and `random` masks of 1 to `max_pruned` heads.
pub fn mix_masks(
    layout: HeadLayout,
    knockouts: usize,
    random: usize,
    max_pruned: usize,
    seed: u64,
) -> Result<Vec<(String, HeadMask)>> {
    let total = layout.total();
    let mut masks = vec![("unpruned".to_string(), HeadMask::unpruned(layout))];
    for k in 0..knockouts.min(total) {
        let index = k * total / knockouts.min(total) + total / (2 * knockouts.min(total));
        let mut bits = vec![false; total];
        bits[index.min(total - 1)] = true;
        masks.push(("knockout".into(), HeadMask::from_bits(layout, bits)?));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x006d_6978);
    for _ in 0..random {
        let count = rng.random_range(1..=max_pruned.clamp(1, total));
        masks.push(("random".into(), seeded_mask(layout, count, rng.random())?));
    }
    Ok(masks)
}

/// The spec section of workload 6.
pub fn mix_spec(
    evaluate: EvalSpec,
    masks: &[(String, HeadMask)],
    (workers, masks_per_pass): (usize, usize),
) -> MixSpec {
    MixSpec {
        evaluate,
        masks: masks.iter().map(|(_, m)| mask_spec(m)).collect(),
        kinds: masks.iter().map(|(k, _)| k.clone()).collect(),
        workers,
        masks_per_pass,
    }
}

/// What workload 6 measured, compared with PyTorch's by the merge.
#[derive(Debug, Clone, Serialize)]
pub struct MixOutputs {
    /// Perplexity of each mask.
    pub perplexity: Vec<f64>,
    /// The first prompt's score under each mask.
    pub first_score: Vec<f64>,
}

/// Workload 6: one untimed evaluation (warm-up), then `repeats` timed runs,
/// each over all masks with a fresh worker pool (so every run pays for its
/// recording of the unpruned model, as one `sample` process does), in rounds of
/// `masks_per_pass` masks per worker as `sample` evaluates them.
pub fn run_mix(
    lm: &Lm,
    data: &EvalData,
    settings: &EvalSettings,
    masks: &[(String, HeadMask)],
    (workers, masks_per_pass): (usize, usize),
    repeats: usize,
) -> Result<(WorkloadResult, MixOutputs)> {
    let fresh = || WorkerPool::new(lm, data, settings, workers, masks_per_pass);
    fresh()?.evaluate_many(&[(0, &masks[0].1)])?;
    let ids: Vec<(u64, &HeadMask)> = masks
        .iter()
        .enumerate()
        .map(|(i, (_, m))| (i as u64, m))
        .collect();
    let mut secs = Vec::with_capacity(repeats);
    let mut outputs = None;
    for r in 0..repeats {
        let mut pool = fresh()?;
        let start = Instant::now();
        let results = pool.evaluate_many(&ids)?;
        let dt = start.elapsed().as_secs_f64();
        log::info!("  run {}/{}: {:.3} s", r + 1, repeats, dt);
        secs.push(dt);
        outputs = Some(MixOutputs {
            perplexity: results.iter().map(|e| e.perplexity).collect(),
            first_score: results
                .iter()
                .map(|e| e.scores.first().copied().unwrap_or(f64::NAN))
                .collect(),
        });
    }
    let n = masks.len() as f64;
    let per_mask: Vec<f64> = secs.iter().map(|s| s / n).collect();
    let mut metrics = std::collections::BTreeMap::new();
    metrics.insert(
        "masks_per_hour".into(),
        Metric::new("masks/h", true, rates(3600.0 * n, &secs)),
    );
    metrics.insert("seconds_per_mask".into(), Metric::new("s", false, per_mask));
    let count = |kind: &str| masks.iter().filter(|(k, _)| k == kind).count();
    let result = WorkloadResult {
        id: 6,
        name: "demo screening mix (sample's machinery)".into(),
        description: format!(
            "{} masks as in the demo's screening table ({} unpruned, {} single-head knockouts over all layers, {} random masks), screening protocol, {} workers with {} masks per pass and layer reuse, against PyTorch evaluating them one by one",
            masks.len(),
            count("unpruned"),
            count("knockout"),
            count("random"),
            workers,
            masks_per_pass
        ),
        warmup: 1,
        repeats,
        primary: "masks_per_hour".into(),
        metrics,
        info: serde_json::json!({ "masks": masks.len(), "workers": workers, "masks_per_pass": masks_per_pass }),
    };
    Ok((result, outputs.context("no timed run")?))
}
