//! The report's plots, one function each, from the sample table, the trajectory, the
//! surrogates' fits and the results.

use crate::assemble::{ReportInputs, ReportSettings};
use crate::inputs::ApplyInput;
use crate::plots::{
    self, colors, BarPlot, BarSeries, Heatmap, Highlight, LinePlot, RefLine, ScatterPlot, Series,
};
use crate::results::Fit;
use crate::{fmt_num, fmt_pct, MethodResult, Methods, Results};
use attnprune_artifact::trajectory::TrajectoryRow;
use attnprune_artifact::SampleTable;

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

/// Keeps at most `max` evenly spaced points (always the first and the last).
pub fn thin(points: Vec<(f64, f64)>, max: usize) -> Vec<(f64, f64)> {
    if points.len() <= max || max < 2 {
        return points;
    }
    let step = (points.len() - 1) as f64 / (max - 1) as f64;
    (0..max)
        .map(|i| points[((i as f64 * step).round() as usize).min(points.len() - 1)])
        .collect()
}

/// The search's unpruned bias and perplexity, and how the plots show a bias: as a change
/// in % of the unpruned bias when that is positive, else as is.
struct Scale {
    bias0: f64,
    ppl0: f64,
    relative: bool,
}

impl Scale {
    fn of(table: &SampleTable, axis_index: usize) -> Result<Self, String> {
        let base = table
            .rows
            .iter()
            .find(|r| r.mask.num_pruned() == 0)
            .ok_or("no unpruned row")?;
        let (bias0, ppl0) = (base.bias[axis_index], base.perplexity);
        Ok(Self {
            bias0,
            ppl0,
            relative: bias0 > 0.0,
        })
    }

    fn y(&self, b: f64) -> f64 {
        if self.relative {
            100.0 * (b / self.bias0 - 1.0)
        } else {
            b
        }
    }
}

/// Every plot of [`PLOTS`], in that order.
pub fn make_plots(
    settings: &ReportSettings,
    inputs: &ReportInputs,
    results: &Results,
) -> Result<Vec<(&'static str, String)>, String> {
    let scale = Scale::of(&inputs.table, inputs.axis_index)?;
    let (bias_traj, ppl_traj) = trajectory_plots(settings, inputs, &scale);
    let (bias_sur, ppl_sur) = surrogate_plots(&settings.axis, &inputs.surrogates);
    Ok(vec![
        (
            PLOTS[0],
            bias_vs_perplexity_plot(settings, inputs, &results.methods, &scale),
        ),
        (PLOTS[1], pruned_heads_plot(&settings.axis, inputs, &scale)),
        (PLOTS[2], bias_traj),
        (PLOTS[3], ppl_traj),
        (PLOTS[4], bias_sur),
        (PLOTS[5], ppl_sur),
        (PLOTS[6], spillover_plot(&settings.axis, results)),
    ])
}

