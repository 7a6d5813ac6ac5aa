//! The M1-M13 benchmark manifolds of Hein & Audibert (2005, "Intrinsic dimensionality estimation of
//! submanifolds in R^d") and Campadelli et al. (2015, "Intrinsic dimension estimation: relevant
//! techniques and a benchmark framework"), with the definitions, names and dimensions of
//! scikit-dimension 0.5.0's `BenchmarkManifolds` (written anew here; the random streams differ).

use std::f64::consts::PI;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::basic::{fill, sphere_point};

/// One of the benchmark manifolds; [`Benchmark::ALL`] lists them in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Benchmark {
    /// 10-sphere in R^11 (Gaussian direction, normalised).
    M1Sphere,
    /// 3-d affine space in R^5: `A p + b`, `p` uniform in `[0, 4]^3`, fixed `A` (5 x 3) and `b`.
    M2Affine3to5,
    /// 4-d nonlinear manifold in R^6, concentrated, mistakable with a 3-d one.
    M3Nonlinear4to6,
    /// 4-d nonlinear manifold in R^8 (the `nonlinear` family, one copy).
    M4Nonlinear,
    /// 1-d helix in R^3: `((2 + cos 8t) cos t, (2 + cos 8t) sin t, sin 8t)`, `t` uniform in `[0, 2 pi)`.
    M5aHelix1d,
    /// 2-d helicoid-like surface in R^3: `(r cos p, r sin p, p / 2)`, `r, p` uniform in `[0, 10 pi)`.
    M5bHelix2d,
    /// 6-d nonlinear manifold in R^36 (the `nonlinear` family, three copies).
    M6Nonlinear,
    /// Swiss roll in R^3: `(t cos t, p, t sin t)`, `t = 1.5 pi (1 + 2u)`, `p` uniform in `[0, 21)`.
    M7Roll,
    /// 12-d highly curved manifold in R^72 (the `nonlinear` family, three copies).
    M8Nonlinear,
    /// 20-d affine space: the cube `[-2.5, 2.5]^20` in R^20.
    M9Affine,
    /// Surface of the 11-cube (10-d) in R^11.
    M10aCubic,
    /// Surface of the 18-cube (17-d) in R^18.
    M10bCubic,
    /// Surface of the 25-cube (24-d) in R^25.
    M10cCubic,
    /// Surface of the 71-cube (70-d) in R^71.
    M10dCubic,
    /// Moebius band twisted 10 times (2-d) in R^3.
    M11Moebius,
    /// Isotropic standard Gaussian in R^20 (20-d).
    M12Norm,
    /// S-curve (2-d) in R^3: `(sin t, p, sign(t)(cos t - 1))`, `t` uniform in `[-1.5 pi, 1.5 pi)`,
    /// `p` in `[0, 2)`.
    M13aScurve,
    /// 1-d spiral in R^13: `(100 cos t, 100 sin t, t, 0, ..)`, `t` uniform in `[0, 10 pi)`.
    M13bSpiral,
}

/// `A` of M2 (5 x 3, row-major) and its offset `b`.
const M2_A: [[f64; 3]; 5] = [
    [1.2, -0.5, 0.0],
    [0.5, 0.9, 0.0],
    [-0.5, -0.2, 1.0],
    [0.4, -0.9, -0.1],
    [1.1, -0.3, 0.0],
];
const M2_B: [f64; 5] = [3.0, -1.0, 0.0, 0.0, 8.0];

/// The matrix `A` and offset `b` of [`Benchmark::M2Affine3to5`] (for checks: every point is `A p + b`).
pub fn m2_affine_map() -> ([[f64; 3]; 5], [f64; 5]) {
    (M2_A, M2_B)
}

impl Benchmark {
    /// All benchmark manifolds, in scikit-dimension's order.
    pub const ALL: [Benchmark; 18] = [
        Benchmark::M1Sphere,
        Benchmark::M2Affine3to5,
        Benchmark::M3Nonlinear4to6,
        Benchmark::M4Nonlinear,
        Benchmark::M5aHelix1d,
        Benchmark::M5bHelix2d,
        Benchmark::M6Nonlinear,
        Benchmark::M7Roll,
        Benchmark::M8Nonlinear,
        Benchmark::M9Affine,
        Benchmark::M10aCubic,
        Benchmark::M10bCubic,
        Benchmark::M10cCubic,
        Benchmark::M10dCubic,
        Benchmark::M11Moebius,
        Benchmark::M12Norm,
        Benchmark::M13aScurve,
        Benchmark::M13bSpiral,
    ];

