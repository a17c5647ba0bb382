//! The hyper-parameters, labels and output activation of a BERT/RoBERTa checkpoint,
//! read from its HF `config.json`.

use crate::ClassifierError;
use serde_json::{Map, Value};
use std::path::Path;

/// The model family, from `config.json`'s `model_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// BERT: absolute positions `0..len`; head = pooler (`tanh`) + `classifier`.
    Bert,
    /// RoBERTa (and XLM-RoBERTa): positions start at `pad_token_id + 1` and skip
    /// padding; head = `classifier.dense` (`tanh`) + `classifier.out_proj`.
    Roberta,
}

impl Architecture {
    /// The prefix of the encoder's weights in a `*ForSequenceClassification` checkpoint.
    pub fn weight_prefix(self) -> &'static str {
        match self {
            Self::Bert => "bert.",
            Self::Roberta => "roberta.",
        }
    }
}

/// The feed-forward activation, from `hidden_act`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HiddenActivation {
    /// `gelu`: the exact (erf) GELU.
    Gelu,
    /// `gelu_new` / `gelu_pytorch_tanh`: the tanh approximation.
    GeluTanh,
    /// `relu`.
    Relu,
}

/// How logits become probabilities (the HF text-classification pipeline's rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputActivation {
    /// Each label on its own: `problem_type: multi_label_classification` (Detoxify),
    /// or a single output.
    Sigmoid,
    /// The labels exclude each other: `single_label_classification`, or no
    /// `problem_type` and several labels.
    Softmax,
}

/// What the encoder and classifier need from `config.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderConfig {
    /// The model family.
    pub architecture: Architecture,
    /// `model_type` as written.
    pub model_type: String,
    /// Rows of the word embedding.
    pub vocab_size: usize,
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// Encoder layers.
    pub num_layers: usize,
    /// Attention heads per layer.
    pub num_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Rows of the position embedding.
    pub max_position_embeddings: usize,
    /// Rows of the token-type embedding (every token uses type 0).
    pub type_vocab_size: usize,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f64,
    /// The padding token id (RoBERTa's positions depend on it).
    pub pad_token_id: u32,
    /// Feed-forward activation.
    pub hidden_act: HiddenActivation,
    /// Label names in id order (`id2label`; `LABEL_i` when absent, as in transformers).
    pub labels: Vec<String>,
    /// `problem_type`, if given.
    pub problem_type: Option<String>,
    /// Where this was read from, for error messages.
    pub origin: String,
}

impl EncoderConfig {
    /// Reads `config.json`; every error names the file.
    pub fn load(path: &Path) -> Result<Self, ClassifierError> {
        let text = std::fs::read_to_string(path).map_err(ClassifierError::io(path))?;
        Self::from_json(&text, &path.display().to_string())
    }

