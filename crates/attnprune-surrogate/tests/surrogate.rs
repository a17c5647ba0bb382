//! Integration tests: fitting, determinism, fast-path agreement, save/load.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;

use attnprune_anneal::FlipObjective;
use attnprune_surrogate::{
    metrics, split_holdout, train, Activation, DenseLayer, FastMlp, IncrementalMlp, SurrogateError,
    TrainConfig, TrainedSurrogate,
};
use burn::backend::Flex;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const N: usize = 40;

/// Random masks and an additive target `sum_i w_i x_i + 3` with small noise.
fn synthetic(rows: usize, seed: u64) -> (Vec<Vec<bool>>, Vec<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let w: Vec<f64> = (0..N).map(|_| rng.random_range(-1.0..1.0)).collect();
    let masks: Vec<Vec<bool>> = (0..rows)
        .map(|_| (0..N).map(|_| rng.random_bool(0.3)).collect())
        .collect();
    let y = masks
        .iter()
        .map(|m| {
            3.0 + m
                .iter()
                .zip(&w)
                .filter(|(b, _)| **b)
                .map(|(_, w)| w)
                .sum::<f64>()
                + rng.random_range(-0.02..0.02)
        })
        .collect();
    (masks, y)
}

fn small_config() -> TrainConfig {
    TrainConfig {
        hidden: vec![64, 32],
        max_epochs: 60,
        patience: 15,
        batch_size: 32,
        ..TrainConfig::default()
    }
}

fn pick<T: Clone>(v: &[T], idx: &[usize]) -> Vec<T> {
    idx.iter().map(|&i| v[i].clone()).collect()
}

#[test]
fn fits_additive_function_on_holdout() {
    let (x, y) = synthetic(800, 1);
    let (tr, ho) = split_holdout(x.len(), 0.2, 9).unwrap();
    let model = train(&small_config(), &pick(&x, &tr), &pick(&y, &tr), 42).unwrap();
    let pred = model.predict_batch(&pick(&x, &ho)).unwrap();
    let m = metrics(&pred, &pick(&y, &ho)).unwrap();
    assert!(m.r2 > 0.9, "held-out R2 {}", m.r2);
    assert!(m.spearman > 0.9, "held-out Spearman {}", m.spearman);
    let report = model.report();
    assert!(report.epochs_run >= 1 && report.best_epoch < report.epochs_run);
    assert_eq!(report.train_rows + report.validation_rows, tr.len());
}

#[test]
fn same_seed_gives_bit_identical_model() {
    let (x, y) = synthetic(200, 2);
    let cfg = TrainConfig {
        max_epochs: 5,
        ..small_config()
    };
    let a = train(&cfg, &x, &y, 7).unwrap();
    let b = train(&cfg, &x, &y, 7).unwrap();
    assert_eq!(a.fast().layers(), b.fast().layers());
    let bits = |s: &TrainedSurrogate| {
        s.predict_batch(&x)
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect::<Vec<_>>()
    };
    assert_eq!(bits(&a), bits(&b));
    let c = train(&cfg, &x, &y, 8).unwrap();
    assert_ne!(a.fast().layers(), c.fast().layers());
}

/// Fast path, incremental path and burn forward agree within 1e-4.
fn check_agreement(model: &TrainedSurrogate, masks: &[Vec<bool>]) {
    let burn = model
        .predict_burn::<Flex>(masks, &Default::default())
        .unwrap();
    let fast = model.predict_batch(masks).unwrap();
    for (b, f) in burn.iter().zip(&fast) {
        assert!((b - f).abs() < 1e-4, "burn {b} vs fast {f}");
    }
    let mut inc = model.incremental();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut state = masks[0].clone();
    inc.reset(&state);
    for step in 0..3000 {
        let i = rng.random_range(0..state.len());
        let scored = inc.score_flip(i).value;
        state[i] = !state[i];
        let exact = model.predict(&state).unwrap();
        assert!(
            (scored - exact).abs() < 1e-4,
            "step {step}: scored {scored} vs {exact}"
        );
        if rng.random_bool(0.7) {
            let committed = inc.commit_flip(i).value;
            assert!((committed - exact).abs() < 1e-4);
        } else {
            state[i] = !state[i];
        }
    }
    let burn_final = model
        .predict_burn::<Flex>(std::slice::from_ref(&state), &Default::default())
        .unwrap();
    assert!((inc.current().value - burn_final[0]).abs() < 1e-4);
}

