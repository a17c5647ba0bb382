//! The closed-loop search's rounds: what the surrogates predicted for each round's
//! proposals, what the real model measured, and how the gap closes (`choose` writes it,
//! `report` shows it).

use crate::markdown::{fmt_num, fmt_pct, Table};
use crate::plots::{self, colors, Highlight, LinePlot, RefLine, ScatterPlot, Series};
use serde::{Deserialize, Serialize};

/// Artifact kind of the rounds summary.
pub const ROUNDS_KIND: &str = "rounds-summary";
/// Schema version of the rounds summary.
pub const ROUNDS_VERSION: u32 = 1;

/// One proposal, predicted and measured (relative changes against the unpruned model).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposalPoint {
    /// Which row.
    pub label: String,
    /// Heads pruned.
    pub num_pruned: usize,
    /// The surrogates' predicted relative bias change (`None` when no list was given).
    pub predicted_bias_change: Option<f64>,
    /// The measured relative bias change (paired, same prompts).
    pub measured_bias_change: f64,
    /// The surrogates' predicted relative perplexity change.
    pub predicted_ppl_change: Option<f64>,
    /// The measured relative perplexity change (paired, same windows).
    pub measured_ppl_change: f64,
    /// Upper end of its 95% interval.
    pub measured_ppl_upper: f64,
    /// Whether that upper end is within the budget.
    pub within_budget: bool,
}

/// One round of the search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoundSummary {
    /// Round number (1 = the proposals of the screening surrogates).
    pub round: usize,
    /// The round's sample table.
    pub table: String,
    /// Proposals measured (new masks only).
    pub proposals: usize,
    /// Of those, within the budget at the upper bound.
    pub within_budget: usize,
    /// Spearman of predicted vs measured bias change over the proposals (NaN below 3).
    #[serde(deserialize_with = "attnprune_stats::nan_if_null")]
    pub bias_spearman: f64,
    /// Spearman of predicted vs measured perplexity change.
    #[serde(deserialize_with = "attnprune_stats::nan_if_null")]
    pub ppl_spearman: f64,
    /// Mean |predicted - measured| relative bias change.
    #[serde(deserialize_with = "attnprune_stats::nan_if_null")]
    pub bias_mean_abs_gap: f64,
    /// Mean |predicted - measured| relative perplexity change.
    #[serde(deserialize_with = "attnprune_stats::nan_if_null")]
    pub ppl_mean_abs_gap: f64,
    /// Best measured bias change within the budget in this round.
    pub best_bias_change: Option<f64>,
    /// Best so far, over this round and the earlier ones.
    pub best_so_far: Option<f64>,
    /// The proposing surrogates' own fit (Spearman: bias, perplexity), held-out or leave-one-out.
    pub surrogate_fit: Option<(f64, f64)>,
    /// Every proposal.
    pub points: Vec<ProposalPoint>,
}

/// The rounds summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoundsReport {
    /// Always [`ROUNDS_KIND`].
    pub kind: String,
    /// Always [`ROUNDS_VERSION`].
    pub schema_version: u32,
    /// The searched axis.
    pub axis: String,
    /// The bias scale compared (`logit` or `prob`).
    pub bias_scale: String,
    /// The perplexity budget (relative).
    pub budget: f64,
    /// Masks run on the real model by the screening (`sample`).
    pub screening_evaluations: usize,
    /// All masks run on the real model behind the answer (screening, rounds, unpruned).
    pub real_evaluations: usize,
    /// The rounds, in order.
    pub rounds: Vec<RoundSummary>,
    /// The chosen row's verdict (JSON of the selection library's record), if any.
    pub chosen: Option<serde_json::Value>,
    /// Provenance (JSON of the artifact crate's record).
    pub provenance: serde_json::Value,
}

impl RoundsReport {
    /// Reads and checks a rounds summary.
    pub fn from_json(text: &str, origin: &str) -> Result<Self, String> {
        let r: Self = serde_json::from_str(text)
            .map_err(|e| format!("`{origin}` is not a rounds summary: {e}"))?;
        if r.kind != ROUNDS_KIND || r.schema_version != ROUNDS_VERSION {
            return Err(format!(
                "`{origin}` is `{}` version {}, not `{ROUNDS_KIND}` version {ROUNDS_VERSION}",
                r.kind, r.schema_version
            ));
        }
        Ok(r)
    }

