//! Reading a [`GgufVocab`] from the `tokenizer.*` metadata of a GGUF file.

use std::path::Path;

use attnprune_gguf::{GgufFile, MetadataValue};

use crate::error::TokenizerError;
use crate::tokenizer::Tokenizer;
use crate::vocab::GgufVocab;

/// Metadata key prefix shared by llama.cpp's tokenizer keys.
const GGML: &str = "tokenizer.ggml.";

impl GgufVocab {
    /// Collects the tokenizer metadata of `file` (`tokenizer.ggml.*`, `tokenizer.chat_template`).
    /// `add_bos` defaults to `true` for `llama` vocabularies, like llama.cpp.
    pub fn from_gguf(file: &GgufFile) -> Result<Self, TokenizerError> {
        let model = required(file, "model", MetadataValue::as_str)?.to_owned();
        let tokens = required(file, "tokens", strings)?;
        let add_bos = optional(file, "add_bos_token", MetadataValue::as_bool)?;
        Ok(Self {
            pre: optional(file, "pre", |v| v.as_str().map(str::to_owned))?,
            tokens,
            token_types: optional(file, "token_type", |v| {
                numbers(v, |x| i32::try_from(x.as_i64()?).ok())
            })?,
            scores: optional(file, "scores", |v| {
                numbers(v, |x| x.as_f64().map(|f| f as f32))
            })?,
            merges: optional(file, "merges", strings)?.unwrap_or_default(),
            bos_id: id(file, "bos_token_id")?,
            eos_id: id(file, "eos_token_id")?,
            eot_id: id(file, "eot_token_id")?,
            unk_id: id(file, "unknown_token_id")?,
            pad_id: id(file, "padding_token_id")?,
            add_space_prefix: optional(file, "add_space_prefix", MetadataValue::as_bool)?,
            add_bos: add_bos.unwrap_or(model == "llama"),
            chat_template: metadata_at(file, "tokenizer.chat_template", |v| {
                v.as_str().map(str::to_owned)
            })?,
            model,
        })
    }
}

impl Tokenizer {
    /// Opens a GGUF model file and rebuilds its tokenizer (see [`GgufVocab::from_gguf`]).
    pub fn from_gguf_file(path: &Path) -> Result<Self, TokenizerError> {
        let file = GgufFile::open(path)?;
        Self::from_gguf_vocab(&GgufVocab::from_gguf(&file)?)
    }
}

/// `tokenizer.ggml.<name>`, which must be present and convertible.
fn required<'f, T>(
    file: &'f GgufFile,
    name: &str,
    get: impl Fn(&'f MetadataValue) -> Option<T>,
) -> Result<T, TokenizerError> {
    let key = format!("{GGML}{name}");
    metadata_at(file, &key, get)?.ok_or_else(|| TokenizerError::GgufMetadata {
        key,
        reason: "missing".to_owned(),
    })
}

/// `tokenizer.ggml.<name>` if present; present but of the wrong type is an error.
fn optional<'f, T>(
    file: &'f GgufFile,
    name: &str,
    get: impl Fn(&'f MetadataValue) -> Option<T>,
) -> Result<Option<T>, TokenizerError> {
    metadata_at(file, &format!("{GGML}{name}"), get)
}

/// The value at `key` converted by `get`; `None` when absent.
fn metadata_at<'f, T>(
    file: &'f GgufFile,
    key: &str,
    get: impl Fn(&'f MetadataValue) -> Option<T>,
) -> Result<Option<T>, TokenizerError> {
    let Some(value) = file.metadata.get(key) else {
        return Ok(None);
    };
    get(value)
        .map(Some)
        .ok_or_else(|| TokenizerError::GgufMetadata {
            key: key.to_owned(),
            reason: format!("unexpected type `{}`", value.type_name()),
        })
}

/// A token id key (`u32`).
fn id(file: &GgufFile, name: &str) -> Result<Option<u32>, TokenizerError> {
    optional(file, name, |v| u32::try_from(v.as_u64()?).ok())
}

/// An array of strings.
fn strings(value: &MetadataValue) -> Option<Vec<String>> {
    value
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// An array of numbers, each converted by `conv`.
fn numbers<T>(value: &MetadataValue, conv: impl Fn(&MetadataValue) -> Option<T>) -> Option<Vec<T>> {
    value.as_array()?.iter().map(conv).collect()
}
