//! Evaluating many masks: worker threads sharing one model, each evaluating a
//! group of masks per pass ([`Evaluator::evaluate_group`]). This is the
//! machinery of every mask-evaluating stage (`sample`, `fasp`, `apply`) and of
//! the benchmark that times it.

use crate::{reuse_floor, EvalData, EvalError, EvalSettings, Evaluator, MaskEvaluation};
use attnprune_lm::{DeviceSpec, LanguageModel};
use attnprune_mask::HeadMask;
use burn::tensor::backend::Backend;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

/// How a stage spreads its masks over the machine: worker threads, and masks per
/// forward pass. Neither changes a number, only the time (and the memory).
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct PoolArgs {
    /// Masks evaluated at the same time, each group by its own worker thread sharing one copy
    /// of the model. 0 = one per CPU core on `--device cpu` (much of a forward pass runs on
    /// one core, so a single worker leaves the other cores idle), 1 on a GPU.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub workers: usize,
    /// Masks each worker evaluates in the same forward calls (multi-mask batching): the
    /// prompts and windows of all of them in one batch, the layers below their first pruned
    /// layer run once for all. Memory per worker grows with it (the logits are computed in
    /// blocks of at most 256 MiB whatever M). 0 = the default for the device: 8 on the CPU
    /// (BENCHMARKS.md, workload 6), 1 on a GPU (batching there is not yet measured on a
    /// device; one mask of the 780-prompt protocol already fills batches of 256).
    #[arg(long, default_value_t = 0, value_name = "M")]
    pub masks_per_pass: usize,
}

impl PoolArgs {
    /// Workers on `device` ([`worker_count`]).
    pub fn workers(&self, device: DeviceSpec) -> usize {
        worker_count(self.workers, device)
    }

    /// Masks per pass on `device` (0 resolved to the device's default).
    pub fn masks_per_pass(&self, device: DeviceSpec) -> usize {
        match (self.masks_per_pass, device) {
            (0, DeviceSpec::Cpu) => 8,
            (0, _) => 1,
            (m, _) => m,
        }
    }
}

/// Workers for `--workers N`: 0 = one per CPU core on the CPU, 1 on a GPU.
pub fn worker_count(requested: usize, device: DeviceSpec) -> usize {
    match (requested, device) {
        (0, DeviceSpec::Cpu) => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        (0, _) => 1,
        (n, _) => n,
    }
}

/// Evaluators sharing one model, one per worker, each evaluating up to
/// `masks_per_pass` masks in the same forward calls.
pub struct WorkerPool<'m, B: Backend> {
    evaluators: Vec<Evaluator<'m, B>>,
    masks_per_pass: usize,
}

impl<'m, B: Backend> WorkerPool<'m, B> {
    /// `workers` evaluators (at least one) over the same model, data and settings, each
    /// evaluating `masks_per_pass` masks (at least one) per pass.
    pub fn new(
        lm: &'m LanguageModel<B>,
        data: &EvalData,
        settings: &EvalSettings,
        workers: usize,
        masks_per_pass: usize,
    ) -> Result<Self, EvalError> {
        let evaluators = (0..workers.max(1))
            .map(|_| Evaluator::new(lm, data.clone(), settings.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            evaluators,
            masks_per_pass: masks_per_pass.max(1),
        })
    }

