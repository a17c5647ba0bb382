//! Workloads 1-3, on the real model: masked prefill, reply generation, one
//! mask evaluation with the demo's protocol. Their exact inputs go into the
//! workload spec that `tools/bench_torch.py` runs too.

use crate::stats::{rates, time_repeats, Metric, WorkloadResult};
use anyhow::{bail, Context, Result};
use attnprune_eval::{EvalData, EvalSettings, Evaluator, ScorerKind};
use attnprune_lm::batch::{head_keep_tensor, PaddedBatch};
use attnprune_lm::device::CpuBackend;
use attnprune_lm::generate::{generate, GenerationConfig, GenerationRequest, Sampling};
use attnprune_lm::{LanguageModel, Logits};
use attnprune_mask::{HeadLayout, HeadMask};
use attnprune_measure::prompts::{Prompt, PromptSelection, PromptSet, Split};
use rand::seq::index::sample;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The model type every workload runs.
pub type Lm = LanguageModel<CpuBackend>;

/// Sizes of workloads 1 and 2 (fixed by issue 6; changeable for quick runs).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sizes {
    /// Heads pruned in workloads 1-3.
    pub pruned_heads: usize,
    /// Workload 1: sequences per batch.
    pub prefill_batch: usize,
    /// Workload 1: tokens per sequence.
    pub prefill_len: usize,
    /// Workload 2: prompts.
    pub gen_prompts: usize,
    /// Workload 2: prompts per `generate` call.
    pub gen_batch: usize,
    /// Workload 2: new tokens per prompt (greedy, no stop token: always this many).
    pub gen_new_tokens: usize,
}

/// Workload 1's inputs.
#[derive(Debug, Clone, Serialize)]
pub struct PrefillSpec {
    /// `[batch][seq]` token ids, windows of the utility text at seeded offsets.
    pub token_ids: Vec<Vec<u32>>,
    /// Which logits are computed: every position (as perplexity does).
    pub logits: &'static str,
}

/// Workload 2's inputs.
#[derive(Debug, Clone, Serialize)]
pub struct GenerateSpec {
    /// Prompt ids (raw prompt sentences, no chat template), seeded choice from the valid split of all axes.
    pub prompts: Vec<Vec<u32>>,
    /// Prompts per `generate` call (left padding inside a call).
    pub batch_size: usize,
    /// New tokens per prompt.
    pub max_new_tokens: usize,
    /// Padding id (left padding).
    pub pad_id: u32,
    /// Stop ids: none, so every reply has exactly `max_new_tokens` tokens.
    pub stop_ids: Vec<u32>,
}

/// Workload 3's inputs: what [`Evaluator::evaluate`] runs for the demo's settings.
#[derive(Debug, Clone, Serialize)]
pub struct EvalSpec {
    /// The command-line measurement options of `pipelines/demo.mk` this mirrors.
    pub demo_args: Vec<String>,
    /// Scorer (`reply-likelihood` in the demo).
    pub scorer: String,
    /// Prompt ids, chat-formatted as the evaluator formats them.
    pub prompt_ids: Vec<Vec<u32>>,
    /// Axis of each prompt.
    pub axes: Vec<String>,
    /// Bucket of each prompt.
    pub buckets: Vec<String>,
    /// Prompts per scorer call (reply-likelihood: all of them).
    pub score_batch: usize,
    /// Canned negative replies, tokenized without special tokens.
    pub negative_ids: Vec<Vec<u32>>,
    /// Canned positive replies.
    pub positive_ids: Vec<Vec<u32>>,
    /// Perplexity windows (each scored alone).
    pub windows: Vec<Vec<u32>>,
    /// Windows per forward pass.
    pub ppl_batch: usize,
    /// Bootstrap resamples of the bias interval.
    pub bootstrap_resamples: usize,
    /// Reply generation settings (sentiment scorer only; unused by reply-likelihood).
    pub max_new_tokens: usize,
}

/// Everything the PyTorch side needs to run the same inputs.
#[derive(Debug, Clone, Serialize)]
pub struct WorkloadSpec {
    /// Format version of this file.
    pub spec_version: u32,
    /// The model file both sides load.
    pub model: String,
    /// Seed of every draw below.
    pub seed: u64,
    /// Threads both sides use.
    pub threads: usize,
    /// Repeats per workload (after one untimed warm-up).
    pub repeats: BTreeMap<String, usize>,
    /// Workloads to run.
    pub workloads: Vec<u32>,
    /// Sizes.
    pub sizes: Sizes,
    /// The pruned heads of workloads 1-3 (mask file format, 0-based).
    pub mask: MaskSpec,
    /// Workload 1.
    pub prefill: Option<PrefillSpec>,
    /// Workload 2.
    pub generate: Option<GenerateSpec>,
    /// Workload 3.
    pub evaluate: Option<EvalSpec>,
    /// Workload 6.
    pub mix: Option<crate::mix::MixSpec>,
}

