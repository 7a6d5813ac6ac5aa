//! Study 4 of Ruppik et al. (NeurIPS 2025): grokking of modular arithmetic, with the local intrinsic
//! dimension of the last block as a label-free monitor that predicts generalisation.
//!
//! A small decoder-only transformer (lid-train's grokking backbone, [`config::ModelConfig`]) is
//! trained with lid-train's AdamW ([`train`]) on a fraction of all `(a, b)` pairs of an operation
//! ([`dataset`]), on the CPU or, with `--device`, with gradients from a candle device ([`device`]);
//! every few hundred steps the LID probe ([`probe`]) measures the mean local TwoNN dimension of the last block's output on training (and
//! validation) sequences. [`analysis`] finds the LID peak and the onset of generalisation per run and
//! tabulates them across fractions and seeds; [`figures`] draws the curves with
//! [`crate::run::plot`]. [`run_study`] does all of it into a [`RunFolder`].
//!
//! Presets: [`config::StudyConfig::paper`] (docs/reproduction.md study 4 exactly; needs a GPU-sized budget),
//! [`config::StudyConfig::cpu`] (the paper's model and optimizer, p = 197 and seeds 46-50, two
//! fractions and fewer steps: within 40 minutes on 2 cores), [`config::StudyConfig::quick`] (a small configuration
//! that groks in a minute or two: the default suite's step) and [`config::StudyConfig::smoke`]
//! (seconds, for tests).
//!
//! Run folder: `config.json`, `runs/frac<f>_seed<s>/metrics.csv` and `training/` (lid-train's
//! checkpoint and its metrics),
//! `summary.csv` (per run), `leads.csv` (the lead over each fraction's grokked runs),
//! `fractions.csv` and `table.md` (across seeds), `summary_runs.json`,
//! figures `lid_by_fraction`, `val_acc_by_fraction` and `frac<f>` (stacked LID, accuracy, loss),
//! `report.md`, `summary.json`, `COMPLETE`.

pub mod analysis;
pub mod config;
pub mod dataset;
pub mod device;
pub mod figures;
pub mod probe;
pub mod train;

use std::path::PathBuf;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use analysis::{
    fraction_table, lead_spread, lead_table, run_events_table, runs_table, summarise_run, table,
    FractionRow, RunSummary,
};
use config::{Preset, ProbePositions, StudyConfig};
use dataset::{GrokDataset, Operation};
use figures::FractionRuns;
use train::{run_training, MetricsRow, Start};

use crate::error::{Error, Result};
use crate::run::folder::FigureRef;
use crate::run::side_by_side::side_by_side;
use crate::run::{Direction, RunFolder, StudySummary};
use crate::studies::series::sweep::{self, Plan, Shard, ShardReport, SweepUnit};
use crate::studies::Study;

