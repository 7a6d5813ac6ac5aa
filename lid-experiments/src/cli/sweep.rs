//! `lid sweep`: checkpoint-series sweeps ([`crate::studies::series`]) in shards, on one machine
//! or as a cluster job array (`scripts/slurm/`).
//!
//! - `lid sweep units --spec FILE` prints the number of units (the job-array size) on stdout.
//! - `lid sweep run --spec FILE --out DIR [--task-index I --task-count K] [--threads T]` measures
//!   the units `u % K == I` that have no result file in `DIR/units/` yet (all units without the
//!   shard flags). Any number of shards may run at once, on any machines that see `DIR`.
//! - `lid sweep merge --out DIR` collects every unit (refusing, with the missing units named, when
//!   some are not done) into `series.csv`, `units.csv`, `summary.json`, the figure `series.png`
//!   and `report.md`.
//!
//! Order of work: flags, the spec, the plan (checkpoints found), output paths
//! ([`crate::run::paths`]), then the units.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use crate::cli::with_threads;
use crate::error::{Error, Result};
use crate::run::folder::{CONFIG_FILE, REPORT_FILE, SUMMARY_FILE};
use crate::run::paths::OutputCheck;
use crate::studies::series::spec::SeriesSpec;
use crate::studies::series::sweep::{Plan, Shard, PLAN_FILE, UNITS_DIR};
use crate::studies::series::{
    self, metrics, unit, SeriesPlan, FIGURE_STEM, KIND, SERIES_FILE, UNITS_FILE,
};

/// Arguments of `lid sweep`.
#[derive(Debug, Clone, Args)]
pub struct SweepArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: SweepCommand,
}

/// The `lid sweep` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum SweepCommand {
    /// Print the number of units of a spec (checkpoints x splits): the job-array size.
    Units(UnitsArgs),
    /// Measure the units of one shard (or all) that are not done yet.
    Run(RunArgs),
    /// Merge the units of a finished sweep into series.csv, summary.json, a figure and report.md.
    Merge(MergeArgs),
}

/// Arguments of `lid sweep units`.
#[derive(Debug, Clone, Args)]
pub struct UnitsArgs {
    /// The sweep spec (JSON; see `lid_experiments::studies::series::spec`).
    #[arg(long)]
    pub spec: PathBuf,
}

/// Arguments of `lid sweep run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The sweep spec (JSON; see `lid_experiments::studies::series::spec`).
    #[arg(long)]
    pub spec: PathBuf,
    /// The sweep folder (created when missing; shared by every shard of the sweep).
    #[arg(long)]
    pub out: PathBuf,
    /// This shard's number, 0..task-count (a job array's `SLURM_ARRAY_TASK_ID`).
    #[arg(long)]
    pub task_index: Option<usize>,
    /// The number of shards (a job array's `SLURM_ARRAY_TASK_COUNT`).
    #[arg(long)]
    pub task_count: Option<usize>,
    /// Worker threads (default: all cores; results do not depend on it).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Arguments of `lid sweep merge`.
#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// The sweep folder.
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `lid sweep`.
///
/// # Errors
/// See the subcommands.
pub fn run(args: &SweepArgs) -> Result<()> {
    match &args.command {
        SweepCommand::Units(a) => units(a),
        SweepCommand::Run(a) => run_shard(a),
        SweepCommand::Merge(a) => merge(a),
    }
}

/// The spec of `--spec`, with errors that name the file.
fn read_spec(path: &Path) -> Result<SeriesSpec> {
    if !path.is_file() {
        return Err(Error::flag(
            "--spec",
            path.display(),
            "no such file (a JSON sweep spec)",
        ));
    }
    SeriesSpec::from_file(path)
}

/// The plan of a spec, with spec errors located in the spec file.
fn plan_of(spec: &SeriesSpec, spec_file: &Path) -> Result<SeriesPlan> {
    series::plan(spec).map_err(|e| match e {
        Error::Malformed {
            path,
            record,
            field,
            problem,
        } if path == Path::new("sweep spec") => Error::Malformed {
            path: spec_file.to_path_buf(),
            record,
            field,
            problem,
        },
        other => other,
    })
}

