//! [`SequenceClassifier`]: an encoder, the classification head of its family and one
//! chosen label, turning texts into that label's probability.
//!
//! Both heads read the last hidden state of the first token (`[CLS]` / `<s>`):
//! BERT: `classifier(tanh(pooler.dense(h0)))`; RoBERTa:
//! `classifier.out_proj(tanh(classifier.dense(h0)))`. Logits become probabilities
//! with a sigmoid (multi-label) or a softmax (single-label), see
//! [`EncoderConfig::output_activation`].

use crate::config::{Architecture, EncoderConfig, OutputActivation};
use crate::encoder::{load_tokenizer, to_vec, Encoder, Linear};
use crate::weights::Weights;
use crate::ClassifierError;
use burn::tensor::backend::Backend;
use std::path::Path;

/// A sequence-classification checkpoint of the BERT/RoBERTa family, scoring one label.
#[derive(Debug, Clone)]
pub struct SequenceClassifier<B: Backend> {
    encoder: Encoder<B>,
    /// BERT `pooler.dense` / RoBERTa `classifier.dense`.
    dense: Linear<B>,
    /// BERT `classifier` / RoBERTa `classifier.out_proj`.
    out: Linear<B>,
    activation: OutputActivation,
    label_index: usize,
}

impl<B: Backend> SequenceClassifier<B> {
    /// Loads a checkpoint folder (`config.json`, `model.safetensors`, `tokenizer.json`)
    /// and selects `label` (one of config.json's `id2label` names; an exact match, else
    /// the one label equal to it ignoring case). Every bad input is an error naming the file.
    pub fn load(dir: &Path, label: &str, device: &B::Device) -> Result<Self, ClassifierError> {
        let config = EncoderConfig::load(&dir.join("config.json"))?;
        let label_index = config.label_index(label)?;
        let activation = config.output_activation()?;
        let tokenizer = load_tokenizer(&dir.join("tokenizer.json"), &config)?;
        let mut weights = Weights::read(&dir.join("model.safetensors"))?;
        let (d, n) = (config.hidden_size, config.labels.len());
        let (dense, out) = match config.architecture {
            Architecture::Bert => {
                let prefix = if weights.contains("bert.pooler.dense.weight") {
                    "bert."
                } else {
                    ""
                };
                (
                    Linear::load(&mut weights, &format!("{prefix}pooler.dense"), d, d, device)?,
                    Linear::load(&mut weights, "classifier", n, d, device)?,
                )
            }
            Architecture::Roberta => (
                Linear::load(&mut weights, "classifier.dense", d, d, device)?,
                Linear::load(&mut weights, "classifier.out_proj", n, d, device)?,
            ),
        };
        let encoder = Encoder::from_parts(config, tokenizer, &mut weights, device)?;
        Ok(Self {
            encoder,
            dense,
            out,
            activation,
            label_index,
        })
    }

    /// The encoder (tokenizer, hidden states, embeddings).
    pub fn encoder(&self) -> &Encoder<B> {
        &self.encoder
    }

    /// Texts per forward pass (at least 1).
    pub fn set_batch_size(&mut self, batch_size: usize) {
        self.encoder.set_batch_size(batch_size);
    }

    /// All label names, in id order.
    pub fn labels(&self) -> &[String] {
        &self.encoder.config().labels
    }

    /// The label [`Self::probabilities`] scores.
    pub fn label(&self) -> &str {
        &self.encoder.config().labels[self.label_index]
    }

    /// Sigmoid or softmax.
    pub fn activation(&self) -> OutputActivation {
        self.activation
    }

    /// The raw logits of each text, one per label.
    pub fn logits(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ClassifierError> {
        let ids = self.encoder.tokenize(texts)?;
        let n = self.labels().len();
        let d = self.encoder.config().hidden_size;
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(self.encoder.batch_size()) {
            let hidden = self.encoder.forward(chunk);
            let b = chunk.len();
            let first = hidden.slice([0..b, 0..1, 0..d]).reshape([b, d]);
            let logits = self.out.forward(self.dense.forward(first).tanh());
            let values = to_vec(logits.into_data())?;
            out.extend(values.chunks(n).map(<[f32]>::to_vec));
        }
        Ok(out)
    }

    /// The probability of every label for each text (sigmoid or softmax of the logits, in f64).
    pub fn label_probabilities(&self, texts: &[&str]) -> Result<Vec<Vec<f64>>, ClassifierError> {
        let activation = self.activation;
        Ok(self
            .logits(texts)?
            .iter()
            .map(|row| probabilities(row, activation))
            .collect())
    }

    /// The probability of the chosen label for each text, in [0, 1].
    pub fn probabilities(&self, texts: &[&str]) -> Result<Vec<f64>, ClassifierError> {
        Ok(self
            .label_probabilities(texts)?
            .into_iter()
            .map(|row| row[self.label_index])
            .collect())
    }
}

/// Sigmoid of each logit, or the softmax of the row.
fn probabilities(logits: &[f32], activation: OutputActivation) -> Vec<f64> {
    let x: Vec<f64> = logits.iter().map(|&v| f64::from(v)).collect();
    match activation {
        OutputActivation::Sigmoid => x.iter().map(|v| 1.0 / (1.0 + (-v).exp())).collect(),
        OutputActivation::Softmax => {
            let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let exp: Vec<f64> = x.iter().map(|v| (v - max).exp()).collect();
            let sum: f64 = exp.iter().sum();
            exp.into_iter().map(|e| e / sum).collect()
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn activations() {
        let p = probabilities(&[0.0, 1000.0, -1000.0], OutputActivation::Sigmoid);
        assert_eq!(p, vec![0.5, 1.0, 0.0]);
        let p = probabilities(&[1000.0, 1000.0], OutputActivation::Softmax);
        assert_eq!(p, vec![0.5, 0.5]);
        let p = probabilities(&[0.0, 2.0f32.ln()], OutputActivation::Softmax);
        assert!((p[1] - 2.0 / 3.0).abs() < 1e-7);
    }
}
