//! CPU kernels for the encoder's hot path (BERT, MiniLM, RoBERTa), and the vectorisable math
//! ([`simd`]) and matrix products ([`matmul`]) that `lid-train`'s training kernels share.
//!
//! Hand-written on purpose (the project's hot-path exception to "prefer a well-kept crate"): with
//! candle's CPU backend, `lid embed` was about 2x slower than PyTorch on MiniLM. There each
//! element-wise op runs single-threaded into a fresh allocation (the page faults of that churn alone
//! cost about a sixth of the CPU time), the exact GELU evaluates scalar libm `erf` per element, and
//! the batched attention matmuls issue one tiny GEMM per (sequence, head). Here a whole encoder
//! block runs on reusable f32 buffers (`encoder`): the matrix products go through the `gemm` crate
//! (what candle uses too), and everything between them is fused into a few rayon-parallel passes
//! that the compiler vectorises (AVX2 + FMA selected at run time, see [`simd`]): packed-QKV
//! attention with the mask and the bias folded in (`attention`), `gelu(x + b)` and
//! `layer_norm((x + b) + residual)` in place (`rows`).
//!
//! The models use this path only for f32 tensors on the CPU and keep the plain candle path for
//! every other device; the unit tests compare each kernel with the candle ops that define it.
//!
//! Numerics: the same operations per element as `transformers`; reductions (dot products, sums)
//! use other association orders, and `erf` / `exp` are polynomial approximations accurate to about
//! an f32 ulp (see [`simd`]). Results do not depend on the thread count: each output value is
//! computed by one task in a fixed order.

pub(crate) mod attention;
pub(crate) mod encoder;
pub mod matmul;
pub(crate) mod rows;
pub mod simd;

use std::ops::Range;
use std::sync::RwLockReadGuard;

use candle_core::{CpuStorage, Storage, Tensor};

/// The contiguous f32 data of a CPU tensor, borrowed while the read guard lives.
pub(crate) struct CpuF32<'a> {
    guard: RwLockReadGuard<'a, Storage>,
    range: Range<usize>,
}

impl<'a> CpuF32<'a> {
    /// `None` unless the tensor is f32, on the CPU and contiguous.
    pub(crate) fn new(t: &'a Tensor) -> Option<Self> {
        let (guard, layout) = t.storage_and_layout();
        let (start, end) = layout.contiguous_offsets()?;
        matches!(&*guard, Storage::Cpu(CpuStorage::F32(_))).then_some(Self {
            guard,
            range: start..end,
        })
    }

    /// The tensor's values in row-major order.
    pub(crate) fn slice(&self) -> &[f32] {
        match &*self.guard {
            Storage::Cpu(CpuStorage::F32(v)) => &v[self.range.clone()],
            // `new` admits only CPU f32 storage.
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    //! Each kernel against the candle ops that define it, on seeded random input, including widths
    //! that are not a multiple of the vector width, padding, and a sequence without any real token.

    use super::attention::AttentionDims;
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::Module;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random(n: usize, scale: f32, rng: &mut ChaCha8Rng) -> Vec<f32> {
        (0..n)
            .map(|_| scale * (rng.random::<f32>() * 2.0 - 1.0))
            .collect()
    }

    fn tensor(values: &[f32], shape: &[usize]) -> Tensor {
        Tensor::from_slice(values, shape, &Device::Cpu).unwrap()
    }

    fn max_abs_diff(ours: &[f32], theirs: &Tensor) -> f32 {
        let theirs = theirs.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(ours.len(), theirs.len());
        ours.iter()
            .zip(&theirs)
            .map(|(x, y)| {
                assert!(x.is_finite() && y.is_finite());
                (x - y).abs()
            })
            .fold(0.0, f32::max)
    }

    #[test]
    fn bias_gelu_matches_candle_gelu_erf() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for &(rows, width) in &[(10, 37), (12, 1536), (1, 1), (3, 16)] {
            let x = random(rows * width, 6.0, &mut rng);
            let bias = random(width, 1.0, &mut rng);
            let mut ours = x.clone();
            rows::bias_gelu_erf(&mut ours, &bias);
            let theirs = tensor(&x, &[rows, width])
                .broadcast_add(&tensor(&bias, &[width]))
                .unwrap()
                .gelu_erf()
                .unwrap();
            let d = max_abs_diff(&ours, &theirs);
            assert!(d <= 2e-6, "width {width}: {d}");
        }
    }

    #[test]
    fn add_layer_norm_matches_candle_layer_norm() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for &(rows, width, eps) in &[(6, 384, 1e-12), (7, 37, 1e-5), (4, 16, 1e-6), (1, 1, 1e-5)] {
            let x = random(rows * width, 3.0, &mut rng);
            let residual = random(rows * width, 3.0, &mut rng);
            let bias = random(width, 1.0, &mut rng);
            let (weight, shift) = (random(width, 2.0, &mut rng), random(width, 1.0, &mut rng));
            let mut ours = x.clone();
            let params = rows::AddNorm {
                bias: &bias,
                weight: &weight,
                shift: &shift,
                eps: eps as f32,
            };
            rows::bias_residual_layer_norm(&mut ours, &residual, &params);
            let norm =
                candle_nn::LayerNorm::new(tensor(&weight, &[width]), tensor(&shift, &[width]), eps);
            let summed = (tensor(&x, &[rows, width])
                .broadcast_add(&tensor(&bias, &[width]))
                .unwrap()
                + tensor(&residual, &[rows, width]))
            .unwrap();
            let theirs = norm.forward(&summed).unwrap();
            let d = max_abs_diff(&ours, &theirs);
            assert!(d <= 5e-6, "width {width}: {d}");
        }
    }

