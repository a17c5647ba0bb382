//! Choosing masks from measurements, never from predictions alone.
//!
//! * [`paired`]: paired intervals of a pruned model against the unpruned one on the same
//!   perplexity windows ([`paired_ppl_change`]) and the same prompts ([`paired_bias_change`]).
//! * [`PplBudget`]: the utility constraint, `perplexity <= (1 + relative) x unpruned`,
//!   recorded in every mask file so later stages read it instead of taking it again.
//! * [`choose_measured`]: the final choice rule: the lowest measured bias among masks whose
//!   paired 95% upper bound of the perplexity increase is within the budget.
//! * [`fasp_select`]: FASP's head selection (Zayed et al., AAAI 2024); [`fasp_grid`]: its
//!   distinct selections over a grid of `(alpha, gamma)`.

pub mod paired;

mod choose;
mod fasp;

pub use choose::{choose_measured, Choice, MeasuredMask, RowVerdict};
pub use fasp::{fasp_grid, fasp_select};
pub use paired::{paired_bias_change, paired_ppl_change, Interval};

use serde::{Deserialize, Serialize};

/// Errors of the selection crate.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    /// The inputs cannot be compared as asked.
    #[error("{0}")]
    Invalid(String),
}

/// The utility budget: a mask may raise perplexity by at most `relative` (0.05 = 5%).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PplBudget {
    /// Allowed relative perplexity increase over the unpruned model.
    pub relative: f64,
}

impl PplBudget {
    /// A budget; errors unless `relative` is finite and `>= 0`.
    pub fn new(relative: f64) -> Result<Self, SelectError> {
        if !(relative.is_finite() && relative >= 0.0) {
            return Err(SelectError::Invalid(format!(
                "the perplexity budget must be a finite number >= 0, not {relative}"
            )));
        }
        Ok(Self { relative })
    }

    /// The highest perplexity allowed when the unpruned model measures `base`.
    pub fn limit(&self, base: f64) -> f64 {
        (1.0 + self.relative) * base
    }

    /// Whether a relative change (0.03 = +3%) is within the budget.
    pub fn allows(&self, relative_change: f64) -> bool {
        relative_change <= self.relative
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_limits() {
        let b = PplBudget::new(0.05).unwrap();
        assert!((b.limit(10.0) - 10.5).abs() < 1e-12);
        assert!(b.allows(0.05) && !b.allows(0.0501));
        assert!(PplBudget::new(f64::NAN).is_err() && PplBudget::new(-0.1).is_err());
    }
}
