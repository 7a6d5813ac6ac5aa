//! [`RunFolder`]: the self-describing folder of one run, the same for every study.
//!
//! Layout (names are constants of this module):
//! - `config.json`: [`RunMetadata`] (study, versions, git commit and dirty flag, command line, start
//!   and end times, threads, seeds) flattened, plus the study's resolved settings under `settings`.
//!   Written by [`RunFolder::write_config`] when the run starts (`finished_utc: null`) and again by
//!   [`RunFolder::finish`] with the end time.
//! - CSV tables ([`RunFolder::write_table`]) and JSON values ([`RunFolder::write_json`]): every
//!   number the report shows.
//! - figures as `<stem>.svg` and `<stem>.png` ([`RunFolder::write_figure`], see
//!   [`crate::run::plot`]).
//! - `report.md` ([`RunFolder::write_report`]) and `summary.json` ([`RunFolder::write_summary`], the
//!   short [`StudySummary`] the suite report gathers).
//! - `COMPLETE` ([`COMPLETE_MARKER`]), written last by [`RunFolder::finish`]: a JSON list of every
//!   file of the run. A folder without it is incomplete (the run failed, was killed or is still
//!   running); readers and mergers use [`require_complete`] / [`read_summary`], which refuse such a
//!   folder.
//!
//! Every file goes through [`crate::run::atomic`], so a killed run leaves complete files or none,
//! and at worst hidden `.partial` files.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use lid_embed::output::lock::FolderLock;

use crate::error::{Error, Result};
use crate::run::atomic::write_atomic;
use crate::run::metadata::{utc_stamp_for_names, utc_timestamp, RunMetadata};
use crate::run::paths::OutputCheck;
use crate::run::plot::{self, Figure};
use crate::run::table::Table;

/// Name of the completeness marker, written last.
pub const COMPLETE_MARKER: &str = "COMPLETE";
/// Name of the settings and metadata file.
pub const CONFIG_FILE: &str = "config.json";
/// Name of the report.
pub const REPORT_FILE: &str = "report.md";
/// Name of the study summary gathered by the suite report.
pub const SUMMARY_FILE: &str = "summary.json";

/// A run folder (see the module docs). Writers return the path they wrote.
#[derive(Debug)]
pub struct RunFolder {
    root: PathBuf,
    started: SystemTime,
    metadata: RunMetadata,
    settings: serde_json::Value,
    /// The folder opened and locked while this value lives ([`lock_folder`]).
    _lock: FolderLock,
}

/// `config.json`: metadata flattened, settings under `settings`.
#[derive(Serialize)]
struct ConfigFile<'a> {
    #[serde(flatten)]
    metadata: &'a RunMetadata,
    settings: &'a serde_json::Value,
}

/// The contents of the [`COMPLETE_MARKER`] file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompleteMarker {
    /// The study that finished.
    pub study: String,
    /// End time, UTC.
    pub finished_utc: String,
    /// Every file of the folder (relative paths, sorted), the marker excluded.
    pub files: Vec<String>,
}

/// A figure listed in a [`StudySummary`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FigureRef {
    /// The PNG, relative to the study's folder.
    pub file: String,
    /// What it shows, in one sentence.
    pub caption: String,
}

/// The short summary of a study run, written as `summary.json` and gathered into the suite report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudySummary {
    /// Study name (the folder name in the suite).
    pub study: String,
    /// Heading.
    pub title: String,
    /// What the run found, in a few sentences with the key numbers.
    pub headline: String,
    /// The key table, as Markdown.
    pub table_markdown: Option<String>,
    /// The figures that carry the result.
    pub figures: Vec<FigureRef>,
    /// Whether the run shows the paper's effect in direction, by the study's fixed rule (`None`
    /// for runs without a paper effect, such as the estimator validation).
    #[serde(default)]
    pub direction: Option<Direction>,
}

