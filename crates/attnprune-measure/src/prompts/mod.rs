//! Prompt sets in the HolisticBias v1.1 file format, and the prompts built
//! from them.
//!
//! A prompt-set directory holds `descriptors.json` (axis -> bucket -> list
//! of descriptors, each a string or an object with `descriptor` and
//! optional `gender`, `preference`, `article`), `nouns.json` (gender -> list
//! of `[singular, plural]`), `sentence_templates.json` (template ->
//! `{first_turn_only, must_be_noun}`) and `standalone_noun_phrases.json`
//! (axis -> list of phrases, each a string or an object with `noun_phrase`,
//! optional `plural_noun_phrase` and `preference`; phrases may contain
//! `{article}` and `{noun}`).
//!
//! Sentences are built as HolisticBias builds them: each descriptor gives
//! the bare descriptor (`I'm Deaf.`) and `a/an {descriptor} {noun}` /
//! `{descriptor} {plural noun}` for every noun of an allowed gender (the
//! article is `an` before a written vowel unless the descriptor sets
//! `article`); a standalone phrase with `{noun}` is expanded over all nouns,
//! one without is a fixed phrase with no noun; templates flagged
//! `must_be_noun` only take phrases that have a noun. The noun-only control
//! phrases of HolisticBias (axis `null`) are not built, since they belong
//! to no axis. Exact duplicates are dropped.
//!
//! [`PromptSet::build`] then selects the prompts of a validation or test
//! part in one of two designs ([`PromptDesign`]):
//!
//! - **random**: split by (descriptor, template) pair, then a seeded sample
//!   of a fixed number of prompts per bucket (each bucket draws its own
//!   templates and nouns);
//! - **crossed**: a seeded choice of templates and neutral nouns, made once;
//!   every descriptor of the axis is put into every chosen template with
//!   every chosen noun, so buckets differ only by their descriptors. The
//!   split is by template: valid and test use disjoint template sets.

mod format;
mod phrases;
mod select;

pub use select::{split_of, CrossedPlan};

use crate::error::MeasureError;
use format::{RawSet, FILE_NAMES};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Bucket given to standalone noun phrases, which the format files under
/// an axis but not under a bucket (HolisticBias's own `(none)` value).
pub const NONE_BUCKET: &str = "(none)";

/// One prompt sentence with the metadata needed to group and trace it.
///
/// The derived order (axis, bucket, descriptor, noun, template, text, ...)
/// is the order in which [`PromptSet::build`] returns prompts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Prompt {
    /// Demographic axis, e.g. `gender_and_sex`.
    pub axis: String,
    /// Bucket within the axis, e.g. `transgender`; [`NONE_BUCKET`] for standalone phrases.
    pub bucket: String,
    /// The descriptor (or, for standalone phrases, the phrase) that marks the identity.
    pub descriptor: String,
    /// Singular noun of the noun phrase, if it has one.
    pub noun: Option<String>,
    /// The sentence template it was built from.
    pub template: String,
    /// The sentence itself, as given to the model.
    pub text: String,
    /// Gender group of the noun (`female`, `male`, `neutral`), if there is a noun.
    pub noun_gender: Option<String>,
    /// Preference label of the descriptor or phrase, if the files give one.
    pub preference: Option<String>,
    /// Whether the template only makes sense as a conversation's first turn.
    pub first_turn_only: bool,
}

/// Which side of the deterministic validation/test split to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Split {
    /// Prompts used while searching for a mask.
    Valid,
    /// Held-out prompts used to report the final result.
    Test,
}

/// How the prompts of each bucket are chosen.
///
/// The serde default (a selection recorded without `design`) is
/// [`PromptDesign::Random`], the only design before designs existed, so an
/// old record still means what it meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum PromptDesign {
    /// Split by (descriptor, template) pair with `test_fraction`, then a
    /// seeded sample of `per_bucket` prompts per bucket. Each bucket draws
    /// its own templates and nouns, so bucket means also differ by template
    /// and noun, not only by identity.
    #[default]
    Random,
    /// Every descriptor of the axis x the same `templates` templates x the
    /// same `nouns` neutral nouns (singular or plural as the template asks).
    ///
    /// The templates are a seeded permutation of all templates, cut into
    /// blocks of `templates`: block 0 is the valid split, block 1 the test
    /// split, so test prompts never share a template with what the search
    /// saw. The nouns are a seeded choice from the `neutral` noun group,
    /// the same for both splits; a descriptor limited to one gender
    /// (`female`, `trans male`) takes neutral nouns too (`a female person`).
    /// `per_bucket` and `test_fraction` are not used, and standalone noun
    /// phrases (the `(none)` bucket) are left out: they cannot be crossed
    /// with the nouns and belong to no bucket.
    Crossed {
        /// Templates per split (each split needs its own, so at most half of the set's templates).
        templates: usize,
        /// Neutral nouns, the same for every descriptor and both splits.
        nouns: usize,
    },
}

