//! Strided matrix products through the `gemm` crate (the library candle's CPU matmul and lid-embed's
//! encoder use), writing into caller-owned buffers.
//!
//! Every product of the backward pass goes through [`matmul`]: transposes are strides, never
//! copies, so `dX = dY W` and `dW += dY^T X` are one call each on the same buffers. The forward
//! pass's products take the same views through [`super::ordered`], whose summation order does not
//! depend on the shape (this crate's does: see there).
//!
//! Determinism: `gemm` splits the output into tiles across threads but sums every output element's
//! `k` products in one fixed order (its `k` blocking depends on cache sizes, not on the thread
//! count), so results are bitwise independent of the rayon pool size (tested in this module).

/// A read-only strided matrix view: element `(i, j)` is `data[i * row_stride + j * col_stride]`.
#[derive(Debug, Clone, Copy)]
pub struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// A contiguous row-major `rows x cols` matrix at the start of `data`.
    ///
    /// # Panics
    /// When `data` is too short (an internal shape bug, never user data).
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self::strided(data, rows, cols, cols)
    }

    /// A row-major `rows x cols` view whose rows start `row_stride` values apart (a column slice of
    /// a wider matrix: pass the slice starting at the first column).
    ///
    /// # Panics
    /// When `data` is too short.
    pub fn strided(data: &'a [f32], rows: usize, cols: usize, row_stride: usize) -> Self {
        let view = Self {
            data,
            rows,
            cols,
            row_stride,
            col_stride: 1,
        };
        view.check();
        view
    }

    /// The transposed view (no copy).
    pub fn t(self) -> Self {
        Self {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Distance between consecutive rows.
    pub fn row_stride(&self) -> usize {
        self.row_stride
    }

    /// Distance between consecutive columns.
    pub fn col_stride(&self) -> usize {
        self.col_stride
    }

    /// The underlying values (element `(i, j)` at `i * row_stride + j * col_stride`).
    pub fn data(&self) -> &'a [f32] {
        self.data
    }

    fn check(&self) {
        if self.rows > 0 && self.cols > 0 {
            let last = (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride;
            assert!(
                last < self.data.len(),
                "matrix view {}x{} (strides {}, {}) exceeds its {} values",
                self.rows,
                self.cols,
                self.row_stride,
                self.col_stride,
                self.data.len()
            );
        }
    }
}

/// A mutable row-major strided matrix view.
#[derive(Debug)]
pub struct MatMut<'a> {
    data: &'a mut [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
}

impl<'a> MatMut<'a> {
    /// A contiguous row-major `rows x cols` matrix at the start of `data`.
    ///
    /// # Panics
    /// When `data` is too short.
    pub fn new(data: &'a mut [f32], rows: usize, cols: usize) -> Self {
        Self::strided(data, rows, cols, cols)
    }

    /// Rows starting `row_stride` values apart (a column slice of a wider matrix).
    ///
    /// # Panics
    /// When `data` is too short.
    pub fn strided(data: &'a mut [f32], rows: usize, cols: usize, row_stride: usize) -> Self {
        if rows > 0 && cols > 0 {
            assert!(
                (rows - 1) * row_stride + cols <= data.len(),
                "output view {rows}x{cols} (row stride {row_stride}) exceeds its {} values",
                data.len()
            );
        }
        Self {
            data,
            rows,
            cols,
            row_stride,
        }
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Distance between consecutive rows.
    pub fn row_stride(&self) -> usize {
        self.row_stride
    }

    /// The underlying values (element `(i, j)` at `i * row_stride + j`).
    pub fn into_data(self) -> &'a mut [f32] {
        self.data
    }
}

/// Whether the product may use rayon's pool (`Pool`) or must stay on the calling thread (`Serial`,
/// for products issued from inside a parallel loop).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    /// Split the output across rayon's current pool.
    Pool,
    /// One thread.
    Serial,
}

