//! Matrix products of the forward pass whose every output element is summed in one fixed order,
//! a function of the reduction length `k` only.
//!
//! Why not [`super::gemm`]: the `gemm` crate picks its kernel and its depth blocking from the
//! whole shape (a dot-product kernel when `m n <= 256`, matrix-vector kernels for one row, depth
//! blocks of `min(k, 512)` below 64 rows and of `k / ceil(k / 512)` above), so the same row of `x`
//! times the same weight gave different last bits in a batch of 10 rows and in one of 100 (issue
//! 20: copies of a shared prefix then survive exact deduplication and collapse TwoNN). Here each
//! output element is computed by the same instructions whatever the shape around it:
//!
//! - [`Form::Dot`] (`b` is the transpose of a row-major matrix, as `x W^T` with `W (out, in)` and
//!   `Q K^T`): `c_ij = dot(a_i, b_j)` over eight lanes, lane `l` summing the products
//!   `l, l + 8, ...` with fused multiply-adds in increasing order (a last partial chunk zero-padded),
//!   then `((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))`.
//! - [`Form::Axpy`] (`b` row-major, as `x W` with GPT-2's `(in, out)` weights and `P V`):
//!   `c_ij = fma(a_i,k-1, b_k-1,j, ... fma(a_i0, b_0j, 0))`, one fused chain in increasing `k`.
//!
//! Tiles at the edges of the output repeat a valid row or column (the result is discarded) instead
//! of running other code, and the work is split over rows and columns only, never over `k`, so the
//! result is bitwise independent of `m`, `n`, the place of a row and the thread count. Appending
//! zero products to a chain leaves it bitwise unchanged (it starts at `+0`, so it is never `-0`):
//! a causal query may run over masked keys whose probability is exactly 0.
//!
//! Which form a product uses depends only on the strides of `b` (the call site), never on sizes.
//! The instruction set is detected once per process: with AVX-512F (kernels compiled by Rust >=
//! 1.89, see `build.rs`) the dot form runs over sixteen lanes, lanes `l` and `l + 8` added before
//! the tree above; without AVX2 + FMA (or off x86-64) the same orders run as scalar code with
//! separate multiply and add. A different machine may differ in the last bits, one machine never
//! does.
//!
//! Speed against the `gemm` crate's packed AVX-512 kernels, evaluation forward with every hidden
//! state captured (`examples/forward_speed.rs`, AMD EPYC Zen 4, 2 cores shared with other jobs,
//! best of 5, three alternating runs): MiniLM 16 x 64 tokens on one thread 249-288 ms before,
//! 281-337 ms now (about 1.13x); 32 x 64 on two threads 496-514 ms before, 537-594 ms now (about
//! 1.1x); SmolLM2-135M (f32 from the GGUF) 16 x 64 on two threads about 1.0-1.08x. The cost is the
//! full-depth horizontal reduction of every output (about 15 % of the multiply-adds at depth 384,
//! less at 576 and 1536) and unpacked operands; the backward keeps `gemm`.

use rayon::prelude::*;

use super::gemm::{MatMut, MatRef, Threads};

/// Rows per parallel task.
const ROW_BLOCK: usize = 48;
/// Columns per parallel task in the dot form (rows of `b^T`; a multiple of both kernels' tiles).
const COL_BLOCK: usize = 48;
/// Columns of a packed panel in the axpy form (two AVX2 registers).
const PANEL: usize = 16;
/// Products below this many multiply-adds run on the calling thread.
const PARALLEL_WORK: usize = 1 << 17;

/// The instruction set the kernels run with, detected once per process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Isa {
    /// AVX-512F (dot form over sixteen lanes) with AVX2 + FMA (axpy form).
    Avx512,
    /// AVX2 + FMA.
    Avx2,
    /// Scalar code, separate multiply and add.
    Portable,
}

