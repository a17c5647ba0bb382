//! Scoring continuations of a shared context without recomputing it: the
//! context is run once (its KV cache kept), then all continuations run as one
//! batch on top of the repeated cache. This is what the reply-likelihood
//! scorer pays per prompt, and why a shared system prompt costs nothing extra.

use crate::batch::{bool_tensor, head_keep_tensor, int_tensor, MaskGroup, PaddedBatch};
use crate::cache::KvCache;
use crate::model::{ForwardBatch, LlamaModel, Logits};
use crate::reuse::LayerReuse;
use crate::LmError;
use attnprune_mask::HeadMask;
use burn::tensor::activation::log_softmax;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// A context that has been run: its KV cache, length, and the log-probabilities
/// of the token that follows it (under each mask of the group it was run with).
#[derive(Debug, Clone)]
pub struct Context<B: Backend> {
    cache: KvCache<B>,
    len: usize,
    /// `[masks, vocab]`.
    next_logp: Vec<f32>,
    /// Masks it was run under ([`MaskGroup::len`]).
    masks: usize,
}

impl<B: Backend> Context<B> {
    /// Number of tokens in the context.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the context is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Runs `tokens` under the masks of `masks` (one [`HeadMask`], or a
/// [`MaskGroup`] run together) after `base` (or from scratch), keeping the
/// cache. A `base` must have been run under the same group.
///
/// `reuse` records or replays the unpruned model's lower layers ([`LayerReuse::off`] for neither).
pub fn extend_context<'m, B: Backend>(
    model: &LlamaModel<B>,
    base: Option<&Context<B>>,
    tokens: &[u32],
    masks: impl Into<MaskGroup<'m>>,
    reuse: &mut LayerReuse<B>,
) -> Result<Context<B>, LmError> {
    let group = masks.into();
    if let Some(b) = base.filter(|b| b.masks != group.len()) {
        return Err(LmError::Usage(format!(
            "a context run under {} masks cannot be extended under {}",
            b.masks,
            group.len()
        )));
    }
    if tokens.is_empty() {
        return base
            .cloned()
            .ok_or_else(|| LmError::Usage("empty context".into()));
    }
    let device = model.device();
    let mut cache = base
        .map(|c| c.cache.clone())
        .unwrap_or_else(|| KvCache::new(model.config.num_layers));
    let start = base.map(|c| c.len).unwrap_or(0);
    let n = tokens.len();
    let batch = ForwardBatch {
        tokens: int_tensor(tokens.iter().map(|&t| t as i64).collect(), 1, n, device),
        positions: int_tensor((start..start + n).map(|p| p as i64).collect(), 1, n, device),
        key_padding: None,
        head_keep: group.head_keep(1, model),
        fan_out: group.fan_out(),
    };
    let logits = model.forward_reusing(batch, Some(&mut cache), Logits::Last, reuse);
    let next_logp = to_vec(log_softmax(logits, 2))?;
    Ok(Context {
        cache,
        len: start + n,
        next_logp,
        masks: group.len(),
    })
}

