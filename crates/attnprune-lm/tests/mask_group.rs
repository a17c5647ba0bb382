//! Multi-mask batching: a group of masks run together (shared lower layers,
//! then one copy of every row per mask) gives each mask the numbers it gets
//! alone, on the fused CPU path bit for bit, on burn's generic path to
//! rounding, and with the unpruned model's lower layers replayed.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use attnprune_lm::batch::MaskGroup;
use attnprune_lm::continuation::{continuation_logprobs, extend_context};
use attnprune_lm::device::CpuBackend;
use attnprune_lm::reuse::LayerReuse;
use attnprune_lm::tiny::{random_weights, tiny_config};
use attnprune_lm::LlamaModel;
use attnprune_mask::{HeadId, HeadMask};

mod paths;

const LAYERS: usize = 6;

fn model() -> LlamaModel<CpuBackend> {
    let mut config = tiny_config(300);
    config.num_layers = LAYERS;
    let weights = random_weights(&config, 23);
    LlamaModel::from_weights(config, weights, &Default::default()).unwrap()
}

fn knockout(model: &LlamaModel<CpuBackend>, heads: &[(usize, usize)]) -> HeadMask {
    let ids: Vec<HeadId> = heads
        .iter()
        .map(|&(layer, head)| HeadId { layer, head })
        .collect();
    HeadMask::from_pruned(model.config.head_layout(), &ids).unwrap()
}

/// Masks whose first pruned layers differ (so groups fan out at 0, 2, 3, 5 or never).
fn masks(model: &LlamaModel<CpuBackend>) -> Vec<HeadMask> {
    vec![
        knockout(model, &[(3, 1)]),
        HeadMask::unpruned(model.config.head_layout()),
        knockout(model, &[(5, 0), (4, 2)]),
        knockout(model, &[(2, 3), (5, 1)]),
        knockout(model, &[(0, 0), (1, 1), (4, 3)]),
    ]
}

fn alone(model: &LlamaModel<CpuBackend>, masks: &[&HeadMask]) -> Vec<Vec<f64>> {
    masks
        .iter()
        .map(|m| paths::evaluate_paths(model, m, &mut LayerReuse::off(), 17))
        .collect()
}

#[test]
fn a_group_gives_each_mask_its_own_numbers_bit_for_bit() {
    let model = model();
    assert!(model.uses_fused_kernels());
    let masks = masks(&model);
    let refs: Vec<&HeadMask> = masks.iter().collect();
    let expected = alone(&model, &refs);
    // Every contiguous group of 2..=5 masks: fan-outs at several layers, and at none.
    for size in 2..=refs.len() {
        for group in refs.windows(size) {
            let got = paths::evaluate_group_paths(&model, group, &mut LayerReuse::off(), 17);
            let start = refs
                .iter()
                .position(|m| std::ptr::eq(*m, group[0]))
                .unwrap();
            assert_eq!(
                got.as_slice(),
                &expected[start..start + size],
                "group of {size} from {start}"
            );
        }
    }
    // A group of masks that prune nothing fans out after the last layer.
    let unpruned = HeadMask::unpruned(model.config.head_layout());
    let got =
        paths::evaluate_group_paths(&model, &[&unpruned, &unpruned], &mut LayerReuse::off(), 17);
    assert_eq!(got, alone(&model, &[&unpruned, &unpruned]));
}

#[test]
fn a_group_on_the_generic_path_matches_its_masks_alone() {
    let model = model().with_generic_ops();
    let masks = masks(&model);
    let refs: Vec<&HeadMask> = masks.iter().collect();
    let expected = alone(&model, &refs);
    let got = paths::evaluate_group_paths(&model, &refs, &mut LayerReuse::off(), 17);
    for (m, (a, b)) in expected.iter().zip(&got).enumerate() {
        for (x, y) in a.iter().zip(b) {
            assert!(
                (x - y).abs() <= 1e-4 * x.abs().max(1.0),
                "mask {m}: {x} vs {y}"
            );
        }
    }
}

#[test]
fn a_group_replaying_the_unpruned_lower_layers_gives_the_same_numbers() {
    let model = model();
    let layout = model.config.head_layout();
    let mut reuse = LayerReuse::new(LAYERS, model.config.hidden_size, 1 << 30);
    assert!(reuse.begin_record(400));
    paths::evaluate_paths(&model, &HeadMask::unpruned(layout), &mut reuse, 17);
    reuse.finish();
    let masks = [
        knockout(&model, &[(3, 1)]),
        knockout(&model, &[(5, 0)]),
        knockout(&model, &[(4, 2), (2, 0)]),
    ];
    let refs: Vec<&HeadMask> = masks.iter().collect();
    let expected = alone(&model, &refs);
    let group = MaskGroup::new(&refs);
    assert_eq!(group.shared_layers(), 2);
    assert_eq!(reuse.begin_replay(Some(group.shared_layers())), Some(2));
    let got = paths::evaluate_group_paths(&model, &refs, &mut reuse, 17);
    reuse.finish();
    assert_eq!(reuse.mismatches(), 0);
    assert_eq!(got, expected);
}

#[test]
fn a_context_of_several_masks_is_not_continued_as_one() {
    let model = model();
    let masks = masks(&model);
    let refs: Vec<&HeadMask> = masks.iter().take(2).collect();
    let ctx = extend_context(
        &model,
        None,
        &[5, 6, 7],
        MaskGroup::new(&refs),
        &mut LayerReuse::off(),
    )
    .unwrap();
    let err = continuation_logprobs(&model, &ctx, &[vec![1, 2]], refs[0]).unwrap_err();
    assert!(err.to_string().contains("2 masks"), "{err}");
    let err =
        extend_context(&model, Some(&ctx), &[8], refs[0], &mut LayerReuse::off()).unwrap_err();
    assert!(err.to_string().contains("cannot be extended"), "{err}");
}
