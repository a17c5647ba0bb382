//! `train-surrogate`: fit one MLP per target (bias of an axis; perplexity) on sample tables.

use crate::selection::BiasScale;
use crate::surrogate_files::{save_surrogate, SURROGATE_KIND, SURROGATE_VERSION};
use anyhow::{bail, Context, Result};
use attnprune_artifact::samples::read_samples;
use attnprune_artifact::{write_atomic_bytes, Provenance, SampleRow, SampleTable};
use attnprune_surrogate::{
    bias_floor, bias_target, fit_mlp, fit_structured, refine_structured, select_models,
    split_holdout, AdditiveConfig, BiasTargetTransform, FitTable, MaskRows, StructuredFit,
    StructuredReports, StructuredSurrogateFile, SurrogateReport, TrainConfig, STRUCTURED_KIND,
    STRUCTURED_VERSION, SURROGATE_REPORT_KIND, SURROGATE_REPORT_VERSION,
};
use clap::Parser;
use std::path::PathBuf;

/// Fit small neural networks (MLPs, trained with burn) that predict, from a
/// head mask alone, the bias of one axis and the perplexity the real model
/// would show. `anneal` then searches masks with these cheap predictions.
///
/// Reads one or more sample tables (e.g. the shards of one `sample` run; they
/// must have been measured the same way), holds out a seeded share of the
/// rows, and writes into --out-dir:
///   surrogate-bias.mpk/.json   the bias model (burn record + metadata; trained on ln bias)
///   surrogate-ppl.mpk/.json    the perplexity model (trained on ln perplexity)
///   surrogate-structured.json  the structured surrogate: ln perplexity and each
///                              bucket's mean score as additive models over heads
///                              (seeded by the single-head knockouts, sparse pairwise
///                              terms, ridge), the bias computed from the bucket means
///   surrogate-report.json      held-out and training R^2, RMSE, Spearman of every
///                              model, the held-out predictions, which model `anneal`
///                              should use (the best held-out Spearman), provenance
///
/// --refine-samples TABLES: the proposals of earlier rounds measured with the
/// richer measurement the final choice uses. The structured surrogate is then
/// refitted on them with the screening fit as its ridge prior (the two
/// measurements are never mixed in one fit), its fit is reported by
/// leave-one-out over those rows, and it is the model `anneal` uses.
#[derive(Debug, Parser)]
#[command(name = "train-surrogate", version, verbatim_doc_comment)]
pub struct TrainArgs {
    /// Sample tables written by `sample` (or `fasp`), all for the same model and measurement.
    #[arg(long, required = true, num_args = 1.., value_name = "FILE")]
    samples: Vec<PathBuf>,
    /// Tables of proposals measured with the richer measurement (`sample --masks`): the
    /// structured surrogate is refitted on them, with the screening fit as prior.
    #[arg(long, num_args = 1.., value_name = "FILE")]
    refine_samples: Vec<PathBuf>,
    /// The bias the models predict: `logit` (log-odds scores; what the choice and the
    /// verdict use) or `prob` (FASP's bias of the scores in [0, 1]).
    #[arg(long, default_value = "logit", value_name = "SCALE")]
    bias_scale: BiasScale,
    /// The axis whose bias the bias model predicts.
    #[arg(long, default_value = "gender_and_sex", value_name = "AXIS")]
    axis: String,
    /// Folder for the surrogates and the report.
    #[arg(long, value_name = "DIR")]
    out_dir: PathBuf,
    /// Share of rows held out to measure the fit.
    #[arg(long, default_value_t = 0.2, value_name = "F")]
    holdout: f64,
    /// Seed of the hold-out split, weight init and batch order.
    #[arg(long, default_value_t = 0, value_name = "SEED")]
    seed: u64,
    /// Hidden layer widths, comma-separated.
    #[arg(
        long,
        default_value = "256,64",
        value_delimiter = ',',
        value_name = "W"
    )]
    hidden: Vec<usize>,
    /// Most training epochs (early stopping on an inner validation split).
    #[arg(long, default_value_t = 300, value_name = "N")]
    epochs: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3, value_name = "LR")]
    learning_rate: f64,
}

/// Runs the stage.
pub fn run(args: TrainArgs) -> Result<()> {
    let (table, first) = read_samples(&args.samples)?;
    let axis = table.axis_index(&args.axis, &first)?;
    if table.rows.len() < 4 {
        bail!(
            "`{}` has {} rows: too few to train a surrogate (sample more masks)",
            first.display(),
            table.rows.len()
        );
    }
    let config = TrainConfig {
        hidden: args.hidden.clone(),
        max_epochs: args.epochs,
        learning_rate: args.learning_rate,
        ..TrainConfig::default()
    };
    let split = split_holdout(table.rows.len(), args.holdout, args.seed)?;
    let split = (split.0.as_slice(), split.1.as_slice());
    let data = fit_table(&table, axis, args.bias_scale);
    let floor = bias_floor(&data.bias);
    let ln_bias: Vec<f64> = data.bias.iter().map(|&b| bias_target(b, floor)).collect();
    let masks = &data.rows.masks;
    let bias_name = format!("ln_bias/{}", args.axis);
    let (bias_model, bias_report) =
        fit_mlp(masks, &ln_bias, split, &config, args.seed, &bias_name)?;
    let (ppl_model, ppl_report) = fit_mlp(
        masks,
        &data.rows.ln_ppl,
        split,
        &config,
        args.seed,
        "ln_perplexity",
    )?;
    let mut provenance = provenance(&args, &table.provenance)?;
    provenance.settings.insert(
        "bias_target".into(),
        serde_json::to_value(BiasTargetTransform::new(floor, args.bias_scale.name()))?,
    );
    let additive = AdditiveConfig {
        seed: args.seed,
        ..AdditiveConfig::default()
    };
    let mut structured = fit_structured(&data, &args.axis, floor, split, &additive)?;
    if !args.refine_samples.is_empty() {
        refine(&args, &table, &data.buckets, &mut structured, &additive)?;
    }
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("creating `{}`", args.out_dir.display()))?;
    save_surrogate(
        &bias_model,
        &args.out_dir.join("surrogate-bias"),
        &provenance,
    )?;
    save_surrogate(&ppl_model, &args.out_dir.join("surrogate-ppl"), &provenance)?;
    let selected = select_models(&structured, &bias_report, &ppl_report);
    write_structured(&args, &structured, &provenance)?;
    let report = SurrogateReport {
        kind: SURROGATE_REPORT_KIND.into(),
        schema_version: SURROGATE_REPORT_VERSION,
        provenance: serde_json::to_value(&provenance)?,
        rows: table.rows.len(),
        bias: bias_report,
        perplexity: ppl_report,
        structured: StructuredReports {
            bias: structured.bias,
            perplexity: structured.perplexity,
            refined: structured.refined,
        },
        selected,
    };
    write_atomic_bytes(
        &args.out_dir.join("surrogate-report.json"),
        report.to_json().as_bytes(),
    )?;
    log_fits(&report);
    Ok(())
}

