//! `report`: the run's human report (`report.md` with SVG plots) and
//! `results.json`, from the artifacts the other stages wrote.

use anyhow::{bail, Context, Result};
use attnprune_artifact::samples::read_sample_table;
use attnprune_artifact::samples::read_samples;
use attnprune_artifact::trajectory::{read_trajectory, TrajectoryRow};
use attnprune_artifact::{write_atomic_bytes, Provenance, SampleTable};
use attnprune_mask::MaskFile;
use attnprune_measure::bias::AxisBias as Measured;
use attnprune_report::ablation::{ablation_table, verdict, AblationRow, Change};
use attnprune_report::apply::{
    ApplyReport as TypedApplyReport, APPLY_REPORT_KIND, APPLY_REPORT_VERSION,
};
use attnprune_report::findings::{evaluate_bar, findings, Finding};
use attnprune_report::markdown::fmt_interval;
use attnprune_report::plots::{
    self, colors, BarPlot, BarSeries, Heatmap, Highlight, LinePlot, RefLine, ScatterPlot, Series,
};
use attnprune_report::rounds::RoundsReport;
use attnprune_report::svg::check_well_formed;
use attnprune_report::{
    fmt_num, fmt_pct, AxisBias, Fit, MethodResult, Methods, Repeatability, Results, RunResult,
    SurrogateSummary, Table, RESULTS_VERSION,
};
use clap::Parser;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Write the run's report: `report.md` with its plots (`plots/*.svg`) and
/// `results.json`, into --out-dir. It reads what the stages wrote and runs no
/// model:
///   --samples         the sample table(s): bias vs perplexity of every sampled
///                     mask, single-head knockouts for the heads heatmap
///   --surrogates      surrogate-report.json: held-out predicted vs measured
///   --trajectory      anneal's trajectory
///   --ap-report, --fasp-report, --random-reports
///                     `apply` reports (test prompts) of the Attention Pruning
///                     mask, the FASP mask and the random masks (`random-masks`);
///                     the unpruned numbers are those inside the apply reports
///
/// The table compares the unpruned model, Attention Pruning, FASP and random
/// pruning on the test prompts (bias per axis with bootstrap intervals,
/// perplexity on held-out text); the verdict against the bar (at least
/// --min-bias-reduction less bias on --axis, at most --ppl-budget more
/// perplexity, lower bias than FASP) and the diagnostics (surrogate fit,
/// samples per head, bootstrap intervals vs differences, random spread) are
/// written from the numbers. results.json holds the same numbers.
#[derive(Debug, Parser)]
#[command(name = "report", version, verbatim_doc_comment)]
pub struct ReportArgs {
    /// Sample table(s) of the run (`sample`).
    #[arg(long, required = true, num_args = 1.., value_name = "FILE")]
    samples: Vec<PathBuf>,
    /// Folder of the surrogates (`train-surrogate`), with surrogate-report.json.
    #[arg(long, value_name = "DIR")]
    surrogates: PathBuf,
    /// The annealing trajectory (`anneal`).
    #[arg(long, value_name = "FILE")]
    trajectory: PathBuf,
    /// `apply` report of the Attention Pruning mask.
    #[arg(long, value_name = "FILE")]
    ap_report: PathBuf,
    /// `apply` report of the FASP mask.
    #[arg(long, value_name = "FILE")]
    fasp_report: Option<PathBuf>,
    /// `apply` reports of the random masks (`random-masks`), one per seed.
    #[arg(long, num_args = 1.., value_name = "FILE")]
    random_reports: Vec<PathBuf>,
    /// The axis the methods repair.
    #[arg(long, default_value = "gender_and_sex", value_name = "AXIS")]
    axis: String,
    /// The perplexity budget (0.05 = 5%): the bar's perplexity limit. Default: the budget
    /// recorded in the Attention Pruning mask file (by `choose` or `anneal`).
    #[arg(long, value_name = "F")]
    ppl_budget: Option<f64>,
    /// `apply` report of the paper's one-shot Attention Pruning mask (anneal once on the
    /// screening surrogates, never measured before `apply`), for the ablation.
    #[arg(long, value_name = "FILE")]
    oneshot_report: Option<PathBuf>,
    /// The closed loop's rounds summary (`choose --out-rounds`).
    #[arg(long, value_name = "FILE")]
    rounds: Option<PathBuf>,
    /// The budget in force (resolved from --ppl-budget or the mask file).
    #[arg(skip)]
    budget: f64,
    /// The bar's least relative bias reduction on --axis (0.4 = 40%).
    #[arg(long, default_value_t = 0.4, value_name = "F")]
    min_bias_reduction: f64,
    /// Folder to write report.md, results.json and plots/ into.
    #[arg(long, value_name = "DIR")]
    out_dir: PathBuf,
}

/// The closed loop's plot files, relative to the report's folder.
pub const ROUND_PLOTS: [&str; 4] = [
    "plots/rounds-perplexity.svg",
    "plots/rounds-bias.svg",
    "plots/rounds-convergence.svg",
    "plots/rounds-agreement.svg",
];

/// The plot files of a report, relative to its folder.
pub const PLOTS: [&str; 7] = [
    "plots/bias-vs-perplexity.svg",
    "plots/pruned-heads.svg",
    "plots/trajectory-bias.svg",
    "plots/trajectory-perplexity.svg",
    "plots/surrogate-bias.svg",
    "plots/surrogate-perplexity.svg",
    "plots/spillover.svg",
];

/// One `apply` report, as read.
struct ApplyReport {
    path: PathBuf,
    mask_path: String,
    mask: Option<MaskFile>,
    num_pruned: usize,
    pruned: Vec<[usize; 2]>,
    split: String,
    ppl: (f64, f64),
    /// (axis, unpruned, pruned), in the report's order.
    axes: Vec<(String, Measured, Measured)>,
    provenance: Provenance,
    /// The report as read (for the paired intervals).
    typed: TypedApplyReport,
}

