//! What every study and command writes, made once here: run folders, tables, figures, metadata,
//! the suite report, and the rules that keep outputs honest.
//!
//! - [`folder`]: [`RunFolder`], the self-describing folder of one run: `config.json` (settings,
//!   seeds, versions, git commit and dirty flag, command line, start and end times), CSV and JSON of
//!   every number, figures as SVG and PNG, `report.md`, `summary.json` for the suite report, and the
//!   completeness marker [`COMPLETE_MARKER`] written last. Readers and mergers call
//!   [`folder::require_complete`] and treat a folder without the marker as incomplete.
//! - [`metadata`]: [`RunMetadata`] (versions, git, command line, clock times).
//! - [`table`]: [`Table`], rows of strings written as CSV or rendered as Markdown.
//! - [`aggregate`]: [`MeanStd`] over seeds or runs, and [`aggregate::band_over_runs`] for curves.
//! - [`plot`]: the figures every study uses (mean +- std bands against a step, stacked panels with
//!   markers, horizontal box plots with reference values, grouped violins).
//! - [`paths`]: output paths checked before any work starts (folder exists and is writable, not an
//!   input, not another output).
//! - [`side_by_side`]: a study's independent jobs (training runs) side by side on the pool's
//!   threads, each on its share, with results that do not depend on the thread count.
//! - [`preset`]: [`Preset`], the named settings (`paper`, `cpu`, `quick`) every study starts from.
//! - [`suite`]: `reproduce`, every study at one preset in one run folder with one top-level
//!   `report.md`, resumable after a kill (the default suite is its quick preset).
//!
//! Every file is written under a temporary name and renamed when complete, through the one helper
//! of the workspace, [`atomic`] (re-exported from `lid_embed::output::atomic`, the lowest crate that
//! writes files).

pub mod aggregate;
pub mod folder;
pub mod metadata;
pub mod paths;
pub mod plot;
pub mod preset;
pub mod side_by_side;
pub mod suite;
pub mod table;

pub use aggregate::MeanStd;
pub use folder::{Direction, RunFolder, StudySummary, COMPLETE_MARKER};
pub use lid_embed::output::atomic;
pub use metadata::RunMetadata;
pub use preset::Preset;
pub use table::Table;
