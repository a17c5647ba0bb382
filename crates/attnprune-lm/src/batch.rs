//! Building model inputs: left-padded token batches and head-keep tensors.

use crate::model::{ForwardBatch, LlamaModel};
use attnprune_mask::HeadMask;
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Int, Tensor, TensorData};

/// Head keep factors `[layers, batch, heads]` for one mask per sequence, or
/// `None` when no sequence prunes anything (the fast path).
pub fn head_keep_tensor<B: Backend>(
    masks: &[&HeadMask],
    model: &LlamaModel<B>,
) -> Option<Tensor<B, 3>> {
    if masks.iter().all(|m| m.num_pruned() == 0) {
        return None;
    }
    let (layers, heads) = (model.config.num_layers, model.config.num_heads);
    let b = masks.len();
    let mut data = vec![1.0f32; layers * b * heads];
    for (s, mask) in masks.iter().enumerate() {
        for (i, &pruned) in mask.bits().iter().enumerate() {
            if pruned {
                let (l, h) = (i / heads, i % heads);
                data[(l * b + s) * heads + h] = 0.0;
            }
        }
    }
    Some(Tensor::from_data(
        TensorData::new(data, [layers, b, heads]),
        model.device(),
    ))
}

/// A left-padded batch of token sequences of different lengths.
#[derive(Debug, Clone)]
pub struct PaddedBatch {
    /// Token ids, `[batch][max_len]`, padding first.
    pub tokens: Vec<Vec<u32>>,
    /// Padding flags, same shape, `true` = padding.
    pub padding: Vec<Vec<bool>>,
    /// Rotary positions, same shape: 0 at each sequence's first real token.
    pub positions: Vec<Vec<i64>>,
}

impl PaddedBatch {
    /// Left-pads `sequences` with `pad_id`.
    pub fn left_padded(sequences: &[&[u32]], pad_id: u32) -> Self {
        let max_len = sequences.iter().map(|s| s.len()).max().unwrap_or(0);
        let mut batch = Self {
            tokens: vec![],
            padding: vec![],
            positions: vec![],
        };
        for seq in sequences {
            let pad = max_len - seq.len();
            batch.tokens.push(
                std::iter::repeat_n(pad_id, pad)
                    .chain(seq.iter().copied())
                    .collect(),
            );
            batch.padding.push((0..max_len).map(|i| i < pad).collect());
            batch
                .positions
                .push((0..max_len).map(|i| i.saturating_sub(pad) as i64).collect());
        }
        batch
    }

    /// Whether any sequence is padded.
    pub fn has_padding(&self) -> bool {
        self.padding.iter().flatten().any(|&p| p)
    }

    /// Model input on `device` with the given head keep factors.
    pub fn to_forward<B: Backend>(
        &self,
        head_keep: Option<Tensor<B, 3>>,
        device: &B::Device,
    ) -> ForwardBatch<B> {
        let b = self.tokens.len();
        let s = self.tokens.first().map(|t| t.len()).unwrap_or(0);
        let tokens: Vec<i64> = self.tokens.iter().flatten().map(|&t| t as i64).collect();
        let positions: Vec<i64> = self.positions.iter().flatten().copied().collect();
        ForwardBatch {
            tokens: int_tensor(tokens, b, s, device),
            positions: int_tensor(positions, b, s, device),
            key_padding: self.has_padding().then(|| {
                bool_tensor(
                    self.padding.iter().flatten().copied().collect(),
                    b,
                    s,
                    device,
                )
            }),
            head_keep,
        }
    }
}

/// An integer tensor `[rows, cols]`.
pub fn int_tensor<B: Backend>(
    data: Vec<i64>,
    rows: usize,
    cols: usize,
    device: &B::Device,
) -> Tensor<B, 2, Int> {
    Tensor::from_data(TensorData::new(data, [rows, cols]), device)
}

/// A boolean tensor `[rows, cols]`.
pub fn bool_tensor<B: Backend>(
    data: Vec<bool>,
    rows: usize,
    cols: usize,
    device: &B::Device,
) -> Tensor<B, 2, Bool> {
    Tensor::from_data(TensorData::new(data, [rows, cols]), device)
}
