//! The structured surrogate: additive models that use what is known of the problem.
//!
//! * ln perplexity is close to additive over heads (a multi-head mask's ln perplexity is
//!   near the unpruned value plus the sum of its heads' single-knockout changes), so it is
//!   an [`AdditiveModel`] whose per-head prior is each head's measured knockout change;
//! * the bias of an axis is a jagged sum of absolute values, but each bucket's mean score is
//!   smooth in the mask: a [`BucketBiasModel`] predicts the bucket means (each additive,
//!   seeded by the knockouts) and computes the bias from them.
//!
//! Two fidelities: a cheap screening measurement (many rows: knockouts, random masks) fits
//! the models first; a richer measurement of the search's proposals (few rows) then refines
//! them, with the screening coefficients as the ridge prior, so the rich fit moves only
//! where its own rows say so. The file records which level it is.

use crate::additive::{fit_additive, AdditiveConfig, AdditiveModel, BucketBiasModel};
use crate::error::SurrogateError;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Artifact kind of structured surrogate files.
pub const STRUCTURED_KIND: &str = "structured-surrogate";
/// Schema version of structured surrogate files.
pub const STRUCTURED_VERSION: u32 = 1;

/// Measured rows as the structured fit sees them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MaskRows {
    /// Masks (`true` = pruned).
    pub masks: Vec<Vec<bool>>,
    /// ln perplexity of each mask.
    pub ln_ppl: Vec<f64>,
    /// Mean score of each bucket of the axis, per mask (same bucket order everywhere).
    pub bucket_means: Vec<Vec<f64>>,
}

impl MaskRows {
    /// The rows `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> Self {
        Self {
            masks: idx.iter().map(|&i| self.masks[i].clone()).collect(),
            ln_ppl: idx.iter().map(|&i| self.ln_ppl[i]).collect(),
            bucket_means: idx.iter().map(|&i| self.bucket_means[i].clone()).collect(),
        }
    }

    /// Each head's measured single-knockout change against the unpruned row (0 for a head
    /// without a knockout row; `None` without an unpruned row): of ln perplexity, and of each
    /// bucket mean (`[bucket][head]`).
    pub fn knockout_priors(&self) -> Option<(Vec<f64>, Vec<Vec<f64>>)> {
        let n = self.masks.first()?.len();
        let base = self.masks.iter().position(|m| m.iter().all(|&b| !b))?;
        let buckets = self.bucket_means[base].len();
        let mut ppl = vec![0.0; n];
        let mut means = vec![vec![0.0; n]; buckets];
        for (r, mask) in self.masks.iter().enumerate() {
            let mut on = mask.iter().enumerate().filter(|(_, &b)| b).map(|(i, _)| i);
            if let (Some(head), None) = (on.next(), on.next()) {
                ppl[head] = self.ln_ppl[r] - self.ln_ppl[base];
                for (b, row) in means.iter_mut().enumerate() {
                    row[head] = self.bucket_means[r][b] - self.bucket_means[base][b];
                }
            }
        }
        Some((ppl, means))
    }
}

/// `prior` shifted by the rows' average effect per pruned head beyond it: every head gets `c`,
/// the least-squares slope of the residual `y - x . prior` on the number of pruned heads. The
/// single-head knockouts say how much each head matters alone; masks of many heads show what
/// they miss on average (heads that matter little alone add up, and interact), and a richer
/// measurement of a few proposals shows how its level per head differs from the screening's.
/// Without such rows (every mask of one size) the prior is returned as it is.
pub fn size_adjusted(prior: &[f64], masks: &[Vec<bool>], y: &[f64]) -> Vec<f64> {
    let rows: Vec<(f64, f64)> = masks
        .iter()
        .zip(y)
        .filter(|(_, t)| t.is_finite())
        .map(|(m, &t)| {
            let on = m.iter().zip(prior).filter(|(&b, _)| b);
            let (n, fitted) = on.fold((0.0, 0.0), |(n, f), (_, w)| (n + 1.0, f + w));
            (n, t - fitted)
        })
        .collect();
    let len = rows.len() as f64;
    if len < 2.0 {
        return prior.to_vec();
    }
    let (mn, me) = rows
        .iter()
        .fold((0.0, 0.0), |(a, b), (n, e)| (a + n / len, b + e / len));
    let (sxx, sxy) = rows.iter().fold((0.0, 0.0), |(a, b), (n, e)| {
        (a + (n - mn).powi(2), b + (n - mn) * (e - me))
    });
    if sxx <= 0.0 || !sxy.is_finite() {
        return prior.to_vec();
    }
    let c = sxy / sxx;
    prior.iter().map(|w| w + c).collect()
}

