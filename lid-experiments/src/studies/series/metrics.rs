//! The task metric and validation loss of every checkpoint, from the files the training code wrote.
//!
//! Formats:
//! - **TripPy-R** `eval_res.<split>.json` ([`read_trippy_eval_res`]), as `run_dst.py --do_eval
//!   --eval_all_checkpoints` writes it into its output folder: a JSON list with one object per
//!   evaluated checkpoint, `{"eval_accuracy_goal": 0.53, "loss": 1.92, "eval_accuracy_<slot>": ...,
//!   "global_step": "1775"}`. `global_step` is the number after the last `-` of the checkpoint
//!   folder name, as a string (a number is accepted too); the last entry evaluates the output
//!   folder's own final model and has `global_step` `"final"`: it is not a checkpoint of the series
//!   and is skipped (as the paper authors' plotting code does). `eval_accuracy_goal` is the joint
//!   goal accuracy and `loss` the mean total loss over the evaluation batches.
//! - **A CSV** with the columns `seed,step,metric,val_loss` ([`read_series_csv`]), any order,
//!   other columns ignored, empty cells for missing values.
//! - **lid-train's `metrics.csv`** ([`read_lid_train_metrics`]): `step,lr,loss,grad_norm,tokens,
//!   seconds` and one column per evaluation metric (`eval_loss`, `accuracy`, ...), empty where the
//!   step was not evaluated; the rows where the chosen metric column has a value are read.
//!
//! Every value must be a finite number; a malformed record is an [`Error::Malformed`] naming the
//! file, the record and the field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::checkpoints::Checkpoint;
use super::spec::{LidTrainMetrics, MetricSource, SeedFile, TrippyMetrics};
use crate::error::{Error, Result};

/// The task metric and validation loss of one checkpoint (`None`: not in the files).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    /// Task metric (joint goal accuracy, F1, accuracy).
    pub metric: Option<f64>,
    /// Validation loss.
    pub val_loss: Option<f64>,
}

/// Metrics by `(seed, step)`.
pub type MetricTable = BTreeMap<(u64, u64), StepMetrics>;

fn malformed(path: &Path, record: String, field: &str, problem: impl Into<String>) -> Error {
    Error::Malformed {
        path: path.to_path_buf(),
        record,
        field: field.into(),
        problem: problem.into(),
    }
}

/// Reads a TripPy-R `eval_res.<split>.json` (see the module docs): metric and loss by step.
///
/// # Errors
/// [`Error::Io`]; [`Error::Format`] for invalid JSON; [`Error::Malformed`] for an entry that is
/// not an object, a missing or non-numeric `global_step`, metric or loss, or a step listed twice.
pub fn read_trippy_eval_res(
    path: &Path,
    metric_key: &str,
    loss_key: &str,
) -> Result<BTreeMap<u64, StepMetrics>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Format {
        action: "parse",
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let entries = json.as_array().ok_or_else(|| {
        malformed(
            path,
            "(top level)".into(),
            "(file)",
            "expected a JSON list of evaluation results, one per checkpoint",
        )
    })?;
    let mut out = BTreeMap::new();
    for (i, entry) in entries.iter().enumerate() {
        let record = format!("entry {i}");
        let obj = entry
            .as_object()
            .ok_or_else(|| malformed(path, record.clone(), "(entry)", "is not an object"))?;
        let step = match obj.get("global_step") {
            Some(serde_json::Value::String(s)) if s == "final" => continue,
            Some(serde_json::Value::String(s)) => s.parse::<u64>().map_err(|_| {
                malformed(
                    path,
                    record.clone(),
                    "global_step",
                    format!("{s:?} is neither a step number nor \"final\""),
                )
            })?,
            Some(serde_json::Value::Number(n)) => n.as_u64().ok_or_else(|| {
                malformed(
                    path,
                    record.clone(),
                    "global_step",
                    format!("{n} is not a step number"),
                )
            })?,
            Some(other) => {
                return Err(malformed(
                    path,
                    record,
                    "global_step",
                    format!("{other} is not a step number"),
                ))
            }
            None => return Err(malformed(path, record, "global_step", "is missing")),
        };
        let record = format!("entry {i} (global_step {step})");
        let number = |key: &str| -> Result<f64> {
            let value = obj
                .get(key)
                .ok_or_else(|| malformed(path, record.clone(), key, "is missing"))?;
            value.as_f64().filter(|v| v.is_finite()).ok_or_else(|| {
                malformed(
                    path,
                    record.clone(),
                    key,
                    format!("{value} is not a finite number"),
                )
            })
        };
        let metrics = StepMetrics {
            metric: Some(number(metric_key)?),
            val_loss: Some(number(loss_key)?),
        };
        if out.insert(step, metrics).is_some() {
            return Err(malformed(
                path,
                record,
                "global_step",
                "this step is listed twice",
            ));
        }
    }
    Ok(out)
}

