//! Engine configuration.

use serde::{Deserialize, Serialize};

use crate::error::{invalid, AnnealError};
use crate::schedule::{Cooling, StartTemperature};

/// The state each restart starts from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub enum StartState {
    /// All bits false (for head masks: nothing pruned).
    #[default]
    AllFalse,
    /// A given state (must have the objective's length and respect `max_pruned`).
    Given(Vec<bool>),
    /// Each bit true with probability `density`, drawn from the restart's seed; if that exceeds
    /// `max_pruned`, randomly chosen true bits are cleared.
    Random {
        /// Probability of each bit being true, in `[0, 1]`.
        density: f64,
    },
}

/// Configuration of [`anneal`](crate::anneal).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnealConfig {
    /// Start temperature, fixed or automatic.
    pub start_temperature: StartTemperature,
    /// Cooling schedule over the steps of each restart.
    pub cooling: Cooling,
    /// Number of proposed moves per restart (`>= 1`).
    pub steps_per_restart: usize,
    /// Number of independent restarts (`>= 1`).
    pub restarts: usize,
    /// Start state of every restart.
    pub start: StartState,
    /// Maximum number of true (pruned) bits; moves that would exceed it are rejected.
    pub max_pruned: Option<usize>,
    /// Main seed; restart `r` uses ChaCha8 stream `r` of this seed.
    pub seed: u64,
    /// Worker threads; `0` means the available parallelism. Results do not depend on it.
    pub threads: usize,
    /// Maximum trajectory rows kept per restart (`0` disables the trajectory).
    pub max_trajectory_rows: usize,
    /// States kept per restart in [`RestartResult::pool`](crate::RestartResult::pool): the
    /// `pool_size` best distinct feasible states the walk visited (`0` turns the pool off; the
    /// walk itself never depends on it).
    #[serde(default)]
    pub pool_size: usize,
}

impl Default for AnnealConfig {
    fn default() -> Self {
        Self {
            start_temperature: StartTemperature::default(),
            cooling: Cooling::default(),
            steps_per_restart: 100_000,
            restarts: 4,
            start: StartState::AllFalse,
            max_pruned: None,
            seed: 0,
            threads: 0,
            max_trajectory_rows: 1_000,
            pool_size: 0,
        }
    }
}

impl AnnealConfig {
    /// Checks the configuration against an objective with `n_bits` bits.
    pub fn validate(&self, n_bits: usize) -> Result<(), AnnealError> {
        self.start_temperature.validate()?;
        self.cooling.validate()?;
        if self.steps_per_restart == 0 {
            return Err(invalid("steps_per_restart", 0, "must be >= 1"));
        }
        if self.restarts == 0 {
            return Err(invalid("restarts", 0, "must be >= 1"));
        }
        if n_bits == 0 {
            return Err(invalid("n_bits", 0, "objective must have >= 1 bit"));
        }
        self.validate_start(n_bits)
    }

    fn validate_start(&self, n_bits: usize) -> Result<(), AnnealError> {
        match &self.start {
            StartState::AllFalse => Ok(()),
            StartState::Random { density } if !(0.0..=1.0).contains(density) => {
                Err(invalid("start.density", density, "must be in [0, 1]"))
            }
            StartState::Random { .. } => Ok(()),
            StartState::Given(state) if state.len() != n_bits => Err(AnnealError::LengthMismatch {
                expected: n_bits,
                found: state.len(),
            }),
            StartState::Given(state) => {
                let ones = state.iter().filter(|&&b| b).count();
                match self.max_pruned {
                    Some(max) if ones > max => {
                        Err(AnnealError::StartExceedsMaxPruned { ones, max })
                    }
                    _ => Ok(()),
                }
            }
        }
    }

    /// Number of worker threads actually used for `restarts` restarts.
    pub fn effective_threads(&self) -> usize {
        let wanted = if self.threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            self.threads
        };
        wanted.clamp(1, self.restarts.max(1))
    }
}
