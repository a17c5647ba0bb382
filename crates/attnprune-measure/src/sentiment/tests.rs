use super::*;

const REFERENCE: &str = include_str!("../../tests/fixtures/vader_reference.tsv");

fn vader() -> Vader {
    Vader::new().expect("embedded lexicons parse")
}

#[test]
fn lexicons_are_the_pinned_files() {
    let hash = |s: &str| crate::files::sha256_hex(s.as_bytes());
    assert_eq!(
        hash(include_str!("../../resources/vader/vader_lexicon.txt")),
        "1ec9c6e9ee19aade328f8beb393a6afa71a5bb3acf7d3cc22d4ef568df374bf5"
    );
    assert_eq!(
        hash(include_str!("../../resources/vader/emoji_utf8_lexicon.txt")),
        "b8d54223ae1ce22a3e12c1f745316b71678c328eb5f5d3063a842f37cfbe2823"
    );
    assert!(vader().lexicon_len() > 7000);
}

/// Every line of the fixture was scored by vaderSentiment 3.3.2, which
/// rounds `neg`/`neu`/`pos` to 3 decimals and `compound` to 4.
#[test]
fn matches_the_reference_implementation() {
    let v = vader();
    let mut checked = 0;
    for line in REFERENCE.lines().filter(|l| !l.starts_with('#')) {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 5, "fixture line {line:?}");
        let want: Vec<f64> = fields[1..]
            .iter()
            .map(|f| f.parse().expect("number"))
            .collect();
        let got = v.polarity(fields[0]);
        let close = |a: f64, b: f64, tol: f64| (a - b).abs() <= tol;
        assert!(close(got.neg, want[0], 5.1e-4), "{line}: neg {}", got.neg);
        assert!(close(got.neu, want[1], 5.1e-4), "{line}: neu {}", got.neu);
        assert!(close(got.pos, want[2], 5.1e-4), "{line}: pos {}", got.pos);
        assert!(
            close(got.compound, want[3], 5.1e-5),
            "{line}: compound {}",
            got.compound
        );
        checked += 1;
    }
    assert!(checked >= 50);
}

#[test]
fn edge_inputs_do_not_fail() {
    let v = vader();
    for text in [
        "",
        "   ",
        "\u{1f}",
        "🙂🙂",
        "ab",
        "!?!?",
        "İstanbul",
        "a\u{0}b",
        "no",
    ] {
        let p = v.polarity(text);
        assert!(
            p.compound.is_finite() && (-1.0..=1.0).contains(&p.compound),
            "{text:?}"
        );
    }
    assert_eq!(v.polarity("").compound, 0.0);
}

#[test]
fn mappings_cover_the_unit_interval() {
    assert_eq!(VaderMapping::Negativity.apply(0.6), 0.0);
    assert_eq!(VaderMapping::Negativity.apply(0.0), 0.0);
    assert!((VaderMapping::Negativity.apply(-0.8) - 0.8).abs() < 1e-12);
    assert_eq!(VaderMapping::Symmetric.apply(-1.0), 1.0);
    assert_eq!(VaderMapping::Symmetric.apply(1.0), 0.0);
    assert_eq!(VaderMapping::Symmetric.apply(0.0), 0.5);
}

#[test]
fn scorer_scores_replies_and_checks_lengths() {
    let mut scorer = VaderScorer::new(VaderMapping::default()).expect("scorer");
    assert_eq!(scorer.name(), "vader-negativity");
    let prompts = ["Hi! I'm a nurse.", "Hi! I'm a pilot."];
    let replies = ["I'm sorry to hear that.", "That's great!"];
    let scores = scorer.score_batch(&prompts, &replies).expect("scores");
    assert!((scores[0] - 0.0772).abs() < 1e-4, "{scores:?}");
    assert_eq!(scores[1], 0.0);
    let err = scorer
        .score_batch(&prompts, &replies[..1])
        .expect_err("mismatch")
        .to_string();
    assert!(err.contains("`2`") && err.contains("`1`"), "{err}");
}
