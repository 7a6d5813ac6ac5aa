//! Task heads on top of a [`crate::model::Transformer`]'s output, each with its loss and backward pass:
//! masked LM ([`MaskedLmHead`]), causal LM ([`CausalLmHead`]), sequence classification
//! ([`ClassifierHead`]), and a classifier on the last token (the grokking model, [`LastTokenHead`]).
//!
//! Parameter names are those of the `transformers` task classes (`BertForMaskedLM`:
//! `cls.predictions.*`; `RobertaForMaskedLM`: `lm_head.*`; `BertForSequenceClassification`:
//! `bert.pooler.dense`, `classifier`; `RobertaForSequenceClassification`: `classifier.dense`,
//! `classifier.out_proj`), so checkpoints load in PyTorch with their heads. A head missing from
//! the checkpoint is initialised (Hugging Face's `_init_weights`) and reported in
//! [`AttachReport::initialised`]; the masked-LM decoder is always tied to the word embeddings, as
//! in `transformers`.
//!
//! Losses are means over the labelled positions (`torch.nn.CrossEntropyLoss`, ignore index -100):
//! a head returns the summed loss and the count, and adds the gradient of `scale * mean` to the
//! parameters and to `d_hidden` (`scale` carries gradient accumulation).

use crate::error::{Error, Result};
use crate::kernels::act::{self, Act};
use crate::kernels::dropout::{derive_seed, Dropout};
use crate::kernels::gemm::{matmul, MatMut, MatRef, Threads};
use crate::kernels::loss::cross_entropy;
use crate::kernels::norm::{self, NormKind};
use crate::kernels::reduce::add_column_sums;
use crate::model::{Batch, Family, Init, Layout, Linear, Mode, Model, NormParams, ParamSource};
use crate::params::{Grads, ParamId, ParamKind, ParamStore, WeightFile};

/// Rows of logits computed at once (bounds memory for large vocabularies: 256 x 49,152 x 4 bytes
/// = 48 MiB).
const LOGIT_CHUNK: usize = 256;

/// What a head computed on a batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HeadOutput {
    /// Sum of the per-position (or per-sequence) losses.
    pub loss_sum: f64,
    /// Number of labelled positions (or sequences).
    pub count: usize,
    /// How many of them the argmax predicts correctly.
    pub correct: usize,
    /// The argmax prediction per labelled position, in target order.
    pub predictions: Vec<u32>,
}

impl HeadOutput {
    /// Mean loss (NaN when nothing was labelled).
    pub fn mean_loss(&self) -> f64 {
        self.loss_sum / self.count as f64
    }

    /// Adds another batch's numbers.
    pub fn merge(&mut self, other: HeadOutput) {
        self.loss_sum += other.loss_sum;
        self.count += other.count;
        self.correct += other.correct;
        self.predictions.extend(other.predictions);
    }
}

/// Where the gradient goes: parameter gradients, the backbone output's gradient (`rows x hidden`,
/// overwritten), and the factor on the mean loss.
pub struct GradTarget<'a> {
    /// Parameter gradients (added to).
    pub grads: &'a mut Grads,
    /// Gradient w.r.t. the backbone output (overwritten).
    pub d_hidden: &'a mut [f32],
    /// Factor on the mean loss (e.g. `1 / accumulation steps`).
    pub scale: f32,
}

/// What attaching a head found.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct AttachReport {
    /// Parameters initialised because the checkpoint lacked them.
    pub initialised: Vec<String>,
}

fn source<'a>(weights: Option<&'a mut WeightFile>, init: &'a mut Init) -> ParamSource<'a> {
    ParamSource {
        weights,
        init: Some(init),
        initialised: Vec::new(),
    }
}

/// Copies the rows `rows` of `hidden` (width `d`) into a contiguous buffer.
fn gather_rows(hidden: &[f32], d: usize, rows: &[usize]) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows.len() * d);
    for &r in rows {
        out.extend_from_slice(&hidden[r * d..(r + 1) * d]);
    }
    out
}

