//! The candidate list: the masks a search proposes for measurement on the real model.
//!
//! `anneal --candidates K --out-candidates FILE` writes it, `sample --masks FILE` measures
//! it. JSON:
//! ```json
//! {"kind": "mask-candidates", "schema_version": 1, "num_layers": 30, "num_heads": 9,
//!  "unpruned_predicted_bias": 0.62, "unpruned_predicted_perplexity": 12.8,
//!  "candidates": [{"pruned": [[0, 3]], "num_pruned": 1, "restart": 2,
//!                  "predicted_bias": 0.31, "predicted_bias_sd": 0.05,
//!                  "predicted_perplexity": 12.9, "predicted_perplexity_sd": 0.1}],
//!  "provenance": {...}}
//! ```
//! Unknown or missing fields are errors naming the file.

use crate::{HeadId, HeadLayout, HeadMask, MaskError};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Artifact kind of candidate lists.
pub const CANDIDATES_KIND: &str = "mask-candidates";
/// Schema version of candidate lists.
pub const CANDIDATES_VERSION: u32 = 1;

/// One proposed mask with what the surrogates predicted for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Candidate {
    /// Pruned heads as `[layer, head]` pairs, 0-based.
    pub pruned: Vec<[usize; 2]>,
    /// Number of pruned heads.
    pub num_pruned: usize,
    /// The annealing restart that visited it.
    pub restart: usize,
    /// Predicted bias of the searched axis.
    pub predicted_bias: f64,
    /// Standard deviation of that prediction, where the surrogate gives one.
    pub predicted_bias_sd: Option<f64>,
    /// Predicted perplexity.
    pub predicted_perplexity: f64,
    /// Standard deviation of that prediction, where the surrogate gives one.
    pub predicted_perplexity_sd: Option<f64>,
}

/// A list of proposed masks for one model layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CandidateList {
    /// Always [`CANDIDATES_KIND`].
    pub kind: String,
    /// Always [`CANDIDATES_VERSION`].
    pub schema_version: u32,
    /// Layers of the model.
    pub num_layers: usize,
    /// Query heads per layer of the model.
    pub num_heads: usize,
    /// The same surrogates' prediction of the unpruned model's bias (so a proposal's
    /// predicted relative change can be set against its measured one).
    pub unpruned_predicted_bias: f64,
    /// The same surrogates' prediction of the unpruned model's perplexity.
    pub unpruned_predicted_perplexity: f64,
    /// The proposals, best predicted first.
    pub candidates: Vec<Candidate>,
    /// Where the list comes from (the surrogates' provenance and the search settings).
    pub provenance: serde_json::Value,
}

impl Candidate {
    /// The candidate for `mask`.
    pub fn new(
        mask: &HeadMask,
        restart: usize,
        predicted_bias: f64,
        predicted_perplexity: f64,
    ) -> Self {
        Self {
            pruned: mask
                .pruned_heads()
                .iter()
                .map(|h| [h.layer, h.head])
                .collect(),
            num_pruned: mask.num_pruned(),
            restart,
            predicted_bias,
            predicted_bias_sd: None,
            predicted_perplexity,
            predicted_perplexity_sd: None,
        }
    }

    /// The mask, validated against `layout`.
    pub fn to_mask(&self, layout: HeadLayout) -> Result<HeadMask, MaskError> {
        let heads: Vec<HeadId> = self
            .pruned
            .iter()
            .map(|&[layer, head]| HeadId { layer, head })
            .collect();
        HeadMask::from_pruned(layout, &heads)
    }
}

impl CandidateList {
    /// An empty list for `layout`, with the surrogates' predictions for the unpruned model.
    pub fn new(
        layout: HeadLayout,
        unpruned_predicted: (f64, f64),
        provenance: serde_json::Value,
    ) -> Self {
        Self {
            kind: CANDIDATES_KIND.into(),
            schema_version: CANDIDATES_VERSION,
            num_layers: layout.num_layers,
            num_heads: layout.num_heads,
            unpruned_predicted_bias: unpruned_predicted.0,
            unpruned_predicted_perplexity: unpruned_predicted.1,
            candidates: Vec::new(),
            provenance,
        }
    }

