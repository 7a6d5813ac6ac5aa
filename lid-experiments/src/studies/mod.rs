//! The studies: each a module with its settings and presets, its analysis and its report, writing
//! one [`crate::run::RunFolder`].
//!
//! | study | what it reproduces | presets |
//! |---|---|---|
//! | [`validation`] | every estimator on synthetic manifolds of known dimension | `quick` |
//! | [`finetune_shift`] | docs/reproduction.md study 1: fine-tuning lowers LID on its own domain only | `paper`, `cpu`, `quick` |
//! | [`grokking`] | docs/reproduction.md study 4: LID falls before validation accuracy rises | `paper`, `cpu`, `quick` |
//! | [`dst`] | docs/reproduction.md study 2: LID stabilises when joint goal accuracy saturates | `paper`, `cpu`, `quick` |
//! | [`emowoz`] | docs/reproduction.md study 3: LID climbs back when the model overfits | `paper`, `cpu`, `quick` |
//!
//! # Adding a study
//! 1. Create `studies/<name>/mod.rs` (or `<name>.rs`): a settings struct with its presets (`paper`,
//!    `cpu`, `quick`; one `Default`, overrides on top, validated once), the computation, and a
//!    function that writes a [`RunFolder`]: `write_config` first, then tables, JSON, figures (from
//!    [`crate::run::plot`]), `report.md`, `summary.json` ([`StudySummary`]), and `finish` last.
//! 2. Implement [`Study`] for a unit struct: `run` runs the `cpu` or `quick` preset into the folder
//!    it is given (continuing an interrupted run there when told to resume).
//! 3. Add the struct to [`registry`]: `reproduce` and the default suite
//!    (`cargo run --release -p lid-experiments`) then run it and its summary joins the suite's
//!    `report.md`.
//! 4. For a command line of its own, add a subcommand to `src/bin/lid-experiments.rs` that calls the
//!    study's `run_cli`.

pub mod corpora;
pub mod dst;
pub mod emowoz;
pub mod finetune_shift;
pub mod grokking;
pub mod models;
pub mod series;
pub mod trained_series;
pub mod validation;

use crate::error::{Error, Result};
use crate::run::{Preset, RunFolder, StudySummary};

/// A study the default suite can run.
pub trait Study: Sync {
    /// Stable name: the subfolder in the suite, the `study` of `config.json`, the subcommand.
    fn name(&self) -> &'static str;

    /// Human title (the heading of its section in the suite report).
    fn title(&self) -> &'static str;

    /// Runs `preset` (`cpu` or `quick`: the presets that need no data beyond the offline assets)
    /// into `folder`, writes every file including `summary.json`, and finishes the folder (its
    /// completeness marker last). `folder` is new and empty, or, with `resume`, holds the
    /// interrupted run of the same preset, which continues (as the study's own `--resume` does).
    /// `log` receives progress lines.
    ///
    /// # Errors
    /// [`paper_needs_data`] for [`Preset::Paper`]; whatever the study's computation or writing
    /// returns; the folder then stays incomplete.
    fn run(
        &self,
        preset: Preset,
        folder: RunFolder,
        resume: bool,
        log: &mut dyn FnMut(&str),
    ) -> Result<StudySummary>;
}

/// The error of a study asked to run the `paper` preset without its data: the paper's corpora and
/// models come from local paths given to the study's own command.
pub fn paper_needs_data(study: &str) -> Error {
    Error::flag(
        "--preset",
        "paper",
        format!(
            "the paper preset of {study} needs the paper's data and model from local paths: run `lid-experiments {study} --preset paper` with them"
        ),
    )
}

/// Every study of the default suite, in the order the suite runs them.
pub fn registry() -> &'static [&'static dyn Study] {
    &[
        &validation::Validation,
        &grokking::Grokking,
        &finetune_shift::FinetuneShift,
        &dst::Dst,
        &emowoz::Emowoz,
    ]
}

/// The registered study called `name`.
pub fn find(name: &str) -> Option<&'static dyn Study> {
    registry().iter().copied().find(|s| s.name() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_are_unique_and_findable() {
        let names: Vec<&str> = registry().iter().map(|s| s.name()).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        for n in names {
            assert_eq!(find(n).map(|s| s.name()), Some(n));
        }
        assert!(find("nope").is_none());
    }
}
