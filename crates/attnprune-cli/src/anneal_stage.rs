//! `anneal`: simulated annealing over head masks, scored by the surrogates.

use crate::surrogate_files::load_surrogate;
use anyhow::{bail, Context, Result};
use attnprune_anneal::{
    anneal, spread_candidates, AnnealConfig, AnnealResult, ConstrainedObjective, Cooling, Solution,
    StartTemperature,
};
use attnprune_artifact::samples::read_samples;
use attnprune_artifact::trajectory::{
    write_trajectory, TrajectoryRow, TRAJECTORY_KIND, TRAJECTORY_VERSION,
};
use attnprune_artifact::{write_atomic_bytes, Provenance};
use attnprune_mask::{Candidate, CandidateList, HeadLayout, HeadMask, MaskFile};
use attnprune_select::PplBudget;
use attnprune_surrogate::{ExpOf, Predictor, StructuredSurrogateFile, SurrogateReport, UpperBound};
use clap::Parser;
use std::path::PathBuf;
use std::sync::Arc;

/// Search for the head mask with the least predicted bias whose predicted
/// perplexity stays within the budget: predicted perplexity <= (1 + --ppl-budget)
/// x the same surrogate's prediction for the unpruned model.
///
/// The surrogates: `train-surrogate`'s MLPs (the paper's) or its structured
/// surrogate (additive over heads, seeded by the knockouts), whichever its report
/// selected by held-out Spearman (--surrogate overrides).
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
/// Writes the mask file (JSON, 0-based [layer, head] pairs: the paper's one-shot
/// answer, a prediction that `apply` then measures) and the trajectory (Parquet:
/// restart, step, temperature, objective, predicted bias, predicted perplexity,
/// accepted, heads pruned).
///
/// --candidates K --out-candidates FILE: the K best distinct masks the walks
/// visited that meet the predicted budget, kept diverse (at most K / restarts
/// from one restart and K / size-classes of one size class of --size-class heads
/// in a first pass, every two at least --min-hamming heads apart), each with its
/// predicted bias and perplexity and their uncertainty where the surrogate gives
/// one. The walks run once per --budget-fractions entry (the budget scaled by it),
/// so the list spans safe and bold proposals. `sample --masks FILE` measures them.
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
    /// Which surrogates: `auto` (the ones `train-surrogate` selected), `mlp` or `structured`.
    #[arg(long, default_value = "auto", value_name = "KIND")]
    surrogate: String,
    /// The perplexity constraint uses the structured surrogate's prediction plus Z posterior
    /// standard deviations (of ln perplexity, from its main effects), so the search keeps away
    /// from masks whose heads the surrogate has seen too little of. 0 = the plain prediction.
    /// (The MLP gives no uncertainty: with it, Z is ignored.)
    #[arg(long, default_value_t = 1.0, value_name = "Z")]
    ppl_z: f64,
    /// Proposals to write to --out-candidates (0 = none).
    #[arg(long, default_value_t = 0, value_name = "K")]
    candidates: usize,
    /// The candidate list to write (with --candidates).
    #[arg(long, value_name = "FILE")]
    out_candidates: Option<PathBuf>,
    /// Fewest heads in which two proposals differ.
    #[arg(long, default_value_t = 3, value_name = "D")]
    min_hamming: usize,
    /// Proposals are spread across size classes of this many pruned heads.
    #[arg(long, default_value_t = 5, value_name = "N")]
    size_class: usize,
    /// With --candidates: the walks also run once per size cap (most heads pruned, each at
    /// most --max-pruned), so the proposals span small and large masks whatever the surrogates
    /// believe of the large ones (empty: --max-pruned only).
    #[arg(long, value_delimiter = ',', value_name = "K")]
    size_caps: Vec<usize>,
    /// With --candidates: the walks run once per fraction, each with the budget scaled by
    /// it, so the proposals span safe and bold masks (the one-shot mask comes from 1.0).
    #[arg(
        long,
        default_value = "0.4,0.7,1.0",
        value_delimiter = ',',
        value_name = "F"
    )]
    budget_fractions: Vec<f64>,
    /// The mask file to write.
    #[arg(long, value_name = "FILE")]
    out_mask: PathBuf,
    /// The trajectory table to write.
    #[arg(long, value_name = "FILE")]
    out_trajectory: PathBuf,
}

