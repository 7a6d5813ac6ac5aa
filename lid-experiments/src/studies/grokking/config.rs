//! Settings of a grokking study: one [`StudyConfig`] resolved from a [`Preset`] plus command-line
//! overrides, written out whole as `config.json`.

use crate::error::{ensure, Result};
use serde::{Deserialize, Serialize};

use super::dataset::Operation;
use super::model::ModelConfig;
use super::optim::{AdamWConfig, Schedule};

/// Which token positions of the last-block output enter the LID probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ProbePositions {
    /// All four positions `[a, op, b, =]` (paper).
    All,
    /// The operand positions `a` and `b` only.
    Operands,
}

/// LID probe settings (REFERENCE.md study 4, last paragraph). Defaults: the paper's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeConfig {
    /// Probe every this many steps (paper 500); step 0 is probed too.
    pub every: u64,
    /// Batches of sequences drawn (with replacement) from a split (paper 100).
    pub batches: usize,
    /// Sequences per batch (paper 512).
    pub batch_size: usize,
    /// Positions whose vectors are collected (paper: all).
    pub positions: ProbePositions,
    /// Points kept after dedup (paper N = 3,000).
    pub n_points: usize,
    /// Seed of the sequence draw and of the point sample (paper 778).
    pub seed: u64,
    /// Neighbourhood size L (paper 64).
    pub neighbors: usize,
    /// Probe the validation split too.
    pub validation: bool,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            every: 500,
            batches: 100,
            batch_size: 512,
            positions: ProbePositions::All,
            n_points: 3000,
            seed: 778,
            neighbors: 64,
            validation: true,
        }
    }
}

/// Everything a grokking study needs; the defaults are the `paper` preset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyConfig {
    /// Preset the settings came from (before overrides).
    pub preset: String,
    /// The operation (paper: sum).
    pub operation: Operation,
    /// The prime modulus (paper 197).
    pub p: u32,
    /// Training fractions (paper 0.10..0.50 step 0.05).
    pub fractions: Vec<f64>,
    /// Dataset seeds, one run per fraction and seed (paper 46-50). The seed shuffles the pairs and
    /// drives the batch draw.
    pub data_seeds: Vec<u64>,
    /// Model seed: weight initialisation and dropout masks (paper 1234).
    pub model_seed: u64,
    /// Model sizes; `vocab_size` is set from the dataset.
    pub model: ModelConfig,
    /// Optimiser.
    pub optimizer: AdamWConfig,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Training steps per run (the paper's schedule spans 400,000).
    pub steps: u64,
    /// Sequences per batch, drawn with replacement (paper 512).
    pub batch_size: usize,
    /// Evaluate loss and accuracy on both full splits every this many steps.
    pub eval_every: u64,
    /// Write a checkpoint every this many steps (0 = only at the end).
    pub checkpoint_every: u64,
    /// The LID probe.
    pub probe: ProbeConfig,
    /// A run counts as grokked when its final validation accuracy reaches this (default 0.9).
    pub grok_threshold: f64,
    /// Onset of generalisation: first step after memorisation (training accuracy >= 0.99) where
    /// validation accuracy exceeds its value at memorisation by this margin (default 0.1).
    pub onset_margin: f64,
}

/// Named presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// The paper's settings (p = 197, 9 fractions x 5 seeds, 400k-step schedule): for a GPU; on a CPU
    /// this takes weeks.
    Paper,
    /// A CPU-sized study on 2 cores in about 15 minutes (see [`StudyConfig::cpu`]).
    Cpu,
    /// Seconds-long run of the whole pipeline (see [`StudyConfig::quick`]): the default suite's
    /// grokking step and the tests. Too short to grok.
    Quick,
}

impl Default for StudyConfig {
    fn default() -> Self {
        Self::paper()
    }
}

impl StudyConfig {
    /// The paper's settings (REFERENCE.md study 4).
    pub fn paper() -> Self {
        Self {
            preset: "paper".into(),
            operation: Operation::Sum,
            p: 197,
            fractions: (0..9)
                .map(|i| 0.10 + 0.05 * i as f64)
                .map(|f| (f * 100.0).round() / 100.0)
                .collect(),
            data_seeds: (46..=50).collect(),
            model_seed: 1234,
            model: ModelConfig::default(),
            optimizer: AdamWConfig::default(),
            schedule: Schedule::WarmupLinearDecay {
                warmup_steps: 10,
                total_steps: 400_000,
            },
            steps: 400_000,
            batch_size: 512,
            eval_every: 100,
            checkpoint_every: 10_000,
            probe: ProbeConfig::default(),
            grok_threshold: 0.9,
            onset_margin: 0.1,
        }
    }

