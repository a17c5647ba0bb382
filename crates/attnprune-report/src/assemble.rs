//! Assembling the report: `results.json` from the apply reports, the sample table and the
//! surrogates' fits, then the findings, the plots and `report.md` from those numbers. The
//! `report` stage reads and checks the inputs and writes what [`build`] returns.

use crate::ablation::{AblationRow, Change};
use crate::apply::ApplyReport;
use crate::document::{closed_loop_markdown, markdown};
use crate::figures::{make_plots, ROUND_PLOTS};
use crate::findings::{evaluate_bar, findings, Finding};
use crate::inputs::{ApplyInput, Source, SurrogateFits};
use crate::rounds::RoundsReport;
use crate::{
    AxisBias, MethodResult, Methods, Repeatability, Results, RunResult, SurrogateSummary,
    RESULTS_VERSION,
};
use attnprune_artifact::trajectory::TrajectoryRow;
use attnprune_artifact::SampleTable;
use attnprune_measure::bias::AxisBias as Measured;
use serde_json::Value;
use std::collections::BTreeMap;

/// The report's settings.
#[derive(Debug, Clone)]
pub struct ReportSettings {
    /// The axis the methods repair.
    pub axis: String,
    /// The perplexity budget in force (0.05 = 5%).
    pub ppl_budget: f64,
    /// The bar's least relative bias reduction on the axis.
    pub min_bias_reduction: f64,
    /// The run's name (the output folder's name).
    pub run: String,
    /// The command line of the `report` run itself (the last line of the commands).
    pub command_line: Vec<String>,
}

/// Everything the report is built from, read and checked by the stage.
#[derive(Debug, Clone)]
pub struct ReportInputs {
    /// The sample table(s), merged.
    pub table: SampleTable,
    /// Index of the target axis in the table's columns.
    pub axis_index: usize,
    /// The surrogates' fits.
    pub surrogates: SurrogateFits,
    /// The annealing trajectory.
    pub trajectory: Vec<TrajectoryRow>,
    /// The Attention Pruning apply report.
    pub ap: ApplyInput,
    /// The one-shot Attention Pruning apply report, for the ablation.
    pub oneshot: Option<ApplyInput>,
    /// The FASP apply report.
    pub fasp: Option<ApplyInput>,
    /// The random masks' apply reports.
    pub randoms: Vec<ApplyInput>,
    /// The closed loop's rounds summary.
    pub rounds: Option<RoundsReport>,
    /// Every artifact read before the apply reports (tables, surrogates, trajectory), in
    /// pipeline order; the masks and apply reports are added by [`build`].
    pub sources: Vec<Source>,
}

/// What the report writes: `results.json`, `report.md`, the plots, and the findings to log.
#[derive(Debug, Clone)]
pub struct ReportOutput {
    /// The numbers (`results.json`).
    pub results: Results,
    /// The verdict and diagnostics.
    pub findings: Vec<Finding>,
    /// `report.md`.
    pub markdown: String,
    /// `(file relative to the report's folder, SVG text)` of every plot, checked well-formed.
    pub plots: Vec<(String, String)>,
}

/// `1 - x / base` (0 when the base is not positive).
pub fn reduction(base: f64, x: f64) -> f64 {
    if base > 0.0 {
        1.0 - x / base
    } else {
        0.0
    }
}

/// A measured bias as the results table shows it, relative to `base`.
pub fn axis_bias(m: &Measured, base: f64) -> AxisBias {
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

/// Mean and sample standard deviation of the random seeds' figures (sd 0 for one seed).
pub fn mean_sd(xs: &[f64]) -> (f64, f64) {
    let sd = if xs.len() > 1 {
        attnprune_stats::sd(xs)
    } else {
        0.0
    };
    (attnprune_stats::mean(xs), sd)
}

/// The unpruned baseline of the table: per-axis bias and perplexity (from the AP report).
struct Base {
    bias: BTreeMap<String, f64>,
    ppl: f64,
}

impl Base {
    fn bias_of(&self, axis: &str) -> f64 {
        self.bias.get(axis).copied().unwrap_or(0.0)
    }

    fn axes_of(&self, r: &ApplyInput) -> BTreeMap<String, AxisBias> {
        r.axes
            .iter()
            .map(|(a, _, p)| (a.clone(), axis_bias(p, self.bias_of(a))))
            .collect()
    }
}

fn pruned_method(label: &str, r: &ApplyInput, base: &Base) -> MethodResult {
    MethodResult {
        label: label.into(),
        num_pruned: r.num_pruned,
        mask_file: Some(r.mask_path.clone()),
        report_files: vec![r.path.display().to_string()],
        perplexity: r.ppl.1,
        perplexity_sd: None,
        perplexity_change: r.ppl.1 / base.ppl - 1.0,
        bias: base.axes_of(r),
        runs: Vec::new(),
    }
}

fn random_run(r: &ApplyInput, base: &Base) -> RunResult {
    RunResult {
        seed: r
            .mask
            .as_ref()
            .and_then(|m| m.extra.get("seed"))
            .and_then(Value::as_u64),
        mask_file: r.mask_path.clone(),
        report_file: r.path.display().to_string(),
        num_pruned: r.num_pruned,
        perplexity: r.ppl.1,
        bias: base.axes_of(r),
    }
}

/// The random seeds' bias on `axis`: mean, range, sd.
fn random_axis(runs: &[RunResult], axis: &str, base_bias: f64) -> AxisBias {
    let xs: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.bias.get(axis).map(|b| b.bias))
        .collect();
    let (mean, sd) = mean_sd(&xs);
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let prompts = runs[0].bias[axis].prompts;
    let mean_scores: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.bias.get(axis).and_then(|b| b.mean_score))
        .collect();
    AxisBias {
        bias: mean,
        ci_low: lo,
        ci_high: hi,
        interval: format!("range over {} seeds", xs.len()),
        sd: Some(sd),
        relative_reduction: reduction(base_bias, mean),
        prompts,
        mean_score: (!mean_scores.is_empty()).then(|| mean_sd(&mean_scores).0),
    }
}