/// Command-line arguments of `lid-experiments grokking`: a preset plus optional overrides.
#[derive(Debug, Clone, clap::Args)]
pub struct GrokkingArgs {
    /// Settings to start from.
    #[arg(long, value_enum, default_value_t = Preset::Cpu)]
    pub preset: Preset,
    /// Run folder (default: runs/grokking-YYYYMMDD-HHMMSS, UTC; its parent must exist).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the runs of the folder given with --out from their checkpoints.
    #[arg(long)]
    pub resume: bool,
    /// Train the runs of the folder given with --out, finished or not, on to the larger --steps
    /// given, every other setting as recorded: the result equals a run of that many steps from the
    /// start (the schedule's span does not depend on the step count). The folder's report is
    /// replaced when the longer runs finish.
    #[arg(
        long,
        requires = "out",
        requires = "steps",
        conflicts_with_all = ["resume", "task_index", "task_count", "merge", "time_steps"]
    )]
    pub extend: bool,
    /// Override the operation.
    #[arg(long, value_enum)]
    pub operation: Option<Operation>,
    /// Override the prime modulus.
    #[arg(long)]
    pub p: Option<u32>,
    /// Override the training fractions (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub fractions: Option<Vec<f64>>,
    /// Override the dataset seeds (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub seeds: Option<Vec<u64>>,
    /// Override the number of training steps (the learning-rate schedule keeps the preset's span).
    #[arg(long)]
    pub steps: Option<u64>,
    /// Where the training gradients are computed: cpu (lid-train's kernels), `cuda[:N]` or `metal[:N]`
    /// (candle, needs the crate feature of the same name); evaluation and probes run on the CPU.
    #[arg(long, default_value = "cpu")]
    pub device: lid_embed::DeviceKind,
    /// Override the weight decay.
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Override the peak learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Override the batch size.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Override the evaluation interval.
    #[arg(long)]
    pub eval_every: Option<u64>,
    /// Override the probe interval.
    #[arg(long)]
    pub probe_every: Option<u64>,
    /// Override the checkpoint interval (a killed run resumes from its latest checkpoint).
    #[arg(long)]
    pub checkpoint_every: Option<u64>,
    /// Override the probed positions.
    #[arg(long, value_enum)]
    pub probe_positions: Option<ProbePositions>,
    /// Worker threads (default: all cores). On the CPU the runs go side by side, one per thread;
    /// results do not depend on the count.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Only time this many training steps (after 20 untimed ones) on the first fraction and seed,
    /// print steps per second as JSON, and write nothing (used by benches/peers/grokking_bench.sh).
    #[arg(long)]
    pub time_steps: Option<u64>,
    /// Run only shard I of the study's runs (fraction x seed, in a fixed order) into the sweep
    /// folder given with --out (with --task-count; finished runs are skipped, a killed run resumes
    /// from its checkpoint); then `--merge --out` writes the report. For Slurm job arrays.
    #[arg(long)]
    pub task_index: Option<usize>,
    /// Number of shards (see --task-index).
    #[arg(long)]
    pub task_count: Option<usize>,
    /// Merge the finished runs of the sweep folder given with --out into the study's report.
    #[arg(long)]
    pub merge: bool,
}

impl GrokkingArgs {
    /// The resolved settings: preset, then overrides, then validation.
    ///
    /// # Errors
    /// An invalid setting, named.
    pub fn config(&self) -> Result<StudyConfig> {
        let mut c = StudyConfig::from_preset(self.preset);
        if let Some(op) = self.operation {
            c.operation = op;
        }
        if let Some(p) = self.p {
            c.p = p;
        }
        if let Some(f) = &self.fractions {
            Error::refuse_repeats("--fractions", f)?;
            c.fractions = f.clone();
        }
        if let Some(s) = &self.seeds {
            Error::refuse_repeats("--seeds", s)?;
            c.data_seeds = s.clone();
        }
        if let Some(steps) = self.steps {
            c.steps = steps;
        }
        if let Some(wd) = self.weight_decay {
            c.optimizer.weight_decay = wd;
        }
        if let Some(lr) = self.lr {
            c.optimizer.lr = lr;
        }
        if let Some(b) = self.batch_size {
            c.batch_size = b;
        }
        if let Some(e) = self.eval_every {
            c.eval_every = e;
        }
        if let Some(every) = self.probe_every {
            c.probe.every = every;
        }
        if let Some(pos) = self.probe_positions {
            c.probe.positions = pos;
        }
        if let Some(every) = self.checkpoint_every {
            c.checkpoint_every = every;
        }
        c.resolve()
    }
}

