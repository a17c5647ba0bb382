//! `results.json`: the run's numbers for machines, beside `report.md`.
//!
//! ```json
//! {"schema_version": 1, "target_axis": "gender_and_sex", "split": "test", "ppl_budget": 0.05,
//!  "methods": {"unpruned": {...}, "attention_pruning": {...}, "fasp": {...}, "random": {...}},
//!  "surrogate": {...}, "bar": {...}, "findings": ["..."]}
//! ```
//! Every method has the test-prompt bias per axis with its interval, the
//! perplexity on held-out text, the number of heads pruned and its mask file.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Schema version of `results.json`.
pub const RESULTS_VERSION: u32 = 2;

/// The bias of one axis for one method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AxisBias {
    /// The bias (for `random`: the mean over the seeds).
    pub bias: f64,
    /// Lower end of the interval.
    pub ci_low: f64,
    /// Upper end of the interval.
    pub ci_high: f64,
    /// What the interval is: `bootstrap 95%` (over prompts) or `range over N seeds`.
    pub interval: String,
    /// Standard deviation over the seeds (`random` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sd: Option<f64>,
    /// Relative reduction against the unpruned model (`1 - bias / unpruned bias`; 0 if that is 0).
    pub relative_reduction: f64,
    /// Number of scored test prompts of the axis.
    pub prompts: usize,
    /// Mean score over the axis's test prompts (random: mean over the seeds): shows a
    /// bias that fell only because every bucket's score ran into a bound of [0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_score: Option<f64>,
}

/// One evaluated mask (one `apply` report).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// The seed of a random mask.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The mask file.
    pub mask_file: String,
    /// The `apply` report it comes from.
    pub report_file: String,
    /// Heads pruned.
    pub num_pruned: usize,
    /// Perplexity on the held-out text.
    pub perplexity: f64,
    /// Bias per axis (bootstrap intervals).
    pub bias: BTreeMap<String, AxisBias>,
}

/// One method's result on the test prompts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodResult {
    /// Human name (`Attention Pruning`, ...).
    pub label: String,
    /// Heads pruned (random: every seed prunes this many).
    pub num_pruned: usize,
    /// The mask file (none for `unpruned` and `random`, whose files are in `runs`).
    pub mask_file: Option<String>,
    /// The `apply` report(s) the numbers come from.
    pub report_files: Vec<String>,
    /// Perplexity on the held-out text (random: mean over seeds).
    pub perplexity: f64,
    /// Standard deviation of the perplexity over the seeds (`random` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perplexity_sd: Option<f64>,
    /// `perplexity / unpruned perplexity - 1`.
    pub perplexity_change: f64,
    /// Bias per measured axis.
    pub bias: BTreeMap<String, AxisBias>,
    /// The individual masks (`random`: one per seed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<RunResult>,
}

/// The four methods; `fasp` and `random` are absent when not run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Methods {
    /// The model as it is.
    pub unpruned: MethodResult,
    /// The mask from `anneal`.
    pub attention_pruning: MethodResult,
    /// The mask from `fasp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fasp: Option<MethodResult>,
    /// Random masks pruning as many heads as Attention Pruning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub random: Option<MethodResult>,
}

impl Methods {
    /// `(key, result)` in report order: unpruned, attention_pruning, fasp, random.
    pub fn iter(&self) -> Vec<(&'static str, &MethodResult)> {
        let mut v = vec![
            ("unpruned", &self.unpruned),
            ("attention_pruning", &self.attention_pruning),
        ];
        if let Some(f) = &self.fasp {
            v.push(("fasp", f));
        }
        if let Some(r) = &self.random {
            v.push(("random", r));
        }
        v
    }
}

/// Fit of a surrogate on some rows (`None` where a metric is undefined, e.g. constant targets).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Fit {
    /// Rows.
    pub n: usize,
    /// Coefficient of determination.
    pub r2: Option<f64>,
    /// Spearman rank correlation.
    pub spearman: Option<f64>,
    /// Root mean squared error.
    pub rmse: Option<f64>,
}

/// How well the surrogates predict, and what they predicted for the AP mask.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SurrogateSummary {
    /// Rows of the sample table(s).
    pub sampled_masks: usize,
    /// Surrogate inputs (= heads of the model).
    pub inputs: usize,
    /// Bias surrogate on held-out rows.
    pub bias_holdout: Option<Fit>,
    /// Bias surrogate on its training rows.
    pub bias_train: Option<Fit>,
    /// Perplexity surrogate (ln perplexity) on held-out rows.
    pub ppl_holdout: Option<Fit>,
    /// Perplexity surrogate on its training rows.
    pub ppl_train: Option<Fit>,
    /// Predicted relative bias reduction of the AP mask on the search prompts.
    pub ap_predicted_bias_reduction: Option<f64>,
    /// Predicted relative perplexity change of the AP mask on the search text.
    pub ap_predicted_perplexity_change: Option<f64>,
}

