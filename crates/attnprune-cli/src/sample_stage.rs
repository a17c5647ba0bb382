//! `sample`: evaluate many head masks on the real model and write the sample table.

use crate::common::progress;
use crate::inputs::{prepare, provenance_for, MeasureArgs, ModelArgs, Prepared};
use anyhow::{bail, Context, Result};
use attnprune_artifact::samples::{SampleColumns, SAMPLE_TABLE_KIND, SAMPLE_TABLE_VERSION};
use attnprune_artifact::{SampleRow, SampleTableWriter};
use attnprune_eval::{Evaluator, MaskEvaluation};
use attnprune_lm::{run_on_device, DeviceSpec, LanguageModel, OnDevice};
use attnprune_mask::{draw_random_masks, HeadId, HeadLayout, HeadMask, RandomMaskSpec};
use attnprune_measure::prompts::Split;
use burn::tensor::backend::Backend;
use clap::Parser;
use std::path::PathBuf;
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
    /// Number of random masks (besides the unpruned and single-head ones).
    #[arg(long, default_value_t = 64, value_name = "N")]
    num_masks: usize,
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
    /// Masks evaluated at the same time, each by its own worker thread sharing one copy of the
    /// model. 0 = one per CPU core on `--device cpu` (much of a forward pass runs on one
    /// core, so a single worker leaves the other cores idle), 1 on a GPU.
    /// The rows do not depend on it.
    #[arg(long, default_value_t = 0, value_name = "N")]
    workers: usize,
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
        let parsed = s.split_once('/').and_then(|(i, n)| Some((i.parse().ok()?, n.parse().ok()?)));
        match parsed {
            Some((index, count)) if count > 0 && index < count => Ok(Self { index, count }),
            _ => Err(format!("`{s}` is not a shard: use I/N with 0 <= I < N, e.g. 0/4")),
        }
    }
}

/// The run's masks in order, with how each was chosen.
pub fn mask_plan(layout: HeadLayout, num_random: usize, max_pruned: usize, seed: u64, single_head: bool) -> Result<Vec<(HeadMask, &'static str)>> {
    let mut plan = vec![(HeadMask::unpruned(layout), "unpruned")];
    if single_head {
        for i in 0..layout.total() {
            plan.push((HeadMask::from_pruned(layout, &[layout.head_at(i)])?, "single-head"));
        }
    }
    let spec = RandomMaskSpec { layout, max_pruned, seed };
    plan.extend(draw_random_masks(&spec, num_random)?.into_iter().map(|m| (m, "random")));
    Ok(plan)
}

/// Runs the stage.
pub fn run(args: SampleArgs) -> Result<()> {
    if args.measure.per_bucket == 0 || args.flush_every == 0 {
        bail!("--per-bucket and --flush-every must be at least 1");
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
        let mut provenance = provenance_for(SAMPLE_TABLE_KIND, SAMPLE_TABLE_VERSION, "sample", &prepared, &args.measure);
        provenance.seed = Some(args.seed);
        provenance.settings.insert("masks".into(), serde_json::json!({
            "num_masks": args.num_masks, "max_pruned": args.max_pruned, "single_head": args.single_head,
        }));
        let lm = LanguageModel::<B>::from_files(prepared.model_files, &device)?;
        let workers = match (args.workers, args.model.device) {
            (0, DeviceSpec::Cpu) => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            (0, _) => 1,
            (n, _) => n,
        };
        let mut evaluators = (0..workers)
            .map(|_| Evaluator::new(&lm, prepared.data.clone(), prepared.settings.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        let columns = SampleColumns { axes: evaluators[0].axes().to_vec(), buckets: evaluators[0].buckets() };
        let plan = mask_plan(layout, args.num_masks, args.max_pruned, args.seed, args.single_head)?;
        let shard = args.shard.unwrap_or(Shard { index: 0, count: 1 });
        let (mut writer, done) = SampleTableWriter::open(&args.out, provenance, layout, columns.clone(), args.resume)?;
        let done: std::collections::BTreeSet<u64> = done.iter().map(|r| r.mask_id).collect();
        let todo: Vec<(u64, &(HeadMask, &str))> = plan
            .iter()
            .enumerate()
            .map(|(i, m)| (i as u64, m))
            .filter(|(i, _)| *i as usize % shard.count == shard.index && !done.contains(i))
            .collect();
        log::info!("{} masks to evaluate ({} already done) on {} with {workers} worker(s)", todo.len(), done.len(), args.model.device);
        let bar = progress(todo.len() as u64, "sample");
        let mut pending = Vec::new();
        // Each round gives one mask to each worker; rows are kept in mask order.
        for round in todo.chunks(workers) {
            let evals: Vec<Result<MaskEvaluation>> = std::thread::scope(|scope| {
                let handles: Vec<_> = round
                    .iter()
                    .zip(evaluators.iter_mut())
                    .map(|((id, (mask, _)), evaluator)| scope.spawn(move || evaluator.evaluate(mask).with_context(|| format!("evaluating mask {id}"))))
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a sample worker panicked")))).collect()
            });
            for ((id, (mask, origin)), eval) in round.iter().zip(evals) {
                let eval = eval?;
                bar.set_message(format!("ppl {:.2}", eval.perplexity));
                pending.push(to_row(*id, origin, mask, &eval, &columns));
                bar.inc(1);
            }
            if pending.len() >= args.flush_every {
                writer.append(&pending)?;
                pending.clear();
            }
        }
        writer.append(&pending)?;
        bar.finish_and_clear();
        let table = writer.finish()?;
        log::info!("wrote {} rows to {}", table.rows.len(), args.out.display());
        Ok(())
    }
}

/// A sample-table row from an evaluation.
pub fn to_row(id: u64, origin: &str, mask: &HeadMask, eval: &MaskEvaluation, columns: &SampleColumns) -> SampleRow {
    let bias = columns.axes.iter().map(|a| eval.axes.iter().find(|x| &x.axis == a).map(|x| x.bias).unwrap_or(f64::NAN)).collect();
    let bucket_means = columns
        .buckets
        .iter()
        .map(|(a, b)| {
            let axis = eval.axes.iter().find(|x| &x.axis == a);
            axis.and_then(|x| x.buckets.iter().find(|s| &s.bucket == b)).map(|s| s.mean).unwrap_or(f64::NAN)
        })
        .collect();
    SampleRow {
        mask_id: id,
        origin: origin.to_string(),
        mask: mask.clone(),
        bias,
        bucket_means,
        perplexity: eval.perplexity,
        eval_seconds: eval.seconds,
    }
}

/// Heads of a single-head knockout row, if it is one.
pub fn single_head_of(mask: &HeadMask) -> Option<HeadId> {
    let heads = mask.pruned_heads();
    (heads.len() == 1).then(|| heads[0])
}
