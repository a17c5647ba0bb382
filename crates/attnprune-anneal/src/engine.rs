//! The simulated-annealing engine: Metropolis walks with single-bit flips, restarts in parallel.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::{AnnealConfig, StartState};
use crate::error::AnnealError;
use crate::objective::{Evaluation, FlipObjective};
use crate::pool::{bit_key, state_hash, Pool};
use crate::result::{AnnealResult, RestartResult, Solution, TrajectoryRecorder, TrajectoryRow};
use crate::schedule::StartTemperature;

/// Runs `config.restarts` annealing walks over clones of `objective` and combines them.
///
/// Restart `r` draws all its random choices from ChaCha8 seeded with `config.seed`, stream `r`,
/// and results are combined in restart order, so the output is identical for any thread count.
pub fn anneal<O>(config: &AnnealConfig, objective: &O) -> Result<AnnealResult, AnnealError>
where
    O: FlipObjective + Clone + Send + Sync,
{
    let n_bits = objective.n_bits();
    config.validate(n_bits)?;
    let threads = config.effective_threads();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let joined: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| scope.spawn(|| worker(config, objective, &next)))
            .collect();
        handles.into_iter().map(|h| h.join()).collect()
    });
    let mut collected: Vec<RestartResult> = Vec::with_capacity(config.restarts);
    for (worker, results) in joined.into_iter().enumerate() {
        collected.extend(results.map_err(|_| AnnealError::WorkerFailed { worker })?);
    }
    collected.sort_by_key(|r| r.restart);
    Ok(AnnealResult::combine(collected))
}

/// Pulls restart indices from a shared counter until all are taken.
fn worker<O: FlipObjective + Clone>(
    config: &AnnealConfig,
    objective: &O,
    next: &std::sync::atomic::AtomicUsize,
) -> Vec<RestartResult> {
    let mut out = Vec::new();
    let mut local = objective.clone();
    loop {
        let r = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if r >= config.restarts {
            return out;
        }
        out.push(run_restart(config, &mut local, r));
    }
}

/// The RNG of restart `restart`: ChaCha8 seeded with the main seed, stream = restart index.
pub fn restart_rng(seed: u64, restart: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(restart as u64);
    rng
}

/// Mutable state of one walk.
struct Walk {
    state: Vec<bool>,
    ones: usize,
    current: Evaluation,
    best: Option<Solution>,
    accepted: usize,
    /// Incremental hash of `state` (see [`state_hash`]).
    hash: u64,
    /// Best distinct feasible states visited (empty when `pool_size` is 0).
    pool: Pool,
}

impl Walk {
    /// Records a visit of the current state: updates `best` and offers the state to the pool.
    fn note_visit(&mut self, restart: usize, step: Option<usize>) {
        self.note_best(restart, step);
        self.pool
            .offer(&self.state, self.hash, self.current, restart, step);
    }

    fn note_best(&mut self, restart: usize, step: Option<usize>) {
        let cur = self.current;
        let better = self
            .best
            .as_ref()
            .is_none_or(|b| cur.value < b.evaluation.value);
        if cur.feasible && better {
            self.best = Some(Solution {
                state: self.state.clone(),
                evaluation: cur,
                restart,
                found_at_step: step,
            });
        }
    }
}

