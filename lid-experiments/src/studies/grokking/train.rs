//! One training run of the grokking study on lid-train: the paper's model ([`super::config::ModelConfig::spec`]),
//! a classifier on the last position, AdamW with every parameter decayed, batches drawn with
//! replacement, evaluation of both full splits every `eval_every` steps and the LID probe every
//! `probe.every` steps, checkpoints on a schedule, and resumption after a kill.
//!
//! Determinism: weights are initialised from the model seed (PyTorch's module defaults); the batch
//! of update `s` and its dropout masks derive from the dataset seed and `s` ([`lid_train::data`],
//! [`lid_train::kernels::dropout`]); every update is thus a pure function of the seeds, the step
//! and the weights, and a resumed run continues exactly as an uninterrupted one would, whatever the
//! thread count (lid-train's kernels are thread-count independent).
//!
//! Checkpoints are lid-train's (`training/checkpoint-<step>/`: weights, AdamW moments and every
//! metrics row so far, the directory renamed into place when complete).

use std::path::Path;

use lid_train::data::{Order, Sequence};
use lid_train::heads::{HeadOutput, LastTokenHead};
use lid_train::model::load::init_model;
use lid_train::model::{Batch, Init, Mode, Model};
use lid_train::params::Grads;
use lid_train::probe::LidProbe;
use lid_train::tasks::forward_backward;
use lid_train::train::{Event, StepLoss, StepRecord, Task, TrainConfig, Trainer, Workspace};
use serde::{Deserialize, Serialize};

use super::config::StudyConfig;
use super::dataset::{Example, GrokDataset};
use super::probe::{split_probe, ProbeResult};
use crate::error::Result;

/// Rows per chunk when evaluating a whole split.
const EVAL_CHUNK: usize = 2048;

/// One line of `metrics.csv`. Probe columns are `None` at steps without a probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsRow {
    /// Updates made before this measurement.
    pub step: u64,
    /// Learning rate of the last update (0 at step 0).
    pub lr: f64,
    /// Mean cross-entropy on the whole training split, eval mode.
    pub train_loss: f64,
    /// Accuracy on the whole training split, eval mode.
    pub train_acc: f64,
    /// Mean cross-entropy on the validation split, eval mode.
    pub val_loss: f64,
    /// Accuracy on the validation split, eval mode.
    pub val_acc: f64,
    /// LID probe on training sequences.
    pub train_probe: Option<ProbeResult>,
    /// LID probe on validation sequences.
    pub val_probe: Option<ProbeResult>,
}

impl MetricsRow {
    /// CSV header matching [`MetricsRow::csv_line`].
    pub const CSV_HEADER: &'static str = "step,lr,train_loss,train_acc,val_loss,val_acc,lid_mean,lid_std,lid_global,lid_n,val_lid_mean,val_lid_std,val_lid_global,val_lid_n";

    /// The row as CSV; empty fields where no probe ran.
    pub fn csv_line(&self) -> String {
        let probe = |p: &Option<ProbeResult>| match p {
            Some(p) => format!("{},{},{},{}", p.mean, p.std, p.global, p.n_points),
            None => ",,,".to_string(),
        };
        format!(
            "{},{},{},{},{},{},{},{}",
            self.step,
            self.lr,
            self.train_loss,
            self.train_acc,
            self.val_loss,
            self.val_acc,
            probe(&self.train_probe),
            probe(&self.val_probe)
        )
    }

    /// The row of an evaluated training record (the metrics [`GrokTask`] reports).
    pub fn from_record(r: &StepRecord) -> Option<Self> {
        let get = |k: &str| r.eval.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
        let probe = |prefix: &str| {
            Some(ProbeResult {
                mean: get(&format!("{prefix}lid_mean"))?,
                std: get(&format!("{prefix}lid_std"))?,
                global: get(&format!("{prefix}lid_global"))?,
                n_points: get(&format!("{prefix}lid_n"))? as usize,
            })
        };
        Some(Self {
            step: r.step,
            lr: r.lr,
            train_loss: get("train_loss")?,
            train_acc: get("train_acc")?,
            val_loss: get("val_loss")?,
            val_acc: get("val_acc")?,
            train_probe: probe(""),
            val_probe: probe("val_"),
        })
    }
}

