//! Bad model inputs: each is refused with an error (never a panic) that
//! names the offending file or folder and says what is wrong.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod common;

use attnprune_gguf::{GgmlType, GgufWriter, MetadataValue};
use attnprune_lm::tiny::write_tiny_model;
use attnprune_lm::LanguageModel;
use common::*;
use serde_json::Value;
use std::path::Path;

/// Loads `path` fully (files, config, every shape) and returns the error text;
/// panics (failing the test) if loading succeeds or itself panics.
fn load_error(path: &Path) -> String {
    match std::panic::catch_unwind(|| LanguageModel::<B>::load(path, &Default::default())) {
        Ok(Ok(_)) => panic!("{} loaded, but it should have been refused", path.display()),
        Ok(Err(e)) => {
            let text = e.to_string();
            eprintln!("{}: {text}", path.display());
            text
        }
        Err(_) => panic!(
            "loading {} panicked instead of returning an error",
            path.display()
        ),
    }
}

/// Asserts `error` names `path` and contains every one of `words`.
fn assert_error(error: &str, path: &Path, words: &[&str]) {
    let shown = path.display().to_string();
    assert!(
        error.contains(&shown),
        "error does not name `{shown}`: {error}"
    );
    for word in words {
        assert!(error.contains(word), "error lacks `{word}`: {error}");
    }
}

// ---------------------------------------------------------------- GGUF

/// GPT-2 byte-level symbols of the 256 bytes (the token strings of a byte vocabulary).
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

/// Width of the crafted GGUF model: one IQ2_XXS super-block per row.
const D: usize = 256;

/// A valid one-layer llama GGUF (byte vocabulary, width 256, 2 heads, tied
/// output), with `arch` as `general.architecture` and `attn_q` stored as `q_type`
/// (raw bytes of the right size when the writer cannot encode that type).
fn tiny_gguf(arch: &str, q_type: GgmlType) -> GgufWriter {
    let vocab = byte_tokens();
    let mut w = GgufWriter::new();
    w.add_string("general.architecture", arch)
        .add_u32(format!("{arch}.embedding_length"), D as u32)
        .add_u32(format!("{arch}.feed_forward_length"), D as u32)
        .add_u32(format!("{arch}.block_count"), 1)
        .add_u32(format!("{arch}.attention.head_count"), 2)
        .add_u32(format!("{arch}.attention.head_count_kv"), 2)
        .add_u32(format!("{arch}.context_length"), 64)
        .add_f32(format!("{arch}.attention.layer_norm_rms_epsilon"), 1e-5)
        .add_string("tokenizer.ggml.model", "gpt2")
        .add_string_array("tokenizer.ggml.tokens", &vocab)
        .add_metadata(
            "tokenizer.ggml.token_type",
            MetadataValue::Array(vec![MetadataValue::I32(1); vocab.len()]),
        )
        .add_u32("tokenizer.ggml.eos_token_id", 0);
    let values = |n: usize| {
        (0..n)
            .map(|i| ((i % 17) as f32 - 8.0) * 0.01)
            .collect::<Vec<f32>>()
    };
    let mut add = |name: &str, shape: &[usize]| {
        let n = shape.iter().product();
        w.add_tensor(name, shape, GgmlType::F32, &values(n))
            .unwrap();
    };
    add("token_embd.weight", &[vocab.len(), D]);
    add("output_norm.weight", &[D]);
    add("blk.0.attn_norm.weight", &[D]);
    add("blk.0.attn_k.weight", &[D, D]);
    add("blk.0.attn_v.weight", &[D, D]);
    add("blk.0.attn_output.weight", &[D, D]);
    add("blk.0.ffn_norm.weight", &[D]);
    add("blk.0.ffn_gate.weight", &[D, D]);
    add("blk.0.ffn_up.weight", &[D, D]);
    add("blk.0.ffn_down.weight", &[D, D]);
    if q_type == GgmlType::F32 {
        w.add_tensor(
            "blk.0.attn_q.weight",
            &[D, D],
            GgmlType::F32,
            &values(D * D),
        )
        .unwrap();
    } else {
        let (block, bytes) = q_type.block_layout().expect("a type with a known layout");
        let size = (D * D) as u64 / block * bytes;
        w.add_raw_tensor(
            "blk.0.attn_q.weight",
            &[D as u64, D as u64],
            q_type,
            vec![0u8; size as usize],
        )
        .unwrap();
    }
    w
}

fn write_bytes(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// The control for the crafted GGUF tests: unchanged, it loads.
#[test]
fn crafted_gguf_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    write_bytes(
        &path,
        &tiny_gguf("llama", GgmlType::F32).to_bytes().unwrap(),
    );
    let model = LanguageModel::<B>::load(&path, &Default::default()).unwrap();
    assert_eq!(
        (
            model.model.config.hidden_size,
            model.model.config.num_layers
        ),
        (D, 1)
    );
}

