//! Small statistics shared by every crate (selection rules, surrogate fits, the bias
//! formula, the noise study, the report, the benchmarks), so each figure is computed one way.
//!
//! NaN behaviour is part of each function's contract:
//! * [`mean`], [`sd`], [`median`], [`quantile`] return NaN when there are too few values;
//!   [`quantile`] and [`median`] ignore NaN inputs, [`mean`] and [`sd`] propagate them.
//! * [`pearson`] and [`spearman`] return NaN when undefined (lengths differ, no values,
//!   either side constant); [`defined`] turns such a NaN into `None` for callers that
//!   report "undefined" as absent.
//! * [`average_ranks`] sorts NaN last, each NaN its own rank.
//! * serde_json writes NaN as `null`; [`nan_if_null`] reads it back as NaN.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Arithmetic mean; NaN for no values.
pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.iter().sum::<f64>() / values.len() as f64
}

/// Sample standard deviation (n - 1); NaN for fewer than two values.
pub fn sd(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return f64::NAN;
    }
    let m = mean(values);
    (values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (values.len() - 1) as f64).sqrt()
}

/// The `q` quantile (0..=1) by linear interpolation between order statistics (NumPy's
/// default); NaN inputs are ignored, NaN when no value is left.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// The median: the middle value, or the mean of the two middle values; NaN inputs are
/// ignored, NaN when no value is left.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]),
    }
}

/// 1-based ranks with ties replaced by their average rank (NaNs sort last, each its own rank).
pub fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let v = values[order[start]];
        let end = order[start..]
            .iter()
            .position(|&k| values[k] != v)
            .map_or(order.len(), |p| start + p);
        let end = end.max(start + 1);
        let avg = (start + 1 + end) as f64 / 2.0;
        order[start..end].iter().for_each(|&k| ranks[k] = avg);
        start = end;
    }
    ranks
}

/// Pearson correlation; NaN if the lengths differ, there are no values, or either side
/// has zero variance.
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    if a.len() != b.len() || a.is_empty() {
        return f64::NAN;
    }
    let (ma, mb) = (mean(a), mean(b));
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    if va > 0.0 && vb > 0.0 {
        cov / (va * vb).sqrt()
    } else {
        f64::NAN
    }
}

/// Spearman rank correlation: Pearson correlation of [`average_ranks`] (ties averaged);
/// NaN when undefined (see [`pearson`]).
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    pearson(&average_ranks(a), &average_ranks(b))
}

/// `Some(x)` unless `x` is NaN: for figures whose "undefined" is reported as absent.
pub fn defined(x: f64) -> Option<f64> {
    (!x.is_nan()).then_some(x)
}

/// Reads a number that serde_json wrote, where NaN (or an infinity) became `null`: `null`
/// reads back as NaN. Use as `#[serde(deserialize_with = "attnprune_stats::nan_if_null")]`
/// on `f64` fields that may be undefined.
pub fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    use serde::Deserialize;
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// `resamples` bootstrap resamples of `0..n` (indices drawn with replacement), seeded.
pub fn bootstrap_indices(
    n: usize,
    resamples: usize,
    seed: u64,
) -> impl Iterator<Item = Vec<usize>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..resamples).map(move |_| (0..n).map(|_| rng.random_range(0..n.max(1))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basics() {
        assert_eq!(mean(&[1.0, 2.0, 3.0]), 2.0);
        assert!((sd(&[1.0, 2.0, 3.0]) - 1.0).abs() < 1e-12);
        assert!((sd(&[1.0, 3.0]) - 2f64.sqrt()).abs() < 1e-12);
        assert_eq!(quantile(&[3.0, 1.0, 2.0], 0.5), 2.0);
        assert_eq!(quantile(&[0.0, 10.0], 0.25), 2.5);
        assert!((quantile(&[0.0, 1.0, 2.0, 3.0, 4.0], 0.1) - 0.4).abs() < 1e-12);
        assert_eq!(quantile(&[7.0], 0.3), 7.0);
        assert!(mean(&[]).is_nan() && sd(&[1.0]).is_nan() && quantile(&[], 0.5).is_nan());
        assert_eq!(
            (median(&[3.0, 1.0, 2.0]), median(&[4.0, 1.0, 2.0, 3.0])),
            (2.0, 2.5)
        );
        assert!(median(&[]).is_nan());
        let draws: Vec<Vec<usize>> = bootstrap_indices(5, 3, 7).collect();
        assert_eq!(draws, bootstrap_indices(5, 3, 7).collect::<Vec<_>>());
        assert!(draws
            .iter()
            .all(|d| d.len() == 5 && d.iter().all(|&i| i < 5)));
    }

    #[test]
    fn spearman_with_ties_uses_average_ranks() {
        assert_eq!(
            average_ranks(&[10.0, 20.0, 10.0, 30.0]),
            vec![1.5, 3.0, 1.5, 4.0]
        );
        assert_eq!(average_ranks(&[5.0, 5.0, 5.0]), vec![2.0, 2.0, 2.0]);
        assert_eq!(
            average_ranks(&[0.5, 0.1, 0.5, 0.9]),
            vec![2.5, 1.0, 2.5, 4.0]
        );
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]), 1.0);
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), -1.0);
        // d = (0, 1, -1): rho = 1 - 6 * 2 / (3 * 8) = 0.5.
        assert!((spearman(&[1.0, 2.0, 3.0], &[1.0, 3.0, 2.0]) - 0.5).abs() < 1e-12);
        assert_eq!(defined(spearman(&[1.0, 1.0], &[1.0, 2.0])), None);
        assert!(pearson(&[1.0], &[1.0, 2.0]).is_nan());
    }
}