impl Isa {
    fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            static DETECTED: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
            *DETECTED.get_or_init(|| {
                if !lid_embed::kernels::simd::has_avx2_fma() {
                    Isa::Portable
                } else if cfg!(lid_avx512) && std::arch::is_x86_feature_detected!("avx512f") {
                    Isa::Avx512
                } else {
                    Isa::Avx2
                }
            })
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            Isa::Portable
        }
    }
}

/// The summation order of a product (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// Eight-lane dot products of rows of `a` and rows of `b^T`.
    Dot,
    /// One fused multiply-add chain per element over rows of `b`.
    Axpy,
}

impl Form {
    /// The form for `b`: axpy when its rows are contiguous, dot when its columns are.
    ///
    /// # Panics
    /// When neither is (no forward product has such a `b`).
    pub fn of(b: &MatRef<'_>) -> Self {
        if b.col_stride() == 1 {
            Form::Axpy
        } else {
            assert!(
                b.row_stride() == 1,
                "ordered products need rows or columns of b contiguous"
            );
            Form::Dot
        }
    }
}

/// `out = a b` (or `out += a b` with `accumulate`), every element in the fixed order of
/// [`Form::of`]`(b)`. `a` must have contiguous rows.
///
/// # Panics
/// On inconsistent shapes or strides (internal bugs).
pub fn matmul(out: MatMut<'_>, a: MatRef<'_>, b: MatRef<'_>, accumulate: bool, threads: Threads) {
    matmul_with(Isa::detect(), out, a, b, accumulate, threads);
}

fn matmul_with(
    isa: Isa,
    out: MatMut<'_>,
    a: MatRef<'_>,
    b: MatRef<'_>,
    accumulate: bool,
    threads: Threads,
) {
    assert!(
        a.cols() == b.rows() && out.rows() == a.rows() && out.cols() == b.cols(),
        "ordered matmul shapes: ({} x {}) * ({} x {}) -> ({} x {})",
        a.rows(),
        a.cols(),
        b.rows(),
        b.cols(),
        out.rows(),
        out.cols()
    );
    assert!(
        a.col_stride() == 1 || a.cols() <= 1,
        "ordered products read a by rows"
    );
    let (m, n, k) = (a.rows(), b.cols(), a.cols());
    if m == 0 || n == 0 {
        return;
    }
    let form = Form::of(&b);
    let row_stride = out.row_stride();
    let dst = Dst(out.into_data().as_mut_ptr());
    let col_block = match form {
        Form::Dot => COL_BLOCK,
        Form::Axpy => PANEL,
    };
    let (row_tiles, col_tiles) = (m.div_ceil(ROW_BLOCK), n.div_ceil(col_block));
    let run = |r: usize, c: usize| {
        let rows = r * ROW_BLOCK..((r + 1) * ROW_BLOCK).min(m);
        let cols = c * col_block..((c + 1) * col_block).min(n);
        let task = Task {
            a,
            b,
            dst,
            row_stride,
            rows,
            cols,
            k,
            accumulate,
        };
        match form {
            Form::Dot => task.dot(isa),
            Form::Axpy => task.axpy(isa),
        }
    };
    let parallel = threads == Threads::Pool
        && row_tiles * col_tiles > 1
        && m * n * k >= PARALLEL_WORK
        && rayon::current_num_threads() > 1;
    if parallel {
        (0..row_tiles * col_tiles)
            .into_par_iter()
            .for_each(|t| run(t / col_tiles, t % col_tiles));
    } else {
        for r in 0..row_tiles {
            for c in 0..col_tiles {
                run(r, c);
            }
        }
    }
}

/// The output's base pointer, shared by tasks that write disjoint tiles.
#[derive(Clone, Copy)]
struct Dst(*mut f32);
// SAFETY: tasks write disjoint (row, column) tiles of one output, which outlives them (the
// parallel loop borrows it), and nothing reads it meanwhile.
unsafe impl Send for Dst {}
// SAFETY: as above.
unsafe impl Sync for Dst {}

