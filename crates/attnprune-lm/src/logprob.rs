//! Log-probabilities of chosen tokens from logits, without the full
//! log-softmax: the scorers need ln p(token) at one token per scored
//! position, not all 49,152 of them.
//!
//! On the CPU backend each row's log-sum-exp is computed in one pass over the
//! row where the logits already lie (multi-threaded over rows); on other
//! backends (CUDA) the log-softmax and the gather run on the device, so only
//! the picked values cross to the host.

use crate::kernels;
use crate::model::host_f32;
use crate::LmError;
use burn::tensor::activation::log_softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

/// `ln softmax(logits[k])[targets[k]]` for each row `k` of `logits` `[rows, vocab]`.
pub fn picked_logprobs<B: Backend>(
    logits: Tensor<B, 2>,
    targets: &[u32],
) -> Result<Vec<f32>, LmError> {
    let [rows, vocab] = logits.dims();
    if rows != targets.len() {
        return Err(LmError::Usage(format!(
            "{rows} rows of logits but {} targets",
            targets.len()
        )));
    }
    if let Some(&bad) = targets.iter().find(|&&t| t as usize >= vocab) {
        return Err(LmError::Usage(format!(
            "target token {bad} is outside the vocabulary of {vocab}"
        )));
    }
    if rows == 0 {
        return Ok(Vec::new());
    }
    if crate::model::is_cpu_backend::<B>() {
        let data = logits.into_data().convert::<f32>();
        let values = match data.as_slice::<f32>() {
            Ok(v) => kernels::picked_log_softmax(v, vocab, targets),
            Err(_) => kernels::picked_log_softmax(&host_f32(data)?, vocab, targets),
        };
        return Ok(values);
    }
    on_device(logits, targets)
}

/// [`picked_logprobs`] through burn's ops: log-softmax and gather where the
/// logits lie, only the picked values copied out.
fn on_device<B: Backend>(logits: Tensor<B, 2>, targets: &[u32]) -> Result<Vec<f32>, LmError> {
    let device = logits.device();
    let ids: Vec<i64> = targets.iter().map(|&t| t as i64).collect();
    let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [targets.len(), 1]), &device);
    host_f32(log_softmax(logits, 1).gather(1, ids).into_data())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::CpuBackend;

    #[test]
    fn host_pass_matches_burn_log_softmax_and_gather() {
        let (rows, vocab) = (5, 1000);
        let values: Vec<f32> = (0..rows * vocab)
            .map(|i| ((i * 7919 % 1000) as f32 / 37.0).sin() * 9.0)
            .collect();
        let logits = Tensor::<CpuBackend, 2>::from_data(
            TensorData::new(values, [rows, vocab]),
            &Default::default(),
        );
        let targets = [0, 999, 17, 500, 3];
        let host = picked_logprobs(logits.clone(), &targets).unwrap();
        let device = on_device(logits, &targets).unwrap();
        for (a, b) in host.iter().zip(&device) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        assert!(picked_logprobs(
            Tensor::<CpuBackend, 2>::zeros([1, 4], &Default::default()),
            &[4]
        )
        .is_err());
    }
}
