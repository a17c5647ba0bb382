//! `fasp`: the FASP baseline (Zayed et al., AAAI 2024) as a mask chooser.

use crate::evaluation::{columns_of, to_row};
use crate::inputs::{load_model, prepare, provenance_for, MeasureArgs, ModelArgs, Prepared};
use crate::selection::{measured, unpruned_row, write_choice, BiasScale, MeasuredSelection};
use anyhow::{bail, Result};
use attnprune_artifact::samples::{
    read_samples, write_sample_table, SAMPLE_TABLE_KIND, SAMPLE_TABLE_VERSION,
};
use attnprune_artifact::{Provenance, SampleRow, SampleTable};
use attnprune_eval::pool::{PoolArgs, WorkerPool};
use attnprune_lm::{run_on_device, OnDevice};
use attnprune_mask::{HeadId, HeadMask};
use attnprune_measure::prompts::Split;
use attnprune_select::{choose_measured, fasp_grid, MeasuredMask, PplBudget};
use burn::tensor::backend::Backend;
use clap::Parser;
use std::path::{Path, PathBuf};

/// FASP: score each head by knocking it out alone (the single-head rows of a
/// sample table made with `sample --single-head`), exclude the fraction GAMMA
/// of heads whose removal raises perplexity most, and among the rest prune the
/// ALPHA x (all heads) whose removal lowers bias most (on --bias-scale). Every
/// distinct (alpha, gamma) candidate of the grids is measured on the real model
/// with this stage's measurement options (valid prompts and text), beside the
/// unpruned model, and the mask is chosen by the same rule as Attention
/// Pruning's `choose`: the lowest measured bias among the candidates whose paired
/// perplexity increase (same windows, unpruned vs pruned) is within
/// --ppl-budget at the upper end of its 95% bootstrap interval.
///
/// Writes the mask file (for `apply`, with the choice and its numbers) and a
/// sample table of the measured candidates (row 0: the unpruned model).
#[derive(Debug, Parser)]
#[command(name = "fasp", version, verbatim_doc_comment)]
pub struct FaspArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    measure: MeasureArgs,
    /// Sample table(s) holding the unpruned row and every single-head knockout.
    #[arg(long, required = true, num_args = 1.., value_name = "FILE")]
    samples: Vec<PathBuf>,
    /// The axis whose bias is reduced.
    #[arg(long, default_value = "gender_and_sex", value_name = "AXIS")]
    axis: String,
    /// Allowed relative perplexity increase over the unpruned model.
    #[arg(long, default_value_t = 0.05, value_name = "F")]
    ppl_budget: f64,
    /// Fractions of all heads to prune (FASP's alpha grid).
    #[arg(
        long,
        default_value = "0.01,0.02,0.04,0.06,0.08,0.1,0.15,0.2",
        value_delimiter = ',',
        value_name = "A"
    )]
    alphas: Vec<f64>,
    /// The bias the heads are ranked and the mask chosen by: `logit` (the log-odds scale,
    /// which saturation cannot fake) or `prob` (FASP's own).
    #[arg(long, default_value = "logit", value_name = "SCALE")]
    bias_scale: BiasScale,
    /// Worker threads and masks per pass (the numbers do not depend on them).
    #[command(flatten)]
    pool: PoolArgs,
    /// Bootstrap resamples of the paired perplexity interval.
    #[arg(long, default_value_t = 2000, value_name = "N")]
    interval_resamples: usize,
    /// Fractions of heads protected as important for perplexity (FASP's gamma grid).
    #[arg(
        long,
        default_value = "0.2,0.3,0.4,0.5,0.6,0.7",
        value_delimiter = ',',
        value_name = "G"
    )]
    gammas: Vec<f64>,
    /// The mask file to write.
    #[arg(long, value_name = "FILE")]
    out_mask: PathBuf,
    /// The sample table of evaluated candidates to write.
    #[arg(long, value_name = "FILE")]
    out_candidates: PathBuf,
}

