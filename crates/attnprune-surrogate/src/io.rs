//! Saving and loading: burn record (`.mpk`) for the weights plus a JSON sidecar.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::backend::Flex;
use burn::module::Module;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use serde::{Deserialize, Serialize};

use crate::config::{Activation, TrainConfig};
use crate::dense::{init_layers, DenseLayer};
use crate::error::SurrogateError;
use crate::fast::FastMlp;
use crate::model::Mlp;
use crate::train::TrainReport;
use crate::TrainedSurrogate;

/// Version of the JSON sidecar format.
const FORMAT_VERSION: u32 = 1;

/// Contents of the JSON sidecar next to the weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Meta {
    format_version: u32,
    n_inputs: usize,
    hidden: Vec<usize>,
    activation: Activation,
    target_mean: f64,
    target_std: f64,
    config: TrainConfig,
    report: TrainReport,
}

/// The weight file (`.mpk`) and metadata file (`.json`) for a surrogate path.
pub fn surrogate_paths(path: &Path) -> (PathBuf, PathBuf) {
    (path.with_extension("mpk"), path.with_extension("json"))
}

fn recorder() -> NamedMpkFileRecorder<FullPrecisionSettings> {
    NamedMpkFileRecorder::<FullPrecisionSettings>::new()
}

/// Writes `path.mpk` (burn record) and `path.json` (architecture, standardisation, report).
pub(crate) fn save(s: &TrainedSurrogate, path: &Path) -> Result<(), SurrogateError> {
    let (weights, meta_path) = surrogate_paths(path);
    let mlp = s.fast();
    let meta = Meta {
        format_version: FORMAT_VERSION,
        n_inputs: mlp.n_inputs(),
        hidden: mlp.hidden(),
        activation: mlp.activation(),
        target_mean: mlp.target_mean(),
        target_std: mlp.target_std(),
        config: s.config().clone(),
        report: s.report().clone(),
    };
    let json = serde_json::to_string_pretty(&meta).map_err(|source| SurrogateError::Json {
        path: meta_path.clone(),
        source,
    })?;
    std::fs::write(&meta_path, json).map_err(|source| SurrogateError::Io {
        path: meta_path,
        source,
    })?;
    let module = Mlp::<Flex>::from_dense(mlp.layers(), mlp.activation(), &Default::default());
    module
        .save_file(weights.clone(), &recorder())
        .map_err(|e| SurrogateError::Recorder {
            path: weights,
            message: e.to_string(),
        })
}

/// Loads a surrogate saved by [`save`], checking that it takes `expected_inputs` bits.
pub(crate) fn load(
    path: &Path,
    expected_inputs: usize,
) -> Result<TrainedSurrogate, SurrogateError> {
    let (weights, meta_path) = surrogate_paths(path);
    let text = std::fs::read_to_string(&meta_path).map_err(|source| SurrogateError::Io {
        path: meta_path.clone(),
        source,
    })?;
    let meta: Meta = serde_json::from_str(&text).map_err(|source| SurrogateError::Json {
        path: meta_path.clone(),
        source,
    })?;
    if meta.n_inputs != expected_inputs {
        return Err(SurrogateError::InputLengthMismatch {
            path: weights,
            expected: expected_inputs,
            found: meta.n_inputs,
        });
    }
    if meta.format_version != FORMAT_VERSION {
        let detail = format!(
            "format version `{}`, expected `{FORMAT_VERSION}`",
            meta.format_version
        );
        return Err(SurrogateError::WeightShape {
            path: meta_path,
            detail,
        });
    }
    let layers = read_weights(&weights, &meta)?;
    let mlp = FastMlp::new(layers, meta.activation, meta.target_mean, meta.target_std)?;
    Ok(TrainedSurrogate::from_parts(
        Arc::new(mlp),
        meta.config,
        meta.report,
    ))
}

/// Reads the burn record into layers shaped as the metadata says, and checks the shapes.
fn read_weights(weights: &Path, meta: &Meta) -> Result<Vec<DenseLayer>, SurrogateError> {
    use rand::SeedableRng;
    let template = init_layers(
        meta.n_inputs,
        &meta.hidden,
        &mut rand_chacha::ChaCha8Rng::seed_from_u64(0),
    );
    let device = Default::default();
    let module = Mlp::<Flex>::from_dense(&template, meta.activation, &device)
        .load_file(weights.to_path_buf(), &recorder(), &device)
        .map_err(|e| SurrogateError::Recorder {
            path: weights.to_path_buf(),
            message: e.to_string(),
        })?;
    let layers = module.to_dense()?;
    let shapes = |ls: &[DenseLayer]| {
        ls.iter()
            .map(|l| (l.n_in, l.n_out, l.weight.len(), l.bias.len()))
            .collect::<Vec<_>>()
    };
    if shapes(&layers) != shapes(&template) {
        let detail = format!(
            "layer shapes `{:?}`, metadata says `{:?}`",
            shapes(&layers),
            shapes(&template)
        );
        return Err(SurrogateError::WeightShape {
            path: weights.to_path_buf(),
            detail,
        });
    }
    Ok(layers)
}
