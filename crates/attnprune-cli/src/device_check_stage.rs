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
use attnprune_lm::batch::{head_keep_tensor, PaddedBatch};
use attnprune_lm::continuation::prompt_reply_logprobs;
use attnprune_lm::generate::{generate, GenerationConfig, GenerationRequest, Sampling};
use attnprune_lm::perplexity::{sequence_nll, token_windows, NllSum};
use attnprune_lm::reuse::LayerReuse;
use attnprune_lm::{
    run_on_device, AttentionOp, DeviceSpec, LanguageModel, Logits, OnDevice, Precision,
};
use attnprune_mask::{draw_random_masks, HeadMask, RandomMaskSpec};
use burn::tensor::backend::Backend;
use clap::Parser;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

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

/// Prompts whose last-position logits are compared.
const PROMPTS: [&str; 4] = [
    "The capital of France is",
    "My grandmother is a nurse and she",
    "def fibonacci(n):\n    if n < 2:",
    "I'm a nonbinary person who loves hiking. What do you think?",
];

/// Replies scored after every prompt (the `replies` part of the report).
const REPLIES: [&str; 3] = [
    " Yes, that is right.",
    " No.",
    " I would rather not say what I think about that.",
];

/// Outputs of one device, copied to the host.
#[derive(Debug, Clone)]
struct Outputs {
    /// Last-position logits per (prompt, mask).
    logits: Vec<Vec<f32>>,
    /// Log-probability of each reply after each prompt, `[mask][prompt][reply]`
    /// flattened: the prompts in one left-padded batch, the replies over its cache.
    reply_logprobs: Vec<f64>,
    /// Perplexity per mask.
    perplexity: Vec<f64>,
    /// Whether the model ran attnprune's own GPU kernels.
    gpu_kernels: bool,
}

/// Agreement of the device with the reference for one (prompt, mask) pair.
#[derive(Debug, Serialize)]
struct LogitAgreement {
    prompt: String,
    mask_pruned: usize,
    max_abs_diff_over_max_logit: f64,
    /// The same five tokens in the same order.
    top5_same: bool,
    /// The same top five up to ties: every token in either top five has a
    /// reference logit no further below the reference's fifth than this case's
    /// max |difference| (a swap the number format cannot resolve).
    top5_same_up_to_ties: bool,
}

/// Largest accepted |difference| of a reply's total log-probability (nats)
/// between the device and the reference: a bound for gross errors, not for
/// rounding. Dropping the future from the mask of cached calls moved them by
/// 26 nats on SmolLM2; bf16's rounding moves them by up to 0.6 on the CPU (4
/// prompts x 3 replies x 2 masks), f32 on a GPU by less.
const REPLY_LOGPROB_TOL: f64 = 2.0;

/// The replies' log-probabilities on the device against the reference, through
/// the scorer's padded and cached path (where the attention mask matters; the
/// logits and perplexity checks run unpadded and uncached).
#[derive(Debug, Serialize)]
struct ReplyAgreement {
    /// (mask, prompt, reply) cases.
    cases: usize,
    /// Largest |device - reference| of a reply's total log-probability, in nats.
    max_abs_diff: f64,
    /// (mask, prompt) pairs whose most likely reply is the same on both.
    best_reply_same: usize,
    /// (mask, prompt) pairs.
    pairs: usize,
    /// `max_abs_diff` within [`REPLY_LOGPROB_TOL`].
    ok: bool,
}

impl ReplyAgreement {
    fn new(reference: &[f64], device: &[f64], replies: usize) -> Self {
        let max_abs_diff = reference
            .iter()
            .zip(device)
            // A NaN on either side is no agreement.
            .map(|(a, b)| (a - b).abs())
            .map(|d| if d.is_nan() { f64::INFINITY } else { d })
            .fold(0.0, f64::max);
        let best = |row: &[f64]| {
            (0..row.len())
                .max_by(|&i, &j| row[i].total_cmp(&row[j]))
                .unwrap_or(0)
        };
        let pairs = reference.len() / replies.max(1);
        let best_reply_same = reference
            .chunks(replies.max(1))
            .zip(device.chunks(replies.max(1)))
            .filter(|(a, b)| best(a) == best(b))
            .count();
        Self {
            cases: reference.len(),
            max_abs_diff,
            best_reply_same,
            pairs,
            ok: max_abs_diff <= REPLY_LOGPROB_TOL && reference.len() == device.len(),
        }
    }
}

