//! Golden test: SmolLM2 greedy generation against HF transformers'
//! (`smollm2/generate.json`: 16 new tokens, stop at `<|im_end|>`), unpruned
//! and pruned, one request at a time and all cases in one left-padded batch.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod common;

use attnprune_lm::generate::{generate, GenerationConfig, GenerationRequest, Sampling};
use attnprune_lm::LanguageModel;
use attnprune_mask::HeadMask;
use common::*;
use serde_json::Value;

struct Case {
    prompt: Vec<u32>,
    mask: HeadMask,
    want: Vec<u32>,
    text: String,
}

fn cases(model: &LanguageModel<B>) -> Vec<Case> {
    let fixture = fixture("smollm2/generate.json");
    fixture["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c: &Value| Case {
            prompt: ids(&c["prompt_ids"]),
            mask: mask_of(model, &c["pruned"]),
            want: ids(&c["new_ids"]),
            text: c["text"].as_str().unwrap().to_string(),
        })
        .collect()
}

fn config(model: &LanguageModel<B>) -> GenerationConfig {
    let im_end = model
        .tokenizer
        .token_id("<|im_end|>")
        .expect("SmolLM2 has <|im_end|>");
    let stop_ids = model.tokenizer.eos_ids().to_vec();
    assert!(
        stop_ids.contains(&im_end),
        "eos ids {stop_ids:?} lack <|im_end|> ({im_end})"
    );
    GenerationConfig {
        max_new_tokens: 16,
        sampling: Sampling::Greedy,
        stop_ids,
    }
}

fn request(case: &Case) -> GenerationRequest<'_> {
    GenerationRequest {
        prompt: &case.prompt,
        mask: &case.mask,
        seed: 0,
    }
}

fn check(model: &LanguageModel<B>, label: &str, i: usize, case: &Case, got: &[u32]) {
    let text = model.tokenizer.decode(got, false).unwrap();
    eprintln!(
        "{label} case {i} ({} pruned): {text:?}",
        case.mask.num_pruned()
    );
    assert_eq!(
        got,
        case.want.as_slice(),
        "{label} case {i} ({} pruned heads): got {text:?}, transformers {:?}",
        case.mask.num_pruned(),
        case.text
    );
}

#[test]
fn smollm2_greedy_generation_matches_transformers() {
    let Some(path) = smollm2_path() else { return };
    let model = load(&path);
    let cases = cases(&model);
    assert!(
        cases.iter().any(|c| c.mask.num_pruned() > 0)
            && cases.iter().any(|c| c.mask.num_pruned() == 0)
    );
    let config = config(&model);
    for (i, case) in cases.iter().enumerate() {
        let out = generate(&model.model, &[request(case)], &config).unwrap();
        check(&model, "single", i, case, &out[0]);
    }
}

#[test]
fn smollm2_batched_greedy_generation_matches_transformers() {
    let Some(path) = smollm2_path() else { return };
    let model = load(&path);
    let cases = cases(&model);
    let lens: Vec<usize> = cases.iter().map(|c| c.prompt.len()).collect();
    assert!(
        lens.iter().min() < lens.iter().max(),
        "prompts of equal length would not exercise left padding: {lens:?}"
    );
    let config = config(&model);
    let requests: Vec<GenerationRequest<'_>> = cases.iter().map(request).collect();
    let out = generate(&model.model, &requests, &config).unwrap();
    assert_eq!(out.len(), cases.len());
    for (i, (case, got)) in cases.iter().zip(&out).enumerate() {
        check(&model, "batched", i, case, got);
    }
}

/// Rows of one batch that stop at different steps: with `.` (id of `"."`)
/// added to the stop ids, each reply is the fixture's reply cut just after
/// its first stop token, while the other rows keep going.
#[test]
fn smollm2_batched_generation_stops_each_row_at_its_own_stop_token() {
    let Some(path) = smollm2_path() else { return };
    let model = load(&path);
    let cases = cases(&model);
    let mut config = config(&model);
    let period = model.tokenizer.token_id(".").expect("SmolLM2 has `.`");
    config.stop_ids.push(period);
    let cut = |want: &[u32]| match want.iter().position(|t| config.stop_ids.contains(t)) {
        Some(p) => want[..=p].to_vec(),
        None => want.to_vec(),
    };
    let expected: Vec<Vec<u32>> = cases.iter().map(|c| cut(&c.want)).collect();
    let stop_steps: std::collections::BTreeSet<usize> = expected.iter().map(Vec::len).collect();
    assert!(
        stop_steps.len() > 1,
        "every row stops at the same step: {stop_steps:?}"
    );
    let requests: Vec<GenerationRequest<'_>> = cases.iter().map(request).collect();
    let out = generate(&model.model, &requests, &config).unwrap();
    for (i, (got, want)) in out.iter().zip(&expected).enumerate() {
        assert_eq!(
            got, want,
            "case {i}: reply not cut after its first stop token"
        );
    }
}
