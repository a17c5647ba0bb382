//! Times the packed CPU matrix product against burn's matmul (gemm) on the
//! shapes of SmolLM2: `packed_product [ROWS]`.
#![allow(clippy::unwrap_used, clippy::print_stdout)] // a timing tool
use attnprune_lm::device::CpuBackend;
use attnprune_lm::packed::PackedMatrix;
use burn::tensor::{Tensor, TensorData};
use std::time::Instant;

fn main() {
    let rows: usize = std::env::args().nth(1).map_or(1024, |a| a.parse().unwrap());
    let device = Default::default();
    for &(n, k) in &[
        (576, 576),
        (192, 576),
        (1536, 576),
        (576, 1536),
        (49152, 576),
    ] {
        let x: Vec<f32> = (0..rows * k)
            .map(|i| ((i % 97) as f32 - 48.0) * 0.01)
            .collect();
        let w: Vec<f32> = (0..n * k)
            .map(|i| ((i % 89) as f32 - 44.0) * 0.01)
            .collect();
        let packed = PackedMatrix::from_out_in(&w, n, k).unwrap();
        let wt =
            Tensor::<CpuBackend, 2>::from_data(TensorData::new(w, [n, k]), &device).transpose();
        let reps = (4e10 / (2.0 * (rows * n * k) as f64)).clamp(3.0, 2000.0) as usize;
        let mut best = [f64::MAX; 2];
        for _ in 0..3 {
            let t = Instant::now();
            for _ in 0..reps {
                std::hint::black_box(packed.matmul(&x));
            }
            best[0] = best[0].min(t.elapsed().as_secs_f64() / reps as f64);
            let t = Instant::now();
            for _ in 0..reps {
                let xt = Tensor::<CpuBackend, 2>::from_data(
                    TensorData::new(x.clone(), [rows, k]),
                    &device,
                );
                std::hint::black_box(xt.matmul(wt.clone()).into_data());
            }
            best[1] = best[1].min(t.elapsed().as_secs_f64() / reps as f64);
        }
        let gflop = 2.0 * (rows * n * k) as f64 / 1e9;
        println!(
            "{rows}x{k} @ {k}x{n}: packed {:.3} ms ({:.0} GFLOP/s), gemm {:.3} ms ({:.0} GFLOP/s), {:.2}x",
            best[0] * 1e3, gflop / best[0], best[1] * 1e3, gflop / best[1], best[1] / best[0]
        );
    }
}
