//! Throughput of the surrogate fast path and of annealing with two surrogates.
//!
//! `cargo run --release -p attnprune-surrogate --example bench_anneal`
#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::time::Instant;

use attnprune_anneal::{anneal, AnnealConfig, ConstrainedObjective, Cooling, FlipObjective};
use attnprune_surrogate::{train, Activation, TrainConfig, TrainedSurrogate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const N: usize = 270;

/// A quickly trained surrogate on a synthetic additive target (realistic ReLU sparsity).
fn surrogate(seed: u64, activation: Activation) -> TrainedSurrogate {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let w: Vec<f64> = (0..N).map(|_| rng.random_range(-0.1..0.1)).collect();
    let x: Vec<Vec<bool>> = (0..1000)
        .map(|_| (0..N).map(|_| rng.random_bool(0.2)).collect())
        .collect();
    let y: Vec<f64> = x
        .iter()
        .map(|m| {
            1.0 + m
                .iter()
                .zip(&w)
                .filter(|(b, _)| **b)
                .map(|(_, w)| w)
                .sum::<f64>()
        })
        .collect();
    let cfg = TrainConfig {
        max_epochs: 5,
        activation,
        ..TrainConfig::default()
    };
    train(&cfg, &x, &y, seed).unwrap()
}

fn main() {
    for activation in [Activation::Relu, Activation::Gelu] {
        bench(activation);
    }
}

fn bench(activation: Activation) {
    let t = Instant::now();
    let bias = surrogate(1, activation);
    let ppl = surrogate(2, activation);
    println!(
        "{activation:?}: trained 2 surrogates (n = {N}, hidden {:?}) in {:.1}s",
        bias.fast().hidden(),
        t.elapsed().as_secs_f64()
    );

    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mask: Vec<bool> = (0..N).map(|_| rng.random_bool(0.2)).collect();
    let reps = 20_000;
    let t = Instant::now();
    for _ in 0..reps {
        black_box(bias.predict(black_box(&mask)).unwrap());
    }
    println!(
        "full predict:        {:>10.0} evals/s",
        reps as f64 / t.elapsed().as_secs_f64()
    );

    let mut inc = bias.incremental();
    inc.reset(&mask);
    let reps = 500_000;
    let t = Instant::now();
    for k in 0..reps {
        let i = rng.random_range(0..N);
        black_box(inc.score_flip(i));
        if k % 4 == 0 {
            inc.commit_flip(i);
        }
    }
    println!(
        "incremental flips:   {:>10.0} evals/s (1 core)",
        reps as f64 / t.elapsed().as_secs_f64()
    );

    let objective =
        ConstrainedObjective::new(bias.incremental(), ppl.incremental(), 1.2, 10.0).unwrap();
    for (restarts, threads) in [(1, 1), (2, 2)] {
        let steps = 500_000;
        let cfg = AnnealConfig {
            steps_per_restart: steps,
            restarts,
            threads,
            cooling: Cooling::Exponential {
                final_temperature: 1e-4,
            },
            ..AnnealConfig::default()
        };
        let t = Instant::now();
        let result = anneal(&cfg, &objective).unwrap();
        let secs = t.elapsed().as_secs_f64();
        let total = (steps * restarts) as f64;
        println!(
            "anneal {restarts} restart(s) x {steps} steps on {threads} thread(s): {:>10.0} steps/s total, {:>10.0} per thread (best {:?})",
            total / secs,
            total / secs / threads as f64,
            result.best.map(|b| b.evaluation.value)
        );
    }
}
