//! The validation/test split and the per-bucket sampling.

use super::{Prompt, PromptSelection, Split};
use crate::error::MeasureError;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The split that a (descriptor, template) pair belongs to.
///
/// The first 8 bytes of SHA-256 of `descriptor` + U+001F + `template`, read
/// as a big-endian integer and divided by 2^64, give a number `u` in
/// `[0, 1)`; the pair is [`Split::Test`] when `u < test_fraction`. The
/// decision depends on nothing else (not the seed, not the other prompts),
/// so no pair is ever in both splits, and it is the same on every platform.
pub fn split_of(descriptor: &str, template: &str, test_fraction: f64) -> Split {
    let digest = Sha256::new()
        .chain_update(descriptor.as_bytes())
        .chain_update("\u{1f}".as_bytes())
        .chain_update(template.as_bytes())
        .finalize();
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    let u = u64::from_be_bytes(head) as f64 / 18_446_744_073_709_551_616.0;
    if u < test_fraction {
        Split::Test
    } else {
        Split::Valid
    }
}

/// Rejects selections that cannot be built.
pub(crate) fn check_selection(sel: &PromptSelection) -> Result<(), MeasureError> {
    if sel.axes.is_empty() {
        return Err(MeasureError::Empty {
            what: "selection axes".to_owned(),
        });
    }
    if sel.per_bucket == 0 {
        return Err(MeasureError::param(
            "per_bucket",
            0,
            "must be at least 1 (usize::MAX for all)",
        ));
    }
    if !(0.0..=1.0).contains(&sel.test_fraction) {
        return Err(MeasureError::param(
            "test_fraction",
            sel.test_fraction,
            "must be within [0, 1]",
        ));
    }
    Ok(())
}

/// Groups `pool` (one axis) by bucket and samples `per_bucket` prompts of
/// each; each bucket's generator is seeded from `seed`, the axis and the
/// bucket, so adding an axis or a bucket does not change the others' samples.
pub(crate) fn sample_per_bucket(
    pool: impl Iterator<Item = Prompt>,
    per_bucket: usize,
    seed: u64,
) -> Vec<Prompt> {
    let mut buckets: BTreeMap<(String, String), Vec<Prompt>> = BTreeMap::new();
    for prompt in pool {
        let key = (prompt.axis.clone(), prompt.bucket.clone());
        buckets.entry(key).or_default().push(prompt);
    }
    let mut out = Vec::new();
    for ((axis, bucket), mut prompts) in buckets {
        prompts.sort();
        if prompts.len() <= per_bucket {
            out.extend(prompts);
            continue;
        }
        let mut rng = bucket_rng(seed, &axis, &bucket);
        let mut chosen = rand::seq::index::sample(&mut rng, prompts.len(), per_bucket).into_vec();
        chosen.sort_unstable();
        out.extend(chosen.into_iter().map(|i| prompts[i].clone()));
    }
    out
}

fn bucket_rng(seed: u64, axis: &str, bucket: &str) -> ChaCha8Rng {
    let digest = Sha256::new()
        .chain_update(seed.to_le_bytes())
        .chain_update(axis.as_bytes())
        .chain_update("\u{1f}".as_bytes())
        .chain_update(bucket.as_bytes())
        .finalize();
    ChaCha8Rng::from_seed(digest.into())
}
