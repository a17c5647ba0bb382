//! Paired intervals: the pruned model against the unpruned one on the same windows and prompts.
//!
//! Pairing removes the text's and the prompts' own difficulty from the comparison: a window
//! that is hard for the unpruned model is hard for the pruned one too, so the interval of
//! the difference is far narrower than the difference of two independent intervals.

use crate::SelectError;
use attnprune_stats::{bootstrap_indices, quantile};
use serde::{Deserialize, Serialize};

/// A point estimate with a percentile bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interval {
    /// The estimate on the data as measured.
    pub point: f64,
    /// Lower end of the interval.
    pub low: f64,
    /// Upper end of the interval.
    pub high: f64,
    /// Coverage of the interval (0.95).
    pub confidence: f64,
    /// Bootstrap resamples behind it.
    pub resamples: usize,
}

impl Interval {
    /// Whether the interval excludes zero.
    pub fn excludes_zero(&self) -> bool {
        self.low > 0.0 || self.high < 0.0
    }

    fn from_draws(point: f64, draws: &[f64], confidence: f64) -> Self {
        let tail = (1.0 - confidence) / 2.0;
        Self {
            point,
            low: quantile(draws, tail),
            high: quantile(draws, 1.0 - tail),
            confidence,
            resamples: draws.len(),
        }
    }
}

fn check_confidence(confidence: f64, resamples: usize) -> Result<(), SelectError> {
    if !(confidence > 0.0 && confidence < 1.0) || resamples == 0 {
        return Err(SelectError::Invalid(format!("bootstrap needs a confidence in (0, 1) and at least one resample, not {confidence} and {resamples}")));
    }
    Ok(())
}

/// Relative perplexity change of `pruned` over `base`, `exp(mean(pruned) - mean(base)) - 1`,
/// from the mean NLL per token of the same windows (equal lengths, in the same order), with a
/// bootstrap interval over windows (the same resampled windows on both sides).
pub fn paired_ppl_change(
    base: &[f64],
    pruned: &[f64],
    resamples: usize,
    confidence: f64,
    seed: u64,
) -> Result<Interval, SelectError> {
    check_confidence(confidence, resamples)?;
    if base.len() != pruned.len() || base.is_empty() {
        return Err(SelectError::Invalid(format!(
            "a paired perplexity change needs the same windows on both sides: {} vs {} windows",
            base.len(),
            pruned.len()
        )));
    }
    let diffs: Vec<f64> = pruned.iter().zip(base).map(|(p, b)| p - b).collect();
    if diffs.iter().any(|d| !d.is_finite()) {
        return Err(SelectError::Invalid("a window's NLL is not finite".into()));
    }
    let change = |idx: &mut dyn Iterator<Item = usize>, n: usize| {
        (idx.map(|i| diffs[i]).sum::<f64>() / n as f64).exp() - 1.0
    };
    let n = diffs.len();
    let point = change(&mut (0..n), n);
    let draws: Vec<f64> = bootstrap_indices(n, resamples, seed)
        .map(|idx| change(&mut idx.into_iter(), n))
        .collect();
    Ok(Interval::from_draws(point, &draws, confidence))
}

/// FASP's bias (sum over buckets of |axis mean - bucket mean|) of the prompts `idx`, grouped.
fn bias_of(groups: &[Vec<usize>], scores: &[f64], draw: &[Vec<usize>]) -> f64 {
    let means: Vec<(f64, usize)> = groups
        .iter()
        .zip(draw)
        .map(|(g, d)| {
            (
                d.iter().map(|&k| scores[g[k]]).sum::<f64>() / d.len().max(1) as f64,
                d.len(),
            )
        })
        .collect();
    let total: usize = means.iter().map(|m| m.1).sum();
    let overall = means.iter().map(|(m, n)| m * *n as f64).sum::<f64>() / total.max(1) as f64;
    means.iter().map(|(m, _)| (overall - m).abs()).sum()
}

