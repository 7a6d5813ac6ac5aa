//! TwoNN against scikit-dimension 0.3.4 (`CdfConvention::Skdim034`) and 0.5.0
//! (`CdfConvention::Corrected`, and `method="mle"` = `TwoNnMethod::CensoredMle`).
//!
//! Fixtures: `tools/golden/run.sh` (see `tests/fixtures/golden/README.md`). The peers were given the
//! same float32 clouds as float64 and the same neighbourhoods (exact kNN), and computed r1/r2
//! themselves: scikit-dimension with `sklearn.metrics.pairwise_distances_chunked` (the dot-product
//! formula `sqrt(|x|^2 + |y|^2 - 2 x.y)` for D > 25) or `NearestNeighbors` (D <= 25). The dot-product
//! formula loses about `eps * |x|^2 / r^2` relative accuracy on distances, which bounds the agreement.
//! Tolerance, relative, on every point: 1e-8 for the D = 256 cloud (measured max 1.2e-9, from the
//! dot-product distances), 1e-12 for the D = 16 cloud (direct distances on both sides; measured max
//! 3.6e-15). The measured maxima are printed with `--nocapture`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

#[path = "fixtures/golden_util.rs"]
mod golden_util;

use golden_util::{assert_close, cloud, graph, values};
use lid_core::estimators::{
    CdfConvention, GlobalEstimator, PointwiseEstimator, TwoNN, TwoNnMethod,
};
use lid_core::ExhaustiveSearch;

/// Relative tolerance per cloud (see the module docs).
fn tol(name: &str) -> f64 {
    if name == "union" {
        1e-8
    } else {
        1e-12
    }
}

fn pointwise_case(name: &str) {
    let cloud = cloud(name);
    let full = graph(name, &cloud, 128);
    for l in [64usize, 128] {
        let g = full.truncated(l).unwrap();
        for (cdf, tag) in [
            (CdfConvention::Skdim034, "skdim034"),
            (CdfConvention::Corrected, "skdim050"),
        ] {
            for smooth in [false, true] {
                let suffix = if smooth { "_smooth" } else { "" };
                let key = format!("{name}_twonn_pw_L{l}_{tag}{suffix}");
                let ours = TwoNN::new()
                    .cdf(cdf)
                    .smooth(smooth)
                    .estimate_pointwise(&cloud, &g)
                    .unwrap();
                assert_eq!(ours.neighbors, l);
                assert_eq!(ours.dropped_duplicates, 0);
                assert_close(&key, &ours.values, &values(&key), tol(name));
            }
        }
    }
}

#[test]
fn pointwise_union_of_manifolds_d256() {
    pointwise_case("union");
}

#[test]
fn pointwise_ball_d16() {
    pointwise_case("ball");
}

#[test]
fn pointwise_censored_mle_l64() {
    for name in ["union", "ball"] {
        let cloud = cloud(name);
        let g = graph(name, &cloud, 64);
        let key = format!("{name}_twonn_pw_L64_skdim050_mle");
        let ours = TwoNN::new()
            .method(TwoNnMethod::CensoredMle)
            .estimate_pointwise(&cloud, &g)
            .unwrap();
        assert_close(&key, &ours.values, &values(&key), tol(name));
    }
}

#[test]
fn global_both_conventions_and_censored_mle() {
    for name in ["union", "ball"] {
        let cloud = cloud(name);
        let cases = [
            (TwoNN::new(), "skdim034"),
            (TwoNN::new().cdf(CdfConvention::Corrected), "skdim050"),
            (
                TwoNN::new().method(TwoNnMethod::CensoredMle),
                "skdim050_mle",
            ),
        ];
        for (estimator, tag) in cases {
            let key = format!("{name}_twonn_global_{tag}");
            let ours = estimator
                .estimate_global(&cloud, &ExhaustiveSearch)
                .unwrap();
            assert_eq!(ours.n_used + ours.n_discarded, cloud.n_points());
            assert_close(&key, &[ours.dimension], &values(&key), tol(name));
        }
    }
}
