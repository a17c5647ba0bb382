//! `anneal`: simulated annealing over head masks, scored by the surrogates.

use crate::train_stage::{load_surrogate, read_samples};
use anyhow::{bail, Context, Result};
use attnprune_anneal::{anneal, AnnealConfig, ConstrainedObjective, Cooling, Evaluation, FlipObjective, StartTemperature};
use attnprune_artifact::trajectory::{write_trajectory, TrajectoryRow, TRAJECTORY_KIND, TRAJECTORY_VERSION};
use attnprune_artifact::{write_atomic_bytes, Provenance};
use attnprune_mask::{HeadMask, MaskFile};
use attnprune_surrogate::IncrementalMlp;
use clap::Parser;
use std::path::PathBuf;

/// Search for the head mask with the least predicted bias whose predicted
/// perplexity stays within the budget: perplexity <= (1 + --ppl-budget) x the
/// unpruned model's measured perplexity (from the sample table).
///
/// Objective: the bias surrogate's prediction. The budget is a HARD
/// constraint for the result (the best mask is chosen among masks that meet
/// it) and a PENALTY for the walk (bias + --penalty x relative excess), so the
/// chains can cross infeasible regions. Neighbour: flip one head. Metropolis
/// acceptance, --restarts independent chains (run in parallel, each seeded
/// from --seed), the best feasible state kept. The surrogates are evaluated
/// incrementally (a flip updates the first layer by one column), so 10^5+ steps
/// per chain take seconds.
///
/// Writes the mask file (JSON, 0-based [layer, head] pairs) and the trajectory
/// (Parquet: restart, step, temperature, objective, predicted bias, predicted
/// perplexity, accepted, heads pruned).
#[derive(Debug, Parser)]
#[command(name = "anneal", version, verbatim_doc_comment)]
pub struct AnnealArgs {
    /// Folder with surrogate-bias.* and surrogate-ppl.* from `train-surrogate`.
    #[arg(long, value_name = "DIR")]
    surrogates: PathBuf,
    /// The sample table(s) the surrogates were trained on (for the unpruned perplexity).
    #[arg(long, required = true, num_args = 1.., value_name = "FILE")]
    samples: Vec<PathBuf>,
    /// Allowed relative perplexity increase over the unpruned model (0.05 = 5%).
    #[arg(long, default_value_t = 0.05, value_name = "F")]
    ppl_budget: f64,
    /// Steps (proposed flips) per restart.
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    steps: usize,
    /// Independent restarts.
    #[arg(long, default_value_t = 8, value_name = "N")]
    restarts: usize,
    /// Start temperature; `auto` picks it so ~80% of early uphill moves are accepted.
    #[arg(long, default_value = "auto", value_name = "T|auto")]
    start_temperature: String,
    /// Cooling schedule: `exponential:T_END` (default `exponential:1e-4`),
    /// `linear:T_END` or `geometric:FACTOR` (T <- T x FACTOR each step).
    #[arg(long, default_value = "exponential:1e-4", value_name = "SCHEDULE")]
    cooling: String,
    /// Most heads the mask may prune.
    #[arg(long, value_name = "K")]
    max_pruned: Option<usize>,
    /// Weight of the perplexity penalty during the walk.
    #[arg(long, default_value_t = 10.0, value_name = "W")]
    penalty: f64,
    /// Seed of the chains.
    #[arg(long, default_value_t = 0, value_name = "SEED")]
    seed: u64,
    /// Trajectory rows kept per restart.
    #[arg(long, default_value_t = 2000, value_name = "N")]
    trajectory_rows: usize,
    /// The mask file to write.
    #[arg(long, value_name = "FILE")]
    out_mask: PathBuf,
    /// The trajectory table to write.
    #[arg(long, value_name = "FILE")]
    out_trajectory: PathBuf,
}

/// Reports `exp(value)` of a predictor of a logarithm (the surrogates predict ln bias
/// and ln perplexity).
#[derive(Clone)]
pub struct ExpOf(pub IncrementalMlp);

impl ExpOf {
    fn map(e: Evaluation) -> Evaluation {
        let v = e.value.exp();
        Evaluation { value: v, feasible: e.feasible, extras: [v, e.extras[1]] }
    }
}

impl FlipObjective for ExpOf {
    fn n_bits(&self) -> usize {
        self.0.n_bits()
    }
    fn reset(&mut self, state: &[bool]) -> Evaluation {
        Self::map(self.0.reset(state))
    }
    fn score_flip(&mut self, i: usize) -> Evaluation {
        Self::map(self.0.score_flip(i))
    }
    fn commit_flip(&mut self, i: usize) -> Evaluation {
        Self::map(self.0.commit_flip(i))
    }
    fn current(&self) -> Evaluation {
        Self::map(self.0.current())
    }
}

