//! Throughput probe: `f32` GEMM on one Gram tile versus the whole brute-force search.
//! `cargo run --release -p lid-knn --example gram_throughput -- [N] [D] [K] [BLOCK]`
//! (defaults 10000 768 128 256). Prints GFLOP/s of the bare tile GEMM and of the search
//! (counting the `N^2 D` multiply-adds of the symmetric self-join).
#![allow(clippy::unwrap_used, clippy::expect_used)] // an example may panic on a bad argument

use std::time::Instant;

use lid_core::{NeighborSearch, PointCloud};
use lid_knn::BruteForce;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("integer argument"))
        .collect();
    let n = args.first().copied().unwrap_or(10_000);
    let d = args.get(1).copied().unwrap_or(768);
    let k = args.get(2).copied().unwrap_or(128);
    let b = args.get(3).copied().unwrap_or(256);
    // A cheap deterministic pseudo-random cloud (no rand dependency in examples).
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let values: Vec<f32> = (0..n * d)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();
    let cloud = PointCloud::from_vec(values.clone(), n, d).expect("finite");

    let reps = 200;
    let lhs = &values[..b * d];
    let rhs = &values[b * d..2 * b * d];
    let mut dst = vec![0f32; b * b];
    let t = Instant::now();
    for _ in 0..reps {
        // SAFETY: lhs and rhs hold b x d values each, dst b x b; strides as in the backend.
        unsafe {
            gemm::gemm(
                b,
                b,
                d,
                dst.as_mut_ptr(),
                1,
                b as isize,
                false,
                lhs.as_ptr(),
                1,
                d as isize,
                rhs.as_ptr(),
                d as isize,
                1,
                0.0,
                -2.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "tile gemm {b}x{d}x{b}: {:.1} GFLOP/s (one thread)",
        reps as f64 * 2.0 * (b * b * d) as f64 / secs / 1e9
    );

    let t = Instant::now();
    let graph = BruteForce::new()
        .with_block_size(b)
        .unwrap()
        .knn_graph(&cloud, k)
        .unwrap();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "brute force N={n} D={d} k={k} block={b}: {secs:.2} s, {:.1} GFLOP/s effective ({} threads), first row {:?}",
        (n as f64 * n as f64 * d as f64) / secs / 1e9,
        rayon::current_num_threads(),
        &graph.neighbors(0)[..3]
    );
}
