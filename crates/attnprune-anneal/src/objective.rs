//! The incremental objective trait and a few simple implementations.

use serde::{Deserialize, Serialize};

/// The score of one state, as seen by the annealer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The quantity that is minimised by the walk (may include penalties).
    pub value: f64,
    /// Whether the state satisfies all hard constraints; only feasible states can become the result.
    pub feasible: bool,
    /// Two auxiliary numbers recorded in the trajectory (e.g. predicted bias and perplexity).
    pub extras: [f64; 2],
}

impl Evaluation {
    /// A feasible evaluation whose first extra is the value itself.
    pub fn plain(value: f64) -> Self {
        Self {
            value,
            feasible: true,
            extras: [value, 0.0],
        }
    }
}

/// An objective over binary vectors that can score single-bit flips cheaply.
///
/// The objective holds a *current state*. [`reset`](FlipObjective::reset) sets it,
/// [`score_flip`](FlipObjective::score_flip) evaluates the state with one bit flipped without
/// changing it, and [`commit_flip`](FlipObjective::commit_flip) applies the flip.
///
/// Callers guarantee that `reset` receives exactly [`n_bits`](FlipObjective::n_bits) bits and
/// that indices are `< n_bits`; the annealing engine checks this. Implementations may cache the
/// last scored flip so that committing it right after scoring is cheap.
pub trait FlipObjective {
    /// Number of bits of the state vectors.
    fn n_bits(&self) -> usize;
    /// Replaces the current state and returns its evaluation.
    fn reset(&mut self, state: &[bool]) -> Evaluation;
    /// Evaluation of the current state with bit `i` flipped; the current state is unchanged.
    fn score_flip(&mut self, i: usize) -> Evaluation;
    /// Flips bit `i` of the current state and returns the new current evaluation.
    fn commit_flip(&mut self, i: usize) -> Evaluation;
    /// Evaluation of the current state.
    fn current(&self) -> Evaluation;
}

/// `value = bias + sum_i weights[i] * x_i`, always feasible; useful for tests and as a predictor.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearObjective {
    weights: Vec<f64>,
    bias: f64,
    value: f64,
    state: Vec<bool>,
}

impl LinearObjective {
    /// Creates the objective with current state all-false.
    pub fn new(weights: Vec<f64>, bias: f64) -> Self {
        let state = vec![false; weights.len()];
        Self {
            weights,
            bias,
            value: bias,
            state,
        }
    }

    /// The weight of each bit.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// Exact value of an arbitrary state (non-incremental).
    pub fn evaluate(&self, state: &[bool]) -> f64 {
        let on = self.weights.iter().zip(state).filter(|(_, &b)| b);
        self.bias + on.map(|(w, _)| w).sum::<f64>()
    }

    fn delta(&self, i: usize) -> f64 {
        if self.state[i] {
            -self.weights[i]
        } else {
            self.weights[i]
        }
    }
}

impl FlipObjective for LinearObjective {
    fn n_bits(&self) -> usize {
        self.weights.len()
    }

    fn reset(&mut self, state: &[bool]) -> Evaluation {
        self.state.clear();
        self.state.extend_from_slice(state);
        self.value = self.evaluate(state);
        self.current()
    }

    fn score_flip(&mut self, i: usize) -> Evaluation {
        Evaluation::plain(self.value + self.delta(i))
    }

    fn commit_flip(&mut self, i: usize) -> Evaluation {
        self.value += self.delta(i);
        self.state[i] = !self.state[i];
        self.current()
    }

    fn current(&self) -> Evaluation {
        Evaluation::plain(self.value)
    }
}

/// Wraps any full-state scoring function (`Fn(&[bool]) -> Evaluation`) as a [`FlipObjective`].
///
/// Every flip re-evaluates the whole state, so this is only for cheap functions or tests.
#[derive(Debug, Clone)]
pub struct FnObjective<F> {
    func: F,
    state: Vec<bool>,
    current: Evaluation,
}

impl<F: Fn(&[bool]) -> Evaluation> FnObjective<F> {
    /// Creates the objective over `n_bits` bits with current state all-false.
    pub fn new(n_bits: usize, func: F) -> Self {
        let state = vec![false; n_bits];
        let current = func(&state);
        Self {
            func,
            state,
            current,
        }
    }
}

impl<F: Fn(&[bool]) -> Evaluation> FlipObjective for FnObjective<F> {
    fn n_bits(&self) -> usize {
        self.state.len()
    }

    fn reset(&mut self, state: &[bool]) -> Evaluation {
        self.state.clear();
        self.state.extend_from_slice(state);
        self.current = (self.func)(&self.state);
        self.current
    }

    fn score_flip(&mut self, i: usize) -> Evaluation {
        self.state[i] = !self.state[i];
        let eval = (self.func)(&self.state);
        self.state[i] = !self.state[i];
        eval
    }

    fn commit_flip(&mut self, i: usize) -> Evaluation {
        self.state[i] = !self.state[i];
        self.current = (self.func)(&self.state);
        self.current
    }

    fn current(&self) -> Evaluation {
        self.current
    }
}