fn read_json(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading `{}`", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("`{}` is not valid JSON", path.display()))
}

fn read_apply_report(path: &Path) -> Result<ApplyReport> {
    let typed = TypedApplyReport::read(path).map_err(anyhow::Error::msg)?;
    let provenance: Provenance = serde_json::from_value(typed.provenance.clone())
        .with_context(|| format!("`{}`: provenance", path.display()))?;
    provenance.check_kind(path, APPLY_REPORT_KIND, APPLY_REPORT_VERSION)?;
    let missing = |what: &str| {
        anyhow::anyhow!("`{}` is not an apply report with bias and perplexity: {what} is missing (run apply with --metrics bias,ppl)", path.display())
    };
    let ppl = typed
        .perplexity
        .as_ref()
        .map(|p| (p.unpruned, p.pruned))
        .ok_or_else(|| missing("perplexity"))?;
    if typed.bias.is_empty() {
        return Err(missing("bias"));
    }
    let axes = typed
        .bias
        .iter()
        .map(|(axis, b)| (axis.clone(), b.unpruned.clone(), b.pruned.clone()))
        .collect();
    // The mask file as apply read it (its path is relative to where apply ran, like ours).
    let mask = MaskFile::read(Path::new(&typed.mask.file)).ok();
    Ok(ApplyReport {
        path: path.to_path_buf(),
        num_pruned: typed.mask.num_pruned,
        mask_path: typed.mask.file.clone(),
        mask,
        pruned: typed.mask.pruned.clone(),
        split: typed.split.clone(),
        ppl,
        axes,
        provenance,
        typed,
    })
}

impl ApplyReport {
    fn axis(&self, axis: &str) -> Option<&(String, Measured, Measured)> {
        self.axes.iter().find(|a| a.0 == axis)
    }
}

/// Fails unless two apply reports measured the same model, prompts, text and
/// settings; the axes may differ (the random baseline may measure fewer: an
/// axis' prompts do not depend on which other axes are measured).
fn same_test_measurement(a: &ApplyReport, b: &ApplyReport) -> Result<()> {
    let without_axes = |p: &Provenance| {
        let mut p = p.clone();
        p.settings.remove("axes");
        p
    };
    without_axes(&a.provenance).check_same_measurement(
        &a.path,
        &without_axes(&b.provenance),
        &b.path,
    )?;
    Ok(())
}

fn reduction(base: f64, x: f64) -> f64 {
    if base > 0.0 {
        1.0 - x / base
    } else {
        0.0
    }
}

fn axis_bias(m: &Measured, base: f64) -> AxisBias {
    AxisBias {
        bias: m.bias,
        ci_low: m.ci_low,
        ci_high: m.ci_high,
        interval: "bootstrap 95%".into(),
        sd: None,
        relative_reduction: reduction(base, m.bias),
        prompts: m.count,
        mean_score: Some(m.mean),
    }
}

fn mean_sd(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let sd = if xs.len() > 1 {
        (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    (mean, sd)
}

/// The unpruned baseline of the table: per-axis bias and perplexity (from the AP report).
struct Base {
    bias: BTreeMap<String, f64>,
    ppl: f64,
}

fn pruned_method(label: &str, r: &ApplyReport, base: &Base) -> MethodResult {
    let bias = r
        .axes
        .iter()
        .map(|(a, _, p)| {
            (
                a.clone(),
                axis_bias(p, base.bias.get(a).copied().unwrap_or(0.0)),
            )
        })
        .collect();
    MethodResult {
        label: label.into(),
        num_pruned: r.num_pruned,
        mask_file: Some(r.mask_path.clone()),
        report_files: vec![r.path.display().to_string()],
        perplexity: r.ppl.1,
        perplexity_sd: None,
        perplexity_change: r.ppl.1 / base.ppl - 1.0,
        bias,
        runs: Vec::new(),
    }
}

fn random_method(reports: &[ApplyReport], base: &Base) -> Result<MethodResult> {
    let runs: Vec<RunResult> = reports
        .iter()
        .map(|r| RunResult {
            seed: r
                .mask
                .as_ref()
                .and_then(|m| m.extra.get("seed"))
                .and_then(Value::as_u64),
            mask_file: r.mask_path.clone(),
            report_file: r.path.display().to_string(),
            num_pruned: r.num_pruned,
            perplexity: r.ppl.1,
            bias: r
                .axes
                .iter()
                .map(|(a, _, p)| {
                    (
                        a.clone(),
                        axis_bias(p, base.bias.get(a).copied().unwrap_or(0.0)),
                    )
                })
                .collect(),
        })
        .collect();
    let counts: Vec<usize> = runs.iter().map(|r| r.num_pruned).collect();
    if counts.windows(2).any(|w| w[0] != w[1]) {
        bail!("the random masks prune different numbers of heads ({counts:?}): make them with `random-masks --like` one mask");
    }
    let mut bias = BTreeMap::new();
    // The axes every random mask was measured on.
    for axis in runs[0]
        .bias
        .keys()
        .filter(|a| runs.iter().all(|r| r.bias.contains_key(*a)))
    {
        let xs: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.bias.get(axis).map(|b| b.bias))
            .collect();
        let (mean, sd) = mean_sd(&xs);
        let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let base_bias = base.bias.get(axis).copied().unwrap_or(0.0);
        let prompts = runs[0].bias[axis].prompts;
        let mean_scores: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.bias.get(axis).and_then(|b| b.mean_score))
            .collect();
        bias.insert(
            axis.clone(),
            AxisBias {
                bias: mean,
                ci_low: lo,
                ci_high: hi,
                interval: format!("range over {} seeds", xs.len()),
                sd: Some(sd),
                relative_reduction: reduction(base_bias, mean),
                prompts,
                mean_score: (!mean_scores.is_empty()).then(|| mean_sd(&mean_scores).0),
            },
        );
    }
    let ppls: Vec<f64> = runs.iter().map(|r| r.perplexity).collect();
    let (ppl, ppl_sd) = mean_sd(&ppls);
    Ok(MethodResult {
        label: format!("Random ({} seeds)", runs.len()),
        num_pruned: counts[0],
        mask_file: None,
        report_files: runs.iter().map(|r| r.report_file.clone()).collect(),
        perplexity: ppl,
        perplexity_sd: Some(ppl_sd),
        perplexity_change: ppl / base.ppl - 1.0,
        bias,
        runs,
    })
}

