//! Scaled dot-product attention straight from a packed QKV projection, with a key-padding mask.
//!
//! Tasks are blocks of query rows of one sequence. For each head: gather that head's keys
//! (transposed) and values at the real key positions, then for each query row: scores
//! `q . k * scale`, softmax, weighted sum of values. For the short sequences of the paper's corpora
//! this replaces, per block, two batched matmuls of `batch * heads` tiny products, the split-heads
//! copies, the bias add and the softmax pass.
//!
//! Semantics are those of `transformers`' eager attention with an additive mask of `finfo.min`:
//! padded keys get probability exactly 0 there (`exp` underflows), so leaving them out is the same
//! computation; a sequence with no real key at all gets equal scores on every key there, so every
//! key is weighted equally here too.

use rayon::prelude::*;

use super::simd::{self, multiversion, Lanes};

/// Sizes of one attention call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AttentionDims {
    /// Sequences in the batch.
    pub batch: usize,
    /// Positions per sequence (padded length).
    pub seq: usize,
    /// Attention heads.
    pub heads: usize,
    /// Width of one head.
    pub head_dim: usize,
}

impl AttentionDims {
    fn hidden(&self) -> usize {
        self.heads * self.head_dim
    }
}

/// The read-only inputs shared by the tasks of one sequence.
struct Sequence<'a> {
    /// The sequence's rows of the packed projection, `seq x 3 hidden` (`[q | k | v]`).
    qkv: &'a [f32],
    /// Bias of the packed projection, `3 hidden`.
    bias: &'a [f32],
    /// Which key positions are real, `seq`.
    keep: &'a [bool],
    dims: AttentionDims,
    scale: f32,
}

/// Per-thread buffers, reused across tasks.
#[derive(Default)]
struct Scratch {
    keys: Vec<usize>,
    /// Keys plus bias, transposed: `hidden x padded keys` (head `i` is rows `i * head_dim..`),
    /// zero beyond the real keys.
    keys_t: Vec<f32>,
    /// Values plus bias, per head: `heads x keys x padded head_dim`, zero beyond `head_dim`.
    values: Vec<f32>,
    /// Queries plus bias of the task's rows: `rows x hidden`.
    queries: Vec<f32>,
    /// Scores, then softmax numerators, of up to [`ROWS`] query rows: `ROWS x padded keys`.
    scores: Vec<f32>,
}

/// Query rows handled together (their accumulators stay in registers).
const ROWS: usize = 4;
/// Keys per block of scores (two registers), and the padding granularity of the key count.
const KEYS: usize = 16;
/// Value columns per block of the weighted sum (two registers), and the padding granularity of
/// `head_dim`.
const COLS: usize = 16;

/// Writes into `out` `(batch, seq, hidden)` the context vectors, heads merged, of `qkv` `(batch,
/// seq, 3 hidden)` plus `bias`, with `keep` `(batch, seq)` marking real keys. Rows of padded
/// queries are computed too (they attend to the real keys), as `transformers` does.
pub(crate) fn attention(
    qkv: &[f32],
    bias: &[f32],
    keep: &[bool],
    dims: AttentionDims,
    scale: f32,
    out: &mut [f32],
) {
    let (b, t, h) = (dims.batch, dims.seq, dims.hidden());
    assert!(
        qkv.len() == b * t * 3 * h
            && bias.len() == 3 * h
            && keep.len() == b * t
            && out.len() == b * t * h,
        "attention: slice lengths do not match {dims:?}"
    );
    if b == 0 || t == 0 || h == 0 {
        return;
    }
    // Tasks: blocks of query rows of one sequence (all heads), enough of them to keep every thread
    // busy when the batch is small. Each row is computed the same way whatever the blocking, so the
    // result does not depend on the thread count.
    let blocks = (2 * rayon::current_num_threads())
        .div_ceil(b)
        .clamp(1, t.div_ceil(8));
    let rows_per_block = t.div_ceil(blocks);
    out.par_chunks_mut(t * h)
        .enumerate()
        .for_each(|(seq, seq_out)| {
            let input = Sequence {
                qkv: &qkv[seq * t * 3 * h..(seq + 1) * t * 3 * h],
                bias,
                keep: &keep[seq * t..(seq + 1) * t],
                dims,
                scale,
            };
            seq_out
                .par_chunks_mut(rows_per_block * h)
                .enumerate()
                .for_each_init(Scratch::default, |scratch, (block, rows)| {
                    attend_rows(&input, block * rows_per_block, scratch, rows);
                });
        });
}

