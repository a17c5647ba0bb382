//! `train-surrogate`: fit one MLP per target (bias of an axis; perplexity) on sample tables.

use anyhow::{bail, Context, Result};
use attnprune_artifact::samples::read_sample_table;
use attnprune_artifact::{write_atomic_bytes, Provenance, SampleRow, SampleTable};
use attnprune_surrogate::{metrics, split_holdout, train, FitMetrics, TrainConfig, TrainedSurrogate};
use clap::Parser;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Artifact kind of surrogate models.
pub const SURROGATE_KIND: &str = "surrogate";
/// Schema version of surrogate models (2: the bias surrogate predicts ln bias).
pub const SURROGATE_VERSION: u32 = 2;

/// The bias surrogate's training target: ln(max(bias, floor)). A bias is a sum of
/// absolute differences, never negative, and skewed (most masks near the unpruned value,
/// a few far above); fitted in log space the surrogate cannot predict a negative bias for
/// `anneal` to chase, and the rare large values do not dominate the fit. `floor` (see
/// [`bias_floor`]) keeps a bias of exactly 0 finite.
pub fn bias_target(bias: f64, floor: f64) -> f64 {
    bias.max(floor).ln()
}

/// The floor of [`bias_target`] for a table: a thousandth of its median bias (so the
/// floor sits far below every bias the table measured, whatever the model's scale),
/// or the smallest positive f64 when the median is 0.
pub fn bias_floor(biases: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = biases.iter().copied().filter(|b| b.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
    (median * 1e-3).max(f64::MIN_POSITIVE)
}

/// Fit small neural networks (MLPs, trained with burn) that predict, from a
/// head mask alone, the bias of one axis and the perplexity the real model
/// would show. `anneal` then searches masks with these cheap predictions.
///
/// Reads one or more sample tables (e.g. the shards of one `sample` run; they
/// must have been measured the same way), holds out a seeded share of the
/// rows, and writes into --out-dir:
///   surrogate-bias.mpk/.json   the bias model (burn record + metadata; trained on ln bias)
///   surrogate-ppl.mpk/.json    the perplexity model (trained on ln perplexity)
///   surrogate-report.json      held-out and training R^2, RMSE, Spearman, and
///                              the held-out predictions, with provenance
#[derive(Debug, Parser)]
#[command(name = "train-surrogate", version, verbatim_doc_comment)]
pub struct TrainArgs {
    /// Sample tables written by `sample` (or `fasp`), all for the same model and measurement.
    #[arg(long, required = true, num_args = 1.., value_name = "FILE")]
    samples: Vec<PathBuf>,
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
    #[arg(long, default_value = "256,64", value_delimiter = ',', value_name = "W")]
    hidden: Vec<usize>,
    /// Most training epochs (early stopping on an inner validation split).
    #[arg(long, default_value_t = 300, value_name = "N")]
    epochs: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3, value_name = "LR")]
    learning_rate: f64,
}

/// Fit quality of one surrogate.
#[derive(Debug, Serialize)]
pub struct TargetReport {
    /// What it predicts.
    pub target: String,
    /// Fit on the training rows.
    pub train: FitMetrics,
    /// Fit on the held-out rows (NaN metrics when there are none).
    pub holdout: Option<FitMetrics>,
    /// Held-out `(measured, predicted)` pairs, for plots.
    pub holdout_points: Vec<(f64, f64)>,
}

/// Reads and combines sample tables, checking they were measured the same way.
pub fn read_samples(paths: &[PathBuf]) -> Result<(SampleTable, PathBuf)> {
    let first = read_sample_table(&paths[0])?;
    let mut combined = first.clone();
    for path in &paths[1..] {
        let table = read_sample_table(path)?;
        table.provenance.check_same_measurement(path, &first.provenance, &paths[0])?;
        combined.rows.extend(table.rows);
    }
    combined.rows.sort_by_key(|r| r.mask_id);
    combined.rows.dedup_by_key(|r| r.mask_id);
    Ok((combined, paths[0].clone()))
}

