//! Head masks: the one place that knows what a mask is.
//!
//! A model has `num_layers` x `num_heads` query heads. A [`HeadMask`] marks
//! which of them are pruned (switched off). Heads are addressed by
//! [`HeadId`] (`layer`, `head`, both 0-based) or by their flat index
//! `layer * num_heads + head`, which is the order used by the sample table,
//! the surrogates and the annealer.

mod candidates;
mod draw;
mod file;

pub use candidates::{Candidate, CandidateList, CANDIDATES_KIND, CANDIDATES_VERSION};
pub use draw::{draw_masks_with_count, draw_random_masks, RandomMaskSpec};
pub use file::{MaskFile, MASK_KIND, MASK_VERSION};

use serde::{Deserialize, Serialize};
use std::fmt;

/// Errors about masks and mask files.
#[derive(Debug, thiserror::Error)]
pub enum MaskError {
    /// The mask file could not be read or written.
    #[error("cannot access mask file `{path}`: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The mask file is not valid JSON of the expected shape.
    #[error("mask file `{path}` is not a valid mask file: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A head lies outside the layout.
    #[error("head [{layer}, {head}] is out of range for a model of {num_layers} layers x {num_heads} heads")]
    OutOfRange {
        /// Layer index.
        layer: usize,
        /// Head index.
        head: usize,
        /// Layers in the layout.
        num_layers: usize,
        /// Heads per layer in the layout.
        num_heads: usize,
    },
    /// The same head is listed twice.
    #[error("head [{layer}, {head}] is listed more than once")]
    Duplicate {
        /// Layer index.
        layer: usize,
        /// Head index.
        head: usize,
    },
    /// The mask was made for another model shape.
    #[error("mask shape {found} does not match the model's {expected}")]
    ShapeMismatch {
        /// The model's layout.
        expected: HeadLayout,
        /// The mask's layout.
        found: HeadLayout,
    },
    /// A flat bit vector has the wrong length.
    #[error("mask has {found} entries but the layout {layout} needs {expected}")]
    WrongLength {
        /// The layout.
        layout: HeadLayout,
        /// Entries needed.
        expected: usize,
        /// Entries found.
        found: usize,
    },
    /// A random draw asked for more pruned heads than exist.
    #[error("cannot prune up to {requested} heads: the model has only {available}")]
    TooManyPruned {
        /// Heads requested.
        requested: usize,
        /// Heads available.
        available: usize,
    },
}

/// The most heads a layout read from a file may have (the largest models have ~16k).
pub const MAX_HEADS: usize = 1 << 20;

/// The shape of a model's attention heads: layers x query heads per layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HeadLayout {
    /// Number of transformer layers.
    pub num_layers: usize,
    /// Number of query heads in each layer.
    pub num_heads: usize,
}

impl HeadLayout {
    /// A layout of `num_layers` x `num_heads`.
    pub fn new(num_layers: usize, num_heads: usize) -> Self {
        Self {
            num_layers,
            num_heads,
        }
    }

    /// Fails when a layout read from a file has more than [`MAX_HEADS`] heads (or a product
    /// that overflows): a corrupt count must be refused before a mask of that size is allocated.
    pub fn check_size(&self) -> Result<(), String> {
        match self.num_layers.checked_mul(self.num_heads) {
            Some(n) if n <= MAX_HEADS => Ok(()),
            _ => Err(format!(
                "{} layers x {} heads is more than {MAX_HEADS} heads: not a real model's layout",
                self.num_layers, self.num_heads
            )),
        }
    }

    /// Total number of heads (`num_layers * num_heads`).
    pub fn total(&self) -> usize {
        self.num_layers * self.num_heads
    }

    /// Flat index of a head, checking the range.
    pub fn index(&self, head: HeadId) -> Result<usize, MaskError> {
        if head.layer >= self.num_layers || head.head >= self.num_heads {
            return Err(MaskError::OutOfRange {
                layer: head.layer,
                head: head.head,
                num_layers: self.num_layers,
                num_heads: self.num_heads,
            });
        }
        Ok(head.layer * self.num_heads + head.head)
    }

