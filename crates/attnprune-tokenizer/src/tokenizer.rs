//! [`Tokenizer`]: the HF `tokenizers` pipeline plus the special ids and chat template a
//! language model needs.

use std::path::Path;
use std::str::FromStr;

use crate::chat::{ChatMessage, ChatTemplate};
use crate::config::TokenizerConfig;
use crate::error::TokenizerError;
use crate::rebuild;
use crate::vocab::GgufVocab;

/// Special tokens that end a generation whenever they are special tokens of the
/// vocabulary (llama.cpp's end-of-generation heuristic).
const END_OF_GENERATION: &[&str] = &[
    "<|im_end|>",
    "<|endoftext|>",
    "<|eot_id|>",
    "<|eom_id|>",
    "<|end_of_text|>",
    "<end_of_turn>",
    "<|end|>",
];

/// A text tokenizer with the BOS/EOS ids and chat template of its model.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    bos_id: Option<u32>,
    eos_ids: Vec<u32>,
    vocab_size: usize,
    chat_template: Option<ChatTemplate>,
}

impl Tokenizer {
    /// Loads an HF checkpoint's `tokenizer.json` and, optionally, its
    /// `tokenizer_config.json` (chat template, `bos_token`, `eos_token`).
    pub fn from_file(
        tokenizer_json: &Path,
        tokenizer_config_json: Option<&Path>,
    ) -> Result<Self, TokenizerError> {
        let text =
            std::fs::read_to_string(tokenizer_json).map_err(TokenizerError::io(tokenizer_json))?;
        // The `tokenizers` crate panics on some malformed files (a decoder whose JSON does not
        // parse is unwrapped): such a file is refused like any other malformed one.
        let parsed = std::panic::catch_unwind(|| tokenizers::Tokenizer::from_str(&text))
            .unwrap_or_else(|panic| {
                Err(format!(
                    "the tokenizers crate could not parse it ({})",
                    panic_text(&panic)
                )
                .into())
            });
        let inner = parsed.map_err(TokenizerError::json(tokenizer_json))?;
        let cfg = match tokenizer_config_json {
            Some(path) => TokenizerConfig::load(path)?,
            None => TokenizerConfig::default(),
        };
        let bos_id = lookup(&inner, "bos", cfg.bos_token.as_deref())?;
        let eos: Vec<u32> = lookup(&inner, "eos", cfg.eos_token.as_deref())?
            .into_iter()
            .collect();
        let template = cfg
            .chat_template
            .map(|src| ChatTemplate::new(src, cfg.bos_token, cfg.eos_token));
        Ok(Self::assemble(inner, bos_id, eos, template))
    }

    /// Rebuilds the tokenizer described by GGUF metadata (see [`GgufVocab`]).
    pub fn from_gguf_vocab(vocab: &GgufVocab) -> Result<Self, TokenizerError> {
        let inner = rebuild::from_vocab(vocab)?;
        let text = |id: Option<u32>| id.and_then(|i| vocab.token(i)).map(str::to_owned);
        let template = vocab
            .chat_template
            .clone()
            .map(|src| ChatTemplate::new(src, text(vocab.bos_id), text(vocab.eos_id)));
        let eos: Vec<u32> = [vocab.eos_id, vocab.eot_id].into_iter().flatten().collect();
        Ok(Self::assemble(inner, vocab.bos_id, eos, template))
    }

    /// Completes the declared EOS ids with the vocabulary's end-of-generation tokens.
    fn assemble(
        inner: tokenizers::Tokenizer,
        bos_id: Option<u32>,
        mut eos_ids: Vec<u32>,
        chat_template: Option<ChatTemplate>,
    ) -> Self {
        let added = inner.get_added_vocabulary();
        let specials = END_OF_GENERATION
            .iter()
            .filter(|name| added.is_special_token(name));
        eos_ids.extend(specials.filter_map(|name| inner.token_to_id(name)));
        let mut seen = std::collections::HashSet::new();
        eos_ids.retain(|id| seen.insert(*id));
        let vocab_size = inner
            .get_vocab(true)
            .values()
            .max()
            .map_or(0, |&m| m as usize + 1);
        Self {
            inner,
            bos_id,
            eos_ids,
            vocab_size,
            chat_template,
        }
    }

