//! The writer's lock on a sample table's parts folder: two processes writing the same table
//! (a requeued job racing its ghost) must never interleave rows.
//!
//! `OUT.parts/.lock` is created exclusively and holds the owner's process id and host. A
//! second writer is refused with one line naming the folder and the owner. A lock whose owner
//! is gone (same host, no such process) is stale, left by a crash, and is taken over, so
//! `--resume` after a crash still works. The lock is removed when the writer is dropped.

use crate::{ArtifactError, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A held lock; released on drop.
#[derive(Debug)]
pub struct PartsLock {
    path: PathBuf,
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// Whether `pid` runs on this host (Linux: `/proc/PID` exists; elsewhere: assume it does).
fn alive(pid: u32) -> bool {
    if !Path::new("/proc/self").exists() {
        return true;
    }
    Path::new(&format!("/proc/{pid}")).exists()
}

impl PartsLock {
    /// Takes the lock of `dir` (created if needed), or fails naming the owner.
    pub fn acquire(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|source| ArtifactError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let path = dir.join(".lock");
        let me = format!("{} {}\n", std::process::id(), host());
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut file) => {
                    file.write_all(me.as_bytes())
                        .map_err(|source| ArtifactError::Io {
                            path: path.display().to_string(),
                            source,
                        })?;
                    return Ok(Self { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let owner = std::fs::read_to_string(&path).unwrap_or_default();
                    let mut fields = owner.split_whitespace();
                    let pid: Option<u32> = fields.next().and_then(|p| p.parse().ok());
                    let same_host = fields.next().unwrap_or("") == host();
                    match pid {
                        Some(pid) if same_host && !alive(pid) => {
                            log::warn!("`{}`: taking over the lock of process {pid}, which is gone", path.display());
                            let _ = std::fs::remove_file(&path);
                        }
                        _ => {
                            return Err(ArtifactError::Mismatch {
                                message: format!(
                                    "`{}` is being written by another process ({}); wait for it, or delete the lock file if that process is gone",
                                    dir.display(),
                                    owner.trim()
                                ),
                            })
                        }
                    }
                }
                Err(source) => {
                    return Err(ArtifactError::Io {
                        path: path.display().to_string(),
                        source,
                    })
                }
            }
        }
        Err(ArtifactError::Mismatch {
            message: format!("`{}`: could not take the lock", dir.display()),
        })
    }
}

impl Drop for PartsLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_writer_is_refused_and_a_stale_lock_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let parts = dir.path().join("t.parquet.parts");
        let first = PartsLock::acquire(&parts).unwrap();
        let err = PartsLock::acquire(&parts).unwrap_err().to_string();
        assert!(
            err.contains("t.parquet.parts") && err.contains("another process"),
            "{err}"
        );
        drop(first);
        let again = PartsLock::acquire(&parts).unwrap();
        drop(again);
        // A crashed owner (no such process on this host) leaves a stale lock.
        std::fs::write(parts.join(".lock"), format!("4000000000 {}\n", host())).unwrap();
        let taken = PartsLock::acquire(&parts).unwrap();
        drop(taken);
        assert!(!parts.join(".lock").exists());
    }
}
