//! One evaluation's teacher-forced calls on the tiny model, shared by the
//! tests that compare two ways of computing them (layer reuse, fused kernels).
#![allow(dead_code, missing_docs, clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use attnprune_lm::batch::MaskGroup;
use attnprune_lm::continuation::{extend_context, prompt_reply_logprobs};
use attnprune_lm::perplexity::{grouped_nll, targeted_nll};
use attnprune_lm::reuse::LayerReuse;
use attnprune_lm::weights::{Weight, WeightMap};
use attnprune_lm::{LlamaConfig, LlamaModel};
use attnprune_mask::{HeadId, HeadLayout, HeadMask};
use burn::tensor::backend::Backend;

/// The inputs of one evaluation: a shared prefix, prompts, replies, and two
/// perplexity windows of `window_len` tokens. The vocabulary must exceed 299.
struct Inputs {
    system: Vec<u32>,
    prompts: Vec<Vec<u32>>,
    replies: Vec<Vec<u32>>,
    windows: Vec<Vec<u32>>,
}

impl Inputs {
    fn new(window_len: u32) -> Self {
        Self {
            system: vec![5, 17, 42, 8],
            prompts: vec![vec![99, 3, 250, 7, 11], vec![4], vec![60, 61, 62]],
            replies: vec![vec![12], vec![40, 41, 42], vec![299, 2]],
            windows: vec![
                (1..1 + window_len).collect(),
                (40..40 + window_len).collect(),
            ],
        }
    }

    fn prompts(&self) -> Vec<&[u32]> {
        self.prompts.iter().map(Vec::as_slice).collect()
    }

    fn windows(&self) -> Vec<&[u32]> {
        self.windows.iter().map(Vec::as_slice).collect()
    }
}

/// Every number of one evaluation's calls: a shared prefix, prompts x replies
/// (left-padded prompts, replies on the repeated cache), then two perplexity
/// windows of `window_len` tokens ([`Inputs`]).
pub fn evaluate_paths<B: Backend>(
    model: &LlamaModel<B>,
    mask: &HeadMask,
    reuse: &mut LayerReuse<B>,
    window_len: u32,
) -> Vec<f64> {
    let x = Inputs::new(window_len);
    let base = extend_context(model, None, &x.system, mask, reuse).unwrap();
    let prompts = x.prompts();
    let mut out: Vec<f64> =
        prompt_reply_logprobs(model, Some(&base), &prompts, &x.replies, mask, reuse)
            .unwrap()
            .concat();
    let seqs = x.windows();
    let nll = targeted_nll(model, &seqs, &vec![mask; seqs.len()], &[1, 1], reuse).unwrap();
    out.extend(nll.iter().map(|n| n.nll));
    out
}

/// [`evaluate_paths`] for every mask of `masks` at once (one [`MaskGroup`] in
/// every call): the numbers of each mask, in order.
pub fn evaluate_group_paths<B: Backend>(
    model: &LlamaModel<B>,
    masks: &[&HeadMask],
    reuse: &mut LayerReuse<B>,
    window_len: u32,
) -> Vec<Vec<f64>> {
    let x = Inputs::new(window_len);
    let group = MaskGroup::new(masks);
    let base = extend_context(model, None, &x.system, group.clone(), reuse).unwrap();
    let prompts = x.prompts();
    let rows = prompt_reply_logprobs(
        model,
        Some(&base),
        &prompts,
        &x.replies,
        group.clone(),
        reuse,
    )
    .unwrap();
    let nll = grouped_nll(model, &x.windows(), &group, &[1, 1], reuse).unwrap();
    rows.chunks(prompts.len())
        .zip(nll)
        .map(|(logp, nll)| {
            let mut out = logp.concat();
            out.extend(nll.iter().map(|n| n.nll));
            out
        })
        .collect()
}

/// Qwen2-style q/k/v biases for `config`'s layers, added to `weights`
/// (deterministic values in [-0.25, 0.25]).
pub fn add_qkv_biases(config: &LlamaConfig, weights: &mut WeightMap) {
    for l in 0..config.num_layers {
        for (name, width) in [
            ("q", config.num_heads),
            ("k", config.num_kv_heads),
            ("v", config.num_kv_heads),
        ] {
            let n = width * config.head_dim;
            weights.tensors.insert(
                format!("model.layers.{l}.self_attn.{name}_proj.bias"),
                Weight {
                    shape: vec![n],
                    data: (0..n).map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.05).collect(),
                },
            );
        }
    }
}

/// Three masks of `layout` (at least 2 layers of 3 heads): none pruned, head
/// (1, 2) alone, and every third head.
pub fn three_masks(layout: HeadLayout) -> Vec<HeadMask> {
    let mut one = HeadMask::unpruned(layout);
    one.set(HeadId { layer: 1, head: 2 }, true).unwrap();
    let bits = (0..layout.total()).map(|i| i % 3 == 0).collect();
    vec![
        HeadMask::unpruned(layout),
        one,
        HeadMask::from_bits(layout, bits).unwrap(),
    ]
}

/// `got` equals `reference` value by value within 1e-4 relative (f32
/// rounding of another order of operations); `what` names the case.
pub fn assert_close(got: &[f64], reference: &[f64], what: &str) {
    assert_eq!(got.len(), reference.len(), "{what}: lengths");
    for (i, (a, b)) in got.iter().zip(reference).enumerate() {
        let tolerance = 1e-4 * (1.0 + b.abs());
        assert!(
            (a - b).abs() <= tolerance,
            "{what}[{i}]: {a} vs the reference's {b}"
        );
    }
}
