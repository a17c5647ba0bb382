//! What every mask-evaluating stage shares (`sample`, `fasp`): turning an evaluation into a
//! sample-table row. The worker threads that evaluate the masks are
//! [`attnprune_eval::pool::WorkerPool`].

use attnprune_artifact::samples::SampleColumns;
use attnprune_artifact::SampleRow;
use attnprune_eval::{Evaluator, MaskEvaluation};
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
