//! [`BruteForce`]: the default exact backend, blocked GEMM with a rigorous re-rank.
//!
//! # Algorithm
//! 1. Centre the points on their `f64` mean and store them as `f32` (centring removes the common
//!    offset that embeddings carry and with it most of the cancellation in step 3), with squared norms.
//! 2. Cut the points into blocks of [`BruteForce::block_size`] rows. For every block pair `(I, J)` with
//!    `I <= J` (the self-join is symmetric: each pair is computed once and feeds both rows' candidate
//!    sets) compute the Gram tile `-2 X_I X_J^T` with the `gemm` crate (AVX-512 / AVX2+FMA kernels
//!    chosen at run time). Tiles run in parallel with rayon.
//! 3. Scan the tile with `a = |x_i|^2 + |x_j|^2 - 2 x_i.x_j`; a candidate enters a row's set only when
//!    its lower bound can still beat the row's current `k`-th upper bound (see `candidates.rs` and
//!    `bound.rs`: `|a - e| <= gamma (|x_i|^2 + |x_j|^2)`, `gamma = 2 (D + 16) 2^-24`).
//! 4. Recompute every kept candidate with [`lid_core::euclidean_distance`] and sort by `(distance,
//!    index)`. The kept set provably contains every point that ties with or beats the true `k`-th
//!    neighbour, so the result is bit-identical to [`lid_core::ExhaustiveSearch`] and independent of
//!    the thread count and block size.
//!
//! Why the `gemm` crate rather than `matrixmultiply` or a hand-written microkernel: `gemm` dispatches
//! at run time to AVX-512 kernels (with AVX2+FMA and portable fallbacks), while `matrixmultiply` stops
//! at AVX2+FMA; the Gram tiles are the hot path, and a microkernel of our own would have to beat
//! `gemm`'s, which we have not attempted. A side-by-side of the two crates on this workload was not
//! measured (see `docs/benchmarks.md` for what was).
//!
//! # Memory
//! `O(threads x (block^2 + packing) + N x D + N x k)`: one `f32` tile per thread (1 MiB at the
//! default block of 512), the centred copy of the points, and per row a candidate list that is pruned
//! back to about `2k` (a row that keeps more than `4k + 32` candidates after pruning switches to an
//! exact list of `k`).

mod bound;
mod candidates;
#[cfg(feature = "device")]
mod device;

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use lid_core::{check_k, Error, KnnGraph, NeighborSearch, PointCloud, Result, SearchKind};
use rayon::prelude::*;

use crate::query::QueryNeighbors;
use candidates::{RowCandidates, RowContext};
#[cfg(feature = "device")]
pub use device::{DeviceBruteForce, DEFAULT_DEVICE_BLOCK_SIZE};

/// A progress callback: `(finished work units, total work units)`. Called from worker threads.
pub type ProgressFn = Arc<dyn Fn(usize, usize) + Send + Sync>;

/// Default rows per block (tile `512 x 512` of `f32` = 1 MiB per thread). Measured against 256 and 768
/// on N = 60,000, D = 768 (docs/benchmarks.md): 6 % less CPU time than 256, because `gemm` repacks
/// both operands for every tile and the packing costs `(m + n) D` against `m n D` of arithmetic.
pub const DEFAULT_BLOCK_SIZE: usize = 512;

/// Exact brute-force kNN by blocked GEMM with exact re-rank (the default backend; see the module doc).
///
/// ```
/// use lid_core::{ExhaustiveSearch, NeighborSearch, PointCloud};
/// use lid_knn::BruteForce;
/// let cloud = PointCloud::from_vec((0..40).map(|i| ((i * 7) % 11) as f32).collect(), 20, 2).unwrap();
/// let graph = BruteForce::new().knn_graph(&cloud, 3).unwrap();
/// assert_eq!(graph, ExhaustiveSearch.knn_graph(&cloud, 3).unwrap());
/// ```
#[derive(Clone)]
pub struct BruteForce {
    block_size: usize,
    progress: Option<ProgressFn>,
}

impl fmt::Debug for BruteForce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BruteForce")
            .field("block_size", &self.block_size)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl Default for BruteForce {
    fn default() -> Self {
        Self::new()
    }
}

