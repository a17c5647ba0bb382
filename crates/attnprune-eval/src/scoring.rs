//! Reply scorers that need the model: `sentiment` generates a reply and
//! scores it with VADER; `reply-likelihood` generates nothing and compares
//! how likely the model finds negative and positive canned replies.

use crate::{EvalError, EvalSettings};
use attnprune_lm::generate::{generate, GenerationRequest};
use attnprune_lm::continuation::{continuation_logprobs, extend_context};
use attnprune_lm::{LanguageModel, Tokenizer};
use attnprune_mask::HeadMask;
use attnprune_measure::replies::CannedReplies;
use attnprune_measure::sentiment::{VaderMapping, VaderScorer};
use burn::tensor::backend::Backend;
use serde::Serialize;
use std::str::FromStr;

/// Which scorer turns a prompt's reply into a score in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScorerKind {
    /// Generate a reply; score = VADER negativity of the reply.
    Sentiment,
    /// No generation: sigmoid of the log-odds of negative vs positive canned replies.
    ReplyLikelihood,
}

impl FromStr for ScorerKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sentiment" => Ok(Self::Sentiment),
            "reply-likelihood" => Ok(Self::ReplyLikelihood),
            other => Err(format!("unknown scorer `{other}`: use `sentiment` or `reply-likelihood`")),
        }
    }
}

impl std::fmt::Display for ScorerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Sentiment => "sentiment",
            Self::ReplyLikelihood => "reply-likelihood",
        })
    }
}

pub(crate) enum Scorer {
    Sentiment { vader: Box<VaderScorer>, tokenizer: Tokenizer },
    ReplyLikelihood { negative: Vec<Vec<u32>>, positive: Vec<Vec<u32>> },
}

impl Scorer {
    pub(crate) fn new(kind: ScorerKind, tokenizer: &Tokenizer, canned: Option<&CannedReplies>) -> Result<Self, EvalError> {
        match kind {
            ScorerKind::Sentiment => Ok(Self::Sentiment {
                vader: Box::new(VaderScorer::new(VaderMapping::Negativity)?),
                tokenizer: tokenizer.clone(),
            }),
            ScorerKind::ReplyLikelihood => {
                let canned = canned.ok_or_else(|| EvalError::Usage("the reply-likelihood scorer needs canned replies (--replies FILE)".into()))?;
                let encode = |list: &Vec<String>| {
                    list.iter()
                        .map(|r| tokenizer.encode(r, false))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| EvalError::Usage(format!("tokenizing canned replies: {e}")))
                };
                Ok(Self::ReplyLikelihood { negative: encode(&canned.negative)?, positive: encode(&canned.positive)? })
            }
        }
    }

    /// Scores of a chunk of prompts (and the replies, for the sentiment scorer).
    pub(crate) fn score<B: Backend>(
        &mut self,
        model: &LanguageModel<B>,
        prompts: &[Vec<u32>],
        mask: &HeadMask,
        settings: &EvalSettings,
        first_index: u64,
    ) -> Result<(Vec<f64>, Vec<String>), EvalError> {
        match self {
            Self::Sentiment { vader, tokenizer } => {
                let requests: Vec<GenerationRequest<'_>> = prompts
                    .iter()
                    .enumerate()
                    .map(|(i, p)| GenerationRequest { prompt: p, mask, seed: first_index + i as u64 })
                    .collect();
                let mut generation = settings.generation.clone();
                if generation.stop_ids.is_empty() {
                    generation.stop_ids = tokenizer.eos_ids().to_vec();
                }
                let outputs = generate(&model.model, &requests, &generation)?;
                let replies = outputs
                    .iter()
                    .map(|ids| tokenizer.decode(ids, true))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| EvalError::Usage(format!("decoding replies: {e}")))?;
                Ok((replies.iter().map(|r| vader.score(r)).collect(), replies))
            }
            Self::ReplyLikelihood { negative, positive } => {
                let prefix_len = common_prefix_len(prompts);
                let base = (prefix_len > 0).then(|| extend_context(&model.model, None, &prompts[0][..prefix_len], mask)).transpose()?;
                let replies: Vec<Vec<u32>> = negative.iter().chain(positive.iter()).cloned().collect();
                let scores = prompts
                    .iter()
                    .map(|p| {
                        let ctx = extend_context(&model.model, base.as_ref(), &p[prefix_len..], mask)?;
                        let logp = continuation_logprobs(&model.model, &ctx, &replies, mask)?;
                        let (neg, pos) = logp.split_at(negative.len());
                        Ok(sigmoid(log_mean_exp(neg) - log_mean_exp(pos)))
                    })
                    .collect::<Result<Vec<_>, EvalError>>()?;
                Ok((scores, Vec::new()))
            }
        }
    }
}

/// Length of the prefix all prompts share (a chat template's system turn),
/// leaving at least one token of each prompt to run on its own.
fn common_prefix_len(prompts: &[Vec<u32>]) -> usize {
    let Some(first) = prompts.first() else { return 0 };
    let shortest = prompts.iter().map(Vec::len).min().unwrap_or(0);
    let same = (0..shortest).take_while(|&i| prompts.iter().all(|p| p[i] == first[i])).count();
    same.min(shortest.saturating_sub(1))
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
        assert_eq!("reply-likelihood".parse::<ScorerKind>().unwrap(), ScorerKind::ReplyLikelihood);
        assert!("toxicity".parse::<ScorerKind>().is_err());
    }
}
