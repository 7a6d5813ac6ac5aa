//! Streaming output: 2-D little-endian f32 `.npy` files written in place at known row offsets, split
//! into shards of at most `shard_rows` rows, plus the per-token JSONL metadata, the manifest of an
//! output directory, and the readers of both.
//!
//! The row count of every sequence is known after tokenisation (the filter depends on token ids
//! only), so each file is created at its final size with a complete header, and each batch's rows are
//! written straight to their place in corpus order. Memory stays bounded by one batch, the rows come
//! out in corpus order although batches are grouped by length, and a written file never holds
//! padding. A file counts the rows written and [`NpyShards::commit`] fails unless their number equals
//! the rows it holds (the extractor writes each row once).
//!
//! Complete or absent: every file is written under a temporary name and renamed when complete
//! ([`atomic`], the workspace's one helper for this), so a failed or killed extraction leaves no
//! `.npy` that could be read as a result. An output directory carries a [`PARTIAL_MARKER`] file from
//! the start of an extraction until its [`MANIFEST_FILE`] is written; [`read_manifest`] refuses a
//! directory with the marker or without a manifest.

pub mod atomic;
pub mod lock;

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::extract::{LayerOutput, Summary};
use atomic::AtomicFile;

/// Name of the manifest of an output directory, written last.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Name of the marker file that sits in an output directory while it is being written (and stays
/// when the extraction fails or is killed).
pub const PARTIAL_MARKER: &str = "PARTIAL";

/// Name of the checkpoint of a directory output (how many batches are done; see
/// `crate::extract`), removed with the [`PARTIAL_MARKER`] when the manifest is written.
pub const PROGRESS_FILE: &str = "progress.json";

/// Builds the header of a C-order 2-D `<f4` `.npy` file (format version 1.0), padded to 64 bytes.
pub fn npy_header(rows: usize, cols: usize) -> Vec<u8> {
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    let unpadded = 10 + dict.len() + 1;
    let total = unpadded.div_ceil(64) * 64;
    let mut header = Vec::with_capacity(total);
    header.extend_from_slice(b"\x93NUMPY\x01\x00");
    header.extend_from_slice(&((total - 10) as u16).to_le_bytes());
    header.extend_from_slice(dict.as_bytes());
    header.resize(total - 1, b' ');
    header.push(b'\n');
    header
}

/// One `.npy` file of `rows x cols` f32, written at row offsets under a temporary name.
struct NpyFile {
    path: PathBuf,
    file: AtomicFile,
    header_len: u64,
    rows: usize,
    cols: usize,
    written: usize,
}

/// How the files of an output are opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// A new temporary file per file, removed when dropped without commit.
    Fresh,
    /// A new (truncated) resumable temporary file ([`AtomicFile::create_resumable`]), kept when
    /// the run is interrupted.
    Resumable,
    /// The resumable temporary file of an interrupted run, reopened with its contents; its header
    /// and size are checked.
    Reopen,
}

impl NpyFile {
    fn create(path: &Path, rows: usize, cols: usize) -> Result<Self> {
        Self::open(path, rows, cols, OpenMode::Fresh)
    }

