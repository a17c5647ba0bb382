//! Times a few forward shapes on a model: `cargo run --release -p attnprune-lm --example forward_timing -- MODEL`.
#![allow(clippy::unwrap_used)] // a profiling tool: bad arguments end it
use attnprune_lm::batch::{head_keep_tensor, PaddedBatch};
use attnprune_lm::continuation::{continuation_logprobs, extend_context};
use attnprune_lm::device::CpuBackend;
use attnprune_lm::reuse::LayerReuse;
use attnprune_lm::{LanguageModel, Logits};
use attnprune_mask::HeadMask;
use std::time::Instant;

fn main() {
    let path = std::env::args().nth(1).expect("model path");
    let lm = LanguageModel::<CpuBackend>::load(path.as_ref(), &Default::default()).expect("load");
    let mask = HeadMask::unpruned(lm.model.config.head_layout());
    for (b, s) in [(1usize, 45usize), (16, 8), (8, 128), (1, 1)] {
        let seq: Vec<u32> = (0..s as u32).map(|i| 100 + i).collect();
        let seqs: Vec<&[u32]> = vec![seq.as_slice(); b];
        let masks = vec![&mask; b];
        for logits in [Logits::Last, Logits::All] {
            let start = Instant::now();
            for _ in 0..3 {
                let batch = PaddedBatch::left_padded(&seqs, 0);
                let out = lm.model.forward(
                    batch.to_forward(head_keep_tensor(&masks, &lm.model), lm.model.device()),
                    None,
                    logits,
                );
                let _ = out.into_data();
            }
            let dt = start.elapsed().as_secs_f64() / 3.0;
            eprintln!(
                "batch {b} x {s} {logits:?}: {:.1} ms, {:.0} tokens/s",
                dt * 1e3,
                (b * s) as f64 / dt
            );
        }
    }
    let prompt: Vec<u32> = (0..45).map(|i| 200 + i).collect();
    let replies: Vec<Vec<u32>> = (0..16)
        .map(|i| (0..8).map(|j| 300 + i * 8 + j).collect())
        .collect();
    let start = Instant::now();
    let ctx = extend_context(&lm.model, None, &prompt, &mask, &mut LayerReuse::off()).expect("ctx");
    let t1 = start.elapsed().as_secs_f64();
    let _ = continuation_logprobs(&lm.model, &ctx, &replies, &mask).expect("cont");
    eprintln!(
        "context {:.1} ms, continuations {:.1} ms",
        t1 * 1e3,
        (start.elapsed().as_secs_f64() - t1) * 1e3
    );
}
