//! Intrinsic-dimension estimators.
//!
//! Two shapes of estimate, two traits:
//! - [`GlobalEstimator`]: one dimension for a whole cloud (TwoNN on all points, MLE aggregate, GRIDE,
//!   PCA). It gets a [`NeighborSearch`] so that it asks only for the neighbours it needs (TwoNN: two
//!   per point, never a full sort of distance rows).
//! - [`PointwiseEstimator`]: one dimension per point, from the point's neighbourhood in a
//!   [`KnnGraph`] (docs/method.md step 7: neighbourhood = the L neighbours, the query excluded).
//!
//! | Estimator | Paper | Parameters (default) | Python peer it matches (golden-tested) |
//! |-----------|-------|----------------------|------------------------|
//! | [`TwoNN`] | Facco et al. 2017 | `discard_fraction` (0.1), [`CdfConvention`] (`Skdim034`), [`TwoNnMethod`] (`LineFit`), `drop_duplicates` (false), `smooth` (false) | scikit-dimension 0.3.4 `TwoNN` (`Skdim034`), 0.5.0 `TwoNN` (`Corrected`; `method="mle"` = `CensoredMle`) |
//! | [`Mle`] | Levina & Bickel 2004; MacKay & Ghahramani 2005 | `k` (20), `unbiased` (false), [`MleAggregate`] (`InverseMean`), `smooth` (false) | scikit-dimension 0.5.0 `MLE()` with `n_neighbors=20`, `comb="mle"` / `"mean"` |
//! | [`Gride`] | Denti et al. 2022 | `orders(n1, n2)` (1, 2), `bracket` (0.001, 1000), `tolerance` (1e-7) | dadapy 0.3.4 `return_id_scaling_gride` (id and error) |
//! | [`Lpca`] | Fukunaga & Olsen 1971; Fan et al. 2010 | [`LpcaVersion`] (`FukunagaOlsen { alpha: 0.05 }`; `fan()` = 10, 0.8, 0.95; `Ratio`; `MaxGap`), `smooth` (false) | scikit-dimension 0.5.0 `lPCA` (`FO`, `Fan`, `ratio`) |
//!
//! Usage: `TwoNN::new().cdf(CdfConvention::Corrected).discard_fraction(0.1)`, then
//! [`PointwiseEstimator::estimate_pointwise`]`(&cloud, &graph)` or
//! [`GlobalEstimator::estimate_global`]`(&cloud, &ExhaustiveSearch)`; [`TwoNN::fit_ratios`] fits on
//! ratios directly. Parameters are checked when fitting, each with its own
//! [`crate::Error::InvalidParameter`] name.
//!
//! Pointwise estimates always use the neighbourhood of docs/method.md step 7: the `k` neighbours of the
//! point in the graph, the point itself excluded.

use crate::cloud::PointCloud;
use crate::error::{Error, Result};
use crate::graph::{KnnGraph, NeighborSearch};

pub mod choice;
pub mod gride;
pub mod lpca;
pub mod mle;
pub mod twonn;

pub use choice::{Estimator, EstimatorKind};
pub use gride::Gride;
pub use lpca::{Lpca, LpcaVersion};
pub use mle::{Mle, MleAggregate};
pub use twonn::{CdfConvention, PointwiseTwoNnReport, TwoNN, TwoNnFit, TwoNnMethod};

/// A global estimate with the counts that went into it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GlobalEstimate {
    /// The estimated intrinsic dimension.
    pub dimension: f64,
    /// Points (or ratios) that entered the fit.
    pub n_used: usize,
    /// Points left out (discard fraction, dropped duplicates).
    pub n_discarded: usize,
    /// Standard error of the estimate where the estimator defines one (GRIDE, MLE), else `None`.
    pub std_error: Option<f64>,
}

/// Pointwise estimates, one per point of the cloud, in the cloud's order.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PointwiseEstimates {
    /// The estimate of every point; always finite.
    pub values: Vec<f64>,
    /// Neighbourhood size used (L).
    pub neighbors: usize,
    /// Total number of points dropped inside neighbourhood fits because of zero nearest-neighbour
    /// distances (only non-zero when the caller asked to drop duplicates instead of failing).
    pub dropped_duplicates: usize,
    /// Points of the graph that are near duplicates by the default criterion of
    /// [`crate::guards::NearDuplicates`] (`0 < r1 <= 1e-4 r_L`). Not zero means some estimates may
    /// be driven by near-duplicate points (a mean far below the true dimension is the symptom): look
    /// at them with [`crate::guards::NearDuplicates::check`], remove them with
    /// [`crate::guards::NearDuplicates::rows_to_keep`].
    #[serde(default)]
    pub near_duplicate_points: usize,
}

