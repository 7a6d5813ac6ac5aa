//! `reproduce`: every registered study ([`crate::studies::registry`]) at one preset (`cpu` or
//! `quick`), each into its own subfolder of one run folder, and one top-level `report.md` gathered
//! from the studies' `summary.json` files. The default suite (`lid-experiments` without a
//! subcommand) is its `quick` preset.
//!
//! The top-level report is built by reading the subfolders back through
//! [`crate::run::folder::read_summary`], the same reader any merger uses: a study whose folder has no
//! completeness marker is reported as incomplete, with the reason, and never with its numbers. The
//! suite folder gets its own marker only when every study finished.
//!
//! Resuming (`--resume --out DIR`) checks before it touches anything that `DIR` holds an unfinished
//! suite of the same preset and studies (its `config.json`, through the one check every study's
//! resume uses, [`RunFolder::resume_matching`]); then a study whose subfolder is complete is kept as
//! it is, an interrupted one continues in its folder (each study resumes from what it stored:
//! measurements, checkpoints, finished runs), and a missing one starts.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::run::folder::{is_complete, read_summary, RunFolder, StudySummary};
use crate::run::Preset;
use crate::studies::Study;

/// What happened to one study of the suite.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SuiteEntry {
    /// Study name (its subfolder).
    pub study: String,
    /// Its summary, or why there is none (failure or incomplete folder).
    pub outcome: std::result::Result<StudySummary, String>,
}

/// Settings recorded in the suite's `config.json`: what a resume must match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteSettings {
    /// The preset every study ran.
    pub preset: Preset,
    /// The studies, in the order they ran.
    pub studies: Vec<String>,
}

