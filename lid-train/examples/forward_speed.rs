//! Time of the evaluation forward (every hidden state captured, as the probe and `lid compare`
//! run it) of a model directory or `.gguf` file, on batches of random token ids. A profiling aid
//! for the kernels' speed before and after a change.
//!
//! `cargo run --release -p lid-train --example forward_speed -- MODEL [sequences] [tokens] [reps]`
#![allow(clippy::unwrap_used, clippy::expect_used)] // a profiling tool may panic on bad input

use std::path::PathBuf;

use lid_train::model::load::load_model;
use lid_train::model::{Activations, Batch, Capture, Mode};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = PathBuf::from(args.first().expect("a model directory or .gguf file"));
    let get = |i: usize, d: usize| args.get(i).map_or(d, |a| a.parse().expect("integer"));
    let (sequences, tokens, reps) = (get(1, 32), get(2, 64), get(3, 5));
    let loaded = load_model(&path).unwrap();
    let model = loaded.model;
    let spec = &model.net.spec;
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let seqs: Vec<Vec<u32>> = (0..sequences)
        .map(|_| {
            (0..tokens)
                .map(|_| rng.random_range(5..spec.vocab as u32))
                .collect()
        })
        .collect();
    let batch = Batch::new(&seqs);
    let mut acts = Activations::new();
    let mut best = f64::INFINITY;
    for rep in 0..reps + 1 {
        let mut capture = Capture::new((0..=spec.layers).collect());
        let start = std::time::Instant::now();
        model
            .net
            .forward(
                &model.store,
                &batch,
                Mode::Eval,
                &mut acts,
                Some(&mut capture),
            )
            .unwrap();
        let secs = start.elapsed().as_secs_f64();
        if rep > 0 {
            best = best.min(secs);
        }
    }
    println!(
        "{}: {sequences} x {tokens} tokens, {} threads: best of {reps} {:.1} ms ({:.0} tokens/s)",
        path.display(),
        rayon::current_num_threads(),
        best * 1e3,
        (sequences * tokens) as f64 / best
    );
}