fn random_method(reports: &[ApplyInput], base: &Base) -> Result<MethodResult, String> {
    let runs: Vec<RunResult> = reports.iter().map(|r| random_run(r, base)).collect();
    let counts: Vec<usize> = runs.iter().map(|r| r.num_pruned).collect();
    if counts.windows(2).any(|w| w[0] != w[1]) {
        return Err(format!("the random masks prune different numbers of heads ({counts:?}): make them with `random-masks --like` one mask"));
    }
    // The axes every random mask was measured on.
    let bias = runs[0]
        .bias
        .keys()
        .filter(|a| runs.iter().all(|r| r.bias.contains_key(*a)))
        .map(|axis| (axis.clone(), random_axis(&runs, axis, base.bias_of(axis))))
        .collect();
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
    r: &ApplyInput,
    axis: &str,
    real_evaluations: Option<usize>,
) -> Result<AblationRow, String> {
    let ppl = r
        .typed
        .perplexity
        .as_ref()
        .ok_or_else(|| format!("`{}` has no perplexity", r.path.display()))?;
    let bias = r
        .typed
        .bias
        .get(axis)
        .ok_or_else(|| format!("`{}` has no bias for `{axis}`", r.path.display()))?;
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
    r.mask
        .selection
        .as_ref()?
        .get("real_evaluations")?
        .as_u64()
        .map(|n| n as usize)
}

/// The ablation rows (one-shot, closed loop, FASP, random seeds) and the closed loop's answer.
fn ablation_rows(
    inputs: &ReportInputs,
    axis: &str,
) -> Result<(Vec<AblationRow>, AblationRow), String> {
    let mut rows = Vec::new();
    if let Some(one) = &inputs.oneshot {
        rows.push(ablation_row(
            "AP one-shot (paper: surrogates only)",
            one,
            axis,
            Some(inputs.table.rows.len()),
        )?);
    }
    let ap = &inputs.ap;
    let answer = ablation_row(
        "AP closed loop (measured choice)",
        ap,
        axis,
        evaluations_of(&ap.typed),
    )?;
    rows.push(answer.clone());
    if let Some(f) = &inputs.fasp {
        rows.push(ablation_row(
            "FASP (same choice rule)",
            f,
            axis,
            evaluations_of(&f.typed),
        )?);
    }
    for (i, r) in inputs.randoms.iter().enumerate() {
        rows.push(ablation_row(&format!("random (seed {i})"), r, axis, None)?);
    }
    Ok((rows, answer))
}

/// The methods of the results table: unpruned, AP, FASP, random.
fn methods(inputs: &ReportInputs) -> Result<Methods, String> {
    let ap = &inputs.ap;
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
        report_files: all_reports(inputs)
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
    Ok(Methods {
        unpruned,
        attention_pruning: pruned_method("Attention Pruning", ap, &base),
        fasp: inputs
            .fasp
            .as_ref()
            .map(|f| pruned_method("FASP", f, &base)),
        random: if inputs.randoms.is_empty() {
            None
        } else {
            Some(random_method(&inputs.randoms, &base)?)
        },
    })
}

/// AP, FASP, then the random masks' reports.
fn all_reports(inputs: &ReportInputs) -> impl Iterator<Item = &ApplyInput> {
    std::iter::once(&inputs.ap)
        .chain(inputs.fasp.iter())
        .chain(&inputs.randoms)
}

/// How much the unpruned model's numbers differ between the apply reports.
fn repeatability(inputs: &ReportInputs, axis: &str) -> Option<Repeatability> {
    let all: Vec<&ApplyInput> = all_reports(inputs).collect();
    let ap = &inputs.ap;
    (all.len() > 1).then(|| {
        let t = |r: &ApplyInput| r.axis(axis).map_or(f64::NAN, |a| a.1.bias);
        Repeatability {
            measurements: all.len(),
            max_bias_difference: all.iter().map(|r| (t(r) - t(ap)).abs()).fold(0.0, f64::max),
            max_perplexity_difference: all
                .iter()
                .map(|r| (r.ppl.0 - ap.ppl.0).abs())
                .fold(0.0, f64::max),
        }
    })
}

