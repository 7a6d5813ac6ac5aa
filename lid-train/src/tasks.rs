//! Ready-made [`Task`]s: masked LM, causal LM and sequence classification on tokenised data.

use crate::data::{pack, MaskingRule, Sequence};
use crate::error::Result;
use crate::heads::{
    CausalLmHead, ClassifierHead, GradTarget, HeadOutput, MaskedLmHead, MaskedTargets,
};
use crate::kernels::dropout::derive_seed;
use crate::metrics::classification_scores;
use crate::model::{Batch, Mode, Model};
use crate::params::Grads;
use crate::train::{StepLoss, Task, Workspace};

/// Sequences per evaluation batch.
const EVAL_BATCH: usize = 32;

/// Runs the backbone on `batch`, the head through `head`, and (with `grads`) the backward pass.
pub fn forward_backward(
    model: &Model,
    ws: &mut Workspace,
    batch: &Batch,
    mode: Mode,
    grads: Option<(&mut Grads, f32)>,
    head: impl FnOnce(&[f32], Option<GradTarget<'_>>) -> Result<HeadOutput>,
) -> Result<HeadOutput> {
    let mode = if grads.is_some() { mode } else { Mode::Eval };
    model
        .net
        .forward(&model.store, batch, mode, &mut ws.acts, None)?;
    match grads {
        None => head(ws.acts.output(), None),
        Some((grads, scale)) => {
            ws.d_hidden.resize(ws.acts.output().len(), 0.0);
            let out = head(
                ws.acts.output(),
                Some(GradTarget {
                    grads: &mut *grads,
                    d_hidden: &mut ws.d_hidden,
                    scale,
                }),
            )?;
            model
                .net
                .backward(&model.store, grads, batch, &mut ws.acts, &ws.d_hidden)?;
            Ok(out)
        }
    }
}

/// Masked language modelling with BERT's corruption.
pub struct MaskedLmTask {
    /// The head.
    pub head: MaskedLmHead,
    /// Training sequences.
    pub train: Vec<Sequence>,
    /// Evaluation sequences.
    pub eval: Vec<Sequence>,
    /// Corruption rule.
    pub rule: MaskingRule,
    /// Seed of the (fixed) evaluation corruption.
    pub eval_seed: u64,
}

impl Task for MaskedLmTask {
    fn kind(&self) -> &'static str {
        "masked_lm"
    }
    fn train_len(&self) -> usize {
        self.train.len()
    }
    fn train_batch(
        &self,
        model: &Model,
        ws: &mut Workspace,
        indices: &[usize],
        mode: Mode,
        seed: u64,
        grads: &mut Grads,
        scale: f32,
    ) -> Result<StepLoss> {
        let seqs: Vec<&Sequence> = indices.iter().map(|&i| &self.train[i]).collect();
        let masked = self.rule.apply(&seqs, seed);
        let batch = pack(&masked.sequences);
        let targets = MaskedTargets {
            rows: masked.rows,
            labels: masked.labels,
        };
        let out = forward_backward(model, ws, &batch, mode, Some((grads, scale)), |h, g| {
            self.head.run(model, h, &batch, &targets, g)
        })?;
        Ok(StepLoss::from_head(&out, batch.rows()))
    }
    fn evaluate(
        &self,
        model: &Model,
        ws: &mut Workspace,
        _step: u64,
    ) -> Result<Vec<(String, f64)>> {
        let mut total = HeadOutput::default();
        for (b, chunk) in self.eval.chunks(EVAL_BATCH).enumerate() {
            let seqs: Vec<&Sequence> = chunk.iter().collect();
            let masked = self
                .rule
                .apply(&seqs, derive_seed(self.eval_seed, &[b as u64]));
            let batch = pack(&masked.sequences);
            let targets = MaskedTargets {
                rows: masked.rows,
                labels: masked.labels,
            };
            total.merge(forward_backward(
                model,
                ws,
                &batch,
                Mode::Eval,
                None,
                |h, _| self.head.run(model, h, &batch, &targets, None),
            )?);
        }
        let loss = total.mean_loss();
        Ok(vec![
            ("eval_loss".into(), loss),
            ("eval_perplexity".into(), loss.exp()),
            (
                "eval_accuracy".into(),
                total.correct as f64 / total.count.max(1) as f64,
            ),
        ])
    }
    fn checkpoint_config(&self, model: &Model) -> (String, serde_json::Value) {
        (
            crate::checkpoint::architecture_name(model.net.spec.family, "masked_lm"),
            serde_json::json!({}),
        )
    }
}

/// Causal language modelling (next-token prediction).
pub struct CausalLmTask {
    /// The head.
    pub head: CausalLmHead,
    /// Training sequences.
    pub train: Vec<Sequence>,
    /// Evaluation sequences.
    pub eval: Vec<Sequence>,
}

