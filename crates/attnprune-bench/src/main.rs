//! `attnprune-bench`: the benchmarks of issue 6, run by `make bench`.
//!
//! Five workloads, each timed after one untimed warm-up run, `--repeats`
//! times (median, min, max):
//!
//! 1. masked forward (prefill), 8 x 128 tokens, 30 seeded heads pruned: tokens/s;
//! 2. reply generation, 64 prompts, 16 new tokens greedy with the KV cache: new tokens/s;
//! 3. one mask evaluation with the demo's protocol (`pipelines/demo.mk`): seconds per mask;
//! 4. `anneal`: surrogate evaluations/s and annealing steps/s (demo settings);
//! 5. `train-surrogate`: seconds for a demo-shaped table (synthetic, seeded);
//! 6. the demo screening's mix of masks (knockouts and random masks) through
//!    `sample`'s machinery (worker threads, layer reuse): masks per hour.
//!
//! Before timing anything it writes the exact inputs of workloads 1-3 (token
//! ids, the pruned heads, the demo's prompts, replies and perplexity windows)
//! to `--spec`, which `tools/bench_torch.py` runs in PyTorch; `tools/bench_merge.py`
//! then puts both sides next to each other.

mod lm;
mod mix;
mod stats;
mod surr;

use anyhow::{bail, Context, Result};
use attnprune_eval::pool::PoolArgs;
use attnprune_eval::prepare::{prepare, MeasureArgs, ModelArgs};
use attnprune_lm::DeviceSpec;
use attnprune_measure::prompts::Split;
use clap::Parser;
use lm::{Lm, Sizes, WorkloadSpec};
use serde::Serialize;
use stats::WorkloadResult;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;
use surr::SurrogateSettings;

/// Time the five workloads of issue 6 on SmolLM2-135M (f32, CPU) and write
/// their inputs for the PyTorch side. See BENCHMARKS.md.
#[derive(Debug, Parser)]
#[command(name = "attnprune-bench", version)]
struct Args {
    /// The model (GGUF file or HF folder).
    #[arg(
        long,
        default_value = "data/models/SmolLM2-135M-Instruct.Q4_1.gguf",
        value_name = "PATH"
    )]
    model: PathBuf,
    /// Prompt set (HolisticBias format).
    #[arg(long, default_value = "data/prompts", value_name = "DIR")]
    prompts: PathBuf,
    /// Utility text for perplexity (the demo's Brown corpus).
    #[arg(long, default_value = "data/corpus/brown", value_name = "PATH")]
    ppl_text: PathBuf,
    /// Workloads to run, comma-separated (1-6).
    #[arg(
        long,
        default_value = "1,2,3,4,5,6",
        value_delimiter = ',',
        value_name = "LIST"
    )]
    workloads: Vec<u32>,
    /// Timed repeats of every workload (after one untimed warm-up). Default:
    /// 5 for workloads 1 and 5, 3 for the slower 2, 3 and 4.
    #[arg(long, value_name = "R")]
    repeats: Option<usize>,
    /// Per-workload repeats, applied after --repeats, e.g. `3=5,4=2`.
    #[arg(long, value_delimiter = ',', value_name = "W=R")]
    repeats_for: Vec<String>,
    /// Threads (CPU backend, annealer and PyTorch); 0 = all cores.
    #[arg(long, default_value_t = 0, value_name = "N")]
    threads: usize,
    /// Seed of the pruned heads, the prompts, the windows and the synthetic table.
    #[arg(long, default_value_t = 0, value_name = "SEED")]
    seed: u64,
    /// Heads pruned in workloads 1-3.
    #[arg(long, default_value_t = 30, value_name = "K")]
    pruned_heads: usize,
    /// Workload 1: sequences x tokens.
    #[arg(long, default_value = "8x128", value_name = "BxS")]
    prefill: String,
    /// Workload 2: number of prompts.
    #[arg(long, default_value_t = 64, value_name = "N")]
    gen_prompts: usize,
    /// Workload 2: prompts per generate call (the evaluator's default batch).
    #[arg(long, default_value_t = 16, value_name = "N")]
    gen_batch: usize,
    /// Workload 2: new tokens per prompt.
    #[arg(long, default_value_t = 16, value_name = "N")]
    gen_new_tokens: usize,
    /// Workload 6: single-head knockouts in the mix (spread over all heads).
    #[arg(long, default_value_t = 18, value_name = "N")]
    mix_knockouts: usize,
    /// Workload 6: random masks in the mix (the demo's proportion: 20 per 270 knockouts).
    #[arg(long, default_value_t = 2, value_name = "N")]
    mix_random: usize,
    /// Workload 6: worker threads on our side (`sample --workers`); 0 = one per thread.
    #[arg(long, default_value_t = 0, value_name = "N")]
    workers: usize,
    /// Workload 6: masks per worker and forward pass on our side (`sample
    /// --masks-per-pass`); 0 = `sample`'s default on the CPU.
    #[arg(long, default_value_t = 0, value_name = "M")]
    masks_per_pass: usize,
    /// Workloads 4-5: rows of the synthetic sample table.
    #[arg(long, default_value_t = 600, value_name = "N")]
    table_rows: usize,
    /// Workload 4: annealing steps per restart (the demo's 200000).
    #[arg(long, default_value_t = 200_000, value_name = "N")]
    anneal_steps: usize,
    /// Workload 4: restarts (the demo's 8).
    #[arg(long, default_value_t = 8, value_name = "N")]
    anneal_restarts: usize,
    /// The workload spec to write (read by tools/bench_torch.py).
    #[arg(long, default_value = "results/bench/spec.json", value_name = "FILE")]
    spec: PathBuf,
    /// Where our figures go (JSON).
    #[arg(long, default_value = "results/bench/ours.json", value_name = "FILE")]
    out: PathBuf,
    /// Write the spec and stop.
    #[arg(long)]
    spec_only: bool,
}