    /// Parses the text of a `config.json`; `origin` names it in errors.
    pub fn from_json(text: &str, origin: &str) -> Result<Self, ClassifierError> {
        let bad = |message: String| ClassifierError::Config {
            path: origin.to_string(),
            message,
        };
        let value: Value = serde_json::from_str(text).map_err(|e| ClassifierError::Format {
            path: origin.to_string(),
            message: format!("not valid JSON: {e}"),
        })?;
        let obj = value
            .as_object()
            .ok_or_else(|| bad("not a JSON object".into()))?;
        let model_type = obj
            .get("model_type")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("no `model_type` string".into()))?
            .to_string();
        let architecture = match model_type.as_str() {
            "bert" => Architecture::Bert,
            "roberta" | "xlm-roberta" => Architecture::Roberta,
            _ => {
                return Err(ClassifierError::UnsupportedModelType {
                    path: origin.to_string(),
                    name: model_type,
                })
            }
        };
        let size = |key: &str, default: Option<usize>| -> Result<usize, ClassifierError> {
            match obj.get(key) {
                None | Some(Value::Null) => default.ok_or_else(|| bad(format!("no `{key}`"))),
                Some(v) => v
                    .as_u64()
                    .filter(|&n| n > 0)
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| bad(format!("`{key}` must be a positive integer, found {v}"))),
            }
        };
        let hidden_size = size("hidden_size", None)?;
        let num_heads = size("num_attention_heads", None)?;
        if hidden_size % num_heads != 0 {
            return Err(bad(format!(
                "hidden_size {hidden_size} is not a multiple of num_attention_heads {num_heads}"
            )));
        }
        let default_pad = match architecture {
            Architecture::Bert => 0,
            Architecture::Roberta => 1,
        };
        let pad_token_id = match obj.get("pad_token_id") {
            None | Some(Value::Null) => default_pad,
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| bad(format!("`pad_token_id` must be a token id, found {v}")))?,
        };
        let layer_norm_eps = match obj.get("layer_norm_eps") {
            None | Some(Value::Null) => 1e-12,
            Some(v) => v.as_f64().filter(|e| *e >= 0.0).ok_or_else(|| {
                bad(format!(
                    "`layer_norm_eps` must be a non-negative number, found {v}"
                ))
            })?,
        };
        let hidden_act = match obj
            .get("hidden_act")
            .and_then(Value::as_str)
            .unwrap_or("gelu")
        {
            "gelu" => HiddenActivation::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" => HiddenActivation::GeluTanh,
            "relu" => HiddenActivation::Relu,
            other => {
                return Err(bad(format!(
                "hidden_act `{other}` is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu)"
            )))
            }
        };
        match obj.get("position_embedding_type").and_then(Value::as_str) {
            None | Some("absolute") => {}
            Some(other) => {
                return Err(bad(format!(
                    "position_embedding_type `{other}` is not supported (only `absolute`)"
                )))
            }
        }
        let problem_type = obj
            .get("problem_type")
            .and_then(Value::as_str)
            .map(str::to_string);
        let labels = labels(obj, origin)?;
        let config = Self {
            architecture,
            model_type,
            vocab_size: size("vocab_size", None)?,
            hidden_size,
            num_layers: size("num_hidden_layers", None)?,
            num_heads,
            intermediate_size: size("intermediate_size", None)?,
            max_position_embeddings: size("max_position_embeddings", None)?,
            type_vocab_size: size("type_vocab_size", Some(2))?,
            layer_norm_eps,
            pad_token_id,
            hidden_act,
            labels,
            problem_type,
            origin: origin.to_string(),
        };
        if config.max_tokens() == 0 {
            return Err(bad(format!(
                "max_position_embeddings {} leaves no position for a token (RoBERTa positions start at pad_token_id + 1 = {})",
                config.max_position_embeddings,
                config.position_offset()
            )));
        }
        Ok(config)
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_heads
    }

    /// The position id of a sequence's first token (RoBERTa: `pad_token_id + 1`).
    pub fn position_offset(&self) -> usize {
        match self.architecture {
            Architecture::Bert => 0,
            Architecture::Roberta => self.pad_token_id as usize + 1,
        }
    }

    /// The most tokens (special tokens included) a sequence may have; longer texts are truncated.
    pub fn max_tokens(&self) -> usize {
        self.max_position_embeddings
            .saturating_sub(self.position_offset())
    }

    /// Sigmoid or softmax, following the HF text-classification pipeline: sigmoid for
    /// `multi_label_classification` or a single output, softmax for
    /// `single_label_classification` or several outputs. `regression` is an error.
    pub fn output_activation(&self) -> Result<OutputActivation, ClassifierError> {
        match self.problem_type.as_deref() {
            Some("multi_label_classification") => Ok(OutputActivation::Sigmoid),
            Some("single_label_classification") => Ok(OutputActivation::Softmax),
            None if self.labels.len() == 1 => Ok(OutputActivation::Sigmoid),
            None => Ok(OutputActivation::Softmax),
            Some(other) => Err(ClassifierError::Config {
                path: self.origin.clone(),
                message: format!("problem_type `{other}` gives no probabilities (use a multi_label_classification or single_label_classification checkpoint)"),
            }),
        }
    }

    /// The id of `label`: an exact match, else the one label equal to it ignoring case.
    pub fn label_index(&self, label: &str) -> Result<usize, ClassifierError> {
        if let Some(i) = self.labels.iter().position(|l| l == label) {
            return Ok(i);
        }
        let folded: Vec<usize> = (0..self.labels.len())
            .filter(|&i| self.labels[i].eq_ignore_ascii_case(label))
            .collect();
        match folded.as_slice() {
            [i] => Ok(*i),
            _ => Err(ClassifierError::UnknownLabel {
                path: self.origin.clone(),
                label: label.to_string(),
                available: self.labels.clone(),
            }),
        }
    }
}

