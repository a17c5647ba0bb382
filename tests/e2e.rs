#![allow(clippy::unwrap_used)]
//! End-to-end tests of the stages on a tiny random-weight model that the test
//! creates: sample -> train-surrogate -> anneal -> apply, plus fasp, sharding,
//! determinism, export round trip, and bad inputs.

mod common;

use common::{fails, root, run as ok, sample_table, TinyRun};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The measurement flags every model stage shares in these tests.
fn measure(s: &TinyRun) -> Vec<String> {
    s.measure_flags("gender_and_sex,age", "2", "4", None)
}

/// Runs a stage with the measurement flags and `extra`; it must succeed.
fn run_stage(s: &TinyRun, name: &str, extra: &[&str]) {
    let mut args = measure(s);
    args.extend(extra.iter().map(|s| s.to_string()));
    ok(name, &args);
}

/// `sample` of 2 random masks (up to 6 heads, seed 1) with `extra` options into `table`.
fn sample_two_masks(s: &TinyRun, extra: &[&str], table: &str) {
    let mut args = vec!["--num-masks", "2", "--max-pruned", "6", "--seed", "1"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--out", table]);
    run_stage(s, "sample", &args);
}

/// Per row, |perplexity of `b` - that of `a`| / that of `a`; the tables have the same rows.
fn relative_perplexity_diffs(
    a: &attnprune_artifact::SampleTable,
    b: &attnprune_artifact::SampleTable,
) -> Vec<(f64, f64, f64)> {
    assert_eq!(a.rows.len(), b.rows.len());
    a.rows
        .iter()
        .zip(&b.rows)
        .map(|(x, y)| {
            let rel = (x.perplexity - y.perplexity).abs() / x.perplexity;
            (rel, x.perplexity, y.perplexity)
        })
        .collect()
}

/// `device-check` of bf16 against f32 on the CPU over the tiny model (2 windows
/// of 32 tokens, no throughput), with `extra` options: its exit and its report.
fn device_check_bf16(s: &TinyRun, extra: &[&str]) -> (std::process::Output, serde_json::Value) {
    let report = s.p("check.json");
    let mut args: Vec<String> = [
        "--model",
        &s.p("model"),
        "--device",
        "cpu",
        "--precision",
        "bf16",
        "--ppl-text",
        &s.p("text.txt"),
        "--ppl-window",
        "32",
        "--ppl-max-windows",
        "2",
        "--no-throughput",
        "--out",
        &report,
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    args.extend(extra.iter().map(|a| a.to_string()));
    let out = common::stage("device-check", &args);
    let json = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    (out, json)
}

fn without_timing(t: &attnprune_artifact::SampleTable) -> Vec<attnprune_artifact::SampleRow> {
    t.rows
        .iter()
        .cloned()
        .map(|mut r| {
            r.eval_seconds = 0.0;
            r
        })
        .collect()
}

#[test]
fn four_stages_end_to_end_with_fasp_shards_and_export() {
    let s = TinyRun::new(40);
    let samples = s.p("samples.parquet");
    let mask_args = [
        "--num-masks",
        "24",
        "--max-pruned",
        "4",
        "--seed",
        "3",
        "--single-head",
    ];
    run_stage(
        &s,
        "sample",
        &[&["--out", samples.as_str()][..], &mask_args].concat(),
    );
    let table = sample_table(&samples);
    assert_eq!(table.rows.len(), 1 + 8 + 24);
    assert_eq!(
        table.columns.axes,
        vec!["age".to_string(), "gender_and_sex".to_string()]
    );
    assert!(table
        .rows
        .iter()
        .all(|r| r.perplexity.is_finite() && r.perplexity > 1.0));
    assert!(
        table
            .rows
            .iter()
            .any(|r| r.bias[1] != table.rows[0].bias[1]),
        "pruning must change the bias"
    );
    assert!(!Path::new(&format!("{samples}.parts")).exists());

    // Same seed, same rows (timing aside), whatever the number of workers and of masks per
    // pass (the first run used one worker per core and 8 masks per pass) and the layer
    // reuse; shards together equal the whole.
    let again = s.p("again.parquet");
    run_stage(
        &s,
        "sample",
        &[
            &[
                "--out",
                again.as_str(),
                "--workers",
                "1",
                "--masks-per-pass",
                "1",
            ][..],
            &mask_args,
        ]
        .concat(),
    );
    assert_eq!(
        without_timing(&sample_table(&again)),
        without_timing(&table)
    );
    // Layer reuse (on by default: the single-head masks of layer 1 replay layer 0) changes
    // nothing but the time.
    let full = s.p("no-reuse.parquet");
    run_stage(
        &s,
        "sample",
        &[
            &[
                "--out",
                full.as_str(),
                "--workers",
                "1",
                "--layer-reuse-mib",
                "0",
            ][..],
            &mask_args,
        ]
        .concat(),
    );
    assert_eq!(without_timing(&sample_table(&full)), without_timing(&table));
    let three = s.p("three-workers.parquet");
    run_stage(
        &s,
        "sample",
        &[
            &[
                "--out",
                three.as_str(),
                "--workers",
                "3",
                "--masks-per-pass",
                "2",
            ][..],
            &mask_args,
        ]
        .concat(),
    );
    assert_eq!(
        without_timing(&sample_table(&three)),
        without_timing(&table)
    );
    let (a, b) = (s.p("shard0.parquet"), s.p("shard1.parquet"));
    run_stage(
        &s,
        "sample",
        &[&["--out", a.as_str(), "--shard", "0/2"][..], &mask_args].concat(),
    );
    run_stage(
        &s,
        "sample",
        &[&["--out", b.as_str(), "--shard", "1/2"][..], &mask_args].concat(),
    );
    let mut merged = without_timing(&sample_table(&a));
    merged.extend(without_timing(&sample_table(&b)));
    merged.sort_by_key(|r| r.mask_id);
    assert_eq!(merged, without_timing(&table));

    let sur = s.p("surrogates");
    ok(
        "train-surrogate",
        &[
            "--samples",
            &a,
            &b,
            "--axis",
            "gender_and_sex",
            "--out-dir",
            &sur,
            "--epochs",
            "40",
            "--hidden",
            "32,16",
        ],
    );
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{sur}/surrogate-report.json")).unwrap(),
    )
    .unwrap();
    assert!(
        report["bias"]["holdout"]["r2"].is_number()
            && report["perplexity"]["train"]["spearman"].is_number(),
        "{report:#}"
    );

    let (mask, traj) = (s.p("mask.json"), s.p("trajectory.parquet"));
    ok(
        "anneal",
        &[
            "--surrogates",
            &sur,
            "--samples",
            &samples,
            "--steps",
            "3000",
            "--restarts",
            "2",
            "--ppl-budget",
            "0.5",
            "--out-mask",
            &mask,
            "--out-trajectory",
            &traj,
        ],
    );
    let mask_file = attnprune_mask::MaskFile::read(Path::new(&mask)).unwrap();
    assert_eq!((mask_file.num_layers, mask_file.num_heads), (2, 4));
    let (rows, _) = attnprune_artifact::trajectory::read_trajectory(Path::new(&traj)).unwrap();
    assert!(!rows.is_empty());

    let (fasp_mask, fasp_cands) = (s.p("fasp.json"), s.p("fasp-candidates.parquet"));
    run_stage(
        &s,
        "fasp",
        &[
            "--samples",
            &samples,
            "--alphas",
            "0.125,0.25",
            "--gammas",
            "0.25",
            "--ppl-budget",
            "0.5",
            "--out-mask",
            &fasp_mask,
            "--out-candidates",
            &fasp_cands,
        ],
    );
    assert!(attnprune_mask::MaskFile::read(Path::new(&fasp_mask)).is_ok());

    // apply with export; the export, unmasked, reproduces the masked perplexity.
    let (report_path, export) = (s.p("report.json"), s.p("pruned"));
    let hand_mask = s.p("hand.json");
    std::fs::write(
        &hand_mask,
        r#"{"num_layers": 2, "num_heads": 4, "pruned": [[0, 1], [1, 3]]}"#,
    )
    .unwrap();
    run_stage(
        &s,
        "apply",
        &[
            "--mask",
            &hand_mask,
            "--out",
            &report_path,
            "--export",
            &export,
        ],
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    let pruned_ppl = report["perplexity"]["pruned"].as_f64().unwrap();
    assert!(report["bias"]["gender_and_sex"]["pruned"]["ci_low"].is_number());
    assert!(Path::new(&report_path).with_extension("md").exists());
    let empty = s.p("empty.json");
    std::fs::write(&empty, r#"{"num_layers": 2, "num_heads": 4, "pruned": []}"#).unwrap();
    let re = s.p("re.json");
    let mut args = measure(&s);
    args[1] = export.clone();
    args.extend(
        ["--mask", &empty, "--metrics", "ppl", "--out", &re]
            .iter()
            .map(|x| x.to_string()),
    );
    ok(
        "apply",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let re: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&re).unwrap()).unwrap();
    let reloaded = re["perplexity"]["unpruned"].as_f64().unwrap();
    assert!(
        (reloaded / pruned_ppl - 1.0).abs() < 1e-4,
        "export {reloaded} vs masked {pruned_ppl}"
    );

    // A mask for another shape, and an anneal mask used with another model, are refused.
    let wrong = s.p("wrong.json");
    std::fs::write(
        &wrong,
        r#"{"num_layers": 30, "num_heads": 9, "pruned": [[0, 1]]}"#,
    )
    .unwrap();
    let mut args = measure(&s);
    args.extend(
        ["--mask", &wrong, "--out", &s.p("x.json")]
            .iter()
            .map(|x| x.to_string()),
    );
    let err = fails(
        "apply",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert!(
        err.contains("wrong.json") && err.contains("30 layers x 9 heads"),
        "{err}"
    );
    let mut args = measure(&s);
    args[1] = export.clone();
    args.extend(
        ["--mask", &mask, "--out", &s.p("x.json")]
            .iter()
            .map(|x| x.to_string()),
    );
    let err = fails(
        "apply",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert!(
        err.contains("model mismatch") && err.contains("mask.json"),
        "{err}"
    );
}

#[test]
fn bad_inputs_fail_with_one_clear_line() {
    let s = TinyRun::new(40);
    // Truncated model weights.
    let bytes = std::fs::read(s.dir.join("model/model.safetensors")).unwrap();
    std::fs::write(
        s.dir.join("model/model.safetensors"),
        &bytes[..bytes.len() / 2],
    )
    .unwrap();
    let mut args = measure(&s);
    args.extend(
        ["--out", &s.p("s.parquet"), "--num-masks", "1"]
            .iter()
            .map(|x| x.to_string()),
    );
    let err = fails(
        "sample",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert!(err.contains("model.safetensors"), "{err}");
    // A foreign GGUF (wrong magic) and a missing file.
    std::fs::write(s.dir.join("fake.gguf"), b"GGUXnot a model at all").unwrap();
    args[1] = s.p("fake.gguf");
    let err = fails(
        "sample",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert!(err.contains("fake.gguf"), "{err}");
    args[1] = s.p("missing.gguf");
    assert!(fails(
        "sample",
        &args.iter().map(String::as_str).collect::<Vec<_>>()
    )
    .contains("missing.gguf"));
    // A table of the wrong kind given to train-surrogate.
    std::fs::write(s.dir.join("t.parquet"), b"PAR1 nonsense").unwrap();
    let err = fails(
        "train-surrogate",
        &["--samples", &s.p("t.parquet"), "--out-dir", &s.p("sur")],
    );
    assert!(err.contains("t.parquet"), "{err}");
    // CUDA from a CPU-only build.
    let mut args = measure(&s);
    args.extend(
        [
            "--out",
            &s.p("s.parquet"),
            "--num-masks",
            "1",
            "--device",
            "cuda",
        ]
        .iter()
        .map(|x| x.to_string()),
    );
    let err = fails(
        "sample",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert!(err.contains("--features cuda"), "{err}");
}

#[test]
fn killed_sample_resumes_to_the_uninterrupted_table() {
    let s = TinyRun::new(40);
    let mask_args = [
        "--num-masks",
        "40",
        "--max-pruned",
        "4",
        "--seed",
        "5",
        "--flush-every",
        "1",
    ];
    let full = s.p("full.parquet");
    run_stage(
        &s,
        "sample",
        &[&["--out", full.as_str()][..], &mask_args].concat(),
    );

    let killed = s.p("killed.parquet");
    let mut args = measure(&s);
    args.extend(
        ["--out", killed.as_str()]
            .iter()
            .chain(mask_args.iter())
            .map(|x| x.to_string()),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_sample"))
        .args(&args)
        .current_dir(root())
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    let parts = PathBuf::from(format!("{killed}.parts"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while std::fs::read_dir(&parts).map(|d| d.count()).unwrap_or(0) < 3
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        !Path::new(&killed).exists(),
        "a killed run must not leave the final table"
    );
    assert!(fails(
        "sample",
        &args.iter().map(String::as_str).collect::<Vec<_>>()
    )
    .contains("--resume"));
    let mut resumed = args.clone();
    resumed.push("--resume".into());
    ok(
        "sample",
        &resumed.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(
        without_timing(&sample_table(&killed)),
        without_timing(&sample_table(&full))
    );
}

#[test]
fn apply_report_numbers_recomputed_from_the_bucket_means() {
    // The bias in the report equals the formula applied to the report's own bucket means and counts.
    let s = TinyRun::new(40);
    let (mask, out) = (s.p("m.json"), s.p("r.json"));
    std::fs::write(
        &mask,
        r#"{"num_layers": 2, "num_heads": 4, "pruned": [[1, 0]]}"#,
    )
    .unwrap();
    run_stage(&s, "apply", &["--mask", &mask, "--out", &out]);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    for side in ["unpruned", "pruned"] {
        let axis = &report["bias"]["gender_and_sex"][side];
        let buckets = axis["buckets"].as_array().unwrap();
        let n: f64 = buckets.iter().map(|b| b["count"].as_f64().unwrap()).sum();
        let mean: f64 = buckets
            .iter()
            .map(|b| b["count"].as_f64().unwrap() * b["mean"].as_f64().unwrap())
            .sum::<f64>()
            / n;
        let bias: f64 = buckets
            .iter()
            .map(|b| (mean - b["mean"].as_f64().unwrap()).abs())
            .sum();
        assert!(
            (bias - axis["bias"].as_f64().unwrap()).abs() < 1e-9,
            "{side}: {bias} vs {}",
            axis["bias"]
        );
    }
    let ppl = &report["perplexity"];
    let change = ppl["pruned"].as_f64().unwrap() / ppl["unpruned"].as_f64().unwrap() - 1.0;
    assert!((change - ppl["relative_change"].as_f64().unwrap()).abs() < 1e-12);
}

#[test]
fn anneal_refuses_surrogates_of_another_model() {
    let s = TinyRun::new(40);
    attnprune_lm::tiny::write_tiny_model(&s.dir.join("other"), 8).unwrap();
    let mask_args = ["--num-masks", "12", "--max-pruned", "3"];
    let (mine, theirs) = (s.p("mine.parquet"), s.p("theirs.parquet"));
    run_stage(
        &s,
        "sample",
        &[&["--out", mine.as_str()][..], &mask_args].concat(),
    );
    let mut args = measure(&s);
    args[1] = s.p("other");
    args.extend(
        ["--out", theirs.as_str()]
            .iter()
            .chain(mask_args.iter())
            .map(|x| x.to_string()),
    );
    ok(
        "sample",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let sur = s.p("their-surrogates");
    ok(
        "train-surrogate",
        &[
            "--samples",
            &theirs,
            "--out-dir",
            &sur,
            "--epochs",
            "5",
            "--hidden",
            "8",
        ],
    );
    let out = s.p("m.json");
    let err = fails(
        "anneal",
        &[
            "--surrogates",
            &sur,
            "--samples",
            &mine,
            "--steps",
            "100",
            "--restarts",
            "1",
            "--out-mask",
            &out,
            "--out-trajectory",
            &s.p("t.parquet"),
        ],
    );
    assert!(
        err.contains("model mismatch")
            && err.contains("surrogate-bias.mpk")
            && err.contains("mine.parquet"),
        "{err}"
    );
    assert!(!Path::new(&out).exists(), "a refused stage writes nothing");
}

/// `--attention backend` in bf16 (burn's attention op instead of the eager ops):
/// `sample` records it in provenance (and not `auto`, nor an op the CPU's f32
/// kernels ignore), its numbers stay near the eager op's, and `device-check`
/// reports which op the device ran.
#[test]
fn attention_op_is_recorded_and_reported() {
    let s = TinyRun::new(4);
    let (eager, backend) = (s.p("eager.parquet"), s.p("backend.parquet"));
    let ignored = s.p("f32-backend.parquet");
    run_stage(
        &s,
        "sample",
        &[
            "--num-masks",
            "1",
            "--max-pruned",
            "6",
            "--attention",
            "backend",
            "--out",
            &ignored,
        ],
    );
    assert_eq!(
        sample_table(&ignored).provenance.settings.get("attention"),
        None
    );
    for (op, table) in [("auto", &eager), ("backend", &backend)] {
        sample_two_masks(&s, &["--precision", "bf16", "--attention", op], table);
    }
    let (a, b) = (sample_table(&eager), sample_table(&backend));
    assert_eq!(a.provenance.settings.get("attention"), None);
    assert_eq!(
        b.provenance.settings.get("attention"),
        Some(&serde_json::json!("backend"))
    );
    for (rel, eager, backend) in relative_perplexity_diffs(&a, &b) {
        assert!(
            rel < 0.02,
            "backend op perplexity {backend} vs eager {eager}"
        );
    }

    let (out, json) = device_check_bf16(&s, &["--attention", "backend"]);
    assert_eq!(json["attention"], "backend");
    assert_eq!(json["precision"], "bf16");
    assert_eq!(
        json["replies"]["ok"], true,
        "the padded, cached path agrees"
    );
    assert!(
        json["perplexity_max_rel_diff"].as_f64().unwrap() < 0.05,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `--precision bf16` on the CPU (burn's generic ops in bfloat16): `sample` records
/// the precision in its provenance, the numbers move a little from f32 but not
/// far, and `device-check` compares bf16 with f32 and reports it.
#[test]
fn bf16_precision_is_measured_recorded_and_checked() {
    let s = TinyRun::new(4);
    let (f32_table, bf16_table) = (s.p("f32.parquet"), s.p("bf16.parquet"));
    for (precision, table) in [("f32", &f32_table), ("bf16", &bf16_table)] {
        sample_two_masks(&s, &["--precision", precision], table);
    }
    let (a, b) = (sample_table(&f32_table), sample_table(&bf16_table));
    assert_eq!(a.provenance.settings.get("precision"), None);
    assert_eq!(
        b.provenance.settings.get("precision"),
        Some(&serde_json::json!("bf16"))
    );
    let mut moved = false;
    for (rel, f32_ppl, bf16_ppl) in relative_perplexity_diffs(&a, &b) {
        assert!(rel < 0.05, "bf16 perplexity {bf16_ppl} vs f32 {f32_ppl}");
        moved |= rel > 0.0;
    }
    assert!(
        moved,
        "bf16 gave f32's exact perplexities: the precision was not applied"
    );

    let (out, json) = device_check_bf16(&s, &[]);
    // Pass or fail, the report says what was compared with what.
    assert_eq!(json["precision"], "bf16");
    assert_eq!(json["reference"], "cpu f32");
    assert_eq!(json["perplexity_tol"], 5e-3);
    let rel = json["perplexity_max_rel_diff"].as_f64().unwrap();
    assert!(
        rel > 0.0 && rel < 0.05,
        "bf16 vs f32 perplexity difference {rel}"
    );
    let passed = json["logits_ok"].as_bool().unwrap()
        && json["perplexity_ok"].as_bool().unwrap()
        && json["replies"]["ok"].as_bool().unwrap();
    assert_eq!(
        json["replies"]["cases"],
        2 * 4 * 3,
        "masks x prompts x replies"
    );
    assert_eq!(
        out.status.success(),
        passed,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
