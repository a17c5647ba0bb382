//! The BERT/RoBERTa transformer encoder in burn, with its tokenizer.
//!
//! Reference: HF transformers `modeling_bert.py` / `modeling_roberta.py`, inference
//! only (no dropout): embeddings = word + token type 0 + position, then LayerNorm;
//! each layer = self-attention (scaled dot product, padded keys masked) with a residual
//! and post-LayerNorm, then the feed-forward (`hidden_act`) with a residual and
//! post-LayerNorm. BERT positions are `0..len`; RoBERTa positions follow
//! `create_position_ids_from_input_ids` (`pad_token_id + 1` upwards, padding keeps
//! `pad_token_id`).
//!
//! Texts are tokenized with the checkpoint's `tokenizer.json` with special tokens
//! (`[CLS] … [SEP]`, `<s> … </s>`), truncated to [`EncoderConfig::max_tokens`], never
//! padded by the tokenizer (whatever padding `tokenizer.json` declares); batches are
//! right-padded here and padding is masked out of attention and pooling.

use crate::config::{Architecture, EncoderConfig, HiddenActivation};
use crate::weights::Weights;
use crate::ClassifierError;
use burn::tensor::activation::{gelu, gelu_approximate, relu};
use burn::tensor::backend::Backend;
use burn::tensor::module::{attention, embedding};
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Int, Tensor, TensorData};
use std::path::Path;
use tokenizers::TruncationParams;

/// Texts run through the model together, unless [`Encoder::set_batch_size`] says otherwise.
pub const DEFAULT_BATCH_SIZE: usize = 16;

/// A dense layer: `x @ weight + bias`, the weight stored as `[in, out]`.
#[derive(Debug, Clone)]
pub(crate) struct Linear<B: Backend> {
    weight: Tensor<B, 2>,
    bias: Tensor<B, 1>,
}

impl<B: Backend> Linear<B> {
    /// Loads `{name}.weight` (`[out, in]` in the checkpoint) and `{name}.bias`.
    pub(crate) fn load(
        w: &mut Weights,
        name: &str,
        out: usize,
        inp: usize,
        device: &B::Device,
    ) -> Result<Self, ClassifierError> {
        let weight = w.take(&format!("{name}.weight"), &[out, inp])?;
        let bias = w.take(&format!("{name}.bias"), &[out])?;
        Ok(Self {
            weight: tensor2::<B>(weight, out, inp, device).transpose(),
            bias: tensor1::<B>(bias, device),
        })
    }

    /// `x [rows, in]` -> `[rows, out]`.
    pub(crate) fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        x.matmul(self.weight.clone()) + self.bias.clone().unsqueeze()
    }
}

/// LayerNorm over the last dimension, with weight and bias.
#[derive(Debug, Clone)]
struct LayerNorm<B: Backend> {
    weight: Tensor<B, 1>,
    bias: Tensor<B, 1>,
    eps: f64,
}

impl<B: Backend> LayerNorm<B> {
    fn load(
        w: &mut Weights,
        name: &str,
        d: usize,
        eps: f64,
        device: &B::Device,
    ) -> Result<Self, ClassifierError> {
        let weight = w.take_norm(&format!("{name}.weight"), &[d])?;
        let bias = w.take_norm(&format!("{name}.bias"), &[d])?;
        Ok(Self {
            weight: tensor1::<B>(weight, device),
            bias: tensor1::<B>(bias, device),
            eps,
        })
    }

    /// `x [rows, d]`: `(x - mean) / sqrt(var + eps) * weight + bias` (biased variance).
    fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let centered = x.clone() - x.mean_dim(1);
        let var = (centered.clone() * centered.clone()).mean_dim(1);
        centered / var.add_scalar(self.eps).sqrt() * self.weight.clone().unsqueeze()
            + self.bias.clone().unsqueeze()
    }
}

/// One encoder layer.
#[derive(Debug, Clone)]
struct Layer<B: Backend> {
    /// `attention.self.{query,key,value}` fused: `[hidden, 3 * hidden]`.
    qkv: Linear<B>,
    /// `attention.output.dense`.
    attn_out: Linear<B>,
    /// `attention.output.LayerNorm`.
    attn_norm: LayerNorm<B>,
    /// `intermediate.dense`.
    intermediate: Linear<B>,
    /// `output.dense`.
    output: Linear<B>,
    /// `output.LayerNorm`.
    out_norm: LayerNorm<B>,
}