/// The demo's measurement options (pipelines/demo.mk, `DEMO_MEASURE`), parsed
/// by the `sample` stage's own argument structs.
#[derive(Debug, Parser)]
struct DemoInputs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    measure: MeasureArgs,
}

fn demo_args(a: &Args) -> Vec<String> {
    let p = |x: &Path| x.display().to_string();
    [
        "--model",
        &p(&a.model),
        "--device",
        "cpu",
        "--prompts",
        &p(&a.prompts),
        "--axes",
        "gender_and_sex",
        "--design",
        "crossed",
        "--templates",
        "1",
        "--nouns",
        "1",
        // One full evaluation: layer reuse (a saving for masks that spare the lower layers)
        // is measured on its own in BENCHMARKS.md.
        "--layer-reuse-mib",
        "0",
        "--scorer",
        "reply-likelihood",
        "--ppl-text",
        &p(&a.ppl_text),
        "--ppl-window",
        "128",
        "--ppl-max-windows",
        "2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The demo's screening options (`DEMO_SCREEN_MEASURE` in pipelines/demo.mk):
/// workload 3's protocol with the 3 + 3 canned replies, the valid half of the
/// windows and layer reuse at its default budget, as `sample` runs it.
fn screening_args(a: &Args) -> Vec<String> {
    let mut args = demo_args(a);
    if let Some(i) = args.iter().position(|x| x == "--layer-reuse-mib") {
        args.drain(i..i + 2);
    }
    let replies = a.prompts.join("replies-fast.json").display().to_string();
    args.extend([
        "--replies".into(),
        replies,
        "--ppl-split".into(),
        "valid".into(),
    ]);
    args
}

/// Our side's output file.
#[derive(Debug, Serialize)]
struct Output {
    tool: &'static str,
    version: &'static str,
    command: Vec<String>,
    threads: usize,
    available_parallelism: usize,
    /// The SIMD level the CPU kernels ran at (`attnprune_lm::simd`; capped
    /// by `ATTNPRUNE_SIMD`, as `make bench BENCH_SIMD=avx2` does).
    simd: &'static str,
    seed: u64,
    spec: String,
    workloads: Vec<WorkloadResult>,
    /// Outputs compared with PyTorch's by the merge (workload id -> values).
    outputs: BTreeMap<String, serde_json::Value>,
    total_seconds: f64,
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp_secs()
        .init();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Default timed repeats per workload: enough for a median and a spread while
/// `make bench` stays within ~15 minutes on 2 cores.
const DEFAULT_REPEATS: [(u32, usize); 6] = [(1, 5), (2, 3), (3, 3), (4, 3), (5, 5), (6, 2)];

fn repeats_map(a: &Args) -> Result<BTreeMap<String, usize>> {
    let mut map: BTreeMap<String, usize> = DEFAULT_REPEATS
        .iter()
        .map(|&(w, r)| (w.to_string(), a.repeats.unwrap_or(r)))
        .collect();
    for item in &a.repeats_for {
        let parsed = item.split_once('=').and_then(|(w, r)| {
            Some((
                w.trim().parse::<u32>().ok()?,
                r.trim().parse::<usize>().ok()?,
            ))
        });
        match parsed {
            Some((w, r)) if (1..=6).contains(&w) && r >= 1 => {
                map.insert(w.to_string(), r);
            }
            _ => bail!("--repeats-for `{item}`: use W=R with W in 1..6 and R >= 1"),
        }
    }
    Ok(map)
}

fn run(a: Args) -> Result<()> {
    let started = Instant::now();
    for w in &a.workloads {
        if !(1..=6).contains(w) {
            bail!("--workloads: unknown workload {w} (1-6)");
        }
    }
    if a.repeats == Some(0) {
        bail!("--repeats must be at least 1");
    }
    let threads = if a.threads == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    } else {
        a.threads
    };
    // burn's CPU backend (and its gemm) run on rayon's global pool.
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .context("starting the thread pool")?;
    log::info!(
        "{threads} threads, CPU kernels at SIMD level {}",
        attnprune_lm::simd::level()
    );
    let repeats = repeats_map(&a)?;
    let reps = |w: u32| repeats.get(&w.to_string()).copied().unwrap_or(1);
    let (pb, ps) = a
        .prefill
        .split_once('x')
        .and_then(|(b, s)| Some((b.parse().ok()?, s.parse().ok()?)))
        .context("--prefill: use BxS, e.g. 8x128")?;
    let sizes = Sizes {
        pruned_heads: a.pruned_heads,
        prefill_batch: pb,
        prefill_len: ps,
        gen_prompts: a.gen_prompts,
        gen_batch: a.gen_batch,
        gen_new_tokens: a.gen_new_tokens,
    };
    let wants = |w: u32| a.workloads.contains(&w);
    let mut results = Vec::new();
    let mut outputs = BTreeMap::new();

    // Workloads 1-3 share one model, loaded through the `sample` stage's own preparation.
    let lm_part = if wants(1) || wants(2) || wants(3) || wants(6) {
        let demo = demo_args(&a);
        let inputs = DemoInputs::try_parse_from(
            std::iter::once("demo".to_string()).chain(demo.iter().cloned()),
        )
        .context("parsing the demo's measurement options")?;
        let prepared = prepare(&inputs.model, &inputs.measure, Split::Valid)?;
        let layout = prepared.model_files.config.head_layout();
        let lm: Lm = Lm::from_files(prepared.model_files, &Default::default())?;
        let mask = lm::seeded_mask(layout, a.pruned_heads, a.seed)?;
        let spec = WorkloadSpec {
            spec_version: 1,
            model: a.model.display().to_string(),
            seed: a.seed,
            threads,
            repeats: repeats.clone(),
            workloads: a
                .workloads
                .iter()
                .copied()
                .filter(|w| *w <= 3 || *w == 6)
                .collect(),
            sizes,
            mask: lm::mask_spec(&mask),
            prefill: wants(1)
                .then(|| lm::prefill_spec(&lm, &prepared.data.utility_text, &sizes, a.seed))
                .transpose()?,
            generate: wants(2)
                .then(|| lm::generate_spec(&lm, &a.prompts, &sizes, a.seed))
                .transpose()?,
            evaluate: wants(3)
                .then(|| lm::eval_spec(&lm, &prepared.data, &prepared.settings, &demo))
                .transpose()?,
            mix: None,
        };
        let mut spec = spec;
        let mix = if wants(6) {
            let screen = screening_args(&a);
            let inputs = DemoInputs::try_parse_from(
                std::iter::once("screen".to_string()).chain(screen.iter().cloned()),
            )
            .context("parsing the demo's screening options")?;
            let screening = prepare(&inputs.model, &inputs.measure, Split::Valid)?;
            let masks = mix::mix_masks(layout, a.mix_knockouts, a.mix_random, 40, a.seed)?;
            let workers = if a.workers == 0 { threads } else { a.workers };
            let per_pass = PoolArgs {
                workers,
                masks_per_pass: a.masks_per_pass,
            }
            .masks_per_pass(DeviceSpec::Cpu);
            let eval = lm::eval_spec(&lm, &screening.data, &screening.settings, &screen)?;
            spec.mix = Some(mix::mix_spec(eval, &masks, (workers, per_pass)));
            Some((
                screening.data,
                screening.settings,
                masks,
                (workers, per_pass),
            ))
        } else {
            None
        };
        write_json(&a.spec, &spec)?;
        log::info!("wrote the workload spec to {}", a.spec.display());
        Some((lm, mask, spec, prepared.data, prepared.settings, mix))
    } else {
        None
    };
    if a.spec_only {
        return Ok(());
    }
    if let Some((lm, mask, spec, data, settings, mix)) = lm_part {
        if let Some(s) = &spec.prefill {
            log::info!("workload 1: masked prefill");
            results.push(lm::run_prefill(&lm, s, &mask, reps(1))?);
        }
        if let Some(s) = &spec.generate {
            log::info!("workload 2: reply generation");
            let (r, replies) = lm::run_generate(&lm, s, &mask, reps(2))?;
            results.push(r);
            outputs.insert("2".into(), serde_json::json!({ "new_ids": replies }));
        }
        if spec.evaluate.is_some() {
            log::info!("workload 3: one mask evaluation");
            let (r, out) = lm::run_evaluate(&lm, data, settings, &mask, reps(3))?;
            results.push(r);
            outputs.insert("3".into(), serde_json::to_value(out)?);
        }
        if let Some((data, settings, masks, workers)) = mix {
            log::info!("workload 6: the demo screening's mix of masks");
            let (r, out) = mix::run_mix(&lm, &data, &settings, &masks, workers, reps(6))?;
            results.push(r);
            outputs.insert("6".into(), serde_json::to_value(out)?);
        }
    }
    if wants(4) || wants(5) {
        let s = SurrogateSettings {
            layers: 30,
            heads: 9,
            rows: a.table_rows,
            max_pruned: 40,
            holdout: 0.2,
            anneal_steps: a.anneal_steps,
            anneal_restarts: a.anneal_restarts,
            ppl_budget: 0.05,
            flips: 200_000,
            predictions: 20_000,
            threads,
            seed: a.seed,
        };
        let table = surr::synthetic_table(&s)?;
        let fitted = if wants(5) {
            log::info!("workload 5: train-surrogate");
            let (r, fitted) = surr::run_train(&table, &s, reps(5))?;
            results.push(r);
            fitted
        } else {
            log::info!("training the surrogates for workload 4 (untimed)");
            surr::train_both(&table, &s)?
        };
        if wants(4) {
            log::info!("workload 4: anneal");
            results.push(surr::run_anneal(&table, &fitted, &s, reps(4))?);
        }
    }
    results.sort_by_key(|r| r.id);
    let output = Output {
        tool: "attnprune-bench",
        version: env!("CARGO_PKG_VERSION"),
        command: std::env::args().collect(),
        threads,
        available_parallelism: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        simd: attnprune_lm::simd::level(),
        seed: a.seed,
        spec: a.spec.display().to_string(),
        workloads: results,
        outputs,
        total_seconds: started.elapsed().as_secs_f64(),
    };
    write_json(&a.out, &output)?;
    for r in &output.workloads {
        if let Some(m) = r.metrics.get(&r.primary) {
            log::info!(
                "{} {}: median {:.4} {} (min {:.4}, max {:.4})",
                r.id,
                r.name,
                m.median,
                m.unit,
                m.min,
                m.max
            );
        }
    }
    log::info!(
        "wrote {} ({:.0} s in all)",
        a.out.display(),
        output.total_seconds
    );
    Ok(())
}

/// Writes `value` as pretty JSON to `path`, atomically (the artifacts' writer).
fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value)? + "\n";
    attnprune_artifact::write_atomic_bytes(path, text.as_bytes())?;
    Ok(())
}
