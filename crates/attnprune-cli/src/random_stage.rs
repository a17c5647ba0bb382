//! `random-masks`: the random baseline, masks pruning as many heads as a given mask.

use anyhow::{bail, Context, Result};
use attnprune_artifact::{write_atomic_bytes, Provenance};
use attnprune_mask::{draw_masks_with_count, HeadMask, MaskFile, MASK_KIND, MASK_VERSION};
use clap::Parser;
use std::path::PathBuf;

/// The random baseline: for each seed, a mask that prunes exactly as many
/// heads as the --like mask (e.g. anneal's ap-mask.json), drawn uniformly
/// among all heads. Mask files carry provenance derived from the --like mask
/// (same model, so `apply` checks it) with the seed.
///
/// One mask per seed; with several seeds, --out must contain `{seed}`:
///   random-masks --like ap-mask.json --seeds 0,1,2,3,4 --out 'random-{seed}-mask.json'
/// The mask for a seed depends only on the seed and the number of heads.
#[derive(Debug, Parser)]
#[command(name = "random-masks", version, verbatim_doc_comment)]
pub struct RandomArgs {
    /// The mask whose number of pruned heads (and model) the random masks copy.
    #[arg(long, value_name = "FILE")]
    like: PathBuf,
    /// Seeds, comma-separated: one mask per seed.
    #[arg(long, default_value = "0", value_delimiter = ',', value_name = "SEEDS")]
    seeds: Vec<u64>,
    /// The mask file to write; `{seed}` is replaced by the seed.
    #[arg(long, value_name = "FILE")]
    out: String,
}

/// The random mask of `seed` with `num_pruned` heads, for the layout of `like`.
pub fn random_mask_like(like: &HeadMask, seed: u64) -> Result<HeadMask> {
    let mut masks = draw_masks_with_count(like.layout(), like.num_pruned(), seed, 1)?;
    masks.pop().context("no mask drawn")
}

/// Runs the stage.
pub fn run(args: RandomArgs) -> Result<()> {
    if args.seeds.len() > 1 && !args.out.contains("{seed}") {
        bail!(
            "--out `{}` has no `{{seed}}` but {} seeds were given: each seed needs its own file",
            args.out,
            args.seeds.len()
        );
    }
    let like_file = MaskFile::read(&args.like)?;
    let like = like_file.to_mask()?;
    if like.num_pruned() == 0 {
        log::warn!(
            "`{}` prunes no head: the random masks prune none either",
            args.like.display()
        );
    }
    let parent = match like_file.extra.get("provenance") {
        Some(p) => Some(
            serde_json::from_value::<Provenance>(p.clone()).with_context(|| {
                format!("`{}`: its provenance is not valid", args.like.display())
            })?,
        ),
        None => None,
    };
    let like_fp = Provenance::fingerprint_of(&args.like)?;
    for &seed in &args.seeds {
        let mask = random_mask_like(&like, seed)?;
        let mut provenance = match &parent {
            Some(p) => Provenance::derived(
                MASK_KIND,
                MASK_VERSION,
                "random-masks",
                crate::common::command_line(),
                p,
            ),
            None => {
                let mut p = Provenance::new(
                    MASK_KIND,
                    MASK_VERSION,
                    "random-masks",
                    crate::common::command_line(),
                );
                p.layout = Some(like.layout());
                p
            }
        };
        provenance.seed = Some(seed);
        provenance.inputs = vec![like_fp.clone()];
        let mut file = MaskFile::from_mask(&mask);
        file.extra
            .insert("method".into(), serde_json::json!("random"));
        file.extra.insert("seed".into(), serde_json::json!(seed));
        file.extra.insert(
            "like".into(),
            serde_json::json!(args.like.display().to_string()),
        );
        file.extra
            .insert("provenance".into(), serde_json::to_value(&provenance)?);
        let out = PathBuf::from(args.out.replace("{seed}", &seed.to_string()));
        write_atomic_bytes(&out, file.to_json().as_bytes())?;
        log::info!(
            "seed {seed}: {} random heads -> {}",
            mask.num_pruned(),
            out.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use attnprune_mask::{HeadId, HeadLayout};

    #[test]
    fn random_masks_copy_the_count_and_depend_on_the_seed() {
        let layout = HeadLayout::new(30, 9);
        let heads: Vec<HeadId> = (0..12)
            .map(|i| HeadId {
                layer: i,
                head: i % 9,
            })
            .collect();
        let like = HeadMask::from_pruned(layout, &heads).unwrap();
        let a = random_mask_like(&like, 0).unwrap();
        let b = random_mask_like(&like, 1).unwrap();
        assert_eq!((a.num_pruned(), b.num_pruned()), (12, 12));
        assert_ne!(a, b);
        assert_eq!(a, random_mask_like(&like, 0).unwrap());
    }
}