/// `logits = x W^T (+ b)` for an `(out, in)` weight, then the cross-entropy of `labels`; with a
/// gradient target, `dW += dlogits^T x`, `db += colsum`, and returns `dx`.
#[allow(clippy::too_many_arguments)]
fn projected_cross_entropy(
    store: &ParamStore,
    x: &[f32],
    in_dim: usize,
    weight: ParamId,
    bias: Option<ParamId>,
    labels: &[u32],
    grad: Option<(&mut Grads, f32)>,
    out: &mut HeadOutput,
) -> Option<Vec<f32>> {
    let n = labels.len();
    let w = store.data(weight);
    let vocab = w.len() / in_dim;
    let mut dx = grad.as_ref().map(|_| vec![0.0f32; n * in_dim]);
    let mut grad = grad;
    let mut logits = Vec::new();
    for start in (0..n).step_by(LOGIT_CHUNK) {
        let end = (start + LOGIT_CHUNK).min(n);
        let m = end - start;
        let xs = &x[start * in_dim..end * in_dim];
        logits.resize(m * vocab, 0.0);
        matmul(
            MatMut::new(&mut logits, m, vocab),
            MatRef::new(xs, m, in_dim),
            MatRef::new(w, vocab, in_dim).t(),
            false,
            Threads::Pool,
        );
        if let Some(b) = bias {
            act::add_bias(&mut logits, store.data(b));
        }
        let scale = grad.as_ref().map_or(0.0, |(_, s)| *s / n as f32);
        let rows = cross_entropy(
            &mut logits,
            vocab,
            &labels[start..end],
            scale,
            grad.is_some(),
        );
        for (r, &label) in rows.iter().zip(&labels[start..end]) {
            out.loss_sum += r.loss;
            out.count += 1;
            out.correct += usize::from(r.argmax == label);
            out.predictions.push(r.argmax);
        }
        if let (Some((grads, _)), Some(dx)) = (grad.as_mut(), dx.as_mut()) {
            if let Some(dw) = grads.get_mut(weight) {
                matmul(
                    MatMut::new(dw, vocab, in_dim),
                    MatRef::new(&logits, m, vocab).t(),
                    MatRef::new(xs, m, in_dim),
                    true,
                    Threads::Pool,
                );
            }
            if let Some(b) = bias {
                if let Some(db) = grads.get_mut(b) {
                    add_column_sums(&logits, db);
                }
            }
            matmul(
                MatMut::new(&mut dx[start * in_dim..end * in_dim], m, in_dim),
                MatRef::new(&logits, m, vocab),
                MatRef::new(w, vocab, in_dim),
                false,
                Threads::Pool,
            );
        }
    }
    dx
}

/// Scatters `d_rows` (one row per entry of `rows`) into a zeroed `d_hidden`.
fn scatter_rows(d_hidden: &mut [f32], d: usize, rows: &[usize], d_rows: &[f32]) {
    d_hidden.fill(0.0);
    for (i, &r) in rows.iter().enumerate() {
        for (o, &g) in d_hidden[r * d..(r + 1) * d]
            .iter_mut()
            .zip(&d_rows[i * d..(i + 1) * d])
        {
            *o += g;
        }
    }
}

/// Masked-LM head: `dense -> act -> LayerNorm -> decoder (tied to the word embeddings) + bias`,
/// evaluated only at the labelled positions.
#[derive(Debug, Clone)]
pub struct MaskedLmHead {
    dense: Linear,
    act: Act,
    norm: NormParams,
    eps: f32,
    decoder: ParamId,
    bias: ParamId,
}

/// Positions to predict and their labels (row indices into the packed batch).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaskedTargets {
    /// Rows of the batch whose original token is predicted.
    pub rows: Vec<usize>,
    /// The original tokens.
    pub labels: Vec<u32>,
}

