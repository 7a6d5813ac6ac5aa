//! Reading a `lid embed` output folder as a point cloud for `lid estimate`: every shard of the chosen
//! layer, concatenated in order, and the manifest's model, layer and corpus for the report.
//!
//! The folder must be complete: it needs its `manifest.json` and must not hold the `PARTIAL` marker
//! of an extraction that failed, was killed or is still running (`lid_embed::output::read_manifest`
//! refuses it, naming the folder).

use std::path::{Path, PathBuf};

use lid_core::PointCloud;
use lid_embed::output::{read_manifest, read_manifest_layer};
use serde::Serialize;

use crate::cli::embed::EmbedProvenance;
use crate::cli::input::{InputDtype, InputFormat, InputInfo};
use crate::error::{Error, Result};

/// Where the vectors of a `lid embed` folder came from (the `embedding` of `lid estimate --json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmbeddingSource {
    /// The folder.
    pub folder: PathBuf,
    /// The model path recorded by `lid embed`.
    pub model: Option<PathBuf>,
    /// The architecture that ran it (`Bert`, `Roberta`, `Gpt2`, `Llama`, `QuantizedLlama`).
    pub architecture: Option<serde_json::Value>,
    /// The corpus path recorded by `lid embed`.
    pub corpus: Option<PathBuf>,
    /// How the sequences were chosen (all, first M, sample of M with a seed).
    pub selection: Option<serde_json::Value>,
    /// The layer as requested at extraction (e.g. `-1`).
    pub layer_requested: i64,
    /// The absolute hidden-state index (0 = embeddings).
    pub layer_index: usize,
    /// Shard files read, in order.
    pub shards: usize,
    /// Sequences embedded.
    pub sequences: usize,
}

/// Reads layer `layer` (as requested at extraction, or its absolute index; `None`: the only layer)
/// of the `lid embed` output folder `dir`.
///
/// # Errors
/// [`Error::Embed`] for an incomplete folder, a layer that is not stored (the message lists the
/// stored ones) or an unreadable shard; [`Error::Core`] for non-finite values or an empty layer.
pub fn read_embedding_dir(
    dir: &Path,
    layer: Option<i64>,
) -> Result<(PointCloud<'static>, InputInfo, EmbeddingSource)> {
    let manifest = read_manifest(dir)?;
    let chosen = manifest.layer(layer)?;
    let (rows, cols, data) = read_manifest_layer(dir, chosen)?;
    let cloud = PointCloud::from_vec(data, rows, cols).map_err(|e| {
        Error::Check(format!(
            "{}: layer {} cannot be used as a point cloud: {e}",
            dir.display(),
            chosen.requested
        ))
    })?;
    let provenance: Option<EmbedProvenance> =
        serde_json::from_value(manifest.provenance.clone()).ok();
    let source = EmbeddingSource {
        folder: dir.to_path_buf(),
        model: provenance.as_ref().map(|p| p.model.path.clone()),
        architecture: provenance.as_ref().map(|p| p.model.architecture.clone()),
        corpus: provenance.as_ref().map(|p| p.corpus.path.clone()),
        selection: provenance.as_ref().map(|p| p.selection.clone()),
        layer_requested: chosen.requested,
        layer_index: chosen.index,
        shards: chosen.shards.len(),
        sequences: manifest.summary.sequences,
    };
    let info = InputInfo {
        path: dir.to_path_buf(),
        format: InputFormat::EmbedDirectory,
        tensor: None,
        dtype: InputDtype::F32,
        n_points: rows,
        dim: cols,
    };
    Ok((cloud, info, source))
}