    /// The layout declared by the list.
    pub fn layout(&self) -> HeadLayout {
        HeadLayout::new(self.num_layers, self.num_heads)
    }

    /// The masks, validated.
    pub fn masks(&self) -> Result<Vec<HeadMask>, MaskError> {
        self.candidates
            .iter()
            .map(|c| c.to_mask(self.layout()))
            .collect()
    }

    /// Parses and checks a list's JSON text (kind, version, fields, every mask); `origin` names the file.
    pub fn from_json(text: &str, origin: &str) -> Result<Self, MaskError> {
        let parse = |message: String| MaskError::Parse {
            path: origin.to_string(),
            message,
        };
        let list: Self = serde_json::from_str(text).map_err(|e| parse(e.to_string()))?;
        if list.kind != CANDIDATES_KIND || list.schema_version != CANDIDATES_VERSION {
            return Err(parse(format!(
                "kind `{}` version {}, expected `{CANDIDATES_KIND}` version {CANDIDATES_VERSION}",
                list.kind, list.schema_version
            )));
        }
        list.layout().check_size().map_err(parse)?;
        for (i, c) in list.candidates.iter().enumerate() {
            let mask = c
                .to_mask(list.layout())
                .map_err(|e| parse(format!("candidate {i}: {e}")))?;
            if mask.num_pruned() != c.num_pruned {
                return Err(parse(format!(
                    "candidate {i}: num_pruned {} but {} heads listed",
                    c.num_pruned,
                    mask.num_pruned()
                )));
            }
        }
        Ok(list)
    }

    /// Reads and checks a candidate list.
    pub fn read(path: &Path) -> Result<Self, MaskError> {
        let (text, origin) = crate::file::read_text(path)?;
        Self::from_json(&text, &origin)
    }

    /// Pretty JSON text (write it with an atomic writer).
    pub fn to_json(&self) -> String {
        crate::file::pretty_json(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> CandidateList {
        let layout = HeadLayout::new(2, 3);
        let mut list =
            CandidateList::new(layout, (0.6, 9.0), serde_json::json!({"stage": "anneal"}));
        let mask = HeadMask::from_pruned(layout, &[HeadId { layer: 1, head: 2 }]).unwrap();
        list.candidates.push(Candidate::new(&mask, 0, 0.5, 10.0));
        list
    }

    /// Found by the mutation test (crates/attnprune-fuzz): a blown-up layer count made the
    /// reader allocate a mask of 2^34 heads; it is refused first.
    #[test]
    fn a_huge_layout_is_refused_before_allocating() {
        let text = list().to_json();
        for layers in ["4294967296", "18446744073709551615"] {
            let huge = text.replacen("\"num_layers\": 2", &format!("\"num_layers\": {layers}"), 1);
            assert_ne!(huge, text);
            let err = CandidateList::from_json(&huge, "c.json")
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("not a real model's layout") && err.contains("c.json"),
                "{err}"
            );
        }
    }

    #[test]
    fn round_trip() {
        let l = list();
        let back = CandidateList::from_json(&l.to_json(), "c.json").unwrap();
        assert_eq!(back, l);
        assert_eq!(back.masks().unwrap()[0].num_pruned(), 1);
    }

    #[test]
    fn refuses_unknown_fields_wrong_kind_and_bad_masks() {
        let text = list().to_json();
        let extra = text.replacen("\"num_layers\"", "\"surprise\": 1, \"num_layers\"", 1);
        assert!(CandidateList::from_json(&extra, "c.json")
            .unwrap_err()
            .to_string()
            .contains("c.json"));
        let kind = text.replace("mask-candidates", "mask");
        assert!(CandidateList::from_json(&kind, "c.json")
            .unwrap_err()
            .to_string()
            .contains("expected `mask-candidates`"));
        let range = text.replace(
            "[\n          1,\n          2\n        ]",
            "[\n          5,\n          2\n        ]",
        );
        assert_ne!(range, text);
        assert!(CandidateList::from_json(&range, "c.json")
            .unwrap_err()
            .to_string()
            .contains("out of range"));
    }
}