/// Runs `lid-experiments grokking`: settings first (checked once), then the run folder (`--out`,
/// default `runs/grokking-<UTC timestamp>`; `--resume` continues the folder given with `--out`),
/// then the work. Prints the table across fractions.
///
/// # Errors
/// Invalid settings, an unusable `--out`, training, probe or I/O failures.
pub fn run_cli(args: &GrokkingArgs) -> Result<()> {
    let config = args.config()?;
    if args.threads == Some(0) {
        return Err(Error::flag("--threads", 0, "must be at least 1"));
    }
    if let Some(steps) = args.time_steps {
        if steps < 2 {
            // The last of them is left out of the timing (it would evaluate).
            return Err(Error::flag(
                "--time-steps",
                steps,
                "must be at least 2 (the last step is not timed)",
            ));
        }
        let steps_per_s = time_training(&config, steps, &args.device)?;
        crate::outln!(
            "{}",
            serde_json::json!({"impl": "lid-experiments (lid-train)", "device": args.device.to_string(), "steps": steps, "steps_per_s": steps_per_s, "threads": rayon::current_num_threads()})
        );
        return Ok(());
    }
    if args.task_index.is_some() || args.task_count.is_some() || args.merge {
        let out = args.out.as_ref().ok_or_else(|| {
            Error::flag(
                "--out",
                "(missing)",
                "a sharded or merged study needs its sweep folder",
            )
        })?;
        if args.merge {
            let (result, _) = merge_runs(out, &mut |msg| eprintln!("{msg}"))?;
            crate::outln!(
                "{}",
                fraction_table(&table(&result.summaries))?.to_markdown()
            );
            return Ok(());
        }
        let shard = Shard::from_flags(args.task_index, args.task_count)?;
        let report = run_runs(&config, out, shard, &args.device, &mut |msg| {
            eprintln!("{msg}")
        })?;
        eprintln!(
            "shard {}/{}: {} runs computed, {} already done",
            shard.index,
            shard.count,
            report.computed.len(),
            report.skipped.len()
        );
        return Ok(());
    }
    let device = args.device.to_string();
    let mut start = Start::resume_if(args.resume);
    let folder = match (&args.out, args.resume) {
        (Some(out), _) if args.extend => {
            let written_steps = RunFolder::recorded_setting(out, "grokking", "/study/steps")?
                .as_u64()
                .ok_or_else(|| {
                    Error::flag(
                        "--out",
                        out.display(),
                        "its config.json records no step count",
                    )
                })?;
            if written_steps > config.steps {
                return Err(Error::flag(
                    "--steps",
                    config.steps,
                    format!("the runs in --out were started for {written_steps} steps; --extend trains longer, not shorter"),
                ));
            }
            start = Start::Extend { written_steps };
            let written = StudyConfig {
                steps: written_steps,
                ..config.clone()
            };
            RunFolder::extend_matching(out, "grokking", &Settings::of(&written, &device))?
        }
        (Some(out), true) => {
            RunFolder::resume_matching(out, "grokking", &Settings::of(&config, &device))?
        }
        (None, true) => {
            return Err(Error::flag(
                "--resume",
                "",
                "needs --out, the folder of the run to continue",
            ))
        }
        (Some(out), false) => RunFolder::create(out, "grokking")?,
        (None, false) => RunFolder::timestamped("runs", "grokking")?,
    };
    let path = folder.path().to_path_buf();
    let (result, _) = crate::cli::with_threads(args.threads, || {
        run_study(&config, folder, start, &args.device, &mut |msg| {
            eprintln!("{msg}")
        })
    })??;
    crate::outln!(
        "{}",
        fraction_table(&table(&result.summaries))?.to_markdown()
    );
    crate::outln!("run folder: {}", path.display());
    Ok(())
}

/// Steps per second of the training loop (batch draw, forward, backward, clipping, AdamW) on the
/// first fraction and seed of `config`, timed over `steps` updates after 20 untimed ones; no
/// evaluation or probe.
///
/// # Errors
/// Training failures.
pub fn time_training(
    config: &StudyConfig,
    steps: u64,
    device: &lid_embed::DeviceKind,
) -> Result<f64> {
    let (fraction, seed) = (config.fractions[0], config.data_seeds[0]);
    let dataset = GrokDataset::new(config.operation, config.p, fraction, seed)?;
    let (model, head) = train::new_model(config)?;
    let probe = probe::split_probe(&dataset.train, &config.probe)?;
    let task = train::GrokTask {
        head,
        data: &dataset,
        train_probe: probe,
        val_probe: None,
        probe_every: u64::MAX,
        last_step: u64::MAX,
        device: match device {
            lid_embed::DeviceKind::Cpu => None,
            other => Some(device::DeviceModel::new(&model, &other.open()?)?),
        },
    };
    let mut settings = train::train_config(config, seed);
    settings.steps = steps + 20;
    settings.eval_every = None;
    settings.eval_at_start = false;
    settings.checkpoint_every = None;
    let mut trainer = lid_train::train::Trainer::new(model, settings, None)?;
    trainer.run(&task, None, Some(20), &mut |_| Ok(()))?;
    let start = Instant::now();
    // No evaluation is due before the last step, which is past the timed range.
    trainer.run(&task, None, Some(steps - 1), &mut |_| Ok(()))?;
    Ok((steps - 1) as f64 / start.elapsed().as_secs_f64())
}

