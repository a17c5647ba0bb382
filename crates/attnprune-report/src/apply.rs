//! The `apply` report: one mask measured on held-out prompts and text, unpruned vs pruned,
//! every change with its paired interval. `apply` writes it, `report` reads it; unknown or
//! missing fields fail with one line naming the file.

use attnprune_measure::bias::AxisBias;
use attnprune_select::Interval;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Artifact kind of apply reports (in their provenance).
pub const APPLY_REPORT_KIND: &str = "apply-report";
/// Schema version of apply reports (2: paired intervals, the log-odds scale, the mask's selection).
pub const APPLY_REPORT_VERSION: u32 = 2;

/// The mask an apply report measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppliedMask {
    /// The mask file as given to `apply`.
    pub file: String,
    /// Heads pruned.
    pub num_pruned: usize,
    /// Pruned heads, `[layer, head]`.
    pub pruned: Vec<[usize; 2]>,
    /// How the mask was chosen (`choose`'s or `fasp`'s selection record), when it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<serde_json::Value>,
    /// The perplexity budget recorded in the mask file, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perplexity_budget: Option<f64>,
}

/// Perplexity before and after, and the paired change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerplexityChange {
    /// The unpruned model's perplexity.
    pub unpruned: f64,
    /// The pruned model's perplexity.
    pub pruned: f64,
    /// `pruned / unpruned - 1`.
    pub relative_change: f64,
    /// The same with its paired bootstrap interval over windows.
    pub paired_change: Interval,
    /// Windows measured.
    pub windows: usize,
}

/// One axis' bias before and after on one scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleChange {
    /// The unpruned model's bias, with its interval and buckets.
    pub unpruned: AxisBias,
    /// The pruned model's.
    pub pruned: AxisBias,
    /// `1 - pruned / unpruned` (0 when the unpruned bias is 0).
    pub relative_reduction: f64,
    /// `pruned / unpruned - 1` with its paired bootstrap interval over prompts.
    pub paired_change: Interval,
}

/// One axis: the probability scale (at the top, as in version 1) and the log-odds scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AxisChange {
    /// The unpruned model's bias (probability scale).
    pub unpruned: AxisBias,
    /// The pruned model's bias (probability scale).
    pub pruned: AxisBias,
    /// `1 - pruned / unpruned` (probability scale).
    pub relative_reduction: f64,
    /// `pruned / unpruned - 1` with its paired interval (probability scale).
    pub paired_change: Interval,
    /// The log-odds scale.
    pub logit: ScaleChange,
}

impl AxisChange {
    /// From the two scales.
    pub fn new(prob: ScaleChange, logit: ScaleChange) -> Self {
        Self {
            unpruned: prob.unpruned,
            pruned: prob.pruned,
            relative_reduction: prob.relative_reduction,
            paired_change: prob.paired_change,
            logit,
        }
    }

    /// The probability scale as a [`ScaleChange`].
    pub fn prob(&self) -> ScaleChange {
        ScaleChange {
            unpruned: self.unpruned.clone(),
            pruned: self.pruned.clone(),
            relative_reduction: self.relative_reduction,
            paired_change: self.paired_change,
        }
    }
}

/// Replies of the two models to the same prompt (generating scorers only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyPair {
    /// The unpruned model's reply.
    pub unpruned: String,
    /// The pruned model's reply.
    pub pruned: String,
}

/// The whole apply report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplyReport {
    /// [`APPLY_REPORT_VERSION`].
    pub schema_version: u32,
    /// The mask.
    pub mask: AppliedMask,
    /// The prompt split (`test` or `valid`).
    pub split: String,
    /// Perplexity, when measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perplexity: Option<PerplexityChange>,
    /// Bias per axis, when measured.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub bias: BTreeMap<String, AxisChange>,
    /// Prompts scored, when bias was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_prompts: Option<usize>,
    /// The first few reply pairs (generating scorers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<ReplyPair>,
    /// Provenance (JSON of the artifact crate's record; kind [`APPLY_REPORT_KIND`]).
    pub provenance: serde_json::Value,
}

impl ApplyReport {
    /// Reads and checks an apply report (version and fields); errors name the file.
    pub fn read(path: &Path) -> Result<Self, String> {
        let origin = path.display();
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read `{origin}`: {e}"))?;
        let report: Self = serde_json::from_str(&text)
            .map_err(|e| format!("`{origin}` is not an apply report of this version: {e}"))?;
        if report.schema_version != APPLY_REPORT_VERSION {
            return Err(format!("`{origin}` is apply report version {}, expected {APPLY_REPORT_VERSION} (re-run apply)", report.schema_version));
        }
        Ok(report)
    }

