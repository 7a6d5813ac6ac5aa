//! TwoNN (Facco, d'Errico, Rodriguez & Laio, "Estimating the intrinsic dimension of datasets by a
//! minimal neighborhood information", Scientific Reports 7, 12140, 2017).
//!
//! For every point, `mu = r2 / r1` (second over first nearest-neighbour distance) follows a Pareto law
//! `F(mu) = 1 - mu^(-d)` on a locally uniform `d`-dimensional manifold. Two fits of `d`:
//!
//! - **Line fit** ([`TwoNnMethod::LineFit`], the paper's and the default): sort the `n` ratios, keep
//!   the `k = floor(n (1 - discard_fraction))` smallest, and fit a line through the origin of
//!   `y_j = -ln(1 - F_j)` on `x_j = ln mu_(j)`, `j = 1..k`: `d = sum(x y) / sum(x^2)`. The empirical CDF
//!   is `F_j = (j - 1) / n` in scikit-dimension 0.3.4 ([`CdfConvention::Skdim034`], the convention the
//!   paper of Ruppik et al. used) and `F_j = j / n` from scikit-dimension 0.4 on
//!   ([`CdfConvention::Corrected`]). In both, `n` counts **all** ratios, the discarded ones included.
//!   The 0.3.4 convention gives estimates about 2.5 % lower.
//! - **Censored MLE** ([`TwoNnMethod::CensoredMle`], scikit-dimension 0.5.0 `TwoNN(method="mle")`):
//!   `ln mu` is exponential with rate `d`; keeping the `k` smallest of `n` is type-II censoring, and the
//!   unbiased estimate is `d = (k - 1) / (sum_{j<=k} ln mu_(j) + (n - k) ln mu_(k))`.
//!
//! Duplicate points (`r1 = 0`) make `mu` undefined: by default they are an
//! [`Error::DuplicatePoints`]; with [`TwoNN::drop_duplicates`] they are dropped before the fit, as
//! scikit-dimension 0.5.0 does, and `n` is then the number of remaining ratios.
//!
//! Pointwise estimates follow docs/method.md step 7 exactly (see [`TwoNN`]'s
//! [`PointwiseEstimator`] implementation and the `pointwise` module for the fast exact algorithm).

mod fit;
mod pointwise;

use crate::cloud::PointCloud;
use crate::error::{Error, Result};
use crate::estimators::{
    check_graph_on_cloud, smooth_over_graph, GlobalEstimate, GlobalEstimator, PointwiseEstimates,
    PointwiseEstimator,
};
use crate::graph::{KnnGraph, NeighborSearch};
use crate::guards::NearDuplicates;

pub use pointwise::PointwiseTwoNnReport;

/// Which empirical CDF the TwoNN line fit uses for the `j`-th smallest of `n` ratios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CdfConvention {
    /// `F_j = (j - 1) / n`, as in scikit-dimension 0.3.4: the convention of the paper's numbers
    /// (Ruppik et al. 2025). The default, for paper compatibility. Estimates are about 2.5 % lower
    /// than with [`CdfConvention::Corrected`].
    #[default]
    Skdim034,
    /// `F_j = j / n`, as in scikit-dimension 0.4 and later (0.5.0 checked). Needs a positive discard
    /// fraction (with `F_n = 1` the last point would sit at infinity).
    Corrected,
}

/// How TwoNN turns the kept ratios into a dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TwoNnMethod {
    /// Least-squares line through the origin (Facco et al. 2017; scikit-dimension `method="linear"`).
    #[default]
    LineFit,
    /// Unbiased maximum likelihood with the discarded ratios treated as censored
    /// (scikit-dimension 0.5.0 `method="mle"`). The CDF convention does not enter.
    CensoredMle,
}

/// The result of one TwoNN fit on a set of ratios.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TwoNnFit {
    /// The estimated dimension (finite).
    pub dimension: f64,
    /// Ratios that entered the fit (`k`).
    pub n_used: usize,
    /// Ratios left out by the discard fraction (`n - k`).
    pub n_discarded: usize,
    /// Ratios dropped because `r1 = 0` (only with [`TwoNN::drop_duplicates`]).
    pub dropped_duplicates: usize,
}