/// The methods' highlighted points of the bias-vs-perplexity plot.
fn method_highlights(axis: &str, m: &Methods, relative: bool) -> Vec<Highlight> {
    let ub = m.unpruned.bias.get(axis).map_or(0.0, |b| b.bias);
    // The methods relative to the unpruned model measured the same way (test prompts).
    let t_y = |b: f64| match (relative, ub > 0.0) {
        (true, true) => 100.0 * (b / ub - 1.0),
        (true, false) => 0.0,
        (false, _) => b,
    };
    let bias_of = |mr: &MethodResult| mr.bias.get(axis).map_or(f64::NAN, |b| b.bias);
    let ppl_pct = |p: f64| 100.0 * (p / m.unpruned.perplexity - 1.0);
    let mut highlights = Vec::new();
    if let Some(r) = &m.random {
        for (i, run) in r.runs.iter().enumerate() {
            let mut h = Highlight::new(
                ppl_pct(run.perplexity),
                t_y(run.bias.get(axis).map_or(f64::NAN, |b| b.bias)),
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
    highlights
}

/// Bias vs perplexity: every sampled mask, the methods marked.
fn bias_vs_perplexity_plot(
    settings: &ReportSettings,
    inputs: &ReportInputs,
    m: &Methods,
    scale: &Scale,
) -> String {
    let axis = &settings.axis;
    let table = &inputs.table;
    let points = table
        .rows
        .iter()
        .filter(|r| r.mask.num_pruned() > 0)
        .map(|r| {
            (
                100.0 * (r.perplexity / scale.ppl0 - 1.0),
                scale.y(r.bias[inputs.axis_index]),
            )
        })
        .collect();
    let y_label = if scale.relative {
        format!("{axis} bias change vs unpruned (%)")
    } else {
        format!("{axis} bias")
    };
    plots::scatter(&ScatterPlot {
        title: format!("{axis} bias vs perplexity of every sampled mask"),
        x_label: "perplexity change vs unpruned (%)".into(),
        y_label,
        points,
        points_label: format!("sampled masks ({})", table.rows.len().saturating_sub(1)),
        highlights: method_highlights(axis, m, scale.relative),
        vlines: vec![RefLine {
            value: 100.0 * settings.ppl_budget,
            label: format!("budget {}", fmt_pct(settings.ppl_budget)),
        }],
        note: vec!["grey: sampled masks on the search prompts (sample); coloured: the methods on the test prompts (apply)".into()],
        ..Default::default()
    })
}

/// Pruned heads: AP and FASP marks over the single-head knockouts' bias change.
fn pruned_heads_plot(axis: &str, inputs: &ReportInputs, scale: &Scale) -> String {
    let table = &inputs.table;
    let layout = table.layout;
    let mut values = vec![vec![f64::NAN; layout.num_heads]; layout.num_layers];
    for r in table.rows.iter().filter(|r| r.origin == "single-head") {
        if let Some(h) = r.mask.single_head() {
            values[h.layer][h.head] = scale.y(r.bias[inputs.axis_index]);
        }
    }
    let mut marks = vec![vec![String::new(); layout.num_heads]; layout.num_layers];
    let reports: [(&str, Option<&ApplyInput>); 2] =
        [("A", Some(&inputs.ap)), ("F", inputs.fasp.as_ref())];
    for (tag, report) in reports {
        for &[l, h] in report.map(|r| r.pruned.as_slice()).unwrap_or(&[]) {
            if l < layout.num_layers && h < layout.num_heads {
                marks[l][h].push_str(tag);
            }
        }
    }
    let any_single = values.iter().flatten().any(|v| v.is_finite());
    plots::heatmap(&Heatmap {
        title: "Pruned heads: Attention Pruning (A) and FASP (F)".into(),
        row_label: "layer".into(),
        col_label: "head".into(),
        values,
        value_label: if !any_single {
            "no single-head knockouts sampled".into()
        } else if scale.relative {
            format!("{axis} bias change, head alone (%)")
        } else {
            format!("{axis} bias, head alone")
        },
        marks,
        mark_legend: vec![
            ("A".into(), "pruned by Attention Pruning".into()),
            ("F".into(), "pruned by FASP".into()),
        ],
    })
}

/// One line per restart of `f` along the trajectory (at most 400 points each).
fn restart_series(trajectory: &[TrajectoryRow], f: fn(&TrajectoryRow) -> f64) -> Vec<Series> {
    let restarts: std::collections::BTreeSet<u32> = trajectory.iter().map(|t| t.restart).collect();
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
}

/// The annealing trajectory: predicted bias and predicted perplexity of the current mask.
fn trajectory_plots(
    settings: &ReportSettings,
    inputs: &ReportInputs,
    scale: &Scale,
) -> (String, String) {
    let trajectory = &inputs.trajectory;
    let bias = plots::lines(&LinePlot {
        title: "Annealing: predicted bias of the current mask".into(),
        x_label: "step".into(),
        y_label: format!("predicted {} bias", settings.axis),
        series: restart_series(trajectory, |t| t.predicted_bias),
        hlines: vec![RefLine {
            value: scale.bias0,
            label: "unpruned (measured)".into(),
        }],
    });
    let mut hl = vec![RefLine {
        value: scale.ppl0,
        label: "unpruned (measured)".into(),
    }];
    if let Some(limit) = inputs.ap.mask_number("perplexity_limit") {
        hl.push(RefLine {
            value: limit,
            label: "perplexity limit".into(),
        });
    }
    let ppl = plots::lines(&LinePlot {
        title: "Annealing: predicted perplexity of the current mask".into(),
        x_label: "step".into(),
        y_label: "predicted perplexity".into(),
        series: restart_series(trajectory, |t| t.predicted_perplexity),
        hlines: hl,
    });
    (bias, ppl)
}

/// Surrogates: held-out predicted vs measured, bias and ln perplexity.
fn surrogate_plots(axis: &str, s: &crate::inputs::SurrogateFits) -> (String, String) {
    let plot = |fit: Option<Fit>, points: &[(f64, f64)], what: String| {
        let note = match fit {
            Some(f) => format!(
                "held-out masks: n = {}, R² = {}, Spearman = {}",
                f.n,
                f.r2.map_or_else(|| "n/a".into(), fmt_num),
                f.spearman.map_or_else(|| "n/a".into(), fmt_num)
            ),
            None => "no held-out masks".into(),
        };
        plots::scatter(&ScatterPlot {
            title: format!("Surrogate: predicted vs measured {what}"),
            x_label: format!("measured {what}"),
            y_label: format!("predicted {what}"),
            points: points.to_vec(),
            points_label: "held-out masks".into(),
            diagonal: true,
            note: vec![note],
            ..Default::default()
        })
    };
    (
        plot(s.bias_holdout, &s.bias_points, format!("ln {axis} bias")),
        plot(s.ppl_holdout, &s.ppl_points, "ln perplexity".to_string()),
    )
}

/// Spillover: every measured axis, before and after.
fn spillover_plot(axis: &str, results: &Results) -> String {
    let m = &results.methods;
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
                    .map(|g| mr.bias.get(g).map_or(f64::NAN, |b| b.bias))
                    .collect(),
                errors: groups
                    .iter()
                    .map(|g| mr.bias.get(g).map(|b| (b.ci_low, b.ci_high)))
                    .collect(),
            });
        }
    }
    plots::grouped_bars(&BarPlot {
        title: format!("Spillover: every axis' bias after pruning for {axis} (test prompts)"),
        y_label: "bias (95% CI; random: range over seeds)".into(),
        x_label: "axis".into(),
        groups,
        series: bars,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinning_keeps_the_ends() {
        let pts: Vec<(f64, f64)> = (0..1000).map(|i| (i as f64, 0.0)).collect();
        let t = thin(pts, 10);
        assert_eq!(t.len(), 10);
        assert_eq!((t[0].0, t[9].0), (0.0, 999.0));
        assert_eq!(thin(vec![(1.0, 1.0)], 10).len(), 1);
    }
}
