//! Tests of the per-restart pools of good distinct visited states.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use attnprune_anneal::{
    anneal, AnnealConfig, AnnealResult, ConstrainedObjective, Cooling, Evaluation, FlipObjective,
    LinearObjective, Solution,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

type Knapsack = ConstrainedObjective<LinearObjective, LinearObjective>;
/// Visit log: (is the start of a restart, state, evaluation).
type VisitLog = Arc<Mutex<Vec<(bool, Vec<bool>, Evaluation)>>>;

/// Knapsack over `n` items: minimise -value subject to weight <= 40% of the total weight.
fn knapsack(n: usize, seed: u64) -> (Knapsack, Vec<f64>, Vec<f64>, f64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let values: Vec<f64> = (0..n).map(|_| -rng.random_range(1.0..10.0)).collect();
    let weights: Vec<f64> = (0..n).map(|_| rng.random_range(1.0..10.0)).collect();
    let cap = weights.iter().sum::<f64>() * 0.4;
    let f = LinearObjective::new(values.clone(), 0.0);
    let g = LinearObjective::new(weights.clone(), 0.0);
    let obj = ConstrainedObjective::new(f, g, cap, 200.0).unwrap();
    (obj, values, weights, cap)
}

fn config(pool_size: usize) -> AnnealConfig {
    AnnealConfig {
        steps_per_restart: 5_000,
        restarts: 4,
        cooling: Cooling::Exponential {
            final_temperature: 1e-3,
        },
        seed: 17,
        threads: 1,
        max_trajectory_rows: 200,
        pool_size,
        ..AnnealConfig::default()
    }
}

fn dot(a: &[f64], state: &[bool]) -> f64 {
    a.iter()
        .zip(state)
        .filter(|(_, &b)| b)
        .map(|(w, _)| w)
        .sum()
}

/// Everything of a result except the pools.
fn without_pools(result: &AnnealResult) -> AnnealResult {
    let mut out = result.clone();
    out.restarts.iter_mut().for_each(|r| r.pool.clear());
    out
}

#[test]
fn pool_size_zero_leaves_results_identical() {
    assert_eq!(AnnealConfig::default().pool_size, 0);
    let (obj, ..) = knapsack(30, 1);
    let default = anneal(
        &AnnealConfig {
            pool_size: AnnealConfig::default().pool_size,
            ..config(0)
        },
        &obj,
    )
    .unwrap();
    let zero = anneal(&config(0), &obj).unwrap();
    let pooled = anneal(&config(16), &obj).unwrap();
    assert_eq!(format!("{default:?}"), format!("{zero:?}"));
    assert!(zero.restarts.iter().all(|r| r.pool.is_empty()));
    assert!(zero.pool().is_empty());
    assert!(pooled.restarts.iter().all(|r| r.pool.len() == 16));
    assert_eq!(zero.best, pooled.best);
    for (a, b) in zero.restarts.iter().zip(&pooled.restarts) {
        assert_eq!(a.best, b.best);
        assert_eq!(a.trajectory, b.trajectory);
        assert!(!a.trajectory.is_empty());
    }
    assert_eq!(format!("{zero:?}"), format!("{:?}", without_pools(&pooled)));
}

#[test]
fn pool_holds_distinct_feasible_sorted_states_with_best_first() {
    let (obj, values, weights, cap) = knapsack(30, 2);
    let result = anneal(&config(32), &obj).unwrap();
    for r in &result.restarts {
        assert_eq!(r.pool.len(), 32);
        assert_eq!(r.best.as_ref(), Some(&r.pool[0]));
        let distinct: HashSet<&Vec<bool>> = r.pool.iter().map(|s| &s.state).collect();
        assert_eq!(distinct.len(), r.pool.len());
        for s in &r.pool {
            assert_eq!(s.restart, r.restart);
            assert!(s.evaluation.feasible);
            assert!(dot(&weights, &s.state) <= cap);
            assert!((s.evaluation.value - dot(&values, &s.state)).abs() < 1e-9);
        }
        assert!(r
            .pool
            .windows(2)
            .all(|w| w[0].evaluation.value <= w[1].evaluation.value));
    }
}

/// Wraps an objective and logs every visited state (reset = start of a restart, then commits).
#[derive(Clone)]
struct Recording {
    inner: Knapsack,
    state: Vec<bool>,
    log: VisitLog,
}