/// Every head's single-head knockout `(head, bias, perplexity)`, in head order; fails
/// unless every head has one.
fn knockouts(
    args: &FaspArgs,
    table: &SampleTable,
    first: &Path,
    axis: usize,
) -> Result<Vec<(HeadId, f64, f64)>> {
    let mut singles: Vec<(HeadId, f64, f64)> = table
        .rows
        .iter()
        .filter(|r| r.origin == "single-head")
        .filter_map(|r| {
            r.mask
                .single_head()
                .map(|h| (h, args.bias_scale.bias(r, axis), r.perplexity))
        })
        .collect();
    singles.sort_by_key(|s| s.0);
    singles.dedup_by_key(|s| s.0);
    let total = table.layout.total();
    if singles.len() < total {
        bail!(
            "`{}` has {} single-head knockouts of {total}: run `sample --single-head` first",
            first.display(),
            singles.len()
        );
    }
    Ok(singles)
}

/// FASP's distinct non-empty masks over the (alpha, gamma) grid: `(alpha, gamma, mask)`.
fn fasp_candidates(
    args: &FaspArgs,
    table: &SampleTable,
    first: &Path,
    axis: usize,
) -> Result<Vec<(f64, f64, HeadMask)>> {
    let base = args.bias_scale.bias(unpruned_row(table, first)?, axis);
    let singles = knockouts(args, table, first, axis)?;
    let grid = fasp_grid(
        &singles,
        table.layout.total(),
        base,
        &args.alphas,
        &args.gammas,
    );
    grid.into_iter()
        .map(|(alpha, gamma, heads)| {
            Ok((alpha, gamma, HeadMask::from_pruned(table.layout, &heads)?))
        })
        .collect()
}

/// Runs the stage.
pub fn run(args: FaspArgs) -> Result<()> {
    let (table, first) = read_samples(&args.samples)?;
    let axis = table.axis_index(&args.axis, &first)?;
    let candidates = fasp_candidates(&args, &table, &first, axis)?;
    log::info!("{} distinct FASP candidates to measure", candidates.len());
    let prepared = prepare(&args.model, &args.measure, Split::Valid)?;
    if table.provenance.model.as_ref().map(|m| &m.sha256) != Some(&prepared.model.sha256) {
        bail!(
            "model mismatch: `{}` was measured on another model than `{}`",
            first.display(),
            args.model.model.display()
        );
    }
    let screened = table.rows.len();
    run_on_device(
        args.model.device,
        FaspTask {
            args,
            prepared,
            table,
            candidates,
            axis,
            screened,
        },
    )?
}

struct FaspTask {
    args: FaspArgs,
    prepared: Prepared,
    table: SampleTable,
    candidates: Vec<(f64, f64, HeadMask)>,
    axis: usize,
    screened: usize,
}

/// The choice rule over the measured candidates (rows 1..), each paired with the unpruned row 0.
fn judge(
    args: &FaspArgs,
    rows: &[SampleRow],
    candidates: &[(f64, f64, HeadMask)],
    axis: usize,
    budget: PplBudget,
) -> Result<attnprune_select::Choice> {
    let base = measured(&rows[0], axis, args.bias_scale, "unpruned".into());
    let judged: Vec<(MeasuredMask, &MeasuredMask)> = rows[1..]
        .iter()
        .zip(candidates)
        .map(|(r, (alpha, gamma, _))| {
            (
                measured(
                    r,
                    axis,
                    args.bias_scale,
                    format!("alpha {alpha}, gamma {gamma}"),
                ),
                &base,
            )
        })
        .collect();
    Ok(choose_measured(
        &judged,
        budget,
        args.interval_resamples,
        0.95,
        0,
    )?)
}

