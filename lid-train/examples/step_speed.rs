//! Steps per second of the grokking model's training step (forward, backward, AdamW) at given
//! sizes, on random modular-addition batches. A profiling aid; the side-by-side comparison with
//! PyTorch is `benches/peers/grokking_bench.sh`.
//!
//! `cargo run --release -p lid-train --example step_speed -- [p] [d] [ff] [batch] [steps]`
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

use lid_train::heads::{GradTarget, LastTokenHead};
use lid_train::model::load::init_model;
use lid_train::model::{Activations, Batch, Init, Mode, Spec};
use lid_train::optim::{AdamW, AdamWConfig};
use lid_train::params::DecayPolicy;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("integer"))
        .collect();
    let get = |i: usize, d: usize| args.get(i).copied().unwrap_or(d);
    let (p, d, ff, batch_size, steps) = (
        get(0, 197),
        get(1, 128),
        get(2, 512),
        get(3, 512),
        get(4, 200),
    );
    let spec = Spec::grokking(p + 2, d, 4, ff, 2, 5, 0.1);
    let mut init = Init::pytorch_defaults(1234);
    let mut model = init_model(&spec, &mut init).unwrap();
    let (head, _) = LastTokenHead::attach(&mut model, None, &mut init, p + 2).unwrap();
    let config = AdamWConfig {
        lr: 1e-3,
        beta2: 0.98,
        eps: 1e-6,
        weight_decay: 0.01,
        decay_policy: DecayPolicy::All,
        ..AdamWConfig::default()
    };
    let mut adam = AdamW::new(config, &model.store).unwrap();
    let mut acts = Activations::new();
    let mut grads = model.store.zero_grads();
    let mut rng = ChaCha8Rng::seed_from_u64(46);
    let mut timed = std::time::Instant::now();
    for step in 0..steps + 20 {
        if step == 20 {
            timed = std::time::Instant::now();
        }
        let mut seqs = Vec::with_capacity(batch_size);
        let mut labels = Vec::with_capacity(batch_size);
        for _ in 0..batch_size {
            let (a, b) = (rng.random_range(0..p as u32), rng.random_range(0..p as u32));
            seqs.push(vec![a, p as u32, b, p as u32 + 1]);
            labels.push((a + b) % p as u32);
        }
        let batch = Batch::new(&seqs);
        let mode = Mode::Train {
            dropout_seed: step as u64,
        };
        model
            .net
            .forward(&model.store, &batch, mode, &mut acts, None)
            .unwrap();
        let mut d_hidden = vec![0.0f32; acts.output().len()];
        grads.zero();
        let hidden = acts.output().to_vec();
        head.run(
            &model,
            &hidden,
            &batch,
            &labels,
            Some(GradTarget {
                grads: &mut grads,
                d_hidden: &mut d_hidden,
                scale: 1.0,
            }),
        )
        .unwrap();
        model
            .net
            .backward(&model.store, &mut grads, &batch, &mut acts, &d_hidden)
            .unwrap();
        adam.step(&mut model.store, &mut grads, 1e-3).unwrap();
    }
    let secs = timed.elapsed().as_secs_f64();
    println!("{{\"impl\": \"lid-train\", \"p\": {p}, \"d\": {d}, \"batch\": {batch_size}, \"steps\": {steps}, \"steps_per_s\": {:.2}, \"threads\": {}}}", steps as f64 / secs, rayon::current_num_threads());
}
