//! The one exact distance of `lid`: Euclidean, accumulated in `f64` from `f32` coordinates.
//!
//! Every exact path (the oracle, the exact re-rank of every search backend, the `r1`, `r2` of the
//! pointwise estimators) calls [`squared_euclidean_distance`], so equal inputs give equal bits
//! everywhere, and a backend's distances are bit-identical to [`crate::ExhaustiveSearch`]'s.
//!
//! # Summation order (the convention)
//! Element `j` of `(x_j - y_j)^2` (each difference and square rounded in `f64`, no fused multiply-add)
//! goes to accumulator `j mod 16` while at least 16 elements remain; the last `len mod 16` elements
//! are summed one after the other into `tail`. The sixteen accumulators are combined by
//! `t_l = a_l + a_{l+8}` (`l < 8`), then `u_l = t_l + t_{l+4}` (`l < 4`), then
//! `((u_0 + u_1) + (u_2 + u_3)) + tail`.
//!
//! Why sixteen: the sum is a chain of dependent additions, and at four accumulators (one 256-bit
//! register) the loop ran at the latency of one `f64` addition per four elements. Sixteen
//! accumulators are four independent 256-bit chains, which keeps the adders busy; the combining tree
//! is the one an AVX register sum performs. The portable code performs exactly the same roundings in
//! the same order, so the result does not depend on the CPU.
//!
//! This is a hot path (the exact re-rank of the kNN search and the fall-back distances of the
//! pointwise TwoNN evaluate it hundreds of millions of times at paper scale), hence the hand-written
//! AVX kernel chosen at run time; no crate offers a bit-reproducible `f64`-accumulated `f32` distance.

/// Accumulators of the summation convention (see the module docs).
const LANES: usize = 16;

/// Euclidean distance between two points, accumulated in `f64` from the `f32` coordinates.
///
/// This is the one distance every exact path in `lid` agrees on: search backends may rank candidates
/// with a faster formula, but the distances they return, and so every `r1`, `r2` and ratio, are
/// recomputed with this function. Accumulating in `f64` keeps the rounding error far below `f32`
/// resolution; the fixed summation order (module docs) makes it bit-reproducible across CPUs.
///
/// # Panics
/// In debug builds when the slices differ in length.
#[inline]
pub fn euclidean_distance(a: &[f32], b: &[f32]) -> f64 {
    squared_euclidean_distance(a, b).sqrt()
}

/// Squared Euclidean distance accumulated in `f64` (see [`euclidean_distance`] and the module docs
/// for the summation order). Uses an AVX kernel when the CPU has AVX, with identical results.
#[inline]
pub fn squared_euclidean_distance(a: &[f32], b: &[f32]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: the AVX feature was detected at run time.
            return unsafe { squared_distance_avx(a, b) };
        }
    }
    squared_distance_portable(a, b)
}

/// The portable implementation of the summation convention.
fn squared_distance_portable(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len().min(b.len());
    let body = n - n % LANES;
    let mut acc = [0.0f64; LANES];
    for (x, y) in a[..body]
        .chunks_exact(LANES)
        .zip(b[..body].chunks_exact(LANES))
    {
        for l in 0..LANES {
            let diff = x[l] as f64 - y[l] as f64;
            acc[l] += diff * diff;
        }
    }
    let mut tail = 0.0f64;
    for (x, y) in a[body..n].iter().zip(&b[body..n]) {
        let diff = *x as f64 - *y as f64;
        tail += diff * diff;
    }
    let t: [f64; 8] = std::array::from_fn(|l| acc[l] + acc[l + 8]);
    let u: [f64; 4] = std::array::from_fn(|l| t[l] + t[l + 4]);
    ((u[0] + u[1]) + (u[2] + u[3])) + tail
}

/// The AVX implementation: register `r` (of four) lane `l` is accumulator `4 r + l`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn squared_distance_avx(a: &[f32], b: &[f32]) -> f64 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let body = n - n % LANES;
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm256_setzero_pd(); 4];
    let mut j = 0;
    while j < body {
        for (r, acc_r) in acc.iter_mut().enumerate() {
            // SAFETY: j + 4 r + 3 < body <= n, in bounds of both slices; unaligned loads.
            let xa = _mm256_cvtps_pd(_mm_loadu_ps(pa.add(j + 4 * r)));
            let xb = _mm256_cvtps_pd(_mm_loadu_ps(pb.add(j + 4 * r)));
            let diff = _mm256_sub_pd(xa, xb);
            *acc_r = _mm256_add_pd(*acc_r, _mm256_mul_pd(diff, diff));
        }
        j += LANES;
    }
    let mut tail = 0.0f64;
    for j in body..n {
        let diff = a[j] as f64 - b[j] as f64;
        tail += diff * diff;
    }
    // t = (acc0 + acc2, acc1 + acc3) covers t_l = a_l + a_{l+8}; u = t_low + t_high.
    let u = _mm256_add_pd(_mm256_add_pd(acc[0], acc[2]), _mm256_add_pd(acc[1], acc[3]));
    let mut lanes = [0f64; 4];
    _mm256_storeu_pd(lanes.as_mut_ptr(), u);
    ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + tail
}

