//! Fitting the surrogates of one sample table and measuring each fit: the rules behind
//! `train-surrogate`, here so that they are tested as a library and the binary only reads
//! tables and writes files.
//!
//! * [`fit_mlp`]: one MLP on the training rows, its fit on them and on the held-out rows.
//! * [`fit_structured`]: the structured surrogate, measured on the held-out rows by a fit that
//!   never saw them (nor their knockouts, as priors), then refitted on every row.
//! * [`refine_structured`]: the structured surrogate refitted on a richer measurement with
//!   the screening fit as its ridge prior, and its leave-one-out fit over those rows.
//! * [`select_models`]: which model `anneal` uses for each target.

use crate::additive::AdditiveConfig;
use crate::error::SurrogateError;
use crate::metrics::{metrics, FitMetrics};
use crate::report::{Points, RefinedReport, SelectedModels, TargetReport};
use crate::structured::{MaskRows, StructuredModels};
use crate::target::bias_target;
use crate::{train, TrainConfig, TrainedSurrogate};

/// One table's measurements as the fits see them.
#[derive(Debug, Clone, PartialEq)]
pub struct FitTable {
    /// Masks, ln perplexity and the axis's bucket means (on the chosen scale).
    pub rows: MaskRows,
    /// The axis's bucket names, in the bucket means' order.
    pub buckets: Vec<String>,
    /// Prompts per bucket, in the same order.
    pub counts: Vec<f64>,
    /// Each row's measured bias of the axis, on the same scale as the bucket means.
    pub bias: Vec<f64>,
}

/// The structured surrogate `anneal` may use, and how well it fits.
#[derive(Debug, Clone, PartialEq)]
pub struct StructuredFit {
    /// The models written to `surrogate-structured.json`: refined when a richer measurement
    /// was given, else the screening fit on every row.
    pub models: StructuredModels,
    /// ln bias of the held-out split, predicted by the fit on the training rows.
    pub bias: TargetReport,
    /// ln perplexity of the held-out split, predicted by the fit on the training rows.
    pub perplexity: TargetReport,
    /// The refinement's leave-one-out fit, when there was one.
    pub refined: Option<RefinedReport>,
}

/// Trains one MLP on the rows `train_idx` (masks to `targets`) and reports its fit there and
/// on `hold_idx` (no held-out fit when that is empty). `name` labels the report and the log.
pub fn fit_mlp(
    masks: &[Vec<bool>],
    targets: &[f64],
    (train_idx, hold_idx): (&[usize], &[usize]),
    config: &TrainConfig,
    seed: u64,
    name: &str,
) -> Result<(TrainedSurrogate, TargetReport), SurrogateError> {
    let xs = |idx: &[usize]| idx.iter().map(|&i| masks[i].clone()).collect::<Vec<_>>();
    let ys = |idx: &[usize]| idx.iter().map(|&i| targets[i]).collect::<Vec<_>>();
    log::info!("training the {name} surrogate on {} rows", train_idx.len());
    let model = train(config, &xs(train_idx), &ys(train_idx), seed)?;
    let train_fit = metrics(&model.predict_batch(&xs(train_idx))?, &ys(train_idx))?;
    let (holdout, holdout_points) = if hold_idx.is_empty() {
        (None, Vec::new())
    } else {
        let predicted = model.predict_batch(&xs(hold_idx))?;
        let measured = ys(hold_idx);
        (
            Some(metrics(&predicted, &measured)?),
            measured.into_iter().zip(predicted).collect(),
        )
    };
    let report = TargetReport {
        target: name.to_string(),
        train: train_fit,
        holdout,
        holdout_points,
    };
    Ok((model, report))
}

/// The screening fit of the structured surrogate on every row of `table`, with its held-out
/// fit measured by a second fit on the training rows alone: the held-out rows' own
/// knockouts must not leak into that fit's priors. `floor` is the bias target's floor
/// ([`crate::bias_floor`]); `axis` names the bias report. `refined` is left `None`.
pub fn fit_structured(
    table: &FitTable,
    axis: &str,
    floor: f64,
    (train_idx, hold_idx): (&[usize], &[usize]),
    config: &AdditiveConfig,
) -> Result<StructuredFit, SurrogateError> {
    let rows = &table.rows;
    let priors = rows.knockout_priors();
    let train_rows = rows.subset(train_idx);
    log::info!(
        "fitting the structured surrogate on {} rows (knockout priors: {})",
        train_idx.len(),
        priors.is_some()
    );
    let train_priors = train_rows.knockout_priors();
    let held = StructuredModels::fit(
        &train_rows,
        priors_ref(&train_priors),
        table.buckets.clone(),
        table.counts.clone(),
        config,
    )?;
    let (mut ln_bias, mut ln_ppl) = (Vec::new(), Vec::new());
    for mask in &rows.masks {
        ln_bias.push(bias_target(held.bias.predict(mask)?, floor));
        ln_ppl.push(held.ln_ppl.predict(mask)?);
    }
    let measured_bias: Vec<f64> = table.bias.iter().map(|&b| bias_target(b, floor)).collect();
    let split = (train_idx, hold_idx);
    let bias = TargetReport::of_split(
        &format!("structured ln_bias/{axis}"),
        &ln_bias,
        &measured_bias,
        split,
    )?;
    let perplexity =
        TargetReport::of_split("structured ln_perplexity", &ln_ppl, &rows.ln_ppl, split)?;
    let models = StructuredModels::fit(
        rows,
        priors_ref(&priors),
        table.buckets.clone(),
        table.counts.clone(),
        config,
    )?;
    Ok(StructuredFit {
        models,
        bias,
        perplexity,
        refined: None,
    })
}

