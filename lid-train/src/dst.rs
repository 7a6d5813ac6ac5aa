//! A span-based dialogue state tracker on a BERT or RoBERTa encoder, after TripPy (Heck et al.
//! 2020) as used by TripPy-R in the paper's DST study (docs/reproduction.md study 2).
//!
//! Input per turn: `[CLS] user [SEP] system [SEP] history [SEP]` (built by the caller). For each
//! slot `s`: a gate over `K` classes on the pooled output (`none` = no update this turn,
//! `dontcare`, `span` = the value is a span of the user turn, `inform` = the value the system just
//! offered, ...; the class list is the caller's), and start/end logits over the tokens from the
//! sequence output. Loss per turn: `sum_s w[g_s] CE(gate_s) + sum_{s: span} (CE(start_s) +
//! CE(end_s)) / 2` (TripPy's class and token losses), averaged over the turns of a batch. Dropout on
//! the pooled and sequence outputs (TripPy: the model's hidden dropout).
//!
//! **Gate class weights** `w` ([`SpanTrackerHead::with_class_weights`], default all 1): TripPy-R's
//! run script gives the `none` class of the slot gates a loss weight of 0.1, through
//! `CrossEntropyLoss(weight=...)`. TripPy computes every loss with `reduction='none'` and sums the
//! per-example losses (`class_loss_fct = CrossEntropyLoss(reduction='none')`, then
//! `total_loss += per_example_loss.sum()` in TripPy's `modeling_dst.py`); with `reduction='none'`,
//! torch returns `weight[target] * (-log p_target)` per element and does **not** divide by the sum
//! of the targets' weights (only `reduction='mean'` does that). So here each gate term is multiplied
//! by the weight of its gold class and nothing is renormalised: the loss of a turn whose slots are
//! all `none` shrinks by the weight, the others keep their scale. The gradient of `w CE` with respect
//! to the logits is `w (softmax - onehot)`: the unweighted gradient row times the weight of its
//! gold class.
//!
//! Parameters: the encoder's pooler (`bert.pooler.dense`, loaded when present) and
//! `dst.gates.{weight,bias}` `(S*K, hidden)`, `dst.spans.{weight,bias}` `(2S, hidden)`.

use crate::error::{Error, Result};
use crate::heads::{AttachReport, GradTarget, HeadOutput};
use crate::kernels::act::{self, Act};
use crate::kernels::dropout::{derive_seed, Dropout};
use crate::kernels::loss::cross_entropy;
use crate::model::{Batch, Family, Init, Layout, Linear, Mode, Model, ParamSource};
use crate::params::WeightFile;

/// Labels of one turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnLabels {
    /// Gate class per slot (`0..K`).
    pub gates: Vec<u32>,
    /// Token positions `(start, end)` per slot, for slots whose gate is the span class.
    pub spans: Vec<Option<(u32, u32)>>,
}

/// What the tracker predicts for one turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnPrediction {
    /// Gate class per slot.
    pub gates: Vec<u32>,
    /// Best span per slot `(start, end)` with `start <= end` among the allowed positions.
    pub spans: Vec<Option<(u32, u32)>>,
}

/// The tracker head.
#[derive(Debug, Clone)]
pub struct SpanTrackerHead {
    pool: Linear,
    gates: Linear,
    spans: Linear,
    slots: usize,
    classes: usize,
    span_class: u32,
    dropout: f32,
    class_weights: Vec<f32>,
}

impl SpanTrackerHead {
    /// Attaches a tracker of `slots` slots with `classes` gate classes (`span_class` is the gate
    /// class whose value is a span) and `dropout` on the encoder outputs.
    ///
    /// # Errors
    /// A decoder family, no slots, fewer than 2 classes, a span class out of range.
    pub fn attach(
        model: &mut Model,
        weights: Option<&mut WeightFile>,
        init: &mut Init,
        slots: usize,
        classes: usize,
        span_class: u32,
        dropout: f32,
    ) -> Result<(Self, AttachReport)> {
        let spec = model.net.spec.clone();
        if !matches!(spec.family, Family::Bert | Family::Roberta) {
            return Err(Error::Unsupported(format!(
                "span tracker on {:?} (needs an encoder)",
                spec.family
            )));
        }
        if slots == 0 || classes < 2 || span_class as usize >= classes {
            return Err(Error::setting(
                "slots / classes",
                format!("{slots} slots, {classes} classes, span class {span_class}"),
            ));
        }
        let d = spec.hidden;
        let mut src = ParamSource {
            weights,
            init: Some(init),
            initialised: Vec::new(),
        };
        let (pool_name, alt) = match spec.family {
            Family::Bert => ("bert.pooler.dense", vec!["pooler.dense".to_string()]),
            _ => ("roberta.pooler.dense", vec!["pooler.dense".to_string()]),
        };
        let pool = src.linear(&mut model.store, pool_name, &alt, d, d, true, Layout::OutIn)?;
        let gates = src.linear(
            &mut model.store,
            "dst.gates",
            &[],
            d,
            slots * classes,
            true,
            Layout::OutIn,
        )?;
        let spans = src.linear(
            &mut model.store,
            "dst.spans",
            &[],
            d,
            2 * slots,
            true,
            Layout::OutIn,
        )?;
        Ok((
            Self {
                pool,
                gates,
                spans,
                slots,
                classes,
                span_class,
                dropout,
                class_weights: vec![1.0; classes],
            },
            AttachReport {
                initialised: src.initialised,
            },
        ))
    }

