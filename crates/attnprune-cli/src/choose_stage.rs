//! `choose`: the closed loop's answer, the best *measured* mask within the budget, and the
//! rounds summary (predicted vs measured, per round).

use crate::selection::{measured, unpruned_row, write_choice, BiasScale, MeasuredSelection};
use anyhow::{bail, Result};
use attnprune_artifact::samples::{read_sample_table, read_tables};
use attnprune_artifact::{write_atomic_bytes, Provenance, SampleTable};
use attnprune_mask::{CandidateList, HeadMask};
use attnprune_report::rounds::{
    ProposalPoint, RoundSummary, RoundsReport, ROUNDS_KIND, ROUNDS_VERSION,
};
use attnprune_select::{choose_measured, Choice, MeasuredMask, PplBudget};
use attnprune_stats::spearman;
use attnprune_surrogate::SurrogateReport;
use clap::Parser;
use std::path::{Path, PathBuf};

/// Choose the answer of the closed-loop search from measurements: among all
/// masks measured in the round tables (`sample --masks` of each round's
/// proposals, valid prompts and text, the richer measurement), the one with
/// the lowest bias (--bias-scale) whose paired perplexity increase (same
/// windows, unpruned vs pruned, 95% bootstrap interval) is within --ppl-budget
/// at the interval's UPPER end. A prediction never decides: a mask the
/// surrogates liked but the model did not is simply not chosen.
///
/// Writes the mask file (for `apply`, with the chosen row's numbers and the
/// budget) and the rounds summary (JSON + Markdown): per round, the proposals'
/// predicted vs measured bias and perplexity changes, their Spearman
/// agreement, the surrogates' fit, and the best measured mask so far.
#[derive(Debug, Parser)]
#[command(name = "choose", version, verbatim_doc_comment)]
pub struct ChooseArgs {
    /// The round tables, round 1 first (each measured one round's proposals, row 0 the unpruned model).
    #[arg(long, required = true, num_args = 1.., value_name = "FILE")]
    samples: Vec<PathBuf>,
    /// The candidate lists the round tables measured, in the same order (for predicted vs measured).
    #[arg(long, num_args = 1.., value_name = "FILE")]
    candidates: Vec<PathBuf>,
    /// The surrogate folders that made those lists, in the same order (for their held-out fit).
    #[arg(long, num_args = 1.., value_name = "DIR")]
    surrogates: Vec<PathBuf>,
    /// The screening table(s) (to count the real-model evaluations behind the answer).
    #[arg(long, num_args = 1.., value_name = "FILE")]
    screening: Vec<PathBuf>,
    /// The axis whose bias is reduced.
    #[arg(long, default_value = "gender_and_sex", value_name = "AXIS")]
    axis: String,
    /// Allowed relative perplexity increase (0.05 = 5%), at the upper end of the interval.
    #[arg(long, default_value_t = 0.05, value_name = "F")]
    ppl_budget: f64,
    /// The bias compared: `logit` (log-odds scores; saturation cannot fake it) or `prob`.
    #[arg(long, default_value = "logit", value_name = "SCALE")]
    bias_scale: BiasScale,
    /// Bootstrap resamples of the paired perplexity interval.
    #[arg(long, default_value_t = 2000, value_name = "N")]
    interval_resamples: usize,
    /// The mask file to write.
    #[arg(long, value_name = "FILE")]
    out_mask: PathBuf,
    /// The rounds summary to write (JSON; Markdown beside it with `.md`).
    #[arg(long, value_name = "FILE")]
    out_rounds: PathBuf,
}

