//! Training throughput on text, the Rust side of `benches/peers/train_bench.sh` (PyTorch side:
//! `benches/peers/train_torch.py`, same semantics): sequences in file order (one per line,
//! cycling), tokenised with the model's `tokenizer.json` and truncated to `--max-length`, micro-
//! batches of `--batch`, AdamW (lr 5e-5, weight decay 0.01, HF groups), linear schedule, clip 1.0,
//! the model's dropout on. Prints one JSON line with steps/s and tokens/s over the timed steps.
//!
//! `cargo run --release -p lid-train --example train_speed -- --model DIR --task mlm|clm --texts FILE
//!  [--batch 8] [--max-length 64] [--steps 20] [--warmup-steps 2]`
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

use std::path::PathBuf;
use std::time::Instant;

use lid_train::data::{MaskingRule, Order, Sequence};
use lid_train::heads::{CausalLmHead, MaskedLmHead};
use lid_train::model::{load_model, Init};
use lid_train::optim::{AdamWConfig, Schedule};
use lid_train::tasks::{CausalLmTask, MaskedLmTask};
use lid_train::train::{Event, Task, TrainConfig, Trainer};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let get = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .map(|i| args[i + 1].clone())
    };
    let model_dir = PathBuf::from(get("--model").expect("--model DIR"));
    let task_name = get("--task").expect("--task mlm|clm");
    let texts = PathBuf::from(get("--texts").expect("--texts FILE"));
    let num = |flag: &str, d: usize| get(flag).map_or(d, |v| v.parse().expect("integer"));
    let (batch, max_len, steps, warm) = (
        num("--batch", 8),
        num("--max-length", 64),
        num("--steps", 20),
        num("--warmup-steps", 2),
    );
    let mut loaded = load_model(&model_dir).expect("model");
    let tok = lid_embed::TextTokenizer::from_file(
        loaded
            .tokenizer
            .as_ref()
            .expect("tokenizer.json next to the model"),
        max_len,
    )
    .expect("tokenizer");
    let lines: Vec<String> = std::fs::read_to_string(&texts)
        .expect("texts")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(String::from)
        .collect();
    let total = warm + steps;
    let needed: Vec<&str> = (0..total * batch)
        .map(|i| lines[i % lines.len()].as_str())
        .collect();
    let encoded = tok.encode_batch(&needed).expect("tokenise");
    let seqs: Vec<Sequence> = encoded.iter().map(Sequence::from_encoded).collect();
    let config = TrainConfig {
        optimizer: AdamWConfig {
            lr: 5e-5,
            weight_decay: 0.01,
            ..AdamWConfig::default()
        },
        schedule: Schedule::LinearWarmupDecay {
            warmup: 0,
            total: total as u64,
        },
        batch_size: batch,
        grad_accumulation: 1,
        order: Order::Epochs,
        steps: total as u64,
        seed: 1234,
        dropout: true,
        eval_every: None,
        eval_at_start: false,
        checkpoint_every: None,
        checkpoint_at: Vec::new(),
        keep_checkpoints: false,
    };
    let mut init = Init::hugging_face(0, 0.02);
    let task: Box<dyn Task> = match task_name.as_str() {
        "mlm" => {
            let (head, report) =
                MaskedLmHead::attach(&mut loaded.model, Some(&mut loaded.weights), &mut init)
                    .expect("head");
            if !report.initialised.is_empty() {
                eprintln!("train_speed: initialised {:?}", report.initialised);
            }
            let mask_id = tok
                .token_to_id("[MASK]")
                .or_else(|| tok.token_to_id("<mask>"))
                .expect("mask token");
            let vocab = loaded.model.net.spec.vocab as u32;
            Box::new(MaskedLmTask {
                head,
                train: seqs,
                eval: Vec::new(),
                rule: MaskingRule {
                    probability: 0.15,
                    mask_id,
                    vocab,
                },
                eval_seed: 0,
            })
        }
        "clm" => {
            let (head, _) =
                CausalLmHead::attach(&mut loaded.model, Some(&mut loaded.weights)).expect("head");
            Box::new(CausalLmTask {
                head,
                train: seqs,
                eval: Vec::new(),
            })
        }
        other => panic!("unknown task {other}"),
    };
    let mut trainer = Trainer::new(loaded.model, config, None).expect("trainer");
    // The batches are a seeded permutation of the same lines train_torch.py takes in file order;
    // throughput is compared in tokens per second.
    let mut timed_tokens = 0usize;
    let mut last_loss = 0.0;
    trainer
        .run(&*task, None, Some(warm as u64), &mut |_| Ok(()))
        .expect("warm-up");
    let t0 = Instant::now();
    trainer
        .run(&*task, None, None, &mut |e| {
            if let Event::Step(r) = e {
                timed_tokens += r.tokens;
                last_loss = r.loss.unwrap_or(f64::NAN);
            }
            Ok(())
        })
        .expect("training");
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{{\"impl\": \"lid-train\", \"task\": \"{task_name}\", \"steps\": {steps}, \"tokens\": {timed_tokens}, \"seconds\": {secs:.3}, \"steps_per_s\": {:.4}, \"tokens_per_s\": {:.1}, \"threads\": {}, \"last_loss\": {last_loss:.4}}}",
        steps as f64 / secs,
        timed_tokens as f64 / secs,
        rayon::current_num_threads()
    );
}
