#![allow(clippy::unwrap_used)]
//! End-to-end tests of the closed-loop search on a tiny random-weight model that the test
//! creates: `sample --masks`, `train-surrogate --refine-samples`, `anneal --candidates`,
//! `choose`, and the rule that an over-budget mask is never the answer.

mod common;

use attnprune_artifact::samples::read_sample_table;
use attnprune_artifact::SampleRow;
use attnprune_mask::{CandidateList, HeadMask, MaskFile};
use common::{root, run, TinyRun};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The closed loop's measurement flags; `per_bucket` and `windows` set the fidelity.
fn measure(s: &TinyRun, per_bucket: &str, windows: &str) -> Vec<String> {
    s.measure_flags("gender_and_sex", per_bucket, windows, Some("valid"))
}

/// Runs a stage with the measurement flags of `fidelity` (per bucket, windows), if given, and `extra`.
fn stage(s: &TinyRun, name: &str, fidelity: Option<(&str, &str)>, extra: &[&str]) {
    let mut args = fidelity.map(|(b, w)| measure(s, b, w)).unwrap_or_default();
    args.extend(extra.iter().map(|s| s.to_string()));
    run(name, &args);
}

/// A row's mask bits, bias, bucket means, log-odds bias, log-odds bucket means,
/// perplexity and window NLL.
type Measured = (
    Vec<bool>,
    Vec<f64>,
    Vec<f64>,
    Vec<f64>,
    Vec<f64>,
    f64,
    Vec<f64>,
);

/// Everything measured, without the row's identity and timing.
fn measured_part(r: &SampleRow) -> Measured {
    (
        r.mask.bits().to_vec(),
        r.bias.clone(),
        r.bucket_means.clone(),
        r.logit_bias.clone(),
        r.logit_bucket_means.clone(),
        r.perplexity,
        r.window_nll.clone(),
    )
}

#[test]
fn sample_masks_rows_equal_the_rows_of_the_same_masks_drawn_by_seed() {
    let s = TinyRun::new(60);
    let drawn = s.p("drawn.parquet");
    stage(
        &s,
        "sample",
        Some(("2", "4")),
        &[
            "--num-masks",
            "6",
            "--max-pruned",
            "4",
            "--seed",
            "3",
            "--out",
            &drawn,
        ],
    );
    let given = s.p("given.parquet");
    stage(
        &s,
        "sample",
        Some(("2", "4")),
        &["--masks", &drawn, "--out", &given],
    );
    let (a, b) = (
        read_sample_table(Path::new(&drawn)).unwrap(),
        read_sample_table(Path::new(&given)).unwrap(),
    );
    assert_eq!(
        b.rows.len(),
        1 + a.rows.len(),
        "the unpruned row, then every given mask"
    );
    assert!(b.rows[1..].iter().all(|r| r.origin == "proposed"));
    for (x, y) in a.rows.iter().zip(&b.rows[1..]) {
        assert_eq!(
            measured_part(x),
            measured_part(y),
            "mask {} measured differently",
            x.mask_id
        );
    }
    assert_eq!(measured_part(&a.rows[0]), measured_part(&b.rows[0]));
    // The window NLLs are what the paired intervals rest on: one per window.
    assert!(a.rows.iter().all(|r| r.window_nll.len() == 4));
}

