//! One unit of a checkpoint-series sweep: the mean local LID of one checkpoint (seed x step) on
//! the sampled texts of one split, with lid-train's probe ([`lid_train::probe::LidProbe`]).
//!
//! For each unit: load the checkpoint ([`lid_train::model::load_model`]), tokenise the split's
//! sampled texts with the tokenizer ([`tokenizer_path`]) truncated to `max_length`, collect the
//! token vectors of the layer, drop tokens by id (pad and eos by default), sample token vectors
//! (seeded), remove exact duplicates keeping the first, keep the first `N`, and estimate local
//! TwoNN on `L`-neighbourhoods found by exact brute-force search (`lid_knn::BruteForce`). The
//! result depends only on the unit and the spec: not on the shard, the order of units or the
//! number of threads.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use lid_embed::TextTokenizer;
use lid_train::model::{load_model, LoadedModel};
use lid_train::probe::LidProbe;

use super::checkpoints::Checkpoint;
use super::data::{separator, tokenize, TextCache};
use super::spec::SeriesSpec;
use super::sweep::SweepUnit;
use crate::error::{Error, Result};

/// A unit: one checkpoint on one split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesUnit {
    /// Training seed.
    pub seed: u64,
    /// Training step.
    pub step: u64,
    /// The split.
    pub split: String,
    /// The checkpoint folder.
    pub checkpoint: PathBuf,
    /// The seed's run folder.
    pub run_dir: PathBuf,
}

impl SweepUnit for SeriesUnit {
    /// `<seed>-<step>-<split>`.
    fn key(&self) -> String {
        format!("{}-{}-{}", self.seed, self.step, self.split)
    }
}

impl SeriesUnit {
    /// The units of `checkpoints` x `splits`, checkpoint-major (checkpoints by seed and step,
    /// splits in the given order): the fixed order shards count.
    pub fn all(checkpoints: &[Checkpoint], splits: &[String]) -> Vec<SeriesUnit> {
        checkpoints
            .iter()
            .flat_map(|c| {
                splits.iter().map(move |s| SeriesUnit {
                    seed: c.seed,
                    step: c.step,
                    split: s.clone(),
                    checkpoint: c.path.clone(),
                    run_dir: c.run_dir.clone(),
                })
            })
            .collect()
    }
}

/// What a unit measured (the contents of its result file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitResult {
    /// Training seed.
    pub seed: u64,
    /// Training step.
    pub step: u64,
    /// The split.
    pub split: String,
    /// Sequences measured (M, or the whole split when smaller).
    pub sequences: usize,
    /// Sequences the split has.
    pub sequences_available: usize,
    /// Sequences cut at `max_length`.
    pub truncated: usize,
    /// Mean of the local LID estimates.
    pub mean_lid: f64,
    /// Their standard deviation (ddof 1).
    pub std_lid: f64,
    /// Their median.
    pub median_lid: f64,
    /// Points estimated, `min(N, unique token vectors)`.
    pub points: usize,
    /// Exact duplicate token vectors removed.
    pub duplicates_removed: usize,
    /// Wall-clock seconds of the unit (not part of any merged result).
    pub wall_seconds: f64,
}

/// The `tokenizer.json` of a unit: `probe.tokenizer` when given, else the checkpoint's, else its
/// run folder's (TripPy-R saves the tokenizer in its output folder, not in each checkpoint).
///
/// # Errors
/// [`Error::Malformed`] naming `probe.tokenizer` when none of them exists.
pub fn tokenizer_path(spec: &SeriesSpec, unit: &SeriesUnit) -> Result<PathBuf> {
    if let Some(path) = &spec.probe.tokenizer {
        return Ok(path.clone());
    }
    let candidates = [
        unit.checkpoint.join("tokenizer.json"),
        unit.run_dir.join("tokenizer.json"),
    ];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| Error::Malformed {
            path: unit.checkpoint.clone(),
            record: format!("checkpoint seed {} step {}", unit.seed, unit.step),
            field: "probe.tokenizer".into(),
            problem: format!(
                "neither {} nor {} exists; give the tokenizer.json of the model in the spec's \
                 probe.tokenizer",
                candidates[0].display(),
                candidates[1].display()
            ),
        })
}

