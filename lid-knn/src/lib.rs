//! # lid-knn
//!
//! Neighbour-search backends implementing [`lid_core::NeighborSearch`]: each turns a
//! [`lid_core::PointCloud`] into the all-points kNN graph ([`lid_core::KnnGraph`], the point itself
//! excluded, rows sorted by `(distance, index)`, distances from [`lid_core::euclidean_distance`]).
//!
//! | backend | kind | use it for |
//! | --- | --- | --- |
//! | [`BruteForce`] (default) | exact, bit-identical to [`lid_core::ExhaustiveSearch`] | any dimension; embeddings (hundreds of dimensions) |
//! | `DeviceBruteForce` (feature `device`) | exact, bit-identical | the same with the Gram tiles on a candle device (`cuda` / `metal` features imply `device`; GPU speed unmeasured) |
//! | [`KdTree`] | exact, bit-identical | low ambient dimension (up to [`KDTREE_MAX_DIM`]; best below ~10) |
//! | [`Hnsw`] | approximate (optionally re-ranked exactly) | very large clouds where recall < 1 is acceptable; measure it with [`recall`] |
//!
//! The key design decision: exact backends may rank candidates with a fast, inexact formula (`f32`
//! Gram matrices, `f64` k-d tree distances), but they keep every candidate within a proven error bound
//! of the `k`-th neighbour and recompute those exactly, so the graph does not depend on the backend,
//! the block size or the thread count.
//!
//! # Features
//! - `device`: `DeviceBruteForce`, the brute force with its Gram tiles computed by candle on any
//!   `candle_core::Device` (CPU, CUDA, Metal). Off by default: the default build has no candle (a
//!   7-minute cold build), so `cargo tree -p lid-knn -e normal` lists none.
//! - `cuda`, `metal`: `device` plus candle's GPU backend.
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod brute;
mod hnsw;
mod kdtree;
mod query;
mod recall;

pub use brute::{BruteForce, ProgressFn, DEFAULT_BLOCK_SIZE};
#[cfg(feature = "device")]
pub use brute::{DeviceBruteForce, DEFAULT_DEVICE_BLOCK_SIZE};
pub use hnsw::{Hnsw, HnswParams};
pub use kdtree::{KdTree, KDTREE_MAX_DIM};
pub use query::QueryNeighbors;
pub use recall::recall;
