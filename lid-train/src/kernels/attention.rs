//! Multi-head scaled dot-product attention over packed sequences, forward and backward.
//!
//! Layout: the rows of a batch are the tokens of all its sequences back to back (no padding);
//! `offsets[s]..offsets[s + 1]` are the rows of sequence `s`, and tokens attend only within their
//! own sequence (what an attention mask does to a padded batch, without computing the padding).
//! `q` is `(rows, heads * head_dim)`, `k` and `v` are `(rows, kv_heads * head_dim)` (grouped-query
//! attention: query head `h` reads key/value head `h / (heads / kv_heads)`), all contiguous.
//!
//! Per sequence and head: `S = scale Q K^T` (causal: `-inf` above the diagonal), `P = softmax(S)`
//! (kept for the backward pass), `O = dropout(P) V`. Backward:
//! `dV += dropout(P)^T dO`, `dP = dropout'(dO V^T)`, `dS = P * (dP - rowsum(P * dP)) * scale`,
//! `dQ = dS K`, `dK += dS^T Q`.
//!
//! Sequences run in parallel (each writes only its own rows). The forward products go through
//! [`ordered`] on one thread, whatever the sequence length: every score and every output is
//! summed in one order that does not depend on the number of tokens (a causal query reduces over
//! its keys `0..=i` in the same order in a sequence of 10 tokens and in one of 100), so hidden
//! states are bitwise invariant to the length, the batch and the thread count. The backward
//! products go through `gemm` on one thread, or through plain loops for sequences of at most
//! [`SMALL`] tokens (the grokking model's 4), where a library call costs more than the arithmetic.

use rayon::prelude::*;

use super::dropout::Dropout;
use super::gemm::{matmul, MatMut, MatRef, Threads};
use super::ordered;
use lid_embed::kernels::simd::{self, multiversion, MulAdd};

/// Sequences at most this long use the loop kernels in the backward pass.
pub const SMALL: usize = 16;

/// Sizes and kind of an attention layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttnDims {
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (divides `heads`).
    pub kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// Tokens attend only to themselves and earlier tokens.
    pub causal: bool,
    /// Factor on the scores (usually `1 / sqrt(head_dim)`).
    pub scale: f32,
}

impl AttnDims {
    fn q_width(&self) -> usize {
        self.heads * self.head_dim
    }
    fn kv_width(&self) -> usize {
        self.kv_heads * self.head_dim
    }
    fn group(&self) -> usize {
        self.heads / self.kv_heads
    }
}

/// Start of each sequence's probabilities in the `probs` buffer (`heads * n^2` values per
/// sequence of `n` tokens), and the total as the last entry.
pub fn prob_offsets(offsets: &[usize], heads: usize) -> Vec<usize> {
    let mut out = Vec::with_capacity(offsets.len());
    let mut total = 0;
    out.push(0);
    for w in offsets.windows(2) {
        let n = w[1] - w[0];
        total += heads * n * n;
        out.push(total);
    }
    out
}

/// Splits `data` (rows of `width`) into the row ranges of the sequences.
fn split_rows<'a>(mut data: &'a mut [f32], offsets: &[usize], width: usize) -> Vec<&'a mut [f32]> {
    let mut parts = Vec::with_capacity(offsets.len().saturating_sub(1));
    for w in offsets.windows(2) {
        let (head, rest) = data.split_at_mut((w[1] - w[0]) * width);
        parts.push(head);
        data = rest;
    }
    parts
}

fn split_probs<'a>(mut data: &'a mut [f32], prob_offsets: &[usize]) -> Vec<&'a mut [f32]> {
    let mut parts = Vec::with_capacity(prob_offsets.len().saturating_sub(1));
    for w in prob_offsets.windows(2) {
        let (head, rest) = data.split_at_mut(w[1] - w[0]);
        parts.push(head);
        data = rest;
    }
    parts
}

