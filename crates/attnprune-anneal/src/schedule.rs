//! Start temperature and cooling schedules.

use serde::{Deserialize, Serialize};

use crate::error::{invalid, AnnealError};

/// How the start temperature is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum StartTemperature {
    /// A fixed start temperature (`> 0`).
    Fixed(f64),
    /// Derived from the spread of random single-flip moves at the start state:
    /// `T0 = -mean(|delta|) / ln(p)`, so an uphill move of average size is accepted with
    /// probability `initial_acceptance` (the start state may have only downhill moves, e.g. the
    /// unpruned mask, so all deltas are used, not only uphill ones).
    Auto {
        /// Number of random flips sampled (each scored, none committed).
        samples: usize,
        /// Target acceptance probability of an average uphill move, in `(0, 1)`.
        initial_acceptance: f64,
    },
}

impl Default for StartTemperature {
    fn default() -> Self {
        Self::Auto {
            samples: 200,
            initial_acceptance: 0.8,
        }
    }
}

impl StartTemperature {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), AnnealError> {
        match *self {
            Self::Fixed(t) if !(t.is_finite() && t > 0.0) => {
                Err(invalid("start_temperature", t, "must be finite and > 0"))
            }
            Self::Auto { samples: 0, .. } => Err(invalid("auto.samples", 0, "must be >= 1")),
            Self::Auto {
                initial_acceptance: p,
                ..
            } if !(p > 0.0 && p < 1.0) => {
                Err(invalid("auto.initial_acceptance", p, "must be in (0, 1)"))
            }
            _ => Ok(()),
        }
    }

    /// Temperature from sampled move deltas (non-finite ones ignored); falls back to `1.0` when
    /// all deltas are zero or none is finite.
    pub fn auto_from_deltas(deltas: &[f64], initial_acceptance: f64) -> f64 {
        let sizes: Vec<f64> = deltas
            .iter()
            .filter(|d| d.is_finite())
            .map(|d| d.abs())
            .collect();
        let mean = sizes.iter().sum::<f64>() / sizes.len().max(1) as f64;
        if mean > 0.0 {
            -mean / initial_acceptance.ln()
        } else {
            1.0
        }
    }
}

/// How the temperature decreases over the steps of one restart.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Cooling {
    /// `T_k = T0 * factor^k`, `factor` in `(0, 1]`.
    Geometric {
        /// Multiplicative factor applied every step.
        factor: f64,
    },
    /// `T_k = T0 + (T_final - T0) * k / (steps - 1)`.
    Linear {
        /// Temperature at the last step (`>= 0`).
        final_temperature: f64,
    },
    /// `T_k = T0 * (T_final / T0)^(k / (steps - 1))`.
    Exponential {
        /// Temperature at the last step (`> 0`).
        final_temperature: f64,
    },
}

impl Default for Cooling {
    fn default() -> Self {
        Self::Exponential {
            final_temperature: 1e-4,
        }
    }
}

impl Cooling {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), AnnealError> {
        match *self {
            Self::Geometric { factor } if !(factor > 0.0 && factor <= 1.0) => {
                Err(invalid("cooling.factor", factor, "must be in (0, 1]"))
            }
            Self::Linear {
                final_temperature: t,
            } if !(t.is_finite() && t >= 0.0) => Err(invalid(
                "cooling.final_temperature",
                t,
                "must be finite and >= 0",
            )),
            Self::Exponential {
                final_temperature: t,
            } if !(t.is_finite() && t > 0.0) => Err(invalid(
                "cooling.final_temperature",
                t,
                "must be finite and > 0",
            )),
            _ => Ok(()),
        }
    }

    /// Temperature at `step` (0-based) of `steps`, starting from `t0`.
    pub fn temperature(&self, t0: f64, step: usize, steps: usize) -> f64 {
        let frac = if steps > 1 {
            step as f64 / (steps - 1) as f64
        } else {
            0.0
        };
        match *self {
            Self::Geometric { factor } => t0 * factor.powf(step as f64),
            Self::Linear { final_temperature } => t0 + (final_temperature - t0) * frac,
            Self::Exponential { final_temperature } => t0 * (final_temperature / t0).powf(frac),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * (1.0 + b.abs())
    }

    #[test]
    fn geometric_schedule() {
        let c = Cooling::Geometric { factor: 0.5 };
        assert!(close(c.temperature(8.0, 0, 10), 8.0));
        assert!(close(c.temperature(8.0, 3, 10), 1.0));
    }

    #[test]
    fn linear_schedule_hits_endpoints() {
        let c = Cooling::Linear {
            final_temperature: 1.0,
        };
        assert!(close(c.temperature(5.0, 0, 5), 5.0));
        assert!(close(c.temperature(5.0, 2, 5), 3.0));
        assert!(close(c.temperature(5.0, 4, 5), 1.0));
    }

    #[test]
    fn exponential_schedule_hits_endpoints() {
        let c = Cooling::Exponential {
            final_temperature: 0.01,
        };
        assert!(close(c.temperature(1.0, 0, 3), 1.0));
        assert!(close(c.temperature(1.0, 1, 3), 0.1));
        assert!(close(c.temperature(1.0, 2, 3), 0.01));
    }

    #[test]
    fn auto_temperature_from_mean_move_size() {
        let t = StartTemperature::auto_from_deltas(&[-1.0, 1.0, 4.0, f64::NAN], 0.5);
        assert!(close(t, 2.0 / 2f64.ln()));
        assert!(close(StartTemperature::auto_from_deltas(&[0.0], 0.5), 1.0));
        assert!(close(StartTemperature::auto_from_deltas(&[], 0.5), 1.0));
    }

    #[test]
    fn validation_rejects_bad_values() {
        assert!(Cooling::Geometric { factor: 1.5 }.validate().is_err());
        assert!(Cooling::Exponential {
            final_temperature: 0.0
        }
        .validate()
        .is_err());
        assert!(StartTemperature::Fixed(-1.0).validate().is_err());
        let auto = StartTemperature::Auto {
            samples: 10,
            initial_acceptance: 1.0,
        };
        assert!(auto.validate().is_err());
    }
}
