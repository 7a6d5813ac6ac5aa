//! Intrinsic-dimension estimators.
//!
//! Two shapes of estimate, two traits:
//! - [`GlobalEstimator`]: one dimension for a whole cloud (TwoNN on all points, MLE aggregate, GRIDE,
//!   PCA). It gets a [`NeighborSearch`] so that it asks only for the neighbours it needs (TwoNN: two
//!   per point, never a full sort of distance rows).
//! - [`PointwiseEstimator`]: one dimension per point, from the point's neighbourhood in a
//!   [`KnnGraph`] (REFERENCE.md step 7: neighbourhood = the L neighbours, the query excluded).
//!
//! (Estimator implementations are being written; see issue 2.)

use crate::cloud::PointCloud;
use crate::error::Result;
use crate::graph::{KnnGraph, NeighborSearch};

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
