//! One test suite run on every backend (the pattern of linfa-nn's `nn_tests!`), with
//! `lid_core::ExhaustiveSearch` as the oracle: exact backends must return identical graphs, HNSW must
//! reach a recall threshold.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

use lid_core::{Error, ExhaustiveSearch, KnnGraph, NeighborSearch, PointCloud, SearchKind};
use lid_knn::{recall, BruteForce, Hnsw, HnswParams, KdTree};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

fn gaussian_cloud(n: usize, d: usize, seed: u64) -> PointCloud<'static> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let values: Vec<f32> = (0..n * d)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    PointCloud::from_vec(values, n, d).unwrap()
}

/// A cloud with a large common offset and integer-valued coordinates: many exact ties and strong
/// cancellation in the Gram formula.
fn tied_offset_cloud(n: usize, d: usize, seed: u64) -> PointCloud<'static> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let values: Vec<f32> = (0..n * d)
        .map(|_| 1000.0 + rng.random_range(0..3) as f32)
        .collect();
    PointCloud::from_vec(values, n, d).unwrap()
}

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

/// Checks `graph` against the oracle: identical for exact backends, recall >= `min_recall` otherwise.
fn check_against_oracle(
    backend: &dyn NeighborSearch,
    cloud: &PointCloud<'_>,
    k: usize,
    min_recall: f64,
) {
    let graph = backend.knn_graph(cloud, k).unwrap();
    let oracle = ExhaustiveSearch.knn_graph(cloud, k).unwrap();
    match backend.kind() {
        SearchKind::Exact => {
            assert_eq!(graph, oracle, "{} differs from the oracle", backend.name())
        }
        SearchKind::Approximate => {
            let r = recall(&graph, &oracle).unwrap();
            assert!(
                r >= min_recall,
                "{}: recall {r} < {min_recall}",
                backend.name()
            );
        }
    }
}

macro_rules! backend_tests {
    ($module:ident, $make:expr, dims = [$($dim:expr),*], min_recall = $min_recall:expr) => {
        mod $module {
            use super::*;

            fn backend() -> Box<dyn NeighborSearch> {
                Box::new($make)
            }

            #[test]
            fn rejects_bad_k() {
                let cloud = gaussian_cloud(5, 2, 1);
                assert!(matches!(backend().knn_graph(&cloud, 0), Err(Error::InvalidParameter { name: "k", .. })));
                assert!(matches!(backend().knn_graph(&cloud, 5), Err(Error::TooFewPoints { n: 5, needed: 6, .. })));
                let single = gaussian_cloud(1, 2, 1);
                assert!(matches!(backend().knn_graph(&single, 1), Err(Error::TooFewPoints { .. })));
            }

            #[test]
            fn smallest_valid_input() {
                let cloud = PointCloud::from_vec(vec![0.0, 0.0, 3.0, 4.0], 2, 2).unwrap();
                let g = backend().knn_graph(&cloud, 1).unwrap();
                assert_eq!(g.neighbors(0), &[1]);
                assert_eq!(g.neighbors(1), &[0]);
                assert_eq!(g.distances(0), &[5.0]);
            }

            #[test]
            fn duplicates_are_neighbours_at_distance_zero() {
                let cloud = PointCloud::from_vec(vec![1.0, 1.0, 9.0, 9.0, 1.0, 1.0, 1.0, 1.0, 5.0, 5.0], 5, 2).unwrap();
                let g = backend().knn_graph(&cloud, 2).unwrap();
                assert_eq!(g.neighbors(0), &[2, 3]);
                assert_eq!(g.distances(0), &[0.0, 0.0]);
                assert_eq!(g.neighbors(3), &[0, 2]);
                if backend().kind() == SearchKind::Exact {
                    check_against_oracle(&*backend(), &cloud, 3, 1.0);
                }
            }

            #[test]
            fn all_points_identical() {
                let cloud = PointCloud::from_vec(vec![2.5; 40 * 3], 40, 3).unwrap();
                let g = backend().knn_graph(&cloud, 4).unwrap();
                for i in 0..40 {
                    assert!(g.distances(i).iter().all(|&d| d == 0.0));
                }
                if backend().kind() == SearchKind::Exact {
                    check_against_oracle(&*backend(), &cloud, 4, 1.0);
                }
            }

            #[test]
            fn ties_are_broken_by_index() {
                // A 1-D grid: interior points have two neighbours at every distance.
                let cloud = PointCloud::from_vec((0..30).map(|i| i as f32).collect(), 30, 1).unwrap();
                let g = backend().knn_graph(&cloud, 4).unwrap();
                assert_eq!(g.neighbors(10), &[9, 11, 8, 12]);
                let tied = tied_offset_cloud(300, 4, 7);
                check_against_oracle(&*backend(), &tied, 9, 0.9);
            }

            #[test]
            fn random_clouds_match_the_oracle() {
                for (seed, &d) in [$($dim),*].iter().enumerate() {
                    for &(n, k) in &[(50usize, 1usize), (333, 7), (700, 20)] {
                        let cloud = gaussian_cloud(n, d, 100 + seed as u64);
                        check_against_oracle(&*backend(), &cloud, k, $min_recall);
                    }
                }
            }

            #[test]
            fn independent_of_thread_count() {
                let cloud = gaussian_cloud(600, [$($dim),*][0], 5);
                let one: KnnGraph = in_pool(1, || backend().knn_graph(&cloud, 10).unwrap());
                let two: KnnGraph = in_pool(2, || backend().knn_graph(&cloud, 10).unwrap());
                assert_eq!(one, two);
            }
        }
    };
}

