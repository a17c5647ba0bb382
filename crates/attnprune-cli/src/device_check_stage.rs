//! `device-check`: does a device give the reference's numbers, and how fast is it?
//!
//! Loads the model on the reference and on `--device` in `--precision`,
//! compares last-position logits of a few prompts (max |difference| relative
//! to max |logit|, top-5 agreement) and the perplexity of a few text windows,
//! unpruned and with a random mask, and the log-probabilities of a few replies
//! after the prompts batched, left-padded and cached (the reply-likelihood
//! scorer's path, the one where attention is masked); then measures the device's throughput on
//! the benchmark's workloads at several batch sizes, with the share of a
//! stated peak FLOP/s that it reaches. The reference is the CPU in f32; for
//! `--precision bf16` it is the same device in f32 (the golden check
//! of half precision). Writes a JSON report; `scripts/gpu-check.sh` drives it.

use crate::common::command_line;
use anyhow::{bail, Context, Result};
use attnprune_artifact::write_atomic_bytes;
use attnprune_eval::device_check::{
    logit_agreements, LogitAgreement, Measure, ModelSetup, Profile, ProfileReport, ReplyAgreement,
    Speed, Throughput, PPL_TOL, PPL_TOL_BF16, PROMPTS, REPLIES,
};
use attnprune_lm::perplexity::token_windows;
use attnprune_lm::{run_on_device, AttentionOp, DeviceSpec, Precision};
use attnprune_mask::{draw_random_masks, HeadMask, RandomMaskSpec};
use clap::Parser;
use serde::Serialize;
use std::path::PathBuf;

/// Compare a device against the CPU on one model, then time it.
///
/// Example (on a machine with an NVIDIA GPU, binary built with `--features cuda`):
///   device-check --model data/models/SmolLM2-135M-Instruct.Q4_1.gguf --device cuda \
///     --ppl-text tests/fixtures/ppl_text.txt --out results/gpu-check.json
#[derive(Debug, Parser)]
#[command(name = "device-check", version, about, long_about = None)]
pub struct DeviceCheckArgs {
    /// Model file (GGUF) or HF checkpoint folder.
    #[arg(long)]
    pub model: PathBuf,
    /// The device to check against the CPU: `cuda`, `cuda:N`, `wgpu`, `wgpu-gl` (or `cpu`, to test
    /// the check itself).
    #[arg(long, default_value = "cuda")]
    pub device: DeviceSpec,
    /// Number format on --device: `f32` (checked against the CPU in f32) or `bf16`
    /// (checked against --device in f32: top-5 tokens, perplexity within 0.5%).
    #[arg(long, default_value = "f32")]
    pub precision: Precision,
    /// How --device computes attention: `auto` (the backend's op in f32, `eager` in
    /// bf16), `eager` (separate ops, f32 softmax) or `backend` (one op of the backend:
    /// flash attention where a `cuda-tuned` build's autotuning picks it). The
    /// reference always runs `auto`; the check holds the other op to the same bars.
    #[arg(long, default_value = "auto")]
    pub attention: AttentionOp,
    /// Run attnprune's own GPU kernels on --device (RMSNorm, rotary, SwiGLU, eager
    /// attention's masked softmax; the default on `cuda` and `wgpu`), or `false` for
    /// burn's generic ops in their place: run both to compare their speed and numbers.
    /// The reference always runs burn's generic ops.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub gpu_kernels: bool,
    /// Plain text whose first windows are scored on both devices.
    #[arg(long)]
    pub ppl_text: PathBuf,
    /// Perplexity window in tokens.
    #[arg(long, default_value_t = 128)]
    pub ppl_window: usize,
    /// Windows compared.
    #[arg(long, default_value_t = 4)]
    pub ppl_max_windows: usize,
    /// Batch sizes of the throughput runs (prefill of 128 tokens; generation of 16 tokens).
    #[arg(long, value_delimiter = ',', default_value = "8,64,256")]
    pub batches: Vec<usize>,
    /// Timed repeats per throughput shape (after one warm-up).
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// The device's peak rate in --precision, in TFLOP/s, for the share-of-peak
    /// estimate (H100/H200 SXM datasheet: 67 for plain fp32, 989 for dense bf16).
    #[arg(long, default_value_t = 67.0)]
    pub peak_tflops: f64,
    /// Largest accepted max|logit difference| / max|logit| between the device
    /// and the CPU. GPU matrix products sum in another order (and may use
    /// reduced-precision tensor cores for f32), so this is looser than the
    /// 1e-3 of the CPU golden tests; on an H200 burn-cuda measured 2.3e-3.
    #[arg(long, default_value_t = 5e-3)]
    pub logit_tol: f64,
    /// Skip the throughput part (agreement only).
    #[arg(long)]
    pub no_throughput: bool,
    /// Also time the forward step by step (burn's generic ops: norms, products,
    /// rotary, attention, head mask, LM head) at the largest of --batches x 128
    /// tokens, next to a whole forward and a square product: where the time
    /// goes when the forward is far from the peak. In the report's `profile`.
    #[arg(long)]
    pub profile: bool,
    /// Side of the square matrix product that --profile times as the device's
    /// reachable product rate in --precision (8192: about 1.1 TFLOP a call).
    #[arg(long, default_value_t = 8192)]
    pub profile_square: usize,
    /// JSON report.
    #[arg(long)]
    pub out: PathBuf,
}

