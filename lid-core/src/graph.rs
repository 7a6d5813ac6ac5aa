//! [`KnnGraph`], the one currency between neighbour search and the estimators, the
//! [`NeighborSearch`] trait that backends implement, and [`ExhaustiveSearch`], the plain O(N^2)
//! reference search that serves as test oracle. A graph that is already built serves as a
//! [`NeighborSearch`] itself through [`KnnGraph::as_search`] (truncated to any smaller `k`), so one
//! O(N^2) search can feed several estimators.
//!
//! Conventions (every backend follows them, so results never depend on the backend or thread count):
//! - distances are Euclidean, computed by [`crate::euclidean_distance`] (f64 accumulation);
//! - a point is never its own neighbour, but an exact duplicate of it is (at distance 0);
//! - neighbours are sorted by `(distance, index)`, so ties are broken by the smaller index.

use std::cmp::Ordering;

use rayon::prelude::*;

use crate::cloud::PointCloud;
use crate::distance::euclidean_distance;
use crate::error::{Error, Result};

/// For each of `n` points its `k` nearest neighbours (indices and distances), sorted by
/// `(distance, index)`, the point itself excluded.
///
/// Construction through [`KnnGraph::from_parts`] checks every invariant, so a graph that exists is
/// valid.
#[derive(Debug, Clone, PartialEq)]
pub struct KnnGraph {
    n: usize,
    k: usize,
    indices: Vec<u32>,
    distances: Vec<f64>,
}

impl KnnGraph {
    /// Builds a graph from flat row-major `n x k` arrays, checking the invariants: lengths, indices in
    /// range, no self-neighbour, no repeated neighbour, finite non-negative distances, `(distance,
    /// index)` order.
    ///
    /// # Errors
    /// [`Error::InvalidGraph`] naming the first violation; [`Error::InvalidParameter`] when `k == 0`
    /// or `k >= n` (a point has only `n - 1` candidates) or `n` exceeds `u32::MAX`.
    pub fn from_parts(n: usize, k: usize, indices: Vec<u32>, distances: Vec<f64>) -> Result<Self> {
        check_k(n, k)?;
        if indices.len() != n * k || distances.len() != n * k {
            return Err(Error::InvalidGraph {
                reason: format!(
                    "expected {} indices and distances for {n} points x {k} neighbours, got {} and {}",
                    n * k,
                    indices.len(),
                    distances.len()
                ),
            });
        }
        let graph = Self {
            n,
            k,
            indices,
            distances,
        };
        for i in 0..n {
            let idx = graph.neighbors(i);
            let dist = graph.distances(i);
            for j in 0..k {
                let (nb, d) = (idx[j] as usize, dist[j]);
                if nb >= n {
                    return Err(Error::InvalidGraph {
                        reason: format!("point {i}: neighbour index {nb} out of range (n = {n})"),
                    });
                }
                if nb == i {
                    return Err(Error::InvalidGraph {
                        reason: format!("point {i} lists itself as a neighbour"),
                    });
                }
                if !(d.is_finite() && d >= 0.0) {
                    return Err(Error::InvalidGraph {
                        reason: format!("point {i}: distance {d} to neighbour {nb} is not finite and non-negative"),
                    });
                }
                if j > 0 {
                    let (prev_nb, prev_d) = (idx[j - 1], dist[j - 1]);
                    if (prev_d, prev_nb) >= (d, idx[j]) {
                        return Err(Error::InvalidGraph {
                            reason: format!(
                                "point {i}: neighbours not sorted by (distance, index) or repeated at positions {} and {j}",
                                j - 1
                            ),
                        });
                    }
                }
            }
        }
        Ok(graph)
    }

    /// Builds a graph from one row of `(distance, index)` pairs per point, each row already sorted
    /// by [`by_distance_then_index`] and holding exactly `k` pairs; then checks every invariant as
    /// [`KnnGraph::from_parts`] does.
    ///
    /// # Errors
    /// [`Error::InvalidGraph`] when there are not `n` rows or a row does not hold `k` pairs; otherwise
    /// as [`KnnGraph::from_parts`].
    pub fn from_rows(n: usize, k: usize, rows: Vec<Vec<(f64, u32)>>) -> Result<Self> {
        if rows.len() != n {
            return Err(Error::InvalidGraph {
                reason: format!("expected {n} neighbour rows, got {}", rows.len()),
            });
        }
        if let Some((i, row)) = rows.iter().enumerate().find(|(_, row)| row.len() != k) {
            return Err(Error::InvalidGraph {
                reason: format!("point {i} has {} neighbours, expected {k}", row.len()),
            });
        }
        let (indices, distances) = rows.into_iter().flatten().map(|(d, j)| (j, d)).unzip();
        Self::from_parts(n, k, indices, distances)
    }

