//! Repeats one prefill shape for profiling: `prefill_loop MODEL BATCH SEQ ITERS [last|all]`.
#![allow(clippy::unwrap_used)] // a profiling tool: bad arguments end it
use attnprune_lm::batch::{head_keep_tensor, PaddedBatch};
use attnprune_lm::device::CpuBackend;
use attnprune_lm::{LanguageModel, Logits};
use attnprune_mask::HeadMask;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let lm =
        LanguageModel::<CpuBackend>::load(args[1].as_ref(), &Default::default()).expect("load");
    let (b, s, iters): (usize, usize, usize) = (
        args[2].parse().unwrap(),
        args[3].parse().unwrap(),
        args[4].parse().unwrap(),
    );
    let logits = if args.get(5).map(String::as_str) == Some("last") {
        Logits::Last
    } else {
        Logits::All
    };
    let layout = lm.model.config.head_layout();
    let bits: Vec<bool> = (0..layout.total())
        .map(|i| i % 9 == 4)
        .take(layout.total())
        .collect();
    let mask = HeadMask::from_bits(layout, bits).expect("mask");
    let seq: Vec<u32> = (0..s as u32).map(|i| 100 + i * 7).collect();
    let seqs: Vec<&[u32]> = vec![seq.as_slice(); b];
    let masks = vec![&mask; b];
    for it in 0..iters {
        let start = Instant::now();
        let batch = PaddedBatch::left_padded(&seqs, 0);
        let out = lm.model.forward(
            batch.to_forward(head_keep_tensor(&masks, &lm.model), lm.model.device()),
            None,
            logits,
        );
        let _ = out.into_data();
        let dt = start.elapsed().as_secs_f64();
        eprintln!(
            "iter {it}: {:.1} ms, {:.0} tokens/s",
            dt * 1e3,
            (b * s) as f64 / dt
        );
    }
}