    /// The first evaluator (for its axes, buckets, windows).
    pub fn first(&self) -> &Evaluator<'m, B> {
        &self.evaluators[0]
    }

    /// Evaluates every mask of `masks` and hands each result to `done` (on the calling
    /// thread, in the order they finish), stopping at the first error.
    ///
    /// The masks are cut into groups of up to `masks_per_pass` ([`plan_groups`]: masks
    /// whose replayed or shared lower layers are the same) and each worker thread takes the
    /// next group as soon as it is free, so a cheap group never waits for a dear one. The
    /// numbers do not depend on the grouping or on which worker evaluates a mask; only a
    /// result's `seconds` (its group's time shared equally) does. `id`s name the masks in
    /// errors and in `done`.
    ///
    /// One worker, or a backend other than the CPU, runs on the calling thread (the one that
    /// loaded the model): on CUDA a fresh thread is a fresh stream with its own memory pools,
    /// and evaluating each mask on a new thread over the loading thread's weights made
    /// burn-cuda 0.21 panic after a few masks ("Memory page 0 doesn't exist").
    pub fn evaluate_all<E>(
        &mut self,
        masks: &[(u64, &HeadMask)],
        mut done: impl FnMut(u64, MaskEvaluation) -> Result<(), E>,
    ) -> Result<(), E>
    where
        E: From<EvalError>,
    {
        let Some(first) = masks.first() else {
            return Ok(());
        };
        let layout = first.1.layout();
        let groups = plan_groups(masks, self.masks_per_pass, reuse_floor(layout.num_layers));
        let evaluate = |evaluator: &mut Evaluator<'m, B>, group: &[usize]| {
            let group_masks: Vec<&HeadMask> = group.iter().map(|&i| masks[i].1).collect();
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                evaluator.evaluate_group(&group_masks)
            }))
            .unwrap_or_else(|_| Err(EvalError::Usage("a mask evaluation panicked".into())));
            result.map_err(|e| {
                let ids: Vec<String> = group.iter().map(|&i| masks[i].0.to_string()).collect();
                EvalError::Masks {
                    ids: ids.join(", "),
                    source: Box::new(e),
                }
            })
        };
        if self.evaluators.len() == 1 || !attnprune_lm::device::is_cpu_backend::<B>() {
            let evaluator = &mut self.evaluators[0];
            for group in &groups {
                for (&i, eval) in group.iter().zip(evaluate(evaluator, group)?) {
                    done(masks[i].0, eval)?;
                }
            }
            return Ok(());
        }
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let (sender, results) = mpsc::channel();
            for evaluator in self.evaluators.iter_mut() {
                let sender = sender.clone();
                let (next, stop, groups) = (&next, &stop, &groups);
                scope.spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let Some(group) = groups.get(next.fetch_add(1, Ordering::Relaxed)) else {
                            break;
                        };
                        let result = evaluate(evaluator, group);
                        if sender.send((group, result)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(sender);
            let mut outcome = Ok(());
            for (group, result) in results {
                let step = result.map_err(E::from).and_then(|evals| {
                    group
                        .iter()
                        .zip(evals)
                        .try_for_each(|(&i, eval)| done(masks[i].0, eval))
                });
                if let Err(e) = step {
                    stop.store(true, Ordering::Relaxed);
                    outcome = Err(e);
                    break;
                }
            }
            outcome
        })
    }

    /// [`WorkerPool::evaluate_all`] collecting the results in the order of `masks`.
    pub fn evaluate_many(
        &mut self,
        masks: &[(u64, &HeadMask)],
    ) -> Result<Vec<MaskEvaluation>, EvalError> {
        let mut out: Vec<Option<MaskEvaluation>> = (0..masks.len()).map(|_| None).collect();
        let index: std::collections::HashMap<u64, usize> = masks
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (*id, i))
            .collect();
        self.evaluate_all(masks, |id, eval| {
            if let Some(&i) = index.get(&id) {
                out[i] = Some(eval);
            }
            Ok::<(), EvalError>(())
        })?;
        out.into_iter()
            .map(|e| e.ok_or_else(|| EvalError::Usage("a mask was not evaluated".into())))
            .collect()
    }
}