/// Runs one restart (the config is already validated).
pub(crate) fn run_restart<O: FlipObjective>(
    config: &AnnealConfig,
    obj: &mut O,
    restart: usize,
) -> RestartResult {
    let mut rng = restart_rng(config.seed, restart);
    let state = initial_state(config, obj.n_bits(), &mut rng);
    let ones = state.iter().filter(|&&b| b).count();
    let current = obj.reset(&state);
    let mut walk = Walk {
        hash: state_hash(&state),
        state,
        ones,
        current,
        best: None,
        accepted: 0,
        pool: Pool::new(config.pool_size),
    };
    walk.note_visit(restart, None);
    let t0 = start_temperature(config, obj, &walk, &mut rng);
    let steps = config.steps_per_restart;
    let mut recorder = TrajectoryRecorder::new(steps, config.max_trajectory_rows);
    for step in 0..steps {
        let temperature = config.cooling.temperature(t0, step, steps);
        let accepted = metropolis_step(config, obj, &mut walk, temperature, &mut rng);
        if accepted {
            walk.note_visit(restart, Some(step));
        }
        recorder.step(step, accepted, || row(step, temperature, &walk, accepted));
    }
    RestartResult {
        restart,
        start_temperature: t0,
        start: current,
        best: walk.best,
        final_state: walk.state,
        final_evaluation: walk.current,
        accepted: walk.accepted,
        trajectory: recorder.finish(),
        pool: walk.pool.into_solutions(),
    }
}

fn row(step: usize, temperature: f64, walk: &Walk, accepted: bool) -> TrajectoryRow {
    TrajectoryRow {
        step,
        temperature,
        value: walk.current.value,
        extras: walk.current.extras,
        feasible: walk.current.feasible,
        accepted,
        acceptance_rate: 0.0,
        ones: walk.ones,
    }
}

/// Whether flipping bit `i` would exceed `max_pruned`.
fn blocked(config: &AnnealConfig, walk: &Walk, i: usize) -> bool {
    config
        .max_pruned
        .is_some_and(|max| !walk.state[i] && walk.ones >= max)
}

/// Proposes one uniform flip and applies the Metropolis rule; returns whether it was accepted.
fn metropolis_step<O: FlipObjective>(
    config: &AnnealConfig,
    obj: &mut O,
    walk: &mut Walk,
    temperature: f64,
    rng: &mut ChaCha8Rng,
) -> bool {
    let i = rng.random_range(0..walk.state.len());
    if blocked(config, walk, i) {
        return false;
    }
    let delta = obj.score_flip(i).value - walk.current.value;
    let accept = if delta <= 0.0 {
        true
    } else {
        temperature > 0.0 && rng.random::<f64>() < (-delta / temperature).exp()
    };
    if accept {
        walk.current = obj.commit_flip(i);
        walk.ones = if walk.state[i] {
            walk.ones - 1
        } else {
            walk.ones + 1
        };
        walk.state[i] = !walk.state[i];
        walk.hash ^= bit_key(i);
        walk.accepted += 1;
    }
    accept
}

/// Start temperature: fixed, or from random (scored, uncommitted) flips at the start state.
fn start_temperature<O: FlipObjective>(
    config: &AnnealConfig,
    obj: &mut O,
    walk: &Walk,
    rng: &mut ChaCha8Rng,
) -> f64 {
    match config.start_temperature {
        StartTemperature::Fixed(t) => t,
        StartTemperature::Auto {
            samples,
            initial_acceptance,
        } => {
            let mut deltas = Vec::with_capacity(samples);
            for _ in 0..samples {
                let i = rng.random_range(0..walk.state.len());
                if !blocked(config, walk, i) {
                    deltas.push(obj.score_flip(i).value - walk.current.value);
                }
            }
            StartTemperature::auto_from_deltas(&deltas, initial_acceptance)
        }
    }
}

/// The start state of a restart (validated config).
fn initial_state(config: &AnnealConfig, n_bits: usize, rng: &mut ChaCha8Rng) -> Vec<bool> {
    match &config.start {
        StartState::AllFalse => vec![false; n_bits],
        StartState::Given(state) => state.clone(),
        StartState::Random { density } => {
            let mut state: Vec<bool> = (0..n_bits).map(|_| rng.random_bool(*density)).collect();
            if let Some(max) = config.max_pruned {
                let mut on: Vec<usize> = (0..n_bits).filter(|&i| state[i]).collect();
                if on.len() > max {
                    on.shuffle(rng);
                    on.iter().skip(max).for_each(|&i| state[i] = false);
                }
            }
            state
        }
    }
}
