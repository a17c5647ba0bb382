//! One evaluation's teacher-forced calls on the tiny model, shared by the
//! tests that compare two ways of computing them (layer reuse, fused kernels).
#![allow(dead_code, missing_docs, clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use attnprune_lm::batch::MaskGroup;
use attnprune_lm::continuation::{extend_context, prompt_reply_logprobs};
use attnprune_lm::perplexity::{grouped_nll, targeted_nll};
use attnprune_lm::reuse::LayerReuse;
use attnprune_lm::LlamaModel;
use attnprune_mask::HeadMask;
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
