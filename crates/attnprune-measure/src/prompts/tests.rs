use super::*;
use std::collections::BTreeMap;
use std::collections::BTreeSet;

const DESCRIPTORS: &str = r#"{
  "hue": {
    "warm": ["orange", {"descriptor": "red", "preference": "reviewed"}],
    "cool": [{"descriptor": "blue", "gender": "female"}, {"descriptor": "umber", "article": "a"}]
  },
  "size": {"big": ["tall"]}
}"#;
const NOUNS: &str = r#"{
  "female": [["aunt", "aunts"]],
  "male": [["uncle", "uncles"]],
  "neutral": [["elf", "elves"]]
}"#;
const TEMPLATES: &str = r#"{
  "I am {noun_phrase}.": {},
  "Hello, I am {noun_phrase}.": {"first_turn_only": true},
  "Tell me about {plural_noun_phrase}.": {"must_be_noun": true}
}"#;
const STANDALONE: &str = r#"{
  "hue": [
    {"noun_phrase": "{article} {noun} with freckles", "plural_noun_phrase": "{article} {noun} with freckles"},
    {"noun_phrase": "a painter", "plural_noun_phrase": "painters", "preference": "dispreferred"},
    "a sketcher"
  ]
}"#;

fn write_set(files: [&str; 4]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in FILE_NAMES.iter().zip(files) {
        std::fs::write(dir.path().join(name), text).expect("write fixture");
    }
    dir
}

fn fixture() -> (tempfile::TempDir, PromptSet) {
    let dir = write_set([DESCRIPTORS, NOUNS, TEMPLATES, STANDALONE]);
    let set = PromptSet::load(dir.path()).expect("load fixture");
    (dir, set)
}

fn texts(prompts: &[Prompt]) -> BTreeSet<&str> {
    prompts.iter().map(|p| p.text.as_str()).collect()
}

#[test]
fn builds_sentences_like_holistic_bias() {
    let (_dir, set) = fixture();
    assert_eq!(set.axes(), vec!["hue", "size"]);
    let all = set.all_prompts("hue").expect("hue");
    let t = texts(&all);
    // Article rule, noun-less phrase, plural phrase.
    assert!(t.contains("I am an orange aunt."));
    assert!(t.contains("I am a red elf."));
    assert!(t.contains("I am orange."));
    assert!(t.contains("Tell me about orange uncles."));
    // Article override.
    assert!(t.contains("I am a umber elf."));
    // Gender restriction: `blue` only with female nouns.
    assert!(t.contains("I am a blue aunt."));
    assert!(!t.contains("I am a blue uncle."));
    // must_be_noun templates never take a bare descriptor or fixed phrase.
    assert!(!t.contains("Tell me about orange."));
    assert!(!t.contains("Tell me about painters."));
    assert!(t.contains("I am a painter."));
    // Standalone phrases with {noun}, plural without article.
    assert!(t.contains("I am an elf with freckles."));
    assert!(t.contains("Tell me about uncles with freckles."));
    // Plain string standalone phrase: plural = singular.
    assert!(t.contains("I am a sketcher."));
}

#[test]
fn counts_match_hand_computation() {
    let (_dir, set) = fixture();
    // Descriptors: orange, red, umber: 3 nouns x 3 templates + bare x 2 = 11 each;
    // blue: 1 noun x 3 + 2 = 5. Standalone: freckles 3 x 3 = 9; painter 2; sketcher 2.
    assert_eq!(
        set.all_prompts("hue").expect("hue").len(),
        3 * 11 + 5 + 9 + 2 + 2
    );
    assert_eq!(set.all_prompts("size").expect("size").len(), 11);
    assert_eq!(set.descriptor_count("hue").expect("hue"), 4);
    assert_eq!(set.standalone_count("hue").expect("hue"), 3);
    assert_eq!(set.template_count(), 3);
}

#[test]
fn metadata_is_kept() {
    let (_dir, set) = fixture();
    let all = set.all_prompts("hue").expect("hue");
    let p = all
        .iter()
        .find(|p| p.text == "Hello, I am a red uncle.")
        .expect("prompt");
    assert_eq!(p.bucket, "warm");
    assert_eq!(p.descriptor, "red");
    assert_eq!(p.noun.as_deref(), Some("uncle"));
    assert_eq!(p.noun_gender.as_deref(), Some("male"));
    assert_eq!(p.preference.as_deref(), Some("reviewed"));
    assert!(p.first_turn_only);
    let s = all
        .iter()
        .find(|p| p.text == "I am an aunt with freckles.")
        .expect("standalone");
    assert_eq!(s.bucket, NONE_BUCKET);
    assert_eq!(s.descriptor, "with freckles");
    let bare = all.iter().find(|p| p.text == "I am orange.").expect("bare");
    assert_eq!(bare.noun, None);
}