/// A BERT/RoBERTa encoder and its tokenizer, ready to run on backend `B`.
#[derive(Debug, Clone)]
pub struct Encoder<B: Backend> {
    config: EncoderConfig,
    tokenizer: tokenizers::Tokenizer,
    tokenizer_origin: String,
    word: Tensor<B, 2>,
    position: Tensor<B, 2>,
    token_type: Tensor<B, 1>,
    emb_norm: LayerNorm<B>,
    layers: Vec<Layer<B>>,
    batch_size: usize,
    device: B::Device,
}

impl<B: Backend> Encoder<B> {
    /// Loads an encoder from an HF folder (`config.json`, `model.safetensors`,
    /// `tokenizer.json`): a bare `BertModel`/`RobertaModel` (as sentence-transformers
    /// stores it) or the encoder of a `*ForSequenceClassification` checkpoint.
    pub fn load(dir: &Path, device: &B::Device) -> Result<Self, ClassifierError> {
        let config = EncoderConfig::load(&dir.join("config.json"))?;
        let tokenizer = load_tokenizer(&dir.join("tokenizer.json"), &config)?;
        let mut weights = Weights::read(&dir.join("model.safetensors"))?;
        Self::from_parts(config, tokenizer, &mut weights, device)
    }

    /// Builds the encoder from a parsed config, a tokenizer file's pipeline and the
    /// weights, taking the encoder's weights out of `weights`.
    pub(crate) fn from_parts(
        config: EncoderConfig,
        (tokenizer, tokenizer_origin): (tokenizers::Tokenizer, String),
        w: &mut Weights,
        device: &B::Device,
    ) -> Result<Self, ClassifierError> {
        let p = encoder_prefix(&config, w)?;
        let c = &config;
        let (d, i) = (c.hidden_size, c.intermediate_size);
        let word = w.take(
            &format!("{p}embeddings.word_embeddings.weight"),
            &[c.vocab_size, d],
        )?;
        let position = w.take(
            &format!("{p}embeddings.position_embeddings.weight"),
            &[c.max_position_embeddings, d],
        )?;
        let token_type = w.take(
            &format!("{p}embeddings.token_type_embeddings.weight"),
            &[c.type_vocab_size, d],
        )?;
        let emb_norm = LayerNorm::load(
            w,
            &format!("{p}embeddings.LayerNorm"),
            d,
            c.layer_norm_eps,
            device,
        )?;
        let mut layers = Vec::with_capacity(c.num_layers);
        for l in 0..c.num_layers {
            let q = format!("{p}encoder.layer.{l}");
            let mut qkv_w = Vec::with_capacity(3 * d * d);
            let mut qkv_b = Vec::with_capacity(3 * d);
            for part in ["query", "key", "value"] {
                qkv_w.extend(w.take(&format!("{q}.attention.self.{part}.weight"), &[d, d])?);
                qkv_b.extend(w.take(&format!("{q}.attention.self.{part}.bias"), &[d])?);
            }
            layers.push(Layer {
                qkv: Linear {
                    weight: tensor2::<B>(qkv_w, 3 * d, d, device).transpose(),
                    bias: tensor1::<B>(qkv_b, device),
                },
                attn_out: Linear::load(w, &format!("{q}.attention.output.dense"), d, d, device)?,
                attn_norm: LayerNorm::load(
                    w,
                    &format!("{q}.attention.output.LayerNorm"),
                    d,
                    c.layer_norm_eps,
                    device,
                )?,
                intermediate: Linear::load(w, &format!("{q}.intermediate.dense"), i, d, device)?,
                output: Linear::load(w, &format!("{q}.output.dense"), d, i, device)?,
                out_norm: LayerNorm::load(
                    w,
                    &format!("{q}.output.LayerNorm"),
                    d,
                    c.layer_norm_eps,
                    device,
                )?,
            });
        }
        Ok(Self {
            word: tensor2::<B>(word, c.vocab_size, d, device),
            position: tensor2::<B>(position, c.max_position_embeddings, d, device),
            token_type: tensor1::<B>(token_type[..d].to_vec(), device),
            emb_norm,
            layers,
            tokenizer,
            tokenizer_origin,
            batch_size: DEFAULT_BATCH_SIZE,
            device: device.clone(),
            config,
        })
    }

    /// The configuration read from `config.json`.
    pub fn config(&self) -> &EncoderConfig {
        &self.config
    }

    /// The device the weights live on.
    pub fn device(&self) -> &B::Device {
        &self.device
    }

    /// Texts per forward pass.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Texts per forward pass (at least 1).
    pub fn set_batch_size(&mut self, batch_size: usize) {
        self.batch_size = batch_size.max(1);
    }