impl FlipObjective for Recording {
    fn n_bits(&self) -> usize {
        self.inner.n_bits()
    }
    fn reset(&mut self, state: &[bool]) -> Evaluation {
        self.state = state.to_vec();
        let eval = self.inner.reset(state);
        self.log
            .lock()
            .unwrap()
            .push((true, self.state.clone(), eval));
        eval
    }
    fn score_flip(&mut self, i: usize) -> Evaluation {
        self.inner.score_flip(i)
    }
    fn commit_flip(&mut self, i: usize) -> Evaluation {
        self.state[i] = !self.state[i];
        let eval = self.inner.commit_flip(i);
        self.log
            .lock()
            .unwrap()
            .push((false, self.state.clone(), eval));
        eval
    }
    fn current(&self) -> Evaluation {
        self.inner.current()
    }
}

/// The expected pool of one restart's visits: per distinct feasible state its lowest value
/// (first visit with it), sorted by (value, visit), first `k`.
fn expected_pool(visits: &[(Vec<bool>, Evaluation)], k: usize) -> Vec<(Vec<bool>, f64)> {
    let mut best: HashMap<&Vec<bool>, (f64, usize)> = HashMap::new();
    for (t, (state, eval)) in visits.iter().enumerate() {
        if !eval.feasible {
            continue;
        }
        let e = best.entry(state).or_insert((eval.value, t));
        if eval.value < e.0 {
            *e = (eval.value, t);
        }
    }
    let mut all: Vec<_> = best.into_iter().collect();
    all.sort_by(|a, b| a.1 .0.total_cmp(&b.1 .0).then(a.1 .1.cmp(&b.1 .1)));
    all.into_iter()
        .take(k)
        .map(|(s, (v, _))| (s.clone(), v))
        .collect()
}

#[test]
fn pool_is_exactly_the_best_distinct_visited_states() {
    let (inner, ..) = knapsack(12, 3);
    let log = Arc::new(Mutex::new(Vec::new()));
    let obj = Recording {
        inner,
        state: Vec::new(),
        log: log.clone(),
    };
    let cfg = AnnealConfig {
        restarts: 3,
        steps_per_restart: 20_000,
        ..config(24)
    };
    let result = anneal(&cfg, &obj).unwrap();
    let log = log.lock().unwrap();
    let mut restarts: Vec<Vec<(Vec<bool>, Evaluation)>> = Vec::new();
    for (start, state, eval) in log.iter() {
        if *start {
            restarts.push(Vec::new());
        }
        restarts.last_mut().unwrap().push((state.clone(), *eval));
    }
    assert_eq!(restarts.len(), 3);
    for (r, visits) in result.restarts.iter().zip(&restarts) {
        let distinct: HashSet<&Vec<bool>> = visits.iter().map(|v| &v.0).collect();
        assert!(visits.len() > 2 * distinct.len(), "states are revisited");
        let got: Vec<(Vec<bool>, f64)> = r
            .pool
            .iter()
            .map(|s| (s.state.clone(), s.evaluation.value))
            .collect();
        assert_eq!(got, expected_pool(visits, 24));
        assert_eq!(r.best.as_ref(), Some(&r.pool[0]));
    }
}

/// The expected merged pool: each state once (lowest value, then lowest restart), sorted.
fn expected_merged(result: &AnnealResult) -> Vec<Solution> {
    let mut keep: HashMap<&Vec<bool>, &Solution> = HashMap::new();
    for s in result.restarts.iter().flat_map(|r| &r.pool) {
        let e = keep.entry(&s.state).or_insert(s);
        let v = (s.evaluation.value, s.restart);
        if v.0 < e.evaluation.value || (v.0 == e.evaluation.value && v.1 < e.restart) {
            *e = s;
        }
    }
    let mut out: Vec<Solution> = keep.into_values().cloned().collect();
    out.sort_by(|a, b| {
        let key = |s: &Solution| (s.restart, s.found_at_step);
        a.evaluation
            .value
            .total_cmp(&b.evaluation.value)
            .then(key(a).cmp(&key(b)))
    });
    out
}

#[test]
fn merged_pool_is_deduplicated_sorted_and_thread_independent() {
    let (obj, ..) = knapsack(14, 4);
    let base = AnnealConfig {
        restarts: 6,
        ..config(20)
    };
    let runs: Vec<AnnealResult> = [1, 2, 4, 0]
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
    let merged = runs[0].pool();
    for r in &runs[1..] {
        assert_eq!(format!("{merged:?}"), format!("{:?}", r.pool()));
        assert_eq!(format!("{:?}", runs[0]), format!("{r:?}"));
    }
    let total: usize = runs[0].restarts.iter().map(|r| r.pool.len()).sum();
    assert!(merged.len() < total, "restarts share states");
    assert_eq!(merged, expected_merged(&runs[0]));
    assert_eq!(runs[0].best.as_ref(), Some(&merged[0]));
}
