//! Files that are complete or absent: every file the `lid` tools write goes to a temporary name in
//! the same folder and is renamed to its final name only when it is complete.
//!
//! This is the one such helper of the workspace. It lives here, at the lowest crate that writes
//! files (`lid-embed` writes shards and manifests; `lid-experiments` writes run folders, `lid
//! estimate` outputs and checkpoints through the same functions), so that no crate needs a second
//! copy.
//!
//! The rules:
//! - The temporary name is `.<final name>.<process id>-<counter>.partial` in the final file's folder:
//!   hidden, never ending in the final extension (a killed run cannot leave a `.npy` or `.json` that
//!   looks like a result), and on the same file system, so the final `rename` is atomic on POSIX.
//! - [`AtomicFile::commit`] flushes, `fsync`s and renames; a file that is dropped without commit
//!   (an error, a panic) removes its temporary file. Only a killed process leaves a `.partial` file
//!   behind, which nothing reads.
//! - An existing file at the final name is replaced in one step at commit: readers see the old
//!   complete file or the new complete file, never a mix.
//! - A *resumable* file ([`AtomicFile::create_resumable`], used by `lid embed` folder outputs) has a
//!   fixed temporary name, `.<final name>.resume.partial`, is kept when dropped without commit, and
//!   can be reopened by a later process ([`AtomicFile::reopen_resumable`]) to continue writing; it
//!   is still renamed to its final name only when complete.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Suffix of every temporary file (see the module docs).
pub const PARTIAL_SUFFIX: &str = ".partial";

/// The temporary name for `path`: `.<name>.<pid>-<counter>.partial` in the same folder. Unique within
/// the process (the counter) and across processes (the id).
pub fn temporary_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(
        ".{name}.{}-{n}{PARTIAL_SUFFIX}",
        std::process::id()
    ))
}

/// The fixed temporary name of a resumable file: `.<name>.resume.partial` in the same folder.
pub fn resumable_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.resume{PARTIAL_SUFFIX}"))
}

/// A file being written under a temporary name (see the module docs). Implements [`Write`] and
/// [`Seek`] (buffered); [`AtomicFile::commit`] publishes it.
///
/// ```
/// use std::io::Write;
/// use lid_embed::output::atomic::AtomicFile;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("result.json");
/// let mut file = AtomicFile::create(&path).unwrap();
/// file.write_all(b"{}\n").unwrap();
/// assert!(!path.exists(), "invisible until committed");
/// file.commit().unwrap();
/// assert_eq!(std::fs::read(&path).unwrap(), b"{}\n");
/// ```
#[derive(Debug)]
pub struct AtomicFile {
    path: PathBuf,
    temp: PathBuf,
    out: Option<BufWriter<File>>,
    /// Resumable files keep their temporary file when dropped without commit.
    keep_on_drop: bool,
}

impl AtomicFile {
    /// Creates the temporary file for `path` (the folder must exist).
    ///
    /// # Errors
    /// [`Error::Io`] naming `path` when the temporary file cannot be created (missing or read-only
    /// folder).
    pub fn create(path: &Path) -> Result<Self> {
        let temp = temporary_path(path);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(|e| Error::io(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            temp,
            out: Some(BufWriter::with_capacity(1 << 16, file)),
            keep_on_drop: false,
        })
    }

