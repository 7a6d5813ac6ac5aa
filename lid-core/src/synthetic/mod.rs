//! Synthetic manifolds of known intrinsic dimension, for validating estimators.
//!
//! Every generator is seeded (`ChaCha8Rng::seed_from_u64`), draws its coordinates in f64 and stores
//! them as an f32 [`PointCloud`], and returns a [`ManifoldSample`] that carries the true dimension and
//! a name. The list of generators is the [`Manifold`] enum:
//! - basic shapes ([`basic`]): hyperball, hypersphere, unit cube, swiss roll, a curved smooth
//!   embedding of a cube into a higher ambient dimension ([`CurvedEmbedding`]), and unions of pieces of
//!   different dimensions placed apart;
//! - the M1-M13 benchmark set of Hein & Audibert (2005) and Campadelli et al. (2015), with the
//!   definitions of scikit-dimension 0.5.0's `BenchmarkManifolds` ([`benchmark`]).
//!
//! The random streams are our own (not numpy's): the same seed does not give the same points as the
//! Python generators, only the same distribution.

pub mod basic;
pub mod benchmark;

pub use basic::CurvedEmbedding;
pub use benchmark::Benchmark;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::cloud::PointCloud;
use crate::error::{Error, Result};

/// A sample from a synthetic manifold: the points, the true dimension and a name.
#[derive(Debug, Clone)]
pub struct ManifoldSample {
    /// Short stable name, e.g. `"ball(5)"` or `"M1_Sphere"`.
    pub name: String,
    /// The intrinsic dimension (for a union: the largest dimension of its pieces).
    pub intrinsic_dim: usize,
    /// The true local dimension of every point (equal to `intrinsic_dim` except for unions).
    pub local_dims: Vec<usize>,
    /// The points.
    pub cloud: PointCloud<'static>,
}

impl ManifoldSample {
    /// Ambient dimension (columns of the cloud).
    pub fn ambient_dim(&self) -> usize {
        self.cloud.dim()
    }

    /// Number of points.
    pub fn n_points(&self) -> usize {
        self.cloud.n_points()
    }
}

/// The synthetic manifolds, each with its intrinsic and ambient dimension.
#[derive(Debug, Clone, PartialEq)]
pub enum Manifold {
    /// Uniform points in the unit `dim`-ball of `R^dim` (intrinsic `dim`).
    Ball {
        /// Dimension of the ball.
        dim: usize,
    },
    /// Uniform points on the unit `dim`-sphere in `R^(dim + 1)` (intrinsic `dim`).
    Sphere {
        /// Dimension of the sphere.
        dim: usize,
    },
    /// Uniform points in the unit cube `[0, 1]^dim` (intrinsic `dim`).
    Cube {
        /// Dimension of the cube.
        dim: usize,
    },
    /// The swiss roll of scikit-learn's `make_swiss_roll`: `t = 1.5 pi (1 + 2u)`, `h = 21 v`, point
    /// `(t cos t, h, t sin t)` (intrinsic 2, ambient 3).
    SwissRoll,
    /// Uniform points of `[0, 1]^dim` mapped into `R^ambient` by the fixed smooth embedding
    /// [`CurvedEmbedding`] built from `map_seed` (intrinsic `dim`).
    CurvedCube {
        /// Intrinsic dimension.
        dim: usize,
        /// Ambient dimension (`> dim`).
        ambient: usize,
        /// How curved: the sine part's Lipschitz bound relative to the linear part, in `[0, 1)`.
        curvature: f64,
        /// Seed of the embedding (independent of the sampling seed).
        map_seed: u64,
    },
    /// Pieces of different dimensions placed apart: every piece is zero-padded to the largest ambient
    /// dimension and piece `i` is translated by `i * spacing` along the first coordinate. The `n`
    /// points are split evenly (the first `n mod pieces` pieces get one more).
    Union {
        /// The pieces (not themselves unions).
        pieces: Vec<Manifold>,
        /// Distance between consecutive pieces along the first axis.
        spacing: f64,
    },
    /// One of the M1-M13 benchmark manifolds.
    Benchmark(Benchmark),
}

impl Manifold {
    /// Short stable name.
    pub fn name(&self) -> String {
        match self {
            Manifold::Ball { dim } => format!("ball({dim})"),
            Manifold::Sphere { dim } => format!("sphere({dim})"),
            Manifold::Cube { dim } => format!("cube({dim})"),
            Manifold::SwissRoll => "swiss_roll".into(),
            Manifold::CurvedCube { dim, ambient, .. } => format!("curved_cube({dim}->{ambient})"),
            Manifold::Union { pieces, .. } => {
                let names: Vec<String> = pieces.iter().map(Manifold::name).collect();
                format!("union[{}]", names.join("+"))
            }
            Manifold::Benchmark(b) => b.name().into(),
        }
    }

    /// True intrinsic dimension (for a union: the largest among its pieces).
    pub fn intrinsic_dim(&self) -> usize {
        match self {
            Manifold::Ball { dim } | Manifold::Sphere { dim } | Manifold::Cube { dim } => *dim,
            Manifold::SwissRoll => 2,
            Manifold::CurvedCube { dim, .. } => *dim,
            Manifold::Union { pieces, .. } => pieces
                .iter()
                .map(Manifold::intrinsic_dim)
                .max()
                .unwrap_or(0),
            Manifold::Benchmark(b) => b.intrinsic_dim(),
        }
    }

