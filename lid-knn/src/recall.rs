//! [`recall`]: how many true neighbours an approximate graph found.

use lid_core::{Error, KnnGraph, Result};

/// Recall of `approx` against `exact`: the fraction of the `k` true neighbours of each point (the
/// first `k` of `exact`'s rows, `k = approx.k()`) that appear among `approx`'s `k` neighbours,
/// averaged over points. 1.0 means every neighbour was found. Membership is by index, so ties at the
/// `k`-th distance count as misses when the approximate backend picked the other tied point.
///
/// # Errors
/// [`Error::ShapeMismatch`] when the graphs have different numbers of points or `exact.k() < approx.k()`.
pub fn recall(approx: &KnnGraph, exact: &KnnGraph) -> Result<f64> {
    if approx.n_points() != exact.n_points() || exact.k() < approx.k() {
        return Err(Error::ShapeMismatch {
            what: "approximate and exact kNN graphs",
            expected: format!("{} points with k >= {}", approx.n_points(), approx.k()),
            got: format!("{} points with k = {}", exact.n_points(), exact.k()),
        });
    }
    let k = approx.k();
    let mut found = 0usize;
    for i in 0..approx.n_points() {
        let truth = &exact.neighbors(i)[..k];
        found += approx
            .neighbors(i)
            .iter()
            .filter(|j| truth.contains(j))
            .count();
    }
    Ok(found as f64 / (approx.n_points() * k) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_shared_neighbours() {
        let exact = KnnGraph::from_parts(3, 1, vec![1, 0, 1], vec![1.0, 1.0, 2.0]).unwrap();
        let approx = KnnGraph::from_parts(3, 1, vec![2, 0, 1], vec![3.0, 1.0, 2.0]).unwrap();
        assert!((recall(&approx, &exact).unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(recall(&exact, &exact).unwrap(), 1.0);
        let bigger = KnnGraph::from_parts(4, 1, vec![1, 0, 1, 2], vec![1.0; 4]).unwrap();
        assert!(matches!(
            recall(&bigger, &exact),
            Err(Error::ShapeMismatch { .. })
        ));
    }
}
