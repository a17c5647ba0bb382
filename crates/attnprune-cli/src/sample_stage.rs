//! `sample`: evaluate many head masks on the real model and write the sample table.

use crate::common::progress;
use crate::evaluation::{columns_of, to_row};
use crate::inputs::{load_model, prepare, provenance_for, MeasureArgs, ModelArgs, Prepared};
use anyhow::{bail, Context, Result};
use attnprune_artifact::samples::{read_sample_table, SAMPLE_TABLE_KIND, SAMPLE_TABLE_VERSION};
use attnprune_artifact::{Provenance, SampleTableWriter};
use attnprune_eval::pool::{PoolArgs, WorkerPool};
use attnprune_lm::{run_on_device, OnDevice};
use attnprune_mask::{
    draw_random_masks, CandidateList, HeadLayout, HeadMask, MaskFile, RandomMaskSpec,
};
use attnprune_measure::prompts::Split;
use burn::tensor::backend::Backend;
use clap::Parser;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Draw random head masks, measure bias and perplexity of the model with each
/// mask's heads switched off, and write one Parquet row per mask.
///
/// The masks are: the unpruned model (mask 0), optionally every single-head
/// knockout (--single-head: the scores FASP needs, and good samples for the
/// surrogates), then --num-masks random masks as in the paper: the number of
/// pruned heads uniform in [0, --max-pruned], then that many distinct heads.
/// Mask i depends only on --seed and i, so a run can be split across machines
/// with --shard and the shard tables together equal the unsharded table.
///
/// --masks FILE measures given masks instead (a candidate list from `anneal
/// --out-candidates`, a mask file, or the `mask` column of a sample table):
/// mask 0 is the unpruned model, then the file's masks in order as masks
/// 1, 2, ... (origin `proposed`), with the same measurement, provenance,
/// --shard, --resume and workers; the rows equal those of the same masks
/// drawn by seed.
///
/// Rows are written as they finish (into OUT.parts/); a killed run loses at
/// most the masks in flight and --resume continues it.
#[derive(Debug, Parser)]
#[command(name = "sample", version, verbatim_doc_comment)]
pub struct SampleArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    measure: MeasureArgs,
    /// The sample table to write (Parquet).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Number of random masks (besides the unpruned and single-head ones); default 64,
    /// or 0 with --masks.
    #[arg(long, value_name = "N")]
    num_masks: Option<usize>,
    /// Measure these masks (after the unpruned one): a candidate list (`anneal
    /// --out-candidates`), a mask file (JSON), or a sample table (`.parquet`, its `mask` column).
    #[arg(long, value_name = "FILE")]
    masks: Option<PathBuf>,
    /// Most heads a random mask prunes.
    #[arg(long, default_value_t = 40, value_name = "K")]
    max_pruned: usize,
    /// Seed of the random masks.
    #[arg(long, default_value_t = 0, value_name = "SEED")]
    seed: u64,
    /// Also evaluate every single-head knockout (layers x heads masks).
    #[arg(long)]
    single_head: bool,
    /// Evaluate only shard I of N (masks whose index is I modulo N), e.g. `0/4`.
    #[arg(long, value_name = "I/N")]
    shard: Option<Shard>,
    /// Continue an interrupted run from the rows already in OUT.parts/.
    #[arg(long)]
    resume: bool,
    /// Write finished rows to disk after this many masks.
    #[arg(long, default_value_t = 4, value_name = "N")]
    flush_every: usize,
    /// Worker threads and masks per pass (the rows do not depend on them).
    #[command(flatten)]
    pool: PoolArgs,
}

/// `--shard I/N`: this machine's share of the masks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard's index, `< count`.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parsed = s
            .split_once('/')
            .and_then(|(i, n)| Some((i.parse().ok()?, n.parse().ok()?)));
        match parsed {
            Some((index, count)) if count > 0 && index < count => Ok(Self { index, count }),
            _ => Err(format!(
                "`{s}` is not a shard: use I/N with 0 <= I < N, e.g. 0/4"
            )),
        }
    }
}

/// Masks read from `path`: a candidate list, a mask file, or a sample table's `mask` column,
/// all checked against the model's `layout`.
pub fn read_mask_list(path: &Path, layout: HeadLayout) -> Result<Vec<HeadMask>> {
    let masks = if path.extension().is_some_and(|e| e == "parquet") {
        let table = read_sample_table(path)?;
        layout
            .check_matches(&table.layout)
            .with_context(|| format!("`{}` is for another model", path.display()))?;
        table.rows.into_iter().map(|r| r.mask).collect()
    } else {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read `{}`", path.display()))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("`{}` is not JSON", path.display()))?;
        if value.get("candidates").is_some() {
            let list = CandidateList::from_json(&text, &path.display().to_string())?;
            layout
                .check_matches(&list.layout())
                .with_context(|| format!("`{}` is for another model", path.display()))?;
            list.masks()?
        } else {
            let file = MaskFile::from_json(&text, &path.display().to_string())?;
            vec![file
                .to_mask_for(layout)
                .with_context(|| format!("`{}` is for another model", path.display()))?]
        }
    };
    Ok(masks)
}

