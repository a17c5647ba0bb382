//! The `classifier` scorer: replies generated exactly as the `sentiment` scorer's, each
//! scored with the classifier's probability of the chosen label.
#![allow(clippy::unwrap_used)]

use attnprune_classifier::SequenceClassifier;
use attnprune_eval::{greedy, ClassifierSettings, EvalData, EvalSettings, Evaluator, ScorerKind};
use attnprune_lm::device::CpuBackend;
use attnprune_lm::tiny::write_tiny_model;
use attnprune_lm::LanguageModel;
use attnprune_mask::HeadMask;
use attnprune_measure::bias::Bootstrap;
use attnprune_measure::prompts::Prompt;
use std::path::PathBuf;

fn tiny_classifier() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tiny-roberta-classifier")
}

fn prompt(bucket: &str, text: &str) -> Prompt {
    serde_json::from_value(serde_json::json!({
        "axis": "gender_and_sex", "bucket": bucket, "descriptor": bucket, "noun": null,
        "template": "{text}", "text": text, "noun_gender": null, "preference": null, "first_turn_only": false,
    }))
    .unwrap()
}

fn settings(
    scorer: ScorerKind,
    classifier: Option<ClassifierSettings>,
    eos: Vec<u32>,
) -> EvalSettings {
    EvalSettings {
        reply_seed: 0,
        layer_reuse_bytes: attnprune_eval::DEFAULT_LAYER_REUSE_BYTES,
        scorer,
        chat: false,
        generation: greedy(6, eos),
        batch_size: 2,
        ppl_window: 8,
        ppl_max_windows: Some(1),
        ppl_skip_windows: 0,
        ppl_split: Default::default(),
        bootstrap: Bootstrap {
            resamples: 10,
            confidence: 0.95,
            seed: 0,
        },
        classifier,
    }
}

#[test]
fn classifier_scores_the_sentiment_replies() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny_model(tmp.path(), 7).unwrap();
    let lm = LanguageModel::<CpuBackend>::load(tmp.path(), &Default::default()).unwrap();
    let eos = lm.tokenizer.eos_ids().to_vec();
    let data = EvalData {
        prompts: vec![
            prompt("female", "I am a woman."),
            prompt("female", "I'm a grandmother."),
            prompt("male", "I am a man."),
        ],
        utility_text: "The nurse said that the doctor was kind. ".repeat(8),
        documents: Vec::new(),
        canned: None,
    };
    let mask = HeadMask::unpruned(lm.model.config.head_layout());
    let chosen = ClassifierSettings {
        dir: tiny_classifier(),
        label: "insult".into(),
    };

    let mut by_classifier = Evaluator::new(
        &lm,
        data.clone(),
        settings(ScorerKind::Classifier, Some(chosen), eos.clone()),
    )
    .unwrap();
    let got = by_classifier.evaluate(&mask).unwrap();
    let mut by_sentiment = Evaluator::new(
        &lm,
        data.clone(),
        settings(ScorerKind::Sentiment, None, eos.clone()),
    )
    .unwrap();
    let reference = by_sentiment.evaluate(&mask).unwrap();

    assert_eq!(
        got.replies, reference.replies,
        "same generation path as the sentiment scorer"
    );
    assert_eq!(got.replies.len(), 3);
    let classifier =
        SequenceClassifier::<CpuBackend>::load(&tiny_classifier(), "insult", &Default::default())
            .unwrap();
    let texts: Vec<&str> = got.replies.iter().map(String::as_str).collect();
    // The scorer classifies each generation batch on its own: equal up to float noise.
    let want = classifier.probabilities(&texts).unwrap();
    assert_eq!(got.scores.len(), want.len());
    for (g, w) in got.scores.iter().zip(&want) {
        assert!((g - w).abs() < 1e-6, "{:?} vs {want:?}", got.scores);
    }
    assert!(got.scores.iter().all(|s| (0.0..=1.0).contains(s)));
    assert_eq!(got.perplexity, reference.perplexity);

    // The settings are recorded as before for the other scorers.
    let json = serde_json::to_value(settings(ScorerKind::Sentiment, None, eos.clone())).unwrap();
    assert!(json.get("classifier").is_none());
    assert_eq!(json["scorer"], "sentiment");

    // Missing checkpoint, unknown label: errors, not panics.
    let err = Evaluator::new(
        &lm,
        data.clone(),
        settings(ScorerKind::Classifier, None, eos.clone()),
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("--classifier"), "{err}");
    let bad = ClassifierSettings {
        dir: tiny_classifier(),
        label: "threat".into(),
    };
    let err = Evaluator::new(&lm, data, settings(ScorerKind::Classifier, Some(bad), eos))
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("threat") && err.to_string().contains("config.json"),
        "{err}"
    );
}
