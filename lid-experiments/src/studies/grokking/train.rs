//! One training run: data draw, updates, periodic evaluation and LID probes, checkpoints.
//!
//! Determinism: the batch of update `s` is drawn from `ChaCha8Rng::seed_from_u64(data_seed)` on
//! stream `s`, and its dropout masks from `ChaCha8Rng::seed_from_u64(model_seed ^ DROPOUT_SALT)` on
//! stream `s`. Every update is thus a pure function of the seeds, the step and the weights, and a
//! resumed run continues exactly as an uninterrupted one would.
//!
//! Checkpoints (`checkpoint.safetensors` in the run folder, replaced on the schedule and at the end)
//! hold the weights, both AdamW moments, and, as the UTF-8 JSON bytes of the `u8` tensor
//! `checkpoint.meta`, the update count and the metrics rows so far; resuming restores all of them.
//! One file, written under a temporary name and renamed when complete
//! ([`crate::run::atomic`]), so an interrupted save leaves the previous checkpoint whole and never a
//! mix of two.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::config::StudyConfig;
use super::dataset::{Example, GrokDataset};
use super::model::Transformer;
use super::optim::AdamW;
use super::probe::{probe_split, ProbeResult};
use crate::error::{ensure, Error, Result};
use crate::run::atomic::{write_atomic, write_atomic_with};
use lid_core::NeighborSearch;

/// Salt that separates the dropout stream from the weight initialisation.
const DROPOUT_SALT: u64 = 0x5EED_D80F_0000_0001;

/// Rows per chunk when evaluating a whole split.
const EVAL_CHUNK: usize = 2048;

/// The checkpoint file of a run's folder.
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";

/// Name of the `u8` tensor holding the checkpoint's JSON metadata.
const META_TENSOR: &str = "checkpoint.meta";

/// One line of `metrics.csv`. Probe columns are `None` at steps without a probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsRow {
    /// Updates made before this measurement.
    pub step: u64,
    /// Learning rate of the last update (the schedule's value at step 0 before any update).
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
}

/// Metadata stored in a checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CheckpointMeta {
    step: u64,
    adam_steps: u64,
    rows: Vec<MetricsRow>,
}

/// Mean loss and accuracy of `model` on `examples` in eval mode.
///
/// # Errors
/// An empty split or a candle failure.
pub fn evaluate(model: &Transformer, examples: &[Example]) -> Result<(f64, f64)> {
    ensure!(!examples.is_empty(), "cannot evaluate on an empty split");
    let (mut loss_sum, mut correct) = (0f64, 0usize);
    for chunk in examples.chunks(EVAL_CHUNK) {
        let (tokens, labels) = model.batch_tensors(chunk)?;
        let out = model.forward(&tokens, None)?;
        let loss = candle_nn::loss::cross_entropy(&out.logits, &labels)?.to_scalar::<f32>()?;
        loss_sum += loss as f64 * chunk.len() as f64;
        let pred = out.logits.argmax(1)?.to_vec1::<u32>()?;
        correct += pred
            .iter()
            .zip(chunk)
            .filter(|(p, e)| **p == e.label)
            .count();
    }
    Ok((
        loss_sum / examples.len() as f64,
        correct as f64 / examples.len() as f64,
    ))
}

/// The batch of update `step`: `batch_size` training examples drawn with replacement.
pub fn draw_batch(train: &[Example], batch_size: usize, data_seed: u64, step: u64) -> Vec<Example> {
    let mut rng = ChaCha8Rng::seed_from_u64(data_seed);
    rng.set_stream(step);
    (0..batch_size)
        .map(|_| train[rng.random_range(0..train.len())])
        .collect()
}

/// A model plus its optimiser: the state of one run.
pub struct Trainer {
    /// The model.
    pub model: Transformer,
    /// The optimiser.
    pub optimizer: AdamW,
    model_seed: u64,
}

