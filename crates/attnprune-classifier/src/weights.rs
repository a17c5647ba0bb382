//! A checkpoint's `model.safetensors` as f32 arrays by HF name.
//!
//! Floating-point tensors (F32, F16, BF16) are converted to f32; other tensors (such as
//! the I64 `embeddings.position_ids` buffer older checkpoints store) are kept only by
//! name, so asking for one is a clear error rather than a silent misread.
//! `attnprune_lm::WeightMap` would refuse such a file, hence this small reader.

use crate::ClassifierError;
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

/// The weights of one safetensors file.
#[derive(Debug, Clone, Default)]
pub struct Weights {
    tensors: BTreeMap<String, Weight>,
    /// Non-float tensors: name and dtype.
    other: BTreeMap<String, String>,
    /// The file, for error messages.
    origin: String,
}

impl Weights {
    /// Reads a safetensors file; a missing, truncated or malformed file is an error naming it.
    pub fn read(path: &Path) -> Result<Self, ClassifierError> {
        let bytes = std::fs::read(path).map_err(ClassifierError::io(path))?;
        Self::from_bytes(&bytes, &path.display().to_string())
    }

    /// Parses the bytes of a safetensors file; `origin` names it in errors.
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<Self, ClassifierError> {
        let file = SafeTensors::deserialize(bytes).map_err(|e| ClassifierError::Format {
            path: origin.to_string(),
            message: format!(
                "not a valid safetensors file: {e}{}",
                truncation_hint(&e, bytes.len())
            ),
        })?;
        let mut weights = Self {
            origin: origin.to_string(),
            ..Self::default()
        };
        for (name, view) in file.tensors() {
            match to_f32(&view) {
                Some(data) => {
                    weights.tensors.insert(
                        name,
                        Weight {
                            shape: view.shape().to_vec(),
                            data,
                        },
                    );
                }
                None => {
                    weights.other.insert(name, format!("{:?}", view.dtype()));
                }
            }
        }
        Ok(weights)
    }

    /// The file these weights came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Whether a tensor of that name exists (of any dtype).
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name) || self.other.contains_key(name)
    }

    /// Names of all tensors, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        let mut names: Vec<&str> = self
            .tensors
            .keys()
            .chain(self.other.keys())
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        names.into_iter()
    }

    /// Takes a weight out, checking its shape; errors name the file and the tensor.
    pub fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, ClassifierError> {
        let Some(weight) = self.tensors.remove(name) else {
            let path = self.origin.clone();
            return Err(match self.other.get(name) {
                Some(dtype) => ClassifierError::Format { path, message: format!("tensor `{name}` is stored as {dtype}; only F32, F16 and BF16 are supported") },
                None => ClassifierError::MissingTensor { path, name: name.to_string() },
            });
        };
        if weight.shape != shape {
            return Err(ClassifierError::ShapeMismatch {
                path: self.origin.clone(),
                name: name.to_string(),
                expected: shape.to_vec(),
                found: weight.shape,
            });
        }
        Ok(weight.data)
    }

    /// Like [`Self::take`], also trying the pre-2019 LayerNorm names (`gamma` for
    /// `weight`, `beta` for `bias`) that transformers renames on load.
    pub fn take_norm(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, ClassifierError> {
        if !self.contains(name) {
            let legacy = name
                .strip_suffix(".weight")
                .map(|s| format!("{s}.gamma"))
                .or_else(|| name.strip_suffix(".bias").map(|s| format!("{s}.beta")));
            if let Some(legacy) = legacy.filter(|l| self.contains(l)) {
                return self.take(&legacy, shape);
            }
        }
        self.take(name, shape)
    }
}

/// Says in words when a safetensors error means the file is cut short.
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

/// The values of a floating-point tensor as f32; `None` for other dtypes.
fn to_f32(view: &TensorView<'_>) -> Option<Vec<f32>> {
    let data = view.data();
    let pairs = || data.chunks_exact(2).map(|c| [c[0], c[1]]);
    match view.dtype() {
        Dtype::F32 => Some(
            data.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        Dtype::F16 => Some(
            pairs()
                .map(|b| half::f16::from_le_bytes(b).to_f32())
                .collect(),
        ),
        Dtype::BF16 => Some(
            pairs()
                .map(|b| half::bf16::from_le_bytes(b).to_f32())
                .collect(),
        ),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn file(tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
        let views: Vec<(String, TensorView<'_>)> = tensors
            .iter()
            .map(|(n, d, s, b)| (n.to_string(), TensorView::new(*d, s.clone(), b).unwrap()))
            .collect();
        safetensors::serialize(views, &None).unwrap()
    }

    #[test]
    fn reads_floats_and_names_other_dtypes() {
        let f32s: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|x| x.to_le_bytes()).collect();
        let ids: Vec<u8> = [0i64, 1].iter().flat_map(|x| x.to_le_bytes()).collect();
        let bytes = file(&[
            ("a.LayerNorm.gamma", Dtype::F32, vec![2], f32s),
            ("ids", Dtype::I64, vec![2], ids),
        ]);
        let mut w = Weights::from_bytes(&bytes, "m.safetensors").unwrap();
        assert!(w.contains("ids"));
        let err = w.take("ids", &[2]).unwrap_err().to_string();
        assert!(
            err.contains("m.safetensors") && err.contains("I64"),
            "{err}"
        );
        assert!(w
            .take_norm("a.LayerNorm.weight", &[3])
            .unwrap_err()
            .to_string()
            .contains("[3]"));
        let err = w.take("nope", &[1]).unwrap_err().to_string();
        assert!(err.contains("missing tensor `nope`"), "{err}");
    }

    #[test]
    fn truncated_file_is_an_error() {
        let f32s: Vec<u8> = [1.0f32; 8].iter().flat_map(|x| x.to_le_bytes()).collect();
        let bytes = file(&[("x", Dtype::F32, vec![8], f32s)]);
        for cut in [0, 4, 10, bytes.len() - 3] {
            let err = Weights::from_bytes(&bytes[..cut], "m.safetensors")
                .unwrap_err()
                .to_string();
            assert!(err.contains("m.safetensors"), "{err}");
        }
    }
}