/// `out = a b` (or `out += a b` with `accumulate`).
///
/// # Panics
/// On inconsistent shapes (an internal bug; shapes come from validated model configs).
pub fn matmul(out: MatMut<'_>, a: MatRef<'_>, b: MatRef<'_>, accumulate: bool, threads: Threads) {
    assert!(
        a.cols == b.rows && out.rows == a.rows && out.cols == b.cols,
        "matmul shapes: ({} x {}) * ({} x {}) -> ({} x {})",
        a.rows,
        a.cols,
        b.rows,
        b.cols,
        out.rows,
        out.cols
    );
    let (m, n, k) = (a.rows, b.cols, a.cols);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                out.data[i * out.row_stride..i * out.row_stride + n].fill(0.0);
            }
        }
        return;
    }
    let parallelism = match threads {
        Threads::Pool if rayon::current_num_threads() > 1 => gemm::Parallelism::Rayon(0),
        _ => gemm::Parallelism::None,
    };
    // SAFETY: the views' constructors checked that the largest index reachable through their
    // shapes and strides lies inside their slices, so gemm reads and writes only inside them;
    // `out` is a unique borrow, so it overlaps neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.data.as_mut_ptr(),
            1,
            out.row_stride as isize,
            accumulate,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect()
    }

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize, bt: bool) -> Vec<f32> {
        let mut out = vec![0.0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                for l in 0..k {
                    let bv = if bt { b[j * k + l] } else { b[l * n + j] };
                    out[i * n + j] += f64::from(a[i * k + l]) * f64::from(bv);
                }
            }
        }
        out.into_iter().map(|v| v as f32).collect()
    }

    #[test]
    fn products_with_transposes_and_accumulation_match_a_naive_product() {
        for &(m, k, n) in &[(7, 5, 3), (64, 128, 96), (1, 1, 1), (130, 33, 257)] {
            let a = random(m * k, 1);
            let b = random(k * n, 2);
            let mut out = vec![f32::NAN; m * n];
            matmul(
                MatMut::new(&mut out, m, n),
                MatRef::new(&a, m, k),
                MatRef::new(&b, k, n),
                false,
                Threads::Pool,
            );
            let want = naive(&a, &b, m, k, n, false);
            let tol = 1e-5 * (k as f32).sqrt();
            assert!(out.iter().zip(&want).all(|(x, y)| (x - y).abs() <= tol));
            // b given as (n x k) and used transposed; accumulate onto the first result.
            let bt = random(n * k, 3);
            matmul(
                MatMut::new(&mut out, m, n),
                MatRef::new(&a, m, k),
                MatRef::new(&bt, n, k).t(),
                true,
                Threads::Serial,
            );
            let extra = naive(&a, &bt, m, k, n, true);
            assert!(out
                .iter()
                .zip(want.iter().zip(&extra))
                .all(|(x, (y, z))| (x - (y + z)).abs() <= 2.0 * tol));
        }
    }

    #[test]
    fn strided_column_slices_are_read_and_written_in_place() {
        // a is the middle 4 columns of a 10-wide matrix; out the last 3 columns of a 5-wide one.
        let (m, k, n) = (6, 4, 3);
        let wide = random(m * 10, 4);
        let b = random(k * n, 5);
        let mut out = vec![7.0f32; m * 5];
        matmul(
            MatMut::strided(&mut out[2..], m, n, 5),
            MatRef::strided(&wide[3..], m, k, 10),
            MatRef::new(&b, k, n),
            false,
            Threads::Pool,
        );
        let a: Vec<f32> = (0..m)
            .flat_map(|i| wide[i * 10 + 3..i * 10 + 7].to_vec())
            .collect();
        let want = naive(&a, &b, m, k, n, false);
        for i in 0..m {
            assert_eq!(&out[i * 5..i * 5 + 2], &[7.0, 7.0]);
            for j in 0..n {
                assert!((out[i * 5 + 2 + j] - want[i * n + j]).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let (m, k, n) = (777, 384, 515);
        let a = random(m * k, 6);
        let b = random(k * n, 7);
        let c = random(m * n, 8);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut out = vec![0.0f32; m * n];
            pool.install(|| {
                matmul(
                    MatMut::new(&mut out, m, n),
                    MatRef::new(&a, m, k),
                    MatRef::new(&b, n, k).t(),
                    false,
                    Threads::Pool,
                )
            });
            // dW-shaped product: the long dimension m is the reduction.
            let mut dw = vec![0.0f32; k * n];
            pool.install(|| {
                matmul(
                    MatMut::new(&mut dw, k, n),
                    MatRef::new(&a, m, k).t(),
                    MatRef::new(&c, m, n),
                    false,
                    Threads::Pool,
                )
            });
            (out, dw)
        };
        let one = run(1);
        for threads in [2, 3, 8] {
            let other = run(threads);
            assert!(one
                .0
                .iter()
                .zip(&other.0)
                .all(|(x, y)| x.to_bits() == y.to_bits()));
            assert!(one
                .1
                .iter()
                .zip(&other.1)
                .all(|(x, y)| x.to_bits() == y.to_bits()));
        }
    }
}
