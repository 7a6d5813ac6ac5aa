//! LayerNorm (`torch.nn.LayerNorm`) and RMSNorm (`LlamaRMSNorm`) over rows, forward and backward.
//!
//! Forward keeps `(mean, rstd)` per row (RMSNorm: mean 0) for the backward pass:
//! - LayerNorm: `y = (x - mean) rstd w + b`, `rstd = 1 / sqrt(var + eps)` with the biased variance;
//!   `dx = rstd (g - mean(g) - xhat mean(g xhat))` with `g = dy w`, `dw += dy xhat`, `db += dy`.
//! - RMSNorm: `y = x rstd w`, `rstd = 1 / sqrt(mean(x^2) + eps)`;
//!   `dx = rstd (g - x rstd^2 mean(g x))`, `dw += dy x rstd`.

use lid_embed::kernels::simd::{self, multiversion, MulAdd};
use rayon::prelude::*;

use super::reduce::{block_rows, column_sums};

/// Which normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum NormKind {
    /// LayerNorm with weight and bias.
    Layer,
    /// RMSNorm with weight only.
    Rms,
}

/// A normalisation's parameters.
#[derive(Debug, Clone, Copy)]
pub struct Norm<'a> {
    /// LayerNorm or RMSNorm.
    pub kind: NormKind,
    /// Scale, one per column.
    pub weight: &'a [f32],
    /// Shift (LayerNorm only).
    pub bias: Option<&'a [f32]>,
    /// Added to the variance.
    pub eps: f32,
}

/// `out = norm(x)` over rows of `p.weight.len()` values; `stats` receives `(mean, rstd)` per row.
pub fn forward(x: &[f32], out: &mut [f32], stats: &mut [f32], p: &Norm<'_>) {
    let width = p.weight.len();
    let rows = x.len() / width;
    assert!(x.len() == rows * width && out.len() == x.len() && stats.len() == 2 * rows);
    let block = block_rows(width);
    out.par_chunks_mut(block * width)
        .zip(stats.par_chunks_mut(2 * block))
        .zip(x.par_chunks(block * width))
        .for_each(|((out, stats), x)| forward_block(x, out, stats, p));
}

multiversion! {
    fn forward_block(x: &[f32], out: &mut [f32], stats: &mut [f32], p: &Norm<'_>) => forward_block_generic
}

#[inline(always)]
fn forward_block_generic<M: MulAdd>(x: &[f32], out: &mut [f32], stats: &mut [f32], p: &Norm<'_>) {
    let width = p.weight.len();
    for ((x, out), stats) in x
        .chunks_exact(width)
        .zip(out.chunks_exact_mut(width))
        .zip(stats.chunks_exact_mut(2))
    {
        let mean = match p.kind {
            NormKind::Layer => simd::sum(x) / width as f32,
            NormKind::Rms => 0.0,
        };
        let mut acc = [0.0f32; simd::LANES];
        let chunks = x.chunks_exact(simd::LANES);
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
        stats[0] = mean;
        stats[1] = rstd;
        match p.bias {
            Some(bias) => {
                for (((o, &v), &w), &b) in out.iter_mut().zip(x).zip(p.weight).zip(bias) {
                    *o = M::f32((v - mean) * rstd, w, b);
                }
            }
            None => {
                for ((o, &v), &w) in out.iter_mut().zip(x).zip(p.weight) {
                    *o = w * ((v - mean) * rstd);
                }
            }
        }
    }
}

/// Backward of [`forward`]: `dx (+)= d norm / dx . dy`, `dweight += ...`, `dbias += ...`.
/// With `accumulate`, the input gradient is added to `dx` (a residual branch already there).
#[allow(clippy::too_many_arguments)]
pub fn backward(
    x: &[f32],
    stats: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    accumulate: bool,
    p: &Norm<'_>,
    dweight: Option<&mut [f32]>,
    dbias: Option<&mut [f32]>,
) {
    let width = p.weight.len();
    let rows = x.len() / width;
    assert!(x.len() == rows * width && dy.len() == x.len() && dx.len() == x.len());
    let block = block_rows(width);
    dx.par_chunks_mut(block * width)
        .zip(x.par_chunks(block * width))
        .zip(dy.par_chunks(block * width))
        .zip(stats.par_chunks(2 * block))
        .for_each(|(((dx, x), dy), stats)| backward_block(x, stats, dy, dx, accumulate, p));
    if let Some(dweight) = dweight {
        let mut both = vec![0.0f32; if dbias.is_some() { 2 * width } else { width }];
        column_sums(rows, &mut both, |r, partial| {
            let (mean, rstd) = (stats[2 * r], stats[2 * r + 1]);
            let x = &x[r * width..(r + 1) * width];
            let dy = &dy[r * width..(r + 1) * width];
            let (dw, db) = partial.split_at_mut(width);
            for ((w, &v), &g) in dw.iter_mut().zip(x).zip(dy) {
                *w += g * ((v - mean) * rstd);
            }
            if !db.is_empty() {
                for (b, &g) in db.iter_mut().zip(dy) {
                    *b += g;
                }
            }
        });
        for (w, &s) in dweight.iter_mut().zip(&both[..width]) {
            *w += s;
        }
        if let Some(dbias) = dbias {
            for (b, &s) in dbias.iter_mut().zip(&both[width..]) {
                *b += s;
            }
        }
    }
}

multiversion! {
    fn backward_block(x: &[f32], stats: &[f32], dy: &[f32], dx: &mut [f32], accumulate: bool, p: &Norm<'_>) => backward_block_generic
}

#[inline(always)]
fn backward_block_generic<M: MulAdd>(
    x: &[f32],
    stats: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    accumulate: bool,
    p: &Norm<'_>,
) {
    let width = p.weight.len();
    let inv_n = 1.0 / width as f32;
    for (((x, dy), dx), stats) in x
        .chunks_exact(width)
        .zip(dy.chunks_exact(width))
        .zip(dx.chunks_exact_mut(width))
        .zip(stats.chunks_exact(2))
    {
        let (mean, rstd) = (stats[0], stats[1]);
        // Sums of g = dy w and of g xhat.
        let (mut sg, mut sgx) = ([0.0f32; simd::LANES], [0.0f32; simd::LANES]);
        let mut tail = (0.0f32, 0.0f32);
        let full = width / simd::LANES * simd::LANES;
        for c in (0..full).step_by(simd::LANES) {
            for l in 0..simd::LANES {
                let g = dy[c + l] * p.weight[c + l];
                let xhat = (x[c + l] - mean) * rstd;
                sg[l] += g;
                sgx[l] = M::f32(g, xhat, sgx[l]);
            }
        }
        for i in full..width {
            let g = dy[i] * p.weight[i];
            tail.0 += g;
            tail.1 += g * ((x[i] - mean) * rstd);
        }
        let mean_g = (sg.iter().sum::<f32>() + tail.0) * inv_n;
        let mean_gx = (sgx.iter().sum::<f32>() + tail.1) * inv_n;
        match p.kind {
            NormKind::Layer => {
                for i in 0..width {
                    let g = dy[i] * p.weight[i];
                    let xhat = (x[i] - mean) * rstd;
                    let v = rstd * (g - mean_g - xhat * mean_gx);
                    dx[i] = if accumulate { dx[i] + v } else { v };
                }
            }
            NormKind::Rms => {
                for i in 0..width {
                    let g = dy[i] * p.weight[i];
                    let xhat = x[i] * rstd;
                    let v = rstd * (g - xhat * mean_gx);
                    dx[i] = if accumulate { dx[i] + v } else { v };
                }
            }
        }
    }
}
