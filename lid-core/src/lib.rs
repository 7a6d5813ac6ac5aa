//! # lid-core
//!
//! Local intrinsic dimension (LID) estimators and everything around them that is pure math: the
//! [`PointCloud`] and [`KnnGraph`] types, the [`NeighborSearch`] trait that search backends implement,
//! the estimators (TwoNN in the paper-exact and corrected forms, Levina-Bickel MLE, GRIDE, lPCA),
//! data preparation, statistics and synthetic manifolds of known dimension.
//!
//! The key design decision: estimators never search for neighbours themselves. A backend (see the
//! `lid-knn` crate, or the reference [`ExhaustiveSearch`] here) turns a cloud into a [`KnnGraph`], and
//! every pointwise estimator consumes that graph. One distance function ([`euclidean_distance`], f64
//! accumulation) and one tie rule (`(distance, index)`) make results independent of the backend and of
//! the thread count.
//!
//! Method: Ruppik et al., "Less is More: Local Intrinsic Dimensions of Contextual Language Models",
//! NeurIPS 2025 (arXiv 2506.01034).
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod cloud;
pub mod distance;
pub mod error;
pub mod estimators;
pub mod graph;
pub mod guards;
pub mod prepare;
pub mod stats;
pub mod synthetic;

pub use cloud::PointCloud;
pub use distance::{euclidean_distance, prefetch, squared_euclidean_distance};
pub use error::{Error, Result};
pub use graph::{
    by_distance_then_index, check_k, ExhaustiveSearch, GraphSearch, KnnGraph, NeighborSearch,
    SearchKind,
};