    /// Slots.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Sets the loss weight of each gate class (`weights[c]` multiplies the gate cross-entropy of
    /// every slot whose gold class is `c`; see the module docs for the normalisation). TripPy-R:
    /// `[0.1, 1, 1, ...]` (the `none` class weighted 0.1).
    ///
    /// # Errors
    /// A weight count other than the number of classes, a negative or non-finite weight.
    pub fn with_class_weights(mut self, weights: &[f32]) -> Result<Self> {
        if weights.len() != self.classes || weights.iter().any(|w| !(w.is_finite() && *w >= 0.0)) {
            return Err(Error::setting(
                "gate class weights",
                format!(
                    "{weights:?}: need {} finite, non-negative weights",
                    self.classes
                ),
            ));
        }
        self.class_weights = weights.to_vec();
        Ok(self)
    }

    /// The loss weight of each gate class.
    pub fn class_weights(&self) -> &[f32] {
        &self.class_weights
    }

    /// Loss of a batch of turns (`labels[t]` for sequence `t`; `allowed[t]` = positions a span may
    /// use); returns the loss sum over turns and the predictions.
    ///
    /// # Errors
    /// Label counts that do not match the batch, spans outside their sequence.
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &self,
        model: &Model,
        hidden: &[f32],
        batch: &Batch,
        labels: Option<&[TurnLabels]>,
        allowed: &[Vec<bool>],
        mode: Mode,
        grad: Option<GradTarget<'_>>,
    ) -> Result<(HeadOutput, Vec<TurnPrediction>)> {
        let d = model.net.spec.hidden;
        let (n, rows, s_count, k) = (batch.len(), batch.rows(), self.slots, self.classes);
        if allowed.len() != n || labels.is_some_and(|l| l.len() != n) {
            return Err(Error::Input(format!(
                "labels or allowed positions for {} turns, batch has {n}",
                allowed.len()
            )));
        }
        for (t, a) in allowed.iter().enumerate() {
            if a.len() != batch.sequence(t).len() {
                return Err(Error::Input(format!(
                    "turn {t}: allowed mask of {} positions for {} tokens",
                    a.len(),
                    batch.sequence(t).len()
                )));
            }
        }
        if let Some(labels) = labels {
            for (t, l) in labels.iter().enumerate() {
                let len = batch.sequence(t).len() as u32;
                if l.gates.len() != s_count || l.spans.len() != s_count {
                    return Err(Error::Input(format!(
                        "turn {t}: labels for {} slots, tracker has {s_count}",
                        l.gates.len()
                    )));
                }
                if l.gates.iter().any(|&g| g as usize >= k) {
                    return Err(Error::Input(format!("turn {t}: gate class outside 0..{k}")));
                }
                if l.spans.iter().flatten().any(|&(a, b)| a > b || b >= len) {
                    return Err(Error::Input(format!(
                        "turn {t}: span outside its {len} tokens"
                    )));
                }
            }
        }
        let store = &model.store;
        let train_seed = match mode {
            Mode::Train { dropout_seed } => Some(dropout_seed),
            _ => None,
        };
        let drop = |site: u64| {
            train_seed
                .and_then(|s| Dropout::new(derive_seed(s, &[u64::MAX - 2, site]), self.dropout))
        };
        // Gates on the pooled first token.
        let firsts: Vec<usize> = (0..n).map(|t| batch.offsets[t]).collect();
        let mut first = Vec::with_capacity(n * d);
        for &r in &firsts {
            first.extend_from_slice(&hidden[r * d..(r + 1) * d]);
        }
        let mut pre = vec![0.0f32; n * d];
        self.pool.forward(store, &first, n, &mut pre, None);
        let mut pooled = vec![0.0f32; n * d];
        act::forward(&pre, &mut pooled, Act::Tanh);
        let mut pooled_d = pooled.clone();
        let gate_drop = drop(0);
        if let Some(dr) = &gate_drop {
            dr.apply(&mut pooled_d, 0);
        }
        let mut gate_logits = vec![0.0f32; n * s_count * k];
        self.gates
            .forward(store, &pooled_d, n, &mut gate_logits, None);
        // Spans on every token.
        let mut seq_d = hidden[..rows * d].to_vec();
        let span_drop = drop(1);
        if let Some(dr) = &span_drop {
            dr.apply(&mut seq_d, 0);
        }
        let mut span_logits = vec![0.0f32; rows * 2 * s_count];
        self.spans
            .forward(store, &seq_d, rows, &mut span_logits, None);
        // Predictions.
        let mut predictions = Vec::with_capacity(n);
        for t in 0..n {
            let r = batch.sequence(t);
            let gates: Vec<u32> = (0..s_count)
                .map(|s| {
                    let row = &gate_logits[(t * s_count + s) * k..(t * s_count + s + 1) * k];
                    argmax(row) as u32
                })
                .collect();
            let spans = (0..s_count)
                .map(|s| best_span(&span_logits, 2 * s_count, s, r.clone(), &allowed[t]))
                .collect();
            predictions.push(TurnPrediction { gates, spans });
        }
        let Some(labels) = labels else {
            return Ok((HeadOutput::default(), predictions));
        };
        // Losses, with gradients w.r.t. the logits.
        let want_grad = grad.is_some();
        let scale = grad.as_ref().map_or(0.0, |g| g.scale) / n as f32;
        let gate_labels: Vec<u32> = labels
            .iter()
            .flat_map(|l| l.gates.iter().copied())
            .collect();
        let gate_rows = cross_entropy(&mut gate_logits, k, &gate_labels, scale, want_grad);
        let mut out = HeadOutput::default();
        for (i, r) in gate_rows.iter().enumerate() {
            let w = self.class_weights[gate_labels[i] as usize];
            out.loss_sum += f64::from(w) * r.loss;
            out.correct += usize::from(r.argmax == gate_labels[i]);
            if want_grad && w != 1.0 {
                // d(w CE)/d logits = w (softmax - onehot): the kernel's row times w.
                for g in &mut gate_logits[i * k..(i + 1) * k] {
                    *g *= w;
                }
            }
        }
        out.count = n;
        let mut d_span = vec![0.0f32; span_logits.len()];
        for (t, l) in labels.iter().enumerate() {
            let r = batch.sequence(t);
            for (s, span) in l.spans.iter().enumerate() {
                if l.gates[s] != self.span_class {
                    continue;
                }
                let Some((a, b)) = span else {
                    return Err(Error::Input(format!(
                        "turn {t}, slot {s}: span class without a span"
                    )));
                };
                for (col, target) in [(2 * s, *a), (2 * s + 1, *b)] {
                    let mut column: Vec<f32> = r
                        .clone()
                        .map(|row| span_logits[row * 2 * s_count + col])
                        .collect();
                    let width = column.len();
                    let loss = cross_entropy(&mut column, width, &[target], 0.5 * scale, want_grad);
                    out.loss_sum += 0.5 * loss[0].loss;
                    if want_grad {
                        for (row, g) in r.clone().zip(column) {
                            d_span[row * 2 * s_count + col] += g;
                        }
                    }
                }
            }
        }
        let Some(g) = grad else {
            return Ok((out, predictions));
        };
        // Backward: span head.
        let mut d_seq = vec![0.0f32; rows * d];
        self.spans.backward(
            store,
            g.grads,
            &seq_d,
            &d_span,
            rows,
            None,
            Some(&mut d_seq),
            false,
        );
        if let Some(dr) = &span_drop {
            dr.apply(&mut d_seq, 0);
        }
        // Gate head, pooler.
        let mut d_pooled = vec![0.0f32; n * d];
        self.gates.backward(
            store,
            g.grads,
            &pooled_d,
            &gate_logits,
            n,
            None,
            Some(&mut d_pooled),
            false,
        );
        if let Some(dr) = &gate_drop {
            dr.apply(&mut d_pooled, 0);
        }
        let mut d_pre = vec![0.0f32; n * d];
        act::backward(&pre, &d_pooled, &mut d_pre, Act::Tanh);
        let mut d_first = vec![0.0f32; n * d];
        self.pool.backward(
            store,
            g.grads,
            &first,
            &d_pre,
            n,
            None,
            Some(&mut d_first),
            false,
        );
        g.d_hidden[..rows * d].copy_from_slice(&d_seq);
        for (t, &r) in firsts.iter().enumerate() {
            for (o, &v) in g.d_hidden[r * d..(r + 1) * d]
                .iter_mut()
                .zip(&d_first[t * d..(t + 1) * d])
            {
                *o += v;
            }
        }
        Ok((out, predictions))
    }
}

fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

/// The allowed `(start, end)` with `start <= end` maximising `start_logit + end_logit`, positions
/// relative to the sequence; `None` when no position is allowed.
fn best_span(
    logits: &[f32],
    width: usize,
    slot: usize,
    rows: std::ops::Range<usize>,
    allowed: &[bool],
) -> Option<(u32, u32)> {
    let start_of = |i: usize| logits[(rows.start + i) * width + 2 * slot];
    let end_of = |i: usize| logits[(rows.start + i) * width + 2 * slot + 1];
    let mut best: Option<(f32, u32, u32)> = None;
    // Running best start up to each end position.
    let mut best_start: Option<(f32, usize)> = None;
    for (e, &ok) in allowed.iter().enumerate().take(rows.len()) {
        if !ok {
            continue;
        }
        if best_start.is_none_or(|(v, _)| start_of(e) > v) {
            best_start = Some((start_of(e), e));
        }
        if let Some((sv, si)) = best_start {
            let score = sv + end_of(e);
            if best.is_none_or(|(b, _, _)| score > b) {
                best = Some((score, si as u32, e as u32));
            }
        }
    }
    best.map(|(_, a, b)| (a, b))
}
