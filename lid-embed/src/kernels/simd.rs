//! Instruction-set dispatch and the vectorisable math the kernels share.
//!
//! The kernels are written once as `#[inline(always)]` functions generic over [`MulAdd`] (and
//! [`Lanes`] where explicit registers are needed) and instantiated by [`multiversion!`] twice on
//! x86-64: as [`Avx2`] inside a `#[target_feature(enable = "avx2,fma")]` wrapper, chosen at run time
//! when the CPU has both (the compiler then vectorises the loops with 256-bit FMA instructions), and
//! as [`Unfused`] for the baseline target. On aarch64, NEON and FMA are part of the baseline, so only
//! [`Fused`] exists. The loops are written so that the compiler can vectorise them: fixed-width lane
//! arrays for reductions, no branches in the element math (clamps and selects instead).

use std::sync::OnceLock;

/// How `a * b + c` is computed: one fused instruction where the target has it, two roundings where
/// it does not (calling `f32::mul_add` without hardware FMA would fall back to a slow libm call).
pub trait MulAdd {
    /// `a * b + c` in f32.
    fn f32(a: f32, b: f32, c: f32) -> f32;
    /// `a * b + c` in f64.
    fn f64(a: f64, b: f64, c: f64) -> f64;
}

/// Hardware fused multiply-add, portable (aarch64, where NEON and FMA are baseline; tests).
pub struct Fused;

impl MulAdd for Fused {
    #[inline(always)]
    fn f32(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
    #[inline(always)]
    fn f64(a: f64, b: f64, c: f64) -> f64 {
        a.mul_add(b, c)
    }
}

/// Separate multiply and add, for targets without FMA.
pub struct Unfused;

impl MulAdd for Unfused {
    #[inline(always)]
    fn f32(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
    #[inline(always)]
    fn f64(a: f64, b: f64, c: f64) -> f64 {
        a * b + c
    }
}

/// Eight f32 lanes with multiply-add: the register type of the attention micro-kernels, which the
/// compiler does not reliably keep in registers when they are written over plain arrays.
pub trait Lanes: MulAdd {
    /// Eight f32 values.
    type V: Copy;
    /// All lanes `x`.
    fn splat(x: f32) -> Self::V;
    /// The first eight values of `src` (which must hold at least eight).
    fn load(src: &[f32]) -> Self::V;
    /// Writes the lanes to the first eight values of `dst` (which must hold at least eight).
    fn store(v: Self::V, dst: &mut [f32]);
    /// `a * b + c` per lane.
    fn mul_add(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
}

/// Portable lanes: an array, each lane through [`MulAdd`].
macro_rules! array_lanes {
    ($t:ty) => {
        impl Lanes for $t {
            type V = [f32; 8];
            #[inline(always)]
            fn splat(x: f32) -> Self::V {
                [x; 8]
            }
            #[inline(always)]
            fn load(src: &[f32]) -> Self::V {
                let mut v = [0.0; 8];
                v.copy_from_slice(&src[..8]);
                v
            }
            #[inline(always)]
            fn store(v: Self::V, dst: &mut [f32]) {
                dst[..8].copy_from_slice(&v);
            }
            #[inline(always)]
            fn mul_add(a: Self::V, b: Self::V, c: Self::V) -> Self::V {
                std::array::from_fn(|i| <$t as MulAdd>::f32(a[i], b[i], c[i]))
            }
        }
    };
}
array_lanes!(Fused);
array_lanes!(Unfused);

/// AVX2 + FMA registers (x86-64). Only [`multiversion!`] names this type, and only inside the
/// function it compiles with `avx2,fma` enabled and calls after detecting both at run time: that
/// is what makes the intrinsics below sound.
#[cfg(target_arch = "x86_64")]
pub struct Avx2;

#[cfg(target_arch = "x86_64")]
impl MulAdd for Avx2 {
    #[inline(always)]
    fn f32(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
    #[inline(always)]
    fn f64(a: f64, b: f64, c: f64) -> f64 {
        a.mul_add(b, c)
    }
}

#[cfg(target_arch = "x86_64")]
impl Lanes for Avx2 {
    type V = std::arch::x86_64::__m256;
    #[inline(always)]
    fn splat(x: f32) -> Self::V {
        // SAFETY: AVX is available wherever `Avx2` is used (see the type's documentation).
        unsafe { std::arch::x86_64::_mm256_set1_ps(x) }
    }
    #[inline(always)]
    fn load(src: &[f32]) -> Self::V {
        let src = &src[..8];
        // SAFETY: `src` holds eight values (the slicing above checks it); AVX as above.
        unsafe { std::arch::x86_64::_mm256_loadu_ps(src.as_ptr()) }
    }
    #[inline(always)]
    fn store(v: Self::V, dst: &mut [f32]) {
        let dst = &mut dst[..8];
        // SAFETY: `dst` holds eight values (checked by the slicing); AVX as above.
        unsafe { std::arch::x86_64::_mm256_storeu_ps(dst.as_mut_ptr(), v) }
    }
    #[inline(always)]
    fn mul_add(a: Self::V, b: Self::V, c: Self::V) -> Self::V {
        // SAFETY: FMA is available wherever `Avx2` is used (see the type's documentation).
        unsafe { std::arch::x86_64::_mm256_fmadd_ps(a, b, c) }
    }
}

/// Whether this x86-64 CPU has AVX2 and FMA (detected once).
#[cfg(target_arch = "x86_64")]
pub fn has_avx2_fma() -> bool {
    static DETECTED: OnceLock<bool> = OnceLock::new();
    *DETECTED.get_or_init(|| {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    })
}

/// Defines `fn $name(args)` that runs `$generic::<Avx2>` with AVX2 + FMA code generation when the
/// CPU has them, and `$generic::<Unfused>` otherwise (aarch64: always `Fused`). `$generic` must be
/// `#[inline(always)]` so that its body is compiled inside the wrapper with the wrapper's features.
#[doc(hidden)]
#[macro_export]
macro_rules! __lid_embed_multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) => $generic:ident) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                fn avx2_fma($($arg: $ty),*) {
                    $generic::<$crate::kernels::simd::Avx2>($($arg),*)
                }
                if $crate::kernels::simd::has_avx2_fma() {
                    // SAFETY: the CPU supports AVX2 and FMA, checked at run time just above.
                    unsafe { avx2_fma($($arg),*) }
                } else {
                    $generic::<$crate::kernels::simd::Unfused>($($arg),*)
                }
            }
            #[cfg(target_arch = "aarch64")]
            {
                $generic::<$crate::kernels::simd::Fused>($($arg),*)
            }
            #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
            {
                $generic::<$crate::kernels::simd::Unfused>($($arg),*)
            }
        }
    };
}
pub use crate::__lid_embed_multiversion as multiversion;