/// Label names in id order from `id2label` (keys `"0"`, `"1"`, ...), or `LABEL_i` for
/// `num_labels` (default 2) when there is none.
fn labels(obj: &Map<String, Value>, origin: &str) -> Result<Vec<String>, ClassifierError> {
    let bad = |message: String| ClassifierError::Config {
        path: origin.to_string(),
        message,
    };
    let Some(map) = obj.get("id2label") else {
        let n = match obj.get("num_labels") {
            None | Some(Value::Null) => 2,
            Some(v) => v.as_u64().filter(|&n| n > 0).ok_or_else(|| {
                bad(format!(
                    "`num_labels` must be a positive integer, found {v}"
                ))
            })? as usize,
        };
        return Ok((0..n).map(|i| format!("LABEL_{i}")).collect());
    };
    let map = map
        .as_object()
        .ok_or_else(|| bad("`id2label` must be an object {\"0\": \"name\", ...}".into()))?;
    if map.is_empty() {
        return Err(bad("`id2label` is empty".into()));
    }
    let mut labels = vec![None; map.len()];
    for (key, name) in map {
        let index: usize = key
            .parse()
            .map_err(|_| bad(format!("`id2label` key `{key}` is not a label id")))?;
        let name = name
            .as_str()
            .ok_or_else(|| bad(format!("`id2label[{key}]` is not a string")))?;
        let slot = labels.get_mut(index).ok_or_else(|| {
            bad(format!(
                "`id2label` ids must be 0..{}, found {index}",
                map.len()
            ))
        })?;
        *slot = Some(name.to_string());
    }
    labels
        .into_iter()
        .enumerate()
        .map(|(i, l)| l.ok_or_else(|| bad(format!("`id2label` has no label {i}"))))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const BASE: &str = r#"{"model_type": "roberta", "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1,
        "num_attention_heads": 2, "intermediate_size": 16, "max_position_embeddings": 12, "pad_token_id": 1,
        "id2label": {"1": "insult", "0": "toxicity"}, "problem_type": "multi_label_classification"}"#;

    #[test]
    fn reads_labels_and_activation() {
        let c = EncoderConfig::from_json(BASE, "config.json").unwrap();
        assert_eq!(c.labels, ["toxicity", "insult"]);
        assert_eq!(c.output_activation().unwrap(), OutputActivation::Sigmoid);
        assert_eq!(c.label_index("insult").unwrap(), 1);
        assert_eq!(c.label_index("TOXICITY").unwrap(), 0);
        assert_eq!(c.position_offset(), 2);
        assert_eq!(c.max_tokens(), 10);
        let err = c.label_index("threat").unwrap_err().to_string();
        assert!(
            err.contains("config.json") && err.contains("toxicity, insult"),
            "{err}"
        );
    }

    #[test]
    fn rejects_bad_configs() {
        let gpt = BASE.replace("\"roberta\"", "\"gpt2\"");
        let err = EncoderConfig::from_json(&gpt, "x/config.json")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("x/config.json") && err.contains("gpt2"),
            "{err}"
        );
        let no_hidden = BASE.replace("\"hidden_size\": 8,", "");
        assert!(EncoderConfig::from_json(&no_hidden, "c")
            .unwrap_err()
            .to_string()
            .contains("hidden_size"));
        let odd = BASE.replace("\"hidden_size\": 8", "\"hidden_size\": 7");
        assert!(EncoderConfig::from_json(&odd, "c").is_err());
        let regression = BASE.replace("multi_label_classification", "regression");
        assert!(EncoderConfig::from_json(&regression, "c")
            .unwrap()
            .output_activation()
            .is_err());
        let gaps = BASE.replace("\"1\": \"insult\"", "\"2\": \"insult\"");
        assert!(EncoderConfig::from_json(&gaps, "c").is_err());
        assert!(EncoderConfig::from_json("[1]", "c").is_err());
        assert!(EncoderConfig::from_json("{", "c").is_err());
    }

    #[test]
    fn defaults_follow_transformers() {
        let bert = BASE.replace("\"roberta\"", "\"bert\"").replace(
            "\"problem_type\": \"multi_label_classification\"",
            "\"num_labels\": 3",
        );
        let bert = bert.replace(
            "\"id2label\": {\"1\": \"insult\", \"0\": \"toxicity\"},",
            "",
        );
        let c = EncoderConfig::from_json(&bert, "c").unwrap();
        assert_eq!(c.labels, ["LABEL_0", "LABEL_1", "LABEL_2"]);
        assert_eq!(c.output_activation().unwrap(), OutputActivation::Softmax);
        assert_eq!(c.position_offset(), 0);
        assert_eq!(c.type_vocab_size, 2);
    }
}
