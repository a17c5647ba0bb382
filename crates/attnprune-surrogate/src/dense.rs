//! Plain-Rust weights: row-major `f32` matrices, independent of any backend.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::SurrogateError;

/// One fully connected layer, `y = x W + b`, with `W` row-major of shape `[n_in, n_out]`.
///
/// Row `i` of `W` (`weight[i * n_out..(i + 1) * n_out]`) is the contribution of input `i`,
/// which is what the incremental evaluator adds or subtracts when bit `i` flips.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DenseLayer {
    /// Input width.
    pub n_in: usize,
    /// Output width.
    pub n_out: usize,
    /// Row-major `[n_in, n_out]` weights.
    pub weight: Vec<f32>,
    /// `[n_out]` biases.
    pub bias: Vec<f32>,
}

impl DenseLayer {
    /// Row `i` of the weight matrix (the weights leaving input `i`).
    #[inline]
    pub fn row(&self, i: usize) -> &[f32] {
        &self.weight[i * self.n_out..(i + 1) * self.n_out]
    }

    /// Checks that the buffers have the declared sizes.
    pub fn check(&self) -> Result<(), SurrogateError> {
        if self.weight.len() != self.n_in * self.n_out || self.bias.len() != self.n_out {
            return Err(SurrogateError::Architecture(format!(
                "layer `{}x{}` has `{}` weights and `{}` biases",
                self.n_in,
                self.n_out,
                self.weight.len(),
                self.bias.len()
            )));
        }
        Ok(())
    }

    /// `U(-k, k)` initialisation with `k = 1 / sqrt(n_in)` (burn's default for `Linear`).
    pub(crate) fn random(n_in: usize, n_out: usize, rng: &mut ChaCha8Rng) -> Self {
        let k = 1.0 / (n_in as f32).sqrt();
        let weight = (0..n_in * n_out).map(|_| rng.random_range(-k..k)).collect();
        let bias = (0..n_out).map(|_| rng.random_range(-k..k)).collect();
        Self {
            n_in,
            n_out,
            weight,
            bias,
        }
    }
}

/// Checks that layers chain (`n_out` of one = `n_in` of the next) and end in one output.
pub fn check_layers(layers: &[DenseLayer]) -> Result<(), SurrogateError> {
    let last = layers
        .last()
        .ok_or_else(|| SurrogateError::Architecture("no layers".into()))?;
    for layer in layers {
        layer.check()?;
    }
    if let Some(w) = layers.windows(2).find(|w| w[0].n_out != w[1].n_in) {
        return Err(SurrogateError::Architecture(format!(
            "layer output `{}` does not match next input `{}`",
            w[0].n_out, w[1].n_in
        )));
    }
    if last.n_out != 1 {
        return Err(SurrogateError::Architecture(format!(
            "output width is `{}`, expected `1`",
            last.n_out
        )));
    }
    Ok(())
}

/// Seeded random layers for `n_inputs -> hidden... -> 1`.
pub(crate) fn init_layers(
    n_inputs: usize,
    hidden: &[usize],
    rng: &mut ChaCha8Rng,
) -> Vec<DenseLayer> {
    let mut widths = Vec::with_capacity(hidden.len() + 2);
    widths.push(n_inputs);
    widths.extend_from_slice(hidden);
    widths.push(1);
    widths
        .windows(2)
        .map(|w| DenseLayer::random(w[0], w[1], rng))
        .collect()
}
