//! attnprune's own GPU kernels (`attnprune_lm::cube`: RMSNorm, rotary,
//! SwiGLU, eager attention's masked softmax, on by default on burn's plain
//! CUDA and wgpu backends) against burn's generic ops on the same device
//! (`LlamaModel::with_generic_ops`), on burn-wgpu in f32: the same numbers,
//! up to f32 rounding, on every evaluation path (left padding, KV cache and
//! repeated caches, pruned heads, several masks per pass, grouped queries,
//! biases), and the same greedy replies. Runs in `make test-wgpu`, on Mesa's
//! llvmpipe where there is no GPU (`--features wgpu`; without it, or with
//! burn's fusion (`wgpu-tuned`), where the kernels do not run, this file is
//! empty).
#![cfg(all(feature = "wgpu", not(feature = "wgpu-tuned")))]
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

use attnprune_lm::generate::{generate, GenerationConfig, GenerationRequest, Sampling};
use attnprune_lm::perplexity::targeted_nll;
use attnprune_lm::reuse::LayerReuse;
use attnprune_lm::tiny::{random_weights, tiny_config};
use attnprune_lm::{run_on_device, AttentionOp, DeviceSpec, LlamaConfig, LlamaModel, OnDevice};
use attnprune_mask::HeadMask;
use burn::tensor::backend::Backend;
use paths::assert_close;

mod paths;

const VOCAB: usize = 300;

/// A tiny model's shape: `(hidden, heads, kv_heads)`. 32/4/2 is the tests'
/// usual tiny model (head_dim 8: a scale of 1/sqrt(8), applied to the
/// scores); 96/6/2 has head_dim 16 (a power-of-two scale, applied to the
/// queries), 3 query heads per key head and rows wider than a reducing cube.
const SHAPES: [(usize, usize, usize); 2] = [(32, 4, 2), (96, 6, 2)];

fn config((hidden, heads, kv_heads): (usize, usize, usize), bias: bool) -> LlamaConfig {
    let mut config = tiny_config(VOCAB);
    config.num_layers = 3;
    config.hidden_size = hidden;
    config.intermediate_size = 2 * hidden;
    config.num_heads = heads;
    config.num_kv_heads = kv_heads;
    config.head_dim = hidden / heads;
    config.attention_bias = bias;
    config
}

/// The model with the GPU kernels, and the same weights on burn's generic
/// ops, both with eager attention (in f32 the default is burn's attention
/// op, which the masked-softmax kernel does not replace).
fn models<B: Backend>(config: LlamaConfig, device: &B::Device) -> (LlamaModel<B>, LlamaModel<B>) {
    let mut weights = random_weights(&config, 5);
    if config.attention_bias {
        paths::add_qkv_biases(&config, &mut weights);
    }
    let kernels = LlamaModel::<B>::from_weights(config, weights, device)
        .unwrap()
        .with_attention(AttentionOp::Eager);
    assert!(
        kernels.uses_gpu_kernels(),
        "burn-wgpu without fusion runs attnprune's GPU kernels by default"
    );
    let generic = kernels.clone().with_generic_ops();
    assert!(!generic.uses_gpu_kernels());
    (kernels, generic)
}

fn masks(config: &LlamaConfig) -> Vec<HeadMask> {
    paths::three_masks(config.head_layout())
}

/// Each check runs as a task on the wgpu-gl device.
struct EvaluationPaths;

