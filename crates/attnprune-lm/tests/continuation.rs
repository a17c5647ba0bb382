//! Continuation scoring with a shared cached context equals full teacher forcing.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod common;

use attnprune_lm::continuation::{continuation_logprobs, extend_context};
use attnprune_lm::perplexity::targeted_nll;
use attnprune_lm::reuse::LayerReuse;
use attnprune_mask::{HeadId, HeadMask};
use common::*;

#[test]
fn cached_context_matches_full_sequences() {
    let model = load(&root().join("tests/fixtures/tiny-qwen2"));
    let layout = model.model.config.head_layout();
    let mask = HeadMask::from_pruned(layout, &[HeadId { layer: 1, head: 2 }]).unwrap();
    let system: Vec<u32> = vec![5, 17, 42, 8];
    let user: Vec<u32> = vec![99, 3, 250, 7, 11];
    let conts: Vec<Vec<u32>> = vec![
        vec![12],
        vec![40, 41, 42],
        vec![300, 2],
        vec![7, 7, 7, 7, 7],
    ];
    let base = extend_context(&model.model, None, &system, &mask, &mut LayerReuse::off()).unwrap();
    let ctx = extend_context(
        &model.model,
        Some(&base),
        &user,
        &mask,
        &mut LayerReuse::off(),
    )
    .unwrap();
    let ours = continuation_logprobs(&model.model, &ctx, &conts, &mask).unwrap();
    let prompt = [system.clone(), user.clone()].concat();
    let rows: Vec<Vec<u32>> = conts
        .iter()
        .map(|c| [prompt.clone(), c.clone()].concat())
        .collect();
    let seqs: Vec<&[u32]> = rows.iter().map(Vec::as_slice).collect();
    let masks = vec![&mask; rows.len()];
    let full = targeted_nll(
        &model.model,
        &seqs,
        &masks,
        &vec![prompt.len(); rows.len()],
        &mut LayerReuse::off(),
    )
    .unwrap();
    for (a, b) in ours.iter().zip(&full) {
        assert!((a + b.nll).abs() < 1e-4, "cached {a} vs full {}", -b.nll);
    }
}

#[test]
fn batched_prompts_match_one_prompt_at_a_time() {
    use attnprune_lm::continuation::prompt_reply_logprobs;
    let model = load(&root().join("tests/fixtures/tiny-qwen2"));
    let layout = model.model.config.head_layout();
    let mask = HeadMask::from_pruned(
        layout,
        &[HeadId { layer: 0, head: 1 }, HeadId { layer: 1, head: 3 }],
    )
    .unwrap();
    let system: Vec<u32> = vec![5, 17, 42, 8];
    // Prompts of different lengths, so the batch is padded.
    let prompts: Vec<Vec<u32>> = vec![vec![99, 3, 250, 7, 11], vec![4], vec![60, 61, 62]];
    let replies: Vec<Vec<u32>> = vec![
        vec![12],
        vec![40, 41, 42],
        vec![300, 2],
        vec![7, 7, 7, 7, 7],
    ];
    for base in [
        None,
        Some(extend_context(&model.model, None, &system, &mask, &mut LayerReuse::off()).unwrap()),
    ] {
        let refs: Vec<&[u32]> = prompts.iter().map(Vec::as_slice).collect();
        let batched = prompt_reply_logprobs(
            &model.model,
            base.as_ref(),
            &refs,
            &replies,
            &mask,
            &mut LayerReuse::off(),
        )
        .unwrap();
        for (i, prompt) in prompts.iter().enumerate() {
            let ctx = extend_context(
                &model.model,
                base.as_ref(),
                prompt,
                &mask,
                &mut LayerReuse::off(),
            )
            .unwrap();
            let one = continuation_logprobs(&model.model, &ctx, &replies, &mask).unwrap();
            for (a, b) in batched[i].iter().zip(&one) {
                assert!((a - b).abs() < 1e-4, "prompt {i}: batched {a} vs alone {b}");
            }
        }
    }
}