/// `exp(x)` for `x <= 0` (the softmax range), Cephes `expf`: `x = n ln 2 + r`, a degree-6
/// polynomial for `e^r`, scaled by `2^n` built from the exponent bits. Relative error below 2e-7
/// (tested); results below about `1e-38` (including `exp(-inf)`) are exactly 0.
#[inline(always)]
pub fn exp_nonpositive<M: MulAdd>(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in a part exact in few bits and a correction (Cody-Waite).
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Clamping keeps 2^n representable: n >= -127 gives the zero bit pattern at the bottom.
    let x = x.clamp(-88.376_26, 0.0);
    let n = M::f32(x, LOG2_E, 0.5).floor();
    let r = M::f32(n, -LN2_HI, x);
    let r = M::f32(n, -LN2_LO, r);
    let mut p = 1.987_569_1e-4f32;
    p = M::f32(p, r, 1.398_199_9e-3);
    p = M::f32(p, r, 8.333_452e-3);
    p = M::f32(p, r, 4.166_579_6e-2);
    p = M::f32(p, r, 1.666_666_5e-1);
    p = M::f32(p, r, 0.5); // Cephes: 5.0000001201e-1, which rounds to 0.5 in f32
    let y = M::f32(p, r * r, r) + 1.0;
    // n is an integer in [-127, 0], so the biased exponent n + 127 is in [0, 127] (0 encodes
    // +0.0). Adding 2^23 puts it in the low mantissa bits exactly; the shift moves it into the
    // exponent field (the other bits fall off the top). Unlike an `as i32` cast (saturating, so
    // scalar code), this vectorises.
    let scale = f32::from_bits((n + 8_388_735.0).to_bits() << 23);
    y * scale
}

/// `erf(z)` in f64 by the rational approximation of Eigen / XLA (`generic_fast_erf_float`: odd
/// degree-13 numerator over even degree-8 denominator, input clamped to `[-4, 4]`). Evaluated in
/// f64 its absolute error is below 1e-7 everywhere (tested; PyTorch's vectorised `erf` is within
/// about 3e-8), and it needs no `exp`, so it vectorises.
#[inline(always)]
pub fn erf_f64<M: MulAdd>(z: f64) -> f64 {
    let z = z.clamp(-4.0, 4.0);
    let z2 = z * z;
    let mut p = -2.726_142_258_013_06e-10;
    p = M::f64(p, z2, 2.770_681_424_959_02e-8);
    p = M::f64(p, z2, -2.101_024_020_825_08e-6);
    p = M::f64(p, z2, -5.692_506_394_623_46e-5);
    p = M::f64(p, z2, -7.349_906_303_268_55e-4);
    p = M::f64(p, z2, -2.954_599_808_540_25e-3);
    p = M::f64(p, z2, -1.609_603_332_624_15e-2);
    let mut q = -1.456_607_184_649_96e-5;
    q = M::f64(q, z2, -2.133_740_552_789_05e-4);
    q = M::f64(q, z2, -1.682_826_974_382_03e-3);
    q = M::f64(q, z2, -7.373_329_167_204_68e-3);
    q = M::f64(q, z2, -1.426_473_905_141_89e-2);
    z * p / q
}

