//! The BERT encoder block stack on CPU buffers: the same computation as the candle path in
//! `models::bert` (`BertLayer` of `transformers`, eval mode, exact GELU), in five reusable buffers.
//!
//! Per block (`m` = batch x seq rows, `h` hidden):
//! `qkv = x W_qkv` (one GEMM for query, key and value) -> attention with the projection bias and the
//! key mask fused in -> `a = norm1((ctx W_o + b_o) + x)` -> `u = gelu(a W_1 + b_1)` ->
//! `x' = norm2((u W_2 + b_2) + a)`. The buffers live in a [`Workspace`] the caller keeps between
//! batches: in steady state a forward pass allocates nothing but the hidden states it returns (the
//! candle path allocates every intermediate, and the page faults of that churn alone cost about a
//! sixth of the CPU time on MiniLM).

use super::attention::{self, AttentionDims};
use super::matmul::matmul;
use super::rows::{self, AddNorm};

/// A LayerNorm's parameters, borrowed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NormWeights<'a> {
    /// Gamma, `h`.
    pub weight: &'a [f32],
    /// Beta, `h`.
    pub shift: &'a [f32],
    /// Added to the variance.
    pub eps: f32,
}

/// The weights of one block, borrowed; matrices are row-major `(in, out)` (transposed from the
/// checkpoint's `(out, in)`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BlockWeights<'a> {
    /// Query, key and value packed along the output: `(h, 3 h)`.
    pub qkv: &'a [f32],
    /// Their biases, `3 h`.
    pub qkv_bias: &'a [f32],
    /// Attention output projection, `(h, h)`.
    pub attn_out: &'a [f32],
    /// Its bias, `h`.
    pub attn_out_bias: &'a [f32],
    /// LayerNorm after attention.
    pub attn_norm: NormWeights<'a>,
    /// Intermediate (feed-forward in) projection, `(h, i)`.
    pub inner: &'a [f32],
    /// Its bias, `i`.
    pub inner_bias: &'a [f32],
    /// Feed-forward out projection, `(i, h)`.
    pub out: &'a [f32],
    /// Its bias, `h`.
    pub out_bias: &'a [f32],
    /// LayerNorm at the end of the block.
    pub out_norm: NormWeights<'a>,
}

/// Sizes of the encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EncoderDims {
    /// Width of the hidden states.
    pub hidden: usize,
    /// Width of the feed-forward layer.
    pub intermediate: usize,
    /// Attention heads (dividing `hidden`).
    pub heads: usize,
}

/// Buffers reused across blocks and batches.
#[derive(Debug, Default)]
pub(crate) struct Workspace {
    x: Vec<f32>,
    qkv: Vec<f32>,
    ctx: Vec<f32>,
    attended: Vec<f32>,
    inner: Vec<f32>,
}

/// Sets `buf` to `len` values without caring what they are (every user overwrites them).
fn sized(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    buf.resize(len, 0.0);
    &mut buf[..len]
}

/// One batch: the embedding output and which tokens are real.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Batch<'a> {
    /// `batch x seq x hidden`, row-major.
    pub embedded: &'a [f32],
    /// `batch x seq`, true on real tokens (false on padding).
    pub keep: &'a [bool],
    /// Sequences.
    pub batch: usize,
    /// Positions per sequence.
    pub seq: usize,
}

/// Runs `blocks` over `input` and hands the output of each block `i` (1-based) to
/// `emit(i, state)`; stops early when `emit` returns false.
pub(crate) fn run(
    blocks: &[BlockWeights<'_>],
    dims: EncoderDims,
    input: &Batch<'_>,
    ws: &mut Workspace,
    emit: &mut dyn FnMut(usize, &[f32]) -> bool,
) {
    let (h, inner) = (dims.hidden, dims.intermediate);
    let (batch, seq) = (input.batch, input.seq);
    let m = batch * seq;
    assert!(
        h > 0 && dims.heads > 0 && h % dims.heads == 0,
        "encoder: inconsistent sizes {dims:?}"
    );
    assert!(
        input.embedded.len() == m * h && input.keep.len() == m,
        "encoder: input does not match {batch} x {seq} x {h}"
    );
    let keep = input.keep;
    let attention_dims = AttentionDims {
        batch,
        seq,
        heads: dims.heads,
        head_dim: h / dims.heads,
    };
    let scale = (1.0 / (attention_dims.head_dim as f64).sqrt()) as f32;
    let Workspace {
        x,
        qkv,
        ctx,
        attended,
        inner: ffn,
    } = ws;
    sized(x, m * h).copy_from_slice(input.embedded);
    for (index, w) in blocks.iter().enumerate() {
        // Self-attention.
        matmul(x, w.qkv, sized(qkv, m * 3 * h), m, h, 3 * h);
        attention::attention(
            qkv,
            w.qkv_bias,
            keep,
            attention_dims,
            scale,
            sized(ctx, m * h),
        );
        let a = sized(attended, m * h);
        matmul(ctx, w.attn_out, a, m, h, h);
        rows::bias_residual_layer_norm(a, x, &add_norm(w.attn_out_bias, &w.attn_norm));
        // Feed-forward.
        let u = sized(ffn, m * inner);
        matmul(a, w.inner, u, m, h, inner);
        rows::bias_gelu_erf(u, w.inner_bias);
        let next = sized(ctx, m * h);
        matmul(u, w.out, next, m, inner, h);
        rows::bias_residual_layer_norm(next, a, &add_norm(w.out_bias, &w.out_norm));
        std::mem::swap(x, ctx);
        if !emit(index + 1, &x[..m * h]) {
            break;
        }
    }
}

fn add_norm<'a>(bias: &'a [f32], norm: &NormWeights<'a>) -> AddNorm<'a> {
    AddNorm {
        bias,
        weight: norm.weight,
        shift: norm.shift,
        eps: norm.eps,
    }
}
