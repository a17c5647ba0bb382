//! The validation/test split, the per-bucket sampling (random design) and
//! the crossed design's choice of templates and nouns.

use super::format::RawSet;
use super::phrases::{article_for, sentences, NounPhrase};
use super::{Prompt, PromptDesign, PromptSelection, Split};
use crate::error::MeasureError;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The noun group the crossed design draws its nouns from.
pub const CROSSED_NOUN_GROUP: &str = "neutral";

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
    if let PromptDesign::Crossed { templates, nouns } = sel.design {
        if templates == 0 {
            return Err(MeasureError::param("templates", 0, "must be at least 1"));
        }
        if nouns == 0 {
            return Err(MeasureError::param("nouns", 0, "must be at least 1"));
        }
    }
    Ok(())
}

/// The crossed design's seeded choices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrossedPlan {
    /// Templates per block (per split).
    pub per_block: usize,
    /// Every template of the set, in the seeded order; block `b` is
    /// `order[b * per_block .. (b + 1) * per_block]` (block 0: valid, 1: test).
    pub order: Vec<String>,
    /// The chosen `(singular, plural)` neutral nouns, in file order.
    pub nouns: Vec<(String, String)>,
}

impl CrossedPlan {
    /// Templates of block `index` (sorted); empty past the last full block.
    pub fn block(&self, index: usize) -> Vec<String> {
        let start = index.saturating_mul(self.per_block);
        let end = start.saturating_add(self.per_block);
        if end > self.order.len() {
            return Vec::new();
        }
        let mut block = self.order[start..end].to_vec();
        block.sort();
        block
    }
}

/// Seeded permutation of the templates and choice of the nouns for a
/// crossed `sel`; errors unless the set has `blocks` full template blocks
/// and enough neutral nouns.
pub(crate) fn crossed_plan(
    raw: &RawSet,
    sel: &PromptSelection,
    blocks: usize,
) -> Result<CrossedPlan, MeasureError> {
    check_selection(sel)?;
    let PromptDesign::Crossed { templates, nouns } = sel.design else {
        return Err(MeasureError::param(
            "design",
            "random",
            "a crossed plan needs the crossed design",
        ));
    };
    let available = raw.templates.len();
    if templates.saturating_mul(blocks) > available {
        return Err(MeasureError::param(
            "templates",
            templates,
            &format!(
                "{blocks} disjoint blocks of {templates} templates need {} templates, the set has {available}",
                templates.saturating_mul(blocks)
            ),
        ));
    }
    let pool = raw
        .nouns
        .get(CROSSED_NOUN_GROUP)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            MeasureError::param(
                "design",
                "crossed",
                &format!("the crossed design draws nouns from the `{CROSSED_NOUN_GROUP}` group, which this prompt set lacks"),
            )
        })?;
    if nouns > pool.len() {
        return Err(MeasureError::param(
            "nouns",
            nouns,
            &format!(
                "the `{CROSSED_NOUN_GROUP}` noun group has only {}",
                pool.len()
            ),
        ));
    }
    let mut order: Vec<String> = raw.templates.keys().cloned().collect();
    order.shuffle(&mut labelled_rng(sel.seed, "crossed templates"));
    let mut chosen = rand::seq::index::sample(
        &mut labelled_rng(sel.seed, "crossed nouns"),
        pool.len(),
        nouns,
    )
    .into_vec();
    chosen.sort_unstable();
    Ok(CrossedPlan {
        per_block: templates,
        order,
        nouns: chosen.into_iter().map(|i| pool[i].clone()).collect(),
    })
}

/// Every descriptor of `axis` (all buckets) x `templates` x `nouns`.
pub(crate) fn crossed_prompts(
    raw: &RawSet,
    axis: &str,
    templates: &[String],
    nouns: &[(String, String)],
    exclude_dispreferred: bool,
) -> Vec<Prompt> {
    let mut out = Vec::new();
    let Some(buckets) = raw.descriptors.get(axis) else {
        return out;
    };
    let specs: Vec<_> = templates
        .iter()
        .filter_map(|t| raw.templates.get_key_value(t))
        .collect();
    for (bucket, descriptors) in buckets {
        for d in descriptors {
            if exclude_dispreferred && d.preference.as_deref() == Some("dispreferred") {
                continue;
            }
            let article = d.article.as_deref().unwrap_or_else(|| article_for(&d.text));
            for (noun, plural) in nouns {
                let phrase = NounPhrase {
                    bucket: bucket.clone(),
                    descriptor: d.text.clone(),
                    preference: d.preference.clone(),
                    noun: Some(noun.clone()),
                    noun_gender: Some(CROSSED_NOUN_GROUP.to_owned()),
                    singular: format!("{article} {} {noun}", d.text),
                    plural: format!("{} {plural}", d.text),
                };
                out.extend(sentences(axis, &phrase, specs.iter().copied()));
            }
        }
    }
    out
}

/// Block `index` of `count` disjoint per-bucket blocks of one axis's pool
/// (random design's disjoint samples).
pub(crate) fn disjoint_block(
    pool: impl Iterator<Item = Prompt>,
    sel: &PromptSelection,
    index: usize,
    count: usize,
) -> Result<Vec<Prompt>, MeasureError> {
    let buckets = by_bucket(pool);
    let mut out = Vec::new();
    for ((axis, bucket), mut prompts) in buckets {
        let size = sel.per_bucket.min(prompts.len() / count);
        if size == 0 {
            return Err(MeasureError::param(
                "samples",
                count,
                &format!(
                    "bucket `{axis}`/`{bucket}` has {} prompts, too few for {count} disjoint samples",
                    prompts.len()
                ),
            ));
        }
        prompts.sort();
        prompts.shuffle(&mut bucket_rng(sel.seed, &axis, &bucket));
        out.extend(prompts.drain(index * size..(index + 1) * size));
    }
    Ok(out)
}

fn labelled_rng(seed: u64, label: &str) -> ChaCha8Rng {
    let digest = Sha256::new()
        .chain_update(seed.to_le_bytes())
        .chain_update(label.as_bytes())
        .finalize();
    ChaCha8Rng::from_seed(digest.into())
}

/// `pool` grouped by `(axis, bucket)`, in key order.
fn by_bucket(pool: impl Iterator<Item = Prompt>) -> BTreeMap<(String, String), Vec<Prompt>> {
    let mut buckets: BTreeMap<(String, String), Vec<Prompt>> = BTreeMap::new();
    for prompt in pool {
        buckets
            .entry((prompt.axis.clone(), prompt.bucket.clone()))
            .or_default()
            .push(prompt);
    }
    buckets
}

/// Groups `pool` (one axis) by bucket and samples `per_bucket` prompts of
/// each; each bucket's generator is seeded from `seed`, the axis and the
/// bucket, so adding an axis or a bucket does not change the others' samples.
pub(crate) fn sample_per_bucket(
    pool: impl Iterator<Item = Prompt>,
    per_bucket: usize,
    seed: u64,
) -> Vec<Prompt> {
    let buckets = by_bucket(pool);
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