multiversion! {
    fn attend_rows(input: &Sequence<'_>, first_row: usize, scratch: &mut Scratch, out: &mut [f32]) => attend_rows_generic
}

/// Context rows `first_row..` (as many as `out` holds) of one sequence, every head.
///
/// First one pass over the sequence's rows in memory order gathers keys, values and the task's
/// queries (bias added) into head-friendly layouts; reading the packed projection head by head
/// instead touches each cache line of it cold and made this kernel memory-latency bound. Then per
/// head, blocks of [`ROWS`] query rows: scores, softmax, weighted sum of values, each product with
/// its accumulators in registers. The softmax normalisation is applied to the weighted sum
/// (`sum_j e_j v_j / sum_j e_j` instead of `sum_j (e_j / sum_j e_j) v_j`: the same up to rounding).
#[inline(always)]
fn attend_rows_generic<M: Lanes>(
    input: &Sequence<'_>,
    first_row: usize,
    s: &mut Scratch,
    out: &mut [f32],
) {
    let Sequence {
        qkv,
        bias,
        keep,
        dims,
        scale,
    } = *input;
    let (t, d, h) = (dims.seq, dims.head_dim, dims.hidden());
    let width = 3 * h;
    let rows = out.len() / h;

    s.keys.clear();
    s.keys.extend((0..t).filter(|&j| keep[j]));
    let no_real_key = s.keys.is_empty();
    if no_real_key {
        s.keys.extend(0..t);
    }
    let n = s.keys.len();
    let padded = n.next_multiple_of(KEYS);
    let d_padded = d.next_multiple_of(COLS);

    s.keys_t.clear();
    s.keys_t.resize(h * padded, 0.0);
    s.values.clear();
    s.values.resize(dims.heads * n * d_padded, 0.0);
    for (jj, &j) in s.keys.iter().enumerate() {
        let row = &qkv[j * width..(j + 1) * width];
        for (col, (&k, &kb)) in row[h..2 * h].iter().zip(&bias[h..2 * h]).enumerate() {
            s.keys_t[col * padded + jj] = k + kb;
        }
        let values = row[2 * h..]
            .chunks_exact(d)
            .zip(bias[2 * h..].chunks_exact(d));
        for (head, (v, vb)) in values.enumerate() {
            let at = (head * n + jj) * d_padded;
            for ((dst, &v), &vb) in s.values[at..at + d].iter_mut().zip(v).zip(vb) {
                *dst = v + vb;
            }
        }
    }
    s.queries.resize(rows * h, 0.0);
    for (r, dst) in s.queries.chunks_exact_mut(h).enumerate() {
        let row = &qkv[(first_row + r) * width..(first_row + r) * width + h];
        for ((q, &x), &b) in dst.iter_mut().zip(row).zip(&bias[..h]) {
            *q = x + b;
        }
    }

    s.scores.resize(ROWS * padded, 0.0);
    let scale = if no_real_key { 0.0 } else { scale };
    for head in 0..dims.heads {
        let keys_t = &s.keys_t[head * d * padded..(head + 1) * d * padded];
        let values = &s.values[head * n * d_padded..(head + 1) * n * d_padded];
        let block = HeadBlock {
            keys_t,
            values,
            n,
            padded,
            d,
            d_padded,
            h,
            scale,
        };
        let mut r0 = 0;
        while r0 + ROWS <= rows {
            rows_of_head::<M, ROWS>(&block, &s.queries, &mut s.scores, out, r0, head);
            r0 += ROWS;
        }
        while r0 < rows {
            rows_of_head::<M, 1>(&block, &s.queries, &mut s.scores, out, r0, head);
            r0 += 1;
        }
    }
}

/// One head's packed keys and values, and the sizes the row blocks need.
struct HeadBlock<'a> {
    keys_t: &'a [f32],
    values: &'a [f32],
    n: usize,
    padded: usize,
    d: usize,
    d_padded: usize,
    h: usize,
    /// 0 when the sequence has no real key (equal scores on every key).
    scale: f32,
}

/// Context of `R` query rows `r0..r0 + R` for one head, written into `out` (rows of `h`).
#[inline(always)]
fn rows_of_head<M: Lanes, const R: usize>(
    hb: &HeadBlock<'_>,
    queries: &[f32],
    scores: &mut [f32],
    out: &mut [f32],
    r0: usize,
    head: usize,
) {
    let HeadBlock {
        keys_t,
        values,
        n,
        padded,
        d,
        d_padded,
        h,
        scale,
    } = *hb;
    // Scores: R rows x 16 keys per block (two registers per row), accumulated over the head's
    // columns.
    for jb in (0..padded).step_by(KEYS) {
        let mut acc = [[M::splat(0.0); 2]; R];
        for c in 0..d {
            let at = c * padded + jb;
            let (k0, k1) = (M::load(&keys_t[at..]), M::load(&keys_t[at + 8..]));
            for (r, acc) in acc.iter_mut().enumerate() {
                let q = M::splat(queries[(r0 + r) * h + head * d + c]);
                acc[0] = M::mul_add(q, k0, acc[0]);
                acc[1] = M::mul_add(q, k1, acc[1]);
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            M::store(acc[0], &mut scores[r * padded + jb..]);
            M::store(acc[1], &mut scores[r * padded + jb + 8..]);
        }
    }
    // Softmax numerators per row over the real keys; the division by their sum is applied to the
    // weighted sum below (`head_dim` divisions per row instead of one per key).
    let mut totals = [0.0f32; R];
    for (row, total) in scores.chunks_exact_mut(padded).zip(totals.iter_mut()) {
        let row = &mut row[..n];
        for sc in row.iter_mut() {
            *sc *= scale;
        }
        let top = simd::max(row);
        for sc in row.iter_mut() {
            *sc = simd::exp_nonpositive::<M>(*sc - top);
        }
        *total = simd::sum(row);
    }
    // Weighted sum of values: R rows x 16 columns per block (two registers per row).
    for cb in (0..d_padded).step_by(COLS) {
        let mut acc = [[M::splat(0.0); 2]; R];
        for jj in 0..n {
            let at = jj * d_padded + cb;
            let (v0, v1) = (M::load(&values[at..]), M::load(&values[at + 8..]));
            for (r, acc) in acc.iter_mut().enumerate() {
                let p = M::splat(scores[r * padded + jj]);
                acc[0] = M::mul_add(p, v0, acc[0]);
                acc[1] = M::mul_add(p, v1, acc[1]);
            }
        }
        let mut block = [0.0f32; COLS];
        let cols = COLS.min(d - cb);
        for (r, (acc, &total)) in acc.iter().zip(&totals).enumerate() {
            M::store(acc[0], &mut block[..8]);
            M::store(acc[1], &mut block[8..]);
            let at = (r0 + r) * h + head * d + cb;
            for (o, &x) in out[at..at + cols].iter_mut().zip(&block[..cols]) {
                *o = x / total;
            }
        }
    }
}