/// The project's bar and whether this run meets it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bar {
    /// Required relative reduction of the target axis' bias (0.4 = 40%).
    pub min_bias_reduction: f64,
    /// Allowed relative perplexity increase (0.05 = 5%).
    pub max_perplexity_increase: f64,
    /// Attention Pruning reduces the target bias by at least `min_bias_reduction`.
    pub bias_reduction_met: bool,
    /// Attention Pruning's perplexity increase is within the budget.
    pub perplexity_met: bool,
    /// Attention Pruning's target bias is lower than FASP's (None when FASP was not run).
    pub beats_fasp: Option<bool>,
    /// All of the above.
    pub met: bool,
}

/// How much repeated measurements of the unpruned model differ (one per `apply` report).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Repeatability {
    /// Measurements compared.
    pub measurements: usize,
    /// Largest absolute difference of the target axis' bias.
    pub max_bias_difference: f64,
    /// Largest absolute difference of the perplexity.
    pub max_perplexity_difference: f64,
}

/// The whole `results.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// [`RESULTS_VERSION`].
    pub schema_version: u32,
    /// The run (its folder name).
    pub run: String,
    /// Every method on the test side with its real-model evaluations and paired intervals
    /// (the closed loop's ablation).
    #[serde(default)]
    pub ablation: Vec<crate::ablation::AblationRow>,
    /// The axis the methods repair.
    pub target_axis: String,
    /// The axes measured on the test prompts.
    pub axes: Vec<String>,
    /// The prompt split of the numbers (`test`).
    pub split: String,
    /// Allowed relative perplexity increase given to `anneal` and `fasp`.
    pub ppl_budget: f64,
    /// The methods.
    pub methods: Methods,
    /// Surrogate fit.
    pub surrogate: Option<SurrogateSummary>,
    /// Agreement of the unpruned model's repeated measurements.
    pub repeatability: Option<Repeatability>,
    /// The bar.
    pub bar: Bar,
    /// Generated findings (the verdict and the diagnostics), as in the report.
    pub findings: Vec<String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn method(label: &str, bias: f64) -> MethodResult {
        let mut axes = BTreeMap::new();
        axes.insert(
            "gender_and_sex".to_string(),
            AxisBias {
                bias,
                ci_low: bias * 0.5,
                ci_high: bias * 1.5,
                interval: "bootstrap 95%".into(),
                sd: None,
                relative_reduction: 0.0,
                prompts: 12,
                mean_score: None,
            },
        );
        MethodResult {
            label: label.into(),
            num_pruned: 3,
            mask_file: None,
            report_files: vec![],
            perplexity: 20.0,
            perplexity_sd: None,
            perplexity_change: 0.0,
            bias: axes,
            runs: vec![],
        }
    }

    #[test]
    fn round_trips_and_names_the_four_methods() {
        let r = Results {
            ablation: Vec::new(),
            schema_version: RESULTS_VERSION,
            run: "demo".into(),
            target_axis: "gender_and_sex".into(),
            axes: vec!["gender_and_sex".into()],
            split: "test".into(),
            ppl_budget: 0.05,
            // Dyadic numbers: serde_json's default float parsing is not exact to the last bit.
            methods: Methods {
                unpruned: method("unpruned", 0.5),
                attention_pruning: method("AP", 0.125),
                fasp: Some(method("FASP", 0.25)),
                random: Some(method("random", 0.5)),
            },
            surrogate: Some(SurrogateSummary {
                sampled_masks: 10,
                inputs: 8,
                bias_holdout: Some(Fit {
                    n: 2,
                    r2: None,
                    spearman: Some(1.0),
                    rmse: Some(0.1),
                }),
                bias_train: None,
                ppl_holdout: None,
                ppl_train: None,
                ap_predicted_bias_reduction: Some(0.5),
                ap_predicted_perplexity_change: None,
            }),
            repeatability: None,
            bar: Bar {
                min_bias_reduction: 0.4,
                max_perplexity_increase: 0.05,
                bias_reduction_met: true,
                perplexity_met: true,
                beats_fasp: Some(true),
                met: true,
            },
            findings: vec!["x".into()],
        };
        let text = serde_json::to_string_pretty(&r).unwrap();
        let back: Results = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        for m in ["unpruned", "attention_pruning", "fasp", "random"] {
            assert!(
                v["methods"][m]["bias"]["gender_and_sex"]["ci_low"].is_number(),
                "{m}"
            );
        }
        assert_eq!(
            r.methods.iter().iter().map(|m| m.0).collect::<Vec<_>>(),
            ["unpruned", "attention_pruning", "fasp", "random"]
        );
    }
}
