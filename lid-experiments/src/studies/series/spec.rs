//! [`SeriesSpec`]: what a checkpoint-series sweep measures, read from a JSON file.
//!
//! ```json
//! {
//!   "name": "TripPy-R on MultiWOZ 2.1",
//!   "checkpoints": {"run_folders": [{"seed": 40, "dir": "trippy/seed40"},
//!                                   {"seed": 41, "dir": "trippy/seed41"}]},
//!   "data": {"source": {"multiwoz21": {"dir": "MULTIWOZ2.1"}},
//!            "splits": ["train", "validation", "test"]},
//!   "metrics": {"trippy": {"split": "dev"}},
//!   "probe": {"sequences": 7000, "tokenizer": "roberta-base/tokenizer.json"},
//!   "analysis": {"split": "validation", "metric_name": "JGA"}
//! }
//! ```
//!
//! Relative paths are relative to the spec file's folder ([`SeriesSpec::from_file`] makes them
//! absolute). Every key except `checkpoints` and `data` has a default: the paper's settings for the
//! probe (M = 7,000 sequences sampled with seed 778, max length 512, last layer, 150,000 token
//! vectors sampled with seed 42, dedup, N = 60,000, L = 128, scikit-dimension 0.3.4's CDF). Unknown
//! keys are refused, so a typo is an error and not a silent default.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use lid_core::estimators::CdfConvention;
use lid_embed::TokenFilter;
use lid_train::probe::{ProbeLayer, ProbeSettings};

use crate::error::{Error, Result};

/// A checkpoint-series sweep (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesSpec {
    /// Name used in titles and the report.
    #[serde(default = "default_name")]
    pub name: String,
    /// The checkpoints: seeds x steps.
    pub checkpoints: CheckpointSource,
    /// The sequences the probe reads, per split.
    pub data: DataSpec,
    /// The task metric and validation loss per checkpoint.
    #[serde(default)]
    pub metrics: MetricSource,
    /// The LID probe.
    #[serde(default)]
    pub probe: ProbeSpec,
    /// The analysis of the merged series.
    #[serde(default)]
    pub analysis: AnalysisSpec,
}

fn default_name() -> String {
    "checkpoint series".into()
}

/// Where the checkpoints are. Each checkpoint is a Hugging Face model folder (`config.json`,
/// `model.safetensors` or its shards with their index).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CheckpointSource {
    /// Every checkpoint named: `{"list": [{"seed": 40, "step": 1775, "path": "..."}]}`. A
    /// checkpoint's run folder (for metric files) is its parent folder.
    List(Vec<CheckpointEntry>),
    /// lid-train's layout: `{"seed_folders": {"root": "runs"}}` finds `<root>/seed<k>/checkpoint-<step>/`.
    SeedFolders {
        /// The folder holding the `seed<k>` folders.
        root: PathBuf,
    },
    /// One output folder per seed holding `checkpoint-<step>/` folders (TripPy-R's `--output_dir`):
    /// `{"run_folders": [{"seed": 40, "dir": "..."}]}`.
    RunFolders(Vec<RunFolderEntry>),
}

/// One checkpoint of [`CheckpointSource::List`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointEntry {
    /// Training seed.
    pub seed: u64,
    /// Training step.
    pub step: u64,
    /// The Hugging Face model folder.
    pub path: PathBuf,
}

/// One seed's output folder of [`CheckpointSource::RunFolders`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunFolderEntry {
    /// Training seed.
    pub seed: u64,
    /// The folder holding `checkpoint-<step>/`.
    pub dir: PathBuf,
}

/// The probe's sequences.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// Where the texts come from.
    pub source: DataSource,
    /// The splits to measure, in this order (default: every split of the source). For the
    /// datasets: `train`, `validation` (also written `dev`, `val`), `test`.
    #[serde(default)]
    pub splits: Option<Vec<String>>,
}

/// Where the probe's texts come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum DataSource {
    /// MultiWOZ 2.1 (`data.json`, `valListFile.txt`, `testListFile.txt` in `dir`), one TripPy-R
    /// input per user turn: `user [SEP] system [SEP] history` (history most recent first), the
    /// tokenizer adding `[CLS]` in front and `[SEP]` at the end.
    Multiwoz21 {
        /// The unpacked `MULTIWOZ2.1` folder.
        dir: PathBuf,
    },
    /// ConvLab-3's unified format (`dialogues.json` in `dir`), TripPy-R inputs as for `multiwoz21`.
    Unified {
        /// The dataset folder.
        dir: PathBuf,
    },
    /// EmoWOZ (`emowoz-multiwoz.json`, optional `emowoz-dialmage.json`, `data-split.json` in `dir`):
    /// one sequence per annotated user utterance.
    Emowoz {
        /// The EmoWOZ folder.
        dir: PathBuf,
    },
    /// A text file per split: `.txt` (one sequence per line), `.jsonl` or `.csv` (the field or
    /// column `field`, default `text`).
    Files(Vec<SplitFile>),
}

