//! Reply scorers that need the model: `sentiment` generates a reply and
//! scores it with VADER; `reply-likelihood` generates nothing and compares
//! how likely the model finds negative and positive canned replies;
//! `classifier` generates a reply like `sentiment` and scores it with the
//! probability of one label of a BERT/RoBERTa sequence classifier (run on the CPU).

use crate::{EvalError, EvalSettings};
use attnprune_classifier::SequenceClassifier;
use attnprune_lm::batch::MaskGroup;
use attnprune_lm::continuation::{extend_context, prompt_reply_logprobs};
use attnprune_lm::device::CpuBackend;
use attnprune_lm::generate::{generate, GenerationRequest};
use attnprune_lm::reuse::LayerReuse;
use attnprune_lm::{LanguageModel, Tokenizer};
use attnprune_measure::replies::CannedReplies;
use attnprune_measure::sentiment::{VaderMapping, VaderScorer};
use burn::tensor::backend::Backend;
use serde::Serialize;
use std::path::PathBuf;
use std::str::FromStr;

/// Which scorer turns a prompt's reply into a score in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScorerKind {
    /// Generate a reply; score = VADER negativity of the reply.
    Sentiment,
    /// No generation: sigmoid of the log-odds of negative vs positive canned replies.
    ReplyLikelihood,
    /// Generate a reply (as `Sentiment`); score = a sequence classifier's probability
    /// of one label (e.g. Detoxify's `toxicity`), see [`ClassifierSettings`].
    Classifier,
}

/// The checkpoint and label of the `classifier` scorer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClassifierSettings {
    /// HF sequence-classification folder of the BERT/RoBERTa family
    /// (`config.json`, `model.safetensors`, `tokenizer.json`).
    pub dir: PathBuf,
    /// The label (from config.json's `id2label`) whose probability is the score.
    pub label: String,
}

impl FromStr for ScorerKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sentiment" => Ok(Self::Sentiment),
            "reply-likelihood" => Ok(Self::ReplyLikelihood),
            "classifier" => Ok(Self::Classifier),
            other => Err(format!(
                "unknown scorer `{other}`: use `sentiment`, `reply-likelihood` or `classifier`"
            )),
        }
    }
}

impl std::fmt::Display for ScorerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Sentiment => "sentiment",
            Self::ReplyLikelihood => "reply-likelihood",
            Self::Classifier => "classifier",
        })
    }
}

pub(crate) enum Scorer {
    Sentiment {
        vader: Box<VaderScorer>,
        tokenizer: Tokenizer,
    },
    ReplyLikelihood {
        negative: Vec<Vec<u32>>,
        positive: Vec<Vec<u32>>,
    },
    Classifier {
        classifier: Box<SequenceClassifier<CpuBackend>>,
        tokenizer: Tokenizer,
    },
}

impl Scorer {
    pub(crate) fn new(
        kind: ScorerKind,
        tokenizer: &Tokenizer,
        canned: Option<&CannedReplies>,
        classifier: Option<&ClassifierSettings>,
    ) -> Result<Self, EvalError> {
        match kind {
            ScorerKind::Sentiment => Ok(Self::Sentiment {
                vader: Box::new(VaderScorer::new(VaderMapping::Negativity)?),
                tokenizer: tokenizer.clone(),
            }),
            ScorerKind::ReplyLikelihood => {
                let canned = canned.ok_or_else(|| {
                    EvalError::Usage(
                        "the reply-likelihood scorer needs canned replies (--replies FILE)".into(),
                    )
                })?;
                let encode = |list: &Vec<String>| {
                    list.iter()
                        .map(|r| tokenizer.encode(r, false))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| EvalError::Usage(format!("tokenizing canned replies: {e}")))
                };
                Ok(Self::ReplyLikelihood {
                    negative: encode(&canned.negative)?,
                    positive: encode(&canned.positive)?,
                })
            }
            ScorerKind::Classifier => {
                let c = classifier.ok_or_else(|| {
                    EvalError::Usage(
                        "the classifier scorer needs a classifier checkpoint (--classifier DIR)"
                            .into(),
                    )
                })?;
                let classifier =
                    SequenceClassifier::<CpuBackend>::load(&c.dir, &c.label, &Default::default())
                        .map_err(|e| EvalError::Usage(format!("loading the classifier: {e}")))?;
                Ok(Self::Classifier {
                    classifier: Box::new(classifier),
                    tokenizer: tokenizer.clone(),
                })
            }
        }
    }

    /// Scores of a chunk of prompts (and the replies, for the generating scorers) under
    /// each mask of `group`, in its order: all masks in the same forward calls.
    #[allow(clippy::type_complexity)]
    pub(crate) fn score<B: Backend>(
        &mut self,
        model: &LanguageModel<B>,
        prompts: &[Vec<u32>],
        group: &MaskGroup<'_>,
        settings: &EvalSettings,
        first_index: u64,
        reuse: &mut LayerReuse<B>,
    ) -> Result<Vec<(Vec<f64>, Vec<String>)>, EvalError> {
        let per_mask = |values: Vec<f64>, replies: Vec<String>| {
            let n = prompts.len().max(1);
            values
                .chunks(n)
                .zip(replies.chunks(n))
                .map(|(v, r)| (v.to_vec(), r.to_vec()))
                .collect()
        };
        match self {
            Self::Sentiment { vader, tokenizer } => {
                let replies =
                    generate_replies(model, tokenizer, prompts, group, settings, first_index)?;
                let scores = replies.iter().map(|r| vader.score(r)).collect();
                Ok(per_mask(scores, replies))
            }
            Self::Classifier {
                classifier,
                tokenizer,
            } => {
                let replies =
                    generate_replies(model, tokenizer, prompts, group, settings, first_index)?;
                let texts: Vec<&str> = replies.iter().map(String::as_str).collect();
                let scores = classifier
                    .probabilities(&texts)
                    .map_err(|e| EvalError::Usage(format!("classifying replies: {e}")))?;
                Ok(per_mask(scores, replies))
            }
            Self::ReplyLikelihood { negative, positive } => {
                let prefix_len = common_prefix_len(prompts);
                let base = (prefix_len > 0)
                    .then(|| {
                        extend_context(
                            &model.model,
                            None,
                            &prompts[0][..prefix_len],
                            group.clone(),
                            reuse,
                        )
                    })
                    .transpose()?;
                let replies: Vec<Vec<u32>> =
                    negative.iter().chain(positive.iter()).cloned().collect();
                let suffixes: Vec<&[u32]> = prompts.iter().map(|p| &p[prefix_len..]).collect();
                let mut out = vec![(Vec::with_capacity(prompts.len()), Vec::new()); group.len()];
                for chunk in suffixes.chunks(settings.batch_size.max(1)) {
                    let rows = prompt_reply_logprobs(
                        &model.model,
                        base.as_ref(),
                        chunk,
                        &replies,
                        group.clone(),
                        reuse,
                    )?;
                    // Rows are mask-major: the chunk's prompts under mask 0, then mask 1, ...
                    for (logp, (scores, _)) in rows.chunks(chunk.len()).zip(out.iter_mut()) {
                        scores.extend(logp.iter().map(|logp| {
                            let (neg, pos) = logp.split_at(negative.len());
                            sigmoid(log_mean_exp(neg) - log_mean_exp(pos))
                        }));
                    }
                }
                Ok(out)
            }
        }
    }

    /// Token positions (batch x sequence, padding included) of the teacher-forced
    /// forward calls that [`Scorer::score`] makes for `prompts` in chunks of
    /// `batch_size`: what [`LayerReuse`] would hold per checkpoint layer. Generating
    /// scorers make none (generation is never replayed).
    pub(crate) fn teacher_forced_positions(
        &self,
        prompts: &[Vec<u32>],
        batch_size: usize,
    ) -> usize {
        let Self::ReplyLikelihood { negative, positive } = self else {
            return 0;
        };
        let prefix = common_prefix_len(prompts);
        let longest_reply = negative
            .iter()
            .chain(positive.iter())
            .map(Vec::len)
            .max()
            .unwrap_or(1);
        let replies = negative.len() + positive.len();
        let mut total = prefix;
        for chunk in prompts.chunks(batch_size.max(1)) {
            let width = chunk.iter().map(|p| p.len() - prefix).max().unwrap_or(0);
            total += chunk.len() * width + chunk.len() * replies * longest_reply.saturating_sub(1);
        }
        total
    }
}

