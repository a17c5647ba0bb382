//! What the report is built from, as read: the `apply` reports with their mask files and
//! provenance, the surrogates' fits, and the list of artifacts whose provenance it shows.

use crate::apply::{ApplyReport, APPLY_REPORT_KIND, APPLY_REPORT_VERSION};
use crate::results::Fit;
use attnprune_artifact::Provenance;
use attnprune_mask::MaskFile;
use attnprune_measure::bias::AxisBias as Measured;
use std::path::{Path, PathBuf};

/// One `apply` report as the report uses it: the typed report, its provenance, and the
/// mask file it measured (when that file can still be read).
#[derive(Debug, Clone)]
pub struct ApplyInput {
    /// The report's file.
    pub path: PathBuf,
    /// The mask file as `apply` was given it.
    pub mask_path: String,
    /// The mask file, read again (its path is relative to where `apply` ran, like ours).
    pub mask: Option<MaskFile>,
    /// Heads pruned.
    pub num_pruned: usize,
    /// Pruned heads, `[layer, head]`.
    pub pruned: Vec<[usize; 2]>,
    /// The prompt split measured.
    pub split: String,
    /// Perplexity `(unpruned, pruned)`.
    pub ppl: (f64, f64),
    /// `(axis, unpruned, pruned)` bias on the probability scale, in the report's order.
    pub axes: Vec<(String, Measured, Measured)>,
    /// The report's provenance.
    pub provenance: Provenance,
    /// The report as read (for the paired intervals).
    pub typed: ApplyReport,
}

impl ApplyInput {
    /// Reads an apply report that measured both bias and perplexity; errors name the file.
    pub fn read(path: &Path) -> Result<Self, String> {
        let typed = ApplyReport::read(path)?;
        let provenance: Provenance = serde_json::from_value(typed.provenance.clone())
            .map_err(|e| format!("`{}`: provenance: {e}", path.display()))?;
        provenance
            .check_kind(path, APPLY_REPORT_KIND, APPLY_REPORT_VERSION)
            .map_err(|e| e.to_string())?;
        let missing = |what: &str| {
            format!("`{}` is not an apply report with bias and perplexity: {what} is missing (run apply with --metrics bias,ppl)", path.display())
        };
        let ppl = typed
            .perplexity
            .as_ref()
            .map(|p| (p.unpruned, p.pruned))
            .ok_or_else(|| missing("perplexity"))?;
        if typed.bias.is_empty() {
            return Err(missing("bias"));
        }
        let axes = typed
            .bias
            .iter()
            .map(|(axis, b)| (axis.clone(), b.unpruned.clone(), b.pruned.clone()))
            .collect();
        let mask = MaskFile::read(Path::new(&typed.mask.file)).ok();
        Ok(Self {
            path: path.to_path_buf(),
            num_pruned: typed.mask.num_pruned,
            mask_path: typed.mask.file.clone(),
            mask,
            pruned: typed.mask.pruned.clone(),
            split: typed.split.clone(),
            ppl,
            axes,
            provenance,
            typed,
        })
    }

    /// The `(axis, unpruned, pruned)` entry of `axis`, if measured.
    pub fn axis(&self, axis: &str) -> Option<&(String, Measured, Measured)> {
        self.axes.iter().find(|a| a.0 == axis)
    }

    /// A number the mask file records beside the mask (e.g. `predicted_bias`).
    pub fn mask_number(&self, key: &str) -> Option<f64> {
        self.mask
            .as_ref()
            .and_then(|m| m.extra.get(key))
            .and_then(serde_json::Value::as_f64)
    }

    /// Fails unless two apply reports measured the same model, prompts, text and settings;
    /// the axes may differ (the random baseline may measure fewer: an axis' prompts do not
    /// depend on which other axes are measured).
    pub fn check_same_test_measurement(&self, other: &ApplyInput) -> Result<(), String> {
        let without_axes = |p: &Provenance| {
            let mut p = p.clone();
            p.settings.remove("axes");
            p
        };
        without_axes(&self.provenance)
            .check_same_measurement(&self.path, &without_axes(&other.provenance), &other.path)
            .map_err(|e| e.to_string())
    }
}

/// The surrogates' fits as the report shows them (from `surrogate-report.json`).
#[derive(Debug, Clone, Default)]
pub struct SurrogateFits {
    /// Rows the surrogates were fitted on.
    pub rows: usize,
    /// The bias MLP on held-out rows (None: none held out).
    pub bias_holdout: Option<Fit>,
    /// The bias MLP on its training rows.
    pub bias_train: Option<Fit>,
    /// The ln perplexity MLP on held-out rows.
    pub ppl_holdout: Option<Fit>,
    /// The ln perplexity MLP on its training rows.
    pub ppl_train: Option<Fit>,
    /// Held-out `(measured, predicted)` ln bias.
    pub bias_points: Vec<(f64, f64)>,
    /// Held-out `(measured, predicted)` ln perplexity.
    pub ppl_points: Vec<(f64, f64)>,
}

/// One artifact whose provenance the report lists.
#[derive(Debug, Clone)]
pub struct Source {
    /// What it is (`sample table`, `FASP apply report`, ...).
    pub what: String,
    /// Its file or folder.
    pub file: String,
    /// Its provenance.
    pub provenance: Provenance,
}