/// The structured surrogate refitted on the richer measurement `rich` (the proposals of
/// earlier rounds, read from `tables`) with `screening`'s coefficients as its ridge prior, and
/// the leave-one-out fit of that refit over `rich`'s rows (bias on its own scale, ln
/// perplexity; none with fewer than 5 rows). `rich` must measure the screening's buckets.
pub fn refine_structured(
    screening: &StructuredModels,
    rich: &FitTable,
    tables: Vec<String>,
    config: &AdditiveConfig,
) -> Result<(StructuredModels, RefinedReport), SurrogateError> {
    let prior = screening.as_priors();
    let prior = (prior.0.as_slice(), prior.1.as_slice());
    let refined = StructuredModels::fit(
        &rich.rows,
        Some(prior),
        rich.buckets.clone(),
        rich.counts.clone(),
        config,
    )?;
    let (bias_points, perplexity_points) = leave_one_out(rich, prior, config)?;
    log::info!(
        "refined the structured surrogate on {} rows of the richer measurement",
        rich.rows.masks.len()
    );
    let report = RefinedReport {
        tables,
        rows: rich.rows.masks.len(),
        bias: metrics_of(&bias_points),
        perplexity: metrics_of(&perplexity_points),
        bias_points,
        perplexity_points,
    };
    Ok((refined, report))
}

/// Which model `anneal` uses per target: the structured surrogate whenever it was refined
/// (only it learns from the richer measurement), else the one with the higher held-out
/// Spearman (the structured one on a tie or when neither is defined).
pub fn select_models(
    structured: &StructuredFit,
    bias_mlp: &TargetReport,
    ppl_mlp: &TargetReport,
) -> SelectedModels {
    if structured.refined.is_some() {
        let reason =
            "only the structured surrogate is refitted on the richer measurement of the proposals"
                .into();
        return SelectedModels {
            bias: "structured".into(),
            perplexity: "structured".into(),
            reason,
        };
    }
    let spearman = |r: &TargetReport| r.holdout_spearman().unwrap_or(f64::NEG_INFINITY);
    let pick = |structured: &TargetReport, mlp: &TargetReport| {
        if spearman(structured) >= spearman(mlp) {
            "structured"
        } else {
            "mlp"
        }
    };
    SelectedModels {
        bias: pick(&structured.bias, bias_mlp).into(),
        perplexity: pick(&structured.perplexity, ppl_mlp).into(),
        reason: "the higher held-out Spearman on the screening table".into(),
    }
}

/// Borrowed priors for [`StructuredModels::fit`].
fn priors_ref(p: &Option<(Vec<f64>, Vec<Vec<f64>>)>) -> Option<(&[f64], &[Vec<f64>])> {
    p.as_ref().map(|(a, b)| (a.as_slice(), b.as_slice()))
}

/// `(measured, predicted)` of each of `rich`'s rows from a fit without it: the bias and ln
/// perplexity. Empty with fewer than 5 rows.
fn leave_one_out(
    rich: &FitTable,
    prior: (&[f64], &[Vec<f64>]),
    config: &AdditiveConfig,
) -> Result<(Points, Points), SurrogateError> {
    let rows = &rich.rows;
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
            rich.buckets.clone(),
            rich.counts.clone(),
            config,
        )?;
        bias.push((rich.bias[k], fit.bias.predict(&rows.masks[k])?));
        ppl.push((rows.ln_ppl[k], fit.ln_ppl.predict(&rows.masks[k])?));
    }
    Ok((bias, ppl))
}

