//! [`QueryNeighbors`]: the result of a query-versus-reference search (out-of-sample points).

/// For each of `n_queries` query points its `k` nearest reference points, sorted by `(distance,
/// index)`. Unlike [`lid_core::KnnGraph`] there is no self-exclusion: queries and references are
/// different sets, and a query equal to a reference point gets it at distance 0.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryNeighbors {
    n_queries: usize,
    k: usize,
    indices: Vec<u32>,
    distances: Vec<f64>,
}

impl QueryNeighbors {
    /// Wraps flat row-major `n_queries x k` arrays (crate-internal: backends guarantee the order).
    pub(crate) fn new(n_queries: usize, k: usize, indices: Vec<u32>, distances: Vec<f64>) -> Self {
        debug_assert_eq!(indices.len(), n_queries * k);
        debug_assert_eq!(distances.len(), n_queries * k);
        Self {
            n_queries,
            k,
            indices,
            distances,
        }
    }

    /// Number of query points.
    pub fn n_queries(&self) -> usize {
        self.n_queries
    }

    /// Neighbours per query.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Reference indices of the neighbours of query `q`, nearest first.
    ///
    /// # Panics
    /// When `q >= n_queries()`.
    pub fn neighbors(&self, q: usize) -> &[u32] {
        &self.indices[q * self.k..(q + 1) * self.k]
    }

    /// Distances of the neighbours of query `q`, ascending.
    ///
    /// # Panics
    /// When `q >= n_queries()`.
    pub fn distances(&self, q: usize) -> &[f64] {
        &self.distances[q * self.k..(q + 1) * self.k]
    }
}
