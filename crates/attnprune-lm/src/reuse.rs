//! Reusing the unpruned model's lower layers across mask evaluations.
//!
//! A mask whose pruned heads all sit at layer `l` or above computes, in layers
//! `0..l`, exactly what the unpruned model computes. [`LayerReuse`] records, for
//! every forward call of one evaluation of the unpruned model, the hidden
//! states entering a few checkpoint layers; a later evaluation of a mask on the
//! *same sequence of calls* (same prompts, windows and batches) starts each
//! call at the last checkpoint at or below the mask's first pruned layer
//! instead of at the embedding. Single-head knockouts (FASP's scores, the
//! single-head samples of `sample`) skip about half the network this way; the
//! results are the same numbers, since the skipped layers would multiply every
//! head by a keep factor of exactly 1.
//!
//! Only teacher-forced calls can be replayed (perplexity windows, canned
//! replies): generated tokens depend on the mask, so generation never uses it.

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// What identifies a forward call: a replayed call must have the shape of the
/// recorded one, or it is computed from scratch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CallShape {
    /// Sequences in the batch.
    pub batch: usize,
    /// New tokens per sequence.
    pub tokens: usize,
    /// Positions already in the KV cache.
    pub cached: usize,
}

#[derive(Debug, Clone)]
struct RecordedCall<B: Backend> {
    shape: CallShape,
    /// `states[k]`: the hidden state entering layer `(k + 1) * stride`, `[batch, tokens, hidden]`.
    states: Vec<Tensor<B, 3>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Every call runs from the embedding.
    Off,
    /// Calls run from the embedding and store their checkpoint states.
    Record,
    /// Calls start at this checkpoint layer when their shape matches.
    Replay(usize),
}

/// The unpruned model's hidden states at checkpoint layers, per forward call
/// of one evaluation, and a cursor over them. One per evaluator (it is not
/// shared between threads); see the module documentation.
#[derive(Debug, Clone)]
pub struct LayerReuse<B: Backend> {
    num_layers: usize,
    hidden: usize,
    budget_bytes: usize,
    stride: usize,
    mode: Mode,
    calls: Vec<RecordedCall<B>>,
    bytes: usize,
    next_call: usize,
    complete: bool,
    exhausted: bool,
    mismatches: usize,
}

impl<B: Backend> LayerReuse<B> {
    /// Nothing recorded or replayed: every call runs from the embedding.
    pub fn off() -> Self {
        Self::new(0, 0, 0)
    }

    /// A reuse store for a model of `num_layers` layers of width `hidden`, that
    /// may hold at most `budget_bytes` of hidden states (0 = never record).
    pub fn new(num_layers: usize, hidden: usize, budget_bytes: usize) -> Self {
        Self {
            num_layers,
            hidden,
            budget_bytes,
            stride: 0,
            mode: Mode::Off,
            calls: Vec::new(),
            bytes: 0,
            next_call: 0,
            complete: false,
            exhausted: budget_bytes == 0,
            mismatches: 0,
        }
    }

    /// Whether a complete recording is held.
    pub fn is_recorded(&self) -> bool {
        self.complete
    }

    /// Whether recording is still worth trying: false when off, or once a
    /// recording has outgrown the budget (the evaluation is too large to keep).
    pub fn can_record(&self) -> bool {
        !self.exhausted
    }

