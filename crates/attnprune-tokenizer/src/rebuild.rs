//! Rebuilding an HF `tokenizers` pipeline from a [`GgufVocab`], mirroring what llama.cpp
//! does at tokenization time and what `transformers` does when converting GGUF tokenizers.

use std::collections::HashMap;

use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::models::bpe::{Merges, Vocab, BPE};
use tokenizers::normalizers::Replace;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::processors::template::{SpecialToken, TemplateProcessing};
use tokenizers::{AddedToken, DecoderWrapper, NormalizerWrapper};

use crate::error::TokenizerError;
use crate::pretok::{byte_level_pipeline, byte_to_char_table, is_byte_level_char, PreKind};
use crate::vocab::{token_type, GgufVocab};

/// Supported `tokenizer.ggml.model` values, for error messages.
const SUPPORTED_MODELS: &str = "`gpt2`, `llama`";

/// SentencePiece's visible space.
const SPIECE_SPACE: char = '\u{2581}';

/// Builds the HF pipeline described by `v`.
pub(crate) fn from_vocab(v: &GgufVocab) -> Result<tokenizers::Tokenizer, TokenizerError> {
    check_lengths(v)?;
    let mut tk = match v.model.as_str() {
        "gpt2" => byte_level(v)?,
        "llama" => sentencepiece(v)?,
        other => {
            return Err(TokenizerError::UnsupportedModel {
                model: other.to_owned(),
                supported: SUPPORTED_MODELS.to_owned(),
            })
        }
    };
    add_vocab_tokens(&mut tk, v);
    tk.with_post_processor(bos_processor(v)?);
    Ok(tk)
}

/// Byte-level BPE (`gpt2`): GGUF tokens are already in GPT-2's byte-to-unicode form.
fn byte_level(v: &GgufVocab) -> Result<tokenizers::Tokenizer, TokenizerError> {
    let kind = PreKind::from_name(v.pre.as_deref())?;
    let bpe = BPE::builder()
        .vocab_and_merges(
            vocab_map(&byte_level_spelling(&v.tokens)),
            parse_merges(&v.merges)?,
        )
        .ignore_merges(kind.ignore_merges())
        .build()
        .map_err(TokenizerError::tk("build BPE model"))?;
    let (normalizer, pre) = byte_level_pipeline(kind)?;
    let mut tk = tokenizers::Tokenizer::new(bpe);
    tk.with_normalizer(normalizer)
        .with_pre_tokenizer(Some(pre))
        .with_decoder(Some(ByteLevel::default()));
    Ok(tk)
}

/// SentencePiece-style BPE (`llama`): `▁` for spaces, byte fallback, merges from scores
/// when the file has none (as `transformers` does for GGUF Llama vocabularies).
fn sentencepiece(v: &GgufVocab) -> Result<tokenizers::Tokenizer, TokenizerError> {
    let mut builder = BPE::builder()
        .vocab_and_merges(vocab_map(&v.tokens), spm_merges(v)?)
        .fuse_unk(true)
        .byte_fallback(true);
    if let Some(unk) = v.unk_id {
        builder = builder.unk_token(token_at(v, unk, "unk")?.to_owned());
    }
    let bpe = builder
        .build()
        .map_err(TokenizerError::tk("build BPE model"))?;
    let prefix = v.add_space_prefix.unwrap_or(true);
    let scheme = if prefix {
        PrependScheme::First
    } else {
        PrependScheme::Never
    };
    let mut tk = tokenizers::Tokenizer::new(bpe);
    tk.with_normalizer(None::<NormalizerWrapper>)
        .with_pre_tokenizer(Some(Metaspace::new(SPIECE_SPACE, scheme, false)))
        .with_decoder(Some(spm_decoder(prefix)?));
    Ok(tk)
}

/// The file's merges, or merges derived from the token scores when it has none.
fn spm_merges(v: &GgufVocab) -> Result<Merges, TokenizerError> {
    if !v.merges.is_empty() {
        return parse_merges(&v.merges);
    }
    let scores = v.scores.as_deref().ok_or_else(|| {
        TokenizerError::InvalidVocab("model `llama` needs merges or token scores".to_owned())
    })?;
    Ok(merges_from_scores(&v.tokens, scores))
}