/// A head mask in the mask-file format.
#[derive(Debug, Clone, Serialize)]
pub struct MaskSpec {
    /// Layers.
    pub num_layers: usize,
    /// Query heads per layer.
    pub num_heads: usize,
    /// `[layer, head]` pairs, sorted.
    pub pruned: Vec<[usize; 2]>,
}

/// `count` distinct heads drawn with ChaCha8(`seed`).
pub fn seeded_mask(layout: HeadLayout, count: usize, seed: u64) -> Result<HeadMask> {
    if count > layout.total() {
        bail!("cannot prune {count} heads of {}", layout.total());
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut bits = vec![false; layout.total()];
    for i in sample(&mut rng, layout.total(), count) {
        bits[i] = true;
    }
    Ok(HeadMask::from_bits(layout, bits)?)
}

/// The mask in mask-file form.
pub fn mask_spec(mask: &HeadMask) -> MaskSpec {
    let layout = mask.layout();
    let mut pruned: Vec<[usize; 2]> = mask
        .pruned_heads()
        .iter()
        .map(|h| [h.layer, h.head])
        .collect();
    pruned.sort_unstable();
    MaskSpec {
        num_layers: layout.num_layers,
        num_heads: layout.num_heads,
        pruned,
    }
}

/// Workload 1's windows: `batch` windows of `len` tokens of the utility text at seeded offsets.
pub fn prefill_spec(lm: &Lm, text: &str, sizes: &Sizes, seed: u64) -> Result<PrefillSpec> {
    // The first ~200k characters are plenty (tokenizing all of Brown takes seconds).
    let cut = text
        .char_indices()
        .nth(200_000)
        .map(|(i, _)| i)
        .unwrap_or(text.len());
    let ids = lm
        .tokenizer
        .encode(&text[..cut], false)
        .map_err(|e| anyhow::anyhow!("tokenizing the utility text: {e}"))?;
    let len = sizes.prefill_len;
    if ids.len() < len + 1 {
        bail!(
            "the utility text has {} tokens, fewer than one {len}-token window",
            ids.len()
        );
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5052_4546);
    let token_ids = (0..sizes.prefill_batch)
        .map(|_| {
            let start = rng.random_range(0..=ids.len() - len);
            ids[start..start + len].to_vec()
        })
        .collect();
    Ok(PrefillSpec {
        token_ids,
        logits: "all",
    })
}

/// Workload 2's prompts: a seeded choice of raw prompt sentences (valid split, every axis).
pub fn generate_spec(
    lm: &Lm,
    prompts_dir: &Path,
    sizes: &Sizes,
    seed: u64,
) -> Result<GenerateSpec> {
    let set = PromptSet::load(prompts_dir)
        .with_context(|| format!("loading prompt set `{}`", prompts_dir.display()))?;
    let selection = PromptSelection {
        axes: set.axes(),
        per_bucket: usize::MAX,
        seed,
        test_fraction: 0.5,
        ..PromptSelection::default()
    };
    let mut pool: Vec<Prompt> = set.build(&selection, Split::Valid)?;
    if pool.is_empty() {
        bail!("no prompts in `{}`", prompts_dir.display());
    }
    pool.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x4745_4e00));
    let prompts = pool
        .iter()
        .cycle()
        .take(sizes.gen_prompts)
        .map(|p| lm.tokenizer.encode(&p.text, false))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("tokenizing prompts: {e}"))?;
    Ok(GenerateSpec {
        prompts,
        batch_size: sizes.gen_batch,
        max_new_tokens: sizes.gen_new_tokens,
        pad_id: 0,
        stop_ids: Vec::new(),
    })
}