    /// The head at a flat index (which must be `< total()`).
    pub fn head_at(&self, index: usize) -> HeadId {
        HeadId {
            layer: index / self.num_heads,
            head: index % self.num_heads,
        }
    }

    /// Fails unless `other` is the same layout.
    pub fn check_matches(&self, other: &HeadLayout) -> Result<(), MaskError> {
        if self == other {
            Ok(())
        } else {
            Err(MaskError::ShapeMismatch {
                expected: *self,
                found: *other,
            })
        }
    }
}

impl fmt::Display for HeadLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} layers x {} heads", self.num_layers, self.num_heads)
    }
}

/// One attention head, 0-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HeadId {
    /// Layer index.
    pub layer: usize,
    /// Query-head index within the layer.
    pub head: usize,
}

/// Which heads of a model are pruned. `true` = pruned (switched off).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HeadMask {
    layout: HeadLayout,
    pruned: Vec<bool>,
}

impl HeadMask {
    /// The mask with no head pruned.
    pub fn unpruned(layout: HeadLayout) -> Self {
        Self {
            layout,
            pruned: vec![false; layout.total()],
        }
    }

    /// A mask from flat bits (`true` = pruned), in `layer * num_heads + head` order.
    pub fn from_bits(layout: HeadLayout, pruned: Vec<bool>) -> Result<Self, MaskError> {
        if pruned.len() != layout.total() {
            return Err(MaskError::WrongLength {
                layout,
                expected: layout.total(),
                found: pruned.len(),
            });
        }
        Ok(Self { layout, pruned })
    }

    /// A mask from a list of pruned heads; rejects duplicates and out-of-range heads.
    pub fn from_pruned(layout: HeadLayout, heads: &[HeadId]) -> Result<Self, MaskError> {
        let mut mask = Self::unpruned(layout);
        for &head in heads {
            let index = layout.index(head)?;
            if mask.pruned[index] {
                return Err(MaskError::Duplicate {
                    layer: head.layer,
                    head: head.head,
                });
            }
            mask.pruned[index] = true;
        }
        Ok(mask)
    }

    /// The layout this mask is for.
    pub fn layout(&self) -> HeadLayout {
        self.layout
    }

    /// Flat bits, `true` = pruned.
    pub fn bits(&self) -> &[bool] {
        &self.pruned
    }

    /// Whether a head is pruned (false for out-of-range heads).
    pub fn is_pruned(&self, head: HeadId) -> bool {
        self.layout
            .index(head)
            .map(|i| self.pruned[i])
            .unwrap_or(false)
    }

    /// Whether any head of `layer` is pruned.
    pub fn layer_has_pruned(&self, layer: usize) -> bool {
        let h = self.layout.num_heads;
        self.pruned
            .get(layer * h..(layer + 1) * h)
            .is_some_and(|s| s.iter().any(|&p| p))
    }

    /// The lowest layer with a pruned head (`None` when nothing is pruned):
    /// the layers below it compute what the unpruned model computes.
    pub fn first_pruned_layer(&self) -> Option<usize> {
        self.pruned
            .iter()
            .position(|&p| p)
            .map(|i| i / self.layout.num_heads)
    }

    /// Number of pruned heads.
    pub fn num_pruned(&self) -> usize {
        self.pruned.iter().filter(|&&p| p).count()
    }

    /// The pruned heads, sorted by layer then head.
    pub fn pruned_heads(&self) -> Vec<HeadId> {
        (0..self.pruned.len())
            .filter(|&i| self.pruned[i])
            .map(|i| self.layout.head_at(i))
            .collect()
    }