/// Runs the stage.
pub fn run(args: TrainArgs) -> Result<()> {
    let (table, first) = read_samples(&args.samples)?;
    let axis = table.axis_index(&args.axis, &first)?;
    if table.rows.len() < 4 {
        bail!("`{}` has {} rows: too few to train a surrogate (sample more masks)", first.display(), table.rows.len());
    }
    let config = TrainConfig { hidden: args.hidden.clone(), max_epochs: args.epochs, learning_rate: args.learning_rate, ..TrainConfig::default() };
    let (train_idx, hold_idx) = split_holdout(table.rows.len(), args.holdout, args.seed)?;
    let floor = bias_floor(&table.rows.iter().map(|r| r.bias[axis]).collect::<Vec<_>>());
    let bias = |r: &SampleRow| bias_target(r.bias[axis], floor);
    let log_ppl = |r: &SampleRow| r.perplexity.ln();
    let (bias_model, bias_report) = fit(&table.rows, &train_idx, &hold_idx, &config, args.seed, bias, &format!("ln_bias/{}", args.axis))?;
    let (ppl_model, ppl_report) = fit(&table.rows, &train_idx, &hold_idx, &config, args.seed, log_ppl, "ln_perplexity")?;
    let mut provenance = provenance(&args, &table.provenance)?;
    provenance.settings.insert("bias_target".into(), serde_json::json!({ "transform": "ln(max(bias, floor))", "floor": floor }));
    std::fs::create_dir_all(&args.out_dir).with_context(|| format!("creating `{}`", args.out_dir.display()))?;
    save_surrogate(&bias_model, &args.out_dir.join("surrogate-bias"), &provenance)?;
    save_surrogate(&ppl_model, &args.out_dir.join("surrogate-ppl"), &provenance)?;
    let report = serde_json::json!({
        "provenance": provenance,
        "rows": table.rows.len(),
        "bias": bias_report,
        "perplexity": ppl_report,
    });
    write_atomic_bytes(&args.out_dir.join("surrogate-report.json"), serde_json::to_string_pretty(&report)?.as_bytes())?;
    for r in [&bias_report, &ppl_report] {
        if let Some(h) = r.holdout {
            log::info!("{}: held-out R^2 {:.3}, Spearman {:.3}, RMSE {:.4} ({} rows)", r.target, h.r2, h.spearman, h.rmse, h.n);
        }
    }
    Ok(())
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
    let xs = |idx: &[usize]| idx.iter().map(|&i| rows[i].mask.bits().to_vec()).collect::<Vec<_>>();
    let ys = |idx: &[usize]| idx.iter().map(|&i| target(&rows[i])).collect::<Vec<_>>();
    log::info!("training the {name} surrogate on {} rows", train_idx.len());
    let model = train(config, &xs(train_idx), &ys(train_idx), seed)?;
    let train_fit = metrics(&model.predict_batch(&xs(train_idx))?, &ys(train_idx))?;
    let (holdout, holdout_points) = if hold_idx.is_empty() {
        (None, Vec::new())
    } else {
        let pred = model.predict_batch(&xs(hold_idx))?;
        let truth = ys(hold_idx);
        (Some(metrics(&pred, &truth)?), truth.into_iter().zip(pred).collect())
    };
    Ok((model, TargetReport { target: name.to_string(), train: train_fit, holdout, holdout_points }))
}

fn provenance(args: &TrainArgs, samples: &Provenance) -> Result<Provenance> {
    let mut p = Provenance::derived(SURROGATE_KIND, SURROGATE_VERSION, "train-surrogate", crate::common::command_line(), samples);
    p.seed = Some(args.seed);
    p.settings.insert("axis".into(), serde_json::json!(args.axis));
    p.inputs = args.samples.iter().map(|s| Provenance::fingerprint_of(s)).collect::<Result<_, _>>()?;
    Ok(p)
}

/// Saves a surrogate as `<base>.mpk` + `<base>.json` + `<base>.provenance.json`,
/// written in a temporary folder and renamed, the `.mpk` (what Make tracks) last.
pub fn save_surrogate(model: &TrainedSurrogate, base: &Path, provenance: &Provenance) -> Result<()> {
    let dir = base.parent().unwrap_or(Path::new("."));
    let name = base.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::create_dir_all(&temp)?;
    model.save(&temp.join(&name))?;
    write_atomic_bytes(&temp.join(format!("{name}.provenance.json")), serde_json::to_string_pretty(provenance)?.as_bytes())?;
    for ext in ["json", "provenance.json", "mpk"] {
        let file = format!("{name}.{ext}");
        std::fs::rename(temp.join(&file), dir.join(&file)).with_context(|| format!("moving `{file}` into `{}`", dir.display()))?;
    }
    std::fs::remove_dir_all(&temp)?;
    Ok(())
}

/// Loads a surrogate saved by [`save_surrogate`], checking its kind and input length.
pub fn load_surrogate(base: &Path, expected_inputs: usize) -> Result<(TrainedSurrogate, Provenance)> {
    let prov_path = base.with_extension("provenance.json");
    let text = std::fs::read_to_string(&prov_path).with_context(|| format!("reading `{}`", prov_path.display()))?;
    let provenance = Provenance::from_json(&text, &prov_path.display().to_string())?;
    provenance.check_kind(&prov_path, SURROGATE_KIND, SURROGATE_VERSION)?;
    let model = TrainedSurrogate::load(base, expected_inputs).with_context(|| format!("loading surrogate `{}`", base.display()))?;
    Ok((model, provenance))
}
