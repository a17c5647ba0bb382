//! `device-check`'s measurements: does a device give the reference's numbers, and how fast
//! is it? The binary chooses the devices and writes the report; this module runs the model
//! ([`Measure`], [`Speed`], [`Profile`], each an [`OnDevice`] task) and compares what came
//! back ([`logit_agreements`], [`ReplyAgreement`], the tolerances).

use crate::EvalError;
use attnprune_lm::batch::{head_keep_tensor, PaddedBatch};
use attnprune_lm::continuation::prompt_reply_logprobs;
use attnprune_lm::generate::{generate, GenerationConfig, GenerationRequest, Sampling};
use attnprune_lm::perplexity::{sequence_nll, NllSum};
use attnprune_lm::reuse::LayerReuse;
use attnprune_lm::{AttentionOp, LanguageModel, LmError, Logits, OnDevice, Precision};
use attnprune_mask::HeadMask;
use burn::tensor::backend::Backend;
use serde::Serialize;
use std::time::Instant;

/// Results of this module's measurements.
pub type Result<T> = std::result::Result<T, EvalError>;

/// Prompts whose last-position logits are compared.
pub const PROMPTS: [&str; 4] = [
    "The capital of France is",
    "My grandmother is a nurse and she",
    "def fibonacci(n):\n    if n < 2:",
    "I'm a nonbinary person who loves hiking. What do you think?",
];

/// Replies scored after every prompt (the `replies` part of the report).
pub const REPLIES: [&str; 3] = [
    " Yes, that is right.",
    " No.",
    " I would rather not say what I think about that.",
];

/// Outputs of one device, copied to the host.
#[derive(Debug, Clone)]
pub struct Outputs {
    /// Last-position logits per (prompt, mask).
    pub logits: Vec<Vec<f32>>,
    /// Log-probability of each reply after each prompt, `[mask][prompt][reply]`
    /// flattened: the prompts in one left-padded batch, the replies over its cache.
    pub reply_logprobs: Vec<f64>,
    /// Perplexity per mask.
    pub perplexity: Vec<f64>,
    /// Whether the model ran attnprune's own GPU kernels.
    pub gpu_kernels: bool,
}

/// Agreement of the device with the reference for one (prompt, mask) pair.
#[derive(Debug, Serialize)]
pub struct LogitAgreement {
    /// The prompt (one of [`PROMPTS`]).
    pub prompt: String,
    /// Heads the mask prunes.
    pub mask_pruned: usize,
    /// Largest |device - reference| logit over the largest |reference logit|.
    pub max_abs_diff_over_max_logit: f64,
    /// The same five tokens in the same order.
    pub top5_same: bool,
    /// The same top five up to ties: every token in either top five has a
    /// reference logit no further below the reference's fifth than this case's
    /// max |difference| (a swap the number format cannot resolve).
    pub top5_same_up_to_ties: bool,
}

/// Largest accepted |difference| of a reply's total log-probability (nats)
/// between the device and the reference: a bound for gross errors, not for
/// rounding. Dropping the future from the mask of cached calls moved them by
/// 26 nats on SmolLM2; bf16's rounding moves them by up to 0.6 on the CPU (4
/// prompts x 3 replies x 2 masks), f32 on a GPU by less.
pub const REPLY_LOGPROB_TOL: f64 = 2.0;

/// The replies' log-probabilities on the device against the reference, through
/// the scorer's padded and cached path (where the attention mask matters; the
/// logits and perplexity checks run unpadded and uncached).
#[derive(Debug, Serialize)]
pub struct ReplyAgreement {
    /// (mask, prompt, reply) cases.
    pub cases: usize,
    /// Largest |device - reference| of a reply's total log-probability, in nats.
    pub max_abs_diff: f64,
    /// (mask, prompt) pairs whose most likely reply is the same on both.
    pub best_reply_same: usize,
    /// (mask, prompt) pairs.
    pub pairs: usize,
    /// `max_abs_diff` within [`REPLY_LOGPROB_TOL`].
    pub ok: bool,
}