    #[test]
    fn matmul_matches_candle_matmul() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for &(m, k, n) in &[(70, 38, 115), (1, 5, 3), (33, 384, 1152), (4, 0, 3)] {
            let a = random(m * k, 1.0, &mut rng);
            let b = random(k * n, 1.0, &mut rng);
            let mut ours = vec![f32::NAN; m * n];
            matmul::matmul(&a, &b, &mut ours, m, k, n);
            let theirs = tensor(&a, &[m, k]).matmul(&tensor(&b, &[k, n])).unwrap();
            let d = max_abs_diff(&ours, &theirs);
            assert!(d <= 1e-5 * (k as f32).sqrt().max(1.0), "{m}x{k}x{n}: {d}");
        }
    }

    /// `transformers`' eager attention in candle ops: bias add, split heads, `softmax(q k^T * scale
    /// + mask) v` with the additive mask `(1 - mask) * finfo.min`, merge heads.
    fn candle_attention(qkv: &[f32], bias: &[f32], mask: &[u32], dims: AttentionDims) -> Tensor {
        let (b, t, heads, d) = (dims.batch, dims.seq, dims.heads, dims.head_dim);
        let h = heads * d;
        let qkv = tensor(qkv, &[b, t, 3 * h])
            .broadcast_add(&tensor(bias, &[3 * h]))
            .unwrap();
        let part = |i: usize| {
            qkv.narrow(2, i * h, h)
                .unwrap()
                .contiguous()
                .unwrap()
                .reshape((b, t, heads, d))
                .unwrap()
                .transpose(1, 2)
                .unwrap()
                .contiguous()
                .unwrap()
        };
        let (q, k, v) = (part(0), part(1), part(2));
        let mask = Tensor::from_slice(mask, (b, t), &Device::Cpu)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap();
        let additive = ((mask - 1.0).unwrap() * f64::from(f32::MAX))
            .unwrap()
            .reshape((b, 1, 1, t))
            .unwrap();
        let scores = (q.matmul(&k.t().unwrap()).unwrap() / (d as f64).sqrt()).unwrap();
        let probs =
            candle_nn::ops::softmax_last_dim(&scores.broadcast_add(&additive).unwrap()).unwrap();
        probs
            .matmul(&v)
            .unwrap()
            .transpose(1, 2)
            .unwrap()
            .reshape((b, t, h))
            .unwrap()
    }

    #[test]
    fn packed_attention_matches_candle_attention() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        // (heads, head_dim, lengths of the sequences; the batch is padded to the longest)
        let cases: &[(usize, usize, &[usize])] = &[
            (12, 32, &[9, 3, 9, 1, 5, 9]),
            (3, 8, &[20, 17]),
            (2, 5, &[1]),
            (4, 16, &[33, 0, 2]),
            (1, 64, &[70]),
        ];
        for &(heads, head_dim, lengths) in cases {
            let b = lengths.len();
            let t = lengths.iter().copied().max().unwrap().max(1);
            let h = heads * head_dim;
            let dims = AttentionDims {
                batch: b,
                seq: t,
                heads,
                head_dim,
            };
            let qkv = random(b * t * 3 * h, 2.0, &mut rng);
            let bias = random(3 * h, 0.5, &mut rng);
            let mask: Vec<u32> = lengths
                .iter()
                .flat_map(|&len| (0..t).map(move |j| u32::from(j < len)))
                .collect();
            let keep: Vec<bool> = mask.iter().map(|&m| m == 1).collect();
            let mut ours = vec![f32::NAN; b * t * h];
            let scale = (1.0 / (head_dim as f64).sqrt()) as f32;
            attention::attention(&qkv, &bias, &keep, dims, scale, &mut ours);
            let theirs = candle_attention(&qkv, &bias, &mask, dims);
            let d = max_abs_diff(&ours, &theirs);
            assert!(d <= 2e-6, "{heads} x {head_dim}, lengths {lengths:?}: {d}");
        }
    }

    #[test]
    fn cpu_view_refuses_strided_and_non_f32_tensors() {
        let t = Tensor::zeros((3, 4), DType::F32, &Device::Cpu).unwrap();
        assert_eq!(CpuF32::new(&t).unwrap().slice().len(), 12);
        assert!(CpuF32::new(&t.t().unwrap()).is_none());
        assert!(CpuF32::new(&t.to_dtype(DType::F64).unwrap()).is_none());
        let narrowed = t.narrow(0, 1, 2).unwrap();
        assert_eq!(CpuF32::new(&narrowed).unwrap().slice().len(), 8);
    }
}