impl Trainer {
    /// A fresh model (initialised from `model_seed`) and optimiser.
    ///
    /// # Errors
    /// Invalid model sizes or a candle failure.
    pub fn new(config: &StudyConfig, device: &Device) -> Result<Self> {
        let mut rng = ChaCha8Rng::seed_from_u64(config.model_seed);
        let model = Transformer::new(config.model.clone(), &mut rng, device)?;
        let sizes: Vec<usize> = model.vars().iter().map(|(_, v)| v.elem_count()).collect();
        let optimizer = AdamW::new(config.optimizer.clone(), &sizes);
        Ok(Self {
            model,
            optimizer,
            model_seed: config.model_seed,
        })
    }

    /// One update on `batch` at learning rate `lr` (training mode, dropout on); returns the batch loss.
    ///
    /// # Errors
    /// A non-finite loss or gradient, or a candle failure.
    pub fn train_step(&mut self, batch: &[Example], lr: f64, step: u64) -> Result<f64> {
        let mut dropout_rng = ChaCha8Rng::seed_from_u64(self.model_seed ^ DROPOUT_SALT);
        dropout_rng.set_stream(step);
        let (tokens, labels) = self.model.batch_tensors(batch)?;
        let out = self.model.forward(&tokens, Some(&mut dropout_rng))?;
        let loss = candle_nn::loss::cross_entropy(&out.logits, &labels)?;
        let loss_value = loss.to_scalar::<f32>()? as f64;
        ensure!(
            loss_value.is_finite(),
            "training loss is not finite at step {step}"
        );
        let grads = loss.backward()?;
        let vars: Vec<&Var> = self.model.vars().iter().map(|(_, v)| v).collect();
        self.optimizer.step(&vars, &grads, lr)?;
        Ok(loss_value)
    }

    fn save_checkpoint(&self, dir: &Path, step: u64, rows: &[MetricsRow]) -> Result<()> {
        let mut tensors: HashMap<String, Tensor> = HashMap::new();
        for ((name, var), mom) in self.model.vars().iter().zip(&self.optimizer.moments) {
            let dev = var.device();
            tensors.insert(format!("param.{name}"), var.as_tensor().copy()?);
            tensors.insert(
                format!("adam_m.{name}"),
                Tensor::from_slice(&mom.m, var.shape(), dev)?,
            );
            tensors.insert(
                format!("adam_v.{name}"),
                Tensor::from_slice(&mom.v, var.shape(), dev)?,
            );
        }
        let path = dir.join(CHECKPOINT_FILE);
        let meta = CheckpointMeta {
            step,
            adam_steps: self.optimizer.step_count,
            rows: rows.to_vec(),
        };
        let bytes = serde_json::to_vec(&meta).map_err(|e| Error::json(&path, e))?;
        let len = bytes.len();
        tensors.insert(
            META_TENSOR.into(),
            Tensor::from_vec(bytes, len, self.model.device())?,
        );
        write_atomic_with(&path, |tmp| {
            candle_core::safetensors::save(&tensors, tmp).map_err(Error::from)
        })?;
        Ok(())
    }