    fn open(path: &Path, rows: usize, cols: usize, mode: OpenMode) -> Result<Self> {
        let header = npy_header(rows, cols);
        let size = header.len() as u64 + (rows * cols * 4) as u64;
        if mode == OpenMode::Reopen {
            let mut file = AtomicFile::reopen_resumable(path)?;
            let mut found = vec![0u8; header.len()];
            let len = file.temporary_len()?;
            if len != size {
                return Err(Error::Parse {
                    path: file.temporary().to_path_buf(),
                    message: format!(
                        "cannot resume: the interrupted file has {len} bytes, {size} expected for \
                         {rows} x {cols} rows"
                    ),
                });
            }
            file.read_at(0, &mut found)?;
            if found != header {
                return Err(Error::Parse {
                    path: file.temporary().to_path_buf(),
                    message: format!(
                        "cannot resume: the interrupted file's header is not the one of a \
                         {rows} x {cols} f32 array"
                    ),
                });
            }
            return Ok(Self {
                path: path.to_path_buf(),
                file,
                header_len: header.len() as u64,
                rows,
                cols,
                written: 0,
            });
        }
        let mut file = match mode {
            OpenMode::Resumable => AtomicFile::create_resumable(path)?,
            _ => AtomicFile::create(path)?,
        };
        file.write_all(&header).map_err(|e| Error::io(path, e))?;
        file.set_len(size)?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            header_len: header.len() as u64,
            rows,
            cols,
            written: 0,
        })
    }

    fn write_rows(&mut self, first_row: usize, data: &[f32]) -> Result<()> {
        let n = data.len() / self.cols;
        debug_assert_eq!(n * self.cols, data.len());
        if first_row + n > self.rows {
            return Err(Error::InvalidOption {
                option: "output",
                reason: format!(
                    "row {} beyond the {} rows of {}",
                    first_row + n,
                    self.rows,
                    self.path.display()
                ),
            });
        }
        let offset = self.header_len + (first_row * self.cols * 4) as u64;
        self.file
            .seek(SeekFrom::Start(offset))
            .map_err(|e| Error::io(&self.path, e))?;
        let mut bytes = Vec::with_capacity(data.len() * 4);
        for v in data {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        self.file
            .write_all(&bytes)
            .map_err(|e| Error::io(&self.path, e))?;
        self.written += n;
        Ok(())
    }

    /// Counts rows as written by an earlier, interrupted run (on resume).
    fn mark_written(&mut self, n: usize) {
        self.written += n;
    }

    fn check_complete(&self) -> Result<()> {
        if self.written != self.rows {
            return Err(Error::InvalidOption {
                option: "output",
                reason: format!(
                    "{} has {} of {} rows written",
                    self.path.display(),
                    self.written,
                    self.rows
                ),
            });
        }
        Ok(())
    }
}

/// Description of one written shard, for the manifest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ShardInfo {
    /// File name relative to the output directory.
    pub file: String,
    /// Rows in this shard.
    pub rows: usize,
}

/// The rows of one layer, split into shard files of at most `shard_rows` rows each; nothing appears
/// under the final names before [`NpyShards::commit`].
pub struct NpyShards {
    shards: Vec<(NpyFile, usize, String)>, // (file, first global row, relative name)
    shard_rows: usize,
    cols: usize,
}

