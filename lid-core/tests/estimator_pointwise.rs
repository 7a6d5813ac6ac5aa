//! Pointwise TwoNN: the fast algorithm (graph-row walk, see `estimators/twonn/pointwise.rs`) agrees
//! exactly (bit for bit) with a naive implementation of docs/method.md step 7, and results do not
//! depend on the thread count.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

use lid_core::estimators::{CdfConvention, PointwiseEstimator, TwoNN};
use lid_core::{euclidean_distance, ExhaustiveSearch, KnnGraph, NeighborSearch, PointCloud};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Naive step 7: all pairwise distances inside the neighbourhood, r1/r2 by sorting, then the fit.
fn naive_pointwise(est: &TwoNN, cloud: &PointCloud<'_>, graph: &KnnGraph) -> Vec<f64> {
    (0..graph.n_points())
        .map(|i| {
            let members = graph.neighbors(i);
            let ratios: Vec<f64> = members
                .iter()
                .map(|&j| {
                    let mut d: Vec<f64> = members
                        .iter()
                        .filter(|&&m| m != j)
                        .map(|&m| euclidean_distance(cloud.row(j as usize), cloud.row(m as usize)))
                        .collect();
                    d.sort_by(f64::total_cmp);
                    d[1] / d[0]
                })
                .collect();
            est.fit_ratios(&ratios).unwrap().dimension
        })
        .collect()
}

/// Clusters of very different spread and sizes make many members far from the rest of the
/// neighbourhood, so the fallback path is exercised too.
fn clustered_cloud(seed: u64, n: usize, dim: usize) -> PointCloud<'static> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let centres: Vec<Vec<f32>> = (0..7)
        .map(|_| (0..dim).map(|_| rng.random::<f32>() * 10.0).collect())
        .collect();
    let mut values = Vec::with_capacity(n * dim);
    for p in 0..n {
        let c = &centres[p % centres.len()];
        let spread = 0.05 + (p % centres.len()) as f32 * 0.4;
        values.extend(c.iter().map(|&x| x + (rng.random::<f32>() - 0.5) * spread));
    }
    PointCloud::from_vec(values, n, dim).unwrap()
}

#[test]
fn fast_algorithm_equals_naive_exactly() {
    for (seed, n, dim, l) in [
        (1, 300, 3, 10),
        (2, 400, 12, 32),
        (3, 250, 40, 64),
        (4, 120, 5, 100),
    ] {
        let cloud = clustered_cloud(seed, n, dim);
        let graph = ExhaustiveSearch.knn_graph(&cloud, l).unwrap();
        for cdf in [CdfConvention::Skdim034, CdfConvention::Corrected] {
            let est = TwoNN::new().cdf(cdf);
            let (fast, report) = est.estimate_pointwise_report(&cloud, &graph).unwrap();
            let naive = naive_pointwise(&est, &cloud, &graph);
            assert_eq!(fast.values, naive, "seed {seed}: fast and naive differ");
            assert_eq!(report.members, (n * l) as u64);
            println!(
                "seed {seed} n {n} dim {dim} L {l}: hit rate {:.4} ({} fallbacks)",
                report.hit_rate(),
                report.fallbacks
            );
        }
    }
}

/// Five points near the origin and twelve tight clusters of 30 points on a sphere of radius 10
/// around them: the neighbourhood of an origin point holds single members of several clusters, whose
/// own graph rows are filled by their cluster mates (non-members), so the fallback path must run.
fn outliers_and_clusters() -> PointCloud<'static> {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut gauss = |s: f32| (0..12).map(|_| rng.random::<f32>() - 0.5).sum::<f32>() * s;
    let mut values = Vec::new();
    for _ in 0..5 {
        values.extend([gauss(0.5), gauss(0.5), gauss(0.5)]);
    }
    for _ in 0..12 {
        let dir = [gauss(1.0), gauss(1.0), gauss(1.0)];
        let norm = dir.iter().map(|x| x * x).sum::<f32>().sqrt();
        for _ in 0..30 {
            values.extend((0..3).map(|c| 10.0 * dir[c] / norm + gauss(0.3)));
        }
    }
    let n = values.len() / 3;
    PointCloud::from_vec(values, n, 3).unwrap()
}

#[test]
fn fallback_path_is_exercised() {
    let cloud = outliers_and_clusters();
    let graph = ExhaustiveSearch.knn_graph(&cloud, 10).unwrap();
    let est = TwoNN::new();
    let (fast, report) = est.estimate_pointwise_report(&cloud, &graph).unwrap();
    println!(
        "outliers and clusters: {} fallbacks of {}",
        report.fallbacks, report.members
    );
    assert!(
        report.fallbacks > 0,
        "the test cloud must exercise the fallback"
    );
    assert_eq!(fast.values, naive_pointwise(&est, &cloud, &graph));
}

#[test]
fn independent_of_thread_count() {
    let cloud = clustered_cloud(9, 500, 8);
    let graph = ExhaustiveSearch.knn_graph(&cloud, 20).unwrap();
    let est = TwoNN::new().smooth(true);
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| est.estimate_pointwise(&cloud, &graph).unwrap())
    };
    let one = run(1);
    assert_eq!(one, run(3));
    assert_eq!(one, run(8));
}
