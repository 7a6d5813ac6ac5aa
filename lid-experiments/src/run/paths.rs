//! Output paths checked before any work starts, so that a bad path fails in a second and not after
//! an hour of computation, and never overwrites an input.
//!
//! [`OutputCheck`] collects the inputs and outputs of a command and [`OutputCheck::check`] applies
//! every rule, naming the flag of the first path that breaks one:
//! - an output file's folder exists, is a folder, and a file can be created in it (a probe file with
//!   the temporary name of [`crate::run::atomic`] is created and removed);
//! - an output file is not an existing folder;
//! - an output folder does not exist or is empty (runs never overwrite each other), and its parent
//!   exists and is writable;
//! - no output is the same file as an input (same path after resolving `.`/`..` and symbolic links,
//!   or, on Unix, the same device and inode: a hard link); input folders count with every file in
//!   them (two levels deep, which covers model folders and `lid embed` output folders);
//! - no two outputs are the same file.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::run::atomic::AtomicFile;

/// Whether an output is a file or a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// A file, replaced whole when the command succeeds.
    File,
    /// A folder that must not exist or be empty.
    Folder,
}

/// The inputs and outputs of one command (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct OutputCheck {
    inputs: Vec<PathBuf>,
    outputs: Vec<(String, PathBuf, OutputKind)>,
}

impl OutputCheck {
    /// No inputs, no outputs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an input file or folder (a missing input is ignored here; reading it fails later with
    /// its own message).
    pub fn input(mut self, path: &Path) -> Self {
        self.inputs.push(path.to_path_buf());
        self
    }

    /// Adds an output file named by `flag`.
    pub fn file(mut self, flag: &str, path: &Path) -> Self {
        self.outputs
            .push((flag.to_string(), path.to_path_buf(), OutputKind::File));
        self
    }

    /// Adds an optional output file named by `flag`.
    pub fn maybe_file(self, flag: &str, path: Option<&Path>) -> Self {
        match path {
            Some(p) => self.file(flag, p),
            None => self,
        }
    }

    /// Adds an output folder named by `flag`.
    pub fn folder(mut self, flag: &str, path: &Path) -> Self {
        self.outputs
            .push((flag.to_string(), path.to_path_buf(), OutputKind::Folder));
        self
    }

    /// Applies every rule of the module docs.
    ///
    /// # Errors
    /// [`Error::OutputPath`] naming the flag and path of the first output that breaks a rule.
    pub fn check(&self) -> Result<()> {
        let input_files: Vec<PathBuf> =
            self.inputs.iter().flat_map(|p| files_under(p, 2)).collect();
        let mut seen: Vec<(String, PathBuf, PathBuf)> = Vec::new();
        for (flag, path, kind) in &self.outputs {
            let refuse = |reason: String| Error::OutputPath {
                flag: flag.clone(),
                path: path.clone(),
                reason,
            };
            match kind {
                OutputKind::File => check_file(path).map_err(refuse)?,
                OutputKind::Folder => check_folder(path).map_err(refuse)?,
            }
            let id = identity(path).map_err(refuse)?;
            if let Some(input) = input_files.iter().find(|i| same_file(path, &id, i)) {
                return Err(refuse(format!(
                    "is the input {}; it would be overwritten, choose another output name",
                    input.display()
                )));
            }
            if let Some((other, other_path, _)) = seen.iter().find(|(_, _, s)| *s == id) {
                return Err(refuse(format!(
                    "is the same file as {other} {}; give each output its own name",
                    other_path.display()
                )));
            }
            seen.push((flag.clone(), path.clone(), id));
        }
        Ok(())
    }
}

/// The folder a path lives in (`.` for a bare file name).
fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn check_parent(path: &Path) -> std::result::Result<(), String> {
    let parent = parent_of(path);
    if !parent.exists() {
        return Err(format!(
            "its folder {} does not exist; create it first",
            parent.display()
        ));
    }
    if !parent.is_dir() {
        return Err(format!("{} is not a folder", parent.display()));
    }
    // The probe is the temporary file the real write will use; dropping it removes it.
    AtomicFile::create(path)
        .map(drop)
        .map_err(|e| format!("cannot write in {}: {e}", parent.display()))
}

fn check_file(path: &Path) -> std::result::Result<(), String> {
    if path.is_dir() {
        return Err("is a folder; give a file name".into());
    }
    if path.file_name().is_none() {
        return Err("has no file name".into());
    }
    check_parent(path)
}

