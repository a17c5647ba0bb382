//! [`GgufVocab`]: the tokenizer description stored in GGUF metadata.

/// GGUF `tokenizer.ggml.token_type` values, as defined by llama.cpp.
///
/// Named so the rebuild logic reads like the llama.cpp code it mirrors.
pub mod token_type {
    /// An ordinary vocabulary piece.
    pub const NORMAL: i32 = 1;
    /// The unknown token.
    pub const UNKNOWN: i32 = 2;
    /// A control token (`<s>`, `<|im_start|>`): matched whole, hidden when skipping specials.
    pub const CONTROL: i32 = 3;
    /// A user-defined token: matched whole, decoded as its text.
    pub const USER_DEFINED: i32 = 4;
    /// A placeholder that is never produced.
    pub const UNUSED: i32 = 5;
    /// A byte-fallback piece such as `<0x0A>`.
    pub const BYTE: i32 = 6;
}

/// Everything needed to rebuild a tokenizer from GGUF metadata (`tokenizer.ggml.*`).
///
/// Plain data, so tests and tools can construct vocabularies without a GGUF file; optional fields
/// default to `None` (use `..GgufVocab::default()`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GgufVocab {
    /// `tokenizer.ggml.model`: `gpt2` (byte-level BPE) or `llama` (SentencePiece-style BPE).
    pub model: String,
    /// `tokenizer.ggml.pre`: pre-tokenizer name (`smollm`, `llama-bpe`, `qwen2`, `default`...).
    pub pre: Option<String>,
    /// `tokenizer.ggml.tokens`, indexed by id (byte-level unicode form for `gpt2`).
    pub tokens: Vec<String>,
    /// `tokenizer.ggml.token_type`, one [`token_type`] value per token.
    pub token_types: Option<Vec<i32>>,
    /// `tokenizer.ggml.scores`, one per token; required by `llama` vocabularies without merges.
    pub scores: Option<Vec<f32>>,
    /// `tokenizer.ggml.merges` as `"left right"` strings, highest priority first.
    pub merges: Vec<String>,
    /// `tokenizer.ggml.bos_token_id`.
    pub bos_id: Option<u32>,
    /// `tokenizer.ggml.eos_token_id`.
    pub eos_id: Option<u32>,
    /// `tokenizer.ggml.eot_token_id`: end of turn, also ends generation.
    pub eot_id: Option<u32>,
    /// `tokenizer.ggml.unknown_token_id`.
    pub unk_id: Option<u32>,
    /// `tokenizer.ggml.padding_token_id`.
    pub pad_id: Option<u32>,
    /// `tokenizer.ggml.add_space_prefix`: for `llama` vocabularies, prefix the text with a
    /// space (`None` means the SentencePiece default, `true`).
    pub add_space_prefix: Option<bool>,
    /// `tokenizer.ggml.add_bos_token`: prepend BOS when special tokens are requested.
    pub add_bos: bool,
    /// `tokenizer.chat_template`: the model's Jinja chat template.
    pub chat_template: Option<String>,
}

impl GgufVocab {
    /// The token string with id `id`, if in range.
    pub fn token(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    /// The type of token `id`; [`token_type::NORMAL`] when types are absent.
    pub fn token_type(&self, id: usize) -> i32 {
        self.token_types
            .as_ref()
            .and_then(|t| t.get(id).copied())
            .unwrap_or(token_type::NORMAL)
    }
}
