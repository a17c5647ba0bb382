//! `apply`: measure the model with a head mask on held-out prompts and text,
//! report before/after, and export the pruned model.

use crate::inputs::{load_model, prepare, MeasureArgs, ModelArgs, Prepared};
use anyhow::{bail, Context, Result};
use attnprune_artifact::{write_atomic_bytes, Provenance};
use attnprune_eval::pool::{worker_count, WorkerPool};
use attnprune_eval::{Evaluator, MaskEvaluation};
use attnprune_lm::export::{export_hf_dir, zero_pruned_heads};
use attnprune_lm::{run_on_device, OnDevice};
use attnprune_mask::{HeadMask, MaskFile};
use attnprune_measure::bias::AxisBias;
use attnprune_measure::prompts::Split;
use attnprune_report::apply::{
    AppliedMask, ApplyReport, AxisChange, PerplexityChange, ReplyPair, ScaleChange,
    APPLY_REPORT_KIND, APPLY_REPORT_VERSION,
};
use attnprune_select::{paired_bias_change, paired_ppl_change, Interval};
use burn::tensor::backend::Backend;
use clap::{Parser, ValueEnum};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Run the real model with a head mask and report bias (per axis and bucket,
/// with bootstrap intervals) and perplexity, unpruned and pruned side by side,
/// on the TEST split of the prompts (never seen by sample/anneal/fasp).
/// Every change comes with a PAIRED 95% bootstrap interval: the bias change
/// resamples prompts within buckets (the same prompts on both sides, on the
/// probability and on the log-odds scale), the perplexity change resamples
/// windows (the same windows on both sides).
///
/// Writes --out (JSON, for machines) and the same numbers as Markdown next to
/// it (--out with extension .md). With --export DIR, also writes the pruned
/// model as an HF checkpoint folder: the pruned heads are ZEROED (their o_proj
/// input columns and q_proj rows set to 0), not removed, so the export loads
/// anywhere a Llama checkpoint loads and reproduces the masked outputs.
///
/// Quick perplexity check:
///   apply --model M --mask mask.json --metrics ppl --ppl-text FILE \
///         --ppl-window 128 --ppl-max-windows 8 --out report.json
#[derive(Debug, Parser)]
#[command(name = "apply", version, verbatim_doc_comment)]
pub struct ApplyArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    measure: MeasureArgs,
    /// The head mask to apply (from `anneal`, `fasp`, or written by hand).
    #[arg(long, value_name = "FILE")]
    mask: PathBuf,
    /// What to measure, comma-separated.
    #[arg(
        long,
        default_value = "bias,ppl",
        value_delimiter = ',',
        value_name = "METRICS"
    )]
    metrics: Vec<Metric>,
    /// Which prompt split to report on.
    #[arg(long, default_value = "test", value_name = "SPLIT")]
    split: SplitArg,
    /// The JSON report to write (a Markdown twin is written beside it).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Also export the pruned model (HF folder: config.json, model.safetensors, tokenizer.json).
    #[arg(long, value_name = "DIR")]
    export: Option<PathBuf>,
    /// Bootstrap resamples of the paired intervals.
    #[arg(long, default_value_t = 2000, value_name = "N")]
    interval_resamples: usize,
    /// Measure the unpruned and the pruned model at the same time (2 workers sharing the
    /// model; 0 = as many as CPU cores, at most 2, and 1 on a GPU; 1 = both masks in the same
    /// forward calls, multi-mask batching).
    #[arg(long, default_value_t = 0, value_name = "N")]
    workers: usize,
}

/// A measurement `apply` can make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Metric {
    /// Bias per axis from the prompts.
    Bias,
    /// Perplexity on the utility text.
    Ppl,
}

/// A prompt split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SplitArg {
    /// The held-out prompts.
    Test,
    /// The prompts the search saw.
    Valid,
}

/// Reads a mask file and checks it against the model (shape, and the model
/// fingerprint recorded by `anneal`/`fasp`, naming both files on a mismatch).
pub fn read_mask_for(
    path: &Path,
    prepared: &Prepared,
    model_path: &Path,
) -> Result<(HeadMask, MaskFile)> {
    let file = MaskFile::read(path)?;
    let mask = file
        .to_mask_for(prepared.model_files.config.head_layout())
        .with_context(|| {
            format!(
                "mask `{}` does not fit model `{}`",
                path.display(),
                model_path.display()
            )
        })?;
    if let Some(p) = file.extra.get("provenance") {
        let recorded = p
            .pointer("/model/sha256")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !recorded.is_empty() && recorded != prepared.model.sha256 {
            bail!(
                "model mismatch: `{}` was made for a model with sha256 {recorded} but `{}` has sha256 {}",
                path.display(),
                model_path.display(),
                prepared.model.sha256
            );
        }
    }
    Ok((mask, file))
}

