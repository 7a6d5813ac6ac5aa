//! Study 4 of Ruppik et al. (NeurIPS 2025): grokking of modular arithmetic, with the local intrinsic
//! dimension of the last block as a label-free monitor that predicts generalisation.
//!
//! A small decoder-only transformer ([`model`]) is trained with AdamW ([`optim`]) on a fraction of
//! all `(a, b)` pairs of an operation ([`dataset`]); every few hundred steps the LID probe
//! ([`probe`]) measures the mean local TwoNN dimension of the last block's output on training (and
//! validation) sequences. [`analysis`] finds the LID peak and the onset of generalisation per run and
//! tabulates them across fractions and seeds; [`figures`] draws the curves with
//! [`crate::run::plot`]. [`run_study`] does all of it into a [`RunFolder`].
//!
//! Presets: [`config::StudyConfig::paper`] (REFERENCE.md study 4 exactly; needs a GPU-sized budget),
//! [`config::StudyConfig::cpu`] (the same code shrunk to about 15 minutes on 2 cores) and
//! [`config::StudyConfig::quick`] (seconds; the default suite's step).
//!
//! Run folder: `config.json`, `runs/frac<f>_seed<s>/metrics.csv` and `checkpoint.safetensors`,
//! `summary.csv` (per run), `fractions.csv` and `table.md` (across seeds), `summary_runs.json`,
//! figures `lid_by_fraction`, `val_acc_by_fraction` and `frac<f>` (stacked LID, accuracy, loss),
//! `report.md`, `summary.json`, `COMPLETE`.

pub mod analysis;
pub mod config;
pub mod dataset;
pub mod figures;
pub mod model;
pub mod optim;
pub mod probe;
pub mod train;

use std::path::PathBuf;
use std::time::Instant;

use candle_core::Device;
use serde::Serialize;

use analysis::{fraction_table, runs_table, summarise_run, table, FractionRow, RunSummary};
use config::{Preset, ProbePositions, StudyConfig};
use dataset::{GrokDataset, Operation};
use figures::FractionRuns;
use train::{run_training, MetricsRow};

