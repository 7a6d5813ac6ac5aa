//! [`KdTree`]: exact kNN for low ambient dimension with the `kiddo` crate (immutable k-d tree).

use std::num::NonZero;

use kiddo::immutable::float::kdtree::ImmutableKdTree;
use kiddo::SquaredEuclidean;
use lid_core::{
    by_distance_then_index, check_k, euclidean_distance, Error, KnnGraph, NeighborSearch,
    PointCloud, Result, SearchKind,
};
use rayon::prelude::*;

/// Highest ambient dimension [`KdTree`] accepts. k-d trees lose their pruning power as the dimension
/// grows (above roughly 10-20 dimensions they visit most leaves and are slower than [`crate::BruteForce`]),
/// so larger clouds are refused with an error that names the alternative.
pub const KDTREE_MAX_DIM: usize = 16;

/// Exact k-d tree search (the `kiddo` crate's `ImmutableKdTree`, `f64` coordinates, 32 points per
/// leaf), for clouds of ambient dimension `1..=`[`KDTREE_MAX_DIM`]; the right tool below about 10
/// dimensions, not above.
///
/// Exactness: `kiddo` ranks with its own `f64` squared distance, whose rounding differs from
/// [`lid_core::euclidean_distance`] by a relative `~D 2^-53`. For every point we take the squared
/// radius `r` of its `k + 1` nearest by `kiddo`, collect every point within `r (1 + 1e-9)`, recompute
/// those exactly and sort by `(distance, index)`; the slack covers the rounding, so the graph is
/// bit-identical to [`lid_core::ExhaustiveSearch`], ties included. The tree is built once (sequential,
/// deterministic) and queried in parallel.
#[derive(Debug, Clone, Copy, Default)]
pub struct KdTree;

impl KdTree {
    /// A k-d tree backend (no parameters).
    pub fn new() -> Self {
        Self
    }
}

impl NeighborSearch for KdTree {
    fn name(&self) -> &'static str {
        "kdtree"
    }

    fn kind(&self) -> SearchKind {
        SearchKind::Exact
    }

    fn knn_graph(&self, cloud: &PointCloud<'_>, k: usize) -> Result<KnnGraph> {
        check_k(cloud.n_points(), k)?;
        macro_rules! dispatch {
            ($($d:literal)*) => {
                match cloud.dim() {
                    $($d => knn_graph_fixed::<$d>(cloud, k),)*
                    d => Err(Error::invalid_parameter(
                        "dimension",
                        d,
                        format!(
                            "the k-d tree backend supports 1 to {KDTREE_MAX_DIM} dimensions \
                             (it is slower than brute force above that); use the exact brute-force backend"
                        ),
                    )),
                }
            };
        }
        dispatch!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
    }
}

fn knn_graph_fixed<const K: usize>(cloud: &PointCloud<'_>, k: usize) -> Result<KnnGraph> {
    let n = cloud.n_points();
    let points: Vec<[f64; K]> = (0..n)
        .map(|i| {
            let mut p = [0f64; K];
            for (o, &x) in p.iter_mut().zip(cloud.row(i)) {
                *o = x as f64;
            }
            p
        })
        .collect();
    let tree: ImmutableKdTree<f64, u32, K, 32> = ImmutableKdTree::new_from_slice(&points);
    // k + 1 <= n because check_k passed, and k + 1 >= 2, so the error is unreachable.
    let wanted = NonZero::new(k + 1).ok_or(Error::invalid_parameter("k", k, "k + 1 overflows"))?;
    let rows: Vec<Vec<(f64, u32)>> = (0..n)
        .into_par_iter()
        .map(|i| {
            let query = &points[i];
            let nearest = tree.nearest_n::<SquaredEuclidean>(query, wanted);
            let radius = nearest.iter().map(|nb| nb.distance).fold(0f64, f64::max);
            let within = tree.within_unsorted::<SquaredEuclidean>(
                query,
                radius * (1.0 + 1e-9) + f64::MIN_POSITIVE,
            );
            let mut candidates: Vec<(f64, u32)> = within
                .into_iter()
                .filter(|nb| nb.item as usize != i)
                .map(|nb| {
                    (
                        euclidean_distance(cloud.row(i), cloud.row(nb.item as usize)),
                        nb.item,
                    )
                })
                .collect();
            candidates.sort_unstable_by(by_distance_then_index);
            candidates.truncate(k);
            candidates
        })
        .collect();
    if let Some((i, row)) = rows.iter().enumerate().find(|(_, row)| row.len() != k) {
        return Err(Error::Search {
            backend: "kdtree",
            message: format!(
                "point {i}: the radius query returned {} of {k} neighbours",
                row.len()
            ),
        });
    }
    KnnGraph::from_rows(n, k, rows)
}