/// Whether a study run shows the paper's effect in direction, by a rule fixed per study before
/// the quick presets were run (docs/reproduction.md, "Direction at a preset"): the suite report
/// states it in one line, so that a preset too small for the effect says so.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Direction {
    /// The rule holds.
    pub shown: bool,
    /// The rule and the values it was checked on, one sentence.
    pub line: String,
}

impl Direction {
    /// `shown` with the sentence `line`.
    pub fn new(shown: bool, line: impl Into<String>) -> Self {
        Self {
            shown,
            line: line.into(),
        }
    }

    /// The line of the suite report: `**Paper's direction: shown.** ...` or `**Paper's direction:
    /// not shown at this preset.** ...`.
    pub fn markdown(&self) -> String {
        let verdict = if self.shown {
            "shown"
        } else {
            "not shown at this preset"
        };
        format!("**Paper's direction: {verdict}.** {}", self.line)
    }
}

impl RunFolder {
    /// Creates the folder `path` for a run of `study` (it must not exist, or be empty, and its
    /// parent must exist: see [`crate::run::paths`]).
    ///
    /// # Errors
    /// [`Error::OutputPath`] for a refused path (named `--out`), [`Error::Io`] when creation fails.
    pub fn create(path: impl Into<PathBuf>, study: &str) -> Result<Self> {
        let root = path.into();
        OutputCheck::new().folder("--out", &root).check()?;
        std::fs::create_dir_all(&root).map_err(|e| Error::io(&root, e))?;
        let lock = lock_folder(&root)?;
        Ok(Self::at(root, study, lock))
    }

    /// Creates `parent/<study>-<YYYYMMDD-HHMMSS>` (UTC; `-2`, `-3`, ... when taken), creating
    /// `parent` when needed (the default `runs/`).
    ///
    /// # Errors
    /// As [`RunFolder::create`].
    pub fn timestamped(parent: impl AsRef<Path>, study: &str) -> Result<Self> {
        let parent = parent.as_ref();
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        let base = parent.join(format!(
            "{study}-{}",
            utc_stamp_for_names(SystemTime::now())
        ));
        let mut candidate = base.clone();
        let mut i = 2;
        while candidate.exists() {
            candidate = PathBuf::from(format!("{}-{i}", base.display()));
            i += 1;
        }
        Self::create(candidate, study)
    }

    /// Reopens the folder of an interrupted run to continue it (grokking `--resume`), or creates it.
    /// A [`COMPLETE_MARKER`] from an earlier finish is removed first: the folder is incomplete again
    /// until this run finishes.
    ///
    /// # Errors
    /// [`Error::RunFolder`] when `path` exists and is not a folder; [`Error::Io`].
    pub fn resume(path: impl Into<PathBuf>, study: &str) -> Result<Self> {
        let root = path.into();
        if !root.exists() {
            return Self::create(root, study);
        }
        if !root.is_dir() {
            return Err(Error::RunFolder {
                path: root,
                reason: "exists and is not a folder".into(),
            });
        }
        let lock = lock_folder(&root)?;
        let marker = root.join(COMPLETE_MARKER);
        if marker.exists() {
            std::fs::remove_file(&marker).map_err(|e| Error::io(&marker, e))?;
        }
        Ok(Self::at(root, study, lock))
    }

    /// Reopens the folder of an interrupted run of `study` to continue it under `settings` (a
    /// study's `--resume`), or creates it when it does not exist or is empty. Everything is checked
    /// before anything in the folder is touched, so a refused resume leaves every file as it was:
    /// - a finished folder (with its [`COMPLETE_MARKER`]) is refused: its results stay as they are,
    ///   whatever settings were asked for;
    /// - a non-empty folder without a readable `config.json` of `study` is refused: it is not a run
    ///   of this study;
    /// - a run whose recorded `settings` differ from `settings` is refused, naming the first
    ///   differences: continuing it would mix two configurations in one folder.
    ///
    /// `settings` is compared as the JSON [`RunFolder::write_config`] records, both sides parsed
    /// from text, so that a float compares equal to its own round trip through `config.json`.
    ///
    /// # Errors
    /// [`Error::Flag`] naming `--out` for each refusal above; as [`RunFolder::create`];
    /// [`Error::Format`] when `settings` cannot be serialised.
    pub fn resume_matching<T: Serialize>(
        path: impl Into<PathBuf>,
        study: &str,
        settings: &T,
    ) -> Result<Self> {
        Self::reopen_matching(path.into(), study, settings, Reopen::Resume)
    }