    /// Creates (or truncates) the resumable temporary file of `path` ([`resumable_path`]). Unlike
    /// [`AtomicFile::create`], the temporary file stays when the value is dropped without commit,
    /// so that a later run can [`AtomicFile::reopen_resumable`] it.
    ///
    /// # Errors
    /// [`Error::Io`] naming `path`.
    pub fn create_resumable(path: &Path) -> Result<Self> {
        let temp = resumable_path(path);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)
            .map_err(|e| Error::io(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            temp,
            out: Some(BufWriter::with_capacity(1 << 16, file)),
            keep_on_drop: true,
        })
    }

    /// Opens the resumable temporary file of `path` left by an interrupted run, keeping its
    /// contents, to continue writing at offsets.
    ///
    /// # Errors
    /// [`Error::Io`] naming `path` when the temporary file does not exist or cannot be opened.
    pub fn reopen_resumable(path: &Path) -> Result<Self> {
        let temp = resumable_path(path);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&temp)
            .map_err(|e| Error::io(&temp, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            temp,
            out: Some(BufWriter::with_capacity(1 << 16, file)),
            keep_on_drop: true,
        })
    }

    /// Flushes the buffer and syncs the data written so far to disk (the file stays under its
    /// temporary name), so that a resumable file survives a kill up to this point.
    ///
    /// # Errors
    /// [`Error::Io`] naming the final path.
    pub fn sync(&mut self) -> Result<()> {
        let path = self.path.clone();
        let out = self.writer()?;
        out.flush().map_err(|e| Error::io(&path, e))?;
        out.get_ref().sync_data().map_err(|e| Error::io(&path, e))
    }

    /// The current length of the temporary file.
    ///
    /// # Errors
    /// [`Error::Io`] naming the final path.
    pub fn temporary_len(&mut self) -> Result<u64> {
        let path = self.path.clone();
        let out = self.writer()?;
        out.flush().map_err(|e| Error::io(&path, e))?;
        out.get_ref()
            .metadata()
            .map(|m| m.len())
            .map_err(|e| Error::io(&path, e))
    }

    /// Reads `buf.len()` bytes at `offset` of the temporary file (to check the header of a
    /// reopened file).
    ///
    /// # Errors
    /// [`Error::Io`] naming the final path (also when the file is shorter).
    pub fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        use std::io::Read;
        let path = self.path.clone();
        let out = self.writer()?;
        out.flush().map_err(|e| Error::io(&path, e))?;
        let file = out.get_mut();
        file.seek(SeekFrom::Start(offset))
            .and_then(|_| file.read_exact(buf))
            .map_err(|e| Error::io(&path, e))?;
        out.seek(SeekFrom::Start(offset))
            .map(drop)
            .map_err(|e| Error::io(&path, e))
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The temporary path the bytes go to until [`AtomicFile::commit`].
    pub fn temporary(&self) -> &Path {
        &self.temp
    }

    /// Sets the file's length (for files written at offsets, such as `.npy` shards).
    ///
    /// # Errors
    /// [`Error::Io`] naming the final path.
    pub fn set_len(&mut self, len: u64) -> Result<()> {
        let path = self.path.clone();
        let out = self.writer()?;
        out.flush().map_err(|e| Error::io(&path, e))?;
        out.get_ref().set_len(len).map_err(|e| Error::io(&path, e))
    }

    fn writer(&mut self) -> Result<&mut BufWriter<File>> {
        let path = &self.path;
        self.out.as_mut().ok_or_else(|| {
            Error::io(
                path,
                std::io::Error::other("the file was already committed"),
            )
        })
    }

    /// Flushes, syncs and renames the file to its final name; returns that name.
    ///
    /// # Errors
    /// [`Error::Io`] naming the final path; the temporary file is then removed.
    pub fn commit(mut self) -> Result<PathBuf> {
        let out = self.out.take().ok_or_else(|| {
            Error::io(
                &self.path,
                std::io::Error::other("the file was already committed"),
            )
        })?;
        let file = out
            .into_inner()
            .map_err(|e| Error::io(&self.path, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&self.path, e))?;
        drop(file);
        std::fs::rename(&self.temp, &self.path).map_err(|e| Error::io(&self.path, e))?;
        Ok(self.path.clone())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writer()
            .map_err(|e| std::io::Error::other(e.to_string()))?
            .write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.writer()
            .map_err(|e| std::io::Error::other(e.to_string()))?
            .write_all(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.writer()
            .map_err(|e| std::io::Error::other(e.to_string()))?
            .flush()
    }
}

