//! The surrogate files `train-surrogate` writes and `anneal` reads: the MLPs with their
//! provenance (the report of their fit is `attnprune_surrogate::SurrogateReport`).

use anyhow::{Context, Result};
use attnprune_artifact::{staging_folder, write_atomic_bytes, Provenance};
use attnprune_surrogate::TrainedSurrogate;
use std::path::Path;

/// Artifact kind of surrogate models.
pub const SURROGATE_KIND: &str = "surrogate";
/// Schema version of surrogate models (2: the bias surrogate predicts ln bias).
pub const SURROGATE_VERSION: u32 = 2;

/// Saves a surrogate as `<base>.mpk` + `<base>.json` + `<base>.provenance.json`,
/// written in a temporary folder and renamed, the `.mpk` (what Make tracks) last.
pub fn save_surrogate(
    model: &TrainedSurrogate,
    base: &Path,
    provenance: &Provenance,
) -> Result<()> {
    let dir = base
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = base
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Removed with whatever is left in it when dropped, also on an error.
    let staging = staging_folder(base)?;
    let temp = staging.path();
    model.save(&temp.join(&name))?;
    write_atomic_bytes(
        &temp.join(format!("{name}.provenance.json")),
        serde_json::to_string_pretty(provenance)?.as_bytes(),
    )?;
    for ext in ["json", "provenance.json", "mpk"] {
        let file = format!("{name}.{ext}");
        std::fs::rename(temp.join(&file), dir.join(&file))
            .with_context(|| format!("moving `{file}` into `{}`", dir.display()))?;
    }
    staging
        .close()
        .with_context(|| format!("removing the staging folder in `{}`", dir.display()))?;
    Ok(())
}

/// Loads a surrogate saved by [`save_surrogate`], checking its kind and input length.
pub fn load_surrogate(
    base: &Path,
    expected_inputs: usize,
) -> Result<(TrainedSurrogate, Provenance)> {
    let prov_path = base.with_extension("provenance.json");
    let text = std::fs::read_to_string(&prov_path)
        .with_context(|| format!("reading `{}`", prov_path.display()))?;
    let provenance = Provenance::from_json(&text, &prov_path.display().to_string())?;
    provenance.check_kind(&prov_path, SURROGATE_KIND, SURROGATE_VERSION)?;
    let model = TrainedSurrogate::load(base, expected_inputs)
        .with_context(|| format!("loading surrogate `{}`", base.display()))?;
    Ok((model, provenance))
}
