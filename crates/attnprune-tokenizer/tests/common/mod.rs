//! Shared helpers for the integration tests: workspace paths, fixtures, the real model.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

/// Workspace-relative location of the SmolLM2 GGUF (git-ignored, not always present).
pub const SMOLLM2_GGUF: &str = "data/models/SmolLM2-135M-Instruct.Q4_1.gguf";

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A workspace-relative path made absolute.
pub fn root_path(rel: &str) -> PathBuf {
    workspace_root().join(rel)
}

/// Parsed JSON fixture at a workspace-relative path.
pub fn fixture(rel: &str) -> serde_json::Value {
    let path = root_path(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// The SmolLM2 GGUF path, or `None` after telling stderr why the caller skips.
pub fn smollm2_gguf(test: &str) -> Option<PathBuf> {
    let _ = test;
    attnprune_testdata::require(
        root_path(SMOLLM2_GGUF),
        "the SmolLM2 model",
        "run `make model`",
    )
}

/// `ids` field of a fixture case as `u32`s.
pub fn ids(case: &serde_json::Value) -> Vec<u32> {
    case["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect()
}
