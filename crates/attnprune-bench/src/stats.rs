//! Timing repeats and summarising them (median, min, max).

use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;

/// One figure of a workload over its repeats.
#[derive(Debug, Clone, Serialize)]
pub struct Metric {
    /// Unit, e.g. `tokens/s` or `s`.
    pub unit: String,
    /// Whether a larger value is better (throughput) or worse (seconds).
    pub higher_is_better: bool,
    /// Median over the repeats.
    pub median: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Every repeat's value, in run order (the warm-up is not included).
    pub runs: Vec<f64>,
}

impl Metric {
    /// Summarises `runs` (non-empty).
    pub fn new(unit: &str, higher_is_better: bool, runs: Vec<f64>) -> Self {
        let mut sorted = runs.clone();
        sorted.sort_by(f64::total_cmp);
        Self {
            unit: unit.to_string(),
            higher_is_better,
            median: attnprune_stats::median(&runs),
            min: sorted.first().copied().unwrap_or(f64::NAN),
            max: sorted.last().copied().unwrap_or(f64::NAN),
            runs,
        }
    }
}

/// What one workload measured.
#[derive(Debug, Clone, Serialize)]
pub struct WorkloadResult {
    /// 1..5, as numbered in issue 6.
    pub id: u32,
    /// Short name.
    pub name: String,
    /// What exactly is timed.
    pub description: String,
    /// Untimed warm-up runs before the repeats.
    pub warmup: usize,
    /// Timed repeats.
    pub repeats: usize,
    /// The metric the summary table shows first.
    pub primary: String,
    /// Every metric by name.
    pub metrics: BTreeMap<String, Metric>,
    /// Sizes and other facts about the run (not timings).
    pub info: serde_json::Value,
}

/// Runs `f` once untimed (warm-up), then `repeats` times; returns the seconds
/// of each timed run and the output of the last one.
pub fn time_repeats<T>(repeats: usize, mut f: impl FnMut() -> Result<T>) -> Result<(Vec<f64>, T)> {
    let mut last = f()?;
    let mut secs = Vec::with_capacity(repeats);
    for r in 0..repeats {
        let start = Instant::now();
        last = f()?;
        let dt = start.elapsed().as_secs_f64();
        log::info!("  run {}/{}: {:.3} s", r + 1, repeats, dt);
        secs.push(dt);
    }
    Ok((secs, last))
}

/// `amount / seconds` for each run.
pub fn rates(amount: f64, secs: &[f64]) -> Vec<f64> {
    secs.iter().map(|s| amount / s.max(1e-12)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_min_max() {
        let m = Metric::new("s", false, vec![3.0, 1.0, 2.0]);
        assert_eq!((m.median, m.min, m.max), (2.0, 1.0, 3.0));
        let m = Metric::new("s", false, vec![4.0, 1.0, 2.0, 3.0]);
        assert_eq!(m.median, 2.5);
        assert_eq!(m.runs, vec![4.0, 1.0, 2.0, 3.0]);
    }
}