    /// Number of points.
    pub fn n_points(&self) -> usize {
        self.n
    }

    /// Neighbours per point.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Neighbour indices of point `i`, nearest first.
    ///
    /// # Panics
    /// When `i >= n_points()`.
    pub fn neighbors(&self, i: usize) -> &[u32] {
        &self.indices[i * self.k..(i + 1) * self.k]
    }

    /// Neighbour distances of point `i`, ascending.
    ///
    /// # Panics
    /// When `i >= n_points()`.
    pub fn distances(&self, i: usize) -> &[f64] {
        &self.distances[i * self.k..(i + 1) * self.k]
    }

    /// All indices, row-major `n x k`.
    pub fn indices_flat(&self) -> &[u32] {
        &self.indices
    }

    /// All distances, row-major `n x k`.
    pub fn distances_flat(&self) -> &[f64] {
        &self.distances
    }

    /// The graph restricted to the first `k` neighbours of every point (valid because rows are sorted).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when `k == 0` or `k > self.k()`.
    pub fn truncated(&self, k: usize) -> Result<KnnGraph> {
        if k == 0 || k > self.k {
            return Err(Error::invalid_parameter(
                "k",
                k,
                format!("must be between 1 and the graph's k = {}", self.k),
            ));
        }
        let mut indices = Vec::with_capacity(self.n * k);
        let mut distances = Vec::with_capacity(self.n * k);
        for i in 0..self.n {
            indices.extend_from_slice(&self.neighbors(i)[..k]);
            distances.extend_from_slice(&self.distances(i)[..k]);
        }
        Ok(KnnGraph {
            n: self.n,
            k,
            indices,
            distances,
        })
    }
}

impl KnnGraph {
    /// This graph as a [`NeighborSearch`] over the cloud it was built on: asked for `k <= self.k()`
    /// neighbours it returns [`KnnGraph::truncated`] (rows are sorted, so the first `k` are the `k`
    /// nearest), without searching again. `kind` is the kind of the backend that built the graph (a
    /// graph does not know it); [`GraphSearch::or_else`] adds a backend for larger `k`.
    ///
    /// ```
    /// use lid_core::estimators::{GlobalEstimator, TwoNN};
    /// use lid_core::{ExhaustiveSearch, NeighborSearch, PointCloud, SearchKind};
    /// let cloud = PointCloud::from_vec((0..90).map(|i| ((i * 7) % 31) as f32).collect(), 30, 3).unwrap();
    /// let graph = ExhaustiveSearch.knn_graph(&cloud, 10).unwrap();
    /// // The global TwoNN asks for 2 neighbours: served from the graph, no second search.
    /// let reused = TwoNN::new().estimate_global(&cloud, &graph.as_search(SearchKind::Exact)).unwrap();
    /// let direct = TwoNN::new().estimate_global(&cloud, &ExhaustiveSearch).unwrap();
    /// assert_eq!(reused, direct);
    /// ```
    pub fn as_search(&self, kind: SearchKind) -> GraphSearch<'_> {
        GraphSearch {
            graph: self,
            kind,
            fallback: None,
        }
    }
}

/// A built [`KnnGraph`] serving as a [`NeighborSearch`] (made by [`KnnGraph::as_search`]).
///
/// It answers only for the cloud the graph was built on: the point count is checked (the
/// coordinates cannot be, cheaply), so do not hand it another cloud of the same size.
#[derive(Clone, Copy)]
pub struct GraphSearch<'g> {
    graph: &'g KnnGraph,
    kind: SearchKind,
    fallback: Option<&'g dyn NeighborSearch>,
}

impl std::fmt::Debug for GraphSearch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphSearch")
            .field("n_points", &self.graph.n_points())
            .field("k", &self.graph.k())
            .field("kind", &self.kind)
            .field("fallback", &self.fallback.map(|s| s.name()))
            .finish()
    }
}

impl<'g> GraphSearch<'g> {
    /// Asks `fallback` when more neighbours are wanted than the graph holds (instead of failing).
    /// The fallback must be a backend of the same kind for [`NeighborSearch::kind`] to stay true.
    pub fn or_else(mut self, fallback: &'g dyn NeighborSearch) -> Self {
        self.fallback = Some(fallback);
        self
    }

    /// The graph served.
    pub fn graph(&self) -> &'g KnnGraph {
        self.graph
    }
}

