//! A tiny byte-level BPE tokenizer trained in-process, so tests can build small
//! random-weight models without any downloaded files.

use std::collections::{BTreeMap, HashMap};

use tokenizers::{OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer};

use crate::chat::CHATML_TEMPLATE;
use crate::error::TokenizerError;
use crate::pretok::{byte_level_pipeline, byte_to_char_table, PreKind};
use crate::tokenizer::Tokenizer;
use crate::vocab::{token_type, GgufVocab};

/// Special tokens of the tiny tokenizer, appended after the learned vocabulary in this
/// order; `<|im_end|>` is its EOS.
pub const TINY_SPECIAL_TOKENS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

/// Trains a byte-level BPE on `training_text`: ids 0..256 are the bytes, then up to
/// `num_merges` greedily learned merges (most frequent pair first; ties go to the pair
/// with the smallest ids, so training is deterministic), then [`TINY_SPECIAL_TOKENS`].
/// Pre-tokenization and the ChatML template mirror SmolLM2.
pub fn tiny_byte_level_tokenizer(
    training_text: &str,
    num_merges: usize,
) -> Result<Tokenizer, TokenizerError> {
    let (mut tokens, merges) = learn_merges(word_counts(training_text)?, num_merges);
    let mut token_types = vec![token_type::NORMAL; tokens.len()];
    tokens.extend(TINY_SPECIAL_TOKENS.iter().map(|s| (*s).to_owned()));
    token_types.extend([token_type::CONTROL; TINY_SPECIAL_TOKENS.len()]);
    let vocab = GgufVocab {
        model: "gpt2".to_owned(),
        pre: Some("smollm".to_owned()),
        eos_id: Some(tokens.len() as u32 - 1),
        tokens,
        token_types: Some(token_types),
        merges,
        chat_template: Some(CHATML_TEMPLATE.to_owned()),
        ..GgufVocab::default()
    };
    Tokenizer::from_gguf_vocab(&vocab)
}

/// Greedy BPE training: returns the vocabulary (bytes first) and the merges in order.
fn learn_merges(
    mut words: BTreeMap<Vec<u32>, usize>,
    num_merges: usize,
) -> (Vec<String>, Vec<String>) {
    let mut tokens: Vec<String> = byte_to_char_table().iter().map(char::to_string).collect();
    let mut merges = Vec::new();
    for _ in 0..num_merges {
        let Some((a, b)) = best_pair(&words) else {
            break;
        };
        let (left, right) = (&tokens[a as usize], &tokens[b as usize]);
        let merged = format!("{left}{right}");
        merges.push(format!("{left} {right}"));
        let id = intern(&mut tokens, merged);
        words = merge_all(words, (a, b), id);
    }
    (tokens, merges)
}

/// The id of `token`, appending it when new (a merge may rebuild an existing token).
fn intern(tokens: &mut Vec<String>, token: String) -> u32 {
    let id = tokens.iter().position(|t| *t == token).unwrap_or_else(|| {
        tokens.push(token);
        tokens.len() - 1
    });
    id as u32
}

/// Applies one merge to every word, keeping the counts.
fn merge_all(
    words: BTreeMap<Vec<u32>, usize>,
    pair: (u32, u32),
    id: u32,
) -> BTreeMap<Vec<u32>, usize> {
    let mut next = BTreeMap::new();
    for (word, n) in words {
        *next.entry(merge_word(&word, pair, id)).or_insert(0) += n;
    }
    next
}

/// Pre-tokenizes like SmolLM2 and counts each word as a sequence of byte ids.
fn word_counts(text: &str) -> Result<BTreeMap<Vec<u32>, usize>, TokenizerError> {
    let (_, pre) = byte_level_pipeline(PreKind::DigitsGpt2)?;
    let mut pts = PreTokenizedString::from(text);
    pre.pre_tokenize(&mut pts)
        .map_err(TokenizerError::tk("pre-tokenize"))?;
    let byte_of: HashMap<char, u32> = byte_to_char_table()
        .iter()
        .enumerate()
        .map(|(b, c)| (*c, b as u32))
        .collect();
    let mut counts = BTreeMap::new();
    for (piece, _, _) in pts.get_splits(OffsetReferential::Original, OffsetType::Byte) {
        let word: Vec<u32> = piece
            .chars()
            .filter_map(|c| byte_of.get(&c).copied())
            .collect();
        *counts.entry(word).or_insert(0) += 1;
    }
    Ok(counts)
}

/// The most frequent adjacent pair; ties broken by the smallest `(left, right)` ids.
fn best_pair(words: &BTreeMap<Vec<u32>, usize>) -> Option<(u32, u32)> {
    let mut counts: BTreeMap<(u32, u32), usize> = BTreeMap::new();
    for (word, n) in words {
        for pair in word.windows(2) {
            *counts.entry((pair[0], pair[1])).or_insert(0) += n;
        }
    }
    counts
        .into_iter()
        .max_by(|(pa, ca), (pb, cb)| ca.cmp(cb).then(pb.cmp(pa)))
        .map(|(pair, _)| pair)
}

/// Replaces every non-overlapping occurrence of `pair` in `word`, left to right.
fn merge_word(word: &[u32], pair: (u32, u32), id: u32) -> Vec<u32> {
    let mut out = Vec::with_capacity(word.len());
    let mut i = 0;
    while i < word.len() {
        if i + 1 < word.len() && (word[i], word[i + 1]) == pair {
            out.push(id);
            i += 2;
        } else {
            out.push(word[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn merges_most_frequent_pair_first() {
        let words = BTreeMap::from([(vec![1, 2, 1, 2], 1), (vec![3, 4], 1)]);
        assert_eq!(best_pair(&words), Some((1, 2)));
        assert_eq!(merge_word(&[1, 2, 1, 2, 3], (1, 2), 9), vec![9, 9, 3]);
    }

    #[test]
    fn ties_pick_smallest_ids() {
        let words = BTreeMap::from([(vec![5, 6], 1), (vec![3, 4], 1)]);
        assert_eq!(best_pair(&words), Some((3, 4)));
    }
}
