//! Training with burn autodiff: Adam, MSE on standardised targets, seeded shuffling and init,
//! early stopping on an inner validation split.

use std::sync::Arc;

use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::RngCore;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::dense::{init_layers, DenseLayer};
use crate::error::SurrogateError;
use crate::fast::FastMlp;
use crate::metrics::split_holdout;
use crate::model::{tensor_to_vec, Mlp};
use crate::TrainedSurrogate;

/// The CPU training backend used by [`train`].
pub type CpuTrainBackend = Autodiff<Flex>;

/// What happened during training (losses are MSE on the standardised scale).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TrainReport {
    /// Rows used for gradient steps.
    pub train_rows: usize,
    /// Rows used for early stopping (0: early stopping on the training loss).
    pub validation_rows: usize,
    /// Epochs actually run.
    pub epochs_run: usize,
    /// Epoch (0-based) whose weights were kept.
    pub best_epoch: usize,
    /// Validation MSE of the kept weights.
    pub best_validation_mse: f64,
    /// Mean training MSE per epoch.
    pub train_mse: Vec<f64>,
    /// Validation MSE per epoch.
    pub validation_mse: Vec<f64>,
}

/// Trains a surrogate on the CPU ([`CpuTrainBackend`]). See [`train_on`].
pub fn train(
    config: &TrainConfig,
    inputs: &[Vec<bool>],
    targets: &[f64],
    seed: u64,
) -> Result<TrainedSurrogate, SurrogateError> {
    train_on::<CpuTrainBackend>(config, inputs, targets, seed, &Default::default())
}

/// Trains a surrogate on any autodiff backend; the same seed and inputs give the same weights.
///
/// RNG streams of ChaCha8(`seed`): 0 = weight init, 1 = inner validation split, 2 = shuffling.
pub fn train_on<B: AutodiffBackend>(
    config: &TrainConfig,
    inputs: &[Vec<bool>],
    targets: &[f64],
    seed: u64,
    device: &B::Device,
) -> Result<TrainedSurrogate, SurrogateError> {
    config.validate()?;
    let data = Dataset::new(inputs, targets)?;
    let split_seed = stream_rng(seed, 1).next_u64();
    let (train_idx, val_idx) = split_holdout(data.rows, config.validation_fraction, split_seed)?;
    let layers = init_layers(data.n_inputs, &config.hidden, &mut stream_rng(seed, 0));
    let model = Mlp::<B>::from_dense(&layers, config.activation, device);
    let mut ctx = Ctx {
        config,
        data: &data,
        device,
        shuffle: stream_rng(seed, 2),
    };
    let (best, report) = ctx.fit(model, train_idx, val_idx)?;
    let mlp = FastMlp::new(best, config.activation, data.mean, data.std)?;
    Ok(TrainedSurrogate::from_parts(
        Arc::new(mlp),
        config.clone(),
        report,
    ))
}

/// ChaCha8 seeded with `seed`, on stream `stream`.
fn stream_rng(seed: u64, stream: u64) -> ChaCha8Rng {
    use rand::SeedableRng;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// Inputs as flattened 0/1 `f32` rows and standardised targets.
struct Dataset {
    rows: usize,
    n_inputs: usize,
    x: Vec<f32>,
    y: Vec<f32>,
    mean: f64,
    std: f64,
}

impl Dataset {
    fn new(inputs: &[Vec<bool>], targets: &[f64]) -> Result<Self, SurrogateError> {
        if inputs.len() != targets.len() {
            return Err(SurrogateError::RowCountMismatch {
                inputs: inputs.len(),
                targets: targets.len(),
            });
        }
        let n_inputs = inputs.first().ok_or(SurrogateError::EmptyData)?.len();
        if let Some((row, m)) = inputs
            .iter()
            .enumerate()
            .find(|(_, m)| m.len() != n_inputs || m.is_empty())
        {
            return Err(SurrogateError::MaskLength {
                row,
                expected: n_inputs.max(1),
                found: m.len(),
            });
        }
        if let Some((row, &value)) = targets.iter().enumerate().find(|(_, t)| !t.is_finite()) {
            return Err(SurrogateError::NonFinite { row, value });
        }
        let (mean, std) = standardisation(targets);
        let x = inputs
            .iter()
            .flatten()
            .map(|&b| f32::from(u8::from(b)))
            .collect();
        let y = targets.iter().map(|t| ((t - mean) / std) as f32).collect();
        Ok(Self {
            rows: inputs.len(),
            n_inputs,
            x,
            y,
            mean,
            std,
        })
    }

    /// `[len, n_inputs]` inputs and `[len, 1]` standardised targets of the given rows.
    fn batch<B: Backend>(
        &self,
        rows: &[usize],
        device: &B::Device,
    ) -> (Tensor<B, 2>, Tensor<B, 2>) {
        let n = self.n_inputs;
        let mut x = Vec::with_capacity(rows.len() * n);
        rows.iter()
            .for_each(|&r| x.extend_from_slice(&self.x[r * n..(r + 1) * n]));
        let y: Vec<f32> = rows.iter().map(|&r| self.y[r]).collect();
        let x = Tensor::from_data(TensorData::new(x, [rows.len(), n]), device);
        let y = Tensor::from_data(TensorData::new(y, [rows.len(), 1]), device);
        (x, y)
    }
}

/// Mean and population standard deviation (`1` if the targets are constant).
fn standardisation(targets: &[f64]) -> (f64, f64) {
    let n = targets.len() as f64;
    let mean = targets.iter().sum::<f64>() / n;
    let var = targets.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / n;
    let std = var.sqrt();
    (mean, if std > 0.0 { std } else { 1.0 })
}

/// Mean squared error of a batch, differentiable.
fn mse<B: Backend>(pred: Tensor<B, 2>, target: Tensor<B, 2>) -> Tensor<B, 1> {
    let diff = pred - target;
    (diff.clone() * diff).mean()
}

/// Reads a one-element tensor as `f64`.
fn scalar<B: Backend>(t: Tensor<B, 1>) -> Result<f64, SurrogateError> {
    Ok(tensor_to_vec(t)?
        .first()
        .map_or(f64::NAN, |&v| f64::from(v)))
}

/// Everything one training run needs.
struct Ctx<'a, B: AutodiffBackend> {
    config: &'a TrainConfig,
    data: &'a Dataset,
    device: &'a B::Device,
    shuffle: ChaCha8Rng,
}