/// Runs the stage.
pub fn run(args: ApplyArgs) -> Result<()> {
    let split = match args.split {
        SplitArg::Test => Split::Test,
        SplitArg::Valid => Split::Valid,
    };
    let prepared = prepare(&args.model, &args.measure, split)?;
    let (mask, mask_file) = read_mask_for(&args.mask, &prepared, &args.model.model)?;
    if let Some(dir) = &args.export {
        let mut weights = prepared.model_files.weights.clone();
        zero_pruned_heads(&mut weights, &prepared.model_files.config, &mask)?;
        export_hf_dir(
            dir,
            &prepared.model_files.config,
            &weights,
            &prepared.model_files.tokenizer,
        )?;
        log::info!("exported the pruned model to {}", dir.display());
    }
    let device = args.model.device;
    run_on_device(
        device,
        ApplyTask {
            args,
            prepared,
            mask,
            mask_file,
        },
    )?
}

struct ApplyTask {
    args: ApplyArgs,
    prepared: Prepared,
    mask: HeadMask,
    mask_file: MaskFile,
}

impl OnDevice for ApplyTask {
    type Output = Result<()>;

    fn run<B: Backend>(self, device: B::Device) -> Result<()> {
        let Self {
            args,
            prepared,
            mask,
            mask_file,
        } = self;
        let mut provenance = crate::inputs::provenance_for(
            APPLY_REPORT_KIND,
            APPLY_REPORT_VERSION,
            "apply",
            &prepared,
            &args.measure,
        );
        provenance.inputs = vec![Provenance::fingerprint_of(&args.mask)?];
        let lm = load_model::<B>(
            prepared.model_files,
            prepared.precision,
            prepared.attention,
            prepared.gpu_kernels,
            &device,
        )?;
        let labels: Vec<(String, String)> = prepared
            .data
            .prompts
            .iter()
            .map(|p| (p.axis.clone(), p.bucket.clone()))
            .collect();
        let unpruned = HeadMask::unpruned(mask.layout());
        let workers = worker_count(args.workers, args.model.device).min(2);
        log::info!("measuring the unpruned and the pruned model ({} heads pruned) with {workers} worker(s)", mask.num_pruned());
        let results = if args.metrics.contains(&Metric::Bias) {
            // Two workers: one mask each, at the same time; one worker: both masks in the
            // same forward calls (multi-mask batching).
            let per_pass = 2 / workers;
            let mut pool =
                WorkerPool::new(&lm, &prepared.data, &prepared.settings, workers, per_pass)?;
            let mut evals = pool
                .evaluate_many(&[(0, &unpruned), (1, &mask)])?
                .into_iter();
            let mut next = || -> Result<Measured> {
                measured_bias(evals.next().context("no evaluation")?, &args.metrics)
            };
            vec![next()?, next()?]
        } else {
            let mut evaluator = Evaluator::new(&lm, prepared.data, prepared.settings)?;
            vec![
                measure_ppl(&mut evaluator, &unpruned)?,
                measure_ppl(&mut evaluator, &mask)?,
            ]
        };
        let report = build_report(
            &args,
            &provenance,
            (&mask, &mask_file),
            (&results[0], &results[1]),
            &labels,
        )?;
        write_atomic_bytes(&args.out, report.to_json().as_bytes())?;
        write_atomic_bytes(&args.out.with_extension("md"), report.markdown().as_bytes())?;
        log::info!(
            "wrote {} and {}",
            args.out.display(),
            args.out.with_extension("md").display()
        );
        Ok(())
    }
}

/// What was measured for one mask: bias (if asked) and perplexity (if asked).
pub struct Measured {
    /// Full evaluation when bias was measured.
    pub bias: Option<MaskEvaluation>,
    /// Perplexity when asked.
    pub perplexity: Option<f64>,
    /// Mean NLL per token of each window, when perplexity was asked.
    pub window_nll: Vec<f64>,
}

fn measured_bias(eval: MaskEvaluation, metrics: &[Metric]) -> Result<Measured> {
    let with_ppl = metrics.contains(&Metric::Ppl);
    let ppl = with_ppl.then_some(eval.perplexity);
    let windows = if with_ppl {
        eval.window_nll.clone()
    } else {
        Vec::new()
    };
    Ok(Measured {
        bias: Some(eval),
        perplexity: ppl,
        window_nll: windows,
    })
}