fn parse_cooling(s: &str) -> Result<Cooling> {
    let (kind, value) = s.split_once(':').with_context(|| format!("cooling `{s}`: expected KIND:VALUE"))?;
    let v: f64 = value.parse().with_context(|| format!("cooling `{s}`: `{value}` is not a number"))?;
    Ok(match kind {
        "exponential" => Cooling::Exponential { final_temperature: v },
        "linear" => Cooling::Linear { final_temperature: v },
        "geometric" => Cooling::Geometric { factor: v },
        _ => bail!("cooling `{s}`: use exponential:T_END, linear:T_END or geometric:FACTOR"),
    })
}

/// Runs the stage.
pub fn run(args: AnnealArgs) -> Result<()> {
    let (table, first) = read_samples(&args.samples)?;
    let layout = table.layout;
    let unpruned = table.rows.iter().find(|r| r.mask.num_pruned() == 0).with_context(|| {
        format!("`{}` has no row for the unpruned mask, so the perplexity budget has no reference", first.display())
    })?;
    let bias_base = args.surrogates.join("surrogate-bias");
    let ppl_base = args.surrogates.join("surrogate-ppl");
    let (bias, bias_prov) = load_surrogate(&bias_base, layout.total())?;
    let (ppl, ppl_prov) = load_surrogate(&ppl_base, layout.total())?;
    bias_prov.check_same_model(&bias_base.with_extension("mpk"), &table.provenance, &first)?;
    ppl_prov.check_same_model(&ppl_base.with_extension("mpk"), &table.provenance, &first)?;
    let limit = (1.0 + args.ppl_budget) * unpruned.perplexity;
    log::info!("unpruned perplexity {:.3}; budget {:.3} (+{:.1}%)", unpruned.perplexity, limit, args.ppl_budget * 100.0);
    let objective = ConstrainedObjective::new(ExpOf(bias.incremental()), ExpOf(ppl.incremental()), limit, args.penalty)?;
    let start_temperature = match args.start_temperature.as_str() {
        "auto" => StartTemperature::default(),
        t => StartTemperature::Fixed(t.parse().with_context(|| format!("--start-temperature `{t}` is not a number or `auto`"))?),
    };
    let config = AnnealConfig {
        start_temperature,
        cooling: parse_cooling(&args.cooling)?,
        steps_per_restart: args.steps,
        restarts: args.restarts,
        max_pruned: args.max_pruned,
        seed: args.seed,
        max_trajectory_rows: args.trajectory_rows,
        ..AnnealConfig::default()
    };
    let started = std::time::Instant::now();
    let result = anneal(&config, &objective)?;
    let secs = started.elapsed().as_secs_f64();
    let steps = (args.steps * args.restarts) as f64;
    log::info!("{} steps in {secs:.2}s ({:.0} steps/s)", steps, steps / secs.max(1e-9));
    let best = result.best()?;
    let mask = HeadMask::from_bits(layout, best.state.clone())?;
    log::info!(
        "best mask prunes {} heads: predicted bias {:.4}, predicted perplexity {:.3}",
        mask.num_pruned(),
        best.evaluation.extras[0],
        best.evaluation.extras[1]
    );
    // The surrogate's record already carries the table's model, prompts, corpus and settings (+ axis).
    let mut provenance = Provenance::derived("mask", 1, "anneal", crate::common::command_line(), &bias_prov);
    provenance.seed = Some(args.seed);
    provenance.inputs = vec![Provenance::fingerprint_of(&bias_base.with_extension("mpk"))?, Provenance::fingerprint_of(&ppl_base.with_extension("mpk"))?];
    let mut file = MaskFile::from_mask(&mask);
    file.extra.insert("method".into(), serde_json::json!("attention-pruning"));
    file.extra.insert("predicted_bias".into(), serde_json::json!(best.evaluation.extras[0]));
    file.extra.insert("predicted_perplexity".into(), serde_json::json!(best.evaluation.extras[1]));
    file.extra.insert("perplexity_limit".into(), serde_json::json!(limit));
    file.extra.insert("provenance".into(), serde_json::to_value(&provenance)?);
    let rows: Vec<TrajectoryRow> = result
        .restarts
        .iter()
        .flat_map(|r| {
            r.trajectory.iter().map(move |t| TrajectoryRow {
                restart: r.restart as u32,
                step: t.step as u64,
                temperature: t.temperature,
                objective: t.value,
                predicted_bias: t.extras[0],
                predicted_perplexity: t.extras[1],
                accepted: t.accepted,
                num_pruned: t.ones as u32,
            })
        })
        .collect();
    let mut traj_prov = provenance.clone();
    traj_prov.kind = TRAJECTORY_KIND.into();
    traj_prov.schema_version = TRAJECTORY_VERSION;
    write_trajectory(&args.out_trajectory, &rows, &traj_prov)?;
    write_atomic_bytes(&args.out_mask, file.to_json().as_bytes())?;
    Ok(())
}
