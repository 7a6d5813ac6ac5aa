//! Basic shapes: ball, sphere, cube, swiss roll, a curved embedding of a cube, unions.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::Manifold;
use crate::error::{Error, Result};

/// Draws `n` points of dimension `d` with `point` (which writes one point into an f64 buffer) and
/// returns them row-major as f32.
pub(crate) fn fill(
    n: usize,
    d: usize,
    rng: &mut ChaCha8Rng,
    mut point: impl FnMut(&mut ChaCha8Rng, &mut [f64]),
) -> Vec<f32> {
    let mut buf = vec![0.0f64; d];
    let mut values = Vec::with_capacity(n * d);
    for _ in 0..n {
        buf.iter_mut().for_each(|v| *v = 0.0);
        point(rng, &mut buf);
        values.extend(buf.iter().map(|&v| v as f32));
    }
    values
}

/// A uniform point on the unit sphere of `R^m`, written to `x[..m]` (Gaussian direction).
pub(crate) fn sphere_point(rng: &mut ChaCha8Rng, m: usize, x: &mut [f64]) {
    loop {
        let mut norm2 = 0.0;
        for v in x[..m].iter_mut() {
            *v = rng.sample(StandardNormal);
            norm2 += *v * *v;
        }
        // A zero Gaussian vector has probability 0; redraw rather than divide by zero.
        if norm2 > 1e-300 {
            let inv = 1.0 / norm2.sqrt();
            x[..m].iter_mut().for_each(|v| *v *= inv);
            return;
        }
    }
}

/// A uniform point in the unit ball of `R^m`: uniform direction, radius `U^(1/m)`.
pub(crate) fn ball_point(rng: &mut ChaCha8Rng, m: usize, x: &mut [f64]) {
    sphere_point(rng, m, x);
    let r = rng.random::<f64>().powf(1.0 / m as f64);
    x[..m].iter_mut().for_each(|v| *v *= r);
}

/// A uniform point in `[0, 1)^m`, `m = x.len()`.
pub(crate) fn cube_point(rng: &mut ChaCha8Rng, x: &mut [f64]) {
    x.iter_mut().for_each(|v| *v = rng.random::<f64>());
}

/// A point of the swiss roll (scikit-learn's `make_swiss_roll` without noise).
pub(crate) fn swiss_roll_point(rng: &mut ChaCha8Rng, x: &mut [f64]) {
    let t = 1.5 * std::f64::consts::PI * (1.0 + 2.0 * rng.random::<f64>());
    let h = 21.0 * rng.random::<f64>();
    x[0] = t * t.cos();
    x[1] = h;
    x[2] = t * t.sin();
}

/// A fixed smooth embedding of `R^dim` into `R^ambient`, built from a seed:
///
/// `f(x) = Q x + a sin(W x + b)` (sine taken per output coordinate),
///
/// with `Q` (`ambient x dim`) orthonormal columns (Gram-Schmidt of a Gaussian matrix), `W`
/// (`ambient x dim`) Gaussian entries with standard deviation 2 (so a unit cube spans about two radians
/// per direction), `b` uniform in `[0, 2 pi)` and `a = curvature / ||W||_F`. The sine part is
/// Lipschitz with constant at most `curvature < 1`, so `f` is bi-Lipschitz with constants
/// `1 - curvature` and `1 + curvature`: an embedding whose image is curved in every direction.
#[derive(Debug, Clone, PartialEq)]
pub struct CurvedEmbedding {
    dim: usize,
    ambient: usize,
    q: Vec<f64>,
    w: Vec<f64>,
    b: Vec<f64>,
    amplitude: f64,
}