/// Forward pass; `probs` must hold `prob_offsets(offsets, heads).last()` values and receives the
/// softmax probabilities (before dropout); `ctx` receives `O` (`(rows, heads * head_dim)`).
/// `dropout` drops probabilities (element index = position in `probs`).
#[allow(clippy::too_many_arguments)]
pub fn forward(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    offsets: &[usize],
    dims: &AttnDims,
    dropout: Option<&Dropout>,
    probs: &mut [f32],
    ctx: &mut [f32],
) {
    let rows = *offsets.last().unwrap_or(&0);
    let (qw, kw) = (dims.q_width(), dims.kv_width());
    assert!(q.len() == rows * qw && k.len() == rows * kw && v.len() == rows * kw);
    assert!(ctx.len() == rows * qw && dims.heads.is_multiple_of(dims.kv_heads));
    let poff = prob_offsets(offsets, dims.heads);
    assert_eq!(probs.len(), *poff.last().unwrap_or(&0));
    let ctx_parts = split_rows(ctx, offsets, qw);
    let prob_parts = split_probs(probs, &poff);
    ctx_parts
        .into_par_iter()
        .zip(prob_parts)
        .enumerate()
        .for_each(|(s, (ctx, probs))| {
            let (a, b) = (offsets[s], offsets[s + 1]);
            let seq = Seq {
                q: &q[a * qw..b * qw],
                k: &k[a * kw..b * kw],
                v: &v[a * kw..b * kw],
                n: b - a,
                prob_base: poff[s],
            };
            seq_forward(&seq, dims, dropout, probs, ctx);
        });
}

/// Backward pass: from `dctx` and the forward's `q`, `k`, `v`, `probs`, writes `dq`, `dk`, `dv`
/// (overwritten, same shapes as `q`, `k`, `v`).
#[allow(clippy::too_many_arguments)]
pub fn backward(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    probs: &[f32],
    dctx: &[f32],
    offsets: &[usize],
    dims: &AttnDims,
    dropout: Option<&Dropout>,
    dq: &mut [f32],
    dk: &mut [f32],
    dv: &mut [f32],
) {
    let (qw, kw) = (dims.q_width(), dims.kv_width());
    let poff = prob_offsets(offsets, dims.heads);
    let dq_parts = split_rows(dq, offsets, qw);
    let dk_parts = split_rows(dk, offsets, kw);
    let dv_parts = split_rows(dv, offsets, kw);
    dq_parts
        .into_par_iter()
        .zip(dk_parts)
        .zip(dv_parts)
        .enumerate()
        .for_each(|(s, ((dq, dk), dv))| {
            let (a, b) = (offsets[s], offsets[s + 1]);
            let seq = Seq {
                q: &q[a * qw..b * qw],
                k: &k[a * kw..b * kw],
                v: &v[a * kw..b * kw],
                n: b - a,
                prob_base: poff[s],
            };
            let grads = SeqGrads {
                probs: &probs[poff[s]..poff[s + 1]],
                dctx: &dctx[a * qw..b * qw],
                dq,
                dk,
                dv,
            };
            seq_backward(&seq, dims, dropout, grads);
        });
}

struct Seq<'a> {
    q: &'a [f32],
    k: &'a [f32],
    v: &'a [f32],
    n: usize,
    prob_base: usize,
}

struct SeqGrads<'a> {
    probs: &'a [f32],
    dctx: &'a [f32],
    dq: &'a mut [f32],
    dk: &'a mut [f32],
    dv: &'a mut [f32],
}

fn seq_forward(
    seq: &Seq<'_>,
    dims: &AttnDims,
    dropout: Option<&Dropout>,
    probs: &mut [f32],
    ctx: &mut [f32],
) {
    let n = seq.n;
    if n == 0 {
        return;
    }
    let (qw, kw, hd) = (dims.q_width(), dims.kv_width(), dims.head_dim);
    let mut dropped = match dropout {
        Some(_) => vec![0.0f32; n * n],
        None => Vec::new(),
    };
    for h in 0..dims.heads {
        let g = h / dims.group();
        let p = &mut probs[h * n * n..(h + 1) * n * n];
        // Scores S = Q K^T, by blocks of query rows; a causal block needs the keys up to its last
        // row only (the rest of its rows is masked below). Each score is one fixed-order dot
        // product of a query and a key, whatever the block and the sequence length.
        for rows in query_blocks(n) {
            let keys = if dims.causal { rows.end } else { n };
            ordered::matmul(
                MatMut::strided(&mut p[rows.start * n..], rows.len(), keys, n),
                MatRef::strided(&seq.q[rows.start * qw + h * hd..], rows.len(), hd, qw),
                MatRef::strided(&seq.k[g * hd..], keys, hd, kw).t(),
                false,
                Threads::Serial,
            );
        }
        for i in 0..n {
            let limit = if dims.causal { i + 1 } else { n };
            softmax_row(&mut p[i * n..(i + 1) * n], limit, dims.scale);
        }
        let used: &[f32] = match dropout {
            Some(d) => {
                let base = seq.prob_base + h * n * n;
                for (idx, (o, &pv)) in dropped.iter_mut().zip(p.iter()).enumerate() {
                    *o = pv * d.factor(base + idx);
                }
                &dropped
            }
            None => p,
        };
        // O = P V: one fused chain per output over the keys in order; a causal row's chain runs
        // on over keys of probability exactly 0 up to its block's end, which leaves it bitwise
        // what it is at its own position (see `ordered`).
        for rows in query_blocks(n) {
            let keys = if dims.causal { rows.end } else { n };
            ordered::matmul(
                MatMut::strided(&mut ctx[rows.start * qw + h * hd..], rows.len(), hd, qw),
                MatRef::strided(&used[rows.start * n..], rows.len(), keys, n),
                MatRef::strided(&seq.v[g * hd..], keys, hd, kw),
                false,
                Threads::Serial,
            );
        }
    }
}