/// The replies to `prompts` under each mask of `group` (the `sentiment` and `classifier`
/// scorers' shared generation path), all in one batch, mask-major, decoded without
/// special tokens. A prompt's sampling stream depends on its index only, not on the mask.
fn generate_replies<B: Backend>(
    model: &LanguageModel<B>,
    tokenizer: &Tokenizer,
    prompts: &[Vec<u32>],
    group: &MaskGroup<'_>,
    settings: &EvalSettings,
    first_index: u64,
) -> Result<Vec<String>, EvalError> {
    let requests: Vec<GenerationRequest<'_>> = group
        .masks()
        .iter()
        .flat_map(|&mask| {
            prompts
                .iter()
                .enumerate()
                .map(move |(i, p)| GenerationRequest {
                    prompt: p,
                    mask,
                    seed: reply_stream(settings.reply_seed, first_index + i as u64),
                })
        })
        .collect();
    let mut generation = settings.generation.clone();
    if generation.stop_ids.is_empty() {
        generation.stop_ids = tokenizer.eos_ids().to_vec();
    }
    let outputs = generate(&model.model, &requests, &generation)?;
    outputs
        .iter()
        .map(|ids| tokenizer.decode(ids, true))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| EvalError::Usage(format!("decoding replies: {e}")))
}

/// Length of the prefix all prompts share (a chat template's system turn),
/// leaving at least one token of each prompt to run on its own.
fn common_prefix_len(prompts: &[Vec<u32>]) -> usize {
    let Some(first) = prompts.first() else {
        return 0;
    };
    let shortest = prompts.iter().map(Vec::len).min().unwrap_or(0);
    let same = (0..shortest)
        .take_while(|&i| prompts.iter().all(|p| p[i] == first[i]))
        .count();
    same.min(shortest.saturating_sub(1))
}

/// The sampling seed of prompt `index` under `reply_seed` (distinct streams for distinct pairs).
fn reply_stream(reply_seed: u64, index: u64) -> u64 {
    reply_seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn log_mean_exp(values: &[f64]) -> f64 {
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = values.iter().map(|v| (v - max).exp()).sum();
    max + (sum / values.len() as f64).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_mean_exp_is_stable() {
        assert!((log_mean_exp(&[0.0, 0.0]) - 0.0).abs() < 1e-12);
        assert!((log_mean_exp(&[-1000.0, -1000.0]) + 1000.0).abs() < 1e-9);
        assert_eq!(
            "reply-likelihood".parse::<ScorerKind>().unwrap(),
            ScorerKind::ReplyLikelihood
        );
        assert!("toxicity".parse::<ScorerKind>().is_err());
        assert_eq!(
            "classifier".parse::<ScorerKind>().ok(),
            Some(ScorerKind::Classifier)
        );
        assert_eq!(ScorerKind::Classifier.to_string(), "classifier");
    }
}
