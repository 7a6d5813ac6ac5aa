//! The default suite: the quick preset of every registered study ([`crate::studies::registry`]),
//! each into its own subfolder of one run folder, and one top-level `report.md` gathered from the
//! studies' `summary.json` files.
//!
//! The top-level report is built by reading the subfolders back through
//! [`crate::run::folder::read_summary`], the same reader any merger uses: a study whose folder has no
//! completeness marker is reported as incomplete, with the reason, and never with its numbers. The
//! suite folder gets its own marker only when every study finished.

use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::run::folder::{read_summary, RunFolder, StudySummary};
use crate::studies::Study;

/// What happened to one study of the suite.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SuiteEntry {
    /// Study name (its subfolder).
    pub study: String,
    /// Its summary, or why there is none (failure or incomplete folder).
    pub outcome: std::result::Result<StudySummary, String>,
}

/// Settings recorded in the suite's `config.json`.
#[derive(Serialize)]
struct SuiteSettings<'a> {
    preset: &'static str,
    studies: Vec<&'a str>,
}

/// Runs the quick preset of every study in `studies` into subfolders of `folder`, writes the
/// top-level `report.md`, and finishes the folder when all succeeded. `log` receives progress lines.
///
/// # Errors
/// [`Error::Check`] naming the studies that failed (after the report is written); I/O errors of the
/// suite folder itself.
pub fn run_suite(
    mut folder: RunFolder,
    studies: &[&dyn Study],
    log: &mut dyn FnMut(&str),
) -> Result<(PathBuf, Vec<SuiteEntry>)> {
    folder.write_config(
        &SuiteSettings {
            preset: "quick",
            studies: studies.iter().map(|s| s.name()).collect(),
        },
        &[],
    )?;
    for study in studies {
        log(&format!("== {} ({})", study.name(), study.title()));
        let result = folder
            .subfolder(study.name(), study.name())
            .and_then(|sub| study.run_quick(sub, log));
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
    folder.write_report(&suite_report(&entries))?;
    let failed: Vec<&str> = entries
        .iter()
        .filter(|e| e.outcome.is_err())
        .map(|e| e.study.as_str())
        .collect();
    if !failed.is_empty() {
        return Err(Error::Check(format!(
            "{} of {} studies did not finish ({}); see {}",
            failed.len(),
            entries.len(),
            failed.join(", "),
            folder.path().join("report.md").display()
        )));
    }
    let path = folder.finish()?;
    Ok((path, entries))
}

/// The top-level report: one section per study with its headline, key table and figures (paths
/// relative to the suite folder), or the reason it has none.
pub fn suite_report(entries: &[SuiteEntry]) -> String {
    let mut out = String::from(
        "# lid reproduction suite (quick presets)\n\n\
         Each study ran its `quick` preset into its own subfolder; its full report is \
         `<study>/report.md`, its settings and versions `<study>/config.json`. Quick presets run the \
         whole pipeline of every study in seconds to minutes on a laptop-class CPU; they check the \
         machinery, and the paper-scale numbers come from the `paper` and `cpu` presets \
         (docs/reproduction.md).\n\n",
    );
    for e in entries {
        match &e.outcome {
            Ok(s) => {
                out.push_str(&format!("## {}\n\n{}\n\n", s.title, s.headline));
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
    use crate::run::folder::FigureRef;

    /// A study that writes its summary and finishes, or fails half-way, as told.
    struct Fake {
        name: &'static str,
        fail: bool,
    }

    impl Study for Fake {
        fn name(&self) -> &'static str {
            self.name
        }
        fn title(&self) -> &'static str {
            "Fake study"
        }
        fn run_quick(
            &self,
            mut folder: RunFolder,
            _log: &mut dyn FnMut(&str),
        ) -> Result<StudySummary> {
            folder.write_config(&"settings", &[1])?;
            let summary = StudySummary {
                study: self.name.into(),
                title: format!("Fake {}", self.name),
                headline: "mean LID 7.25".into(),
                table_markdown: Some("| a |\n|---|\n| 1 |\n".into()),
                figures: vec![FigureRef {
                    file: "f.png".into(),
                    caption: "a figure".into(),
                }],
            };
            // A failing study has written its summary already: without the marker it must not
            // appear in the report.
            folder.write_summary(&summary)?;
            if self.fail {
                return Err(Error::Check("killed half-way".into()));
            }
            folder.finish()?;
            Ok(summary)
        }
    }

    #[test]
    fn the_report_gathers_finished_studies_and_flags_incomplete_ones() {
        let dir = tempfile::tempdir().unwrap();
        let ok = Fake {
            name: "good",
            fail: false,
        };
        let bad = Fake {
            name: "broken",
            fail: true,
        };
        let folder = RunFolder::create(dir.path().join("suite"), "suite").unwrap();
        let err = run_suite(folder, &[&ok, &bad], &mut |_| {})
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("1 of 2 studies") && err.contains("broken"),
            "{err}"
        );
        let report = std::fs::read_to_string(dir.path().join("suite/report.md")).unwrap();
        assert!(report.contains("## Fake good") && report.contains("mean LID 7.25"));
        assert!(report.contains("![a figure](good/f.png)"), "{report}");
        assert!(report.contains("## broken") && report.contains("Not finished"));
        assert!(report.contains("incomplete"), "{report}");
        assert_eq!(report.matches("mean LID 7.25").count(), 1, "{report}");
        assert!(!crate::run::folder::is_complete(&dir.path().join("suite")));

        let folder = RunFolder::create(dir.path().join("suite2"), "suite").unwrap();
        let (path, entries) = run_suite(folder, &[&ok], &mut |_| {}).unwrap();
        assert!(crate::run::folder::is_complete(&path));
        assert!(entries[0].outcome.is_ok());
    }
}