/// Replaces the screening fit's models by their refit on --refine-samples (the richer
/// measurement, of the same model and `buckets` as the screening table), with its report.
fn refine(
    args: &TrainArgs,
    table: &SampleTable,
    buckets: &[String],
    structured: &mut StructuredFit,
    config: &AdditiveConfig,
) -> Result<()> {
    let (rich, rich_first) = read_samples(&args.refine_samples)?;
    table
        .provenance
        .check_same_model(&args.samples[0], &rich.provenance, &rich_first)?;
    let rich_axis = rich.axis_index(&args.axis, &rich_first)?;
    let rich = fit_table(&rich, rich_axis, args.bias_scale);
    if rich.buckets != buckets {
        bail!(
            "`{}` measures the buckets {:?}, `{}` {buckets:?}",
            rich_first.display(),
            rich.buckets,
            args.samples[0].display()
        );
    }
    let tables = args
        .refine_samples
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let (models, report) = refine_structured(&structured.models, &rich, tables, config)?;
    structured.models = models;
    structured.refined = Some(report);
    Ok(())
}

/// `surrogate-structured.json`: the structured models, refined or screening.
fn write_structured(
    args: &TrainArgs,
    structured: &StructuredFit,
    provenance: &Provenance,
) -> Result<()> {
    let file = StructuredSurrogateFile {
        kind: STRUCTURED_KIND.into(),
        schema_version: STRUCTURED_VERSION,
        axis: args.axis.clone(),
        bias_scale: args.bias_scale.name().into(),
        level: if structured.refined.is_some() {
            "refined"
        } else {
            "screening"
        }
        .into(),
        models: structured.models.clone(),
        provenance: serde_json::to_value(provenance)?,
    };
    write_atomic_bytes(
        &args.out_dir.join("surrogate-structured.json"),
        file.to_json().as_bytes(),
    )?;
    Ok(())
}

/// Logs every model's held-out fit and the models `anneal` will use.
fn log_fits(report: &SurrogateReport) {
    for r in [
        &report.bias,
        &report.perplexity,
        &report.structured.bias,
        &report.structured.perplexity,
    ] {
        if let Some(h) = r.holdout {
            log::info!(
                "{}: held-out R^2 {:.3}, Spearman {:.3}, RMSE {:.4} ({} rows)",
                r.target,
                h.r2,
                h.spearman,
                h.rmse,
                h.n
            );
        }
    }
    log::info!(
        "anneal will use the {} bias model and the {} perplexity model",
        report.selected.bias,
        report.selected.perplexity
    );
}

/// The measurements of `axis` (column index) on `scale` as the fits see them.
fn fit_table(table: &SampleTable, axis: usize, scale: BiasScale) -> FitTable {
    let name = &table.columns.axes[axis];
    let idx: Vec<usize> = (0..table.columns.buckets.len())
        .filter(|&i| &table.columns.buckets[i].0 == name)
        .collect();
    let means = |r: &SampleRow| match scale {
        BiasScale::Logit => idx.iter().map(|&i| r.logit_bucket_means[i]).collect(),
        BiasScale::Prob => idx.iter().map(|&i| r.bucket_means[i]).collect(),
    };
    FitTable {
        rows: MaskRows {
            masks: table.rows.iter().map(|r| r.mask.bits().to_vec()).collect(),
            ln_ppl: table.rows.iter().map(|r| r.perplexity.ln()).collect(),
            bucket_means: table.rows.iter().map(means).collect(),
        },
        buckets: idx
            .iter()
            .map(|&i| table.columns.buckets[i].1.clone())
            .collect(),
        counts: idx
            .iter()
            .map(|&i| table.columns.bucket_counts[i] as f64)
            .collect(),
        bias: table.rows.iter().map(|r| scale.bias(r, axis)).collect(),
    }
}

fn provenance(args: &TrainArgs, samples: &Provenance) -> Result<Provenance> {
    let mut p = Provenance::derived(
        SURROGATE_KIND,
        SURROGATE_VERSION,
        "train-surrogate",
        crate::common::command_line(),
        samples,
    );
    p.seed = Some(args.seed);
    p.settings
        .insert("axis".into(), serde_json::json!(args.axis));
    p.inputs = args
        .samples
        .iter()
        .map(|s| Provenance::fingerprint_of(s))
        .collect::<Result<_, _>>()?;
    Ok(p)
}