/// Blocks of query rows of a sequence of `n` tokens.
fn query_blocks(n: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    const BLOCK: usize = 48;
    (0..n.div_ceil(BLOCK)).map(move |b| b * BLOCK..((b + 1) * BLOCK).min(n))
}

fn seq_backward(seq: &Seq<'_>, dims: &AttnDims, dropout: Option<&Dropout>, grads: SeqGrads<'_>) {
    let n = seq.n;
    if n == 0 {
        return;
    }
    let SeqGrads {
        probs,
        dctx,
        dq,
        dk,
        dv,
    } = grads;
    let (qw, kw, hd) = (dims.q_width(), dims.kv_width(), dims.head_dim);
    dk.fill(0.0);
    dv.fill(0.0);
    let mut dp = vec![0.0f32; n * n];
    let mut dropped = match dropout {
        Some(_) => vec![0.0f32; n * n],
        None => Vec::new(),
    };
    for h in 0..dims.heads {
        let g = h / dims.group();
        let p = &probs[h * n * n..(h + 1) * n * n];
        let base = seq.prob_base + h * n * n;
        let used: &[f32] = match dropout {
            Some(d) => {
                for (idx, (o, &pv)) in dropped.iter_mut().zip(p).enumerate() {
                    *o = pv * d.factor(base + idx);
                }
                &dropped
            }
            None => p,
        };
        // dP' = dO V^T and dV += P'^T dO.
        if n <= SMALL {
            for i in 0..n {
                let doi = &dctx[i * qw + h * hd..i * qw + (h + 1) * hd];
                let limit = if dims.causal { i + 1 } else { n };
                for j in 0..limit {
                    let vj = &seq.v[j * kw + g * hd..j * kw + (g + 1) * hd];
                    dp[i * n + j] = dot(doi, vj);
                    axpy(
                        used[i * n + j],
                        doi,
                        &mut dv[j * kw + g * hd..j * kw + (g + 1) * hd],
                    );
                }
            }
        } else {
            matmul(
                MatMut::new(&mut dp, n, n),
                MatRef::strided(&dctx[h * hd..], n, hd, qw),
                MatRef::strided(&seq.v[g * hd..], n, hd, kw).t(),
                false,
                Threads::Serial,
            );
            matmul(
                MatMut::strided(&mut dv[g * hd..], n, hd, kw),
                MatRef::new(used, n, n).t(),
                MatRef::strided(&dctx[h * hd..], n, hd, qw),
                true,
                Threads::Serial,
            );
        }
        // dS = P (dP - rowsum(P dP)) scale, with dP = dropout'(dP').
        for i in 0..n {
            let limit = if dims.causal { i + 1 } else { n };
            let row = &mut dp[i * n..(i + 1) * n];
            if let Some(d) = dropout {
                for (j, v) in row[..limit].iter_mut().enumerate() {
                    *v *= d.factor(base + i * n + j);
                }
            }
            let pr = &p[i * n..(i + 1) * n];
            let total: f32 = row[..limit].iter().zip(pr).map(|(a, b)| a * b).sum();
            for (v, &pv) in row[..limit].iter_mut().zip(pr) {
                *v = pv * (*v - total) * dims.scale;
            }
            row[limit..].fill(0.0);
        }
        // dQ = dS K and dK += dS^T Q.
        if n <= SMALL {
            for i in 0..n {
                let out = &mut dq[i * qw + h * hd..i * qw + (h + 1) * hd];
                out.fill(0.0);
                let qi = &seq.q[i * qw + h * hd..i * qw + (h + 1) * hd];
                let limit = if dims.causal { i + 1 } else { n };
                for j in 0..limit {
                    let ds = dp[i * n + j];
                    axpy(ds, &seq.k[j * kw + g * hd..j * kw + (g + 1) * hd], out);
                    axpy(ds, qi, &mut dk[j * kw + g * hd..j * kw + (g + 1) * hd]);
                }
            }
        } else {
            matmul(
                MatMut::strided(&mut dq[h * hd..], n, hd, qw),
                MatRef::new(&dp, n, n),
                MatRef::strided(&seq.k[g * hd..], n, hd, kw),
                false,
                Threads::Serial,
            );
            matmul(
                MatMut::strided(&mut dk[g * hd..], n, hd, kw),
                MatRef::new(&dp, n, n).t(),
                MatRef::strided(&seq.q[h * hd..], n, hd, qw),
                true,
                Threads::Serial,
            );
        }
    }
}

