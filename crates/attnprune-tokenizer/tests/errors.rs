//! Error cases: every failure is a `TokenizerError` whose message names the culprit.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use attnprune_tokenizer::{
    tiny_byte_level_tokenizer, ChatMessage, ChatTemplate, GgufVocab, Tokenizer, TokenizerError,
};

fn err_text<T: std::fmt::Debug>(r: Result<T, TokenizerError>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn missing_file_names_the_path() {
    let msg = err_text(Tokenizer::from_file(
        Path::new("/nonexistent/dir/tokenizer.json"),
        None,
    ));
    assert!(msg.contains("`/nonexistent/dir/tokenizer.json`"), "{msg}");
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("tokenizer.json");
    tiny_byte_level_tokenizer("abc", 1)
        .unwrap()
        .save(&json)
        .unwrap();
    let cfg = dir.path().join("missing_config.json");
    let msg = err_text(Tokenizer::from_file(&json, Some(&cfg)));
    assert!(msg.contains("missing_config.json"), "{msg}");
    let msg = err_text(Tokenizer::from_gguf_file(&dir.path().join("absent.gguf")));
    assert!(msg.contains("absent.gguf"), "{msg}");
}

#[test]
fn malformed_json_is_reported_with_path() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("tokenizer.json");
    for content in ["{ not json", r#"{"model": {"type": "Martian"}}"#] {
        std::fs::write(&bad, content).unwrap();
        let err = Tokenizer::from_file(&bad, None).unwrap_err();
        assert!(matches!(err, TokenizerError::MalformedJson { .. }), "{err}");
        assert!(err.to_string().contains("tokenizer.json`"), "{err}");
    }
    let good = dir.path().join("good.json");
    tiny_byte_level_tokenizer("abc", 1)
        .unwrap()
        .save(&good)
        .unwrap();
    let cfg = dir.path().join("tokenizer_config.json");
    std::fs::write(&cfg, "[1, 2").unwrap();
    assert!(matches!(
        Tokenizer::from_file(&good, Some(&cfg)),
        Err(TokenizerError::MalformedJson { .. })
    ));
}

#[test]
fn config_token_missing_from_vocab() {
    let dir = tempfile::tempdir().unwrap();
    let (json, cfg) = (
        dir.path().join("tokenizer.json"),
        dir.path().join("tokenizer_config.json"),
    );
    tiny_byte_level_tokenizer("abc", 1)
        .unwrap()
        .save(&json)
        .unwrap();
    std::fs::write(&cfg, r#"{"bos_token": "<s>"}"#).unwrap();
    let msg = err_text(Tokenizer::from_file(&json, Some(&cfg)));
    assert!(msg.contains("`<s>`"), "{msg}");
}

fn gpt2_vocab(pre: Option<&str>) -> GgufVocab {
    GgufVocab {
        model: "gpt2".into(),
        pre: pre.map(str::to_owned),
        tokens: ["a", "b", "ab"].map(String::from).to_vec(),
        merges: vec!["a b".into()],
        ..GgufVocab::default()
    }
}

#[test]
fn unknown_pre_is_named_with_supported_list() {
    let msg = err_text(Tokenizer::from_gguf_vocab(&gpt2_vocab(Some("klingon-bpe"))));
    assert!(msg.contains("`klingon-bpe`"), "{msg}");
    for known in ["`smollm`", "`llama-bpe`", "`qwen2`", "`gpt-2`", "`default`"] {
        assert!(msg.contains(known), "{msg}");
    }
    assert!(
        Tokenizer::from_gguf_vocab(&gpt2_vocab(None)).is_ok(),
        "absent pre means default"
    );
}

#[test]
fn unknown_model_and_bad_vocab_are_rejected() {
    let mut vocab = gpt2_vocab(Some("default"));
    vocab.model = "rwkv".into();
    let msg = err_text(Tokenizer::from_gguf_vocab(&vocab));
    assert!(msg.contains("`rwkv`") && msg.contains("`gpt2`"), "{msg}");

    let mut vocab = gpt2_vocab(Some("default"));
    vocab.merges = vec!["ab".into()];
    assert!(err_text(Tokenizer::from_gguf_vocab(&vocab)).contains("`ab`"));

    let mut vocab = gpt2_vocab(Some("default"));
    vocab.token_types = Some(vec![1]);
    assert!(err_text(Tokenizer::from_gguf_vocab(&vocab)).contains("`1` entries"));

    let mut vocab = gpt2_vocab(Some("default"));
    (vocab.bos_id, vocab.add_bos) = (Some(99), true);
    assert!(err_text(Tokenizer::from_gguf_vocab(&vocab)).contains("`99`"));

    let vocab = GgufVocab {
        model: "llama".into(),
        tokens: vec!["a".into()],
        ..GgufVocab::default()
    };
    assert!(err_text(Tokenizer::from_gguf_vocab(&vocab)).contains("scores"));
}

#[test]
fn decoding_unknown_ids_fails() {
    let tok = tiny_byte_level_tokenizer("abc", 0).unwrap();
    let msg = err_text(tok.decode(&[97, 5000], false));
    assert!(msg.contains("`5000`") && msg.contains("`259`"), "{msg}");
}

#[test]
fn chat_errors() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("tokenizer.json");
    tiny_byte_level_tokenizer("abc", 0)
        .unwrap()
        .save(&json)
        .unwrap();
    let bare = Tokenizer::from_file(&json, None).unwrap();
    assert!(matches!(
        bare.apply_chat_template(&[], true),
        Err(TokenizerError::NoChatTemplate)
    ));
    let raising = "{% if messages[0]['role'] == 'assistant' %}{{ raise_exception('Conversation must start with user') }}{% endif %}";
    let t = ChatTemplate::new(raising.into(), None, None);
    let msg = err_text(t.render(&[ChatMessage::new("assistant", "x")], false));
    assert!(msg.contains("Conversation must start with user"), "{msg}");
}

/// Found by the mutation test (crates/attnprune-fuzz): a syntax error inside the `decoder`
/// object made the `tokenizers` crate panic (`expect("Helper")`); it is a malformed-JSON error.
#[test]
fn a_broken_decoder_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("tokenizer.json");
    tiny_byte_level_tokenizer("the cat sat", 4)
        .unwrap()
        .save(&json)
        .unwrap();
    let text = std::fs::read_to_string(&json).unwrap();
    assert!(text.contains("\"decoder\":"));
    std::fs::write(&json, text.replacen("\"decoder\":", "\"decoder\":@", 1)).unwrap();
    let msg = err_text(Tokenizer::from_file(&json, None));
    assert!(msg.contains("tokenizer.json"), "{msg}");
    assert!(
        msg.contains("could not parse"),
        "not the caught panic: {msg}"
    );
}