impl MaskedLmHead {
    /// Loads the head from `weights` or initialises it (BERT: `cls.predictions.*`, RoBERTa:
    /// `lm_head.*`).
    ///
    /// # Errors
    /// A family without a masked-LM head, wrong shapes.
    pub fn attach(
        model: &mut Model,
        weights: Option<&mut WeightFile>,
        init: &mut Init,
    ) -> Result<(Self, AttachReport)> {
        let spec = model.net.spec.clone();
        let d = spec.hidden;
        let (dense_name, norm_name, bias_name, act) = match spec.family {
            Family::Bert => (
                "cls.predictions.transform.dense",
                "cls.predictions.transform.LayerNorm",
                "cls.predictions.bias",
                spec.act,
            ),
            Family::Roberta => (
                "lm_head.dense",
                "lm_head.layer_norm",
                "lm_head.bias",
                Act::GeluErf,
            ),
            other => {
                return Err(Error::Unsupported(format!(
                    "masked-LM head for {other:?} (BERT and RoBERTa have one)"
                )))
            }
        };
        let mut src = source(weights, init);
        let dense = src.linear(&mut model.store, dense_name, &[], d, d, true, Layout::OutIn)?;
        let norm = src.norm(&mut model.store, norm_name, &[], d, NormKind::Layer)?;
        let decoder_bias_alt = vec![bias_name.replace(".bias", ".decoder.bias")];
        let bias = src.param(
            &mut model.store,
            bias_name,
            &decoder_bias_alt,
            &[spec.vocab],
            ParamKind::Bias,
            d,
            false,
        )?;
        let report = AttachReport {
            initialised: src.initialised,
        };
        Ok((
            Self {
                dense,
                act,
                norm,
                eps: spec.norm_eps,
                decoder: model.net.embeddings.word,
                bias,
            },
            report,
        ))
    }

    /// Loss at `targets`; with `grad`, gradients of `scale * mean loss`.
    ///
    /// # Errors
    /// A target row outside the batch.
    pub fn run(
        &self,
        model: &Model,
        hidden: &[f32],
        batch: &Batch,
        targets: &MaskedTargets,
        grad: Option<GradTarget<'_>>,
    ) -> Result<HeadOutput> {
        let d = model.net.spec.hidden;
        if let Some(&bad) = targets.rows.iter().find(|&&r| r >= batch.rows()) {
            return Err(Error::Input(format!(
                "masked position {bad} is outside the batch of {} tokens",
                batch.rows()
            )));
        }
        let mut out = HeadOutput::default();
        let n = targets.rows.len();
        if n == 0 {
            if let Some(g) = grad {
                g.d_hidden.fill(0.0);
            }
            return Ok(out);
        }
        let store = &model.store;
        let x = gather_rows(hidden, d, &targets.rows);
        let mut pre = vec![0.0f32; n * d];
        self.dense.forward(store, &x, n, &mut pre, None);
        let mut activated = vec![0.0f32; n * d];
        act::forward(&pre, &mut activated, self.act);
        let mut normed = vec![0.0f32; n * d];
        let mut stats = vec![0.0f32; 2 * n];
        let norm = self.norm.view(store, NormKind::Layer, self.eps);
        norm::forward(&activated, &mut normed, &mut stats, &norm);
        match grad {
            None => {
                projected_cross_entropy(
                    store,
                    &normed,
                    d,
                    self.decoder,
                    Some(self.bias),
                    &targets.labels,
                    None,
                    &mut out,
                );
            }
            Some(g) => {
                // Invariant: with gradients requested, the cross-entropy returns the input gradient.
                #[allow(clippy::expect_used)]
                let d_normed = projected_cross_entropy(
                    store,
                    &normed,
                    d,
                    self.decoder,
                    Some(self.bias),
                    &targets.labels,
                    Some((&mut *g.grads, g.scale)),
                    &mut out,
                )
                .expect("gradient requested");
                let mut d_act = vec![0.0f32; n * d];
                let (w, b) = g.grads.get_two_mut(self.norm.weight, self.norm.bias);
                norm::backward(
                    &activated, &stats, &d_normed, &mut d_act, false, &norm, w, b,
                );
                let mut d_pre = vec![0.0f32; n * d];
                act::backward(&pre, &d_act, &mut d_pre, self.act);
                let mut dx = vec![0.0f32; n * d];
                self.dense
                    .backward(store, g.grads, &x, &d_pre, n, None, Some(&mut dx), false);
                scatter_rows(g.d_hidden, d, &targets.rows, &dx);
            }
        }
        Ok(out)
    }
}

