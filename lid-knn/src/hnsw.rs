//! [`Hnsw`]: approximate kNN with the `hnsw_rs` crate (hierarchical navigable small-world graphs,
//! Malkov & Yashunin, IEEE TPAMI 2020), with an optional exact re-rank of the candidates.
//!
//! # Scale
//! `hnsw_rs` computes squared distances in `f32`: coordinates around `1e19` (at `D = 768`) overflow
//! them to infinity, and coordinates below about `1e-10` leave small distances in the subnormal
//! range, so the index would rank candidates wrongly (or return too few) without a word. When
//! [`lid_core::guards::ScaleCheck`] says so, the index is built and searched on a copy of the cloud
//! multiplied by a power of two ([`Hnsw::index_shift`]), which is exact: every `f32` operation of the
//! index then gives the scaled bits of the unscaled computation, so the candidates are those of an
//! `f32` without exponent limits. Reported distances are computed on the original coordinates as
//! always, so the graph is the one of the same data at a harmless scale, with distances in the
//! user's units.

use hnsw_rs::anndists::dist::DistL2;
use hnsw_rs::hnsw::Hnsw as HnswIndex;
use lid_core::guards::ScaleCheck;
use lid_core::{
    by_distance_then_index, check_k, euclidean_distance, Error, KnnGraph, NeighborSearch,
    PointCloud, Result, SearchKind,
};
use rayon::prelude::*;

/// HNSW parameters (validated by [`Hnsw::new`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HnswParams {
    /// Links per node and layer, `M` (default 24; `hnsw_rs` allows at most 255).
    pub max_connections: usize,
    /// Candidate list size while building, `ef_construction` (default 200).
    pub ef_construction: usize,
    /// Candidate list size while searching, `ef_search` (default 0 = automatic: `max(2 (k + 1), 64)`).
    pub ef_search: usize,
    /// Re-rank: take all `ef_search` candidates of the search, recompute their distances exactly and
    /// keep the best `k` by `(distance, index)` (default true; raises recall for free since the
    /// distances are recomputed anyway). When false the first `k` of the HNSW order are kept.
    pub exact_rerank: bool,
    /// Insert points in parallel (faster, but `hnsw_rs` then builds a graph that depends on thread
    /// timing, so results are not reproducible). Default false: sequential insertion in point order,
    /// which makes the graph deterministic (the crate draws layers from its own generator with a fixed
    /// seed; it offers no seed parameter).
    pub parallel_build: bool,
}

impl Default for HnswParams {
    fn default() -> Self {
        Self {
            max_connections: 24,
            ef_construction: 200,
            ef_search: 0,
            exact_rerank: true,
            parallel_build: false,
        }
    }
}

/// Approximate search with `hnsw_rs` (`f32` L2). The returned graph follows the [`KnnGraph`]
/// conventions (self excluded, sorted by `(distance, index)`, distances from
/// [`lid_core::euclidean_distance`]), but neighbours may be missed: measure with [`crate::recall`]
/// against [`crate::BruteForce`] on a sample of your data. `Hnsw::default()` uses
/// [`HnswParams::default`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Hnsw {
    params: HnswParams,
}

impl Hnsw {
    /// An HNSW backend with checked parameters.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for `max_connections` outside `2..=255` or `ef_construction == 0`.
    pub fn new(params: HnswParams) -> Result<Self> {
        if !(2..=255).contains(&params.max_connections) {
            return Err(Error::invalid_parameter(
                "max_connections",
                params.max_connections,
                "HNSW needs between 2 and 255 links per node",
            ));
        }
        if params.ef_construction == 0 {
            return Err(Error::invalid_parameter(
                "ef_construction",
                0,
                "the construction candidate list needs at least one entry",
            ));
        }
        Ok(Self { params })
    }

    /// The parameters.
    pub fn params(&self) -> HnswParams {
        self.params
    }

    /// The power of two `s` by which the index's copy of `cloud` is multiplied (`2^s`) because its
    /// coordinates would overflow or underflow `f32` squared distances, or `None` when the cloud is
    /// used as is (see the module docs). Callers report it to the user.
    pub fn index_shift(cloud: &PointCloud<'_>) -> Option<i32> {
        ScaleCheck::of(cloud).shift()
    }
}

impl NeighborSearch for Hnsw {
    fn name(&self) -> &'static str {
        "hnsw"
    }

    fn kind(&self) -> SearchKind {
        SearchKind::Approximate
    }

    fn knn_graph(&self, cloud: &PointCloud<'_>, k: usize) -> Result<KnnGraph> {
        let n = cloud.n_points();
        check_k(n, k)?;
        // The index works on an exactly rescaled copy when f32 squared distances would overflow
        // or underflow; distances below are always computed on `cloud` itself.
        let scaled = ScaleCheck::of(cloud).scaled(cloud)?;
        let values: &[f32] = match &scaled {
            Some(copy) => copy.as_slice(),
            None => cloud.as_slice(),
        };
        let dim = cloud.dim();
        let indexed_row = |i: usize| &values[i * dim..(i + 1) * dim];
        let p = self.params;
        let max_layer = 16;
        let index: HnswIndex<f32, DistL2> = HnswIndex::new(
            p.max_connections,
            n,
            max_layer,
            p.ef_construction,
            DistL2 {},
        );
        if p.parallel_build {
            let data: Vec<(&[f32], usize)> = (0..n).map(|i| (indexed_row(i), i)).collect();
            index.parallel_insert_slice(&data);
        } else {
            for i in 0..n {
                index.insert_slice((indexed_row(i), i));
            }
        }
        let ef = if p.ef_search == 0 {
            (2 * (k + 1)).max(64)
        } else {
            p.ef_search.max(k + 1)
        };
        let want = if p.exact_rerank { ef } else { k + 1 };
        let rows: Vec<Vec<(f64, u32)>> = (0..n)
            .into_par_iter()
            .map(|i| {
                let found = index.search(indexed_row(i), want, ef);
                let mut candidates: Vec<(f64, u32)> = found
                    .iter()
                    .filter(|nb| nb.d_id != i)
                    .map(|nb| {
                        (
                            euclidean_distance(cloud.row(i), cloud.row(nb.d_id)),
                            nb.d_id as u32,
                        )
                    })
                    .collect();
                if !p.exact_rerank {
                    candidates.truncate(k);
                }
                candidates.sort_unstable_by(by_distance_then_index);
                candidates.dedup_by_key(|c| c.1);
                candidates.truncate(k);
                candidates
            })
            .collect();
        if let Some((i, row)) = rows.iter().enumerate().find(|(_, row)| row.len() != k) {
            return Err(Error::Search {
                backend: "hnsw",
                message: format!(
                    "point {i}: the search returned {} of {k} neighbours; raise ef_search",
                    row.len()
                ),
            });
        }
        KnnGraph::from_rows(n, k, rows)
    }
}
