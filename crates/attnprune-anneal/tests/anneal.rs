//! Integration tests of the annealing engine.
#![allow(clippy::unwrap_used, missing_docs)]

use attnprune_anneal::{
    anneal, AnnealConfig, AnnealError, ConstrainedObjective, Cooling, Evaluation, FlipObjective,
    FnObjective, LinearObjective, StartState, StartTemperature,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A knapsack: values (maximised, so f = -value) and weights with a capacity.
fn knapsack(n: usize, seed: u64) -> (Vec<f64>, Vec<f64>, f64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let values: Vec<f64> = (0..n).map(|_| rng.random_range(1.0..10.0)).collect();
    let weights: Vec<f64> = (0..n).map(|_| rng.random_range(1.0..10.0)).collect();
    let capacity = weights.iter().sum::<f64>() * 0.4;
    (values, weights, capacity)
}

fn brute_force(values: &[f64], weights: &[f64], cap: f64) -> f64 {
    let n = values.len();
    let mut best = 0.0f64;
    for mask in 0u32..(1 << n) {
        let on = (0..n).filter(|&i| mask >> i & 1 == 1);
        let (v, w) = on.fold((0.0, 0.0), |(v, w), i| (v + values[i], w + weights[i]));
        if w <= cap && v > best {
            best = v;
        }
    }
    -best
}

fn knapsack_objective(
    values: &[f64],
    weights: &[f64],
    cap: f64,
) -> ConstrainedObjective<LinearObjective, LinearObjective> {
    let f = LinearObjective::new(values.iter().map(|v| -v).collect(), 0.0);
    let g = LinearObjective::new(weights.to_vec(), 0.0);
    ConstrainedObjective::new(f, g, cap, 200.0).unwrap()
}

fn config(seed: u64) -> AnnealConfig {
    AnnealConfig {
        steps_per_restart: 20_000,
        restarts: 4,
        cooling: Cooling::Exponential {
            final_temperature: 1e-3,
        },
        seed,
        ..AnnealConfig::default()
    }
}

#[test]
fn finds_knapsack_optimum_and_respects_constraint() {
    for seed in 0..3 {
        let (values, weights, cap) = knapsack(16, seed);
        let optimum = brute_force(&values, &weights, cap);
        let obj = knapsack_objective(&values, &weights, cap);
        let result = anneal(&config(seed), &obj).unwrap();
        let best = result.best().unwrap();
        let g = LinearObjective::new(weights.clone(), 0.0).evaluate(&best.state);
        assert!(g <= cap, "constraint violated: {g} > {cap}");
        assert!(best.evaluation.feasible);
        assert!(
            (best.evaluation.value - optimum).abs() < 1e-9,
            "{} vs {optimum}",
            best.evaluation.value
        );
        assert!((best.evaluation.extras[1] - g).abs() < 1e-9);
    }
}

#[test]
fn separable_linear_optimum() {
    let weights: Vec<f64> = (0..40)
        .map(|i| {
            if i % 3 == 0 {
                -1.0 - i as f64
            } else {
                0.5 + i as f64
            }
        })
        .collect();
    let obj = LinearObjective::new(weights.clone(), 1.0);
    let cfg = AnnealConfig {
        start: StartState::Random { density: 0.5 },
        ..config(7)
    };
    let best = anneal(&cfg, &obj).unwrap().best.unwrap();
    let expected: Vec<bool> = weights.iter().map(|&w| w < 0.0).collect();
    assert_eq!(best.state, expected);
    assert!((best.evaluation.value - obj.evaluate(&expected)).abs() < 1e-9);
}

#[test]
fn deterministic_across_thread_counts() {
    let (values, weights, cap) = knapsack(30, 11);
    let obj = knapsack_objective(&values, &weights, cap);
    let base = AnnealConfig {
        restarts: 6,
        steps_per_restart: 5_000,
        max_trajectory_rows: 50,
        ..config(3)
    };
    let runs: Vec<_> = [1, 2, 4, 0]
        .iter()
        .map(|&threads| {
            anneal(
                &AnnealConfig {
                    threads,
                    ..base.clone()
                },
                &obj,
            )
            .unwrap()
        })
        .collect();
    for r in &runs[1..] {
        assert_eq!(format!("{:?}", runs[0]), format!("{r:?}"));
    }
    let other = anneal(&AnnealConfig { seed: 4, ..base }, &obj).unwrap();
    assert_ne!(
        format!("{:?}", runs[0].restarts),
        format!("{:?}", other.restarts)
    );
}

#[test]
fn max_pruned_is_never_exceeded() {
    let obj = LinearObjective::new(vec![-1.0; 50], 0.0);
    let cfg = AnnealConfig {
        max_pruned: Some(7),
        start: StartState::Random { density: 0.9 },
        max_trajectory_rows: 10_000,
        ..config(5)
    };
    let result = anneal(&cfg, &obj).unwrap();
    for r in &result.restarts {
        assert!(r.final_state.iter().filter(|&&b| b).count() <= 7);
        assert!(r.trajectory.iter().all(|row| row.ones <= 7));
    }
    assert_eq!(result.best.unwrap().evaluation.value, -7.0);
}

#[test]
fn trajectory_is_subsampled() {
    let obj = LinearObjective::new(vec![1.0; 10], 0.0);
    let cfg = AnnealConfig {
        steps_per_restart: 1_000,
        restarts: 2,
        max_trajectory_rows: 7,
        ..config(1)
    };
    let result = anneal(&cfg, &obj).unwrap();
    for r in &result.restarts {
        assert!(r.trajectory.len() <= 7 && !r.trajectory.is_empty());
        assert_eq!(r.trajectory.last().unwrap().step, 999);
        assert!(r
            .trajectory
            .windows(2)
            .all(|w| w[0].step < w[1].step && w[0].temperature >= w[1].temperature));
    }
    let none = anneal(
        &AnnealConfig {
            max_trajectory_rows: 0,
            ..cfg
        },
        &obj,
    )
    .unwrap();
    assert!(none.restarts.iter().all(|r| r.trajectory.is_empty()));
}

#[test]
fn fixed_temperature_and_geometric_cooling_are_used() {
    let obj = LinearObjective::new(vec![1.0; 10], 0.0);
    let cfg = AnnealConfig {
        start_temperature: StartTemperature::Fixed(2.0),
        cooling: Cooling::Geometric { factor: 0.5 },
        steps_per_restart: 4,
        restarts: 1,
        max_trajectory_rows: 4,
        ..config(1)
    };
    let r = &anneal(&cfg, &obj).unwrap().restarts[0];
    assert_eq!(r.start_temperature, 2.0);
    let temps: Vec<f64> = r.trajectory.iter().map(|row| row.temperature).collect();
    assert_eq!(temps, vec![2.0, 1.0, 0.5, 0.25]);
}

#[test]
fn infeasible_everywhere_reports_no_feasible_state() {
    let f = LinearObjective::new(vec![1.0; 5], 0.0);
    let g = LinearObjective::new(vec![1.0; 5], 10.0);
    let obj = ConstrainedObjective::new(f, g, 1.0, 1.0).unwrap();
    let cfg = AnnealConfig {
        steps_per_restart: 100,
        ..config(1)
    };
    let result = anneal(&cfg, &obj).unwrap();
    assert!(matches!(
        result.best(),
        Err(AnnealError::NoFeasibleState { restarts: 4 })
    ));
}

#[test]
fn invalid_configs_are_rejected() {
    let obj = LinearObjective::new(vec![1.0; 5], 0.0);
    let bad_len = AnnealConfig {
        start: StartState::Given(vec![false; 4]),
        ..config(0)
    };
    assert!(matches!(
        anneal(&bad_len, &obj),
        Err(AnnealError::LengthMismatch {
            expected: 5,
            found: 4
        })
    ));
    let too_many = AnnealConfig {
        start: StartState::Given(vec![true; 5]),
        max_pruned: Some(2),
        ..config(0)
    };
    assert!(matches!(
        anneal(&too_many, &obj),
        Err(AnnealError::StartExceedsMaxPruned { ones: 5, max: 2 })
    ));
    assert!(anneal(
        &AnnealConfig {
            restarts: 0,
            ..config(0)
        },
        &obj
    )
    .is_err());
    let g = LinearObjective::new(vec![1.0; 6], 0.0);
    assert!(ConstrainedObjective::new(obj.clone(), g.clone(), 1.0, 1.0).is_err());
    assert!(ConstrainedObjective::new(obj, g, 0.0, 1.0).is_err());
}

#[test]
fn fn_objective_matches_linear_objective() {
    let weights = vec![0.5, -1.5, 2.0, -0.25];
    let mut lin = LinearObjective::new(weights.clone(), 0.1);
    let w2 = weights.clone();
    let mut fun = FnObjective::new(4, move |s: &[bool]| {
        Evaluation::plain(
            0.1 + s
                .iter()
                .zip(&w2)
                .filter(|(b, _)| **b)
                .map(|(_, w)| w)
                .sum::<f64>(),
        )
    });
    let start = [true, false, false, true];
    assert_eq!(lin.reset(&start), fun.reset(&start));
    for i in [2, 0, 3, 2, 1] {
        let (a, b) = (lin.score_flip(i).value, fun.score_flip(i).value);
        assert!((a - b).abs() < 1e-12);
        let (a, b) = (lin.commit_flip(i).value, fun.commit_flip(i).value);
        assert!((a - b).abs() < 1e-12);
    }
}