/// A cheap `f32` squared distance with a rigorous relative error bound, used to discard candidates
/// before the exact [`squared_euclidean_distance`] is evaluated (see [`ApproxSquaredDistance`]).
///
/// Every term `(x_j - y_j)^2` is non-negative, so however the `f32` sum is ordered its relative error
/// is at most `gamma_(D+3) = (D + 3) u / (1 - (D + 3) u)` with `u = 2^-24` (one rounding for the
/// difference, one for the square, at most `D` for the additions), plus an absolute slack for
/// results in the subnormal range. No cancellation can occur, unlike the Gram formula of the kNN
/// search.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ApproxSquaredDistance {
    /// Relative error bound `rho` (covers the `f32` sum and the `f64` convention value).
    relative: f64,
    /// Absolute error bound for underflow.
    absolute: f64,
}

impl ApproxSquaredDistance {
    /// The bounds for dimension `dim`, or `None` when the dimension is so large that the relative
    /// bound is useless (above 2^20 coordinates).
    pub(crate) fn for_dim(dim: usize) -> Option<Self> {
        if dim > 1 << 20 {
            return None;
        }
        let m = (dim + 16) as f64;
        Some(Self {
            // (D + 16) u covers gamma_(D+3) of the f32 sum and the f64 rounding of the exact value,
            // with room for the two roundings of the bound arithmetic itself.
            relative: m * f32::EPSILON as f64 / 2.0 * 1.01,
            // Each of the ~3 D operations may lose up to half the smallest subnormal 2^-149.
            absolute: 4.0 * m * f64::powi(2.0, -149),
        })
    }

    /// The `f32` squared distances from each of `xs` to `y` (one pass over `y` serves the four; pass
    /// a row twice when fewer are needed). A value of `+inf` means the `f32` sum overflowed; then no
    /// bound holds and the caller must use the exact distance.
    #[inline]
    pub(crate) fn squared4(&self, xs: [&[f32]; 4], y: &[f32]) -> [f32; 4] {
        approx_squared_distances4(xs, y)
    }

    /// A lower bound of the exact [`squared_euclidean_distance`] given the approximate value `s`.
    #[inline]
    pub(crate) fn lower(&self, s: f32) -> f64 {
        s as f64 * (1.0 - self.relative) - self.absolute
    }

    /// An upper bound of the exact [`squared_euclidean_distance`] given the approximate value `s`.
    #[inline]
    pub(crate) fn upper(&self, s: f32) -> f64 {
        s as f64 * (1.0 + self.relative) + self.absolute
    }
}

/// Asks the CPU to start loading `values` into cache (a hint; no effect on results). Used one row
/// ahead in loops over rows scattered in memory (points of a cloud, rows of a kNN graph), where the
/// hardware prefetcher only catches up after the first cache lines of each row.
#[inline]
pub fn prefetch<T>(values: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        const LINE: usize = 64;
        let start = values.as_ptr().cast::<u8>();
        let bytes = std::mem::size_of_val(values);
        for offset in (0..bytes).step_by(LINE) {
            // SAFETY: `offset < bytes`, so the address is inside `values`; prefetching never faults.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.add(offset).cast()) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = values;
}

/// `f32` squared distances from four points to one, in any summation order (the bound of
/// [`ApproxSquaredDistance`] holds for every order); AVX2 + FMA when the CPU has them.
#[inline]
fn approx_squared_distances4(xs: [&[f32]; 4], y: &[f32]) -> [f32; 4] {
    debug_assert!(xs.iter().all(|x| x.len() == y.len()));
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the AVX2 and FMA features were detected at run time.
            return unsafe { approx_squared_distances4_avx2(xs, y) };
        }
    }
    xs.map(|x| {
        let mut acc = [0f32; 8];
        let n = x.len().min(y.len());
        let body = n - n % 8;
        for (a, b) in x[..body].chunks_exact(8).zip(y[..body].chunks_exact(8)) {
            for l in 0..8 {
                let d = a[l] - b[l];
                acc[l] += d * d;
            }
        }
        let mut sum: f32 = acc.iter().sum();
        for (a, b) in x[body..n].iter().zip(&y[body..n]) {
            sum += (a - b) * (a - b);
        }
        sum
    })
}