impl OnDevice for EvaluationPaths {
    type Output = ();
    fn run<B: Backend>(self, device: B::Device) {
        for shape in SHAPES {
            for bias in [false, true] {
                let config = config(shape, bias);
                let (kernels, generic) = models::<B>(config.clone(), &device);
                let masks = masks(&config);
                // Windows of 100 tokens: rows of keys wider than a reducing cube.
                for window in [39, 100] {
                    for mask in &masks {
                        let a =
                            paths::evaluate_paths(&kernels, mask, &mut LayerReuse::off(), window);
                        let b =
                            paths::evaluate_paths(&generic, mask, &mut LayerReuse::off(), window);
                        let what = format!(
                            "{shape:?}, bias {bias}, window {window}, mask {}",
                            mask.key()
                        );
                        assert_close(&a, &b, &what);
                    }
                }
                // All masks in one pass: the rows fanned out per mask.
                let all: Vec<&HeadMask> = masks.iter().collect();
                let a = paths::evaluate_group_paths(&kernels, &all, &mut LayerReuse::off(), 39);
                let b = paths::evaluate_group_paths(&generic, &all, &mut LayerReuse::off(), 39);
                for (m, (a, b)) in a.iter().zip(&b).enumerate() {
                    assert_close(a, b, &format!("{shape:?}, bias {bias}, group mask {m}"));
                }
            }
        }
    }
}

#[test]
fn gpu_kernels_match_generic_ops_on_every_evaluation_path() {
    run_on_device(DeviceSpec::WgpuGl, EvaluationPaths).unwrap();
}

struct GreedyReplies;

impl OnDevice for GreedyReplies {
    type Output = ();
    fn run<B: Backend>(self, device: B::Device) {
        let config = config(SHAPES[1], false);
        let (kernels, generic) = models::<B>(config.clone(), &device);
        let masks = masks(&config);
        let prompts: Vec<Vec<u32>> = vec![vec![7, 8, 9, 10, 11], vec![200], vec![3, 1, 4, 1, 5, 9]];
        let requests: Vec<GenerationRequest<'_>> = prompts
            .iter()
            .zip(masks.iter().cycle())
            .map(|(p, mask)| GenerationRequest {
                prompt: p,
                mask,
                seed: 0,
            })
            .collect();
        let config = GenerationConfig {
            max_new_tokens: 12,
            sampling: Sampling::Greedy,
            stop_ids: Vec::new(),
        };
        assert_eq!(
            generate(&kernels, &requests, &config).unwrap(),
            generate(&generic, &requests, &config).unwrap()
        );
    }
}

#[test]
fn gpu_kernels_generate_the_same_greedy_replies() {
    run_on_device(DeviceSpec::WgpuGl, GreedyReplies).unwrap();
}

/// One forward over more rows than a grid dimension holds (65,535 cubes on
/// wgpu): the row kernels' cube counts are split over two dimensions, and
/// each cube must still find its row (at batch 256 × 128 tokens SmolLM2's
/// softmax has 294,912 rows, its RMSNorm 32,768).
struct ManyRows;

impl OnDevice for ManyRows {
    type Output = ();
    fn run<B: Backend>(self, device: B::Device) {
        let config = config(SHAPES[0], false);
        let (kernels, generic) = models::<B>(config.clone(), &device);
        let masks = masks(&config);
        // 700 windows of 100 tokens: 70,000 RMSNorm rows, 280,000 softmax rows.
        let windows: Vec<Vec<u32>> = (0..700u32)
            .map(|w| (0..100).map(|t| (w * 7 + t * 13) % VOCAB as u32).collect())
            .collect();
        let seqs: Vec<&[u32]> = windows.iter().map(Vec::as_slice).collect();
        let row_masks: Vec<&HeadMask> = (0..seqs.len()).map(|i| &masks[i % masks.len()]).collect();
        let starts = vec![1; seqs.len()];
        let nll = |model: &LlamaModel<B>| -> Vec<f64> {
            targeted_nll(model, &seqs, &row_masks, &starts, &mut LayerReuse::off())
                .unwrap()
                .iter()
                .map(|n| n.nll)
                .collect()
        };
        assert_close(&nll(&kernels), &nll(&generic), "700 windows of 100 tokens");
    }
}

#[test]
fn gpu_kernels_find_their_rows_past_one_grid_dimension() {
    run_on_device(DeviceSpec::WgpuGl, ManyRows).unwrap();
}
