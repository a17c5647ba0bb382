//! What the mask-choosing stages share (`fasp`, `choose`): the bias scale the choice is
//! made on, measured rows as the selection library sees them, and the chosen mask's file.

use anyhow::{Context, Result};
use attnprune_artifact::{write_atomic_bytes, Provenance, SampleRow, SampleTable};
use attnprune_mask::{HeadMask, MaskFile};
use attnprune_select::{Choice, MeasuredMask, PplBudget, RowVerdict};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Which bias a choice compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BiasScale {
    /// The bias of the log-odds scores (`ln(s / (1 - s))`): pushing every bucket towards
    /// the same canned reply does not shrink it, so it is the one saturation cannot fake.
    Logit,
    /// FASP's bias of the scores in [0, 1] (the paper's measure).
    Prob,
}

impl BiasScale {
    /// The scale's name as its files record it (`logit` or `prob`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Logit => "logit",
            Self::Prob => "prob",
        }
    }

    /// The row's bias of axis `axis` (column index) on this scale.
    pub fn bias(self, row: &SampleRow, axis: usize) -> f64 {
        match self {
            Self::Logit => row.logit_bias[axis],
            Self::Prob => row.bias[axis],
        }
    }
}

/// A sample-table row as the selection rule sees it.
pub fn measured(row: &SampleRow, axis: usize, scale: BiasScale, label: String) -> MeasuredMask {
    MeasuredMask {
        label,
        mask: row.mask.clone(),
        bias: scale.bias(row, axis),
        window_nll: row.window_nll.clone(),
    }
}

/// The unpruned row of a table, or an error naming the file.
pub fn unpruned_row<'t>(table: &'t SampleTable, path: &Path) -> Result<&'t SampleRow> {
    table
        .rows
        .iter()
        .find(|r| r.mask.num_pruned() == 0)
        .with_context(|| {
            format!(
                "`{}` has no row for the unpruned mask, so nothing can be compared against it",
                path.display()
            )
        })
}

/// How a mask was chosen from measurements: recorded in its mask file, read by `report`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasuredSelection {
    /// The method (`attention-pruning`, `fasp`).
    pub method: String,
    /// The utility budget the choice respected.
    pub budget: PplBudget,
    /// The bias scale compared.
    pub bias_scale: BiasScale,
    /// The axis whose bias was reduced.
    pub axis: String,
    /// The chosen row's verdict (`None`: nothing within the budget lowered the bias, and the
    /// mask prunes nothing).
    pub chosen: Option<RowVerdict>,
    /// Masks run on the real model to make this choice (all stages before it).
    pub real_evaluations: usize,
    /// Rows the rule judged.
    pub judged: usize,
    /// Of those, within the budget at the upper bound.
    pub within_budget: usize,
}

/// Writes the mask the rule chose (or the unpruned mask when none) with its selection record.
pub fn write_choice(
    path: &Path,
    choice: &Choice,
    masks: &[HeadMask],
    unpruned: HeadMask,
    mut selection: MeasuredSelection,
    provenance: &Provenance,
) -> Result<HeadMask> {
    let mask = match choice.chosen {
        Some(i) => masks[i].clone(),
        None => {
            log::warn!("no measured mask within the {:.1}% budget lowered the bias: the chosen mask prunes nothing", selection.budget.relative * 100.0);
            unpruned
        }
    };
    selection.chosen = choice.chosen.map(|i| choice.verdicts[i].clone());
    selection.judged = choice.verdicts.len();
    selection.within_budget = choice.verdicts.iter().filter(|v| v.within_budget).count();
    let mut file = MaskFile::from_mask(&mask);
    file.extra
        .insert("method".into(), serde_json::json!(selection.method));
    file.extra.insert(
        "perplexity_budget".into(),
        serde_json::to_value(selection.budget)?,
    );
    file.extra
        .insert("selection".into(), serde_json::to_value(&selection)?);
    file.extra
        .insert("provenance".into(), serde_json::to_value(provenance)?);
    write_atomic_bytes(path, file.to_json().as_bytes())?;
    Ok(mask)
}
