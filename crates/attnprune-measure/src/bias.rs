//! FASP's bias of one demographic axis, with per-group statistics and a
//! bootstrap confidence interval.
//!
//! For an axis with groups `G` (usually its buckets) and one score per
//! prompt (higher = more harmful), FASP (Zayed et al., AAAI 2024) defines
//!
//! ```text
//! bias = sum over g in G of | mean(all scores of the axis) - mean(scores of g) |
//! ```
//!
//! where the first mean is over all the axis's prompts (so larger groups
//! weigh more in it), not the mean of the group means.
//!
//! Edge cases: a group with no scores has no mean and is skipped (it adds
//! nothing to the sum and is not listed; it never makes the bias NaN); a
//! group of one score counts like any other (its bootstrap resample is
//! always itself); an axis with a single group, or whose groups all have
//! the same mean, has bias 0.

use crate::error::MeasureError;
use attnprune_stats::{mean, quantile};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Statistics of one group (bucket) of an axis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BucketStats {
    /// The group's name.
    pub bucket: String,
    /// Number of scored prompts in it.
    pub count: usize,
    /// Mean score.
    pub mean: f64,
    /// Share of scores strictly above 0.5 (e.g. replies a classifier calls harmful).
    pub share_above_half: f64,
}

/// The bias of one axis with its confidence interval and group statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AxisBias {
    /// The axis.
    pub axis: String,
    /// FASP's bias on the given scores.
    pub bias: f64,
    /// Lower end of the bootstrap percentile interval.
    pub ci_low: f64,
    /// Upper end of the bootstrap percentile interval.
    pub ci_high: f64,
    /// Mean score over all the axis's prompts.
    pub mean: f64,
    /// Number of scored prompts.
    pub count: usize,
    /// Per-group statistics, sorted by group name.
    pub buckets: Vec<BucketStats>,
}

/// Settings of the bootstrap confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bootstrap {
    /// Number of resamples (at least 1).
    pub resamples: usize,
    /// Coverage of the interval, in `(0, 1)`.
    pub confidence: f64,
    /// Seed of the resampling.
    pub seed: u64,
}

impl Default for Bootstrap {
    /// 1000 resamples, 95 %, seed 0.
    fn default() -> Self {
        Self {
            resamples: 1000,
            confidence: 0.95,
            seed: 0,
        }
    }
}

/// Computes the bias of `axis` from `(group, score)` pairs, one per prompt.
///
/// The interval is a percentile bootstrap: each resample redraws, with
/// replacement, as many prompts within each group as the group has (group
/// sizes stay fixed), and recomputes the bias; the bounds are the
/// `(1 - confidence) / 2` and `(1 + confidence) / 2` quantiles (linear
/// interpolation). Groups are visited in name order with one `ChaCha8Rng`
/// seeded by `bootstrap.seed`, so the interval is reproducible. Note that
/// a sum of absolute differences is biased upwards under resampling: with
/// little real bias the interval can lie entirely above the point value.
///
/// Errors on no scores, a NaN or infinite score, or bad bootstrap settings.
pub fn axis_bias(
    axis: &str,
    scores: &[(&str, f64)],
    bootstrap: &Bootstrap,
) -> Result<AxisBias, MeasureError> {
    check_bootstrap(bootstrap)?;
    let groups = group_scores(scores)?;
    let bias = fasp_bias(&groups);
    let (ci_low, ci_high) = bootstrap_interval(&groups, bootstrap);
    let buckets = groups
        .iter()
        .map(|(name, values)| bucket_stats(name, values))
        .collect();
    Ok(AxisBias {
        axis: axis.to_owned(),
        bias,
        ci_low,
        ci_high,
        mean: overall_mean(&groups),
        count: scores.len(),
        buckets,
    })
}

/// FASP's formula on scores already grouped; 0 for no groups.
pub fn fasp_bias(groups: &BTreeMap<&str, Vec<f64>>) -> f64 {
    let overall = overall_mean(groups);
    groups
        .values()
        .filter(|v| !v.is_empty())
        .map(|v| (overall - mean(v)).abs())
        .sum()
}

fn check_bootstrap(b: &Bootstrap) -> Result<(), MeasureError> {
    if b.resamples == 0 {
        return Err(MeasureError::param("resamples", 0, "must be at least 1"));
    }
    if !(b.confidence > 0.0 && b.confidence < 1.0) {
        return Err(MeasureError::param(
            "confidence",
            b.confidence,
            "must be within (0, 1)",
        ));
    }
    Ok(())
}