    /// The one pruned head of a single-head knockout; None unless exactly one head is pruned.
    pub fn single_head(&self) -> Option<HeadId> {
        let heads = self.pruned_heads();
        (heads.len() == 1).then(|| heads[0])
    }

    /// Per-layer keep factors (1.0 kept, 0.0 pruned), `[layer][head]`: what the forward pass multiplies head outputs by.
    pub fn keep_factors(&self) -> Vec<Vec<f32>> {
        self.pruned
            .chunks(self.layout.num_heads.max(1))
            .map(|layer| layer.iter().map(|&p| if p { 0.0 } else { 1.0 }).collect())
            .collect()
    }

    /// Prunes or restores one head.
    pub fn set(&mut self, head: HeadId, pruned: bool) -> Result<(), MaskError> {
        let index = self.layout.index(head)?;
        self.pruned[index] = pruned;
        Ok(())
    }

    /// A short stable key (hex of the bits), handy to de-duplicate masks.
    pub fn key(&self) -> String {
        self.pruned
            .chunks(4)
            .map(|c| {
                let v = c
                    .iter()
                    .enumerate()
                    .fold(0u8, |acc, (i, &b)| acc | ((b as u8) << i));
                char::from_digit(v as u32, 16).unwrap_or('0')
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> HeadLayout {
        HeadLayout::new(3, 4)
    }

    #[test]
    fn flat_index_round_trips() {
        let l = layout();
        for i in 0..l.total() {
            assert_eq!(l.index(l.head_at(i)).unwrap(), i);
        }
    }

    #[test]
    fn rejects_out_of_range_and_duplicates() {
        let l = layout();
        let err = HeadMask::from_pruned(l, &[HeadId { layer: 3, head: 0 }]).unwrap_err();
        assert!(err.to_string().contains("out of range"), "{err}");
        let err = HeadMask::from_pruned(l, &[HeadId { layer: 0, head: 4 }]).unwrap_err();
        assert!(matches!(err, MaskError::OutOfRange { .. }));
        let h = HeadId { layer: 1, head: 2 };
        let err = HeadMask::from_pruned(l, &[h, h]).unwrap_err();
        assert!(matches!(err, MaskError::Duplicate { layer: 1, head: 2 }));
    }

    #[test]
    fn rejects_wrong_length_bits() {
        let err = HeadMask::from_bits(layout(), vec![false; 11]).unwrap_err();
        assert!(matches!(
            err,
            MaskError::WrongLength {
                expected: 12,
                found: 11,
                ..
            }
        ));
    }

    #[test]
    fn keep_factors_and_counts() {
        let l = layout();
        let m = HeadMask::from_pruned(
            l,
            &[HeadId { layer: 2, head: 1 }, HeadId { layer: 0, head: 0 }],
        )
        .unwrap();
        assert_eq!(m.num_pruned(), 2);
        assert_eq!(
            m.pruned_heads(),
            vec![HeadId { layer: 0, head: 0 }, HeadId { layer: 2, head: 1 }]
        );
        let k = m.keep_factors();
        assert_eq!(k[0], vec![0.0, 1.0, 1.0, 1.0]);
        assert_eq!(k[2], vec![1.0, 0.0, 1.0, 1.0]);
        assert!(m.layer_has_pruned(2) && !m.layer_has_pruned(1));
        assert_eq!(m.first_pruned_layer(), Some(0));
        let upper = HeadMask::from_pruned(l, &[HeadId { layer: 2, head: 3 }]).unwrap();
        assert_eq!(upper.first_pruned_layer(), Some(2));
        assert_eq!(HeadMask::unpruned(l).first_pruned_layer(), None);
    }

    #[test]
    fn keys_differ_for_different_masks() {
        let l = layout();
        let a = HeadMask::unpruned(l);
        let b = HeadMask::from_pruned(l, &[HeadId { layer: 1, head: 1 }]).unwrap();
        assert_ne!(a.key(), b.key());
        assert_eq!(a.key().len(), 3);
    }
}
