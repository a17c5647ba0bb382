//! `train-surrogate`: fit one MLP per target (bias of an axis; perplexity) on sample tables.

use crate::selection::BiasScale;
use crate::surrogate_files::{save_surrogate, SURROGATE_KIND, SURROGATE_VERSION};
use anyhow::{bail, Context, Result};
use attnprune_artifact::samples::read_samples;
use attnprune_artifact::{write_atomic_bytes, Provenance, SampleRow, SampleTable};
use attnprune_surrogate::{
    bias_floor, bias_target, metrics, split_holdout, train, AdditiveConfig, BiasTargetTransform,
    FitMetrics, MaskRows, Points, RefinedReport, SelectedModels, StructuredModels,
    StructuredReports, StructuredSurrogateFile, SurrogateReport, TargetReport, TrainConfig,
    TrainedSurrogate, STRUCTURED_KIND, STRUCTURED_VERSION, SURROGATE_REPORT_KIND,
    SURROGATE_REPORT_VERSION,
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
    let (train_idx, hold_idx) = split_holdout(table.rows.len(), args.holdout, args.seed)?;
    let scale = args.bias_scale;
    let floor = bias_floor(
        &table
            .rows
            .iter()
            .map(|r| scale.bias(r, axis))
            .collect::<Vec<_>>(),
    );
    let bias = |r: &SampleRow| bias_target(scale.bias(r, axis), floor);
    let log_ppl = |r: &SampleRow| r.perplexity.ln();
    let (bias_model, bias_report) = fit(
        &table.rows,
        &train_idx,
        &hold_idx,
        &config,
        args.seed,
        bias,
        &format!("ln_bias/{}", args.axis),
    )?;
    let (ppl_model, ppl_report) = fit(
        &table.rows,
        &train_idx,
        &hold_idx,
        &config,
        args.seed,
        log_ppl,
        "ln_perplexity",
    )?;
    let mut provenance = provenance(&args, &table.provenance)?;
    provenance.settings.insert(
        "bias_target".into(),
        serde_json::to_value(BiasTargetTransform::new(floor, scale.name()))?,
    );
    let structured = fit_structured(&args, &table, axis, floor, (&train_idx, &hold_idx))?;
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
            perplexity: structured.ppl,
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

fn select_models(s: &StructuredFit, bias: &TargetReport, ppl: &TargetReport) -> SelectedModels {
    if s.refined.is_some() {
        let reason =
            "only the structured surrogate is refitted on the richer measurement of the proposals"
                .into();
        return SelectedModels {
            bias: "structured".into(),
            perplexity: "structured".into(),
            reason,
        };
    }
    let spearman = |r: &TargetReport| {
        r.holdout.map_or(f64::NEG_INFINITY, |h| {
            if h.spearman.is_nan() {
                f64::NEG_INFINITY
            } else {
                h.spearman
            }
        })
    };
    let pick = |structured: &TargetReport, mlp: &TargetReport| {
        if spearman(structured) >= spearman(mlp) {
            "structured"
        } else {
            "mlp"
        }
    };
    SelectedModels {
        bias: pick(&s.bias, bias).into(),
        perplexity: pick(&s.ppl, ppl).into(),
        reason: "the higher held-out Spearman on the screening table".into(),
    }
}

/// The structured fit and its reports.
struct StructuredFit {
    models: StructuredModels,
    bias: TargetReport,
    ppl: TargetReport,
    refined: Option<RefinedReport>,
}

fn mask_rows(
    table: &SampleTable,
    axis: usize,
    scale: BiasScale,
) -> (MaskRows, Vec<String>, Vec<f64>) {
    let name = &table.columns.axes[axis];
    let idx: Vec<usize> = (0..table.columns.buckets.len())
        .filter(|&i| &table.columns.buckets[i].0 == name)
        .collect();
    let means = |r: &SampleRow| match scale {
        BiasScale::Logit => idx.iter().map(|&i| r.logit_bucket_means[i]).collect(),
        BiasScale::Prob => idx.iter().map(|&i| r.bucket_means[i]).collect(),
    };
    let rows = MaskRows {
        masks: table.rows.iter().map(|r| r.mask.bits().to_vec()).collect(),
        ln_ppl: table.rows.iter().map(|r| r.perplexity.ln()).collect(),
        bucket_means: table.rows.iter().map(means).collect(),
    };
    let buckets = idx
        .iter()
        .map(|&i| table.columns.buckets[i].1.clone())
        .collect();
    let counts = idx
        .iter()
        .map(|&i| table.columns.bucket_counts[i] as f64)
        .collect();
    (rows, buckets, counts)
}

fn fit_structured(
    args: &TrainArgs,
    table: &SampleTable,
    axis: usize,
    floor: f64,
    (train_idx, hold_idx): (&[usize], &[usize]),
) -> Result<StructuredFit> {
    let (rows, buckets, counts) = mask_rows(table, axis, args.bias_scale);
    let config = AdditiveConfig {
        seed: args.seed,
        ..AdditiveConfig::default()
    };
    let priors = rows.knockout_priors();
    let train_rows = rows.subset(train_idx);
    log::info!(
        "fitting the structured surrogate on {} rows (knockout priors: {})",
        train_idx.len(),
        priors.is_some()
    );
    // The held-out rows' own knockouts (if any are held out) must not leak into the prior.
    let train_priors = train_rows.knockout_priors();
    let held = StructuredModels::fit(
        &train_rows,
        priors_ref(&train_priors),
        buckets.clone(),
        counts.clone(),
        &config,
    )?;
    let scale = args.bias_scale;
    let split = (train_idx, hold_idx);
    let (mut ln_bias, mut ln_ppl) = (Vec::new(), Vec::new());
    for r in &table.rows {
        ln_bias.push(bias_target(held.bias.predict(r.mask.bits())?, floor));
        ln_ppl.push(held.ln_ppl.predict(r.mask.bits())?);
    }
    let measured_bias: Vec<f64> = table
        .rows
        .iter()
        .map(|r| bias_target(scale.bias(r, axis), floor))
        .collect();
    let measured_ppl: Vec<f64> = table.rows.iter().map(|r| r.perplexity.ln()).collect();
    let bias = TargetReport::of_split(
        &format!("structured ln_bias/{}", args.axis),
        &ln_bias,
        &measured_bias,
        split,
    )?;
    let ppl = TargetReport::of_split("structured ln_perplexity", &ln_ppl, &measured_ppl, split)?;
    let screening = StructuredModels::fit(
        &rows,
        priors_ref(&priors),
        buckets.clone(),
        counts.clone(),
        &config,
    )?;
    if args.refine_samples.is_empty() {
        return Ok(StructuredFit {
            models: screening,
            bias,
            ppl,
            refined: None,
        });
    }
    let (refined, report) = refine_structured(args, table, &screening, &buckets, &config)?;
    Ok(StructuredFit {
        models: refined,
        bias,
        ppl,
        refined: Some(report),
    })
}

/// The structured surrogate refitted on the richer measurement (--refine-samples) with the
/// screening fit as its ridge prior, and its leave-one-out fit.
fn refine_structured(
    args: &TrainArgs,
    table: &SampleTable,
    screening: &StructuredModels,
    buckets: &[String],
    config: &AdditiveConfig,
) -> Result<(StructuredModels, RefinedReport)> {
    let scale = args.bias_scale;
    let (rich, rich_first) = read_samples(&args.refine_samples)?;
    table
        .provenance
        .check_same_model(&args.samples[0], &rich.provenance, &rich_first)?;
    let rich_axis = rich.axis_index(&args.axis, &rich_first)?;
    let (rich_rows, rich_buckets, rich_counts) = mask_rows(&rich, rich_axis, scale);
    if rich_buckets != buckets {
        bail!(
            "`{}` measures the buckets {rich_buckets:?}, `{}` {buckets:?}",
            rich_first.display(),
            args.samples[0].display()
        );
    }
    let prior = screening.as_priors();
    let refined = StructuredModels::fit(
        &rich_rows,
        Some((&prior.0, &prior.1)),
        rich_buckets.clone(),
        rich_counts.clone(),
        config,
    )?;
    let loo = leave_one_out(
        &rich,
        &rich_rows,
        (&prior.0, &prior.1),
        (&rich_buckets, &rich_counts),
        rich_axis,
        scale,
        config,
    )?;
    log::info!(
        "refined the structured surrogate on {} rows of the richer measurement",
        rich_rows.masks.len()
    );
    let report = RefinedReport {
        tables: args
            .refine_samples
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        rows: rich_rows.masks.len(),
        bias: metrics_of(&loo.0),
        perplexity: metrics_of(&loo.1),
        bias_points: loo.0,
        perplexity_points: loo.1,
    };
    Ok((refined, report))
}

/// Borrowed priors for [`StructuredModels::fit`].
fn priors_ref(p: &Option<(Vec<f64>, Vec<Vec<f64>>)>) -> Option<(&[f64], &[Vec<f64>])> {
    p.as_ref().map(|(a, b)| (a.as_slice(), b.as_slice()))
}

/// `(measured, predicted)` of each refine row from a fit without it (bias on its scale, ln perplexity).
fn leave_one_out(
    rich: &SampleTable,
    rows: &MaskRows,
    prior: (&[f64], &[Vec<f64>]),
    (buckets, counts): (&[String], &[f64]),
    axis: usize,
    scale: BiasScale,
    config: &AdditiveConfig,
) -> Result<(Points, Points)> {
    let n = rows.masks.len();
    let (mut bias, mut ppl) = (Vec::new(), Vec::new());
    if n < 5 {
        return Ok((bias, ppl));
    }
    for k in 0..n {
        let rest: Vec<usize> = (0..n).filter(|&i| i != k).collect();
        let fit = StructuredModels::fit(
            &rows.subset(&rest),
            Some(prior),
            buckets.to_vec(),
            counts.to_vec(),
            config,
        )?;
        bias.push((
            scale.bias(&rich.rows[k], axis),
            fit.bias.predict(&rows.masks[k])?,
        ));
        ppl.push((rows.ln_ppl[k], fit.ln_ppl.predict(&rows.masks[k])?));
    }
    Ok((bias, ppl))
}

fn metrics_of(points: &[(f64, f64)]) -> Option<FitMetrics> {
    let (t, p): (Vec<f64>, Vec<f64>) = points.iter().copied().unzip();
    metrics(&p, &t).ok()
}

fn fit(
    rows: &[SampleRow],
    train_idx: &[usize],
    hold_idx: &[usize],
    config: &TrainConfig,
    seed: u64,
    target: impl Fn(&SampleRow) -> f64,
    name: &str,
) -> Result<(TrainedSurrogate, TargetReport)> {
    let xs = |idx: &[usize]| {
        idx.iter()
            .map(|&i| rows[i].mask.bits().to_vec())
            .collect::<Vec<_>>()
    };
    let ys = |idx: &[usize]| idx.iter().map(|&i| target(&rows[i])).collect::<Vec<_>>();
    log::info!("training the {name} surrogate on {} rows", train_idx.len());
    let model = train(config, &xs(train_idx), &ys(train_idx), seed)?;
    let train_fit = metrics(&model.predict_batch(&xs(train_idx))?, &ys(train_idx))?;
    let (holdout, holdout_points) = if hold_idx.is_empty() {
        (None, Vec::new())
    } else {
        let pred = model.predict_batch(&xs(hold_idx))?;
        let truth = ys(hold_idx);
        (
            Some(metrics(&pred, &truth)?),
            truth.into_iter().zip(pred).collect(),
        )
    };
    Ok((
        model,
        TargetReport {
            target: name.to_string(),
            train: train_fit,
            holdout,
            holdout_points,
        },
    ))
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
