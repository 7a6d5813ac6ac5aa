//! The extraction pipeline: tokenise, group by length into batches, run the model, keep the wanted
//! tokens of the wanted layers, and stream them to `.npy` in corpus order.
//!
//! Steps (paper settings in parentheses, REFERENCE.md steps 2-3): tokenise with truncation to
//! `max_length` (paper: 512); sort sequences by length and cut batches of `batch_size` (default 32; padding on the
//! right, attention mask 0 on padding); forward in f32; for each kept position (see [`TokenFilter`];
//! paper: drop pad and eos, keep bos) write the vector of each requested layer (paper: `-1`) at its row.
//! Rows are in the order the texts are given (sequence, then position); padding is never stored.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::Tensor;

use crate::error::{Error, Result};
use crate::filter::TokenFilter;
use crate::load::LoadedModel;
use crate::models::LayerIndex;
use crate::output::atomic::write_atomic;
use crate::output::{
    Manifest, NpyShards, ShardInfo, TokenRecord, TokenWriter, MANIFEST_FILE, PARTIAL_MARKER,
};
use crate::tokenize::TextTokenizer;

/// Extraction settings; [`Default`] gives the paper's values.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExtractOptions {
    /// Hidden states to extract, Hugging Face numbering (default `[-1]`).
    pub layers: Vec<LayerIndex>,
    /// Truncation length in tokens, special tokens included (default 512).
    pub max_length: usize,
    /// Sequences per forward pass (default 32).
    pub batch_size: usize,
    /// Which tokens are kept (default: drop pad and eos, keep bos).
    pub filter: TokenFilter,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        Self {
            layers: vec![LayerIndex::LAST],
            max_length: 512,
            batch_size: 32,
            filter: TokenFilter::PadAndEos,
        }
    }
}

/// Where the vectors go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputTarget {
    /// One 2-D f32 `.npy` file (exactly one layer), rows in corpus order; optionally the token
    /// metadata as JSONL, one object per row.
    NpyFile {
        /// The `.npy` path.
        path: PathBuf,
        /// Optional JSONL metadata path.
        tokens: Option<PathBuf>,
    },
    /// A directory: `layer_<index>/shard_00000.npy`, ... per layer (absolute index), `tokens.jsonl`
    /// (one object per row, shared by all layers) and `manifest.json` (written by
    /// [`write_manifest`]). From the start of [`extract`] until [`write_manifest`] the directory holds
    /// the [`PARTIAL_MARKER`] file, and a manifest of an earlier run is removed first, so a failed or
    /// killed extraction never looks complete.
    Directory {
        /// The output directory (created if needed).
        dir: PathBuf,
        /// Maximum rows per shard file.
        shard_rows: usize,
    },
}

/// Progress after each batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Sequences embedded so far.
    pub sequences_done: usize,
    /// Sequences to embed.
    pub sequences_total: usize,
    /// Tokens (real positions) run through the model so far.
    pub tokens_done: usize,
}

/// One extracted layer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LayerOutput {
    /// The index as requested (may be negative).
    pub requested: i64,
    /// The absolute hidden-state index (0 = embeddings).
    pub index: usize,
    /// Files holding its rows, in row order (concatenate them).
    pub shards: Vec<ShardInfo>,
}

/// What an extraction produced.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// Sequences embedded.
    pub sequences: usize,
    /// Sequences cut at `max_length`.
    pub truncated_sequences: usize,
    /// Sequences with no token at all after tokenisation (skipped).
    pub empty_sequences: usize,
    /// Real token positions run through the model.
    pub tokens_total: usize,
    /// Rows written (tokens kept by the filter).
    pub tokens_kept: usize,
    /// Width of each row.
    pub hidden_size: usize,
    /// Number of transformer blocks of the model.
    pub num_blocks: usize,
    /// Per-layer outputs.
    pub layers: Vec<LayerOutput>,
    /// The metadata file, if written.
    pub tokens_file: Option<String>,
    /// Wall-clock seconds of the forward passes and writing (tokenisation excluded).
    pub forward_seconds: f64,
}

/// One text to embed with its sequence id.
#[derive(Debug, Clone, Copy)]
pub struct Sequence<'a> {
    /// Sequence id recorded in the metadata.
    pub id: usize,
    /// The text.
    pub text: &'a str,
}

struct Prepared {
    ids: Vec<u32>,
    keep: Vec<bool>,
    first_row: usize,
}

