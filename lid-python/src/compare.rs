//! `lid.compare` (cargo feature `embed`): the local dimensions of two models on the same sampled
//! token positions of several corpora, ranked by the standardized mean difference: the measurement
//! of `lid compare` and of the fine-tuning-shift study, called through the same library function
//! (`lid_train::compare::compare_models`), so the numbers are those of the command.

use std::path::PathBuf;

use lid_train::compare::{
    check_same_token_ids, compare_models, fewer_points_warning, ComparedModel, ProbeCorpus,
};
use lid_train::model::PreparedModel;
use lid_train::probe::ProbeSettings;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

/// A `lid-train` error as a `ValueError` with its message.
fn train_error(e: lid_train::Error) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// Loads a model and its tokenizer, naming the path in the error.
fn load(path: &std::path::Path, max_length: usize) -> PyResult<PreparedModel> {
    PreparedModel::load(path, max_length)
        .map_err(|e| PyValueError::new_err(format!("{}: {e}", path.display())))
}

/// Compares `tuned_dir` against `base_dir` on each corpus of `corpora` (name, texts, in domain).
/// Returns one dict per corpus, ranked by SMD (largest first), and the warnings.
#[pyfunction]
#[pyo3(signature = (base_dir, tuned_dir, corpora, sequences, sequence_seed, n_points, neighbors, max_length))]
#[allow(clippy::too_many_arguments)] // one per keyword of the Python signature
pub fn compare<'py>(
    py: Python<'py>,
    base_dir: PathBuf,
    tuned_dir: PathBuf,
    corpora: Vec<(String, Vec<String>, bool)>,
    sequences: usize,
    sequence_seed: u64,
    n_points: usize,
    neighbors: usize,
    max_length: usize,
) -> PyResult<(Bound<'py, PyList>, Vec<String>)> {
    if corpora.is_empty() {
        return Err(PyValueError::new_err("corpora: give at least one corpus"));
    }
    if sequences < 2 {
        return Err(PyValueError::new_err(format!(
            "sequences: {sequences} must be at least 2"
        )));
    }
    let settings = ProbeSettings {
        n_points,
        neighbors,
        ..ProbeSettings::paper()
    };
    settings.check().map_err(train_error)?;
    let (rows, warnings) = py.detach(|| -> PyResult<_> {
        let base = load(&base_dir, max_length)?;
        let tuned = load(&tuned_dir, max_length)?;
        let probes = corpora
            .iter()
            .map(|(name, texts, in_domain)| {
                ProbeCorpus::sample(
                    name,
                    *in_domain,
                    texts,
                    sequences,
                    sequence_seed,
                    &base.tokenizer,
                )
            })
            .collect::<lid_train::Result<Vec<_>>>()
            .map_err(train_error)?;
        check_same_token_ids(&probes, &tuned.tokenizer).map_err(|e| {
            PyValueError::new_err(format!(
                "{} and {}: {e}",
                base_dir.display(),
                tuned_dir.display()
            ))
        })?;
        let mut warnings = Vec::new();
        let paths = [&base_dir, &tuned_dir];
        let measured = compare_models(
            ComparedModel {
                model: &base.loaded.model,
                special: &base.loaded.special,
            },
            ComparedModel {
                model: &tuned.loaded.model,
                special: &tuned.loaded.special,
            },
            &probes,
            &settings,
            |i, p, e| {
                let model = paths[i].display().to_string();
                warnings.extend(fewer_points_warning("n_points=", &settings, &model, p, e));
            },
        )
        .map_err(train_error)?;
        let mut rows = measured.rows;
        rows.sort_by(|a, b| b.smd.total_cmp(&a.smd));
        Ok((rows, warnings))
    })?;
    let list = PyList::empty(py);
    for (rank, r) in rows.iter().enumerate() {
        let d = PyDict::new(py);
        d.set_item("rank", rank + 1)?;
        d.set_item("corpus", &r.corpus)?;
        d.set_item("in_domain", r.in_domain)?;
        d.set_item("base_mean", r.base_mean)?;
        d.set_item("base_std", r.base_std)?;
        d.set_item("tuned_mean", r.tuned_mean)?;
        d.set_item("tuned_std", r.tuned_std)?;
        d.set_item("smd", r.smd)?;
        d.set_item("smd_lower", r.smd_lower)?;
        d.set_item("smd_upper", r.smd_upper)?;
        d.set_item("base_points", r.base_points)?;
        d.set_item("tuned_points", r.tuned_points)?;
        d.set_item("base_duplicates_removed", r.base_duplicates_removed)?;
        d.set_item("tuned_duplicates_removed", r.tuned_duplicates_removed)?;
        d.set_item("base_near_duplicate_share", r.base_near_duplicate_share)?;
        d.set_item("tuned_near_duplicate_share", r.tuned_near_duplicate_share)?;
        let drops = PyList::empty(py);
        for t in &r.largest_drops {
            drops.append((t.token.as_str(), t.count, t.mean_drop))?;
        }
        d.set_item("largest_drops", drops)?;
        list.append(d)?;
    }
    Ok((list, warnings))
}