    /// The CPU preset: same code and model shape, shrunk to about 15 minutes on 2 cores.
    /// Differences from the paper: p = 31 instead of 197 (961 pairs); fractions {0.2, 0.3, 0.5};
    /// dataset seeds {46, 47}; width 64 with 4 heads x 16 and feed-forward 256; batch 128;
    /// learning rate 3e-3 and weight decay 1.0 instead of 1e-3 and 0.01 (so that generalisation
    /// happens within about a thousand steps); constant learning rate after the 10-step warm-up;
    /// 1,500 steps; probe every 100 steps on 20 x 128 sequences with N = 400, L = 32.
    pub fn cpu() -> Self {
        let mut c = Self::paper();
        c.preset = "cpu".into();
        c.p = 31;
        c.fractions = vec![0.2, 0.3, 0.5];
        c.data_seeds = vec![46, 47];
        c.model.d_model = 64;
        c.model.d_ff = 256;
        c.optimizer.lr = 3e-3;
        c.optimizer.weight_decay = 1.0;
        c.schedule = Schedule::WarmupConstant { warmup_steps: 10 };
        c.steps = 1500;
        c.batch_size = 128;
        c.eval_every = 50;
        c.checkpoint_every = 500;
        c.probe = ProbeConfig {
            every: 100,
            batches: 20,
            batch_size: 128,
            n_points: 400,
            neighbors: 32,
            ..ProbeConfig::default()
        };
        c
    }

    /// A seconds-long run of the whole pipeline (training, probes, analysis, report), for the
    /// default suite and the tests: the CPU preset with p = 23, fraction 0.5, one dataset seed (46),
    /// width 32 with feed-forward 64, batch 64, 40 steps, probes every 20 steps on 4 x 64 sequences
    /// with N = 200, L = 16. Too short to grok: it checks the machinery, not the phenomenon.
    pub fn quick() -> Self {
        let mut c = Self::cpu();
        c.preset = "quick".into();
        c.p = 23;
        c.fractions = vec![0.5];
        c.data_seeds = vec![46];
        c.model.d_model = 32;
        c.model.d_ff = 64;
        c.steps = 40;
        c.batch_size = 64;
        c.eval_every = 10;
        c.checkpoint_every = 20;
        c.probe = ProbeConfig {
            every: 20,
            batches: 4,
            batch_size: 64,
            n_points: 200,
            neighbors: 16,
            ..ProbeConfig::default()
        };
        c
    }

    /// The settings of a preset.
    pub fn from_preset(preset: Preset) -> Self {
        match preset {
            Preset::Paper => Self::paper(),
            Preset::Cpu => Self::cpu(),
            Preset::Quick => Self::quick(),
        }
    }

    /// Checks every setting and sets the model's vocabulary from the dataset.
    ///
    /// # Errors
    /// A message naming the first bad setting.
    pub fn resolve(mut self) -> Result<Self> {
        self.model.vocab_size = self.operation.vocab_size(self.p);
        self.model.check()?;
        ensure!(
            !self.fractions.is_empty(),
            "--fractions: no training fractions given"
        );
        for &f in &self.fractions {
            ensure!(
                f > 0.0 && f < 1.0,
                "--fractions: training fraction {f} is not in (0, 1)"
            );
        }
        ensure!(
            !self.data_seeds.is_empty(),
            "--seeds: no dataset seeds given"
        );
        ensure!(self.steps > 0, "--steps must be positive");
        ensure!(self.batch_size > 0, "--batch-size must be positive");
        ensure!(self.eval_every > 0, "--eval-every must be positive");
        ensure!(self.probe.every > 0, "--probe-every must be positive");
        ensure!(
            self.probe.batches > 0 && self.probe.batch_size > 0,
            "probe batches must be positive"
        );
        ensure!(
            self.probe.neighbors >= 3,
            "probe neighbourhood L must be at least 3"
        );
        ensure!(
            self.probe.n_points > self.probe.neighbors,
            "probe N = {} must exceed L = {}",
            self.probe.n_points,
            self.probe.neighbors
        );
        let o = &self.optimizer;
        ensure!(
            o.lr > 0.0 && o.lr.is_finite(),
            "--lr: the learning rate must be positive, got {}",
            o.lr
        );
        ensure!(
            (0.0..1.0).contains(&o.beta1) && (0.0..1.0).contains(&o.beta2),
            "betas must lie in [0, 1)"
        );
        ensure!(
            o.eps > 0.0 && o.weight_decay >= 0.0 && o.weight_decay.is_finite(),
            "eps must be positive and --weight-decay non-negative, got {} and {}",
            o.eps,
            o.weight_decay
        );
        Ok(self)
    }
}
