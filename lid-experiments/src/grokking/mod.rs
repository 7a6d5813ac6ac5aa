//! Study 4 of Ruppik et al. (NeurIPS 2025): grokking of modular arithmetic, with the local intrinsic
//! dimension of the last block as a label-free monitor that predicts generalisation.
//!
//! A small decoder-only transformer ([`model`]) is trained with AdamW ([`optim`]) on a fraction of
//! all `(a, b)` pairs of an operation ([`dataset`]); every few hundred steps the LID probe
//! ([`probe`]) measures the mean local TwoNN dimension of the last block's output on training (and
//! validation) sequences. [`analysis`] finds the LID peak and the onset of generalisation per run and
//! tabulates them across fractions and seeds; [`plot`] draws the curves. [`run_study`] does all of
//! it and writes a self-describing run folder.
//!
//! Presets: [`config::StudyConfig::paper`] (REFERENCE.md study 4 exactly; needs a GPU-sized budget)
//! and [`config::StudyConfig::cpu`] (the same code shrunk to about 15 minutes on 2 cores).

pub mod analysis;
pub mod config;
pub mod dataset;
pub mod model;
pub mod optim;
pub mod plot;
pub mod probe;
pub mod train;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::Device;
use serde::Serialize;

use analysis::{summarise_run, table, table_markdown, RunSummary};
use config::{Preset, ProbePositions, StudyConfig};
use dataset::{GrokDataset, Operation};
use train::{run_training, MetricsRow};

/// Command-line arguments of `lid-experiments grokking`: a preset plus optional overrides.
#[derive(Debug, Clone, clap::Args)]
pub struct GrokkingArgs {
    /// Settings to start from.
    #[arg(long, value_enum, default_value_t = Preset::Cpu)]
    pub preset: Preset,
    /// Output folder (default `results/grokking-<preset>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue runs from their checkpoints in the output folder.
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

    /// The output folder.
    pub fn out_dir(&self) -> PathBuf {
        let name = match self.preset {
            Preset::Paper => "paper",
            Preset::Cpu => "cpu",
            Preset::Smoke => "smoke",
        };
        self.out
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("results/grokking-{name}")))
    }
}

/// Runs `lid-experiments grokking`.
///
/// # Errors
/// Invalid settings, training, probe or I/O failures.
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
    let out = args.out_dir();
    let result = run_study(&config, &out, args.resume, &mut |msg| eprintln!("{msg}"))?;
    println!("{}", table_markdown(&table(&result.summaries)));
    println!("run folder: {}", out.display());
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

#[derive(Serialize)]
struct ConfigFile<'a> {
    study: &'a StudyConfig,
    n_parameters: usize,
    lid_experiments_version: &'static str,
    candle_version: &'static str,
    neighbor_search: &'static str,
    threads: usize,
}

/// Runs every (fraction, seed) of `config` and writes the run folder `out`: `config.json`,
/// `runs/frac<f>_seed<s>/metrics.csv` (+ checkpoints), `summary.csv`, `summary.json`, `table.md`,
/// `grokking.svg`, `grokking.png`, `report.md`.
///
/// # Errors
/// Training, probe or I/O failures.
pub fn run_study(
    config: &StudyConfig,
    out: &Path,
    resume: bool,
    log: &mut dyn FnMut(&str),
) -> Result<StudyResult> {
    let started = Instant::now();
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let device = Device::Cpu;
    let search = lid_knn::BruteForce::new();
    let config_file = ConfigFile {
        study: config,
        n_parameters: config.model.n_parameters(),
        lid_experiments_version: env!("CARGO_PKG_VERSION"),
        candle_version: "0.9 (exact version in Cargo.lock)",
        neighbor_search: "lid_knn::BruteForce (exact)",
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    std::fs::write(
        out.join("config.json"),
        serde_json::to_string_pretty(&config_file)?,
    )?;
    let mut summaries = Vec::new();
    let mut all_rows = Vec::new();
    for &fraction in &config.fractions {
        for &seed in &config.data_seeds {
            let dataset = GrokDataset::new(config.operation, config.p, fraction, seed)?;
            let dir = out
                .join("runs")
                .join(format!("frac{fraction:.2}_seed{seed}"));
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
    write_outputs(config, out, &result)?;
    Ok(result)
}

fn opt<T: ToString>(x: Option<T>) -> String {
    x.map(|v| v.to_string()).unwrap_or_default()
}

fn write_outputs(config: &StudyConfig, out: &Path, result: &StudyResult) -> Result<()> {
    let mut csv = String::from("fraction,seed,grokked,memorised_step,plateau_val_acc,onset_step,generalised_step,lid_peak_step,lid_peak,lead_steps,final_lid,final_val_lid,final_train_acc,final_val_acc\n");
    for s in &result.summaries {
        csv.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            s.fraction,
            s.seed,
            s.grokked,
            opt(s.memorised_step),
            opt(s.plateau_val_acc),
            opt(s.onset_step),
            opt(s.generalised_step),
            opt(s.lid_peak_step),
            opt(s.lid_peak),
            opt(s.lead_steps),
            opt(s.final_lid),
            opt(s.final_val_lid),
            s.final_train_acc,
            s.final_val_acc
        ));
    }
    std::fs::write(out.join("summary.csv"), csv)?;
    let fraction_table = table(&result.summaries);
    std::fs::write(
        out.join("summary.json"),
        serde_json::to_string_pretty(&serde_json::json!({
            "runs": result.summaries,
            "fractions": fraction_table,
            "seconds": result.seconds,
        }))?,
    )?;
    let markdown = table_markdown(&fraction_table);
    std::fs::write(out.join("table.md"), &markdown)?;
    let mut groups: Vec<plot::FractionRuns<'_>> = Vec::new();
    for (s, rows) in result.summaries.iter().zip(&result.rows) {
        match groups.iter_mut().find(|g| g.fraction == s.fraction) {
            Some(g) => g.runs.push(rows),
            None => groups.push(plot::FractionRuns {
                fraction: s.fraction,
                runs: vec![rows],
            }),
        }
    }
    plot::plot_study(out, "grokking", &groups)?;
    let report = format!(
        "# Grokking study (preset `{}`)\n\n{} modulo p = {}, fractions {:?}, dataset seeds {:?}, model seed {}, \
         {} steps, weight decay {}, {} parameters. Wall clock {:.0} s.\n\n\
         Memorised = first step with training accuracy >= 0.99; onset = first later step whose \
         validation accuracy exceeds its value at memorisation by {}; LID peak = probed step after 0 \
         with the largest mean local LID (training sequences); lead = onset − peak. A run groks when \
         its final validation accuracy is at least {}.\n\n{}\n![curves](grokking.svg)\n\nPer-run numbers: \
         `summary.csv`; curves: `runs/*/metrics.csv`; settings: `config.json`.\n",
        config.preset,
        serde_json::to_string(&config.operation)?.trim_matches('"'),
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
        markdown
    );
    std::fs::write(out.join("report.md"), report)?;
    Ok(())
}
