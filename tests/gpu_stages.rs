#![allow(clippy::unwrap_used)]
//! A stage on the GPU code path, end to end: `sample` of the tiny model through burn-wgpu on
//! OpenGL (Mesa's llvmpipe where there is no GPU), with attnprune's own GPU kernels and with
//! `--gpu-kernels false`, against the CPU. Only in builds with the `wgpu` feature and without
//! burn's fusion (`make test-wgpu`); empty otherwise.
#![cfg(all(feature = "wgpu", not(feature = "wgpu-tuned")))]

mod common;

use common::{run, sample_table, TinyRun};

/// `sample` of 3 random masks (up to 6 heads, seed 1) on `device` with `extra` options.
fn sample_on(s: &TinyRun, device: &str, extra: &[&str], table: &str) {
    let mut args = s.measure_flags("gender_and_sex,age", "2", "4", None);
    let fixed = [
        "--num-masks",
        "3",
        "--max-pruned",
        "6",
        "--seed",
        "1",
        "--device",
        device,
        "--out",
    ];
    args.extend(fixed.iter().map(|x| x.to_string()));
    args.push(s.p(table));
    args.extend(extra.iter().map(|x| x.to_string()));
    run("sample", &args);
}

/// The two tables hold the same masks and, within `tolerance` relative, the same numbers.
fn assert_same_measurements(
    a: &attnprune_artifact::SampleTable,
    b: &attnprune_artifact::SampleTable,
    tolerance: f64,
) {
    assert_eq!(a.rows.len(), b.rows.len());
    for (x, y) in a.rows.iter().zip(&b.rows) {
        assert_eq!(x.mask, y.mask);
        let close = |p: f64, q: f64| (p - q).abs() <= tolerance * p.abs().max(q.abs()).max(1e-3);
        assert!(
            close(x.perplexity, y.perplexity),
            "mask {}: perplexity {} vs {}",
            x.mask_id,
            x.perplexity,
            y.perplexity
        );
        for (p, q) in x.bucket_means.iter().zip(&y.bucket_means) {
            assert!(close(*p, *q), "mask {}: bucket mean {p} vs {q}", x.mask_id);
        }
        for (p, q) in x.bias.iter().zip(&y.bias) {
            assert!(close(*p, *q), "mask {}: bias {p} vs {q}", x.mask_id);
        }
    }
}

#[test]
fn sample_on_the_gpu_path_matches_the_cpu_and_records_its_kernels() {
    let s = TinyRun::new(40);
    sample_on(&s, "cpu", &[], "cpu.parquet");
    sample_on(&s, "wgpu-gl", &[], "ours.parquet");
    sample_on(
        &s,
        "wgpu-gl",
        &["--gpu-kernels", "false"],
        "generic.parquet",
    );
    // On the CPU the option changes nothing, so it is not recorded.
    sample_on(&s, "cpu", &["--gpu-kernels", "false"], "cpu-off.parquet");
    let (cpu, ours, generic, cpu_off) = (
        sample_table(&s.p("cpu.parquet")),
        sample_table(&s.p("ours.parquet")),
        sample_table(&s.p("generic.parquet")),
        sample_table(&s.p("cpu-off.parquet")),
    );

    assert_same_measurements(&cpu, &ours, 1e-4);
    assert_same_measurements(&cpu, &generic, 1e-4);
    assert_same_measurements(&ours, &generic, 1e-4);

    let recorded =
        |t: &attnprune_artifact::SampleTable| t.provenance.settings.get("gpu_kernels").cloned();
    assert_eq!(recorded(&ours), None, "on is the default, not recorded");
    assert_eq!(recorded(&generic), Some(serde_json::json!(false)));
    assert_eq!(recorded(&cpu), None);
    assert_eq!(recorded(&cpu_off), None);
}
