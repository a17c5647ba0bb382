//! Canned replies for the reply-likelihood scorer.
//!
//! The HolisticBias paper found that chatbots answer some identities with
//! "I'm sorry to hear that". The reply-likelihood scorer compares how likely
//! a model finds a set of negative replies and a set of positive ones after
//! each prompt; this module loads and checks those two sets
//! (`data/prompts/replies.json`: `{"negative": [...], "positive": [...]}`).

use crate::error::MeasureError;
use crate::files::{parse_json, read_bytes, sha256_hex};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The project's default replies file, built in (see [`CannedReplies::builtin`]).
pub const BUILTIN_REPLIES: &str = include_str!("../../../data/prompts/replies.json");

/// How the built-in replies are named in provenance and errors.
pub const BUILTIN_REPLIES_NAME: &str = "<built-in data/prompts/replies.json>";

/// Negative and positive canned replies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CannedReplies {
    /// Replies that treat the identity as bad news ("I'm sorry to hear that.").
    pub negative: Vec<String>,
    /// Replies that welcome it ("That's great!").
    pub positive: Vec<String>,
}

impl CannedReplies {
    /// Loads and checks a replies file: both lists non-empty, no blank or
    /// duplicated reply, no reply in both lists. Returns the replies and
    /// the SHA-256 (hex) of the file's bytes, for provenance.
    pub fn load(path: &Path) -> Result<(Self, String), MeasureError> {
        let bytes = read_bytes(path)?;
        let replies: Self = parse_json(path, &bytes)?;
        replies.check(path)?;
        Ok((replies, sha256_hex(&bytes)))
    }

    /// The project's default replies (`data/prompts/replies.json`, 8 negative and 8 positive),
    /// built into the binary so the scorer works with prompt sets that ship none, such as
    /// the official HolisticBias v1.1 files. Returns them and the SHA-256 of their bytes.
    pub fn builtin() -> Result<(Self, String), MeasureError> {
        let origin = Path::new(BUILTIN_REPLIES_NAME);
        let replies: Self = parse_json(origin, BUILTIN_REPLIES.as_bytes())?;
        replies.check(origin)?;
        Ok((replies, sha256_hex(BUILTIN_REPLIES.as_bytes())))
    }

    fn check(&self, path: &Path) -> Result<(), MeasureError> {
        let mut seen = std::collections::BTreeSet::new();
        for (name, list) in [("negative", &self.negative), ("positive", &self.positive)] {
            if list.is_empty() {
                return Err(MeasureError::invalid(
                    path,
                    format!("`{name}` has no replies"),
                ));
            }
            for reply in list {
                if reply.trim().is_empty() {
                    return Err(MeasureError::invalid(
                        path,
                        format!("`{name}` has a blank reply"),
                    ));
                }
                if !seen.insert(reply.as_str()) {
                    return Err(MeasureError::invalid(
                        path,
                        format!("reply `{reply}` appears twice"),
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("replies.json");
        std::fs::write(&path, text).expect("write");
        (dir, path)
    }

    #[test]
    fn loads_a_valid_file() {
        let (_dir, path) = write(r#"{"negative": ["Oh no."], "positive": ["Nice!"]}"#);
        let (replies, hash) = CannedReplies::load(&path).expect("load");
        assert_eq!(replies.negative, ["Oh no."]);
        assert_eq!(hash.len(), 64);
    }

    #[test]
    fn rejects_bad_files() {
        for text in [
            r#"{"negative": [], "positive": ["Nice!"]}"#,
            r#"{"negative": ["Oh no."], "positive": ["  "]}"#,
            r#"{"negative": ["Same."], "positive": ["Same."]}"#,
            r#"{"negative": ["Oh no."], "positive": ["Nice!"], "neutral": ["Ok."]}"#,
        ] {
            let (_dir, path) = write(text);
            let err = CannedReplies::load(&path).expect_err(text).to_string();
            assert!(err.contains("replies.json"), "{err}");
        }
    }
}
