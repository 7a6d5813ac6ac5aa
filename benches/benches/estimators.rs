//! Estimators over N and L, on a precomputed exact graph (search time excluded).
//! `cargo bench -p lid-benches --bench estimators`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use lid_benches::embedding_like_cloud;
use lid_core::estimators::{GlobalEstimator, Gride, Lpca, Mle, PointwiseEstimator, TwoNN};
use lid_core::NeighborSearch;
use lid_knn::BruteForce;

fn pointwise(c: &mut Criterion) {
    let mut group = c.benchmark_group("pointwise");
    group.sample_size(10);
    for &(n, l) in &[(2000usize, 64usize), (2000, 128), (8000, 128)] {
        let cloud = embedding_like_cloud(n, 768, 24, 20, 4);
        let graph = BruteForce::new().knn_graph(&cloud, l).unwrap();
        let id = format!("n{n}_d768_L{l}");
        group.bench_with_input(BenchmarkId::new("twonn", &id), &graph, |b, g| {
            b.iter(|| TwoNN::new().estimate_pointwise(&cloud, g).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("mle", &id), &graph, |b, g| {
            b.iter(|| Mle::new().k(l).estimate_pointwise(&cloud, g).unwrap())
        });
        if n <= 2000 {
            group.bench_with_input(BenchmarkId::new("lpca", &id), &graph, |b, g| {
                b.iter(|| Lpca::new().estimate_pointwise(&cloud, g).unwrap())
            });
        }
    }
    group.finish();
}

fn global(c: &mut Criterion) {
    let mut group = c.benchmark_group("global");
    group.sample_size(10);
    let cloud = embedding_like_cloud(8000, 768, 24, 20, 5);
    let search = BruteForce::new();
    group.bench_function("twonn_n8000_d768", |b| {
        b.iter(|| TwoNN::new().estimate_global(&cloud, &search).unwrap())
    });
    group.bench_function("gride_n8000_d768", |b| {
        b.iter(|| Gride::new().estimate_global(&cloud, &search).unwrap())
    });
    group.finish();
}

criterion_group!(benches, pointwise, global);
criterion_main!(benches);