    /// Reopens the folder of a run of `study`, finished or not, to train it further (grokking's
    /// `--extend`): `written` must equal the settings recorded in its `config.json` (the caller
    /// builds them from the new settings with the recorded step count). The checks are
    /// [`RunFolder::resume_matching`]'s, except that a finished folder is accepted; its
    /// [`COMPLETE_MARKER`] is removed only after they pass, and a missing or empty folder is refused
    /// (there is nothing to extend).
    ///
    /// # Errors
    /// As [`RunFolder::resume_matching`].
    pub fn extend_matching<T: Serialize>(
        path: impl Into<PathBuf>,
        study: &str,
        written: &T,
    ) -> Result<Self> {
        Self::reopen_matching(path.into(), study, written, Reopen::Extend)
    }

    /// The value at JSON `pointer` (e.g. `/study/steps`) of the settings recorded in the
    /// `config.json` of `study`'s run folder `path`.
    ///
    /// # Errors
    /// [`Error::Flag`] naming `--out` when the folder holds no readable `config.json` of `study` or
    /// its settings have no such value.
    pub fn recorded_setting(path: &Path, study: &str, pointer: &str) -> Result<serde_json::Value> {
        let refuse = |reason: String| Error::flag("--out", path.display(), reason);
        if !path.join(CONFIG_FILE).is_file() {
            return Err(refuse(format!(
                "holds no run of {study} (no {CONFIG_FILE})"
            )));
        }
        let recorded = read_recorded(path, study).map_err(refuse)?;
        recorded
            .get("settings")
            .and_then(|s| s.pointer(pointer))
            .cloned()
            .ok_or_else(|| refuse(format!("its {CONFIG_FILE} records no settings{pointer}")))
    }

    fn reopen_matching<T: Serialize>(
        root: PathBuf,
        study: &str,
        settings: &T,
        how: Reopen,
    ) -> Result<Self> {
        let wanted = as_recorded(settings, &root)?;
        let is_empty_dir = root.is_dir()
            && std::fs::read_dir(&root)
                .map_err(|e| Error::io(&root, e))?
                .next()
                .is_none();
        let refuse = |reason: String| Error::flag("--out", root.display(), reason);
        if !root.exists() || is_empty_dir {
            return match how {
                Reopen::Resume => Self::create(root, study),
                Reopen::Extend => Err(refuse(format!(
                    "holds no run of {study} to extend (give the folder of a finished or \
                     interrupted run)"
                ))),
            };
        }
        if !root.is_dir() {
            return Err(refuse("exists and is not a folder".into()));
        }
        // Locked before it is read: a run still writing into it is refused, not checked halfway.
        let lock = lock_folder(&root)?;
        if how == Reopen::Resume && is_complete(&root) {
            return Err(refuse(
                "the run is complete; nothing to resume (give another --out to run again)".into(),
            ));
        }
        let recorded = read_recorded(&root, study).map_err(refuse)?;
        let mut differences = Vec::new();
        json_differences(
            recorded.get("settings").unwrap_or(&serde_json::Value::Null),
            &wanted,
            "settings",
            &mut differences,
        );
        if !differences.is_empty() {
            return Err(refuse(match how {
                Reopen::Resume => format!(
                    "the interrupted run has other settings ({}); resume it with the settings it \
                     was started with, or give another --out",
                    differences.join("; ")
                ),
                Reopen::Extend => format!(
                    "the run has other settings than the step count ({}); extend it with the \
                     settings it was started with, or give another --out",
                    differences.join("; ")
                ),
            }));
        }
        let marker = root.join(COMPLETE_MARKER);
        if how == Reopen::Extend && marker.exists() {
            std::fs::remove_file(&marker).map_err(|e| Error::io(&marker, e))?;
        }
        Ok(Self::at(root, study, lock))
    }

