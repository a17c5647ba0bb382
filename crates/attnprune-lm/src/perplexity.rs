//! Perplexity under the project's contract: the text is tokenized without
//! special tokens and cut into consecutive windows of `window` tokens (a
//! trailing partial window is dropped); each window is scored alone;
//! perplexity = exp(mean negative log-likelihood over every predicted token).

use crate::batch::{head_keep_tensor, PaddedBatch};
use crate::logprob::picked_logprobs;
use crate::model::LlamaModel;
use crate::reuse::LayerReuse;
use crate::LmError;
use attnprune_mask::HeadMask;
use burn::tensor::backend::Backend;

/// Consecutive windows of `window` tokens (the trailing partial one dropped), the first `max_windows`.
pub fn token_windows(ids: &[u32], window: usize, max_windows: Option<usize>) -> Vec<Vec<u32>> {
    if window < 2 {
        return Vec::new();
    }
    let all = ids.chunks_exact(window).map(<[u32]>::to_vec);
    match max_windows {
        Some(k) => all.take(k).collect(),
        None => all.collect(),
    }
}

/// A sum of negative log-likelihoods and how many tokens it covers.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct NllSum {
    /// Sum of -ln p(token), f64.
    pub nll: f64,
    /// Number of predicted tokens.
    pub count: usize,
}

impl NllSum {
    /// Adds another sum.
    pub fn add(&mut self, other: NllSum) {
        self.nll += other.nll;
        self.count += other.count;
    }

    /// exp(mean NLL); NaN when nothing was counted.
    pub fn perplexity(&self) -> f64 {
        if self.count == 0 {
            f64::NAN
        } else {
            (self.nll / self.count as f64).exp()
        }
    }
}

/// Teacher-forced NLL of each row: row `i` is `sequences[i]` run under
/// `masks[i]`; every token after the first is predicted. Rows may differ in
/// length (they are left-padded).
pub fn sequence_nll<B: Backend>(
    model: &LlamaModel<B>,
    sequences: &[&[u32]],
    masks: &[&HeadMask],
) -> Result<Vec<NllSum>, LmError> {
    targeted_nll(
        model,
        sequences,
        masks,
        &vec![1; sequences.len()],
        &mut LayerReuse::off(),
    )
}

/// Like [`sequence_nll`], but row `i` counts only the tokens from index
/// `first_target[i]` on (e.g. a reply's tokens after its prompt). `reuse`
/// records or replays the unpruned model's lower layers ([`LayerReuse::off`] for neither).
pub fn targeted_nll<B: Backend>(
    model: &LlamaModel<B>,
    sequences: &[&[u32]],
    masks: &[&HeadMask],
    first_target: &[usize],
    reuse: &mut LayerReuse<B>,
) -> Result<Vec<NllSum>, LmError> {
    if sequences.len() != masks.len() || sequences.len() != first_target.len() {
        return Err(LmError::Usage(format!(
            "{} sequences but {} masks",
            sequences.len(),
            masks.len()
        )));
    }
    if sequences.is_empty() {
        return Ok(Vec::new());
    }
    let batch = PaddedBatch::left_padded(sequences, 0);
    let keep = head_keep_tensor(masks, model);
    let s = batch.tokens[0].len();
    // Scored positions only: position t predicts token t + 1 (padding and the
    // tokens before `first_target` are not scored).
    let mut rows = Vec::new();
    let mut targets = Vec::new();
    let mut owner = Vec::new();
    for (row, tokens) in batch.tokens.iter().enumerate() {
        let pad = s - sequences[row].len();
        let first = pad + first_target[row].max(1);
        for t in first.saturating_sub(1)..s - 1 {
            rows.push(row * s + t);
            targets.push(tokens[t + 1]);
            owner.push(row);
        }
    }
    let mut sums = vec![NllSum::default(); sequences.len()];
    if rows.is_empty() {
        return Ok(sums);
    }
    let logits = model.forward_rows(batch.to_forward(keep, model.device()), None, &rows, reuse);
    let values = picked_logprobs(logits, &targets)?;
    for (&row, &logp) in owner.iter().zip(&values) {
        sums[row].nll -= logp as f64;
        sums[row].count += 1;
    }
    Ok(sums)
}