/// The JSON report: agreement with the reference, throughput, and the profile when asked.
#[derive(Debug, Serialize)]
struct Report {
    command: Vec<String>,
    device: String,
    precision: String,
    /// The attention op the device ran (`--attention`, resolved).
    attention: String,
    /// Whether the device ran attnprune's own GPU kernels (`--gpu-kernels`, where the
    /// backend has them).
    gpu_kernels: bool,
    /// What the device is compared with: `cpu f32`, or the device in f32.
    reference: String,
    logits: Vec<LogitAgreement>,
    /// Cases whose top five are identical, of all cases.
    top5_identical: usize,
    logits_ok: bool,
    /// The reference's perplexities (named for the CPU, the reference of f32 checks).
    perplexity_cpu: Vec<f64>,
    perplexity_device: Vec<f64>,
    perplexity_max_rel_diff: f64,
    perplexity_tol: f64,
    perplexity_ok: bool,
    replies: ReplyAgreement,
    throughput: Vec<Throughput>,
    /// The forward step by step (`--profile`).
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<ProfileReport>,
}

/// Token id sequences (prompts or windows).
type TokenIds = Vec<Vec<u32>>;

/// The prompts' and replies' token ids and the perplexity windows of --ppl-text.
fn inputs(
    args: &DeviceCheckArgs,
    tokenizer: &attnprune_lm::Tokenizer,
) -> Result<(TokenIds, TokenIds, TokenIds)> {
    let prompts: Vec<Vec<u32>> = PROMPTS
        .iter()
        .map(|p| tokenizer.encode(p, true))
        .collect::<Result<_, _>>()?;
    let replies: Vec<Vec<u32>> = REPLIES
        .iter()
        .map(|r| tokenizer.encode(r, false))
        .collect::<Result<_, _>>()?;
    let text = std::fs::read_to_string(&args.ppl_text)
        .with_context(|| format!("reading `{}`", args.ppl_text.display()))?;
    let ids = tokenizer.encode(&text, false)?;
    let windows = token_windows(&ids, args.ppl_window, Some(args.ppl_max_windows));
    if windows.is_empty() {
        bail!(
            "`{}` has {} tokens: not one window of {}",
            args.ppl_text.display(),
            ids.len(),
            args.ppl_window
        );
    }
    Ok((prompts, windows, replies))
}