/// A CSV reader (cells trimmed) and its header.
fn open_csv(path: &Path) -> Result<(csv::Reader<std::fs::File>, Vec<String>)> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(file);
    let headers = reader
        .headers()
        .map_err(|e| Error::Format {
            action: "parse",
            path: path.to_path_buf(),
            message: e.to_string(),
        })?
        .iter()
        .map(str::to_string)
        .collect();
    Ok((reader, headers))
}

fn column(path: &Path, headers: &[String], name: &str) -> Result<usize> {
    headers.iter().position(|h| h == name).ok_or_else(|| {
        malformed(
            path,
            "header".into(),
            name,
            format!("no such column (the columns are: {})", headers.join(", ")),
        )
    })
}

/// A cell as an optional finite number (empty: `None`).
fn cell_f64(path: &Path, line: u64, field: &str, cell: Option<&str>) -> Result<Option<f64>> {
    match cell.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(Some(v)),
            _ => Err(malformed(
                path,
                format!("line {line}"),
                field,
                format!("{text:?} is not a finite number"),
            )),
        },
    }
}

fn cell_u64(path: &Path, line: u64, field: &str, cell: Option<&str>) -> Result<u64> {
    let text = cell.map(str::trim).unwrap_or("");
    text.parse::<u64>().map_err(|_| {
        malformed(
            path,
            format!("line {line}"),
            field,
            format!("{text:?} is not a non-negative whole number"),
        )
    })
}

fn records<'r>(
    path: &Path,
    reader: &'r mut csv::Reader<std::fs::File>,
) -> impl Iterator<Item = Result<(u64, csv::StringRecord)>> + 'r {
    let path = path.to_path_buf();
    reader.records().map(move |r| {
        let record = r.map_err(|e| Error::Format {
            action: "parse",
            path: path.clone(),
            message: e.to_string(),
        })?;
        let line = record.position().map_or(0, csv::Position::line);
        Ok((line, record))
    })
}

/// Reads a CSV with the columns `seed,step,metric,val_loss` (see the module docs).
///
/// # Errors
/// [`Error::Io`], [`Error::Format`]; [`Error::Malformed`] for a missing column, a bad number or a
/// `(seed, step)` listed twice.
pub fn read_series_csv(path: &Path) -> Result<MetricTable> {
    let (mut reader, headers) = open_csv(path)?;
    let cols = ["seed", "step", "metric", "val_loss"].map(|c| column(path, &headers, c));
    let [seed, step, metric, val_loss] = cols;
    let (seed, step, metric, val_loss) = (seed?, step?, metric?, val_loss?);
    let mut out = MetricTable::new();
    for row in records(path, &mut reader) {
        let (line, r) = row?;
        let key = (
            cell_u64(path, line, "seed", r.get(seed))?,
            cell_u64(path, line, "step", r.get(step))?,
        );
        let value = StepMetrics {
            metric: cell_f64(path, line, "metric", r.get(metric))?,
            val_loss: cell_f64(path, line, "val_loss", r.get(val_loss))?,
        };
        if out.insert(key, value).is_some() {
            return Err(malformed(
                path,
                format!("line {line}"),
                "step",
                format!("seed {} step {} is listed twice", key.0, key.1),
            ));
        }
    }
    Ok(out)
}

/// Reads lid-train's `metrics.csv`: the rows where the column `metric` has a value, with the
/// column `loss` as validation loss (see the module docs).
///
/// # Errors
/// [`Error::Io`], [`Error::Format`]; [`Error::Malformed`] for a missing column, a bad number or a
/// step listed twice.
pub fn read_lid_train_metrics(
    path: &Path,
    metric: &str,
    loss: &str,
) -> Result<BTreeMap<u64, StepMetrics>> {
    let (mut reader, headers) = open_csv(path)?;
    let step_col = column(path, &headers, "step")?;
    let metric_col = column(path, &headers, metric)?;
    let loss_col = column(path, &headers, loss)?;
    let mut out = BTreeMap::new();
    for row in records(path, &mut reader) {
        let (line, r) = row?;
        let Some(value) = cell_f64(path, line, metric, r.get(metric_col))? else {
            continue;
        };
        let step = cell_u64(path, line, "step", r.get(step_col))?;
        let metrics = StepMetrics {
            metric: Some(value),
            val_loss: cell_f64(path, line, loss, r.get(loss_col))?,
        };
        if out.insert(step, metrics).is_some() {
            return Err(malformed(
                path,
                format!("line {line}"),
                "step",
                format!("step {step} is evaluated twice"),
            ));
        }
    }
    Ok(out)
}

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