#[test]
fn truncated_real_gguf_is_refused() {
    let Some(real) = smollm2_path() else { return };
    let mut head = vec![0u8; 1 << 20];
    let mut file = std::fs::File::open(&real).unwrap();
    std::io::Read::read_exact(&mut file, &mut head).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("smollm2-first-1MB.gguf");
    write_bytes(&path, &head);
    let error = load_error(&path);
    assert_error(&error, &path, &["truncated"]);
}

#[test]
fn gguf_cut_in_tensor_data_is_refused() {
    let bytes = tiny_gguf("llama", GgmlType::F32).to_bytes().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.gguf");
    // Drop the last 1000 bytes: the header is intact, the last tensor is short.
    write_bytes(&path, &bytes[..bytes.len() - 1000]);
    let error = load_error(&path);
    assert_error(&error, &path, &["truncated", "blk.0.attn_q.weight"]);
}

#[test]
fn wrong_magic_is_refused() {
    let mut bytes = tiny_gguf("llama", GgmlType::F32).to_bytes().unwrap();
    bytes[..4].copy_from_slice(b"GGML");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("magic.gguf");
    write_bytes(&path, &bytes);
    let error = load_error(&path);
    assert_error(&error, &path, &["magic", "GGML"]);
}

#[test]
fn unsupported_tensor_type_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("iq2.gguf");
    write_bytes(
        &path,
        &tiny_gguf("llama", GgmlType::from_id(16))
            .to_bytes()
            .unwrap(),
    );
    let error = load_error(&path);
    assert_error(
        &error,
        &path,
        &["IQ2_XXS", "blk.0.attn_q.weight", "unsupported"],
    );
}

#[test]
fn unsupported_gguf_architecture_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("falcon.gguf");
    write_bytes(
        &path,
        &tiny_gguf("falcon", GgmlType::F32).to_bytes().unwrap(),
    );
    let error = load_error(&path);
    assert_error(&error, &path, &["`falcon`", "not supported"]);
}

// ---------------------------------------------------------------- HF folders

/// A tiny HF checkpoint folder in a fresh temp dir.
fn tiny_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(dir.path(), 7).unwrap();
    dir
}

/// Rewrites `key` of the folder's `config.json`.
fn edit_config(dir: &Path, key: &str, value: Value) {
    let path = dir.join("config.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config[key] = value;
    write_bytes(
        &path,
        serde_json::to_string_pretty(&config).unwrap().as_bytes(),
    );
}

/// The control for the folder tests: unchanged, the tiny folder loads.
#[test]
fn tiny_folder_is_valid() {
    let dir = tiny_dir();
    LanguageModel::<B>::load(dir.path(), &Default::default()).unwrap();
}

#[test]
fn hidden_size_disagreeing_with_the_weights_is_refused() {
    let dir = tiny_dir();
    edit_config(dir.path(), "hidden_size", 48.into());
    let error = load_error(dir.path());
    assert_error(&error, dir.path(), &["model.embed_tokens.weight", "48"]);
}

#[test]
fn head_count_disagreeing_with_the_weights_is_refused() {
    let dir = tiny_dir();
    edit_config(dir.path(), "num_attention_heads", 8.into());
    let error = load_error(dir.path());
    assert_error(
        &error,
        dir.path(),
        &[
            "model.layers.0.self_attn.q_proj.weight",
            "[64, 32]",
            "[32, 32]",
        ],
    );
}

#[test]
fn unsupported_hf_architecture_is_refused() {
    let dir = tiny_dir();
    edit_config(dir.path(), "model_type", "gpt2".into());
    let error = load_error(dir.path());
    assert_error(
        &error,
        &dir.path().join("config.json"),
        &["`gpt2`", "not supported"],
    );
}

/// Cut inside the 8-byte length prefix, inside the JSON header, and inside the tensor data.
#[test]
fn truncated_safetensors_is_refused() {
    for keep in [Keep::Bytes(5), Keep::Bytes(100), Keep::AllBut(2000)] {
        let dir = tiny_dir();
        let path = dir.path().join("model.safetensors");
        let bytes = std::fs::read(&path).unwrap();
        let cut = match keep {
            Keep::Bytes(n) => n,
            Keep::AllBut(n) => bytes.len() - n,
        };
        write_bytes(&path, &bytes[..cut]);
        let error = load_error(dir.path());
        assert_error(&error, &path, &["safetensors", "truncated"]);
    }
}

#[derive(Clone, Copy)]
enum Keep {
    Bytes(usize),
    AllBut(usize),
}

#[test]
fn folder_without_config_is_refused() {
    let dir = tiny_dir();
    std::fs::remove_file(dir.path().join("config.json")).unwrap();
    let error = load_error(dir.path());
    assert_error(&error, dir.path(), &["config.json"]);
}

#[test]
fn missing_path_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-model.gguf");
    let error = load_error(&path);
    assert_error(&error, &path, &["cannot access"]);
}