/// One training run of the study (a fraction and a dataset seed): the unit of a sharded study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunUnit {
    /// Training fraction.
    pub fraction: f64,
    /// Dataset seed.
    pub seed: u64,
}

impl SweepUnit for RunUnit {
    fn key(&self) -> String {
        format!("frac{:.2}_seed{}", self.fraction, self.seed)
    }
}

/// What a finished run stores in its unit file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunOutcome {
    /// Its events.
    pub summary: RunSummary,
    /// Its metrics rows.
    pub rows: Vec<MetricsRow>,
}

/// The sweep kind of a sharded grokking study (`plan.json`).
pub const SWEEP_KIND: &str = "grokking";

/// The runs of `config`, fractions outer, seeds inner (the order of [`run_study`]).
pub fn run_units(config: &StudyConfig) -> Vec<RunUnit> {
    config
        .fractions
        .iter()
        .flat_map(|&fraction| {
            config
                .data_seeds
                .iter()
                .map(move |&seed| RunUnit { fraction, seed })
        })
        .collect()
}

fn run_one(
    config: &StudyConfig,
    unit: &RunUnit,
    dir: &std::path::Path,
    start: Start,
    device: &lid_embed::DeviceKind,
    log: &mut dyn FnMut(&str),
) -> Result<RunOutcome> {
    let dataset = GrokDataset::new(config.operation, config.p, unit.fraction, unit.seed)?;
    log(&format!(
        "run frac {:.2} seed {}: {} train / {} val pairs",
        unit.fraction,
        unit.seed,
        dataset.train.len(),
        dataset.val.len()
    ));
    let run_start = Instant::now();
    let mut progress = |r: &MetricsRow| {
        if let Some(p) = &r.train_probe {
            log(&format!(
                "  step {:>7}  train acc {:.3}  val acc {:.3}  LID {:.2}  ({:.0} s, frac {:.2} seed {})",
                r.step,
                r.train_acc,
                r.val_acc,
                p.mean,
                run_start.elapsed().as_secs_f64(),
                unit.fraction,
                unit.seed
            ));
        }
    };
    let rows = run_training(config, &dataset, dir, start, device, &mut progress)?;
    let summary = summarise_run(
        unit.fraction,
        unit.seed,
        &rows,
        config.grok_threshold,
        config.onset_margin,
    );
    Ok(RunOutcome { summary, rows })
}

/// Runs shard `shard` of the study's runs into the sweep folder `out` (created when missing):
/// `plan.json` (settings and runs) is written once and checked by every shard, each finished run
/// leaves `units/<run>.json`; runs already finished are skipped and an interrupted run resumes from
/// its checkpoint in `runs/<run>/`. Sharded and unsharded studies merge to the same report.
///
/// # Errors
/// A folder holding another sweep; training, probe or I/O failures.
pub fn run_runs(
    config: &StudyConfig,
    out: &std::path::Path,
    shard: Shard,
    device: &lid_embed::DeviceKind,
    log: &mut dyn FnMut(&str),
) -> Result<ShardReport> {
    let plan = Plan::new(SWEEP_KIND, config.clone(), run_units(config))?;
    plan.establish(out)?;
    let store = plan.store(out);
    // Both the runs and the shard report write to the one log.
    let log = std::cell::RefCell::new(log);
    sweep::run_shard(
        &store,
        &plan.units,
        shard,
        |_, unit| {
            let dir = out
                .join("runs")
                .join(format!("frac{:.2}_seed{}", unit.fraction, unit.seed));
            run_one(config, unit, &dir, Start::Resume, device, &mut |m| {
                (log.borrow_mut())(m)
            })
        },
        &mut |m| (log.borrow_mut())(m),
    )
}