impl NpyShards {
    /// A single `.npy` file holding all `rows` (its folder must exist).
    ///
    /// # Errors
    /// [`Error::Io`] when the temporary file cannot be created.
    pub fn single(path: &Path, rows: usize, cols: usize) -> Result<Self> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Self {
            shards: vec![(NpyFile::create(path, rows, cols)?, 0, name)],
            shard_rows: rows.max(1),
            cols,
        })
    }

    /// Shards `dir/shard_00000.npy`, ... of at most `shard_rows` rows (`dir` is created);
    /// `relative` is the directory's name relative to the output root, recorded in
    /// [`ShardInfo::file`].
    ///
    /// # Errors
    /// [`Error::InvalidOption`] for `shard_rows == 0`; [`Error::Io`] when a file cannot be created.
    pub fn sharded(
        dir: &Path,
        relative: &str,
        rows: usize,
        cols: usize,
        shard_rows: usize,
    ) -> Result<Self> {
        Self::sharded_with(dir, relative, rows, cols, shard_rows, OpenMode::Fresh)
    }

    /// As [`NpyShards::sharded`], with the files opened as `mode` says (resumable files for an
    /// extraction that can be continued after a kill; [`OpenMode::Reopen`] to continue one).
    ///
    /// # Errors
    /// As [`NpyShards::sharded`]; with [`OpenMode::Reopen`], a missing temporary file or one whose
    /// size or header does not match.
    pub fn sharded_with(
        dir: &Path,
        relative: &str,
        rows: usize,
        cols: usize,
        shard_rows: usize,
        mode: OpenMode,
    ) -> Result<Self> {
        if shard_rows == 0 {
            return Err(Error::InvalidOption {
                option: "shard-rows",
                reason: "must be at least 1".into(),
            });
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let count = rows.div_ceil(shard_rows).max(1);
        let mut shards = Vec::with_capacity(count);
        for s in 0..count {
            let first = s * shard_rows;
            let n = shard_rows.min(rows - first.min(rows));
            let name = format!("shard_{s:05}.npy");
            let file = NpyFile::open(&dir.join(&name), n, cols, mode)?;
            shards.push((file, first, format!("{relative}/{name}")));
        }
        Ok(Self {
            shards,
            shard_rows,
            cols,
        })
    }

    /// Writes consecutive rows starting at global row `first_row`.
    pub fn write_rows(&mut self, first_row: usize, data: &[f32]) -> Result<()> {
        let mut row = first_row;
        let mut rest = data;
        while !rest.is_empty() {
            let shard = row / self.shard_rows;
            let (file, start, _) =
                self.shards
                    .get_mut(shard)
                    .ok_or_else(|| Error::InvalidOption {
                        option: "output",
                        reason: format!("row {row} beyond the output"),
                    })?;
            let local = row - *start;
            let n = (file.rows - local).min(rest.len() / self.cols);
            file.write_rows(local, &rest[..n * self.cols])?;
            rest = &rest[n * self.cols..];
            row += n;
        }
        Ok(())
    }

    /// Counts the consecutive rows from global row `first_row` on as written by an interrupted
    /// run (on resume; nothing is written).
    pub fn mark_written(&mut self, first_row: usize, n: usize) {
        let mut row = first_row;
        let end = first_row + n;
        while row < end {
            let shard = row / self.shard_rows;
            let Some((file, start, _)) = self.shards.get_mut(shard) else {
                return;
            };
            let take = (*start + file.rows).min(end) - row;
            file.mark_written(take);
            row += take;
        }
    }

    /// Flushes and syncs every shard to disk (under their temporary names), so that the rows
    /// written so far survive a kill.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn sync(&mut self) -> Result<()> {
        self.shards
            .iter_mut()
            .try_for_each(|(f, _, _)| f.file.sync())
    }

    /// Checks that every row of every shard was written.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming the first incomplete file.
    pub fn check_complete(&self) -> Result<()> {
        self.shards
            .iter()
            .try_for_each(|(f, _, _)| f.check_complete())
    }

    /// Checks every row was written, then syncs and renames every shard to its final name, in
    /// order; describes the shards. On an error nothing more is renamed and the remaining
    /// temporary files are removed.
    ///
    /// # Errors
    /// As [`NpyShards::check_complete`], or [`Error::Io`].
    pub fn commit(self) -> Result<Vec<ShardInfo>> {
        self.check_complete()?;
        let mut infos = Vec::with_capacity(self.shards.len());
        for (file, _, name) in self.shards {
            let rows = file.rows;
            file.file.commit()?;
            infos.push(ShardInfo { file: name, rows });
        }
        Ok(infos)
    }
}

/// One row of per-token metadata.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenRecord {
    /// Sequence id: index among the corpus's non-empty sequences.
    pub sequence: usize,
    /// Position of the token in the tokenised sequence (special tokens included, 0-based).
    pub position: usize,
    /// Token id.
    pub token_id: u32,
    /// Token string as the vocabulary spells it.
    pub token: String,
}

/// Writes [`TokenRecord`]s as JSON lines, under a temporary name until [`TokenWriter::commit`].
pub struct TokenWriter {
    path: PathBuf,
    out: AtomicFile,
    rows: usize,
}

impl TokenWriter {
    /// Starts the file (its folder must exist; an existing file is replaced at commit).
    ///
    /// # Errors
    /// [`Error::Io`] when the temporary file cannot be created.
    pub fn create(path: &Path) -> Result<Self> {
        Ok(Self {
            path: path.to_path_buf(),
            out: AtomicFile::create(path)?,
            rows: 0,
        })
    }

    /// Starts the file under the fixed temporary name of a resumable output (truncating what an
    /// interrupted run left; the metadata are cheap to write again).
    ///
    /// # Errors
    /// [`Error::Io`] when the temporary file cannot be created.
    pub fn create_resumable(path: &Path) -> Result<Self> {
        Ok(Self {
            path: path.to_path_buf(),
            out: AtomicFile::create_resumable(path)?,
            rows: 0,
        })
    }

    /// Appends one record.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn write(&mut self, record: &TokenRecord) -> Result<()> {
        serde_json::to_writer(&mut self.out, record)
            .map_err(|e| Error::io(&self.path, e.into()))?;
        self.out
            .write_all(b"\n")
            .map_err(|e| Error::io(&self.path, e))?;
        self.rows += 1;
        Ok(())
    }

    /// Records written so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Syncs and renames the file to its final name; returns the number of records.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn commit(self) -> Result<usize> {
        self.out.commit()?;
        Ok(self.rows)
    }
}

