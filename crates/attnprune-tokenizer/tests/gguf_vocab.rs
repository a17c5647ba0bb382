//! Rebuilding tokenizers from synthetic GGUF vocabularies: each `pre` family splits text
//! its own way, SentencePiece vocabularies work, and metadata is read from GGUF bytes.
#![allow(clippy::unwrap_used)]

use attnprune_gguf::{GgufFile, GgufWriter, MetadataValue};
use attnprune_tokenizer::{token_type, GgufVocab, Tokenizer};

/// GPT-2's byte alphabet in byte order (same construction as the GPT-2 encoder).
fn byte_tokens() -> Vec<String> {
    let mut next = 256u32;
    (0..=255u8)
        .map(|b| {
            let printable = matches!(b, 0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF);
            let code = if printable {
                u32::from(b)
            } else {
                next += 1;
                next - 1
            };
            char::from_u32(code).unwrap().to_string()
        })
        .collect()
}

/// Byte-level vocabulary: bytes, then `extra` tokens, merges `3 4` and `a b`.
fn byte_vocab(pre: &str, extra: &[&str]) -> GgufVocab {
    let mut tokens = byte_tokens();
    tokens.extend(["34", "ab"].iter().chain(extra).map(|s| (*s).to_owned()));
    GgufVocab {
        model: "gpt2".into(),
        pre: Some(pre.into()),
        tokens,
        merges: vec!["3 4".into(), "a b".into()],
        ..GgufVocab::default()
    }
}

fn encode(vocab: &GgufVocab, text: &str) -> Vec<u32> {
    Tokenizer::from_gguf_vocab(vocab)
        .unwrap()
        .encode(text, true)
        .unwrap()
}

#[test]
fn pre_tokenizers_split_digits_like_llama_cpp() {
    let (b1, b2, b3, b4, t34) = (49, 50, 51, 52, 256);
    assert_eq!(
        encode(&byte_vocab("gpt-2", &[]), "1234"),
        vec![b1, b2, t34],
        "one number pre-token"
    );
    assert_eq!(
        encode(&byte_vocab("default", &[]), "1234"),
        vec![b1, b2, t34]
    );
    assert_eq!(
        encode(&byte_vocab("llama-bpe", &[]), "1234"),
        vec![b1, b2, b3, b4],
        "123|4"
    );
    assert_eq!(
        encode(&byte_vocab("qwen2", &[]), "1234"),
        vec![b1, b2, b3, b4],
        "digits one by one"
    );
    assert_eq!(
        encode(&byte_vocab("smollm", &[]), "1234"),
        vec![b1, b2, b3, b4],
        "digits one by one"
    );
}

#[test]
fn llama3_uses_whole_words_from_the_vocabulary() {
    let abc = 258;
    assert_eq!(
        encode(&byte_vocab("llama-bpe", &["abc"]), "abc"),
        vec![abc],
        "ignore_merges"
    );
    assert_eq!(
        encode(&byte_vocab("gpt-2", &["abc"]), "abc"),
        vec![257, 99],
        "merges only"
    );
}

#[test]
fn qwen2_normalizes_to_nfc() {
    let decomposed = "e\u{301}";
    assert_eq!(
        encode(&byte_vocab("qwen2", &[]), decomposed),
        vec![0xC3, 0xA9]
    );
    assert_eq!(
        encode(&byte_vocab("smollm", &[]), decomposed),
        vec![u32::from(b'e'), 0xCC, 0x81]
    );
}

#[test]
fn control_and_user_tokens_are_matched_whole() {
    let mut vocab = byte_vocab("smollm", &["<|im_start|>", "<think>"]);
    let n = vocab.tokens.len();
    let mut types = vec![token_type::NORMAL; n];
    types[n - 2] = token_type::CONTROL;
    types[n - 1] = token_type::USER_DEFINED;
    vocab.token_types = Some(types);
    let tok = Tokenizer::from_gguf_vocab(&vocab).unwrap();
    let (start, think) = (n as u32 - 2, n as u32 - 1);
    let ids = tok.encode("<|im_start|>x<think>", false).unwrap();
    assert_eq!(ids, vec![start, u32::from(b'x'), think]);
    assert_eq!(
        tok.decode(&ids, true).unwrap(),
        "x<think>",
        "user-defined tokens are text"
    );
}

#[test]
fn add_bos_only_when_asked() {
    let mut vocab = byte_vocab("llama-bpe", &["<|begin_of_text|>"]);
    let bos = vocab.tokens.len() as u32 - 1;
    vocab.bos_id = Some(bos);
    let tok = Tokenizer::from_gguf_vocab(&vocab).unwrap();
    assert_eq!(tok.encode("a", true).unwrap(), vec![97]);
    vocab.add_bos = true;
    let tok = Tokenizer::from_gguf_vocab(&vocab).unwrap();
    assert_eq!(tok.encode("a", true).unwrap(), vec![bos, 97]);
    assert_eq!(tok.encode("a", false).unwrap(), vec![97]);
    assert_eq!(tok.decode(&[bos, 97], true).unwrap(), "a");
}

/// A SentencePiece (`llama`) vocabulary: specials, byte pieces, then scored pieces.
fn spm_vocab() -> GgufVocab {
    let mut tokens: Vec<String> = ["<unk>", "<s>", "</s>"].map(String::from).to_vec();
    let mut types = vec![
        token_type::UNKNOWN,
        token_type::CONTROL,
        token_type::CONTROL,
    ];
    tokens.extend((0..=255u8).map(|b| format!("<0x{b:02X}>")));
    types.extend([token_type::BYTE; 256]);
    let pieces = ["▁", "h", "e", "l", "o", "▁h", "ll", "▁he", "llo", "▁hello"];
    tokens.extend(pieces.map(String::from));
    types.extend([token_type::NORMAL; 10]);
    let scores = (0..tokens.len()).map(|i| -(i as f32)).collect();
    GgufVocab {
        model: "llama".into(),
        tokens,
        token_types: Some(types),
        scores: Some(scores),
        bos_id: Some(1),
        eos_id: Some(2),
        unk_id: Some(0),
        add_bos: true,
        ..GgufVocab::default()
    }
}