    /// Token ids of `text`; `add_special_tokens` applies the model's post-processor
    /// (e.g. prepends BOS when the model wants it). Special-token strings in `text` are
    /// matched as single tokens.
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>, TokenizerError> {
        let encoding = self
            .inner
            .encode(text, add_special_tokens)
            .map_err(TokenizerError::tk("encode"))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// [`Self::encode`] for many texts at once (parallel).
    pub fn encode_batch(
        &self,
        texts: &[&str],
        add_special_tokens: bool,
    ) -> Result<Vec<Vec<u32>>, TokenizerError> {
        let encodings = self
            .inner
            .encode_batch(texts.to_vec(), add_special_tokens)
            .map_err(TokenizerError::tk("encode"))?;
        Ok(encodings.iter().map(|e| e.get_ids().to_vec()).collect())
    }

    /// Text of `ids`; special tokens are dropped when `skip_special_tokens`.
    /// Ids outside the vocabulary are an error rather than silently dropped.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String, TokenizerError> {
        if let Some(&id) = ids.iter().find(|&&id| id as usize >= self.vocab_size) {
            return Err(TokenizerError::UnknownId {
                id,
                vocab_size: self.vocab_size,
            });
        }
        self.inner
            .decode(ids, skip_special_tokens)
            .map_err(TokenizerError::tk("decode"))
    }

    /// Number of token ids (largest id + 1, added tokens included).
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// Id of the beginning-of-sequence token, if the model declares one.
    pub fn bos_id(&self) -> Option<u32> {
        self.bos_id
    }

    /// Ids that end a generation: the declared EOS (first) and other end-of-turn tokens.
    pub fn eos_ids(&self) -> &[u32] {
        &self.eos_ids
    }

    /// Id of the token spelled exactly `token` (model or added vocabulary).
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The vocabulary string of token `id` (byte-level or `▁` form, not decoded text).
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// The model's chat template, if it has one.
    pub fn chat_template(&self) -> Option<&ChatTemplate> {
        self.chat_template.as_ref()
    }

    /// Renders a conversation with the model's chat template.
    pub fn apply_chat_template(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String, TokenizerError> {
        let template = self
            .chat_template
            .as_ref()
            .ok_or(TokenizerError::NoChatTemplate)?;
        template.render(messages, add_generation_prompt)
    }

    /// Ids of a rendered conversation; like `transformers`, the rendered text is encoded
    /// without adding special tokens (the template writes them).
    pub fn encode_chat(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<Vec<u32>, TokenizerError> {
        self.encode(
            &self.apply_chat_template(messages, add_generation_prompt)?,
            false,
        )
    }

    /// The wrapped HF tokenizer, for features this wrapper does not expose.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }

    /// Writes the pipeline as an HF `tokenizer.json`.
    pub fn save(&self, path: &Path) -> Result<(), TokenizerError> {
        let json = self
            .inner
            .to_string(true)
            .map_err(TokenizerError::tk("serialize"))?;
        std::fs::write(path, json).map_err(TokenizerError::io(path))
    }

    /// Writes a minimal `tokenizer_config.json` (chat template, BOS/EOS strings) so that
    /// [`Self::from_file`] (and `transformers`) restore everything [`Self::save`] omits.
    pub fn save_config(&self, path: &Path) -> Result<(), TokenizerError> {
        let cfg = TokenizerConfig {
            bos_token: self.bos_id.and_then(|id| self.id_to_token(id)),
            eos_token: self.eos_ids.first().and_then(|&id| self.id_to_token(id)),
            chat_template: self.chat_template.as_ref().map(|t| t.source().to_owned()),
        };
        let text = serde_json::to_string_pretty(&cfg.to_json()).map_err(|e| {
            TokenizerError::Tokenizers {
                action: "serialize",
                source: e.into(),
            }
        })?;
        std::fs::write(path, text).map_err(TokenizerError::io(path))
    }
}

/// The id of a configured special token string; an error if the vocabulary lacks it.
fn lookup(
    inner: &tokenizers::Tokenizer,
    role: &'static str,
    token: Option<&str>,
) -> Result<Option<u32>, TokenizerError> {
    let Some(token) = token else { return Ok(None) };
    let id = inner.token_to_id(token);
    id.map(Some).ok_or_else(|| TokenizerError::UnknownToken {
        role,
        token: token.to_owned(),
    })
}

/// The message of a caught panic.
fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
        .unwrap_or_else(|| "a panic".into())
}
