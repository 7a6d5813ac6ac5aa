//! The one training loop of the studies: AdamW with a schedule, gradient accumulation, clipping,
//! seeded batch order, masking and dropout, evaluation every `k` steps, `metrics.csv`, checkpoints
//! on a schedule, and resumption that continues bit-identically after a kill.
//!
//! A [`Task`] supplies the data and the loss (masked LM, causal LM, classification here; the
//! grokking and DST studies bring their own); the [`Trainer`] owns the model, the optimizer and the
//! position. Everything random derives from [`TrainConfig::seed`] and the update step (see
//! [`crate::data`]), so the update at step `s` is a pure function of the weights, the optimizer
//! state and `s`: resuming from a checkpoint at `s` reproduces the uninterrupted run exactly.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, TrainerState};
use crate::data::{micro_batch, Order};
use crate::error::{Error, Result};
use crate::heads::HeadOutput;
use crate::kernels::dropout::derive_seed;
use crate::model::{Activations, Mode, Model};
use crate::optim::{AdamW, AdamWConfig, Schedule};
use crate::params::Grads;

/// Settings of a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Optimizer.
    pub optimizer: AdamWConfig,
    /// Learning-rate schedule (factor on `optimizer.lr` per update).
    pub schedule: Schedule,
    /// Examples per micro-batch.
    pub batch_size: usize,
    /// Micro-batches per update (paper, fine-tuning: 2).
    pub grad_accumulation: usize,
    /// Batch order.
    pub order: Order,
    /// Optimizer updates in total.
    pub steps: u64,
    /// Seed of batch order, masking and dropout.
    pub seed: u64,
    /// Dropout in training (false: train mode without dropout, for equivalence tests).
    pub dropout: bool,
    /// Evaluate every this many updates (and at the end); `None`: only at the end.
    pub eval_every: Option<u64>,
    /// Also evaluate before the first update.
    pub eval_at_start: bool,
    /// Write a checkpoint every this many updates; `None`: none on a period.
    pub checkpoint_every: Option<u64>,
    /// Further steps at which to write a checkpoint (e.g. epoch ends). Step 0 writes the model
    /// as it is before the first update (after the start evaluation, when `eval_at_start`), the
    /// first point of a checkpoint series; a run resumed from it does not write it again.
    pub checkpoint_at: Vec<u64>,
    /// Keep every checkpoint (a series for the studies) or only the latest (to resume). Either way
    /// only the latest keeps its optimizer state (`optimizer.safetensors`, twice the model's size):
    /// resuming needs no older one.
    pub keep_checkpoints: bool,
}

impl TrainConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// Zero batch size, accumulation or steps; invalid optimizer settings.
    pub fn check(&self) -> Result<()> {
        self.optimizer.check()?;
        if self.batch_size == 0 {
            return Err(Error::setting("batch-size", "must be at least 1"));
        }
        if self.grad_accumulation == 0 {
            return Err(Error::setting("grad-accumulation", "must be at least 1"));
        }
        if self.steps == 0 {
            return Err(Error::setting("steps", "must be at least 1"));
        }
        if self.eval_every == Some(0) || self.checkpoint_every == Some(0) {
            return Err(Error::setting(
                "eval-every / checkpoint-every",
                "must be at least 1 when given",
            ));
        }
        Ok(())
    }

    fn fingerprint(&self, task: &dyn Task) -> String {
        let text = format!(
            "{}|{}|{}",
            serde_json::to_string(self).unwrap_or_default(),
            task.kind(),
            task.train_len()
        );
        // FNV-1a, 64 bit: a stable digest of the settings, not a security measure.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in text.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        format!("{h:016x}")
    }
}

/// Buffers reused across steps.
#[derive(Debug, Default)]
pub struct Workspace {
    /// Activations of the backbone.
    pub acts: Activations,
    /// Gradient w.r.t. the backbone output.
    pub d_hidden: Vec<f32>,
    /// A copy of the backbone output (heads read it while the backbone keeps its activations).
    pub hidden: Vec<f32>,
}

