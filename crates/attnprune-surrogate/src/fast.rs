//! Plain-Rust inference: [`FastMlp`] and the incremental flip evaluator [`IncrementalMlp`].

use std::sync::Arc;

use attnprune_anneal::{Evaluation, FlipObjective};

use crate::config::Activation;
use crate::dense::{check_layers, DenseLayer};
use crate::error::SurrogateError;
use crate::gelu::GeluTable;

/// Commits between exact recomputations of the first-layer pre-activation (bounds f32 drift).
const REFRESH_INTERVAL: usize = 512;

/// A trained MLP as plain row-major `f32` layers plus the target standardisation.
///
/// `prediction = output * target_std + target_mean`.
#[derive(Debug, Clone, PartialEq)]
pub struct FastMlp {
    layers: Vec<DenseLayer>,
    activation: Activation,
    target_mean: f64,
    target_std: f64,
    gelu: GeluTable,
}

/// `out += a * row`.
#[inline]
fn axpy(a: f32, row: &[f32], out: &mut [f32]) {
    for (o, w) in out.iter_mut().zip(row) {
        *o += a * w;
    }
}

impl FastMlp {
    /// Builds the model; layers must chain and end in a single output.
    pub fn new(
        layers: Vec<DenseLayer>,
        activation: Activation,
        target_mean: f64,
        target_std: f64,
    ) -> Result<Self, SurrogateError> {
        check_layers(&layers)?;
        let gelu = match activation {
            Activation::Gelu => GeluTable::new(),
            Activation::Relu => GeluTable::empty(),
        };
        Ok(Self {
            layers,
            activation,
            target_mean,
            target_std,
            gelu,
        })
    }

    /// Mask length (number of inputs).
    pub fn n_inputs(&self) -> usize {
        self.layers.first().map_or(0, |l| l.n_in)
    }

    /// Hidden layer widths.
    pub fn hidden(&self) -> Vec<usize> {
        self.layers[..self.layers.len().saturating_sub(1)]
            .iter()
            .map(|l| l.n_out)
            .collect()
    }

    /// The layers (row-major `[n_in, n_out]` weights).
    pub fn layers(&self) -> &[DenseLayer] {
        &self.layers
    }

    /// Hidden activation.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// Mean subtracted from the targets during training.
    pub fn target_mean(&self) -> f64 {
        self.target_mean
    }

    /// Standard deviation the targets were divided by during training.
    pub fn target_std(&self) -> f64 {
        self.target_std
    }

    /// Errors unless `len` equals the number of inputs.
    pub fn check_len(&self, len: usize) -> Result<(), SurrogateError> {
        if len == self.n_inputs() {
            Ok(())
        } else {
            Err(SurrogateError::MaskLength {
                row: 0,
                expected: self.n_inputs(),
                found: len,
            })
        }
    }

    /// Predicted target (de-standardised) for one mask.
    pub fn predict(&self, mask: &[bool]) -> Result<f64, SurrogateError> {
        self.check_len(mask.len())?;
        let mut pre = Vec::new();
        self.first_preactivation(mask, &mut pre);
        Ok(self.finish(&pre, &mut Vec::new(), &mut Vec::new()))
    }

    /// Predictions for many masks.
    pub fn predict_batch(&self, masks: &[Vec<bool>]) -> Result<Vec<f64>, SurrogateError> {
        masks
            .iter()
            .enumerate()
            .map(|(row, m)| {
                self.predict(m).map_err(|_| SurrogateError::MaskLength {
                    row,
                    expected: self.n_inputs(),
                    found: m.len(),
                })
            })
            .collect()
    }

    /// An incremental evaluator (current state all-false) sharing this model.
    pub fn incremental(self: &Arc<Self>) -> IncrementalMlp {
        IncrementalMlp::new(Arc::clone(self))
    }

    /// Applies the hidden activation in place (GELU through the interpolation table).
    #[inline]
    fn activate(&self, values: &mut [f32]) {
        match self.activation {
            Activation::Relu => values.iter_mut().for_each(|v| *v = v.max(0.0)),
            Activation::Gelu => values.iter_mut().for_each(|v| *v = self.gelu.eval(*v)),
        }
    }

    /// First-layer pre-activation `b1 + sum_{i: mask[i]} W1[i, :]` into `out`.
    fn first_preactivation(&self, mask: &[bool], out: &mut Vec<f32>) {
        let first = &self.layers[0];
        out.clear();
        out.extend_from_slice(&first.bias);
        for (i, _) in mask.iter().enumerate().filter(|(_, &b)| b) {
            axpy(1.0, first.row(i), out);
        }
    }