/// The grokking objective on one dataset, with its probes.
pub struct GrokTask<'a> {
    /// The classifier on the last position.
    pub head: LastTokenHead,
    /// The data.
    pub data: &'a GrokDataset,
    /// Probe on training sequences.
    pub train_probe: LidProbe,
    /// Probe on validation sequences, when asked for.
    pub val_probe: Option<LidProbe>,
    /// Probe every this many steps.
    pub probe_every: u64,
    /// The last step (always probed).
    pub last_step: u64,
    /// Compute training gradients on a candle device instead of lid-train's CPU kernels.
    pub device: Option<super::device::DeviceModel>,
}

fn batch_of(examples: &[&Example]) -> (Batch, Vec<u32>) {
    let seqs: Vec<Sequence> = examples
        .iter()
        .map(|e| Sequence::plain(e.tokens.to_vec()))
        .collect();
    (
        lid_train::data::pack(&seqs),
        examples.iter().map(|e| e.label).collect(),
    )
}

impl GrokTask<'_> {
    /// Mean loss and accuracy on `examples` in eval mode.
    ///
    /// # Errors
    /// Model errors.
    pub fn score(
        &self,
        model: &Model,
        ws: &mut Workspace,
        examples: &[Example],
    ) -> Result<(f64, f64)> {
        let mut total = HeadOutput::default();
        for chunk in examples.chunks(EVAL_CHUNK) {
            let refs: Vec<&Example> = chunk.iter().collect();
            let (batch, labels) = batch_of(&refs);
            total.merge(forward_backward(
                model,
                ws,
                &batch,
                Mode::Eval,
                None,
                |h, _| self.head.run(model, h, &batch, &labels, None),
            )?);
        }
        Ok((
            total.mean_loss(),
            total.correct as f64 / total.count.max(1) as f64,
        ))
    }
}

impl Task for GrokTask<'_> {
    fn kind(&self) -> &'static str {
        "grokking"
    }
    fn train_len(&self) -> usize {
        self.data.train.len()
    }
    fn train_batch(
        &self,
        model: &Model,
        ws: &mut Workspace,
        indices: &[usize],
        mode: Mode,
        _seed: u64,
        grads: &mut Grads,
        scale: f32,
    ) -> lid_train::Result<StepLoss> {
        let refs: Vec<&Example> = indices.iter().map(|&i| &self.data.train[i]).collect();
        let (batch, labels) = batch_of(&refs);
        if let Some(device) = &self.device {
            let seed = match mode {
                Mode::Train { dropout_seed } => Some(dropout_seed),
                _ => None,
            };
            let loss = device
                .gradients(model, &batch.ids, &labels, seed, grads, scale)
                .map_err(|e| lid_train::Error::Invalid(e.to_string()))?;
            return Ok(StepLoss {
                loss,
                tokens: batch.rows(),
            });
        }
        let out = forward_backward(model, ws, &batch, mode, Some((grads, scale)), |h, g| {
            self.head.run(model, h, &batch, &labels, g)
        })?;
        Ok(StepLoss::from_head(&out, batch.rows()))
    }
    fn evaluate(
        &self,
        model: &Model,
        ws: &mut Workspace,
        step: u64,
    ) -> lid_train::Result<Vec<(String, f64)>> {
        let wrap = |e: crate::error::Error| lid_train::Error::Invalid(e.to_string());
        let (train_loss, train_acc) = self.score(model, ws, &self.data.train).map_err(wrap)?;
        let (val_loss, val_acc) = self.score(model, ws, &self.data.val).map_err(wrap)?;
        let mut out = vec![
            ("train_loss".to_string(), train_loss),
            ("train_acc".to_string(), train_acc),
            ("val_loss".to_string(), val_loss),
            ("val_acc".to_string(), val_acc),
        ];
        if step.is_multiple_of(self.probe_every) || step == self.last_step {
            let mut push = |prefix: &str, probe: &LidProbe| -> lid_train::Result<()> {
                let p = probe.estimate(model, step)?.point;
                out.push((format!("{prefix}lid_mean"), p.mean));
                out.push((format!("{prefix}lid_std"), p.std));
                out.push((format!("{prefix}lid_global"), p.global.unwrap_or(f64::NAN)));
                out.push((format!("{prefix}lid_n"), p.n_points as f64));
                Ok(())
            };
            push("", &self.train_probe)?;
            if let Some(v) = &self.val_probe {
                push("val_", v)?;
            }
        }
        Ok(out)
    }
    fn checkpoint_config(&self, model: &Model) -> (String, serde_json::Value) {
        let s = &model.net.spec;
        (
            "GrokkingModel".into(),
            serde_json::json!({"model_type": "lid_grokking", "vocab_size": s.vocab, "d_model": s.hidden, "n_heads": s.heads, "d_ff": s.intermediate, "n_blocks": s.layers, "max_positions": 5}),
        )
    }
}

