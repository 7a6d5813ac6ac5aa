//! Levina-Bickel maximum-likelihood estimator (E. Levina & P. J. Bickel, "Maximum likelihood
//! estimation of intrinsic dimension", NeurIPS 2004), with the aggregate of D. J. C. MacKay &
//! Z. Ghahramani ("Comments on 'Maximum likelihood estimation of intrinsic dimension'", 2005).
//!
//! For point `i` with neighbour distances `R_1 <= ... <= R_k` (the point itself excluded):
//!
//! `d_i = (k - 1) / sum_{j=1..k} ln(R_k / R_j)` (or `k - 2` in the numerator with
//! [`Mle::unbiased`]).
//!
//! The global value aggregates the `d_i`: MacKay-Ghahramani `1 / mean(1 / d_i)` (the default), the
//! Levina-Bickel `mean(d_i)`, or the median.
//!
//! This equals scikit-dimension 0.5.0 `MLE()` with its defaults (`dnoise=None`, `sigma=0`,
//! `integral_approximation="Haro"`, `unbiased=False`, `neighborhood_based=True`; `K` is then unused),
//! `fit(X, n_neighbors=20, comb="mle")`: `dimension_pw_` are the pointwise values and `dimension_`
//! the aggregate. The noise models (`dnoise`, `sigma`) and `neighborhood_based=False` are not
//! implemented.

use rayon::prelude::*;

use crate::cloud::PointCloud;
use crate::error::{Error, Result};
use crate::estimators::{
    check_graph_on_cloud, smooth_over_graph, GlobalEstimate, GlobalEstimator, PointwiseEstimates,
    PointwiseEstimator,
};
use crate::graph::{KnnGraph, NeighborSearch};
use crate::guards::NearDuplicates;

/// How pointwise MLE values are combined into one dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MleAggregate {
    /// `1 / mean(1 / d_i)`: MacKay & Ghahramani (2005); scikit-dimension `comb="mle"` (default).
    #[default]
    InverseMean,
    /// `mean(d_i)`: Levina & Bickel (2004); scikit-dimension `comb="mean"`.
    Mean,
    /// `median(d_i)`: scikit-dimension `comb="median"`.
    Median,
}

/// The Levina-Bickel MLE with `k` neighbours.
///
/// ```
/// use lid_core::estimators::{GlobalEstimator, Mle};
/// use lid_core::{ExhaustiveSearch, PointCloud};
/// use rand::{Rng, SeedableRng};
///
/// // 1500 points uniform in a 2-d square inside 4-d.
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
/// let values: Vec<f32> = (0..1500)
///     .flat_map(|_| [rng.random::<f32>(), rng.random::<f32>(), 0.0, 0.0])
///     .collect();
/// let cloud = PointCloud::from_vec(values, 1500, 4).unwrap();
/// let estimate = Mle::new().estimate_global(&cloud, &ExhaustiveSearch).unwrap();
/// assert!((estimate.dimension - 2.0).abs() < 0.2, "{}", estimate.dimension);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Mle {
    k: usize,
    unbiased: bool,
    aggregate: MleAggregate,
    smooth: bool,
}

impl Default for Mle {
    fn default() -> Self {
        Self::new()
    }
}

impl Mle {
    /// scikit-dimension 0.5.0 defaults: `k = 20` neighbours (`n_neighbors`), `unbiased = false`
    /// (numerator `k - 1`), [`MleAggregate::InverseMean`], no smoothing.
    pub fn new() -> Self {
        Self {
            k: 20,
            unbiased: false,
            aggregate: MleAggregate::InverseMean,
            smooth: false,
        }
    }

    /// Number of neighbours `k >= 2` (default 20). Pointwise estimates use the first `k` neighbours
    /// of each row of the graph (which must have at least `k`).
    pub fn k(mut self, k: usize) -> Self {
        self.k = k;
        self
    }

    /// The number of neighbours `k` (default 20).
    pub fn get_k(&self) -> usize {
        self.k
    }

    /// Use `k - 2` instead of `k - 1` in the numerator (scikit-dimension `unbiased=True`; default
    /// `false`).
    pub fn unbiased(mut self, unbiased: bool) -> Self {
        self.unbiased = unbiased;
        self
    }

    /// How the global estimate combines the pointwise values (default
    /// [`MleAggregate::InverseMean`]).
    pub fn aggregate(mut self, aggregate: MleAggregate) -> Self {
        self.aggregate = aggregate;
        self
    }

    /// Pointwise only: mean over the point and its `k` neighbours (scikit-dimension `smooth=True`;
    /// default `false`).
    pub fn smooth(mut self, smooth: bool) -> Self {
        self.smooth = smooth;
        self
    }

    /// Checks the parameters.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] named `k` when `k < 2` (or `k < 3` with `unbiased`).
    pub fn validate(&self) -> Result<()> {
        let min = if self.unbiased { 3 } else { 2 };
        if self.k < min {
            return Err(Error::invalid_parameter(
                "k",
                self.k,
                format!("the MLE needs at least {min} neighbours"),
            ));
        }
        Ok(())
    }