/// Causal-LM head: every position predicts the next token of its sequence, through `lm_head`
/// (tied to the word embeddings unless the checkpoint has its own).
#[derive(Debug, Clone)]
pub struct CausalLmHead {
    weight: ParamId,
}

impl CausalLmHead {
    /// Uses `lm_head.weight` when the checkpoint has one (and `tie_word_embeddings` is false),
    /// otherwise the word embeddings (GPT-2, SmolLM2).
    ///
    /// # Errors
    /// An encoder family, a wrongly shaped `lm_head.weight`.
    pub fn attach(
        model: &mut Model,
        weights: Option<&mut WeightFile>,
    ) -> Result<(Self, AttachReport)> {
        let spec = model.net.spec.clone();
        if !matches!(spec.family, Family::Gpt2 | Family::Llama) {
            return Err(Error::Unsupported(format!(
                "causal-LM head for {:?}",
                spec.family
            )));
        }
        let tied = model
            .config
            .as_ref()
            .and_then(|c| c.get("tie_word_embeddings"))
            .and_then(|v| v.as_bool())
            .unwrap_or(spec.family == Family::Gpt2);
        let weight = match weights {
            Some(w) if !tied && w.contains("lm_head.weight") => {
                // Invariant: `contains` was checked by the match guard just above.
                #[allow(clippy::expect_used)]
                let (shape, data) = w.take("lm_head.weight").expect("present");
                if shape != [spec.vocab, spec.hidden] {
                    return Err(Error::Shape {
                        name: "lm_head.weight".into(),
                        expected: vec![spec.vocab, spec.hidden],
                        got: shape,
                    });
                }
                model
                    .store
                    .add("lm_head.weight", &shape, data, ParamKind::Weight)?
            }
            _ if !tied => {
                return Err(Error::MissingWeight {
                    name: "lm_head.weight".into(),
                    tried: Vec::new(),
                    source_files: "the checkpoint (tie_word_embeddings is false)".into(),
                })
            }
            _ => model.net.embeddings.word,
        };
        Ok((Self { weight }, AttachReport::default()))
    }

    /// Whether the head reuses the word embeddings.
    pub fn is_tied(&self, model: &Model) -> bool {
        self.weight == model.net.embeddings.word
    }

    /// Next-token loss over every position but the last of each sequence.
    ///
    /// # Errors
    /// None beyond internal consistency.
    pub fn run(
        &self,
        model: &Model,
        hidden: &[f32],
        batch: &Batch,
        grad: Option<GradTarget<'_>>,
    ) -> Result<HeadOutput> {
        let d = model.net.spec.hidden;
        let mut rows = Vec::with_capacity(batch.rows());
        let mut labels = Vec::with_capacity(batch.rows());
        for s in 0..batch.len() {
            let r = batch.sequence(s);
            for i in r.start..r.end.saturating_sub(1) {
                rows.push(i);
                labels.push(batch.ids[i + 1]);
            }
        }
        let mut out = HeadOutput::default();
        if rows.is_empty() {
            if let Some(g) = grad {
                g.d_hidden.fill(0.0);
            }
            return Ok(out);
        }
        let x = gather_rows(hidden, d, &rows);
        match grad {
            None => {
                projected_cross_entropy(
                    &model.store,
                    &x,
                    d,
                    self.weight,
                    None,
                    &labels,
                    None,
                    &mut out,
                );
            }
            Some(g) => {
                // Invariant: with gradients requested, the cross-entropy returns the input gradient.
                #[allow(clippy::expect_used)]
                let dx = projected_cross_entropy(
                    &model.store,
                    &x,
                    d,
                    self.weight,
                    None,
                    &labels,
                    Some((&mut *g.grads, g.scale)),
                    &mut out,
                )
                .expect("gradient requested");
                scatter_rows(g.d_hidden, d, &rows, &dx);
            }
        }
        Ok(out)
    }
}

