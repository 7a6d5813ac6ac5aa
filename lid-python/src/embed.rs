//! `lid.embed` (cargo feature `embed`): token vectors of one hidden state of a local model, by
//! `lid-embed`'s extraction (the pipeline of `lid embed`: tokenise with truncation, batch by length,
//! filter tokens by id, one forward per batch), with the GIL released.
//!
//! The extraction writes its two outputs (a 2-D `.npy` and the token metadata as JSONL) into a
//! temporary folder, which is read back and removed: `extract` streams to files so that memory is
//! bounded by one batch, and the files are what `lid embed` writes too. Loading is local only: a
//! model folder with `config.json`, weights and `tokenizer.json`, or a `.gguf` file.

use std::path::PathBuf;

use lid_embed::output::TokenRecord;
use lid_embed::{
    extract, load_model, DeviceKind, ExtractOptions, LayerIndex, OutputTarget, Sequence,
    TextTokenizer, TokenFilter,
};
use ndarray::Array1;
use numpy::{IntoPyArray, PyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Everything of one extraction, before it becomes Python objects.
struct Embedded {
    vectors: ndarray::Array2<f32>,
    tokens: Vec<TokenRecord>,
    layer: usize,
    truncated_sequences: usize,
    empty_sequences: usize,
    warnings: Vec<String>,
}

/// A `lid-embed` error as a `ValueError` with its message.
fn embed_error(e: lid_embed::Error) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// Runs the extraction of `texts` (see the module docs).
fn run(
    model_dir: &std::path::Path,
    texts: &[String],
    layer: i64,
    max_length: usize,
    batch_size: usize,
    filter: TokenFilter,
) -> Result<Embedded, PyErr> {
    let device = "cpu".parse::<DeviceKind>().map_err(embed_error)?;
    let device = device.open().map_err(embed_error)?;
    let mut model = load_model(model_dir, &device).map_err(embed_error)?;
    // The forward of lid.compare and of every other measurement (bitwise invariant to batching).
    lid_train::model::use_packed_forward(&mut model)
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    let mut warnings = Vec::new();
    if let Some(warning) = model.check_max_length(max_length).map_err(embed_error)? {
        warnings.push(warning);
    }
    let tokenizer = match &model.tokenizer_path {
        Some(path) => TextTokenizer::from_file(path, max_length).map_err(embed_error)?,
        None if model.architecture == lid_embed::Architecture::QuantizedLlama => {
            TextTokenizer::new(
                lid_embed::tokenize::tokenizer_from_gguf(model_dir).map_err(embed_error)?,
                max_length,
            )
            .map_err(embed_error)?
        }
        None => {
            return Err(PyValueError::new_err(format!(
                "no tokenizer.json next to {}",
                model_dir.display()
            )))
        }
    };
    model.check_tokenizer(&tokenizer).map_err(embed_error)?;
    let sequences: Vec<Sequence<'_>> = texts
        .iter()
        .enumerate()
        .map(|(id, text)| Sequence { id, text })
        .collect();
    let options = ExtractOptions {
        layers: vec![LayerIndex(layer)],
        max_length,
        batch_size,
        filter,
    };
    let folder = tempfile::tempdir().map_err(|e| {
        pyo3::exceptions::PyOSError::new_err(format!("cannot create a temporary folder: {e}"))
    })?;
    let npy = folder.path().join("vectors.npy");
    let jsonl = folder.path().join("tokens.jsonl");
    let target = OutputTarget::NpyFile {
        path: npy.clone(),
        tokens: Some(jsonl.clone()),
    };
    let summary = extract(
        &model,
        &tokenizer,
        &sequences,
        &options,
        &target,
        &mut |_| {},
    )
    .map_err(embed_error)?;
    let read_error = |path: &std::path::Path, e: String| {
        pyo3::exceptions::PyOSError::new_err(format!("cannot read back {}: {e}", path.display()))
    };
    let vectors: ndarray::Array2<f32> =
        ndarray_npy::read_npy(&npy).map_err(|e| read_error(&npy, e.to_string()))?;
    let text = std::fs::read_to_string(&jsonl).map_err(|e| read_error(&jsonl, e.to_string()))?;
    let tokens = text
        .lines()
        .map(serde_json::from_str::<TokenRecord>)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| read_error(&jsonl, e.to_string()))?;
    if tokens.len() != vectors.nrows() {
        return Err(read_error(
            &jsonl,
            format!(
                "{} token records for {} vectors",
                tokens.len(),
                vectors.nrows()
            ),
        ));
    }
    Ok(Embedded {
        vectors,
        tokens,
        layer: summary.layers.first().map_or(0, |l| l.index),
        truncated_sequences: summary.truncated_sequences,
        empty_sequences: summary.empty_sequences,
        warnings,
    })
}

/// Token vectors of one hidden state (Hugging Face numbering; -1 = last) of the model at
/// `model_dir` for every text, in order. Returns `(vectors, tokens)`: float32 `n x hidden` and a
/// dict with `sequence`, `position`, `token_id` (int64 arrays), `token` (list of str), `layer`
/// (absolute index), `truncated_sequences`, `empty_sequences`, `warnings`.
#[pyfunction]
#[pyo3(signature = (model_dir, texts, layer, max_length, batch_size, filter))]
pub fn embed<'py>(
    py: Python<'py>,
    model_dir: PathBuf,
    texts: Vec<String>,
    layer: i64,
    max_length: usize,
    batch_size: usize,
    filter: &str,
) -> PyResult<(Bound<'py, PyArray2<f32>>, Bound<'py, PyDict>)> {
    let filter: TokenFilter = filter.parse().map_err(embed_error)?;
    let e = py.detach(|| run(&model_dir, &texts, layer, max_length, batch_size, filter))?;
    let tokens = PyDict::new(py);
    let column = |f: fn(&TokenRecord) -> i64| -> Array1<i64> { e.tokens.iter().map(f).collect() };
    tokens.set_item("sequence", column(|t| t.sequence as i64).into_pyarray(py))?;
    tokens.set_item("position", column(|t| t.position as i64).into_pyarray(py))?;
    tokens.set_item(
        "token_id",
        column(|t| i64::from(t.token_id)).into_pyarray(py),
    )?;
    let strings: Vec<&str> = e.tokens.iter().map(|t| t.token.as_str()).collect();
    tokens.set_item("token", strings)?;
    tokens.set_item("layer", e.layer)?;
    tokens.set_item("truncated_sequences", e.truncated_sequences)?;
    tokens.set_item("empty_sequences", e.empty_sequences)?;
    tokens.set_item("warnings", e.warnings)?;
    Ok((e.vectors.into_pyarray(py), tokens))
}
