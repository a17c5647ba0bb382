//! Building model inputs: left-padded token batches, head-keep tensors, and
//! groups of masks evaluated together on the same sequences.

use crate::model::{FanOut, ForwardBatch, LlamaModel};
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

/// Masks evaluated together on the same sequences (multi-mask batching).
///
/// Every mask of a group keeps every head below [`MaskGroup::shared_layers`],
/// so the group's sequences run once through those layers and then once per
/// mask (mask-major: copy `m` holds rows `m * n .. (m + 1) * n` of `n`
/// sequences) from there on: the lower layers are shared, the upper ones run
/// as one batch `masks` times as tall. Results come back in mask-major order.
#[derive(Debug, Clone)]
pub struct MaskGroup<'a> {
    masks: Vec<&'a HeadMask>,
    shared_layers: usize,
}

impl<'a> MaskGroup<'a> {
    /// A group of `masks` (at least one). Its shared layers are those below the
    /// lowest layer any of them prunes (all layers when none prunes anything).
    pub fn new(masks: &[&'a HeadMask]) -> Self {
        let shared_layers = masks
            .iter()
            .map(|m| m.first_pruned_layer().unwrap_or(m.layout().num_layers))
            .min()
            .unwrap_or(0);
        Self {
            masks: masks.to_vec(),
            shared_layers,
        }
    }

    /// The group of one mask (no fan-out: what single-mask callers pass).
    pub fn single(mask: &'a HeadMask) -> Self {
        Self::new(&[mask])
    }

    /// The masks, in result order.
    pub fn masks(&self) -> &[&'a HeadMask] {
        &self.masks
    }

    /// Number of masks.
    pub fn len(&self) -> usize {
        self.masks.len()
    }

    /// Whether the group holds no mask.
    pub fn is_empty(&self) -> bool {
        self.masks.is_empty()
    }

    /// Layers no mask of the group prunes (the rows are shared below this one).
    pub fn shared_layers(&self) -> usize {
        self.shared_layers
    }

    /// Head keep factors `[layers, masks * rows, heads]` for `rows` sequences
    /// per mask, mask-major (`None` when nothing is pruned).
    pub fn head_keep<B: Backend>(
        &self,
        rows: usize,
        model: &LlamaModel<B>,
    ) -> Option<Tensor<B, 3>> {
        let per_row: Vec<&HeadMask> = self
            .masks
            .iter()
            .flat_map(|m| std::iter::repeat_n(*m, rows))
            .collect();
        head_keep_tensor(&per_row, model)
    }

    /// How a forward call over the group's sequences fans out to its masks
    /// (`None` for a group of one mask: the rows are simply the sequences).
    pub fn fan_out(&self) -> Option<FanOut> {
        (self.masks.len() > 1).then_some(FanOut {
            layer: self.shared_layers,
            copies: self.masks.len(),
        })
    }
}

impl<'a> From<&'a HeadMask> for MaskGroup<'a> {
    fn from(mask: &'a HeadMask) -> Self {
        Self::single(mask)
    }
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
            fan_out: None,
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
