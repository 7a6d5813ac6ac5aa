//! lPCA against scikit-dimension 0.5.0 `lPCA(ver="FO" | "Fan" | "ratio")` with default parameters:
//! global `fit(X)` and pointwise `fit_pw(X, precomputed_knn)` on the 64 nearest neighbours (the point
//! excluded).
//!
//! The estimates are integers (counts of eigenvalues over thresholds). The spectra agree to about
//! 1e-12 relative (sklearn's SVD vs nalgebra's symmetric eigen-solver on the Gram or covariance
//! matrix), so a value could flip only when an eigenvalue sits within that distance of a threshold;
//! the test requires every value to be identical.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

#[path = "fixtures/golden_util.rs"]
mod golden_util;

use golden_util::{assert_equal_counts, cloud, graph, values};
use lid_core::estimators::{GlobalEstimator, Lpca, LpcaVersion, PointwiseEstimator};
use lid_core::ExhaustiveSearch;

#[test]
fn lpca_global_and_pointwise() {
    for name in ["union", "ball"] {
        let cloud = cloud(name);
        let g = graph(name, &cloud, 64);
        let versions = [
            ("FO", LpcaVersion::fukunaga_olsen()),
            ("Fan", LpcaVersion::fan()),
            ("ratio", LpcaVersion::Ratio { alpha: 0.05 }),
        ];
        for (tag, version) in versions {
            let est = Lpca::new().version(version);
            let global = est.estimate_global(&cloud, &ExhaustiveSearch).unwrap();
            let key = format!("{name}_lpca_{tag}_global_skdim050");
            assert_equal_counts(&key, &[global.dimension], &values(&key), 0);
            let pw = est.estimate_pointwise(&cloud, &g).unwrap();
            let key = format!("{name}_lpca_{tag}_pw_L64_skdim050");
            assert_equal_counts(&key, &pw.values, &values(&key), 0);
        }
    }
}