    /// scikit-dimension's name, e.g. `"M1_Sphere"`.
    pub fn name(self) -> &'static str {
        self.spec().0
    }

    /// Intrinsic dimension.
    pub fn intrinsic_dim(self) -> usize {
        self.spec().1
    }

    /// Ambient dimension.
    pub fn ambient_dim(self) -> usize {
        self.spec().2
    }

    /// Looks a manifold up by its scikit-dimension name.
    pub fn from_name(name: &str) -> Option<Benchmark> {
        Self::ALL.into_iter().find(|b| b.name() == name)
    }

    fn spec(self) -> (&'static str, usize, usize) {
        match self {
            Benchmark::M1Sphere => ("M1_Sphere", 10, 11),
            Benchmark::M2Affine3to5 => ("M2_Affine_3to5", 3, 5),
            Benchmark::M3Nonlinear4to6 => ("M3_Nonlinear_4to6", 4, 6),
            Benchmark::M4Nonlinear => ("M4_Nonlinear", 4, 8),
            Benchmark::M5aHelix1d => ("M5a_Helix1d", 1, 3),
            Benchmark::M5bHelix2d => ("M5b_Helix2d", 2, 3),
            Benchmark::M6Nonlinear => ("M6_Nonlinear", 6, 36),
            Benchmark::M7Roll => ("M7_Roll", 2, 3),
            Benchmark::M8Nonlinear => ("M8_Nonlinear", 12, 72),
            Benchmark::M9Affine => ("M9_Affine", 20, 20),
            Benchmark::M10aCubic => ("M10a_Cubic", 10, 11),
            Benchmark::M10bCubic => ("M10b_Cubic", 17, 18),
            Benchmark::M10cCubic => ("M10c_Cubic", 24, 25),
            Benchmark::M10dCubic => ("M10d_Cubic", 70, 71),
            Benchmark::M11Moebius => ("M11_Moebius", 2, 3),
            Benchmark::M12Norm => ("M12_Norm", 20, 20),
            Benchmark::M13aScurve => ("M13a_Scurve", 2, 3),
            Benchmark::M13bSpiral => ("M13b_Spiral", 1, 13),
        }
    }

    /// Row-major f32 values of `n` points.
    pub(crate) fn sample_values(self, n: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
        let (d, dim) = (self.intrinsic_dim(), self.ambient_dim());
        match self {
            Benchmark::M1Sphere => fill(n, dim, rng, |r, x| sphere_point(r, d + 1, x)),
            Benchmark::M2Affine3to5 => fill(n, dim, rng, |r, x| {
                let p: [f64; 3] = std::array::from_fn(|_| 4.0 * r.random::<f64>());
                for (i, xi) in x.iter_mut().enumerate() {
                    *xi = M2_B[i] + (0..3).map(|k| M2_A[i][k] * p[k]).sum::<f64>();
                }
            }),
            Benchmark::M3Nonlinear4to6 => fill(n, dim, rng, |r, x| {
                let [p0, p1, p2, p3]: [f64; 4] = std::array::from_fn(|_| r.random::<f64>());
                x[0] = p1 * p1 * (2.0 * PI * p0).cos();
                x[1] = p2 * p2 * (2.0 * PI * p0).sin();
                x[2] = p1 + p2 + (p1 - p3).powi(2);
                x[3] = p1 - 2.0 * p2 + (p0 - p3).powi(2);
                x[4] = -p1 - 2.0 * p2 + (p2 - p3).powi(2);
                x[5] = p0 * p0 - p1 * p1 + p2 * p2 - p3 * p3;
            }),
            Benchmark::M4Nonlinear | Benchmark::M6Nonlinear | Benchmark::M8Nonlinear => {
                let mut p = vec![0.0; d];
                fill(n, dim, rng, |r, x| nonlinear_point(r, &mut p, x))
            }
            Benchmark::M5aHelix1d => fill(n, dim, rng, |r, x| {
                let t = 2.0 * PI * r.random::<f64>();
                let radius = 2.0 + (8.0 * t).cos();
                x[0] = radius * t.cos();
                x[1] = radius * t.sin();
                x[2] = (8.0 * t).sin();
            }),
            Benchmark::M5bHelix2d => fill(n, dim, rng, |r, x| {
                let rad = 10.0 * PI * r.random::<f64>();
                let p = 10.0 * PI * r.random::<f64>();
                x[0] = rad * p.cos();
                x[1] = rad * p.sin();
                x[2] = 0.5 * p;
            }),
            Benchmark::M7Roll => fill(n, dim, rng, |r, x| {
                let t = 1.5 * PI * (1.0 + 2.0 * r.random::<f64>());
                let p = 21.0 * r.random::<f64>();
                x[0] = t * t.cos();
                x[1] = p;
                x[2] = t * t.sin();
            }),
            Benchmark::M9Affine => fill(n, dim, rng, |r, x| {
                x.iter_mut()
                    .for_each(|v| *v = 5.0 * r.random::<f64>() - 2.5);
            }),
            Benchmark::M10aCubic
            | Benchmark::M10bCubic
            | Benchmark::M10cCubic
            | Benchmark::M10dCubic => {
                // Faces are assigned in turn (point j lies on face j mod 2(d+1)): coordinate
                // `face / 2` is fixed to 0 or 1, the others are uniform in [0, 1).
                let mut j = 0usize;
                fill(n, dim, rng, |r, x| {
                    x.iter_mut().for_each(|v| *v = r.random::<f64>());
                    let face = j % (2 * dim);
                    x[face / 2] = (face % 2) as f64;
                    j += 1;
                })
            }
            Benchmark::M11Moebius => fill(n, dim, rng, |r, x| {
                let phi = 2.0 * PI * r.random::<f64>();
                let rad = 2.0 * r.random::<f64>() - 1.0;
                let w = 1.0 + 0.5 * rad * (5.0 * phi).cos();
                x[0] = w * phi.cos();
                x[1] = w * phi.sin();
                x[2] = 0.5 * rad * (5.0 * phi).sin();
            }),
            Benchmark::M12Norm => fill(n, dim, rng, |r, x| {
                x.iter_mut().for_each(|v| *v = r.sample(StandardNormal));
            }),
            Benchmark::M13aScurve => fill(n, dim, rng, |r, x| {
                let t = 3.0 * PI * (r.random::<f64>() - 0.5);
                let p = 2.0 * r.random::<f64>();
                x[0] = t.sin();
                x[1] = p;
                // sign(0) = 0 as numpy's np.sign.
                let sign = if t > 0.0 {
                    1.0
                } else if t < 0.0 {
                    -1.0
                } else {
                    0.0
                };
                x[2] = sign * (t.cos() - 1.0);
            }),
            Benchmark::M13bSpiral => fill(n, dim, rng, |r, x| {
                let t = 10.0 * PI * r.random::<f64>();
                x[0] = 100.0 * t.cos();
                x[1] = 100.0 * t.sin();
                x[2] = t;
            }),
        }
    }
}

/// The `nonlinear` family (M4, M6, M8): `p` uniform in `[0, 1)^d`; the block of length `2d` has
/// entries `2i` and `2i + 1` equal to `p[(i + 1) mod d] cos(2 pi p[i])` and
/// `p[(i + 1) mod d] sin(2 pi p[i])`; the point is `m = ambient / (2d)` copies of that block.
fn nonlinear_point(rng: &mut ChaCha8Rng, p: &mut [f64], x: &mut [f64]) {
    let d = p.len();
    p.iter_mut().for_each(|v| *v = rng.random::<f64>());
    for i in 0..d {
        let radius = p[(i + 1) % d];
        x[2 * i] = radius * (2.0 * PI * p[i]).cos();
        x[2 * i + 1] = radius * (2.0 * PI * p[i]).sin();
    }
    let (first, rest) = x.split_at_mut(2 * d);
    for chunk in rest.chunks_exact_mut(2 * d) {
        chunk.copy_from_slice(first);
    }
}
