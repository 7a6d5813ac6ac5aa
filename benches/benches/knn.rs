//! Neighbour-search backends over N, D and k. `cargo bench -p lid-benches --bench knn`.
//!
//! Sizes are kept small so that the whole suite finishes in a few minutes on 2 cores; the
//! paper-scale comparison (N = 60,000, D = 768) lives in `benches/peers/run.sh`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lid_benches::{embedding_like_cloud, gaussian_cloud};
use lid_core::{ExhaustiveSearch, NeighborSearch};
use lid_knn::{BruteForce, Hnsw, KdTree};

fn brute_force(c: &mut Criterion) {
    let mut group = c.benchmark_group("knn/brute");
    group.sample_size(10);
    for &(n, d, k) in &[
        (2000, 768, 128),
        (8000, 768, 128),
        (8000, 64, 16),
        (8000, 768, 16),
    ] {
        let cloud = embedding_like_cloud(n, d, 24, 20, 1);
        group.throughput(Throughput::Elements((n * n / 2) as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("n{n}_d{d}_k{k}")),
            &k,
            |b, &k| b.iter(|| BruteForce::new().knn_graph(&cloud, k).unwrap()),
        );
    }
    group.finish();
}

fn oracle(c: &mut Criterion) {
    let mut group = c.benchmark_group("knn/exhaustive");
    group.sample_size(10);
    let cloud = embedding_like_cloud(1000, 768, 24, 20, 1);
    group.bench_function("n1000_d768_k128", |b| {
        b.iter(|| ExhaustiveSearch.knn_graph(&cloud, 128).unwrap())
    });
    group.bench_function("brute_n1000_d768_k128", |b| {
        b.iter(|| BruteForce::new().knn_graph(&cloud, 128).unwrap())
    });
    group.finish();
}

fn kd_tree(c: &mut Criterion) {
    let mut group = c.benchmark_group("knn/kdtree");
    group.sample_size(10);
    for &(n, d) in &[(8000, 3), (8000, 8), (8000, 16)] {
        let cloud = gaussian_cloud(n, d, 2);
        group.bench_function(format!("n{n}_d{d}_k16"), |b| {
            b.iter(|| KdTree::new().knn_graph(&cloud, 16).unwrap())
        });
        group.bench_function(format!("brute_n{n}_d{d}_k16"), |b| {
            b.iter(|| BruteForce::new().knn_graph(&cloud, 16).unwrap())
        });
    }
    group.finish();
}

fn hnsw(c: &mut Criterion) {
    let mut group = c.benchmark_group("knn/hnsw");
    group.sample_size(10);
    let cloud = embedding_like_cloud(2000, 768, 24, 20, 3);
    group.bench_function("n2000_d768_k128", |b| {
        b.iter(|| Hnsw::default().knn_graph(&cloud, 128).unwrap())
    });
    group.finish();
}

criterion_group!(benches, brute_force, oracle, kd_tree, hnsw);
criterion_main!(benches);