/// A training objective with its data.
pub trait Task {
    /// Short name (`masked_lm`, `causal_lm`, `classification`, ...).
    fn kind(&self) -> &'static str;
    /// Number of training examples.
    fn train_len(&self) -> usize;
    /// Adds the gradient of `scale * mean loss` over the training examples `indices` to `grads`;
    /// `seed` is this micro-batch's seed (masking), `mode` carries the dropout seed.
    ///
    /// # Errors
    /// Model or data errors.
    #[allow(clippy::too_many_arguments)]
    fn train_batch(
        &self,
        model: &Model,
        ws: &mut Workspace,
        indices: &[usize],
        mode: Mode,
        seed: u64,
        grads: &mut Grads,
        scale: f32,
    ) -> Result<StepLoss>;
    /// Evaluation metrics (name, value), e.g. `eval_loss`, `accuracy`, after `step` updates (a
    /// task may measure more at some steps, e.g. an LID probe).
    ///
    /// # Errors
    /// Model or data errors.
    fn evaluate(&self, model: &Model, ws: &mut Workspace, step: u64) -> Result<Vec<(String, f64)>>;
    /// `architectures` entry and extra `config.json` keys of saved checkpoints.
    fn checkpoint_config(&self, model: &Model) -> (String, serde_json::Value);
}

/// Loss of one micro-batch.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StepLoss {
    /// Mean loss.
    pub loss: f64,
    /// Tokens processed (forward and backward).
    pub tokens: usize,
}

impl StepLoss {
    /// From a head's output and the tokens of the batch.
    pub fn from_head(out: &HeadOutput, tokens: usize) -> Self {
        Self {
            loss: out.mean_loss(),
            tokens,
        }
    }
}

/// One line of `metrics.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Updates completed.
    pub step: u64,
    /// Learning rate of the last update.
    pub lr: f64,
    /// Mean training loss of the last update (mean over its micro-batches); `None` before the
    /// first update.
    pub loss: Option<f64>,
    /// Gradient norm before clipping; `None` before the first update.
    pub grad_norm: Option<f64>,
    /// Tokens of the last update.
    pub tokens: usize,
    /// Wall-clock seconds of the last update (not part of any determinism check).
    pub seconds: f64,
    /// Evaluation metrics, when evaluated at this step.
    pub eval: Vec<(String, f64)>,
}

/// What the trainer reports to its caller's hook.
pub enum Event<'a> {
    /// An update finished.
    Step(&'a StepRecord),
    /// An evaluation finished (at `step`), with the model as evaluated.
    Evaluated {
        /// Updates completed.
        step: u64,
        /// The metrics.
        metrics: &'a [(String, f64)],
        /// The model.
        model: &'a Model,
    },
    /// A checkpoint was written.
    Checkpoint {
        /// Updates completed.
        step: u64,
        /// Its directory.
        dir: &'a Path,
        /// The model as saved.
        model: &'a Model,
    },
}

/// Model, optimizer and position of a training run.
pub struct Trainer {
    /// The model being trained.
    pub model: Model,
    /// Its optimizer state.
    pub adam: AdamW,
    /// Settings.
    pub config: TrainConfig,
    /// Records so far.
    pub records: Vec<StepRecord>,
    /// Updates completed.
    pub step: u64,
    /// `tokenizer.json` copied into checkpoints.
    pub tokenizer: Option<PathBuf>,
    grads: Grads,
    ws: Workspace,
}

impl Trainer {
    /// A fresh run.
    ///
    /// # Errors
    /// Invalid settings.
    pub fn new(model: Model, config: TrainConfig, tokenizer: Option<PathBuf>) -> Result<Self> {
        config.check()?;
        let adam = AdamW::new(config.optimizer.clone(), &model.store)?;
        let grads = model.store.zero_grads();
        Ok(Self {
            model,
            adam,
            config,
            records: Vec::new(),
            step: 0,
            tokenizer,
            grads,
            ws: Workspace::default(),
        })
    }

