//! The forward and backward passes of [`Transformer`], on packed batches and reusable buffers.
//!
//! A [`Batch`] holds its sequences back to back without padding (`offsets[s]..offsets[s + 1]` are
//! the rows of sequence `s`); attention stays inside each sequence, which is exactly what an
//! attention mask does to a padded batch, so results equal `transformers`' on the real tokens
//! while no work is spent on padding. [`Activations`] keeps what the backward pass needs and is
//! reused from step to step (its buffers only grow).
//!
//! Hidden states follow Hugging Face numbering: index 0 is the embedding output, index `i` the
//! output of block `i`; for decoders (final norm) the last index is the final norm's output.

use std::ops::Range;

use crate::error::{Error, Result};
use crate::kernels::act;
use crate::kernels::attention::{self, prob_offsets, AttnDims};
use crate::kernels::dropout::{derive_seed, Dropout};
use crate::kernels::embed;
use crate::kernels::norm;
use crate::kernels::rope::RopeTables;
use crate::params::{Grads, ParamStore};

use super::spec::Positions;
use super::{NormParams, Transformer};

/// Sequences of token ids, packed back to back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    /// Token ids of all sequences, concatenated.
    pub ids: Vec<u32>,
    /// Sequence `s` is `ids[offsets[s]..offsets[s + 1]]`; starts with 0.
    pub offsets: Vec<usize>,
    /// Token types (segment ids) per token; empty means all 0.
    pub token_types: Vec<u32>,
}

impl Batch {
    /// Packs `sequences`.
    pub fn new<S: AsRef<[u32]>>(sequences: &[S]) -> Self {
        let mut batch = Self {
            ids: Vec::new(),
            offsets: vec![0],
            token_types: Vec::new(),
        };
        for s in sequences {
            batch.push(s.as_ref(), None);
        }
        batch
    }

    /// Appends one sequence (with its token types, or all 0).
    pub fn push(&mut self, ids: &[u32], token_types: Option<&[u32]>) {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        if let Some(tt) = token_types {
            if self.token_types.len() < self.ids.len() {
                self.token_types.resize(self.ids.len(), 0);
            }
            self.token_types.extend_from_slice(tt);
        } else if !self.token_types.is_empty() {
            self.token_types.extend(std::iter::repeat_n(0, ids.len()));
        }
        self.ids.extend_from_slice(ids);
        self.offsets.push(self.ids.len());
    }

    /// Total number of tokens (rows).
    pub fn rows(&self) -> usize {
        self.ids.len()
    }

    /// Number of sequences.
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Whether there is no sequence.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rows of sequence `s`.
    pub fn sequence(&self, s: usize) -> Range<usize> {
        self.offsets[s]..self.offsets[s + 1]
    }
}

/// Training (dropout on, activations kept for the backward pass) or evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Training; dropout masks derive from this seed (see [`crate::kernels::dropout`]).
    Train {
        /// Seed of this forward pass's dropout masks.
        dropout_seed: u64,
    },
    /// Training with dropout off (golden tests against PyTorch).
    TrainNoDropout,
    /// Evaluation: no dropout, no backward pass.
    Eval,
}

impl Mode {
    fn keeps_activations(self) -> bool {
        !matches!(self, Mode::Eval)
    }
    fn dropout(self, p: f32, path: &[u64]) -> Option<Dropout> {
        match self {
            Mode::Train { dropout_seed } => Dropout::new(derive_seed(dropout_seed, path), p),
            _ => None,
        }
    }
}

/// Hidden states to copy out of a forward pass (Hugging Face numbering), filled in by it.
#[derive(Debug, Clone, Default)]
pub struct Capture {
    /// The indices wanted, each in `0..=layers`.
    pub indices: Vec<usize>,
    /// One `(rows, hidden)` buffer per index, in the order of `indices`.
    pub states: Vec<Vec<f32>>,
}

impl Capture {
    /// Captures the hidden states at `indices`.
    pub fn new(indices: Vec<usize>) -> Self {
        let states = vec![Vec::new(); indices.len()];
        Self { indices, states }
    }