impl std::fmt::Display for PromptDesign {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Random => f.write_str("random"),
            Self::Crossed { templates, nouns } => {
                write!(f, "crossed ({templates} templates x {nouns} nouns)")
            }
        }
    }
}

/// What to build: axes, design, how many prompts per bucket, and the split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptSelection {
    /// Axes to include (each must exist in the prompt set).
    pub axes: Vec<String>,
    /// Prompts sampled per (axis, bucket); a bucket with fewer keeps all.
    /// Use `usize::MAX` for "all"; 0 is rejected.
    pub per_bucket: usize,
    /// Seed of the per-bucket sampling (random design) or of the choice of
    /// templates and nouns (crossed design).
    pub seed: u64,
    /// Share of (descriptor, template) pairs that go to the test split, in `[0, 1]`.
    pub test_fraction: f64,
    /// Drop descriptors and phrases labelled `dispreferred`. HolisticBias
    /// keeps them (they are part of what it measures), so the default is `false`.
    #[serde(default)]
    pub exclude_dispreferred: bool,
    /// How the prompts of each bucket are chosen (serde default: random, see [`PromptDesign`]).
    #[serde(default)]
    pub design: PromptDesign,
}

impl Default for PromptSelection {
    /// `gender_and_sex` (the axis FASP and Attention Pruning report first),
    /// 100 prompts per bucket, seed 0, half of the pairs held out for test,
    /// dispreferred terms kept, random design.
    fn default() -> Self {
        Self {
            axes: vec!["gender_and_sex".to_owned()],
            per_bucket: 100,
            seed: 0,
            test_fraction: 0.5,
            exclude_dispreferred: false,
            design: PromptDesign::Random,
        }
    }
}

/// A prompt set loaded from a directory in the HolisticBias v1.1 format.
#[derive(Debug, Clone)]
pub struct PromptSet {
    dir: PathBuf,
    raw: RawSet,
    hash: String,
}

impl PromptSet {
    /// Loads and validates the four files of `dir`.
    pub fn load(dir: &Path) -> Result<Self, MeasureError> {
        let mut files: [Vec<u8>; 4] = Default::default();
        for (slot, name) in files.iter_mut().zip(FILE_NAMES) {
            *slot = crate::files::read_bytes(&dir.join(name))?;
        }
        let raw = format::parse(dir, &files)?;
        let parts = FILE_NAMES
            .iter()
            .zip(&files)
            .map(|(n, b)| (*n, b.as_slice()));
        let hash = crate::files::sha256_parts(parts);
        Ok(Self {
            dir: dir.to_path_buf(),
            raw,
            hash,
        })
    }

    /// SHA-256 (hex) of the four files, for provenance: for each file in
    /// the fixed order `descriptors.json`, `nouns.json`,
    /// `sentence_templates.json`, `standalone_noun_phrases.json`, its name,
    /// a NUL byte, its length (u64 little-endian) and its bytes are hashed.
    pub fn content_hash(&self) -> String {
        self.hash.clone()
    }

    /// The directory the set was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// All axes (from descriptors and standalone phrases), sorted.
    pub fn axes(&self) -> Vec<String> {
        let from_desc = self.raw.descriptors.keys();
        let set: BTreeSet<&String> = from_desc.chain(self.raw.standalone.keys()).collect();
        set.into_iter().cloned().collect()
    }

    /// Buckets of `axis` that have descriptors, sorted (standalone phrases
    /// add [`NONE_BUCKET`] on top of these).
    pub fn buckets(&self, axis: &str) -> Result<Vec<String>, MeasureError> {
        self.check_axis(axis)?;
        Ok(self
            .raw
            .descriptors
            .get(axis)
            .map(|b| b.keys().cloned().collect())
            .unwrap_or_default())
    }

    /// Number of descriptors of `axis` (all buckets, standalone phrases not counted).
    pub fn descriptor_count(&self, axis: &str) -> Result<usize, MeasureError> {
        self.check_axis(axis)?;
        let buckets = self.raw.descriptors.get(axis);
        Ok(buckets.map(|b| b.values().map(Vec::len).sum()).unwrap_or(0))
    }

    /// Number of standalone noun phrases of `axis`.
    pub fn standalone_count(&self, axis: &str) -> Result<usize, MeasureError> {
        self.check_axis(axis)?;
        Ok(self.raw.standalone.get(axis).map_or(0, Vec::len))
    }

    /// Number of sentence templates.
    pub fn template_count(&self) -> usize {
        self.raw.templates.len()
    }

    /// Every prompt of `axis`, both splits, no sampling, sorted and without
    /// exact duplicates.
    pub fn all_prompts(&self, axis: &str) -> Result<Vec<Prompt>, MeasureError> {
        self.check_axis(axis)?;
        Ok(self.axis_prompts(axis).into_iter().collect())
    }

