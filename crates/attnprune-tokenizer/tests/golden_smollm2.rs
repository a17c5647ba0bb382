//! Golden tests against `transformers` on the real SmolLM2-135M-Instruct GGUF.
//! Fixtures: `tests/fixtures/smollm2/{tokens,chat}.json` (made by `tools/make_fixtures.py`).
//! Each test skips (with a stderr note) when the model file is absent.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::OnceLock;

use attnprune_gguf::GgufFile;
use attnprune_tokenizer::{ChatMessage, GgufVocab, Tokenizer};

/// The GGUF vocabulary and tokenizer, loaded once per test binary.
fn smollm2(test: &str) -> Option<&'static (GgufVocab, Tokenizer)> {
    static CELL: OnceLock<(GgufVocab, Tokenizer)> = OnceLock::new();
    let path = common::smollm2_gguf(test)?;
    Some(CELL.get_or_init(|| {
        let vocab = GgufVocab::from_gguf(&GgufFile::open(&path).unwrap()).unwrap();
        let tok = Tokenizer::from_gguf_vocab(&vocab).unwrap();
        (vocab, tok)
    }))
}

#[test]
fn gguf_metadata_is_read() {
    let Some((vocab, tok)) = smollm2("gguf_metadata_is_read") else {
        return;
    };
    assert_eq!(vocab.model, "gpt2");
    assert_eq!(vocab.pre.as_deref(), Some("smollm"));
    assert_eq!((vocab.tokens.len(), vocab.merges.len()), (49152, 48900));
    assert_eq!(
        (vocab.bos_id, vocab.eos_id, vocab.unk_id, vocab.pad_id),
        (Some(1), Some(2), Some(0), Some(2))
    );
    assert!(!vocab.add_bos);
    assert_eq!(tok.vocab_size(), 49152);
    assert_eq!(tok.bos_id(), Some(1));
    assert_eq!(tok.eos_ids(), &[2, 0], "<|im_end|> then <|endoftext|>");
    assert_eq!(tok.token_id("<|im_start|>"), Some(1));
    assert!(tok.chat_template().is_some());
}

#[test]
fn token_battery_matches_transformers() {
    let Some((_, tok)) = smollm2("token_battery_matches_transformers") else {
        return;
    };
    let fixture = common::fixture("tests/fixtures/smollm2/tokens.json");
    let cases = fixture["cases"].as_array().unwrap();
    let texts: Vec<&str> = cases.iter().map(|c| c["text"].as_str().unwrap()).collect();
    for required in [
        "12345",
        "3.14159",
        "2024-11-29",
        "don't",
        "they'll",
        "<|im_start|>user",
        "tab\there\t\tend",
    ] {
        assert!(texts.contains(&required), "battery lost `{required}`");
    }
    let mut failures = Vec::new();
    for (case, text) in cases.iter().zip(&texts) {
        let expected = common::ids(case);
        let got = tok.encode(text, false).unwrap();
        if got != expected {
            failures.push(format!("{text:?}: expected {expected:?}, got {got:?}"));
        }
        let back = tok.decode(&got, false).unwrap();
        if back != *text {
            failures.push(format!("{text:?}: decoded as {back:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn batch_encoding_matches_single() {
    let Some((_, tok)) = smollm2("batch_encoding_matches_single") else {
        return;
    };
    let texts = ["Hello world", "", "12345 don't", "你好"];
    let batch = tok.encode_batch(&texts, false).unwrap();
    let single: Vec<Vec<u32>> = texts
        .iter()
        .map(|t| tok.encode(t, false).unwrap())
        .collect();
    assert_eq!(batch, single);
}

#[test]
fn special_tokens_are_atomic_and_skippable() {
    let Some((_, tok)) = smollm2("special_tokens_are_atomic_and_skippable") else {
        return;
    };
    let ids = tok.encode("<|im_start|>user\nHi<|im_end|>", true).unwrap();
    assert_eq!(
        (ids.first(), ids.last()),
        (Some(&1), Some(&2)),
        "no BOS added, specials whole: {ids:?}"
    );
    assert_eq!(tok.decode(&ids, true).unwrap(), "user\nHi");
    assert_eq!(
        tok.decode(&ids, false).unwrap(),
        "<|im_start|>user\nHi<|im_end|>"
    );
}

#[test]
fn chat_template_matches_transformers() {
    let Some((_, tok)) = smollm2("chat_template_matches_transformers") else {
        return;
    };
    let fixture = common::fixture("tests/fixtures/smollm2/chat.json");
    let cases = fixture["cases"].as_array().unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let messages: Vec<ChatMessage> = serde_json::from_value(case["messages"].clone()).unwrap();
        let agp = case["add_generation_prompt"].as_bool().unwrap();
        let text = tok.apply_chat_template(&messages, agp).unwrap();
        assert_eq!(
            text,
            case["text"].as_str().unwrap(),
            "messages {messages:?}"
        );
        assert_eq!(
            tok.encode_chat(&messages, agp).unwrap(),
            common::ids(case),
            "messages {messages:?}"
        );
    }
}

#[test]
fn default_system_prompt_is_injected() {
    let Some((_, tok)) = smollm2("default_system_prompt_is_injected") else {
        return;
    };
    let text = tok
        .apply_chat_template(&[ChatMessage::new("user", "Hi")], false)
        .unwrap();
    assert!(
        text.starts_with("<|im_start|>system\nYou are a helpful AI assistant named SmolLM"),
        "{text}"
    );
    assert!(text.ends_with("<|im_start|>user\nHi<|im_end|>\n"), "{text}");
}

#[test]
fn saved_tokenizer_reloads_identically() {
    let Some((_, tok)) = smollm2("saved_tokenizer_reloads_identically") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (json, cfg) = (
        dir.path().join("tokenizer.json"),
        dir.path().join("tokenizer_config.json"),
    );
    tok.save(&json).unwrap();
    tok.save_config(&cfg).unwrap();
    let back = Tokenizer::from_file(&json, Some(&cfg)).unwrap();
    let text = "Hello 2024-11-29 <|im_start|>user café 👨‍👩‍👧 don't";
    assert_eq!(
        back.encode(text, true).unwrap(),
        tok.encode(text, true).unwrap()
    );
    assert_eq!(
        (back.bos_id(), back.eos_ids(), back.vocab_size()),
        (tok.bos_id(), tok.eos_ids(), tok.vocab_size())
    );
    let msgs = [ChatMessage::new("user", "Hi")];
    assert_eq!(
        back.apply_chat_template(&msgs, true).unwrap(),
        tok.apply_chat_template(&msgs, true).unwrap()
    );
}
