//! Bad inputs are errors that name the file, never panics.
#![allow(clippy::unwrap_used)]

use attnprune_classifier::{ClassifierError, Encoder, SequenceClassifier};
use burn::backend::Flex;
use std::path::{Path, PathBuf};

fn tiny() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tiny-roberta-classifier")
}

/// A copy of the tiny RoBERTa folder to break.
fn copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::copy(tiny().join(name), dir.path().join(name)).unwrap();
    }
    dir
}

fn load_err(dir: &Path, label: &str) -> String {
    let err: ClassifierError =
        SequenceClassifier::<Flex>::load(dir, label, &Default::default()).unwrap_err();
    err.to_string()
}

fn edit_config(dir: &Path, from: &str, to: &str) {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from}");
    std::fs::write(&path, text.replace(from, to)).unwrap();
}

#[test]
fn missing_files() {
    for name in ["config.json", "model.safetensors", "tokenizer.json"] {
        let dir = copy();
        std::fs::remove_file(dir.path().join(name)).unwrap();
        let err = load_err(dir.path(), "toxicity");
        assert!(err.contains(name), "{name}: {err}");
    }
    let err = load_err(Path::new("/nonexistent/classifier"), "toxicity");
    assert!(err.contains("/nonexistent/classifier/config.json"), "{err}");
    let err = Encoder::<Flex>::load(Path::new("/nonexistent/enc"), &Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("config.json"), "{err}");
}

#[test]
fn truncated_safetensors() {
    let dir = copy();
    let path = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    for cut in [0, 5, 100, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let err = load_err(dir.path(), "toxicity");
        assert!(err.contains("model.safetensors"), "cut at {cut}: {err}");
    }
}

#[test]
fn unknown_label() {
    let err = load_err(&tiny(), "threat");
    assert!(
        err.contains("config.json")
            && err.contains("threat")
            && err.contains("toxicity, severe_toxicity, insult"),
        "{err}"
    );
    // Case-insensitive match of a unique label is accepted.
    let clf = SequenceClassifier::<Flex>::load(&tiny(), "Insult", &Default::default()).unwrap();
    assert_eq!(clf.label(), "insult");
}

#[test]
fn bad_configs() {
    let cases = [
        (
            "\"model_type\": \"roberta\"",
            "\"model_type\": \"gpt2\"",
            "gpt2",
        ),
        ("\"hidden_size\": 32", "\"hidden_size\": 64", "shape"),
        (
            "\"num_hidden_layers\": 2",
            "\"num_hidden_layers\": 3",
            "encoder.layer.2",
        ),
        (
            "\"vocab_size\": 360",
            "\"vocab_size\": 361",
            "word_embeddings",
        ),
        (
            "\"problem_type\": \"multi_label_classification\"",
            "\"problem_type\": \"regression\"",
            "regression",
        ),
        (
            "\"hidden_act\": \"gelu\"",
            "\"hidden_act\": \"swish\"",
            "swish",
        ),
        (
            "\"max_position_embeddings\": 24",
            "\"max_position_embeddings\": 2",
            "max_position_embeddings",
        ),
        (
            "\"max_position_embeddings\": 24",
            "\"max_position_embeddings\": 3",
            "special tokens",
        ),
    ];
    for (from, to, needle) in cases {
        let dir = copy();
        edit_config(dir.path(), from, to);
        let err = load_err(dir.path(), "toxicity");
        assert!(err.contains(needle), "{to}: {err}");
        assert!(
            err.contains(&dir.path().display().to_string()),
            "{to}: {err}"
        );
    }
    let dir = copy();
    std::fs::write(dir.path().join("config.json"), "{ not json").unwrap();
    assert!(load_err(dir.path(), "toxicity").contains("not valid JSON"));
}

#[test]
fn wrong_checkpoint_kind() {
    // A RoBERTa config over BERT weights: the encoder's tensors are not where config.json says.
    let dir = copy();
    let bert = tiny().join("../tiny-bert-classifier");
    std::fs::copy(
        bert.join("model.safetensors"),
        dir.path().join("model.safetensors"),
    )
    .unwrap();
    let err = load_err(dir.path(), "toxicity");
    assert!(err.contains("model.safetensors"), "{err}");
    // A broken tokenizer.json.
    let dir = copy();
    std::fs::write(dir.path().join("tokenizer.json"), "{}").unwrap();
    let err = load_err(dir.path(), "toxicity");
    assert!(err.contains("tokenizer.json"), "{err}");
}