/// Total log-probability of each continuation after `context`, under `mask`
/// (the mask the context was run with). Continuations must be non-empty.
pub fn continuation_logprobs<B: Backend>(
    model: &LlamaModel<B>,
    context: &Context<B>,
    continuations: &[Vec<u32>],
    mask: &HeadMask,
) -> Result<Vec<f64>, LmError> {
    if continuations.iter().any(Vec::is_empty) {
        return Err(LmError::Usage("a continuation is empty".into()));
    }
    if context.masks != 1 {
        return Err(LmError::Usage(format!(
            "continuations of a context run under {} masks: use prompt_reply_logprobs",
            context.masks
        )));
    }
    let first: Vec<f64> = continuations
        .iter()
        .map(|c| context.next_logp[c[0] as usize] as f64)
        .collect();
    let longest = continuations.iter().map(Vec::len).max().unwrap_or(0);
    if longest < 2 {
        return Ok(first);
    }
    // Feed tokens 0..len-1 of each continuation (right-padded: pads come after
    // every real token, so causal attention never lets a real token see them).
    let r = continuations.len();
    let width = longest - 1;
    let tokens: Vec<i64> = continuations
        .iter()
        .flat_map(|c| (0..width).map(move |j| c.get(j).copied().unwrap_or(0) as i64))
        .collect();
    let positions: Vec<i64> = (0..r)
        .flat_map(|_| (0..width).map(|j| (context.len + j) as i64))
        .collect();
    let device = model.device();
    let masks = vec![mask; r];
    let batch = ForwardBatch {
        tokens: int_tensor(tokens, r, width, device),
        positions: int_tensor(positions, r, width, device),
        key_padding: None,
        head_keep: head_keep_tensor(&masks, model),
        fan_out: None,
    };
    // Read-only: the replies' pass reads the context's cache, shared, not copied r times.
    let mut cache = if model.uses_fused_kernels() {
        context.cache.shared_read_only(r)
    } else {
        context.cache.repeat(r)
    };
    let (rows, targets) = reply_positions(continuations.iter().map(Vec::as_slice), width);
    let logp = model.forward_picked(
        batch,
        Some(&mut cache),
        (&rows, &targets),
        &mut LayerReuse::off(),
    )?;
    let mut sums = first;
    let mut next = logp.iter();
    for (i, c) in continuations.iter().enumerate() {
        sums[i] += (1..c.len())
            .filter_map(|_| next.next())
            .map(|&x| x as f64)
            .sum::<f64>();
    }
    Ok(sums)
}

/// The scored positions of replies run right-padded to `width` tokens (row
/// `i` holds tokens `0..len-1` of reply `i`; position `j` predicts token
/// `j + 1`), in order, with their target tokens.
fn reply_positions<'a>(
    replies: impl Iterator<Item = &'a [u32]>,
    width: usize,
) -> (Vec<usize>, Vec<u32>) {
    let mut rows = Vec::new();
    let mut targets = Vec::new();
    for (i, c) in replies.enumerate() {
        for (j, &token) in c.iter().enumerate().skip(1) {
            rows.push(i * width + j - 1);
            targets.push(token);
        }
    }
    (rows, targets)
}

