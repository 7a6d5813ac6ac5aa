//! # lid-knn
//!
//! Neighbour-search backends implementing [`lid_core::NeighborSearch`]. (Being written; see issue 3.)
#![deny(missing_docs)]