/// Measures the unpruned model (row 0, id 0) and every candidate (ids 1..) on the pool.
fn measure_candidates<B: Backend>(
    pool: &mut WorkerPool<'_, B>,
    unpruned: &HeadMask,
    candidates: &[(f64, f64, HeadMask)],
    axis: usize,
    columns: &attnprune_artifact::samples::SampleColumns,
) -> Result<Vec<SampleRow>> {
    let mut plan: Vec<(u64, &HeadMask)> = vec![(0, unpruned)];
    plan.extend(
        candidates
            .iter()
            .enumerate()
            .map(|(i, c)| (i as u64 + 1, &c.2)),
    );
    let mut bar = crate::common::progress(plan.len() as u64, "fasp");
    let mut rows: Vec<SampleRow> = Vec::new();
    pool.evaluate_all(&plan, |id, eval| -> Result<()> {
        let mask = plan[id as usize].1;
        let origin = if id == 0 { "unpruned" } else { "fasp" };
        log::info!(
            "{origin} {id}: {} heads, bias {:.4}, perplexity {:.3}",
            mask.num_pruned(),
            eval.axes[axis].bias,
            eval.perplexity
        );
        rows.push(to_row(id, origin, mask, &eval, columns));
        bar.inc(1);
        Ok(())
    })?;
    bar.finish_and_clear();
    rows.sort_by_key(|r| r.mask_id);
    Ok(rows)
}

impl OnDevice for FaspTask {
    type Output = Result<()>;

    fn run<B: Backend>(self, device: B::Device) -> Result<()> {
        let Self {
            args,
            prepared,
            table,
            candidates,
            axis,
            screened,
        } = self;
        let mut provenance = provenance_for(
            SAMPLE_TABLE_KIND,
            SAMPLE_TABLE_VERSION,
            "fasp",
            &prepared,
            &args.measure,
        );
        provenance.inputs = args
            .samples
            .iter()
            .map(|s| Provenance::fingerprint_of(s))
            .collect::<Result<_, _>>()?;
        let lm = load_model::<B>(
            prepared.model_files,
            prepared.precision,
            prepared.attention,
            prepared.gpu_kernels,
            &device,
        )?;
        let mut pool = WorkerPool::new(
            &lm,
            &prepared.data,
            &prepared.settings,
            args.pool.workers(args.model.device),
            args.pool.masks_per_pass(args.model.device),
        )?;
        let columns = columns_of(pool.first());
        if columns.axes != table.columns.axes {
            bail!(
                "the measured axes {:?} differ from the sample table's {:?}",
                columns.axes,
                table.columns.axes
            );
        }
        let unpruned = HeadMask::unpruned(table.layout);
        let rows = measure_candidates(&mut pool, &unpruned, &candidates, axis, &columns)?;
        let budget = PplBudget::new(args.ppl_budget)?;
        let choice = judge(&args, &rows, &candidates, axis, budget)?;
        let candidates_table = SampleTable {
            provenance: provenance.clone(),
            layout: table.layout,
            columns,
            rows,
        };
        write_sample_table(&args.out_candidates, &candidates_table)?;
        provenance.kind = attnprune_mask::MASK_KIND.into();
        provenance.schema_version = attnprune_mask::MASK_VERSION;
        let selection = MeasuredSelection {
            method: "fasp".into(),
            budget,
            bias_scale: args.bias_scale,
            axis: args.axis.clone(),
            chosen: None,
            real_evaluations: screened + candidates.len() + 1,
            judged: 0,
            within_budget: 0,
        };
        let masks: Vec<HeadMask> = candidates.iter().map(|c| c.2.clone()).collect();
        let mask = write_choice(
            &args.out_mask,
            &choice,
            &masks,
            unpruned,
            selection,
            &provenance,
        )?;
        log::info!(
            "FASP mask prunes {} heads ({} of {} candidates within the budget)",
            mask.num_pruned(),
            choice.verdicts.iter().filter(|v| v.within_budget).count(),
            choice.verdicts.len()
        );
        Ok(())
    }
}