    /// The rounds table in Markdown.
    pub fn table(&self) -> String {
        let mut t = Table::new(&[
            "round",
            "proposals",
            "within budget",
            "surrogate fit (Spearman bias / ppl)",
            "predicted vs measured Spearman (bias / ppl)",
            "mean gap (bias / ppl)",
            "best bias change this round",
            "best so far",
        ]);
        let opt = |x: Option<f64>| x.map_or("none".to_string(), fmt_pct);
        for r in &self.rounds {
            t.row(vec![
                r.round.to_string(),
                r.proposals.to_string(),
                r.within_budget.to_string(),
                r.surrogate_fit.map_or("n/a".into(), |(b, p)| {
                    format!("{} / {}", fmt_num(b), fmt_num(p))
                }),
                format!("{} / {}", fmt_num(r.bias_spearman), fmt_num(r.ppl_spearman)),
                format!(
                    "{} / {}",
                    fmt_pct(r.bias_mean_abs_gap).trim_start_matches('+'),
                    fmt_pct(r.ppl_mean_abs_gap).trim_start_matches('+')
                ),
                opt(r.best_bias_change),
                opt(r.best_so_far),
            ]);
        }
        t.render()
    }

    /// The whole Markdown section.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "## Closed-loop rounds ({} bias of {}, budget +{:.1}% at the upper 95% bound)\n\n",
            self.bias_scale,
            self.axis,
            self.budget * 100.0
        );
        out += &format!(
            "Each round measures the previous round's proposals on the real model (valid prompts and text), \
             adds them to the surrogates' data and proposes again. Real-model evaluations behind the answer: {} \
             ({} screening).\n\n",
            self.real_evaluations, self.screening_evaluations
        );
        out += &self.table();
        out
    }

    /// Predicted vs measured relative perplexity change of every proposal, one colour per round.
    pub fn ppl_plot(&self) -> String {
        self.scatter(
            "Proposals: predicted vs measured perplexity change",
            |p| p.predicted_ppl_change.map(|x| (x, p.measured_ppl_change)),
            true,
        )
    }

    /// Predicted vs measured relative bias change of every proposal, one colour per round.
    pub fn bias_plot(&self) -> String {
        self.scatter(
            "Proposals: predicted vs measured bias change",
            |p| p.predicted_bias_change.map(|x| (x, p.measured_bias_change)),
            false,
        )
    }

    fn scatter(
        &self,
        title: &str,
        pick: impl Fn(&ProposalPoint) -> Option<(f64, f64)>,
        budget_line: bool,
    ) -> String {
        let mut highlights = Vec::new();
        for (k, r) in self.rounds.iter().enumerate() {
            let color = colors::CYCLE[k % colors::CYCLE.len()];
            for (i, p) in r.points.iter().enumerate() {
                if let Some((x, y)) = pick(p) {
                    let mut h =
                        Highlight::new(x * 100.0, y * 100.0, &format!("round {}", r.round), color);
                    h.in_legend = i == 0;
                    h.label_point = false;
                    h.radius = 4.0;
                    highlights.push(h);
                }
            }
        }
        let budget = RefLine {
            value: self.budget * 100.0,
            label: "budget".into(),
        };
        plots::scatter(&ScatterPlot {
            title: title.into(),
            x_label: "predicted change (%)".into(),
            y_label: "measured change (%)".into(),
            highlights,
            hlines: if budget_line {
                vec![budget]
            } else {
                Vec::new()
            },
            diagonal: true,
            ..ScatterPlot::default()
        })
    }

    /// Rank agreement per round: the proposing surrogates' own fit (held-out or leave-one-out
    /// Spearman) and the Spearman of their predictions against the measurements of the proposals.
    pub fn agreement_plot(&self) -> String {
        let series = |name: &str, f: &dyn Fn(&RoundSummary) -> Option<f64>| Series {
            name: name.into(),
            color: None,
            points: self
                .rounds
                .iter()
                .filter_map(|r| Some((r.round as f64, f(r)?)))
                .filter(|p| p.1.is_finite())
                .collect(),
        };
        plots::lines(&LinePlot {
            title: "Rounds: Spearman agreement of the surrogates".into(),
            x_label: "round".into(),
            y_label: "Spearman".into(),
            series: vec![
                series("surrogate fit, bias", &|r| r.surrogate_fit.map(|f| f.0)),
                series("surrogate fit, perplexity", &|r| {
                    r.surrogate_fit.map(|f| f.1)
                }),
                series("proposals: predicted vs measured bias", &|r| {
                    Some(r.bias_spearman)
                }),
                series("proposals: predicted vs measured ppl", &|r| {
                    Some(r.ppl_spearman)
                }),
            ],
            hlines: vec![RefLine {
                value: 0.0,
                label: "no agreement".into(),
            }],
        })
    }

    /// Best measured bias change so far and the proposals' predicted-vs-measured agreement, per round.
    pub fn convergence_plot(&self) -> String {
        let series = |name: &str, f: &dyn Fn(&RoundSummary) -> f64| Series {
            name: name.into(),
            color: None,
            points: self
                .rounds
                .iter()
                .map(|r| (r.round as f64, f(r)))
                .filter(|p| p.1.is_finite())
                .collect(),
        };
        plots::lines(&LinePlot {
            title: "Rounds: the gap between predicted and measured".into(),
            x_label: "round".into(),
            y_label: "percentage points".into(),
            series: vec![
                series("mean |pred - meas| ppl change", &|r| {
                    r.ppl_mean_abs_gap * 100.0
                }),
                series("mean |pred - meas| bias change", &|r| {
                    r.bias_mean_abs_gap * 100.0
                }),
                series("best measured bias change so far", &|r| {
                    r.best_so_far.unwrap_or(f64::NAN) * 100.0
                }),
            ],
            hlines: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> RoundsReport {
        let point = |pred: f64, meas: f64| ProposalPoint {
            label: "r".into(),
            num_pruned: 3,
            predicted_bias_change: Some(pred),
            measured_bias_change: meas,
            predicted_ppl_change: Some(0.02),
            measured_ppl_change: 0.03,
            measured_ppl_upper: 0.04,
            within_budget: true,
        };
        RoundsReport {
            kind: ROUNDS_KIND.into(),
            schema_version: ROUNDS_VERSION,
            axis: "gender_and_sex".into(),
            bias_scale: "logit".into(),
            budget: 0.05,
            screening_evaluations: 300,
            real_evaluations: 320,
            rounds: vec![RoundSummary {
                round: 1,
                table: "r1.parquet".into(),
                proposals: 2,
                within_budget: 2,
                bias_spearman: f64::NAN,
                ppl_spearman: f64::NAN,
                bias_mean_abs_gap: 0.1,
                ppl_mean_abs_gap: 0.01,
                best_bias_change: Some(-0.3),
                best_so_far: Some(-0.3),
                surrogate_fit: Some((0.6, 0.9)),
                points: vec![point(-0.5, -0.3), point(-0.2, -0.1)],
            }],
            chosen: None,
            provenance: serde_json::json!({}),
        }
    }

    #[test]
    fn renders_and_round_trips() {
        let r = report();
        let md = r.markdown();
        assert!(
            md.contains("| 1 | 2 | 2 |") && md.contains("-30.0%"),
            "{md}"
        );
        let text = serde_json::to_string(&r).unwrap();
        let back = RoundsReport::from_json(&text, "x.json").unwrap();
        assert_eq!(back.rounds[0].points, r.rounds[0].points);
        assert!(
            RoundsReport::from_json(&text.replace(ROUNDS_KIND, "other"), "x.json")
                .unwrap_err()
                .contains("x.json")
        );
        for svg in [
            r.ppl_plot(),
            r.bias_plot(),
            r.convergence_plot(),
            r.agreement_plot(),
        ] {
            crate::svg::check_well_formed(&svg).unwrap();
        }
    }
}
