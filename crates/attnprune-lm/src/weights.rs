//! Checkpoint weights as named f32 arrays in HF naming
//! (`model.layers.0.self_attn.q_proj.weight`, ...), whatever the file format.
//! Loading from safetensors (single or sharded; f32, f16, bf16) and saving.

use crate::LmError;
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use std::collections::BTreeMap;
use std::path::Path;

/// One weight: row-major shape and f32 values.
#[derive(Debug, Clone, PartialEq)]
pub struct Weight {
    /// Row-major (PyTorch) shape.
    pub shape: Vec<usize>,
    /// Values, `shape.iter().product()` of them.
    pub data: Vec<f32>,
}

/// All weights of a checkpoint, by HF name.
#[derive(Debug, Clone, Default)]
pub struct WeightMap {
    /// The weights.
    pub tensors: BTreeMap<String, Weight>,
    /// Where they were read from, for error messages.
    pub origin: String,
}

impl WeightMap {
    /// Takes a weight out, checking its shape; errors name the file and tensor.
    pub fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, LmError> {
        let weight = self
            .tensors
            .remove(name)
            .ok_or_else(|| LmError::MissingTensor {
                path: self.origin.clone(),
                name: name.to_string(),
            })?;
        if weight.shape != shape {
            return Err(LmError::ShapeMismatch {
                path: self.origin.clone(),
                name: name.to_string(),
                expected: shape.to_vec(),
                found: weight.shape,
            });
        }
        Ok(weight.data)
    }

    /// Reads every `*.safetensors` shard of an HF checkpoint folder: the file
    /// `model.safetensors`, or the shards listed by `model.safetensors.index.json`.
    pub fn from_safetensors_dir(dir: &Path) -> Result<Self, LmError> {
        let index = dir.join("model.safetensors.index.json");
        let files = if index.exists() {
            shard_files(&index)?
        } else {
            vec!["model.safetensors".to_string()]
        };
        let mut map = WeightMap {
            tensors: BTreeMap::new(),
            origin: dir.display().to_string(),
        };
        for file in files {
            map.read_safetensors(&dir.join(file))?;
        }
        Ok(map)
    }

    /// Adds the tensors of one safetensors file.
    pub fn read_safetensors(&mut self, path: &Path) -> Result<(), LmError> {
        let origin = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| LmError::Io {
            path: origin.clone(),
            source,
        })?;
        let file = SafeTensors::deserialize(&bytes).map_err(|e| LmError::Format {
            path: origin.clone(),
            message: format!(
                "not a valid safetensors file: {e}{}",
                truncation_hint(&e, bytes.len())
            ),
        })?;
        for (name, view) in file.tensors() {
            let data = to_f32(&view).map_err(|message| LmError::Format {
                path: origin.clone(),
                message: format!("tensor `{name}`: {message}"),
            })?;
            self.tensors.insert(
                name,
                Weight {
                    shape: view.shape().to_vec(),
                    data,
                },
            );
        }
        Ok(())
    }

    /// Writes all weights as one f32 safetensors file (atomically: temp + rename).
    pub fn save_safetensors(&self, path: &Path) -> Result<(), LmError> {
        let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = self
            .tensors
            .iter()
            .map(|(name, w)| {
                (
                    name.clone(),
                    w.data.iter().flat_map(|x| x.to_le_bytes()).collect(),
                    w.shape.clone(),
                )
            })
            .collect();
        let views = bytes
            .iter()
            .map(|(name, data, shape)| {
                TensorView::new(Dtype::F32, shape.clone(), data).map(|v| (name.clone(), v))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| LmError::Format {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        let out = safetensors::serialize(views, &None).map_err(|e| LmError::Format {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        crate::write_file_atomic(path, &out)
    }
}

/// Says in words when a safetensors error means the file is cut short (the
/// library's own messages are bare variant names such as `MetadataIncompleteBuffer`).
fn truncation_hint(e: &safetensors::SafeTensorError, len: usize) -> String {
    use safetensors::SafeTensorError as E;
    match e {
        E::HeaderTooSmall | E::InvalidHeaderLength => {
            format!(" (the file is truncated: its header does not fit in its {len} bytes)")
        }
        E::MetadataIncompleteBuffer => format!(
            " (the file's {len} bytes do not match the tensor sizes in its header: truncated?)"
        ),
        _ => String::new(),
    }
}

fn shard_files(index: &Path) -> Result<Vec<String>, LmError> {
    let origin = index.display().to_string();
    let text = std::fs::read_to_string(index).map_err(|source| LmError::Io {
        path: origin.clone(),
        source,
    })?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| LmError::Format {
        path: origin.clone(),
        message: format!("not valid JSON: {e}"),
    })?;
    let map = value
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| LmError::Format {
            path: origin.clone(),
            message: "no `weight_map` object".into(),
        })?;
    let mut files: Vec<String> = map
        .values()
        .filter_map(|f| f.as_str().map(str::to_string))
        .collect();
    files.sort();
    files.dedup();
    if files.iter().any(|f| f.contains('/') || f.contains("..")) {
        return Err(LmError::Format {
            path: origin,
            message: "shard names must be plain file names".into(),
        });
    }
    Ok(files)
}

fn to_f32(view: &TensorView<'_>) -> Result<Vec<f32>, String> {
    let data = view.data();
    let pairs = || data.chunks_exact(2).map(|c| [c[0], c[1]]);
    match view.dtype() {
        Dtype::F32 => Ok(data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()),
        Dtype::F16 => Ok(pairs()
            .map(|b| half::f16::from_le_bytes(b).to_f32())
            .collect()),
        Dtype::BF16 => Ok(pairs()
            .map(|b| half::bf16::from_le_bytes(b).to_f32())
            .collect()),
        other => Err(format!(
            "stored as `{other:?}`; only F32, F16 and BF16 are supported"
        )),
    }
}
