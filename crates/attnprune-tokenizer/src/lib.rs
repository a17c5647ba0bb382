//! Tokenizers and chat templates for Llama-family models, loaded from local files only.
//!
//! attnprune needs to turn prompts into token ids and back for the models whose attention
//! heads it prunes. This crate wraps the HF `tokenizers` pipeline (no hub access, no C
//! build) and renders the model's own Jinja chat template with `minijinja`, so that prompts
//! match what `transformers` / llama.cpp would feed the model.
//!
//! Three ways to get a [`Tokenizer`]:
//! - [`Tokenizer::from_file`]: an HF checkpoint's `tokenizer.json` (+ `tokenizer_config.json`);
//! - [`Tokenizer::from_gguf_vocab`]: rebuilt from GGUF metadata ([`GgufVocab`]);
//! - [`tiny_byte_level_tokenizer`]: a small byte-level BPE trained in-process, for tests.

mod chat;
mod config;
mod error;
mod gguf;
mod pretok;
mod pyjson;
mod rebuild;
mod tiny;
mod tokenizer;
mod vocab;

pub use chat::{ChatMessage, ChatTemplate, CHATML_TEMPLATE};
pub use error::{TokenizerError, TokenizersError};
pub use tiny::{tiny_byte_level_tokenizer, TINY_SPECIAL_TOKENS};
pub use tokenizer::Tokenizer;
pub use vocab::{token_type, GgufVocab};