backend_tests!(
    brute_force,
    BruteForce::new(),
    dims = [3, 17, 64],
    min_recall = 1.0
);
backend_tests!(
    brute_force_small_blocks,
    BruteForce::new().with_block_size(7).unwrap(),
    dims = [5, 33],
    min_recall = 1.0
);
#[cfg(feature = "device")]
backend_tests!(
    device_brute_force_on_cpu,
    lid_knn::DeviceBruteForce::new(candle_core::Device::Cpu)
        .with_block_size(13)
        .unwrap(),
    dims = [3, 40],
    min_recall = 1.0
);
backend_tests!(kd_tree, KdTree::new(), dims = [1, 3, 8], min_recall = 1.0);
backend_tests!(hnsw, Hnsw::default(), dims = [3, 16], min_recall = 0.95);

#[test]
fn kd_tree_refuses_high_dimension() {
    let cloud = gaussian_cloud(20, 17, 3);
    let err = KdTree::new().knn_graph(&cloud, 2).unwrap_err();
    assert!(err.to_string().contains("brute-force"), "{err}");
}

#[test]
fn hnsw_rejects_bad_parameters() {
    let bad = HnswParams {
        max_connections: 300,
        ..HnswParams::default()
    };
    assert!(matches!(
        Hnsw::new(bad),
        Err(Error::InvalidParameter {
            name: "max_connections",
            ..
        })
    ));
    let bad = HnswParams {
        ef_construction: 0,
        ..HnswParams::default()
    };
    assert!(Hnsw::new(bad).is_err());
}

#[test]
fn brute_force_rejects_zero_block() {
    assert!(BruteForce::new().with_block_size(0).is_err());
}

#[test]
fn brute_force_survives_cancellation() {
    // Points far from the origin, close to each other: the plain Gram formula in f32 would rank them
    // wrongly; centring plus the error bound must still give the oracle's graph.
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let values: Vec<f32> = (0..400 * 48)
        .map(|c| if c % 48 == 0 { 5.0e4 } else { 0.0 } + rng.random_range(-1e-2f32..1e-2))
        .collect();
    let cloud = PointCloud::from_vec(values, 400, 48).unwrap();
    check_against_oracle(&BruteForce::new(), &cloud, 12, 1.0);
    check_against_oracle(
        &BruteForce::new().with_block_size(64).unwrap(),
        &cloud,
        12,
        1.0,
    );
}

#[test]
fn query_search_matches_a_direct_scan() {
    let reference = gaussian_cloud(500, 24, 21);
    let queries = gaussian_cloud(77, 24, 22);
    let k = 9;
    let result = BruteForce::new()
        .with_block_size(64)
        .unwrap()
        .knn_query(&reference, &queries, k)
        .unwrap();
    assert_eq!(result.n_queries(), 77);
    for q in 0..77 {
        let mut direct: Vec<(f64, u32)> = (0..500)
            .map(|j| {
                (
                    lid_core::euclidean_distance(queries.row(q), reference.row(j)),
                    j as u32,
                )
            })
            .collect();
        direct.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let (dist, idx): (Vec<f64>, Vec<u32>) = direct[..k].iter().copied().unzip();
        assert_eq!(result.neighbors(q), &idx[..]);
        assert_eq!(result.distances(q), &dist[..]);
    }
    // A query set equal to the reference finds each point itself at distance 0 (no self-exclusion).
    let same = BruteForce::new()
        .knn_query(&reference, &reference, 1)
        .unwrap();
    assert!((0..500).all(|i| same.neighbors(i) == [i as u32] && same.distances(i) == [0.0]));
    assert!(BruteForce::new()
        .knn_query(&reference, &queries, 0)
        .is_err());
    assert!(BruteForce::new()
        .knn_query(&reference, &queries, 501)
        .is_err());
    let wrong_dim = gaussian_cloud(3, 5, 1);
    assert!(matches!(
        BruteForce::new().knn_query(&reference, &wrong_dim, 1),
        Err(Error::ShapeMismatch { .. })
    ));
}

#[test]
fn brute_force_handles_extreme_magnitudes() {
    // Coordinates near the f32 limits: the Gram formula must neither overflow nor underflow into
    // wrong ranks (the points are rescaled by a power of two before the f32 products).
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    for magnitude in [1e30f32, 1e-30, 3e38] {
        let values: Vec<f32> = (0..200 * 6)
            .map(|_| rng.random_range(-1.0f32..1.0) * magnitude)
            .collect();
        let cloud = PointCloud::from_vec(values, 200, 6).unwrap();
        check_against_oracle(
            &BruteForce::new().with_block_size(32).unwrap(),
            &cloud,
            5,
            1.0,
        );
    }
    // Mixed scales: a tight cluster of tiny points next to large ones.
    let mut values: Vec<f32> = (0..100 * 4)
        .map(|_| rng.random_range(-1e-25f32..1e-25))
        .collect();
    values.extend((0..100 * 4).map(|_| rng.random_range(-1e3f32..1e3)));
    let cloud = PointCloud::from_vec(values, 200, 4).unwrap();
    check_against_oracle(
        &BruteForce::new().with_block_size(32).unwrap(),
        &cloud,
        8,
        1.0,
    );
}