/// Two accumulators per point (eight independent FMA chains); `y` is loaded once for the four.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn approx_squared_distances4_avx2(xs: [&[f32]; 4], y: &[f32]) -> [f32; 4] {
    use std::arch::x86_64::*;
    let n = xs.iter().map(|x| x.len()).fold(y.len(), usize::min);
    let body = n - n % 16;
    let py = y.as_ptr();
    let px = xs.map(|x| x.as_ptr());
    let mut acc = [[_mm256_setzero_ps(); 2]; 4];
    let mut j = 0;
    while j < body {
        for h in 0..2 {
            // SAFETY: j + 8 h + 7 < body <= n, in bounds of every slice; unaligned loads.
            let yv = _mm256_loadu_ps(py.add(j + 8 * h));
            for (p, acc_p) in px.iter().zip(acc.iter_mut()) {
                let d = _mm256_sub_ps(_mm256_loadu_ps(p.add(j + 8 * h)), yv);
                acc_p[h] = _mm256_fmadd_ps(d, d, acc_p[h]);
            }
        }
        j += 16;
    }
    let mut out = [0f32; 4];
    for ((o, acc_p), x) in out.iter_mut().zip(&acc).zip(xs) {
        let mut lanes = [0f32; 8];
        _mm256_storeu_ps(lanes.as_mut_ptr(), _mm256_add_ps(acc_p[0], acc_p[1]));
        let mut sum: f32 = lanes.iter().sum();
        for t in body..n {
            let d = x[t] - y[t];
            sum += d * d;
        }
        *o = sum;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xorshift(state: &mut u64) -> f32 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        ((*state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32
    }

    #[test]
    fn dispatched_kernel_is_bit_identical_to_portable_code() {
        let mut state = 12345u64;
        for len in [0usize, 1, 3, 4, 15, 16, 17, 31, 33, 64, 768, 1001] {
            for scale in [1e-30f32, 1e-3, 1.0, 1e3, 1e30] {
                let a: Vec<f32> = (0..len).map(|_| xorshift(&mut state) * scale).collect();
                let b: Vec<f32> = (0..len)
                    .map(|_| xorshift(&mut state) * scale + xorshift(&mut state))
                    .collect();
                assert_eq!(
                    squared_euclidean_distance(&a, &b).to_bits(),
                    squared_distance_portable(&a, &b).to_bits(),
                    "len {len}, scale {scale}"
                );
            }
        }
    }

    #[test]
    fn follows_the_documented_summation_order() {
        // Values chosen so that a different order of the f64 additions gives different bits.
        let len = 37;
        let a: Vec<f32> = (0..len)
            .map(|j| if j % 5 == 0 { 4096.0 } else { 1e-4 * j as f32 })
            .collect();
        let b = vec![0f32; len];
        let sq: Vec<f64> = a.iter().map(|&x| x as f64 * x as f64).collect();
        let mut acc = [0f64; 16];
        for (j, s) in sq[..32].iter().enumerate() {
            acc[j % 16] += s;
        }
        let tail = sq[32..].iter().fold(0.0, |t, s| t + s);
        let t: Vec<f64> = (0..8).map(|l| acc[l] + acc[l + 8]).collect();
        let u: Vec<f64> = (0..4).map(|l| t[l] + t[l + 4]).collect();
        let want = ((u[0] + u[1]) + (u[2] + u[3])) + tail;
        assert_eq!(squared_euclidean_distance(&a, &b).to_bits(), want.to_bits());
        assert_eq!(euclidean_distance(&a, &b), want.sqrt());
    }

    #[test]
    fn matches_the_direct_formula() {
        let a: Vec<f32> = (0..13).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..13).map(|i| (i * i) as f32 * 0.1).collect();
        let direct: f64 = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!((euclidean_distance(&a, &b) - direct).abs() <= 1e-12 * direct);
    }

    #[test]
    fn approximate_bounds_enclose_the_exact_value() {
        let mut state = 99u64;
        for len in [1usize, 7, 31, 32, 33, 768, 2049] {
            let bounds = ApproxSquaredDistance::for_dim(len).unwrap();
            for scale in [1e-25f32, 1e-3, 1.0, 1e3, 1e15] {
                for _ in 0..20 {
                    let a: Vec<f32> = (0..len).map(|_| xorshift(&mut state) * scale).collect();
                    let b: Vec<f32> = a
                        .iter()
                        .map(|&x| x + xorshift(&mut state) * scale * 1e-3)
                        .collect();
                    let exact = squared_euclidean_distance(&a, &b);
                    let s = bounds.squared4([&a, &a, &b, &a], &b)[1];
                    assert_eq!(bounds.squared4([&b, &b, &b, &b], &b), [0.0; 4]);
                    assert!(bounds.lower(s) <= exact && exact <= bounds.upper(s));
                    // The bound is tight enough to be useful.
                    assert!(bounds.upper(s) - bounds.lower(s) <= 1e-3 * exact + 1e-30);
                }
            }
        }
        let huge = vec![3e38f32; 4];
        let neg = vec![-3e38f32; 4];
        let bounds = ApproxSquaredDistance::for_dim(4).unwrap();
        assert_eq!(bounds.squared4([&huge; 4], &neg), [f32::INFINITY; 4]);
        assert!(ApproxSquaredDistance::for_dim(1 << 21).is_none());
    }

    #[test]
    fn exact_on_small_integers() {
        assert_eq!(euclidean_distance(&[0.0, 0.0], &[3.0, 4.0]), 5.0);
        assert_eq!(squared_euclidean_distance(&[], &[]), 0.0);
    }
}
