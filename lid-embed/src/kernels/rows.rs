//! Row-wise fused kernels, in place: `x = gelu(x + bias)` and `x = layer_norm((x + bias) +
//! residual)`, parallel over blocks of rows with rayon; one pass over memory each instead of two to
//! four candle ops with an allocation each.

use rayon::prelude::*;

use super::simd::{self, multiversion, MulAdd};

/// Rows per rayon task: about 16k elements, at least one row.
fn block_len(width: usize) -> usize {
    (16_384 / width.max(1)).max(1) * width
}

/// `x = gelu_erf(x + bias)` for `x` made of rows of `bias.len()` values.
pub(crate) fn bias_gelu_erf(x: &mut [f32], bias: &[f32]) {
    assert!(
        !bias.is_empty() && x.len().is_multiple_of(bias.len()),
        "bias_gelu_erf: rows of {} do not tile {} values",
        bias.len(),
        x.len()
    );
    x.par_chunks_mut(block_len(bias.len()))
        .for_each(|x| bias_gelu_block(x, bias));
}

multiversion! {
    fn bias_gelu_block(x: &mut [f32], bias: &[f32]) => bias_gelu_block_generic
}

#[inline(always)]
fn bias_gelu_block_generic<M: MulAdd>(x: &mut [f32], bias: &[f32]) {
    for row in x.chunks_exact_mut(bias.len()) {
        for (v, &b) in row.iter_mut().zip(bias) {
            *v = simd::gelu_erf::<M>(*v + b);
        }
    }
}

/// Parameters of a LayerNorm applied after adding a bias and a residual.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AddNorm<'a> {
    /// Bias of the preceding linear layer, added first.
    pub bias: &'a [f32],
    /// LayerNorm weight (gamma).
    pub weight: &'a [f32],
    /// LayerNorm bias (beta).
    pub shift: &'a [f32],
    /// Added to the variance.
    pub eps: f32,
}

/// `x = layer_norm((x + bias) + residual)` over rows of `bias.len()` values: mean and biased
/// variance per row (two passes), then `(v - mean) / sqrt(var + eps) * weight + shift`, as
/// `torch.nn.LayerNorm`.
pub(crate) fn bias_residual_layer_norm(x: &mut [f32], residual: &[f32], p: &AddNorm<'_>) {
    let width = p.bias.len();
    assert!(
        width > 0
            && x.len().is_multiple_of(width)
            && residual.len() == x.len()
            && p.weight.len() == width
            && p.shift.len() == width,
        "bias_residual_layer_norm: inconsistent lengths"
    );
    let block = block_len(width);
    x.par_chunks_mut(block)
        .zip(residual.par_chunks(block))
        .for_each(|(x, residual)| add_norm_block(x, residual, p));
}

multiversion! {
    fn add_norm_block(x: &mut [f32], residual: &[f32], p: &AddNorm<'_>) => add_norm_block_generic
}

#[inline(always)]
fn add_norm_block_generic<M: MulAdd>(x: &mut [f32], residual: &[f32], p: &AddNorm<'_>) {
    let width = p.bias.len();
    for (row, residual) in x.chunks_exact_mut(width).zip(residual.chunks_exact(width)) {
        for ((v, &b), &r) in row.iter_mut().zip(p.bias).zip(residual) {
            *v = (*v + b) + r;
        }
        let mean = simd::sum(row) / width as f32;
        let mut acc = [0.0f32; simd::LANES];
        let chunks = row.chunks_exact(simd::LANES);
        let tail = chunks.remainder();
        for chunk in chunks {
            for (a, &v) in acc.iter_mut().zip(chunk) {
                let dev = v - mean;
                *a = M::f32(dev, dev, *a);
            }
        }
        let squares =
            acc.iter().sum::<f32>() + tail.iter().map(|&v| (v - mean) * (v - mean)).sum::<f32>();
        let rstd = 1.0 / (squares / width as f32 + p.eps).sqrt();
        for ((v, &w), &s) in row.iter_mut().zip(p.weight).zip(p.shift) {
            *v = M::f32((*v - mean) * rstd, w, s);
        }
    }
}