/// The bias and perplexity predictors, with the structured file when one is used (for uncertainties).
struct Surrogates {
    bias: Predictor,
    /// The perplexity the constraint uses (pessimistic with --ppl-z).
    ppl: Predictor,
    /// The plain perplexity prediction (what the candidate list reports).
    ppl_mean: Predictor,
    structured: Option<StructuredSurrogateFile>,
    names: (String, String),
    provenance: Provenance,
    inputs: Vec<attnprune_artifact::Fingerprint>,
}

fn load_surrogates(args: &AnnealArgs, layout: HeadLayout) -> Result<Surrogates> {
    let dir = &args.surrogates;
    let (bias_base, ppl_base) = (dir.join("surrogate-bias"), dir.join("surrogate-ppl"));
    let (bias_mlp, bias_prov) = load_surrogate(&bias_base, layout.total())?;
    let (ppl_mlp, _) = load_surrogate(&ppl_base, layout.total())?;
    let (bias_name, ppl_name) = match args.surrogate.as_str() {
        "auto" => {
            let selected = SurrogateReport::read(&dir.join("surrogate-report.json"))?.selected;
            (selected.bias, selected.perplexity)
        }
        "mlp" | "structured" => (args.surrogate.clone(), args.surrogate.clone()),
        other => bail!("--surrogate `{other}`: use auto, mlp or structured"),
    };
    let structured_path = dir.join("surrogate-structured.json");
    let structured = if bias_name == "structured" || ppl_name == "structured" {
        Some(StructuredSurrogateFile::read(
            &structured_path,
            layout.total(),
        )?)
    } else {
        None
    };
    let bias = match &structured {
        Some(s) if bias_name == "structured" => {
            Predictor::Buckets(Arc::new(s.models.bias.clone()).incremental())
        }
        _ => Predictor::Mlp(ExpOf(bias_mlp.incremental())),
    };
    let ppl_mean = match &structured {
        Some(s) if ppl_name == "structured" => {
            Predictor::Additive(ExpOf(Arc::new(s.models.ln_ppl.clone()).incremental()))
        }
        _ => Predictor::Mlp(ExpOf(ppl_mlp.incremental())),
    };
    if !(args.ppl_z.is_finite() && args.ppl_z >= 0.0) {
        bail!("--ppl-z must be a finite number >= 0, not {}", args.ppl_z);
    }
    let ppl = match &structured {
        Some(s) if ppl_name == "structured" && args.ppl_z > 0.0 => Predictor::AdditiveUpper(ExpOf(
            UpperBound::new(Arc::new(s.models.ln_ppl.clone()), args.ppl_z),
        )),
        _ => ppl_mean.clone(),
    };
    let mut inputs = vec![
        Provenance::fingerprint_of(&bias_base.with_extension("mpk"))?,
        Provenance::fingerprint_of(&ppl_base.with_extension("mpk"))?,
    ];
    if structured.is_some() {
        inputs.push(Provenance::fingerprint_of(&structured_path)?);
    }
    Ok(Surrogates {
        bias,
        ppl,
        ppl_mean,
        structured,
        names: (bias_name, ppl_name),
        provenance: bias_prov,
        inputs,
    })
}

fn parse_cooling(s: &str) -> Result<Cooling> {
    let (kind, value) = s
        .split_once(':')
        .with_context(|| format!("cooling `{s}`: expected KIND:VALUE"))?;
    let v: f64 = value
        .parse()
        .with_context(|| format!("cooling `{s}`: `{value}` is not a number"))?;
    Ok(match kind {
        "exponential" => Cooling::Exponential {
            final_temperature: v,
        },
        "linear" => Cooling::Linear {
            final_temperature: v,
        },
        "geometric" => Cooling::Geometric { factor: v },
        _ => bail!("cooling `{s}`: use exponential:T_END, linear:T_END or geometric:FACTOR"),
    })
}