    /// A new run folder `name` inside this one (the suite puts each study in its own).
    ///
    /// # Errors
    /// As [`RunFolder::create`].
    pub fn subfolder(&self, name: &str, study: &str) -> Result<RunFolder> {
        Self::create(self.root.join(name), study)
    }

    fn at(root: PathBuf, study: &str, lock: FolderLock) -> Self {
        let started = SystemTime::now();
        Self {
            root,
            started,
            metadata: RunMetadata::start(study, &[], started),
            settings: serde_json::Value::Null,
            _lock: lock,
        }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The study name recorded in `config.json`.
    pub fn study(&self) -> &str {
        &self.metadata.study
    }

    /// Creates the subfolder `relative` (and its parents) and returns its path.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn dir(&self, relative: &str) -> Result<PathBuf> {
        let path = self.root.join(relative);
        std::fs::create_dir_all(&path).map_err(|e| Error::io(&path, e))?;
        Ok(path)
    }

    /// Writes `config.json` with the run's metadata and `settings` (see the module docs); call it
    /// when the run starts. [`RunFolder::finish`] writes it again with the end time.
    ///
    /// # Errors
    /// [`Error::Format`] when `settings` cannot be serialised (a NaN, for example), [`Error::Io`].
    pub fn write_config<T: Serialize>(&mut self, settings: &T, seeds: &[u64]) -> Result<PathBuf> {
        let path = self.root.join(CONFIG_FILE);
        self.settings = serde_json::to_value(settings).map_err(|e| Error::json(&path, e))?;
        self.metadata.seeds = seeds.to_vec();
        self.write_config_file()
    }

    fn write_config_file(&self) -> Result<PathBuf> {
        self.write_json(
            CONFIG_FILE,
            &ConfigFile {
                metadata: &self.metadata,
                settings: &self.settings,
            },
        )
    }

    /// Writes any serialisable value as pretty JSON to `name` (relative to the folder).
    ///
    /// # Errors
    /// [`Error::Format`] (for example a NaN in a float), [`Error::Io`].
    pub fn write_json<T: Serialize + ?Sized>(&self, name: &str, value: &T) -> Result<PathBuf> {
        let path = self.root.join(name);
        let text = serde_json::to_string_pretty(value).map_err(|e| Error::json(&path, e))?;
        self.write_text(name, &(text + "\n"))
    }

    /// Writes a table as CSV to `name`.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn write_table(&self, name: &str, table: &Table) -> Result<PathBuf> {
        self.write_bytes(name, &table.to_csv()?)
    }

    /// Writes `report.md`.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn write_report(&self, markdown: &str) -> Result<PathBuf> {
        self.write_text(REPORT_FILE, markdown)
    }

    /// Writes `summary.json` for the suite report.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn write_summary(&self, summary: &StudySummary) -> Result<PathBuf> {
        self.write_json(SUMMARY_FILE, summary)
    }

    /// Writes a text file.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn write_text(&self, name: &str, text: &str) -> Result<PathBuf> {
        self.write_bytes(name, text.as_bytes())
    }

    /// Writes bytes to `name` (its folder inside the run folder is created when needed).
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn write_bytes(&self, name: &str, bytes: &[u8]) -> Result<PathBuf> {
        let path = self.root.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        Ok(write_atomic(&path, bytes)?)
    }

    /// Draws `figure` to `<stem>.svg` and `<stem>.png`; returns both paths.
    ///
    /// # Errors
    /// [`Error::Figure`] for data the figure cannot show or a drawing failure; [`Error::Io`].
    pub fn write_figure(&self, stem: &str, figure: &dyn Figure) -> Result<[PathBuf; 2]> {
        let svg = plot::render_svg(figure)?;
        let png = plot::render_png(figure)?;
        Ok([
            self.write_bytes(&format!("{stem}.svg"), svg.as_bytes())?,
            self.write_bytes(&format!("{stem}.png"), &png)?,
        ])
    }

    /// Finishes the run: writes `config.json` again with the end time and duration, then the
    /// [`COMPLETE_MARKER`] listing every file. Returns the folder.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn finish(mut self) -> Result<PathBuf> {
        let finished = SystemTime::now();
        self.metadata.finish(self.started, finished);
        self.write_config_file()?;
        let mut files = list_files(&self.root, &self.root);
        files.retain(|f| f != COMPLETE_MARKER);
        files.sort();
        self.write_json(
            COMPLETE_MARKER,
            &CompleteMarker {
                study: self.metadata.study.clone(),
                finished_utc: utc_timestamp(finished),
                files,
            },
        )?;
        Ok(self.root)
    }
}

