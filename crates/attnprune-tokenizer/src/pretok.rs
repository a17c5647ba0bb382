//! Pre-tokenizers for byte-level BPE vocabularies, chosen by GGUF `tokenizer.ggml.pre`
//! the way llama.cpp chooses its split regexes.

use tokenizers::normalizers::unicode::NFC;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{NormalizerWrapper, PreTokenizerWrapper, SplitDelimiterBehavior};

use crate::error::TokenizerError;

/// Llama 3 split regex (`llama-bpe` in llama.cpp).
const LLAMA3_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Qwen2 split regex: like Llama 3 but digits one by one.
const QWEN2_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Pre-tokenizer families understood by [`byte_level_pipeline`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PreKind {
    /// Plain GPT-2 byte-level regex.
    Gpt2,
    /// Digits split one by one, then the GPT-2 regex (SmolLM, StarCoder).
    DigitsGpt2,
    /// Llama 3 regex; whole pre-tokens found in the vocabulary skip the merges.
    Llama3,
    /// Qwen2 regex with NFC normalization.
    Qwen2,
}

/// `tokenizer.ggml.pre` names accepted, with the family each maps to.
const PRE_NAMES: &[(&str, PreKind)] = &[
    ("default", PreKind::Gpt2),
    ("gpt-2", PreKind::Gpt2),
    ("gpt2", PreKind::Gpt2),
    ("smollm", PreKind::DigitsGpt2),
    ("starcoder", PreKind::DigitsGpt2),
    ("refact", PreKind::DigitsGpt2),
    ("llama-bpe", PreKind::Llama3),
    ("llama3", PreKind::Llama3),
    ("llama-v3", PreKind::Llama3),
    ("qwen2", PreKind::Qwen2),
    ("deepseek-r1-qwen", PreKind::Qwen2),
];

impl PreKind {
    /// Maps a GGUF `pre` name (absent means `default`) to its family.
    pub(crate) fn from_name(pre: Option<&str>) -> Result<Self, TokenizerError> {
        let name = pre.unwrap_or("default");
        PRE_NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, kind)| *kind)
            .ok_or_else(|| TokenizerError::UnsupportedPre {
                pre: name.to_owned(),
                supported: supported_pre_names(),
            })
    }

    /// Whether BPE should emit a whole pre-token directly when it is in the vocabulary.
    pub(crate) fn ignore_merges(self) -> bool {
        self == Self::Llama3
    }
}

/// Comma-separated list of supported `pre` names, for error messages.
pub(crate) fn supported_pre_names() -> String {
    let names: Vec<String> = PRE_NAMES.iter().map(|(n, _)| format!("`{n}`")).collect();
    names.join(", ")
}

/// Normalizer and pre-tokenizer of a byte-level BPE tokenizer of family `kind`.
pub(crate) fn byte_level_pipeline(
    kind: PreKind,
) -> Result<(Option<NormalizerWrapper>, PreTokenizerWrapper), TokenizerError> {
    let pre: PreTokenizerWrapper = match kind {
        PreKind::Gpt2 => ByteLevel::new(false, true, true).into(),
        PreKind::DigitsGpt2 => Sequence::new(vec![
            Digits::new(true).into(),
            ByteLevel::new(false, true, true).into(),
        ])
        .into(),
        PreKind::Llama3 => regex_then_bytes(LLAMA3_REGEX)?,
        PreKind::Qwen2 => regex_then_bytes(QWEN2_REGEX)?,
    };
    let normalizer = (kind == PreKind::Qwen2).then(|| NFC.into());
    Ok((normalizer, pre))
}

/// `Split(regex, Isolated)` followed by a regex-free byte-level mapping.
fn regex_then_bytes(regex: &str) -> Result<PreTokenizerWrapper, TokenizerError> {
    let split = Split::new(
        SplitPattern::Regex(regex.to_owned()),
        SplitDelimiterBehavior::Isolated,
        false,
    )
    .map_err(TokenizerError::tk("build"))?;
    let bytes = ByteLevel::new(false, false, false);
    Ok(Sequence::new(vec![split.into(), bytes.into()]).into())
}

/// Whether byte `b` stands for itself in GPT-2's byte alphabet.
fn is_printable_byte(b: u32) -> bool {
    matches!(b, 0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF)
}

/// Whether `c` belongs to GPT-2's byte alphabet (the 256 characters of
/// [`byte_to_char_table`]): a printable Latin-1 byte, or one of the 68 stand-ins from U+0100.
pub(crate) fn is_byte_level_char(c: char) -> bool {
    let code = c as u32;
    is_printable_byte(code) || (0x100..0x100 + 68).contains(&code)
}

/// GPT-2's reversible byte-to-character table: printable Latin-1 bytes map to themselves,
/// the others to code points from U+0100 upward, in byte order.
pub(crate) fn byte_to_char_table() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut next = 256u32;
    for (b, slot) in table.iter_mut().enumerate() {
        let code = if is_printable_byte(b as u32) {
            b as u32
        } else {
            next += 1;
            next - 1
        };
        *slot = char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
    }
    table
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn byte_table_matches_gpt2() {
        let t = byte_to_char_table();
        assert_eq!(t[b' ' as usize], 'Ġ');
        assert_eq!(t[b'\n' as usize], 'Ċ');
        assert_eq!(t[b'a' as usize], 'a');
        assert_eq!(t[0], 'Ā');
        let distinct: std::collections::HashSet<char> = t.iter().copied().collect();
        assert_eq!(distinct.len(), 256);
        assert!(t.iter().all(|&c| is_byte_level_char(c)));
        assert!(
            !is_byte_level_char(' ') && !is_byte_level_char('\u{144}') && is_byte_level_char('é')
        );
    }

    #[test]
    fn unknown_pre_lists_supported() {
        let err = PreKind::from_name(Some("martian")).unwrap_err().to_string();
        assert!(
            err.contains("`martian`") && err.contains("`smollm`"),
            "{err}"
        );
    }
}