/// One tile of the output: `rows x cols`, the whole depth `k`.
struct Task<'a> {
    a: MatRef<'a>,
    b: MatRef<'a>,
    dst: Dst,
    row_stride: usize,
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
    k: usize,
    accumulate: bool,
}

impl Task<'_> {
    /// Writes `value` to output element `(i, j)` (added with `accumulate`).
    #[inline(always)]
    fn put(&self, i: usize, j: usize, value: f32) {
        // SAFETY: `(i, j)` lies in this task's tile, inside the output view whose constructor
        // checked its extent; tiles are disjoint (see `Dst`).
        unsafe {
            let p = self.dst.0.add(i * self.row_stride + j);
            *p = if self.accumulate { *p + value } else { value };
        }
    }

    /// Row `i` of `a` (`k` values).
    #[inline(always)]
    fn a_row(&self, i: usize) -> &[f32] {
        let s = self.a.row_stride();
        &self.a.data()[i * s..i * s + self.k]
    }

    /// Column `j` of `b` as a slice (dot form: `b`'s columns are contiguous).
    #[inline(always)]
    fn b_col(&self, j: usize) -> &[f32] {
        let s = self.b.col_stride();
        &self.b.data()[j * s..j * s + self.k]
    }

    fn dot(&self, isa: Isa) {
        #[cfg(target_arch = "x86_64")]
        match isa {
            // SAFETY: `Isa::detect` found AVX-512F, AVX2 and FMA on this CPU.
            #[cfg(lid_avx512)]
            Isa::Avx512 => return unsafe { avx512::dot(self) },
            // SAFETY: `Isa::Avx512` is detected only with AVX2 and FMA (and never without the
            // AVX-512 kernels compiled in).
            #[cfg(not(lid_avx512))]
            Isa::Avx512 => return unsafe { avx2::dot(self) },
            // SAFETY: `Isa::detect` found AVX2 and FMA on this CPU.
            Isa::Avx2 => return unsafe { avx2::dot(self) },
            Isa::Portable => {}
        }
        for i in self.rows.clone() {
            for j in self.cols.clone() {
                let v = portable_dot(self.a_row(i), self.b_col(j));
                self.put(i, j, v);
            }
        }
    }

    fn axpy(&self, isa: Isa) {
        let (k, width) = (self.k, self.cols.len());
        // Panel: row t holds b[t, cols] padded with zeros to PANEL columns (on the stack for the
        // short depths of attention over short sequences).
        const STACK_DEPTH: usize = 64;
        let mut stack = [0.0f32; STACK_DEPTH * PANEL];
        let mut heap = Vec::new();
        let panel: &mut [f32] = if k <= STACK_DEPTH {
            &mut stack[..k * PANEL]
        } else {
            heap.resize(k * PANEL, 0.0);
            &mut heap
        };
        let (bs, data) = (self.b.row_stride(), self.b.data());
        for (t, dst) in panel.chunks_exact_mut(PANEL).enumerate() {
            let start = t * bs + self.cols.start;
            dst[..width].copy_from_slice(&data[start..start + width]);
        }
        #[cfg(target_arch = "x86_64")]
        if isa != Isa::Portable {
            // SAFETY: `Isa::detect` found AVX2 and FMA on this CPU.
            unsafe { avx2::axpy(self, panel) };
            return;
        }
        for i in self.rows.clone() {
            let a = self.a_row(i);
            for c in 0..width {
                let mut acc = 0.0f32;
                for (t, &x) in a.iter().enumerate() {
                    acc += x * panel[t * PANEL + c];
                }
                self.put(i, self.cols.start + c, acc);
            }
        }
    }
}

