//! Dropout with counter-based masks.
//!
//! Whether element `i` of a dropout site is kept is a pure function of the site's seed and `i`
//! (two rounds of MurmurHash3's 32-bit finaliser keyed by the two halves of the seed, which the
//! compiler vectorises with AVX2; the site seeds themselves come from SplitMix64), so masks are
//! generated in parallel, need no stored state, are recomputed
//! exactly in the backward pass, and do not depend on the thread count. Kept values are scaled by
//! `1 / (1 - p)` (inverted dropout, as PyTorch). The masks are not PyTorch's (its generator cannot
//! be reproduced), so runs with dropout match PyTorch in distribution, not bitwise; the golden
//! tests run with dropout off.

use lid_embed::kernels::simd::{multiversion, MulAdd};
use rayon::prelude::*;

/// SplitMix64's finaliser: a bijective 64-bit mixer.
#[inline(always)]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seed derived from a base seed and a path of integers (step, micro-batch, layer, site).
pub fn derive_seed(base: u64, path: &[u64]) -> u64 {
    path.iter()
        .fold(mix64(base ^ 0x6C69_645F_7472_6169), |acc, &p| {
            mix64(acc ^ p.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        })
}

/// MurmurHash3's 32-bit finaliser: a bijective mixer.
#[inline(always)]
fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85EB_CA6B);
    h ^= h >> 13;
    h = h.wrapping_mul(0xC2B2_AE35);
    h ^ (h >> 16)
}

/// One dropout site: its seed and drop probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dropout {
    seed: u64,
    threshold: u32,
    scale: f32,
}

multiversion! {
    fn apply_chunk(site: &Dropout, x: &mut [f32], base: usize) => apply_chunk_generic
}

/// The dispatch only chooses the instruction set the loop is compiled for (AVX2 vectorises the
/// 32-bit hash 8 lanes wide); the arithmetic has no multiply-add, so `M` is otherwise unused.
#[allow(clippy::extra_unused_type_parameters)]
#[inline(always)]
fn apply_chunk_generic<M: MulAdd>(site: &Dropout, x: &mut [f32], base: usize) {
    for (i, v) in x.iter_mut().enumerate() {
        *v *= site.factor(base + i);
    }
}

impl Dropout {
    /// A site dropping with probability `p` in `[0, 1)`; `None` when `p` is 0.
    pub fn new(seed: u64, p: f32) -> Option<Self> {
        if p <= 0.0 {
            return None;
        }
        let threshold = (f64::from(p) * 4_294_967_296.0)
            .round()
            .min(4_294_967_295.0) as u32;
        Some(Self {
            seed,
            threshold,
            scale: 1.0 / (1.0 - p),
        })
    }

    /// The factor element `index` is multiplied by: 0 or `1 / (1 - p)`.
    #[inline(always)]
    pub fn factor(&self, index: usize) -> f32 {
        let (lo, hi) = (self.seed as u32, (self.seed >> 32) as u32);
        let first = fmix32((index as u32).wrapping_mul(0x9E37_79B9) ^ lo);
        let h = fmix32(first ^ hi ^ ((index as u64 >> 32) as u32));
        if h < self.threshold {
            0.0
        } else {
            self.scale
        }
    }

    /// `x[i] *= factor(offset + i)`; the same call on the gradient is the backward pass.
    pub fn apply(&self, x: &mut [f32], offset: usize) {
        const CHUNK: usize = 16_384;
        x.par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(c, x)| apply_chunk(self, x, offset + c * CHUNK));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_the_asked_fraction_and_rescales() {
        let site = Dropout::new(derive_seed(1, &[2, 3]), 0.1).unwrap();
        let mut x = vec![1.0f32; 1_000_000];
        site.apply(&mut x, 0);
        let dropped = x.iter().filter(|&&v| v == 0.0).count() as f64 / x.len() as f64;
        assert!((dropped - 0.1).abs() < 0.002, "dropped {dropped}");
        let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / x.len() as f64;
        assert!((mean - 1.0).abs() < 0.003, "mean {mean}");
        assert!(x.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.9).abs() < 1e-6));
        // Same seed: same mask; other seed: another mask; offsets index the same stream.
        let mut y = vec![1.0f32; 1000];
        site.apply(&mut y[..], 0);
        assert_eq!(&y[..], &x[..1000]);
        let mut z = vec![1.0f32; 500];
        site.apply(&mut z, 500);
        assert_eq!(&z[..], &x[500..1000]);
        let other = Dropout::new(derive_seed(1, &[2, 4]), 0.1).unwrap();
        let mut w = vec![1.0f32; 1000];
        other.apply(&mut w, 0);
        assert_ne!(w, y);
        assert!(Dropout::new(5, 0.0).is_none());
    }
}
