//! The head-mask file: JSON, 0-based, shared by `anneal`, `fasp` and `apply`.
//!
//! ```json
//! {"num_layers": 30, "num_heads": 9, "pruned": [[0, 3], [12, 8]]}
//! ```
//! Extra keys (`schema_version`, `provenance`, `method`, ...) are kept so a
//! mask carries where it came from.

use crate::{HeadId, HeadLayout, HeadMask, MaskError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Artifact kind of mask files (in their provenance).
pub const MASK_KIND: &str = "mask";
/// Schema version of mask files.
pub const MASK_VERSION: u32 = 1;

/// The on-disk form of a head mask.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaskFile {
    /// Layers of the model the mask is for.
    pub num_layers: usize,
    /// Query heads per layer of the model the mask is for.
    pub num_heads: usize,
    /// Pruned heads as `[layer, head]` pairs, 0-based.
    pub pruned: Vec<[usize; 2]>,
    /// Anything else: schema version, provenance, the method that chose the mask.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl MaskFile {
    /// The file form of a mask, with no extra keys.
    pub fn from_mask(mask: &HeadMask) -> Self {
        let layout = mask.layout();
        Self {
            num_layers: layout.num_layers,
            num_heads: layout.num_heads,
            pruned: mask
                .pruned_heads()
                .iter()
                .map(|h| [h.layer, h.head])
                .collect(),
            extra: BTreeMap::new(),
        }
    }

    /// The layout declared by the file.
    pub fn layout(&self) -> HeadLayout {
        HeadLayout::new(self.num_layers, self.num_heads)
    }

    /// The mask, validated: no duplicates, no out-of-range heads.
    pub fn to_mask(&self) -> Result<HeadMask, MaskError> {
        let heads: Vec<HeadId> = self
            .pruned
            .iter()
            .map(|&[layer, head]| HeadId { layer, head })
            .collect();
        HeadMask::from_pruned(self.layout(), &heads)
    }

    /// The mask, validated and checked against the model's layout.
    pub fn to_mask_for(&self, model: HeadLayout) -> Result<HeadMask, MaskError> {
        model.check_matches(&self.layout())?;
        self.to_mask()
    }

    /// Parses a mask file's JSON text; `origin` names the file in errors.
    pub fn from_json(text: &str, origin: &str) -> Result<Self, MaskError> {
        let file: MaskFile = serde_json::from_str(text).map_err(|e| MaskError::Parse {
            path: origin.to_string(),
            message: e.to_string(),
        })?;
        file.layout()
            .check_size()
            .map_err(|message| MaskError::Parse {
                path: origin.to_string(),
                message,
            })?;
        file.to_mask().map_err(|e| MaskError::Parse {
            path: origin.to_string(),
            message: e.to_string(),
        })?;
        Ok(file)
    }

    /// Reads and validates a mask file.
    pub fn read(path: &Path) -> Result<Self, MaskError> {
        let (text, origin) = read_text(path)?;
        Self::from_json(&text, &origin)
    }

    /// Pretty JSON text of the file (write it with an atomic writer).
    pub fn to_json(&self) -> String {
        pretty_json(self)
    }
}

/// A file's text and its name for messages, or an error naming it.
pub(crate) fn read_text(path: &Path) -> Result<(String, String), MaskError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| MaskError::Io {
        path: origin.clone(),
        source,
    })?;
    Ok((text, origin))
}

/// Pretty JSON with a final newline.
pub(crate) fn pretty_json<T: Serialize>(value: &T) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_extra_keys() {
        let layout = HeadLayout::new(2, 3);
        let mask = HeadMask::from_pruned(layout, &[HeadId { layer: 1, head: 2 }]).unwrap();
        let mut file = MaskFile::from_mask(&mask);
        file.extra
            .insert("method".into(), serde_json::json!("anneal"));
        let back = MaskFile::from_json(&file.to_json(), "x.json").unwrap();
        assert_eq!(back, file);
        assert_eq!(back.to_mask_for(layout).unwrap(), mask);
    }

    /// A blown-up head count is refused before a mask of that size is allocated.
    #[test]
    fn a_huge_layout_is_refused_before_allocating() {
        let huge = r#"{"num_layers":2,"num_heads":17179869184,"pruned":[[0,1]]}"#;
        let err = MaskFile::from_json(huge, "m.json").unwrap_err().to_string();
        assert!(
            err.contains("not a real model's layout") && err.contains("m.json"),
            "{err}"
        );
    }

    #[test]
    fn rejects_bad_files_with_the_file_name() {
        let dup = r#"{"num_layers":2,"num_heads":3,"pruned":[[0,1],[0,1]]}"#;
        let err = MaskFile::from_json(dup, "m.json").unwrap_err().to_string();
        assert!(
            err.contains("m.json") && err.contains("more than once"),
            "{err}"
        );
        let range = r#"{"num_layers":2,"num_heads":3,"pruned":[[2,0]]}"#;
        assert!(MaskFile::from_json(range, "m.json")
            .unwrap_err()
            .to_string()
            .contains("out of range"));
        let garbage = r#"{"num_layers":2}"#;
        assert!(MaskFile::from_json(garbage, "m.json")
            .unwrap_err()
            .to_string()
            .contains("m.json"));
    }

    #[test]
    fn shape_mismatch_is_reported() {
        let file =
            MaskFile::from_json(r#"{"num_layers":2,"num_heads":3,"pruned":[]}"#, "m").unwrap();
        let err = file
            .to_mask_for(HeadLayout::new(30, 9))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("2 layers x 3 heads") && err.contains("30 layers x 9 heads"),
            "{err}"
        );
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = MaskFile::read(Path::new("/nonexistent/mask.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/mask.json"), "{err}");
    }
}