/// The ln-perplexity and bucket-bias models fitted together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StructuredModels {
    /// ln perplexity.
    pub ln_ppl: AdditiveModel,
    /// Bucket means, and the axis bias from them.
    pub bias: BucketBiasModel,
}

impl StructuredModels {
    /// Fits both on `rows`. `priors`: per-head prior coefficients for ln perplexity and for each
    /// bucket (`[bucket][head]`), e.g. [`MaskRows::knockout_priors`] or a coarser level's fit.
    pub fn fit(
        rows: &MaskRows,
        priors: Option<(&[f64], &[Vec<f64>])>,
        buckets: Vec<String>,
        counts: Vec<f64>,
        config: &AdditiveConfig,
    ) -> Result<Self, SurrogateError> {
        let ppl_prior = priors.map(|p| size_adjusted(p.0, &rows.masks, &rows.ln_ppl));
        let ln_ppl = fit_additive(&rows.masks, &rows.ln_ppl, ppl_prior.as_deref(), config)?;
        let bucket_priors: Option<Vec<Vec<f64>>> = priors.map(|p| {
            p.1.iter()
                .enumerate()
                .map(|(b, prior)| {
                    let y: Vec<f64> = rows
                        .bucket_means
                        .iter()
                        .map(|m| m.get(b).copied().unwrap_or(f64::NAN))
                        .collect();
                    size_adjusted(prior, &rows.masks, &y)
                })
                .collect()
        });
        let bias = BucketBiasModel::fit(
            &rows.masks,
            &rows.bucket_means,
            buckets,
            counts,
            bucket_priors.as_deref(),
            config,
        )?;
        Ok(Self { ln_ppl, bias })
    }

    /// The models' own per-head coefficients, as priors for a finer level.
    pub fn as_priors(&self) -> (Vec<f64>, Vec<Vec<f64>>) {
        (
            self.ln_ppl.weights.clone(),
            self.bias.models.iter().map(|m| m.weights.clone()).collect(),
        )
    }
}

/// A structured surrogate on disk (JSON): the models, what they predict, and where they come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StructuredSurrogateFile {
    /// Always [`STRUCTURED_KIND`].
    pub kind: String,
    /// Always [`STRUCTURED_VERSION`].
    pub schema_version: u32,
    /// The axis whose bias [`StructuredModels::bias`] predicts.
    pub axis: String,
    /// The bias scale of the bucket means (`logit` or `prob`).
    pub bias_scale: String,
    /// `screening` (fitted on the screening table) or `refined` (then refitted on the
    /// richer measurement of the proposals, with the screening fit as prior).
    pub level: String,
    /// The models.
    pub models: StructuredModels,
    /// Provenance of the training tables (JSON of the artifact crate's record).
    pub provenance: serde_json::Value,
}