impl NeighborSearch for GraphSearch<'_> {
    fn name(&self) -> &'static str {
        "precomputed"
    }

    fn kind(&self) -> SearchKind {
        self.kind
    }

    /// The first `k` neighbours of the stored graph, or the fallback's graph when `k` exceeds the
    /// stored `k` and a fallback was given.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when `cloud` has another number of points than the graph;
    /// [`Error::InvalidParameter`] named `k` for `k == 0`, or `k` above the stored `k` without a
    /// fallback; the fallback's errors.
    fn knn_graph(&self, cloud: &PointCloud<'_>, k: usize) -> Result<KnnGraph> {
        if cloud.n_points() != self.graph.n_points() {
            return Err(Error::ShapeMismatch {
                what: "cloud given to a precomputed kNN graph",
                expected: format!("{} points", self.graph.n_points()),
                got: format!("{} points", cloud.n_points()),
            });
        }
        match self.fallback {
            Some(fallback) if k > self.graph.k() => fallback.knn_graph(cloud, k),
            _ => self.graph.truncated(k),
        }
    }
}

/// Checks that `k` neighbours can be found among `n` points (each point has `n - 1` candidates).
///
/// # Errors
/// [`Error::InvalidParameter`] for `k == 0` or `n > u32::MAX`; [`Error::TooFewPoints`] for `k >= n`.
pub fn check_k(n: usize, k: usize) -> Result<()> {
    if k == 0 {
        return Err(Error::invalid_parameter(
            "k",
            k,
            "at least one neighbour is needed",
        ));
    }
    if n > u32::MAX as usize {
        return Err(Error::invalid_parameter(
            "n",
            n,
            "clouds are limited to u32::MAX points",
        ));
    }
    if k >= n {
        return Err(Error::TooFewPoints {
            what: "a kNN graph (k neighbours need k + 1 points)",
            n,
            needed: k + 1,
        });
    }
    Ok(())
}

/// The one tie rule of every neighbour list: by distance, equal distances by the smaller index.
/// Distances must be finite (they are, for a validated cloud), so `total_cmp` is the numeric order.
pub fn by_distance_then_index(a: &(f64, u32), b: &(f64, u32)) -> Ordering {
    a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
}

/// Whether a backend returns the exact neighbours or an approximation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchKind {
    /// Identical to [`ExhaustiveSearch`] (same indices, same distances).
    Exact,
    /// May miss true neighbours; measure recall against an exact backend.
    Approximate,
}

/// A neighbour-search backend: builds the all-points kNN graph of a cloud (a self-join).
///
/// Implementations live in `lid-knn`; estimators only ever see a [`KnnGraph`], so they never name a
/// backend. Implementations must follow the conventions of this module (self excluded, `(distance,
/// index)` order, distances from [`crate::euclidean_distance`]), and their result must not depend on the
/// number of threads.
pub trait NeighborSearch: Send + Sync {
    /// Short, stable name (`"exhaustive"`, `"brute"`, `"kdtree"`, `"hnsw"`).
    fn name(&self) -> &'static str;

    /// Exact or approximate.
    fn kind(&self) -> SearchKind;

    /// The `k` nearest neighbours of every point of `cloud`, the point itself excluded.
    ///
    /// # Errors
    /// At least [`Error::TooFewPoints`] when `k >= cloud.n_points()` and [`Error::InvalidParameter`]
    /// for `k == 0`.
    fn knn_graph(&self, cloud: &PointCloud<'_>, k: usize) -> Result<KnnGraph>;
}

/// The O(N^2) reference search: every distance computed directly with [`crate::euclidean_distance`],
/// then the `k` smallest by `(distance, index)`. Exact by construction; the oracle every backend is
/// tested against. Parallel over query points with rayon; the result is independent of thread count.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExhaustiveSearch;

impl NeighborSearch for ExhaustiveSearch {
    fn name(&self) -> &'static str {
        "exhaustive"
    }

    fn kind(&self) -> SearchKind {
        SearchKind::Exact
    }