impl<B: AutodiffBackend> Ctx<'_, B> {
    /// Runs the epochs with early stopping; returns the best weights and the report.
    fn fit(
        &mut self,
        mut model: Mlp<B>,
        train_idx: Vec<usize>,
        val_idx: Vec<usize>,
    ) -> Result<(Vec<DenseLayer>, TrainReport), SurrogateError> {
        let mut optim = adam(self.config).init::<B, Mlp<B>>();
        let mut report = TrainReport {
            train_rows: train_idx.len(),
            validation_rows: val_idx.len(),
            best_validation_mse: f64::INFINITY,
            ..TrainReport::default()
        };
        let mut best: Option<Vec<DenseLayer>> = None;
        let mut order = train_idx;
        for epoch in 0..self.config.max_epochs {
            let (next, train_mse) = self.epoch(model, &mut optim, &mut order)?;
            model = next;
            let val_mse = if val_idx.is_empty() {
                train_mse
            } else {
                self.evaluate(&model.valid(), &val_idx)?
            };
            report.train_mse.push(train_mse);
            report.validation_mse.push(val_mse);
            report.epochs_run = epoch + 1;
            if val_mse < report.best_validation_mse {
                report.best_validation_mse = val_mse;
                report.best_epoch = epoch;
                best = Some(model.valid().to_dense()?);
            } else if epoch - report.best_epoch >= self.config.patience {
                break;
            }
        }
        let first = report.validation_mse.first().copied().unwrap_or(f64::NAN);
        let best = best.ok_or(SurrogateError::TrainingDiverged { first })?;
        Ok((best, report))
    }

    /// One shuffled pass over the training rows; returns the model and the mean batch MSE.
    fn epoch<O: Optimizer<Mlp<B>, B>>(
        &mut self,
        mut model: Mlp<B>,
        optim: &mut O,
        order: &mut [usize],
    ) -> Result<(Mlp<B>, f64), SurrogateError> {
        order.shuffle(&mut self.shuffle);
        let mut total = 0.0;
        for chunk in order.chunks(self.config.batch_size) {
            let (x, y) = self.data.batch::<B>(chunk, self.device);
            let loss = mse(model.forward(x), y);
            total += scalar(loss.clone())? * chunk.len() as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(self.config.learning_rate, model, grads);
        }
        Ok((model, total / order.len().max(1) as f64))
    }

    /// MSE of the inference model on the given rows (batched).
    fn evaluate(
        &self,
        model: &Mlp<B::InnerBackend>,
        rows: &[usize],
    ) -> Result<f64, SurrogateError> {
        let mut total = 0.0;
        for chunk in rows.chunks(1024) {
            let (x, y) = self.data.batch::<B::InnerBackend>(chunk, self.device);
            total += scalar(mse(model.forward(x), y))? * chunk.len() as f64;
        }
        Ok(total / rows.len().max(1) as f64)
    }
}

/// Adam with optional weight decay.
fn adam(config: &TrainConfig) -> AdamConfig {
    let decay =
        (config.weight_decay > 0.0).then(|| WeightDecayConfig::new(config.weight_decay as f32));
    AdamConfig::new().with_weight_decay(decay)
}