/// The fit of `(measured, predicted)` points, or None where it is undefined.
fn metrics_of(points: &[(f64, f64)]) -> Option<FitMetrics> {
    let (measured, predicted): (Vec<f64>, Vec<f64>) = points.iter().copied().unzip();
    metrics(&predicted, &measured).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table over 6 heads where ln perplexity and two bucket means are additive in the
    /// heads: the unpruned row, every knockout and `extra` two-head masks.
    fn additive_table(extra: usize) -> FitTable {
        let heads = 6;
        let ppl_effect = [0.1, 0.0, 0.3, 0.05, 0.2, 0.0];
        let bucket_effect = [
            [0.02, -0.01],
            [0.0, 0.03],
            [-0.02, 0.0],
            [0.01, 0.01],
            [0.0, -0.02],
            [0.03, 0.0],
        ];
        let mut masks = vec![vec![false; heads]];
        masks.extend((0..heads).map(|h| (0..heads).map(|i| i == h).collect()));
        masks.extend((0..extra).map(|k| {
            (0..heads)
                .map(|i| i == k % heads || i == (k + 2) % heads)
                .collect()
        }));
        let mut rows = MaskRows::default();
        let mut bias = Vec::new();
        for mask in &masks {
            let on = |i: usize| if mask[i] { 1.0 } else { 0.0 };
            rows.ln_ppl
                .push(3.0 + (0..heads).map(|i| ppl_effect[i] * on(i)).sum::<f64>());
            let means: Vec<f64> = (0..2)
                .map(|b| {
                    0.4 + 0.1 * b as f64
                        + (0..heads).map(|i| bucket_effect[i][b] * on(i)).sum::<f64>()
                })
                .collect();
            let mean = (means[0] + means[1]) / 2.0;
            bias.push(means.iter().map(|m| (m - mean).abs()).sum());
            rows.bucket_means.push(means);
            rows.masks.push(mask.clone());
        }
        FitTable {
            rows,
            buckets: vec!["a".into(), "b".into()],
            counts: vec![1.0, 1.0],
            bias,
        }
    }

    fn report(spearman: Option<f64>) -> TargetReport {
        let fit = |spearman| FitMetrics {
            n: 4,
            r2: 0.5,
            rmse: 0.1,
            spearman,
        };
        TargetReport {
            target: "t".into(),
            train: fit(0.9),
            holdout: spearman.map(fit),
            holdout_points: Vec::new(),
        }
    }

    #[test]
    fn the_structured_fit_predicts_held_out_additive_rows() {
        let table = additive_table(12);
        let n = table.rows.masks.len();
        let hold: Vec<usize> = (n - 4..n).collect();
        let train: Vec<usize> = (0..n - 4).collect();
        let fit = fit_structured(
            &table,
            "axis",
            1e-3,
            (&train, &hold),
            &AdditiveConfig::default(),
        )
        .unwrap();
        let held = fit.perplexity.holdout.unwrap();
        assert_eq!(held.n, 4);
        assert!(held.rmse < 0.05, "ln perplexity off by {}", held.rmse);
        assert!(fit.bias.target.contains("axis"));
        assert!(fit.refined.is_none());
    }

    #[test]
    fn refinement_reports_leave_one_out_only_from_five_rows() {
        let screening = additive_table(12);
        let config = AdditiveConfig::default();
        let all: Vec<usize> = (0..screening.rows.masks.len()).collect();
        let fit = fit_structured(&screening, "axis", 1e-3, (&all, &[]), &config).unwrap();
        assert!(fit.perplexity.holdout.is_none());
        let rich = additive_table(0);
        let few = FitTable {
            rows: rich.rows.subset(&[0, 1, 2, 3]),
            bias: rich.bias[..4].to_vec(),
            ..rich.clone()
        };
        let (_, report) =
            refine_structured(&fit.models, &few, vec!["r.parquet".into()], &config).unwrap();
        assert_eq!((report.rows, report.bias_points.len()), (4, 0));
        assert!(report.bias.is_none());
        let (_, report) = refine_structured(&fit.models, &rich, Vec::new(), &config).unwrap();
        assert_eq!(report.rows, 7);
        assert_eq!(report.bias_points.len(), 7);
        assert_eq!(report.perplexity_points.len(), 7);
        // Each point pairs the row's own measurement with a prediction made without it.
        for (k, &(measured, _)) in report.perplexity_points.iter().enumerate() {
            assert_eq!(measured, rich.rows.ln_ppl[k]);
        }
    }

    #[test]
    fn selection_prefers_the_better_held_out_spearman_and_a_refined_fit() {
        let table = additive_table(12);
        let all: Vec<usize> = (0..table.rows.masks.len()).collect();
        let mut fit = fit_structured(
            &table,
            "axis",
            1e-3,
            (&all, &[]),
            &AdditiveConfig::default(),
        )
        .unwrap();
        fit.bias = report(Some(0.3));
        fit.perplexity = report(Some(0.8));
        let chosen = select_models(&fit, &report(Some(0.5)), &report(Some(0.8)));
        assert_eq!(
            (chosen.bias.as_str(), chosen.perplexity.as_str()),
            ("mlp", "structured")
        );
        // An undefined Spearman loses to a defined one.
        fit.bias = report(Some(f64::NAN));
        let chosen = select_models(&fit, &report(Some(-0.2)), &report(None));
        assert_eq!(
            (chosen.bias.as_str(), chosen.perplexity.as_str()),
            ("mlp", "structured")
        );
        fit.refined = Some(RefinedReport {
            tables: Vec::new(),
            rows: 0,
            bias: None,
            perplexity: None,
            bias_points: Vec::new(),
            perplexity_points: Vec::new(),
        });
        let chosen = select_models(&fit, &report(Some(0.9)), &report(Some(0.9)));
        assert_eq!(
            (chosen.bias.as_str(), chosen.perplexity.as_str()),
            ("structured", "structured")
        );
    }
}