/// The TwoNN estimator (Facco et al. 2017), global and pointwise.
///
/// Global and pointwise (L = 64) estimates on 2000 points uniform in a 4-d ball inside R^10:
///
/// ```
/// use lid_core::estimators::{CdfConvention, GlobalEstimator, PointwiseEstimator, TwoNN};
/// use lid_core::{ExhaustiveSearch, NeighborSearch, PointCloud};
/// use rand::{Rng, SeedableRng};
/// use rand_distr::{Distribution, StandardNormal};
///
/// let (d, n, ambient) = (4usize, 2000usize, 10usize);
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
/// let mut values = Vec::with_capacity(n * ambient);
/// for _ in 0..n {
///     let g: Vec<f64> = (0..d).map(|_| StandardNormal.sample(&mut rng)).collect();
///     let norm = g.iter().map(|x| x * x).sum::<f64>().sqrt();
///     let radius = rng.random::<f64>().powf(1.0 / d as f64);
///     values.extend((0..ambient).map(|c| if c < d { (g[c] / norm * radius) as f32 } else { 0.0 }));
/// }
/// let cloud = PointCloud::from_vec(values, n, ambient).unwrap();
///
/// let global = TwoNN::new()
///     .cdf(CdfConvention::Corrected)
///     .estimate_global(&cloud, &ExhaustiveSearch)
///     .unwrap();
/// assert!((global.dimension - 4.0).abs() < 0.4, "{}", global.dimension);
///
/// let graph = ExhaustiveSearch.knn_graph(&cloud, 64).unwrap();
/// let local = TwoNN::new().estimate_pointwise(&cloud, &graph).unwrap();
/// let mean = local.values.iter().sum::<f64>() / n as f64;
/// assert!((mean - 4.0).abs() < 0.6, "{mean}");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TwoNN {
    discard_fraction: f64,
    cdf: CdfConvention,
    method: TwoNnMethod,
    drop_duplicates: bool,
    smooth: bool,
}

impl Default for TwoNN {
    fn default() -> Self {
        Self::new()
    }
}

impl TwoNN {
    /// The paper-compatible TwoNN: `discard_fraction = 0.1`, [`CdfConvention::Skdim034`],
    /// [`TwoNnMethod::LineFit`], duplicates are an error (`drop_duplicates = false`), no smoothing
    /// (`smooth = false`).
    pub fn new() -> Self {
        Self {
            discard_fraction: 0.1,
            cdf: CdfConvention::Skdim034,
            method: TwoNnMethod::LineFit,
            drop_duplicates: false,
            smooth: false,
        }
    }

    /// Sets the CDF convention of the line fit (default [`CdfConvention::Skdim034`]).
    pub fn cdf(mut self, cdf: CdfConvention) -> Self {
        self.cdf = cdf;
        self
    }

    /// Sets the fraction of the largest ratios left out, in `[0, 1)` (default 0.1). Checked when
    /// fitting ([`Error::InvalidParameter`] named `discard_fraction`).
    pub fn discard_fraction(mut self, fraction: f64) -> Self {
        self.discard_fraction = fraction;
        self
    }

    /// Sets the fit (default [`TwoNnMethod::LineFit`]).
    pub fn method(mut self, method: TwoNnMethod) -> Self {
        self.method = method;
        self
    }

    /// Drop ratios with `r1 = 0` (duplicate points) before fitting, as scikit-dimension 0.5.0 does,
    /// instead of failing with [`Error::DuplicatePoints`] (default `false`).
    pub fn drop_duplicates(mut self, drop: bool) -> Self {
        self.drop_duplicates = drop;
        self
    }

    /// Pointwise only: replace each estimate by the mean over the point and its `L` neighbours
    /// (scikit-dimension `fit_pw(smooth=True)`, which includes the point itself; default `false`).
    pub fn smooth(mut self, smooth: bool) -> Self {
        self.smooth = smooth;
        self
    }

    /// The configured discard fraction.
    pub fn get_discard_fraction(&self) -> f64 {
        self.discard_fraction
    }

    /// The configured CDF convention.
    pub fn get_cdf(&self) -> CdfConvention {
        self.cdf
    }

    /// The configured fit method.
    pub fn get_method(&self) -> TwoNnMethod {
        self.method
    }