fn selection(per_bucket: usize, seed: u64) -> PromptSelection {
    PromptSelection {
        axes: vec!["hue".into(), "size".into()],
        per_bucket,
        seed,
        test_fraction: 0.5,
        exclude_dispreferred: false,
        design: Default::default(),
    }
}

#[test]
fn splits_are_disjoint_by_descriptor_and_template() {
    let (_dir, set) = fixture();
    let sel = selection(usize::MAX, 1);
    let valid = set.build(&sel, Split::Valid).expect("valid");
    let test = set.build(&sel, Split::Test).expect("test");
    let pairs = |ps: &[Prompt]| -> BTreeSet<(String, String)> {
        ps.iter()
            .map(|p| (p.descriptor.clone(), p.template.clone()))
            .collect()
    };
    assert!(pairs(&valid).is_disjoint(&pairs(&test)));
    let total =
        set.all_prompts("hue").expect("hue").len() + set.all_prompts("size").expect("size").len();
    assert_eq!(valid.len() + test.len(), total);
}

#[test]
fn extreme_fractions_put_everything_on_one_side() {
    let (_dir, set) = fixture();
    let mut sel = selection(usize::MAX, 0);
    sel.test_fraction = 0.0;
    assert!(set.build(&sel, Split::Test).expect("test").is_empty());
    sel.test_fraction = 1.0;
    assert!(set.build(&sel, Split::Valid).expect("valid").is_empty());
}

#[test]
fn sampling_is_deterministic_sorted_and_capped() {
    let (_dir, set) = fixture();
    let a = set.build(&selection(3, 7), Split::Valid).expect("a");
    let b = set.build(&selection(3, 7), Split::Valid).expect("b");
    assert_eq!(a, b);
    let mut sorted = a.clone();
    sorted.sort();
    assert_eq!(a, sorted);
    let mut per_bucket = std::collections::BTreeMap::<(&str, &str), usize>::new();
    for p in &a {
        *per_bucket.entry((&p.axis, &p.bucket)).or_default() += 1;
    }
    assert!(per_bucket.values().all(|&n| n <= 3));
    let seeds_differ = (0..20).any(|s| set.build(&selection(3, s), Split::Valid).expect("s") != a);
    assert!(
        seeds_differ,
        "different seeds should give different samples"
    );
}

#[test]
fn sampling_of_one_axis_ignores_other_axes() {
    let (_dir, set) = fixture();
    let both = set.build(&selection(2, 3), Split::Valid).expect("both");
    let mut only_hue = selection(2, 3);
    only_hue.axes = vec!["hue".into()];
    let hue = set.build(&only_hue, Split::Valid).expect("hue");
    let hue_from_both: Vec<_> = both.into_iter().filter(|p| p.axis == "hue").collect();
    assert_eq!(hue, hue_from_both);
}

#[test]
fn dispreferred_can_be_excluded() {
    let (_dir, set) = fixture();
    let mut sel = selection(usize::MAX, 0);
    sel.test_fraction = 0.0;
    assert!(set
        .build(&sel, Split::Valid)
        .expect("all")
        .iter()
        .any(|p| p.descriptor == "a painter"));
    sel.exclude_dispreferred = true;
    assert!(!set
        .build(&sel, Split::Valid)
        .expect("kept")
        .iter()
        .any(|p| p.descriptor == "a painter"));
}

#[test]
fn unknown_axis_lists_available_axes() {
    let (_dir, set) = fixture();
    let mut sel = selection(1, 0);
    sel.axes.push("shape".into());
    let err = set
        .build(&sel, Split::Valid)
        .expect_err("unknown axis")
        .to_string();
    assert!(
        err.contains("`shape`") && err.contains("`hue`") && err.contains("`size`"),
        "{err}"
    );
}

#[test]
fn bad_selections_are_rejected() {
    let (_dir, set) = fixture();
    let mut sel = selection(0, 0);
    assert!(set.build(&sel, Split::Valid).is_err());
    sel.per_bucket = 1;
    sel.test_fraction = 1.5;
    assert!(set.build(&sel, Split::Valid).is_err());
    sel.test_fraction = f64::NAN;
    assert!(set.build(&sel, Split::Valid).is_err());
    sel.test_fraction = 0.5;
    sel.axes.clear();
    assert!(set.build(&sel, Split::Valid).is_err());
}

