//! Atomic writes: write to a temporary file beside the target, sync, rename.

use crate::{ArtifactError, Result};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Writes `path` atomically: `fill` writes into a temporary file in the same
/// folder, which is synced and renamed over `path` only if `fill` succeeds.
/// On error the temporary file is removed and `path` is untouched.
pub fn write_atomic<T>(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> Result<T>,
) -> Result<T> {
    let temp = temp_path(path);
    let io_err = |p: &Path| {
        let p = p.display().to_string();
        move |source| ArtifactError::Io { path: p, source }
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    let file = File::create(&temp).map_err(io_err(&temp))?;
    let mut writer = BufWriter::new(file);
    let result = fill(&mut writer).and_then(|value| {
        writer.flush().map_err(io_err(&temp))?;
        writer.get_ref().sync_all().map_err(io_err(&temp))?;
        Ok(value)
    });
    drop(writer);
    match result {
        Ok(value) => {
            std::fs::rename(&temp, path).map_err(io_err(path))?;
            Ok(value)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            Err(e)
        }
    }
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

/// The temporary name used while `path` is being written: hidden, in the same
/// folder (so the rename is atomic), unique per process.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
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
}