fn fit_of(v: &Value) -> Option<Fit> {
    if !v.is_object() {
        return None;
    }
    Some(Fit {
        n: v["n"].as_u64().unwrap_or(0) as usize,
        r2: v["r2"].as_f64(),
        spearman: v["spearman"].as_f64(),
        rmse: v["rmse"].as_f64(),
    })
}

fn points_of(v: &Value) -> Vec<(f64, f64)> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| Some((p.get(0)?.as_f64()?, p.get(1)?.as_f64()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// Every artifact whose provenance the report lists: (what, file, provenance).
type Sources = Vec<(String, String, Provenance)>;

/// A paired interval as the ablation shows it.
fn change_of(i: &attnprune_select::Interval) -> Change {
    Change {
        point: i.point,
        low: i.low,
        high: i.high,
    }
}

/// One ablation row from an apply report.
fn ablation_row(
    method: &str,
    r: &ApplyReport,
    axis: &str,
    real_evaluations: Option<usize>,
) -> Result<AblationRow> {
    let ppl = r
        .typed
        .perplexity
        .as_ref()
        .with_context(|| format!("`{}` has no perplexity", r.path.display()))?;
    let bias = r
        .typed
        .bias
        .get(axis)
        .with_context(|| format!("`{}` has no bias for `{axis}`", r.path.display()))?;
    Ok(AblationRow {
        method: method.into(),
        real_evaluations,
        heads: r.num_pruned,
        ppl_change: change_of(&ppl.paired_change),
        logit_bias_change: change_of(&bias.logit.paired_change),
        prob_bias_change: change_of(&bias.paired_change),
    })
}

/// Real-model evaluations recorded in the mask's selection by `choose`/`fasp`.
fn evaluations_of(r: &ApplyReport) -> Option<usize> {
    r.typed
        .mask
        .selection
        .as_ref()?
        .get("real_evaluations")?
        .as_u64()
        .map(|n| n as usize)
}

/// The closed-loop section: ablation table, verdict on the log-odds scale, rounds, plots.
fn closed_loop_section(
    args: &ReportArgs,
    ap: &ApplyReport,
    fasp: Option<&ApplyReport>,
    randoms: &[ApplyReport],
    screened: usize,
) -> Result<(String, Vec<AblationRow>)> {
    let axis = &args.axis;
    let mut rows = Vec::new();
    if let Some(path) = &args.oneshot_report {
        let one = read_apply_report(path)?;
        same_test_measurement(&one, ap)?;
        rows.push(ablation_row(
            "AP one-shot (paper: surrogates only)",
            &one,
            axis,
            Some(screened),
        )?);
    }
    let answer = ablation_row(
        "AP closed loop (measured choice)",
        ap,
        axis,
        evaluations_of(ap),
    )?;
    rows.push(answer.clone());
    if let Some(f) = fasp {
        rows.push(ablation_row(
            "FASP (same choice rule)",
            f,
            axis,
            evaluations_of(f),
        )?);
    }
    for (i, r) in randoms.iter().enumerate() {
        rows.push(ablation_row(&format!("random (seed {i})"), r, axis, None)?);
    }
    let mut md = String::from("## The answer: a mask measured on the real model\n\n");
    md += "Every method on the test prompts and the test windows, changes paired against the unpruned model measured the same \
           way (95% bootstrap intervals over prompts and windows). The log-odds bias is the one saturation cannot fake: pushing \
           every bucket towards the same canned reply does not shrink it.\n\n";
    md += &ablation_table(&rows, axis);
    let rivals: Vec<&AblationRow> = rows
        .iter()
        .filter(|r| r.method != answer.method && !r.method.starts_with("AP one-shot"))
        .collect();
    md += "\nVerdict on the log-odds scale:\n\n";
    for line in verdict(&answer, &rivals, args.budget, args.min_bias_reduction) {
        md += &format!("- {line}\n");
    }
    md += "\n";
    if let Some(path) = &args.rounds {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading `{}`", path.display()))?;
        let rounds = RoundsReport::from_json(&text, &path.display().to_string())
            .map_err(anyhow::Error::msg)?;
        md += &rounds.markdown();
        md += "\n![perplexity: predicted vs measured](plots/rounds-perplexity.svg)\n\n![bias: predicted vs measured](plots/rounds-bias.svg)\n\n\
                 ![convergence](plots/rounds-convergence.svg)\n\n![agreement](plots/rounds-agreement.svg)\n\n";
        let plots_dir = args.out_dir.join("plots");
        std::fs::create_dir_all(&plots_dir)
            .with_context(|| format!("creating `{}`", plots_dir.display()))?;
        let svgs = [
            rounds.ppl_plot(),
            rounds.bias_plot(),
            rounds.convergence_plot(),
            rounds.agreement_plot(),
        ];
        for (file, svg) in ROUND_PLOTS.iter().zip(svgs) {
            check_well_formed(&svg).map_err(anyhow::Error::msg)?;
            write_atomic_bytes(&args.out_dir.join(file), svg.as_bytes())?;
        }
    }
    Ok((md, rows))
}

/// Runs the stage.
pub fn run(mut args: ReportArgs) -> Result<()> {
    let ap = read_apply_report(&args.ap_report)?;
    args.budget = args
        .ppl_budget
        .or(ap.typed.mask.perplexity_budget)
        .with_context(|| {
            format!(
                "no perplexity budget: `{}`'s mask file records none; pass --ppl-budget",
                args.ap_report.display()
            )
        })?;
    let (table, first) = read_samples(&args.samples)?;
    let axis_idx = table.axis_index(&args.axis, &first)?;
    let base_row = crate::selection::unpruned_row(&table, &first)?;
    let (search_bias0, search_ppl0) = (base_row.bias[axis_idx], base_row.perplexity);

    let sur_path = args.surrogates.join("surrogate-report.json");
    let sur = read_json(&sur_path)?;
    let sur_prov: Option<Provenance> = sur
        .get("provenance")
        .and_then(|p| serde_json::from_value(p.clone()).ok());
    if let Some(p) = &sur_prov {
        p.check_same_model(&sur_path, &table.provenance, &first)?;
        if let Some(a) = p.settings.get("axis").and_then(Value::as_str) {
            if a != args.axis {
                bail!(
                    "`{}` was trained for the `{a}` axis, not --axis `{}`",
                    sur_path.display(),
                    args.axis
                );
            }
        }
    }
    let (trajectory, traj_prov) = read_trajectory(&args.trajectory)?;

    let fasp = args
        .fasp_report
        .as_deref()
        .map(read_apply_report)
        .transpose()?;
    let randoms: Vec<ApplyReport> = args
        .random_reports
        .iter()
        .map(|p| read_apply_report(p))
        .collect::<Result<_>>()?;
    ap.provenance
        .check_same_model(&ap.path, &table.provenance, &first)?;
    for r in fasp.iter().chain(&randoms) {
        same_test_measurement(r, &ap)?;
        if r.axis(&args.axis).is_none() {
            bail!(
                "`{}` has no bias for --axis `{}`",
                r.path.display(),
                args.axis
            );
        }
        if r.split != ap.split {
            bail!(
                "`{}` reports the {} split but `{}` the {} split",
                r.path.display(),
                r.split,
                ap.path.display(),
                ap.split
            );
        }
    }
    if ap.axis(&args.axis).is_none() {
        bail!(
            "`{}` has no bias for --axis `{}` (it measured {:?})",
            ap.path.display(),
            args.axis,
            ap.axes.iter().map(|a| &a.0).collect::<Vec<_>>()
        );
    }

    // The unpruned model: as measured in the AP report; the other reports re-measure it.
    let base = Base {
        bias: ap
            .axes
            .iter()
            .map(|(a, u, _)| (a.clone(), u.bias))
            .collect(),
        ppl: ap.ppl.0,
    };
    let unpruned = MethodResult {
        label: "Unpruned".into(),
        num_pruned: 0,
        mask_file: None,
        report_files: std::iter::once(&ap)
            .chain(fasp.iter())
            .chain(&randoms)
            .map(|r| r.path.display().to_string())
            .collect(),
        perplexity: base.ppl,
        perplexity_sd: None,
        perplexity_change: 0.0,
        bias: ap
            .axes
            .iter()
            .map(|(a, u, _)| (a.clone(), axis_bias(u, u.bias)))
            .collect(),
        runs: Vec::new(),
    };
    let all: Vec<&ApplyReport> = std::iter::once(&ap)
        .chain(fasp.iter())
        .chain(&randoms)
        .collect();
    let repeatability = (all.len() > 1).then(|| {
        let t = |r: &ApplyReport| r.axis(&args.axis).map(|a| a.1.bias).unwrap_or(f64::NAN);
        Repeatability {
            measurements: all.len(),
            max_bias_difference: all
                .iter()
                .map(|r| (t(r) - t(&ap)).abs())
                .fold(0.0, f64::max),
            max_perplexity_difference: all
                .iter()
                .map(|r| (r.ppl.0 - ap.ppl.0).abs())
                .fold(0.0, f64::max),
        }
    });
    let methods = Methods {
        unpruned,
        attention_pruning: pruned_method("Attention Pruning", &ap, &base),
        fasp: fasp.as_ref().map(|f| pruned_method("FASP", f, &base)),
        random: if randoms.is_empty() {
            None
        } else {
            Some(random_method(&randoms, &base)?)
        },
    };

    let predicted = |key: &str| {
        ap.mask
            .as_ref()
            .and_then(|m| m.extra.get(key))
            .and_then(Value::as_f64)
    };
    let surrogate = SurrogateSummary {
        sampled_masks: sur["rows"]
            .as_u64()
            .map(|n| n as usize)
            .unwrap_or(table.rows.len()),
        inputs: table.layout.total(),
        bias_holdout: fit_of(&sur["bias"]["holdout"]),
        bias_train: fit_of(&sur["bias"]["train"]),
        ppl_holdout: fit_of(&sur["perplexity"]["holdout"]),
        ppl_train: fit_of(&sur["perplexity"]["train"]),
        ap_predicted_bias_reduction: predicted("predicted_bias")
            .map(|b| reduction(search_bias0, b)),
        ap_predicted_perplexity_change: predicted("predicted_perplexity")
            .map(|p| p / search_ppl0 - 1.0),
    };
    let bar = evaluate_bar(&methods, &args.axis, args.min_bias_reduction, args.budget);
    let found = findings(
        &methods,
        &args.axis,
        &bar,
        Some(&surrogate),
        repeatability.as_ref(),
    );
    let (closed_loop_md, ablation) =
        closed_loop_section(&args, &ap, fasp.as_ref(), &randoms, table.rows.len())?;
    let results = Results {
        schema_version: RESULTS_VERSION,
        ablation,
        run: args
            .out_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        target_axis: args.axis.clone(),
        axes: ap.axes.iter().map(|a| a.0.clone()).collect(),
        split: ap.split.clone(),
        ppl_budget: args.budget,
        methods,
        surrogate: Some(surrogate),
        repeatability,
        bar,
        findings: found.iter().map(|f| f.text.clone()).collect(),
    };

    let mut sources: Sources = Vec::new();
    if args.samples.len() == 1 {
        sources.push((
            "sample table".into(),
            first.display().to_string(),
            table.provenance.clone(),
        ));
    } else {
        for p in &args.samples {
            sources.push((
                "sample table".into(),
                p.display().to_string(),
                read_sample_table(p)?.provenance,
            ));
        }
    }
    if let Some(p) = sur_prov {
        sources.push((
            "surrogates".into(),
            args.surrogates.display().to_string(),
            p,
        ));
    }
    sources.push((
        "annealing trajectory".into(),
        args.trajectory.display().to_string(),
        traj_prov,
    ));
    // Pipeline order: the masks (anneal, fasp, random-masks), then the apply reports.
    let reports: Vec<(&str, &ApplyReport)> = std::iter::once(("Attention Pruning", &ap))
        .chain(fasp.iter().map(|f| ("FASP", f)))
        .chain(randoms.iter().map(|r| ("random", r)))
        .collect();
    for (what, r) in &reports {
        if let Some(p) = r
            .mask
            .as_ref()
            .and_then(|m| m.extra.get("provenance"))
            .and_then(|p| serde_json::from_value::<Provenance>(p.clone()).ok())
        {
            sources.push((format!("{what} mask"), r.mask_path.clone(), p));
        }
    }
    for (what, r) in &reports {
        sources.push((
            format!("{what} apply report"),
            r.path.display().to_string(),
            r.provenance.clone(),
        ));
    }

    let plots = make_plots(
        &args,
        &table,
        axis_idx,
        &trajectory,
        &sur,
        &results,
        &ap,
        fasp.as_ref(),
    )?;
    let md = markdown(&args, &results, &found, &sources, &table, &closed_loop_md);
    for (name, svg) in &plots {
        check_well_formed(svg)
            .map_err(|e| anyhow::anyhow!("internal error: {name} is not well-formed SVG: {e}"))?;
        write_atomic_bytes(&args.out_dir.join(name), svg.as_bytes())?;
    }
    let mut json = serde_json::to_string_pretty(&results)?;
    json.push('\n');
    write_atomic_bytes(&args.out_dir.join("results.json"), json.as_bytes())?;
    // report.md last: it is what Make tracks.
    write_atomic_bytes(&args.out_dir.join("report.md"), md.as_bytes())?;
    for f in &found {
        log::info!("{}", f.text.replace("**", ""));
    }
    log::info!("wrote {}", args.out_dir.join("report.md").display());
    Ok(())
}

/// Keeps at most `max` evenly spaced points (always the first and the last).
fn thin(points: Vec<(f64, f64)>, max: usize) -> Vec<(f64, f64)> {
    if points.len() <= max || max < 2 {
        return points;
    }
    let step = (points.len() - 1) as f64 / (max - 1) as f64;
    (0..max)
        .map(|i| points[((i as f64 * step).round() as usize).min(points.len() - 1)])
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn make_plots(
    args: &ReportArgs,
    table: &SampleTable,
    axis_idx: usize,
    trajectory: &[TrajectoryRow],
    sur: &Value,
    results: &Results,
    ap: &ApplyReport,
    fasp: Option<&ApplyReport>,
) -> Result<Vec<(&'static str, String)>> {
    let axis = &args.axis;
    let m = &results.methods;
    let base_row = table
        .rows
        .iter()
        .find(|r| r.mask.num_pruned() == 0)
        .context("no unpruned row")?;
    let (b0, p0) = (base_row.bias[axis_idx], base_row.perplexity);
    let relative = b0 > 0.0;
    let y_of = |b: f64| if relative { 100.0 * (b / b0 - 1.0) } else { b };
    let mut out = Vec::new();

    // 1. Bias vs perplexity: every sampled mask, the methods marked.
    let points = table
        .rows
        .iter()
        .filter(|r| r.mask.num_pruned() > 0)
        .map(|r| (100.0 * (r.perplexity / p0 - 1.0), y_of(r.bias[axis_idx])))
        .collect();
    let ub = m.unpruned.bias.get(axis).map(|b| b.bias).unwrap_or(0.0);
    // The methods relative to the unpruned model measured the same way (test prompts).
    let t_y = |b: f64| match (relative, ub > 0.0) {
        (true, true) => 100.0 * (b / ub - 1.0),
        (true, false) => 0.0,
        (false, _) => b,
    };
    let bias_of = |mr: &MethodResult| mr.bias.get(axis).map(|b| b.bias).unwrap_or(f64::NAN);
    let ppl_pct = |p: f64| 100.0 * (p / m.unpruned.perplexity - 1.0);
    let mut highlights = Vec::new();
    if let Some(r) = &m.random {
        for (i, run) in r.runs.iter().enumerate() {
            let mut h = Highlight::new(
                ppl_pct(run.perplexity),
                t_y(run.bias.get(axis).map(|b| b.bias).unwrap_or(f64::NAN)),
                "random seeds",
                colors::RANDOM,
            );
            h.radius = 3.5;
            h.label_point = false;
            h.in_legend = i == 0;
            highlights.push(h);
        }
        let mut h = Highlight::new(
            ppl_pct(r.perplexity),
            t_y(bias_of(r)),
            &format!("random, mean of {}", r.runs.len()),
            colors::RANDOM,
        );
        let ppls = r.runs.iter().map(|x| ppl_pct(x.perplexity));
        h.x_err = Some((
            ppls.clone().fold(f64::INFINITY, f64::min),
            ppls.fold(f64::NEG_INFINITY, f64::max),
        ));
        h.y_err = r.bias.get(axis).map(|b| (t_y(b.ci_low), t_y(b.ci_high)));
        highlights.push(h);
    }
    highlights.push(Highlight::new(0.0, t_y(ub), "unpruned", colors::UNPRUNED));
    if let Some(f) = &m.fasp {
        highlights.push(Highlight::new(
            ppl_pct(f.perplexity),
            t_y(bias_of(f)),
            "FASP",
            colors::FASP,
        ));
    }
    highlights.push(Highlight::new(
        ppl_pct(m.attention_pruning.perplexity),
        t_y(bias_of(&m.attention_pruning)),
        "Attention Pruning",
        colors::AP,
    ));
    let y_label = if relative {
        format!("{axis} bias change vs unpruned (%)")
    } else {
        format!("{axis} bias")
    };
    out.push((
        PLOTS[0],
        plots::scatter(&ScatterPlot {
            title: format!("{axis} bias vs perplexity of every sampled mask"),
            x_label: "perplexity change vs unpruned (%)".into(),
            y_label,
            points,
            points_label: format!("sampled masks ({})", table.rows.len().saturating_sub(1)),
            highlights,
            vlines: vec![RefLine { value: 100.0 * args.budget, label: format!("budget {}", fmt_pct(args.budget)) }],
            note: vec!["grey: sampled masks on the search prompts (sample); coloured: the methods on the test prompts (apply)".into()],
            ..Default::default()
        }),
    ));

    // 2. Pruned heads: AP and FASP marks over the single-head knockouts' bias change.
    let layout = table.layout;
    let mut values = vec![vec![f64::NAN; layout.num_heads]; layout.num_layers];
    for r in table.rows.iter().filter(|r| r.origin == "single-head") {
        if let Some(h) = crate::evaluation::single_head_of(&r.mask) {
            values[h.layer][h.head] = y_of(r.bias[axis_idx]);
        }
    }
    let mut marks = vec![vec![String::new(); layout.num_heads]; layout.num_layers];
    for (tag, report) in [("A", Some(ap)), ("F", fasp)] {
        for &[l, h] in report.map(|r| r.pruned.as_slice()).unwrap_or(&[]) {
            if l < layout.num_layers && h < layout.num_heads {
                marks[l][h].push_str(tag);
            }
        }
    }
    let any_single = values.iter().flatten().any(|v| v.is_finite());
    out.push((
        PLOTS[1],
        plots::heatmap(&Heatmap {
            title: "Pruned heads: Attention Pruning (A) and FASP (F)".into(),
            row_label: "layer".into(),
            col_label: "head".into(),
            values,
            value_label: if !any_single {
                "no single-head knockouts sampled".into()
            } else if relative {
                format!("{axis} bias change, head alone (%)")
            } else {
                format!("{axis} bias, head alone")
            },
            marks,
            mark_legend: vec![
                ("A".into(), "pruned by Attention Pruning".into()),
                ("F".into(), "pruned by FASP".into()),
            ],
        }),
    ));

    // 3. Annealing trajectory.
    let restarts: std::collections::BTreeSet<u32> = trajectory.iter().map(|t| t.restart).collect();
    let series = |f: fn(&TrajectoryRow) -> f64| -> Vec<Series> {
        restarts
            .iter()
            .map(|&r| Series {
                name: format!("restart {r}"),
                color: None,
                points: thin(
                    trajectory
                        .iter()
                        .filter(|t| t.restart == r)
                        .map(|t| (t.step as f64, f(t)))
                        .collect(),
                    400,
                ),
            })
            .collect()
    };
    out.push((
        PLOTS[2],
        plots::lines(&LinePlot {
            title: "Annealing: predicted bias of the current mask".into(),
            x_label: "step".into(),
            y_label: format!("predicted {axis} bias"),
            series: series(|t| t.predicted_bias),
            hlines: vec![RefLine {
                value: b0,
                label: "unpruned (measured)".into(),
            }],
        }),
    ));
    let mut hl = vec![RefLine {
        value: p0,
        label: "unpruned (measured)".into(),
    }];
    if let Some(limit) = ap
        .mask
        .as_ref()
        .and_then(|m| m.extra.get("perplexity_limit"))
        .and_then(Value::as_f64)
    {
        hl.push(RefLine {
            value: limit,
            label: "perplexity limit".into(),
        });
    }
    out.push((
        PLOTS[3],
        plots::lines(&LinePlot {
            title: "Annealing: predicted perplexity of the current mask".into(),
            x_label: "step".into(),
            y_label: "predicted perplexity".into(),
            series: series(|t| t.predicted_perplexity),
            hlines: hl,
        }),
    ));

    // 4. Surrogates: held-out predicted vs measured.
    for (name, key, what) in [
        (PLOTS[4], "bias", format!("ln {axis} bias")),
        (PLOTS[5], "perplexity", "ln perplexity".to_string()),
    ] {
        let fit = fit_of(&sur[key]["holdout"]);
        let note = match fit {
            Some(f) => format!(
                "held-out masks: n = {}, R² = {}, Spearman = {}",
                f.n,
                f.r2.map(fmt_num).unwrap_or_else(|| "n/a".into()),
                f.spearman.map(fmt_num).unwrap_or_else(|| "n/a".into())
            ),
            None => "no held-out masks".into(),
        };
        out.push((
            name,
            plots::scatter(&ScatterPlot {
                title: format!("Surrogate: predicted vs measured {what}"),
                x_label: format!("measured {what}"),
                y_label: format!("predicted {what}"),
                points: points_of(&sur[key]["holdout_points"]),
                points_label: "held-out masks".into(),
                diagonal: true,
                note: vec![note],
                ..Default::default()
            }),
        ));
    }

    // 5. Spillover: every measured axis, before and after.
    let groups = results.axes.clone();
    let mut bars = Vec::new();
    for (method, color) in [
        (Some(&m.unpruned), colors::UNPRUNED),
        (Some(&m.attention_pruning), colors::AP),
        (m.fasp.as_ref(), colors::FASP),
        (m.random.as_ref(), colors::RANDOM),
    ] {
        if let Some(mr) = method {
            bars.push(BarSeries {
                name: mr.label.clone(),
                color: color.into(),
                values: groups
                    .iter()
                    .map(|g| mr.bias.get(g).map(|b| b.bias).unwrap_or(f64::NAN))
                    .collect(),
                errors: groups
                    .iter()
                    .map(|g| mr.bias.get(g).map(|b| (b.ci_low, b.ci_high)))
                    .collect(),
            });
        }
    }
    out.push((
        PLOTS[6],
        plots::grouped_bars(&BarPlot {
            title: format!("Spillover: every axis' bias after pruning for {axis} (test prompts)"),
            y_label: "bias (95% CI; random: range over seeds)".into(),
            x_label: "axis".into(),
            groups,
            series: bars,
        }),
    ));
    Ok(out)
}

fn heads(n: usize) -> String {
    if n == 1 {
        "1 head".into()
    } else {
        format!("{n} heads")
    }
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:=,@+-%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn bias_cell(b: Option<&AxisBias>) -> String {
    b.map(|b| fmt_interval(b.bias, b.ci_low, b.ci_high))
        .unwrap_or_else(|| "not measured".into())
}

/// The row of the main table for a method: method, heads, bias [CI], bias change, perplexity, perplexity change.
pub fn table_row(m: &MethodResult, axis: &str) -> Vec<String> {
    let b = m.bias.get(axis);
    let ppl = match m.perplexity_sd {
        Some(sd) => format!("{} ± {}", fmt_num(m.perplexity), fmt_num(sd)),
        None => fmt_num(m.perplexity),
    };
    vec![
        m.label.clone(),
        m.num_pruned.to_string(),
        bias_cell(b),
        b.map(|b| fmt_pct(-b.relative_reduction))
            .unwrap_or_default(),
        ppl,
        fmt_pct(m.perplexity_change),
    ]
}

fn markdown(
    args: &ReportArgs,
    r: &Results,
    found: &[Finding],
    sources: &Sources,
    table: &SampleTable,
    closed_loop: &str,
) -> String {
    let axis = &r.target_axis;
    let m = &r.methods;
    let model = table
        .provenance
        .model
        .as_ref()
        .map(|f| f.path.clone())
        .unwrap_or_default();
    let mut md = format!("# attnprune report: {}\n\n", r.run);
    md += &format!(
        "Fairness repair of `{model}` on the `{axis}` axis: Attention Pruning (surrogates + simulated annealing) against FASP, random pruning of as many heads, and the unpruned model. Numbers are on the **{}** prompts (never seen by the search) and on held-out text; perplexity budget {}.\n\n",
        r.split,
        fmt_pct(r.ppl_budget)
    );
    md += "## Results\n\n";
    let mut t = Table::new(&[
        "method",
        "heads pruned",
        &format!("`{axis}` bias [95% CI]"),
        "bias change",
        "perplexity",
        "perplexity change",
    ]);
    for (_, mr) in m.iter() {
        t.row(table_row(mr, axis));
    }
    md += &t.render();
    if let Some(rm) = &m.random {
        md += &format!("\nRandom: mean over {} seeds, the interval is the range over the seeds; perplexity mean ± sd.\n", rm.runs.len());
    }
    md += "\n";
    md += closed_loop;
    md += "## Verdict (probability scale, the paper's measure)\n\n";
    for f in found.iter().take(1) {
        md += &format!("{}\n\n", f.text);
    }
    let concerns: Vec<&Finding> = found.iter().skip(1).filter(|f| f.concern).collect();
    let others: Vec<&Finding> = found.iter().skip(1).filter(|f| !f.concern).collect();
    if !concerns.is_empty() {
        md += if r.bar.met {
            "### Caveats\n\n"
        } else {
            "### Why it falls short\n\n"
        };
        for f in concerns {
            md += &format!("- {}\n", f.text);
        }
        md += "\n";
    }
    if !others.is_empty() {
        md += "### Other diagnostics\n\n";
        for f in others {
            md += &format!("- {}\n", f.text);
        }
        md += "\n";
    }
    md += "## Bias vs perplexity\n\n![bias vs perplexity](plots/bias-vs-perplexity.svg)\n\n";
    md += &format!(
        "Each grey point is a mask measured by `sample` on the search prompts and text; the coloured points are the methods measured by `apply` on the test prompts and held-out text, each relative to the unpruned model measured the same way. The green line is the perplexity budget ({}).\n\n",
        fmt_pct(r.ppl_budget)
    );
    md += "## Pruned heads\n\n![pruned heads](plots/pruned-heads.svg)\n\n";
    md += &format!(
        "Layers x heads; A = pruned by Attention Pruning ({}), F = pruned by FASP ({}). The colour is the `{axis}` bias change when the head alone is pruned (single-head knockouts of `sample --single-head`; grey where not sampled).\n\n",
        heads(m.attention_pruning.num_pruned),
        m.fasp.as_ref().map(|f| heads(f.num_pruned)).unwrap_or_else(|| "not run".into())
    );
    md += "## Annealing trajectory\n\n![predicted bias](plots/trajectory-bias.svg)\n\n![predicted perplexity](plots/trajectory-perplexity.svg)\n\n";
    md += "## Surrogates: predicted vs measured on held-out samples\n\n![bias surrogate](plots/surrogate-bias.svg)\n\n![perplexity surrogate](plots/surrogate-perplexity.svg)\n\n";
    if let Some(s) = &r.surrogate {
        let mut t = Table::new(&["surrogate", "rows", "R²", "Spearman", "RMSE"]);
        for (name, f) in [
            ("bias, held-out", s.bias_holdout),
            ("bias, training", s.bias_train),
            ("ln perplexity, held-out", s.ppl_holdout),
            ("ln perplexity, training", s.ppl_train),
        ] {
            let opt = |x: Option<f64>| x.map(fmt_num).unwrap_or_else(|| "n/a".into());
            match f {
                Some(f) => t.row(vec![
                    name.into(),
                    f.n.to_string(),
                    opt(f.r2),
                    opt(f.spearman),
                    opt(f.rmse),
                ]),
                None => t.row(vec![
                    name.into(),
                    "0".into(),
                    "n/a".into(),
                    "n/a".into(),
                    "n/a".into(),
                ]),
            };
        }
        md += &t.render();
        md += &format!(
            "\n{} sampled masks for {} heads.\n\n",
            s.sampled_masks, s.inputs
        );
    }
    md += &format!("## Spillover: every axis after pruning for `{axis}`\n\n![spillover](plots/spillover.svg)\n\n");
    let mut header = vec!["axis".to_string(), "test prompts".into()];
    header.extend(m.iter().iter().map(|(_, mr)| format!("{} bias", mr.label)));
    header.push("Attention Pruning change".into());
    let mut t = Table::new(&header);
    for a in &r.axes {
        let mut row = vec![
            format!("`{a}`"),
            m.unpruned
                .bias
                .get(a)
                .map(|b| b.prompts.to_string())
                .unwrap_or_default(),
        ];
        row.extend(m.iter().iter().map(|(_, mr)| bias_cell(mr.bias.get(a))));
        row.push(
            m.attention_pruning
                .bias
                .get(a)
                .map(|b| fmt_pct(-b.relative_reduction))
                .unwrap_or_default(),
        );
        t.row(row);
    }
    md += &t.render();
    if let Some(rm) = &m.random {
        md += "\n## Random baseline, per seed\n\n";
        let mut t = Table::new(&[
            "seed",
            "mask",
            &format!("`{axis}` bias [95% CI]"),
            "perplexity",
        ]);
        for run in &rm.runs {
            t.row(vec![
                run.seed.map(|s| s.to_string()).unwrap_or_default(),
                format!("`{}`", run.mask_file),
                bias_cell(run.bias.get(axis)),
                fmt_num(run.perplexity),
            ]);
        }
        md += &t.render();
    }
    md += "\n## Provenance\n\n";
    let mut t = Table::new(&["artifact", "file", "stage", "seed", "tool"]);
    for (what, file, p) in sources {
        t.row(vec![
            what.clone(),
            format!("`{file}`"),
            p.stage.clone(),
            p.seed.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
            p.tool_version.clone(),
        ]);
    }
    md += &t.render();
    let mut t = Table::new(&["input", "search (sample)", "report (apply)"]);
    let ap_prov = &sources
        .iter()
        .find(|s| s.0 == "Attention Pruning apply report")
        .map(|s| s.2.clone())
        .unwrap_or_else(|| table.provenance.clone());
    let fp = |f: &Option<attnprune_artifact::Fingerprint>| {
        f.as_ref()
            .map(|f| format!("`{}` (sha256 `{}`)", f.path, f.sha256))
            .unwrap_or_else(|| "-".into())
    };
    t.row(vec![
        "model".into(),
        fp(&table.provenance.model),
        fp(&ap_prov.model),
    ]);
    t.row(vec![
        "prompt set".into(),
        fp(&table.provenance.prompts),
        fp(&ap_prov.prompts),
    ]);
    t.row(vec![
        "utility text".into(),
        fp(&table.provenance.corpus),
        fp(&ap_prov.corpus),
    ]);
    let settings = |p: &Provenance| {
        format!(
            "`{}`",
            serde_json::to_string(&p.settings).unwrap_or_default()
        )
    };
    t.row(vec![
        "measurement".into(),
        settings(&table.provenance),
        settings(ap_prov),
    ]);
    md += "\n";
    md += &t.render();
    md +=
        "\nThe exact commands, in pipeline order (each from its artifact's provenance):\n\n```sh\n";
    let mut seen = std::collections::BTreeSet::new();
    for (_, _, p) in sources {
        let line = p
            .args
            .iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ");
        if !line.is_empty() && seen.insert(line.clone()) {
            md += &format!("{line}\n");
        }
    }
    md += &format!(
        "{}\n```\n",
        crate::common::command_line()
            .iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ")
    );
    md += &format!("\nNumbers for machines: [`results.json`](results.json). Bar: at least {} less `{axis}` bias, at most {} perplexity, lower bias than FASP.\n", fmt_pct(args.min_bias_reduction).trim_start_matches('+'), fmt_pct(args.budget));
    md
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn thinning_keeps_the_ends() {
        let pts: Vec<(f64, f64)> = (0..1000).map(|i| (i as f64, 0.0)).collect();
        let t = thin(pts, 10);
        assert_eq!(t.len(), 10);
        assert_eq!((t[0].0, t[9].0), (0.0, 999.0));
        assert_eq!(thin(vec![(1.0, 1.0)], 10).len(), 1);
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("--out"), "--out");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }

    #[test]
    fn random_spread() {
        let (m, sd) = mean_sd(&[1.0, 2.0, 3.0]);
        assert_eq!((m, sd), (2.0, 1.0));
        assert_eq!(mean_sd(&[4.0]), (4.0, 0.0));
    }
}