impl StructuredSurrogateFile {
    /// Reads and checks a structured surrogate file (kind, version, fields, mask length).
    pub fn read(path: &Path, expected_bits: usize) -> Result<Self, SurrogateError> {
        let origin = path.display().to_string();
        let bad = |message: String| SurrogateError::Format {
            path: origin.clone(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let file: Self = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if file.kind != STRUCTURED_KIND || file.schema_version != STRUCTURED_VERSION {
            return Err(bad(format!(
                "kind `{}` version {}, expected `{STRUCTURED_KIND}` version {STRUCTURED_VERSION}",
                file.kind, file.schema_version
            )));
        }
        let bits = [file.models.ln_ppl.n_bits]
            .into_iter()
            .chain(file.models.bias.models.iter().map(|m| m.n_bits));
        if let Some(n) = bits.into_iter().find(|&n| n != expected_bits) {
            return Err(bad(format!(
                "the models take {n} heads but the model has {expected_bits}"
            )));
        }
        Ok(file)
    }

    /// Pretty JSON text (write it with an atomic writer).
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> MaskRows {
        // 4 heads: unpruned, 4 knockouts, two pairs; ln ppl additive, 2 buckets.
        let w = [0.1, 0.0, 0.3, 0.05];
        let b0 = [0.2, -0.1, 0.0, 0.0];
        let b1 = [0.0, 0.1, -0.2, 0.0];
        let mut masks = vec![vec![false; 4]];
        for i in 0..4 {
            let mut m = vec![false; 4];
            m[i] = true;
            masks.push(m);
        }
        masks.push(vec![true, true, false, false]);
        masks.push(vec![false, true, true, true]);
        let dot = |c: &[f64], m: &[bool]| {
            c.iter()
                .zip(m)
                .filter(|(_, &b)| b)
                .map(|(c, _)| c)
                .sum::<f64>()
        };
        MaskRows {
            ln_ppl: masks.iter().map(|m| 2.0 + dot(&w, m)).collect(),
            bucket_means: masks
                .iter()
                .map(|m| vec![1.0 + dot(&b0, m), -1.0 + dot(&b1, m)])
                .collect(),
            masks,
        }
    }

    #[test]
    fn size_adjustment_finds_the_common_cost_per_head() {
        // Every head costs 0.02 more in combination than its knockout says.
        let prior = vec![0.1, 0.0, 0.3, 0.05];
        let masks = vec![
            vec![false; 4],
            vec![true, true, false, false],
            vec![true, true, true, true],
            vec![false, true, true, false],
        ];
        let y: Vec<f64> = masks
            .iter()
            .map(|m: &Vec<bool>| {
                m.iter()
                    .zip(&prior)
                    .filter(|(&b, _)| b)
                    .map(|(_, w)| w + 0.02)
                    .sum::<f64>()
                    + 1.0
            })
            .collect();
        let adjusted = size_adjusted(&prior, &masks, &y);
        for (a, p) in adjusted.iter().zip(&prior) {
            assert!((a - p - 0.02).abs() < 1e-12, "{a} {p}");
        }
        // All masks of one size: nothing to learn.
        assert_eq!(size_adjusted(&prior, &masks[1..2], &y[1..2]), prior);
    }

    #[test]
    fn knockout_priors_are_the_measured_changes() {
        let (ppl, means) = rows().knockout_priors().expect("unpruned row");
        assert!((ppl[2] - 0.3).abs() < 1e-12 && ppl[1].abs() < 1e-12);
        assert!((means[0][0] - 0.2).abs() < 1e-12 && (means[1][2] + 0.2).abs() < 1e-12);
        assert!(MaskRows::default().knockout_priors().is_none());
    }

    #[test]
    fn fit_with_knockout_priors_predicts_a_pair() {
        let r = rows();
        let (p, m) = r.knockout_priors().expect("priors");
        let models = StructuredModels::fit(
            &r,
            Some((&p, &m)),
            vec!["a".into(), "b".into()],
            vec![1.0, 1.0],
            &AdditiveConfig::default(),
        )
        .expect("fit");
        let pred = models
            .ln_ppl
            .predict(&[true, false, true, false])
            .expect("predict");
        assert!((pred - 2.4).abs() < 0.05, "{pred}");
    }
}