/// pyarrow (and pandas through it) must see the provenance on the table's Arrow schema: the
/// check is `tools/check_parquet_metadata.py`, run with the Python that has pyarrow.
#[test]
fn pyarrow_sees_the_provenance_of_a_sample_table() {
    let has_pyarrow = Command::new("python3")
        .args(["-c", "import pyarrow, pandas"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_pyarrow {
        assert!(!attnprune_testdata::required(), "python3 cannot import pyarrow and pandas (pip install -r tools/requirements-pyarrow.txt)");
        eprintln!("SKIPPED: python3 cannot import pyarrow and pandas");
        return;
    }
    let s = TinyRun::new(60);
    let table = s.p("t.parquet");
    stage(
        &s,
        "sample",
        Some(("2", "4")),
        &["--num-masks", "2", "--max-pruned", "3", "--out", &table],
    );
    let out = Command::new("python3")
        .args(["tools/check_parquet_metadata.py", &table, "sample-table"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("provenance visible to pyarrow"));
}

#[test]
fn closed_loop_rounds_choose_a_measured_mask_within_the_budget() {
    let s = TinyRun::new(60);
    let screen = s.p("samples.parquet");
    stage(
        &s,
        "sample",
        Some(("2", "4")),
        &[
            "--single-head",
            "--num-masks",
            "16",
            "--max-pruned",
            "4",
            "--seed",
            "1",
            "--out",
            &screen,
        ],
    );
    let budget = "0.5";
    let mut tables = Vec::new();
    let mut lists = Vec::new();
    let mut dirs = Vec::new();
    for round in 0..2 {
        let dir = s.p(&format!("round-{round}"));
        let mut train = vec![
            "--samples",
            screen.as_str(),
            "--epochs",
            "30",
            "--hidden",
            "16",
            "--out-dir",
            dir.as_str(),
        ];
        let refine: Vec<&str> = tables.iter().map(String::as_str).collect();
        if !refine.is_empty() {
            train.push("--refine-samples");
            train.extend(refine);
        }
        stage(&s, "train-surrogate", None, &train);
        let list = s.p(&format!("round-{round}/candidates.json"));
        let (mask, traj) = (
            s.p(&format!("round-{round}/oneshot.json")),
            s.p(&format!("round-{round}/traj.parquet")),
        );
        stage(
            &s,
            "anneal",
            None,
            &[
                "--surrogates",
                &dir,
                "--samples",
                &screen,
                "--ppl-budget",
                budget,
                "--steps",
                "2000",
                "--restarts",
                "2",
                "--candidates",
                "4",
                "--min-hamming",
                "1",
                "--out-candidates",
                &list,
                "--out-mask",
                &mask,
                "--out-trajectory",
                &traj,
            ],
        );
        let parsed = CandidateList::read(Path::new(&list)).unwrap();
        assert!(!parsed.candidates.is_empty() && parsed.candidates.len() <= 4);
        let table = s.p(&format!("round-{}.parquet", round + 1));
        stage(
            &s,
            "sample",
            Some(("4", "8")),
            &["--masks", &list, "--out", &table],
        );
        tables.push(table);
        lists.push(list);
        dirs.push(dir);
    }
    let refined: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(s.p("round-1/surrogate-report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        refined["selected"]["bias"], "structured",
        "the refined round uses the structured surrogate"
    );
    let (answer, rounds) = (s.p("ap-mask.json"), s.p("rounds.json"));
    let mut args = vec!["--samples".to_string()];
    args.extend(tables.iter().cloned());
    args.push("--candidates".into());
    args.extend(lists.iter().cloned());
    args.push("--surrogates".into());
    args.extend(dirs.iter().cloned());
    args.extend(
        [
            "--screening",
            &screen,
            "--ppl-budget",
            budget,
            "--out-mask",
            &answer,
            "--out-rounds",
            &rounds,
        ]
        .map(String::from),
    );
    run("choose", &args);
    let file = MaskFile::read(Path::new(&answer)).unwrap();
    let selection = &file.extra["selection"];
    if let Some(chosen) = selection["chosen"].as_object() {
        assert!(chosen["ppl_change"]["high"].as_f64().unwrap() <= 0.5);
        assert!(chosen["bias"].as_f64().unwrap() < chosen["base_bias"].as_f64().unwrap());
    } else {
        assert!(file.pruned.is_empty());
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&rounds).unwrap()).unwrap();
    assert_eq!(summary["rounds"].as_array().unwrap().len(), 2);
    assert!(Path::new(&rounds).with_extension("md").exists());
}

/// Two processes writing the same table (a requeued job racing its ghost) never interleave
/// rows: the second is refused with one line naming the parts folder, and the first finishes.
#[test]
fn a_second_writer_of_the_same_table_is_refused() {
    let s = TinyRun::new(60);
    let table = s.p("t.parquet");
    let mut args = measure(&s, "2", "4");
    args.extend(
        [
            "--num-masks",
            "300",
            "--max-pruned",
            "4",
            "--workers",
            "1",
            "--out",
            &table,
        ]
        .map(String::from),
    );
    let mut first = Command::new(env!("CARGO_BIN_EXE_sample"))
        .args(&args)
        .current_dir(root())
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    let lock = PathBuf::from(format!("{table}.parts/.lock"));
    let started = std::time::Instant::now();
    while !lock.exists() && started.elapsed() < std::time::Duration::from_secs(60) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(lock.exists(), "the first writer never took the lock");
    let out = Command::new(env!("CARGO_BIN_EXE_sample"))
        .args(&args)
        .arg("--resume")
        .current_dir(root())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("being written by another process")
            && err.contains("t.parquet.parts"),
        "{err}"
    );
    assert!(!err.contains("panicked"));
    assert!(
        first.wait().unwrap().success(),
        "the first writer must finish undisturbed"
    );
    assert_eq!(
        read_sample_table(Path::new(&table)).unwrap().rows.len(),
        301
    );
    assert!(!lock.exists());
}

#[test]
fn an_over_budget_proposal_is_never_the_answer() {
    let s = TinyRun::new(60);
    let layout = attnprune_mask::HeadLayout::new(2, 4);
    // A planted proposal that prunes every head (far over any budget), and two small ones.
    let mut list = CandidateList::new(layout, (1.0, 10.0), serde_json::json!({}));
    let all: Vec<attnprune_mask::HeadId> = (0..layout.total()).map(|i| layout.head_at(i)).collect();
    let planted = HeadMask::from_pruned(layout, &all).unwrap();
    for mask in [
        planted.clone(),
        HeadMask::from_pruned(layout, &all[..1]).unwrap(),
        HeadMask::from_pruned(layout, &all[3..4]).unwrap(),
    ] {
        list.candidates
            .push(attnprune_mask::Candidate::new(&mask, 0, 0.0, 10.0));
    }
    let tiny = attnprune_lm::read_model_files(Path::new(&s.p("model")))
        .unwrap()
        .config
        .head_layout();
    assert_eq!(
        tiny, layout,
        "the tiny model's layout changed: update the planted list"
    );
    let path = s.p("planted.json");
    std::fs::write(&path, list.to_json()).unwrap();
    let table = s.p("round-1.parquet");
    stage(
        &s,
        "sample",
        Some(("4", "8")),
        &["--masks", &path, "--out", &table],
    );
    let rows = read_sample_table(Path::new(&table)).unwrap().rows;
    let over = rows.iter().find(|r| r.mask == planted).unwrap();
    assert!(
        over.perplexity > rows[0].perplexity * 1.05,
        "the planted mask must be over a 5% budget"
    );
    let answer = s.p("ap-mask.json");
    run(
        "choose",
        &[
            "--samples",
            &table,
            "--ppl-budget",
            "0.05",
            "--bias-scale",
            "prob",
            "--out-mask",
            &answer,
            "--out-rounds",
            &s.p("rounds.json"),
        ]
        .map(String::from),
    );
    let chosen = MaskFile::read(Path::new(&answer))
        .unwrap()
        .to_mask_for(layout)
        .unwrap();
    assert_ne!(chosen, planted);
    let file = MaskFile::read(Path::new(&answer)).unwrap();
    if let Some(v) = file.extra["selection"]["chosen"].as_object() {
        assert!(v["ppl_change"]["high"].as_f64().unwrap() <= 0.05, "{v:?}");
    }
}
