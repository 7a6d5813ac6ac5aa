//! The extraction pipeline: tokenise, group by length into batches, run the model, keep the wanted
//! tokens of the wanted layers, and stream them to `.npy` in corpus order.
//!
//! Steps (paper settings in parentheses, docs/method.md steps 2-3): tokenise with truncation to
//! `max_length` (paper: 512); sort sequences by length and cut batches of `batch_size` (default 32; padding on the
//! right, attention mask 0 on padding); forward in f32; for each kept position (see [`TokenFilter`];
//! paper: drop pad and eos, keep bos) write the vector of each requested layer (paper: `-1`) at its row.
//! Rows are in the order the texts are given (sequence, then position); padding is never stored.
//!
//! # Resuming a directory output
//! A directory output is written to resumable temporary files ([`AtomicFile::create_resumable`]
//! names) and, after the first batch and then at most once a second, checkpointed: every shard is
//! synced to disk and `progress.json` ([`PROGRESS_FILE`]) records how many batches of the plan are
//! done, with a fingerprint of everything that decides the rows (options, shard size, model shape
//! and path, every token id and kept position, sequence ids). With
//! [`OutputTarget::Directory::resume`], an interrupted extraction into the same folder checks the
//! fingerprint, reopens the shards and skips the batches done; the batches are the same (the plan
//! depends only on the token ids and the batch size) and each batch's vectors depend only on its
//! own sequences, so the shards of a resumed run are byte-identical to those of an uninterrupted
//! one (tested in `lid-experiments/tests/resume_embed.rs`). A vector that is NaN or infinite is an
//! error naming the sequence, token position and layer, never a row on disk.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::Tensor;

use crate::error::{Error, Result};
use crate::filter::TokenFilter;
use crate::load::LoadedModel;
use crate::models::LayerIndex;
use crate::output::atomic::write_atomic;
#[cfg(doc)]
use crate::output::atomic::AtomicFile;
use crate::output::{
    Manifest, NpyShards, OpenMode, ShardInfo, TokenRecord, TokenWriter, MANIFEST_FILE,
    PARTIAL_MARKER, PROGRESS_FILE,
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
    /// killed extraction never looks complete. The extraction is checkpointed (see the module
    /// docs) and can be resumed.
    Directory {
        /// The output directory (created if needed).
        dir: PathBuf,
        /// Maximum rows per shard file.
        shard_rows: usize,
        /// Continue the interrupted extraction of this folder from its last checkpoint (the
        /// settings, corpus selection and model must be the same; checked by fingerprint). Without
        /// a checkpoint the extraction starts from the beginning.
        resume: bool,
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
    /// Batches taken over from an interrupted run (resumed directory output); 0 otherwise.
    #[serde(default)]
    pub batches_resumed: usize,
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
    id: usize,
    ids: Vec<u32>,
    keep: Vec<bool>,
    first_row: usize,
}

impl Prepared {
    fn kept(&self) -> usize {
        self.keep.iter().filter(|&&k| k).count()
    }
}

/// The checkpoint of a directory output ([`PROGRESS_FILE`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Journal {
    format: String,
    /// Hex FNV-1a 64 of everything that decides the rows (see [`fingerprint`]).
    fingerprint: String,
    batches_total: usize,
    batches_done: usize,
    rows_total: usize,
}

const JOURNAL_FORMAT: &str = "lid-embed progress v1";

/// Seconds between checkpoints of a directory output (the first comes after the first batch).
const CHECKPOINT_SECONDS: f64 = 1.0;

/// FNV-1a, 64 bits: a fixed, dependency-free hash for the resume fingerprint (not for security).
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn usize(&mut self, v: usize) {
        self.bytes(&(v as u64).to_le_bytes());
    }
}

/// The fingerprint of an extraction plan: options, shard size, model path and shape, layers, and
/// every sequence's id, token ids and kept positions.
fn fingerprint(
    model: &LoadedModel,
    opts: &ExtractOptions,
    shard_rows: usize,
    wanted: &[usize],
    prepared: &[Prepared],
) -> Result<String> {
    let mut h = Fnv::new();
    let options = serde_json::to_string(opts).map_err(|e| Error::InvalidOption {
        option: "output",
        reason: format!("cannot serialise the options: {e}"),
    })?;
    h.bytes(options.as_bytes());
    h.usize(shard_rows);
    h.bytes(model.path.to_string_lossy().as_bytes());
    h.bytes(format!("{:?}", model.architecture).as_bytes());
    h.usize(model.model.hidden_size());
    h.usize(model.model.num_blocks());
    wanted.iter().for_each(|&w| h.usize(w));
    h.usize(prepared.len());
    for p in prepared {
        h.usize(p.id);
        h.usize(p.ids.len());
        p.ids.iter().for_each(|&t| h.bytes(&t.to_le_bytes()));
        p.keep.iter().for_each(|&k| h.bytes(&[u8::from(k)]));
    }
    Ok(format!("{:016x}", h.0))
}