/// Throughput of one shape.
#[derive(Debug, Serialize)]
struct Throughput {
    workload: String,
    batch: usize,
    tokens_per_second: f64,
    seconds_median: f64,
    tflops: f64,
    share_of_peak: f64,
}

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

/// One step of the forward in the profile.
#[derive(Debug, Serialize)]
struct ProfileStep {
    step: String,
    calls_per_forward: usize,
    ms_per_call: f64,
    ms_per_forward: f64,
    /// Of the whole forward's measured time.
    share_of_forward: f64,
    /// Achieved TFLOP/s of a step with products (`null` for element-wise steps).
    tflops: Option<f64>,
}

/// `--profile`'s section of the report.
#[derive(Debug, Serialize)]
struct ProfileReport {
    batch: usize,
    seq: usize,
    /// One whole forward (all logits), measured.
    forward_ms: f64,
    /// The steps' times alone, summed over a forward.
    steps_ms: f64,
    /// Of the steps' time, the share in steps with matrix products.
    product_steps_share: f64,
    square_side: usize,
    square_ms: f64,
    square_tflops: f64,
    /// The square product's rate as a share of --peak-tflops.
    square_share_of_peak: f64,
    steps: Vec<ProfileStep>,
}

impl ProfileReport {
    fn new(p: &attnprune_lm::model::profile::ForwardProfile, peak_tflops: f64) -> Self {
        let ms = 1e3;
        let steps_s = p.steps_seconds();
        let products_s: f64 = p
            .steps
            .iter()
            .filter(|s| s.flops > 0.0)
            .map(|s| s.seconds * s.calls_per_forward as f64)
            .sum();
        Self {
            batch: p.batch,
            seq: p.seq,
            forward_ms: p.forward_seconds * ms,
            steps_ms: steps_s * ms,
            product_steps_share: products_s / steps_s.max(f64::MIN_POSITIVE),
            square_side: p.square_side,
            square_ms: p.square_seconds * ms,
            square_tflops: p.square_tflops(),
            square_share_of_peak: p.square_tflops() / peak_tflops,
            steps: p
                .steps
                .iter()
                .map(|s| {
                    let per_forward = s.seconds * s.calls_per_forward as f64;
                    ProfileStep {
                        step: s.name.to_string(),
                        calls_per_forward: s.calls_per_forward,
                        ms_per_call: s.seconds * ms,
                        ms_per_forward: per_forward * ms,
                        share_of_forward: per_forward / p.forward_seconds.max(f64::MIN_POSITIVE),
                        tflops: (s.flops > 0.0).then(|| s.flops / s.seconds / 1e12),
                    }
                })
                .collect(),
        }
    }

    /// The profile as lines for the log.
    fn log(&self) {
        log::info!(
            "profile at {} x {} tokens: forward {:.2} ms; its steps alone {:.2} ms ({:.0}% in steps with products); square {}^3 product {:.3} ms = {:.3} TFLOP/s ({:.1}% of the stated peak)",
            self.batch,
            self.seq,
            self.forward_ms,
            self.steps_ms,
            100.0 * self.product_steps_share,
            self.square_side,
            self.square_ms,
            self.square_tflops,
            100.0 * self.square_share_of_peak
        );
        for s in &self.steps {
            let rate = s
                .tflops
                .map(|t| format!(", {t:.3} TFLOP/s"))
                .unwrap_or_default();
            log::info!(
                "  {:<52} {:>4} x {:>9.3} ms = {:>9.2} ms ({:>5.1}% of the forward{rate})",
                s.step,
                s.calls_per_forward,
                s.ms_per_call,
                s.ms_per_forward,
                100.0 * s.share_of_forward
            );
        }
    }
}

/// Tolerance of perplexity in f32: the perplexity contract's 0.2%.
const PPL_TOL: f64 = 2e-3;
/// Tolerance of perplexity in bf16 against f32 (the speed issue's bar).
const PPL_TOL_BF16: f64 = 5e-3;

struct Measure<'a> {
    model: &'a std::path::Path,
    precision: Precision,
    attention: AttentionOp,
    gpu_kernels: bool,
    prompts: &'a [Vec<u32>],
    windows: &'a [Vec<u32>],
    replies: &'a [Vec<u32>],
    masks: &'a [HeadMask],
}