/// `value` as `config.json` records it: serialised and parsed back (see
/// [`RunFolder::resume_matching`]).
///
/// The value goes through `serde_json::to_value` first, as [`RunFolder::write_config`] records it:
/// an `f32` setting becomes the `f64` of its exact value there (`0.30000001192092896`), while
/// `to_string` alone would write the `f32`'s shortest form (`0.3`), and an unchanged setting would
/// be refused as different (found by the dst/emowoz kill-and-resume tests).
/// What [`RunFolder::reopen_matching`] reopens a folder for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reopen {
    /// An interrupted run, with the same settings.
    Resume,
    /// A run, finished or not, trained to more steps.
    Extend,
}

/// The `config.json` of `study`'s run folder `root`, or why it is not one (for a refusal naming
/// `--out`).
fn read_recorded(root: &Path, study: &str) -> std::result::Result<serde_json::Value, String> {
    let config = root.join(CONFIG_FILE);
    let recorded: serde_json::Value = match std::fs::read_to_string(&config) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| {
            format!("its {CONFIG_FILE} is not readable ({e}); refusing to write into the folder")
        })?,
        Err(_) => {
            return Err(format!(
                "is not empty and is not a run folder of {study} (no {CONFIG_FILE}); refusing \
                 to write into it (give a new folder, or the folder of an interrupted {study} run)"
            ))
        }
    };
    let recorded_study = recorded.get("study").and_then(|s| s.as_str());
    if recorded_study != Some(study) {
        return Err(format!(
            "holds a run of {}, not of {study}; refusing to write into it",
            recorded_study.unwrap_or("an unknown study")
        ));
    }
    Ok(recorded)
}

fn as_recorded<T: Serialize>(value: &T, root: &Path) -> Result<serde_json::Value> {
    let path = root.join(CONFIG_FILE);
    let value = serde_json::to_value(value).map_err(|e| Error::json(&path, e))?;
    let text = serde_json::to_string(&value).map_err(|e| Error::json(&path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::json(&path, e))
}

/// At most this many differences are named in a refused resume.
const NAMED_DIFFERENCES: usize = 3;

/// Appends `path: recorded -> wanted` for the first [`NAMED_DIFFERENCES`] leaves where
/// `recorded` and `wanted` differ (objects by key, arrays compared whole).
fn json_differences(
    recorded: &serde_json::Value,
    wanted: &serde_json::Value,
    path: &str,
    out: &mut Vec<String>,
) {
    use serde_json::Value;
    if out.len() >= NAMED_DIFFERENCES || recorded == wanted {
        return;
    }
    if let (Value::Object(a), Value::Object(b)) = (recorded, wanted) {
        let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            let (x, y) = (
                a.get(key).unwrap_or(&Value::Null),
                b.get(key).unwrap_or(&Value::Null),
            );
            json_differences(x, y, &format!("{path}.{key}"), out);
        }
        return;
    }
    out.push(format!("{path}: {recorded} there, {wanted} asked for"));
}

/// Relative paths of the (non-hidden) files under `dir`.
fn list_files(root: &Path, dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.filter_map(|e| e.ok()) {
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if hidden {
            continue;
        }
        if path.is_dir() {
            out.extend(list_files(root, &path));
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.push(rel.to_string_lossy().into_owned());
        }
    }
    out
}

