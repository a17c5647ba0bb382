//! Compares ReLU and GELU surrogates on a synthetic non-additive mask -> scalar function.
//!
//! `cargo run --release -p attnprune-surrogate --example compare_activation`
#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::time::Instant;

use attnprune_surrogate::{metrics, split_holdout, train, Activation, TrainConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const N: usize = 270;

/// Additive effects + pairwise interactions + a saturating global term + noise; varied densities.
fn data(rows: usize, seed: u64) -> (Vec<Vec<bool>>, Vec<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let w: Vec<f64> = (0..N).map(|_| rng.random_range(-0.05..0.05)).collect();
    let u: Vec<f64> = (0..N).map(|_| rng.random_range(0.0..0.02)).collect();
    let pairs: Vec<(usize, usize, f64)> = (0..300)
        .map(|_| {
            (
                rng.random_range(0..N),
                rng.random_range(0..N),
                rng.random_range(-0.1..0.1),
            )
        })
        .collect();
    let mut x = Vec::with_capacity(rows);
    let mut y = Vec::with_capacity(rows);
    for _ in 0..rows {
        let density = rng.random_range(0.0..0.5);
        let m: Vec<bool> = (0..N).map(|_| rng.random_bool(density)).collect();
        let dot = |v: &[f64]| {
            m.iter()
                .zip(v)
                .filter(|(b, _)| **b)
                .map(|(_, w)| w)
                .sum::<f64>()
        };
        let inter: f64 = pairs
            .iter()
            .filter(|(i, j, _)| m[*i] && m[*j])
            .map(|(_, _, v)| v)
            .sum();
        y.push(dot(&w) + inter + (dot(&u) * 2.0).tanh() + rng.random_range(-0.01..0.01));
        x.push(m);
    }
    (x, y)
}

fn main() {
    let (x, y) = data(3000, 1);
    let (tr, ho) = split_holdout(x.len(), 0.2, 2).unwrap();
    let pick = |idx: &[usize]| {
        (
            idx.iter().map(|&i| x[i].clone()).collect::<Vec<_>>(),
            idx.iter().map(|&i| y[i]).collect::<Vec<_>>(),
        )
    };
    let ((xt, yt), (xh, yh)) = (pick(&tr), pick(&ho));
    for (activation, weight_decay) in [
        (Activation::Relu, 0.0),
        (Activation::Gelu, 0.0),
        (Activation::Relu, 1e-3),
        (Activation::Gelu, 1e-3),
        (Activation::Gelu, 1e-2),
    ] {
        for seed in 0..2 {
            let cfg = TrainConfig {
                activation,
                weight_decay,
                ..TrainConfig::default()
            };
            let t = Instant::now();
            let model = train(&cfg, &xt, &yt, seed).unwrap();
            let m = metrics(&model.predict_batch(&xh).unwrap(), &yh).unwrap();
            println!(
                "{activation:?} wd {weight_decay} seed {seed}: held-out R2 {:.4} RMSE {:.4} Spearman {:.4} ({} epochs, {:.1}s)",
                m.r2, m.rmse, m.spearman, model.report().epochs_run, t.elapsed().as_secs_f64()
            );
        }
    }
}
