//! Incremental writing of a sample table: finished rows go to part files as
//! the run goes, so a killed run loses at most the batch in flight and
//! `--resume` continues it; `finish` merges the parts into the final table.

use super::lock::PartsLock;
use super::{read_sample_table, write_sample_table, SampleColumns, SampleRow, SampleTable};
use crate::{ArtifactError, Provenance, Result};
use attnprune_mask::HeadLayout;
use std::path::{Path, PathBuf};

/// Writes a sample table batch by batch into `<table>.parts/`, then merges.
#[derive(Debug)]
pub struct SampleTableWriter {
    path: PathBuf,
    parts_dir: PathBuf,
    provenance: Provenance,
    layout: HeadLayout,
    columns: SampleColumns,
    next_part: usize,
    /// Held while writing: a second writer of the same table is refused.
    _lock: PartsLock,
}

impl SampleTableWriter {
    /// Starts writing `path`. Without `resume`, an unfinished run's parts are
    /// an error (so nothing is silently thrown away); with `resume`, the parts
    /// are checked against `provenance` and their rows returned as done.
    pub fn open(
        path: &Path,
        provenance: Provenance,
        layout: HeadLayout,
        columns: SampleColumns,
        resume: bool,
    ) -> Result<(Self, Vec<SampleRow>)> {
        let parts_dir = parts_dir(path);
        let lock = PartsLock::acquire(&parts_dir)?;
        let parts = list_parts(&parts_dir)?;
        if !resume && !parts.is_empty() {
            return Err(ArtifactError::Mismatch {
                message: format!(
                    "`{}` holds {} part(s) of an unfinished run; pass --resume to continue it, or delete the folder",
                    parts_dir.display(),
                    parts.len()
                ),
            });
        }
        let mut done = Vec::new();
        for part in &parts {
            let table = read_sample_table(part)?;
            check_resumable(&provenance, path, &table.provenance, part)?;
            if table.columns != columns {
                return Err(ArtifactError::Mismatch {
                    message: format!(
                        "`{}` has other measured columns than this run of `{}`",
                        part.display(),
                        path.display()
                    ),
                });
            }
            done.extend(table.rows);
        }
        let writer = Self {
            path: path.to_path_buf(),
            parts_dir,
            provenance,
            layout,
            columns,
            next_part: parts.len(),
            _lock: lock,
        };
        Ok((writer, done))
    }

    /// Writes finished rows as one part file (atomically).
    pub fn append(&mut self, rows: &[SampleRow]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.parts_dir).map_err(|source| ArtifactError::Io {
            path: self.parts_dir.display().to_string(),
            source,
        })?;
        let part = self
            .parts_dir
            .join(format!("part-{:06}.parquet", self.next_part));
        write_sample_table(&part, &self.table(rows.to_vec()))?;
        self.next_part += 1;
        Ok(())
    }

    /// Merges all parts into the final table (atomically), removes the parts, returns the table.
    pub fn finish(self) -> Result<SampleTable> {
        let mut rows = Vec::new();
        for part in list_parts(&self.parts_dir)? {
            rows.extend(read_sample_table(&part)?.rows);
        }
        rows.sort_by_key(|r| r.mask_id);
        rows.dedup_by_key(|r| r.mask_id);
        let table = self.table(rows);
        write_sample_table(&self.path, &table)?;
        std::fs::remove_dir_all(&self.parts_dir).map_err(|source| ArtifactError::Io {
            path: self.parts_dir.display().to_string(),
            source,
        })?;
        Ok(table)
    }

    fn table(&self, rows: Vec<SampleRow>) -> SampleTable {
        SampleTable {
            provenance: self.provenance.clone(),
            layout: self.layout,
            columns: self.columns.clone(),
            rows,
        }
    }
}

/// The folder holding the parts of an unfinished `path`.
pub fn parts_dir(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!("{name}.parts"))
}

fn list_parts(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let io = |source| ArtifactError::Io {
        path: dir.display().to_string(),
        source,
    };
    let mut parts: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("part-"))
        })
        .collect();
    parts.sort();
    Ok(parts)
}

fn check_resumable(
    run: &Provenance,
    path: &Path,
    part: &Provenance,
    part_path: &Path,
) -> Result<()> {
    part.check_same_measurement(part_path, run, path)?;
    if part.settings.get("masks") != run.settings.get("masks") || part.inputs != run.inputs {
        return Err(ArtifactError::Mismatch {
            message: format!(
                "`{}` was made for another list of masks than this run of `{}` (mask plan or --masks file differ)",
                part_path.display(),
                path.display()
            ),
        });
    }
    if part.seed != run.seed {
        return Err(ArtifactError::Mismatch {
            message: format!(
                "`{}` was made with seed {:?} but this run of `{}` uses seed {:?}",
                part_path.display(),
                part.seed,
                path.display(),
                run.seed
            ),
        });
    }
    Ok(())
}