/// The run's masks in order, with how each was chosen.
pub fn mask_plan(
    layout: HeadLayout,
    num_random: usize,
    max_pruned: usize,
    seed: u64,
    single_head: bool,
) -> Result<Vec<(HeadMask, &'static str)>> {
    let mut plan = vec![(HeadMask::unpruned(layout), "unpruned")];
    if single_head {
        for i in 0..layout.total() {
            plan.push((
                HeadMask::from_pruned(layout, &[layout.head_at(i)])?,
                "single-head",
            ));
        }
    }
    if num_random > 0 {
        let spec = RandomMaskSpec {
            layout,
            max_pruned,
            seed,
        };
        plan.extend(
            draw_random_masks(&spec, num_random)?
                .into_iter()
                .map(|m| (m, "random")),
        );
    }
    Ok(plan)
}

/// Runs the stage.
pub fn run(args: SampleArgs) -> Result<()> {
    if args.measure.per_bucket == 0 || args.flush_every == 0 {
        bail!("--per-bucket and --flush-every must be at least 1");
    }
    if args.masks.is_some() && args.single_head {
        bail!("--masks and --single-head do not go together: measure the knockouts in their own table");
    }
    let prepared = prepare(&args.model, &args.measure, Split::Valid)?;
    let device = args.model.device;
    run_on_device(device, SampleTask { args, prepared })?
}

struct SampleTask {
    args: SampleArgs,
    prepared: Prepared,
}

impl OnDevice for SampleTask {
    type Output = Result<()>;

    fn run<B: Backend>(self, device: B::Device) -> Result<()> {
        let Self { args, prepared } = self;
        let layout = prepared.model_files.config.head_layout();
        let num_random = args
            .num_masks
            .unwrap_or(if args.masks.is_some() { 0 } else { 64 });
        let mut plan = mask_plan(
            layout,
            num_random,
            args.max_pruned,
            args.seed,
            args.single_head,
        )?;
        let mut provenance = provenance_for(
            SAMPLE_TABLE_KIND,
            SAMPLE_TABLE_VERSION,
            "sample",
            &prepared,
            &args.measure,
        );
        provenance.seed = Some(args.seed);
        provenance.settings.insert("masks".into(), serde_json::json!({
            "num_masks": num_random, "max_pruned": args.max_pruned, "single_head": args.single_head,
        }));
        if let Some(path) = &args.masks {
            let given = read_mask_list(path, layout)?;
            log::info!("{} masks from `{}`", given.len(), path.display());
            plan.extend(given.into_iter().map(|m| (m, "proposed")));
            provenance.inputs.push(Provenance::fingerprint_of(path)?);
        }
        let lm = load_model::<B>(
            prepared.model_files,
            prepared.precision,
            prepared.attention,
            prepared.gpu_kernels,
            &device,
        )?;
        let workers = args.pool.workers(args.model.device);
        let per_pass = args.pool.masks_per_pass(args.model.device);
        let mut pool = WorkerPool::new(&lm, &prepared.data, &prepared.settings, workers, per_pass)?;
        let columns = columns_of(pool.first());
        let shard = args.shard.unwrap_or(Shard { index: 0, count: 1 });
        let (mut writer, done) =
            SampleTableWriter::open(&args.out, provenance, layout, columns.clone(), args.resume)?;
        let done: std::collections::BTreeSet<u64> = done.iter().map(|r| r.mask_id).collect();
        let todo: Vec<(u64, &(HeadMask, &str))> = plan
            .iter()
            .enumerate()
            .map(|(i, m)| (i as u64, m))
            .filter(|(i, _)| *i as usize % shard.count == shard.index && !done.contains(i))
            .collect();
        log::info!(
            "{} masks to evaluate ({} already done) on {} with {workers} worker(s), {per_pass} mask(s) per pass",
            todo.len(),
            done.len(),
            args.model.device
        );
        let mut bar = progress(todo.len() as u64, "sample");
        let mut pending = Vec::new();
        // Workers take groups of masks as they are free; rows are written as they finish
        // (the table is sorted by mask id when it is complete).
        let ids: Vec<(u64, &HeadMask)> = todo.iter().map(|(id, (mask, _))| (*id, mask)).collect();
        let origins: std::collections::HashMap<u64, &(HeadMask, &str)> =
            todo.iter().map(|(id, m)| (*id, *m)).collect();
        pool.evaluate_all(&ids, |id, eval| -> Result<()> {
            let (mask, origin) = origins.get(&id).context("an unplanned mask id")?;
            bar.set_message(format!("ppl {:.2}", eval.perplexity));
            pending.push(to_row(id, origin, mask, &eval, &columns));
            bar.inc(1);
            if pending.len() >= args.flush_every {
                writer.append(&pending)?;
                pending.clear();
            }
            Ok(())
        })?;
        writer.append(&pending)?;
        bar.finish_and_clear();
        let table = writer.finish()?;
        log::info!("wrote {} rows to {}", table.rows.len(), args.out.display());
        Ok(())
    }
}