    /// Layers between checkpoints of the current recording (0 before one).
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Bytes of hidden states held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Replayed calls whose shape differed from the recording (run from the
    /// embedding instead). Non-zero means the evaluation's calls were not
    /// repeatable, and a later call of that evaluation may have read a KV cache
    /// whose lower layers the replayed calls left empty: discard its results.
    pub fn mismatches(&self) -> usize {
        self.mismatches
    }

    /// Starts recording an evaluation of the unpruned model whose calls hold
    /// about `tokens` (batch x sequence) positions in all: picks the smallest
    /// stride whose checkpoints fit the budget. Returns false (and records
    /// nothing) when even one checkpoint in the middle would not fit.
    pub fn begin_record(&mut self, tokens: usize) -> bool {
        self.calls.clear();
        self.bytes = 0;
        self.complete = false;
        self.next_call = 0;
        let per_checkpoint = tokens.saturating_mul(self.hidden).saturating_mul(4).max(1);
        let affordable = self.budget_bytes / per_checkpoint;
        if self.exhausted || self.num_layers < 2 || affordable == 0 {
            self.mode = Mode::Off;
            self.exhausted = true;
            return false;
        }
        // Checkpoints at stride, 2*stride, ... < num_layers: (num_layers - 1) / stride of them.
        let stride = (1..self.num_layers)
            .find(|s| (self.num_layers - 1) / s <= affordable)
            .unwrap_or(self.num_layers);
        self.stride = stride;
        self.mode = Mode::Record;
        true
    }

    /// Ends the current recording or replay; a recording that stayed within
    /// its budget becomes replayable.
    pub fn finish(&mut self) {
        if self.mode == Mode::Record {
            self.complete = true;
        }
        self.mode = Mode::Off;
        self.next_call = 0;
    }

    /// Starts replaying for a mask whose first pruned layer is `first_pruned`
    /// (`None`: nothing pruned). Returns the layer calls will start at, or
    /// `None` (and replays nothing) when no checkpoint lies at or below it.
    pub fn begin_replay(&mut self, first_pruned: Option<usize>) -> Option<usize> {
        self.next_call = 0;
        self.mode = Mode::Off;
        if !self.complete || self.stride == 0 {
            return None;
        }
        let limit = first_pruned
            .unwrap_or(self.num_layers)
            .min(self.num_layers - 1);
        let start = limit / self.stride * self.stride;
        if start == 0 {
            return None;
        }
        self.mode = Mode::Replay(start);
        Some(start)
    }

    /// Called by the forward pass at the start of each call: the layer to start
    /// at and its input state, or `None` to run from the embedding.
    pub(crate) fn start_call(&mut self, shape: CallShape) -> Option<(usize, Tensor<B, 3>)> {
        match self.mode {
            Mode::Off => None,
            Mode::Record => {
                let bytes = shape.batch
                    * shape.tokens
                    * self.hidden
                    * 4
                    * ((self.num_layers - 1) / self.stride);
                if self.bytes + bytes > self.budget_bytes {
                    // Over budget: give the recording up rather than exceed it.
                    self.calls.clear();
                    self.bytes = 0;
                    self.mode = Mode::Off;
                    self.exhausted = true;
                    log::info!("layer reuse: the unpruned states exceed the budget of {} MiB; every mask runs all layers", self.budget_bytes >> 20);
                    return None;
                }
                self.bytes += bytes;
                self.calls.push(RecordedCall {
                    shape,
                    states: Vec::new(),
                });
                None
            }
            Mode::Replay(start) => {
                let call = self.next_call;
                self.next_call += 1;
                match self.calls.get(call) {
                    Some(rec) if rec.shape == shape => {
                        Some((start, rec.states[start / self.stride - 1].clone()))
                    }
                    _ => {
                        self.mismatches += 1;
                        None
                    }
                }
            }
        }
    }

    /// Called by the forward pass with the state entering `layer` (recording only). After a
    /// fan-out ([`crate::model::FanOut`]) the state holds a copy of the call's rows per mask:
    /// the first copy's rows are kept, so the group's first mask must prune nothing.
    pub(crate) fn offer(&mut self, layer: usize, state: &Tensor<B, 3>) {
        if self.mode == Mode::Record && layer > 0 && layer.is_multiple_of(self.stride) {
            if let Some(rec) = self.calls.last_mut() {
                let rows = rec.shape.batch;
                let kept = if state.dims()[0] > rows {
                    // A copy of its own (`* 1`, exact), not a view holding every mask's rows.
                    state.clone().narrow(0, 0, rows).mul_scalar(1.0)
                } else {
                    state.clone()
                };
                rec.states.push(kept);
            }
        }
    }
}
