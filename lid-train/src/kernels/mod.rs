//! CPU kernels of the training step: every operation with its backward pass, on caller-owned f32
//! buffers.
//!
//! Hand-written on purpose (the project's hot-path exception to "prefer a well-kept crate"): the
//! candle training loop ran at 0.22x PyTorch's steps/s on 2 cores, its time going to per-op
//! allocations, single-threaded element-wise ops and autograd bookkeeping rather than arithmetic.
//! Here the matrix products go through the `gemm` crate ([`gemm`]) and everything between them is
//! a fused, row-parallel pass ([`norm`], [`act`], [`attention`], [`loss`]) over buffers reused
//! from step to step. Vectorised `exp`/`erf` and the AVX2 dispatch come from lid-embed's inference
//! kernels ([`lid_embed::kernels::simd`]).
//!
//! Determinism: every value is computed by one task in a fixed order, and parameter gradients are
//! summed over fixed row blocks in block order ([`reduce`]), so results do not depend on the
//! number of threads.

pub mod act;
pub mod attention;
pub mod dropout;
pub mod embed;
pub mod gemm;
pub mod loss;
pub mod norm;
pub mod ordered;
pub mod reduce;
pub mod rope;