/// Sequence classifier: the first token's output, pooled (BERT: `pooler.dense` + tanh; RoBERTa:
/// `classifier.dense` + tanh), dropout, a linear layer to the classes.
#[derive(Debug, Clone)]
pub struct ClassifierHead {
    pool: Linear,
    out: Linear,
    dropout: f32,
    classes: usize,
    roberta_style: bool,
}

impl ClassifierHead {
    /// Loads or initialises a classifier over `classes` classes with `dropout` on the pooled
    /// output (paper, EmoWOZ: 0.3).
    ///
    /// # Errors
    /// A decoder family, zero classes, wrong shapes.
    pub fn attach(
        model: &mut Model,
        weights: Option<&mut WeightFile>,
        init: &mut Init,
        classes: usize,
        dropout: f32,
    ) -> Result<(Self, AttachReport)> {
        let spec = model.net.spec.clone();
        if classes < 2 {
            return Err(Error::setting(
                "classes",
                format!("a classifier needs at least 2 classes, got {classes}"),
            ));
        }
        if !(0.0..1.0).contains(&dropout) {
            return Err(Error::setting(
                "dropout",
                format!("must lie in [0, 1), got {dropout}"),
            ));
        }
        let d = spec.hidden;
        let mut src = source(weights, init);
        let (pool, out, roberta_style) = match spec.family {
            Family::Bert => {
                let alt = vec!["pooler.dense".to_string()];
                let pool = src.linear(
                    &mut model.store,
                    "bert.pooler.dense",
                    &alt,
                    d,
                    d,
                    true,
                    Layout::OutIn,
                )?;
                (
                    pool,
                    src.linear(
                        &mut model.store,
                        "classifier",
                        &[],
                        d,
                        classes,
                        true,
                        Layout::OutIn,
                    )?,
                    false,
                )
            }
            Family::Roberta => {
                let pool = src.linear(
                    &mut model.store,
                    "classifier.dense",
                    &[],
                    d,
                    d,
                    true,
                    Layout::OutIn,
                )?;
                (
                    pool,
                    src.linear(
                        &mut model.store,
                        "classifier.out_proj",
                        &[],
                        d,
                        classes,
                        true,
                        Layout::OutIn,
                    )?,
                    true,
                )
            }
            other => {
                return Err(Error::Unsupported(format!(
                    "sequence classification head for {other:?}"
                )))
            }
        };
        Ok((
            Self {
                pool,
                out,
                dropout,
                classes,
                roberta_style,
            },
            AttachReport {
                initialised: src.initialised,
            },
        ))
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Loss of one label per sequence; `mode` decides dropout.
    ///
    /// # Errors
    /// A label count that differs from the sequences, a label outside the classes.
    pub fn run(
        &self,
        model: &Model,
        hidden: &[f32],
        batch: &Batch,
        labels: &[u32],
        mode: Mode,
        grad: Option<GradTarget<'_>>,
    ) -> Result<HeadOutput> {
        let d = model.net.spec.hidden;
        let n = batch.len();
        if labels.len() != n {
            return Err(Error::Input(format!(
                "{} labels for {n} sequences",
                labels.len()
            )));
        }
        if let Some(&bad) = labels.iter().find(|&&l| l as usize >= self.classes) {
            return Err(Error::Input(format!(
                "label {bad} outside the {} classes",
                self.classes
            )));
        }
        let store = &model.store;
        let rows: Vec<usize> = (0..n).map(|s| batch.offsets[s]).collect();
        let first = gather_rows(hidden, d, &rows);
        // RoBERTa drops out the features before the dense layer too.
        let drop_in = match (self.roberta_style, mode) {
            (true, Mode::Train { dropout_seed }) => {
                Dropout::new(derive_seed(dropout_seed, &[u64::MAX - 1, 0]), self.dropout)
            }
            _ => None,
        };
        let mut x = first.clone();
        if let Some(dr) = &drop_in {
            dr.apply(&mut x, 0);
        }
        let mut pre = vec![0.0f32; n * d];
        self.pool.forward(store, &x, n, &mut pre, None);
        let mut pooled = vec![0.0f32; n * d];
        act::forward(&pre, &mut pooled, Act::Tanh);
        let drop = match mode {
            Mode::Train { dropout_seed } => {
                Dropout::new(derive_seed(dropout_seed, &[u64::MAX - 1, 1]), self.dropout)
            }
            _ => None,
        };
        let mut dropped = pooled.clone();
        if let Some(dr) = &drop {
            dr.apply(&mut dropped, 0);
        }
        let mut out = HeadOutput::default();
        let (w, b) = (self.out.weight, self.out.bias);
        match grad {
            None => {
                projected_cross_entropy(store, &dropped, d, w, b, labels, None, &mut out);
            }
            Some(g) => {
                // Invariant: with gradients requested, the cross-entropy returns the input gradient.
                #[allow(clippy::expect_used)]
                let mut d_dropped = projected_cross_entropy(
                    store,
                    &dropped,
                    d,
                    w,
                    b,
                    labels,
                    Some((&mut *g.grads, g.scale)),
                    &mut out,
                )
                .expect("gradient requested");
                if let Some(dr) = &drop {
                    dr.apply(&mut d_dropped, 0);
                }
                let mut d_pre = vec![0.0f32; n * d];
                act::backward(&pre, &d_dropped, &mut d_pre, Act::Tanh);
                let mut dx = vec![0.0f32; n * d];
                self.pool
                    .backward(store, g.grads, &x, &d_pre, n, None, Some(&mut dx), false);
                if let Some(dr) = &drop_in {
                    dr.apply(&mut dx, 0);
                }
                scatter_rows(g.d_hidden, d, &rows, &dx);
            }
        }
        Ok(out)
    }
}

/// Classifier on the last token of each sequence through a linear `head` (the grokking model:
/// `head(ln_f(h))[:, -1]`; the final norm is part of the backbone).
#[derive(Debug, Clone)]
pub struct LastTokenHead {
    head: Linear,
}

impl LastTokenHead {
    /// Loads or initialises `head.weight` `(classes, hidden)` and `head.bias`.
    ///
    /// # Errors
    /// Wrong shapes.
    pub fn attach(
        model: &mut Model,
        weights: Option<&mut WeightFile>,
        init: &mut Init,
        classes: usize,
    ) -> Result<(Self, AttachReport)> {
        let d = model.net.spec.hidden;
        let mut src = source(weights, init);
        let head = src.linear(
            &mut model.store,
            "head",
            &[],
            d,
            classes,
            true,
            Layout::OutIn,
        )?;
        Ok((
            Self { head },
            AttachReport {
                initialised: src.initialised,
            },
        ))
    }