/// Runs the stage.
pub fn run(args: ChooseArgs) -> Result<()> {
    if !args.candidates.is_empty() && args.candidates.len() != args.samples.len() {
        bail!(
            "{} candidate lists for {} round tables: give one per table, in order",
            args.candidates.len(),
            args.samples.len()
        );
    }
    let budget = PplBudget::new(args.ppl_budget)?;
    let tables: Vec<SampleTable> = read_tables(&args.samples)?;
    let first = &tables[0];
    let axis = first.axis_index(&args.axis, &args.samples[0])?;
    let base_row = unpruned_row(&tables[0], &args.samples[0])?;
    let base = measured(base_row, axis, args.bias_scale, "unpruned".into());
    let (proposals, masks, rounds_of) = proposals(&tables, axis, args.bias_scale);
    // Every round's unpruned row is the same measurement (bit for bit on the CPU): pair all with round 1's.
    let judged: Vec<(MeasuredMask, &MeasuredMask)> =
        proposals.into_iter().map(|m| (m, &base)).collect();
    let choice = choose_measured(&judged, budget, args.interval_resamples, 0.95, 0)?;
    let screened = args
        .screening
        .iter()
        .map(|p| Ok(read_sample_table(p)?.rows.len()))
        .sum::<Result<usize>>()?;
    let real_evaluations = screened + judged.len() + 1;
    let mut provenance = Provenance::derived(
        attnprune_mask::MASK_KIND,
        attnprune_mask::MASK_VERSION,
        "choose",
        crate::common::command_line(),
        &first.provenance,
    );
    provenance.inputs = args
        .samples
        .iter()
        .map(|s| Provenance::fingerprint_of(s))
        .collect::<Result<_, _>>()?;
    let selection = MeasuredSelection {
        method: "attention-pruning".into(),
        budget,
        bias_scale: args.bias_scale,
        axis: args.axis.clone(),
        chosen: None,
        real_evaluations,
        judged: 0,
        within_budget: 0,
    };
    let mask = write_choice(
        &args.out_mask,
        &choice,
        &masks,
        HeadMask::unpruned(first.layout),
        selection,
        &provenance,
    )?;
    let rounds = summarise_rounds(&args, &tables, &choice, &rounds_of, &masks)?;
    write_rounds(
        &args,
        rounds,
        &choice,
        (screened, real_evaluations),
        &provenance,
    )?;
    log_choice(&args, &choice, &mask);
    Ok(())
}

/// Every distinct pruned mask the round tables measured, in round order: the measurement,
/// the mask, and its round (1-based).
fn proposals(
    tables: &[SampleTable],
    axis: usize,
    scale: BiasScale,
) -> (Vec<MeasuredMask>, Vec<HeadMask>, Vec<usize>) {
    let (mut judged, mut masks, mut rounds_of) = (Vec::new(), Vec::<HeadMask>::new(), Vec::new());
    for (r, table) in tables.iter().enumerate() {
        for row in table.rows.iter().filter(|r| r.mask.num_pruned() > 0) {
            if masks.contains(&row.mask) {
                continue;
            }
            judged.push(measured(
                row,
                axis,
                scale,
                format!("round {} mask {}", r + 1, row.mask_id),
            ));
            masks.push(row.mask.clone());
            rounds_of.push(r + 1);
        }
    }
    (judged, masks, rounds_of)
}

/// `rounds.json` and its Markdown twin.
fn write_rounds(
    args: &ChooseArgs,
    rounds: Vec<RoundSummary>,
    choice: &Choice,
    (screened, real_evaluations): (usize, usize),
    provenance: &Provenance,
) -> Result<()> {
    let budget = PplBudget::new(args.ppl_budget)?;
    let report = RoundsReport {
        kind: ROUNDS_KIND.into(),
        schema_version: ROUNDS_VERSION,
        axis: args.axis.clone(),
        bias_scale: format!("{:?}", args.bias_scale).to_lowercase(),
        budget: budget.relative,
        screening_evaluations: screened,
        real_evaluations,
        rounds,
        chosen: choice
            .chosen
            .map(|i| serde_json::to_value(&choice.verdicts[i]))
            .transpose()?,
        provenance: serde_json::to_value(provenance)?,
    };
    write_atomic_bytes(
        &args.out_rounds,
        serde_json::to_string_pretty(&report)?.as_bytes(),
    )?;
    write_atomic_bytes(
        &args.out_rounds.with_extension("md"),
        report.markdown().as_bytes(),
    )?;
    Ok(())
}

/// Logs the answer (or that there is none).
fn log_choice(args: &ChooseArgs, choice: &Choice, mask: &HeadMask) {
    match choice.chosen {
        Some(i) => {
            let v = &choice.verdicts[i];
            log::info!(
                "chosen: {} ({} heads): bias {:+.1}%, perplexity {:+.2}% [{:+.2}%, {:+.2}%]",
                v.label,
                v.num_pruned,
                v.bias_change * 100.0,
                v.ppl_change.point * 100.0,
                v.ppl_change.low * 100.0,
                v.ppl_change.high * 100.0
            );
        }
        None => log::warn!(
            "no measured mask met the budget and lowered the bias; {} written with no head pruned",
            args.out_mask.display()
        ),
    }
    log::info!(
        "{} masks judged; the answer prunes {} heads",
        choice.verdicts.len(),
        mask.num_pruned()
    );
}

