//! Atomic writes: write to a temporary file beside the target, sync, rename.
//!
//! The temporary names are hidden (`.<name>.<random>.tmp`) and unique per write, not per
//! process, so two threads writing beside each other never share one; they are removed when the
//! write fails or panics. Only a killed process leaves one behind, and Make never takes it for
//! the target.

use crate::{ArtifactError, Result};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Writes `path` atomically: `fill` writes into a temporary file in the same
/// folder, which is synced and renamed over `path` only if `fill` succeeds.
/// On error the temporary file is removed and `path` is untouched.
pub fn write_atomic<T>(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> Result<T>,
) -> Result<T> {
    let io_err = |p: &Path| {
        let p = p.display().to_string();
        move |source| ArtifactError::Io { path: p, source }
    };
    let dir = parent_folder(path);
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let prefix = temp_prefix(path);
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // The permissions `File::create` gives (0o666 less the umask), not tempfile's
    // owner-only 0o600: artifacts stay readable where the folder is shared (a cluster).
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let (file, temp) = builder.tempfile_in(dir).map_err(io_err(path))?.into_parts();
    let mut writer = BufWriter::new(file);
    let value = fill(&mut writer)?;
    writer.flush().map_err(io_err(&temp))?;
    writer.get_ref().sync_all().map_err(io_err(&temp))?;
    drop(writer);
    // On any error above, dropping `temp` removes the temporary file.
    temp.persist(path).map_err(|e| ArtifactError::Io {
        path: path.display().to_string(),
        source: e.error,
    })?;
    Ok(value)
}

/// Writes bytes to `path` atomically.
pub fn write_atomic_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |w| {
        w.write_all(bytes).map_err(|source| ArtifactError::Io {
            path: path.display().to_string(),
            source,
        })
    })
}

/// A hidden temporary folder beside `path` (`.<name>.<random>.tmp`, created with its parents),
/// for artifacts made of several files that are moved into place one by one: the folder and
/// whatever is left in it are removed when the returned guard is dropped.
pub fn staging_folder(path: &Path) -> Result<tempfile::TempDir> {
    let dir = parent_folder(path);
    let err = |source| ArtifactError::Io {
        path: dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    tempfile::Builder::new()
        .prefix(&temp_prefix(path))
        .suffix(".tmp")
        .tempdir_in(dir)
        .map_err(err)
}

/// The folder `path` is in (`.` for a bare file name).
fn parent_folder(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The start of the temporaries' names for `path`: hidden, after its file name.
fn temp_prefix(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(".{name}.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/out.txt");
        write_atomic_bytes(&p, b"one").unwrap();
        write_atomic_bytes(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
    }

    #[test]
    fn failure_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.txt");
        let r: Result<()> = write_atomic(&p, |w| {
            w.write_all(b"half").unwrap();
            Err(ArtifactError::Mismatch {
                message: "boom".into(),
            })
        });
        assert!(r.is_err());
        assert!(!p.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn panic_in_fill_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.txt");
        let caught = std::panic::catch_unwind(|| {
            let _: Result<()> = write_atomic(&p, |w| {
                w.write_all(b"half").unwrap();
                panic!("interrupted");
            });
        });
        assert!(caught.is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn temporaries_are_hidden_and_unique_per_write() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("table.parquet");
        let mut seen = Vec::new();
        for _ in 0..2 {
            write_atomic(&p, |_| {
                let names: Vec<String> = std::fs::read_dir(dir.path())
                    .unwrap()
                    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".tmp"))
                    .collect();
                seen.extend(names);
                Ok(())
            })
            .unwrap();
        }
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(seen.iter().all(|n| n.starts_with(".table.parquet.")));
        assert_ne!(seen[0], seen[1]);
        let staging = staging_folder(&dir.path().join("sub/model")).unwrap();
        assert!(staging.path().starts_with(dir.path().join("sub")));
        let name = staging.path().file_name().unwrap().to_string_lossy();
        assert!(
            name.starts_with(".model.") && name.ends_with(".tmp"),
            "{name}"
        );
        let kept = staging.path().to_path_buf();
        drop(staging);
        assert!(!kept.exists());
    }

    #[cfg(unix)]
    #[test]
    fn artifacts_get_the_permissions_of_a_plain_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain.txt");
        std::fs::write(&plain, b"x").unwrap();
        let p = dir.path().join("out.txt");
        write_atomic_bytes(&p, b"x").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&p), mode(&plain));
    }
}
