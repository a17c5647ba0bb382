//! Minimise `f(x)` subject to `g(x) <= limit` with a relative penalty for the walk.

use crate::error::{invalid, AnnealError};
use crate::objective::{Evaluation, FlipObjective};

/// Constrained objective: minimise `f` subject to `g <= limit`.
///
/// The walk sees `value = f + lambda * max(0, g / limit - 1)`; a state is feasible only when
/// `g <= limit` (and both predictors report feasible), so the annealer keeps the best state
/// among feasible states only. `extras = [f, g]`.
#[derive(Debug, Clone)]
pub struct ConstrainedObjective<F, G> {
    f: F,
    g: G,
    limit: f64,
    lambda: f64,
    current: Evaluation,
}

impl<F: FlipObjective, G: FlipObjective> ConstrainedObjective<F, G> {
    /// Builds the objective; `limit` must be finite and `> 0`, `lambda` finite and `>= 0`.
    pub fn new(f: F, g: G, limit: f64, lambda: f64) -> Result<Self, AnnealError> {
        if !(limit.is_finite() && limit > 0.0) {
            return Err(invalid("limit", limit, "must be finite and > 0"));
        }
        if !(lambda.is_finite() && lambda >= 0.0) {
            return Err(invalid("lambda", lambda, "must be finite and >= 0"));
        }
        if f.n_bits() != g.n_bits() {
            return Err(AnnealError::PredictorMismatch {
                f_bits: f.n_bits(),
                g_bits: g.n_bits(),
            });
        }
        let mut out = Self {
            current: Evaluation::plain(0.0),
            f,
            g,
            limit,
            lambda,
        };
        out.current = out.combine(out.f.current(), out.g.current());
        Ok(out)
    }

    /// The constraint limit.
    pub fn limit(&self) -> f64 {
        self.limit
    }

    /// The penalty weight.
    pub fn lambda(&self) -> f64 {
        self.lambda
    }

    /// The minimised predictor.
    pub fn f(&self) -> &F {
        &self.f
    }

    /// The constraint predictor.
    pub fn g(&self) -> &G {
        &self.g
    }

    /// Combines predictor evaluations into the penalised evaluation.
    fn combine(&self, fe: Evaluation, ge: Evaluation) -> Evaluation {
        let excess = (ge.value / self.limit - 1.0).max(0.0);
        Evaluation {
            value: fe.value + self.lambda * excess,
            feasible: fe.feasible && ge.feasible && ge.value <= self.limit,
            extras: [fe.value, ge.value],
        }
    }
}

impl<F: FlipObjective, G: FlipObjective> FlipObjective for ConstrainedObjective<F, G> {
    fn n_bits(&self) -> usize {
        self.f.n_bits()
    }

    fn reset(&mut self, state: &[bool]) -> Evaluation {
        let fe = self.f.reset(state);
        let ge = self.g.reset(state);
        self.current = self.combine(fe, ge);
        self.current
    }

    fn score_flip(&mut self, i: usize) -> Evaluation {
        let fe = self.f.score_flip(i);
        let ge = self.g.score_flip(i);
        self.combine(fe, ge)
    }

    fn commit_flip(&mut self, i: usize) -> Evaluation {
        let fe = self.f.commit_flip(i);
        let ge = self.g.commit_flip(i);
        self.current = self.combine(fe, ge);
        self.current
    }

    fn current(&self) -> Evaluation {
        self.current
    }
}