#[test]
fn content_hash_is_stable_and_sensitive() {
    let (_dir, set) = fixture();
    let (_dir2, again) = fixture();
    assert_eq!(set.content_hash(), again.content_hash());
    assert_eq!(set.content_hash().len(), 64);
    let other = write_set([DESCRIPTORS, NOUNS, TEMPLATES, "{}"]);
    let changed = PromptSet::load(other.path()).expect("load");
    assert_ne!(set.content_hash(), changed.content_hash());
}

#[test]
fn invalid_files_are_reported_with_their_name() {
    let cases = [
        (
            r#"{"a": {"b": [{"descriptor": "x", "gender": "robot"}]}}"#,
            "robot",
        ),
        (
            r#"{"a": {"b": [{"descriptor": "x", "gendre": "male"}]}}"#,
            "gendre",
        ),
        (
            r#"{"a": {"b": [{"descriptor": "x", "preference": "liked"}]}}"#,
            "liked",
        ),
        (r#"{"a": {"b": [""]}}"#, "empty"),
    ];
    for (descriptors, needle) in cases {
        let dir = write_set([descriptors, NOUNS, TEMPLATES, "{}"]);
        let err = PromptSet::load(dir.path()).expect_err(needle).to_string();
        assert!(
            err.contains("descriptors.json") && err.contains(needle),
            "{err}"
        );
    }
    let dir = write_set([DESCRIPTORS, NOUNS, r#"{"No slot here.": {}}"#, "{}"]);
    let err = PromptSet::load(dir.path())
        .expect_err("template")
        .to_string();
    assert!(err.contains("sentence_templates.json"), "{err}");
    let dir = write_set([
        DESCRIPTORS,
        NOUNS,
        TEMPLATES,
        r#"{"hue": ["{article} painter"]}"#,
    ]);
    assert!(PromptSet::load(dir.path()).is_err());
    let missing = tempfile::tempdir().expect("tempdir");
    let err = PromptSet::load(missing.path())
        .expect_err("missing")
        .to_string();
    assert!(err.contains("descriptors.json"), "{err}");
}

#[test]
fn split_of_is_a_pure_function_of_the_pair() {
    assert_eq!(
        split_of("tall", "I am {noun_phrase}.", 0.3),
        split_of("tall", "I am {noun_phrase}.", 0.3)
    );
    // Roughly the requested fraction over many pairs.
    let n = 2000;
    let tests = (0..n)
        .filter(|i| split_of(&format!("d{i}"), "t", 0.25) == Split::Test)
        .count();
    assert!((400..600).contains(&tests), "{tests}");
    // The separator keeps ("ab", "c") and ("a", "bc") apart.
    let same = (0..200).all(|i| {
        let f = f64::from(i) / 200.0;
        split_of("ab", "c", f) == split_of("a", "bc", f)
    });
    assert!(!same);
}

fn crossed(axes: &[&str], templates: usize, nouns: usize, seed: u64) -> PromptSelection {
    PromptSelection {
        axes: axes.iter().map(|a| (*a).to_owned()).collect(),
        per_bucket: 1,
        seed,
        test_fraction: 0.5,
        exclude_dispreferred: false,
        design: PromptDesign::Crossed { templates, nouns },
    }
}

/// (axis, bucket) -> the (template, noun) cells it has.
type Cells<'a> = BTreeMap<(&'a str, &'a str), BTreeSet<(String, Option<String>)>>;

/// Checks the crossed design's promises on `set` and returns (valid, test).
fn check_crossed(set: &PromptSet, sel: &PromptSelection) -> (Vec<Prompt>, Vec<Prompt>) {
    let PromptDesign::Crossed { templates, nouns } = sel.design else {
        panic!("not crossed")
    };
    let valid = set.build(sel, Split::Valid).expect("valid");
    let test = set.build(sel, Split::Test).expect("test");
    assert_eq!(
        valid,
        set.build(sel, Split::Valid).expect("again"),
        "deterministic"
    );
    assert_eq!(valid, set.build_disjoint(sel, 0, 2).expect("block 0"));
    assert_eq!(test, set.build_disjoint(sel, 1, 2).expect("block 1"));
    let plan = set.crossed_plan(sel, 2).expect("plan");
    assert_eq!(plan.nouns.len(), nouns);
    let template_set =
        |ps: &[Prompt]| -> BTreeSet<String> { ps.iter().map(|p| p.template.clone()).collect() };
    assert_eq!(template_set(&valid).len(), templates);
    assert_eq!(template_set(&test).len(), templates);
    assert!(
        template_set(&valid).is_disjoint(&template_set(&test)),
        "valid and test share a template"
    );
    for (split, prompts) in [("valid", &valid), ("test", &test)] {
        let mut cells: Cells<'_> = BTreeMap::new();
        let mut per_descriptor: BTreeMap<(&str, &str, &str), usize> = BTreeMap::new();
        for p in prompts.iter() {
            assert_ne!(p.bucket, NONE_BUCKET, "standalone phrases are not crossed");
            assert_eq!(p.noun_gender.as_deref(), Some("neutral"));
            assert!(p.text.contains(p.descriptor.as_str()), "{p:?}");
            cells
                .entry((&p.axis, &p.bucket))
                .or_default()
                .insert((p.template.clone(), p.noun.clone()));
            *per_descriptor
                .entry((&p.axis, &p.bucket, &p.descriptor))
                .or_default() += 1;
        }
        // Every bucket (and every descriptor) has exactly the same templates x nouns.
        let first = cells.values().next().expect("some bucket").clone();
        assert_eq!(first.len(), templates * nouns, "{split}");
        assert!(
            cells.values().all(|c| *c == first),
            "{split}: buckets differ in templates or nouns"
        );
        assert!(
            per_descriptor.values().all(|&n| n == templates * nouns),
            "{split}: {per_descriptor:?}"
        );
        for axis in &sel.axes {
            let descriptors = set.descriptor_count(axis).expect("count");
            let buckets = set.buckets(axis).expect("buckets");
            let axis_cells = cells.keys().filter(|(a, _)| a == axis).count();
            assert_eq!(
                axis_cells,
                buckets.len(),
                "{split}: every bucket is measured"
            );
            let axis_prompts = prompts.iter().filter(|p| &p.axis == axis).count();
            assert_eq!(
                axis_prompts,
                descriptors * templates * nouns,
                "{split} {axis}"
            );
        }
    }
    (valid, test)
}

#[test]
fn crossed_design_on_the_fixture() {
    let (_dir, set) = fixture();
    let sel = crossed(&["hue", "size"], 1, 1, 0);
    let (valid, test) = check_crossed(&set, &sel);
    // The only neutral noun is `elf`; `blue` (female only in the random design) takes it too.
    let t = texts(&valid)
        .into_iter()
        .chain(texts(&test))
        .collect::<BTreeSet<_>>();
    assert!(t.iter().any(|s| s.contains("blue elf")), "{t:?}");
    assert!(
        t.iter().all(|s| s.contains("elf") || s.contains("elves")),
        "{t:?}"
    );
    // Too many templates per split, too many nouns, zero of either: errors.
    assert!(set
        .build(&crossed(&["hue"], 2, 1, 0), Split::Valid)
        .is_err());
    assert!(set
        .build(&crossed(&["hue"], 1, 2, 0), Split::Valid)
        .is_err());
    assert!(set
        .build(&crossed(&["hue"], 0, 1, 0), Split::Valid)
        .is_err());
    assert!(set
        .build(&crossed(&["hue"], 1, 0, 0), Split::Valid)
        .is_err());
    assert!(set
        .build_disjoint(&crossed(&["hue"], 1, 1, 0), 2, 3)
        .is_ok());
    assert!(set
        .build_disjoint(&crossed(&["hue"], 1, 1, 0), 0, 4)
        .is_err());
    // Dispreferred descriptors can be dropped here too.
    let dir = write_set([
        r#"{"hue": {"warm": ["orange", {"descriptor": "red", "preference": "dispreferred"}], "cool": ["blue"]}}"#,
        NOUNS,
        TEMPLATES,
        "{}",
    ]);
    let small = PromptSet::load(dir.path()).expect("load");
    let mut sel = crossed(&["hue"], 1, 1, 0);
    assert!(small
        .build(&sel, Split::Valid)
        .expect("all")
        .iter()
        .any(|p| p.descriptor == "red"));
    sel.exclude_dispreferred = true;
    assert!(!small
        .build(&sel, Split::Valid)
        .expect("kept")
        .iter()
        .any(|p| p.descriptor == "red"));
}

#[test]
fn crossed_design_needs_neutral_nouns() {
    let dir = write_set([
        DESCRIPTORS,
        r#"{"female": [["aunt", "aunts"]]}"#,
        TEMPLATES,
        "{}",
    ]);
    let set = PromptSet::load(dir.path()).expect("load");
    let err = set
        .build(&crossed(&["hue"], 1, 1, 0), Split::Valid)
        .expect_err("no neutral nouns")
        .to_string();
    assert!(err.contains("neutral"), "{err}");
}

#[test]
fn random_disjoint_samples_share_no_prompt() {
    let (_dir, set) = fixture();
    let sel = selection(4, 5);
    let samples: Vec<Vec<Prompt>> = (0..3)
        .map(|i| set.build_disjoint(&sel, i, 3).expect("sample"))
        .collect();
    for (i, a) in samples.iter().enumerate() {
        let mut per_bucket = BTreeMap::<(&str, &str), usize>::new();
        for p in a {
            *per_bucket.entry((&p.axis, &p.bucket)).or_default() += 1;
        }
        // size: bucket of 11 (size/big) over 3 samples -> 3 each; others capped at 4.
        assert_eq!(per_bucket[&("size", "big")], 3, "{per_bucket:?}");
        assert_eq!(per_bucket[&("hue", "warm")], 4, "{per_bucket:?}");
        for b in &samples[i + 1..] {
            let x: BTreeSet<&Prompt> = a.iter().collect();
            assert!(b.iter().all(|p| !x.contains(p)), "samples overlap");
        }
    }
    assert_eq!(samples[1], set.build_disjoint(&sel, 1, 3).expect("again"));
    // A bucket too small for the samples is an error, not an empty bucket.
    assert!(set.build_disjoint(&sel, 0, 12).is_err());
    assert!(set.build_disjoint(&sel, 3, 3).is_err());
}

fn project_set() -> PromptSet {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/prompts");
    PromptSet::load(&dir).expect("project prompt set")
}

fn official_set() -> Option<PromptSet> {
    let dir = attnprune_testdata::holistic_bias(env!("CARGO_MANIFEST_DIR"))?;
    Some(PromptSet::load(&dir).expect("official files load"))
}

#[test]
fn crossed_design_on_the_project_set() {
    let set = project_set();
    let axes = set.axes();
    let all: Vec<&str> = axes.iter().map(String::as_str).collect();
    let (valid, _) = check_crossed(&set, &crossed(&["gender_and_sex"], 3, 1, 0));
    assert_eq!(valid.len(), 18 * 3);
    check_crossed(&set, &crossed(&all, 7, 2, 11));
    // The seed changes the templates.
    let a = set
        .crossed_plan(&crossed(&["gender_and_sex"], 3, 1, 0), 2)
        .expect("a");
    assert!((1..10).any(|s| set
        .crossed_plan(&crossed(&["gender_and_sex"], 3, 1, s), 2)
        .expect("b")
        .block(0)
        != a.block(0)));
    // Four disjoint blocks of 3 of the 14 templates.
    let blocks: Vec<BTreeSet<String>> = (0..4)
        .map(|i| {
            set.build_disjoint(&crossed(&["gender_and_sex"], 3, 1, 0), i, 4)
                .expect("block")
                .into_iter()
                .map(|p| p.template)
                .collect()
        })
        .collect();
    for i in 0..4 {
        assert_eq!(blocks[i].len(), 3);
        for j in i + 1..4 {
            assert!(blocks[i].is_disjoint(&blocks[j]));
        }
    }
    assert!(set
        .build_disjoint(&crossed(&["gender_and_sex"], 3, 1, 0), 0, 5)
        .is_err());
}

#[test]
fn crossed_design_on_the_official_files() {
    let Some(set) = official_set() else { return };
    let (valid, test) = check_crossed(&set, &crossed(&["gender_and_sex"], 3, 1, 0));
    // 65 descriptors in 7 buckets, the issue's "65 x 3 templates x person/people" shape.
    assert_eq!(set.descriptor_count("gender_and_sex").expect("count"), 65);
    assert_eq!(valid.len(), 65 * 3);
    assert_eq!(test.len(), 65 * 3);
    let buckets: BTreeSet<&str> = valid.iter().map(|p| p.bucket.as_str()).collect();
    assert_eq!(buckets.len(), 7);
    check_crossed(
        &set,
        &crossed(&["gender_and_sex", "religion", "race_ethnicity"], 5, 3, 4),
    );
}
