//! Helpers shared by the end-to-end tests (`mod common;` in each): the stage binaries,
//! running them from the repository root, and a temporary folder with the tiny model.
#![allow(dead_code, clippy::unwrap_used)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (the stages run there, so `data/prompts` resolves).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The path of a stage binary built for these tests.
pub fn exe(name: &str) -> &'static str {
    match name {
        "sample" => env!("CARGO_BIN_EXE_sample"),
        "train-surrogate" => env!("CARGO_BIN_EXE_train-surrogate"),
        "anneal" => env!("CARGO_BIN_EXE_anneal"),
        "choose" => env!("CARGO_BIN_EXE_choose"),
        "apply" => env!("CARGO_BIN_EXE_apply"),
        "fasp" => env!("CARGO_BIN_EXE_fasp"),
        "random-masks" => env!("CARGO_BIN_EXE_random-masks"),
        "report" => env!("CARGO_BIN_EXE_report"),
        "device-check" => env!("CARGO_BIN_EXE_device-check"),
        other => panic!("no stage binary `{other}`"),
    }
}

/// Runs a stage binary from the repository root; returns its output (stdout and stderr apart).
pub fn stage<S: AsRef<OsStr>>(name: &str, args: &[S]) -> Output {
    Command::new(exe(name))
        .args(args)
        .current_dir(root())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

/// Runs a stage that must succeed (the failure message shows its arguments and stderr).
pub fn run<S: AsRef<OsStr>>(name: &str, args: &[S]) {
    let out = stage(name, args);
    let shown: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy()).collect();
    assert!(
        out.status.success(),
        "{name} {shown:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs a stage that must fail without panicking; returns its stderr.
pub fn fails<S: AsRef<OsStr>>(name: &str, args: &[S]) -> String {
    let out = stage(name, args);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "{name} should have failed");
    assert!(!err.contains("panicked"), "{name} panicked:\n{err}");
    err
}

/// Owned copies of string slices (argument lists).
pub fn strings(xs: &[&str]) -> Vec<String> {
    xs.iter().map(|s| s.to_string()).collect()
}

/// A sample table written by a stage, read back (a failed read fails the test).
pub fn sample_table(path: &str) -> attnprune_artifact::SampleTable {
    attnprune_artifact::samples::read_sample_table(Path::new(path)).unwrap()
}

/// A JSON file, parsed.
pub fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A temporary folder holding the tiny random-weight model (`model/`, seed 7) and a
/// utility text (`text.txt`, one sentence repeated `text_repeats` times).
pub struct TinyRun {
    _dir: tempfile::TempDir,
    /// The folder.
    pub dir: PathBuf,
}

impl TinyRun {
    /// Makes the folder, the model and the text.
    pub fn new(text_repeats: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        attnprune_lm::tiny::write_tiny_model(&path.join("model"), 7).unwrap();
        let text =
            "The doctor said that the nurse was kind and the people were happy to meet them. "
                .repeat(text_repeats);
        std::fs::write(path.join("text.txt"), text).unwrap();
        Self {
            _dir: dir,
            dir: path,
        }
    }

    /// A file in the folder, as an argument.
    pub fn p(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// The measurement flags of the model stages on this folder: the random design,
    /// `reply-likelihood`, 32-token windows of `text.txt` (of `split`, when given), 50
    /// bootstrap resamples; `per_bucket` prompts and `windows` windows set the fidelity.
    pub fn measure_flags(
        &self,
        axes: &str,
        per_bucket: &str,
        windows: &str,
        split: Option<&str>,
    ) -> Vec<String> {
        let (model, text) = (self.p("model"), self.p("text.txt"));
        let mut flags = strings(&[
            "--model",
            &model,
            "--prompts",
            "data/prompts",
            "--axes",
            axes,
            "--design",
            "random",
            "--per-bucket",
            per_bucket,
            "--scorer",
            "reply-likelihood",
            "--ppl-text",
            &text,
            "--ppl-window",
            "32",
        ]);
        if let Some(split) = split {
            flags.extend(strings(&["--ppl-split", split]));
        }
        flags.extend(strings(&[
            "--ppl-max-windows",
            windows,
            "--bootstrap",
            "50",
        ]));
        flags
    }
}