/// Merges the finished runs of the sweep folder `out` into the study's run folder outputs (the
/// folder becomes a complete run folder).
///
/// # Errors
/// No plan in `out`, unfinished runs (named), figure or I/O failures.
pub fn merge_runs(
    out: &std::path::Path,
    log: &mut dyn FnMut(&str),
) -> Result<(StudyResult, StudySummary)> {
    let plan: Plan<StudyConfig, RunUnit> = Plan::read(out, SWEEP_KIND)?;
    let outcomes: Vec<RunOutcome> = sweep::collect(&plan.store(out), &plan.units)?;
    let config = &plan.settings;
    let mut folder = RunFolder::resume(out, "grokking")?;
    write_settings(config, &mut folder, "merged from sharded runs")?;
    let result = StudyResult {
        summaries: outcomes.iter().map(|o| o.summary.clone()).collect(),
        rows: outcomes.into_iter().map(|o| o.rows).collect(),
        seconds: 0.0,
    };
    let summary = write_outputs(config, &folder, &result)?;
    folder.write_summary(&summary)?;
    let path = folder.finish()?;
    log(&format!(
        "merged {} runs into {}",
        result.summaries.len(),
        path.display()
    ));
    Ok((result, summary))
}

/// Everything a study produced.
#[derive(Debug, Clone, Serialize)]
pub struct StudyResult {
    /// One summary per training run.
    pub summaries: Vec<RunSummary>,
    /// Metrics rows per run, in the order of `summaries`.
    pub rows: Vec<Vec<MetricsRow>>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// What `config.json` records under `settings`; `--resume` continues a folder only when they
/// are equal ([`RunFolder::resume_matching`]).
#[derive(Serialize)]
struct Settings<'a> {
    study: &'a StudyConfig,
    n_parameters: usize,
    neighbor_search: &'static str,
    training_device: String,
}

impl<'a> Settings<'a> {
    fn of(config: &'a StudyConfig, device: &str) -> Self {
        Self {
            study: config,
            n_parameters: config.model.n_parameters(),
            neighbor_search: "lid_knn::BruteForce (exact)",
            training_device: device.to_string(),
        }
    }
}

/// Runs every (fraction, seed) of `config` into `folder` (see the module docs for its files) and
/// finishes it; runs start as `start` says (from their checkpoints in the folder when resumed or
/// extended).
///
/// On the CPU the runs go side by side on the current rayon pool's threads, as many at once as it
/// has threads, each on its share ([`side_by_side`]); every output is the same, byte for byte,
/// whatever the thread count. With a `--device`, they run one after another.
///
/// # Errors
/// Training, probe, figure or I/O failures (the folder then stays incomplete).
pub fn run_study(
    config: &StudyConfig,
    mut folder: RunFolder,
    start: Start,
    device: &lid_embed::DeviceKind,
    log: &mut dyn FnMut(&str),
) -> Result<(StudyResult, StudySummary)> {
    let started = Instant::now();
    write_settings(config, &mut folder, &device.to_string())?;
    let max_jobs = match device {
        lid_embed::DeviceKind::Cpu => usize::MAX,
        _ => 1,
    };
    let outcomes = side_by_side(
        &run_units(config),
        max_jobs,
        |_, unit, log| {
            let dir = folder.dir(&format!("runs/{}", unit.key()))?;
            run_one(config, unit, &dir, start, device, log)
        },
        log,
    )?;
    let (summaries, all_rows): (Vec<RunSummary>, Vec<Vec<MetricsRow>>) =
        outcomes.into_iter().map(|o| (o.summary, o.rows)).unzip();
    let result = StudyResult {
        summaries,
        rows: all_rows,
        seconds: started.elapsed().as_secs_f64(),
    };
    let summary = write_outputs(config, &folder, &result)?;
    folder.write_summary(&summary)?;
    folder.finish()?;
    Ok((result, summary))
}

fn write_settings(config: &StudyConfig, folder: &mut RunFolder, device: &str) -> Result<()> {
    let mut seeds = config.data_seeds.clone();
    seeds.push(config.model_seed);
    seeds.push(config.probe.seed);
    folder.write_config(&Settings::of(config, device), &seeds)?;
    Ok(())
}