/// Measures units one after another, keeping the texts, the last model and the last tokenizer
/// loaded (consecutive units of one checkpoint load it once).
pub struct UnitRunner<'a> {
    spec: &'a SeriesSpec,
    texts: TextCache,
    model: Option<(PathBuf, LoadedModel)>,
    tokenizer: Option<(PathBuf, TextTokenizer, String)>,
}

impl<'a> UnitRunner<'a> {
    /// A runner for the units of `spec`.
    pub fn new(spec: &'a SeriesSpec) -> Self {
        Self {
            spec,
            texts: TextCache::new(
                &spec.data.source,
                spec.probe.sequences,
                spec.probe.sequence_seed,
            ),
            model: None,
            tokenizer: None,
        }
    }

    /// Measures `unit`.
    ///
    /// # Errors
    /// Unreadable data or checkpoint, a missing tokenizer, a layer outside the model, sequences
    /// longer than the model's positions, too few unique token vectors for `L`.
    pub fn measure(&mut self, unit: &SeriesUnit) -> Result<UnitResult> {
        let start = Instant::now();
        let probe = &self.spec.probe;
        let tok_path = tokenizer_path(self.spec, unit)?;
        if self
            .tokenizer
            .as_ref()
            .is_none_or(|(p, _, _)| *p != tok_path)
        {
            let tokenizer = TextTokenizer::from_file(&tok_path, probe.max_length)?;
            let sep = separator(&tokenizer, probe.separator.as_deref(), &tok_path)?;
            self.tokenizer = Some((tok_path.clone(), tokenizer, sep));
        }
        if self
            .model
            .as_ref()
            .is_none_or(|(p, _)| *p != unit.checkpoint)
        {
            self.model = None; // free the previous model before loading the next
            self.model = Some((unit.checkpoint.clone(), load_model(&unit.checkpoint)?));
        }
        let texts = self.texts.split(&unit.split)?;
        let (Some((_, tokenizer, sep)), Some((_, loaded))) = (&self.tokenizer, &self.model) else {
            return Err(Error::Check(
                "the unit runner lost its model or tokenizer; this is a bug".into(),
            ));
        };
        let (sequences, truncated) = tokenize(&texts.texts, tokenizer, sep)?;
        let n_sequences = sequences.len();
        let estimate = LidProbe::new(
            sequences,
            loaded.special.clone(),
            probe.settings(),
            Box::new(lid_knn::BruteForce::default()),
        )?
        .estimate(&loaded.model, unit.step)?;
        let p = estimate.point;
        Ok(UnitResult {
            seed: unit.seed,
            step: unit.step,
            split: unit.split.clone(),
            sequences: n_sequences,
            sequences_available: texts.available,
            truncated,
            mean_lid: p.mean,
            std_lid: p.std,
            median_lid: p.median,
            points: p.n_points,
            duplicates_removed: p.duplicates_removed,
            wall_seconds: start.elapsed().as_secs_f64(),
        })
    }
}

/// Every input file or folder of the units (for the output checks of a sweep).
pub fn inputs(spec: &SeriesSpec, units: &[SeriesUnit]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    let mut push = |p: &Path| {
        if !out.iter().any(|q| q == p) {
            out.push(p.to_path_buf());
        }
    };
    for u in units {
        push(&u.checkpoint);
    }
    match &spec.data.source {
        super::spec::DataSource::Multiwoz21 { dir }
        | super::spec::DataSource::Unified { dir }
        | super::spec::DataSource::Emowoz { dir } => push(dir),
        super::spec::DataSource::Files(files) => files.iter().for_each(|f| push(&f.path)),
    }
    if let Some(t) = &spec.probe.tokenizer {
        push(t);
    }
    out
}