    /// Token ids of each text, with the model's special tokens, truncated to
    /// [`EncoderConfig::max_tokens`].
    pub fn tokenize(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>, ClassifierError> {
        let bad = |message: String| ClassifierError::Tokenizer {
            path: self.tokenizer_origin.clone(),
            message,
        };
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| bad(format!("cannot encode a text: {e}")))?;
        let ids: Vec<Vec<u32>> = encodings.iter().map(|e| e.get_ids().to_vec()).collect();
        for (text, row) in texts.iter().zip(&ids) {
            if row.is_empty() {
                return Err(bad(format!(
                    "the text {text:?} gives no tokens (the tokenizer adds no special tokens?)"
                )));
            }
            if let Some(&id) = row
                .iter()
                .find(|&&id| id as usize >= self.config.vocab_size)
            {
                return Err(bad(format!("token id {id} is outside the model's vocabulary of {} (config.json vocab_size)", self.config.vocab_size)));
            }
        }
        Ok(ids)
    }

    /// The last hidden state of each text: one `hidden_size` row per token.
    pub fn last_hidden_states(
        &self,
        texts: &[&str],
    ) -> Result<Vec<Vec<Vec<f32>>>, ClassifierError> {
        let ids = self.tokenize(texts)?;
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(self.batch_size) {
            let hidden = self.forward(chunk);
            let [_, s, d] = hidden.dims();
            let values = to_vec(hidden.into_data())?;
            for (b, row) in chunk.iter().enumerate() {
                out.push(
                    (0..row.len())
                        .map(|t| values[(b * s + t) * d..(b * s + t + 1) * d].to_vec())
                        .collect(),
                );
            }
        }
        Ok(out)
    }

    /// Sentence embeddings: the last hidden state averaged over each text's tokens
    /// (special tokens included), as sentence-transformers' mean pooling does. Not
    /// normalized (all-MiniLM-L6-v2 applies a separate `Normalize` module after it).
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ClassifierError> {
        let states = self.last_hidden_states(texts)?;
        Ok(states
            .iter()
            .map(|rows| {
                let mut sum = vec![0.0f32; self.config.hidden_size];
                for row in rows {
                    sum.iter_mut().zip(row).for_each(|(s, v)| *s += v);
                }
                let n = rows.len().max(1) as f32;
                sum.into_iter().map(|s| s / n).collect()
            })
            .collect())
    }

    /// Runs the encoder on a batch of token-id sequences (as [`Self::tokenize`] gives:
    /// non-empty, ids within the vocabulary, at most [`EncoderConfig::max_tokens`] long),
    /// right-padded to the longest: returns the last hidden state `[batch, longest,
    /// hidden]` (padding rows are meaningless).
    pub(crate) fn forward(&self, ids: &[Vec<u32>]) -> Tensor<B, 3> {
        let c = &self.config;
        let (b, s, d) = (
            ids.len(),
            ids.iter().map(Vec::len).max().unwrap_or(0).max(1),
            c.hidden_size,
        );
        let pad = c.pad_token_id;
        let mut tokens = Vec::with_capacity(b * s);
        let mut positions = Vec::with_capacity(b * s);
        let mut padding = Vec::with_capacity(b * s);
        for row in ids {
            let mut seen = 0i64;
            for j in 0..s {
                let id = row.get(j).copied().unwrap_or(pad);
                tokens.push(i64::from(id));
                padding.push(j >= row.len());
                positions.push(match c.architecture {
                    Architecture::Bert => j as i64,
                    // create_position_ids_from_input_ids: cumsum(ids != pad) * (ids != pad) + pad.
                    Architecture::Roberta if id != pad => {
                        seen += 1;
                        seen + i64::from(pad)
                    }
                    Architecture::Roberta => i64::from(pad),
                });
            }
        }
        let device = &self.device;
        let tokens = Tensor::<B, 2, Int>::from_data(TensorData::new(tokens, [b, s]), device);
        let positions = Tensor::<B, 2, Int>::from_data(TensorData::new(positions, [b, s]), device);
        let padding = Tensor::<B, 2, Bool>::from_data(TensorData::new(padding, [b, s]), device);
        let x = embedding(self.word.clone(), tokens)
            + self.token_type.clone().unsqueeze::<3>()
            + embedding(self.position.clone(), positions);
        let mut x = self.emb_norm.forward(x.reshape([b * s, d]));
        let h = c.num_heads;
        let mask = padding.reshape([b, 1, 1, s]).expand([b, h, s, s]);
        for layer in &self.layers {
            x = self.layer_forward(layer, x, b, s, mask.clone());
        }
        x.reshape([b, s, d])
    }