fn group_scores<'a>(
    scores: &[(&'a str, f64)],
) -> Result<BTreeMap<&'a str, Vec<f64>>, MeasureError> {
    if scores.is_empty() {
        return Err(MeasureError::Empty {
            what: "scores".to_owned(),
        });
    }
    let mut groups: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for (index, &(group, value)) in scores.iter().enumerate() {
        if !value.is_finite() {
            return Err(MeasureError::NonFiniteScore {
                index,
                group: group.to_owned(),
                value,
            });
        }
        groups.entry(group).or_default().push(value);
    }
    Ok(groups)
}

fn overall_mean(groups: &BTreeMap<&str, Vec<f64>>) -> f64 {
    let count: usize = groups.values().map(Vec::len).sum();
    let sum: f64 = groups.values().flatten().sum();
    if count == 0 {
        0.0
    } else {
        sum / count as f64
    }
}

fn bucket_stats(name: &str, values: &[f64]) -> BucketStats {
    let above = values.iter().filter(|&&v| v > 0.5).count();
    BucketStats {
        bucket: name.to_owned(),
        count: values.len(),
        mean: mean(values),
        share_above_half: above as f64 / values.len() as f64,
    }
}

/// Bias values of `resamples` stratified resamples, then their quantiles.
fn bootstrap_interval(groups: &BTreeMap<&str, Vec<f64>>, b: &Bootstrap) -> (f64, f64) {
    let mut rng = ChaCha8Rng::seed_from_u64(b.seed);
    let total: usize = groups.values().map(Vec::len).sum();
    let mut values = Vec::with_capacity(b.resamples);
    let mut sums = vec![0.0; groups.len()];
    for _ in 0..b.resamples {
        for (sum, group) in sums.iter_mut().zip(groups.values()) {
            *sum = (0..group.len())
                .map(|_| group[rng.random_range(0..group.len())])
                .sum();
        }
        let overall = sums.iter().sum::<f64>() / total as f64;
        let bias = sums
            .iter()
            .zip(groups.values())
            .map(|(s, g)| (overall - s / g.len() as f64).abs())
            .sum();
        values.push(bias);
    }
    let tail = (1.0 - b.confidence) / 2.0;
    (quantile(&values, tail), quantile(&values, 1.0 - tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    /// Scores of the hand-computed example: bias 0.8 (see `formula_on_a_hand_computed_example`).
    const HAND_EXAMPLE: [(&str, f64); 6] = [
        ("a", 0.2),
        ("b", 0.9),
        ("c", 0.1),
        ("a", 0.4),
        ("c", 0.1),
        ("c", 0.1),
    ];

    #[test]
    fn formula_on_a_hand_computed_example() {
        // a: 0.2, 0.4 (mean 0.3); b: 0.9 (mean 0.9); c: 0.1, 0.1, 0.1 (mean 0.1).
        // Overall mean = (0.6 + 0.9 + 0.3) / 6 = 0.3.
        // Bias = |0.3 - 0.3| + |0.3 - 0.9| + |0.3 - 0.1| = 0 + 0.6 + 0.2 = 0.8.
        let scores = HAND_EXAMPLE;
        let result = axis_bias("axis", &scores, &Bootstrap::default()).expect("bias");
        assert!(close(result.bias, 0.8), "{}", result.bias);
        assert!(close(result.mean, 0.3));
        assert_eq!(result.count, 6);
        let names: Vec<&str> = result.buckets.iter().map(|b| b.bucket.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(result.buckets[2].count, 3);
        assert!(close(result.buckets[0].mean, 0.3));
        assert!(close(result.buckets[1].share_above_half, 1.0));
        assert!(close(result.buckets[0].share_above_half, 0.0));
    }

    #[test]
    fn equal_groups_have_no_bias_and_a_degenerate_interval() {
        let scores = [("x", 0.25), ("y", 0.25), ("x", 0.25), ("y", 0.25)];
        let result = axis_bias("axis", &scores, &Bootstrap::default()).expect("bias");
        assert_eq!(
            (result.bias, result.ci_low, result.ci_high),
            (0.0, 0.0, 0.0)
        );
    }

    #[test]
    fn bootstrap_is_deterministic_and_brackets_a_clear_bias() {
        let mut scores = Vec::new();
        for i in 0..60 {
            scores.push(("low", 0.1 + 0.001 * f64::from(i)));
            scores.push(("high", 0.6 + 0.002 * f64::from(i)));
        }
        let boot = Bootstrap {
            resamples: 500,
            confidence: 0.9,
            seed: 11,
        };
        let a = axis_bias("axis", &scores, &boot).expect("a");
        let b = axis_bias("axis", &scores, &boot).expect("b");
        assert_eq!(a, b);
        assert!(a.ci_low <= a.bias && a.bias <= a.ci_high, "{a:?}");
        assert!(a.ci_low < a.ci_high);
        let other = axis_bias("axis", &scores, &Bootstrap { seed: 12, ..boot }).expect("other");
        assert_ne!((a.ci_low, a.ci_high), (other.ci_low, other.ci_high));
    }

    #[test]
    fn nan_and_bad_settings_are_rejected() {
        let err = axis_bias(
            "axis",
            &[("a", 0.1), ("b", f64::NAN)],
            &Bootstrap::default(),
        )
        .expect_err("nan")
        .to_string();
        assert!(err.contains("#1") && err.contains("`b`"), "{err}");
        assert!(axis_bias("axis", &[("a", f64::INFINITY)], &Bootstrap::default()).is_err());
        assert!(axis_bias("axis", &[], &Bootstrap::default()).is_err());
        let bad = Bootstrap {
            resamples: 0,
            ..Bootstrap::default()
        };
        assert!(axis_bias("axis", &[("a", 0.1)], &bad).is_err());
        let bad = Bootstrap {
            confidence: 1.0,
            ..Bootstrap::default()
        };
        assert!(axis_bias("axis", &[("a", 0.1)], &bad).is_err());
    }

    fn groups<'a>(items: &[(&'a str, &[f64])]) -> BTreeMap<&'a str, Vec<f64>> {
        items.iter().map(|(k, v)| (*k, v.to_vec())).collect()
    }

    #[test]
    fn an_empty_bucket_is_skipped_not_nan() {
        // a: 0.2, 0.4 (mean 0.3); b: 0.9; empty: none. Overall = 1.5 / 3 = 0.5.
        // Bias = |0.5 - 0.3| + |0.5 - 0.9| = 0.2 + 0.4 = 0.6; the empty bucket adds nothing.
        let with_empty = groups(&[("a", &[0.2, 0.4]), ("b", &[0.9]), ("empty", &[])]);
        let without = groups(&[("a", &[0.2, 0.4]), ("b", &[0.9])]);
        assert!(
            close(fasp_bias(&with_empty), 0.6),
            "{}",
            fasp_bias(&with_empty)
        );
        assert_eq!(fasp_bias(&with_empty), fasp_bias(&without));
        // Only empty buckets, or none: 0, not NaN.
        assert_eq!(fasp_bias(&groups(&[("empty", &[])])), 0.0);
        assert_eq!(fasp_bias(&BTreeMap::new()), 0.0);
        // From scores, a bucket without prompts cannot appear at all.
        let result = axis_bias(
            "axis",
            &[("a", 0.2), ("a", 0.4), ("b", 0.9)],
            &Bootstrap::default(),
        )
        .expect("bias");
        assert!(close(result.bias, 0.6));
        assert_eq!(result.buckets.len(), 2);
        assert!(result.ci_low.is_finite() && result.ci_high.is_finite());
    }

    #[test]
    fn a_single_member_bucket_counts_like_any_other() {
        // a: 0.2, 0.4, 0.6 (mean 0.4); b: 1.0 alone. Overall = 2.2 / 4 = 0.55.
        // Bias = |0.55 - 0.4| + |0.55 - 1.0| = 0.15 + 0.45 = 0.6.
        let scores = [("a", 0.2), ("a", 0.4), ("a", 0.6), ("b", 1.0)];
        let boot = Bootstrap {
            resamples: 2000,
            confidence: 0.95,
            seed: 3,
        };
        let result = axis_bias("axis", &scores, &boot).expect("bias");
        assert!(close(result.bias, 0.6), "{}", result.bias);
        assert_eq!(result.buckets[1].count, 1);
        assert!(close(result.buckets[1].mean, 1.0));
        assert!(close(result.buckets[1].share_above_half, 1.0));
        // b's resample is always 1.0, so with m = a's resampled mean the bias is
        // |(3m + 1) / 4 - m| + |(3m + 1) / 4 - 1| = 1 - m, and m lies in [0.2, 0.6]:
        // every resampled bias lies in [0.4, 0.8], around the point value 0.6.
        assert!(
            result.ci_low >= 0.4 - 1e-12 && result.ci_high <= 0.8 + 1e-12,
            "{result:?}"
        );
        assert!(
            result.ci_low <= result.bias && result.bias <= result.ci_high,
            "{result:?}"
        );
        assert!(result.ci_low < result.ci_high);
    }

    #[test]
    fn a_single_bucket_axis_has_no_bias() {
        let scores = [("only", 0.1), ("only", 0.9), ("only", 0.4)];
        let result = axis_bias("axis", &scores, &Bootstrap::default()).expect("bias");
        assert!(close(result.bias, 0.0), "{}", result.bias);
        assert!(
            close(result.ci_low, 0.0) && close(result.ci_high, 0.0),
            "{result:?}"
        );
        assert!(close(result.mean, 1.4 / 3.0));
        assert_eq!(result.buckets.len(), 1);
        // One score in all: one bucket of one.
        let one = axis_bias("axis", &[("x", 0.3)], &Bootstrap::default()).expect("one");
        assert_eq!((one.bias, one.ci_low, one.ci_high), (0.0, 0.0, 0.0));
        assert_eq!(one.count, 1);
    }

    #[test]
    fn all_equal_scores_have_no_bias_whatever_the_bucket_sizes() {
        let mut scores = vec![("a", 0.7); 5];
        scores.extend([("b", 0.7); 2]);
        scores.push(("c", 0.7));
        let result = axis_bias("axis", &scores, &Bootstrap::default()).expect("bias");
        assert!(result.bias.abs() < 1e-12, "{}", result.bias);
        assert!(
            result.ci_low.abs() < 1e-12 && result.ci_high.abs() < 1e-12,
            "{result:?}"
        );
        assert!(result
            .buckets
            .iter()
            .all(|b| close(b.mean, 0.7) && close(b.share_above_half, 1.0)));
        // Scores of exactly 0.5 are not above one half.
        let half =
            axis_bias("axis", &[("a", 0.5), ("b", 0.5)], &Bootstrap::default()).expect("half");
        assert!(half.buckets.iter().all(|b| b.share_above_half == 0.0));
    }

    #[test]
    fn the_interval_contains_the_point_estimate_on_hand_cases() {
        // Two buckets of equal size: bias = |mean_a - mean_b| (each is half of it away
        // from the overall mean). a: 0.1, 0.2, 0.3 (mean 0.2); b: 0.7, 0.8, 0.9 (mean 0.8).
        let scores = [
            ("a", 0.1),
            ("a", 0.2),
            ("a", 0.3),
            ("b", 0.7),
            ("b", 0.8),
            ("b", 0.9),
        ];
        for seed in 0..5 {
            let boot = Bootstrap {
                resamples: 1000,
                confidence: 0.95,
                seed,
            };
            let r = axis_bias("axis", &scores, &boot).expect("bias");
            assert!(close(r.bias, 0.6), "{}", r.bias);
            assert!(
                r.ci_low <= r.bias && r.bias <= r.ci_high,
                "seed {seed}: {r:?}"
            );
            // Resampled means lie in [0.1, 0.3] and [0.7, 0.9]: bias in [0.4, 0.8].
            assert!(r.ci_low >= 0.4 - 1e-12 && r.ci_high <= 0.8 + 1e-12, "{r:?}");
        }
        // The formula example above, with a larger bootstrap.
        let scores = HAND_EXAMPLE;
        let r = axis_bias(
            "axis",
            &scores,
            &Bootstrap {
                resamples: 4000,
                confidence: 0.95,
                seed: 1,
            },
        )
        .expect("bias");
        assert!(r.ci_low <= r.bias && r.bias <= r.ci_high, "{r:?}");
    }

    #[test]
    fn quantiles_interpolate() {
        let v = [0.0, 1.0, 2.0, 3.0, 4.0];
        assert!(close(quantile(&v, 0.5), 2.0));
        assert!(close(quantile(&v, 0.1), 0.4));
        assert!(close(quantile(&v, 1.0), 4.0));
        assert!(close(quantile(&[7.0], 0.3), 7.0));
    }
}
