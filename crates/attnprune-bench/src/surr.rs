//! Workloads 4 and 5, model-free: `anneal` (surrogate evaluations and
//! annealing steps per second) and `train-surrogate` (seconds for a table of
//! the demo's shape). The table is synthetic, generated from a seed.

use crate::stats::{rates, time_repeats, Metric, WorkloadResult};
use anyhow::Result;
use attnprune_anneal::{
    anneal, AnnealConfig, ConstrainedObjective, Cooling, FlipObjective, StartTemperature,
};
use attnprune_mask::{draw_random_masks, HeadLayout, RandomMaskSpec};
use attnprune_surrogate::ExpOf;
use attnprune_surrogate::{bias_floor, bias_target};
use attnprune_surrogate::{metrics, split_holdout, train, TrainConfig, TrainedSurrogate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;

/// A sample table of the demo's shape: masks, bias of one axis, perplexity.
#[derive(Debug, Clone)]
pub struct SyntheticTable {
    /// Masks (`true` = pruned).
    pub masks: Vec<Vec<bool>>,
    /// Bias of the axis.
    pub bias: Vec<f64>,
    /// Perplexity.
    pub perplexity: Vec<f64>,
}

/// Settings of workloads 4 and 5 (the demo's `train-surrogate` and `anneal` defaults).
#[derive(Debug, Clone, Serialize)]
pub struct SurrogateSettings {
    /// Layers x heads of the masks (SmolLM2-135M: 30 x 9).
    pub layers: usize,
    /// Heads per layer.
    pub heads: usize,
    /// Rows of the table: unpruned + every single-head knockout + random masks.
    pub rows: usize,
    /// Most heads a random mask prunes (`DEMO_MAX_PRUNED`).
    pub max_pruned: usize,
    /// Hold-out share of `train-surrogate` (its default).
    pub holdout: f64,
    /// Annealing steps per restart (`DEMO_ANNEAL_STEPS`).
    pub anneal_steps: usize,
    /// Restarts (`DEMO_ANNEAL_RESTARTS`).
    pub anneal_restarts: usize,
    /// Perplexity budget (`DEMO_PPL_BUDGET`).
    pub ppl_budget: f64,
    /// Incremental flips scored per repeat (surrogate evaluations per second).
    pub flips: usize,
    /// Whole-mask predictions per repeat.
    pub predictions: usize,
    /// Threads of the annealer.
    pub threads: usize,
    /// Seed of the table, training and chains.
    pub seed: u64,
}

/// The demo's table shape with synthetic targets: bias = a sparse additive
/// effect per head plus pairwise interactions and noise; ln perplexity = a
/// positive cost per head (a few heads expensive) plus a quadratic term.
pub fn synthetic_table(s: &SurrogateSettings) -> Result<SyntheticTable> {
    let layout = HeadLayout::new(s.layers, s.heads);
    let n = layout.total();
    let mut masks = vec![vec![false; n]];
    for i in 0..n.min(s.rows.saturating_sub(1)) {
        let mut m = vec![false; n];
        m[i] = true;
        masks.push(m);
    }
    let random = s.rows.saturating_sub(masks.len());
    let spec = RandomMaskSpec {
        layout,
        max_pruned: s.max_pruned.min(n),
        seed: s.seed,
    };
    masks.extend(
        draw_random_masks(&spec, random)?
            .into_iter()
            .map(|m| m.bits().to_vec()),
    );
    let mut rng = ChaCha8Rng::seed_from_u64(s.seed ^ 0x5355_5252);
    let mut normal = |sd: f64| {
        // Box-Muller from two uniforms.
        let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
        sd * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    };
    let bias_effect: Vec<f64> = (0..n)
        .map(|i| {
            if i % 5 == 0 {
                normal(0.03)
            } else {
                normal(0.005)
            }
        })
        .collect();
    let ppl_cost: Vec<f64> = (0..n)
        .map(|i| {
            if i % 17 == 0 {
                normal(0.15).abs()
            } else {
                normal(0.01).abs()
            }
        })
        .collect();
    let pairs: Vec<(usize, usize, f64)> = (0..60)
        .map(|k| ((k * 37) % n, (k * 101 + 7) % n, normal(0.04)))
        .collect();
    let noise: Vec<(f64, f64)> = (0..masks.len())
        .map(|_| (normal(0.004), normal(0.003)))
        .collect();
    let mut bias = Vec::with_capacity(masks.len());
    let mut perplexity = Vec::with_capacity(masks.len());
    for (m, (nb, np)) in masks.iter().zip(noise) {
        let k = m.iter().filter(|&&b| b).count() as f64;
        let add: f64 = m
            .iter()
            .zip(&bias_effect)
            .filter(|(b, _)| **b)
            .map(|(_, e)| e)
            .sum();
        let inter: f64 = pairs
            .iter()
            .filter(|(a, b, _)| m[*a] && m[*b])
            .map(|(_, _, w)| w)
            .sum();
        bias.push((0.12 + add + inter + nb).max(0.0));
        let cost: f64 = m
            .iter()
            .zip(&ppl_cost)
            .filter(|(b, _)| **b)
            .map(|(_, c)| c)
            .sum();
        perplexity.push((3.0 + cost + 2e-4 * k * k + np).exp());
    }
    Ok(SyntheticTable {
        masks,
        bias,
        perplexity,
    })
}

/// The two surrogates `train-surrogate` fits, and its fit report.
pub struct Fitted {
    /// Bias surrogate.
    pub bias: TrainedSurrogate,
    /// ln-perplexity surrogate.
    pub ln_ppl: TrainedSurrogate,
    /// Held-out R^2 of (bias, ln perplexity), epochs run.
    pub info: serde_json::Value,
}

/// What `train-surrogate` computes (without the Parquet and file I/O): the
/// hold-out split, both fits, and training and held-out metrics.
pub fn train_both(table: &SyntheticTable, s: &SurrogateSettings) -> Result<Fitted> {
    let config = TrainConfig::default();
    let (train_idx, hold_idx) = split_holdout(table.masks.len(), s.holdout, s.seed)?;
    let xs = |idx: &[usize]| {
        idx.iter()
            .map(|&i| table.masks[i].clone())
            .collect::<Vec<_>>()
    };
    let fit = |target: &dyn Fn(usize) -> f64| -> Result<(TrainedSurrogate, f64)> {
        let ys = |idx: &[usize]| idx.iter().map(|&i| target(i)).collect::<Vec<_>>();
        let model = train(&config, &xs(&train_idx), &ys(&train_idx), s.seed)?;
        metrics(&model.predict_batch(&xs(&train_idx))?, &ys(&train_idx))?;
        let held = metrics(&model.predict_batch(&xs(&hold_idx))?, &ys(&hold_idx))?;
        Ok((model, held.r2))
    };
    let floor = bias_floor(&table.bias);
    let (bias, bias_r2) = fit(&|i| bias_target(table.bias[i], floor))?;
    let (ln_ppl, ppl_r2) = fit(&|i| table.perplexity[i].ln())?;
    let info = serde_json::json!({
        "holdout_r2_bias": bias_r2,
        "holdout_r2_ln_ppl": ppl_r2,
        "epochs_run": [bias.report().epochs_run, ln_ppl.report().epochs_run],
        "train_rows": train_idx.len(),
        "holdout_rows": hold_idx.len(),
    });
    Ok(Fitted { bias, ln_ppl, info })
}

/// Workload 5: seconds for `train-surrogate`'s work on the demo-shaped table.
pub fn run_train(
    table: &SyntheticTable,
    s: &SurrogateSettings,
    repeats: usize,
) -> Result<(WorkloadResult, Fitted)> {
    let (secs, fitted) = time_repeats(repeats, || train_both(table, s))?;
    let mut metrics = BTreeMap::new();
    metrics.insert("seconds".into(), Metric::new("s", false, secs));
    let mut info = fitted.info.clone();
    info["rows"] = serde_json::json!(table.masks.len());
    let result = WorkloadResult {
        id: 5,
        name: "train-surrogate".into(),
        description: format!(
            "fit the ln-bias and ln-perplexity MLPs (hidden 256,64, GELU, Adam, <= 300 epochs, early stopping) on a synthetic table of {} rows x {} heads, hold-out {}, metrics",
            table.masks.len(),
            s.layers * s.heads,
            s.holdout
        ),
        warmup: 1,
        repeats,
        primary: "seconds".into(),
        metrics,
        info,
    };
    Ok((result, fitted))
}

/// Workload 4: incremental surrogate evaluations per second (one thread),
/// whole-mask predictions per second (one thread), and annealing steps per
/// second with the demo's `anneal` settings (`threads` threads).
pub fn run_anneal(
    table: &SyntheticTable,
    fitted: &Fitted,
    s: &SurrogateSettings,
    repeats: usize,
) -> Result<WorkloadResult> {
    let n = s.layers * s.heads;
    let mut rng = ChaCha8Rng::seed_from_u64(s.seed ^ 0x414e_4e45);
    let mut start = vec![false; n];
    for _ in 0..20 {
        start[rng.random_range(0..n)] = true;
    }
    let flips: Vec<usize> = (0..s.flips).map(|_| rng.random_range(0..n)).collect();
    let masks: Vec<Vec<bool>> = (0..s.predictions.clamp(1, 4096))
        .map(|_| (0..n).map(|_| rng.random::<f64>() < 0.07).collect())
        .collect();
    let unpruned_ppl = table.perplexity[0];
    let limit = attnprune_select::PplBudget::new(s.ppl_budget)?.limit(unpruned_ppl);
    let objective = ConstrainedObjective::new(
        ExpOf(fitted.bias.incremental()),
        ExpOf(fitted.ln_ppl.incremental()),
        limit,
        10.0,
    )?;
    let config = AnnealConfig {
        start_temperature: StartTemperature::default(),
        cooling: Cooling::Exponential {
            final_temperature: 1e-4,
        },
        steps_per_restart: s.anneal_steps,
        restarts: s.anneal_restarts,
        seed: s.seed,
        threads: s.threads,
        max_trajectory_rows: 2000,
        ..AnnealConfig::default()
    };
    let (mut flip_secs, mut predict_secs, mut anneal_runs) = (Vec::new(), Vec::new(), Vec::new());
    let mut checksum = 0.0;
    let mut best = [f64::NAN; 2];
    // Run 0 is the warm-up; each repeat times its three parts separately.
    for run in 0..=repeats {
        // Incremental flips: what one annealing step costs per surrogate.
        let mut inc = fitted.bias.incremental();
        inc.reset(&start);
        let t = Instant::now();
        let mut acc = 0.0;
        for &i in &flips {
            acc += inc.score_flip(i).value;
        }
        let flip_dt = t.elapsed().as_secs_f64();
        // Whole-mask predictions (the non-incremental path).
        let t = Instant::now();
        for k in 0..s.predictions {
            acc += fitted.bias.predict(&masks[k % masks.len()])?;
        }
        let predict_dt = t.elapsed().as_secs_f64();
        checksum = acc;
        // The anneal stage's search.
        let t = Instant::now();
        let result = anneal(&config, &objective)?;
        let anneal_dt = t.elapsed().as_secs_f64();
        best = result.best()?.evaluation.extras;
        if run > 0 {
            log::info!("  run {run}/{repeats}: flips {flip_dt:.3} s, predictions {predict_dt:.3} s, anneal {anneal_dt:.3} s");
            flip_secs.push(flip_dt);
            predict_secs.push(predict_dt);
            anneal_runs.push(anneal_dt);
        }
    }
    let steps = (s.anneal_steps * s.anneal_restarts) as f64;
    let mut metrics = BTreeMap::new();
    metrics.insert(
        "anneal_steps_per_s".into(),
        Metric::new("steps/s", true, rates(steps, &anneal_runs)),
    );
    metrics.insert(
        "surrogate_evals_per_s".into(),
        Metric::new("flips/s", true, rates(s.flips as f64, &flip_secs)),
    );
    metrics.insert(
        "full_predictions_per_s".into(),
        Metric::new("masks/s", true, rates(s.predictions as f64, &predict_secs)),
    );
    metrics.insert(
        "anneal_seconds".into(),
        Metric::new("s", false, anneal_runs),
    );
    Ok(WorkloadResult {
        id: 4,
        name: "anneal".into(),
        description: format!(
            "surrogate evaluations: IncrementalMlp::score_flip on the bias surrogate, one thread; full predictions: FastMlp::predict, one thread; anneal(): {} restarts x {} steps, two surrogates, {} threads",
            s.anneal_restarts, s.anneal_steps, s.threads
        ),
        warmup: 1,
        repeats,
        primary: "anneal_steps_per_s".into(),
        metrics,
        info: serde_json::json!({ "best_predicted_bias": best[0], "best_predicted_perplexity": best[1], "checksum": checksum }),
    })
}
