//! The second half of studies 2 and 3 for series trained in Rust: the checkpoints a study wrote
//! (`<root>/seed<k>/checkpoint-<step>/` with lid-train's `metrics.csv`) go through the same
//! checkpoint-series sweep a user runs on real checkpoints ([`crate::studies::series`]), in one
//! process, so a study's numbers come from exactly the code path of `lid sweep`. The flags both
//! studies take are [`TrainedSeriesArgs`].

use std::path::{Path, PathBuf};

use std::time::Instant;

use lid_train::model::Model;
use lid_train::train::{Event, Task, TrainConfig, Trainer};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::run::{Direction, RunFolder, StudySummary};
use crate::studies::series::analysis::SeriesAnalysis;
use crate::studies::series::spec::{
    AnalysisSpec, CheckpointSource, DataSource, DataSpec, LidTrainMetrics, MetricSource, ProbeSpec,
    SeriesSpec, SplitFile,
};
use crate::studies::series::sweep::Shard;
use crate::studies::series::{self, Merged};

/// Formats the evaluation metrics of an update for the log.
pub type Describe<'a> = &'a dyn Fn(u64, &[(String, f64)]) -> String;

/// Builds a seed's model (head attached) and task.
pub type Build<'a> = &'a dyn Fn(u64) -> Result<(Model, Box<dyn Task>)>;

/// The value of `name` among the metrics of an evaluation (as given to a [`Describe`]); NaN when
/// the evaluation has none.
pub fn metric(metrics: &[(String, f64)], name: &str) -> f64 {
    metrics
        .iter()
        .find(|(n, _)| n == name)
        .map_or(f64::NAN, |(_, v)| *v)
}

