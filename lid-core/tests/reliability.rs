//! The bad-input matrix of docs/reliability.md, column "library" (lid-core): one test per row,
//! named `matrix_<input class>_library`, plus the `Send + Sync` assertions of the public types.
//!
//! Each test asserts what a library user sees: an error variant whose message names the problem
//! (row, column, count, parameter), or a result that states what happened; never a panic and never
//! a silent wrong number.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

use lid_core::estimators::{GlobalEstimator, Mle, PointwiseEstimator, TwoNN};
use lid_core::guards::{NearDuplicates, ScaleCheck, DEFAULT_NEAR_DUPLICATE_THRESHOLD};
use lid_core::prepare::Preparation;
use lid_core::{Error, ExhaustiveSearch, KnnGraph, NeighborSearch, PointCloud};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// `n` points uniform in a `d`-ball inside `R^ambient` (the first `d` coordinates).
fn ball(n: usize, d: usize, ambient: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut values = Vec::with_capacity(n * ambient);
    for _ in 0..n {
        let g: Vec<f64> = (0..d).map(|_| StandardNormal.sample(&mut rng)).collect();
        let norm = g.iter().map(|x| x * x).sum::<f64>().sqrt();
        let radius = rng.random::<f64>().powf(1.0 / d as f64);
        values.extend((0..ambient).map(|c| {
            if c < d {
                (g[c] / norm * radius) as f32
            } else {
                0.0
            }
        }));
    }
    values
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

#[test]
fn matrix_nan_library() {
    let mut values = ball(20, 2, 3, 1);
    values[3 * 7 + 2] = f32::NAN;
    let err = PointCloud::from_vec(values, 20, 3).unwrap_err();
    assert!(
        matches!(err, Error::NonFinite { row: 7, col: 2, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("row 7") && text.contains("column 2"),
        "{text}"
    );
}

#[test]
fn matrix_infinity_library() {
    for bad in [f32::INFINITY, f32::NEG_INFINITY] {
        let mut values = ball(10, 2, 2, 1);
        values[5] = bad;
        let err = PointCloud::from_vec(values, 10, 2).unwrap_err();
        assert!(
            matches!(err, Error::NonFinite { row: 2, col: 1, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("inf"), "{err}");
    }
}

#[test]
fn matrix_empty_library() {
    let err = PointCloud::from_vec(Vec::new(), 0, 3).unwrap_err();
    assert!(matches!(err, Error::EmptyCloud));
    assert!(err.to_string().contains("empty"));
    let err = PointCloud::from_vec(Vec::new(), 4, 0).unwrap_err();
    assert!(matches!(err, Error::ZeroDimension { n: 4 }));
    assert!(err.to_string().contains("dimension 0"), "{err}");
}

#[test]
fn matrix_wrong_shapes_library() {
    let err = PointCloud::from_vec(vec![0.0; 7], 2, 3).unwrap_err();
    assert!(matches!(err, Error::ShapeMismatch { .. }));
    assert!(err.to_string().contains("2 x 3 = 6"), "{err}");
    // A graph built on another cloud is refused by the estimators.
    let a = PointCloud::from_vec(ball(30, 2, 2, 1), 30, 2).unwrap();
    let b = PointCloud::from_vec(ball(30, 2, 2, 2), 30, 2).unwrap();
    let graph = ExhaustiveSearch.knn_graph(&a, 5).unwrap();
    let err = TwoNN::new().estimate_pointwise(&b, &graph).unwrap_err();
    assert!(matches!(err, Error::ShapeMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("another cloud"), "{err}");
}

#[test]
fn matrix_too_few_points_library() {
    let cloud = PointCloud::from_vec(vec![0.0, 1.0], 2, 1).unwrap();
    let err = TwoNN::new()
        .estimate_global(&cloud, &ExhaustiveSearch)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::TooFewPoints {
                n: 2,
                needed: 3,
                ..
            }
        ),
        "{err:?}"
    );
    let cloud = PointCloud::from_vec(ball(10, 2, 2, 1), 10, 2).unwrap();
    let err = ExhaustiveSearch.knn_graph(&cloud, 10).unwrap_err();
    assert!(
        matches!(
            err,
            Error::TooFewPoints {
                n: 10,
                needed: 11,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("need at least 11"), "{err}");
    let err = ExhaustiveSearch.knn_graph(&cloud, 0).unwrap_err();
    assert!(
        matches!(err, Error::InvalidParameter { name: "k", .. }),
        "{err:?}"
    );
    let graph = ExhaustiveSearch.knn_graph(&cloud, 2).unwrap();
    let err = TwoNN::new().estimate_pointwise(&cloud, &graph).unwrap_err();
    assert!(
        matches!(err, Error::TooFewPoints { needed: 3, .. }),
        "{err:?}"
    );
}

#[test]
fn matrix_duplicates_library() {
    let mut values = ball(60, 3, 3, 4);
    let row0: Vec<f32> = values[..3].to_vec();
    values[30..33].copy_from_slice(&row0); // row 10 = row 0
    let cloud = PointCloud::from_vec(values, 60, 3).unwrap();
    let graph = ExhaustiveSearch.knn_graph(&cloud, 20).unwrap();
    let err = TwoNN::new().estimate_pointwise(&cloud, &graph).unwrap_err();
    assert!(matches!(err, Error::DuplicatePoints { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("duplicate") && text.contains("deduplicate"),
        "{text}"
    );
    // The paper's preparation removes them and says how many.
    let (clean, report) = Preparation::builder().build().unwrap().run(&cloud).unwrap();
    assert_eq!(report.n_duplicates_removed, 1);
    assert_eq!(clean.n_points(), 59);
    // Dropping them inside the fit is counted, never silent.
    let dropped = TwoNN::new()
        .drop_duplicates(true)
        .estimate_pointwise(&cloud, &graph)
        .unwrap();
    assert!(dropped.dropped_duplicates > 0);
}

/// The example: 150 of 300 ball points repeated with a relative change of 1e-7 pass exact
/// dedup and pull the mean local TwoNN from about 4 towards 0. The estimate reports them, the guard
/// finds them, and removing them restores the estimate.
#[test]
fn matrix_near_duplicates_library() {
    let (n, d, ambient) = (300usize, 4usize, 10usize);
    let mut values = ball(n, d, ambient, 1);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let copies: Vec<f32> = values[..150 * ambient]
        .iter()
        .map(|&x| {
            let z: f64 = StandardNormal.sample(&mut rng);
            x * (1.0 + 1e-7 * z as f32)
        })
        .collect();
    values.extend(copies);
    let cloud = PointCloud::from_vec(values, n + 150, ambient).unwrap();
    let (cloud, prep) = Preparation::builder().build().unwrap().run(&cloud).unwrap();
    // f32 rounding makes a few copies exact duplicates; the rest pass exact dedup.
    assert!(prep.n_duplicates_removed < 20, "{prep:?}");
    let l = 64;
    let graph = ExhaustiveSearch.knn_graph(&cloud, l).unwrap();
    let polluted = TwoNN::new().estimate_pointwise(&cloud, &graph).unwrap();
    assert!(mean(&polluted.values) < 1.0, "{}", mean(&polluted.values));
    assert!(polluted.near_duplicate_points >= 250, "{polluted:?}");
    let check = NearDuplicates::new(DEFAULT_NEAR_DUPLICATE_THRESHOLD).unwrap();
    let report = check.check(&graph);
    assert_eq!(report.points, polluted.near_duplicate_points);
    assert!(
        report.neighbourhoods_dominated > cloud.n_points() / 2,
        "{report:?}"
    );
    let keep = check.rows_to_keep(&graph);
    assert_eq!(keep.len(), n, "one row of each near-duplicate pair is kept");
    let clean = cloud.select_rows(&keep).unwrap();
    let graph = ExhaustiveSearch.knn_graph(&clean, l).unwrap();
    let estimates = TwoNN::new().estimate_pointwise(&clean, &graph).unwrap();
    assert_eq!(estimates.near_duplicate_points, 0);
    assert!(
        (mean(&estimates.values) - 4.0).abs() < 0.6,
        "{}",
        mean(&estimates.values)
    );
    // MLE reports them as well.
    let mle = Mle::new()
        .k(20)
        .estimate_pointwise(&cloud, &ExhaustiveSearch.knn_graph(&cloud, 20).unwrap())
        .unwrap();
    assert!(
        mle.near_duplicate_points >= 250,
        "{}",
        mle.near_duplicate_points
    );
    // On honest data nothing is flagged.
    assert_eq!(check.check(&graph).points, 0);
}

/// Estimates are scale-invariant and exact at 1e20 and 1e-20: the cloud multiplied by a power of two
/// gives the same bits as the original, through the oracle and the f64 distance.
#[test]
fn matrix_huge_scales_library() {
    let base = ball(200, 3, 5, 2);
    let cloud = PointCloud::from_vec(base.clone(), 200, 5).unwrap();
    let graph = ExhaustiveSearch.knn_graph(&cloud, 32).unwrap();
    let want = TwoNN::new().estimate_pointwise(&cloud, &graph).unwrap();
    for shift in [66, -66] {
        let factor = 2f32.powi(shift);
        let scaled: Vec<f32> = base.iter().map(|&x| x * factor).collect();
        let scaled = PointCloud::from_vec(scaled, 200, 5).unwrap();
        let check = ScaleCheck::of(&scaled);
        assert!(check.overflow || check.underflow, "{check:?}");
        assert!(check.shift().is_some());
        let g = ExhaustiveSearch.knn_graph(&scaled, 32).unwrap();
        assert_eq!(g.indices_flat(), graph.indices_flat(), "shift {shift}");
        let got = TwoNN::new().estimate_pointwise(&scaled, &g).unwrap();
        assert_eq!(got.values, want.values, "shift {shift}");
        let global = TwoNN::new()
            .estimate_global(&scaled, &ExhaustiveSearch)
            .unwrap();
        let global_want = TwoNN::new()
            .estimate_global(&cloud, &ExhaustiveSearch)
            .unwrap();
        assert_eq!(global, global_want);
    }
}

#[test]
fn matrix_sample_larger_than_cloud_library() {
    let cloud = PointCloud::from_vec(ball(300, 2, 3, 5), 300, 3).unwrap();
    let prep = Preparation::builder().sample(1000, 42).build().unwrap();
    let (out, report) = prep.run(&cloud).unwrap();
    assert!(report.sample_capped, "the cap is stated in the report");
    assert_eq!(
        (report.n_input, report.n_sampled, out.n_points()),
        (300, 300, 300)
    );
    let err = lid_core::prepare::sample_without_replacement(300, 1000, 42).unwrap_err();
    assert!(err.to_string().contains("300 available rows"), "{err}");
    let err = Preparation::builder().sample(0, 42).build().unwrap_err();
    assert!(err.to_string().contains("sample size"), "{err}");
}

/// Broken graphs handed to the library are refused with the violated invariant.
#[test]
fn matrix_corrupt_graph_library() {
    let err = KnnGraph::from_parts(3, 1, vec![1, 0, 9], vec![1.0, 1.0, 1.0]).unwrap_err();
    assert!(err.to_string().contains("out of range"), "{err}");
    let err = KnnGraph::from_parts(3, 1, vec![1, 0, 1], vec![1.0, f64::NAN, 1.0]).unwrap_err();
    assert!(err.to_string().contains("not finite"), "{err}");
}

#[test]
fn public_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<PointCloud<'static>>();
    send_sync::<KnnGraph>();
    send_sync::<ExhaustiveSearch>();
    send_sync::<lid_core::GraphSearch<'static>>();
    send_sync::<TwoNN>();
    send_sync::<Mle>();
    send_sync::<lid_core::estimators::Gride>();
    send_sync::<lid_core::estimators::Lpca>();
    send_sync::<lid_core::estimators::PointwiseEstimates>();
    send_sync::<lid_core::estimators::GlobalEstimate>();
    send_sync::<Preparation>();
    send_sync::<lid_core::prepare::PreparationReport>();
    send_sync::<NearDuplicates>();
    send_sync::<lid_core::guards::NearDuplicateReport>();
    send_sync::<ScaleCheck>();
    send_sync::<Error>();
    send_sync::<Box<dyn NeighborSearch>>();
}
