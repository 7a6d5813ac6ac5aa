//! Writes a synthetic point cloud as a 2-D float32 `.npy`, streamed row by row (memory O(D d)):
//! `n` points uniform in a `d`-dimensional ball, mapped into `R^D` by a fixed random linear map
//! (Gaussian entries, seeded) and offset by a common vector, like embeddings that carry a shared
//! component. For the peak-memory runs of `scripts/rss.sh` (N = 60k and 200k, D = 768).
//!
//! Usage: `cargo run --release -p lid-experiments --example synth_cloud -- OUT.npy N D [d] [seed]`
//! (defaults: d = 12, seed = 1).
#![allow(clippy::unwrap_used, clippy::expect_used)] // an example may stop on a bad argument

use std::io::{BufWriter, Write};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: synth_cloud OUT.npy N D [d] [seed]");
        std::process::exit(2);
    }
    let out = &args[1];
    let n: usize = args[2].parse().expect("N is a number");
    let dim: usize = args[3].parse().expect("D is a number");
    let d: usize = args
        .get(4)
        .map_or(12, |s| s.parse().expect("d is a number"));
    let seed: u64 = args
        .get(5)
        .map_or(1, |s| s.parse().expect("seed is a number"));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let map: Vec<f64> = (0..d * dim)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect::<Vec<f64>>()
        .iter()
        .map(|x| x / (d as f64).sqrt())
        .collect();
    let offset: Vec<f64> = (0..dim).map(|_| rng.random::<f64>() * 4.0).collect();
    let mut file = BufWriter::with_capacity(1 << 20, std::fs::File::create(out).unwrap());
    file.write_all(&lid_embed::output::npy_header(n, dim))
        .unwrap();
    let mut row = vec![0f64; dim];
    for _ in 0..n {
        let g: Vec<f64> = (0..d).map(|_| StandardNormal.sample(&mut rng)).collect();
        let norm = g.iter().map(|x| x * x).sum::<f64>().sqrt();
        let radius = rng.random::<f64>().powf(1.0 / d as f64);
        row.copy_from_slice(&offset);
        for (k, gk) in g.iter().enumerate() {
            let u = gk / norm * radius;
            for (r, m) in row.iter_mut().zip(&map[k * dim..(k + 1) * dim]) {
                *r += u * m;
            }
        }
        for &x in &row {
            file.write_all(&(x as f32).to_le_bytes()).unwrap();
        }
    }
    file.flush().unwrap();
    eprintln!("wrote {out}: {n} x {dim} float32, intrinsic dimension {d}");
}