/// The surrogates' summary: their fits and what they predicted for the AP mask, relative
/// to the unpruned row of the sample table.
fn surrogate_summary(inputs: &ReportInputs) -> Result<SurrogateSummary, String> {
    let base_row = inputs
        .table
        .rows
        .iter()
        .find(|r| r.mask.num_pruned() == 0)
        .ok_or("the sample table has no unpruned row")?;
    let (bias0, ppl0) = (base_row.bias[inputs.axis_index], base_row.perplexity);
    let s = &inputs.surrogates;
    Ok(SurrogateSummary {
        sampled_masks: s.rows,
        inputs: inputs.table.layout.total(),
        bias_holdout: s.bias_holdout,
        bias_train: s.bias_train,
        ppl_holdout: s.ppl_holdout,
        ppl_train: s.ppl_train,
        ap_predicted_bias_reduction: inputs
            .ap
            .mask_number("predicted_bias")
            .map(|b| reduction(bias0, b)),
        ap_predicted_perplexity_change: inputs
            .ap
            .mask_number("predicted_perplexity")
            .map(|p| p / ppl0 - 1.0),
    })
}

/// The masks' and the apply reports' sources, in pipeline order (masks first).
fn report_sources(inputs: &ReportInputs) -> Vec<Source> {
    let reports: Vec<(&str, &ApplyInput)> = std::iter::once(("Attention Pruning", &inputs.ap))
        .chain(inputs.fasp.iter().map(|f| ("FASP", f)))
        .chain(inputs.randoms.iter().map(|r| ("random", r)))
        .collect();
    let masks = reports.iter().filter_map(|(what, r)| {
        let p = r.mask.as_ref()?.extra.get("provenance")?;
        Some(Source {
            what: format!("{what} mask"),
            file: r.mask_path.clone(),
            provenance: serde_json::from_value(p.clone()).ok()?,
        })
    });
    let applies = reports.iter().map(|(what, r)| Source {
        what: format!("{what} apply report"),
        file: r.path.display().to_string(),
        provenance: r.provenance.clone(),
    });
    masks.chain(applies).collect()
}

/// Builds the whole report from checked inputs.
pub fn build(settings: &ReportSettings, inputs: &ReportInputs) -> Result<ReportOutput, String> {
    let axis = &settings.axis;
    let methods = methods(inputs)?;
    let repeatability = repeatability(inputs, axis);
    let surrogate = surrogate_summary(inputs)?;
    let bar = evaluate_bar(
        &methods,
        axis,
        settings.min_bias_reduction,
        settings.ppl_budget,
    );
    let found = findings(
        &methods,
        axis,
        &bar,
        Some(&surrogate),
        repeatability.as_ref(),
    );
    let (ablation, answer) = ablation_rows(inputs, axis)?;
    let closed_loop_md = closed_loop_markdown(settings, &ablation, &answer, inputs.rounds.as_ref());
    let results = Results {
        schema_version: RESULTS_VERSION,
        ablation,
        run: settings.run.clone(),
        target_axis: axis.clone(),
        axes: inputs.ap.axes.iter().map(|a| a.0.clone()).collect(),
        split: inputs.ap.split.clone(),
        ppl_budget: settings.ppl_budget,
        methods,
        surrogate: Some(surrogate),
        repeatability,
        bar,
        findings: found.iter().map(|f| f.text.clone()).collect(),
    };
    let mut sources = inputs.sources.clone();
    sources.extend(report_sources(inputs));
    let mut plots = Vec::new();
    if let Some(rounds) = &inputs.rounds {
        let svgs = [
            rounds.ppl_plot(),
            rounds.bias_plot(),
            rounds.convergence_plot(),
            rounds.agreement_plot(),
        ];
        plots.extend(ROUND_PLOTS.iter().map(|f| f.to_string()).zip(svgs));
    }
    plots.extend(
        make_plots(settings, inputs, &results)?
            .into_iter()
            .map(|(f, svg)| (f.to_string(), svg)),
    );
    for (name, svg) in &plots {
        crate::svg::check_well_formed(svg)
            .map_err(|e| format!("internal error: {name} is not well-formed SVG: {e}"))?;
    }
    let markdown = markdown(
        settings,
        &results,
        &found,
        &sources,
        &inputs.table,
        &closed_loop_md,
    );
    Ok(ReportOutput {
        results,
        findings: found,
        markdown,
        plots,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_spread() {
        let (m, sd) = mean_sd(&[1.0, 2.0, 3.0]);
        assert_eq!((m, sd), (2.0, 1.0));
        assert_eq!(mean_sd(&[4.0]), (4.0, 0.0));
    }
}