/// The groups `masks` are evaluated in (indices into `masks`), in the order workers take
/// them: at most `per_pass` masks each (a class split evenly), every group's masks of one
/// class, so that no mask runs a layer it would have skipped alone
/// ([`Evaluator::evaluate_group`] runs a group from its lowest pruned layer):
/// - masks whose first pruned layer is below `floor` (no layer reuse alone: every layer
///   runs) form one class, the dearest, taken first;
/// - masks whose first pruned layer is `l >= floor` form class `l`, taken from the
///   shallowest (dearest) to the deepest;
/// - the unpruned mask leads the first group, so its evaluation records the unpruned
///   model for layer reuse as it runs (when there is room; several copies of it form
///   groups of their own, first).
///
/// Within a class, masks keep their order in `masks`.
pub fn plan_groups(masks: &[(u64, &HeadMask)], per_pass: usize, floor: usize) -> Vec<Vec<usize>> {
    let per_pass = per_pass.max(1);
    let class = |i: usize| match masks[i].1.first_pruned_layer() {
        Some(l) if l >= floor => l,
        _ => 0,
    };
    let (unpruned, mut pruned): (Vec<usize>, Vec<usize>) =
        (0..masks.len()).partition(|&i| masks[i].1.num_pruned() == 0);
    pruned.sort_by_key(|&i| class(i));
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for members in pruned.chunk_by(|&a, &b| class(a) == class(b)) {
        split_evenly(members, per_pass, &mut groups);
    }
    match unpruned.as_slice() {
        [] => {}
        [one] if groups.first().is_some_and(|g| g.len() < per_pass) => groups[0].insert(0, *one),
        all => {
            let mut lead = Vec::new();
            split_evenly(all, per_pass, &mut lead);
            groups.splice(0..0, lead);
        }
    }
    groups
}

/// `members` in as few groups of at most `per_pass` as possible, of near-equal sizes
/// (9 masks at 8 per pass: 5 + 4, not 8 + 1), appended to `groups`.
fn split_evenly(members: &[usize], per_pass: usize, groups: &mut Vec<Vec<usize>>) {
    let count = members.len().div_ceil(per_pass);
    let mut rest = members;
    for k in 0..count {
        let (group, tail) = rest.split_at(rest.len().div_ceil(count - k));
        groups.push(group.to_vec());
        rest = tail;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use attnprune_mask::{HeadId, HeadLayout};

    /// Masks numbered 0, 1, ... as the pool takes them.
    fn numbered(masks: &[HeadMask]) -> Vec<(u64, &HeadMask)> {
        masks
            .iter()
            .enumerate()
            .map(|(i, m)| (i as u64, m))
            .collect()
    }

    #[test]
    fn groups_keep_each_mask_with_masks_that_skip_the_same_layers() {
        let layout = HeadLayout::new(8, 2);
        let knockout = |layer| HeadMask::from_pruned(layout, &[HeadId { layer, head: 0 }]).unwrap();
        let masks = [
            knockout(5),
            knockout(0),
            HeadMask::unpruned(layout),
            knockout(5),
            knockout(1),
            knockout(3),
            knockout(5),
            knockout(0),
        ];
        let ids = numbered(&masks);
        // Floor 2: layers 0 and 1 run everything (class 0, first), then layer 3, then 5.
        assert_eq!(
            plan_groups(&ids, 2, 2),
            vec![vec![2], vec![1, 4], vec![7], vec![5], vec![0, 3], vec![6]]
        );
        // The unpruned mask leads the first group when it has room.
        assert_eq!(
            plan_groups(&ids, 4, 2),
            vec![vec![2, 1, 4, 7], vec![5], vec![0, 3, 6]]
        );
        assert_eq!(
            plan_groups(&ids, 1, 2).concat(),
            vec![2, 1, 4, 7, 5, 0, 3, 6]
        );
        // A class of 5 at 4 per pass: 3 + 2.
        let five = [
            knockout(4),
            knockout(4),
            knockout(4),
            knockout(4),
            knockout(4),
        ];
        let ids5 = numbered(&five);
        assert_eq!(plan_groups(&ids5, 4, 2), vec![vec![0, 1, 2], vec![3, 4]]);
        // Two unpruned masks: a group of their own, first.
        let twice = [(0, &masks[2]), (1, &masks[0]), (2, &masks[2])];
        assert_eq!(plan_groups(&twice, 4, 2), vec![vec![0, 2], vec![1]]);
        assert!(plan_groups(&[], 3, 2).is_empty());
    }
}