impl Seek for AtomicFile {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.writer()
            .map_err(|e| std::io::Error::other(e.to_string()))?
            .seek(pos)
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if let Some(mut out) = self.out.take() {
            if self.keep_on_drop {
                // A resumable file stays for the next run; what was buffered is written out (its
                // rows are redone on resume unless a checkpoint covered them).
                let _ = out.flush();
                return;
            }
            // Not committed: the temporary file must not outlive the failed write. Nothing more
            // can be done if removal fails (the name marks it as partial).
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Removes the temporary files (`.<name>.<pid>-<n>.partial`) that killed processes left in `dir`
/// and its subfolders (`depth` levels), and returns how many. A file is stale when no process with
/// its id runs on this machine; resumable files (`.resume.partial`) and files of live processes
/// are kept. Call it only on a folder the calling process owns (a resumed output folder): on a
/// folder shared between machines another machine's process id means nothing here.
///
/// # Errors
/// [`Error::Io`] naming the folder or file that cannot be read or removed.
pub fn remove_stale_partials(dir: &Path, depth: usize) -> Result<usize> {
    let mut removed = 0;
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if path.is_dir() {
            if depth > 0 {
                removed += remove_stale_partials(&path, depth - 1)?;
            }
            continue;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some(stem) = name.strip_suffix(PARTIAL_SUFFIX) else {
            continue;
        };
        // `.<name>.<pid>-<counter>`: the process id sits between the last '.' and the '-'.
        let pid = stem
            .rsplit('.')
            .next()
            .and_then(|tail| tail.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        let Some(pid) = pid else {
            continue; // a resumable file, or not one of ours
        };
        if pid == std::process::id() || process_alive(pid) {
            continue;
        }
        std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        removed += 1;
    }
    Ok(removed)
}

/// Whether a process with id `pid` runs on this machine (Linux: `/proc/<pid>`; elsewhere every
/// process counts as alive, so nothing is removed).
fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}

/// Writes `bytes` to `path` through an [`AtomicFile`].
///
/// # Errors
/// [`Error::Io`] naming `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<PathBuf> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes).map_err(|e| Error::io(path, e))?;
    file.commit()
}

/// For writers that only take a path (candle's `safetensors::save`, for example): calls `write`
/// with the temporary path, then syncs and renames it to `path`. On an error of `write` the
/// temporary file is removed and the error returned.
///
/// # Errors
/// `write`'s error, or [`Error::Io`] naming `path`.
pub fn write_atomic_with<E>(
    path: &Path,
    write: impl FnOnce(&Path) -> std::result::Result<(), E>,
) -> std::result::Result<PathBuf, E>
where
    E: From<Error>,
{
    let temp = temporary_path(path);
    let cleanup = |e| {
        let _ = std::fs::remove_file(&temp);
        e
    };
    write(&temp).map_err(cleanup)?;
    let sync = File::open(&temp).and_then(|f| f.sync_all());
    sync.map_err(|e| cleanup(Error::io(path, e).into()))?;
    std::fs::rename(&temp, path).map_err(|e| cleanup(Error::io(path, e).into()))?;
    Ok(path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn dropped_without_commit_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npy");
        let mut f = AtomicFile::create(&path).unwrap();
        f.write_all(b"half").unwrap();
        let temp = f.temporary().to_path_buf();
        assert!(temp.exists());
        let temp_name = temp.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            temp_name.starts_with(".x.npy.") && temp_name.ends_with(PARTIAL_SUFFIX),
            "{temp_name}"
        );
        drop(f);
        assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
    }

    #[test]
    fn commit_replaces_an_old_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        std::fs::write(&path, "old").unwrap();
        let mut f = AtomicFile::create(&path).unwrap();
        f.write_all(b"new!").unwrap();
        f.seek(SeekFrom::Start(0)).unwrap();
        f.write_all(b"N").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        f.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "New!");
        assert_eq!(names(dir.path()), vec!["r.json".to_string()]);
    }

    #[test]
    fn stale_partials_of_dead_processes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("runs");
        std::fs::create_dir(&sub).unwrap();
        // A process id above the kernel's pid_max (2^22) never runs.
        let dead = sub.join(".checkpoint.safetensors.4194305-3.partial");
        std::fs::write(&dead, b"half").unwrap();
        let live = dir
            .path()
            .join(format!(".r.json.{}-0.partial", std::process::id()));
        std::fs::write(&live, b"mine").unwrap();
        let resumable = dir.path().join(".shard_00000.npy.resume.partial");
        std::fs::write(&resumable, b"keep").unwrap();
        std::fs::write(dir.path().join("result.json"), b"{}").unwrap();
        assert_eq!(remove_stale_partials(dir.path(), 1).unwrap(), 1);
        assert!(!dead.exists() && live.exists() && resumable.exists());
    }

    #[test]
    fn missing_folder_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/out.npy");
        let err = AtomicFile::create(&path).unwrap_err().to_string();
        assert!(err.contains("no/such/out.npy"), "{err}");
    }

    #[test]
    fn write_with_removes_the_temporary_file_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        let r: Result<PathBuf> = write_atomic_with(&path, |tmp| {
            std::fs::write(tmp, b"partial").map_err(|e| Error::io(tmp, e))?;
            Err(Error::InvalidOption {
                option: "test",
                reason: "fails half-way".into(),
            })
        });
        assert!(r.is_err());
        assert!(names(dir.path()).is_empty());
        write_atomic_with(&path, |tmp| {
            std::fs::write(tmp, b"whole").map_err(|e| Error::io(tmp, e))
        })
        .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"whole");
        assert_eq!(names(dir.path()), vec!["w.safetensors".to_string()]);
    }
}
