//! "Evaluate this mask": the one function `sample`, `fasp` and `apply` share.
//!
//! An [`Evaluator`] holds a loaded model, the prompts (tokenized once, chat
//! formatted for instruct models), the utility text cut into perplexity
//! windows, and a reply scorer. [`Evaluator::evaluate`] runs the model with a
//! head mask and returns bias per axis (with bucket means and a bootstrap
//! interval) and perplexity.
//!
//! [`device_check`]: a device's numbers against a reference's, and its throughput.
//! [`noise`]: the noise study of the bias measurement (its evaluations, figures and report).
//! [`pool`]: worker threads sharing one model, each evaluating a group of masks per pass.
//! [`prepare`]: the stage options shared by every model-running stage and the benchmarks,
//! and the reading of what they name into an evaluation's inputs.

pub mod device_check;
pub mod noise;
pub mod pool;
pub mod prepare;
mod scoring;

pub use scoring::{ClassifierSettings, ScorerKind};

use attnprune_lm::batch::MaskGroup;
use attnprune_lm::generate::{GenerationConfig, Sampling};
use attnprune_lm::perplexity::{grouped_nll, token_windows, NllSum};
use attnprune_lm::reuse::LayerReuse;
use attnprune_lm::{ChatMessage, LanguageModel, LmError};
use attnprune_mask::HeadMask;
use attnprune_measure::bias::{axis_bias, AxisBias, Bootstrap};
use attnprune_measure::prompts::Prompt;
use attnprune_measure::replies::CannedReplies;
use attnprune_measure::MeasureError;
use burn::tensor::backend::Backend;
use serde::Serialize;
use std::time::Instant;

/// Errors of mask evaluation.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The model failed.
    #[error(transparent)]
    Model(#[from] LmError),
    /// Measurement (scoring, bias) failed.
    #[error(transparent)]
    Measure(#[from] MeasureError),
    /// The inputs cannot be evaluated as asked.
    #[error("{0}")]
    Usage(String),
    /// The evaluation of these masks (a group evaluated together) failed.
    #[error("evaluating mask(s) {ids}: {source}")]
    Masks {
        /// The masks' ids, comma-separated.
        ids: String,
        /// What failed.
        source: Box<EvalError>,
    },
}

/// How a mask is measured; fixed for a run and recorded in provenance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalSettings {
    /// How replies are scored.
    pub scorer: ScorerKind,
    /// Wrap prompts in the model's chat template (when it has one).
    pub chat: bool,
    /// Reply generation (sentiment scorer).
    #[serde(skip)]
    pub generation: GenerationConfig,
    /// Seed of sampled replies (unused when greedy): prompt i's stream depends
    /// only on this seed and i, never on the mask or the batch.
    #[serde(default)]
    pub reply_seed: u64,
    /// Sequences per forward pass.
    pub batch_size: usize,
    /// Perplexity window in tokens.
    pub ppl_window: usize,
    /// Keep only the first K windows (after the skipped ones).
    pub ppl_max_windows: Option<usize>,
    /// Skip this many windows first (so `apply` can report on text `sample` never saw).
    pub ppl_skip_windows: usize,
    /// Which windows of each document are used: all consecutive windows of the whole text
    /// (`all`), or the even-numbered (`valid`) or odd-numbered (`test`) windows of every
    /// document, taken round-robin across documents, so the valid and test windows are
    /// disjoint and drawn from the same documents.
    #[serde(default)]
    pub ppl_split: PplSplit,
    /// Bootstrap of the bias interval.
    pub bootstrap: Bootstrap,
    /// The `classifier` scorer's checkpoint and label (`None` for the other scorers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classifier: Option<ClassifierSettings>,
    /// Most bytes of the unpruned model's hidden states an evaluator keeps to
    /// skip the layers below a mask's first pruned layer (0 = never). It changes
    /// the time, never the numbers, so it is not part of the measurement record.
    #[serde(skip)]
    pub layer_reuse_bytes: usize,
}

/// The default [`EvalSettings::layer_reuse_bytes`]: 512 MiB per evaluator, room for
/// the demo's whole evaluation at every layer, and for every third layer of about
/// 25,000 positions on SmolLM2.
pub const DEFAULT_LAYER_REUSE_BYTES: usize = 512 << 20;

