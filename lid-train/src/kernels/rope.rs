//! Rotary position embedding in the half-split layout of `transformers` (`rotate_half`): for
//! `i < d/2`, `(x_i, x_{i+d/2})` is rotated by the angle `pos * inv_freq[i]`. The backward pass is
//! the inverse rotation.

use rayon::prelude::*;

use super::reduce::block_rows;

/// `cos` and `sin` of `pos * inv_freq[i]` for positions `0..max_pos`, `(max_pos, d/2)` each.
#[derive(Debug, Clone)]
pub struct RopeTables {
    half: usize,
    cos: Vec<f32>,
    sin: Vec<f32>,
}

impl RopeTables {
    /// Tables for positions `0..max_pos`, computed in f32 as `transformers` does
    /// (`freqs = pos * inv_freq`, then `cos`/`sin`).
    pub fn new(inv_freq: &[f32], max_pos: usize) -> Self {
        let half = inv_freq.len();
        let mut cos = Vec::with_capacity(max_pos * half);
        let mut sin = Vec::with_capacity(max_pos * half);
        for p in 0..max_pos {
            for &f in inv_freq {
                let angle = p as f32 * f;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        Self { half, cos, sin }
    }

    /// Positions covered.
    pub fn len(&self) -> usize {
        self.cos.len() / self.half.max(1)
    }

    /// Whether no position is covered.
    pub fn is_empty(&self) -> bool {
        self.cos.is_empty()
    }

    /// Grows the tables to cover `max_pos` positions.
    pub fn ensure(&mut self, inv_freq: &[f32], max_pos: usize) {
        if self.len() < max_pos {
            *self = Self::new(inv_freq, max_pos);
        }
    }

    /// Rotates every head of every row of `x` (rows of `heads * 2 * half` values) by its position
    /// (`positions[row]`); `inverse` rotates backwards (the backward pass).
    pub fn apply(&self, x: &mut [f32], heads: usize, positions: &[u32], inverse: bool) {
        let half = self.half;
        let width = heads * 2 * half;
        assert!(x.len() == positions.len() * width);
        let block = block_rows(width);
        x.par_chunks_mut(block * width)
            .zip(positions.par_chunks(block))
            .for_each(|(x, positions)| {
                for (row, &pos) in x.chunks_exact_mut(width).zip(positions) {
                    let cos = &self.cos[pos as usize * half..(pos as usize + 1) * half];
                    let sin = &self.sin[pos as usize * half..(pos as usize + 1) * half];
                    for head in row.chunks_exact_mut(2 * half) {
                        let (a, b) = head.split_at_mut(half);
                        for i in 0..half {
                            let (x1, x2) = (a[i], b[i]);
                            let s = if inverse { -sin[i] } else { sin[i] };
                            a[i] = x1 * cos[i] - x2 * s;
                            b[i] = x2 * cos[i] + x1 * s;
                        }
                    }
                }
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_undoes_the_rotation_and_position_zero_is_identity() {
        let inv: Vec<f32> = (0..4)
            .map(|i| 1.0 / 10000f32.powf(i as f32 / 4.0))
            .collect();
        let tables = RopeTables::new(&inv, 16);
        let x: Vec<f32> = (0..3 * 16).map(|i| (i as f32 * 0.3).sin()).collect();
        let positions = [0u32, 5, 15];
        let mut y = x.clone();
        tables.apply(&mut y, 2, &positions, false);
        assert_eq!(&y[..16], &x[..16]);
        assert!(y[16..].iter().zip(&x[16..]).any(|(a, b)| a != b));
        tables.apply(&mut y, 2, &positions, true);
        assert!(y.iter().zip(&x).all(|(a, b)| (a - b).abs() < 1e-6));
    }
}
