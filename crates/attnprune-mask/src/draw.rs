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
        return Err(MaskError::TooManyPruned {
            requested: spec.max_pruned,
            available: total,
        });
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

/// Draws `count` masks that each prune exactly `num_pruned` distinct heads,
/// chosen uniformly: the random baseline for a mask of that size. Mask `i`
/// depends only on the seed and `i` (and is independent of [`draw_random_masks`]'s
/// masks for the same seed), so a longer draw extends a shorter one.
pub fn draw_masks_with_count(
    layout: HeadLayout,
    num_pruned: usize,
    seed: u64,
    count: usize,
) -> Result<Vec<HeadMask>, MaskError> {
    let total = layout.total();
    if num_pruned > total {
        return Err(MaskError::TooManyPruned {
            requested: num_pruned,
            available: total,
        });
    }
    (0..count as u64)
        .map(|i| {
            // A stream family apart from draw_random_masks' (which uses streams 0, 1, ...).
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(FIXED_COUNT_STREAMS | i);
            let mut bits = vec![false; total];
            for head in sample(&mut rng, total, num_pruned) {
                bits[head] = true;
            }
            HeadMask::from_bits(layout, bits)
        })
        .collect()
}

/// Top bit of the ChaCha stream id used by [`draw_masks_with_count`].
const FIXED_COUNT_STREAMS: u64 = 1 << 63;

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(seed: u64) -> RandomMaskSpec {
        RandomMaskSpec {
            layout: HeadLayout::new(30, 9),
            max_pruned: 40,
            seed,
        }
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
    #[allow(clippy::unwrap_used)]
    fn fixed_count_draws_have_the_count_and_are_seeded() {
        let layout = HeadLayout::new(30, 9);
        let a = draw_masks_with_count(layout, 17, 3, 10).unwrap();
        assert!(a
            .iter()
            .all(|m| m.num_pruned() == 17 && m.layout() == layout));
        assert_eq!(a[..4], draw_masks_with_count(layout, 17, 3, 4).unwrap()[..]);
        assert_ne!(a, draw_masks_with_count(layout, 17, 4, 10).unwrap());
        let distinct: std::collections::HashSet<String> = a.iter().map(|m| m.key()).collect();
        assert_eq!(distinct.len(), 10);
        assert_eq!(
            draw_masks_with_count(layout, 0, 1, 2).unwrap()[0],
            HeadMask::unpruned(layout)
        );
        assert_eq!(
            draw_masks_with_count(layout, 270, 1, 1).unwrap()[0].num_pruned(),
            270
        );
        assert!(draw_masks_with_count(layout, 271, 1, 1).is_err());
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn fixed_count_draws_cover_every_head() {
        let layout = HeadLayout::new(2, 4);
        let masks = draw_masks_with_count(layout, 2, 0, 200).unwrap();
        let mut hits = [0usize; 8];
        for m in &masks {
            for (i, &b) in m.bits().iter().enumerate() {
                hits[i] += b as usize;
            }
        }
        // 400 picks over 8 heads: 50 expected each.
        assert!(hits.iter().all(|&h| (25..=75).contains(&h)), "{hits:?}");
    }

    #[test]
    fn too_many_is_an_error() {
        let s = RandomMaskSpec {
            layout: HeadLayout::new(2, 2),
            max_pruned: 5,
            seed: 0,
        };
        assert!(draw_random_masks(&s, 1).is_err());
    }
}