    /// Checks the parameters.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] named `discard_fraction` when it is not in `[0, 1)`.
    pub fn validate(&self) -> Result<()> {
        let f = self.discard_fraction;
        if !(f.is_finite() && (0.0..1.0).contains(&f)) {
            return Err(Error::invalid_parameter(
                "discard_fraction",
                f,
                "must be in [0, 1) (the paper and scikit-dimension use 0.1)",
            ));
        }
        Ok(())
    }

    /// How many ratios a pointwise fit keeps in a neighbourhood of `neighbors` points (the paper's
    /// `L`, 128): `floor(L (1 - discard_fraction))`, 115 at the paper's settings. Lets a caller refuse
    /// a setting before any search runs, naming its own flag.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] as [`TwoNN::validate`]; [`Error::TooFewPoints`] when `L < 3`
    /// (each member needs two other members) or when fewer than two ratios would be kept.
    pub fn pointwise_ratios_kept(&self, neighbors: usize) -> Result<usize> {
        self.validate()?;
        if neighbors < 3 {
            return Err(Error::TooFewPoints {
                what: "pointwise TwoNN neighbourhood (each member needs two other members)",
                n: neighbors,
                needed: 3,
            });
        }
        fit::check_kept(
            neighbors,
            self.discard_fraction,
            "ratios kept per pointwise TwoNN neighbourhood",
        )
    }

    /// Fits TwoNN on ratios `mu = r2 / r1`, one per point, in any order.
    ///
    /// A ratio that is infinite or NaN (from `r1 = 0`, duplicate points) is an
    /// [`Error::DuplicatePoints`] unless [`TwoNN::drop_duplicates`] is set.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a bad parameter or a finite ratio below 1 (named `ratios`);
    /// [`Error::DuplicatePoints`]; [`Error::TooFewPoints`] when fewer than two ratios are kept;
    /// [`Error::Degenerate`] when all kept ratios equal 1 (or, with [`CdfConvention::Corrected`],
    /// nothing is discarded).
    pub fn fit_ratios(&self, ratios: &[f64]) -> Result<TwoNnFit> {
        self.validate()?;
        let mut kept = Vec::with_capacity(ratios.len());
        let mut duplicates = 0usize;
        for (index, &mu) in ratios.iter().enumerate() {
            if mu.is_finite() {
                if mu < 1.0 {
                    return Err(Error::invalid_parameter(
                        "ratios",
                        mu,
                        format!("ratio {index} is below 1, but r2 >= r1 by definition"),
                    ));
                }
                kept.push(mu);
            } else if mu.is_nan() || mu == f64::INFINITY {
                duplicates += 1;
            } else {
                return Err(Error::invalid_parameter(
                    "ratios",
                    mu,
                    format!("ratio {index} is negative infinity"),
                ));
            }
        }
        self.fit_clean(&mut kept, duplicates, ratios.len(), "TwoNN fit on ratios")
    }

    /// Fits TwoNN on nearest-neighbour distances `r1` and `r2` (one pair per point).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for slices of different length; [`Error::InvalidParameter`] for a
    /// negative or non-finite distance or `r2 < r1`; otherwise as [`TwoNN::fit_ratios`].
    pub fn fit_distances(&self, r1: &[f64], r2: &[f64]) -> Result<TwoNnFit> {
        self.validate()?;
        if r1.len() != r2.len() {
            return Err(Error::ShapeMismatch {
                what: "TwoNN first and second neighbour distances",
                expected: format!("{} values in r2", r1.len()),
                got: format!("{}", r2.len()),
            });
        }
        let mut kept = Vec::with_capacity(r1.len());
        let mut duplicates = 0usize;
        for (index, (&a, &b)) in r1.iter().zip(r2).enumerate() {
            if !(a.is_finite() && b.is_finite() && a >= 0.0 && b >= a) {
                return Err(Error::invalid_parameter(
                    "r1, r2",
                    format!("({a}, {b})"),
                    format!("pair {index}: distances must be finite with 0 <= r1 <= r2"),
                ));
            }
            if a == 0.0 {
                duplicates += 1;
            } else {
                kept.push(b / a);
            }
        }
        self.fit_clean(&mut kept, duplicates, r1.len(), "TwoNN fit on distances")
    }