/// Perplexity only (no bias asked): the windows, no prompts.
fn measure_ppl<B: Backend>(evaluator: &mut Evaluator<'_, B>, mask: &HeadMask) -> Result<Measured> {
    let sums = evaluator.window_nll_sums(mask)?;
    let mut total = attnprune_lm::perplexity::NllSum::default();
    sums.iter().for_each(|w| total.add(*w));
    Ok(Measured {
        bias: None,
        perplexity: Some(total.perplexity()),
        window_nll: attnprune_eval::window_means(&sums),
    })
}

/// The paired bias changes of one axis (probability and log-odds scale).
fn paired_axis(
    args: &ApplyArgs,
    axis: &str,
    before: &MaskEvaluation,
    after: &MaskEvaluation,
    labels: &[(String, String)],
) -> Result<(Interval, Interval)> {
    let idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i].0 == axis).collect();
    let names: Vec<&str> = idx.iter().map(|&i| labels[i].1.as_str()).collect();
    let pick = |v: &[f64]| idx.iter().map(|&i| v[i]).collect::<Vec<f64>>();
    let logit = |v: &[f64]| {
        v.iter()
            .map(|&s| attnprune_eval::logit(s))
            .collect::<Vec<f64>>()
    };
    let prob = paired_bias_change(
        &names,
        &pick(&before.scores),
        &pick(&after.scores),
        args.interval_resamples,
        0.95,
        0,
    )?;
    let log_odds = paired_bias_change(
        &names,
        &pick(&logit(&before.scores)),
        &pick(&logit(&after.scores)),
        args.interval_resamples,
        0.95,
        0,
    )?;
    Ok((prob, log_odds))
}

/// Perplexity before and after with the paired interval over windows, when both were measured.
fn perplexity_change(
    args: &ApplyArgs,
    before: &Measured,
    after: &Measured,
) -> Result<Option<PerplexityChange>> {
    let (Some(a), Some(b)) = (before.perplexity, after.perplexity) else {
        return Ok(None);
    };
    let paired_change = paired_ppl_change(
        &before.window_nll,
        &after.window_nll,
        args.interval_resamples,
        0.95,
        0,
    )?;
    Ok(Some(PerplexityChange {
        unpruned: a,
        pruned: b,
        relative_change: b / a - 1.0,
        paired_change,
        windows: before.window_nll.len(),
    }))
}

fn build_report(
    args: &ApplyArgs,
    provenance: &Provenance,
    (mask, mask_file): (&HeadMask, &MaskFile),
    (before, after): (&Measured, &Measured),
    labels: &[(String, String)],
) -> Result<ApplyReport> {
    let budget = mask_file
        .extra
        .get("perplexity_budget")
        .and_then(|b| b.get("relative"))
        .and_then(Value::as_f64);
    let mut report = ApplyReport {
        schema_version: APPLY_REPORT_VERSION,
        mask: AppliedMask {
            file: args.mask.display().to_string(),
            num_pruned: mask.num_pruned(),
            pruned: mask
                .pruned_heads()
                .iter()
                .map(|h| [h.layer, h.head])
                .collect(),
            selection: mask_file.extra.get("selection").cloned(),
            perplexity_budget: budget,
        },
        split: format!("{:?}", args.split).to_lowercase(),
        perplexity: None,
        bias: BTreeMap::new(),
        num_prompts: None,
        samples: Vec::new(),
        provenance: serde_json::to_value(provenance)?,
    };
    report.perplexity = perplexity_change(args, before, after)?;
    if let (Some(a), Some(b)) = (&before.bias, &after.bias) {
        for (((x, y), lx), ly) in a
            .axes
            .iter()
            .zip(&b.axes)
            .zip(&a.logit_axes)
            .zip(&b.logit_axes)
        {
            let reduction = |u: f64, p: f64| if u > 0.0 { 1.0 - p / u } else { 0.0 };
            let (prob, log_odds) = paired_axis(args, &x.axis, a, b, labels)?;
            let scale = |u: &AxisBias, p: &AxisBias, paired_change| ScaleChange {
                unpruned: u.clone(),
                pruned: p.clone(),
                relative_reduction: reduction(u.bias, p.bias),
                paired_change,
            };
            report.bias.insert(
                x.axis.clone(),
                AxisChange::new(scale(x, y, prob), scale(lx, ly, log_odds)),
            );
        }
        report.num_prompts = Some(a.scores.len());
        report.samples = a
            .replies
            .iter()
            .zip(&b.replies)
            .take(5)
            .map(|(x, y)| ReplyPair {
                unpruned: x.clone(),
                pruned: y.clone(),
            })
            .collect();
    }
    Ok(report)
}