/// Exact (erf) GELU, `x * Phi(x) = x / 2 * (1 + erf(x / sqrt 2))`, computed in f64 and rounded
/// once to f32 (`transformers`' `gelu`, PyTorch `gelu(approximate="none")`): error at most
/// `|x| / 2 * 1e-7` from [`erf_f64`] plus the final rounding.
#[inline(always)]
pub fn gelu_erf<M: MulAdd>(x: f32) -> f32 {
    let x = f64::from(x);
    let erf = erf_f64::<M>(x * std::f64::consts::FRAC_1_SQRT_2);
    (0.5 * x * (1.0 + erf)) as f32
}

/// Width of the lane arrays used for reductions (two AVX2 registers of f32).
pub const LANES: usize = 16;

/// Sum of `xs` with [`LANES`] partial sums (vectorises; the order differs from a serial sum).
#[inline(always)]
pub fn sum(xs: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks = xs.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (a, &x) in acc.iter_mut().zip(chunk) {
            *a += x;
        }
    }
    acc.iter().sum::<f32>() + tail.iter().sum::<f32>()
}

/// Maximum of `xs` (`-inf` when empty), with [`LANES`] partial maxima.
#[inline(always)]
pub fn max(xs: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = xs.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (a, &x) in acc.iter_mut().zip(chunk) {
            *a = a.max(x);
        }
    }
    acc.iter()
        .chain(tail)
        .fold(f32::NEG_INFINITY, |m, &x| m.max(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_is_within_1e7_of_libm_erf() {
        let mut worst = 0.0f64;
        for i in -800_000..=800_000 {
            let z = f64::from(i) * 1e-5;
            let got = erf_f64::<Unfused>(z);
            let fused = erf_f64::<Fused>(z);
            let want = libm_erf(z);
            worst = worst.max((got - want).abs()).max((fused - want).abs());
        }
        assert!(worst < 1e-7, "max abs error {worst}");
    }

    #[test]
    fn gelu_matches_the_definition() {
        for i in -20_000..=20_000 {
            let x = i as f32 * 1e-3;
            let want = 0.5 * f64::from(x) * (1.0 + libm_erf(f64::from(x) / 2f64.sqrt()));
            let got = f64::from(gelu_erf::<Unfused>(x));
            // The erf error (< 1e-7) scaled by |x| / 2, plus the final rounding to f32.
            let bound = 0.5 * f64::from(x.abs()) * 1e-7 + f64::from(f32::EPSILON) * want.abs();
            assert!(
                (got - want).abs() <= bound,
                "gelu({x}) = {got}, want {want}"
            );
        }
    }

    #[test]
    fn exp_has_small_relative_error_and_underflows_to_zero() {
        let mut worst = 0.0f64;
        for i in 0..=880_000 {
            let x = -(i as f32) * 1e-4;
            let want = f64::from(x).exp();
            let got = f64::from(exp_nonpositive::<Fused>(x));
            let got_unfused = f64::from(exp_nonpositive::<Unfused>(x));
            if want > 1e-37 {
                worst = worst
                    .max((got - want).abs() / want)
                    .max((got_unfused - want).abs() / want);
            }
        }
        assert!(worst < 2e-7, "max relative error {worst}");
        assert_eq!(exp_nonpositive::<Fused>(0.0), 1.0);
        assert_eq!(exp_nonpositive::<Fused>(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_nonpositive::<Fused>(f32::MIN), 0.0);
    }

    #[test]
    fn reductions_match_serial_ones() {
        let xs: Vec<f32> = (0..37).map(|i| ((i * 7919) % 101) as f32 - 50.0).collect();
        assert_eq!(
            max(&xs),
            xs.iter().copied().fold(f32::NEG_INFINITY, f32::max)
        );
        assert_eq!(max(&[]), f32::NEG_INFINITY);
        let serial: f32 = xs.iter().sum();
        assert!((sum(&xs) - serial).abs() < 1e-4);
    }

    /// erf in f64 to about 1e-16: Taylor series for |z| < 2.5, continued fraction of erfc above.
    fn libm_erf(z: f64) -> f64 {
        let a = z.abs();
        let r = if a < 2.5 {
            let (mut term, mut total, mut n) = (a, a, 0.0);
            while term.abs() > 1e-17 * total.abs() {
                n += 1.0;
                term *= -a * a / n;
                total += term / (2.0 * n + 1.0);
            }
            total * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            // erfc(a) = exp(-a^2)/sqrt(pi) * 1/(a + 1/2/(a + 1/(a + 3/2/(a + 2/(a + ...)))))
            let mut f = a;
            for k in (1..60).rev() {
                f = a + (k as f64 / 2.0) / f;
            }
            1.0 - (-a * a).exp() / std::f64::consts::PI.sqrt() / f
        };
        r.copysign(z)
    }
}
