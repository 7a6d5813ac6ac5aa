//! One writer per output folder: an exclusive advisory lock on the folder itself.
//!
//! `lid embed` and every study run folder take it before they write and hold it until they end,
//! so that a second process given the same `--out` is refused instead of interleaving its files
//! with the first one's (docs/reliability.md, "two writers"). The lock is the operating system's
//! (`flock` on Unix through [`std::fs::File::try_lock`]): it ends with the process, so a killed
//! run never leaves a stale lock behind. Off Unix a directory cannot be opened as a file and there
//! is no lock.

use std::path::Path;

use crate::error::{Error, Result};

/// A held folder lock; the lock is released when this value is dropped (or the process ends).
#[derive(Debug)]
pub struct FolderLock {
    _file: Option<std::fs::File>,
}

/// Takes the exclusive lock on the folder `dir` (which must exist): `Some` when taken (or when
/// the platform has no folder locks), `None` when another process holds it.
///
/// A refusal waits up to a second first: a lock just released can stay held for a moment by a
/// child process that this process (any thread) was starting when the lock was taken, since the
/// child shares the open descriptor until its `exec` closes it; a real second writer holds the
/// lock for the length of a run.
///
/// Where the file system has no `flock` (some network mounts) the lock is `Some` but holds
/// nothing: the caller goes on unlocked.
///
/// # Errors
/// [`Error::Io`] naming the folder when it cannot be opened.
pub fn lock_folder(dir: &Path) -> Result<Option<FolderLock>> {
    if !cfg!(unix) {
        return Ok(Some(FolderLock { _file: None }));
    }
    let file = std::fs::File::open(dir).map_err(|e| Error::io(dir, e))?;
    for _ in 0..50 {
        match file.try_lock() {
            Ok(()) => return Ok(Some(FolderLock { _file: Some(file) })),
            Err(std::fs::TryLockError::WouldBlock) => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            // A file system without `flock` (some network mounts): the run goes on unlocked.
            Err(std::fs::TryLockError::Error(_)) => return Ok(Some(FolderLock { _file: None })),
        }
    }
    match file.try_lock() {
        Ok(()) => Ok(Some(FolderLock { _file: Some(file) })),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(_)) => Ok(Some(FolderLock { _file: None })),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_a_folder_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock_folder(dir.path()).unwrap();
        assert!(first.is_some());
        // flock locks belong to the open file description: a second open in this process
        // conflicts as another process's would.
        assert!(lock_folder(dir.path()).unwrap().is_none());
        drop(first);
        assert!(lock_folder(dir.path()).unwrap().is_some());
    }

    #[test]
    fn a_missing_folder_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let err = lock_folder(&dir.path().join("absent"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("absent"), "{err}");
    }
}
