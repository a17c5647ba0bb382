//! `surrogate-report.json`: how well every surrogate `train-surrogate` fitted predicts
//! held-out masks, and which model `anneal` uses for each target. `train-surrogate` writes
//! it; `anneal`, `choose` and `report` read it through [`SurrogateReport::read`].

use crate::error::SurrogateError;
use crate::metrics::FitMetrics;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Artifact kind of surrogate reports.
pub const SURROGATE_REPORT_KIND: &str = "surrogate-report";
/// Schema version of surrogate reports (1: the first typed version).
pub const SURROGATE_REPORT_VERSION: u32 = 1;

/// `(measured, predicted)` pairs, for plots.
pub type Points = Vec<(f64, f64)>;

/// Fit quality of one surrogate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetReport {
    /// What it predicts.
    pub target: String,
    /// Fit on the training rows.
    pub train: FitMetrics,
    /// Fit on the held-out rows (None when there are none).
    pub holdout: Option<FitMetrics>,
    /// Held-out `(measured, predicted)` pairs, for plots.
    pub holdout_points: Points,
}

impl TargetReport {
    /// The fit of per-row `predicted` against `measured` on the training rows and on the
    /// held-out rows (with their `(measured, predicted)` points); no held-out fit when
    /// `hold_idx` is empty.
    pub fn of_split(
        target: &str,
        predicted: &[f64],
        measured: &[f64],
        (train_idx, hold_idx): (&[usize], &[usize]),
    ) -> Result<Self, SurrogateError> {
        let pick = |v: &[f64], idx: &[usize]| idx.iter().map(|&i| v[i]).collect::<Vec<f64>>();
        let train =
            crate::metrics::metrics(&pick(predicted, train_idx), &pick(measured, train_idx))?;
        let (holdout, holdout_points) = if hold_idx.is_empty() {
            (None, Vec::new())
        } else {
            let (p, t) = (pick(predicted, hold_idx), pick(measured, hold_idx));
            (
                Some(crate::metrics::metrics(&p, &t)?),
                t.into_iter().zip(p).collect(),
            )
        };
        Ok(Self {
            target: target.into(),
            train,
            holdout,
            holdout_points,
        })
    }

    /// The held-out Spearman correlation, or None when nothing was held out or it is undefined.
    pub fn holdout_spearman(&self) -> Option<f64> {
        self.holdout
            .and_then(|h| attnprune_stats::defined(h.spearman))
    }
}

/// Leave-one-out fit of the refined structured surrogate on the richer measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefinedReport {
    /// The richer tables it was refitted on.
    pub tables: Vec<String>,
    /// Rows of those tables.
    pub rows: usize,
    /// Leave-one-out fit of the bias (None: too few rows).
    pub bias: Option<FitMetrics>,
    /// Leave-one-out fit of ln perplexity (None: too few rows).
    pub perplexity: Option<FitMetrics>,
    /// Leave-one-out `(measured, predicted)` bias pairs.
    pub bias_points: Points,
    /// Leave-one-out `(measured, predicted)` ln perplexity pairs.
    pub perplexity_points: Points,
}

/// The structured surrogate's fits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StructuredReports {
    /// Its bias fit on the same split as the MLPs.
    pub bias: TargetReport,
    /// Its ln perplexity fit on the same split as the MLPs.
    pub perplexity: TargetReport,
    /// The refit on the richer measurement, when there was one.
    pub refined: Option<RefinedReport>,
}

/// Which model `anneal` uses for each target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectedModels {
    /// `mlp` or `structured`.
    pub bias: String,
    /// `mlp` or `structured`.
    pub perplexity: String,
    /// Why.
    pub reason: String,
}

/// The whole `surrogate-report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SurrogateReport {
    /// Always [`SURROGATE_REPORT_KIND`].
    pub kind: String,
    /// Always [`SURROGATE_REPORT_VERSION`].
    pub schema_version: u32,
    /// Provenance (JSON of the artifact crate's record, the surrogates' own).
    pub provenance: serde_json::Value,
    /// Rows of the screening table(s) the surrogates were fitted on.
    pub rows: usize,
    /// The bias MLP's fit.
    pub bias: TargetReport,
    /// The perplexity MLP's fit.
    pub perplexity: TargetReport,
    /// The structured surrogate's fits.
    pub structured: StructuredReports,
    /// The models `anneal --surrogate auto` uses.
    pub selected: SelectedModels,
}

impl SurrogateReport {
    /// Reads and checks a surrogate report (kind, version, fields); errors name the file.
    pub fn read(path: &Path) -> Result<Self, SurrogateError> {
        let bad = |message: String| SurrogateError::Format {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let report: Self = serde_json::from_str(&text).map_err(|e| {
            bad(format!(
                "not a surrogate report of this version (retrain): {e}"
            ))
        })?;
        if report.kind != SURROGATE_REPORT_KIND || report.schema_version != SURROGATE_REPORT_VERSION
        {
            return Err(bad(format!(
                "kind `{}` version {}, expected `{SURROGATE_REPORT_KIND}` version {SURROGATE_REPORT_VERSION}",
                report.kind, report.schema_version
            )));
        }
        Ok(report)
    }

    /// Pretty JSON text with the keys in alphabetical order (as the untyped version wrote
    /// them); write it with an atomic writer.
    pub fn to_json(&self) -> String {
        serde_json::to_value(self)
            .and_then(|v| serde_json::to_string_pretty(&v))
            .unwrap_or_default()
    }

    /// The fit of the models `anneal` used, as held-out (or, refined, leave-one-out)
    /// Spearman correlations `(bias, perplexity)`; None when either is undefined.
    pub fn used_fit(&self) -> Option<(f64, f64)> {
        let spearman = |f: Option<FitMetrics>| f.and_then(|f| attnprune_stats::defined(f.spearman));
        let fit = match &self.structured.refined {
            Some(r) => spearman(r.bias).zip(spearman(r.perplexity)),
            None => {
                let pick = |which: &str, structured: &TargetReport, mlp: &TargetReport| {
                    if which == "structured" {
                        spearman(structured.holdout)
                    } else {
                        spearman(mlp.holdout)
                    }
                };
                pick(&self.selected.bias, &self.structured.bias, &self.bias).zip(pick(
                    &self.selected.perplexity,
                    &self.structured.perplexity,
                    &self.perplexity,
                ))
            }
        };
        fit.filter(|(b, p)| b.is_finite() && p.is_finite())
    }
}