/// Runs the stage.
pub fn run(args: AnnealArgs) -> Result<()> {
    let (table, first) = read_samples(&args.samples)?;
    let layout = table.layout;
    let sur = load_surrogates(&args, layout)?;
    sur.provenance.check_same_model(
        &args.surrogates.join("surrogate-bias.mpk"),
        &table.provenance,
        &first,
    )?;
    if args.candidates > 0 && args.out_candidates.is_none() {
        bail!("--candidates needs --out-candidates FILE");
    }
    let budget = PplBudget::new(args.ppl_budget)?;
    let unpruned = vec![false; layout.total()];
    let base_ppl = sur.ppl.predict(&unpruned);
    log::info!(
        "surrogates: {} (bias), {} (perplexity); predicted unpruned perplexity {base_ppl:.3}, budget +{:.1}%",
        sur.names.0,
        sur.names.1,
        budget.relative * 100.0
    );
    let fractions = budget_fractions(&args)?;
    let config = anneal_config(&args)?;
    let most = args.max_pruned.unwrap_or(layout.total());
    let runs: Vec<(usize, f64)> = size_caps(&args, most)
        .iter()
        .flat_map(|&c| fractions.iter().map(move |&f| (c, f)))
        .collect();
    let mut pools: Vec<Vec<Solution>> = Vec::new();
    let mut full = None;
    for (run, &(cap, f)) in runs.iter().enumerate() {
        let limit = PplBudget::new(budget.relative * f)?.limit(base_ppl);
        let config = AnnealConfig {
            max_pruned: Some(cap),
            ..config.clone()
        };
        let objective =
            ConstrainedObjective::new(sur.bias.clone(), sur.ppl.clone(), limit, args.penalty)?;
        let started = std::time::Instant::now();
        let result = anneal(&config, &objective)?;
        let steps = (args.steps * args.restarts) as f64;
        log::info!(
            "at most {cap} heads, budget x {f}: {steps} steps in {:.2}s ({:.0} steps/s)",
            started.elapsed().as_secs_f64(),
            steps / started.elapsed().as_secs_f64().max(1e-9)
        );
        // Restarts are numbered across the walks of every fraction, so the diversity caps see them apart.
        pools.push(
            result
                .pool()
                .into_iter()
                .map(|mut s| {
                    s.restart += run * args.restarts;
                    s
                })
                .collect(),
        );
        if f == 1.0 && cap == most {
            full = Some(result);
        }
    }
    let result = full.context("the full-budget walk did not run")?;
    let best = result.best()?;
    let mask = HeadMask::from_bits(layout, best.state.clone())?;
    log::info!(
        "one-shot mask prunes {} heads: predicted bias {:.4}, predicted perplexity {:.3}",
        mask.num_pruned(),
        best.evaluation.extras[0],
        best.evaluation.extras[1]
    );
    let provenance = mask_provenance(&args, &sur);
    if let Some(path) = &args.out_candidates {
        write_candidates(path, &args, &sur, &pools, layout, &provenance)?;
    }
    write_trajectory_of(&args, &result, &provenance)?;
    write_one_shot_mask(&args, &sur, &mask, best, budget, &provenance)
}

/// The budget fractions of the walks (1 always among them; only 1 without --candidates).
fn budget_fractions(args: &AnnealArgs) -> Result<Vec<f64>> {
    let mut fractions = if args.candidates > 0 {
        args.budget_fractions.clone()
    } else {
        vec![1.0]
    };
    if !fractions
        .iter()
        .all(|f| f.is_finite() && *f > 0.0 && *f <= 1.0)
    {
        bail!("--budget-fractions must lie in (0, 1], not {:?}", fractions);
    }
    fractions.sort_by(f64::total_cmp);
    fractions.dedup();
    if fractions.last() != Some(&1.0) {
        fractions.push(1.0);
    }
    Ok(fractions)
}

/// The size caps of the walks (`most` always among them; only `most` without --candidates).
fn size_caps(args: &AnnealArgs, most: usize) -> Vec<usize> {
    let mut caps: Vec<usize> = if args.candidates > 0 {
        args.size_caps.iter().map(|&c| c.min(most)).collect()
    } else {
        Vec::new()
    };
    caps.sort_unstable();
    caps.dedup();
    if caps.last() != Some(&most) {
        caps.push(most);
    }
    caps
}

