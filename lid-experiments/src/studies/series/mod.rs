//! Checkpoint-series analysis (docs/reproduction.md studies 2 and 3): the mean local LID of every
//! checkpoint of a training run, seeds x steps, on the splits of a dataset, set against the task
//! metric and the validation loss, as a sweep of independent units that shards over a cluster.
//!
//! - [`spec`]: [`SeriesSpec`], the JSON file that says which checkpoints, which data, which
//!   metrics and which probe settings (paper defaults).
//! - [`checkpoints`]: finds the checkpoints (`<root>/seed<k>/checkpoint-<step>/` as lid-train
//!   writes them, TripPy-R output folders, or a list).
//! - [`data`]: the probe's texts per split (MultiWOZ 2.1 / unified format as TripPy-R turn inputs,
//!   EmoWOZ user utterances, text files), sampled once and tokenised per checkpoint.
//! - [`metrics`]: TripPy-R `eval_res.<split>.json`, a `seed,step,metric,val_loss` CSV, lid-train's
//!   `metrics.csv`.
//! - [`mod@unit`]: one unit = one checkpoint on one split, measured with lid-train's LID probe.
//! - [`sweep`]: the generic mechanism: plan, shards (`--task-index I --task-count K` runs the units
//!   `u % K == I`), one result file per unit, resume, collect.
//! - [`analysis`]: the fixed rules (saturation, stabilisation, minima, correlations).
//! - [`report`]: `series.csv`, `units.csv`, `summary.json`, the figure and `report.md`.
//!
//! The sweep folder:
//! ```text
//! plan.json                  settings (the resolved spec) and the units in their fixed order
//! units/<seed>-<step>-<split>.json    one result per unit (mean, std, median LID, points, ...)
//! series.csv units.csv summary.json series.svg series.png report.md config.json COMPLETE
//!                            written by the merge
//! ```
//!
//! ```no_run
//! # fn main() -> lid_experiments::Result<()> {
//! use lid_experiments::studies::series::{self, spec::SeriesSpec, sweep::Shard};
//! let spec = SeriesSpec::from_file("dst.json".as_ref())?;
//! let out = std::path::Path::new("runs/dst-series");
//! series::run_sweep(&spec, out, Shard::new(0, 4)?, &mut |line| eprintln!("{line}"))?;
//! // ... the other shards, anywhere that sees the same folder ...
//! let merged = series::merge(out, &mut |line| eprintln!("{line}"))?;
//! println!("{}", merged.summary.study.headline);
//! # Ok(()) }
//! ```

pub mod analysis;
pub mod checkpoints;
pub mod data;
pub mod metrics;
pub mod report;
pub mod spec;
pub mod sweep;
pub mod unit;

use std::path::{Path, PathBuf};

use analysis::{analyse, SeriesAnalysis, SeriesRow};
use report::SeriesSummary;
use spec::SeriesSpec;
use sweep::{Plan, Shard, ShardReport};
use unit::{SeriesUnit, UnitResult, UnitRunner};

use crate::error::Result;
use crate::run::folder::SUMMARY_FILE;
use crate::run::RunFolder;

/// The kind of sweep this module plans (`plan.json`'s `kind`).
pub const KIND: &str = "series";
/// The name of the merged series.
pub const SERIES_FILE: &str = "series.csv";
/// The name of the merged per-unit statistics.
pub const UNITS_FILE: &str = "units.csv";
/// The stem of the figure.
pub const FIGURE_STEM: &str = "series";

/// The plan of a checkpoint-series sweep.
pub type SeriesPlan = Plan<SeriesSpec, SeriesUnit>;

/// The plan of `spec`: its checkpoints (found now) x its splits, in the fixed order.
///
/// # Errors
/// An invalid spec; checkpoints that cannot be found (see [`checkpoints::discover`]).
pub fn plan(spec: &SeriesSpec) -> Result<SeriesPlan> {
    spec.check()?;
    let found = checkpoints::discover(&spec.checkpoints)?;
    let units = SeriesUnit::all(&found, &spec.splits()?);
    Plan::new(KIND, spec.clone(), units)
}

/// Runs shard `shard` of the sweep of `spec` into the sweep folder `out` (created when missing; its
/// parent must exist): makes or checks `plan.json`, then measures every unit of the shard that has
/// no result file yet. `log` receives a line per unit.
///
/// # Errors
/// As [`plan`]; a folder holding another sweep; the first failing unit (the units before it keep
/// their files, so a rerun continues from there).
pub fn run_sweep(
    spec: &SeriesSpec,
    out: &Path,
    shard: Shard,
    log: &mut dyn FnMut(&str),
) -> Result<ShardReport> {
    let plan = plan(spec)?;
    run_plan(&plan, out, shard, log)
}