    /// Restores weights, moments, update count and rows from `dir`; `None` when there is no
    /// checkpoint.
    fn load_checkpoint(&mut self, dir: &Path) -> Result<Option<(u64, Vec<MetricsRow>)>> {
        let path = dir.join(CHECKPOINT_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let tensors = candle_core::safetensors::load(&path, self.model.device())?;
        let meta = tensors.get(META_TENSOR).ok_or_else(|| {
            Error::Check(format!(
                "{} lacks {META_TENSOR} (not a checkpoint of this version); remove it or start \
                 without --resume",
                path.display()
            ))
        })?;
        let meta: CheckpointMeta =
            serde_json::from_slice(&meta.to_vec1::<u8>()?).map_err(|e| Error::Format {
                action: "parse",
                path: path.clone(),
                message: e.to_string(),
            })?;
        let get = |key: String, var: &Var| -> Result<Tensor> {
            let t = tensors
                .get(&key)
                .ok_or_else(|| Error::Check(format!("{} lacks {key}", path.display())))?;
            ensure!(
                t.shape() == var.shape(),
                "{key} has shape {:?}, the model wants {:?}",
                t.shape(),
                var.shape()
            );
            Ok(t.clone())
        };
        for ((name, var), mom) in self
            .model
            .vars()
            .iter()
            .zip(self.optimizer.moments.iter_mut())
        {
            var.set(&get(format!("param.{name}"), var)?)?;
            mom.m = get(format!("adam_m.{name}"), var)?
                .flatten_all()?
                .to_vec1()?;
            mom.v = get(format!("adam_v.{name}"), var)?
                .flatten_all()?
                .to_vec1()?;
        }
        self.optimizer.step_count = meta.adam_steps;
        Ok(Some((meta.step, meta.rows)))
    }
}

/// Runs (or resumes) one training run on `dataset` (batches drawn with its seed) and writes `metrics.csv` and checkpoints into `dir`.
/// `progress` is called with every new metrics row.
///
/// # Errors
/// I/O, probe or candle failures.
pub fn run_training(
    config: &StudyConfig,
    dataset: &GrokDataset,
    dir: &Path,
    resume: bool,
    search: &dyn NeighborSearch,
    device: &Device,
    progress: &mut dyn FnMut(&MetricsRow),
) -> Result<Vec<MetricsRow>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut trainer = Trainer::new(config, device)?;
    let (mut step, mut rows) = match resume {
        true => trainer.load_checkpoint(dir)?.unwrap_or((0, Vec::new())),
        false => (0, Vec::new()),
    };
    let mut last_lr = config.optimizer.lr * config.schedule.factor(step.saturating_sub(1));
    let measure = |trainer: &Trainer, step: u64, lr: f64| -> Result<MetricsRow> {
        let (train_loss, train_acc) = evaluate(&trainer.model, &dataset.train)?;
        let (val_loss, val_acc) = evaluate(&trainer.model, &dataset.val)?;
        let probe_now = step % config.probe.every == 0 || step == config.steps;
        let train_probe = match probe_now {
            true => Some(probe_split(
                &trainer.model,
                &dataset.train,
                &config.probe,
                search,
            )?),
            false => None,
        };
        let val_probe = match probe_now && config.probe.validation {
            true => Some(probe_split(
                &trainer.model,
                &dataset.val,
                &config.probe,
                search,
            )?),
            false => None,
        };
        Ok(MetricsRow {
            step,
            lr,
            train_loss,
            train_acc,
            val_loss,
            val_acc,
            train_probe,
            val_probe,
        })
    };
    if rows.is_empty() {
        let row = measure(&trainer, 0, last_lr)?;
        progress(&row);
        rows.push(row);
    }
    while step < config.steps {
        let lr = config.optimizer.lr * config.schedule.factor(step);
        let batch = draw_batch(&dataset.train, config.batch_size, dataset.seed, step);
        trainer.train_step(&batch, lr, step)?;
        step += 1;
        last_lr = lr;
        if step % config.eval_every == 0 || step % config.probe.every == 0 || step == config.steps {
            let row = measure(&trainer, step, last_lr)?;
            progress(&row);
            rows.push(row);
        }
        if (config.checkpoint_every > 0 && step % config.checkpoint_every == 0)
            || step == config.steps
        {
            trainer.save_checkpoint(dir, step, &rows)?;
        }
    }
    write_metrics_csv(&dir.join("metrics.csv"), &rows)?;
    Ok(rows)
}

/// Writes `rows` as CSV with [`MetricsRow::CSV_HEADER`] (under a temporary name, renamed when
/// complete).
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
    write_atomic(path, text.as_bytes())?;
    Ok(())
}