    /// Fit on ratios already known to be finite and `>= 1`, after `duplicates` undefined ones were
    /// taken out of `total`.
    fn fit_clean(
        &self,
        kept: &mut [f64],
        duplicates: usize,
        total: usize,
        what: &'static str,
    ) -> Result<TwoNnFit> {
        if duplicates > 0 && !self.drop_duplicates {
            return Err(Error::DuplicatePoints {
                what: what.to_string(),
                count: duplicates,
                total,
            });
        }
        let mut fit =
            fit::fit_sorted_ratios(kept, self.discard_fraction, self.cdf, self.method, what)?;
        fit.dropped_duplicates = duplicates;
        Ok(fit)
    }

    /// Pointwise estimates together with counters of the fast neighbourhood algorithm (how often it
    /// had to fall back to direct distances). Same values as
    /// [`PointwiseEstimator::estimate_pointwise`].
    ///
    /// # Errors
    /// As [`PointwiseEstimator::estimate_pointwise`].
    pub fn estimate_pointwise_report(
        &self,
        cloud: &PointCloud<'_>,
        graph: &KnnGraph,
    ) -> Result<(PointwiseEstimates, PointwiseTwoNnReport)> {
        self.validate()?;
        check_graph_on_cloud(cloud, graph)?;
        let (mut values, dropped, report) = pointwise::estimate(self, cloud, graph)?;
        if self.smooth {
            values = smooth_over_graph(&values, graph);
        }
        Ok((
            PointwiseEstimates {
                values,
                neighbors: graph.k(),
                dropped_duplicates: dropped,
                near_duplicate_points: NearDuplicates::default().count(graph),
            },
            report,
        ))
    }
}

impl GlobalEstimator for TwoNN {
    /// TwoNN on all points: asks `search` for `k = 2` neighbours only (never a full sort of distance
    /// rows), then fits on `r2 / r1`.
    fn estimate_global(
        &self,
        cloud: &PointCloud<'_>,
        search: &dyn NeighborSearch,
    ) -> Result<GlobalEstimate> {
        self.validate()?;
        let n = cloud.n_points();
        if n < 3 {
            return Err(Error::TooFewPoints {
                what: "global TwoNN (two neighbours per point)",
                n,
                needed: 3,
            });
        }
        let graph = search.knn_graph(cloud, 2)?;
        if graph.n_points() != n || graph.k() != 2 {
            return Err(Error::ShapeMismatch {
                what: "graph returned by the neighbour search",
                expected: format!("{n} points x 2 neighbours"),
                got: format!("{} x {}", graph.n_points(), graph.k()),
            });
        }
        let (r1, r2): (Vec<f64>, Vec<f64>) = (0..n)
            .map(|i| (graph.distances(i)[0], graph.distances(i)[1]))
            .unzip();
        let fit = self.fit_distances(&r1, &r2)?;
        Ok(GlobalEstimate {
            dimension: fit.dimension,
            n_used: fit.n_used,
            n_discarded: fit.n_discarded + fit.dropped_duplicates,
            std_error: None,
        })
    }
}

impl PointwiseEstimator for TwoNN {
    /// Local TwoNN with the exact semantics of docs/method.md step 7: for point `i` the neighbourhood is
    /// its `L = graph.k()` neighbours (`i` excluded); for each of those `L` points, `r1` and `r2` are
    /// its first and second nearest-neighbour distances among the other `L - 1` points of the
    /// neighbourhood; TwoNN is fitted on those `L` ratios (`n = L`). With [`TwoNN::smooth`], each value
    /// is then the mean over the point and its `L` neighbours.
    ///
    /// Parallel over points (rayon); the result does not depend on the thread count.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when the graph was not built on `cloud`; [`Error::TooFewPoints`] when
    /// `L < 3` or too few ratios are kept; [`Error::DuplicatePoints`] (naming the first point, in
    /// index order, whose neighbourhood holds duplicates) unless dropping was asked for;
    /// [`Error::Degenerate`].
    fn estimate_pointwise(
        &self,
        cloud: &PointCloud<'_>,
        graph: &KnnGraph,
    ) -> Result<PointwiseEstimates> {
        self.estimate_pointwise_report(cloud, graph)
            .map(|(estimates, _)| estimates)
    }
}