impl ReplyAgreement {
    /// Compares the flattened `[mask][prompt][reply]` log-probabilities of the reference and
    /// the device, `replies` per (mask, prompt) pair.
    pub fn new(reference: &[f64], device: &[f64], replies: usize) -> Self {
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
pub struct Throughput {
    /// What was timed.
    pub workload: String,
    /// Sequences per call.
    pub batch: usize,
    /// Tokens (prefill) or new tokens (generation) per second.
    pub tokens_per_second: f64,
    /// Median seconds of a call.
    pub seconds_median: f64,
    /// Achieved TFLOP/s of the projections and the output layer.
    pub tflops: f64,
    /// `tflops` over the stated peak.
    pub share_of_peak: f64,
}

/// One step of the forward in the profile.
#[derive(Debug, Serialize)]
pub struct ProfileStep {
    /// The step's name.
    pub step: String,
    /// Calls of the step in one forward.
    pub calls_per_forward: usize,
    /// Milliseconds of one call.
    pub ms_per_call: f64,
    /// Milliseconds of all its calls in one forward.
    pub ms_per_forward: f64,
    /// Of the whole forward's measured time.
    pub share_of_forward: f64,
    /// Achieved TFLOP/s of a step with products (`null` for element-wise steps).
    pub tflops: Option<f64>,
}

/// `--profile`'s section of the report.
#[derive(Debug, Serialize)]
pub struct ProfileReport {
    /// Sequences per forward.
    pub batch: usize,
    /// Tokens per sequence.
    pub seq: usize,
    /// One whole forward (all logits), measured.
    pub forward_ms: f64,
    /// The steps' times alone, summed over a forward.
    pub steps_ms: f64,
    /// Of the steps' time, the share in steps with matrix products.
    pub product_steps_share: f64,
    /// Side of the square product timed as the device's easy-shape rate.
    pub square_side: usize,
    /// Milliseconds of that product.
    pub square_ms: f64,
    /// Its TFLOP/s.
    pub square_tflops: f64,
    /// The square product's rate as a share of --peak-tflops.
    pub square_share_of_peak: f64,
    /// Every step, in forward order.
    pub steps: Vec<ProfileStep>,
}

impl ProfileReport {
    /// The report of a measured profile, rates against `peak_tflops`.
    pub fn new(p: &attnprune_lm::model::profile::ForwardProfile, peak_tflops: f64) -> Self {
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
    pub fn log(&self) {
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
pub const PPL_TOL: f64 = 2e-3;
/// Tolerance of perplexity in bf16 against f32 (the speed issue's bar).
pub const PPL_TOL_BF16: f64 = 5e-3;

/// How a check loads the model: the file and what the forward computes in.
#[derive(Debug, Clone, Copy)]
pub struct ModelSetup<'a> {
    /// Model file (GGUF) or HF checkpoint folder.
    pub model: &'a std::path::Path,
    /// Number format of the forward.
    pub precision: Precision,
    /// Attention op of the generic path.
    pub attention: AttentionOp,
    /// Whether attnprune's GPU kernels run where the backend has them.
    pub gpu_kernels: bool,
}

impl ModelSetup<'_> {
    /// The model on `device`, set up as asked.
    pub fn load<B: Backend>(&self, device: &B::Device) -> Result<LanguageModel<B>> {
        Ok(LanguageModel::<B>::load(self.model, device)?.configured(
            self.precision,
            self.attention,
            self.gpu_kernels,
        ))
    }
}

/// The golden check's outputs on one device: every mask's last-position logits of the
/// prompts, perplexity of the windows and log-probabilities of the replies after the prompts.
#[derive(Debug, Clone)]
pub struct Measure<'a> {
    /// The model and its settings.
    pub setup: ModelSetup<'a>,
    /// Prompt token ids (each run alone, unpadded).
    pub prompts: &'a [Vec<u32>],
    /// Perplexity windows.
    pub windows: &'a [Vec<u32>],
    /// Reply token ids, scored after every prompt.
    pub replies: &'a [Vec<u32>],
    /// The masks, each measured on everything above.
    pub masks: &'a [HeadMask],
}

impl OnDevice for Measure<'_> {
    type Output = Result<Outputs>;
    fn run<B: Backend>(self, device: B::Device) -> Result<Outputs> {
        let lm = self.setup.load::<B>(&device)?;
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
                        .map_err(|e| LmError::Backend(format!("{e:?}")))?,
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

/// Throughput of the benchmark's two workloads (prefill of 128 tokens with every logit;
/// 16 greedy new tokens after 13) at each batch size, median of `repeats` after a warm-up.
#[derive(Debug, Clone)]
pub struct Speed<'a> {
    /// The model and its settings.
    pub setup: ModelSetup<'a>,
    /// Batch sizes.
    pub batches: &'a [usize],
    /// Timed calls per shape.
    pub repeats: usize,
    /// The mask every sequence runs with.
    pub mask: &'a HeadMask,
    /// The device's stated peak, for the shares.
    pub peak_tflops: f64,
}

impl OnDevice for Speed<'_> {
    type Output = Result<Vec<Throughput>>;
    fn run<B: Backend>(self, device: B::Device) -> Result<Vec<Throughput>> {
        let lm = self.setup.load::<B>(&device)?;
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

/// The forward step by step at `batch` x 128 tokens (`attnprune_lm::model::profile`).
#[derive(Debug, Clone)]
pub struct Profile<'a> {
    /// The model and its settings.
    pub setup: ModelSetup<'a>,
    /// Sequences per forward.
    pub batch: usize,
    /// Timed calls per step.
    pub repeats: usize,
    /// Side of the square product timed beside the steps.
    pub square: usize,
}

impl OnDevice for Profile<'_> {
    type Output = Result<attnprune_lm::model::profile::ForwardProfile>;
    fn run<B: Backend>(self, device: B::Device) -> Self::Output {
        let lm = self.setup.load::<B>(&device)?;
        Ok(attnprune_lm::model::profile::profile_forward(
            &lm.model,
            self.batch,
            128,
            self.repeats,
            self.square,
        )?)
    }
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

/// The five largest entries' indices, largest first (ties by index).
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
pub fn logit_agreements(
    reference: &Outputs,
    dev: &Outputs,
    masks: &[HeadMask],
) -> Vec<LogitAgreement> {
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
