//! Error type of the annealing crate.

use thiserror::Error;

/// Everything that can go wrong when configuring or running an annealing search.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum AnnealError {
    /// A configuration value is outside its valid range.
    #[error("invalid annealing config: `{field}` = `{value}` ({reason})")]
    InvalidConfig {
        /// Name of the offending field.
        field: &'static str,
        /// The offending value, formatted.
        value: String,
        /// What the valid range is.
        reason: &'static str,
    },
    /// A state vector has the wrong number of bits for the objective.
    #[error("state length mismatch: objective has `{expected}` bits, state has `{found}`")]
    LengthMismatch {
        /// Number of bits the objective expects.
        expected: usize,
        /// Number of bits supplied.
        found: usize,
    },
    /// The two predictors of a constrained objective disagree on the number of bits.
    #[error("constrained objective: f has `{f_bits}` bits but g has `{g_bits}`")]
    PredictorMismatch {
        /// Bits of the minimised predictor.
        f_bits: usize,
        /// Bits of the constraint predictor.
        g_bits: usize,
    },
    /// The given start state prunes more bits than `max_pruned` allows.
    #[error("start state has `{ones}` pruned bits, more than max_pruned `{max}`")]
    StartExceedsMaxPruned {
        /// Number of true bits in the start state.
        ones: usize,
        /// The configured maximum.
        max: usize,
    },
    /// No restart ever visited a feasible state.
    #[error("no feasible state found in `{restarts}` restarts")]
    NoFeasibleState {
        /// Number of restarts that were run.
        restarts: usize,
    },
    /// A worker thread terminated abnormally.
    #[error("annealing worker thread `{worker}` failed")]
    WorkerFailed {
        /// Index of the worker thread that failed.
        worker: usize,
    },
}

/// Shorthand for building an [`AnnealError::InvalidConfig`].
pub(crate) fn invalid(
    field: &'static str,
    value: impl ToString,
    reason: &'static str,
) -> AnnealError {
    AnnealError::InvalidConfig {
        field,
        value: value.to_string(),
        reason,
    }
}