use crate::error::{Error, Result};
use crate::run::folder::FigureRef;
use crate::run::{RunFolder, StudySummary};
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
    /// Override the number of training steps.
    #[arg(long)]
    pub steps: Option<u64>,
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
    /// Override the probed positions.
    #[arg(long, value_enum)]
    pub probe_positions: Option<ProbePositions>,
    /// Only time this many training steps (after 20 untimed ones) on the first fraction and seed,
    /// print steps per second as JSON, and write nothing (used by benches/peers/grokking_bench.sh).
    #[arg(long)]
    pub time_steps: Option<u64>,
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
            c.fractions = f.clone();
        }
        if let Some(s) = &self.seeds {
            c.data_seeds = s.clone();
        }
        if let Some(steps) = self.steps {
            c.steps = steps;
            if let optim::Schedule::WarmupLinearDecay { total_steps, .. } = &mut c.schedule {
                *total_steps = steps;
            }
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
    if let Some(steps) = args.time_steps {
        let steps_per_s = time_training(&config, steps)?;
        println!(
            "{}",
            serde_json::json!({"impl": "lid-experiments (candle)", "steps": steps, "steps_per_s": steps_per_s})
        );
        return Ok(());
    }
    let folder = match (&args.out, args.resume) {
        (Some(out), true) => RunFolder::resume(out, "grokking")?,
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
    let (result, _) = run_study(&config, folder, args.resume, &mut |msg| eprintln!("{msg}"))?;
    println!(
        "{}",
        fraction_table(&table(&result.summaries)).to_markdown()
    );
    println!("run folder: {}", path.display());
    Ok(())
}

/// Steps per second of the training loop (batch draw, forward, backward, clipping, AdamW) on the
/// first fraction and seed of `config`, timed over `steps` updates after 20 untimed ones.
///
/// # Errors
/// Training failures.
pub fn time_training(config: &StudyConfig, steps: u64) -> Result<f64> {
    let (fraction, seed) = (config.fractions[0], config.data_seeds[0]);
    let dataset = GrokDataset::new(config.operation, config.p, fraction, seed)?;
    let mut trainer = train::Trainer::new(config, &Device::Cpu)?;
    let mut timed_start = Instant::now();
    for step in 0..steps + 20 {
        if step == 20 {
            timed_start = Instant::now();
        }
        let lr = config.optimizer.lr * config.schedule.factor(step);
        let batch = train::draw_batch(&dataset.train, config.batch_size, seed, step);
        trainer.train_step(&batch, lr, step)?;
    }
    Ok(steps as f64 / timed_start.elapsed().as_secs_f64())
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

/// What `config.json` records under `settings`.
#[derive(Serialize)]
struct Settings<'a> {
    study: &'a StudyConfig,
    n_parameters: usize,
    neighbor_search: &'static str,
}

/// Runs every (fraction, seed) of `config` into `folder` (see the module docs for its files) and
/// finishes it; with `resume`, runs continue from their checkpoints in the folder.
///
/// # Errors
/// Training, probe, figure or I/O failures (the folder then stays incomplete).
pub fn run_study(
    config: &StudyConfig,
    mut folder: RunFolder,
    resume: bool,
    log: &mut dyn FnMut(&str),
) -> Result<(StudyResult, StudySummary)> {
    let started = Instant::now();
    let device = Device::Cpu;
    let search = lid_knn::BruteForce::new();
    let mut seeds = config.data_seeds.clone();
    seeds.push(config.model_seed);
    seeds.push(config.probe.seed);
    folder.write_config(
        &Settings {
            study: config,
            n_parameters: config.model.n_parameters(),
            neighbor_search: "lid_knn::BruteForce (exact)",
        },
        &seeds,
    )?;
    let mut summaries = Vec::new();
    let mut all_rows = Vec::new();
    for &fraction in &config.fractions {
        for &seed in &config.data_seeds {
            let dataset = GrokDataset::new(config.operation, config.p, fraction, seed)?;
            let dir = folder.dir(&format!("runs/frac{fraction:.2}_seed{seed}"))?;
            log(&format!(
                "run frac {fraction:.2} seed {seed}: {} train / {} val pairs",
                dataset.train.len(),
                dataset.val.len()
            ));
            let run_start = Instant::now();
            let mut progress = |r: &MetricsRow| {
                if let Some(p) = &r.train_probe {
                    log(&format!(
                        "  step {:>7}  train acc {:.3}  val acc {:.3}  LID {:.2}  ({:.0} s)",
                        r.step,
                        r.train_acc,
                        r.val_acc,
                        p.mean,
                        run_start.elapsed().as_secs_f64()
                    ));
                }
            };
            let rows = run_training(
                config,
                &dataset,
                &dir,
                resume,
                &search,
                &device,
                &mut progress,
            )?;
            summaries.push(summarise_run(
                fraction,
                seed,
                &rows,
                config.grok_threshold,
                config.onset_margin,
            ));
            all_rows.push(rows);
        }
    }
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

fn write_outputs(
    config: &StudyConfig,
    folder: &RunFolder,
    result: &StudyResult,
) -> Result<StudySummary> {
    folder.write_table("summary.csv", &runs_table(&result.summaries))?;
    let fraction_rows = table(&result.summaries);
    let across = fraction_table(&fraction_rows);
    folder.write_table("fractions.csv", &across)?;
    folder.write_json(
        "summary_runs.json",
        &serde_json::json!({
            "runs": result.summaries,
            "fractions": fraction_rows,
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
         validation accuracy exceeds its value at memorisation by {}; LID peak = probed step after 0 \
         with the largest mean local LID (training sequences); lead = onset − peak. A run groks when \
         its final validation accuracy is at least {}.\n\n{}\n\
         ![LID](lid_by_fraction.png)\n\n![accuracy](val_acc_by_fraction.png)\n\n{}\
         Per-run numbers: `summary.csv`; across seeds: `fractions.csv`; curves: \
         `runs/*/metrics.csv`; settings and versions: `config.json`.\n",
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
        markdown,
        panel_links
    );
    folder.write_report(&report)?;
    let grokked = result.summaries.iter().filter(|s| s.grokked).count();
    let leads: Vec<String> = fraction_rows
        .iter()
        .filter_map(|r| {
            r.lead_steps
                .as_ref()
                .map(|m| format!("{} steps at fraction {:.2}", m.display(0), r.fraction))
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
            "No run reached the onset of generalisation, so no lead of the LID peak can be \
             measured (expected for the quick preset, which only checks the pipeline)."
                .to_string()
        } else {
            format!(
                "The LID peak precedes the validation-accuracy onset by {}.",
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
    })
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

    fn run_quick(&self, folder: RunFolder, log: &mut dyn FnMut(&str)) -> Result<StudySummary> {
        let config = StudyConfig::quick().resolve()?;
        run_study(&config, folder, false, log).map(|(_, summary)| summary)
    }
}