/// One split of [`DataSource::Files`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitFile {
    /// The split's name (letters, digits, `_`).
    pub split: String,
    /// The file.
    pub path: PathBuf,
    /// JSON field or CSV column of the text (default `text`).
    #[serde(default)]
    pub field: Option<String>,
}

/// The task metric and validation loss of each checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum MetricSource {
    /// No metrics: the series has LID only (`"none"`).
    #[default]
    None,
    /// TripPy-R's `eval_res.<split>.json` in each seed's run folder: a JSON list of one object per
    /// evaluated checkpoint with `global_step` (`"1775"`, or `"final"` for the output folder's own
    /// model, which is skipped), the joint goal accuracy `eval_accuracy_goal` and the mean total
    /// loss `loss`.
    Trippy(TrippyMetrics),
    /// A CSV file with the columns `seed,step,metric,val_loss` (empty cells allowed).
    Csv {
        /// The file.
        path: PathBuf,
    },
    /// lid-train's `metrics.csv` in each seed's run folder (`step,lr,loss,...,eval_loss,<metric>`):
    /// the rows where the metric column has a value.
    LidTrain(LidTrainMetrics),
}

/// Settings of [`MetricSource::Trippy`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrippyMetrics {
    /// The evaluated split: the file is `eval_res.<split>.json` (default `dev`).
    #[serde(default = "default_trippy_split")]
    pub split: String,
    /// The metric key (default `eval_accuracy_goal`, the joint goal accuracy).
    #[serde(default = "default_trippy_metric")]
    pub metric_key: String,
    /// The loss key (default `loss`).
    #[serde(default = "default_trippy_loss")]
    pub loss_key: String,
    /// Explicit files per seed instead of `<run folder>/eval_res.<split>.json`.
    #[serde(default)]
    pub files: Option<Vec<SeedFile>>,
}

impl Default for TrippyMetrics {
    fn default() -> Self {
        Self {
            split: default_trippy_split(),
            metric_key: default_trippy_metric(),
            loss_key: default_trippy_loss(),
            files: None,
        }
    }
}

fn default_trippy_split() -> String {
    "dev".into()
}
fn default_trippy_metric() -> String {
    "eval_accuracy_goal".into()
}
fn default_trippy_loss() -> String {
    "loss".into()
}

/// Settings of [`MetricSource::LidTrain`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LidTrainMetrics {
    /// The metric column (`accuracy`, `macro_f1`, `jga`, ...).
    pub metric: String,
    /// The validation-loss column (default `eval_loss`).
    #[serde(default = "default_lid_train_loss")]
    pub loss: String,
    /// Explicit files per seed instead of `<run folder>/metrics.csv`.
    #[serde(default)]
    pub files: Option<Vec<SeedFile>>,
}

fn default_lid_train_loss() -> String {
    "eval_loss".into()
}

/// A metrics file of one seed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedFile {
    /// Training seed.
    pub seed: u64,
    /// The file.
    pub path: PathBuf,
}

/// The LID probe of every unit (docs/method.md's pipeline; every value a parameter).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbeSpec {
    /// Sequences sampled per split, M (paper: 7,000 for DST and EmoWOZ); a split with fewer
    /// sequences is used whole.
    pub sequences: usize,
    /// Seed of that sample (paper: 778).
    pub sequence_seed: u64,
    /// Tokens per sequence after truncation, special tokens included (paper: 512).
    pub max_length: usize,
    /// Hidden state in Hugging Face numbering (paper: -1, the last layer).
    pub layer: i64,
    /// Token filter (paper: `PadAndEos`).
    pub filter: TokenFilter,
    /// Token vectors sampled before deduplication (paper: 150,000; `null`: all).
    pub sample: Option<usize>,
    /// Seed of that sample (paper: 42).
    pub sample_seed: u64,
    /// Points kept after deduplication, N (paper: 60,000).
    pub n_points: usize,
    /// Neighbourhood size, L (paper: 128).
    pub neighbors: usize,
    /// TwoNN's CDF convention (paper: `skdim034`).
    pub cdf: CdfConvention,
    /// Sequences per forward pass.
    pub batch_size: usize,
    /// The `tokenizer.json` to use (default: the checkpoint's, else its run folder's).
    pub tokenizer: Option<PathBuf>,
    /// Separator between the segments of a TripPy-R input (default: ` [SEP] ` when the tokenizer
    /// knows `[SEP]`, ` </s></s> ` when it knows `</s>`, RoBERTa's pair separator).
    pub separator: Option<String>,
}

