//! The measurements of a fine-tuning-shift run kept in its folder so that `--resume` does not redo
//! them: `measurements/base.json` (the base model, written once all corpora are measured, before
//! training) and `measurements/tuned.json` (the fine-tuned model, written once it is measured).
//!
//! Each file holds the run's whole [`FinetuneSettings`], a digest of every corpus's probe token ids
//! and, per corpus, the estimate with every local value at full precision (JSON numbers read back
//! bit for bit: the workspace's serde_json has `float_roundtrip`), so a resumed run computes the
//! same comparisons as an uninterrupted one. A file written under other settings or other probe
//! sequences (a changed corpus file, another tokenizer) is refused, naming the file and the
//! settings that differ. Files are written atomically ([`RunFolder::write_bytes`]): a kill leaves
//! the file whole or absent.

use std::path::{Path, PathBuf};

use lid_train::probe::{ProbeEstimate, ProbePoint, TokenRef};
use serde::{Deserialize, Serialize};

use super::config::FinetuneSettings;
use crate::error::{Error, Result};
use crate::run::RunFolder;
use lid_train::compare::ProbeCorpus;

/// The base model's measurement, relative to the run folder.
pub const BASE_FILE: &str = "measurements/base.json";
/// The fine-tuned model's measurement, relative to the run folder.
pub const TUNED_FILE: &str = "measurements/tuned.json";

#[derive(Serialize, Deserialize)]
struct StoredCorpus {
    corpus: String,
    /// FNV-1a of the probe sequences' token ids (see [`tokens_digest`]).
    tokens_digest: String,
    point: ProbePoint,
    local: Vec<f64>,
    /// `[sequence, position, token id]` of every point.
    tokens: Vec<[u32; 3]>,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    settings: serde_json::Value,
    corpora: Vec<StoredCorpus>,
}

/// A stable digest of the probe's token ids: the same corpus texts through the same tokenizer.
fn tokens_digest(probe: &ProbeCorpus) -> String {
    // FNV-1a, 64 bit: a check against resuming with other data, not a security measure.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |v: u64| {
        for b in v.to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    eat(probe.sequences.len() as u64);
    for s in &probe.sequences {
        eat(s.ids.len() as u64);
        s.ids.iter().for_each(|&id| eat(u64::from(id)));
    }
    format!("{h:016x}")
}

/// Writes `estimates` (one per probe corpus, in order) to `name` in the folder.
///
/// # Errors
/// Serialisation (a non-finite value) or I/O failures.
pub fn write(
    folder: &RunFolder,
    name: &str,
    settings: &FinetuneSettings,
    probes: &[ProbeCorpus],
    estimates: &[ProbeEstimate],
) -> Result<PathBuf> {
    let path = folder.path().join(name);
    let stored = Stored {
        settings: serde_json::to_value(settings).map_err(|e| Error::json(&path, e))?,
        corpora: probes
            .iter()
            .zip(estimates)
            .map(|(p, e)| StoredCorpus {
                corpus: p.name.clone(),
                tokens_digest: tokens_digest(p),
                point: e.point.clone(),
                local: e.local.clone(),
                tokens: e
                    .tokens
                    .iter()
                    .map(|t| [t.sequence, t.position, t.id])
                    .collect(),
            })
            .collect(),
    };
    // Compact: at the cpu preset the points of three corpora are tens of thousands each.
    let mut bytes = serde_json::to_vec(&stored).map_err(|e| Error::json(&path, e))?;
    bytes.push(b'\n');
    folder.write_bytes(name, &bytes)
}

/// Reads `name` from the folder when it exists: the estimates in probe order, or an error when it
/// was written under other settings or for other probe sequences.
///
/// # Errors
/// An unreadable or malformed file; a file of other settings or probes, named with what differs.
pub fn read(
    folder: &Path,
    name: &str,
    settings: &FinetuneSettings,
    probes: &[ProbeCorpus],
) -> Result<Option<Vec<ProbeEstimate>>> {
    let path = folder.join(name);
    if !path.is_file() {
        return Ok(None);
    }
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let stored: Stored = serde_json::from_slice(&bytes).map_err(|e| Error::Format {
        action: "parse",
        path: path.clone(),
        message: e.to_string(),
    })?;
    let want = serde_json::to_value(settings).map_err(|e| Error::json(&path, e))?;
    if stored.settings != want {
        let differ: Vec<String> = match (stored.settings.as_object(), want.as_object()) {
            (Some(a), Some(b)) => b
                .keys()
                .chain(a.keys().filter(|k| !b.contains_key(*k)))
                .filter(|k| a.get(*k) != b.get(*k))
                .cloned()
                .collect(),
            _ => Vec::new(),
        };
        return Err(Error::Check(format!(
            "{} was written by a run with other settings ({}); resume with the flags of that run, or give another --out",
            path.display(),
            differ.join(", ")
        )));
    }
    let names: Vec<&str> = stored.corpora.iter().map(|c| c.corpus.as_str()).collect();
    let expected: Vec<&str> = probes.iter().map(|p| p.name.as_str()).collect();
    if names != expected {
        return Err(Error::Check(format!(
            "{} holds the corpora {names:?}, this run measures {expected:?}",
            path.display()
        )));
    }
    let mut out = Vec::with_capacity(probes.len());
    for (c, p) in stored.corpora.into_iter().zip(probes) {
        if c.tokens_digest != tokens_digest(p) {
            return Err(Error::Check(format!(
                "{} was measured on other {} probe sequences (the corpus file or the tokenizer changed); give another --out",
                path.display(),
                p.name
            )));
        }
        if c.local.len() != c.tokens.len() {
            return Err(Error::Format {
                action: "parse",
                path: path.clone(),
                message: format!(
                    "{}: {} local values for {} tokens",
                    c.corpus,
                    c.local.len(),
                    c.tokens.len()
                ),
            });
        }
        let outside = c.tokens.iter().find(|[sequence, position, _]| {
            p.sequences
                .get(*sequence as usize)
                .is_none_or(|s| *position as usize >= s.ids.len())
        });
        if let Some([sequence, position, _]) = outside {
            return Err(Error::Format {
                action: "parse",
                path: path.clone(),
                message: format!(
                    "{}: position {position} of sequence {sequence} is not in the probe",
                    c.corpus
                ),
            });
        }
        out.push(ProbeEstimate {
            point: c.point,
            local: c.local,
            tokens: c
                .tokens
                .into_iter()
                .map(|[sequence, position, id]| TokenRef {
                    sequence,
                    position,
                    id,
                })
                .collect(),
        });
    }
    Ok(Some(out))
}
