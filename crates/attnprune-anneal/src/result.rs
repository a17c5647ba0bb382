//! Results and trajectories.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::error::AnnealError;
use crate::objective::Evaluation;

/// One (subsampled) row of a restart's trajectory, taken at the end of a window of steps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrajectoryRow {
    /// 0-based step index of this row.
    pub step: usize,
    /// Temperature used at this step.
    pub temperature: f64,
    /// Objective value of the current state after this step.
    pub value: f64,
    /// Extras of the current state after this step.
    pub extras: [f64; 2],
    /// Whether the current state is feasible.
    pub feasible: bool,
    /// Whether the move proposed at this step was accepted.
    pub accepted: bool,
    /// Fraction of accepted moves in the window ending at this row.
    pub acceptance_rate: f64,
    /// Number of true bits in the current state.
    pub ones: usize,
}

/// A state with its evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Solution {
    /// The state (true = pruned).
    pub state: Vec<bool>,
    /// Its evaluation.
    pub evaluation: Evaluation,
    /// Restart that found it.
    pub restart: usize,
    /// Step after which it was found (`None`: it is the start state).
    pub found_at_step: Option<usize>,
}

/// Outcome of one restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestartResult {
    /// Restart index.
    pub restart: usize,
    /// Start temperature used.
    pub start_temperature: f64,
    /// Evaluation of the start state.
    pub start: Evaluation,
    /// Best feasible state of this restart, if any.
    pub best: Option<Solution>,
    /// State at the end of the walk.
    pub final_state: Vec<bool>,
    /// Evaluation of the final state.
    pub final_evaluation: Evaluation,
    /// Number of accepted moves.
    pub accepted: usize,
    /// Subsampled trajectory.
    pub trajectory: Vec<TrajectoryRow>,
    /// Up to [`pool_size`](crate::AnnealConfig::pool_size) best distinct feasible states visited
    /// (the start state and every state after an accepted move), by value ascending; ties keep
    /// visit order. Each state appears once, with the evaluation and step of its lowest-valued
    /// visit (values of one state can differ by rounding between visits). With `pool_size > 0`
    /// and a non-NaN `best`, `pool[0] == best`. NaN values are never pooled.
    #[serde(default)]
    pub pool: Vec<Solution>,
}

/// Outcome of all restarts, in restart order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnealResult {
    /// Best feasible state over all restarts (ties go to the lower restart index).
    pub best: Option<Solution>,
    /// Per-restart results, ordered by restart index.
    pub restarts: Vec<RestartResult>,
}

impl AnnealResult {
    /// Combines per-restart results (already in restart order).
    pub(crate) fn combine(restarts: Vec<RestartResult>) -> Self {
        let mut best: Option<&Solution> = None;
        for sol in restarts.iter().filter_map(|r| r.best.as_ref()) {
            if best.is_none_or(|b| sol.evaluation.value < b.evaluation.value) {
                best = Some(sol);
            }
        }
        Self {
            best: best.cloned(),
            restarts,
        }
    }

    /// The best feasible solution, or [`AnnealError::NoFeasibleState`].
    pub fn best(&self) -> Result<&Solution, AnnealError> {
        self.best.as_ref().ok_or(AnnealError::NoFeasibleState {
            restarts: self.restarts.len(),
        })
    }

    /// All restarts' pools merged: each distinct state once (the copy with the lowest value, then
    /// the lowest restart), sorted by value, then restart, then step found.
    ///
    /// Empty when [`pool_size`](crate::AnnealConfig::pool_size) was 0. Identical for any thread
    /// count.
    pub fn pool(&self) -> Vec<Solution> {
        let mut all: Vec<&Solution> = self.restarts.iter().flat_map(|r| &r.pool).collect();
        all.sort_by(|a, b| {
            a.evaluation
                .value
                .total_cmp(&b.evaluation.value)
                .then(a.restart.cmp(&b.restart))
                .then(a.found_at_step.cmp(&b.found_at_step))
        });
        let mut seen: HashSet<&[bool]> = HashSet::with_capacity(all.len());
        all.into_iter()
            .filter(|s| seen.insert(&s.state))
            .cloned()
            .collect()
    }

    /// Total number of accepted moves over all restarts.
    pub fn total_accepted(&self) -> usize {
        self.restarts.iter().map(|r| r.accepted).sum()
    }
}

/// Keeps at most `max_rows` rows by recording the end of each window of `stride` steps.
#[derive(Debug)]
pub(crate) struct TrajectoryRecorder {
    stride: usize,
    steps: usize,
    enabled: bool,
    window_accepted: usize,
    window_len: usize,
    rows: Vec<TrajectoryRow>,
}

impl TrajectoryRecorder {
    /// Recorder for `steps` steps keeping at most `max_rows` rows.
    pub(crate) fn new(steps: usize, max_rows: usize) -> Self {
        let stride = if max_rows == 0 {
            1
        } else {
            steps.div_ceil(max_rows).max(1)
        };
        Self {
            stride,
            steps,
            enabled: max_rows > 0,
            window_accepted: 0,
            window_len: 0,
            rows: Vec::with_capacity(max_rows.min(steps)),
        }
    }

    /// Notes one step; `row` builds the row lazily only when it is kept.
    pub(crate) fn step(
        &mut self,
        step: usize,
        accepted: bool,
        row: impl FnOnce() -> TrajectoryRow,
    ) {
        if !self.enabled {
            return;
        }
        self.window_accepted += usize::from(accepted);
        self.window_len += 1;
        if (step + 1).is_multiple_of(self.stride) || step + 1 == self.steps {
            let mut r = row();
            r.acceptance_rate = self.window_accepted as f64 / self.window_len as f64;
            self.rows.push(r);
            self.window_accepted = 0;
            self.window_len = 0;
        }
    }

    /// The recorded rows.
    pub(crate) fn finish(self) -> Vec<TrajectoryRow> {
        self.rows
    }
}