/// Per round: predicted vs measured for each proposal, agreement, and the best so far.
/// Round `round`'s proposals: predicted (from its candidate list, when given) and measured.
fn round_points(
    list: Option<&CandidateList>,
    table: &SampleTable,
    choice: &attnprune_select::Choice,
    (rounds_of, masks): (&[usize], &[HeadMask]),
    round: usize,
) -> Vec<ProposalPoint> {
    let mut points = Vec::new();
    for (i, v) in choice
        .verdicts
        .iter()
        .enumerate()
        .filter(|(i, _)| rounds_of[*i] == round)
    {
        let predicted = list.and_then(|l| {
            let c = l
                .candidates
                .iter()
                .find(|c| c.to_mask(table.layout).ok().as_ref() == Some(&masks[i]))?;
            Some((
                c.predicted_bias / l.unpruned_predicted_bias - 1.0,
                c.predicted_perplexity / l.unpruned_predicted_perplexity - 1.0,
            ))
        });
        points.push(ProposalPoint {
            label: v.label.clone(),
            num_pruned: v.num_pruned,
            predicted_bias_change: predicted.map(|p| p.0),
            measured_bias_change: v.bias_change,
            predicted_ppl_change: predicted.map(|p| p.1),
            measured_ppl_change: v.ppl_change.point,
            measured_ppl_upper: v.ppl_change.high,
            within_budget: v.within_budget,
        });
    }
    points
}

fn summarise_rounds(
    args: &ChooseArgs,
    tables: &[SampleTable],
    choice: &attnprune_select::Choice,
    rounds_of: &[usize],
    masks: &[HeadMask],
) -> Result<Vec<RoundSummary>> {
    let mut out = Vec::new();
    let mut best_so_far: Option<f64> = None;
    for (r, table) in tables.iter().enumerate() {
        let list = args
            .candidates
            .get(r)
            .map(|p| CandidateList::read(p))
            .transpose()?;
        let points = round_points(list.as_ref(), table, choice, (rounds_of, masks), r + 1);
        let best = points
            .iter()
            .filter(|p| p.within_budget && p.measured_bias_change < 0.0)
            .map(|p| p.measured_bias_change)
            .reduce(f64::min);
        best_so_far = match (best_so_far, best) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let agreement = |f: &dyn Fn(&ProposalPoint) -> Option<(f64, f64)>| {
            let (p, m): (Vec<f64>, Vec<f64>) = points.iter().filter_map(f).unzip();
            if p.len() >= 3 {
                spearman(&p, &m)
            } else {
                f64::NAN
            }
        };
        let gap = |f: &dyn Fn(&ProposalPoint) -> Option<(f64, f64)>| {
            let gaps: Vec<f64> = points
                .iter()
                .filter_map(f)
                .map(|(p, m)| (p - m).abs())
                .collect();
            attnprune_stats::mean(&gaps)
        };
        let bias_pair =
            |p: &ProposalPoint| p.predicted_bias_change.map(|x| (x, p.measured_bias_change));
        let ppl_pair =
            |p: &ProposalPoint| p.predicted_ppl_change.map(|x| (x, p.measured_ppl_change));
        let surrogate_fit = args
            .surrogates
            .get(r)
            .map(|d| surrogate_fit(d))
            .transpose()?
            .flatten();
        out.push(RoundSummary {
            round: r + 1,
            table: args.samples[r].display().to_string(),
            proposals: points.len(),
            within_budget: points.iter().filter(|p| p.within_budget).count(),
            bias_spearman: agreement(&bias_pair),
            ppl_spearman: agreement(&ppl_pair),
            bias_mean_abs_gap: gap(&bias_pair),
            ppl_mean_abs_gap: gap(&ppl_pair),
            best_bias_change: best,
            best_so_far,
            surrogate_fit,
            points,
        });
    }
    Ok(out)
}

/// The held-out (or leave-one-out) Spearman of the models anneal used, from a surrogate folder.
fn surrogate_fit(dir: &Path) -> Result<Option<(f64, f64)>> {
    Ok(SurrogateReport::read(&dir.join("surrogate-report.json"))?.used_fit())
}
