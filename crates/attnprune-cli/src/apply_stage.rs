//! `apply`: measure the model with a head mask on held-out prompts and text,
//! report before/after, and export the pruned model.

use crate::inputs::{prepare, MeasureArgs, ModelArgs, Prepared};
use anyhow::{bail, Context, Result};
use attnprune_artifact::{write_atomic_bytes, Provenance};
use attnprune_eval::{Evaluator, MaskEvaluation};
use attnprune_lm::export::{export_hf_dir, zero_pruned_heads};
use attnprune_lm::{run_on_device, LanguageModel, OnDevice};
use attnprune_mask::{HeadMask, MaskFile};
use attnprune_measure::prompts::Split;
use burn::tensor::backend::Backend;
use clap::{Parser, ValueEnum};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Run the real model with a head mask and report bias (per axis and bucket,
/// with bootstrap intervals) and perplexity, unpruned and pruned side by side,
/// on the TEST split of the prompts (never seen by sample/anneal/fasp).
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
    #[arg(long, default_value = "bias,ppl", value_delimiter = ',', value_name = "METRICS")]
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
pub fn read_mask_for(path: &Path, prepared: &Prepared, model_path: &Path) -> Result<HeadMask> {
    let file = MaskFile::read(path)?;
    let mask = file.to_mask_for(prepared.model_files.config.head_layout()).with_context(|| format!("mask `{}` does not fit model `{}`", path.display(), model_path.display()))?;
    if let Some(p) = file.extra.get("provenance") {
        let recorded = p.pointer("/model/sha256").and_then(Value::as_str).unwrap_or("");
        if !recorded.is_empty() && recorded != prepared.model.sha256 {
            bail!(
                "model mismatch: `{}` was made for a model with sha256 {recorded} but `{}` has sha256 {}",
                path.display(),
                model_path.display(),
                prepared.model.sha256
            );
        }
    }
    Ok(mask)
}

/// Runs the stage.
pub fn run(args: ApplyArgs) -> Result<()> {
    let split = match args.split {
        SplitArg::Test => Split::Test,
        SplitArg::Valid => Split::Valid,
    };
    let prepared = prepare(&args.model, &args.measure, split)?;
    let mask = read_mask_for(&args.mask, &prepared, &args.model.model)?;
    if let Some(dir) = &args.export {
        let mut weights = prepared.model_files.weights.clone();
        zero_pruned_heads(&mut weights, &prepared.model_files.config, &mask)?;
        export_hf_dir(dir, &prepared.model_files.config, &weights, &prepared.model_files.tokenizer)?;
        log::info!("exported the pruned model to {}", dir.display());
    }
    let device = args.model.device;
    run_on_device(device, ApplyTask { args, prepared, mask })?
}

struct ApplyTask {
    args: ApplyArgs,
    prepared: Prepared,
    mask: HeadMask,
}

impl OnDevice for ApplyTask {
    type Output = Result<()>;

    fn run<B: Backend>(self, device: B::Device) -> Result<()> {
        let Self { args, prepared, mask } = self;
        let mut provenance = crate::inputs::provenance_for("apply-report", 1, "apply", &prepared, &args.measure);
        provenance.inputs = vec![Provenance::fingerprint_of(&args.mask)?];
        let lm = LanguageModel::<B>::from_files(prepared.model_files, &device)?;
        let mut evaluator = Evaluator::new(&lm, prepared.data, prepared.settings)?;
        let unpruned = HeadMask::unpruned(mask.layout());
        let mut results = Vec::new();
        for (name, m) in [("unpruned", &unpruned), ("pruned", &mask)] {
            log::info!("measuring the {name} model ({} heads pruned)", m.num_pruned());
            results.push(measure(&mut evaluator, m, &args.metrics)?);
        }
        let report = build_report(&args, &provenance, &mask, &results[0], &results[1]);
        write_atomic_bytes(&args.out, serde_json::to_string_pretty(&report)?.as_bytes())?;
        write_atomic_bytes(&args.out.with_extension("md"), markdown(&report).as_bytes())?;
        log::info!("wrote {} and {}", args.out.display(), args.out.with_extension("md").display());
        Ok(())
    }
}

/// What was measured for one mask: bias (if asked) and perplexity (if asked).
pub struct Measured {
    /// Full evaluation when bias was measured.
    pub bias: Option<MaskEvaluation>,
    /// Perplexity when asked.
    pub perplexity: Option<f64>,
}

fn measure<B: Backend>(evaluator: &mut Evaluator<'_, B>, mask: &HeadMask, metrics: &[Metric]) -> Result<Measured> {
    if metrics.contains(&Metric::Bias) {
        let eval = evaluator.evaluate(mask)?;
        let ppl = metrics.contains(&Metric::Ppl).then_some(eval.perplexity);
        return Ok(Measured { bias: Some(eval), perplexity: ppl });
    }
    Ok(Measured { bias: None, perplexity: Some(evaluator.perplexity_nll(mask)?.perplexity()) })
}

fn build_report(args: &ApplyArgs, provenance: &Provenance, mask: &HeadMask, before: &Measured, after: &Measured) -> Value {
    let mut report = json!({
        "schema_version": 1,
        "mask": { "file": args.mask.display().to_string(), "num_pruned": mask.num_pruned(),
                  "pruned": mask.pruned_heads().iter().map(|h| [h.layer, h.head]).collect::<Vec<_>>() },
        "split": format!("{:?}", args.split).to_lowercase(),
        "provenance": provenance,
    });
    if let (Some(a), Some(b)) = (before.perplexity, after.perplexity) {
        report["perplexity"] = json!({ "unpruned": a, "pruned": b, "relative_change": b / a - 1.0 });
    }
    if let (Some(a), Some(b)) = (&before.bias, &after.bias) {
        let axes: serde_json::Map<String, Value> = a
            .axes
            .iter()
            .zip(&b.axes)
            .map(|(x, y)| {
                let reduction = if x.bias > 0.0 { 1.0 - y.bias / x.bias } else { 0.0 };
                (x.axis.clone(), json!({ "unpruned": x, "pruned": y, "relative_reduction": reduction }))
            })
            .collect();
        report["bias"] = Value::Object(axes);
        report["num_prompts"] = json!(a.scores.len());
        report["samples"] = json!(a.replies.iter().zip(&b.replies).take(5).map(|(x, y)| json!({"unpruned": x, "pruned": y})).collect::<Vec<_>>());
    }
    report
}

/// A number with four significant digits, in scientific notation when small.
fn number(x: f64) -> String {
    if x != 0.0 && x.abs() < 0.01 {
        format!("{x:.3e}")
    } else {
        format!("{x:.4}")
    }
}

/// The Markdown twin of the JSON report.
pub fn markdown(report: &Value) -> String {
    let mut md = String::from("# attnprune apply report\n\n");
    md += &format!("Mask: `{}` ({} heads pruned), prompts: {} split.\n\n", report["mask"]["file"].as_str().unwrap_or(""), report["mask"]["num_pruned"], report["split"].as_str().unwrap_or(""));
    md += "| metric | unpruned | pruned | change |\n|---|---|---|---|\n";
    if let Some(p) = report.get("perplexity") {
        md += &format!("| perplexity | {:.3} | {:.3} | {:+.1}% |\n", p["unpruned"].as_f64().unwrap_or(f64::NAN), p["pruned"].as_f64().unwrap_or(f64::NAN), 100.0 * p["relative_change"].as_f64().unwrap_or(f64::NAN));
    }
    if let Some(Value::Object(axes)) = report.get("bias") {
        for (axis, v) in axes {
            let num = |v: &Value| number(v.as_f64().unwrap_or(f64::NAN));
            let cell = |x: &Value| format!("{} [{}, {}]", num(&x["bias"]), num(&x["ci_low"]), num(&x["ci_high"]));
            md += &format!("| bias `{axis}` (95% CI) | {} | {} | {:+.1}% |\n", cell(&v["unpruned"]), cell(&v["pruned"]), -100.0 * v["relative_reduction"].as_f64().unwrap_or(f64::NAN));
        }
    }
    md += &format!("\nProduced by: `{}`\n", report["provenance"]["args"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" ")).unwrap_or_default());
    md
}