    /// Builds the prompts of `split` for `sel`, sorted.
    ///
    /// Random design: every prompt of the selected axes whose (descriptor,
    /// template) pair falls in `split` (see [`split_of`]), then per (axis,
    /// bucket) a seeded sample of `per_bucket` prompts (all if fewer).
    /// Crossed design: template block 0 (valid) or 1 (test) of
    /// [`PromptSet::crossed_plan`], every descriptor x those templates x
    /// the chosen nouns.
    pub fn build(&self, sel: &PromptSelection, split: Split) -> Result<Vec<Prompt>, MeasureError> {
        select::check_selection(sel)?;
        match sel.design {
            PromptDesign::Random => self.build_random(sel, split),
            PromptDesign::Crossed { .. } => {
                let plan = self.crossed_plan(sel, 2)?;
                let block = match split {
                    Split::Valid => 0,
                    Split::Test => 1,
                };
                self.build_crossed(sel, &plan.block(block), &plan.nouns)
            }
        }
    }

    /// Sample `index` of `count` pairwise disjoint prompt samples, for
    /// measuring how much the bias moves with the prompts (no two samples
    /// share a prompt; both splits are drawn from).
    ///
    /// Random design: each bucket's prompts (both splits) are shuffled with
    /// the seed and cut into `count` consecutive blocks of
    /// `min(per_bucket, bucket size / count)` prompts; sample `index` is
    /// block `index` of every bucket. Crossed design: template block `index`
    /// of [`PromptSet::crossed_plan`] (so samples 0 and 1 are exactly the
    /// valid and test splits), the same nouns.
    pub fn build_disjoint(
        &self,
        sel: &PromptSelection,
        index: usize,
        count: usize,
    ) -> Result<Vec<Prompt>, MeasureError> {
        select::check_selection(sel)?;
        if index >= count {
            return Err(MeasureError::param(
                "index",
                index,
                &format!("must be below the number of samples ({count})"),
            ));
        }
        match sel.design {
            PromptDesign::Random => {
                let mut out = Vec::new();
                for axis in sel.axes.iter().collect::<BTreeSet<_>>() {
                    self.check_axis(axis)?;
                    let pool = self.axis_prompts(axis).into_iter().filter(|p| keep(sel, p));
                    out.extend(select::disjoint_block(pool, sel, index, count)?);
                }
                out.sort();
                Ok(out)
            }
            PromptDesign::Crossed { .. } => {
                let plan = self.crossed_plan(sel, count)?;
                self.build_crossed(sel, &plan.block(index), &plan.nouns)
            }
        }
    }

    /// The crossed design's seeded choices for `sel` (which must be
    /// crossed): the template permutation and the nouns; `blocks` is how
    /// many disjoint template blocks are needed (2 for valid + test), which
    /// the set must have templates for.
    pub fn crossed_plan(
        &self,
        sel: &PromptSelection,
        blocks: usize,
    ) -> Result<CrossedPlan, MeasureError> {
        select::crossed_plan(&self.raw, sel, blocks)
    }

    fn build_random(
        &self,
        sel: &PromptSelection,
        split: Split,
    ) -> Result<Vec<Prompt>, MeasureError> {
        let axes: BTreeSet<&String> = sel.axes.iter().collect();
        let mut out = Vec::new();
        for axis in axes {
            self.check_axis(axis)?;
            let pool = self.axis_prompts(axis).into_iter().filter(|p| {
                split_of(&p.descriptor, &p.template, sel.test_fraction) == split && keep(sel, p)
            });
            out.extend(select::sample_per_bucket(pool, sel.per_bucket, sel.seed));
        }
        out.sort();
        Ok(out)
    }

    fn build_crossed(
        &self,
        sel: &PromptSelection,
        templates: &[String],
        nouns: &[(String, String)],
    ) -> Result<Vec<Prompt>, MeasureError> {
        let mut out = BTreeSet::new();
        for axis in sel.axes.iter().collect::<BTreeSet<_>>() {
            self.check_axis(axis)?;
            out.extend(select::crossed_prompts(
                &self.raw,
                axis,
                templates,
                nouns,
                sel.exclude_dispreferred,
            ));
        }
        Ok(out.into_iter().collect())
    }

    fn axis_prompts(&self, axis: &str) -> BTreeSet<Prompt> {
        let mut prompts = BTreeSet::new();
        for phrase in phrases::noun_phrases(&self.raw, axis) {
            prompts.extend(phrases::sentences(axis, &phrase, &self.raw.templates));
        }
        prompts
    }

    fn check_axis(&self, axis: &str) -> Result<(), MeasureError> {
        let axes = self.axes();
        if axes.iter().any(|a| a == axis) {
            return Ok(());
        }
        let available = axes
            .iter()
            .map(|a| format!("`{a}`"))
            .collect::<Vec<_>>()
            .join(", ");
        Err(MeasureError::UnknownAxis {
            axis: axis.to_owned(),
            available,
        })
    }
}

/// Whether `p` passes the selection's preference filter.
fn keep(sel: &PromptSelection, p: &Prompt) -> bool {
    !(sel.exclude_dispreferred && p.preference.as_deref() == Some("dispreferred"))
}

#[cfg(test)]
mod tests;