impl Task for CausalLmTask {
    fn kind(&self) -> &'static str {
        "causal_lm"
    }
    fn train_len(&self) -> usize {
        self.train.len()
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
    ) -> Result<StepLoss> {
        let batch = pack(indices.iter().map(|&i| &self.train[i]));
        let out = forward_backward(model, ws, &batch, mode, Some((grads, scale)), |h, g| {
            self.head.run(model, h, &batch, g)
        })?;
        Ok(StepLoss::from_head(&out, batch.rows()))
    }
    fn evaluate(
        &self,
        model: &Model,
        ws: &mut Workspace,
        _step: u64,
    ) -> Result<Vec<(String, f64)>> {
        let mut total = HeadOutput::default();
        for chunk in self.eval.chunks(EVAL_BATCH) {
            let batch = pack(chunk);
            total.merge(forward_backward(
                model,
                ws,
                &batch,
                Mode::Eval,
                None,
                |h, _| self.head.run(model, h, &batch, None),
            )?);
        }
        let loss = total.mean_loss();
        Ok(vec![
            ("eval_loss".into(), loss),
            ("eval_perplexity".into(), loss.exp()),
        ])
    }
    fn checkpoint_config(&self, model: &Model) -> (String, serde_json::Value) {
        (
            crate::checkpoint::architecture_name(model.net.spec.family, "causal_lm"),
            serde_json::json!({}),
        )
    }
}

/// A labelled sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labelled {
    /// The tokens.
    pub sequence: Sequence,
    /// Its class.
    pub label: u32,
}

/// Sequence classification; evaluation reports loss, accuracy, macro and weighted F1.
pub struct ClassificationTask {
    /// The head.
    pub head: ClassifierHead,
    /// Training examples.
    pub train: Vec<Labelled>,
    /// Evaluation examples.
    pub eval: Vec<Labelled>,
    /// Class names (for `id2label`).
    pub class_names: Vec<String>,
}

impl ClassificationTask {
    /// Loss and scores on `examples`: `(mean loss, scores, predictions)`.
    ///
    /// # Errors
    /// Model errors.
    pub fn score(
        &self,
        model: &Model,
        ws: &mut Workspace,
        examples: &[Labelled],
    ) -> Result<(f64, crate::metrics::ClassificationScores, Vec<u32>)> {
        let mut total = HeadOutput::default();
        for chunk in examples.chunks(EVAL_BATCH) {
            let batch = pack(chunk.iter().map(|e| &e.sequence));
            let labels: Vec<u32> = chunk.iter().map(|e| e.label).collect();
            total.merge(forward_backward(
                model,
                ws,
                &batch,
                Mode::Eval,
                None,
                |h, _| self.head.run(model, h, &batch, &labels, Mode::Eval, None),
            )?);
        }
        let labels: Vec<u32> = examples.iter().map(|e| e.label).collect();
        let scores = classification_scores(&total.predictions, &labels, self.head.classes());
        Ok((total.mean_loss(), scores, total.predictions))
    }
}

impl Task for ClassificationTask {
    fn kind(&self) -> &'static str {
        "classification"
    }
    fn train_len(&self) -> usize {
        self.train.len()
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
    ) -> Result<StepLoss> {
        let batch = pack(indices.iter().map(|&i| &self.train[i].sequence));
        let labels: Vec<u32> = indices.iter().map(|&i| self.train[i].label).collect();
        let out = forward_backward(model, ws, &batch, mode, Some((grads, scale)), |h, g| {
            self.head.run(model, h, &batch, &labels, mode, g)
        })?;
        Ok(StepLoss::from_head(&out, batch.rows()))
    }
    fn evaluate(
        &self,
        model: &Model,
        ws: &mut Workspace,
        _step: u64,
    ) -> Result<Vec<(String, f64)>> {
        let (loss, s, _) = self.score(model, ws, &self.eval)?;
        Ok(vec![
            ("eval_loss".into(), loss),
            ("eval_accuracy".into(), s.accuracy),
            ("eval_macro_f1".into(), s.macro_f1),
            ("eval_weighted_f1".into(), s.weighted_f1),
        ])
    }
    fn checkpoint_config(&self, model: &Model) -> (String, serde_json::Value) {
        let id2label: serde_json::Map<String, serde_json::Value> = self
            .class_names
            .iter()
            .enumerate()
            .map(|(i, n)| (i.to_string(), serde_json::json!(n)))
            .collect();
        let label2id: serde_json::Map<String, serde_json::Value> = self
            .class_names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), serde_json::json!(i)))
            .collect();
        (
            crate::checkpoint::architecture_name(model.net.spec.family, "classification"),
            serde_json::json!({"num_labels": self.head.classes(), "id2label": id2label, "label2id": label2id}),
        )
    }
}
