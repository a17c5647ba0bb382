//! Golden tests: our logits against HF transformers' (fixtures made by
//! `tools/make_fixtures.py`), unpruned and pruned.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod common;

use attnprune_lm::batch::{head_keep_tensor, PaddedBatch};
use attnprune_lm::Logits;
use common::*;
use std::path::Path;

fn last_logits(
    model: &attnprune_lm::LanguageModel<B>,
    ids: &[u32],
    mask: &attnprune_mask::HeadMask,
) -> Vec<f32> {
    let batch = PaddedBatch::left_padded(&[ids], 0);
    let keep = head_keep_tensor(&[mask], &model.model);
    let out = model.model.forward(
        batch.to_forward(keep, model.model.device()),
        None,
        Logits::Last,
    );
    out.into_data().to_vec::<f32>().unwrap()
}

fn check_model(model_path: &Path, fixture_rel: &str) {
    let model = load(model_path);
    let fixture = fixture(fixture_rel);
    for case in fixture["cases"].as_array().unwrap() {
        let mask = mask_of(&model, &case["pruned"]);
        let logits = last_logits(&model, &ids(&case["ids"]), &mask);
        check_logits_case(case, &logits);
    }
}

#[test]
fn tiny_llama_bf16_matches_transformers() {
    check_model(
        &root().join("tests/fixtures/tiny-llama"),
        "tiny-llama/logits.json",
    );
}

#[test]
fn tiny_qwen2_sharded_matches_transformers() {
    check_model(
        &root().join("tests/fixtures/tiny-qwen2"),
        "tiny-qwen2/logits.json",
    );
}

#[test]
fn tiny_mistral_f16_matches_transformers() {
    check_model(
        &root().join("tests/fixtures/tiny-mistral"),
        "tiny-mistral/logits.json",
    );
}

#[test]
fn smollm2_gguf_matches_transformers() {
    let Some(path) = smollm2_path() else { return };
    check_model(&path, "smollm2/logits.json");
}

#[test]
fn batched_left_padded_rows_match_single_rows() {
    let model = load(&root().join("tests/fixtures/tiny-qwen2"));
    let fixture = fixture("tiny-qwen2/logits.json");
    let cases: Vec<_> = fixture["cases"].as_array().unwrap().iter().collect();
    let seqs: Vec<Vec<u32>> = cases.iter().map(|c| ids(&c["ids"])).collect();
    let masks: Vec<_> = cases
        .iter()
        .map(|c| mask_of(&model, &c["pruned"]))
        .collect();
    let seq_refs: Vec<&[u32]> = seqs.iter().map(|s| s.as_slice()).collect();
    let mask_refs: Vec<_> = masks.iter().collect();
    let batch = PaddedBatch::left_padded(&seq_refs, 0);
    let keep = head_keep_tensor(&mask_refs, &model.model);
    let out = model.model.forward(
        batch.to_forward(keep, model.model.device()),
        None,
        Logits::Last,
    );
    let all = out.into_data().to_vec::<f32>().unwrap();
    let vocab = model.model.config.vocab_size;
    for (i, case) in cases.iter().enumerate() {
        check_logits_case(case, &all[i * vocab..(i + 1) * vocab]);
    }
}
