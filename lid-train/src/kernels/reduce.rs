//! Deterministic parallel loops over rows.
//!
//! Rows are cut into blocks of a fixed size that depends only on the row width, never on the
//! thread count; parameter gradients (sums over rows) are summed inside each block in row order and
//! then across blocks in block order. Results are therefore bitwise identical for any rayon pool
//! size.

use rayon::prelude::*;

/// Rows per block of the row-parallel kernels: about 16k values, at least one row.
pub fn block_rows(width: usize) -> usize {
    (16_384 / width.max(1)).max(1)
}

/// Rows per block of the column reductions (parameter gradients).
pub const REDUCE_ROWS: usize = 64;

/// Adds `sum_r f(r)` to `acc`, where `f(r, partial)` adds row `r`'s contribution (a vector of
/// `acc.len()` values) into `partial`. Blocks of [`REDUCE_ROWS`] rows run in parallel, each into its
/// own zeroed partial, summed in row order; partials are added to `acc` in block order.
pub fn column_sums<F>(rows: usize, acc: &mut [f32], f: F)
where
    F: Fn(usize, &mut [f32]) + Sync,
{
    let width = acc.len();
    if rows == 0 || width == 0 {
        return;
    }
    let blocks = rows.div_ceil(REDUCE_ROWS);
    let mut partials = vec![0.0f32; blocks * width];
    partials
        .par_chunks_mut(width)
        .enumerate()
        .for_each(|(b, partial)| {
            for r in b * REDUCE_ROWS..((b + 1) * REDUCE_ROWS).min(rows) {
                f(r, partial);
            }
        });
    for partial in partials.chunks_exact(width) {
        for (a, &p) in acc.iter_mut().zip(partial) {
            *a += p;
        }
    }
}

/// Adds the column sums of a `rows x width` row-major matrix to `acc` (bias gradients).
pub fn add_column_sums(matrix: &[f32], acc: &mut [f32]) {
    let width = acc.len();
    debug_assert!(width > 0 && matrix.len().is_multiple_of(width));
    column_sums(matrix.len() / width.max(1), acc, |r, partial| {
        for (p, &v) in partial.iter_mut().zip(&matrix[r * width..(r + 1) * width]) {
            *p += v;
        }
    });
}

/// Sum of squares of `values` in f64 over fixed chunks (gradient norms).
pub fn sum_of_squares(values: &[f32]) -> f64 {
    const CHUNK: usize = 1 << 14;
    let partials: Vec<f64> = values
        .par_chunks(CHUNK)
        .map(|c| c.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>())
        .collect();
    partials.iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_sums_are_exact_on_integers_and_thread_independent() {
        let (rows, width) = (1000, 7);
        let m: Vec<f32> = (0..rows * width).map(|i| ((i * 37) % 11) as f32).collect();
        let mut acc = vec![1.0f32; width];
        add_column_sums(&m, &mut acc);
        for c in 0..width {
            let want: f32 = 1.0 + (0..rows).map(|r| m[r * width + c]).sum::<f32>();
            assert_eq!(acc[c], want);
        }
        let noisy: Vec<f32> = (0..rows * width).map(|i| (i as f32 * 0.37).sin()).collect();
        let run = |threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut acc = vec![0.0f32; width];
            pool.install(|| add_column_sums(&noisy, &mut acc));
            (acc, pool.install(|| sum_of_squares(&noisy)))
        };
        let one = run(1);
        assert_eq!(one, run(4));
    }
}