    /// Continues from the latest complete checkpoint in `dir`, when there is one; returns its step.
    /// Half-written checkpoint folders that a killed process left in `dir`
    /// (`.checkpoint-<step>.<pid>.partial`, of any process but this one) are removed first: the
    /// caller owns `dir` when it resumes into it.
    ///
    /// # Errors
    /// A checkpoint written under other settings (its fingerprint differs), unreadable files.
    pub fn resume(&mut self, dir: &Path, task: &dyn Task) -> Result<Option<u64>> {
        let want = self.config.fingerprint(task);
        self.resume_with(dir, &want)
    }

    /// Continues a run that was started for `written_steps` updates, every other setting equal to
    /// this trainer's, up to this trainer's `config.steps` (at least `written_steps`): a finished
    /// run trained further, or an interrupted one finished at a larger count. The result equals a
    /// run of `config.steps` from the start, because nothing else in a run depends on its step
    /// count: batches and dropout masks are functions of the seed and the step, and the schedule's
    /// span is a setting of its own ([`crate::optim::Schedule`]; a schedule derived from the step
    /// count differs, and the checkpoint is then refused as written under other settings). The
    /// one exception is the evaluation that ends every run: it coincides with a scheduled one only
    /// when `written_steps` is a multiple of `eval_every`, which is therefore required. Returns
    /// the checkpoint's step.
    ///
    /// # Errors
    /// `written_steps` above `config.steps` or off the evaluation interval, a checkpoint written
    /// under other settings, unreadable files.
    pub fn extend(
        &mut self,
        dir: &Path,
        task: &dyn Task,
        written_steps: u64,
    ) -> Result<Option<u64>> {
        if written_steps > self.config.steps {
            return Err(Error::setting(
                "steps",
                format!(
                    "{} is fewer than the {written_steps} the run was started with; a run can be extended, not shortened",
                    self.config.steps
                ),
            ));
        }
        if let Some(every) = self.config.eval_every {
            if !written_steps.is_multiple_of(every) {
                return Err(Error::setting(
                    "steps",
                    format!(
                        "the run was started for {written_steps} updates, not a multiple of the evaluation interval {every}: its last evaluation is not one a longer run makes, so extending it would not equal a longer run"
                    ),
                ));
            }
        }
        let written = TrainConfig {
            steps: written_steps,
            ..self.config.clone()
        };
        let want = written.fingerprint(task);
        self.resume_with(dir, &want)
    }

    fn resume_with(&mut self, dir: &Path, want: &str) -> Result<Option<u64>> {
        remove_partial_checkpoints(dir)?;
        let Some((_, latest)) = checkpoint::list_checkpoints(dir).pop() else {
            return Ok(None);
        };
        let (state, records) = checkpoint::read_state_records(&latest)?;
        if state.fingerprint != want {
            return Err(Error::Invalid(format!(
                "{} was written under other settings (fingerprint {} vs {want}); use another output folder or the same settings",
                latest.display(),
                state.fingerprint
            )));
        }
        checkpoint::restore(&mut self.model, Some(&mut self.adam), &latest)?;
        self.adam.steps = state.adam_steps;
        self.step = state.step;
        self.records = records;
        Ok(Some(state.step))
    }

    fn due(&self, every: Option<u64>, step: u64) -> bool {
        every.is_some_and(|k| step.is_multiple_of(k))
    }

