//! Levina-Bickel MLE against scikit-dimension 0.5.0 `MLE()` (defaults) `fit(X, n_neighbors=20,
//! comb="mle" | "mean", smooth=True)`: pointwise `dimension_pw_`, `dimension_pw_smooth_` (the
//! mean over the point and its 20 neighbours) and both aggregates.
//!
//! The peer finds neighbours with `sklearn.neighbors.NearestNeighbors` (for D = 256 the dot-product
//! distance formula), which bounds the agreement. Relative tolerance on every value: 1e-8 for the
//! D = 256 cloud, 1e-12 for the D = 16 cloud; measured maxima are printed with `--nocapture`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

#[path = "fixtures/golden_util.rs"]
mod golden_util;

use golden_util::{assert_close, cloud, graph, values};
use lid_core::estimators::{GlobalEstimator, Mle, MleAggregate, PointwiseEstimator};
use lid_core::ExhaustiveSearch;

fn tol(name: &str) -> f64 {
    if name == "union" {
        1e-8
    } else {
        1e-12
    }
}

#[test]
fn mle_pointwise_and_aggregates() {
    for name in ["union", "ball"] {
        let cloud = cloud(name);
        // A 128-neighbour graph serves k = 20: the MLE uses the first k of each row.
        let g = graph(name, &cloud, 128);
        let pw = Mle::new().estimate_pointwise(&cloud, &g).unwrap();
        assert_eq!(pw.neighbors, 20);
        let key = format!("{name}_mle_pw_k20_skdim050");
        assert_close(&key, &pw.values, &values(&key), tol(name));

        let smooth = Mle::new()
            .smooth(true)
            .estimate_pointwise(&cloud, &g)
            .unwrap();
        let key = format!("{name}_mle_pw_k20_skdim050_smooth");
        assert_close(&key, &smooth.values, &values(&key), tol(name));

        let inverse_mean = Mle::new()
            .estimate_global(&cloud, &ExhaustiveSearch)
            .unwrap();
        let key = format!("{name}_mle_global_k20_skdim050_mle");
        assert_close(&key, &[inverse_mean.dimension], &values(&key), tol(name));

        let mean = Mle::new()
            .aggregate(MleAggregate::Mean)
            .estimate_global(&cloud, &ExhaustiveSearch)
            .unwrap();
        let key = format!("{name}_mle_global_k20_skdim050_mean");
        assert_close(&key, &[mean.dimension], &values(&key), tol(name));
    }
}