    fn offer(&mut self, index: usize, state: &[f32]) {
        for (slot, &i) in self.states.iter_mut().zip(&self.indices) {
            if i == index {
                slot.clear();
                slot.extend_from_slice(state);
            }
        }
    }
}

/// What one block keeps for its backward pass.
#[derive(Debug, Clone, Default)]
struct LayerActs {
    n1: Vec<f32>,
    n1_stats: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    lora: [Vec<f32>; 7],
    probs: Vec<f32>,
    ctx: Vec<f32>,
    mid: Vec<f32>,
    mid_stats: Vec<f32>,
    mid_norm: Vec<f32>,
    up: Vec<f32>,
    gate: Vec<f32>,
    act: Vec<f32>,
    out_sum: Vec<f32>,
    out_stats: Vec<f32>,
}

/// Slots of [`LayerActs::lora`].
const LORA_Q: usize = 0;
const LORA_K: usize = 1;
const LORA_V: usize = 2;
const LORA_O: usize = 3;
const LORA_UP: usize = 4;
const LORA_GATE: usize = 5;
const LORA_DOWN: usize = 6;

/// Gradient scratch of the backward pass.
#[derive(Debug, Clone, Default)]
struct Scratch {
    d_state: Vec<f32>,
    d_mid: Vec<f32>,
    d_tmp: Vec<f32>,
    d_act: Vec<f32>,
    d_up: Vec<f32>,
    d_gate: Vec<f32>,
    d_q: Vec<f32>,
    d_k: Vec<f32>,
    d_v: Vec<f32>,
    d_ctx: Vec<f32>,
    tmp: Vec<f32>,
}

/// Activations of one forward pass, reused across passes.
#[derive(Debug, Clone, Default)]
pub struct Activations {
    rows: usize,
    mode: Option<Mode>,
    positions: Vec<u32>,
    emb_sum: Vec<f32>,
    emb_stats: Vec<f32>,
    /// `states[i]` = hidden state `i` before any final norm; `states[0]` = embedding output.
    states: Vec<Vec<f32>>,
    final_out: Vec<f32>,
    final_stats: Vec<f32>,
    layers: Vec<LayerActs>,
    rope: Option<RopeTables>,
    scratch: Scratch,
}

impl Activations {
    /// Empty buffers.
    pub fn new() -> Self {
        Self::default()
    }

    /// The backbone's output `(rows, hidden)`: the final norm's output for decoders, the last
    /// block's output for encoders.
    pub fn output(&self) -> &[f32] {
        if self.final_out.is_empty() {
            self.states.last().map_or(&[][..], |s| &s[..])
        } else {
            &self.final_out
        }
    }

    /// The output of the last block before any final norm (what the grokking probe reads).
    pub fn last_block_output(&self) -> &[f32] {
        self.states.last().map_or(&[][..], |s| &s[..])
    }

    /// Rows of the last forward pass.
    pub fn rows(&self) -> usize {
        self.rows
    }
}

fn ensure(buf: &mut Vec<f32>, len: usize) {
    buf.resize(len, 0.0);
}

