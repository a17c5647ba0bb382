//! MLP surrogates mapping a head mask (`true` = pruned) to a scalar (bias or perplexity).
//!
//! * [`train`] / [`train_on`] fit an [`Mlp`] with burn autodiff (Adam, MSE on standardised
//!   targets, seeded init and shuffling, early stopping on an inner validation split).
//! * [`TrainedSurrogate`] holds the result as a backend-free [`FastMlp`] (row-major `f32`
//!   layers), saves to a burn record (`.mpk`) plus JSON sidecar and loads it back.
//! * [`IncrementalMlp`] evaluates single-bit flips cheaply and implements
//!   [`attnprune_anneal::FlipObjective`], so surrogates plug straight into the annealer.
//! * [`additive`]: a structured surrogate, additive main effects plus sparse pairwise terms
//!   fitted by cross-validated ridge towards a prior ([`fit_additive`], [`AdditiveModel`]), a
//!   bias model built from per-bucket additive models ([`BucketBiasModel`]), and their
//!   incremental flip evaluators ([`IncrementalAdditive`], [`IncrementalBucketBias`]).
//! * [`StructuredModels`]: ln perplexity and the bucket means as additive models seeded by the
//!   single-head knockouts, refitted on a richer measurement with the coarser fit as prior;
//!   [`StructuredSurrogateFile`] is its file.
//! * [`fitting`]: the rules of `train-surrogate` (held-out fits of every model, the
//!   refinement with its leave-one-out fit, which model `anneal` uses).
//! * [`metrics`] computes R², RMSE and Spearman; [`split_holdout`] makes seeded splits.
//! * [`SurrogateReport`] is `surrogate-report.json`: every model's fit and which one `anneal` uses.

pub mod additive;
mod config;
mod dense;
mod error;
mod fast;
pub mod fitting;
mod gelu;
mod io;
mod metrics;
mod model;
mod objective;
mod report;
mod structured;
mod target;
mod train;

use std::path::Path;
use std::sync::Arc;

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

pub use additive::{
    fit_additive, AdditiveConfig, AdditiveModel, BucketBiasModel, IncrementalAdditive,
    IncrementalBucketBias,
};
pub use config::{Activation, TrainConfig};
pub use dense::{check_layers, DenseLayer};
pub use error::SurrogateError;
pub use fast::{FastMlp, IncrementalMlp};
pub use fitting::{
    fit_mlp, fit_structured, refine_structured, select_models, FitTable, StructuredFit,
};
pub use io::surrogate_paths;
pub use metrics::{metrics, split_holdout, FitMetrics};
pub use model::Mlp;
pub use objective::{ExpOf, Predictor, UpperBound};
pub use report::{
    Points, RefinedReport, SelectedModels, StructuredReports, SurrogateReport, TargetReport,
    SURROGATE_REPORT_KIND, SURROGATE_REPORT_VERSION,
};
pub use structured::{
    size_adjusted, MaskRows, StructuredModels, StructuredSurrogateFile, STRUCTURED_KIND,
    STRUCTURED_VERSION,
};
pub use target::{bias_floor, bias_from_target, bias_target, BiasTargetTransform};
pub use train::{train, train_on, CpuTrainBackend, TrainReport};

/// A trained surrogate: the model as plain weights, its training config and report.
#[derive(Debug, Clone)]
pub struct TrainedSurrogate {
    mlp: Arc<FastMlp>,
    config: TrainConfig,
    report: TrainReport,
}

impl TrainedSurrogate {
    /// Assembles a surrogate from its parts.
    pub fn from_parts(mlp: Arc<FastMlp>, config: TrainConfig, report: TrainReport) -> Self {
        Self {
            mlp,
            config,
            report,
        }
    }

    /// The plain-Rust model (shared).
    pub fn fast(&self) -> &Arc<FastMlp> {
        &self.mlp
    }

    /// Training configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Training report.
    pub fn report(&self) -> &TrainReport {
        &self.report
    }

    /// Mask length.
    pub fn n_inputs(&self) -> usize {
        self.mlp.n_inputs()
    }

    /// Prediction for one mask (fast path).
    pub fn predict(&self, mask: &[bool]) -> Result<f64, SurrogateError> {
        self.mlp.predict(mask)
    }

    /// Predictions for many masks (fast path).
    pub fn predict_batch(&self, masks: &[Vec<bool>]) -> Result<Vec<f64>, SurrogateError> {
        self.mlp.predict_batch(masks)
    }

    /// An incremental flip evaluator for annealing (current state all-false).
    pub fn incremental(&self) -> IncrementalMlp {
        self.mlp.incremental()
    }

    /// The model as a burn module on `device` (predicts standardised targets).
    pub fn to_module<B: Backend>(&self, device: &B::Device) -> Mlp<B> {
        Mlp::from_dense(self.mlp.layers(), self.mlp.activation(), device)
    }

    /// Predictions through the burn module's forward pass on `device` (batched).
    pub fn predict_burn<B: Backend>(
        &self,
        masks: &[Vec<bool>],
        device: &B::Device,
    ) -> Result<Vec<f64>, SurrogateError> {
        let n = self.n_inputs();
        if let Some((row, m)) = masks.iter().enumerate().find(|(_, m)| m.len() != n) {
            return Err(SurrogateError::MaskLength {
                row,
                expected: n,
                found: m.len(),
            });
        }
        let x: Vec<f32> = masks
            .iter()
            .flatten()
            .map(|&b| f32::from(u8::from(b)))
            .collect();
        let x = Tensor::<B, 2>::from_data(TensorData::new(x, [masks.len(), n]), device);
        let out = model::tensor_to_vec(self.to_module::<B>(device).forward(x))?;
        let (mean, std) = (self.mlp.target_mean(), self.mlp.target_std());
        Ok(out.into_iter().map(|v| f64::from(v) * std + mean).collect())
    }

    /// Saves to `path` with extension `.mpk` (burn record) and `.json` (metadata).
    pub fn save(&self, path: &Path) -> Result<(), SurrogateError> {
        io::save(self, path)
    }

    /// Loads from `path` (`.mpk` + `.json`), erroring if it does not take `expected_inputs` bits.
    pub fn load(path: &Path, expected_inputs: usize) -> Result<Self, SurrogateError> {
        io::load(path, expected_inputs)
    }
}