/// Reads a 2-D little-endian f32 C-order `.npy` file (as written here): `(rows, cols, data)`.
pub fn read_npy_f32(path: &Path) -> Result<(usize, usize, Vec<f32>)> {
    let bad = |message: String| Error::Parse {
        path: path.to_path_buf(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("not a .npy file".into()));
    }
    let (header_start, header_len) = match bytes[6] {
        1 => (10, u16::from_le_bytes([bytes[8], bytes[9]]) as usize),
        2 | 3 if bytes.len() >= 12 => (
            12,
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
        ),
        v => return Err(bad(format!("unsupported .npy version {v}"))),
    };
    let data_start = header_start + header_len;
    let header = bytes
        .get(header_start..data_start)
        .map(|h| String::from_utf8_lossy(h).into_owned())
        .ok_or_else(|| bad("truncated header".into()))?;
    if !header.contains("'descr': '<f4'") || !header.contains("'fortran_order': False") {
        return Err(bad(format!(
            "expected little-endian f32 in C order, header is {header}"
        )));
    }
    let shape = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| bad("no shape in header".into()))?;
    let dims: Vec<usize> = shape
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| bad(format!("bad shape {shape:?}: {e}")))?;
    let [rows, cols] = dims[..] else {
        return Err(bad(format!("expected a 2-D array, shape is ({shape})")));
    };
    let payload = &bytes[data_start..];
    if payload.len() != rows * cols * 4 {
        return Err(bad(format!(
            "{} data bytes for shape ({rows}, {cols})",
            payload.len()
        )));
    }
    let data = payload
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok((rows, cols, data))
}

/// The `manifest.json` of a `lid embed` output directory, as written by
/// [`crate::extract::write_manifest`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    /// Format name and version (`"lid-embed manifest v1"`).
    pub format: String,
    /// Version of `lid-embed` that wrote it.
    pub lid_embed_version: String,
    /// Always `true` in a manifest that was written (kept for readers of older folders).
    pub complete: bool,
    /// The extraction options (layers, max length, batch size, filter).
    pub options: serde_json::Value,
    /// What the extraction produced, with the shards of every layer.
    pub summary: Summary,
    /// What the caller recorded about the run (model, corpus, selection, device).
    pub provenance: serde_json::Value,
    /// How to read the folder, in words.
    #[serde(default)]
    pub how_to_read: String,
}

impl Manifest {
    /// The stored layer matching `layer` (the index as requested, e.g. `-1`, or the absolute
    /// index); `None` picks the only layer.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] for `layer` when it is not stored or when `None` is given and
    /// several layers are stored; the message lists the stored layers.
    pub fn layer(&self, layer: Option<i64>) -> Result<&LayerOutput> {
        let layers = &self.summary.layers;
        let stored = || {
            layers
                .iter()
                .map(|o| format!("{} (index {})", o.requested, o.index))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match layer {
            None if layers.len() == 1 => Ok(&layers[0]),
            None => Err(Error::InvalidOption {
                option: "layer",
                reason: format!(
                    "{} layers are stored ({}); choose one with --layer",
                    layers.len(),
                    stored()
                ),
            }),
            Some(l) => layers
                .iter()
                .find(|o| o.requested == l)
                .or_else(|| layers.iter().find(|o| o.index as i64 == l))
                .ok_or_else(|| Error::InvalidOption {
                    option: "layer",
                    reason: format!("layer {l} is not stored (stored: {})", stored()),
                }),
        }
    }
}

/// Reads the manifest of a `lid embed` output directory.
///
/// # Errors
/// [`Error::Parse`] naming the directory when it carries the [`PARTIAL_MARKER`] (an extraction that
/// failed, was killed or is still running) or has no manifest (not a finished `lid embed` output),
/// or when the manifest is malformed or not marked complete.
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let incomplete = |message: String| Error::Parse {
        path: dir.to_path_buf(),
        message,
    };
    if dir.join(PARTIAL_MARKER).exists() {
        return Err(incomplete(format!(
            "incomplete lid embed output: it holds the {PARTIAL_MARKER} marker (the extraction \
             failed, was interrupted or is still running); continue it with `lid embed --resume` \
             and the same flags and --out, or run lid embed into a new folder"
        )));
    }
    let path = dir.join(MANIFEST_FILE);
    if !path.is_file() {
        return Err(incomplete(format!(
            "no {MANIFEST_FILE}: not a finished lid embed output directory"
        )));
    }
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| Error::Parse {
        path: path.clone(),
        message: e.to_string(),
    })?;
    if !manifest.complete {
        return Err(Error::Parse {
            path,
            message: "the extraction did not complete".into(),
        });
    }
    Ok(manifest)
}