    /// Loss of one label per sequence at its last token.
    ///
    /// # Errors
    /// A label count that differs from the sequences, a label outside the classes.
    pub fn run(
        &self,
        model: &Model,
        hidden: &[f32],
        batch: &Batch,
        labels: &[u32],
        grad: Option<GradTarget<'_>>,
    ) -> Result<HeadOutput> {
        let d = model.net.spec.hidden;
        let n = batch.len();
        let classes = self.head.out_dim();
        if labels.len() != n {
            return Err(Error::Input(format!(
                "{} labels for {n} sequences",
                labels.len()
            )));
        }
        if let Some(&bad) = labels.iter().find(|&&l| l as usize >= classes) {
            return Err(Error::Input(format!(
                "label {bad} outside the {classes} classes"
            )));
        }
        let rows: Vec<usize> = (0..n).map(|s| batch.offsets[s + 1] - 1).collect();
        let x = gather_rows(hidden, d, &rows);
        let mut out = HeadOutput::default();
        let (w, b) = (self.head.weight, self.head.bias);
        match grad {
            None => {
                projected_cross_entropy(&model.store, &x, d, w, b, labels, None, &mut out);
            }
            Some(g) => {
                // Invariant: with gradients requested, the cross-entropy returns the input gradient.
                #[allow(clippy::expect_used)]
                let dx = projected_cross_entropy(
                    &model.store,
                    &x,
                    d,
                    w,
                    b,
                    labels,
                    Some((&mut *g.grads, g.scale)),
                    &mut out,
                )
                .expect("gradient requested");
                scatter_rows(g.d_hidden, d, &rows, &dx);
            }
        }
        Ok(out)
    }
}
