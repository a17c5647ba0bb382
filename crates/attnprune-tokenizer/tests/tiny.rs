//! The in-process tiny tokenizer, and `from_file` on the tiny HF checkpoints in
//! `tests/fixtures/tiny-*` (no model file needed).
#![allow(clippy::unwrap_used)]

mod common;

use attnprune_tokenizer::{tiny_byte_level_tokenizer, ChatMessage, Tokenizer, TINY_SPECIAL_TOKENS};

const TRAINING: &str = "The jury said it did find that the city was well run. \
    The jury further said that the election was conducted well. 1999 and 2024! \
    Café crème, naïve résumé. 你好世界. <|im_start|>user\nHi<|im_end|>\n";

/// Texts no training data covers fully: Unicode, emoji, whitespace runs, specials.
const ROUND_TRIP: &[&str] = &[
    "",
    " ",
    "Hello world",
    "  leading and trailing  ",
    "tabs\t\tand\nnewlines\r\n\n",
    "12345 3.14159 2024-11-29",
    "don't they'll I'M",
    "Ωmega ñ ü ß Ærøskøbing",
    "日本語のテキスト 한국어 مرحبا بالعالم नमस्ते",
    "👨‍👩‍👧‍👦 🏳️‍🌈 🇺🇸 ❤️",
    "e\u{301} vs é",
    "\u{0}\u{1}\u{7f} control bytes",
];

#[test]
fn round_trip_is_identity() {
    let tok = tiny_byte_level_tokenizer(TRAINING, 100).unwrap();
    for text in ROUND_TRIP {
        let ids = tok.encode(text, true).unwrap();
        assert_eq!(tok.decode(&ids, false).unwrap(), *text, "ids {ids:?}");
    }
}

#[test]
fn vocabulary_layout_and_specials() {
    let tok = tiny_byte_level_tokenizer(TRAINING, 50).unwrap();
    let n = tok.vocab_size() as u32;
    assert!((256 + 40 + 3..=256 + 50 + 3).contains(&n), "vocab size {n}");
    assert_eq!(tok.token_id("a"), Some(u32::from(b'a')));
    assert_eq!(tok.token_id("Ġ"), Some(u32::from(b' ')));
    let specials: Vec<u32> = TINY_SPECIAL_TOKENS
        .iter()
        .map(|s| tok.token_id(s).unwrap())
        .collect();
    assert_eq!(specials, vec![n - 3, n - 2, n - 1]);
    assert_eq!(tok.bos_id(), None);
    assert_eq!(
        tok.eos_ids(),
        &[n - 1, n - 3],
        "<|im_end|> first, then <|endoftext|>"
    );
    let ids = tok.encode("<|im_start|>user<|im_end|>", true).unwrap();
    assert_eq!((ids.first(), ids.last()), (Some(&(n - 2)), Some(&(n - 1))));
    assert_eq!(tok.decode(&ids, true).unwrap(), "user");
}

#[test]
fn training_is_deterministic_and_compresses() {
    let a = tiny_byte_level_tokenizer(TRAINING, 80).unwrap();
    let b = tiny_byte_level_tokenizer(TRAINING, 80).unwrap();
    assert_eq!(
        a.inner().to_string(false).unwrap(),
        b.inner().to_string(false).unwrap()
    );
    let bytes = tiny_byte_level_tokenizer(TRAINING, 0).unwrap();
    let text = "The jury said that";
    assert_eq!(bytes.encode(text, false).unwrap().len(), text.len());
    assert!(a.encode(text, false).unwrap().len() < text.len() / 2);
}

#[test]
fn merges_stop_when_no_pairs_remain() {
    let tok = tiny_byte_level_tokenizer("ab", 1000).unwrap();
    assert_eq!(tok.vocab_size(), 256 + 1 + 3);
    assert_eq!(tok.encode("abab", false).unwrap(), vec![256, 256]);
}

#[test]
fn chat_template_is_chatml() {
    let tok = tiny_byte_level_tokenizer(TRAINING, 30).unwrap();
    let msgs = [
        ChatMessage::new("system", "Be brief."),
        ChatMessage::new("user", "Hi"),
    ];
    let text = tok.apply_chat_template(&msgs, true).unwrap();
    assert_eq!(text, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    let ids = tok.encode_chat(&msgs, true).unwrap();
    let im_start = tok.token_id("<|im_start|>").unwrap();
    assert_eq!(
        ids.iter().filter(|&&i| i == im_start).count(),
        3,
        "three <|im_start|>: {ids:?}"
    );
    assert_eq!(
        tok.apply_chat_template(&msgs, false).unwrap(),
        text.trim_end_matches("<|im_start|>assistant\n")
    );
}

#[test]
fn save_and_reload_preserve_behaviour() {
    let tok = tiny_byte_level_tokenizer(TRAINING, 64).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (json, cfg) = (
        dir.path().join("tokenizer.json"),
        dir.path().join("tokenizer_config.json"),
    );
    tok.save(&json).unwrap();
    tok.save_config(&cfg).unwrap();
    let full = Tokenizer::from_file(&json, Some(&cfg)).unwrap();
    let bare = Tokenizer::from_file(&json, None).unwrap();
    for text in ROUND_TRIP {
        let ids = tok.encode(text, true).unwrap();
        assert_eq!(full.encode(text, true).unwrap(), ids);
        assert_eq!(bare.decode(&ids, false).unwrap(), *text);
    }
    assert_eq!(
        (full.vocab_size(), full.eos_ids(), full.bos_id()),
        (tok.vocab_size(), tok.eos_ids(), None)
    );
    assert_eq!(full.chat_template(), tok.chat_template());
    assert!(bare.chat_template().is_none());
}

/// The tiny HF checkpoints' tokenizers (trained by `transformers`) load with `from_file`
/// and reproduce `transformers`' ids and chat rendering.
#[test]
fn hf_tiny_checkpoints_match_transformers() {
    for name in ["tiny-llama", "tiny-qwen2", "tiny-mistral"] {
        let dir = common::root_path(&format!("tests/fixtures/{name}"));
        let tok = Tokenizer::from_file(
            &dir.join("tokenizer.json"),
            Some(&dir.join("tokenizer_config.json")),
        )
        .unwrap();
        let fixture = common::fixture(&format!("tests/fixtures/{name}/tokens.json"));
        for case in fixture["cases"].as_array().unwrap() {
            let text = case["text"].as_str().unwrap();
            assert_eq!(
                tok.encode(text, false).unwrap(),
                common::ids(case),
                "{name}: {text:?}"
            );
        }
        assert_eq!(tok.bos_id(), tok.token_id("<|im_start|>"));
        assert_eq!(tok.eos_ids().first().copied(), tok.token_id("<|im_end|>"));
        let text = tok
            .apply_chat_template(&[ChatMessage::new("user", "Hi")], true)
            .unwrap();
        assert_eq!(
            text,
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }
}
