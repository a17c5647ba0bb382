//! Golden test: SmolLM2 perplexity on `ppl_text.txt` against HF transformers'
//! (`smollm2/ppl.json`, made by `tools/make_fixtures.py`), unpruned and under
//! the "few" and "many" head masks.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod common;

use attnprune_lm::perplexity::{sequence_nll, NllSum};
use common::*;

/// Windows scored per forward pass (keeps the `[batch, 128, vocab]` logits small).
const BATCH: usize = 4;
/// Largest accepted relative perplexity difference.
const REL_TOL: f64 = 2e-3;

#[test]
fn smollm2_perplexity_matches_transformers() {
    let Some(path) = smollm2_path() else { return };
    let model = load(&path);
    let (fixture, windows) = ppl_fixture_windows(&model);

    for case in fixture["cases"].as_array().unwrap() {
        let mask = mask_of(&model, &case["pruned"]);
        let mut total = NllSum::default();
        for chunk in windows.chunks(BATCH) {
            let seqs: Vec<&[u32]> = chunk.iter().map(Vec::as_slice).collect();
            let masks = vec![&mask; seqs.len()];
            for row in sequence_nll(&model.model, &seqs, &masks).unwrap() {
                total.add(row);
            }
        }
        let want_ppl = case["perplexity"].as_f64().unwrap();
        let want_count = case["num_predicted"].as_u64().unwrap() as usize;
        let ppl = total.perplexity();
        let rel = (ppl - want_ppl).abs() / want_ppl;
        eprintln!(
            "{} pruned heads: perplexity {ppl:.6} vs transformers {want_ppl:.6} (relative diff {rel:.2e}); nll {:.4} vs {:.4}",
            mask.num_pruned(),
            total.nll,
            case["nll_sum"].as_f64().unwrap()
        );
        assert_eq!(
            total.count,
            want_count,
            "{} pruned heads: number of predicted tokens",
            mask.num_pruned()
        );
        assert!(
            rel <= REL_TOL,
            "{} pruned heads: perplexity {ppl} vs {want_ppl}: relative diff {rel:.3e} > {REL_TOL}",
            mask.num_pruned()
        );
    }
}
