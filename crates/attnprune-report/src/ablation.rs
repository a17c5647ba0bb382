//! The ablation of the closed loop: one-shot and closed-loop Attention Pruning, FASP and
//! random pruning on the test side, each with the real-model evaluations it cost, its paired
//! intervals, and the verdict on the scale saturation cannot move.

use crate::markdown::{fmt_pct, Table};
use serde::{Deserialize, Serialize};

/// A relative change with its paired 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Point estimate (-0.4 = 40% less).
    pub point: f64,
    /// Lower end.
    pub low: f64,
    /// Upper end.
    pub high: f64,
}

impl Change {
    /// `-28.3% [-40.1%, -15.2%]`.
    pub fn cell(&self) -> String {
        format!(
            "{} [{}, {}]",
            fmt_pct(self.point),
            fmt_pct(self.low),
            fmt_pct(self.high)
        )
    }

    /// Whether the interval excludes zero.
    pub fn excludes_zero(&self) -> bool {
        self.low > 0.0 || self.high < 0.0
    }
}

/// One method on the test side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AblationRow {
    /// Method name.
    pub method: String,
    /// Masks run on the real model to choose the mask (`None`: none, e.g. random).
    pub real_evaluations: Option<usize>,
    /// Heads pruned.
    pub heads: usize,
    /// Relative perplexity change on the test windows (paired).
    pub ppl_change: Change,
    /// Relative bias change of the axis on the log-odds scale (paired).
    pub logit_bias_change: Change,
    /// Relative bias change of the axis on the probability scale (paired).
    pub prob_bias_change: Change,
}

/// The ablation table in Markdown.
pub fn ablation_table(rows: &[AblationRow], axis: &str) -> String {
    let mut t = Table::new(&[
        "method".to_string(),
        "real-model evaluations".into(),
        "heads".into(),
        "perplexity change (test, paired 95% CI)".into(),
        format!("`{axis}` bias change, log-odds (test, paired 95% CI)"),
        format!("`{axis}` bias change, probability scale"),
    ]);
    for r in rows {
        t.row(vec![
            r.method.clone(),
            r.real_evaluations.map_or("–".into(), |n| n.to_string()),
            r.heads.to_string(),
            r.ppl_change.cell(),
            r.logit_bias_change.cell(),
            r.prob_bias_change.cell(),
        ]);
    }
    t.render()
}

/// The verdict of `answer` on the log-odds scale: within the perplexity budget on the test
/// side (point estimate), at least `min_reduction` less bias with an interval excluding zero,
/// and lower bias than every `rivals` row. One line per criterion, each starting with
/// `met` or `not met`.
pub fn verdict(
    answer: &AblationRow,
    rivals: &[&AblationRow],
    budget: f64,
    min_reduction: f64,
) -> Vec<String> {
    let mark = |ok: bool| if ok { "met" } else { "not met" };
    let b = &answer.logit_bias_change;
    let mut lines = vec![
        format!(
            "{}: perplexity {} on the test windows, budget +{:.1}%",
            mark(answer.ppl_change.point <= budget),
            fmt_pct(answer.ppl_change.point),
            budget * 100.0
        ),
        format!(
            "{}: log-odds bias {} (goal {} or less)",
            mark(b.point <= -min_reduction),
            fmt_pct(b.point),
            fmt_pct(-min_reduction)
        ),
        format!(
            "{}: the paired interval {} excludes zero",
            mark(b.excludes_zero() && b.high < 0.0),
            b.cell()
        ),
    ];
    for r in rivals {
        let rb = &r.logit_bias_change;
        let met = b.point < rb.point;
        let gap = 100.0 * (b.point - rb.point).abs();
        // A point estimate ahead is not a measured difference when the intervals overlap:
        // say so whichever way the point estimates fall.
        let overlap = b.low <= rb.high && rb.low <= b.high;
        let side = if met { "ahead" } else { "short" };
        let intervals = match (met, overlap) {
            (true, true) => "; the two intervals overlap, so these test prompts do not resolve the difference",
            (false, true) => "; the two intervals overlap, so these test prompts do not resolve the difference: more prompts per split (the interval narrows as 1/sqrt(prompts)) or more rounds would",
            (true, false) => "; the two intervals do not overlap",
            (false, false) => "",
        };
        let why = format!(", {side} by {gap:.1} points{intervals}");
        lines.push(format!(
            "{}: lower log-odds bias than {} ({} vs {}{why})",
            mark(met),
            r.method,
            fmt_pct(b.point),
            fmt_pct(rb.point)
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(method: &str, bias: f64, ppl: f64) -> AblationRow {
        let c = |p: f64| Change {
            point: p,
            low: p - 0.05,
            high: p + 0.05,
        };
        AblationRow {
            method: method.into(),
            real_evaluations: Some(10),
            heads: 3,
            ppl_change: c(ppl),
            logit_bias_change: c(bias),
            prob_bias_change: c(bias),
        }
    }

    #[test]
    fn verdict_lines_follow_the_numbers() {
        let ap = row("AP", -0.45, 0.03);
        let fasp = row("FASP", -0.2, 0.02);
        let v = verdict(&ap, &[&fasp], 0.05, 0.4);
        assert!(v.iter().all(|l| l.starts_with("met")), "{v:?}");
        let over = row("AP", -0.45, 0.06);
        assert!(verdict(&over, &[], 0.05, 0.4)[0].starts_with("not met"));
        let weak = row("AP", -0.03, 0.01);
        let w = verdict(&weak, &[&fasp], 0.05, 0.4);
        assert!(
            w[1].starts_with("not met")
                && w[2].starts_with("not met")
                && w[3].starts_with("not met"),
            "{w:?}"
        );
        // Ahead with disjoint intervals (±5 points each, 25 apart): a measured difference.
        assert!(
            v[3].contains("ahead by 25.0 points; the two intervals do not overlap"),
            "{v:?}"
        );
        // Ahead by 3 points with intervals of ±5: met on the point estimate, not resolved.
        let close = row("FASP", -0.42, 0.02);
        let c = verdict(&ap, &[&close], 0.05, 0.4);
        assert!(
            c[3].starts_with("met")
                && c[3].contains("ahead by 3.0 points; the two intervals overlap"),
            "{c:?}"
        );
        // Behind by 3 points: not met, and not resolved either.
        let c = verdict(&close, &[&ap], 0.05, 0.4);
        assert!(
            c[3].starts_with("not met")
                && c[3].contains("short by 3.0 points; the two intervals overlap"),
            "{c:?}"
        );
        let t = ablation_table(&[ap, fasp], "gender_and_sex");
        assert!(t.contains("| AP | 10 | 3 |"), "{t}");
    }
}