    /// Pretty JSON text (write it with an atomic writer).
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// The Markdown twin of the JSON report.
    pub fn markdown(&self) -> String {
        let mut md = String::from("# attnprune apply report\n\n");
        md += &format!(
            "Mask: `{}` ({} heads pruned), prompts: {} split.\n\n",
            self.mask.file, self.mask.num_pruned, self.split
        );
        let change = |c: &Interval| {
            format!(
                "{:+.1}% [{:+.1}%, {:+.1}%]",
                100.0 * c.point,
                100.0 * c.low,
                100.0 * c.high
            )
        };
        md += "| metric | unpruned | pruned | change (paired 95% CI) |\n|---|---|---|---|\n";
        if let Some(p) = &self.perplexity {
            md += &format!(
                "| perplexity ({} windows) | {:.3} | {:.3} | {} |\n",
                p.windows,
                p.unpruned,
                p.pruned,
                change(&p.paired_change)
            );
        }
        let cell = |x: &AxisBias| {
            format!(
                "{} [{}, {}]",
                number(x.bias),
                number(x.ci_low),
                number(x.ci_high)
            )
        };
        for (axis, v) in &self.bias {
            for (label, s) in [("bias", &v.prob()), ("log-odds bias", &v.logit)] {
                md += &format!(
                    "| {label} `{axis}` (95% CI) | {} | {} | {} |\n",
                    cell(&s.unpruned),
                    cell(&s.pruned),
                    change(&s.paired_change)
                );
            }
        }
        let args = self.provenance["args"].as_array().map(|a| {
            a.iter()
                .filter_map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        });
        md += &format!("\nProduced by: `{}`\n", args.unwrap_or_default());
        md
    }
}

/// A number with four significant digits, in scientific notation when small.
fn number(x: f64) -> String {
    if x != 0.0 && x.abs() < 0.01 {
        format!("{x:.3e}")
    } else {
        format!("{x:.4}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interval(p: f64) -> Interval {
        Interval {
            point: p,
            low: p - 0.1,
            high: p + 0.1,
            confidence: 0.95,
            resamples: 100,
        }
    }

    fn axis_bias(b: f64) -> AxisBias {
        AxisBias {
            axis: "gender_and_sex".into(),
            bias: b,
            ci_low: b / 2.0,
            ci_high: b * 2.0,
            mean: 0.5,
            count: 4,
            buckets: Vec::new(),
        }
    }

    fn report() -> ApplyReport {
        let scale = |a: f64, b: f64| ScaleChange {
            unpruned: axis_bias(a),
            pruned: axis_bias(b),
            relative_reduction: 1.0 - b / a,
            paired_change: interval(b / a - 1.0),
        };
        ApplyReport {
            schema_version: APPLY_REPORT_VERSION,
            mask: AppliedMask {
                file: "m.json".into(),
                num_pruned: 1,
                pruned: vec![[0, 1]],
                selection: None,
                perplexity_budget: Some(0.05),
            },
            split: "test".into(),
            perplexity: Some(PerplexityChange {
                unpruned: 10.0,
                pruned: 10.3,
                relative_change: 0.03,
                paired_change: interval(0.03),
                windows: 32,
            }),
            bias: BTreeMap::from([(
                "gender_and_sex".to_string(),
                AxisChange::new(scale(0.2, 0.1), scale(2.0, 1.5)),
            )]),
            num_prompts: Some(4),
            samples: Vec::new(),
            provenance: serde_json::json!({"args": ["apply", "--mask", "m.json"]}),
        }
    }

    #[test]
    fn round_trips_and_refuses_unknown_fields() {
        let dir =
            std::env::temp_dir().join(format!("attnprune-apply-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("r.json");
        std::fs::write(&path, report().to_json()).unwrap();
        assert_eq!(ApplyReport::read(&path).unwrap(), report());
        std::fs::write(
            &path,
            report()
                .to_json()
                .replacen("\"split\"", "\"surprise\": 1, \"split\"", 1),
        )
        .unwrap();
        assert!(ApplyReport::read(&path).unwrap_err().contains("r.json"));
        let mut old = report();
        old.schema_version = 1;
        std::fs::write(&path, old.to_json()).unwrap();
        assert!(ApplyReport::read(&path).unwrap_err().contains("version 1"));
        let md = report().markdown();
        assert!(
            md.contains("| perplexity (32 windows) | 10.000 | 10.300 | +3.0% [-7.0%, +13.0%] |"),
            "{md}"
        );
        assert!(md.contains("log-odds bias `gender_and_sex`"), "{md}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
