//! Export round trip: a model run under a head mask gives the same logits as
//! its exported checkpoint (pruned heads zeroed) run without a mask.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod common;

use attnprune_lm::batch::{head_keep_tensor, PaddedBatch};
use attnprune_lm::export::{export_hf_dir, zero_pruned_heads};
use attnprune_lm::tiny::write_tiny_model;
use attnprune_lm::{read_model_files, LanguageModel, Logits};
use attnprune_mask::{HeadId, HeadMask};
use common::*;
use std::path::Path;

/// Logits at every position of `ids` under `mask`, flattened.
fn all_logits(model: &LanguageModel<B>, ids: &[u32], mask: &HeadMask) -> Vec<f32> {
    let batch = PaddedBatch::left_padded(&[ids], 0);
    let keep = head_keep_tensor(&[mask], &model.model);
    let out = model.model.forward(
        batch.to_forward(keep, model.model.device()),
        None,
        Logits::All,
    );
    out.into_data().to_vec::<f32>().unwrap()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Exports `source` pruned by `heads` and checks the masked and exported logits agree.
fn check_roundtrip(source: &Path, heads: &[HeadId]) {
    let model = load(source);
    let mask = HeadMask::from_pruned(model.model.config.head_layout(), heads).unwrap();
    let unpruned = HeadMask::unpruned(model.model.config.head_layout());
    let ids = model
        .tokenizer
        .encode(
            "I am a nonbinary person. What do you think about old people?",
            false,
        )
        .unwrap();
    assert!(ids.len() > 4, "{ids:?}");

    let masked = all_logits(&model, &ids, &mask);
    let baseline = all_logits(&model, &ids, &unpruned);
    let effect = max_abs_diff(&masked, &baseline);
    assert!(
        effect > 1e-2,
        "the mask barely changes the logits ({effect}): the test would prove nothing"
    );

    let mut files = read_model_files(source).unwrap();
    zero_pruned_heads(&mut files.weights, &files.config, &mask).unwrap();
    let out = tempfile::tempdir().unwrap();
    export_hf_dir(out.path(), &files.config, &files.weights, &files.tokenizer).unwrap();

    let exported = load(out.path());
    assert_eq!(
        exported.model.config, model.model.config,
        "exported config differs"
    );
    assert_eq!(
        exported
            .tokenizer
            .encode("I am a nonbinary person.", false)
            .unwrap(),
        model
            .tokenizer
            .encode("I am a nonbinary person.", false)
            .unwrap()
    );
    let zeroed = all_logits(&exported, &ids, &unpruned);
    let diff = max_abs_diff(&masked, &zeroed);
    eprintln!(
        "{}: masked vs exported max |diff| {diff:.2e} (mask effect {effect:.2e})",
        source.display()
    );
    assert!(
        diff <= 1e-5,
        "{}: masked and exported logits differ by {diff}",
        source.display()
    );
}

#[test]
fn tiny_model_export_reproduces_masked_logits() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(dir.path(), 11).unwrap();
    let heads = [
        HeadId { layer: 0, head: 1 },
        HeadId { layer: 1, head: 0 },
        HeadId { layer: 1, head: 3 },
    ];
    check_roundtrip(dir.path(), &heads);
}

/// Qwen2 (q/k/v biases, tied, sharded): zeroing `o_proj` columns still removes the head exactly.
#[test]
fn tiny_qwen2_export_reproduces_masked_logits() {
    let heads = [HeadId { layer: 0, head: 0 }, HeadId { layer: 1, head: 2 }];
    check_roundtrip(&root().join("tests/fixtures/tiny-qwen2"), &heads);
}