/// Relative bias change of `pruned` over `base` (`bias_pruned / bias_base - 1`; -0.4 = 40% less
/// bias) on the same prompts, `buckets[i]` naming prompt i's bucket, with a bootstrap
/// interval that resamples prompts within each bucket (the same prompts on both sides).
pub fn paired_bias_change(
    buckets: &[&str],
    base: &[f64],
    pruned: &[f64],
    resamples: usize,
    confidence: f64,
    seed: u64,
) -> Result<Interval, SelectError> {
    check_confidence(confidence, resamples)?;
    if base.len() != buckets.len() || pruned.len() != buckets.len() || buckets.is_empty() {
        return Err(SelectError::Invalid(format!(
            "a paired bias change needs the same prompts on both sides: {} buckets, {} and {} scores",
            buckets.len(),
            base.len(),
            pruned.len()
        )));
    }
    let mut names: Vec<&str> = buckets.to_vec();
    names.sort();
    names.dedup();
    let groups: Vec<Vec<usize>> = names
        .iter()
        .map(|n| (0..buckets.len()).filter(|&i| buckets[i] == *n).collect())
        .collect();
    let whole: Vec<Vec<usize>> = groups.iter().map(|g| (0..g.len()).collect()).collect();
    let change =
        |draw: &[Vec<usize>]| bias_of(&groups, pruned, draw) / bias_of(&groups, base, draw) - 1.0;
    let point = change(&whole);
    let mut streams: Vec<_> = groups
        .iter()
        .enumerate()
        .map(|(k, g)| bootstrap_indices(g.len(), resamples, seed.wrapping_add(k as u64)))
        .collect();
    let mut draws = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        let draw: Vec<Vec<usize>> = streams
            .iter_mut()
            .map(|s| s.next().unwrap_or_default())
            .collect();
        let c = change(&draw);
        if c.is_finite() {
            draws.push(c);
        }
    }
    Ok(Interval::from_draws(point, &draws, confidence))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ppl_change_is_paired_and_exact_at_the_point() {
        // Windows differ wildly in difficulty, the pruned model adds exactly 0.01 nats each.
        let base = [1.0, 3.0, 2.0, 5.0, 0.5, 4.0];
        let pruned: Vec<f64> = base.iter().map(|b| b + 0.01).collect();
        let i = paired_ppl_change(&base, &pruned, 500, 0.95, 1).unwrap();
        assert!((i.point - (0.01f64.exp() - 1.0)).abs() < 1e-12);
        assert!(
            (i.high - i.low).abs() < 1e-9,
            "no spread when every window moves alike: {i:?}"
        );
        let noisy: Vec<f64> = base
            .iter()
            .enumerate()
            .map(|(k, b)| b + if k % 2 == 0 { 0.05 } else { -0.01 })
            .collect();
        let j = paired_ppl_change(&base, &noisy, 500, 0.95, 1).unwrap();
        assert!(j.low < j.point && j.point < j.high, "{j:?}");
        assert!(paired_ppl_change(&base, &pruned[..3], 10, 0.95, 1).is_err());
    }

    #[test]
    fn bias_change_matches_the_formula() {
        let buckets = ["a", "a", "b", "b"];
        let base = [0.9, 0.7, 0.1, 0.3];
        // Base: means 0.8 and 0.2, overall 0.5: bias 0.6. Pruned: means 0.6, 0.4: bias 0.2.
        let pruned = [0.6, 0.6, 0.4, 0.4];
        let i = paired_bias_change(&buckets, &base, &pruned, 300, 0.95, 3).unwrap();
        assert!((i.point - (0.2 / 0.6 - 1.0)).abs() < 1e-12, "{i:?}");
        assert!(i.high < 0.0 && i.excludes_zero());
        assert!(paired_bias_change(&buckets, &base, &pruned[..2], 10, 0.95, 1).is_err());
    }
}