    /// Trains until `config.steps` updates are done (or `stop_after` more updates, for tests of
    /// interrupted runs), evaluating and checkpointing on schedule into `out` (when given) and
    /// reporting to `hook`.
    ///
    /// # Errors
    /// Non-finite losses or gradients, model, data or I/O errors, or an error from `hook`.
    pub fn run(
        &mut self,
        task: &dyn Task,
        out: Option<&Path>,
        stop_after: Option<u64>,
        hook: &mut dyn FnMut(Event<'_>) -> Result<()>,
    ) -> Result<()> {
        if task.train_len() == 0 {
            return Err(Error::Input("no training examples".into()));
        }
        if let Some(dir) = out {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let c = self.config.clone();
        if self.step == 0 && c.eval_at_start && self.records.is_empty() {
            let metrics = task.evaluate(&self.model, &mut self.ws, 0)?;
            hook(Event::Evaluated {
                step: 0,
                metrics: &metrics,
                model: &self.model,
            })?;
            self.records.push(StepRecord {
                step: 0,
                lr: 0.0,
                loss: None,
                grad_norm: None,
                tokens: 0,
                seconds: 0.0,
                eval: metrics,
            });
        }
        if let (0, Some(dir), true) = (self.step, out, c.checkpoint_at.contains(&0)) {
            if !checkpoint::list_checkpoints(dir)
                .iter()
                .any(|(s, _)| *s == 0)
            {
                let path = self.save_checkpoint(task, dir)?;
                hook(Event::Checkpoint {
                    step: 0,
                    dir: &path,
                    model: &self.model,
                })?;
            }
        }
        let limit = stop_after.map_or(c.steps, |k| (self.step + k).min(c.steps));
        while self.step < limit {
            let started = Instant::now();
            let s = self.step;
            let lr = c.optimizer.lr * c.schedule.factor(s);
            self.grads.zero();
            let (mut loss, mut tokens) = (0.0, 0);
            for micro in 0..c.grad_accumulation {
                let indices = micro_batch(
                    c.order,
                    task.train_len(),
                    c.batch_size,
                    c.grad_accumulation,
                    c.seed,
                    s,
                    micro,
                );
                let micro_seed = derive_seed(c.seed, &[0x4D, s, micro as u64]);
                let mode = if c.dropout {
                    Mode::Train {
                        dropout_seed: derive_seed(micro_seed, &[0xD0]),
                    }
                } else {
                    Mode::TrainNoDropout
                };
                let part = task.train_batch(
                    &self.model,
                    &mut self.ws,
                    &indices,
                    mode,
                    micro_seed,
                    &mut self.grads,
                    1.0 / c.grad_accumulation as f32,
                )?;
                if !part.loss.is_finite() {
                    return Err(Error::NonFinite(format!(
                        "training loss {} at update {}",
                        part.loss,
                        s + 1
                    )));
                }
                loss += part.loss / c.grad_accumulation as f64;
                tokens += part.tokens;
            }
            let info = self.adam.step(&mut self.model.store, &mut self.grads, lr)?;
            self.step += 1;
            let step = self.step;
            let mut record = StepRecord {
                step,
                lr,
                loss: Some(loss),
                grad_norm: Some(info.grad_norm),
                tokens,
                seconds: started.elapsed().as_secs_f64(),
                eval: Vec::new(),
            };
            if self.due(c.eval_every, step) || step == c.steps {
                let metrics = task.evaluate(&self.model, &mut self.ws, step)?;
                hook(Event::Evaluated {
                    step,
                    metrics: &metrics,
                    model: &self.model,
                })?;
                record.eval = metrics;
            }
            hook(Event::Step(&record))?;
            self.records.push(record);
            let checkpoint_due = self.due(c.checkpoint_every, step)
                || c.checkpoint_at.contains(&step)
                || step == c.steps;
            if let (Some(dir), true) = (out, checkpoint_due) {
                let path = self.save_checkpoint(task, dir)?;
                hook(Event::Checkpoint {
                    step,
                    dir: &path,
                    model: &self.model,
                })?;
            }
        }
        if let Some(dir) = out {
            self.write_metrics(&dir.join("metrics.csv"))?;
        }
        Ok(())
    }

    /// Writes `checkpoint-<step>` into `dir` (see [`crate::checkpoint`]), removing older ones
    /// unless `keep_checkpoints`.
    ///
    /// # Errors
    /// I/O failures.
    pub fn save_checkpoint(&self, task: &dyn Task, dir: &Path) -> Result<PathBuf> {
        let final_dir = dir.join(format!("checkpoint-{}", self.step));
        let tmp = dir.join(format!(
            ".checkpoint-{}.{}.partial",
            self.step,
            std::process::id()
        ));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        }
        let (arch, extra) = task.checkpoint_config(&self.model);
        checkpoint::save_model(&self.model, &tmp, &arch, &extra, self.tokenizer.as_deref())?;
        if self
            .model
            .store
            .iter()
            .any(|(_, p)| p.name.contains(".lora_"))
        {
            let tensors: Vec<(&str, &[usize], &[f32])> = self
                .model
                .store
                .iter()
                .filter(|(_, p)| p.name.contains(".lora_"))
                .map(|(_, p)| (p.name.as_str(), p.shape.as_slice(), p.data.as_slice()))
                .collect();
            let adapter = tmp.join("adapter");
            std::fs::create_dir_all(&adapter).map_err(|e| Error::io(&adapter, e))?;
            crate::params::write_safetensors(&adapter.join("adapter_model.safetensors"), &tensors)?;
        }
        checkpoint::save_optimizer(&self.model, &self.adam, &tmp.join("optimizer.safetensors"))?;
        self.write_metrics(&tmp.join("metrics.csv"))?;
        let state = TrainerState {
            step: self.step,
            adam_steps: self.adam.steps,
            fingerprint: self.config.fingerprint(task),
            rows: self
                .records
                .iter()
                .map(|r| serde_json::to_value(r).unwrap_or(serde_json::Value::Null))
                .collect(),
        };
        let text =
            serde_json::to_string_pretty(&state).map_err(|e| Error::Invalid(e.to_string()))?;
        lid_embed::output::atomic::write_atomic(
            &tmp.join(checkpoint::STATE_FILE),
            text.as_bytes(),
        )?;
        checkpoint::publish_dir(&tmp, &final_dir)?;
        for (step, path) in checkpoint::list_checkpoints(dir) {
            if step == self.step {
                continue;
            }
            if self.config.keep_checkpoints {
                let optimizer = path.join("optimizer.safetensors");
                if optimizer.exists() {
                    std::fs::remove_file(&optimizer).map_err(|e| Error::io(&optimizer, e))?;
                }
            } else {
                std::fs::remove_dir_all(&path).map_err(|e| Error::io(&path, e))?;
            }
        }
        Ok(final_dir)
    }

    /// Writes the records as CSV: `step,lr,loss,grad_norm,tokens,seconds` and one column per
    /// evaluation metric (empty where not evaluated).
    ///
    /// # Errors
    /// I/O failures.
    pub fn write_metrics(&self, path: &Path) -> Result<()> {
        let mut names: Vec<String> = Vec::new();
        for r in &self.records {
            for (n, _) in &r.eval {
                if !names.contains(n) {
                    names.push(n.clone());
                }
            }
        }
        let mut text = String::from("step,lr,loss,grad_norm,tokens,seconds");
        for n in &names {
            text.push(',');
            text.push_str(n);
        }
        text.push('\n');
        let num = |v: f64| {
            if v.is_finite() {
                format!("{v}")
            } else {
                String::new()
            }
        };
        for r in &self.records {
            let opt = |v: Option<f64>| v.map_or_else(String::new, num);
            text.push_str(&format!(
                "{},{},{},{},{},{:.4}",
                r.step,
                num(r.lr),
                opt(r.loss),
                opt(r.grad_norm),
                r.tokens,
                r.seconds
            ));
            for n in &names {
                text.push(',');
                if let Some((_, v)) = r.eval.iter().find(|(k, _)| k == n) {
                    text.push_str(&num(*v));
                }
            }
            text.push('\n');
        }
        lid_embed::output::atomic::write_atomic(path, text.as_bytes())?;
        Ok(())
    }
}

/// Removes the `.checkpoint-<step>.<pid>.partial` folders of other processes from `dir` (see
/// [`Trainer::resume`]); a missing `dir` has none.
fn remove_partial_checkpoints(dir: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let own = format!(".{}.partial", std::process::id());
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(".checkpoint-") && name.ends_with(".partial") && !name.ends_with(&own) {
            let path = entry.path();
            std::fs::remove_dir_all(&path).map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}
