//! `Evaluator::evaluate_group` (multi-mask batching) gives every mask exactly what
//! `Evaluator::evaluate` gives it alone, for the generating and the reply-likelihood
//! scorers, with layer reuse on and off.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use attnprune_eval::{greedy, EvalData, EvalSettings, Evaluator, MaskEvaluation, ScorerKind};
use attnprune_lm::device::CpuBackend;
use attnprune_lm::tiny::write_tiny_model;
use attnprune_lm::LanguageModel;
use attnprune_mask::{HeadId, HeadMask};
use attnprune_measure::bias::Bootstrap;
use attnprune_measure::prompts::Prompt;
use attnprune_measure::replies::CannedReplies;

fn prompt(bucket: &str, text: &str) -> Prompt {
    serde_json::from_value(serde_json::json!({
        "axis": "gender_and_sex", "bucket": bucket, "descriptor": bucket, "noun": null,
        "template": "{text}", "text": text, "noun_gender": null, "preference": null, "first_turn_only": false,
    }))
    .unwrap()
}

fn settings(scorer: ScorerKind, eos: Vec<u32>, reuse_bytes: usize) -> EvalSettings {
    EvalSettings {
        reply_seed: 0,
        layer_reuse_bytes: reuse_bytes,
        scorer,
        chat: true,
        generation: greedy(5, eos),
        batch_size: 2,
        ppl_window: 8,
        ppl_max_windows: Some(3),
        ppl_skip_windows: 0,
        ppl_split: Default::default(),
        bootstrap: Bootstrap {
            resamples: 20,
            confidence: 0.95,
            seed: 3,
        },
        classifier: None,
    }
}

/// The numbers of an evaluation (not its time).
fn numbers(e: &MaskEvaluation) -> (Vec<f64>, Vec<String>, Vec<f64>, f64, Vec<f64>) {
    let bias = e.axes.iter().map(|a| a.bias).collect();
    (
        e.scores.clone(),
        e.replies.clone(),
        e.window_nll.clone(),
        e.perplexity,
        bias,
    )
}

#[test]
fn a_group_evaluates_each_mask_as_it_is_evaluated_alone() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny_model(tmp.path(), 5).unwrap();
    let lm = LanguageModel::<CpuBackend>::load(tmp.path(), &Default::default()).unwrap();
    let eos = lm.tokenizer.eos_ids().to_vec();
    let layout = lm.model.config.head_layout();
    let layers = layout.num_layers;
    let data = EvalData {
        prompts: vec![
            prompt("female", "I am a woman."),
            prompt("female", "I'm a grandmother."),
            prompt("male", "I am a man."),
            prompt("male", "I'm a grandfather, and proud."),
            prompt("nonbinary", "I am nonbinary."),
        ],
        utility_text: "The nurse said that the doctor was kind to everyone there. ".repeat(6),
        documents: Vec::new(),
        canned: Some(CannedReplies {
            negative: vec!["I'm sorry to hear that.".into(), "Oh no.".into()],
            positive: vec!["That's great!".into()],
        }),
    };
    let head = |layer: usize, head: usize| HeadId { layer, head };
    let masks = [
        HeadMask::from_pruned(layout, &[head(layers - 1, 1)]).unwrap(),
        HeadMask::unpruned(layout),
        HeadMask::from_pruned(layout, &[head(layers / 2, 0), head(layers - 1, 2)]).unwrap(),
        HeadMask::from_pruned(layout, &[head(0, 0), head(1, 1)]).unwrap(),
    ];
    let refs: Vec<&HeadMask> = masks.iter().collect();
    for scorer in [ScorerKind::ReplyLikelihood, ScorerKind::Sentiment] {
        for reuse_bytes in [0, 64 << 20] {
            let settings = settings(scorer, eos.clone(), reuse_bytes);
            let mut one = Evaluator::new(&lm, data.clone(), settings.clone()).unwrap();
            let alone: Vec<_> = refs
                .iter()
                .map(|m| numbers(&one.evaluate(m).unwrap()))
                .collect();
            let mut many = Evaluator::new(&lm, data.clone(), settings).unwrap();
            // Knockouts high up first (so a recording exists when reuse is on), then all.
            let high = many.evaluate_group(&[refs[0], refs[2]]).unwrap();
            assert_eq!(numbers(&high[0]), alone[0], "{scorer} reuse {reuse_bytes}");
            assert_eq!(numbers(&high[1]), alone[2], "{scorer} reuse {reuse_bytes}");
            let all = many.evaluate_group(&refs).unwrap();
            let got: Vec<_> = all.iter().map(numbers).collect();
            assert_eq!(got, alone, "{scorer} reuse {reuse_bytes}");
            assert_eq!(many.layer_reuse_mismatches(), 0);
            assert!(all.iter().all(|e| e.seconds > 0.0));
        }
    }
}