fn write_outputs(
    config: &StudyConfig,
    folder: &RunFolder,
    result: &StudyResult,
) -> Result<StudySummary> {
    folder.write_table("summary.csv", &runs_table(&result.summaries)?)?;
    let fraction_rows = table(&result.summaries);
    let across = fraction_table(&fraction_rows)?;
    folder.write_table("fractions.csv", &across)?;
    let spreads = lead_spread(&result.summaries);
    let lead_rows = lead_table(&spreads)?;
    folder.write_table("leads.csv", &lead_rows)?;
    folder.write_json(
        "summary_runs.json",
        &serde_json::json!({
            "runs": result.summaries,
            "fractions": fraction_rows,
            "leads": spreads,
            "seconds": result.seconds,
        }),
    )?;
    let markdown = across.to_markdown();
    folder.write_text("table.md", &markdown)?;

    let mut groups: Vec<FractionRuns<'_>> = Vec::new();
    for (s, rows) in result.summaries.iter().zip(&result.rows) {
        match groups.iter_mut().find(|g| g.fraction == s.fraction) {
            Some(g) => g.runs.push(rows),
            None => groups.push(FractionRuns {
                fraction: s.fraction,
                runs: vec![rows],
            }),
        }
    }
    let mut figures = Vec::new();
    if let Some(plot) = figures::lid_by_fraction(&groups) {
        folder.write_figure("lid_by_fraction", &plot)?;
        figures.push(FigureRef {
            file: "lid_by_fraction.png".into(),
            caption: "mean local LID (training probe) against the step, per training fraction"
                .into(),
        });
    }
    if let Some(plot) = figures::val_acc_by_fraction(&groups) {
        folder.write_figure("val_acc_by_fraction", &plot)?;
        figures.push(FigureRef {
            file: "val_acc_by_fraction.png".into(),
            caption: "validation accuracy against the step, per training fraction".into(),
        });
    }
    let mut panel_links = String::new();
    for g in &groups {
        let row: Option<&FractionRow> = fraction_rows.iter().find(|r| r.fraction == g.fraction);
        let stem = format!("frac{:.2}", g.fraction);
        folder.write_figure(&stem, &figures::fraction_panels(g, row))?;
        panel_links.push_str(&format!("![fraction {:.2}]({stem}.png)\n\n", g.fraction));
    }
    let report = format!(
        "# Grokking study (preset `{}`)\n\n{} modulo p = {}, fractions {:?}, dataset seeds {:?}, \
         model seed {}, {} steps, weight decay {}, {} parameters. Wall clock {:.0} s.\n\n\
         Memorised = first step with training accuracy >= 0.99; onset = first later step whose \
         validation accuracy exceeds its value at memorisation by {}; early minimum = first local \
         minimum of the mean local LID (training sequences) after step 0; LID peak = probed step \
         after the early minimum with the largest mean LID; lead = onset − peak. A run groks when \
         its final validation accuracy is at least {}.\n\n## Every run\n\n{}\n\
         ## Lead of the LID peak over the onset, over the grokked runs\n\n{}\n\
         ## Across seeds (mean ± std; leads over every run with an onset)\n\n{}\n\
         ![LID](lid_by_fraction.png)\n\n![accuracy](val_acc_by_fraction.png)\n\n{}\
         Per-run numbers: `summary.csv`; lead distribution: `leads.csv`; across seeds: \
         `fractions.csv`; curves: `runs/*/metrics.csv`; settings and versions: `config.json`.\n",
        config.preset,
        serde_json::to_string(&config.operation)
            .map_err(|e| Error::json("report.md", e))?
            .trim_matches('"'),
        config.p,
        config.fractions,
        config.data_seeds,
        config.model_seed,
        config.steps,
        config.optimizer.weight_decay,
        config.model.n_parameters(),
        result.seconds,
        config.onset_margin,
        config.grok_threshold,
        run_events_table(&result.summaries)?.to_markdown(),
        lead_rows.to_markdown(),
        markdown,
        panel_links
    );
    folder.write_report(&report)?;
    let grokked = result.summaries.iter().filter(|s| s.grokked).count();
    let leads: Vec<String> = spreads
        .iter()
        .filter_map(|r| {
            let (m, min, max) = (r.mean_std.as_ref()?, r.min?, r.max?);
            Some(format!(
                "{} steps (min {min}, max {max}; peak first in {} of {}) at fraction {:.2}",
                m.display(0),
                r.peak_first,
                r.leads.len(),
                r.fraction
            ))
        })
        .collect();
    let count =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let headline = format!(
        "Preset `{}`: {} ({} x {}, {} steps each); {} grokked (final validation accuracy >= \
         {}). {}",
        config.preset,
        count(result.summaries.len(), "run", "runs"),
        count(config.fractions.len(), "fraction", "fractions"),
        count(config.data_seeds.len(), "seed", "seeds"),
        config.steps,
        grokked,
        config.grok_threshold,
        if leads.is_empty() {
            "No grokked run has an onset of generalisation, so no lead of the LID peak can be \
             measured."
                .to_string()
        } else {
            format!(
                "Over the grokked runs, the validation-accuracy onset comes after the LID peak by {}.",
                leads.join("; ")
            )
        }
    );
    Ok(StudySummary {
        study: "grokking".into(),
        title: "Grokking: LID falls before validation accuracy rises".into(),
        headline,
        table_markdown: Some(markdown),
        figures,
        direction: Some(direction(&result.summaries)),
    })
}