/// Where a suite runs.
#[derive(Debug, Clone, Copy)]
pub enum SuiteFolder<'a> {
    /// A new folder at this path (it must not exist, or be empty).
    New(&'a Path),
    /// A new folder `runs/suite-<UTC time>` under this parent.
    Timestamped(&'a Path),
    /// The unfinished suite in this folder, continued (a missing or empty folder starts one).
    Resume(&'a Path),
}

/// Runs `preset` of every study in `studies` into subfolders of the suite folder `at`, writes the
/// top-level `report.md`, and finishes the folder when all succeeded. `log` receives progress lines.
///
/// # Errors
/// [`Error::Flag`] for the `paper` preset (it needs the paper's data; each study's own command takes
/// it) and for a folder that cannot be resumed (complete, not a suite, other settings), before
/// anything is written; [`Error::Check`] naming the studies that failed (after the report is
/// written); I/O errors of the suite folder itself.
pub fn run_suite(
    at: SuiteFolder<'_>,
    preset: Preset,
    studies: &[&dyn Study],
    log: &mut dyn FnMut(&str),
) -> Result<(PathBuf, Vec<SuiteEntry>)> {
    if preset == Preset::Paper {
        return Err(Error::flag(
            "--preset",
            preset,
            "the paper preset needs the paper's data and models from local paths: run each study's own command with them (docs/reproduction.md)",
        ));
    }
    let settings = SuiteSettings {
        preset,
        studies: studies.iter().map(|s| s.name().to_string()).collect(),
    };
    let resume = matches!(at, SuiteFolder::Resume(_));
    let mut folder = match at {
        SuiteFolder::New(dir) => RunFolder::create(dir, "suite")?,
        SuiteFolder::Timestamped(parent) => RunFolder::timestamped(parent, "suite")?,
        SuiteFolder::Resume(dir) => RunFolder::resume_matching(dir, "suite", &settings)?,
    };
    log(&format!(
        "suite run folder {} ({preset} preset{})",
        folder.path().display(),
        if resume { ", resumed" } else { "" }
    ));
    folder.write_config(&settings, &[])?;
    for study in studies {
        log(&format!("== {} ({})", study.name(), study.title()));
        let sub = folder.path().join(study.name());
        let result = if resume && is_complete(&sub) {
            log(&format!(
                "{}: finished by the interrupted run, kept as it is",
                study.name()
            ));
            continue;
        } else if resume && sub.exists() {
            RunFolder::resume(&sub, study.name()).and_then(|sub| study.run(preset, sub, true, log))
        } else {
            folder
                .subfolder(study.name(), study.name())
                .and_then(|sub| study.run(preset, sub, false, log))
        };
        if let Err(e) = result {
            log(&format!("{} failed: {e}", study.name()));
        }
    }
    let entries: Vec<SuiteEntry> = studies
        .iter()
        .map(|s| SuiteEntry {
            study: s.name().to_string(),
            outcome: read_summary(&folder.path().join(s.name())).map_err(|e| e.to_string()),
        })
        .collect();
    folder.write_report(&suite_report(preset, &entries))?;
    let failed: Vec<&str> = entries
        .iter()
        .filter(|e| e.outcome.is_err())
        .map(|e| e.study.as_str())
        .collect();
    if !failed.is_empty() {
        return Err(Error::Check(format!(
            "{} of {} studies did not finish ({}); see {} (continue with --resume --out {})",
            failed.len(),
            entries.len(),
            failed.join(", "),
            folder.path().join("report.md").display(),
            folder.path().display()
        )));
    }
    let path = folder.finish()?;
    Ok((path, entries))
}

/// The top-level report: one section per study with its headline, key table and figures (paths
/// relative to the suite folder), or the reason it has none.
pub fn suite_report(preset: Preset, entries: &[SuiteEntry]) -> String {
    let what = match preset {
        Preset::Quick => {
            "Quick presets run the whole pipeline of every study in minutes on a laptop-class CPU; \
             they check the machinery and show each study's direction where that fits their budget, \
             and the paper-scale numbers come from the `paper` and `cpu` presets"
        }
        _ => {
            "The `cpu` presets keep the paper's model and optimizer settings where 2 cores allow and \
             shrink data, steps and probes; every difference from the paper is listed"
        }
    };
    let mut out = format!(
        "# lid reproduction suite ({preset} presets)\n\n\
         Each study ran its `{preset}` preset into its own subfolder; its full report is \
         `<study>/report.md`, its settings and versions `<study>/config.json`. {what} \
         (docs/reproduction.md).\n\n",
    );
    for e in entries {
        match &e.outcome {
            Ok(s) => {
                out.push_str(&format!("## {}\n\n{}\n\n", s.title, s.headline));
                if let Some(d) = &s.direction {
                    out.push_str(&format!("{}\n\n", d.markdown()));
                }
                if let Some(table) = &s.table_markdown {
                    out.push_str(table);
                    out.push('\n');
                }
                for f in &s.figures {
                    out.push_str(&format!("![{}]({}/{})\n\n", f.caption, e.study, f.file));
                }
                out.push_str(&format!(
                    "Full report: [{0}/report.md]({0}/report.md)\n\n",
                    e.study
                ));
            }
            Err(reason) => {
                out.push_str(&format!("## {}\n\n**Not finished**: {reason}\n\n", e.study));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::folder::{FigureRef, CONFIG_FILE};
    use crate::run::COMPLETE_MARKER;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// A study that writes its summary and finishes, or fails half-way, as told; it counts its
    /// runs and remembers whether the last one was told to resume.
    struct Fake {
        name: &'static str,
        fail: AtomicBool,
        runs: AtomicUsize,
        resumed: AtomicBool,
    }

    impl Fake {
        fn new(name: &'static str, fail: bool) -> Self {
            Fake {
                name,
                fail: AtomicBool::new(fail),
                runs: AtomicUsize::new(0),
                resumed: AtomicBool::new(false),
            }
        }
    }

    impl Study for Fake {
        fn name(&self) -> &'static str {
            self.name
        }
        fn title(&self) -> &'static str {
            "Fake study"
        }
        fn run(
            &self,
            preset: Preset,
            mut folder: RunFolder,
            resume: bool,
            _log: &mut dyn FnMut(&str),
        ) -> Result<StudySummary> {
            self.runs.fetch_add(1, Ordering::SeqCst);
            self.resumed.store(resume, Ordering::SeqCst);
            folder.write_config(&preset, &[1])?;
            let summary = StudySummary {
                study: self.name.into(),
                title: format!("Fake {}", self.name),
                headline: "mean LID 7.25".into(),
                table_markdown: Some("| a |\n|---|\n| 1 |\n".into()),
                figures: vec![FigureRef {
                    file: "f.png".into(),
                    caption: "a figure".into(),
                }],
                direction: Some(crate::run::Direction::new(false, "Rule: a fake one.")),
            };
            // A failing study has written its summary already: without the marker it must not
            // appear in the report.
            folder.write_summary(&summary)?;
            if self.fail.load(Ordering::SeqCst) {
                return Err(Error::Check("killed half-way".into()));
            }
            folder.finish()?;
            Ok(summary)
        }
    }

    #[test]
    fn the_report_gathers_finished_studies_and_flags_incomplete_ones() {
        let dir = tempfile::tempdir().unwrap();
        let ok = Fake::new("good", false);
        let bad = Fake::new("broken", true);
        let at = dir.path().join("suite");
        let err = run_suite(
            SuiteFolder::New(&at),
            Preset::Quick,
            &[&ok, &bad],
            &mut |_| {},
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("1 of 2 studies") && err.contains("broken") && err.contains("--resume"),
            "{err}"
        );
        let report = std::fs::read_to_string(at.join("report.md")).unwrap();
        assert!(report.contains("(quick presets)"), "{report}");
        assert!(report.contains("## Fake good") && report.contains("mean LID 7.25"));
        assert!(report.contains("![a figure](good/f.png)"), "{report}");
        assert!(
            report.contains("**Paper's direction: not shown at this preset.** Rule: a fake one."),
            "{report}"
        );
        assert!(report.contains("## broken") && report.contains("Not finished"));
        assert!(report.contains("incomplete"), "{report}");
        assert_eq!(report.matches("mean LID 7.25").count(), 1, "{report}");
        assert!(!is_complete(&at));

        let at2 = dir.path().join("suite2");
        let (path, entries) =
            run_suite(SuiteFolder::New(&at2), Preset::Cpu, &[&ok], &mut |_| {}).unwrap();
        assert!(is_complete(&path));
        assert!(entries[0].outcome.is_ok());
        let report = std::fs::read_to_string(at2.join("report.md")).unwrap();
        assert!(report.contains("(cpu presets)"), "{report}");
    }

    #[test]
    fn resume_keeps_finished_studies_and_continues_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let at = dir.path().join("suite");
        let ok = Fake::new("good", false);
        let bad = Fake::new("broken", true);
        run_suite(
            SuiteFolder::New(&at),
            Preset::Cpu,
            &[&ok, &bad],
            &mut |_| {},
        )
        .unwrap_err();
        let good_marker = std::fs::read(at.join("good").join(COMPLETE_MARKER)).unwrap();

        // Another preset or another list of studies is refused, and nothing is touched.
        let config = std::fs::read(at.join(CONFIG_FILE)).unwrap();
        for (preset, studies) in [
            (Preset::Quick, vec![&ok as &dyn Study, &bad]),
            (Preset::Cpu, vec![&ok as &dyn Study]),
        ] {
            let err = run_suite(SuiteFolder::Resume(&at), preset, &studies, &mut |_| {})
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("--out") && err.contains("other settings"),
                "{err}"
            );
            assert_eq!(std::fs::read(at.join(CONFIG_FILE)).unwrap(), config);
        }
        assert_eq!(ok.runs.load(Ordering::SeqCst), 1);

        // The same settings: the finished study is kept, the broken one continues in its folder.
        bad.fail.store(false, Ordering::SeqCst);
        let (path, entries) = run_suite(
            SuiteFolder::Resume(&at),
            Preset::Cpu,
            &[&ok, &bad],
            &mut |_| {},
        )
        .unwrap();
        assert!(is_complete(&path));
        assert!(entries.iter().all(|e| e.outcome.is_ok()));
        assert_eq!(
            ok.runs.load(Ordering::SeqCst),
            1,
            "a finished study ran again"
        );
        assert_eq!(bad.runs.load(Ordering::SeqCst), 2);
        assert!(bad.resumed.load(Ordering::SeqCst));
        assert_eq!(
            std::fs::read(at.join("good").join(COMPLETE_MARKER)).unwrap(),
            good_marker
        );

        // A complete suite, an unrelated folder and the paper preset are refused.
        let marker = std::fs::read(at.join(COMPLETE_MARKER)).unwrap();
        let err = run_suite(
            SuiteFolder::Resume(&at),
            Preset::Cpu,
            &[&ok, &bad],
            &mut |_| {},
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("complete; nothing to resume"), "{err}");
        assert_eq!(std::fs::read(at.join(COMPLETE_MARKER)).unwrap(), marker);
        let other = dir.path().join("other");
        std::fs::create_dir(&other).unwrap();
        std::fs::write(other.join("notes.txt"), "mine").unwrap();
        let err = run_suite(
            SuiteFolder::Resume(&other),
            Preset::Cpu,
            &[&ok],
            &mut |_| {},
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("not a run folder of suite"), "{err}");
        assert_eq!(std::fs::read_dir(&other).unwrap().count(), 1);
        let err = run_suite(
            SuiteFolder::New(&dir.path().join("p")),
            Preset::Paper,
            &[&ok],
            &mut |_| {},
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("--preset"), "{err}");
        assert!(!dir.path().join("p").exists());
    }
}