fn check_folder(path: &Path) -> std::result::Result<(), String> {
    if path.exists() {
        if !path.is_dir() {
            return Err("exists and is not a folder".into());
        }
        let non_empty = std::fs::read_dir(path)
            .map_err(|e| format!("cannot read it: {e}"))?
            .next()
            .is_some();
        if non_empty {
            return Err(
                "exists and is not empty; choose a new folder (runs never overwrite each other)"
                    .into(),
            );
        }
        check_parent(&path.join("probe"))
    } else {
        check_parent(path)
    }
}

/// The path as it will be after creation: the canonical parent joined with the file name.
fn identity(path: &Path) -> std::result::Result<PathBuf, String> {
    if let Ok(p) = path.canonicalize() {
        return Ok(p);
    }
    let parent = parent_of(path)
        .canonicalize()
        .map_err(|e| format!("cannot resolve its folder: {e}"))?;
    let name = path.file_name().ok_or("has no file name")?;
    Ok(parent.join(name))
}

fn same_file(out: &Path, out_id: &Path, input: &Path) -> bool {
    if input.canonicalize().is_ok_and(|i| i == out_id) {
        return true;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(a), Ok(b)) = (std::fs::metadata(out), std::fs::metadata(input)) {
            return a.dev() == b.dev() && a.ino() == b.ino();
        }
    }
    #[cfg(not(unix))]
    let _ = out;
    false
}

/// `path` itself when it is a file; the files in it down to `depth` levels when it is a folder.
fn files_under(path: &Path, depth: usize) -> Vec<PathBuf> {
    if path.is_dir() {
        let Ok(entries) = std::fs::read_dir(path) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok())
            .flat_map(|e| {
                let p = e.path();
                match (p.is_dir(), depth) {
                    (true, 0) => Vec::new(),
                    (true, _) => files_under(&p, depth - 1),
                    (false, _) => vec![p],
                }
            })
            .collect()
    } else {
        vec![path.to_path_buf()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(r: Result<()>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn output_equal_to_input_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("x.npy");
        std::fs::write(&input, b"data").unwrap();
        let err = reason(
            OutputCheck::new()
                .input(&input)
                .file("--json", &dir.path().join("./x.npy"))
                .check(),
        );
        assert!(
            err.contains("--json") && err.contains("is the input"),
            "{err}"
        );
        #[cfg(unix)]
        {
            let link = dir.path().join("hard.npy");
            std::fs::hard_link(&input, &link).unwrap();
            let err = reason(
                OutputCheck::new()
                    .input(&input)
                    .file("--kept-out", &link)
                    .check(),
            );
            assert!(
                err.contains("--kept-out") && err.contains("is the input"),
                "{err}"
            );
        }
        // A file inside an input folder counts as an input.
        let model = dir.path().join("model");
        std::fs::create_dir(&model).unwrap();
        std::fs::write(model.join("config.json"), "{}").unwrap();
        let err = reason(
            OutputCheck::new()
                .input(&model)
                .file("--out", &model.join("config.json"))
                .check(),
        );
        assert!(err.contains("is the input"), "{err}");
    }

    #[test]
    fn bad_folders_and_duplicates_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no/such/out.npy");
        let err = reason(OutputCheck::new().file("--pointwise-out", &missing).check());
        assert!(
            err.contains("--pointwise-out") && err.contains("does not exist"),
            "{err}"
        );
        let a = dir.path().join("a.npy");
        let err = reason(OutputCheck::new().file("--json", dir.path()).check());
        assert!(err.contains("is a folder"), "{err}");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let err = reason(
            OutputCheck::new()
                .file("--pointwise-out", &a)
                .file("--kept-out", &dir.path().join("sub/../a.npy"))
                .check(),
        );
        assert!(err.contains("same file as --pointwise-out"), "{err}");
        std::fs::write(dir.path().join("sub/f"), "").unwrap();
        let err = reason(
            OutputCheck::new()
                .folder("--out", &dir.path().join("sub"))
                .check(),
        );
        assert!(err.contains("not empty"), "{err}");
        // Fine: new file, new folder, empty folder; no probe file is left behind.
        OutputCheck::new()
            .file("--json", &a)
            .folder("--out", &dir.path().join("new"))
            .check()
            .unwrap();
        std::fs::create_dir(dir.path().join("empty")).unwrap();
        OutputCheck::new()
            .folder("--out", &dir.path().join("empty"))
            .check()
            .unwrap();
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, vec!["empty".to_string(), "sub".to_string()]);
    }

    #[cfg(unix)]
    #[test]
    fn unwritable_folder_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let ro = dir.path().join("ro");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
        let result = OutputCheck::new()
            .file("--json", &ro.join("r.json"))
            .check();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
        // Root can write anywhere; the rule is then vacuous, not wrong.
        if !is_root() {
            let err = reason(result);
            assert!(err.contains("cannot write in"), "{err}");
        }
    }

    #[cfg(unix)]
    fn is_root() -> bool {
        std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
    }
}