/// Whether `path` is a finished run folder (holds the [`COMPLETE_MARKER`]).
pub fn is_complete(path: &Path) -> bool {
    path.join(COMPLETE_MARKER).is_file()
}

/// Reads the [`COMPLETE_MARKER`] of a run folder: the check every reader and merger of run folders
/// makes first.
///
/// # Errors
/// [`Error::RunFolder`] when the marker is missing (the run failed, was killed or is still running)
/// or unreadable.
pub fn require_complete(path: &Path) -> Result<CompleteMarker> {
    let marker = path.join(COMPLETE_MARKER);
    if !marker.is_file() {
        return Err(Error::RunFolder {
            path: path.to_path_buf(),
            reason: format!(
                "incomplete: no {COMPLETE_MARKER} marker (the run failed, was interrupted or is \
                 still running); its files are not results"
            ),
        });
    }
    let text = std::fs::read_to_string(&marker).map_err(|e| Error::io(&marker, e))?;
    serde_json::from_str(&text).map_err(|e| Error::Format {
        action: "parse",
        path: marker,
        message: e.to_string(),
    })
}

/// Reads the [`StudySummary`] of a finished run folder.
///
/// # Errors
/// As [`require_complete`]; a missing or malformed `summary.json`.
pub fn read_summary(path: &Path) -> Result<StudySummary> {
    require_complete(path)?;
    let file = path.join(SUMMARY_FILE);
    let text = std::fs::read_to_string(&file).map_err(|e| Error::io(&file, e))?;
    serde_json::from_str(&text).map_err(|e| Error::Format {
        action: "parse",
        path: file,
        message: e.to_string(),
    })
}

