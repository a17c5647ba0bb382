//! Replaying the unpruned model's lower layers gives exactly the numbers of a
//! full forward pass, for every teacher-forced path the evaluator uses.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

use attnprune_lm::device::CpuBackend;
use attnprune_lm::perplexity::targeted_nll;
use attnprune_lm::reuse::LayerReuse;
use attnprune_lm::tiny::{random_weights, tiny_config};
use attnprune_lm::LlamaModel;
use attnprune_mask::{HeadId, HeadMask};

mod paths;

const LAYERS: usize = 6;

fn model() -> LlamaModel<CpuBackend> {
    let mut config = tiny_config(300);
    config.num_layers = LAYERS;
    let weights = random_weights(&config, 11);
    LlamaModel::from_weights(config, weights, &Default::default()).unwrap()
}

/// The evaluation paths of `paths::evaluate_paths`, windows of 19 tokens.
fn evaluate(
    model: &LlamaModel<CpuBackend>,
    mask: &HeadMask,
    reuse: &mut LayerReuse<CpuBackend>,
) -> Vec<f64> {
    paths::evaluate_paths(model, mask, reuse, 19)
}

fn recorded(model: &LlamaModel<CpuBackend>, budget: usize) -> LayerReuse<CpuBackend> {
    let mut reuse = LayerReuse::new(LAYERS, model.config.hidden_size, budget);
    assert!(reuse.begin_record(200));
    evaluate(
        model,
        &HeadMask::unpruned(model.config.head_layout()),
        &mut reuse,
    );
    reuse.finish();
    assert!(reuse.is_recorded());
    reuse
}

#[test]
fn replay_equals_full_forward_bit_for_bit() {
    let model = model();
    let layout = model.config.head_layout();
    let mut reuse = recorded(&model, 1 << 30);
    assert_eq!(reuse.stride(), 1, "a large budget keeps every layer");
    let masks = (0..LAYERS)
        .map(|layer| HeadMask::from_pruned(layout, &[HeadId { layer, head: 2 }]).unwrap())
        .chain([HeadMask::from_pruned(
            layout,
            &[
                HeadId { layer: 3, head: 0 },
                HeadId { layer: 5, head: 1 },
                HeadId { layer: 4, head: 3 },
            ],
        )
        .unwrap()])
        .chain([HeadMask::unpruned(layout)]);
    for mask in masks {
        let full = evaluate(&model, &mask, &mut LayerReuse::off());
        let start = reuse.begin_replay(mask.first_pruned_layer());
        assert_eq!(
            start,
            mask.first_pruned_layer()
                .or(Some(LAYERS - 1))
                .filter(|&l| l > 0),
            "{}",
            mask.key()
        );
        let replayed = evaluate(&model, &mask, &mut reuse);
        reuse.finish();
        assert_eq!(full, replayed, "mask {}", mask.key());
    }
    assert_eq!(reuse.mismatches(), 0);
}

#[test]
fn a_small_budget_widens_the_stride_and_a_tiny_one_turns_reuse_off() {
    let model = model();
    let layout = model.config.head_layout();
    // An estimate of 200 positions x 32 floats x 4 bytes per checkpoint; room for two of them:
    // the smallest stride with at most two checkpoints below 6 layers is 2 (layers 2 and 4).
    let per_checkpoint = 200 * 32 * 4;
    let reuse = recorded(&model, 2 * per_checkpoint);
    assert_eq!(reuse.stride(), 2);
    let mut reuse = reuse;
    let mask = HeadMask::from_pruned(layout, &[HeadId { layer: 5, head: 0 }]).unwrap();
    assert_eq!(reuse.begin_replay(mask.first_pruned_layer()), Some(4));
    assert_eq!(
        evaluate(&model, &mask, &mut reuse),
        evaluate(&model, &mask, &mut LayerReuse::off())
    );
    reuse.finish();

    let mut none = LayerReuse::<CpuBackend>::new(LAYERS, 32, per_checkpoint / 2);
    assert!(!none.begin_record(200));
    assert!(!none.can_record());
    // Calls larger than the estimate outgrow the budget: the recording is given up.
    let mut outgrown = LayerReuse::<CpuBackend>::new(LAYERS, 32, 5 * per_checkpoint / 100);
    assert!(outgrown.begin_record(1));
    evaluate(&model, &HeadMask::unpruned(layout), &mut outgrown);
    outgrown.finish();
    assert!(!outgrown.is_recorded() && !outgrown.can_record());
    assert_eq!(outgrown.begin_replay(Some(4)), None);
}

#[test]
fn calls_that_differ_from_the_recording_run_in_full() {
    let model = model();
    let layout = model.config.head_layout();
    let mut reuse = recorded(&model, 1 << 30);
    let mask = HeadMask::from_pruned(layout, &[HeadId { layer: 4, head: 1 }]).unwrap();
    reuse.begin_replay(mask.first_pruned_layer());
    // A different sequence of calls: only the windows.
    let windows: Vec<Vec<u32>> = vec![(1..30).collect()];
    let seqs: Vec<&[u32]> = windows.iter().map(Vec::as_slice).collect();
    let replayed = targeted_nll(&model, &seqs, &[&mask], &[1], &mut reuse).unwrap();
    let full = targeted_nll(&model, &seqs, &[&mask], &[1], &mut LayerReuse::off()).unwrap();
    assert_eq!(replayed[0].nll, full[0].nll);
    assert_eq!(reuse.mismatches(), 1);
}