impl Default for ProbeSpec {
    /// The paper's settings for studies 2 and 3.
    fn default() -> Self {
        let paper = ProbeSettings::paper();
        Self {
            sequences: 7000,
            sequence_seed: 778,
            max_length: 512,
            layer: -1,
            filter: paper.filter,
            sample: paper.sample,
            sample_seed: paper.sample_seed,
            n_points: paper.n_points,
            neighbors: paper.neighbors,
            cdf: paper.cdf,
            batch_size: paper.batch_size,
            tokenizer: None,
            separator: None,
        }
    }
}

impl ProbeSpec {
    /// lid-train's probe settings (the paper's for everything the spec does not set).
    pub fn settings(&self) -> ProbeSettings {
        ProbeSettings {
            layer: ProbeLayer::Hidden(self.layer),
            filter: self.filter,
            sample: self.sample,
            sample_seed: self.sample_seed,
            n_points: self.n_points,
            neighbors: self.neighbors,
            cdf: self.cdf,
            batch_size: self.batch_size,
            // Settings the spec does not expose keep lid-train's paper values.
            ..ProbeSettings::paper()
        }
    }
}

/// The analysis of the merged series (the rules themselves are fixed: see
/// [`super::analysis`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalysisSpec {
    /// The split whose LID the stabilisation and minimum rules use and the figure marks (default:
    /// `validation` when measured, else the first split).
    pub split: Option<String>,
    /// The metric's name in figures and the report (`JGA`, `macro F1`).
    pub metric_name: String,
    /// Largest lag (in checkpoints) of the lead-lag of LID against the metric.
    pub max_lag: usize,
}

impl Default for AnalysisSpec {
    fn default() -> Self {
        Self {
            split: None,
            metric_name: "metric".into(),
            max_lag: 2,
        }
    }
}

/// The dataset split names and the aliases accepted for them.
pub fn canonical_split(name: &str) -> Option<&'static str> {
    match name.to_ascii_lowercase().as_str() {
        "train" => Some("train"),
        "validation" | "dev" | "val" | "valid" => Some("validation"),
        "test" => Some("test"),
        _ => None,
    }
}

/// Whether a split name can be part of a unit file name (letters, digits, `_`).
fn valid_split_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn invalid(field: &str, problem: impl Into<String>) -> Error {
    Error::Malformed {
        path: PathBuf::from("sweep spec"),
        record: "spec".into(),
        field: field.into(),
        problem: problem.into(),
    }
}