    fn knn_graph(&self, cloud: &PointCloud<'_>, k: usize) -> Result<KnnGraph> {
        let n = cloud.n_points();
        check_k(n, k)?;
        let rows: Vec<Vec<(f64, u32)>> = (0..n)
            .into_par_iter()
            .map(|i| {
                let query = cloud.row(i);
                let mut candidates: Vec<(f64, u32)> = (0..n)
                    .filter(|&j| j != i)
                    .map(|j| (euclidean_distance(query, cloud.row(j)), j as u32))
                    .collect();
                candidates.select_nth_unstable_by(k - 1, by_distance_then_index);
                candidates.truncate(k);
                candidates.sort_unstable_by(by_distance_then_index);
                candidates
            })
            .collect();
        KnnGraph::from_rows(n, k, rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn exhaustive_on_a_line_breaks_ties_by_index() {
        // Points at 0, 1, 2, 3: point 1 has neighbours 0 and 2 at distance 1 (tie -> index 0 first).
        let cloud = PointCloud::from_array(array![[0.0f32], [1.0], [2.0], [3.0]]).unwrap();
        let g = ExhaustiveSearch.knn_graph(&cloud, 2).unwrap();
        assert_eq!(g.neighbors(1), &[0, 2]);
        assert_eq!(g.distances(1), &[1.0, 1.0]);
        assert_eq!(g.neighbors(0), &[1, 2]);
        assert_eq!(g.neighbors(3), &[2, 1]);
    }

    #[test]
    fn duplicates_are_neighbours_at_distance_zero() {
        let cloud = PointCloud::from_array(array![[0.0f32, 0.0], [0.0, 0.0], [5.0, 0.0]]).unwrap();
        let g = ExhaustiveSearch.knn_graph(&cloud, 1).unwrap();
        assert_eq!(g.neighbors(0), &[1]);
        assert_eq!(g.distances(0), &[0.0]);
        assert_eq!(g.neighbors(1), &[0]);
    }

    #[test]
    fn k_is_checked() {
        let cloud = PointCloud::from_array(array![[0.0f32], [1.0], [2.0]]).unwrap();
        assert!(matches!(
            ExhaustiveSearch.knn_graph(&cloud, 0),
            Err(Error::InvalidParameter { name: "k", .. })
        ));
        assert!(matches!(
            ExhaustiveSearch.knn_graph(&cloud, 3),
            Err(Error::TooFewPoints {
                n: 3,
                needed: 4,
                ..
            })
        ));
    }

    #[test]
    fn from_parts_rejects_broken_graphs() {
        let ok = KnnGraph::from_parts(3, 1, vec![1, 0, 1], vec![1.0, 1.0, 2.0]);
        assert!(ok.is_ok());
        let self_loop = KnnGraph::from_parts(3, 1, vec![0, 0, 1], vec![1.0, 1.0, 2.0]);
        assert!(matches!(self_loop, Err(Error::InvalidGraph { .. })));
        let unsorted = KnnGraph::from_parts(
            3,
            2,
            vec![1, 2, 0, 2, 0, 1],
            vec![2.0, 1.0, 1.0, 2.0, 1.0, 2.0],
        );
        assert!(matches!(unsorted, Err(Error::InvalidGraph { .. })));
        let out_of_range = KnnGraph::from_parts(3, 1, vec![1, 0, 7], vec![1.0, 1.0, 2.0]);
        assert!(matches!(out_of_range, Err(Error::InvalidGraph { .. })));
        let nan = KnnGraph::from_parts(3, 1, vec![1, 0, 1], vec![1.0, f64::NAN, 2.0]);
        assert!(matches!(nan, Err(Error::InvalidGraph { .. })));
    }

    #[test]
    fn a_graph_serves_as_a_search_with_truncation() {
        let cloud = PointCloud::from_array(array![[0.0f32], [1.0], [3.0], [7.0], [15.0]]).unwrap();
        let g = ExhaustiveSearch.knn_graph(&cloud, 3).unwrap();
        let search = g.as_search(SearchKind::Exact);
        for k in 1..=3 {
            assert_eq!(
                search.knn_graph(&cloud, k).unwrap(),
                ExhaustiveSearch.knn_graph(&cloud, k).unwrap(),
                "k = {k}"
            );
        }
        assert_eq!(search.kind(), SearchKind::Exact);
        assert_eq!(
            g.as_search(SearchKind::Approximate).kind(),
            SearchKind::Approximate
        );
        assert!(matches!(
            search.knn_graph(&cloud, 4),
            Err(Error::InvalidParameter { name: "k", .. })
        ));
        assert!(matches!(
            search.knn_graph(&cloud, 0),
            Err(Error::InvalidParameter { name: "k", .. })
        ));
        let other = PointCloud::from_array(array![[0.0f32], [1.0], [2.0]]).unwrap();
        assert!(matches!(
            search.knn_graph(&other, 1),
            Err(Error::ShapeMismatch { .. })
        ));
        // With a fallback, a larger k is searched; a smaller one still comes from the graph.
        let with_fallback = search.or_else(&ExhaustiveSearch);
        assert_eq!(
            with_fallback.knn_graph(&cloud, 4).unwrap(),
            ExhaustiveSearch.knn_graph(&cloud, 4).unwrap()
        );
        assert_eq!(
            with_fallback.knn_graph(&cloud, 2).unwrap(),
            g.truncated(2).unwrap()
        );
    }

    #[test]
    fn truncation_keeps_the_nearest() {
        let cloud = PointCloud::from_array(array![[0.0f32], [1.0], [3.0], [7.0]]).unwrap();
        let g = ExhaustiveSearch.knn_graph(&cloud, 3).unwrap();
        let t = g.truncated(1).unwrap();
        assert_eq!(t, ExhaustiveSearch.knn_graph(&cloud, 1).unwrap());
    }
}
