//! Helpers shared by the golden tests: fixture paths and comparisons.
#![allow(dead_code, missing_docs, clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use attnprune_lm::device::CpuBackend;
use attnprune_lm::LanguageModel;
use attnprune_mask::{HeadId, HeadMask};
use serde_json::Value;
use std::path::PathBuf;

pub type B = CpuBackend;

/// Workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn fixture(rel: &str) -> Value {
    let path = root().join("tests/fixtures").join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// The SmolLM2 GGUF, or None (with a visible message) when it is absent.
pub fn smollm2_path() -> Option<PathBuf> {
    attnprune_testdata::smollm2(env!("CARGO_MANIFEST_DIR"))
}

pub fn load(path: &std::path::Path) -> LanguageModel<B> {
    LanguageModel::<B>::load(path, &Default::default()).unwrap()
}

pub fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

pub fn mask_of(model: &LanguageModel<B>, pruned: &Value) -> HeadMask {
    let heads: Vec<HeadId> = pruned
        .as_array()
        .unwrap()
        .iter()
        .map(|p| HeadId {
            layer: p[0].as_u64().unwrap() as usize,
            head: p[1].as_u64().unwrap() as usize,
        })
        .collect();
    HeadMask::from_pruned(model.model.config.head_layout(), &heads).unwrap()
}

/// Compares last-position logits with a fixture case: every sampled logit
/// within 1e-3 x max |logit|, and the same top-5 token ids.
pub fn check_logits_case(case: &Value, ours: &[f32]) {
    let name = case["name"].as_str().unwrap();
    let max_abs = case["max_abs_logit"].as_f64().unwrap();
    let tol = 1e-3 * max_abs;
    let sample_ids = ids(&case["sample_ids"]);
    let expected: Vec<f64> = case["sample_logits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    let mut worst = 0.0f64;
    for (id, want) in sample_ids.iter().zip(&expected) {
        worst = worst.max((ours[*id as usize] as f64 - want).abs());
    }
    assert!(worst <= tol, "{name}: max logit difference {worst} > {tol}");
    let top: Vec<u32> = case["top"]
        .as_array()
        .unwrap()
        .iter()
        .take(5)
        .map(|p| p[0].as_u64().unwrap() as u32)
        .collect();
    let mut order: Vec<usize> = (0..ours.len()).collect();
    order.sort_by(|&a, &b| ours[b].total_cmp(&ours[a]).then(a.cmp(&b)));
    let our_top: Vec<u32> = order.iter().take(5).map(|&i| i as u32).collect();
    assert_eq!(our_top, top, "{name}: top-5 tokens differ");
    eprintln!("{name}: max |diff| {worst:.2e} (tolerance {tol:.2e})");
}

/// The perplexity fixture (`smollm2/ppl.json`) and its text's windows as `model` tokenizes them.
pub fn ppl_fixture_windows(model: &LanguageModel<B>) -> (Value, Vec<Vec<u32>>) {
    let fixture = fixture("smollm2/ppl.json");
    let window = fixture["window"].as_u64().unwrap() as usize;
    let max_windows = fixture["max_windows"].as_u64().unwrap() as usize;
    let text_path = root().join(fixture["text_file"].as_str().unwrap());
    let text = std::fs::read_to_string(&text_path)
        .unwrap_or_else(|e| panic!("{}: {e}", text_path.display()));
    let ids = model.tokenizer.encode(&text, false).unwrap();
    assert_eq!(
        ids.len() as u64,
        fixture["num_text_tokens"].as_u64().unwrap(),
        "token count of {}",
        text_path.display()
    );
    let windows = attnprune_lm::perplexity::token_windows(&ids, window, Some(max_windows));
    assert_eq!(windows.len(), max_windows.min(ids.len() / window));
    (fixture, windows)
}