#[test]
fn sentencepiece_vocab_encodes_with_byte_fallback() {
    let tok = Tokenizer::from_gguf_vocab(&spm_vocab()).unwrap();
    let id = |t: &str| tok.token_id(t).unwrap();
    assert_eq!(tok.encode("hello", true).unwrap(), vec![1, id("▁hello")]);
    assert_eq!(
        tok.encode("hell é", false).unwrap(),
        vec![id("▁he"), id("ll"), id("▁"), id("<0xC3>"), id("<0xA9>")]
    );
    for text in ["hello hello", "héllo  wörld", "</s> hello"] {
        let ids = tok.encode(text, true).unwrap();
        assert_eq!(
            tok.decode(&ids, true).unwrap(),
            text.replace("</s> ", ""),
            "{ids:?}"
        );
    }
    assert_eq!(tok.eos_ids(), &[2]);
}

#[test]
fn sentencepiece_without_space_prefix() {
    let mut vocab = spm_vocab();
    vocab.add_space_prefix = Some(false);
    let tok = Tokenizer::from_gguf_vocab(&vocab).unwrap();
    assert_eq!(
        tok.encode("hello", false).unwrap(),
        vec![
            tok.token_id("h").unwrap(),
            tok.token_id("e").unwrap(),
            tok.token_id("llo").unwrap()
        ]
    );
    assert_eq!(
        tok.decode(&tok.encode(" hi", false).unwrap(), false)
            .unwrap(),
        " hi"
    );
}

#[test]
fn vocab_is_read_from_gguf_metadata() {
    let mut w = GgufWriter::new();
    w.add_string("general.architecture", "llama")
        .add_string("tokenizer.ggml.model", "gpt2")
        .add_string("tokenizer.ggml.pre", "smollm")
        .add_string_array("tokenizer.ggml.tokens", &byte_tokens())
        .add_string_array("tokenizer.ggml.merges", &["Ġ a"])
        .add_metadata(
            "tokenizer.ggml.token_type",
            MetadataValue::Array(vec![MetadataValue::I32(1); 256]),
        )
        .add_u32("tokenizer.ggml.eos_token_id", 0)
        .add_metadata("tokenizer.ggml.add_bos_token", MetadataValue::Bool(false))
        .add_string("tokenizer.chat_template", "{{ messages[0].content }}");
    let file = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
    let vocab = GgufVocab::from_gguf(&file).unwrap();
    assert_eq!(
        (vocab.model.as_str(), vocab.pre.as_deref()),
        ("gpt2", Some("smollm"))
    );
    assert_eq!(
        (vocab.tokens.len(), vocab.merges.clone()),
        (256, vec!["Ġ a".to_owned()])
    );
    assert_eq!(vocab.token_types.as_ref().map(Vec::len), Some(256));
    assert_eq!(
        (
            vocab.eos_id,
            vocab.bos_id,
            vocab.add_bos,
            vocab.scores.clone()
        ),
        (Some(0), None, false, None)
    );
    assert_eq!(
        vocab.chat_template.as_deref(),
        Some("{{ messages[0].content }}")
    );
}

#[test]
fn wrongly_typed_gguf_metadata_names_the_key() {
    let mut w = GgufWriter::new();
    w.add_string("tokenizer.ggml.model", "gpt2")
        .add_string_array("tokenizer.ggml.tokens", &["a"])
        .add_string("tokenizer.ggml.bos_token_id", "one");
    let file = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
    let err = GgufVocab::from_gguf(&file).unwrap_err().to_string();
    assert!(
        err.contains("`tokenizer.ggml.bos_token_id`") && err.contains("string"),
        "{err}"
    );
    let mut w = GgufWriter::new();
    w.add_string("tokenizer.ggml.model", "gpt2");
    let file = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
    let err = GgufVocab::from_gguf(&file).unwrap_err().to_string();
    assert!(
        err.contains("`tokenizer.ggml.tokens`") && err.contains("missing"),
        "{err}"
    );
}

/// Ids and decodings produced by transformers 5.23's GGUF sentencepiece builder
/// (`sentencepiece_tokenizer` + `add_gguf_special_tokens`) for the same vocabulary.
#[test]
fn sentencepiece_matches_transformers() {
    let tok = Tokenizer::from_gguf_vocab(&spm_vocab()).unwrap();
    let cases: &[(&str, &[u32], &str)] = &[
        ("hello", &[268], "hello"),
        ("hell é", &[266, 265, 259, 198, 172], "hell é"),
        ("hello hello", &[268, 268], "hello hello"),
        (
            "héllo  wörld",
            &[264, 198, 172, 267, 259, 259, 122, 198, 185, 117, 262, 103],
            "héllo  wörld",
        ),
        ("</s> hello", &[2, 268], "hello"),
        (" hi", &[264, 108], "hi"),
        (
            "  two spaces",
            &[259, 259, 119, 122, 263, 259, 118, 115, 100, 102, 261, 118],
            " two spaces",
        ),
    ];
    for (text, ids, decoded) in cases {
        assert_eq!(tok.encode(text, false).unwrap(), *ids, "{text:?}");
        assert_eq!(tok.decode(ids, true).unwrap(), *decoded, "{text:?}");
    }
}