/// The dot form without FMA: the same lanes and tree as the AVX2 kernel, separate roundings.
fn portable_dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    for (ca, cb) in a.chunks(8).zip(b.chunks(8)) {
        for l in 0..ca.len() {
            acc[l] += ca[l] * cb[l];
        }
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    //! The AVX2 + FMA kernels. Every function here requires both (callers check
    //! `has_avx2_fma`); loads stay inside slices whose lengths are checked by slicing.
    use std::arch::x86_64::*;

    use super::{Task, PANEL};

    /// The `len < 8` values at `p`, zero-padded to eight.
    #[inline(always)]
    unsafe fn load_partial(p: *const f32, len: usize) -> __m256 {
        let mut tmp = [0.0f32; 8];
        std::ptr::copy_nonoverlapping(p, tmp.as_mut_ptr(), len);
        _mm256_loadu_ps(tmp.as_ptr())
    }

    /// Sums of four accumulators, each `((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))`.
    #[inline(always)]
    pub(super) unsafe fn reduce4(v0: __m256, v1: __m256, v2: __m256, v3: __m256) -> [f32; 4] {
        // hadd(x, y) = [x0+x1, x2+x3, y0+y1, y2+y3 | x4+x5, x6+x7, y4+y5, y6+y7].
        let t0 = _mm256_hadd_ps(v0, v1);
        let t1 = _mm256_hadd_ps(v2, v3);
        let t2 = _mm256_hadd_ps(t0, t1);
        let s = _mm_add_ps(_mm256_castps256_ps128(t2), _mm256_extractf128_ps::<1>(t2));
        let mut out = [0.0f32; 4];
        _mm_storeu_ps(out.as_mut_ptr(), s);
        out
    }

    /// The dot form, tiles of 3 rows x 4 columns in twelve registers.
    ///
    /// # Safety
    /// AVX2 and FMA must be available.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot(task: &Task<'_>) {
        let k = task.k;
        let (full, tail) = (k / 8, k % 8);
        let (rows, cols) = (task.rows.clone(), task.cols.clone());
        let mut j0 = cols.start;
        while j0 < cols.end {
            // Columns past the end repeat the last one (computed, not written); the slices hold
            // `k` values each (checked by `b_col`), so every load below stays inside them.
            let col = |c: usize| task.b_col((j0 + c).min(cols.end - 1)).as_ptr();
            let (pb0, pb1, pb2, pb3) = (col(0), col(1), col(2), col(3));
            let mut i0 = rows.start;
            while i0 < rows.end {
                let row = |r: usize| task.a_row((i0 + r).min(rows.end - 1)).as_ptr();
                let (pa0, pa1, pa2) = (row(0), row(1), row(2));
                let z = _mm256_setzero_ps();
                let (mut c00, mut c01, mut c02, mut c03) = (z, z, z, z);
                let (mut c10, mut c11, mut c12, mut c13) = (z, z, z, z);
                let (mut c20, mut c21, mut c22, mut c23) = (z, z, z, z);
                macro_rules! step {
                    ($load:expr) => {{
                        let a0 = $load(pa0);
                        let a1 = $load(pa1);
                        let a2 = $load(pa2);
                        let b = $load(pb0);
                        c00 = _mm256_fmadd_ps(a0, b, c00);
                        c10 = _mm256_fmadd_ps(a1, b, c10);
                        c20 = _mm256_fmadd_ps(a2, b, c20);
                        let b = $load(pb1);
                        c01 = _mm256_fmadd_ps(a0, b, c01);
                        c11 = _mm256_fmadd_ps(a1, b, c11);
                        c21 = _mm256_fmadd_ps(a2, b, c21);
                        let b = $load(pb2);
                        c02 = _mm256_fmadd_ps(a0, b, c02);
                        c12 = _mm256_fmadd_ps(a1, b, c12);
                        c22 = _mm256_fmadd_ps(a2, b, c22);
                        let b = $load(pb3);
                        c03 = _mm256_fmadd_ps(a0, b, c03);
                        c13 = _mm256_fmadd_ps(a1, b, c13);
                        c23 = _mm256_fmadd_ps(a2, b, c23);
                    }};
                }
                for ch in 0..full {
                    let o = ch * 8;
                    step!(|p: *const f32| _mm256_loadu_ps(p.add(o)));
                }
                if tail > 0 {
                    let o = full * 8;
                    step!(|p: *const f32| load_partial(p.add(o), tail));
                }
                let sums = [
                    reduce4(c00, c01, c02, c03),
                    reduce4(c10, c11, c12, c13),
                    reduce4(c20, c21, c22, c23),
                ];
                for (r, row_sums) in sums.iter().enumerate().take(rows.end - i0) {
                    for (c, &v) in row_sums.iter().enumerate().take(cols.end - j0) {
                        task.put(i0 + r, j0 + c, v);
                    }
                }
                i0 += 3;
            }
            j0 += 4;
        }
    }

    /// The axpy form, tiles of 6 rows x 16 columns in twelve registers.
    ///
    /// # Safety
    /// AVX2 and FMA must be available; `panel` holds `k * PANEL` values.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn axpy(task: &Task<'_>, panel: &[f32]) {
        let k = task.k;
        assert!(panel.len() >= k * PANEL);
        let rows = task.rows.clone();
        let width = task.cols.len();
        let pp = panel.as_ptr();
        let mut i0 = rows.start;
        while i0 < rows.end {
            // Rows past the end repeat the last one; each row slice holds `k` values.
            let row = |r: usize| task.a_row((i0 + r).min(rows.end - 1)).as_ptr();
            let (pa0, pa1, pa2, pa3, pa4, pa5) = (row(0), row(1), row(2), row(3), row(4), row(5));
            let z = _mm256_setzero_ps();
            let (mut l0, mut l1, mut l2, mut l3, mut l4, mut l5) = (z, z, z, z, z, z);
            let (mut h0, mut h1, mut h2, mut h3, mut h4, mut h5) = (z, z, z, z, z, z);
            for t in 0..k {
                let b0 = _mm256_loadu_ps(pp.add(t * PANEL));
                let b1 = _mm256_loadu_ps(pp.add(t * PANEL + 8));
                macro_rules! row {
                    ($pa:ident, $l:ident, $h:ident) => {{
                        let a = _mm256_broadcast_ss(&*$pa.add(t));
                        $l = _mm256_fmadd_ps(a, b0, $l);
                        $h = _mm256_fmadd_ps(a, b1, $h);
                    }};
                }
                row!(pa0, l0, h0);
                row!(pa1, l1, h1);
                row!(pa2, l2, h2);
                row!(pa3, l3, h3);
                row!(pa4, l4, h4);
                row!(pa5, l5, h5);
            }
            let tiles = [(l0, h0), (l1, h1), (l2, h2), (l3, h3), (l4, h4), (l5, h5)];
            for (r, &(lo, hi)) in tiles.iter().enumerate().take(rows.end - i0) {
                let mut vals = [0.0f32; PANEL];
                _mm256_storeu_ps(vals.as_mut_ptr(), lo);
                _mm256_storeu_ps(vals[8..].as_mut_ptr(), hi);
                for (c, &v) in vals[..width].iter().enumerate() {
                    task.put(i0 + r, task.cols.start + c, v);
                }
            }
            i0 += 6;
        }
    }
}

