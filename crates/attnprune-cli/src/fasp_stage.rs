//! `fasp`: the FASP baseline (Zayed et al., AAAI 2024) as a mask chooser.

use crate::inputs::{prepare, provenance_for, MeasureArgs, ModelArgs, Prepared};
use crate::sample_stage::{single_head_of, to_row};
use crate::train_stage::read_samples;
use anyhow::{bail, Context, Result};
use attnprune_artifact::samples::{write_sample_table, SampleColumns, SAMPLE_TABLE_KIND, SAMPLE_TABLE_VERSION};
use attnprune_artifact::{write_atomic_bytes, Provenance, SampleRow, SampleTable};
use attnprune_eval::Evaluator;
use attnprune_lm::{run_on_device, LanguageModel, OnDevice};
use attnprune_mask::{HeadId, HeadMask, MaskFile};
use attnprune_measure::prompts::Split;
use burn::tensor::backend::Backend;
use clap::Parser;
use std::path::PathBuf;

/// FASP: score each head by knocking it out alone (the single-head rows of a
/// sample table made with `sample --single-head`), exclude the fraction GAMMA
/// of heads whose removal raises perplexity most, and among the rest prune the
/// ALPHA x (all heads) whose removal lowers bias most. Every (alpha, gamma) of
/// the grids is evaluated on the real model (valid prompts), and the mask with
/// the lowest bias whose perplexity is within (1 + --ppl-budget) x unpruned is
/// kept (the same budget `anneal` uses).
///
/// Writes the mask file (like `anneal`'s, for `apply`) and a sample table of
/// the evaluated candidates.
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
    #[arg(long, default_value = "0.01,0.02,0.04,0.06,0.08,0.1,0.15,0.2", value_delimiter = ',', value_name = "A")]
    alphas: Vec<f64>,
    /// Fractions of heads protected as important for perplexity (FASP's gamma grid).
    #[arg(long, default_value = "0.2,0.3,0.4,0.5,0.6,0.7", value_delimiter = ',', value_name = "G")]
    gammas: Vec<f64>,
    /// The mask file to write.
    #[arg(long, value_name = "FILE")]
    out_mask: PathBuf,
    /// The sample table of evaluated candidates to write.
    #[arg(long, value_name = "FILE")]
    out_candidates: PathBuf,
}

/// One FASP selection: the heads it prunes for (alpha, gamma).
pub fn fasp_select(singles: &[(HeadId, f64, f64)], total: usize, base_bias: f64, alpha: f64, gamma: f64) -> Vec<HeadId> {
    let mut by_ppl: Vec<&(HeadId, f64, f64)> = singles.iter().collect();
    by_ppl.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
    let protected = ((gamma * total as f64).round() as usize).min(by_ppl.len());
    let mut rest: Vec<&(HeadId, f64, f64)> = by_ppl[protected..].iter().copied().filter(|h| h.1 < base_bias).collect();
    rest.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    let k = (alpha * total as f64).round() as usize;
    let mut heads: Vec<HeadId> = rest.iter().take(k).map(|h| h.0).collect();
    heads.sort();
    heads
}

/// Runs the stage.
pub fn run(args: FaspArgs) -> Result<()> {
    let (table, first) = read_samples(&args.samples)?;
    let axis = table.axis_index(&args.axis, &first)?;
    let base = table.rows.iter().find(|r| r.mask.num_pruned() == 0).context("the sample table has no unpruned row")?;
    let mut singles: Vec<(HeadId, f64, f64)> = table
        .rows
        .iter()
        .filter(|r| r.origin == "single-head")
        .filter_map(|r| single_head_of(&r.mask).map(|h| (h, r.bias[axis], r.perplexity)))
        .collect();
    singles.sort_by(|a, b| a.0.cmp(&b.0));
    singles.dedup_by_key(|s| s.0);
    let total = table.layout.total();
    if singles.len() < total {
        bail!("`{}` has {} single-head knockouts of {total}: run `sample --single-head` first", first.display(), singles.len());
    }
    let mut candidates: Vec<(f64, f64, HeadMask)> = Vec::new();
    for &gamma in &args.gammas {
        for &alpha in &args.alphas {
            let heads = fasp_select(&singles, total, base.bias[axis], alpha, gamma);
            let mask = HeadMask::from_pruned(table.layout, &heads)?;
            if !heads.is_empty() && !candidates.iter().any(|c| c.2 == mask) {
                candidates.push((alpha, gamma, mask));
            }
        }
    }
    log::info!("{} distinct FASP candidates to evaluate", candidates.len());
    let prepared = prepare(&args.model, &args.measure, Split::Valid)?;
    if table.provenance.model.as_ref().map(|m| &m.sha256) != Some(&prepared.model.sha256) {
        bail!("model mismatch: `{}` was measured on another model than `{}`", first.display(), args.model.model.display());
    }
    let (device, base_ppl) = (args.model.device, base.perplexity);
    run_on_device(device, FaspTask { args, prepared, table, candidates, base_ppl, axis })?
}

