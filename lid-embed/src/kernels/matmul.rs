//! Row-major f32 matrix products through the `gemm` crate (the library candle's CPU matmul also
//! uses), writing into a caller-owned buffer so that the encoder reuses its memory across blocks and
//! batches instead of allocating every product.

/// `out (m x n) = lhs (m x k) * rhs (k x n)`, all row-major and contiguous, threads from rayon's
/// global pool. `out` is overwritten.
pub fn matmul(lhs: &[f32], rhs: &[f32], out: &mut [f32], m: usize, k: usize, n: usize) {
    assert!(
        lhs.len() == m * k && rhs.len() == k * n && out.len() == m * n,
        "matmul: slice lengths do not match ({m} x {k}) * ({k} x {n})"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        out.fill(0.0);
        return;
    }
    // SAFETY: the three slices have the lengths checked above, so every element gemm reads or
    // writes through these pointers and strides (row stride = row length, column stride 1) is
    // inside them; `out` is a unique borrow and does not overlap the inputs.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            false,
            lhs.as_ptr(),
            1,
            k as isize,
            rhs.as_ptr(),
            1,
            n as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::Rayon(0),
        );
    }
}