    /// Remaining layers from the first pre-activation; returns the de-standardised output.
    fn finish(&self, pre1: &[f32], a: &mut Vec<f32>, b: &mut Vec<f32>) -> f64 {
        a.clear();
        a.extend_from_slice(pre1);
        if self.layers.len() > 1 {
            self.activate(a);
        }
        let last = self.layers.len() - 1;
        for (k, layer) in self.layers.iter().enumerate().skip(1) {
            b.clear();
            b.extend_from_slice(&layer.bias);
            for (j, &h) in a.iter().enumerate().filter(|(_, &h)| h != 0.0) {
                axpy(h, layer.row(j), b);
            }
            if k < last {
                self.activate(b);
            }
            std::mem::swap(a, b);
        }
        let out = a.first().copied().unwrap_or(f32::NAN);
        f64::from(out) * self.target_std + self.target_mean
    }
}

/// Incremental evaluator of a [`FastMlp`] over single-bit flips (an anneal [`FlipObjective`]).
///
/// Keeps the first layer's pre-activation for the current state; flipping input `i` adds or
/// subtracts row `i` of `W1`, then only the small remaining layers are recomputed. The value is
/// the de-standardised prediction, always feasible, `extras = [prediction, 0]`.
#[derive(Debug, Clone)]
pub struct IncrementalMlp {
    mlp: Arc<FastMlp>,
    state: Vec<bool>,
    pre1: Vec<f32>,
    trial: Vec<f32>,
    buf_a: Vec<f32>,
    buf_b: Vec<f32>,
    current: f64,
    scored: Option<(usize, f64)>,
    commits: usize,
}

impl IncrementalMlp {
    /// Creates the evaluator with current state all-false.
    pub fn new(mlp: Arc<FastMlp>) -> Self {
        let n = mlp.n_inputs();
        let mut out = Self {
            mlp,
            state: Vec::new(),
            pre1: Vec::new(),
            trial: Vec::new(),
            buf_a: Vec::new(),
            buf_b: Vec::new(),
            current: 0.0,
            scored: None,
            commits: 0,
        };
        out.reset(&vec![false; n]);
        out
    }

    /// The shared model.
    pub fn model(&self) -> &Arc<FastMlp> {
        &self.mlp
    }

    /// The current state.
    pub fn state(&self) -> &[bool] {
        &self.state
    }

    /// `pre1 -/+ W1[i, :]` into `out`, depending on whether bit `i` is currently set.
    fn flipped_into(&self, i: usize, out: &mut [f32]) {
        let sign = if self.state[i] { -1.0 } else { 1.0 };
        axpy(sign, self.mlp.layers[0].row(i), out);
    }
}

impl FlipObjective for IncrementalMlp {
    fn n_bits(&self) -> usize {
        self.mlp.n_inputs()
    }

    fn reset(&mut self, state: &[bool]) -> Evaluation {
        self.state.clear();
        self.state.extend_from_slice(state);
        self.mlp.first_preactivation(&self.state, &mut self.pre1);
        self.current = self
            .mlp
            .finish(&self.pre1, &mut self.buf_a, &mut self.buf_b);
        self.scored = None;
        self.commits = 0;
        self.current()
    }

    fn score_flip(&mut self, i: usize) -> Evaluation {
        let mut trial = std::mem::take(&mut self.trial);
        trial.clear();
        trial.extend_from_slice(&self.pre1);
        self.flipped_into(i, &mut trial);
        let value = self.mlp.finish(&trial, &mut self.buf_a, &mut self.buf_b);
        self.trial = trial;
        self.scored = Some((i, value));
        Evaluation::plain(value)
    }

    fn commit_flip(&mut self, i: usize) -> Evaluation {
        let mut pre1 = std::mem::take(&mut self.pre1);
        self.flipped_into(i, &mut pre1);
        self.pre1 = pre1;
        self.state[i] = !self.state[i];
        self.commits += 1;
        if self.commits >= REFRESH_INTERVAL {
            self.commits = 0;
            self.mlp.first_preactivation(&self.state, &mut self.pre1);
            self.scored = None;
        }
        self.current = match self.scored.take() {
            Some((j, value)) if j == i => value,
            _ => self
                .mlp
                .finish(&self.pre1, &mut self.buf_a, &mut self.buf_b),
        };
        self.current()
    }

    fn current(&self) -> Evaluation {
        Evaluation::plain(self.current)
    }
}