impl OnDevice for Measure<'_> {
    type Output = Result<Outputs>;
    fn run<B: Backend>(self, device: B::Device) -> Result<Outputs> {
        let lm = load_as::<B>(
            self.model,
            (self.precision, self.attention, self.gpu_kernels),
            &device,
        )?;
        let mut logits = Vec::new();
        let mut perplexity = Vec::new();
        let mut reply_logprobs = Vec::new();
        let prompts: Vec<&[u32]> = self.prompts.iter().map(Vec::as_slice).collect();
        for mask in self.masks {
            for p in self.prompts {
                let batch = PaddedBatch::left_padded(&[p.as_slice()], 0);
                let out = lm.model.forward(
                    batch.to_forward(head_keep_tensor(&[mask], &lm.model), &device),
                    None,
                    Logits::Last,
                );
                logits.push(
                    out.into_data()
                        .to_vec::<f32>()
                        .map_err(|e| anyhow::anyhow!("{e:?}"))?,
                );
            }
            let seqs: Vec<&[u32]> = self.windows.iter().map(Vec::as_slice).collect();
            let mut total = NllSum::default();
            for nll in sequence_nll(&lm.model, &seqs, &vec![mask; seqs.len()])? {
                total.add(nll);
            }
            perplexity.push(total.perplexity());
            let scored = prompt_reply_logprobs(
                &lm.model,
                None,
                &prompts,
                self.replies,
                mask,
                &mut LayerReuse::off(),
            )?;
            reply_logprobs.extend(scored.into_iter().flatten());
        }
        Ok(Outputs {
            logits,
            perplexity,
            reply_logprobs,
            gpu_kernels: lm.model.uses_gpu_kernels(),
        })
    }
}

struct Speed<'a> {
    model: &'a std::path::Path,
    precision: Precision,
    attention: AttentionOp,
    gpu_kernels: bool,
    batches: &'a [usize],
    repeats: usize,
    mask: &'a HeadMask,
    peak_tflops: f64,
}

impl OnDevice for Speed<'_> {
    type Output = Result<Vec<Throughput>>;
    fn run<B: Backend>(self, device: B::Device) -> Result<Vec<Throughput>> {
        let lm = load_as::<B>(
            self.model,
            (self.precision, self.attention, self.gpu_kernels),
            &device,
        )?;
        let c = &lm.model.config;
        // FLOPs per token of a forward: the projections and the LM head (attention scores left out).
        let per_layer = c.hidden_size * (c.num_heads + 2 * c.num_kv_heads) * c.head_dim
            + c.num_heads * c.head_dim * c.hidden_size
            + 3 * c.hidden_size * c.intermediate_size;
        let body = 2.0 * (c.num_layers * per_layer) as f64;
        let head = 2.0 * (c.hidden_size * c.vocab_size) as f64;
        let mut rows = Vec::new();
        for &b in self.batches {
            let seq = attnprune_lm::model::profile::spread_token_ids(128, c.vocab_size);
            let seqs: Vec<&[u32]> = vec![seq.as_slice(); b];
            let masks = vec![self.mask; b];
            let t = median_seconds(self.repeats, || {
                let batch = PaddedBatch::left_padded(&seqs, 0);
                let out = lm.model.forward(
                    batch.to_forward(head_keep_tensor(&masks, &lm.model), &device),
                    None,
                    Logits::All,
                );
                let _ = out.slice([0..1, 0..1, 0..1]).into_data();
                Ok(())
            })?;
            let tokens = (b * 128) as f64;
            let tflops = tokens * (body + head) / t / 1e12;
            rows.push(Throughput {
                workload: "prefill 128 tokens, all logits".into(),
                batch: b,
                tokens_per_second: tokens / t,
                seconds_median: t,
                tflops,
                share_of_peak: tflops / self.peak_tflops,
            });
            let vocab = c.vocab_size as u32;
            let prompts: Vec<Vec<u32>> = (0..b)
                .map(|i| {
                    (0..13u32)
                        .map(|j| (500 + (i as u32) * 31 + j * 17) % vocab)
                        .collect()
                })
                .collect();
            let requests: Vec<GenerationRequest<'_>> = prompts
                .iter()
                .map(|p| GenerationRequest {
                    prompt: p,
                    mask: self.mask,
                    seed: 0,
                })
                .collect();
            let config = GenerationConfig {
                max_new_tokens: 16,
                sampling: Sampling::Greedy,
                stop_ids: Vec::new(),
            };
            let t = median_seconds(self.repeats, || {
                let _ = generate(&lm.model, &requests, &config)?;
                Ok(())
            })?;
            let new_tokens = (b * 16) as f64;
            let tflops =
                (b * (13 + 15)) as f64 * body / t / 1e12 + (b * 16) as f64 * head / t / 1e12;
            rows.push(Throughput {
                workload: "generate 16 new tokens after 13 (new tokens/s)".into(),
                batch: b,
                tokens_per_second: new_tokens / t,
                seconds_median: t,
                tflops,
                share_of_peak: tflops / self.peak_tflops,
            });
            log::info!(
                "batch {b}: prefill {:.0} tok/s, generation {:.0} new tok/s",
                rows[rows.len() - 2].tokens_per_second,
                new_tokens / t
            );
        }
        Ok(rows)
    }
}

