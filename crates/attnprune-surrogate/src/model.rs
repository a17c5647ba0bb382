//! The burn MLP module, convertible to and from plain [`DenseLayer`]s.

use burn::module::{Module, Param, ParamId};
use burn::nn::Linear;
use burn::tensor::activation::{gelu, relu};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use crate::config::Activation;
use crate::dense::DenseLayer;
use crate::error::SurrogateError;

/// MLP regressor: `n_inputs -> hidden... -> 1`, activation after every hidden layer.
///
/// It predicts the *standardised* target; see [`FastMlp`](crate::FastMlp) for the de-standardised
/// prediction.
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    layers: Vec<Linear<B>>,
    activation: Activation,
}

impl<B: Backend> Mlp<B> {
    /// Builds the module on `device` from plain layers (shapes are taken as given).
    pub fn from_dense(layers: &[DenseLayer], activation: Activation, device: &B::Device) -> Self {
        let layers = layers
            .iter()
            .enumerate()
            .map(|(k, l)| linear_from_dense(l, k, device))
            .collect();
        Self { layers, activation }
    }

    /// Forward pass: `[batch, n_inputs] -> [batch, 1]`.
    pub fn forward(&self, input: Tensor<B, 2>) -> Tensor<B, 2> {
        let last = self.layers.len().saturating_sub(1);
        let mut x = input;
        for (k, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x);
            if k < last {
                x = match self.activation {
                    Activation::Relu => relu(x),
                    Activation::Gelu => gelu(x),
                };
            }
        }
        x
    }

    /// The hidden activation.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// Copies the weights out as plain row-major `f32` layers.
    pub fn to_dense(&self) -> Result<Vec<DenseLayer>, SurrogateError> {
        self.layers.iter().map(dense_from_linear).collect()
    }
}

/// Layer `k` as a burn `Linear` whose parameters require gradients (as `Param::from_tensor`'s),
/// with the ids `2k` and `2k + 1` instead of burn's random ones: the ids are written into the
/// `.mpk` record, so random ids would make two runs with the same seed and inputs write
/// different files.
fn linear_from_dense<B: Backend>(layer: &DenseLayer, k: usize, device: &B::Device) -> Linear<B> {
    let weight = TensorData::new(layer.weight.clone(), [layer.n_in, layer.n_out]);
    let bias = TensorData::new(layer.bias.clone(), [layer.n_out]);
    let id = |i: usize| ParamId::from(i as u64);
    Linear {
        weight: Param::initialized(id(2 * k), Tensor::from_data(weight, device).require_grad()),
        bias: Some(Param::initialized(
            id(2 * k + 1),
            Tensor::from_data(bias, device).require_grad(),
        )),
    }
}

fn dense_from_linear<B: Backend>(linear: &Linear<B>) -> Result<DenseLayer, SurrogateError> {
    let weight = linear.weight.val();
    let [n_in, n_out] = weight.dims();
    let weight = tensor_to_vec(weight)?;
    let bias = match &linear.bias {
        Some(b) => tensor_to_vec(b.val())?,
        None => vec![0.0; n_out],
    };
    Ok(DenseLayer {
        n_in,
        n_out,
        weight,
        bias,
    })
}

/// Reads a float tensor back as `f32` values (converting from the backend's float type).
pub(crate) fn tensor_to_vec<B: Backend, const D: usize>(
    t: Tensor<B, D>,
) -> Result<Vec<f32>, SurrogateError> {
    let data = t
        .try_into_data()
        .map_err(|e| SurrogateError::TensorData(format!("{e:?}")))?;
    data.convert::<f32>()
        .to_vec::<f32>()
        .map_err(|e| SurrogateError::TensorData(format!("{e:?}")))
}