    /// Ambient dimension of the generated points.
    pub fn ambient_dim(&self) -> usize {
        match self {
            Manifold::Ball { dim } | Manifold::Cube { dim } => *dim,
            Manifold::Sphere { dim } => dim + 1,
            Manifold::SwissRoll => 3,
            Manifold::CurvedCube { ambient, .. } => *ambient,
            Manifold::Union { pieces, .. } => {
                pieces.iter().map(Manifold::ambient_dim).max().unwrap_or(0)
            }
            Manifold::Benchmark(b) => b.ambient_dim(),
        }
    }

    /// Checks the parameters.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a zero dimension, `ambient <= dim`, a curvature outside
    /// `[0, 1)`, an empty or nested union, or a non-finite / negative spacing.
    pub fn validate(&self) -> Result<()> {
        match self {
            Manifold::Ball { dim } | Manifold::Sphere { dim } | Manifold::Cube { dim } => {
                if *dim == 0 {
                    return Err(Error::invalid_parameter("dim", dim, "must be at least 1"));
                }
            }
            Manifold::SwissRoll | Manifold::Benchmark(_) => {}
            Manifold::CurvedCube {
                dim,
                ambient,
                curvature,
                ..
            } => {
                if *dim == 0 || ambient <= dim {
                    return Err(Error::invalid_parameter(
                        "ambient",
                        ambient,
                        format!("need 1 <= dim < ambient (dim = {dim})"),
                    ));
                }
                if !(0.0..1.0).contains(curvature) {
                    return Err(Error::invalid_parameter(
                        "curvature",
                        curvature,
                        "must lie in [0, 1) so that the map stays an embedding",
                    ));
                }
            }
            Manifold::Union { pieces, spacing } => {
                if pieces.is_empty() {
                    return Err(Error::invalid_parameter(
                        "pieces",
                        0,
                        "a union needs at least one piece",
                    ));
                }
                if !(spacing.is_finite() && *spacing >= 0.0) {
                    return Err(Error::invalid_parameter(
                        "spacing",
                        spacing,
                        "must be finite and >= 0",
                    ));
                }
                for p in pieces {
                    if matches!(p, Manifold::Union { .. }) {
                        return Err(Error::invalid_parameter(
                            "pieces",
                            p.name(),
                            "unions cannot be nested",
                        ));
                    }
                    p.validate()?;
                }
            }
        }
        Ok(())
    }

    /// Draws `n` points with `seed`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for `n == 0` or bad parameters (see [`Manifold::validate`]); for a
    /// union, `n` smaller than the number of pieces.
    pub fn sample(&self, n: usize, seed: u64) -> Result<ManifoldSample> {
        self.validate()?;
        if n == 0 {
            return Err(Error::invalid_parameter(
                "n",
                0,
                "at least one point is needed",
            ));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (values, local_dims) = match self {
            Manifold::Union { pieces, spacing } => {
                if n < pieces.len() {
                    return Err(Error::invalid_parameter(
                        "n",
                        n,
                        format!(
                            "a union of {} pieces needs at least one point per piece",
                            pieces.len()
                        ),
                    ));
                }
                basic::union(pieces, *spacing, self.ambient_dim(), n, &mut rng)?
            }
            other => (
                other.sample_values(n, &mut rng)?,
                vec![other.intrinsic_dim(); n],
            ),
        };
        let cloud = PointCloud::from_vec(values, n, self.ambient_dim())?;
        Ok(ManifoldSample {
            name: self.name(),
            intrinsic_dim: self.intrinsic_dim(),
            local_dims,
            cloud,
        })
    }

    /// Row-major f32 values of `n` points (not for unions).
    pub(crate) fn sample_values(&self, n: usize, rng: &mut ChaCha8Rng) -> Result<Vec<f32>> {
        let d = self.ambient_dim();
        Ok(match self {
            Manifold::Ball { dim } => basic::fill(n, d, rng, |r, x| basic::ball_point(r, *dim, x)),
            Manifold::Sphere { dim } => {
                basic::fill(n, d, rng, |r, x| basic::sphere_point(r, dim + 1, x))
            }
            Manifold::Cube { .. } => basic::fill(n, d, rng, basic::cube_point),
            Manifold::SwissRoll => basic::fill(n, d, rng, basic::swiss_roll_point),
            Manifold::CurvedCube {
                dim,
                ambient,
                curvature,
                map_seed,
            } => {
                let map = CurvedEmbedding::new(*dim, *ambient, *curvature, *map_seed)?;
                let mut latent = vec![0.0; *dim];
                basic::fill(n, d, rng, |r, x| {
                    basic::cube_point(r, &mut latent);
                    map.map(&latent, x);
                })
            }
            Manifold::Benchmark(b) => b.sample_values(n, rng),
            Manifold::Union { .. } => {
                return Err(Error::invalid_parameter(
                    "pieces",
                    self.name(),
                    "unions cannot be nested",
                ))
            }
        })
    }
}