impl CurvedEmbedding {
    /// Builds the map for `dim -> ambient` with the given curvature and seed.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] unless `1 <= dim < ambient` and `0 <= curvature < 1`.
    pub fn new(dim: usize, ambient: usize, curvature: f64, seed: u64) -> Result<Self> {
        if dim == 0 || ambient <= dim {
            return Err(Error::invalid_parameter(
                "ambient",
                ambient,
                format!("need 1 <= dim < ambient (dim = {dim})"),
            ));
        }
        if !(0.0..1.0).contains(&curvature) {
            return Err(Error::invalid_parameter(
                "curvature",
                curvature,
                "must lie in [0, 1) so that the map stays an embedding",
            ));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // Q: Gram-Schmidt on Gaussian columns, stored column-major (column j at q[j*ambient..]).
        let mut q = vec![0.0f64; ambient * dim];
        let mut j = 0;
        while j < dim {
            let mut col: Vec<f64> = (0..ambient).map(|_| rng.sample(StandardNormal)).collect();
            for prev in 0..j {
                let p = &q[prev * ambient..(prev + 1) * ambient];
                let dot: f64 = col.iter().zip(p).map(|(a, b)| a * b).sum();
                col.iter_mut().zip(p).for_each(|(c, pv)| *c -= dot * pv);
            }
            let norm = col.iter().map(|v| v * v).sum::<f64>().sqrt();
            // A (numerically) dependent Gaussian column has probability ~0; redraw it.
            if norm > 1e-8 {
                q[j * ambient..(j + 1) * ambient]
                    .iter_mut()
                    .zip(&col)
                    .for_each(|(dst, c)| *dst = c / norm);
                j += 1;
            }
        }
        let w: Vec<f64> = (0..ambient * dim)
            .map(|_| 2.0 * rng.sample::<f64, _>(StandardNormal))
            .collect();
        let b: Vec<f64> = (0..ambient)
            .map(|_| 2.0 * std::f64::consts::PI * rng.random::<f64>())
            .collect();
        let w_norm = w.iter().map(|v| v * v).sum::<f64>().sqrt();
        let amplitude = if w_norm > 0.0 {
            curvature / w_norm
        } else {
            0.0
        };
        Ok(Self {
            dim,
            ambient,
            q,
            w,
            b,
            amplitude,
        })
    }

    /// Intrinsic dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Ambient dimension.
    pub fn ambient(&self) -> usize {
        self.ambient
    }

    /// Writes `f(x)` into `out`.
    ///
    /// # Panics
    /// When `x.len() != dim` or `out.len() != ambient` (programming errors).
    pub fn map(&self, x: &[f64], out: &mut [f64]) {
        assert_eq!(x.len(), self.dim, "latent point has the wrong dimension");
        assert_eq!(
            out.len(),
            self.ambient,
            "output buffer has the wrong dimension"
        );
        for (i, o) in out.iter_mut().enumerate() {
            let mut lin = 0.0;
            let mut arg = self.b[i];
            for (k, &xk) in x.iter().enumerate() {
                lin += self.q[k * self.ambient + i] * xk;
                arg += self.w[i * self.dim + k] * xk;
            }
            *o = lin + self.amplitude * arg.sin();
        }
    }
}

/// Values and per-point dimensions of a union (see [`Manifold::Union`]).
pub(crate) fn union(
    pieces: &[Manifold],
    spacing: f64,
    ambient: usize,
    n: usize,
    rng: &mut ChaCha8Rng,
) -> Result<(Vec<f32>, Vec<usize>)> {
    let mut values = Vec::with_capacity(n * ambient);
    let mut dims = Vec::with_capacity(n);
    let base = n / pieces.len();
    let extra = n % pieces.len();
    for (i, piece) in pieces.iter().enumerate() {
        let m = base + usize::from(i < extra);
        if m == 0 {
            continue;
        }
        let d = piece.ambient_dim();
        let piece_values = piece.sample_values(m, rng)?;
        let shift = (i as f64 * spacing) as f32;
        for row in piece_values.chunks_exact(d) {
            values.push(row[0] + shift);
            values.extend_from_slice(&row[1..]);
            values.extend(std::iter::repeat_n(0.0f32, ambient - d));
        }
        dims.extend(std::iter::repeat_n(piece.intrinsic_dim(), m));
    }
    Ok((values, dims))
}