/// Reads one layer of a `lid embed` output directory: its shards concatenated in order, as
/// `(rows, cols, data)`. `layer` as in [`Manifest::layer`].
///
/// # Errors
/// As [`read_manifest`] and [`Manifest::layer`]; a shard that is unreadable or whose width differs
/// from the first shard's.
pub fn read_layer(dir: &Path, layer: Option<i64>) -> Result<(usize, usize, Vec<f32>)> {
    let manifest = read_manifest(dir)?;
    read_manifest_layer(dir, manifest.layer(layer)?)
}

/// Reads the shards of `layer` (from the manifest of `dir`), concatenated in order, as `(rows,
/// cols, data)`.
///
/// # Errors
/// As [`read_layer`].
pub fn read_manifest_layer(dir: &Path, layer: &LayerOutput) -> Result<(usize, usize, Vec<f32>)> {
    let (mut rows, mut cols, mut data) = (0, 0, Vec::new());
    for (i, shard) in layer.shards.iter().enumerate() {
        let path = dir.join(&shard.file);
        let (r, c, d) = read_npy_f32(&path)?;
        if i > 0 && c != cols {
            return Err(Error::Parse {
                path,
                message: format!("{c} columns, but the layer's first shard has {cols}"),
            });
        }
        if r != shard.rows {
            return Err(Error::Parse {
                path,
                message: format!("{r} rows, but the manifest lists {}", shard.rows),
            });
        }
        rows += r;
        cols = c;
        data.extend(d);
    }
    Ok((rows, cols, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_npy(path: &Path) -> (Vec<u8>, Vec<f32>) {
        let bytes = std::fs::read(path).unwrap();
        let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize + 10;
        let data = bytes[hlen..]
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        (bytes[..hlen].to_vec(), data)
    }

    #[test]
    fn shards_are_written_in_place_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let mut shards = NpyShards::sharded(&dir.path().join("l"), "l", 5, 2, 2).unwrap();
        shards.write_rows(3, &[6.0, 7.0, 8.0, 9.0]).unwrap();
        shards
            .write_rows(0, &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
            .unwrap();
        let infos = shards.commit().unwrap();
        assert_eq!(
            infos.iter().map(|s| s.rows).collect::<Vec<_>>(),
            vec![2, 2, 1]
        );
        let (header, data) = read_npy(&dir.path().join("l/shard_00001.npy"));
        assert_eq!(header.len() % 64, 0);
        assert!(String::from_utf8_lossy(&header).contains("'shape': (2, 2)"));
        assert_eq!(data, vec![4.0, 5.0, 6.0, 7.0]);

        let mut incomplete = NpyShards::single(&dir.path().join("x.npy"), 3, 1).unwrap();
        incomplete.write_rows(0, &[1.0]).unwrap();
        assert!(incomplete.commit().is_err());
        // The failed file left nothing: no x.npy, no temporary file.
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, vec!["l".to_string()]);
    }

    #[test]
    fn shards_are_invisible_until_committed() {
        let dir = tempfile::tempdir().unwrap();
        let mut shards = NpyShards::sharded(&dir.path().join("l"), "l", 4, 1, 2).unwrap();
        shards.write_rows(0, &[0.0, 1.0, 2.0, 3.0]).unwrap();
        let npy = |d: &Path| {
            std::fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".npy"))
                .count()
        };
        assert_eq!(npy(&dir.path().join("l")), 0, "no .npy before commit");
        shards.commit().unwrap();
        assert_eq!(npy(&dir.path().join("l")), 2);
    }

    #[test]
    fn manifests_of_incomplete_directories_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_manifest(dir.path()).unwrap_err().to_string();
        assert!(err.contains("no manifest.json"), "{err}");
        std::fs::write(dir.path().join(MANIFEST_FILE), "{}").unwrap();
        std::fs::write(dir.path().join(PARTIAL_MARKER), "").unwrap();
        let err = read_manifest(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("incomplete") && err.contains("PARTIAL") && err.contains("--resume"),
            "{err}"
        );
    }
}