/// Takes the lock of the folder given as `--out` ([`lid_embed::output::lock::lock_folder`]): a
/// study run folder's, or `lid embed`'s output folder.
///
/// # Errors
/// [`Error::Flag`] naming `--out` when another process holds the lock; [`Error::Io`] when the
/// folder cannot be opened.
pub(crate) fn lock_folder(root: &Path) -> Result<FolderLock> {
    lid_embed::output::lock::lock_folder(root)?.ok_or_else(|| {
        Error::flag(
            "--out",
            root.display(),
            "another process is writing into this folder (it holds the folder's lock); wait \
             for it to end, or give another --out",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_is_complete_only_after_finish() {
        let dir = tempfile::tempdir().unwrap();
        let mut run = RunFolder::create(dir.path().join("r"), "demo").unwrap();
        run.write_config(&serde_json::json!({"n": 3}), &[7])
            .unwrap();
        run.write_text("runs/a/metrics.csv", "step\n0\n").unwrap();
        let path = run.path().to_path_buf();
        assert!(!is_complete(&path));
        let err = require_complete(&path).unwrap_err().to_string();
        assert!(err.contains("incomplete"), "{err}");
        let config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path.join(CONFIG_FILE)).unwrap())
                .unwrap();
        assert_eq!(config["finished_utc"], serde_json::Value::Null);
        assert_eq!(config["settings"]["n"], 3);
        run.finish().unwrap();
        let marker = require_complete(&path).unwrap();
        assert_eq!(marker.files, vec!["config.json", "runs/a/metrics.csv"]);
        let config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path.join(CONFIG_FILE)).unwrap())
                .unwrap();
        assert!(config["finished_utc"].is_string());
        assert!(config["wall_seconds"].as_f64().unwrap() >= 0.0);
        assert_eq!(config["seeds"], serde_json::json!([7]));
        assert_eq!(config["study"], "demo");
        // A second run into the same, now non-empty folder is refused.
        let err = RunFolder::create(&path, "demo").unwrap_err().to_string();
        assert!(err.contains("not empty"), "{err}");
        // Resuming makes it incomplete again until the next finish.
        let resumed = RunFolder::resume(&path, "demo").unwrap();
        assert!(!is_complete(&path));
        resumed.finish().unwrap();
        assert!(is_complete(&path));
    }

    /// While one run holds a folder, a second writer (here a second open in the same process,
    /// which `flock` treats as another owner) is refused by every way in, and the folder is left
    /// as it was; once the first run ends, resuming works.
    #[cfg(unix)]
    #[test]
    fn a_second_writer_is_refused_while_a_run_holds_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r");
        let mut run = RunFolder::create(&path, "demo").unwrap();
        run.write_config(&serde_json::json!({"n": 3}), &[7])
            .unwrap();
        let before = list_files(&path, &path);
        for err in [
            RunFolder::resume(&path, "demo").unwrap_err(),
            RunFolder::resume_matching(&path, "demo", &serde_json::json!({"n": 3})).unwrap_err(),
        ] {
            let err = err.to_string();
            assert!(err.starts_with("--out"), "{err}");
            assert!(err.contains("another process is writing"), "{err}");
        }
        assert_eq!(list_files(&path, &path), before);
        drop(run);
        RunFolder::resume_matching(&path, "demo", &serde_json::json!({"n": 3})).unwrap();
    }

    /// The settings check behind every `--resume` and `--extend`, on damaged `config.json` files
    /// (a randomized test in the manner of a fuzz target, seeded so that a failure reproduces):
    /// 1,000 mutations of a real config (bytes flipped, cut, inserted, JSON values swapped) never
    /// panic; each either matches (then the file still parses to the recorded settings) or is
    /// refused naming `--out`; nothing in the folder changes when it is refused.
    #[test]
    fn resume_checks_survive_damaged_config_files() {
        use rand::{Rng, SeedableRng};
        let dir = tempfile::tempdir().unwrap();
        let settings = serde_json::json!({
            "study": {"steps": 8000, "p": 197, "fractions": [0.15, 0.4], "lr": 0.001},
            "device": "cpu"
        });
        let path = dir.path().join("r");
        let mut run = RunFolder::create(&path, "demo").unwrap();
        run.write_config(&settings, &[46]).unwrap();
        drop(run);
        let good = std::fs::read(path.join(CONFIG_FILE)).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(20_261_207);
        let tokens: [&[u8]; 8] = [
            b"{", b"}", b"\"", b"null", b"1e999", b"-0", b"[", b"\\u0000",
        ];
        let mut accepted = 0;
        for case in 0..1000 {
            let mut bytes = good.clone();
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..=bytes.len());
                match rng.random_range(0..4) {
                    0 if at < bytes.len() => bytes[at] = rng.random(),
                    1 => bytes.truncate(at),
                    2 => {
                        let t = tokens[rng.random_range(0..tokens.len())];
                        bytes.splice(at..at, t.iter().copied());
                    }
                    _ => {
                        let end = (at + rng.random_range(0..8)).min(bytes.len());
                        bytes.drain(at..end);
                    }
                }
            }
            std::fs::write(path.join(CONFIG_FILE), &bytes).unwrap();
            let parsed = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .filter(|v| v.get("study") == Some(&"demo".into()));
            let same_settings = parsed
                .as_ref()
                .is_some_and(|v| v.get("settings") == Some(&settings));
            let steps = parsed
                .as_ref()
                .and_then(|v| v.pointer("/settings/study/steps").cloned());
            let checks = [
                (
                    RunFolder::resume_matching(&path, "demo", &settings).map(|_| ()),
                    same_settings,
                ),
                (
                    RunFolder::extend_matching(&path, "demo", &settings).map(|_| ()),
                    same_settings,
                ),
                (
                    RunFolder::recorded_setting(&path, "demo", "/study/steps")
                        .map(|v| assert_eq!(Some(v), steps, "case {case}")),
                    steps.is_some(),
                ),
            ];
            for (result, may_accept) in checks {
                match result {
                    Ok(()) => {
                        assert!(
                            may_accept,
                            "case {case}: accepted {:?}",
                            String::from_utf8_lossy(&bytes)
                        );
                        accepted += 1;
                    }
                    Err(e) => {
                        let e = e.to_string();
                        assert!(e.starts_with("--out"), "case {case}: {e}");
                        assert_eq!(std::fs::read(path.join(CONFIG_FILE)).unwrap(), bytes);
                    }
                }
            }
        }
        // Some mutations leave the JSON equal (inside a string's spaces, say); most do not.
        assert!(accepted < 3 * 1000 / 2, "{accepted} of 3,000 accepted");
    }

    /// An `f32` setting is recorded in `config.json` as the `f64` of its exact value; resuming
    /// with the same settings must match it (it was refused as `0.30000001192092896 there, 0.3
    /// asked for`).
    #[test]
    fn resume_matches_f32_settings_as_recorded() {
        #[derive(Serialize)]
        struct WithF32 {
            dropout: f32,
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run");
        let settings = WithF32 { dropout: 0.3 };
        let mut folder = RunFolder::create(&path, "demo").unwrap();
        folder.write_config(&settings, &[]).unwrap();
        drop(folder);
        assert!(RunFolder::resume_matching(&path, "demo", &settings).is_ok());
    }

    /// The settings check of `--resume`: a finished folder, a foreign folder and other settings are
    /// refused before any file changes; an interrupted run of the same settings continues.
    #[test]
    fn resume_checks_the_folder_before_touching_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r");
        let settings = serde_json::json!({"p": 197, "seeds": [46, 47], "lr": 0.1 + 0.2});
        let mut run = RunFolder::create(&path, "demo").unwrap();
        run.write_config(&settings, &[46]).unwrap();
        let config = std::fs::read(path.join(CONFIG_FILE)).unwrap();
        // The run is interrupted: its process (here its folder value) is gone with its lock.
        drop(run);
        // Interrupted: the same settings continue (floats compare after their round trip).
        assert!(RunFolder::resume_matching(&path, "demo", &settings).is_ok());
        let other = serde_json::json!({"p": 29, "seeds": [46], "lr": 0.1 + 0.2});
        let err = RunFolder::resume_matching(&path, "demo", &other)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--out")
                && err.contains("settings.p: 197 there, 29 asked for")
                && err.contains("settings.seeds: [46,47] there, [46] asked for"),
            "{err}"
        );
        let err = RunFolder::resume_matching(&path, "other", &settings)
            .unwrap_err()
            .to_string();
        assert!(err.contains("a run of demo, not of other"), "{err}");
        assert_eq!(std::fs::read(path.join(CONFIG_FILE)).unwrap(), config);
        let mut resumed = RunFolder::resume_matching(&path, "demo", &settings).unwrap();
        resumed.write_config(&settings, &[46]).unwrap();
        resumed.finish().unwrap();
        let marker = std::fs::read(path.join(COMPLETE_MARKER)).unwrap();
        let config = std::fs::read(path.join(CONFIG_FILE)).unwrap();
        for s in [&settings, &other] {
            let err = RunFolder::resume_matching(&path, "demo", s)
                .unwrap_err()
                .to_string();
            assert!(err.contains("complete"), "{err}");
        }
        assert_eq!(std::fs::read(path.join(COMPLETE_MARKER)).unwrap(), marker);
        assert_eq!(std::fs::read(path.join(CONFIG_FILE)).unwrap(), config);
        // A folder of someone else's files.
        let foreign = dir.path().join("foreign");
        std::fs::create_dir(&foreign).unwrap();
        std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
        let err = RunFolder::resume_matching(&foreign, "demo", &settings)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a run folder of demo"), "{err}");
        assert_eq!(list_files(&foreign, &foreign), vec!["notes.txt"]);
        // Missing or empty: a new run.
        assert!(RunFolder::resume_matching(dir.path().join("new"), "demo", &settings).is_ok());
        assert!(dir.path().join("new").is_dir());
    }

    #[test]
    fn a_missing_parent_is_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let err = RunFolder::create(dir.path().join("no/such/run"), "demo")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--out") && err.contains("does not exist"),
            "{err}"
        );
        assert!(!dir.path().join("no").exists());
    }
}
