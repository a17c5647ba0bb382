//! Fit metrics (R², RMSE, Spearman) and seeded hold-out splits.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{invalid, SurrogateError};
use attnprune_stats::{mean, spearman};

/// Goodness of fit of predictions against targets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FitMetrics {
    /// Number of rows.
    pub n: usize,
    /// Coefficient of determination `1 - SS_res / SS_tot` (NaN if the targets are constant;
    /// written as `null`, read back as NaN).
    #[serde(deserialize_with = "attnprune_stats::nan_if_null")]
    pub r2: f64,
    /// Root mean squared error.
    #[serde(deserialize_with = "attnprune_stats::nan_if_null")]
    pub rmse: f64,
    /// Spearman rank correlation, ties as average ranks (NaN if either side is constant).
    #[serde(deserialize_with = "attnprune_stats::nan_if_null")]
    pub spearman: f64,
}

/// Computes [`FitMetrics`]; errors if the lengths differ or are zero.
pub fn metrics(pred: &[f64], target: &[f64]) -> Result<FitMetrics, SurrogateError> {
    if pred.len() != target.len() {
        return Err(SurrogateError::RowCountMismatch {
            inputs: pred.len(),
            targets: target.len(),
        });
    }
    if pred.is_empty() {
        return Err(SurrogateError::EmptyData);
    }
    let n = pred.len() as f64;
    let mean_t = mean(target);
    let ss_res: f64 = pred.iter().zip(target).map(|(p, t)| (p - t).powi(2)).sum();
    let ss_tot: f64 = target.iter().map(|t| (t - mean_t).powi(2)).sum();
    let r2 = if ss_tot > 0.0 {
        1.0 - ss_res / ss_tot
    } else {
        f64::NAN
    };
    Ok(FitMetrics {
        n: pred.len(),
        r2,
        rmse: (ss_res / n).sqrt(),
        spearman: spearman(pred, target),
    })
}

/// Seeded split of `0..n_rows` into `(train, holdout)` index lists, each sorted ascending.
///
/// The hold-out has `round(n_rows * fraction)` rows, capped so that at least one training row
/// remains; `fraction` must be in `[0, 1)`.
pub fn split_holdout(
    n_rows: usize,
    fraction: f64,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>), SurrogateError> {
    if !(0.0..1.0).contains(&fraction) {
        return Err(invalid("fraction", fraction, "must be in [0, 1)"));
    }
    let mut order: Vec<usize> = (0..n_rows).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let n_hold = ((n_rows as f64 * fraction).round() as usize).min(n_rows.saturating_sub(1));
    let mut holdout = order[..n_hold].to_vec();
    let mut train = order[n_hold..].to_vec();
    holdout.sort_unstable();
    train.sort_unstable();
    Ok((train, holdout))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn hand_computed_metrics() {
        // residuals -0.5, 0, 0.5, 1 -> SS_res = 1.5; targets mean 2.5 -> SS_tot = 5
        let m = metrics(&[0.5, 2.0, 3.5, 5.0], &[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(m.n, 4);
        assert!(close(m.r2, 1.0 - 1.5 / 5.0));
        assert!(close(m.rmse, (1.5f64 / 4.0).sqrt()));
        assert!(close(m.spearman, 1.0));
        let rev = metrics(&[4.0, 3.0, 2.0, 1.0], &[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert!(close(rev.spearman, -1.0));
    }

    #[test]
    fn metric_errors() {
        assert!(metrics(&[1.0], &[1.0, 2.0]).is_err());
        assert!(metrics(&[], &[]).is_err());
        assert!(metrics(&[1.0, 1.0], &[2.0, 2.0]).unwrap().r2.is_nan());
    }

    #[test]
    fn holdout_split_is_seeded_partition() {
        let (train, hold) = split_holdout(100, 0.2, 7).unwrap();
        assert_eq!((train.len(), hold.len()), (80, 20));
        let mut all: Vec<usize> = train.iter().chain(&hold).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        assert_eq!(split_holdout(100, 0.2, 7).unwrap(), (train, hold.clone()));
        assert_ne!(split_holdout(100, 0.2, 8).unwrap().1, hold);
        assert_eq!(split_holdout(1, 0.5, 0).unwrap().0, vec![0]);
        assert!(split_holdout(10, 1.0, 0).is_err());
    }
}