    /// One layer on `x [batch * seq, hidden]`.
    fn layer_forward(
        &self,
        layer: &Layer<B>,
        x: Tensor<B, 2>,
        b: usize,
        s: usize,
        mask: Tensor<B, 4, Bool>,
    ) -> Tensor<B, 2> {
        let c = &self.config;
        let (d, h, hd) = (c.hidden_size, c.num_heads, c.head_dim());
        let qkv = layer.qkv.forward(x.clone());
        let split = |k: usize| {
            qkv.clone()
                .slice([0..b * s, k * d..(k + 1) * d])
                .reshape([b, s, h, hd])
                .swap_dims(1, 2)
        };
        let options = AttentionModuleOptions {
            scale: None,
            softcap: None,
            is_causal: false,
        };
        let context = attention(split(0), split(1), split(2), Some(mask), None, options);
        let context = context.swap_dims(1, 2).reshape([b * s, d]);
        let x = layer.attn_norm.forward(layer.attn_out.forward(context) + x);
        let inner = layer.intermediate.forward(x.clone());
        let inner = match c.hidden_act {
            HiddenActivation::Gelu => gelu(inner),
            HiddenActivation::GeluTanh => gelu_approximate(inner),
            HiddenActivation::Relu => relu(inner),
        };
        layer.out_norm.forward(layer.output.forward(inner) + x)
    }
}

/// `bert.` / `roberta.` when the checkpoint's encoder weights carry the prefix, `""`
/// when they do not (a bare encoder as sentence-transformers saves it).
fn encoder_prefix(config: &EncoderConfig, w: &Weights) -> Result<String, ClassifierError> {
    let probe = "embeddings.word_embeddings.weight";
    let prefixed = format!("{}{probe}", config.architecture.weight_prefix());
    if w.contains(&prefixed) {
        Ok(config.architecture.weight_prefix().to_string())
    } else if w.contains(probe) {
        Ok(String::new())
    } else {
        let mut found: Vec<&str> = w.names().take(5).collect();
        if found.is_empty() {
            found.push("no tensors at all");
        }
        Err(ClassifierError::Format {
            path: w.origin().to_string(),
            message: format!(
                "no `{prefixed}` nor `{probe}`: not a {} checkpoint as config.json says? (first tensors: {})",
                config.model_type,
                found.join(", ")
            ),
        })
    }
}

/// Loads `tokenizer.json` for `config`: special tokens on, truncation to
/// [`EncoderConfig::max_tokens`], no padding (whatever the file declares).
pub(crate) fn load_tokenizer(
    path: &Path,
    config: &EncoderConfig,
) -> Result<(tokenizers::Tokenizer, String), ClassifierError> {
    let origin = path.display().to_string();
    let bad = |message: String| ClassifierError::Tokenizer {
        path: origin.clone(),
        message,
    };
    if !path.exists() {
        return Err(bad(
            "no such file: a classifier folder needs the tokenizer.json of its checkpoint".into(),
        ));
    }
    let tokenizer = attnprune_tokenizer::Tokenizer::from_file(path, None)
        .map_err(|e| bad(format!("cannot load the tokenizer: {e}")))?;
    let mut inner = tokenizer.inner().clone();
    inner.with_padding(None);
    // The special tokens alone must fit (tokenizers' own check would underflow).
    inner
        .with_truncation(None)
        .map_err(|e| bad(format!("cannot reset truncation: {e}")))?;
    let empty = inner
        .encode("", true)
        .map_err(|e| bad(format!("cannot encode the empty text: {e}")))?;
    let specials = empty.get_ids().len();
    if specials == 0 {
        return Err(bad("the tokenizer adds no special tokens ([CLS]/<s>): the classification head reads the first token".into()));
    }
    let max_length = config.max_tokens();
    if specials > max_length {
        return Err(bad(format!(
            "its {specials} special tokens do not fit in the model's {max_length} positions (config.json max_position_embeddings)"
        )));
    }
    let truncation = TruncationParams {
        max_length,
        ..TruncationParams::default()
    };
    inner
        .with_truncation(Some(truncation))
        .map_err(|e| bad(format!("cannot truncate to {max_length} tokens: {e}")))?;
    Ok((inner, origin))
}

/// The f32 values of a tensor's data.
pub(crate) fn to_vec(data: TensorData) -> Result<Vec<f32>, ClassifierError> {
    data.convert::<f32>()
        .to_vec()
        .map_err(|e| ClassifierError::Backend(format!("{e:?}")))
}

pub(crate) fn tensor2<B: Backend>(
    data: Vec<f32>,
    rows: usize,
    cols: usize,
    device: &B::Device,
) -> Tensor<B, 2> {
    Tensor::from_data(TensorData::new(data, [rows, cols]), device)
}

pub(crate) fn tensor1<B: Backend>(data: Vec<f32>, device: &B::Device) -> Tensor<B, 1> {
    let n = data.len();
    Tensor::from_data(TensorData::new(data, [n]), device)
}
