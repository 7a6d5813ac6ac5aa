//! Every bad input to the estimators gives the specific error, never a panic or a NaN.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

use lid_core::estimators::{
    CdfConvention, GlobalEstimator, Gride, Lpca, LpcaVersion, Mle, PointwiseEstimator, TwoNN,
};
use lid_core::{Error, ExhaustiveSearch, NeighborSearch, PointCloud};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_cloud(seed: u64, n: usize, dim: usize) -> PointCloud<'static> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let values = (0..n * dim).map(|_| rng.random::<f32>()).collect();
    PointCloud::from_vec(values, n, dim).unwrap()
}

/// `base` with rows 0..copies duplicated at the end (exact copies).
fn with_duplicates(base: &PointCloud<'_>, copies: usize) -> PointCloud<'static> {
    let mut values = base.as_slice().to_vec();
    for r in 0..copies {
        values.extend_from_slice(base.row(r));
    }
    PointCloud::from_vec(values, base.n_points() + copies, base.dim()).unwrap()
}

fn is_param(e: &Error, expected: &str) -> bool {
    matches!(e, Error::InvalidParameter { name, .. } if *name == expected)
}

#[test]
fn twonn_discard_fraction_out_of_range() {
    let cloud = random_cloud(1, 50, 3);
    for bad in [-0.1, 1.0, 1.5, f64::NAN, f64::INFINITY] {
        let est = TwoNN::new().discard_fraction(bad);
        let e = est.estimate_global(&cloud, &ExhaustiveSearch).unwrap_err();
        assert!(is_param(&e, "discard_fraction"), "{bad}: {e}");
        let e = est.fit_ratios(&[1.5, 2.0, 3.0]).unwrap_err();
        assert!(is_param(&e, "discard_fraction"), "{bad}: {e}");
    }
    assert!(TwoNN::new()
        .discard_fraction(0.0)
        .fit_ratios(&[1.5, 2.0, 3.0])
        .is_ok());
}

#[test]
fn twonn_too_few_points_and_neighbours() {
    let tiny = random_cloud(2, 2, 3);
    assert!(matches!(
        TwoNN::new().estimate_global(&tiny, &ExhaustiveSearch),
        Err(Error::TooFewPoints {
            n: 2,
            needed: 3,
            ..
        })
    ));
    let cloud = random_cloud(3, 30, 3);
    let g2 = ExhaustiveSearch.knn_graph(&cloud, 2).unwrap();
    assert!(matches!(
        TwoNN::new().estimate_pointwise(&cloud, &g2),
        Err(Error::TooFewPoints {
            n: 2,
            needed: 3,
            ..
        })
    ));
    // L = 3 keeps floor(2.7) = 2 ratios: allowed. One ratio is too few.
    let g3 = ExhaustiveSearch.knn_graph(&cloud, 3).unwrap();
    assert!(TwoNN::new().estimate_pointwise(&cloud, &g3).is_ok());
    assert!(matches!(
        TwoNN::new().fit_ratios(&[2.0]),
        Err(Error::TooFewPoints { .. })
    ));
    // L >= n is refused by the search.
    assert!(matches!(
        ExhaustiveSearch.knn_graph(&cloud, 30),
        Err(Error::TooFewPoints { .. })
    ));
}

#[test]
fn twonn_bad_ratios() {
    let e = TwoNN::new().fit_ratios(&[0.5, 2.0, 3.0]).unwrap_err();
    assert!(is_param(&e, "ratios"), "{e}");
    let e = TwoNN::new().fit_distances(&[1.0, 2.0], &[2.0]).unwrap_err();
    assert!(matches!(e, Error::ShapeMismatch { .. }));
    let e = TwoNN::new()
        .fit_distances(&[2.0, 1.0], &[1.0, 2.0])
        .unwrap_err();
    assert!(is_param(&e, "r1, r2"), "{e}");
}

#[test]
fn twonn_duplicates_error_with_count_or_are_dropped() {
    let base = random_cloud(4, 200, 4);
    let cloud = with_duplicates(&base, 3);
    // Global: 3 pairs of duplicates -> 6 points with r1 = 0.
    match TwoNN::new().estimate_global(&cloud, &ExhaustiveSearch) {
        Err(Error::DuplicatePoints {
            count: 6,
            total: 203,
            ..
        }) => {}
        other => panic!("expected DuplicatePoints with count 6, got {other:?}"),
    }
    let dropped = TwoNN::new()
        .drop_duplicates(true)
        .estimate_global(&cloud, &ExhaustiveSearch)
        .unwrap();
    assert!(dropped.dimension.is_finite());
    assert_eq!(dropped.n_used + dropped.n_discarded, 203);
    assert_eq!(dropped.n_used, (197.0f64 * 0.9).floor() as usize);
    // Ratio level: an infinite ratio is a duplicate.
    match TwoNN::new().fit_ratios(&[f64::INFINITY, 1.5, 2.0, 3.0]) {
        Err(Error::DuplicatePoints {
            count: 1, total: 4, ..
        }) => {}
        other => panic!("{other:?}"),
    }
    let fit = TwoNN::new()
        .drop_duplicates(true)
        .fit_ratios(&[f64::INFINITY, 1.5, 2.0, 3.0])
        .unwrap();
    assert_eq!(fit.dropped_duplicates, 1);
    // Pointwise: the neighbourhood of a point that holds both copies of a duplicate pair.
    let graph = ExhaustiveSearch.knn_graph(&cloud, 10).unwrap();
    match TwoNN::new().estimate_pointwise(&cloud, &graph) {
        Err(Error::DuplicatePoints {
            count,
            total: 10,
            what,
        }) => {
            assert!(count >= 2, "{count}");
            assert!(what.contains("point"), "{what}");
        }
        other => panic!("expected DuplicatePoints, got {other:?}"),
    }
    let pw = TwoNN::new()
        .drop_duplicates(true)
        .estimate_pointwise(&cloud, &graph)
        .unwrap();
    assert!(pw.dropped_duplicates > 0);
    assert!(pw.values.iter().all(|v| v.is_finite()));
}

#[test]
fn twonn_degenerate() {
    assert!(matches!(
        TwoNN::new().fit_ratios(&[1.0; 10]),
        Err(Error::Degenerate { .. })
    ));
    // 20 equally spaced points on a line: mu = 1 except at the two ends (mu = 2), which the 10 %
    // discard removes: every kept ratio is 1.
    let line: Vec<f32> = (0..20).map(|i| i as f32).collect();
    let line = PointCloud::from_vec(line, 20, 1).unwrap();
    let e = TwoNN::new()
        .estimate_global(&line, &ExhaustiveSearch)
        .unwrap_err();
    assert!(matches!(e, Error::Degenerate { .. }), "{e}");
    // Corrected CDF with nothing discarded puts the last point at infinity.
    let e = TwoNN::new()
        .cdf(CdfConvention::Corrected)
        .discard_fraction(0.0)
        .fit_ratios(&[1.5, 2.0, 3.0])
        .unwrap_err();
    assert!(matches!(e, Error::Degenerate { .. }), "{e}");
}

#[test]
fn graph_from_another_cloud_is_a_shape_mismatch() {
    let cloud = random_cloud(5, 100, 4);
    let other_same_n = random_cloud(6, 100, 4);
    let other_n = random_cloud(7, 80, 4);
    let g_same_n = ExhaustiveSearch.knn_graph(&other_same_n, 12).unwrap();
    let g_other_n = ExhaustiveSearch.knn_graph(&other_n, 12).unwrap();
    let estimators: [(&str, &dyn PointwiseEstimator); 3] = [
        ("twonn", &TwoNN::new()),
        ("mle", &Mle::new().k(10)),
        ("lpca", &Lpca::new()),
    ];
    for (name, est) in estimators {
        for g in [&g_same_n, &g_other_n] {
            let e = est.estimate_pointwise(&cloud, g).unwrap_err();
            assert!(matches!(e, Error::ShapeMismatch { .. }), "{name}: {e}");
        }
    }
}

#[test]
fn mle_bad_inputs() {
    let cloud = random_cloud(8, 100, 3);
    let e = Mle::new()
        .k(1)
        .estimate_global(&cloud, &ExhaustiveSearch)
        .unwrap_err();
    assert!(is_param(&e, "k"), "{e}");
    let e = Mle::new().k(2).unbiased(true).validate().unwrap_err();
    assert!(is_param(&e, "k"), "{e}");
    let g = ExhaustiveSearch.knn_graph(&cloud, 10).unwrap();
    let e = Mle::new().estimate_pointwise(&cloud, &g).unwrap_err();
    assert!(is_param(&e, "k"), "graph too small for k = 20: {e}");
    assert!(matches!(
        Mle::new().k(100).estimate_global(&cloud, &ExhaustiveSearch),
        Err(Error::TooFewPoints { .. })
    ));
    let dup = with_duplicates(&cloud, 1);
    assert!(matches!(
        Mle::new().estimate_global(&dup, &ExhaustiveSearch),
        Err(Error::DuplicatePoints { .. })
    ));
    assert!(matches!(
        Mle::new().fit_distances(&[1.0; 5]),
        Err(Error::Degenerate { .. })
    ));
    assert!(matches!(Mle::new().combine(&[]), Err(Error::EmptyCloud)));
}

#[test]
fn gride_bad_inputs() {
    let cloud = random_cloud(9, 100, 3);
    for (est, name) in [
        (Gride::new().orders(0, 2), "n1"),
        (Gride::new().orders(2, 2), "n2"),
        (Gride::new().bracket(0.0, 10.0), "d_min"),
        (Gride::new().bracket(5.0, 1.0), "d_max"),
        (Gride::new().tolerance(0.0), "tolerance"),
    ] {
        let e = est.estimate_global(&cloud, &ExhaustiveSearch).unwrap_err();
        assert!(is_param(&e, name), "{name}: {e}");
    }
    let dup = with_duplicates(&cloud, 2);
    assert!(matches!(
        Gride::new().estimate_global(&dup, &ExhaustiveSearch),
        Err(Error::DuplicatePoints { count: 4, .. })
    ));
    assert!(matches!(
        Gride::new().fit_ratios(&[2.0]),
        Err(Error::TooFewPoints { .. })
    ));
    let e = Gride::new().fit_ratios(&[0.5, 2.0, 3.0]).unwrap_err();
    assert!(is_param(&e, "ratios"), "{e}");
}

#[test]
fn lpca_bad_inputs() {
    let cloud = random_cloud(10, 50, 3);
    for (version, name) in [
        (LpcaVersion::FukunagaOlsen { alpha: 0.0 }, "alpha"),
        (LpcaVersion::FukunagaOlsen { alpha: 1.0 }, "alpha"),
        (
            LpcaVersion::Fan {
                alpha: -1.0,
                beta: 0.8,
                p: 0.95,
            },
            "alpha",
        ),
        (
            LpcaVersion::Fan {
                alpha: 10.0,
                beta: 1.5,
                p: 0.95,
            },
            "beta",
        ),
        (
            LpcaVersion::Fan {
                alpha: 10.0,
                beta: 0.8,
                p: 1.0,
            },
            "p",
        ),
        (LpcaVersion::Ratio { alpha: f64::NAN }, "alpha"),
    ] {
        let e = Lpca::new()
            .version(version)
            .estimate_global(&cloud, &ExhaustiveSearch)
            .unwrap_err();
        assert!(is_param(&e, name), "{name}: {e}");
    }
    let same = PointCloud::from_vec(vec![1.0; 30], 10, 3).unwrap();
    assert!(matches!(
        Lpca::new().estimate_global(&same, &ExhaustiveSearch),
        Err(Error::Degenerate { .. })
    ));
    let e = Lpca::new().fit_spectrum(&[1.0, 2.0]).unwrap_err();
    assert!(is_param(&e, "eigenvalues"), "{e}");
}