#[test]
fn fast_and_incremental_paths_match_burn_forward() {
    let (x, y) = synthetic(300, 3);
    for activation in [Activation::Relu, Activation::Gelu] {
        let cfg = TrainConfig {
            activation,
            max_epochs: 10,
            ..small_config()
        };
        let model = train(&cfg, &x, &y, 1).unwrap();
        check_agreement(&model, &x[..50]);
    }
}

#[test]
fn save_load_round_trip_and_length_mismatch() {
    let (x, y) = synthetic(150, 4);
    let model = train(
        &TrainConfig {
            max_epochs: 3,
            ..small_config()
        },
        &x,
        &y,
        3,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bias_surrogate.mpk");
    model.save(&path).unwrap();
    assert!(dir.path().join("bias_surrogate.json").exists());
    let loaded = TrainedSurrogate::load(&path, N).unwrap();
    let (a, b) = (loaded.fast(), model.fast());
    assert!(a.layers() == b.layers(), "weights differ after round trip");
    assert_eq!(
        (a.target_mean(), a.target_std()),
        (b.target_mean(), b.target_std())
    );
    assert_eq!(a.activation(), b.activation());
    assert_eq!(loaded.report(), model.report());
    assert_eq!(
        loaded.predict_batch(&x).unwrap(),
        model.predict_batch(&x).unwrap()
    );
    let err = TrainedSurrogate::load(&path, N + 1).unwrap_err();
    assert!(
        matches!(err, SurrogateError::InputLengthMismatch { expected, found, .. } if expected == N + 1 && found == N)
    );
    assert!(err.to_string().contains("bias_surrogate.mpk"), "{err}");
    let missing = TrainedSurrogate::load(&dir.path().join("nope.mpk"), N).unwrap_err();
    assert!(missing.to_string().contains("nope.json"), "{missing}");
}

#[test]
fn the_same_seed_writes_the_same_bytes() {
    // Two trainings with one seed save byte-identical files: burn's records hold each
    // parameter's id, which burn draws at random unless the module sets it.
    let (x, y) = synthetic(60, 4);
    let config = TrainConfig {
        max_epochs: 3,
        ..small_config()
    };
    let dir = tempfile::tempdir().unwrap();
    let bytes = |name: &str| {
        let model = train(&config, &x, &y, 5).unwrap();
        let path = dir.path().join(name);
        model.save(&path).unwrap();
        (
            std::fs::read(&path).unwrap(),
            std::fs::read(path.with_extension("json")).unwrap(),
        )
    };
    let (first, second) = (bytes("a.mpk"), bytes("b.mpk"));
    assert!(first.0 == second.0, "the .mpk records differ");
    assert!(first.1 == second.1, "the .json sidecars differ");
}

#[test]
fn input_errors_are_reported() {
    let (x, y) = synthetic(20, 5);
    let cfg = small_config();
    assert!(matches!(
        train(&cfg, &x, &y[..19], 0),
        Err(SurrogateError::RowCountMismatch { .. })
    ));
    assert!(matches!(
        train(&cfg, &[], &[], 0),
        Err(SurrogateError::EmptyData)
    ));
    let mut bad = x.clone();
    bad[3].pop();
    assert!(matches!(
        train(&cfg, &bad, &y, 0),
        Err(SurrogateError::MaskLength { row: 3, .. })
    ));
    let mut nan = y.clone();
    nan[2] = f64::NAN;
    assert!(matches!(
        train(&cfg, &x, &nan, 0),
        Err(SurrogateError::NonFinite { row: 2, .. })
    ));
    let zero_width = TrainConfig {
        hidden: vec![0],
        ..cfg
    };
    assert!(matches!(
        train(&zero_width, &x, &y, 0),
        Err(SurrogateError::InvalidConfig { .. })
    ));
}

#[test]
fn hand_built_network_predicts_exactly() {
    // 3 inputs -> 2 hidden (ReLU) -> 1; y = 2 * out + 1.
    let l1 = DenseLayer {
        n_in: 3,
        n_out: 2,
        weight: vec![1.0, -1.0, 2.0, 0.5, -3.0, 1.0],
        bias: vec![0.5, 0.0],
    };
    let l2 = DenseLayer {
        n_in: 2,
        n_out: 1,
        weight: vec![1.0, 2.0],
        bias: vec![0.25],
    };
    let mlp = Arc::new(FastMlp::new(vec![l1, l2], Activation::Relu, 1.0, 2.0).unwrap());
    // x = [1, 1, 0]: pre = [3.5, -0.5] -> relu [3.5, 0] -> 3.75 -> 8.5
    assert_eq!(mlp.predict(&[true, true, false]).unwrap(), 8.5);
    // x = [0, 0, 1]: pre = [-2.5, 1] -> [0, 1] -> 2.25 -> 5.5
    assert_eq!(mlp.predict(&[false, false, true]).unwrap(), 5.5);
    let mut inc = IncrementalMlp::new(Arc::clone(&mlp));
    assert_eq!(inc.reset(&[true, true, false]).value, 8.5);
    assert_eq!(
        inc.score_flip(2).value,
        mlp.predict(&[true, true, true]).unwrap()
    );
    assert!(mlp.predict(&[true]).is_err());
    let bad = DenseLayer {
        n_in: 2,
        n_out: 2,
        weight: vec![0.0; 4],
        bias: vec![0.0; 2],
    };
    assert!(FastMlp::new(vec![bad], Activation::Relu, 0.0, 1.0).is_err());
}

#[test]
fn annealing_over_two_surrogates_is_deterministic_and_feasible() {
    use attnprune_anneal::{anneal, AnnealConfig, ConstrainedObjective};
    let (x, y) = synthetic(300, 6);
    let cfg = TrainConfig {
        max_epochs: 10,
        ..small_config()
    };
    let f = train(&cfg, &x, &y, 1).unwrap();
    let y2: Vec<f64> = x
        .iter()
        .map(|m| 1.0 + m.iter().filter(|&&b| b).count() as f64 * 0.1)
        .collect();
    let g = train(&cfg, &x, &y2, 2).unwrap();
    let limit = 1.0 + 0.1 * 8.0;
    let obj = ConstrainedObjective::new(f.incremental(), g.incremental(), limit, 50.0).unwrap();
    let base = AnnealConfig {
        steps_per_restart: 20_000,
        restarts: 4,
        max_pruned: Some(20),
        seed: 9,
        ..AnnealConfig::default()
    };
    let one = anneal(
        &AnnealConfig {
            threads: 1,
            ..base.clone()
        },
        &obj,
    )
    .unwrap();
    let many = anneal(&AnnealConfig { threads: 3, ..base }, &obj).unwrap();
    assert_eq!(format!("{one:?}"), format!("{many:?}"));
    let best = one.best().unwrap();
    let (pf, pg) = (
        f.predict(&best.state).unwrap(),
        g.predict(&best.state).unwrap(),
    );
    assert!(
        (best.evaluation.extras[0] - pf).abs() < 1e-4
            && (best.evaluation.extras[1] - pg).abs() < 1e-4
    );
    assert!(pg <= limit + 1e-4 && best.state.iter().filter(|&&b| b).count() <= 20);
    assert!(pf < f.predict(&[false; N]).unwrap());
}
