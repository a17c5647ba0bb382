//! Seeded random head masks, as in the paper: the number of pruned heads is
//! drawn uniformly from `[0, max_pruned]`, then that many distinct heads.

use crate::{HeadLayout, HeadMask, MaskError};
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// How to draw random masks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandomMaskSpec {
    /// The model's head layout.
    pub layout: HeadLayout,
    /// Upper bound (inclusive) of the number of pruned heads.
    pub max_pruned: usize,
    /// Seed of the draw.
    pub seed: u64,
}

/// Draws `count` masks. Mask `i` depends only on the seed and `i`, so a
/// longer draw extends a shorter one and shards can draw independently.
pub fn draw_random_masks(spec: &RandomMaskSpec, count: usize) -> Result<Vec<HeadMask>, MaskError> {
    let total = spec.layout.total();
    if spec.max_pruned > total {
        return Err(MaskError::TooManyPruned { requested: spec.max_pruned, available: total });
    }
    (0..count).map(|i| draw_one(spec, i as u64)).collect()
}

fn draw_one(spec: &RandomMaskSpec, index: u64) -> Result<HeadMask, MaskError> {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    rng.set_stream(index);
    let total = spec.layout.total();
    let num_pruned = rng.random_range(0..=spec.max_pruned);
    let mut bits = vec![false; total];
    for head in sample(&mut rng, total, num_pruned) {
        bits[head] = true;
    }
    HeadMask::from_bits(spec.layout, bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(seed: u64) -> RandomMaskSpec {
        RandomMaskSpec { layout: HeadLayout::new(30, 9), max_pruned: 40, seed }
    }

    #[test]
    fn draws_are_seeded_and_prefix_stable() {
        let a = draw_random_masks(&spec(7), 20).unwrap();
        let b = draw_random_masks(&spec(7), 50).unwrap();
        assert_eq!(a[..], b[..20]);
        let c = draw_random_masks(&spec(8), 20).unwrap();
        assert_ne!(a, c);
    }

    #[test]
    fn respects_max_pruned_and_covers_the_range() {
        let masks = draw_random_masks(&spec(1), 400).unwrap();
        assert!(masks.iter().all(|m| m.num_pruned() <= 40));
        let max = masks.iter().map(|m| m.num_pruned()).max().unwrap();
        let min = masks.iter().map(|m| m.num_pruned()).min().unwrap();
        assert!(max >= 38 && min <= 2, "min {min} max {max}");
    }

    #[test]
    fn too_many_is_an_error() {
        let s = RandomMaskSpec { layout: HeadLayout::new(2, 2), max_pruned: 5, seed: 0 };
        assert!(draw_random_masks(&s, 1).is_err());
    }
}
