#![allow(clippy::unwrap_used)]
//! The whole demo pipeline (as in `pipelines/demo.mk`) on a tiny random-weight
//! model with a tiny budget: sample -> train-surrogate -> anneal, fasp,
//! random-masks, apply (every mask, two axes for spillover) -> report; then
//! checks the report's structure and that its numbers are the apply reports'.

mod common;

use attnprune_report::markdown::parse_row;
use attnprune_report::svg::check_well_formed;
use attnprune_report::Results;
use common::{json, run, strings, TinyRun};
use serde_json::Value;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1e-300)
}

/// "0.1234 [0.1, 0.2]" -> (0.1234, 0.1, 0.2)
fn parse_interval(cell: &str) -> (f64, f64, f64) {
    let (v, rest) = cell.split_once(" [").unwrap();
    let (lo, hi) = rest.trim_end_matches(']').split_once(", ").unwrap();
    (v.parse().unwrap(), lo.parse().unwrap(), hi.parse().unwrap())
}

/// Printed with four significant digits: equal to that precision.
fn printed(cell: f64, exact: f64) -> bool {
    (cell - exact).abs() <= 1e-3 * exact.abs().max(1e-300)
}

#[test]
fn demo_pipeline_on_the_tiny_model_writes_a_consistent_report() {
    let tiny = TinyRun::new(40);
    let dir = tiny.dir.as_path();
    let p = |name: &str| tiny.p(name);
    let measure = |axes: &str| tiny.measure_flags(axes, "2", "2", None);
    let with = |mut a: Vec<String>, b: &[&str]| {
        a.extend(strings(b));
        a
    };
    // Search: the target axis only, as the demo does.
    let axis = "gender_and_sex";
    run(
        "sample",
        &with(
            measure(axis),
            &[
                "--single-head",
                "--num-masks",
                "16",
                "--max-pruned",
                "4",
                "--seed",
                "0",
                "--out",
                &p("samples.parquet"),
            ],
        ),
    );
    run(
        "train-surrogate",
        &strings(&[
            "--samples",
            &p("samples.parquet"),
            "--axis",
            axis,
            "--seed",
            "0",
            "--epochs",
            "30",
            "--hidden",
            "16,8",
            "--out-dir",
            &p("surrogates"),
        ]),
    );
    run(
        "anneal",
        &strings(&[
            "--surrogates",
            &p("surrogates"),
            "--samples",
            &p("samples.parquet"),
            "--ppl-budget",
            "0.5",
            "--steps",
            "2000",
            "--restarts",
            "2",
            "--seed",
            "0",
            "--out-mask",
            &p("ap-mask.json"),
            "--out-trajectory",
            &p("trajectory.parquet"),
        ]),
    );
    run(
        "fasp",
        &with(
            measure(axis),
            &[
                "--samples",
                &p("samples.parquet"),
                "--axis",
                axis,
                "--ppl-budget",
                "0.5",
                "--alphas",
                "0.125,0.25",
                "--gammas",
                "0.25",
                "--out-mask",
                &p("fasp-mask.json"),
                "--out-candidates",
                &p("fasp-candidates.parquet"),
            ],
        ),
    );
    let seeds = [0u64, 1, 2];
    run(
        "random-masks",
        &strings(&[
            "--like",
            &p("ap-mask.json"),
            "--seeds",
            "0,1,2",
            "--out",
            &p("random-{seed}-mask.json"),
        ]),
    );
    // Report: every mask on the test prompts, two axes (spillover).
    let names: Vec<String> = ["ap", "fasp"]
        .iter()
        .map(|s| s.to_string())
        .chain(seeds.iter().map(|s| format!("random-{s}")))
        .collect();
    for name in &names {
        run(
            "apply",
            &with(
                // As in the demo: the random baseline on the target axis only.
                measure(if name.starts_with("random") {
                    axis
                } else {
                    "gender_and_sex,age"
                }),
                &[
                    "--ppl-skip-windows",
                    "2",
                    "--mask",
                    &p(&format!("{name}-mask.json")),
                    "--out",
                    &p(&format!("{name}-report.json")),
                ],
            ),
        );
    }
    let out_dir = dir.join("report");
    let report_args = with(
        strings(&[
            "--samples",
            &p("samples.parquet"),
            "--surrogates",
            &p("surrogates"),
            "--trajectory",
            &p("trajectory.parquet"),
            "--ap-report",
            &p("ap-report.json"),
            "--fasp-report",
            &p("fasp-report.json"),
            "--axis",
            axis,
            "--ppl-budget",
            "0.5",
            "--out-dir",
            &out_dir.display().to_string(),
            "--random-reports",
        ]),
        &seeds
            .iter()
            .map(|s| p(&format!("random-{s}-report.json")))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    run("report", &report_args);

    // Files: report, results, every plot as well-formed SVG.
    let md = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    for plot in attnprune_report::figures::PLOTS {
        let svg =
            std::fs::read_to_string(out_dir.join(plot)).unwrap_or_else(|e| panic!("{plot}: {e}"));
        let elements = check_well_formed(&svg).unwrap_or_else(|e| panic!("{plot}: {e}"));
        assert!(elements > 10, "{plot} has only {elements} elements");
        assert!(
            md.contains(&format!("]({plot})")),
            "report.md does not show {plot}"
        );
    }
    let results_text = std::fs::read_to_string(out_dir.join("results.json")).unwrap();
    let results: Results = serde_json::from_str(&results_text).unwrap();
    let raw: Value = serde_json::from_str(&results_text).unwrap();
    for m in ["unpruned", "attention_pruning", "fasp", "random"] {
        let axes: &[&str] = if m == "random" {
            &[axis]
        } else {
            &[axis, "age"]
        };
        assert_eq!(
            raw["methods"][m]["bias"].as_object().unwrap().len(),
            axes.len(),
            "{m}"
        );
        for a in axes {
            let b = &raw["methods"][m]["bias"][a];
            assert!(
                b["bias"].is_number() && b["ci_low"].is_number() && b["ci_high"].is_number(),
                "{m} {a}"
            );
        }
        assert!(
            raw["methods"][m]["perplexity"].is_number()
                && raw["methods"][m]["num_pruned"].is_number(),
            "{m}"
        );
    }
    assert_eq!(results.axes, vec!["age".to_string(), axis.to_string()]);
    assert_eq!(results.split, "test");

    // results.json numbers are the apply reports' numbers.
    let ap = json(&dir.join("ap-report.json"));
    let fasp = json(&dir.join("fasp-report.json"));
    let m = &results.methods;
    for a in [axis, "age"] {
        for (mine, theirs) in [
            (&m.unpruned.bias[a], &ap["bias"][a]["unpruned"]),
            (&m.attention_pruning.bias[a], &ap["bias"][a]["pruned"]),
            (
                &m.fasp.as_ref().unwrap().bias[a],
                &fasp["bias"][a]["pruned"],
            ),
        ] {
            for k in ["bias", "ci_low", "ci_high"] {
                let v = match k {
                    "bias" => mine.bias,
                    "ci_low" => mine.ci_low,
                    _ => mine.ci_high,
                };
                assert!(
                    close(v, theirs[k].as_f64().unwrap()),
                    "{a} {k}: {v} vs {}",
                    theirs[k]
                );
            }
            assert_eq!(mine.prompts as u64, theirs["count"].as_u64().unwrap());
        }
    }
    assert!(close(
        m.unpruned.perplexity,
        ap["perplexity"]["unpruned"].as_f64().unwrap()
    ));
    assert!(close(
        m.attention_pruning.perplexity,
        ap["perplexity"]["pruned"].as_f64().unwrap()
    ));
    assert!(close(
        m.attention_pruning.bias[axis].relative_reduction,
        ap["bias"][axis]["relative_reduction"].as_f64().unwrap()
    ));
    assert!(close(
        m.fasp.as_ref().unwrap().perplexity,
        fasp["perplexity"]["pruned"].as_f64().unwrap()
    ));
    assert_eq!(
        m.attention_pruning.num_pruned as u64,
        ap["mask"]["num_pruned"].as_u64().unwrap()
    );
    assert_eq!(
        m.attention_pruning.mask_file.as_deref(),
        Some(p("ap-mask.json").as_str())
    );
    assert_eq!(
        m.fasp.as_ref().unwrap().mask_file.as_deref(),
        Some(p("fasp-mask.json").as_str())
    );
    let random = m.random.as_ref().unwrap();
    assert_eq!(random.runs.len(), 3);
    assert_eq!(random.num_pruned, m.attention_pruning.num_pruned);
    let random_biases: Vec<f64> = seeds
        .iter()
        .map(|s| {
            let r = json(&dir.join(format!("random-{s}-report.json")));
            assert_eq!(
                r["mask"]["num_pruned"].as_u64().unwrap() as usize,
                m.attention_pruning.num_pruned
            );
            r["bias"][axis]["pruned"]["bias"].as_f64().unwrap()
        })
        .collect();
    let mean = random_biases.iter().sum::<f64>() / 3.0;
    assert!(
        close(random.bias[axis].bias, mean),
        "{} vs {mean}",
        random.bias[axis].bias
    );
    assert!(close(
        random.bias[axis].ci_low,
        random_biases.iter().copied().fold(f64::INFINITY, f64::min)
    ));
    assert_eq!(
        random.runs.iter().map(|r| r.seed).collect::<Vec<_>>(),
        vec![Some(0), Some(1), Some(2)]
    );
    assert!(results.surrogate.as_ref().unwrap().bias_holdout.is_some());
    assert!(
        results.findings[0].starts_with("**Bar "),
        "{}",
        results.findings[0]
    );

    // report.md's main table: one row per method, its numbers those of results.json and of the apply reports.
    let lines: Vec<&str> = md.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("| method |"))
        .expect("main table");
    let rows: Vec<Vec<String>> = lines[start + 2..]
        .iter()
        .take_while(|l| l.starts_with('|'))
        .map(|l| parse_row(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 4);
    for ((_, method), row) in m.iter().iter().zip(&rows) {
        assert_eq!(row, &attnprune_report::document::table_row(method, axis));
    }
    let expected = [
        (
            &ap["bias"][axis]["unpruned"],
            ap["perplexity"]["unpruned"].as_f64().unwrap(),
        ),
        (
            &ap["bias"][axis]["pruned"],
            ap["perplexity"]["pruned"].as_f64().unwrap(),
        ),
        (
            &fasp["bias"][axis]["pruned"],
            fasp["perplexity"]["pruned"].as_f64().unwrap(),
        ),
    ];
    for (row, (bias, ppl)) in rows.iter().zip(expected) {
        let (b, lo, hi) = parse_interval(&row[2]);
        assert!(
            printed(b, bias["bias"].as_f64().unwrap())
                && printed(lo, bias["ci_low"].as_f64().unwrap())
                && printed(hi, bias["ci_high"].as_f64().unwrap()),
            "{row:?} vs {bias}"
        );
        assert!(printed(row[4].parse().unwrap(), ppl), "{row:?} vs {ppl}");
    }
    assert_eq!(rows[1][1], m.attention_pruning.num_pruned.to_string());
    assert_eq!(rows[3][1], m.attention_pruning.num_pruned.to_string());
    let (b, _, _) = parse_interval(&rows[3][2]);
    assert!(printed(b, mean));

    // Sections, the verdict from the numbers, spillover of the other axis, provenance with the commands.
    for section in [
        "## Results",
        "## Verdict",
        "## Bias vs perplexity",
        "## Pruned heads",
        "## Annealing trajectory",
        "## Surrogates",
        "## Spillover",
        "## Random baseline, per seed",
        "## Provenance",
        "```sh",
    ] {
        assert!(md.contains(section), "missing {section}");
    }
    assert!(md.contains(&results.findings[0]));
    // Spillover: the other axis for the unpruned model, AP and FASP; the random masks measured only the target axis.
    let age_row = md
        .lines()
        .find(|l| l.starts_with("| `age` |"))
        .expect("spillover row of age");
    assert_eq!(age_row.matches("not measured").count(), 1, "{age_row}");
    for stage in [
        "sample",
        "train-surrogate",
        "anneal",
        "fasp",
        "random-masks",
        "apply",
        "report",
    ] {
        assert!(
            md.lines()
                .any(|l| l.contains(&format!("/{stage} --"))
                    || l.starts_with(&format!("{stage} --"))),
            "no {stage} command in the report"
        );
    }
    let sample_prov = attnprune_artifact::samples::read_sample_table(&dir.join("samples.parquet"))
        .unwrap()
        .provenance;
    assert!(md.contains(&sample_prov.model.unwrap().sha256));

    // Deterministic: a second run writes the same files.
    run("report", &report_args);
    assert_eq!(
        std::fs::read_to_string(out_dir.join("report.md")).unwrap(),
        md
    );
    assert_eq!(
        std::fs::read_to_string(out_dir.join("results.json")).unwrap(),
        results_text
    );
}