/// Runs the stage.
pub fn run(args: DeviceCheckArgs) -> Result<()> {
    attnprune_lm::device::check_device(args.device, args.precision)?;
    let files = attnprune_lm::read_model_files(&args.model)?;
    let tokenizer = files.tokenizer.clone();
    let layout = files.config.head_layout();
    drop(files);
    let (prompts, windows, replies) = inputs(&args, &tokenizer)?;
    let random = draw_random_masks(
        &RandomMaskSpec {
            layout,
            max_pruned: layout.total() / 4,
            seed: 7,
        },
        1,
    )?
    .remove(0);
    let masks = vec![HeadMask::unpruned(layout), random];
    let measure = |spec, precision, attention, gpu_kernels| {
        run_on_device(
            spec,
            Measure {
                setup: ModelSetup {
                    model: &args.model,
                    precision,
                    attention,
                    gpu_kernels,
                },
                prompts: &prompts,
                windows: &windows,
                replies: &replies,
                masks: &masks,
            },
        )
    };
    // f32 is checked against the CPU; a narrower format against the same device in f32.
    let (reference_device, reference) = match args.precision {
        Precision::F32 => (DeviceSpec::Cpu, "cpu f32".to_string()),
        _ => (args.device, format!("{} f32", args.device)),
    };
    log::info!(
        "running {} prompts and {} windows on the reference ({reference})",
        prompts.len(),
        windows.len()
    );
    let reference_out = measure(reference_device, Precision::F32, AttentionOp::Auto, false)??;
    let attention = args.attention.resolve(args.precision);
    let dev = measure(
        args.device,
        args.precision,
        args.attention,
        args.gpu_kernels,
    )??;
    log::info!(
        "ran them on {} in {} with {attention} attention and {}",
        args.device,
        args.precision,
        if dev.gpu_kernels {
            "attnprune's GPU kernels"
        } else {
            "burn's generic ops"
        }
    );
    let agreements = logit_agreements(&reference_out, &dev, &masks);
    // In f32 both the logits and the exact top five must agree; bf16 keeps 8 bits of
    // mantissa, so its logits move by a few tenths and near-tied tokens can swap
    // (transformers' own bf16 does too: BENCHMARKS.md), and the top five must agree up to
    // such ties.
    let logits_ok = agreements.iter().all(|a| match args.precision {
        Precision::F32 => a.max_abs_diff_over_max_logit <= args.logit_tol && a.top5_same,
        _ => a.top5_same_up_to_ties,
    });
    let ppl_tol = match args.precision {
        Precision::F32 => PPL_TOL,
        _ => PPL_TOL_BF16,
    };
    let ppl_rel = reference_out
        .perplexity
        .iter()
        .zip(&dev.perplexity)
        .map(|(a, b)| ((a - b) / a).abs())
        .fold(0.0, f64::max);
    let reply_agreement = ReplyAgreement::new(
        &reference_out.reply_logprobs,
        &dev.reply_logprobs,
        replies.len(),
    );
    log::info!(
        "replies after padded, cached prompts: max |log-probability difference| {:.3e} nats over {} cases; the same most likely reply in {} of {}",
        reply_agreement.max_abs_diff,
        reply_agreement.cases,
        reply_agreement.best_reply_same,
        reply_agreement.pairs
    );
    let device_setup = ModelSetup {
        model: &args.model,
        precision: args.precision,
        attention: args.attention,
        gpu_kernels: args.gpu_kernels,
    };
    let throughput = if args.no_throughput {
        Vec::new()
    } else {
        run_on_device(
            args.device,
            Speed {
                setup: device_setup,
                batches: &args.batches,
                repeats: args.repeats.max(1),
                mask: &masks[1],
                peak_tflops: args.peak_tflops,
            },
        )??
    };
    let profile = if args.profile {
        let batch = args.batches.iter().copied().max().unwrap_or(1);
        log::info!("profiling the forward step by step at {batch} x 128 tokens");
        let p = run_on_device(
            args.device,
            Profile {
                setup: device_setup,
                batch,
                repeats: args.repeats.max(1),
                square: args.profile_square.max(1),
            },
        )??;
        let report = ProfileReport::new(&p, args.peak_tflops);
        report.log();
        Some(report)
    } else {
        None
    };
    let report = Report {
        command: command_line(),
        device: args.device.to_string(),
        precision: args.precision.to_string(),
        attention: attention.to_string(),
        gpu_kernels: dev.gpu_kernels,
        reference,
        top5_identical: agreements.iter().filter(|a| a.top5_same).count(),
        logits: agreements,
        logits_ok,
        perplexity_cpu: reference_out.perplexity,
        perplexity_device: dev.perplexity,
        perplexity_max_rel_diff: ppl_rel,
        perplexity_tol: ppl_tol,
        perplexity_ok: ppl_rel <= ppl_tol,
        replies: reply_agreement,
        throughput,
        profile,
    };
    finish(&args, &report)
}

/// Writes the report; fails when the device disagrees with the CPU.
fn finish(args: &DeviceCheckArgs, report: &Report) -> Result<()> {
    let json = serde_json::to_vec_pretty(report)?;
    write_atomic_bytes(&args.out, &json)?;
    log::info!(
        "logits agree: {} (top five identical in {} of {}); perplexity max relative difference {:.2e}; report in {}",
        report.logits_ok,
        report.top5_identical,
        report.logits.len(),
        report.perplexity_max_rel_diff,
        args.out.display()
    );
    if !report.logits_ok || !report.perplexity_ok || !report.replies.ok {
        bail!(
            "{} in {} disagrees with {} (see {})",
            args.device,
            report.precision,
            report.reference,
            args.out.display()
        );
    }
    Ok(())
}
