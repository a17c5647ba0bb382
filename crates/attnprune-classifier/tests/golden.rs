//! Golden tests against HF transformers (fixtures by `tools/make_classifier_fixtures.py`):
//! the tiny random RoBERTa (multi-label, sigmoid) and BERT (single-label, softmax)
//! classifiers, and all-MiniLM-L6-v2's hidden states and mean-pooled embeddings.
#![allow(clippy::unwrap_used)]

use attnprune_classifier::{Encoder, OutputActivation, SequenceClassifier};
use burn::backend::Flex;
use serde_json::Value;
use std::path::{Path, PathBuf};

const TOL: f64 = 1e-4;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures").join(name)
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn check_classifier(name: &str, activation: OutputActivation) {
    let dir = fixture(name);
    let expected = read_json(&dir.join("expected.json"));
    let labels: Vec<String> = expected["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect();
    let texts: Vec<&str> = expected["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let want_ids: Vec<Vec<u32>> = expected["token_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(ids)
        .collect();
    let want_probs: Vec<Vec<f64>> = expected["probabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(floats)
        .collect();
    let want_logits: Vec<Vec<f64>> = expected["logits"]
        .as_array()
        .unwrap()
        .iter()
        .map(floats)
        .collect();

    let device = Default::default();
    let mut clf = SequenceClassifier::<Flex>::load(&dir, &labels[0], &device).unwrap();
    assert_eq!(clf.labels(), labels.as_slice());
    assert_eq!(clf.activation(), activation);
    assert_eq!(
        clf.encoder().tokenize(&texts).unwrap(),
        want_ids,
        "token ids"
    );
    assert_eq!(
        clf.encoder().config().max_tokens() as u64,
        expected["max_length"].as_u64().unwrap()
    );

    // All texts in one padded batch, then one at a time: the same numbers.
    for batch in [16, 1, 3] {
        clf.set_batch_size(batch);
        let logits = clf.logits(&texts).unwrap();
        let probs = clf.label_probabilities(&texts).unwrap();
        for (i, text) in texts.iter().enumerate() {
            let got: Vec<f64> = logits[i].iter().map(|&x| f64::from(x)).collect();
            let d = max_diff(&got, &want_logits[i]);
            assert!(
                d < TOL,
                "{name} batch {batch}: logits of {text:?} differ by {d}: {got:?} vs {:?}",
                want_logits[i]
            );
            let d = max_diff(&probs[i], &want_probs[i]);
            assert!(
                d < TOL,
                "{name} batch {batch}: probabilities of {text:?} differ by {d}: {:?} vs {:?}",
                probs[i],
                want_probs[i]
            );
        }
    }
    // Each label on its own.
    for (k, label) in labels.iter().enumerate() {
        let clf = SequenceClassifier::<Flex>::load(&dir, label, &device).unwrap();
        assert_eq!(clf.label(), label);
        let p = clf.probabilities(&texts).unwrap();
        let want: Vec<f64> = want_probs.iter().map(|row| row[k]).collect();
        assert!(max_diff(&p, &want) < TOL, "{name} label {label}");
    }
    assert!(clf.probabilities(&[]).unwrap().is_empty());
}

#[test]
fn tiny_roberta_matches_transformers() {
    check_classifier("tiny-roberta-classifier", OutputActivation::Sigmoid);
}

#[test]
fn tiny_bert_matches_transformers() {
    check_classifier("tiny-bert-classifier", OutputActivation::Softmax);
}

#[test]
fn minilm_matches_transformers() {
    let dir = root().join("data/models/all-MiniLM-L6-v2");
    if attnprune_testdata::require(
        dir.join("model.safetensors"),
        "all-MiniLM-L6-v2",
        "run `make minilm`",
    )
    .is_none()
    {
        return;
    }
    let expected = read_json(&fixture("minilm/expected.json"));
    let dims = expected["hidden_dims"].as_u64().unwrap() as usize;
    let cases = expected["cases"].as_array().unwrap();
    let texts: Vec<&str> = cases.iter().map(|c| c["text"].as_str().unwrap()).collect();
    let device = Default::default();
    let encoder = Encoder::<Flex>::load(&dir, &device).unwrap();
    let got_ids = encoder.tokenize(&texts).unwrap();
    let embeddings = encoder.embed(&texts).unwrap();
    let hidden = encoder.last_hidden_states(&texts).unwrap();
    let mut worst = (0.0f64, 0.0f64);
    for (i, case) in cases.iter().enumerate() {
        let text = texts[i];
        assert_eq!(got_ids[i], ids(&case["token_ids"]), "token ids of {text:?}");
        let got: Vec<f64> = embeddings[i].iter().map(|&x| f64::from(x)).collect();
        let d = max_diff(&got, &floats(&case["embedding"]));
        assert!(d < TOL, "embedding of {text:?} differs by {d}");
        worst.0 = worst.0.max(d);
        let rows = case["hidden_slice"].as_array().unwrap();
        assert_eq!(hidden[i].len(), rows.len(), "tokens of {text:?}");
        for (t, row) in rows.iter().enumerate() {
            let got: Vec<f64> = hidden[i][t][..dims].iter().map(|&x| f64::from(x)).collect();
            let d = max_diff(&got, &floats(row));
            assert!(
                d < TOL,
                "last hidden state of {text:?}, token {t}, differs by {d}"
            );
            worst.1 = worst.1.max(d);
        }
    }
    eprintln!(
        "MiniLM: max |embedding diff| {:.2e}, max |hidden diff| {:.2e}",
        worst.0, worst.1
    );
}