/// An estimator of one dimension for a whole cloud.
pub trait GlobalEstimator {
    /// Estimates the intrinsic dimension of `cloud`, asking `search` for the neighbours it needs.
    ///
    /// # Errors
    /// Bad input (too few points, duplicates where not allowed, degenerate data) as [`crate::Error`].
    fn estimate_global(
        &self,
        cloud: &PointCloud<'_>,
        search: &dyn NeighborSearch,
    ) -> Result<GlobalEstimate>;
}

/// An estimator of one dimension per point from its neighbourhood in a kNN graph.
pub trait PointwiseEstimator {
    /// Estimates the local dimension of every point of `cloud` from `graph` (built on `cloud`; all of
    /// its `k` neighbours form the neighbourhood).
    ///
    /// # Errors
    /// [`crate::Error::ShapeMismatch`] when the graph was not built on this cloud; bad input as
    /// [`crate::Error`].
    fn estimate_pointwise(
        &self,
        cloud: &PointCloud<'_>,
        graph: &KnnGraph,
    ) -> Result<PointwiseEstimates>;
}

/// Checks that `graph` was built on `cloud`: same number of points, and (cheaply, on a sample of
/// rows) that its stored distances are the distances between the cloud's points.
///
/// The distance check looks at the first neighbour of up to 64 evenly spaced points and accepts a
/// relative difference up to 1e-6 (backends may compute distances with another exact formula).
pub(crate) fn check_graph_on_cloud(cloud: &PointCloud<'_>, graph: &KnnGraph) -> Result<()> {
    let n = cloud.n_points();
    if graph.n_points() != n {
        return Err(Error::ShapeMismatch {
            what: "kNN graph and point cloud",
            expected: format!("a graph on {n} points"),
            got: format!("a graph on {} points", graph.n_points()),
        });
    }
    let step = (n / 64).max(1);
    for i in (0..n).step_by(step) {
        let j = graph.neighbors(i)[0] as usize;
        let stored = graph.distances(i)[0];
        let direct = crate::distance::euclidean_distance(cloud.row(i), cloud.row(j));
        if (stored - direct).abs() > 1e-6 * direct.max(stored) + 1e-12 {
            return Err(Error::ShapeMismatch {
                what: "kNN graph and point cloud (the graph was built on another cloud)",
                expected: format!("distance {direct} from point {i} to its neighbour {j}"),
                got: format!("stored distance {stored}"),
            });
        }
    }
    Ok(())
}

/// Smooths pointwise estimates over a kNN graph: each value becomes the mean of itself and its `k`
/// neighbours' values (scikit-dimension `fit_pw(smooth=True)`), what the estimators' `smooth`
/// setting does. For callers that need both the raw and the smoothed values from one graph.
///
/// # Errors
/// [`Error::ShapeMismatch`] when `values` does not hold one value per point of `graph`.
pub fn smooth_pointwise(values: &[f64], graph: &KnnGraph) -> Result<Vec<f64>> {
    if values.len() != graph.n_points() {
        return Err(Error::ShapeMismatch {
            what: "pointwise values and kNN graph",
            expected: format!("{} values, one per point of the graph", graph.n_points()),
            got: format!("{} values", values.len()),
        });
    }
    Ok(smooth_over_graph(values, graph))
}

/// Mean of `values[i]` and the values of its neighbours (scikit-dimension `fit_pw(smooth=True)`:
/// the point itself is included, so each mean is over `k + 1` values).
pub(crate) fn smooth_over_graph(values: &[f64], graph: &KnnGraph) -> Vec<f64> {
    (0..graph.n_points())
        .map(|i| {
            let nb = graph.neighbors(i);
            let sum: f64 = values[i] + nb.iter().map(|&j| values[j as usize]).sum::<f64>();
            sum / (nb.len() + 1) as f64
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smooth_pointwise_averages_over_the_point_and_its_neighbours() {
        // Points 0..4 on a line at 0, 1, 3, 6: each point's nearest neighbour.
        let graph = KnnGraph::from_parts(4, 1, vec![1, 0, 1, 2], vec![1.0, 1.0, 2.0, 3.0]).unwrap();
        let smoothed = smooth_pointwise(&[1.0, 3.0, 5.0, 7.0], &graph).unwrap();
        assert_eq!(smoothed, vec![2.0, 2.0, 4.0, 6.0]);
        let err = smooth_pointwise(&[1.0, 2.0], &graph).unwrap_err();
        assert!(matches!(err, Error::ShapeMismatch { .. }), "{err}");
    }
}