/// Which perplexity windows an evaluation uses (see [`EvalSettings::ppl_split`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PplSplit {
    /// Consecutive windows of the whole text, in order.
    #[default]
    All,
    /// The even-numbered windows of every document, round-robin across documents.
    Valid,
    /// The odd-numbered windows of every document, round-robin across documents.
    Test,
}

impl std::fmt::Display for PplSplit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::All => "all",
            Self::Valid => "valid",
            Self::Test => "test",
        })
    }
}

/// The text inputs of an evaluation.
#[derive(Debug, Clone)]
pub struct EvalData {
    /// Prompts, each with its axis and bucket.
    pub prompts: Vec<Prompt>,
    /// Utility text for perplexity (the documents joined by newlines).
    pub utility_text: String,
    /// The utility text's documents (e.g. the Brown files), for the `valid`/`test`
    /// window splits; empty = the whole text is one document.
    pub documents: Vec<String>,
    /// Canned replies (reply-likelihood scorer).
    pub canned: Option<CannedReplies>,
}

/// Everything measured for one mask.
#[derive(Debug, Clone, Serialize)]
pub struct MaskEvaluation {
    /// Per-axis bias with bucket statistics and interval, in axis order.
    pub axes: Vec<AxisBias>,
    /// The same on the log-odds scale: every score `s` replaced by `ln(s / (1 - s))`
    /// (clamped to [1e-12, 1 - 1e-12]). For `reply-likelihood` this is the log-odds of the
    /// negative replies before the sigmoid, where pushing every bucket against the
    /// ceiling does not shrink the bias.
    pub logit_axes: Vec<AxisBias>,
    /// Mean NLL per predicted token of each perplexity window, in window order (paired
    /// comparisons of two masks use the same windows).
    pub window_nll: Vec<f64>,
    /// Perplexity on the utility text.
    pub perplexity: f64,
    /// The NLL sum behind it.
    pub nll: f64,
    /// Predicted tokens behind it.
    pub num_predicted: usize,
    /// Per-prompt scores, in prompt order.
    pub scores: Vec<f64>,
    /// Generated replies (sentiment scorer only), in prompt order.
    pub replies: Vec<String>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// A model prepared to evaluate masks.
pub struct Evaluator<'m, B: Backend> {
    model: &'m LanguageModel<B>,
    settings: EvalSettings,
    prompts: Vec<Prompt>,
    prompt_ids: Vec<Vec<u32>>,
    windows: Vec<Vec<u32>>,
    scorer: scoring::Scorer,
    axes: Vec<String>,
    reuse: LayerReuse<B>,
}