fn units(args: &UnitsArgs) -> Result<()> {
    let spec = read_spec(&args.spec)?;
    let plan = plan_of(&spec, &args.spec)?;
    let splits = spec.splits()?.len();
    eprintln!(
        "{} units: {} checkpoints x {splits} splits",
        plan.units.len(),
        plan.units.len() / splits.max(1)
    );
    crate::outln!("{}", plan.units.len());
    Ok(())
}

fn run_shard(args: &RunArgs) -> Result<()> {
    let shard = Shard::from_flags(args.task_index, args.task_count)?;
    if args.threads == Some(0) {
        return Err(Error::flag("--threads", 0, "must be at least 1"));
    }
    let spec = read_spec(&args.spec)?;
    let plan = plan_of(&spec, &args.spec)?;
    let out = &args.out;
    let mut check = OutputCheck::new().input(&args.spec);
    for input in unit::inputs(&spec, &plan.units) {
        check = check.input(&input);
    }
    prepare_out(out)?;
    check.file("--out", &out.join(PLAN_FILE)).check()?;
    let report = with_threads(args.threads, || {
        series::run_plan(&plan, out, shard, &mut |line| eprintln!("{line}"))
    })??;
    crate::outln!(
        "shard {}/{}: {} units, {} computed, {} already done; results in {}",
        shard.index,
        shard.count,
        report.units,
        report.computed.len(),
        report.skipped.len(),
        out.join(UNITS_DIR).display()
    );
    Ok(())
}

/// Creates the sweep folder `out` when missing (its parent must exist) and checks that it holds
/// this sweep or nothing yet. Shards of one job array start together: a folder holding only what
/// a starting shard writes (`units/`, hidden temporary files, `plan.json`) is accepted.
fn prepare_out(out: &Path) -> Result<()> {
    let refuse = |reason: String| Error::OutputPath {
        flag: "--out".into(),
        path: out.to_path_buf(),
        reason,
    };
    if out.exists() && !out.is_dir() {
        return Err(refuse("exists and is not a folder".into()));
    }
    if !out.exists() {
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !parent.is_dir() {
            return Err(refuse(format!(
                "its folder {} does not exist; create it first",
                parent.display()
            )));
        }
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    }
    if out.join(PLAN_FILE).is_file() {
        return Ok(());
    }
    for entry in std::fs::read_dir(out).map_err(|e| Error::io(out, e))? {
        let entry = entry.map_err(|e| Error::io(out, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let starting = name.starts_with('.') || (name == UNITS_DIR && entry.path().is_dir());
        if !starting {
            return Err(refuse(format!(
                "exists, is not empty and holds no sweep (no {PLAN_FILE}); choose a new folder"
            )));
        }
    }
    Ok(())
}

fn merge(args: &MergeArgs) -> Result<()> {
    let out = &args.out;
    if !out.is_dir() {
        return Err(Error::flag(
            "--out",
            out.display(),
            "is not a sweep folder (no such folder)",
        ));
    }
    let plan: SeriesPlan = Plan::read(out, KIND)?;
    let mut check = OutputCheck::new();
    for (_, input) in metrics::files(&plan.settings.metrics, &series::plan_checkpoints(&plan))? {
        check = check.input(&input);
    }
    for name in [
        SERIES_FILE.to_string(),
        UNITS_FILE.to_string(),
        SUMMARY_FILE.to_string(),
        REPORT_FILE.to_string(),
        CONFIG_FILE.to_string(),
        format!("{FIGURE_STEM}.svg"),
        format!("{FIGURE_STEM}.png"),
    ] {
        check = check.file("--out", &out.join(name));
    }
    check.check()?;
    let merged = series::merge(out, &mut |line| eprintln!("{line}"))?;
    crate::outln!("{}", merged.summary.study.headline);
    crate::outln!("{}", merged.folder.join(REPORT_FILE).display());
    Ok(())
}
