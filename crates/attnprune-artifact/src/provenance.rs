//! Provenance: where an artifact comes from, and the checks run on inputs.

use crate::{ArtifactError, Result, TOOL_VERSION};
use attnprune_mask::HeadLayout;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// A file (or set of files) and the sha256 of its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// The path as the user gave it (informational: comparisons use the hash).
    pub path: String,
    /// Lower-case hex sha256 of the content.
    pub sha256: String,
}

/// Who made an artifact, from what, how. Stored as JSON in each artifact's
/// metadata (Parquet key-value metadata, a JSON field, or a sidecar file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// Kind of artifact, e.g. `sample-table`, `surrogate`, `mask`, `trajectory`, `report`.
    pub kind: String,
    /// Version of that kind's schema; readers refuse versions they do not know.
    pub schema_version: u32,
    /// The attnprune version that wrote it.
    pub tool_version: String,
    /// The stage that wrote it (`sample`, `train-surrogate`, ...).
    pub stage: String,
    /// The stage's command-line arguments.
    pub args: Vec<String>,
    /// The seed of the stage's random choices, if any.
    pub seed: Option<u64>,
    /// The model file the artifact refers to.
    pub model: Option<Fingerprint>,
    /// The model's head layout.
    pub layout: Option<HeadLayout>,
    /// The prompt set used for bias.
    pub prompts: Option<Fingerprint>,
    /// The utility corpus used for perplexity.
    pub corpus: Option<Fingerprint>,
    /// Measurement settings that must agree between artifacts that are combined
    /// (axes, scorer, perplexity window, ...).
    pub settings: BTreeMap<String, serde_json::Value>,
    /// Input artifacts this one was made from.
    pub inputs: Vec<Fingerprint>,
}

impl Provenance {
    /// A provenance record for `kind` at `schema_version`, written by `stage` with `args`.
    pub fn new(kind: &str, schema_version: u32, stage: &str, args: Vec<String>) -> Self {
        Self {
            kind: kind.to_string(),
            schema_version,
            tool_version: TOOL_VERSION.to_string(),
            stage: stage.to_string(),
            args,
            seed: None,
            model: None,
            layout: None,
            prompts: None,
            corpus: None,
            settings: BTreeMap::new(),
            inputs: Vec::new(),
        }
    }

    /// A record for an artifact made from another: same model, layout, prompt
    /// set, corpus and measurement settings, so later stages can check it.
    pub fn derived(
        kind: &str,
        schema_version: u32,
        stage: &str,
        args: Vec<String>,
        from: &Provenance,
    ) -> Self {
        Self {
            model: from.model.clone(),
            layout: from.layout,
            prompts: from.prompts.clone(),
            corpus: from.corpus.clone(),
            settings: from.settings.clone(),
            ..Self::new(kind, schema_version, stage, args)
        }
    }

