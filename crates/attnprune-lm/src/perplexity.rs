//! Perplexity under the project's contract: the text is tokenized without
//! special tokens and cut into consecutive windows of `window` tokens (a
//! trailing partial window is dropped); each window is scored alone;
//! perplexity = exp(mean negative log-likelihood over every predicted token).

use crate::batch::{head_keep_tensor, MaskGroup, PaddedBatch};
use crate::model::{FanOut, LlamaModel};
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
    if sequences.len() != masks.len() {
        return Err(LmError::Usage(format!(
            "{} sequences but {} masks",
            sequences.len(),
            masks.len()
        )));
    }
    let keep = head_keep_tensor(masks, model);
    nll_of_rows(model, sequences, first_target, (keep, None), reuse)
}

/// [`targeted_nll`] of every sequence under every mask of `group`, in one
/// forward call that shares the layers below the group's first pruned layer
/// ([`MaskGroup`]); `[mask][sequence]`.
pub fn grouped_nll<B: Backend>(
    model: &LlamaModel<B>,
    sequences: &[&[u32]],
    group: &MaskGroup<'_>,
    first_target: &[usize],
    reuse: &mut LayerReuse<B>,
) -> Result<Vec<Vec<NllSum>>, LmError> {
    let keep = group.head_keep(sequences.len(), model);
    let sums = nll_of_rows(
        model,
        sequences,
        first_target,
        (keep, group.fan_out()),
        reuse,
    )?;
    Ok(sums
        .chunks(sequences.len().max(1))
        .map(<[NllSum]>::to_vec)
        .collect())
}

/// The NLL sums of the rows of one forward call over `sequences`, fanned out
/// as asked (copy-major rows).
fn nll_of_rows<B: Backend>(
    model: &LlamaModel<B>,
    sequences: &[&[u32]],
    first_target: &[usize],
    (keep, fan_out): (Option<burn::tensor::Tensor<B, 3>>, Option<FanOut>),
    reuse: &mut LayerReuse<B>,
) -> Result<Vec<NllSum>, LmError> {
    if sequences.len() != first_target.len() {
        return Err(LmError::Usage(format!(
            "{} sequences but {} first targets",
            sequences.len(),
            first_target.len()
        )));
    }
    let copies = fan_out.map_or(1, |f| f.copies);
    if sequences.is_empty() {
        return Ok(Vec::new());
    }
    let batch = PaddedBatch::left_padded(sequences, 0);
    let s = batch.tokens[0].len();
    let n = sequences.len();
    // Scored positions only: position t predicts token t + 1 (padding and the
    // tokens before `first_target` are not scored). Copy c's rows follow copy c - 1's.
    let mut rows = Vec::new();
    let mut targets = Vec::new();
    let mut owner = Vec::new();
    for c in 0..copies {
        for (row, tokens) in batch.tokens.iter().enumerate() {
            let pad = s - sequences[row].len();
            let first = pad + first_target[row].max(1);
            for t in first.saturating_sub(1)..s - 1 {
                rows.push((c * n + row) * s + t);
                targets.push(tokens[t + 1]);
                owner.push(c * n + row);
            }
        }
    }
    let mut sums = vec![NllSum::default(); n * copies];
    if rows.is_empty() {
        return Ok(sums);
    }
    let mut forward = batch.to_forward(keep, model.device());
    forward.fan_out = fan_out;
    let values = model.forward_picked(forward, None, (&rows, &targets), reuse)?;
    for (&row, &logp) in owner.iter().zip(&values) {
        sums[row].nll -= logp as f64;
        sums[row].count += 1;
    }
    Ok(sums)
}