#[cfg(all(target_arch = "x86_64", lid_avx512))]
#[allow(clippy::incompatible_msrv)] // compiled only by Rust >= 1.89 (see build.rs)
mod avx512 {
    //! The dot form over sixteen lanes (AVX-512F), tiles of 4 rows x 6 columns in 24 registers.
    //! Lane `l` sums the products `l, l + 16, ...`; lanes `l` and `l + 8` are added, then the
    //! eight sums reduce as in the AVX2 kernel.
    use std::arch::x86_64::*;

    use super::avx2::reduce4;
    use super::Task;

    /// `v[l] + v[l + 8]` for `l < 8`.
    #[inline(always)]
    unsafe fn fold(v: __m512) -> __m256 {
        let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
        _mm256_add_ps(_mm512_castps512_ps256(v), hi)
    }

    /// # Safety
    /// AVX-512F, AVX2 and FMA must be available.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(super) unsafe fn dot(task: &Task<'_>) {
        let k = task.k;
        let (full, tail) = (k / 16, k % 16);
        let mask = ((1u32 << tail) - 1) as __mmask16;
        let (rows, cols) = (task.rows.clone(), task.cols.clone());
        let mut j0 = cols.start;
        while j0 < cols.end {
            // Columns and rows past the end repeat the last one (computed, not written); every
            // slice holds `k` values (checked by `b_col` and `a_row`), and the last partial chunk
            // is a masked load, so no load leaves them.
            let col = |c: usize| task.b_col((j0 + c).min(cols.end - 1)).as_ptr();
            let (pb0, pb1, pb2, pb3, pb4, pb5) = (col(0), col(1), col(2), col(3), col(4), col(5));
            let mut i0 = rows.start;
            while i0 < rows.end {
                let row = |r: usize| task.a_row((i0 + r).min(rows.end - 1)).as_ptr();
                let (pa0, pa1, pa2, pa3) = (row(0), row(1), row(2), row(3));
                let z = _mm512_setzero_ps();
                let (mut c00, mut c01, mut c02, mut c03, mut c04, mut c05) = (z, z, z, z, z, z);
                let (mut c10, mut c11, mut c12, mut c13, mut c14, mut c15) = (z, z, z, z, z, z);
                let (mut c20, mut c21, mut c22, mut c23, mut c24, mut c25) = (z, z, z, z, z, z);
                let (mut c30, mut c31, mut c32, mut c33, mut c34, mut c35) = (z, z, z, z, z, z);
                macro_rules! step {
                    ($load:expr) => {{
                        let a0 = $load(pa0);
                        let a1 = $load(pa1);
                        let a2 = $load(pa2);
                        let a3 = $load(pa3);
                        macro_rules! col {
                            ($pb:ident, $x0:ident, $x1:ident, $x2:ident, $x3:ident) => {{
                                let b = $load($pb);
                                $x0 = _mm512_fmadd_ps(a0, b, $x0);
                                $x1 = _mm512_fmadd_ps(a1, b, $x1);
                                $x2 = _mm512_fmadd_ps(a2, b, $x2);
                                $x3 = _mm512_fmadd_ps(a3, b, $x3);
                            }};
                        }
                        col!(pb0, c00, c10, c20, c30);
                        col!(pb1, c01, c11, c21, c31);
                        col!(pb2, c02, c12, c22, c32);
                        col!(pb3, c03, c13, c23, c33);
                        col!(pb4, c04, c14, c24, c34);
                        col!(pb5, c05, c15, c25, c35);
                    }};
                }
                for ch in 0..full {
                    let o = ch * 16;
                    step!(|p: *const f32| _mm512_loadu_ps(p.add(o)));
                }
                if tail > 0 {
                    let o = full * 16;
                    step!(|p: *const f32| _mm512_maskz_loadu_ps(mask, p.add(o)));
                }
                let acc = [
                    [c00, c01, c02, c03, c04, c05],
                    [c10, c11, c12, c13, c14, c15],
                    [c20, c21, c22, c23, c24, c25],
                    [c30, c31, c32, c33, c34, c35],
                ];
                for (r, row_acc) in acc.iter().enumerate().take(rows.end - i0) {
                    let f: [__m256; 6] = std::array::from_fn(|c| fold(row_acc[c]));
                    let first = reduce4(f[0], f[1], f[2], f[3]);
                    let second = reduce4(f[4], f[5], f[5], f[5]);
                    let sums = [first[0], first[1], first[2], first[3], second[0], second[1]];
                    for (c, &v) in sums.iter().enumerate().take(cols.end - j0) {
                        task.put(i0 + r, j0 + c, v);
                    }
                }
                i0 += 4;
            }
            j0 += 6;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(n: usize, seed: u64) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let x = crate::kernels::dropout::mix64(seed * 1_000_003 + i as u64);
                ((x >> 40) as f32 / 16_777_216.0) * 2.0 - 1.0
            })
            .collect()
    }

    /// The kernels this CPU can run: the detected one and every simpler one.
    fn isas() -> Vec<Isa> {
        match Isa::detect() {
            Isa::Avx512 => vec![Isa::Avx512, Isa::Avx2, Isa::Portable],
            Isa::Avx2 => vec![Isa::Avx2, Isa::Portable],
            Isa::Portable => vec![Isa::Portable],
        }
    }

    fn product(
        isa: Isa,
        a: &[f32],
        b: MatRef<'_>,
        m: usize,
        k: usize,
        threads: Threads,
    ) -> Vec<f32> {
        let n = b.cols();
        let mut out = vec![f32::NAN; m * n];
        matmul_with(
            isa,
            MatMut::new(&mut out, m, n),
            MatRef::new(a, m, k),
            b,
            false,
            threads,
        );
        out
    }

    /// Both forms equal a float64 product to rounding, and every row is bitwise the same whatever
    /// the number of rows around it, its place and the thread count, with every kernel.
    #[test]
    fn rows_do_not_depend_on_the_shape_around_them() {
        for isa in isas() {
            rows_do_not_depend_on_the_shape_around_them_with(isa);
        }
    }

    fn rows_do_not_depend_on_the_shape_around_them_with(isa: Isa) {
        for &(k, n) in &[(37usize, 23usize), (384, 70), (1, 5), (520, 16)] {
            let b_nk = random(n * k, 2);
            let b_kn = random(k * n, 3);
            let forms = [MatRef::new(&b_nk, n, k).t(), MatRef::new(&b_kn, k, n)];
            let big_m = 101;
            let a = random(big_m * k, 1);
            for b in forms {
                let full = product(isa, &a, b, big_m, k, Threads::Pool);
                for i in 0..big_m {
                    for j in 0..n {
                        let want: f64 = (0..k)
                            .map(|t| {
                                let bv = b.data()[t * b.row_stride() + j * b.col_stride()];
                                f64::from(a[i * k + t]) * f64::from(bv)
                            })
                            .sum();
                        let got = f64::from(full[i * n + j]);
                        assert!((got - want).abs() < 1e-5 * (k as f64).sqrt());
                    }
                }
                for (start, m) in [(0usize, 1usize), (5, 7), (50, 51), (100, 1)] {
                    let part = product(
                        isa,
                        &a[start * k..(start + m) * k],
                        b,
                        m,
                        k,
                        Threads::Serial,
                    );
                    for (x, y) in part.iter().zip(&full[start * n..(start + m) * n]) {
                        assert_eq!(
                            x.to_bits(),
                            y.to_bits(),
                            "{isa:?} k {k} n {n} rows {start}+{m}"
                        );
                    }
                }
                let one = rayon::ThreadPoolBuilder::new()
                    .num_threads(1)
                    .build()
                    .unwrap()
                    .install(|| product(isa, &a, b, big_m, k, Threads::Pool));
                assert!(one
                    .iter()
                    .zip(&full)
                    .all(|(x, y)| x.to_bits() == y.to_bits()));
            }
        }
    }

    #[test]
    fn zero_products_appended_to_a_chain_leave_it_unchanged() {
        // The axpy form over 9 rows of b where the last 4 of a's values are 0 equals the product
        // over the first 5.
        let (m, n) = (4, 20);
        let mut a = random(m * 9, 4);
        for row in a.chunks_exact_mut(9) {
            row[5..].fill(0.0);
        }
        let b = random(9 * n, 5);
        let isa = Isa::detect();
        let long = product(isa, &a, MatRef::new(&b, 9, n), m, 9, Threads::Serial);
        let short_a: Vec<f32> = a.chunks_exact(9).flat_map(|r| r[..5].to_vec()).collect();
        let short = product(
            isa,
            &short_a,
            MatRef::new(&b[..5 * n], 5, n),
            m,
            5,
            Threads::Serial,
        );
        assert!(long
            .iter()
            .zip(&short)
            .all(|(x, y)| x.to_bits() == y.to_bits()));
    }
}