/// Trains one checkpoint series per seed into `<checkpoints>/seed<k>/` (lid-train's layout, with
/// `metrics.csv`): `build(seed)` gives the model with its head and the task, `config(seed)` the
/// trainer settings; every evaluation is logged through `describe(step, metrics)`. A seed whose
/// folder already holds checkpoints (a killed run continued with `--resume`) continues from the
/// latest one, bit-identically to an uninterrupted run; one written under other settings is an
/// error naming it (lid-train's fingerprint check).
///
/// # Errors
/// Model, data or training failures.
#[allow(clippy::too_many_arguments)]
pub fn train_seeds(
    seeds: &[u64],
    checkpoints: &Path,
    tokenizer: &Path,
    config: &dyn Fn(u64) -> TrainConfig,
    build: Build<'_>,
    describe: Describe<'_>,
    log: &mut dyn FnMut(&str),
) -> Result<()> {
    for &seed in seeds {
        let settings = config(seed);
        log(&format!(
            "seed {seed}: {} updates, a checkpoint every {:?}",
            settings.steps, settings.checkpoint_every
        ));
        let dir = checkpoints.join(format!("seed{seed}"));
        // A seed whose final checkpoint lost its weights to `prune_checkpoint_weights` was
        // finished and measured by a run killed before it marked the folder complete: nothing
        // is left to train, and its weights could not be loaded. (Its settings are not compared
        // with lid-train's fingerprint, which needs the weights; `--resume` of a complete folder
        // is refused by `study_folder`, so only that kill reaches this.)
        if let Some((step, latest)) = lid_train::checkpoint::list_checkpoints(&dir).pop() {
            if step == settings.steps
                && dir.join("metrics.csv").is_file()
                && !latest.join("model.safetensors").exists()
            {
                log(&format!(
                    "seed {seed}: finished (update {step}; its weights were pruned after the series was measured)"
                ));
                continue;
            }
        }
        let (model, task) = build(seed)?;
        let mut trainer = Trainer::new(model, settings, Some(tokenizer.to_path_buf()))?;
        if let Some(step) = trainer.resume(&dir, &*task)? {
            log(&format!(
                "seed {seed}: continuing from the checkpoint of update {step}"
            ));
        }
        let t = Instant::now();
        trainer.run(&*task, Some(&dir), None, &mut |e| {
            if let Event::Evaluated { step, metrics, .. } = e {
                log(&format!(
                    "  seed {seed} {} ({:.0} s)",
                    describe(step, metrics),
                    t.elapsed().as_secs_f64()
                ));
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// The run folder of a study run from its command: `--resume` continues the interrupted run of
/// the same `settings` in `out` through [`RunFolder::resume_matching`] (a finished folder, a folder
/// that holds no run of `study` and a run of other settings are refused before anything in them
/// changes); otherwise a new folder.
///
/// # Errors
/// As [`RunFolder::resume_matching`], [`RunFolder::create`] and [`RunFolder::timestamped`].
pub fn study_folder<T: serde::Serialize>(
    out: Option<&Path>,
    resume: bool,
    study: &str,
    settings: &T,
) -> Result<RunFolder> {
    match out {
        Some(dir) if resume => RunFolder::resume_matching(dir, study, settings),
        Some(dir) => RunFolder::create(dir, study),
        None => RunFolder::timestamped("runs", study),
    }
}

/// The command-line flags studies 2 and 3 share, flattened into `DstArgs` and `EmowozArgs`. Each
/// study keeps its own `--preset`, `--out` (whose help names the study's default folder), `--epochs`
/// (fractional for the tracker, whole epochs for the classifier) and data flags.
#[derive(Debug, Clone, clap::Args)]
pub struct TrainedSeriesArgs {
    /// Continue the interrupted run in the folder given with `--out`: finished seeds are not
    /// trained again, an interrupted seed continues from its latest checkpoint.
    #[arg(long, requires = "out")]
    pub resume: bool,
    /// The encoder (a BERT or RoBERTa directory); required by the paper preset.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Training seeds (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub seeds: Option<Vec<u64>>,
    /// Tokens per input, for training and for the probe (at most the model's positions).
    #[arg(long)]
    pub max_length: Option<usize>,
    /// Probe sequences sampled per split for the LID of every checkpoint, M.
    #[arg(long)]
    pub probe_sequences: Option<usize>,
    /// Points kept after deduplication in every probe, N.
    #[arg(long)]
    pub n_points: Option<usize>,
    /// Neighbourhood size of the probe, L.
    #[arg(long)]
    pub neighbors: Option<usize>,
}

impl TrainedSeriesArgs {
    /// The `--model` directory the paper preset starts from; `encoder` names the paper's encoder
    /// in the error.
    ///
    /// # Errors
    /// [`crate::error::Error::Flag`] naming `--model` when it is missing.
    pub fn paper_model(&self, encoder: &str) -> Result<PathBuf> {
        self.model.clone().ok_or_else(|| {
            crate::error::Error::flag(
                "--model",
                "(missing)",
                format!("the paper preset needs a local {encoder} directory"),
            )
        })
    }

    /// Overrides the settings every trained-series study has (its encoder, training seeds, tokens
    /// per training input and probe) with the flags given, `--max-length` setting both lengths,
    /// then checks the probe ([`check_probe_flags`]).
    ///
    /// # Errors
    /// As [`check_probe_flags`].
    pub fn apply(
        &self,
        model: &mut PathBuf,
        seeds: &mut Vec<u64>,
        max_length: &mut usize,
        probe: &mut ProbeSpec,
    ) -> Result<()> {
        if let Some(m) = &self.model {
            *model = m.clone();
        }
        if let Some(s) = &self.seeds {
            crate::error::Error::refuse_repeats("--seeds", s)?;
            *seeds = s.clone();
        }
        if let Some(n) = self.max_length {
            *max_length = n;
            probe.max_length = n;
        }
        if let Some(m) = self.probe_sequences {
            probe.sequences = m;
        }
        if let Some(n) = self.n_points {
            probe.n_points = n;
        }
        if let Some(l) = self.neighbors {
            probe.neighbors = l;
        }
        check_probe_flags(probe)
    }
}

/// Checks a study's probe before any training, naming the flag of a bad value (`--probe-sequences`,
/// `--n-points`, `--neighbors`): a probe that cannot run would otherwise fail only after every seed
/// is trained.
///
/// # Errors
/// [`crate::error::Error::Flag`] naming the flag.
pub fn check_probe_flags(probe: &ProbeSpec) -> Result<()> {
    use crate::error::Error;
    if probe.sequences == 0 {
        return Err(Error::flag("--probe-sequences", 0, "must be at least 1"));
    }
    let settings = probe.settings();
    if settings.neighbors < 3 {
        return Err(Error::flag(
            "--neighbors",
            settings.neighbors,
            "local TwoNN needs L >= 3",
        ));
    }
    if settings.n_points <= settings.neighbors {
        return Err(Error::flag(
            "--n-points",
            settings.n_points,
            format!("N must exceed L = {} (--neighbors)", settings.neighbors),
        ));
    }
    settings
        .check()
        .map_err(|e| Error::flag("--neighbors", settings.neighbors, e))
}

/// A number a study reports next to its series (in `summary.json`'s `facts`, the headline and the
/// report), such as the joint-goal-accuracy ceiling of its data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyFact {
    /// Key in `summary.json` (`jga_ceiling_validation`).
    pub name: String,
    /// The value.
    pub value: f64,
    /// One sentence saying what it is (for the headline and the report).
    pub meaning: String,
}

/// What a trained-series study hands to [`finish_series_study`] once its seeds are trained.
pub struct SeriesStudy<'a> {
    /// The study's name (its folder in the suite).
    pub study: &'a str,
    /// Its title.
    pub title: &'a str,
    /// The series' name in the sweep's titles and report.
    pub series_name: &'a str,
    /// The folder holding `seed<k>/checkpoint-<step>/`.
    pub checkpoints: &'a Path,
    /// The probe texts per split.
    pub splits: &'a [SplitTexts],
    /// The metric column of lid-train's `metrics.csv` (`jga`, `eval_macro_f1`).
    pub metric_column: &'a str,
    /// The metric's name in the figure and report.
    pub metric_name: &'a str,
    /// The split whose LID gives the headline numbers (DST: `train`, as the paper).
    pub analysed_split: &'a str,
    /// The probe of every checkpoint.
    pub probe: ProbeSpec,
    /// Keep the checkpoint weights after the series is measured.
    pub keep_checkpoints: bool,
    /// The paper's finding, ending the headline.
    pub paper: &'a str,
    /// The report's opening (settings).
    pub header: &'a str,
    /// Further numbers of the study.
    pub facts: Vec<StudyFact>,
    /// The study's rule for the paper's direction (docs/reproduction.md, "Direction at a
    /// preset"), applied to the series' analysis.
    pub direction: fn(&SeriesAnalysis) -> Direction,
}

/// `summary.json` of a trained-series study: the sweep's summary and the study's facts.
#[derive(Serialize)]
struct TrainedSeriesSummary<'a> {
    #[serde(flatten)]
    series: &'a crate::studies::series::report::SeriesSummary,
    facts: &'a [StudyFact],
}

/// Measures the series ([`measure_series`]), prunes the checkpoint weights unless
/// `keep_checkpoints`, and writes `summary.json` (the series summary under the study's name, title
/// and a headline with the facts, ending in `paper`; the facts again under `facts`) and `report.md`
/// (`header`, the facts, then the series report), then finishes the folder.
///
/// # Errors
/// As [`measure_series`]; I/O failures.
pub fn finish_series_study(
    folder: RunFolder,
    study: &SeriesStudy<'_>,
    started: Instant,
    log: &mut dyn FnMut(&str),
) -> Result<StudySummary> {
    let merged = measure_series(&folder, study, log)?;
    if !study.keep_checkpoints {
        let (files, bytes) = prune_checkpoint_weights(study.checkpoints)?;
        log(&format!(
            "removed {files} checkpoint weight files ({:.0} MB); the series keeps every number",
            bytes as f64 / 1e6
        ));
    }
    let facts: String = study
        .facts
        .iter()
        .map(|f| format!(" {} {:.3}.", f.meaning, f.value))
        .collect();
    let mut summary = merged.summary.clone();
    summary.study.study = study.study.into();
    summary.study.title = study.title.into();
    summary.study.direction = Some((study.direction)(&summary.analysis));
    summary.study.headline = format!(
        "{}{facts} ({}). Wall clock {:.0} s.",
        summary.study.headline,
        study.paper,
        started.elapsed().as_secs_f64()
    );
    folder.write_json(
        "summary.json",
        &TrainedSeriesSummary {
            series: &summary,
            facts: &study.facts,
        },
    )?;
    let report_path = merged.folder.join("report.md");
    let report = std::fs::read_to_string(&report_path)
        .map_err(|e| crate::error::Error::io(&report_path, e))?;
    let fact_lines: String = study
        .facts
        .iter()
        .map(|f| format!("- {} **{:.3}** (`{}`)\n", f.meaning, f.value, f.name))
        .collect();
    let facts_block = if fact_lines.is_empty() {
        String::new()
    } else {
        format!("\n\n{fact_lines}")
    };
    folder.write_report(&format!("{}{facts_block}\n\n{report}\n", study.header))?;
    folder.finish()?;
    Ok(summary.study)
}

/// The probe texts of one split, written into the study's run folder.
pub struct SplitTexts {
    /// `train`, `validation`, `test`.
    pub split: String,
    /// One sequence per entry (no newlines).
    pub texts: Vec<String>,
}

impl SplitTexts {
    /// The `train`, `validation` and `test` splits, in that order.
    pub fn train_validation_test(
        train: Vec<String>,
        validation: Vec<String>,
        test: Vec<String>,
    ) -> Vec<SplitTexts> {
        [("train", train), ("validation", validation), ("test", test)]
            .into_iter()
            .map(|(split, texts)| SplitTexts {
                split: split.into(),
                texts,
            })
            .collect()
    }
}

/// Writes the texts as `probe/<split>.txt`, builds the sweep's spec (the study's analysed split),
/// measures every unit into `<folder>/series/` and merges it; copies `series.csv` and the figure to
/// the folder's top (the caller writes `summary.json` from [`Merged::summary`]).
///
/// # Errors
/// I/O, sweep or merge failures.
pub fn measure_series(
    folder: &RunFolder,
    study: &SeriesStudy<'_>,
    log: &mut dyn FnMut(&str),
) -> Result<Merged> {
    folder.dir("probe")?;
    let mut files = Vec::new();
    for s in study.splits {
        let rel = format!("probe/{}.txt", s.split);
        let mut text = s
            .texts
            .iter()
            .map(|t| t.replace('\n', " "))
            .collect::<Vec<_>>()
            .join("\n");
        text.push('\n');
        folder.write_text(&rel, &text)?;
        files.push(SplitFile {
            split: s.split.clone(),
            path: folder.path().join(rel),
            field: None,
        });
    }
    let spec = SeriesSpec {
        name: study.series_name.to_string(),
        checkpoints: CheckpointSource::SeedFolders {
            root: study.checkpoints.to_path_buf(),
        },
        data: DataSpec {
            source: DataSource::Files(files),
            splits: Some(study.splits.iter().map(|s| s.split.clone()).collect()),
        },
        metrics: MetricSource::LidTrain(LidTrainMetrics {
            metric: study.metric_column.to_string(),
            loss: "eval_loss".into(),
            files: None,
        }),
        probe: study.probe.clone(),
        analysis: AnalysisSpec {
            split: Some(study.analysed_split.to_string()),
            metric_name: study.metric_name.to_string(),
            ..AnalysisSpec::default()
        },
    };
    let out: PathBuf = folder.path().join("series");
    series::run_sweep(&spec, &out, Shard::ALL, log)?;
    let merged = series::merge(&out, log)?;
    for file in [
        series::SERIES_FILE.to_string(),
        format!("{}.png", series::FIGURE_STEM),
        format!("{}.svg", series::FIGURE_STEM),
    ] {
        let bytes = std::fs::read(out.join(&file))
            .map_err(|e| crate::error::Error::io(out.join(&file), e))?;
        folder.write_bytes(&file, &bytes)?;
    }
    Ok(merged)
}

/// Removes the weights (`model.safetensors`, `optimizer.safetensors`, `adapter/`) of every
/// `checkpoint-<step>/` below `root`, keeping their `config.json`, `trainer_state.json` and
/// `metrics.csv`: after a study has measured its series, the weights are hundreds of megabytes per
/// checkpoint and every number derived from them is in the series folder. Returns the files removed
/// and their bytes.
///
/// # Errors
/// I/O failures.
pub fn prune_checkpoint_weights(root: &Path) -> Result<(usize, u64)> {
    let mut removed = (0usize, 0u64);
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| crate::error::Error::io(&dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| crate::error::Error::io(&dir, e))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let in_checkpoint = dir
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("checkpoint-"));
            if path.is_dir() {
                if in_checkpoint && name == "adapter" {
                    removed.1 += dir_size(&path);
                    removed.0 += 1;
                    std::fs::remove_dir_all(&path)
                        .map_err(|e| crate::error::Error::io(&path, e))?;
                } else {
                    stack.push(path);
                }
            } else if in_checkpoint
                && (name == "model.safetensors" || name == "optimizer.safetensors")
            {
                removed.1 += entry.metadata().map_or(0, |m| m.len());
                removed.0 += 1;
                std::fs::remove_file(&path).map_err(|e| crate::error::Error::io(&path, e))?;
            }
        }
    }
    Ok(removed)
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .filter_map(|e| e.ok())
            .map(|e| {
                if e.path().is_dir() {
                    dir_size(&e.path())
                } else {
                    e.metadata().map_or(0, |m| m.len())
                }
            })
            .sum()
    })
}
