//! The metrics of a checkpoint series: which files hold them (each seed's run folder, or files the
//! spec names) and the table of every `(seed, step)`. The file readers live in
//! [`lid_data::run_metrics`] (no model code; fuzzed there) and are re-exported here.

use std::path::PathBuf;

pub use lid_data::run_metrics::{
    read_lid_train_metrics, read_series_csv, read_trippy_eval_res, MetricTable, StepMetrics,
};

use super::checkpoints::Checkpoint;
use super::spec::{LidTrainMetrics, MetricSource, SeedFile, TrippyMetrics};
use crate::error::{Error, Result};

/// The metrics file of every seed: the explicit `files`, or `<run folder>/<name>` for the run
/// folder of each seed's checkpoints.
fn seed_files(
    files: Option<&[SeedFile]>,
    name: &str,
    checkpoints: &[Checkpoint],
) -> Result<Vec<(u64, PathBuf)>> {
    if let Some(files) = files {
        return Ok(files.iter().map(|f| (f.seed, f.path.clone())).collect());
    }
    let mut out: Vec<(u64, PathBuf)> = Vec::new();
    for c in checkpoints {
        let path = c.run_dir.join(name);
        match out.iter().find(|(s, _)| *s == c.seed) {
            None => out.push((c.seed, path)),
            Some((_, p)) if *p == path => {}
            Some((_, p)) => {
                return Err(Error::Malformed {
                    path: PathBuf::from("sweep spec"),
                    record: "metrics".into(),
                    field: "files".into(),
                    problem: format!(
                        "the checkpoints of seed {} lie in more than one folder ({} and {}); \
                         name each seed's metrics file in `files`",
                        c.seed,
                        p.display(),
                        path.display()
                    ),
                })
            }
        }
    }
    Ok(out)
}

/// The metric files `source` reads for `checkpoints` (inputs of a merge).
///
/// # Errors
/// As [`load`] for seeds whose checkpoints lie in several folders.
pub fn files(source: &MetricSource, checkpoints: &[Checkpoint]) -> Result<Vec<(u64, PathBuf)>> {
    Ok(match source {
        MetricSource::None => Vec::new(),
        MetricSource::Csv { path } => vec![(u64::MAX, path.clone())],
        MetricSource::Trippy(TrippyMetrics { split, files, .. }) => seed_files(
            files.as_deref(),
            &format!("eval_res.{split}.json"),
            checkpoints,
        )?,
        MetricSource::LidTrain(LidTrainMetrics { files, .. }) => {
            seed_files(files.as_deref(), "metrics.csv", checkpoints)?
        }
    })
}

/// The metrics of every `(seed, step)` that `source` has, for the seeds of `checkpoints`.
///
/// # Errors
/// The readers' errors; [`Error::Malformed`] when a seed's checkpoints lie in several folders and
/// no explicit files are given.
pub fn load(source: &MetricSource, checkpoints: &[Checkpoint]) -> Result<MetricTable> {
    let mut table = MetricTable::new();
    match source {
        MetricSource::None => {}
        MetricSource::Csv { path } => table = read_series_csv(path)?,
        MetricSource::Trippy(t) => {
            for (seed, path) in files(source, checkpoints)? {
                for (step, m) in read_trippy_eval_res(&path, &t.metric_key, &t.loss_key)? {
                    table.insert((seed, step), m);
                }
            }
        }
        MetricSource::LidTrain(l) => {
            for (seed, path) in files(source, checkpoints)? {
                for (step, m) in read_lid_train_metrics(&path, &l.metric, &l.loss)? {
                    table.insert((seed, step), m);
                }
            }
        }
    }
    Ok(table)
}
