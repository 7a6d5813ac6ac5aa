//! The checkpoints of a series: seeds x steps, found from a [`CheckpointSource`].
//!
//! Layouts:
//! - lid-train's: `<root>/seed<k>/checkpoint-<step>/` ([`CheckpointSource::SeedFolders`]);
//! - one output folder per seed with `checkpoint-<step>/` inside, as TripPy-R's `run_dst.py`
//!   writes (`--output_dir`, `--save_steps` / `--save_epochs`) ([`CheckpointSource::RunFolders`]);
//! - an explicit list ([`CheckpointSource::List`]).
//!
//! Only folders named exactly `checkpoint-<digits>` count (a `.checkpoint-<step>.<pid>.partial`
//! folder of an unfinished save does not), and each must hold a `config.json`. Every checkpoint
//! remembers its seed's run folder, where the metric files of that seed live.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::spec::CheckpointSource;
use crate::error::{Error, Result};

/// One checkpoint of the series.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Training seed.
    pub seed: u64,
    /// Training step.
    pub step: u64,
    /// The Hugging Face model folder.
    pub path: PathBuf,
    /// The seed's run folder (the checkpoint folder's parent).
    pub run_dir: PathBuf,
}

/// The `checkpoint-<step>` folders directly inside `dir`, by step.
///
/// # Errors
/// [`Error::Io`] when `dir` cannot be read.
pub fn checkpoint_folders(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(step) = name.strip_prefix("checkpoint-") else {
            continue;
        };
        if step.is_empty() || !step.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(step) = step.parse::<u64>() else {
            continue;
        };
        if entry.path().is_dir() {
            out.push((step, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// The `seed<k>` folders directly inside `root`, by seed.
///
/// # Errors
/// [`Error::Io`] when `root` cannot be read.
pub fn seed_folders(root: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let entries = std::fs::read_dir(root).map_err(|e| Error::io(root, e))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(root, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(seed) = name.strip_prefix("seed") else {
            continue;
        };
        if seed.is_empty() || !seed.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let (Ok(seed), true) = (seed.parse::<u64>(), entry.path().is_dir()) {
            out.push((seed, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Every checkpoint of `source`, sorted by seed and step.
///
/// # Errors
/// [`Error::Io`] for unreadable folders; [`Error::Malformed`] when a layout holds no checkpoint,
/// a `(seed, step)` appears twice, or a checkpoint folder has no `config.json`.
pub fn discover(source: &CheckpointSource) -> Result<Vec<Checkpoint>> {
    let refuse = |field: &str, problem: String| Error::Malformed {
        path: PathBuf::from("sweep spec"),
        record: "checkpoints".into(),
        field: field.into(),
        problem,
    };
    let mut all = Vec::new();
    match source {
        CheckpointSource::List(list) => {
            for c in list {
                all.push(Checkpoint {
                    seed: c.seed,
                    step: c.step,
                    path: c.path.clone(),
                    run_dir: parent_of(&c.path),
                });
            }
        }
        CheckpointSource::SeedFolders { root } => {
            let seeds = seed_folders(root)?;
            if seeds.is_empty() {
                return Err(refuse(
                    "seed_folders.root",
                    format!("{} holds no seed<k> folder", root.display()),
                ));
            }
            for (seed, dir) in seeds {
                let found = checkpoint_folders(&dir)?;
                if found.is_empty() {
                    return Err(refuse(
                        "seed_folders.root",
                        format!("{} holds no checkpoint-<step> folder", dir.display()),
                    ));
                }
                for (step, path) in found {
                    all.push(Checkpoint {
                        seed,
                        step,
                        path,
                        run_dir: dir.clone(),
                    });
                }
            }
        }
        CheckpointSource::RunFolders(list) => {
            for (i, run) in list.iter().enumerate() {
                let found = checkpoint_folders(&run.dir)?;
                if found.is_empty() {
                    return Err(refuse(
                        &format!("run_folders[{i}].dir"),
                        format!("{} holds no checkpoint-<step> folder", run.dir.display()),
                    ));
                }
                for (step, path) in found {
                    all.push(Checkpoint {
                        seed: run.seed,
                        step,
                        path,
                        run_dir: run.dir.clone(),
                    });
                }
            }
        }
    }
    all.sort();
    if let Some(w) = all
        .windows(2)
        .find(|w| (w[0].seed, w[0].step) == (w[1].seed, w[1].step))
    {
        return Err(refuse(
            "list",
            format!(
                "seed {} step {} appears twice ({} and {})",
                w[0].seed,
                w[0].step,
                w[0].path.display(),
                w[1].path.display()
            ),
        ));
    }
    if let Some(c) = all.iter().find(|c| !c.path.join("config.json").is_file()) {
        return Err(refuse(
            "path",
            format!(
                "checkpoint {} (seed {}, step {}) has no config.json; it is not a Hugging Face \
                 model folder",
                c.path.display(),
                c.seed,
                c.step
            ),
        ));
    }
    Ok(all)
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::studies::series::spec::RunFolderEntry;

    fn model(dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("config.json"), "{}").unwrap();
    }

    #[test]
    fn finds_both_layouts_and_skips_partial_saves() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        model(&root.join("seed2/checkpoint-100"));
        model(&root.join("seed2/checkpoint-20"));
        model(&root.join("seed10/checkpoint-20"));
        model(&root.join("seed2/.checkpoint-300.77.partial"));
        std::fs::create_dir_all(root.join("seedx/checkpoint-1")).unwrap();
        std::fs::write(root.join("seed2/checkpoint-5"), "a file").unwrap();
        let found = discover(&CheckpointSource::SeedFolders {
            root: root.to_path_buf(),
        })
        .unwrap();
        let ids: Vec<(u64, u64)> = found.iter().map(|c| (c.seed, c.step)).collect();
        assert_eq!(ids, vec![(2, 20), (2, 100), (10, 20)]);
        assert_eq!(found[0].run_dir, root.join("seed2"));
        let runs = discover(&CheckpointSource::RunFolders(vec![RunFolderEntry {
            seed: 40,
            dir: root.join("seed2"),
        }]))
        .unwrap();
        assert_eq!(runs.len(), 2);
        assert!(runs.iter().all(|c| c.seed == 40));
        // A checkpoint folder without config.json is refused by name.
        std::fs::create_dir_all(root.join("seed2/checkpoint-7")).unwrap();
        let err = discover(&CheckpointSource::SeedFolders {
            root: root.to_path_buf(),
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("checkpoint-7") && err.contains("no config.json"),
            "{err}"
        );
        let err = discover(&CheckpointSource::SeedFolders {
            root: root.join("seed10/checkpoint-20"),
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("no seed<k> folder"), "{err}");
    }
}