struct FaspTask {
    args: FaspArgs,
    prepared: Prepared,
    table: SampleTable,
    candidates: Vec<(f64, f64, HeadMask)>,
    base_ppl: f64,
    axis: usize,
}

impl OnDevice for FaspTask {
    type Output = Result<()>;

    fn run<B: Backend>(self, device: B::Device) -> Result<()> {
        let Self { args, prepared, table, candidates, base_ppl, axis } = self;
        let mut provenance = provenance_for(SAMPLE_TABLE_KIND, SAMPLE_TABLE_VERSION, "fasp", &prepared, &args.measure);
        provenance.inputs = args.samples.iter().map(|s| Provenance::fingerprint_of(s)).collect::<Result<_, _>>()?;
        let lm = LanguageModel::<B>::from_files(prepared.model_files, &device)?;
        let mut evaluator = Evaluator::new(&lm, prepared.data, prepared.settings)?;
        let columns = SampleColumns { axes: evaluator.axes().to_vec(), buckets: evaluator.buckets() };
        if columns.axes != table.columns.axes {
            bail!("the measured axes {:?} differ from the sample table's {:?}", columns.axes, table.columns.axes);
        }
        let limit = (1.0 + args.ppl_budget) * base_ppl;
        let bar = crate::common::progress(candidates.len() as u64, "fasp");
        let mut rows: Vec<SampleRow> = Vec::new();
        let mut best: Option<(usize, f64)> = None;
        for (i, (alpha, gamma, mask)) in candidates.iter().enumerate() {
            let eval = evaluator.evaluate(mask)?;
            log::info!("alpha {alpha} gamma {gamma}: {} heads, bias {:.4}, perplexity {:.3}", mask.num_pruned(), eval.axes[axis].bias, eval.perplexity);
            if eval.perplexity <= limit && best.is_none_or(|(_, b)| eval.axes[axis].bias < b) {
                best = Some((i, eval.axes[axis].bias));
            }
            rows.push(to_row(i as u64, "fasp", mask, &eval, &columns));
            bar.inc(1);
        }
        bar.finish_and_clear();
        let candidates_table = SampleTable { provenance: provenance.clone(), layout: table.layout, columns, rows };
        write_sample_table(&args.out_candidates, &candidates_table)?;
        let (mask, alpha, gamma) = match best {
            Some((i, _)) => (candidates[i].2.clone(), candidates[i].0, candidates[i].1),
            None => {
                log::warn!("no FASP candidate met the perplexity budget {limit:.3}; the mask prunes nothing");
                (HeadMask::unpruned(table.layout), 0.0, 0.0)
            }
        };
        let mut file = MaskFile::from_mask(&mask);
        file.extra.insert("method".into(), serde_json::json!("fasp"));
        file.extra.insert("alpha".into(), serde_json::json!(alpha));
        file.extra.insert("gamma".into(), serde_json::json!(gamma));
        file.extra.insert("perplexity_limit".into(), serde_json::json!(limit));
        provenance.kind = "mask".into();
        provenance.schema_version = 1;
        file.extra.insert("provenance".into(), serde_json::to_value(&provenance)?);
        write_atomic_bytes(&args.out_mask, file.to_json().as_bytes())?;
        log::info!("FASP mask (alpha {alpha}, gamma {gamma}) prunes {} heads", mask.num_pruned());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fasp_protects_perplexity_heads_then_takes_bias_reducers() {
        let h = |layer, head| HeadId { layer, head };
        // (head, bias when removed, perplexity when removed); unpruned bias 1.0
        let singles = vec![(h(0, 0), 0.2, 50.0), (h(0, 1), 0.5, 10.0), (h(1, 0), 0.7, 11.0), (h(1, 1), 1.5, 10.5)];
        // gamma 0.25 protects head (0,0) (worst perplexity); alpha 0.5 -> 2 heads among bias reducers.
        assert_eq!(fasp_select(&singles, 4, 1.0, 0.5, 0.25), vec![h(0, 1), h(1, 0)]);
        // (1,1) raises bias: never pruned.
        assert_eq!(fasp_select(&singles, 4, 1.0, 1.0, 0.0), vec![h(0, 0), h(0, 1), h(1, 0)]);
    }
}