impl Transformer {
    /// Runs the backbone on `batch`. In a training mode the activations for [`Self::backward`]
    /// are kept in `acts`.
    ///
    /// # Errors
    /// An empty batch, a token id outside the vocabulary, a sequence longer than the position
    /// table, token types outside their vocabulary.
    pub fn forward(
        &self,
        store: &ParamStore,
        batch: &Batch,
        mode: Mode,
        acts: &mut Activations,
        mut capture: Option<&mut Capture>,
    ) -> Result<()> {
        let spec = &self.spec;
        let (rows, d) = (batch.rows(), spec.hidden);
        self.check_batch(batch)?;
        acts.rows = rows;
        acts.mode = Some(mode);
        // Positions.
        acts.positions.clear();
        let offset = match &spec.positions {
            Positions::Learned { offset, .. } => *offset as u32,
            Positions::Rotary { .. } => 0,
        };
        for s in 0..batch.len() {
            let r = batch.sequence(s);
            acts.positions
                .extend((0..r.len() as u32).map(|i| offset + i));
        }
        if let Positions::Rotary { inv_freq, .. } = &spec.positions {
            let longest = (0..batch.len())
                .map(|s| batch.sequence(s).len())
                .max()
                .unwrap_or(0);
            acts.rope
                .get_or_insert_with(|| RopeTables::new(inv_freq, longest.max(1)))
                .ensure(inv_freq, longest.max(1));
        }
        let n_states = spec.layers + 1;
        acts.states.resize_with(n_states, Vec::new);
        let layer_slots = if mode.keeps_activations() {
            spec.layers
        } else {
            1
        };
        acts.layers
            .resize_with(layer_slots.max(1), LayerActs::default);

        // Embeddings.
        let emb = &self.embeddings;
        let mut sum = std::mem::take(&mut acts.emb_sum);
        ensure(&mut sum, rows * d);
        embed::gather(
            store.data(emb.word),
            d,
            &batch.ids,
            &mut sum,
            spec.embedding_scale,
            false,
        );
        if let Some(p) = emb.position {
            embed::gather(store.data(p), d, &acts.positions, &mut sum, 1.0, true);
        }
        if let Some(t) = emb.token_type {
            if batch.token_types.is_empty() {
                let zeros = vec![0u32; rows];
                embed::gather(store.data(t), d, &zeros, &mut sum, 1.0, true);
            } else {
                embed::gather(store.data(t), d, &batch.token_types, &mut sum, 1.0, true);
            }
        }
        let mut state0 = std::mem::take(&mut acts.states[0]);
        ensure(&mut state0, rows * d);
        match &emb.norm {
            Some(n) => {
                ensure(&mut acts.emb_stats, 2 * rows);
                norm::forward(
                    &sum,
                    &mut state0,
                    &mut acts.emb_stats,
                    &n.view(store, spec.norm, spec.norm_eps),
                );
            }
            None => state0.copy_from_slice(&sum),
        }
        if let Some(drop) = mode.dropout(spec.dropout.embedding, &[u64::MAX, 0]) {
            drop.apply(&mut state0, 0);
        }
        acts.emb_sum = sum;
        acts.states[0] = state0;
        if let Some(c) = capture.as_deref_mut() {
            c.offer(0, &acts.states[0]);
        }

        // Blocks.
        for l in 0..spec.layers {
            let slot = if mode.keeps_activations() { l } else { 0 };
            let (before, after) = acts.states.split_at_mut(l + 1);
            let x = &before[l];
            let out = &mut after[0];
            ensure(out, rows * d);
            self.layer_forward(
                store,
                l,
                batch,
                mode,
                x,
                out,
                &mut acts.layers[slot],
                acts.rope.as_ref(),
                &acts.positions,
            )?;
            if l + 1 < spec.layers || self.final_norm.is_none() {
                if let Some(c) = capture.as_mut() {
                    c.offer(l + 1, out);
                }
            }
        }
        // Final norm.
        match &self.final_norm {
            Some(n) => {
                ensure(&mut acts.final_out, rows * d);
                ensure(&mut acts.final_stats, 2 * rows);
                norm::forward(
                    &acts.states[spec.layers],
                    &mut acts.final_out,
                    &mut acts.final_stats,
                    &n.view(store, spec.norm, spec.norm_eps),
                );
                if let Some(c) = capture {
                    c.offer(spec.layers, &acts.final_out);
                }
            }
            None => acts.final_out.clear(),
        }
        Ok(())
    }