impl SeriesSpec {
    /// Reads a spec file, makes its relative paths absolute (relative to the file's folder) and
    /// checks it ([`SeriesSpec::check`]).
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::Format`] for invalid JSON, a missing or unknown key or a wrong type
    /// (serde's message names the key, line and column); [`Error::Malformed`] naming the file and
    /// field for a value out of range.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut spec: SeriesSpec = serde_json::from_str(&text).map_err(|e| Error::Format {
            action: "parse",
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let base = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let base = std::path::absolute(&base).map_err(|e| Error::io(&base, e))?;
        spec.resolve_paths(&base);
        spec.check().map_err(|e| match e {
            Error::Malformed {
                record,
                field,
                problem,
                ..
            } => Error::Malformed {
                path: path.to_path_buf(),
                record,
                field,
                problem,
            },
            other => other,
        })?;
        Ok(spec)
    }

    /// Joins every relative path of the spec onto `base`.
    pub fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        match &mut self.checkpoints {
            CheckpointSource::List(list) => list.iter_mut().for_each(|c| fix(&mut c.path)),
            CheckpointSource::SeedFolders { root } => fix(root),
            CheckpointSource::RunFolders(list) => list.iter_mut().for_each(|r| fix(&mut r.dir)),
        }
        match &mut self.data.source {
            DataSource::Multiwoz21 { dir }
            | DataSource::Unified { dir }
            | DataSource::Emowoz { dir } => fix(dir),
            DataSource::Files(files) => files.iter_mut().for_each(|f| fix(&mut f.path)),
        }
        match &mut self.metrics {
            MetricSource::None => {}
            MetricSource::Csv { path } => fix(path),
            MetricSource::Trippy(TrippyMetrics { files, .. })
            | MetricSource::LidTrain(LidTrainMetrics { files, .. }) => {
                for f in files.iter_mut().flatten() {
                    fix(&mut f.path);
                }
            }
        }
        if let Some(t) = &mut self.probe.tokenizer {
            fix(t);
        }
    }

    /// The splits measured, in order, with dataset aliases made canonical.
    ///
    /// # Errors
    /// [`Error::Malformed`] naming `data.splits` for an unknown, repeated or unusable name.
    pub fn splits(&self) -> Result<Vec<String>> {
        let available: Vec<String> = match &self.data.source {
            DataSource::Files(files) => files.iter().map(|f| f.split.clone()).collect(),
            _ => ["train", "validation", "test"].map(String::from).to_vec(),
        };
        let Some(asked) = &self.data.splits else {
            return Ok(available);
        };
        if asked.is_empty() {
            return Err(invalid("data.splits", "is empty; name at least one split"));
        }
        let mut out: Vec<String> = Vec::new();
        for name in asked {
            let name = match &self.data.source {
                DataSource::Files(_) => name.clone(),
                _ => canonical_split(name)
                    .ok_or_else(|| {
                        invalid(
                            "data.splits",
                            format!("unknown split {name:?}; the dataset has train, validation (dev), test"),
                        )
                    })?
                    .to_string(),
            };
            if !available.contains(&name) {
                return Err(invalid(
                    "data.splits",
                    format!(
                        "split {name:?} is not among the files of data.source ({})",
                        available.join(", ")
                    ),
                ));
            }
            if out.contains(&name) {
                return Err(invalid(
                    "data.splits",
                    format!("split {name:?} is listed twice"),
                ));
            }
            out.push(name);
        }
        Ok(out)
    }

    /// The split the analysis rules use (see [`AnalysisSpec::split`]).
    ///
    /// # Errors
    /// As [`SeriesSpec::splits`]; [`Error::Malformed`] naming `analysis.split` for a split that is
    /// not measured.
    pub fn analysis_split(&self) -> Result<String> {
        let splits = self.splits()?;
        match &self.analysis.split {
            Some(name) => {
                let canonical = match &self.data.source {
                    DataSource::Files(_) => Some(name.as_str()),
                    _ => canonical_split(name),
                };
                match canonical {
                    Some(c) if splits.iter().any(|s| s == c) => Ok(c.to_string()),
                    _ => Err(invalid(
                        "analysis.split",
                        format!(
                            "split {name:?} is not measured (data.splits: {})",
                            splits.join(", ")
                        ),
                    )),
                }
            }
            None => Ok(if splits.iter().any(|s| s == "validation") {
                "validation".into()
            } else {
                splits[0].clone()
            }),
        }
    }

    /// Checks every value that can be checked without reading data or checkpoints.
    ///
    /// # Errors
    /// [`Error::Malformed`] naming the field (the path is `sweep spec`; [`SeriesSpec::from_file`]
    /// puts the file's in).
    pub fn check(&self) -> Result<()> {
        match &self.checkpoints {
            CheckpointSource::List(list) if list.is_empty() => {
                return Err(invalid("checkpoints.list", "is empty"))
            }
            CheckpointSource::RunFolders(list) if list.is_empty() => {
                return Err(invalid("checkpoints.run_folders", "is empty"))
            }
            CheckpointSource::RunFolders(list) => {
                let mut seeds: Vec<u64> = list.iter().map(|r| r.seed).collect();
                seeds.sort_unstable();
                if let Some(w) = seeds.windows(2).find(|w| w[0] == w[1]) {
                    return Err(invalid(
                        "checkpoints.run_folders",
                        format!("seed {} has two run folders", w[0]),
                    ));
                }
            }
            _ => {}
        }
        if let DataSource::Files(files) = &self.data.source {
            if files.is_empty() {
                return Err(invalid("data.source.files", "is empty"));
            }
            for (i, f) in files.iter().enumerate() {
                if !valid_split_name(&f.split) {
                    return Err(invalid(
                        &format!("data.source.files[{i}].split"),
                        format!(
                            "{:?} is not a usable split name (letters, digits and `_` only)",
                            f.split
                        ),
                    ));
                }
                if files[..i].iter().any(|g| g.split == f.split) {
                    return Err(invalid(
                        &format!("data.source.files[{i}].split"),
                        format!("split {:?} has two files", f.split),
                    ));
                }
            }
        }
        self.splits()?;
        self.analysis_split()?;
        if self.probe.sequences == 0 {
            return Err(invalid("probe.sequences", "must be at least 1"));
        }
        if self.probe.max_length == 0 {
            return Err(invalid("probe.max_length", "must be at least 1"));
        }
        if self.probe.sample == Some(0) {
            return Err(invalid("probe.sample", "must be at least 1 (or null: all)"));
        }
        if self.probe.separator.as_deref().is_some_and(str::is_empty) {
            return Err(invalid("probe.separator", "is empty"));
        }
        self.probe
            .settings()
            .check()
            .map_err(|e| invalid("probe", e.to_string()))?;
        if let MetricSource::LidTrain(m) = &self.metrics {
            if m.metric.is_empty() {
                return Err(invalid("metrics.lid_train.metric", "is empty"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> std::result::Result<SeriesSpec, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spec.json");
        std::fs::write(&path, json).unwrap();
        SeriesSpec::from_file(&path).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_the_papers_and_paths_are_resolved() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spec.json");
        std::fs::write(
            &path,
            r#"{"checkpoints": {"seed_folders": {"root": "runs"}},
                "data": {"source": {"emowoz": {"dir": "/data/emowoz"}}, "splits": ["dev", "test"]}}"#,
        )
        .unwrap();
        let spec = SeriesSpec::from_file(&path).unwrap();
        let p = &spec.probe;
        assert_eq!(
            (p.sequences, p.sequence_seed, p.max_length, p.layer),
            (7000, 778, 512, -1)
        );
        assert_eq!(
            (p.sample, p.sample_seed, p.n_points, p.neighbors, p.cdf),
            (Some(150_000), 42, 60_000, 128, CdfConvention::Skdim034)
        );
        let root = std::path::absolute(dir.path()).unwrap().join("runs");
        assert_eq!(spec.checkpoints, CheckpointSource::SeedFolders { root });
        assert_eq!(spec.splits().unwrap(), vec!["validation", "test"]);
        assert_eq!(spec.analysis_split().unwrap(), "validation");
        assert_eq!(spec.metrics, MetricSource::None);
    }

    #[test]
    fn bad_specs_name_the_field() {
        let base = r#""checkpoints": {"list": [{"seed": 1, "step": 2, "path": "m"}]}"#;
        let err = parse(&format!(
            r#"{{{base}, "data": {{"source": {{"multiwoz21": {{"dir": "d"}}}}, "splits": ["training"]}}}}"#
        ))
        .unwrap_err();
        assert!(
            err.contains("spec.json") && err.contains("data.splits") && err.contains("training"),
            "{err}"
        );
        let err = parse(&format!(
            r#"{{{base}, "data": {{"source": {{"emowoz": {{"dir": "d"}}}}}}, "probe": {{"neighbours": 5}}}}"#
        ))
        .unwrap_err();
        assert!(err.contains("unknown field `neighbours`"), "{err}");
        let err = parse(&format!(
            r#"{{{base}, "data": {{"source": {{"emowoz": {{"dir": "d"}}}}}}, "probe": {{"neighbors": 64, "n_points": 50}}}}"#
        ))
        .unwrap_err();
        assert!(err.contains("field `probe`") && err.contains("64"), "{err}");
        let err = parse(&format!(
            r#"{{{base}, "data": {{"source": {{"files": [{{"split": "a-b", "path": "x.txt"}}]}}}}}}"#
        ))
        .unwrap_err();
        assert!(err.contains("data.source.files[0].split"), "{err}");
        let err = parse(&format!(
            r#"{{{base}, "data": {{"source": {{"emowoz": {{"dir": "d"}}}}, "splits": ["train"]}}, "analysis": {{"split": "test"}}}}"#
        ))
        .unwrap_err();
        assert!(err.contains("analysis.split"), "{err}");
        let err = parse(r#"{"data": {"source": {"emowoz": {"dir": "d"}}}}"#).unwrap_err();
        assert!(err.contains("missing field `checkpoints`"), "{err}");
    }
}