/// Workload 3's inputs, tokenized as [`Evaluator::new`] tokenizes them.
pub fn eval_spec(
    lm: &Lm,
    data: &EvalData,
    settings: &EvalSettings,
    demo_args: &[String],
) -> Result<EvalSpec> {
    let tok = &lm.tokenizer;
    // The evaluator's own tokenization, so both sides score exactly what `sample` scores.
    let evaluator = Evaluator::new(lm, data.clone(), settings.clone())?;
    let prompt_ids = evaluator.prompt_ids().to_vec();
    let encode_all = |list: &[String]| {
        list.iter()
            .map(|r| tok.encode(r, false))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("tokenizing replies: {e}"))
    };
    let (negative_ids, positive_ids) = match (&data.canned, settings.scorer) {
        (Some(c), ScorerKind::ReplyLikelihood) => {
            (encode_all(&c.negative)?, encode_all(&c.positive)?)
        }
        (_, ScorerKind::ReplyLikelihood) => {
            bail!("the demo's reply-likelihood scorer needs canned replies")
        }
        _ => (Vec::new(), Vec::new()),
    };
    let windows = evaluator.windows().to_vec();
    let score_batch = match settings.scorer {
        ScorerKind::ReplyLikelihood => prompt_ids.len().max(1),
        _ => settings.batch_size.max(1),
    };
    Ok(EvalSpec {
        demo_args: demo_args.to_vec(),
        scorer: settings.scorer.to_string(),
        prompt_ids,
        axes: data.prompts.iter().map(|p| p.axis.clone()).collect(),
        buckets: data.prompts.iter().map(|p| p.bucket.clone()).collect(),
        score_batch,
        negative_ids,
        positive_ids,
        windows,
        ppl_batch: settings.batch_size.max(1),
        bootstrap_resamples: settings.bootstrap.resamples,
        max_new_tokens: settings.generation.max_new_tokens,
    })
}

/// Workload 1: one masked forward of the whole batch with every position's logits.
pub fn run_prefill(
    lm: &Lm,
    spec: &PrefillSpec,
    mask: &HeadMask,
    repeats: usize,
) -> Result<WorkloadResult> {
    let seqs: Vec<&[u32]> = spec.token_ids.iter().map(Vec::as_slice).collect();
    let masks = vec![mask; seqs.len()];
    let tokens: usize = seqs.iter().map(|s| s.len()).sum();
    let (secs, _) = time_repeats(repeats, || {
        let batch = PaddedBatch::left_padded(&seqs, 0);
        let keep = head_keep_tensor(&masks, &lm.model);
        let logits = lm
            .model
            .forward(batch.to_forward(keep, lm.model.device()), None, Logits::All);
        Ok(logits.into_data().num_elements())
    })?;
    let mut metrics = BTreeMap::new();
    metrics.insert(
        "tokens_per_s".into(),
        Metric::new("tokens/s", true, rates(tokens as f64, &secs)),
    );
    metrics.insert("seconds".into(), Metric::new("s", false, secs));
    Ok(WorkloadResult {
        id: 1,
        name: "masked forward (prefill)".into(),
        description: format!(
            "LlamaModel::forward on {} x {} tokens, {} heads pruned, logits at every position (into host memory)",
            seqs.len(),
            seqs.first().map(|s| s.len()).unwrap_or(0),
            mask.num_pruned()
        ),
        warmup: 1,
        repeats,
        primary: "tokens_per_s".into(),
        metrics,
        info: serde_json::json!({
            "batch": seqs.len(),
            "tokens": tokens,
            "flops": prefill_flops(&lm.model.config, &seqs),
            "flops_counted": "2 x multiply-adds of every matrix product (q, k, v, o, gate, up, down, output layer) and of the causal attention (q.k and p.v over the keys each query sees), pruned heads included: what the dense computation does",
        }),
    })
}

/// Floating-point operations of one dense prefill of `seqs` with logits at
/// every position (a multiply-add counts 2), the figure behind GFLOP/s.
fn prefill_flops(c: &attnprune_lm::LlamaConfig, seqs: &[&[u32]]) -> f64 {
    let (d, i, v) = (c.hidden_size, c.intermediate_size, c.vocab_size);
    let (q, kv) = (c.num_heads * c.head_dim, c.num_kv_heads * c.head_dim);
    let per_token_layer = d * q + 2 * d * kv + q * d + 3 * d * i;
    let tokens: usize = seqs.iter().map(|s| s.len()).sum();
    // Query i sees i + 1 keys: q.k and p.v, head_dim multiply-adds each per head.
    let attention: usize = seqs
        .iter()
        .map(|s| (1..=s.len()).sum::<usize>() * 2 * q)
        .sum();
    2.0 * (tokens * (c.num_layers * per_token_layer + d * v) + c.num_layers * attention) as f64
}