/// Runs shard `shard` of an already made plan into `out` (see [`run_sweep`]).
///
/// # Errors
/// As [`run_sweep`].
pub fn run_plan(
    plan: &SeriesPlan,
    out: &Path,
    shard: Shard,
    log: &mut dyn FnMut(&str),
) -> Result<ShardReport> {
    plan.establish(out)?;
    let store = plan.store(out);
    let mut runner = UnitRunner::new(&plan.settings);
    sweep::run_shard(
        &store,
        &plan.units,
        shard,
        |_, unit| runner.measure(unit),
        log,
    )
}

/// What a merge produced.
#[derive(Debug, Clone)]
pub struct Merged {
    /// The sweep folder, now a complete run folder.
    pub folder: PathBuf,
    /// The rows of `series.csv`.
    pub rows: Vec<SeriesRow>,
    /// `summary.json`.
    pub summary: SeriesSummary,
    /// Seconds the units took to compute, summed (from their result files).
    pub compute_seconds: f64,
}

/// The rows of `series.csv`: every unit's mean LID with its checkpoint's metrics, in plan order.
pub fn rows(results: &[UnitResult], metrics: &metrics::MetricTable) -> Vec<SeriesRow> {
    results
        .iter()
        .map(|r| {
            let m = metrics.get(&(r.seed, r.step)).copied().unwrap_or_default();
            SeriesRow {
                seed: r.seed,
                step: r.step,
                split: r.split.clone(),
                mean_lid: r.mean_lid,
                metric: m.metric,
                val_loss: m.val_loss,
            }
        })
        .collect()
}

/// The analysis of merged rows under `spec`.
///
/// # Errors
/// An invalid spec.
pub fn analyse_rows(spec: &SeriesSpec, rows: &[SeriesRow]) -> Result<SeriesAnalysis> {
    Ok(analyse(
        rows,
        &spec.splits()?,
        &spec.analysis_split()?,
        spec.analysis.max_lag,
    ))
}

/// The checkpoints of a plan, one per `(seed, step)`.
pub fn plan_checkpoints(plan: &SeriesPlan) -> Vec<checkpoints::Checkpoint> {
    let mut out: Vec<checkpoints::Checkpoint> = Vec::new();
    for u in &plan.units {
        if !out.iter().any(|c| c.seed == u.seed && c.step == u.step) {
            out.push(checkpoints::Checkpoint {
                seed: u.seed,
                step: u.step,
                path: u.checkpoint.clone(),
                run_dir: u.run_dir.clone(),
            });
        }
    }
    out
}

/// Merges the sweep folder `out`: collects every unit's result (refusing, with the missing units
/// named, if any is absent), reads the metrics, analyses, and writes `series.csv`, `units.csv`,
/// `summary.json`, the figure, `report.md`, `config.json` and the completeness marker.
///
/// # Errors
/// No plan in `out`; [`crate::Error::SweepIncomplete`]; unreadable metric files; write failures.
pub fn merge(out: &Path, log: &mut dyn FnMut(&str)) -> Result<Merged> {
    let plan: SeriesPlan = Plan::read(out, KIND)?;
    let spec = &plan.settings;
    let results: Vec<UnitResult> = sweep::collect(&plan.store(out), &plan.units)?;
    let metrics = metrics::load(&spec.metrics, &plan_checkpoints(&plan))?;
    let rows = rows(&results, &metrics);
    let analysis = analyse_rows(spec, &rows)?;
    let merged = report::build(spec, &plan.units, &rows, &analysis)?;
    let figure = report::figure(spec, &analysis, merged.summary.seeds.len());
    let mut folder = RunFolder::resume(out, KIND)?;
    folder.write_config(spec, &merged.summary.seeds)?;
    folder.write_table(SERIES_FILE, &report::series_table(&rows)?)?;
    folder.write_table(UNITS_FILE, &report::units_table(&plan.units, &results)?)?;
    folder.write_json(SUMMARY_FILE, &merged.summary)?;
    folder.write_figure(FIGURE_STEM, &figure)?;
    folder.write_report(&merged.markdown)?;
    let path = folder.finish()?;
    let compute_seconds = results.iter().map(|r| r.wall_seconds).sum();
    log(&format!(
        "merged {} units into {} ({compute_seconds:.1} s of unit compute)",
        results.len(),
        path.display()
    ));
    Ok(Merged {
        folder: path,
        rows,
        summary: merged.summary,
        compute_seconds,
    })
}
