//! The records that training code writes while it runs: the task metric and validation loss of
//! every checkpoint, read from the files of a finished (or running) training run. The checkpoint
//! series of `lid sweep` (and of the studies that train in Rust) pair them with the LID of each
//! checkpoint.
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
//! file, the record and the field; a file that is not JSON or CSV at all is an [`Error::Json`] or
//! [`Error::Csv`] with the parser's position. The readers are fuzzed (`fuzz/`, target
//! `run_metrics`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

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
    Error::malformed(path, record, field, problem)
}

fn csv_error(path: &Path, e: csv::Error) -> Error {
    Error::Csv {
        path: path.to_path_buf(),
        source: e,
    }
}

/// Reads a TripPy-R `eval_res.<split>.json` (see the module docs): metric and loss by step.
///
/// # Errors
/// [`Error::Io`]; [`Error::Json`] for invalid JSON; [`Error::Malformed`] for an entry that is
/// not an object, a missing or non-numeric `global_step`, metric or loss, or a step listed twice.
pub fn read_trippy_eval_res(
    path: &Path,
    metric_key: &str,
    loss_key: &str,
) -> Result<BTreeMap<u64, StepMetrics>> {
    let json = crate::io::read_json(path)?;
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
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(file);
    let headers = reader
        .headers()
        .map_err(|e| csv_error(path, e))?
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
        let record = r.map_err(|e| csv_error(&path, e))?;
        let line = record.position().map_or(0, csv::Position::line);
        Ok((line, record))
    })
}

/// Reads a CSV with the columns `seed,step,metric,val_loss` (see the module docs).
///
/// # Errors
/// [`Error::Io`], [`Error::Csv`]; [`Error::Malformed`] for a missing column, a bad number or a
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
/// [`Error::Io`], [`Error::Csv`]; [`Error::Malformed`] for a missing column, a bad number or a
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
        // The step of every row is checked, evaluated or not: a damaged row is named, not skipped.
        let step = cell_u64(path, line, "step", r.get(step_col))?;
        let Some(value) = cell_f64(path, line, metric, r.get(metric_col))? else {
            continue;
        };
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
