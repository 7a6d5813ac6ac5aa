//! The bad-input matrix of docs/reliability.md, column "library" (lid-knn): one test per row,
//! named `matrix_<input class>_library_knn`, and the `Send + Sync` assertions of the backends.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

use lid_core::{Error, ExhaustiveSearch, NeighborSearch, PointCloud};
use lid_knn::{recall, BruteForce, Hnsw, KdTree, KDTREE_MAX_DIM};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

fn gaussian(n: usize, d: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n * d)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect()
}

fn backends() -> Vec<Box<dyn NeighborSearch>> {
    vec![
        Box::new(BruteForce::new().with_block_size(17).unwrap()),
        Box::new(KdTree::new()),
        Box::new(Hnsw::default()),
    ]
}

/// The example: HNSW on coordinates around 1e20 overflowed its f32 squared distances and
/// returned other neighbours (or too few). Its index now works on an exactly rescaled copy, so the
/// graph is the graph of the same points at scale 1, with distances in the user's units; the exact
/// backends were already exact at every scale.
#[test]
fn matrix_huge_scales_library_knn() {
    let (n, d, k) = (400usize, 8usize, 12usize);
    let base = gaussian(n, d, 3);
    let unit = PointCloud::from_vec(base.clone(), n, d).unwrap();
    let unit_hnsw = Hnsw::default().knn_graph(&unit, k).unwrap();
    for shift in [66i32, 100, -70, -100] {
        let factor = 2f64.powi(shift);
        let scaled: Vec<f32> = base.iter().map(|&x| (x as f64 * factor) as f32).collect();
        // The scaled input is exact (no value left the normal range), so it is the same cloud.
        assert!(scaled
            .iter()
            .zip(&base)
            .all(|(&s, &x)| (s as f64 / factor) as f32 == x));
        let cloud = PointCloud::from_vec(scaled, n, d).unwrap();
        assert!(Hnsw::index_shift(&cloud).is_some(), "shift {shift}");
        let oracle = ExhaustiveSearch.knn_graph(&cloud, k).unwrap();
        for backend in backends() {
            let graph = backend.knn_graph(&cloud, k).unwrap();
            if backend.kind() == lid_core::SearchKind::Exact {
                assert_eq!(graph, oracle, "{} at 2^{shift}", backend.name());
            } else {
                // The same neighbours as at scale 1, distances exactly scaled.
                assert_eq!(
                    graph.indices_flat(),
                    unit_hnsw.indices_flat(),
                    "hnsw at 2^{shift}"
                );
                for (a, b) in graph
                    .distances_flat()
                    .iter()
                    .zip(unit_hnsw.distances_flat())
                {
                    assert_eq!(*a, b * factor, "hnsw at 2^{shift}");
                }
                assert!(recall(&graph, &oracle).unwrap() > 0.95);
            }
        }
    }
    // A harmless scale is left alone.
    assert_eq!(Hnsw::index_shift(&unit), None);
}

/// Coordinates near 1e20 that are not an exact multiple of a unit cloud: HNSW gives the oracle's
/// graph up to its recall, with finite distances (before the guard: "returned 60 of 64 neighbours").
#[test]
fn matrix_huge_scales_library_knn_any_values() {
    let (n, d, k) = (300usize, 10usize, 64usize);
    let values: Vec<f32> = gaussian(n, d, 4).iter().map(|x| x * 1e20).collect();
    let cloud = PointCloud::from_vec(values, n, d).unwrap();
    let graph = Hnsw::default().knn_graph(&cloud, k).unwrap();
    let oracle = BruteForce::new().knn_graph(&cloud, k).unwrap();
    assert!(graph.distances_flat().iter().all(|d| d.is_finite()));
    assert!(recall(&graph, &oracle).unwrap() > 0.95);
}

#[test]
fn matrix_duplicates_library_knn() {
    // Every row twice: each point's first neighbour is its copy at distance 0, for every backend.
    let (n, d) = (50usize, 3usize);
    let mut values = gaussian(n, d, 5);
    values.extend_from_within(..);
    let cloud = PointCloud::from_vec(values, 2 * n, d).unwrap();
    for backend in backends() {
        let graph = backend.knn_graph(&cloud, 4).unwrap();
        for i in 0..2 * n {
            assert_eq!(graph.distances(i)[0], 0.0, "{} point {i}", backend.name());
            assert_eq!(graph.neighbors(i)[0] as usize, (i + n) % (2 * n));
        }
    }
}

#[test]
fn matrix_too_few_points_library_knn() {
    let cloud = PointCloud::from_vec(gaussian(5, 2, 1), 5, 2).unwrap();
    for backend in backends() {
        let err = backend.knn_graph(&cloud, 5).unwrap_err();
        assert!(
            matches!(
                err,
                Error::TooFewPoints {
                    n: 5,
                    needed: 6,
                    ..
                }
            ),
            "{}: {err:?}",
            backend.name()
        );
        let err = backend.knn_graph(&cloud, 0).unwrap_err();
        assert!(
            matches!(err, Error::InvalidParameter { name: "k", .. }),
            "{err:?}"
        );
    }
    let one = PointCloud::from_vec(vec![1.0], 1, 1).unwrap();
    assert!(BruteForce::new().knn_graph(&one, 1).is_err());
    let err = BruteForce::new().knn_query(&cloud, &cloud, 6).unwrap_err();
    assert!(err.to_string().contains("reference points (5)"), "{err}");
}

#[test]
fn matrix_wrong_shapes_library_knn() {
    let d = KDTREE_MAX_DIM + 1;
    let cloud = PointCloud::from_vec(gaussian(30, d, 1), 30, d).unwrap();
    let err = KdTree::new().knn_graph(&cloud, 3).unwrap_err();
    assert!(err.to_string().contains("brute-force"), "{err}");
    let other = PointCloud::from_vec(gaussian(30, 2, 1), 30, 2).unwrap();
    let err = BruteForce::new().knn_query(&cloud, &other, 3).unwrap_err();
    assert!(matches!(err, Error::ShapeMismatch { .. }), "{err:?}");
    assert!(BruteForce::new().with_block_size(0).is_err());
    assert!(Hnsw::new(lid_knn::HnswParams {
        max_connections: 1,
        ..Default::default()
    })
    .is_err());
}

#[test]
fn backends_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<BruteForce>();
    send_sync::<KdTree>();
    send_sync::<Hnsw>();
    send_sync::<lid_knn::HnswParams>();
    send_sync::<lid_knn::QueryNeighbors>();
}