/// `▁` back to spaces, byte pieces back to bytes, and drop the prefixed space.
fn spm_decoder(prefix: bool) -> Result<DecoderWrapper, TokenizerError> {
    let replace =
        Replace::new(SPIECE_SPACE.to_string(), " ").map_err(TokenizerError::tk("build decoder"))?;
    let mut steps: Vec<DecoderWrapper> = vec![
        replace.into(),
        ByteFallback::new().into(),
        Fuse::new().into(),
    ];
    if prefix {
        steps.push(Strip::new(' ', 1, 0).into());
    }
    Ok(DecoderSequence::new(steps).into())
}

/// Byte-level vocabularies must be spelled in GPT-2's byte alphabet; a token using other
/// characters (a raw added token) is respelled byte by byte, as `transformers` does.
fn byte_level_spelling(tokens: &[String]) -> Vec<String> {
    let table = byte_to_char_table();
    tokens
        .iter()
        .map(|t| {
            if t.chars().all(is_byte_level_char) {
                t.clone()
            } else {
                t.bytes().map(|b| table[b as usize]).collect()
            }
        })
        .collect()
}

/// Rejects per-token arrays whose length differs from the token list.
fn check_lengths(v: &GgufVocab) -> Result<(), TokenizerError> {
    let n = v.tokens.len();
    let types = v.token_types.as_ref().map(Vec::len);
    let scores = v.scores.as_ref().map(Vec::len);
    for (what, len) in [("token_type", types), ("scores", scores)] {
        if let Some(len) = len.filter(|&len| len != n) {
            let msg = format!("`{what}` has `{len}` entries but there are `{n}` tokens");
            return Err(TokenizerError::InvalidVocab(msg));
        }
    }
    Ok(())
}

/// Token string to id map (a repeated string keeps its last id, as in llama.cpp).
fn vocab_map(tokens: &[String]) -> Vocab {
    tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect()
}

/// Parses `"left right"` merge strings.
fn parse_merges(merges: &[String]) -> Result<Merges, TokenizerError> {
    merges
        .iter()
        .enumerate()
        .map(|(i, m)| match m.split_once(' ') {
            Some((l, r)) if !l.is_empty() && !r.is_empty() && !r.contains(' ') => {
                Ok((l.to_owned(), r.to_owned()))
            }
            _ => Err(TokenizerError::InvalidVocab(format!(
                "merge `{i}` is `{m}`, expected two tokens separated by one space"
            ))),
        })
        .collect()
}

/// Derives BPE merges from SentencePiece scores like `transformers`' `generate_merges`:
/// every split of every piece into two known pieces (ordered by the halves' ids), then all
/// ranked by the piece's score, longer left halves first (stable).
pub(crate) fn merges_from_scores(tokens: &[String], scores: &[f32]) -> Merges {
    let index: HashMap<&str, usize> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), i))
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut ranked: Vec<(&str, &str, f32)> = Vec::new();
    for piece in tokens.iter().filter(|t| seen.insert(t.as_str())) {
        let score = index.get(piece.as_str()).and_then(|&i| scores.get(i));
        let score = score.copied().unwrap_or(f32::NEG_INFINITY);
        ranked.extend(splits(piece, &index).map(|(l, r)| (l, r, score)));
    }
    let key = |m: &(&str, &str, f32)| (m.0.chars().count(), m.1.chars().count());
    ranked.sort_by(|a, b| b.2.total_cmp(&a.2).then_with(|| key(b).cmp(&key(a))));
    ranked
        .into_iter()
        .map(|(l, r, _)| (l.to_owned(), r.to_owned()))
        .collect()
}

/// The splits of `piece` into two known pieces, ordered by the halves' ids.
fn splits<'p>(
    piece: &'p str,
    index: &HashMap<&str, usize>,
) -> impl Iterator<Item = (&'p str, &'p str)> {
    let mut found: Vec<(usize, usize, &str, &str)> = piece
        .char_indices()
        .skip(1)
        .map(|(at, _)| piece.split_at(at))
        .filter_map(|(l, r)| Some((*index.get(l)?, *index.get(r)?, l, r)))
        .collect();
    found.sort_unstable();
    found.into_iter().map(|(_, _, l, r)| (l, r))
}