/// Log-probabilities of every reply after every prompt, all prompts in two
/// batched passes: the prompts (each a suffix after the shared `base` context)
/// run left-padded in one batch, then every (prompt, reply) pair runs in a
/// second batch on top of its prompt's cache. Returns `[mask][prompt][reply]`
/// flattened to rows `m * prompts + i` (one mask: `[prompt][reply]`).
///
/// Same numbers as [`extend_context`] + [`continuation_logprobs`] per prompt
/// and mask (padding is masked), at a fraction of the passes: this is the
/// reply-likelihood scorer's inner loop. `masks`, `base` and `reuse` as in
/// [`extend_context`]; a [`MaskGroup`] runs its masks in the same two passes.
pub fn prompt_reply_logprobs<'m, B: Backend>(
    model: &LlamaModel<B>,
    base: Option<&Context<B>>,
    prompts: &[&[u32]],
    replies: &[Vec<u32>],
    masks: impl Into<MaskGroup<'m>>,
    reuse: &mut LayerReuse<B>,
) -> Result<Vec<Vec<f64>>, LmError> {
    let group = masks.into();
    if prompts.iter().any(|p| p.is_empty()) {
        return Err(LmError::Usage(
            "a prompt is empty after the shared prefix".into(),
        ));
    }
    if replies.is_empty() || replies.iter().any(Vec::is_empty) {
        return Err(LmError::Usage("a reply is empty".into()));
    }
    if let Some(b) = base.filter(|b| b.masks != group.len()) {
        return Err(LmError::Usage(format!(
            "a context run under {} masks cannot be continued under {}",
            b.masks,
            group.len()
        )));
    }
    if prompts.is_empty() {
        return Ok(Vec::new());
    }
    let device = model.device();
    let vocab = model.config.vocab_size;
    let (p, r, copies) = (prompts.len(), replies.len(), group.len());
    let base_len = base.map(|c| c.len).unwrap_or(0);
    // Pass 1: the prompts, left-padded, after the base cache (each of its rows, one per
    // mask above the shared layers, serving that mask's p prompts).
    let padded = PaddedBatch::left_padded(prompts, 0);
    let width = padded.tokens[0].len();
    let mut cache = match base {
        Some(c) => c.cache.repeat_interleave(p),
        None => KvCache::new(model.config.num_layers),
    };
    let prompt_padding: Vec<Vec<bool>> = padded
        .padding
        .iter()
        .map(|row| {
            std::iter::repeat_n(false, base_len)
                .chain(row.iter().copied())
                .collect()
        })
        .collect();
    let any_padding = padded.has_padding();
    let keys1 = base_len + width;
    let batch = ForwardBatch {
        tokens: int_tensor(
            padded.tokens.iter().flatten().map(|&t| t as i64).collect(),
            p,
            width,
            device,
        ),
        positions: int_tensor(
            padded
                .positions
                .iter()
                .flatten()
                .map(|&x| x + base_len as i64)
                .collect(),
            p,
            width,
            device,
        ),
        key_padding: any_padding.then(|| {
            bool_tensor(
                prompt_padding.iter().flatten().copied().collect(),
                p,
                keys1,
                device,
            )
        }),
        head_keep: group.head_keep(p, model),
        fan_out: group.fan_out(),
    };
    let first = to_vec(log_softmax(
        model.forward_reusing(batch, Some(&mut cache), Logits::Last, reuse),
        2,
    ))?;
    let mut out: Vec<Vec<f64>> = (0..copies * p)
        .map(|i| {
            replies
                .iter()
                .map(|c| first[i * vocab + c[0] as usize] as f64)
                .collect()
        })
        .collect();
    let longest = replies.iter().map(Vec::len).max().unwrap_or(0);
    if longest < 2 {
        return Ok(out);
    }
    // Pass 2: tokens 0..len-1 of every reply after every prompt (right-padded
    // among replies: those pads come after every real token, so no real token sees them).
    let w = longest - 1;
    let rows = p * r;
    // Read-only: every reply reads its prompt's cache, shared, not copied r times
    // (row `m * p * r + i * r + j` reads stored row `m * p + i`, below and above a fan-out).
    let mut cache = if model.uses_fused_kernels() {
        cache.shared_read_only(r)
    } else {
        cache.repeat_interleave(r)
    };
    let tokens: Vec<i64> = (0..p)
        .flat_map(|_| {
            replies
                .iter()
                .flat_map(|c| (0..w).map(move |j| c.get(j).copied().unwrap_or(0) as i64))
        })
        .collect();
    let positions: Vec<i64> = (0..p)
        .flat_map(|i| {
            let next = base_len + prompts[i].len();
            (0..r).flat_map(move |_| (0..w).map(move |j| (next + j) as i64))
        })
        .collect();
    let mut padding: Vec<bool> = Vec::with_capacity(rows * (keys1 + w));
    for row in &prompt_padding {
        for _ in 0..r {
            padding.extend(row.iter().copied().chain(std::iter::repeat_n(false, w)));
        }
    }
    let batch = ForwardBatch {
        tokens: int_tensor(tokens, rows, w, device),
        positions: int_tensor(positions, rows, w, device),
        key_padding: any_padding.then(|| bool_tensor(padding, rows, keys1 + w, device)),
        head_keep: group.head_keep(rows, model),
        fan_out: group.fan_out(),
    };
    let seqs = (0..copies * p).flat_map(|_| replies.iter().map(Vec::as_slice));
    let (scored, targets) = reply_positions(seqs, w);
    let logp = model.forward_picked(batch, Some(&mut cache), (&scored, &targets), reuse)?;
    let mut next = logp.iter();
    for row in out.iter_mut() {
        for (j, c) in replies.iter().enumerate() {
            row[j] += (1..c.len())
                .filter_map(|_| next.next())
                .map(|&x| x as f64)
                .sum::<f64>();
        }
    }
    Ok(out)
}

fn to_vec<B: Backend>(t: Tensor<B, 3>) -> Result<Vec<f32>, LmError> {
    crate::model::host_f32(t.into_data())
}