    fn check_batch(&self, batch: &Batch) -> Result<()> {
        let spec = &self.spec;
        if batch.is_empty() || batch.rows() == 0 {
            return Err(Error::Input("empty batch".into()));
        }
        if let Some(&bad) = batch.ids.iter().find(|&&id| id as usize >= spec.vocab) {
            return Err(Error::Input(format!(
                "token id {bad} is outside the vocabulary of {} tokens",
                spec.vocab
            )));
        }
        if let Some(max) = spec.max_sequence() {
            for s in 0..batch.len() {
                let n = batch.sequence(s).len();
                if n > max {
                    return Err(Error::Input(format!(
                        "sequence {s} has {n} tokens; this model has {max} positions (lower the maximum length)"
                    )));
                }
            }
        }
        if !batch.token_types.is_empty() {
            if batch.token_types.len() != batch.rows() {
                return Err(Error::Input("token types do not match the tokens".into()));
            }
            if let Some(&bad) = batch
                .token_types
                .iter()
                .find(|&&t| t as usize >= spec.token_types.max(1))
            {
                return Err(Error::Input(format!(
                    "token type {bad} is outside the {} types of this model",
                    spec.token_types
                )));
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn layer_forward(
        &self,
        store: &ParamStore,
        l: usize,
        batch: &Batch,
        mode: Mode,
        x: &[f32],
        out: &mut [f32],
        a: &mut LayerActs,
        rope: Option<&RopeTables>,
        positions: &[u32],
    ) -> Result<()> {
        let spec = &self.spec;
        let p = &self.layers[l];
        let rows = batch.rows();
        let d = spec.hidden;
        let (qw, kw) = (spec.heads * spec.head_dim, spec.kv_heads * spec.head_dim);
        let inter = spec.intermediate;
        let layer = l as u64;

        // Attention input.
        let attn_in: &[f32] = if spec.pre_norm {
            ensure(&mut a.n1, rows * d);
            ensure(&mut a.n1_stats, 2 * rows);
            norm::forward(
                x,
                &mut a.n1,
                &mut a.n1_stats,
                &p.attn_norm.view(store, spec.norm, spec.norm_eps),
            );
            &a.n1
        } else {
            x
        };
        ensure(&mut a.q, rows * qw);
        ensure(&mut a.k, rows * kw);
        ensure(&mut a.v, rows * kw);
        {
            let [lq, lk, lv, ..] = &mut a.lora;
            p.q.forward(store, attn_in, rows, &mut a.q, Some(lq));
            p.k.forward(store, attn_in, rows, &mut a.k, Some(lk));
            p.v.forward(store, attn_in, rows, &mut a.v, Some(lv));
        }
        if let Some(rope) = rope {
            rope.apply(&mut a.q, spec.heads, positions, false);
            rope.apply(&mut a.k, spec.kv_heads, positions, false);
        }
        let dims = self.attn_dims(l);
        let poff = prob_offsets(&batch.offsets, spec.heads);
        ensure(&mut a.probs, *poff.last().unwrap_or(&0));
        ensure(&mut a.ctx, rows * qw);
        let attn_drop = mode.dropout(spec.dropout.attention, &[layer, 1]);
        attention::forward(
            &a.q,
            &a.k,
            &a.v,
            &batch.offsets,
            &dims,
            attn_drop.as_ref(),
            &mut a.probs,
            &mut a.ctx,
        );
        // a = o(ctx), dropped, added to the residual.
        ensure(&mut a.mid, rows * d);
        p.o.forward(store, &a.ctx, rows, &mut a.mid, Some(&mut a.lora[LORA_O]));
        if let Some(drop) = mode.dropout(spec.dropout.hidden, &[layer, 2]) {
            drop.apply(&mut a.mid, 0);
        }
        for (m, &xv) in a.mid.iter_mut().zip(x) {
            *m += xv;
        }
        // Feed-forward input: pre-norm Norm2(mid); post-norm y1 = LN1(mid).
        ensure(&mut a.mid_norm, rows * d);
        ensure(&mut a.mid_stats, 2 * rows);
        let second = if spec.pre_norm {
            &p.mlp_norm
        } else {
            &p.attn_norm
        };
        norm::forward(
            &a.mid,
            &mut a.mid_norm,
            &mut a.mid_stats,
            &second.view(store, spec.norm, spec.norm_eps),
        );
        ensure(&mut a.up, rows * inter);
        ensure(&mut a.act, rows * inter);
        p.up.forward(
            store,
            &a.mid_norm,
            rows,
            &mut a.up,
            Some(&mut a.lora[LORA_UP]),
        );
        match &p.gate {
            Some(gate) => {
                ensure(&mut a.gate, rows * inter);
                gate.forward(
                    store,
                    &a.mid_norm,
                    rows,
                    &mut a.gate,
                    Some(&mut a.lora[LORA_GATE]),
                );
                act::gated_forward(&a.gate, &a.up, &mut a.act, spec.act);
            }
            None => act::forward(&a.up, &mut a.act, spec.act),
        }
        // f = down(act), dropped, added to the residual.
        p.down
            .forward(store, &a.act, rows, out, Some(&mut a.lora[LORA_DOWN]));
        if let Some(drop) = mode.dropout(spec.dropout.hidden, &[layer, 3]) {
            drop.apply(out, 0);
        }
        let residual: &[f32] = if spec.pre_norm { &a.mid } else { &a.mid_norm };
        for (o, &r) in out.iter_mut().zip(residual) {
            *o += r;
        }
        if !spec.pre_norm {
            ensure(&mut a.out_sum, rows * d);
            ensure(&mut a.out_stats, 2 * rows);
            a.out_sum.copy_from_slice(out);
            norm::forward(
                &a.out_sum,
                out,
                &mut a.out_stats,
                &p.mlp_norm.view(store, spec.norm, spec.norm_eps),
            );
        }
        Ok(())
    }

    fn attn_dims(&self, l: usize) -> AttnDims {
        AttnDims {
            heads: self.spec.heads,
            kv_heads: self.spec.kv_heads,
            head_dim: self.spec.head_dim,
            causal: self.spec.causal,
            scale: self.spec.attn_scales[l],
        }
    }

    /// Backward pass of the last [`Self::forward`] (which must have run in a training mode on
    /// `batch`): `d_output` is the gradient of the loss with respect to [`Activations::output`];
    /// parameter gradients are added to `grads`.
    ///
    /// # Errors
    /// When the activations are not from a training-mode forward pass of this batch.
    pub fn backward(
        &self,
        store: &ParamStore,
        grads: &mut Grads,
        batch: &Batch,
        acts: &mut Activations,
        d_output: &[f32],
    ) -> Result<()> {
        let spec = &self.spec;
        let (rows, d) = (batch.rows(), spec.hidden);
        let mode = match acts.mode {
            Some(m) if m.keeps_activations() && acts.rows == rows => m,
            _ => {
                return Err(Error::Invalid(
                    "backward needs a training-mode forward pass of the same batch".into(),
                ))
            }
        };
        if d_output.len() != rows * d {
            return Err(Error::Invalid(format!(
                "output gradient has {} values, expected {}",
                d_output.len(),
                rows * d
            )));
        }
        let mut sc = std::mem::take(&mut acts.scratch);
        ensure(&mut sc.d_state, rows * d);
        // Through the final norm.
        match &self.final_norm {
            Some(n) => {
                let view = n.view(store, spec.norm, spec.norm_eps);
                let (w, b) = split_norm_grads(grads, n);
                norm::backward(
                    &acts.states[spec.layers],
                    &acts.final_stats,
                    d_output,
                    &mut sc.d_state,
                    false,
                    &view,
                    w,
                    b,
                );
            }
            None => sc.d_state.copy_from_slice(d_output),
        }
        for l in (0..spec.layers).rev() {
            self.layer_backward(store, grads, l, batch, mode, acts, &mut sc)?;
        }
        // Embeddings.
        let emb = &self.embeddings;
        if let Some(drop) = mode.dropout(spec.dropout.embedding, &[u64::MAX, 0]) {
            drop.apply(&mut sc.d_state, 0);
        }
        let d_sum: &[f32] = match &emb.norm {
            Some(n) => {
                ensure(&mut sc.d_tmp, rows * d);
                let view = n.view(store, spec.norm, spec.norm_eps);
                let (w, b) = split_norm_grads(grads, n);
                norm::backward(
                    &acts.emb_sum,
                    &acts.emb_stats,
                    &sc.d_state,
                    &mut sc.d_tmp,
                    false,
                    &view,
                    w,
                    b,
                );
                &sc.d_tmp
            }
            None => &sc.d_state,
        };
        if let Some(g) = grads.get_mut(emb.word) {
            embed::scatter_add(g, d, &batch.ids, d_sum, spec.embedding_scale);
        }
        if let Some(p) = emb.position {
            if let Some(g) = grads.get_mut(p) {
                embed::scatter_add(g, d, &acts.positions, d_sum, 1.0);
            }
        }
        if let Some(t) = emb.token_type {
            if let Some(g) = grads.get_mut(t) {
                let zeros;
                let types: &[u32] = if batch.token_types.is_empty() {
                    zeros = vec![0u32; rows];
                    &zeros
                } else {
                    &batch.token_types
                };
                embed::scatter_add(g, d, types, d_sum, 1.0);
            }
        }
        acts.scratch = sc;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn layer_backward(
        &self,
        store: &ParamStore,
        grads: &mut Grads,
        l: usize,
        batch: &Batch,
        mode: Mode,
        acts: &Activations,
        sc: &mut Scratch,
    ) -> Result<()> {
        let spec = &self.spec;
        let p = &self.layers[l];
        let a = &acts.layers[l];
        let x = &acts.states[l];
        let rows = batch.rows();
        let d = spec.hidden;
        let (qw, kw) = (spec.heads * spec.head_dim, spec.kv_heads * spec.head_dim);
        let inter = spec.intermediate;
        let layer = l as u64;
        let lora = |slot: usize| -> Option<&[f32]> {
            (!a.lora[slot].is_empty()).then_some(&a.lora[slot][..])
        };

        // sc.d_state holds the gradient w.r.t. this block's output.
        if !spec.pre_norm {
            // Through LN2: d z2.
            ensure(&mut sc.d_tmp, rows * d);
            let view = p.mlp_norm.view(store, spec.norm, spec.norm_eps);
            let (w, b) = split_norm_grads(grads, &p.mlp_norm);
            norm::backward(
                &a.out_sum,
                &a.out_stats,
                &sc.d_state,
                &mut sc.d_tmp,
                false,
                &view,
                w,
                b,
            );
            std::mem::swap(&mut sc.d_state, &mut sc.d_tmp);
        }
        // Residual: d mid (pre: x1; post: y1) starts as the output gradient.
        ensure(&mut sc.d_mid, rows * d);
        sc.d_mid.copy_from_slice(&sc.d_state);
        // Feed-forward branch: df = dropout'(d out).
        ensure(&mut sc.tmp, rows * d);
        sc.tmp.copy_from_slice(&sc.d_state);
        if let Some(drop) = mode.dropout(spec.dropout.hidden, &[layer, 3]) {
            drop.apply(&mut sc.tmp, 0);
        }
        ensure(&mut sc.d_act, rows * inter);
        p.down.backward(
            store,
            grads,
            &a.act,
            &sc.tmp,
            rows,
            lora(LORA_DOWN),
            Some(&mut sc.d_act),
            false,
        );
        ensure(&mut sc.d_up, rows * inter);
        match &p.gate {
            Some(gate) => {
                ensure(&mut sc.d_gate, rows * inter);
                act::gated_backward(
                    &a.gate,
                    &a.up,
                    &sc.d_act,
                    &mut sc.d_gate,
                    &mut sc.d_up,
                    spec.act,
                );
                ensure(&mut sc.d_tmp, rows * d);
                gate.backward(
                    store,
                    grads,
                    &a.mid_norm,
                    &sc.d_gate,
                    rows,
                    lora(LORA_GATE),
                    Some(&mut sc.d_tmp),
                    false,
                );
                p.up.backward(
                    store,
                    grads,
                    &a.mid_norm,
                    &sc.d_up,
                    rows,
                    lora(LORA_UP),
                    Some(&mut sc.d_tmp),
                    true,
                );
            }
            None => {
                act::backward(&a.up, &sc.d_act, &mut sc.d_up, spec.act);
                ensure(&mut sc.d_tmp, rows * d);
                p.up.backward(
                    store,
                    grads,
                    &a.mid_norm,
                    &sc.d_up,
                    rows,
                    lora(LORA_UP),
                    Some(&mut sc.d_tmp),
                    false,
                );
            }
        }
        // sc.d_tmp = gradient w.r.t. the feed-forward input (mid_norm).
        if spec.pre_norm {
            // mid_norm = Norm2(mid): add its backward to d mid.
            let view = p.mlp_norm.view(store, spec.norm, spec.norm_eps);
            let (w, b) = split_norm_grads(grads, &p.mlp_norm);
            norm::backward(
                &a.mid,
                &a.mid_stats,
                &sc.d_tmp,
                &mut sc.d_mid,
                true,
                &view,
                w,
                b,
            );
        } else {
            // mid_norm = y1 = LN1(z1) is also the residual: d y1 = d out + d ffn-input; then LN1.
            for (m, &t) in sc.d_mid.iter_mut().zip(&sc.d_tmp) {
                *m += t;
            }
            let view = p.attn_norm.view(store, spec.norm, spec.norm_eps);
            let (w, b) = split_norm_grads(grads, &p.attn_norm);
            ensure(&mut sc.d_tmp, rows * d);
            norm::backward(
                &a.mid,
                &a.mid_stats,
                &sc.d_mid,
                &mut sc.d_tmp,
                false,
                &view,
                w,
                b,
            );
            std::mem::swap(&mut sc.d_mid, &mut sc.d_tmp);
        }
        // sc.d_mid = gradient w.r.t. mid = x + dropout(o(ctx)). Attention branch:
        sc.tmp.copy_from_slice(&sc.d_mid);
        if let Some(drop) = mode.dropout(spec.dropout.hidden, &[layer, 2]) {
            drop.apply(&mut sc.tmp, 0);
        }
        ensure(&mut sc.d_ctx, rows * qw);
        p.o.backward(
            store,
            grads,
            &a.ctx,
            &sc.tmp,
            rows,
            lora(LORA_O),
            Some(&mut sc.d_ctx),
            false,
        );
        ensure(&mut sc.d_q, rows * qw);
        ensure(&mut sc.d_k, rows * kw);
        ensure(&mut sc.d_v, rows * kw);
        let dims = self.attn_dims(l);
        let attn_drop = mode.dropout(spec.dropout.attention, &[layer, 1]);
        attention::backward(
            &a.q,
            &a.k,
            &a.v,
            &a.probs,
            &sc.d_ctx,
            &batch.offsets,
            &dims,
            attn_drop.as_ref(),
            &mut sc.d_q,
            &mut sc.d_k,
            &mut sc.d_v,
        );
        if let Some(rope) = &acts.rope {
            rope.apply(&mut sc.d_q, spec.heads, &acts.positions, true);
            rope.apply(&mut sc.d_k, spec.kv_heads, &acts.positions, true);
        }
        let attn_in: &[f32] = if spec.pre_norm { &a.n1 } else { x };
        ensure(&mut sc.d_tmp, rows * d);
        p.q.backward(
            store,
            grads,
            attn_in,
            &sc.d_q,
            rows,
            lora(LORA_Q),
            Some(&mut sc.d_tmp),
            false,
        );
        p.k.backward(
            store,
            grads,
            attn_in,
            &sc.d_k,
            rows,
            lora(LORA_K),
            Some(&mut sc.d_tmp),
            true,
        );
        p.v.backward(
            store,
            grads,
            attn_in,
            &sc.d_v,
            rows,
            lora(LORA_V),
            Some(&mut sc.d_tmp),
            true,
        );
        // d x = d mid (residual) + attention-input gradient (through Norm1 when pre-norm).
        if spec.pre_norm {
            let view = p.attn_norm.view(store, spec.norm, spec.norm_eps);
            let (w, b) = split_norm_grads(grads, &p.attn_norm);
            norm::backward(x, &a.n1_stats, &sc.d_tmp, &mut sc.d_mid, true, &view, w, b);
        } else {
            for (m, &t) in sc.d_mid.iter_mut().zip(&sc.d_tmp) {
                *m += t;
            }
        }
        std::mem::swap(&mut sc.d_state, &mut sc.d_mid);
        Ok(())
    }
}

/// The weight and bias gradient buffers of a norm, borrowed together.
fn split_norm_grads<'a>(
    grads: &'a mut Grads,
    n: &NormParams,
) -> (Option<&'a mut [f32]>, Option<&'a mut [f32]>) {
    grads.get_two_mut(n.weight, n.bias)
}