/// The provenance of anneal's outputs: the surrogate's record already carries the table's
/// model, prompts, corpus and settings (+ axis).
fn mask_provenance(args: &AnnealArgs, sur: &Surrogates) -> Provenance {
    let mut provenance = Provenance::derived(
        attnprune_mask::MASK_KIND,
        attnprune_mask::MASK_VERSION,
        "anneal",
        crate::common::command_line(),
        &sur.provenance,
    );
    provenance.seed = Some(args.seed);
    provenance.inputs = sur.inputs.clone();
    provenance
}

/// The one-shot mask file, with the surrogates' predictions and the budget.
fn write_one_shot_mask(
    args: &AnnealArgs,
    sur: &Surrogates,
    mask: &HeadMask,
    best: &Solution,
    budget: PplBudget,
    provenance: &Provenance,
) -> Result<()> {
    let mut file = MaskFile::from_mask(mask);
    file.extra.insert(
        "method".into(),
        serde_json::json!("attention-pruning-one-shot"),
    );
    file.extra.insert(
        "predicted_bias".into(),
        serde_json::json!(best.evaluation.extras[0]),
    );
    file.extra.insert(
        "predicted_perplexity".into(),
        serde_json::json!(sur.ppl_mean.predict(&best.state)),
    );
    file.extra
        .insert("perplexity_budget".into(), serde_json::to_value(budget)?);
    file.extra
        .insert("provenance".into(), serde_json::to_value(provenance)?);
    write_atomic_bytes(&args.out_mask, file.to_json().as_bytes())?;
    Ok(())
}

fn anneal_config(args: &AnnealArgs) -> Result<AnnealConfig> {
    let start_temperature = match args.start_temperature.as_str() {
        "auto" => StartTemperature::default(),
        t => StartTemperature::Fixed(
            t.parse()
                .with_context(|| format!("--start-temperature `{t}` is not a number or `auto`"))?,
        ),
    };
    Ok(AnnealConfig {
        start_temperature,
        cooling: parse_cooling(&args.cooling)?,
        steps_per_restart: args.steps,
        restarts: args.restarts,
        max_pruned: args.max_pruned,
        seed: args.seed,
        max_trajectory_rows: args.trajectory_rows,
        pool_size: if args.candidates > 0 {
            (args.candidates * 8).max(64)
        } else {
            0
        },
        ..AnnealConfig::default()
    })
}

/// The diverse proposals of all walks, with predictions and their uncertainty.
fn write_candidates(
    path: &std::path::Path,
    args: &AnnealArgs,
    sur: &Surrogates,
    pools: &[Vec<Solution>],
    layout: HeadLayout,
    provenance: &Provenance,
) -> Result<()> {
    let chosen = spread_candidates(pools, args.candidates, args.min_hamming, args.size_class);
    let visited: usize = pools.iter().map(Vec::len).sum();
    let unpruned = vec![false; layout.total()];
    let reference = (sur.bias.predict(&unpruned), sur.ppl_mean.predict(&unpruned));
    let mut list = CandidateList::new(layout, reference, serde_json::to_value(provenance)?);
    for s in &chosen {
        let mask = HeadMask::from_bits(layout, s.state.clone())?;
        let mut c = Candidate::new(
            &mask,
            s.restart,
            s.evaluation.extras[0],
            sur.ppl_mean.predict(&s.state),
        );
        if let (Some(file), "structured") = (&sur.structured, sur.names.1.as_str()) {
            // sd of ln perplexity -> sd of perplexity (delta method).
            c.predicted_perplexity_sd =
                Some(file.models.ln_ppl.predict_sd(&s.state)? * c.predicted_perplexity);
        }
        list.candidates.push(c);
    }
    log::info!(
        "{} proposals (of {visited} good feasible masks kept by the walks) written to {}",
        list.candidates.len(),
        path.display()
    );
    write_atomic_bytes(path, list.to_json().as_bytes())?;
    Ok(())
}

fn write_trajectory_of(
    args: &AnnealArgs,
    result: &AnnealResult,
    provenance: &Provenance,
) -> Result<()> {
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
    Ok(())
}
