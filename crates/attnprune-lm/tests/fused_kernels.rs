//! The fused CPU kernels (`attnprune_lm::kernels`, the default on the CPU
//! backend) against burn's generic ops (`LlamaModel::with_generic_ops`): the
//! same numbers, up to f32 rounding, on every path the tool runs: left
//! padding, KV cache and repeated caches, pruned heads, grouped-query
//! attention, query/key/value biases, greedy generation, layer reuse.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

use attnprune_lm::device::CpuBackend;
use attnprune_lm::generate::{generate, GenerationConfig, GenerationRequest, Sampling};
use attnprune_lm::reuse::LayerReuse;
use attnprune_lm::tiny::{random_weights, tiny_config};
use attnprune_lm::{AttentionOp, LlamaModel};
use attnprune_mask::{HeadId, HeadMask};
use paths::assert_close;

mod paths;

const VOCAB: usize = 300;

/// The tiny model with 4 layers; with `bias`, Qwen2-style q/k/v biases.
fn models(bias: bool) -> (LlamaModel<CpuBackend>, LlamaModel<CpuBackend>) {
    let mut config = tiny_config(VOCAB);
    config.num_layers = 4;
    config.attention_bias = bias;
    let mut weights = random_weights(&config, 5);
    if bias {
        paths::add_qkv_biases(&config, &mut weights);
    }
    let fused = LlamaModel::from_weights(config, weights, &Default::default()).unwrap();
    assert!(
        fused.uses_fused_kernels(),
        "the CPU backend runs the fused kernels"
    );
    let generic = fused.clone().with_generic_ops();
    assert!(!generic.uses_fused_kernels());
    (fused, generic)
}

/// The evaluation paths of `paths::evaluate_paths`, windows of 39 tokens.
fn evaluate(
    model: &LlamaModel<CpuBackend>,
    mask: &HeadMask,
    reuse: &mut LayerReuse<CpuBackend>,
) -> Vec<f64> {
    paths::evaluate_paths(model, mask, reuse, 39)
}

fn masks(model: &LlamaModel<CpuBackend>) -> Vec<HeadMask> {
    paths::three_masks(model.config.head_layout())
}

#[test]
fn fused_path_matches_generic_ops_on_every_evaluation_path() {
    for bias in [false, true] {
        let (fused, generic) = models(bias);
        for mask in masks(&fused) {
            let a = evaluate(&fused, &mask, &mut LayerReuse::off());
            let b = evaluate(&generic, &mask, &mut LayerReuse::off());
            assert_close(&a, &b, &format!("bias {bias}, mask {}", mask.key()));
        }
    }
}

/// Both of the generic path's attention ops (`--attention eager|backend`)
/// against the fused kernels, on every path: with cached keys the backend's op
/// gets the future spelt out in its mask, without them its causal flag.
#[test]
fn both_generic_attention_ops_match_the_fused_path() {
    for bias in [false, true] {
        let (fused, generic) = models(bias);
        for op in [AttentionOp::Eager, AttentionOp::Backend] {
            let generic = generic.clone().with_attention(op);
            assert_eq!(generic.attention_op(), op);
            for mask in masks(&fused) {
                let a = evaluate(&fused, &mask, &mut LayerReuse::off());
                let b = evaluate(&generic, &mask, &mut LayerReuse::off());
                assert_close(&a, &b, &format!("{op}, bias {bias}, mask {}", mask.key()));
            }
        }
    }
}

#[test]
fn fused_path_generates_the_same_greedy_replies() {
    let (fused, generic) = models(false);
    let masks = masks(&fused);
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
    let want = generate(&fused, &requests, &config).unwrap();
    for op in [AttentionOp::Auto, AttentionOp::Eager, AttentionOp::Backend] {
        let generic = generic.clone().with_attention(op);
        assert_eq!(
            want,
            generate(&generic, &requests, &config).unwrap(),
            "{op}"
        );
    }
}

#[test]
fn fused_layer_reuse_replays_bit_for_bit() {
    let (fused, _) = models(false);
    let layers = fused.config.num_layers;
    let unpruned = HeadMask::unpruned(fused.config.head_layout());
    let mut reuse = LayerReuse::new(layers, fused.config.hidden_size, 1 << 30);
    assert!(reuse.begin_record(200));
    evaluate(&fused, &unpruned, &mut reuse);
    reuse.finish();
    let mut late = unpruned.clone();
    late.set(
        HeadId {
            layer: layers - 1,
            head: 0,
        },
        true,
    )
    .unwrap();
    assert_eq!(
        evaluate(&fused, &late, &mut reuse),
        evaluate(&fused, &late, &mut LayerReuse::off())
    );
}