/// A fresh model (initialised from the model seed with PyTorch's module defaults) and its head.
///
/// # Errors
/// Invalid sizes.
pub fn new_model(config: &StudyConfig) -> Result<(Model, LastTokenHead)> {
    let mut init = Init::pytorch_defaults(config.model_seed);
    let mut model = init_model(&config.model.spec(), &mut init)?;
    let (head, _) = LastTokenHead::attach(&mut model, None, &mut init, config.model.vocab_size)?;
    Ok((model, head))
}

/// The trainer settings of a run on dataset seed `seed`.
pub fn train_config(config: &StudyConfig, seed: u64) -> TrainConfig {
    TrainConfig {
        optimizer: config.optimizer.clone(),
        schedule: config.schedule,
        batch_size: config.batch_size,
        grad_accumulation: 1,
        order: Order::WithReplacement,
        steps: config.steps,
        seed,
        dropout: true,
        eval_every: Some(config.eval_every),
        eval_at_start: true,
        checkpoint_every: (config.checkpoint_every > 0).then_some(config.checkpoint_every),
        checkpoint_at: Vec::new(),
        keep_checkpoints: false,
    }
}

/// How a training run starts in its folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// From step 0.
    Fresh,
    /// From the latest checkpoint in the folder, written under the same settings (a killed run).
    Resume,
    /// From the latest checkpoint of a run started for `written_steps` steps, every other setting
    /// the same, on to the configured step count ([`lid_train::train::Trainer::extend`]): the result
    /// equals a run of that count from the start.
    Extend {
        /// The step count the run in the folder was started with.
        written_steps: u64,
    },
}

impl Start {
    /// [`Start::Resume`] when `resume`, else [`Start::Fresh`].
    pub fn resume_if(resume: bool) -> Self {
        if resume {
            Self::Resume
        } else {
            Self::Fresh
        }
    }
}

/// Runs (resumes, extends) one training run on `dataset` and writes `metrics.csv` and lid-train's
/// checkpoints into `dir`. `progress` is called with every new metrics row.
///
/// # Errors
/// I/O, probe or training failures.
pub fn run_training(
    config: &StudyConfig,
    dataset: &GrokDataset,
    dir: &Path,
    start: Start,
    device: &lid_embed::DeviceKind,
    progress: &mut dyn FnMut(&MetricsRow),
) -> Result<Vec<MetricsRow>> {
    let (model, head) = new_model(config)?;
    let device = match device {
        lid_embed::DeviceKind::Cpu => None,
        other => Some(super::device::DeviceModel::new(&model, &other.open()?)?),
    };
    let task = GrokTask {
        head,
        data: dataset,
        train_probe: split_probe(&dataset.train, &config.probe)?,
        val_probe: match config.probe.validation {
            true => Some(split_probe(&dataset.val, &config.probe)?),
            false => None,
        },
        probe_every: config.probe.every,
        last_step: config.steps,
        device,
    };
    let mut trainer = Trainer::new(model, train_config(config, dataset.seed), None)?;
    let training = dir.join("training");
    match start {
        Start::Fresh => {}
        Start::Resume => {
            trainer.resume(&training, &task)?;
        }
        Start::Extend { written_steps } => {
            trainer.extend(&training, &task, written_steps)?;
        }
    }
    trainer.run(&task, Some(&training), None, &mut |e| {
        if let Event::Step(r) = e {
            if let Some(row) = MetricsRow::from_record(r) {
                progress(&row);
            }
        }
        Ok(())
    })?;
    let rows: Vec<MetricsRow> = trainer
        .records
        .iter()
        .filter_map(MetricsRow::from_record)
        .collect();
    write_metrics_csv(&dir.join("metrics.csv"), &rows)?;
    Ok(rows)
}

/// Writes `rows` as CSV with [`MetricsRow::CSV_HEADER`], atomically.
///
/// # Errors
/// I/O failure.
pub fn write_metrics_csv(path: &Path, rows: &[MetricsRow]) -> Result<()> {
    let mut text = String::from(MetricsRow::CSV_HEADER);
    text.push('\n');
    for row in rows {
        text.push_str(&row.csv_line());
        text.push('\n');
    }
    crate::run::atomic::write_atomic(path, text.as_bytes())?;
    Ok(())
}