    /// The estimate of one point from its sorted neighbour distances `R_1 <= ... <= R_k` (all of the
    /// slice is used).
    ///
    /// # Errors
    /// [`Error::DuplicatePoints`] when `R_1 = 0`; [`Error::Degenerate`] when all distances are equal;
    /// [`Error::InvalidParameter`] for fewer than the minimum number of distances.
    pub fn fit_distances(&self, distances: &[f64]) -> Result<f64> {
        Mle {
            k: distances.len(),
            ..*self
        }
        .validate()?;
        point_estimate(distances, self.unbiased).map_err(|e| match e {
            PointFailure::Duplicates(count) => Error::DuplicatePoints {
                what: "MLE neighbour distances".to_string(),
                count,
                total: distances.len(),
            },
            PointFailure::AllEqual => all_equal("MLE neighbour distances"),
        })
    }

    /// Combines pointwise values with the configured aggregate.
    ///
    /// # Errors
    /// [`Error::EmptyCloud`] for no values; [`Error::Degenerate`] for a non-positive value with the
    /// inverse mean.
    pub fn combine(&self, values: &[f64]) -> Result<f64> {
        if values.is_empty() {
            return Err(Error::EmptyCloud);
        }
        let n = values.len() as f64;
        match self.aggregate {
            MleAggregate::Mean => Ok(values.iter().sum::<f64>() / n),
            MleAggregate::InverseMean => {
                if values.iter().any(|&v| v <= 0.0) {
                    return Err(Error::Degenerate {
                        what: "MLE inverse-mean aggregate",
                        reason: "a pointwise estimate is not positive".to_string(),
                    });
                }
                Ok(1.0 / (values.iter().map(|v| 1.0 / v).sum::<f64>() / n))
            }
            MleAggregate::Median => {
                let mut sorted = values.to_vec();
                sorted.sort_unstable_by(f64::total_cmp);
                let m = sorted.len() / 2;
                Ok(if sorted.len() % 2 == 1 {
                    sorted[m]
                } else {
                    (sorted[m - 1] + sorted[m]) / 2.0
                })
            }
        }
    }

    /// Raw pointwise values from the first `k` neighbours of every row of `graph`.
    fn pointwise_values(&self, graph: &KnnGraph) -> Result<Vec<f64>> {
        self.validate()?;
        if graph.k() < self.k {
            return Err(Error::invalid_parameter(
                "k",
                self.k,
                format!("the kNN graph has only {} neighbours per point", graph.k()),
            ));
        }
        let results: Vec<std::result::Result<f64, PointFailure>> = (0..graph.n_points())
            .into_par_iter()
            .map(|i| point_estimate(&graph.distances(i)[..self.k], self.unbiased))
            .collect();
        let mut values = Vec::with_capacity(results.len());
        for (i, r) in results.into_iter().enumerate() {
            values.push(r.map_err(|e| match e {
                PointFailure::Duplicates(count) => Error::DuplicatePoints {
                    what: format!("the MLE neighbourhood of point {i}"),
                    count,
                    total: self.k,
                },
                PointFailure::AllEqual => Error::Degenerate {
                    what: "pointwise MLE",
                    reason: format!("all {} neighbour distances of point {i} are equal", self.k),
                },
            })?);
        }
        Ok(values)
    }
}

enum PointFailure {
    Duplicates(usize),
    AllEqual,
}

fn all_equal(what: &'static str) -> Error {
    Error::Degenerate {
        what,
        reason: "all neighbour distances are equal, so every ln(R_k / R_j) is 0".to_string(),
    }
}

/// `(k - 1) / sum ln(R_k / R_j)` (or `k - 2`), `R` sorted ascending.
fn point_estimate(r: &[f64], unbiased: bool) -> std::result::Result<f64, PointFailure> {
    let k = r.len();
    let zeros = r.iter().take_while(|&&d| d == 0.0).count();
    if zeros > 0 {
        return Err(PointFailure::Duplicates(zeros));
    }
    let rk = r[k - 1];
    let sum: f64 = r.iter().map(|&rj| (rk / rj).ln()).sum();
    if sum <= 0.0 {
        return Err(PointFailure::AllEqual);
    }
    let numerator = if unbiased { k - 2 } else { k - 1 } as f64;
    Ok(numerator / sum)
}

impl GlobalEstimator for Mle {
    /// Pointwise MLE on the `k`-NN graph of the whole cloud (asks `search` for `k` neighbours), then
    /// the configured aggregate. `n_used` is the number of points; no standard error.
    fn estimate_global(
        &self,
        cloud: &PointCloud<'_>,
        search: &dyn NeighborSearch,
    ) -> Result<GlobalEstimate> {
        self.validate()?;
        let graph = search.knn_graph(cloud, self.k)?;
        check_graph_on_cloud(cloud, &graph)?;
        let values = self.pointwise_values(&graph)?;
        Ok(GlobalEstimate {
            dimension: self.combine(&values)?,
            n_used: values.len(),
            n_discarded: 0,
            std_error: None,
        })
    }
}

impl PointwiseEstimator for Mle {
    /// `d_i` from the first `k` neighbours of each point in `graph` (`graph.k() >= k`); smoothed over
    /// the point and those `k` neighbours when asked.
    fn estimate_pointwise(
        &self,
        cloud: &PointCloud<'_>,
        graph: &KnnGraph,
    ) -> Result<PointwiseEstimates> {
        check_graph_on_cloud(cloud, graph)?;
        let mut values = self.pointwise_values(graph)?;
        if self.smooth {
            let nearest = graph.truncated(self.k)?;
            values = smooth_over_graph(&values, &nearest);
        }
        Ok(PointwiseEstimates {
            values,
            neighbors: self.k,
            dropped_duplicates: 0,
            near_duplicate_points: NearDuplicates::default().count(graph),
        })
    }
}