impl BruteForce {
    /// The default configuration: blocks of [`DEFAULT_BLOCK_SIZE`] rows, no progress reporting.
    pub fn new() -> Self {
        Self {
            block_size: DEFAULT_BLOCK_SIZE,
            progress: None,
        }
    }

    /// Rows per block (default [`DEFAULT_BLOCK_SIZE`]). Changes speed and memory, never results.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for `block_size == 0`.
    pub fn with_block_size(mut self, block_size: usize) -> Result<Self> {
        if block_size == 0 {
            return Err(Error::invalid_parameter(
                "block_size",
                block_size,
                "a block needs at least one row",
            ));
        }
        self.block_size = block_size;
        Ok(self)
    }

    /// Reports progress in tiles through `progress` (for example to drive a progress bar).
    pub fn with_progress(mut self, progress: ProgressFn) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Rows per block.
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// The exact `k` nearest reference points of every query point (no self-exclusion: a query that
    /// equals a reference point gets it at distance 0), sorted by `(distance, index)`, distances from
    /// [`lid_core::euclidean_distance`]. For out-of-sample points.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for `k == 0` or `k > reference.n_points()`;
    /// [`Error::ShapeMismatch`] when the dimensions differ.
    pub fn knn_query(
        &self,
        reference: &PointCloud<'_>,
        queries: &PointCloud<'_>,
        k: usize,
    ) -> Result<QueryNeighbors> {
        let n_ref = reference.n_points();
        if k == 0 || k > n_ref {
            return Err(Error::invalid_parameter(
                "k",
                k,
                format!("must be between 1 and the number of reference points ({n_ref})"),
            ));
        }
        if n_ref > u32::MAX as usize {
            return Err(Error::invalid_parameter(
                "n",
                n_ref,
                "clouds are limited to u32::MAX points",
            ));
        }
        if reference.dim() != queries.dim() {
            return Err(Error::ShapeMismatch {
                what: "query and reference dimensions",
                expected: format!("{} columns", reference.dim()),
                got: format!("{} columns", queries.dim()),
            });
        }
        let dim = reference.dim();
        let mean = column_mean(reference);
        let scale = power_of_two_scale(&[reference.as_slice(), queries.as_slice()], &mean);
        let refs = Centered::new(reference, &mean, scale);
        let qs = Centered::new(queries, &mean, scale);
        let gamma = bound::gram_error_factor(dim);
        let eta = bound::underflow_slack(dim);
        let b = self.block_size;
        let ref_blocks = blocks(n_ref, b);
        let ref_block_max: Vec<f32> = ref_blocks
            .iter()
            .map(|r| max_of(&refs.norms[r.clone()]))
            .collect();
        let query_blocks = blocks(queries.n_points(), b);
        let total = query_blocks.len() * ref_blocks.len();
        let done = AtomicUsize::new(0);
        let rows: Vec<Vec<(f64, u32)>> = query_blocks
            .par_iter()
            .flat_map_iter(|qr| {
                let mut states: Vec<RowCandidates> =
                    qr.clone().map(|_| RowCandidates::new(k)).collect();
                let mut tile = vec![0f32; qr.len() * b];
                for (rb, rr) in ref_blocks.iter().enumerate() {
                    gram_tile(&qs, qr.clone(), &refs, rr.clone(), &mut tile);
                    let cols = rr.len();
                    for (r, state) in states.iter_mut().enumerate() {
                        let i = qr.start + r;
                        let ctx = self.context(i, k, gamma, &qs, &refs, queries, reference);
                        let theta = bound::f32_filter(
                            state.tau(),
                            gamma,
                            eta,
                            qs.norms[i],
                            ref_block_max[rb],
                        );
                        let ni = qs.norms[i];
                        let g = &tile[r * cols..(r + 1) * cols];
                        let nj = &refs.norms[rr.clone()];
                        scan_row(g, nj, ni, theta, |c, a| {
                            state.push(a, (rr.start + c) as u32, &ctx);
                            bound::f32_filter(state.tau(), gamma, eta, ni, ref_block_max[rb])
                        });
                    }
                    self.report(&done, total);
                }
                states
                    .into_iter()
                    .enumerate()
                    .map(|(r, state)| {
                        let ctx =
                            self.context(qr.start + r, k, gamma, &qs, &refs, queries, reference);
                        state.finish(&ctx)
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let (indices, distances) = rows.into_iter().flatten().map(|(d, j)| (j, d)).unzip();
        Ok(QueryNeighbors::new(
            queries.n_points(),
            k,
            indices,
            distances,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn context<'a>(
        &self,
        row: usize,
        k: usize,
        gamma: f64,
        rows: &'a Centered,
        cols: &'a Centered,
        row_cloud: &'a PointCloud<'_>,
        col_cloud: &'a PointCloud<'_>,
    ) -> RowContext<'a> {
        RowContext {
            row,
            k,
            gamma,
            eta: bound::underflow_slack(col_cloud.dim()),
            scale2: cols.scale * cols.scale,
            row_norm: rows.norms[row],
            col_norms: &cols.norms,
            row_point: row_cloud.row(row),
            reference: col_cloud.as_slice(),
            dim: col_cloud.dim(),
        }
    }

    fn report(&self, done: &AtomicUsize, total: usize) {
        let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(progress) = &self.progress {
            progress(finished, total);
        }
    }
}

impl NeighborSearch for BruteForce {
    fn name(&self) -> &'static str {
        "brute"
    }

    fn kind(&self) -> SearchKind {
        SearchKind::Exact
    }

    fn knn_graph(&self, cloud: &PointCloud<'_>, k: usize) -> Result<KnnGraph> {
        self.self_join(cloud, k, |_| Ok(HostGram))
    }
}

/// Computes Gram tiles `tile[r * cols.len() + c] = -2 x_r . x_c` of the centred points `pts`.
pub(crate) trait GramTiles: Sync {
    /// Fills `tile` (row-major, `rows.len() x cols.len()`) for the given block ranges.
    fn tile(
        &self,
        pts: &Centered,
        rows: std::ops::Range<usize>,
        cols: std::ops::Range<usize>,
        tile: &mut [f32],
    ) -> Result<()>;
}

/// Gram tiles on the CPU with the `gemm` crate.
struct HostGram;

impl GramTiles for HostGram {
    fn tile(
        &self,
        pts: &Centered,
        rows: std::ops::Range<usize>,
        cols: std::ops::Range<usize>,
        tile: &mut [f32],
    ) -> Result<()> {
        gram_tile(pts, rows, pts, cols, tile);
        Ok(())
    }
}

impl BruteForce {
    /// The exact self-join of the module docs, with Gram tiles from `make_tiles` (called once with the
    /// centred, scaled points).
    pub(crate) fn self_join<T: GramTiles>(
        &self,
        cloud: &PointCloud<'_>,
        k: usize,
        make_tiles: impl FnOnce(&Centered) -> Result<T>,
    ) -> Result<KnnGraph> {
        let n = cloud.n_points();
        check_k(n, k)?;
        let dim = cloud.dim();
        let mean = column_mean(cloud);
        let scale = power_of_two_scale(&[cloud.as_slice()], &mean);
        let pts = Centered::new(cloud, &mean, scale);
        let tiles = make_tiles(&pts)?;
        let gamma = bound::gram_error_factor(dim);
        let eta = bound::underflow_slack(dim);
        let b = self.block_size;
        let ranges = blocks(n, b);
        let block_max: Vec<f32> = ranges
            .iter()
            .map(|r| max_of(&pts.norms[r.clone()]))
            .collect();
        let stripes: Vec<Mutex<Vec<RowCandidates>>> = ranges
            .iter()
            .map(|r| Mutex::new(r.clone().map(|_| RowCandidates::new(k)).collect()))
            .collect();
        let pairs: Vec<(usize, usize)> = (0..ranges.len())
            .flat_map(|bi| (bi..ranges.len()).map(move |bj| (bi, bj)))
            .collect();
        let total = pairs.len();
        let done = AtomicUsize::new(0);
        pairs.par_iter().try_for_each_init(
            || vec![0f32; b * b],
            |tile, &(bi, bj)| -> Result<()> {
                let (ri, rj) = (ranges[bi].clone(), ranges[bj].clone());
                tiles.tile(&pts, ri.clone(), rj.clone(), tile)?;
                let cols = rj.len();
                // Lock order: lower block first (bi <= bj), so two tiles can never deadlock. A poisoned
                // lock means another worker panicked; rayon re-raises that panic, so its data are
                // never used for a result.
                let mut rows_i = stripes[bi].lock().unwrap_or_else(|e| e.into_inner());
                if bi == bj {
                    scan_diagonal(
                        tile,
                        &ri,
                        &pts,
                        cloud,
                        k,
                        gamma,
                        block_max[bi],
                        &mut rows_i,
                        self,
                    );
                } else {
                    let mut rows_j = stripes[bj].lock().unwrap_or_else(|e| e.into_inner());
                    let mut theta_col: Vec<f32> = rows_j
                        .iter()
                        .enumerate()
                        .map(|(c, s)| {
                            bound::f32_filter(
                                s.tau(),
                                gamma,
                                eta,
                                pts.norms[rj.start + c],
                                block_max[bi],
                            )
                        })
                        .collect();
                    for (r, state_i) in rows_i.iter_mut().enumerate() {
                        let i = ri.start + r;
                        let ni = pts.norms[i];
                        let ctx_i = self.context(i, k, gamma, &pts, &pts, cloud, cloud);
                        let mut theta_row =
                            bound::f32_filter(state_i.tau(), gamma, eta, ni, block_max[bj]);
                        let g = &tile[r * cols..(r + 1) * cols];
                        let nj = &pts.norms[rj.clone()];
                        scan_row_pair(
                            g,
                            nj,
                            ni,
                            &mut theta_row,
                            &mut theta_col,
                            |c, a, to_row, to_col| {
                                let j = rj.start + c;
                                if to_row {
                                    state_i.push(a, j as u32, &ctx_i);
                                }
                                let new_col = to_col.then(|| {
                                    let ctx_j = self.context(j, k, gamma, &pts, &pts, cloud, cloud);
                                    let state_j = &mut rows_j[c];
                                    state_j.push(a, i as u32, &ctx_j);
                                    bound::f32_filter(
                                        state_j.tau(),
                                        gamma,
                                        eta,
                                        nj[c],
                                        block_max[bi],
                                    )
                                });
                                (
                                    bound::f32_filter(state_i.tau(), gamma, eta, ni, block_max[bj]),
                                    new_col,
                                )
                            },
                        );
                    }
                }
                drop(rows_i);
                self.report(&done, total);
                Ok(())
            },
        )?;
        let pts = &pts;
        let rows: Vec<Vec<(f64, u32)>> = stripes
            .into_par_iter()
            .zip(ranges.par_iter())
            .flat_map_iter(|(stripe, range)| {
                // Every worker has finished, so the lock is free; poisoning would have panicked above.
                let states = stripe.into_inner().unwrap_or_else(|e| e.into_inner());
                let start = range.start;
                states
                    .into_iter()
                    .enumerate()
                    .map(move |(r, state)| {
                        let ctx = self.context(start + r, k, gamma, pts, pts, cloud, cloud);
                        state.finish(&ctx)
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        KnnGraph::from_rows(n, k, rows)
    }
}

/// Centred and scaled `f32` copy of a cloud, `fl((x - mean) * scale)`, with its squared norms.
pub(crate) struct Centered {
    /// The centred, scaled points, row-major.
    pub(crate) values: Vec<f32>,
    /// Their squared norms.
    pub(crate) norms: Vec<f32>,
    /// Dimension.
    pub(crate) dim: usize,
    scale: f64,
}

/// The power of two that brings the largest centred coordinate of `clouds` into `[0.5, 1]` (exact
/// scaling; keeps every `f32` operation of the Gram formula away from overflow, see `bound.rs`).
fn power_of_two_scale(clouds: &[&[f32]], mean: &[f64]) -> f64 {
    let dim = mean.len();
    let mut max_abs = 0f64;
    for cloud in clouds {
        for row in cloud.chunks_exact(dim) {
            for (&x, &m) in row.iter().zip(mean) {
                max_abs = max_abs.max((x as f64 - m).abs());
            }
        }
    }
    if max_abs > 0.0 && max_abs.is_finite() {
        2f64.powi(-(max_abs.log2().ceil() as i32))
    } else {
        1.0
    }
}

impl Centered {
    fn new(cloud: &PointCloud<'_>, mean: &[f64], scale: f64) -> Self {
        let dim = cloud.dim();
        let n = cloud.n_points();
        let mut values = vec![0f32; n * dim];
        let norms: Vec<f32> = values
            .par_chunks_mut(dim)
            .enumerate()
            .map(|(i, out)| {
                let mut norm = 0f64;
                for ((o, &x), &m) in out.iter_mut().zip(cloud.row(i)).zip(mean) {
                    *o = ((x as f64 - m) * scale) as f32;
                    norm += *o as f64 * *o as f64;
                }
                norm as f32
            })
            .collect();
        Self {
            values,
            norms,
            dim,
            scale,
        }
    }
}

fn column_mean(cloud: &PointCloud<'_>) -> Vec<f64> {
    let dim = cloud.dim();
    let n = cloud.n_points();
    let mut sum = vec![0f64; dim];
    for i in 0..n {
        for (s, &x) in sum.iter_mut().zip(cloud.row(i)) {
            *s += x as f64;
        }
    }
    sum.iter_mut().for_each(|s| *s /= n as f64);
    sum
}

fn blocks(n: usize, b: usize) -> Vec<std::ops::Range<usize>> {
    (0..n.div_ceil(b))
        .map(|i| i * b..((i + 1) * b).min(n))
        .collect()
}

fn max_of(values: &[f32]) -> f32 {
    values.iter().copied().fold(0f32, f32::max)
}

/// `tile[r * cols + c] = -2 rows[r] . cols[c]` for the given ranges (row-major `rows.len() x cols.len()`).
fn gram_tile(
    left: &Centered,
    rows: std::ops::Range<usize>,
    right: &Centered,
    cols: std::ops::Range<usize>,
    tile: &mut [f32],
) {
    let d = left.dim;
    let (m, n) = (rows.len(), cols.len());
    let lhs = &left.values[rows.start * d..rows.end * d];
    let rhs = &right.values[cols.start * d..cols.end * d];
    let dst = &mut tile[..m * n];
    // SAFETY: `dst` holds m x n values written with row stride n and column stride 1; `lhs` holds
    // m x d values (row stride d, column stride 1); `rhs` is read as the d x n matrix X_J^T, element
    // (p, c) at c * d + p, inside its m... n x d values. All pointers are valid for those extents and
    // `dst` does not alias the inputs.
    unsafe {
        gemm::gemm(
            m,
            n,
            d,
            dst.as_mut_ptr(),
            1,
            n as isize,
            false,
            lhs.as_ptr(),
            1,
            d as isize,
            rhs.as_ptr(),
            d as isize,
            1,
            0.0,
            -2.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Scans one tile row against one row threshold. `on_hit(c, a)` handles a candidate and returns the
/// row's new threshold.
#[inline]
fn scan_row(
    g: &[f32],
    nj: &[f32],
    ni: f32,
    mut theta: f32,
    mut on_hit: impl FnMut(usize, f32) -> f32,
) {
    const CHUNK: usize = 16;
    let mut c0 = 0;
    while c0 < g.len() {
        let end = (c0 + CHUNK).min(g.len());
        let any = if end - c0 == CHUNK {
            chunk_may_hit(&g[c0..end], &nj[c0..end], ni, theta, &[theta; CHUNK])
        } else {
            (c0..end).any(|c| ni + nj[c] + g[c] <= theta)
        };
        if any {
            for c in c0..end {
                let a = ni + nj[c] + g[c];
                if a <= theta {
                    theta = on_hit(c, a);
                }
            }
        }
        c0 = end;
    }
}

/// Scans one tile row for both the row (scalar threshold) and the columns (per-column thresholds).
/// `on_hit(c, a, to_row, to_col)` handles a candidate and returns the row's new threshold and, when
/// `to_col`, column `c`'s new threshold.
#[inline]
fn scan_row_pair(
    g: &[f32],
    nj: &[f32],
    ni: f32,
    theta_row: &mut f32,
    theta_col: &mut [f32],
    mut on_hit: impl FnMut(usize, f32, bool, bool) -> (f32, Option<f32>),
) {
    const CHUNK: usize = 16;
    let mut c0 = 0;
    while c0 < g.len() {
        let end = (c0 + CHUNK).min(g.len());
        let any = if end - c0 == CHUNK {
            chunk_may_hit(
                &g[c0..end],
                &nj[c0..end],
                ni,
                *theta_row,
                &theta_col[c0..end],
            )
        } else {
            (c0..end).any(|c| {
                let a = ni + nj[c] + g[c];
                (a <= *theta_row) | (a <= theta_col[c])
            })
        };
        if any {
            for c in c0..end {
                let a = ni + nj[c] + g[c];
                let to_row = a <= *theta_row;
                let to_col = a <= theta_col[c];
                if to_row || to_col {
                    let (new_row, new_col) = on_hit(c, a, to_row, to_col);
                    *theta_row = new_row;
                    if let Some(t) = new_col {
                        theta_col[c] = t;
                    }
                }
            }
        }
        c0 = end;
    }
}

/// Whether any of 16 tile entries passes the row threshold `tr` or its column threshold `tc[c]`: the
/// pre-filter of [`scan_row_pair`] and [`scan_row`] (`tc` all `tr`), which nearly always says no. `a = (ni + nj[c]) + g[c]` is rounded
/// exactly as in the per-element loop, so the filter never disagrees with it. SSE2 (part of every
/// x86-64 CPU): the compiler left this loop scalar, and it runs once per 16 of the N^2 / 2 pairs.
#[inline(always)]
fn chunk_may_hit(g: &[f32], nj: &[f32], ni: f32, tr: f32, tc: &[f32]) -> bool {
    assert!(g.len() == 16 && nj.len() == 16 && tc.len() == 16);
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of the x86-64 baseline; every load reads 4 of the 16 values asserted
        // above (unaligned loads).
        unsafe {
            let niv = _mm_set1_ps(ni);
            let trv = _mm_set1_ps(tr);
            let mut hit = _mm_setzero_ps();
            for q in 0..4 {
                let a = _mm_add_ps(
                    _mm_add_ps(niv, _mm_loadu_ps(nj.as_ptr().add(4 * q))),
                    _mm_loadu_ps(g.as_ptr().add(4 * q)),
                );
                let (row, col) = (
                    _mm_cmple_ps(a, trv),
                    _mm_cmple_ps(a, _mm_loadu_ps(tc.as_ptr().add(4 * q))),
                );
                hit = _mm_or_ps(hit, _mm_or_ps(row, col));
            }
            _mm_movemask_ps(hit) != 0
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        (0..16).any(|c| {
            let a = ni + nj[c] + g[c];
            (a <= tr) | (a <= tc[c])
        })
    }
}

/// The diagonal tile of block `range`: pairs `r < c` feed both rows.
#[allow(clippy::too_many_arguments)]
fn scan_diagonal(
    tile: &[f32],
    range: &std::ops::Range<usize>,
    pts: &Centered,
    cloud: &PointCloud<'_>,
    k: usize,
    gamma: f64,
    block_max: f32,
    states: &mut [RowCandidates],
    search: &BruteForce,
) {
    let cols = range.len();
    let eta = bound::underflow_slack(cloud.dim());
    let mut theta: Vec<f32> = states
        .iter()
        .enumerate()
        .map(|(r, s)| bound::f32_filter(s.tau(), gamma, eta, pts.norms[range.start + r], block_max))
        .collect();
    for r in 0..cols {
        let i = range.start + r;
        let ni = pts.norms[i];
        for c in r + 1..cols {
            let j = range.start + c;
            let a = ni + pts.norms[j] + tile[r * cols + c];
            if a <= theta[r] {
                let ctx = search.context(i, k, gamma, pts, pts, cloud, cloud);
                states[r].push(a, j as u32, &ctx);
                theta[r] = bound::f32_filter(states[r].tau(), gamma, eta, ni, block_max);
            }
            if a <= theta[c] {
                let ctx = search.context(j, k, gamma, pts, pts, cloud, cloud);
                states[c].push(a, i as u32, &ctx);
                theta[c] = bound::f32_filter(states[c].tau(), gamma, eta, pts.norms[j], block_max);
            }
        }
    }
}
