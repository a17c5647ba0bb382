//! What every mask-evaluating stage shares (`sample`, `fasp`): turning an evaluation into a
//! sample-table row, and evaluating a list of masks on worker threads that share one model.

use anyhow::{Context, Result};
use attnprune_artifact::samples::SampleColumns;
use attnprune_artifact::SampleRow;
use attnprune_eval::{EvalData, EvalSettings, Evaluator, MaskEvaluation};
use attnprune_lm::{DeviceSpec, LanguageModel};
use attnprune_mask::HeadMask;
use attnprune_measure::bias::AxisBias;
use burn::tensor::backend::Backend;

/// The measured columns of an evaluator's measurement.
pub fn columns_of<B: Backend>(evaluator: &Evaluator<'_, B>) -> SampleColumns {
    SampleColumns {
        axes: evaluator.axes().to_vec(),
        buckets: evaluator.buckets(),
        bucket_counts: evaluator.bucket_counts(),
    }
}

/// A sample-table row from an evaluation.
pub fn to_row(
    id: u64,
    origin: &str,
    mask: &HeadMask,
    eval: &MaskEvaluation,
    columns: &SampleColumns,
) -> SampleRow {
    SampleRow {
        mask_id: id,
        origin: origin.to_string(),
        mask: mask.clone(),
        bias: axis_values(&eval.axes, columns),
        bucket_means: bucket_values(&eval.axes, columns),
        logit_bias: axis_values(&eval.logit_axes, columns),
        logit_bucket_means: bucket_values(&eval.logit_axes, columns),
        perplexity: eval.perplexity,
        window_nll: eval.window_nll.clone(),
        eval_seconds: eval.seconds,
    }
}

fn axis_values(axes: &[AxisBias], columns: &SampleColumns) -> Vec<f64> {
    columns
        .axes
        .iter()
        .map(|a| {
            axes.iter()
                .find(|x| &x.axis == a)
                .map_or(f64::NAN, |x| x.bias)
        })
        .collect()
}

fn bucket_values(axes: &[AxisBias], columns: &SampleColumns) -> Vec<f64> {
    columns
        .buckets
        .iter()
        .map(|(a, b)| {
            let axis = axes.iter().find(|x| &x.axis == a);
            axis.and_then(|x| x.buckets.iter().find(|s| &s.bucket == b))
                .map_or(f64::NAN, |s| s.mean)
        })
        .collect()
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

/// Evaluators sharing one model, one per worker.
pub struct WorkerPool<'m, B: Backend> {
    evaluators: Vec<Evaluator<'m, B>>,
}

impl<'m, B: Backend> WorkerPool<'m, B> {
    /// `workers` evaluators (at least one) over the same model, data and settings.
    pub fn new(
        lm: &'m LanguageModel<B>,
        data: &EvalData,
        settings: &EvalSettings,
        workers: usize,
    ) -> Result<Self> {
        let evaluators = (0..workers.max(1))
            .map(|_| Evaluator::new(lm, data.clone(), settings.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { evaluators })
    }

    /// The first evaluator (for its axes, buckets, windows).
    pub fn first(&self) -> &Evaluator<'m, B> {
        &self.evaluators[0]
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.evaluators.len()
    }

    /// Evaluates up to [`WorkerPool::workers`] masks at once, one per worker thread; results in
    /// the order of `masks`. `label` names each mask in errors.
    ///
    /// One mask, or a backend other than the CPU, runs on the calling thread (the one that
    /// loaded the model): on CUDA a fresh thread is a fresh stream with its own memory pools,
    /// and evaluating each mask on a new thread over the loading thread's weights made
    /// burn-cuda 0.21 panic after a few masks ("Memory page 0 doesn't exist").
    pub fn evaluate_round(&mut self, masks: &[(u64, &HeadMask)]) -> Vec<Result<MaskEvaluation>> {
        let work = masks.iter().zip(self.evaluators.iter_mut());
        let evaluate = |(&(id, mask), evaluator): (&(u64, &HeadMask), &mut Evaluator<'m, B>)| {
            evaluator
                .evaluate(mask)
                .with_context(|| format!("evaluating mask {id}"))
        };
        if masks.len() == 1 || !attnprune_lm::device::is_cpu_backend::<B>() {
            return work
                .map(|item| {
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| evaluate(item)))
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("a mask evaluation panicked")))
                })
                .collect();
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = work
                .map(|item| scope.spawn(move || evaluate(item)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(anyhow::anyhow!("a mask-evaluation worker panicked"))
                    })
                })
                .collect()
        })
    }
}
