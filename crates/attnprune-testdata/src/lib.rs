//! The one rule for tests that need data the repository does not hold: the SmolLM2 model and
//! MiniLM (`make model minilm`), the Brown corpus (`make data`), the official HolisticBias
//! and WikiText files (`../shared/data`).
//!
//! Run by hand without the data, such a test says `SKIPPED` on stderr and passes. Under
//! `make test`, which sets [`REQUIRE_VAR`]`=1` after fetching everything, a missing file is a
//! failure: a broken download can never turn golden tests into silent passes.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The environment variable that turns a missing data file into a test failure.
pub const REQUIRE_VAR: &str = "ATTNPRUNE_REQUIRE_DATA";

/// Whether missing data must fail the test (the variable is set to anything but `0` or empty).
pub fn required() -> bool {
    std::env::var(REQUIRE_VAR).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// `Some(path)` when `path` exists. Otherwise, under [`REQUIRE_VAR`], panics naming the path,
/// what it is and how to get it; else prints `SKIPPED` with the same words and returns `None`.
pub fn require(path: impl AsRef<Path>, what: &str, how: &str) -> Option<PathBuf> {
    let path = path.as_ref();
    if path.exists() {
        return Some(path.to_path_buf());
    }
    let message = format!("{what} not found at `{}` ({how})", path.display());
    assert!(
        !required(),
        "{message}; {REQUIRE_VAR} is set, so missing data fails the test"
    );
    // Straight to the stderr handle: libtest captures `eprintln!` of passing tests.
    let _ = writeln!(std::io::stderr(), "SKIPPED: {message}");
    None
}

/// The repository's root, from a crate's `CARGO_MANIFEST_DIR` (crates/NAME).
pub fn repo_root(manifest_dir: &str) -> PathBuf {
    Path::new(manifest_dir).join("../..")
}

/// The SmolLM2 model file the golden tests use.
pub fn smollm2(manifest_dir: &str) -> Option<PathBuf> {
    require(
        repo_root(manifest_dir).join("data/models/SmolLM2-135M-Instruct.Q4_1.gguf"),
        "the SmolLM2 model",
        "run `make model`",
    )
}

/// The official HolisticBias v1.1 folder (`ATTNPRUNE_HOLISTIC_BIAS_DIR`, else `../shared/data/holistic_bias/v1.1`).
pub fn holistic_bias(manifest_dir: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("ATTNPRUNE_HOLISTIC_BIAS_DIR").map_or_else(
        || repo_root(manifest_dir).join("../shared/data/holistic_bias/v1.1"),
        PathBuf::from,
    );
    require(
        dir.join("descriptors.json"),
        "the official HolisticBias v1.1 files",
        "set ATTNPRUNE_HOLISTIC_BIAS_DIR",
    )
    .map(|_| dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn present_files_are_returned() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        assert_eq!(require(&here, "x", "y"), Some(here));
    }

    #[test]
    fn missing_files_skip_or_fail_by_the_variable() {
        let missing = Path::new("/nonexistent/attnprune-test-file");
        if required() {
            let r = std::panic::catch_unwind(|| require(missing, "x", "y"));
            assert!(r.is_err(), "a missing file must fail under {REQUIRE_VAR}");
        } else {
            assert_eq!(require(missing, "x", "y"), None);
        }
    }
}