/// Workload 2: greedy replies with the KV cache, in `generate` calls of `batch_size` prompts.
pub fn run_generate(
    lm: &Lm,
    spec: &GenerateSpec,
    mask: &HeadMask,
    repeats: usize,
) -> Result<(WorkloadResult, Vec<Vec<u32>>)> {
    let config = GenerationConfig {
        max_new_tokens: spec.max_new_tokens,
        sampling: Sampling::Greedy,
        stop_ids: spec.stop_ids.clone(),
    };
    let (secs, replies) = time_repeats(repeats, || {
        let mut out = Vec::with_capacity(spec.prompts.len());
        for chunk in spec.prompts.chunks(spec.batch_size.max(1)) {
            let requests: Vec<GenerationRequest<'_>> = chunk
                .iter()
                .map(|p| GenerationRequest {
                    prompt: p,
                    mask,
                    seed: 0,
                })
                .collect();
            out.extend(generate(&lm.model, &requests, &config)?);
        }
        Ok(out)
    })?;
    let new_tokens: usize = replies.iter().map(Vec::len).sum();
    let prompt_tokens: usize = spec.prompts.iter().map(Vec::len).sum();
    let mut metrics = BTreeMap::new();
    metrics.insert(
        "new_tokens_per_s".into(),
        Metric::new("new tokens/s", true, rates(new_tokens as f64, &secs)),
    );
    metrics.insert("seconds".into(), Metric::new("s", false, secs));
    let result = WorkloadResult {
        id: 2,
        name: "reply generation".into(),
        description: format!(
            "generate(): {} prompts ({:.1} tokens on average) in calls of {}, {} new tokens each, greedy, KV cache, {} heads pruned",
            spec.prompts.len(),
            prompt_tokens as f64 / spec.prompts.len().max(1) as f64,
            spec.batch_size,
            spec.max_new_tokens,
            mask.num_pruned()
        ),
        warmup: 1,
        repeats,
        primary: "new_tokens_per_s".into(),
        metrics,
        info: serde_json::json!({ "prompts": spec.prompts.len(), "prompt_tokens": prompt_tokens, "new_tokens": new_tokens }),
    };
    Ok((result, replies))
}

/// What workload 3's last evaluation produced (compared with PyTorch's by the merge).
#[derive(Debug, Clone, Serialize)]
pub struct EvalOutputs {
    /// Per-prompt scores.
    pub scores: Vec<f64>,
    /// Perplexity.
    pub perplexity: f64,
    /// Bias per axis.
    pub bias: BTreeMap<String, f64>,
}

/// Workload 3: `Evaluator::evaluate` of one mask with the demo's settings.
pub fn run_evaluate(
    lm: &Lm,
    data: EvalData,
    settings: EvalSettings,
    mask: &HeadMask,
    repeats: usize,
) -> Result<(WorkloadResult, EvalOutputs)> {
    let prompts = data.prompts.len();
    let mut evaluator = Evaluator::new(lm, data, settings)?;
    let windows = evaluator.num_windows();
    let (secs, eval) = time_repeats(repeats, || Ok(evaluator.evaluate(mask)?))?;
    let outputs = EvalOutputs {
        scores: eval.scores.clone(),
        perplexity: eval.perplexity,
        bias: eval.axes.iter().map(|a| (a.axis.clone(), a.bias)).collect(),
    };
    let mut metrics = BTreeMap::new();
    metrics.insert(
        "masks_per_hour".into(),
        Metric::new("masks/h", true, rates(3600.0, &secs)),
    );
    metrics.insert("seconds_per_mask".into(), Metric::new("s", false, secs));
    let settings = evaluator.settings();
    let result = WorkloadResult {
        id: 3,
        name: "one mask evaluation (demo protocol)".into(),
        description: format!(
            "Evaluator::evaluate: {} prompts scored by {}, bias with {} bootstrap resamples, perplexity on {} windows of {} tokens; {} heads pruned",
            prompts,
            settings.scorer,
            settings.bootstrap.resamples,
            windows,
            settings.ppl_window,
            mask.num_pruned()
        ),
        warmup: 1,
        repeats,
        primary: "seconds_per_mask".into(),
        metrics,
        info: serde_json::json!({ "prompts": prompts, "windows": windows, "perplexity": eval.perplexity }),
    };
    Ok((result, outputs))
}