    /// JSON text of the record.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses the JSON form; `origin` names the file in errors.
    pub fn from_json(text: &str, origin: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|e| ArtifactError::Schema {
            path: origin.to_string(),
            message: format!("provenance metadata is not valid: {e}"),
        })
    }

    /// Fails unless the record is of `kind` at a schema version this tool reads.
    pub fn check_kind(&self, origin: &Path, kind: &str, schema_version: u32) -> Result<()> {
        if self.kind != kind || self.schema_version != schema_version {
            return Err(ArtifactError::Schema {
                path: origin.display().to_string(),
                message: format!(
                    "it is a `{}` artifact at schema version {}, but a `{kind}` at schema version {schema_version} is needed",
                    self.kind, self.schema_version
                ),
            });
        }
        Ok(())
    }

    /// Fails unless both artifacts refer to the same model (by sha256 and layout).
    pub fn check_same_model(
        &self,
        path: &Path,
        other: &Provenance,
        other_path: &Path,
    ) -> Result<()> {
        let hash = |p: &Provenance| p.model.as_ref().map(|m| m.sha256.clone());
        if hash(self) != hash(other) || self.layout != other.layout {
            return Err(mismatch(
                "model",
                path,
                &describe_model(self),
                other_path,
                &describe_model(other),
            ));
        }
        Ok(())
    }

    /// Fails unless both artifacts were measured the same way: model, prompt
    /// set, corpus and measurement settings. Used when combining sample tables.
    pub fn check_same_measurement(
        &self,
        path: &Path,
        other: &Provenance,
        other_path: &Path,
    ) -> Result<()> {
        self.check_same_model(path, other, other_path)?;
        let sha =
            |f: &Option<Fingerprint>| f.as_ref().map(|f| f.sha256.clone()).unwrap_or_default();
        if sha(&self.prompts) != sha(&other.prompts) {
            return Err(mismatch(
                "prompt set",
                path,
                &sha(&self.prompts),
                other_path,
                &sha(&other.prompts),
            ));
        }
        if sha(&self.corpus) != sha(&other.corpus) {
            return Err(mismatch(
                "utility corpus",
                path,
                &sha(&self.corpus),
                other_path,
                &sha(&other.corpus),
            ));
        }
        if self.measurement_settings() != other.measurement_settings() {
            let show = |s: &BTreeMap<String, serde_json::Value>| {
                serde_json::to_string(s).unwrap_or_default()
            };
            return Err(mismatch(
                "measurement settings",
                path,
                &show(&self.settings),
                other_path,
                &show(&other.settings),
            ));
        }
        Ok(())
    }

    /// The settings that describe how a mask is measured: all but [`PLAN_SETTINGS`] (which
    /// masks a run chose), so tables of different mask plans measured alike combine.
    pub fn measurement_settings(&self) -> BTreeMap<String, serde_json::Value> {
        self.settings
            .iter()
            .filter(|(k, _)| !PLAN_SETTINGS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// A fingerprint of this artifact for the `inputs` of the next one.
    pub fn fingerprint_of(path: &Path) -> Result<Fingerprint> {
        Ok(Fingerprint {
            path: path.display().to_string(),
            sha256: sha256_file(path)?,
        })
    }
}

fn describe_model(p: &Provenance) -> String {
    let file = p
        .model
        .as_ref()
        .map(|m| format!("{} (sha256 {})", m.path, short(&m.sha256)));
    let layout = p
        .layout
        .map(|l| l.to_string())
        .unwrap_or_else(|| "unknown layout".into());
    format!(
        "{}, {layout}",
        file.unwrap_or_else(|| "an unknown model".into())
    )
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

/// Settings keys that record which masks a run evaluated, not how it measured them.
pub const PLAN_SETTINGS: &[&str] = &["masks"];

fn mismatch(what: &str, a: &Path, a_desc: &str, b: &Path, b_desc: &str) -> ArtifactError {
    ArtifactError::Mismatch {
        message: format!(
            "{what} mismatch: `{}` was made for {a_desc} but `{}` for {b_desc}",
            a.display(),
            b.display()
        ),
    }
}

/// Lower-case hex sha256 of a file's content.
pub fn sha256_file(path: &Path) -> Result<String> {
    let io = |source| ArtifactError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Lower-case hex sha256 of bytes.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prov(model_hash: &str) -> Provenance {
        let mut p = Provenance::new("sample-table", 1, "sample", vec![]);
        p.model = Some(Fingerprint {
            path: "m.gguf".into(),
            sha256: model_hash.into(),
        });
        p.layout = Some(HeadLayout::new(2, 2));
        p
    }

    #[test]
    fn model_mismatch_names_both_files() {
        let err = prov("aaaa")
            .check_same_model(Path::new("a.parquet"), &prov("bbbb"), Path::new("b.mpk"))
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("a.parquet") && msg.contains("b.mpk") && msg.contains("aaaa"),
            "{msg}"
        );
    }

    #[test]
    fn settings_must_agree() {
        let a = prov("x");
        let mut b = prov("x");
        assert!(a
            .check_same_measurement(Path::new("a"), &b, Path::new("b"))
            .is_ok());
        b.settings
            .insert("axes".into(), serde_json::json!(["gender_and_sex"]));
        assert!(a
            .check_same_measurement(Path::new("a"), &b, Path::new("b"))
            .is_err());
    }

    #[test]
    fn kind_check_and_json_round_trip() {
        let p = prov("x");
        let back = Provenance::from_json(&p.to_json(), "f").unwrap();
        assert_eq!(back, p);
        assert!(back.check_kind(Path::new("f"), "surrogate", 1).is_err());
        assert!(back.check_kind(Path::new("f"), "sample-table", 1).is_ok());
    }

    #[test]
    fn hashes_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(
            sha256_file(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(sha256_file(&dir.path().join("missing"))
            .unwrap_err()
            .to_string()
            .contains("missing"));
    }
}
