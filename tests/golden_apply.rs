#![allow(clippy::unwrap_used)]
//! Golden test of the perplexity contract through the `apply` command line:
//! `apply --metrics ppl` on SmolLM2 reports `perplexity.unpruned` and
//! `perplexity.pruned` within 0.2% of HF transformers' on the same windows
//! (`tests/fixtures/smollm2/ppl.json`, made by `tools/make_fixtures.py`), for
//! every mask of the fixture. Skipped, with a message, only when the model
//! file is absent (`make test` fetches it).

mod common;

use common::root;
use serde_json::Value;
use std::process::Command;

/// The perplexity contract's tolerance (issue: "within 0.2%").
const REL_TOL: f64 = 2e-3;

#[test]
fn apply_perplexity_matches_transformers() {
    let Some(model) = attnprune_testdata::smollm2(env!("CARGO_MANIFEST_DIR")) else {
        return;
    };
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("tests/fixtures/smollm2/ppl.json")).unwrap(),
    )
    .unwrap();
    let cases = fixture["cases"].as_array().unwrap();
    let unpruned_want = cases
        .iter()
        .find(|c| c["pruned"].as_array().unwrap().is_empty())
        .expect("an unpruned case")["perplexity"]
        .as_f64()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for (i, case) in cases
        .iter()
        .enumerate()
        .filter(|(_, c)| !c["pruned"].as_array().unwrap().is_empty())
    {
        let mask_path = dir.path().join(format!("mask-{i}.json"));
        let mask =
            serde_json::json!({ "num_layers": 30, "num_heads": 9, "pruned": case["pruned"] });
        std::fs::write(&mask_path, mask.to_string()).unwrap();
        let out = dir.path().join(format!("report-{i}.json"));
        let status = Command::new(env!("CARGO_BIN_EXE_apply"))
            .current_dir(root())
            .env("RUST_LOG", "warn")
            .args([
                "--model",
                model.to_str().unwrap(),
                "--mask",
                mask_path.to_str().unwrap(),
                "--metrics",
                "ppl",
            ])
            .args(["--ppl-text", fixture["text_file"].as_str().unwrap()])
            .args([
                "--ppl-window",
                &fixture["window"].to_string(),
                "--ppl-max-windows",
                &fixture["max_windows"].to_string(),
            ])
            .args(["--out", out.to_str().unwrap()])
            .status()
            .unwrap();
        assert!(status.success(), "apply failed on case {i}");
        let report: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        let got_unpruned = report["perplexity"]["unpruned"]
            .as_f64()
            .expect("perplexity.unpruned");
        let got_pruned = report["perplexity"]["pruned"]
            .as_f64()
            .expect("perplexity.pruned");
        let want = case["perplexity"].as_f64().unwrap();
        for (what, got, want) in [
            ("unpruned", got_unpruned, unpruned_want),
            ("pruned", got_pruned, want),
        ] {
            let rel = (got - want).abs() / want;
            eprintln!("case {i} {what}: apply {got:.5} vs transformers {want:.5} (relative diff {rel:.2e})");
            assert!(rel <= REL_TOL, "case {i} {what}: apply says {got}, transformers {want}: relative diff {rel:.3e} > {REL_TOL}");
        }
        checked += 1;
    }
    assert!(
        checked >= 2,
        "the fixture should hold at least two pruned masks"
    );
}