/// The paper's direction (docs/reproduction.md, "Direction at a preset"): at least one run groks,
/// and in every grokked run with an onset the LID peak comes first (lead > 0).
fn direction(runs: &[RunSummary]) -> Direction {
    let outcomes: Vec<(bool, Option<i64>)> =
        runs.iter().map(|r| (r.grokked, r.lead_steps)).collect();
    direction_of(&outcomes)
}

/// [`direction`] on each run's (grokked, lead).
fn direction_of(runs: &[(bool, Option<i64>)]) -> Direction {
    let grokked = runs.iter().filter(|r| r.0).count();
    let leads: Vec<i64> = runs.iter().filter(|r| r.0).filter_map(|r| r.1).collect();
    let shown = grokked > 0 && leads.iter().all(|&l| l > 0);
    let leads_text = leads
        .iter()
        .map(|l| format!("{l:+}"))
        .collect::<Vec<_>>()
        .join(", ");
    Direction::new(
        shown,
        format!(
            "Rule: a run groks and every grokked run's LID peak precedes its onset; {grokked} of {} runs grokked, leads [{leads_text}] steps.",
            runs.len()
        ),
    )
}

/// The grokking study in the registry (quick preset).
#[derive(Debug, Clone, Copy)]
pub struct Grokking;

impl Study for Grokking {
    fn name(&self) -> &'static str {
        "grokking"
    }

    fn title(&self) -> &'static str {
        "Grokking of modular addition"
    }

    fn run(
        &self,
        preset: crate::run::Preset,
        folder: RunFolder,
        resume: bool,
        log: &mut dyn FnMut(&str),
    ) -> Result<StudySummary> {
        let config = match preset {
            crate::run::Preset::Cpu => StudyConfig::cpu(),
            crate::run::Preset::Quick => StudyConfig::quick(),
            crate::run::Preset::Paper => return Err(crate::studies::paper_needs_data(self.name())),
        }
        .resolve()?;
        run_study(
            &config,
            folder,
            Start::resume_if(resume),
            &lid_embed::DeviceKind::Cpu,
            log,
        )
        .map(|(_, summary)| summary)
    }
}

#[cfg(test)]
mod tests {
    use super::direction_of;

    #[test]
    fn direction_needs_a_grokked_run_whose_peak_comes_first() {
        assert!(direction_of(&[(true, Some(900)), (false, Some(-300))]).shown);
        assert!(!direction_of(&[(true, Some(900)), (true, Some(-100))]).shown);
        assert!(!direction_of(&[(false, Some(900))]).shown);
        let d = direction_of(&[(true, Some(900)), (true, None), (false, None)]);
        assert!(
            d.shown && d.line.contains("2 of 3 runs grokked, leads [+900]"),
            "{}",
            d.line
        );
    }
}