/// `row[..limit] = softmax(scale * row[..limit])`, `row[limit..] = 0`.
fn softmax_row(row: &mut [f32], limit: usize, scale: f32) {
    softmax_row_dispatch(row, limit, scale);
}

multiversion! {
    fn softmax_row_dispatch(row: &mut [f32], limit: usize, scale: f32) => softmax_row_generic
}

#[inline(always)]
fn softmax_row_generic<M: MulAdd>(row: &mut [f32], limit: usize, scale: f32) {
    let (live, masked) = row.split_at_mut(limit);
    for v in live.iter_mut() {
        *v *= scale;
    }
    let top = simd::max(live);
    for v in live.iter_mut() {
        *v = simd::exp_nonpositive::<M>(*v - top);
    }
    let inv = 1.0 / simd::sum(live);
    for v in live.iter_mut() {
        *v *= inv;
    }
    masked.fill(0.0);
}

#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = a.len() / 8 * 8;
    for c in (0..chunks).step_by(8) {
        for l in 0..8 {
            acc[l] += a[c + l] * b[c + l];
        }
    }
    let mut total = acc.iter().sum::<f32>();
    for i in chunks..a.len() {
        total += a[i] * b[i];
    }
    total
}

#[inline(always)]
fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o += alpha * v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::dropout::derive_seed;

    /// Attention in f64 by the definition, for one sequence.
    fn naive(
        q: &[f32],
        k: &[f32],
        v: &[f32],
        n: usize,
        dims: &AttnDims,
        drop: &dyn Fn(usize) -> f64,
    ) -> Vec<f64> {
        let (qw, kw, hd) = (dims.q_width(), dims.kv_width(), dims.head_dim);
        let mut out = vec![0.0; n * qw];
        for h in 0..dims.heads {
            let g = h / dims.group();
            for i in 0..n {
                let limit = if dims.causal { i + 1 } else { n };
                let s: Vec<f64> = (0..limit)
                    .map(|j| {
                        (0..hd)
                            .map(|d| {
                                f64::from(q[i * qw + h * hd + d])
                                    * f64::from(k[j * kw + g * hd + d])
                            })
                            .sum::<f64>()
                            * f64::from(dims.scale)
                    })
                    .collect();
                let m = s.iter().cloned().fold(f64::MIN, f64::max);
                let z: f64 = s.iter().map(|x| (x - m).exp()).sum();
                for j in 0..limit {
                    let p = (s[j] - m).exp() / z * drop(h * n * n + i * n + j);
                    for d in 0..hd {
                        out[i * qw + h * hd + d] += p * f64::from(v[j * kw + g * hd + d]);
                    }
                }
            }
        }
        out
    }

    fn random(n: usize, seed: u64) -> Vec<f32> {
        (0..n)
            .map(|i| {
                ((crate::kernels::dropout::mix64(seed * 1_000_003 + i as u64) >> 40) as f32
                    / 16_777_216.0)
                    * 2.0
                    - 1.0
            })
            .collect()
    }

    /// Forward against the definition, and backward against central finite differences of
    /// `sum(ctx * w)` for a fixed random `w`, on both kernel paths, with and without causality,
    /// grouped-query heads and dropout.
    #[test]
    fn forward_and_backward_match_the_definition() {
        for &(n, causal, heads, kv, drop_p) in &[
            (4usize, true, 4usize, 4usize, 0.0f32),
            (5, false, 2, 1, 0.2),
            (23, true, 4, 2, 0.0),
            (19, false, 3, 3, 0.3),
        ] {
            let hd = 8;
            let dims = AttnDims {
                heads,
                kv_heads: kv,
                head_dim: hd,
                causal,
                scale: 1.0 / (hd as f32).sqrt(),
            };
            let (qw, kw) = (heads * hd, kv * hd);
            let offsets = [0, n];
            let q = random(n * qw, 1);
            let k = random(n * kw, 2);
            let v = random(n * kw, 3);
            let w = random(n * qw, 4);
            let site = Dropout::new(derive_seed(9, &[1]), drop_p);
            let drop = |i: usize| site.map_or(1.0, |d| f64::from(d.factor(i)));
            let mut probs = vec![0.0; heads * n * n];
            let mut ctx = vec![0.0; n * qw];
            forward(
                &q,
                &k,
                &v,
                &offsets,
                &dims,
                site.as_ref(),
                &mut probs,
                &mut ctx,
            );
            let want = naive(&q, &k, &v, n, &dims, &drop);
            for (a, b) in ctx.iter().zip(&want) {
                assert!((f64::from(*a) - b).abs() < 1e-5, "n {n}: {a} vs {b}");
            }
            let (mut dq, mut dk, mut dv) =
                (vec![0.0; q.len()], vec![0.0; k.len()], vec![0.0; v.len()]);
            backward(
                &q,
                &k,
                &v,
                &probs,
                &w,
                &offsets,
                &dims,
                site.as_ref(),
                &mut dq,
                &mut dk,
                &mut dv,
            );
            let objective = |q: &[f32], k: &[f32], v: &[f32]| -> f64 {
                naive(q, k, v, n, &dims, &drop)
                    .iter()
                    .zip(&w)
                    .map(|(a, &b)| a * f64::from(b))
                    .sum()
            };
            let eps = 1e-3f32;
            for (which, grad) in [(0, &dq), (1, &dk), (2, &dv)] {
                for idx in (0..grad.len()).step_by(7) {
                    let (mut qp, mut kp, mut vp) = (q.clone(), k.clone(), v.clone());
                    let (mut qm, mut km, mut vm) = (q.clone(), k.clone(), v.clone());
                    match which {
                        0 => {
                            qp[idx] += eps;
                            qm[idx] -= eps;
                        }
                        1 => {
                            kp[idx] += eps;
                            km[idx] -= eps;
                        }
                        _ => {
                            vp[idx] += eps;
                            vm[idx] -= eps;
                        }
                    }
                    let fd = (objective(&qp, &kp, &vp) - objective(&qm, &km, &vm))
                        / (2.0 * f64::from(eps));
                    assert!(
                        (f64::from(grad[idx]) - fd).abs() < 2e-3,
                        "n {n} grad {which}[{idx}]: {} vs {fd}",
                        grad[idx]
                    );
                }
            }
        }
    }

    #[test]
    fn packed_sequences_equal_separate_runs() {
        let dims = AttnDims {
            heads: 2,
            kv_heads: 2,
            head_dim: 4,
            causal: false,
            scale: 0.5,
        };
        let lens = [3usize, 20, 1];
        let offsets = [0, 3, 23, 24];
        let rows = 24;
        let q = random(rows * 8, 5);
        let k = random(rows * 8, 6);
        let v = random(rows * 8, 7);
        let mut probs = vec![0.0; *prob_offsets(&offsets, 2).last().unwrap()];
        let mut ctx = vec![0.0; rows * 8];
        forward(&q, &k, &v, &offsets, &dims, None, &mut probs, &mut ctx);
        let mut start = 0;
        for n in lens {
            let r = start..start + n;
            let mut p1 = vec![0.0; 2 * n * n];
            let mut c1 = vec![0.0; n * 8];
            forward(
                &q[r.start * 8..r.end * 8],
                &k[r.start * 8..r.end * 8],
                &v[r.start * 8..r.end * 8],
                &[0, n],
                &dims,
                None,
                &mut p1,
                &mut c1,
            );
            assert_eq!(&ctx[r.start * 8..r.end * 8], &c1[..]);
            start += n;
        }
    }
}