struct Profile<'a> {
    model: &'a std::path::Path,
    precision: Precision,
    attention: AttentionOp,
    gpu_kernels: bool,
    batch: usize,
    repeats: usize,
    square: usize,
}

impl OnDevice for Profile<'_> {
    type Output = Result<attnprune_lm::model::profile::ForwardProfile>;
    fn run<B: Backend>(self, device: B::Device) -> Self::Output {
        let lm = load_as::<B>(
            self.model,
            (self.precision, self.attention, self.gpu_kernels),
            &device,
        )?;
        Ok(attnprune_lm::model::profile::profile_forward(
            &lm.model,
            self.batch,
            128,
            self.repeats,
            self.square,
        )?)
    }
}

/// The model at `path` on `device`, computing in `precision` with `attention`, with
/// or without attnprune's GPU kernels.
fn load_as<B: Backend>(
    path: &std::path::Path,
    (precision, attention, gpu_kernels): (Precision, AttentionOp, bool),
    device: &B::Device,
) -> Result<LanguageModel<B>> {
    Ok(LanguageModel::<B>::load(path, device)?
        .in_precision(precision)
        .with_attention(attention)
        .with_gpu_kernels(gpu_kernels))
}

/// Median seconds of `repeats` timed runs of `f` after one untimed warm-up run.
fn median_seconds(repeats: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    let mut times = Vec::new();
    for r in 0..=repeats {
        let start = Instant::now();
        f()?;
        if r > 0 {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    Ok(attnprune_stats::median(&times))
}

fn top5(v: &[f32]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[b].total_cmp(&v[a]).then(a.cmp(&b)));
    idx.truncate(5);
    idx
}

/// Whether `dev`'s top five equal `reference`'s up to ties: every token in
/// either top five has a reference logit at least the reference's fifth
/// minus `tie`.
fn top5_same_up_to_ties(reference: &[f32], dev: &[f32], tie: f64) -> bool {
    let want = top5(reference);
    let Some(&fifth) = want.last() else {
        return true;
    };
    let floor = reference[fifth] as f64 - tie;
    top5(dev)
        .iter()
        .chain(&want)
        .all(|&t| reference[t] as f64 >= floor)
}

/// How far the device's last-token logits are from the reference's, per (mask, prompt).
fn logit_agreements(reference: &Outputs, dev: &Outputs, masks: &[HeadMask]) -> Vec<LogitAgreement> {
    let mut agreements = Vec::new();
    for (i, (a, b)) in reference.logits.iter().zip(&dev.logits).enumerate() {
        let max_logit = a.iter().fold(0.0f64, |m, &x| m.max(x.abs() as f64));
        let diff = a
            .iter()
            .zip(b)
            .fold(0.0f64, |m, (&x, &y)| m.max((x - y).abs() as f64));
        agreements.push(LogitAgreement {
            prompt: PROMPTS[i % PROMPTS.len()].into(),
            mask_pruned: masks[i / PROMPTS.len()].num_pruned(),
            max_abs_diff_over_max_logit: diff / max_logit.max(f64::MIN_POSITIVE),
            top5_same: top5(a) == top5(b),
            top5_same_up_to_ties: top5_same_up_to_ties(a, b, diff),
        });
    }
    agreements
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
                model: &args.model,
                precision,
                attention,
                gpu_kernels,
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
    let throughput = if args.no_throughput {
        Vec::new()
    } else {
        run_on_device(
            args.device,
            Speed {
                model: &args.model,
                precision: args.precision,
                attention: args.attention,
                gpu_kernels: args.gpu_kernels,
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
                model: &args.model,
                precision: args.precision,
                attention: args.attention,
                gpu_kernels: args.gpu_kernels,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_agreement_counts_best_replies_and_refuses_gross_or_nan_differences() {
        // 2 (mask, prompt) pairs x 3 replies.
        let reference = [-1.0, -2.0, -3.0, -5.0, -4.0, -6.0];
        let close = [-1.1, -2.0, -3.0, -5.0, -4.2, -6.0];
        let a = ReplyAgreement::new(&reference, &close, 3);
        assert_eq!((a.cases, a.pairs, a.best_reply_same), (6, 2, 2));
        assert!((a.max_abs_diff - 0.2).abs() < 1e-12 && a.ok);
        let swapped = [-1.0, -2.0, -3.0, -3.9, -4.0, -6.0];
        let b = ReplyAgreement::new(&reference, &swapped, 3);
        assert_eq!(b.best_reply_same, 1);
        assert!(b.ok, "a swap within the bound is reported, not refused");
        let gross = [-1.0, -2.0, -30.0, -5.0, -4.0, -6.0];
        assert!(!ReplyAgreement::new(&reference, &gross, 3).ok);
        let nan = [-1.0, f64::NAN, -3.0, -5.0, -4.0, -6.0];
        let n = ReplyAgreement::new(&reference, &nan, 3);
        assert!(!n.ok && n.max_abs_diff.is_infinite());
        assert!(!ReplyAgreement::new(&reference, &close[..3], 3).ok);
    }

    #[test]
    fn profile_report_shares_and_rates() {
        use attnprune_lm::model::profile::{ForwardProfile, StepTime};
        let p = ForwardProfile {
            batch: 2,
            seq: 128,
            steps: vec![
                StepTime {
                    name: "norm",
                    calls_per_forward: 4,
                    seconds: 0.5e-3,
                    flops: 0.0,
                },
                StepTime {
                    name: "product",
                    calls_per_forward: 2,
                    seconds: 3e-3,
                    flops: 6e9,
                },
            ],
            forward_seconds: 10e-3,
            square_side: 1000,
            square_seconds: 2e-3,
        };
        let r = ProfileReport::new(&p, 2.0);
        assert!((r.steps_ms - 8.0).abs() < 1e-9);
        assert!((r.product_steps_share - 0.75).abs() < 1e-9);
        assert!((r.square_tflops - 1.0).abs() < 1e-9);
        assert!((r.square_share_of_peak - 0.5).abs() < 1e-9);
        assert_eq!(r.steps[0].tflops, None);
        assert!((r.steps[0].share_of_forward - 0.2).abs() < 1e-9);
        assert!((r.steps[1].ms_per_forward - 6.0).abs() < 1e-9);
        assert!((r.steps[1].tflops.unwrap() - 2.0).abs() < 1e-9);
    }

    #[test]
    fn top5_up_to_ties_accepts_only_swaps_within_the_tie() {
        // Reference: tokens 0..7 with logits 10, 9, 8, 7, 6.00, 5.98, 3, 2.
        let reference = [10.0f32, 9.0, 8.0, 7.0, 6.0, 5.98, 3.0, 2.0];
        // Token 5 overtakes token 4 (0.02 apart in the reference).
        let swapped = [10.0f32, 9.0, 8.0, 7.0, 5.9, 6.1, 3.0, 2.0];
        assert_ne!(top5(&reference), top5(&swapped));
        assert!(top5_same_up_to_ties(&reference, &swapped, 0.1));
        assert!(!top5_same_up_to_ties(&reference, &swapped, 0.01));
        // Token 6 (3 below the fifth) entering the top five is not a tie.
        let wrong = [10.0f32, 9.0, 8.0, 7.0, 2.0, 1.0, 6.5, 2.0];
        assert!(!top5_same_up_to_ties(&reference, &wrong, 0.5));
        assert!(top5_same_up_to_ties(&reference, &reference, 0.0));
    }
}