/// Runs the whole pipeline. `progress` is called after every batch.
///
/// Outputs are complete or absent: files are written under temporary names and renamed only after
/// the last batch (token metadata first, vectors last), and a directory target carries the
/// [`PARTIAL_MARKER`] until [`write_manifest`] (see [`OutputTarget::Directory`]). Sequence lengths are
/// checked against the model's hard position limit after tokenisation, before any vector is
/// computed ([`LoadedModel::check_max_length`]).
///
/// # Errors
/// Bad options, a sequence longer than the model's positions, tokenizer, model or I/O failures.
pub fn extract(
    model: &LoadedModel,
    tokenizer: &TextTokenizer,
    sequences: &[Sequence<'_>],
    opts: &ExtractOptions,
    target: &OutputTarget,
    progress: &mut dyn FnMut(Progress),
) -> Result<Summary> {
    if opts.batch_size == 0 {
        return Err(Error::InvalidOption {
            option: "batch-size",
            reason: "must be at least 1".into(),
        });
    }
    if opts.layers.is_empty() {
        return Err(Error::InvalidOption {
            option: "layers",
            reason: "at least one layer is needed".into(),
        });
    }
    if sequences.is_empty() {
        return Err(Error::InvalidOption {
            option: "corpus",
            reason: "no sequences to embed".into(),
        });
    }
    let net = model.model.as_ref();
    let num_blocks = net.num_blocks();
    let hidden = net.hidden_size();
    let wanted: Vec<usize> = opts
        .layers
        .iter()
        .map(|l| l.resolve(num_blocks))
        .collect::<Result<_>>()?;
    let mut dedup = wanted.clone();
    dedup.sort_unstable();
    dedup.dedup();
    if dedup.len() != wanted.len() {
        return Err(Error::InvalidOption {
            option: "layers",
            reason: format!("layers {:?} name the same hidden state twice", opts.layers),
        });
    }

    let tokens_path = match target {
        OutputTarget::NpyFile { tokens, .. } => tokens.clone(),
        OutputTarget::Directory { dir, .. } => Some(dir.join("tokens.jsonl")),
    };
    if let OutputTarget::NpyFile { path, .. } = target {
        if wanted.len() != 1 {
            return Err(Error::InvalidOption {
                option: "out",
                reason: format!(
                    "a single .npy file holds one layer, {} were asked for; give a directory instead",
                    wanted.len()
                ),
            });
        }
        if path.extension().is_none_or(|e| e != "npy") {
            return Err(Error::InvalidOption {
                option: "out",
                reason: format!("{} does not end in .npy", path.display()),
            });
        }
    }

    if let OutputTarget::Directory { dir, .. } = target {
        start_directory(dir)?;
    }

    // Pass 1: tokenise, decide the kept rows, write the metadata in corpus order.
    let mut token_writer = tokens_path
        .as_deref()
        .map(TokenWriter::create)
        .transpose()?;
    let mut prepared = Vec::with_capacity(sequences.len());
    let (mut rows, mut truncated, mut empty, mut tokens_total) = (0usize, 0usize, 0usize, 0usize);
    for chunk in sequences.chunks(256) {
        let texts: Vec<&str> = chunk.iter().map(|s| s.text).collect();
        for (seq, enc) in chunk.iter().zip(tokenizer.encode_batch(&texts)?) {
            truncated += usize::from(enc.truncated);
            if enc.ids.is_empty() {
                empty += 1;
                continue;
            }
            let keep = opts.filter.keep(&enc.ids, &enc.special, &model.special);
            if let Some(w) = token_writer.as_mut() {
                for (pos, (&id, tok)) in enc.ids.iter().zip(&enc.tokens).enumerate() {
                    if keep[pos] {
                        w.write(&TokenRecord {
                            sequence: seq.id,
                            position: pos,
                            token_id: id,
                            token: tok.clone(),
                        })?;
                    }
                }
            }
            tokens_total += enc.ids.len();
            let kept = keep.iter().filter(|&&k| k).count();
            prepared.push(Prepared {
                ids: enc.ids,
                keep,
                first_row: rows,
            });
            rows += kept;
        }
    }
    let longest = prepared.iter().map(|p| p.ids.len()).max().unwrap_or(0);
    model.check_max_length(longest)?;
    let tokens_file = match (&token_writer, &tokens_path) {
        (Some(w), Some(p)) => {
            debug_assert_eq!(w.rows(), rows);
            Some(match target {
                OutputTarget::Directory { .. } => "tokens.jsonl".to_string(),
                OutputTarget::NpyFile { .. } => p.display().to_string(),
            })
        }
        _ => None,
    };

    // Output files at their final size.
    let mut outputs: Vec<NpyShards> = match target {
        OutputTarget::NpyFile { path, .. } => vec![NpyShards::single(path, rows, hidden)?],
        OutputTarget::Directory { dir, shard_rows } => wanted
            .iter()
            .map(|&w| {
                let rel = format!("layer_{w}");
                NpyShards::sharded(&dir.join(&rel), &rel, rows, hidden, *shard_rows)
            })
            .collect::<Result<_>>()?,
    };

    // Pass 2: batches grouped by length.
    let start = Instant::now();
    let mut order: Vec<usize> = (0..prepared.len()).collect();
    order.sort_by_key(|&i| (prepared[i].ids.len(), i));
    let pad = model.padding_id();
    let mut done = Progress {
        sequences_done: 0,
        sequences_total: prepared.len(),
        tokens_done: 0,
    };
    let mut buffer: Vec<f32> = Vec::new();
    for batch in order.chunks(opts.batch_size) {
        let t = batch
            .iter()
            .map(|&i| prepared[i].ids.len())
            .max()
            .unwrap_or(0);
        let mut ids = Vec::with_capacity(batch.len() * t);
        let mut mask = Vec::with_capacity(batch.len() * t);
        for &i in batch {
            let seq = &prepared[i].ids;
            ids.extend_from_slice(seq);
            ids.extend(std::iter::repeat_n(pad, t - seq.len()));
            mask.extend(std::iter::repeat_n(1u32, seq.len()));
            mask.extend(std::iter::repeat_n(0u32, t - seq.len()));
        }
        let ids = Tensor::from_vec(ids, (batch.len(), t), &model.device)?;
        let mask = Tensor::from_vec(mask, (batch.len(), t), &model.device)?;
        let states = net.hidden_states(&ids, &mask, &wanted)?;
        for (out, state) in outputs.iter_mut().zip(states) {
            let flat: Vec<f32> = state
                .to_dtype(candle_core::DType::F32)?
                .flatten_all()?
                .to_vec1()?;
            for (b, &i) in batch.iter().enumerate() {
                let p = &prepared[i];
                buffer.clear();
                for (pos, _) in p.keep.iter().enumerate().filter(|(_, &k)| k) {
                    let at = (b * t + pos) * hidden;
                    buffer.extend_from_slice(&flat[at..at + hidden]);
                }
                if !buffer.is_empty() {
                    out.write_rows(p.first_row, &buffer)?;
                }
            }
        }
        done.sequences_done += batch.len();
        done.tokens_done += batch.iter().map(|&i| prepared[i].ids.len()).sum::<usize>();
        progress(done);
    }
    // Publish: check every file first, then the metadata, then the vectors (a vector file under its
    // final name always has its metadata next to it).
    for out in &outputs {
        out.check_complete()?;
    }
    if let Some(w) = token_writer {
        w.commit()?;
    }
    let layers = opts
        .layers
        .iter()
        .zip(&wanted)
        .zip(outputs)
        .map(|((req, &index), out)| {
            Ok(LayerOutput {
                requested: req.0,
                index,
                shards: out.commit()?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Summary {
        sequences: prepared.len(),
        truncated_sequences: truncated,
        empty_sequences: empty,
        tokens_total,
        tokens_kept: rows,
        hidden_size: hidden,
        num_blocks,
        layers,
        tokens_file,
        forward_seconds: start.elapsed().as_secs_f64(),
    })
}

/// Marks `dir` as being written: creates it, writes the [`PARTIAL_MARKER`] and removes the manifest
/// of an earlier run, if any.
fn start_directory(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    write_atomic(
        &dir.join(PARTIAL_MARKER),
        b"lid embed is writing this folder, or was interrupted: it holds no result until \
          manifest.json appears and this file is gone.\n",
    )?;
    let old = dir.join(MANIFEST_FILE);
    match std::fs::remove_file(&old) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(&old, e)),
    }
}

/// Writes `manifest.json` into an output directory, then removes the [`PARTIAL_MARKER`]: the
/// extraction [`Summary`] plus whatever the caller records about the run (`provenance`: model,
/// corpus, selection, seeds, device, versions). Read it back with [`crate::output::read_manifest`].
///
/// # Errors
/// [`Error::Io`] naming the file.
pub fn write_manifest(
    dir: &Path,
    summary: &Summary,
    options: &ExtractOptions,
    provenance: serde_json::Value,
) -> Result<PathBuf> {
    let path = dir.join(MANIFEST_FILE);
    let manifest = Manifest {
        format: "lid-embed manifest v1".into(),
        lid_embed_version: env!("CARGO_PKG_VERSION").into(),
        complete: true,
        options: serde_json::to_value(options).map_err(|e| Error::io(&path, e.into()))?,
        summary: summary.clone(),
        provenance,
        how_to_read: "each layer's rows are the concatenation of its shards in order; row r of \
                      every layer is described by line r of tokens.jsonl"
            .into(),
    };
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| Error::io(&path, e.into()))?;
    write_atomic(&path, (text + "\n").as_bytes())?;
    let marker = dir.join(PARTIAL_MARKER);
    match std::fs::remove_file(&marker) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(&marker, e)),
    }
    Ok(path)
}
