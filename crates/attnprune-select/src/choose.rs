//! The final choice: the best *measured* mask whose perplexity stays within the budget
//! at the upper end of its paired interval.

use crate::paired::{paired_ppl_change, Interval};
use crate::{PplBudget, SelectError};
use attnprune_mask::HeadMask;
use serde::{Deserialize, Serialize};

/// A mask measured on the real model: its bias on the deciding scale and the mean NLL of
/// each perplexity window.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasuredMask {
    /// Where the row comes from (e.g. `round 2, mask 7`).
    pub label: String,
    /// The mask.
    pub mask: HeadMask,
    /// Measured bias of the searched axis (on the scale the choice uses).
    pub bias: f64,
    /// Mean NLL per token of each perplexity window.
    pub window_nll: Vec<f64>,
}

/// What the rule saw of one measured mask, paired with its unpruned reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowVerdict {
    /// The row's label.
    pub label: String,
    /// Heads pruned.
    pub num_pruned: usize,
    /// Measured bias.
    pub bias: f64,
    /// The unpruned reference's bias.
    pub base_bias: f64,
    /// Relative bias change against the reference (-0.4 = 40% less).
    pub bias_change: f64,
    /// Paired relative perplexity change with its interval.
    pub ppl_change: Interval,
    /// Whether the interval's upper end is within the budget.
    pub within_budget: bool,
}

/// The outcome of [`choose_measured`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    /// Every row the rule judged, in input order.
    pub verdicts: Vec<RowVerdict>,
    /// Index (into `verdicts`) of the chosen row; `None` when no mask within the budget
    /// lowered the bias.
    pub chosen: Option<usize>,
}

/// Chooses among `rows`, each paired with the unpruned model measured the same way: the
/// lowest bias among the masks whose paired perplexity change has its upper `confidence`
/// bound within `budget` and whose bias is below its reference's (ties: fewer pruned heads,
/// then input order). Never a prediction: only measured numbers enter.
pub fn choose_measured(
    rows: &[(MeasuredMask, &MeasuredMask)],
    budget: PplBudget,
    resamples: usize,
    confidence: f64,
    seed: u64,
) -> Result<Choice, SelectError> {
    let mut verdicts = Vec::with_capacity(rows.len());
    for (row, base) in rows {
        let ppl_change = paired_ppl_change(
            &base.window_nll,
            &row.window_nll,
            resamples,
            confidence,
            seed,
        )
        .map_err(|e| SelectError::Invalid(format!("{}: {e}", row.label)))?;
        verdicts.push(RowVerdict {
            label: row.label.clone(),
            num_pruned: row.mask.num_pruned(),
            bias: row.bias,
            base_bias: base.bias,
            bias_change: row.bias / base.bias - 1.0,
            within_budget: budget.allows(ppl_change.high),
            ppl_change,
        });
    }
    let chosen = verdicts
        .iter()
        .enumerate()
        .filter(|(_, v)| v.within_budget && v.num_pruned > 0 && v.bias < v.base_bias)
        .min_by(|a, b| {
            a.1.bias
                .total_cmp(&b.1.bias)
                .then(a.1.num_pruned.cmp(&b.1.num_pruned))
                .then(a.0.cmp(&b.0))
        })
        .map(|(i, _)| i);
    Ok(Choice { verdicts, chosen })
}

#[cfg(test)]
mod tests {
    use super::*;
    use attnprune_mask::{HeadId, HeadLayout};

    fn row(label: &str, heads: &[usize], bias: f64, extra_nll: &[f64]) -> MeasuredMask {
        let layout = HeadLayout::new(2, 3);
        let ids: Vec<HeadId> = heads.iter().map(|&i| layout.head_at(i)).collect();
        let base = [2.0, 3.0, 2.5, 1.5, 2.2, 2.8, 3.1, 1.9];
        MeasuredMask {
            label: label.into(),
            mask: HeadMask::from_pruned(layout, &ids).unwrap(),
            bias,
            window_nll: base
                .iter()
                .zip(extra_nll.iter().cycle())
                .map(|(b, e)| b + e)
                .collect(),
        }
    }

    #[test]
    fn never_picks_a_mask_over_budget_at_the_upper_bound() {
        let base = row("unpruned", &[], 1.0, &[0.0]);
        // Lowest bias, but 10% more perplexity: out.
        let over = row("over", &[0, 1], 0.1, &[0.0953]);
        // Point estimate inside (+3%) but the windows disagree so much that the upper end is out.
        let noisy = row("noisy", &[2], 0.2, &[0.2, -0.14]);
        // Within budget with room to spare.
        let good = row("good", &[3], 0.5, &[0.01]);
        let worse = row("worse", &[4], 1.2, &[0.0]);
        let rows: Vec<(MeasuredMask, &MeasuredMask)> = [over, noisy, good, worse]
            .into_iter()
            .map(|r| (r, &base))
            .collect();
        let choice = choose_measured(&rows, PplBudget::new(0.05).unwrap(), 1000, 0.95, 0).unwrap();
        let v = &choice.verdicts;
        assert!(!v[0].within_budget);
        assert!(
            v[1].ppl_change.point < 0.05 && !v[1].within_budget,
            "{:?}",
            v[1]
        );
        assert!(v[2].within_budget);
        assert_eq!(choice.chosen, Some(2));
    }

    #[test]
    fn nothing_chosen_when_nothing_helps() {
        let base = row("unpruned", &[], 1.0, &[0.0]);
        let rows = vec![
            (row("worse", &[1], 1.1, &[0.0]), &base),
            (row("over", &[2], 0.1, &[0.5]), &base),
        ];
        assert_eq!(
            choose_measured(&rows, PplBudget::new(0.05).unwrap(), 200, 0.95, 0)
                .unwrap()
                .chosen,
            None
        );
    }
}