/// Registers control/unknown/declared (BOS, EOS...) tokens as special and user-defined
/// ones as plain added tokens, so they are matched whole in input text.
fn add_vocab_tokens(tk: &mut tokenizers::Tokenizer, v: &GgufVocab) {
    let (special, user): (Vec<AddedToken>, Vec<AddedToken>) = (0..v.tokens.len())
        .filter_map(|id| added_token(v, id))
        .partition(|t| t.special);
    tk.add_special_tokens(&special);
    tk.add_tokens(&user);
}

/// The added-token form of token `id`, if it needs one.
fn added_token(v: &GgufVocab, id: usize) -> Option<AddedToken> {
    let token = v.tokens.get(id)?;
    // A byte-level token outside the byte alphabet was respelled in the model
    // vocabulary; adding its raw form would mint a new id (`transformers` skips it too).
    let spelled = v.model != "gpt2" || token.chars().all(is_byte_level_char);
    if token.is_empty() || !spelled {
        return None;
    }
    let declared = [v.bos_id, v.eos_id, v.eot_id, v.unk_id, v.pad_id].contains(&Some(id as u32));
    match v.token_type(id) {
        token_type::CONTROL | token_type::UNKNOWN => Some(AddedToken::from(token.clone(), true)),
        _ if declared => Some(AddedToken::from(token.clone(), true)),
        token_type::USER_DEFINED => Some(AddedToken::from(token.clone(), false).normalized(false)),
        _ => None,
    }
}

/// `BOS $A` when the vocabulary asks for a BOS token, nothing otherwise.
fn bos_processor(v: &GgufVocab) -> Result<Option<TemplateProcessing>, TokenizerError> {
    let Some(bos) = v.bos_id.filter(|_| v.add_bos) else {
        return Ok(None);
    };
    let content = token_at(v, bos, "bos")?;
    let plain = !content.is_empty() && !content.contains([' ', ':']) && !content.starts_with('$');
    let key = if plain { content } else { "BOS" };
    let special = SpecialToken::new(key.to_owned(), vec![bos], vec![content.to_owned()])
        .map_err(TokenizerError::tk("build post-processor"))?;
    TemplateProcessing::builder()
        .try_single(vec![format!("{key}:0"), "$A:0".to_owned()])
        .map_err(TokenizerError::InvalidVocab)?
        .special_tokens(vec![special])
        .build()
        .map(Some)
        .map_err(|e| TokenizerError::InvalidVocab(e.to_string()))
}

/// The token string at `id`, or an error naming the role (`bos`, `unk`...).
fn token_at<'v>(v: &'v GgufVocab, id: u32, role: &str) -> Result<&'v str, TokenizerError> {
    v.token(id).ok_or_else(|| {
        let n = v.tokens.len();
        TokenizerError::InvalidVocab(format!("{role} id `{id}` is out of range for `{n}` tokens"))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn merges_from_scores_matches_transformers_generate_merges() {
        let tokens: Vec<String> = [
            "<unk>", "▁", "a", "b", "c", "ab", "bc", "abc", "▁a", "▁ab", "ca", "cab",
        ]
        .map(String::from)
        .to_vec();
        let scores = [
            0.0, -1.0, -2.0, -3.0, -4.0, -5.0, -5.0, -6.0, -7.0, -7.0, -8.0, -9.0,
        ];
        // Output of transformers 5.23 `generate_merges(vocab, dict(zip(tokens, scores)))`.
        let expected = [
            ("a", "b"),
            ("b", "c"),
            ("ab", "c"),
            ("a", "bc"),
            ("▁a", "b"),
            ("▁", "ab"),
            ("▁", "a"),
            ("c", "a"),
            ("ca", "b"),
            ("c", "ab"),
        ];
        let got = merges_from_scores(&tokens, &scores);
        let got: Vec<(&str, &str)> = got.iter().map(|(l, r)| (l.as_str(), r.as_str())).collect();
        assert_eq!(got, expected);
    }
}