impl<'m, B: Backend> Evaluator<'m, B> {
    /// Tokenizes prompts and text once; errors when nothing can be measured.
    pub fn new(
        model: &'m LanguageModel<B>,
        data: EvalData,
        settings: EvalSettings,
    ) -> Result<Self, EvalError> {
        let tok = &model.tokenizer;
        let use_chat = settings.chat && tok.chat_template().is_some();
        let prompt_ids = data
            .prompts
            .iter()
            .map(|p| {
                if use_chat {
                    tok.encode_chat(&[ChatMessage::new("user", p.text.clone())], true)
                } else {
                    tok.encode(&p.text, true)
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| EvalError::Usage(format!("tokenizing prompts: {e}")))?;
        let windows = utility_windows(model, &data, &settings)?;
        let mut axes: Vec<String> = data.prompts.iter().map(|p| p.axis.clone()).collect();
        axes.sort();
        axes.dedup();
        let scorer = scoring::Scorer::new(
            settings.scorer,
            tok,
            data.canned.as_ref(),
            settings.classifier.as_ref(),
        )?;
        let config = &model.model.config;
        let reuse = LayerReuse::new(
            config.num_layers,
            config.hidden_size,
            settings.layer_reuse_bytes,
        );
        Ok(Self {
            model,
            settings,
            prompts: data.prompts,
            prompt_ids,
            windows,
            scorer,
            axes,
            reuse,
        })
    }

    /// The axes measured, sorted.
    pub fn axes(&self) -> &[String] {
        &self.axes
    }

    /// `(axis, bucket)` pairs measured, sorted.
    pub fn buckets(&self) -> Vec<(String, String)> {
        let mut b: Vec<(String, String)> = self
            .prompts
            .iter()
            .map(|p| (p.axis.clone(), p.bucket.clone()))
            .collect();
        b.sort();
        b.dedup();
        b
    }

    /// Prompts in each `(axis, bucket)` pair of [`Evaluator::buckets`], in the same order.
    pub fn bucket_counts(&self) -> Vec<u64> {
        self.buckets()
            .iter()
            .map(|(a, b)| {
                self.prompts
                    .iter()
                    .filter(|p| &p.axis == a && &p.bucket == b)
                    .count() as u64
            })
            .collect()
    }

    /// Number of perplexity windows.
    pub fn num_windows(&self) -> usize {
        self.windows.len()
    }

    /// The prompts' token ids, as the model sees them (chat-formatted when the settings ask).
    pub fn prompt_ids(&self) -> &[Vec<u32>] {
        &self.prompt_ids
    }

    /// The perplexity windows' token ids.
    pub fn windows(&self) -> &[Vec<u32>] {
        &self.windows
    }

    /// The settings.
    pub fn settings(&self) -> &EvalSettings {
        &self.settings
    }

    /// Bias and perplexity of the model with `mask`'s heads pruned.
    ///
    /// When the mask prunes nothing below layer `l` (at least a quarter of the
    /// model's layers), the layers below the last checkpoint at or below `l` are
    /// not run: their outputs are replayed from an evaluation of the unpruned
    /// model (made once per evaluator, or taken from the evaluation of the
    /// unpruned mask itself). Same numbers, less work.
    pub fn evaluate(&mut self, mask: &HeadMask) -> Result<MaskEvaluation, EvalError> {
        let mut one = self.evaluate_group(&[mask])?;
        one.pop()
            .ok_or_else(|| EvalError::Usage("an evaluation returned nothing".into()))
    }

    /// [`Evaluator::evaluate`] of several masks at once (multi-mask batching): every
    /// forward call carries the prompts or windows of all of them, and runs the layers
    /// that none of them prunes once for all ([`MaskGroup`]); layer reuse skips those
    /// below the group's first pruned layer as for one mask. Same numbers as evaluating
    /// the masks one by one; results in the order of `masks`, each with an equal share
    /// of the wall-clock time.
    pub fn evaluate_group(
        &mut self,
        masks: &[&HeadMask],
    ) -> Result<Vec<MaskEvaluation>, EvalError> {
        if masks.is_empty() {
            return Ok(Vec::new());
        }
        let start = Instant::now();
        let group = MaskGroup::new(masks);
        let layers = self.model.model.config.num_layers;
        let first = (group.shared_layers() < layers).then_some(group.shared_layers());
        let mismatches = self.reuse.mismatches();
        self.prepare_reuse(first, masks[0])?;
        let mut result = self.measure(&group);
        self.reuse.finish();
        if self.reuse.mismatches() > mismatches {
            // A call unlike the recorded one ran in full over a cache whose lower layers the
            // replayed calls left empty: discard the result, measure in full, stop reusing.
            log::warn!("layer reuse: this evaluation's forward calls differ from the unpruned recording; measuring it in full and turning reuse off");
            self.reuse = LayerReuse::off();
            result = self.measure(&group);
        }
        let seconds = start.elapsed().as_secs_f64() / masks.len() as f64;
        result?
            .into_iter()
            .map(|(scores, replies, axes, per_window)| {
                let logit_axes =
                    self.bias(&scores.iter().map(|&s| logit(s)).collect::<Vec<_>>())?;
                let mut nll = NllSum::default();
                per_window.iter().for_each(|w| nll.add(*w));
                Ok(MaskEvaluation {
                    axes,
                    logit_axes,
                    window_nll: window_means(&per_window),
                    perplexity: nll.perplexity(),
                    nll: nll.nll,
                    num_predicted: nll.count,
                    scores,
                    replies,
                    seconds,
                })
            })
            .collect()
    }

    /// Forward calls that differed in shape from the unpruned recording (0 when
    /// every evaluation repeats the recorded calls, as it should; after one, the
    /// evaluator measures that mask again in full and stops reusing).
    pub fn layer_reuse_mismatches(&self) -> usize {
        self.reuse.mismatches()
    }

    /// Scores, replies, bias and window NLLs of each mask of `group`, in its order.
    #[allow(clippy::type_complexity)]
    fn measure(
        &mut self,
        group: &MaskGroup<'_>,
    ) -> Result<Vec<(Vec<f64>, Vec<String>, Vec<AxisBias>, Vec<NllSum>)>, EvalError> {
        let scored = self.scores(group)?;
        let nll = self.windows_nll(group)?;
        scored
            .into_iter()
            .zip(nll)
            .map(|((scores, replies), nll)| {
                let axes = self.bias(&scores)?;
                Ok((scores, replies, axes, nll))
            })
            .collect()
    }

    /// Sets up layer reuse for a group whose lowest pruned layer is `first` (`None`:
    /// nothing pruned) and whose first mask is `lead`. Replays when a recording exists.
    /// Otherwise records during this evaluation when `lead` prunes nothing (its rows are
    /// the unpruned model's, [`LayerReuse`] keeps those), or records first (one evaluation
    /// of the unpruned model) when the group leaves layers to skip.
    fn prepare_reuse(&mut self, first: Option<usize>, lead: &HeadMask) -> Result<(), EvalError> {
        let floor = reuse_floor(self.model.model.config.num_layers);
        let can_start = !self.reuse.is_recorded() && self.reuse.can_record();
        if can_start && lead.num_pruned() == 0 {
            self.reuse.begin_record(self.teacher_forced_positions());
            return Ok(());
        }
        if first.is_some_and(|l| l < floor) {
            return Ok(());
        }
        if can_start && self.reuse.begin_record(self.teacher_forced_positions()) {
            let unpruned = HeadMask::unpruned(lead.layout());
            let recorded = self.measure(&MaskGroup::single(&unpruned));
            self.reuse.finish();
            recorded?;
            log::debug!(
                "layer reuse: recorded the unpruned model every {} layers ({} MiB)",
                self.reuse.stride(),
                self.reuse.bytes() >> 20
            );
        }
        self.reuse.begin_replay(first);
        Ok(())
    }

    /// Positions of the teacher-forced calls of one evaluation (see [`LayerReuse::begin_record`]).
    fn teacher_forced_positions(&self) -> usize {
        let windows: usize = self
            .windows
            .chunks(self.settings.batch_size.max(1))
            .map(|c| c.len() * c.iter().map(Vec::len).max().unwrap_or(0))
            .sum();
        let batch = self.score_batch();
        let prompts: usize = self
            .prompt_ids
            .chunks(batch)
            .map(|c| {
                self.scorer
                    .teacher_forced_positions(c, self.settings.batch_size)
            })
            .sum();
        windows + prompts
    }

    /// NLL of the utility windows under `mask`.
    pub fn perplexity_nll(&self, mask: &HeadMask) -> Result<NllSum, EvalError> {
        let mut total = NllSum::default();
        self.nll_of_windows(mask, &mut LayerReuse::off())?
            .into_iter()
            .for_each(|w| total.add(w));
        Ok(total)
    }

    /// The NLL sum of each perplexity window under `mask` (no bias measured): one pass gives
    /// both the perplexity (their total) and the paired comparison ([`window_means`]).
    pub fn window_nll_sums(&self, mask: &HeadMask) -> Result<Vec<NllSum>, EvalError> {
        self.nll_of_windows(mask, &mut LayerReuse::off())
    }

    fn windows_nll(&mut self, group: &MaskGroup<'_>) -> Result<Vec<Vec<NllSum>>, EvalError> {
        let mut reuse = std::mem::replace(&mut self.reuse, LayerReuse::off());
        let result = self.grouped_windows_nll(group, &mut reuse);
        self.reuse = reuse;
        result
    }

    /// The window NLL sums of each mask of `group`, `[mask][window]`.
    fn grouped_windows_nll(
        &self,
        group: &MaskGroup<'_>,
        reuse: &mut LayerReuse<B>,
    ) -> Result<Vec<Vec<NllSum>>, EvalError> {
        let mut per_mask = vec![Vec::with_capacity(self.windows.len()); group.len()];
        for chunk in self.windows.chunks(self.settings.batch_size.max(1)) {
            let seqs: Vec<&[u32]> = chunk.iter().map(Vec::as_slice).collect();
            let sums = grouped_nll(&self.model.model, &seqs, group, &vec![1; seqs.len()], reuse)?;
            for (all, part) in per_mask.iter_mut().zip(sums) {
                all.extend(part);
            }
        }
        Ok(per_mask)
    }

    fn nll_of_windows(
        &self,
        mask: &HeadMask,
        reuse: &mut LayerReuse<B>,
    ) -> Result<Vec<NllSum>, EvalError> {
        let mut per_mask = self.grouped_windows_nll(&MaskGroup::single(mask), reuse)?;
        per_mask
            .pop()
            .ok_or_else(|| EvalError::Usage("no windows measured".into()))
    }

    fn score_batch(&self) -> usize {
        match self.settings.scorer {
            ScorerKind::ReplyLikelihood => self.prompt_ids.len().max(1),
            ScorerKind::Sentiment | ScorerKind::Classifier => self.settings.batch_size.max(1),
        }
    }

    /// Scores (and replies) of each mask of `group`, in prompt order.
    #[allow(clippy::type_complexity)]
    fn scores(&mut self, group: &MaskGroup<'_>) -> Result<Vec<(Vec<f64>, Vec<String>)>, EvalError> {
        let batch = self.score_batch();
        let mut per_mask = vec![(Vec::with_capacity(self.prompts.len()), Vec::new()); group.len()];
        for (i, chunk) in self.prompt_ids.chunks(batch).enumerate() {
            let first = i * batch;
            let scored = self.scorer.score(
                self.model,
                chunk,
                group,
                &self.settings,
                first as u64,
                &mut self.reuse,
            )?;
            for ((scores, replies), (s, r)) in per_mask.iter_mut().zip(scored) {
                scores.extend(s);
                replies.extend(r);
            }
        }
        Ok(per_mask)
    }

    fn bias(&self, scores: &[f64]) -> Result<Vec<AxisBias>, EvalError> {
        self.axes
            .iter()
            .map(|axis| {
                let pairs: Vec<(&str, f64)> = self
                    .prompts
                    .iter()
                    .zip(scores)
                    .filter(|(p, _)| &p.axis == axis)
                    .map(|(p, &s)| (p.bucket.as_str(), s))
                    .collect();
                axis_bias(axis, &pairs, &self.settings.bootstrap).map_err(EvalError::from)
            })
            .collect()
    }
}

/// The lowest first-pruned layer for which an evaluation replays the unpruned model's
/// lower layers instead of running them: a quarter of the layers (skipping fewer measured
/// no faster on SmolLM2, the replayed evaluation allocates differently; BENCHMARKS.md).
pub fn reuse_floor(num_layers: usize) -> usize {
    (num_layers / 4).max(1)
}

/// Mean NLL per token of each window, as the sample table and the paired intervals keep them.
pub fn window_means(sums: &[NllSum]) -> Vec<f64> {
    sums.iter().map(|w| w.nll / w.count.max(1) as f64).collect()
}

/// How close to 0 or 1 a score may come before [`logit`] clamps it.
pub const LOGIT_CLAMP: f64 = 1e-12;

/// `ln(s / (1 - s))` with `s` clamped to [1e-12, 1 - 1e-12] (log-odds within about ±27.6, so
/// a score of exactly 0 or 1 stays finite): a score back on the log-odds scale.
pub fn logit(score: f64) -> f64 {
    let s = score.clamp(LOGIT_CLAMP, 1.0 - LOGIT_CLAMP);
    (s / (1.0 - s)).ln()
}

/// The perplexity windows the settings ask for (see [`EvalSettings::ppl_split`]).
fn utility_windows<B: Backend>(
    model: &LanguageModel<B>,
    data: &EvalData,
    settings: &EvalSettings,
) -> Result<Vec<Vec<u32>>, EvalError> {
    let tok = &model.tokenizer;
    let encode = |text: &str| {
        tok.encode(text, false)
            .map_err(|e| EvalError::Usage(format!("tokenizing the utility text: {e}")))
    };
    let all: Vec<Vec<u32>> = match settings.ppl_split {
        PplSplit::All => token_windows(&encode(&data.utility_text)?, settings.ppl_window, None),
        split => {
            let parity = usize::from(split == PplSplit::Test);
            let single = [data.utility_text.clone()];
            let docs: &[String] = if data.documents.is_empty() {
                &single
            } else {
                &data.documents
            };
            let needed = settings
                .ppl_max_windows
                .map(|k| k + settings.ppl_skip_windows);
            split_windows(docs, settings.ppl_window, parity, needed, encode)?
        }
    };
    let available = all.len();
    let kept = all.into_iter().skip(settings.ppl_skip_windows);
    let windows: Vec<Vec<u32>> = match settings.ppl_max_windows {
        Some(k) => kept.take(k).collect(),
        None => kept.collect(),
    };
    if windows.is_empty() {
        return Err(EvalError::Usage(format!(
            "the utility text gives {available} windows of {} tokens ({} split): none left after skipping {} (lower --ppl-window or give more text)",
            settings.ppl_window, settings.ppl_split, settings.ppl_skip_windows
        )));
    }
    Ok(windows)
}

/// Windows `parity`, `parity + 2`, ... of every document, interleaved round-robin across
/// documents (first window of each document, then the next, ...), stopping once `needed`
/// are found. Documents are tokenized one at a time, only as far as needed.
fn split_windows(
    docs: &[String],
    window: usize,
    parity: usize,
    needed: Option<usize>,
    encode: impl Fn(&str) -> Result<Vec<u32>, EvalError>,
) -> Result<Vec<Vec<u32>>, EvalError> {
    // Window k of a document (k-th of its split) is its consecutive window 2k + parity.
    let mut per_doc: Vec<Vec<Vec<u32>>> = Vec::with_capacity(docs.len());
    for doc in docs {
        let ids = encode(doc)?;
        let own: Vec<Vec<u32>> = token_windows(&ids, window, None)
            .into_iter()
            .skip(parity)
            .step_by(2)
            .collect();
        per_doc.push(own);
        if needed.is_some_and(|n| per_doc.len() >= n) {
            break;
        }
    }
    let rounds = per_doc.iter().map(Vec::len).max().unwrap_or(0);
    let mut out = Vec::new();
    for k in 0..rounds {
        for doc in &per_doc {
            if let Some(w) = doc.get(k) {
                out.push(w.clone());
            }
        }
    }
    Ok(out)
}

/// Greedy generation of at most `max_new_tokens`, stopping at the tokenizer's end tokens.
pub fn greedy(max_new_tokens: usize, stop_ids: Vec<u32>) -> GenerationConfig {
    GenerationConfig {
        max_new_tokens,
        sampling: Sampling::Greedy,
        stop_ids,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One token per character.
    fn chars(text: &str) -> Result<Vec<u32>, EvalError> {
        Ok(text.chars().map(|c| c as u32).collect())
    }

    fn text(windows: &[Vec<u32>]) -> Vec<String> {
        windows
            .iter()
            .map(|w| w.iter().filter_map(|&c| char::from_u32(c)).collect())
            .collect()
    }

    #[test]
    fn split_windows_are_disjoint_interleaved_and_from_every_document() {
        let docs = vec![
            "aabbccdd".to_string(),
            "eeffg".to_string(),
            "hhii".to_string(),
        ];
        let valid = split_windows(&docs, 2, 0, None, chars).unwrap();
        let test = split_windows(&docs, 2, 1, None, chars).unwrap();
        // Even windows of each document, first of every document first.
        assert_eq!(
            text(&valid),
            ["aa", "ee", "hh", "cc"].map(String::from).to_vec()
        );
        assert_eq!(
            text(&test),
            ["bb", "ff", "ii", "dd"].map(String::from).to_vec()
        );
        for w in &valid {
            assert!(!test.contains(w), "a window in both splits");
        }
        // Only as many documents are read as windows are needed.
        assert_eq!(
            text(&split_windows(&docs, 2, 0, Some(2), chars).unwrap()),
            ["aa", "ee", "cc"].map(String::from).to_vec()
        );
    }

    #[test]
    fn logit_inverts_the_sigmoid_and_stays_finite() {
        for x in [-20.0, -1.5, 0.0, 0.7, 12.0] {
            let s = 1.0 / (1.0 + f64::exp(-x));
            assert!((logit(s) - x).abs() < 1e-6, "{x}");
        }
        assert!(logit(0.0).is_finite() && logit(1.0).is_finite());
        assert!(logit(0.0) < -27.0 && logit(1.0) > 27.0);
    }
}