/// The batches done by an interrupted run of `dir` with the same plan (0 without a checkpoint).
fn read_journal(dir: &Path, fingerprint: &str, batches_total: usize) -> Result<usize> {
    let path = dir.join(PROGRESS_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let journal: Journal = serde_json::from_str(&text).map_err(|e| Error::Parse {
        path: path.clone(),
        message: format!("not a lid embed progress file: {e}"),
    })?;
    if journal.format != JOURNAL_FORMAT {
        return Err(Error::Parse {
            path,
            message: format!("format {:?}, expected {JOURNAL_FORMAT:?}", journal.format),
        });
    }
    if journal.fingerprint != fingerprint || journal.batches_total != batches_total {
        return Err(Error::InvalidOption {
            option: "resume",
            reason: format!(
                "{} was started with other settings, another corpus selection or another model \
                 (fingerprint {} there, {fingerprint} now); rerun with the original flags, or \
                 start a new output folder",
                dir.display(),
                journal.fingerprint
            ),
        });
    }
    if journal.batches_done > batches_total {
        return Err(Error::Parse {
            path,
            message: format!(
                "{} of {batches_total} batches done is impossible",
                journal.batches_done
            ),
        });
    }
    Ok(journal.batches_done)
}

fn write_journal(dir: &Path, journal: &Journal) -> Result<()> {
    let path = dir.join(PROGRESS_FILE);
    let text = serde_json::to_string_pretty(journal).map_err(|e| Error::io(&path, e.into()))?;
    write_atomic(&path, (text + "\n").as_bytes())?;
    Ok(())
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

    if let OutputTarget::Directory { dir, resume, .. } = target {
        start_directory(dir, *resume)?;
    }
    let directory = matches!(target, OutputTarget::Directory { .. });

    // Pass 1: tokenise, decide the kept rows, write the metadata in corpus order.
    let mut token_writer = match &tokens_path {
        Some(path) if directory => Some(TokenWriter::create_resumable(path)?),
        Some(path) => Some(TokenWriter::create(path)?),
        None => None,
    };
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
            let p = Prepared {
                id: seq.id,
                ids: enc.ids,
                keep,
                first_row: rows,
            };
            rows += p.kept();
            prepared.push(p);
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

    // The plan: batches grouped by length (it depends only on the token ids and the batch size).
    let mut order: Vec<usize> = (0..prepared.len()).collect();
    order.sort_by_key(|&i| (prepared[i].ids.len(), i));
    let batches: Vec<&[usize]> = order.chunks(opts.batch_size).collect();

    // Resume point and output files at their final size.
    let (resume_from, journal) = match target {
        OutputTarget::Directory {
            dir,
            shard_rows,
            resume,
        } => {
            let journal = Journal {
                format: JOURNAL_FORMAT.to_string(),
                fingerprint: fingerprint(model, opts, *shard_rows, &wanted, &prepared)?,
                batches_total: batches.len(),
                batches_done: 0,
                rows_total: rows,
            };
            let done = if *resume {
                read_journal(dir, &journal.fingerprint, batches.len())?
            } else {
                0
            };
            (done, Some(journal))
        }
        OutputTarget::NpyFile { .. } => (0, None),
    };
    let mut outputs: Vec<NpyShards> = match target {
        OutputTarget::NpyFile { path, .. } => vec![NpyShards::single(path, rows, hidden)?],
        OutputTarget::Directory {
            dir, shard_rows, ..
        } => {
            let mode = if resume_from > 0 {
                OpenMode::Reopen
            } else {
                OpenMode::Resumable
            };
            wanted
                .iter()
                .map(|&w| {
                    let rel = format!("layer_{w}");
                    NpyShards::sharded_with(&dir.join(&rel), &rel, rows, hidden, *shard_rows, mode)
                })
                .collect::<Result<_>>()?
        }
    };

    // Pass 2: the batches, from the resume point on.
    let start = Instant::now();
    let pad = model.padding_id();
    let mut done = Progress {
        sequences_done: 0,
        sequences_total: prepared.len(),
        tokens_done: 0,
    };
    if resume_from > 0 {
        for &i in batches[..resume_from].iter().copied().flatten() {
            let p = &prepared[i];
            for out in outputs.iter_mut() {
                out.mark_written(p.first_row, p.kept());
            }
            done.sequences_done += 1;
            done.tokens_done += p.ids.len();
        }
        progress(done);
    }
    let mut last_checkpoint: Option<Instant> = None;
    let mut buffer: Vec<f32> = Vec::new();
    for (b, batch) in batches.iter().enumerate().skip(resume_from) {
        let t = batch
            .iter()
            .map(|&i| prepared[i].ids.len())
            .max()
            .unwrap_or(0);
        let mut ids = Vec::with_capacity(batch.len() * t);
        let mut mask = Vec::with_capacity(batch.len() * t);
        for &i in batch.iter() {
            let seq = &prepared[i].ids;
            ids.extend_from_slice(seq);
            ids.extend(std::iter::repeat_n(pad, t - seq.len()));
            mask.extend(std::iter::repeat_n(1u32, seq.len()));
            mask.extend(std::iter::repeat_n(0u32, t - seq.len()));
        }
        let ids = Tensor::from_vec(ids, (batch.len(), t), &model.device)?;
        let mask = Tensor::from_vec(mask, (batch.len(), t), &model.device)?;
        let states = net.hidden_states(&ids, &mask, &wanted)?;
        for ((out, state), &layer) in outputs.iter_mut().zip(states).zip(&wanted) {
            let flat: Vec<f32> = state
                .to_dtype(candle_core::DType::F32)?
                .flatten_all()?
                .to_vec1()?;
            for (slot, &i) in batch.iter().enumerate() {
                let p = &prepared[i];
                buffer.clear();
                for (pos, _) in p.keep.iter().enumerate().filter(|(_, &k)| k) {
                    let at = (slot * t + pos) * hidden;
                    let row = &flat[at..at + hidden];
                    if let Some(value) = row.iter().find(|v| !v.is_finite()) {
                        return Err(Error::NonFiniteOutput {
                            layer,
                            sequence: p.id,
                            position: pos,
                            value: *value,
                        });
                    }
                    buffer.extend_from_slice(row);
                }
                if !buffer.is_empty() {
                    out.write_rows(p.first_row, &buffer)?;
                }
            }
        }
        done.sequences_done += batch.len();
        done.tokens_done += batch.iter().map(|&i| prepared[i].ids.len()).sum::<usize>();
        progress(done);
        if let (OutputTarget::Directory { dir, .. }, Some(journal)) = (target, &journal) {
            let due =
                last_checkpoint.is_none_or(|at| at.elapsed().as_secs_f64() >= CHECKPOINT_SECONDS);
            if due && b + 1 < batches.len() {
                for out in outputs.iter_mut() {
                    out.sync()?;
                }
                write_journal(
                    dir,
                    &Journal {
                        batches_done: b + 1,
                        ..journal.clone()
                    },
                )?;
                last_checkpoint = Some(Instant::now());
            }
        }
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
        batches_resumed: resume_from,
    })
}

/// Marks `dir` as being written: creates it, writes the [`PARTIAL_MARKER`] and removes the manifest
/// of an earlier run, if any; a fresh start (not `resume`) also removes the checkpoint of an
/// interrupted run.
fn start_directory(dir: &Path, resume: bool) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    write_atomic(
        &dir.join(PARTIAL_MARKER),
        b"lid embed is writing this folder, or was interrupted: it holds no result until \
          manifest.json appears and this file is gone. Continue an interrupted extraction with \
          lid embed --resume and the same flags.\n",
    )?;
    remove_if_present(&dir.join(MANIFEST_FILE))?;
    if !resume {
        remove_if_present(&dir.join(PROGRESS_FILE))?;
    } else {
        // Temporary files of the killed run (its token metadata, a checkpoint being written).
        crate::output::atomic::remove_stale_partials(dir, 2)?;
    }
    Ok(())
}

fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
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
    remove_if_present(&dir.join(PROGRESS_FILE))?;
    remove_if_present(&dir.join(PARTIAL_MARKER))?;
    Ok(path)
}
