//! Tests of the grokking study: dataset, model size, optimiser, training, probe, resume.

use candle_core::{Device, Tensor, Var};
use lid_core::ExhaustiveSearch;
use lid_experiments::studies::grokking::config::StudyConfig;
use lid_experiments::studies::grokking::dataset::{
    mod_inverse, s5_elements, GrokDataset, Operation,
};
use lid_experiments::studies::grokking::model::{ModelConfig, Transformer};
use lid_experiments::studies::grokking::optim::{AdamW, AdamWConfig, Schedule};
use lid_experiments::studies::grokking::probe::probe_split;
use lid_experiments::studies::grokking::train::{draw_batch, evaluate, run_training, Trainer};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[test]
fn split_sizes_follow_floor_of_fraction() {
    // p = 7: 49 pairs (divide: 42, b != 0); S5: 120^2 = 14,400.
    for (op, pairs) in [
        (Operation::Sum, 49),
        (Operation::Subtract, 49),
        (Operation::Multiply, 49),
        (Operation::Divide, 42),
        (Operation::S5, 14_400),
    ] {
        let ds = GrokDataset::new(op, 7, 0.3, 46).unwrap();
        let n_train = (pairs as f64 * 0.3).floor() as usize;
        assert_eq!(ds.train.len(), n_train, "{op:?}");
        assert_eq!(ds.val.len(), pairs - n_train, "{op:?}");
    }
    assert_eq!(
        GrokDataset::new(Operation::Sum, 7, 0.3, 46)
            .unwrap()
            .vocab_size,
        9
    );
    assert_eq!(
        GrokDataset::new(Operation::S5, 7, 0.3, 46)
            .unwrap()
            .vocab_size,
        122
    );
}

#[test]
fn labels_are_correct_for_every_operation() {
    let p = 11u32;
    for op in [
        Operation::Sum,
        Operation::Subtract,
        Operation::Multiply,
        Operation::Divide,
    ] {
        let ds = GrokDataset::new(op, p, 0.5, 47).unwrap();
        for e in ds.train.iter().chain(&ds.val) {
            let [a, op_tok, b, eq] = e.tokens;
            assert_eq!((op_tok, eq), (p, p + 1));
            let c = e.label;
            let ok = match op {
                Operation::Sum => (a + b) % p == c,
                Operation::Subtract => (c + b) % p == a,
                Operation::Multiply => (a * b) % p == c,
                Operation::Divide => b != 0 && (c * b) % p == a,
                Operation::S5 => unreachable!(),
            };
            assert!(ok, "{op:?}: {a} op {b} -> {c}");
        }
    }
    assert_eq!(mod_inverse(3, 7), 5);
    let perms = s5_elements();
    assert_eq!(perms.len(), 120);
    let ds = GrokDataset::new(Operation::S5, 2, 0.1, 48).unwrap();
    for e in ds.train.iter().take(500) {
        let (a, b, c) = (
            perms[e.tokens[0] as usize],
            perms[e.tokens[2] as usize],
            perms[e.label as usize],
        );
        for i in 0..5 {
            assert_eq!(c[i], a[b[i] as usize]);
        }
    }
}

#[test]
fn split_is_seeded_and_bad_settings_fail() {
    let a = GrokDataset::new(Operation::Sum, 13, 0.4, 46).unwrap();
    let b = GrokDataset::new(Operation::Sum, 13, 0.4, 46).unwrap();
    let c = GrokDataset::new(Operation::Sum, 13, 0.4, 47).unwrap();
    assert_eq!(a.train, b.train);
    assert_ne!(a.train, c.train);
    assert!(
        GrokDataset::new(Operation::Sum, 12, 0.4, 46).is_err(),
        "12 is not prime"
    );
    assert!(GrokDataset::new(Operation::Sum, 13, 0.0, 46).is_err());
    assert!(GrokDataset::new(Operation::Sum, 13, 1.0, 46).is_err());
    assert!(GrokDataset::new(Operation::Sum, 13, f64::NAN, 46).is_err());
}

#[test]
fn paper_model_has_the_hand_counted_parameters() {
    // Vocabulary 199, width 128, feed-forward 512, 5 positions, 2 blocks:
    // embeddings 199*128 + 5*128 = 26,112; per block: 2 LayerNorms 2*256, qkv 128*384 + 384,
    // out 128*128 + 128, ff1 128*512 + 512, ff2 512*128 + 128 = 198,272; final LayerNorm 256;
    // head 128*199 + 199 = 25,671. Total 26,112 + 2*198,272 + 256 + 25,671 = 448,583.
    let config = ModelConfig::default();
    assert_eq!(config.n_parameters(), 448_583);
    let mut rng = ChaCha8Rng::seed_from_u64(1234);
    let model = Transformer::new(config, &mut rng, &Device::Cpu).unwrap();
    assert_eq!(model.n_parameters(), 448_583);
}

#[test]
fn bad_model_sizes_fail() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let bad = ModelConfig {
        n_heads: 3,
        ..ModelConfig::default()
    };
    assert!(Transformer::new(bad, &mut rng, &Device::Cpu).is_err());
    let bad = ModelConfig {
        dropout: 1.0,
        ..ModelConfig::default()
    };
    assert!(Transformer::new(bad, &mut rng, &Device::Cpu).is_err());
}

#[test]
fn adamw_matches_a_hand_computed_update() {
    // theta = [1, -2], loss = 0.5*theta0 + 3*theta1, so g = [0.5, 3] (norm sqrt(9.25) = 3.0414).
    let dev = Device::Cpu;
    let var = Var::from_vec(vec![1.0f32, -2.0], 2, &dev).unwrap();
    let c = Tensor::new(&[0.5f32, 3.0], &dev).unwrap();
    let cfg = AdamWConfig {
        lr: 0.1,
        beta1: 0.9,
        beta2: 0.98,
        eps: 1e-6,
        weight_decay: 0.01,
        max_grad_norm: None,
    };
    let mut opt = AdamW::new(cfg, &[2]);
    let grads = (var.as_tensor() * &c)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    opt.step(&[&var], &grads, 0.1).unwrap();
    // Step 1: m_hat = g, v_hat = g^2, so theta = theta (1 - 0.1*0.01) - 0.1 * g / (|g| + 1e-6).
    // theta0 = 0.999 - 0.1 * 0.5/0.500001 = 0.89900020, theta1 = -1.998 - 0.1 * 3/3.000001 = -2.09799997.
    let got = var.as_tensor().to_vec1::<f32>().unwrap();
    assert!((f64::from(got[0]) - 0.899_000_2).abs() < 1e-6, "{got:?}");
    assert!((f64::from(got[1]) + 2.097_999_97).abs() < 1e-6, "{got:?}");

    // Step 2 with clipping on and gradient 2c: clipped to norm 1 -> g2 = 2c / (2*3.0414 + 1e-6).
    let cfg = AdamWConfig {
        max_grad_norm: Some(1.0),
        ..opt.config().clone()
    };
    let mut opt2 = AdamW::new(cfg, &[2]);
    opt2.moments = opt.moments.clone();
    opt2.step_count = 1;
    let theta1: Vec<f64> = got.iter().map(|&x| x as f64).collect();
    let grads = (var.as_tensor() * (&c * 2.0).unwrap())
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    opt2.step(&[&var], &grads, 0.05).unwrap();
    let norm = (2.0f64 * 2.0 * 9.25).sqrt();
    let got2 = var.as_tensor().to_vec1::<f32>().unwrap();
    for i in 0..2 {
        let g1 = [0.5, 3.0][i];
        let g2 = 2.0 * g1 / (norm + 1e-6);
        let m = 0.9 * (0.1 * g1) + 0.1 * g2;
        let v = 0.98 * (0.02 * g1 * g1) + 0.02 * g2 * g2;
        let (bc1, bc2) = (1.0 - 0.9f64.powi(2), 1.0 - 0.98f64.powi(2));
        let want =
            theta1[i] * (1.0 - 0.05 * 0.01) - 0.05 / bc1 * m / (v.sqrt() / bc2.sqrt() + 1e-6);
        assert!(
            (got2[i] as f64 - want).abs() < 2e-6,
            "param {i}: {} vs {want}",
            got2[i]
        );
    }
}

#[test]
fn schedule_warms_up_from_a_third_and_decays_to_zero() {
    let s = Schedule::WarmupLinearDecay {
        warmup_steps: 10,
        total_steps: 110,
    };
    assert!((s.factor(0) - 1.0 / 3.0).abs() < 1e-12);
    assert!((s.factor(5) - 2.0 / 3.0).abs() < 1e-12);
    assert!((s.factor(10) - 1.0).abs() < 1e-12);
    assert!((s.factor(60) - 0.5).abs() < 1e-12);
    assert_eq!(s.factor(110), 0.0);
    assert_eq!(s.factor(500), 0.0);
    assert_eq!(
        Schedule::WarmupConstant { warmup_steps: 10 }.factor(1000),
        1.0
    );
}

fn quick() -> StudyConfig {
    StudyConfig::quick().resolve().unwrap()
}

#[test]
fn short_training_reduces_training_loss() {
    let mut config = quick();
    config.optimizer.lr = 3e-3;
    config.optimizer.weight_decay = 0.01;
    let ds = GrokDataset::new(config.operation, config.p, 0.5, 46).unwrap();
    let mut trainer = Trainer::new(&config, &Device::Cpu).unwrap();
    let (before, _) = evaluate(&trainer.model, &ds.train).unwrap();
    for step in 0..80 {
        let batch = draw_batch(&ds.train, config.batch_size, 46, step);
        trainer
            .train_step(&batch, config.optimizer.lr, step)
            .unwrap();
    }
    let (after, _) = evaluate(&trainer.model, &ds.train).unwrap();
    assert!(after < 0.9 * before, "training loss {before} -> {after}");
}

#[test]
fn probe_is_deterministic_for_a_seed() {
    let config = quick();
    let ds = GrokDataset::new(config.operation, config.p, 0.5, 46).unwrap();
    let trainer = Trainer::new(&config, &Device::Cpu).unwrap();
    let a = probe_split(&trainer.model, &ds.train, &config.probe, &ExhaustiveSearch).unwrap();
    let b = probe_split(&trainer.model, &ds.train, &config.probe, &ExhaustiveSearch).unwrap();
    assert_eq!(a, b);
    assert!(a.mean.is_finite() && a.mean > 0.0 && a.std > 0.0 && a.global > 0.0);
    assert_eq!(a.n_points, config.probe.n_points.min(a.n_unique));
    let mut other = config.probe.clone();
    other.seed = 779;
    let c = probe_split(&trainer.model, &ds.train, &other, &ExhaustiveSearch).unwrap();
    assert_ne!(a.mean, c.mean);
    // The study's backend (lid-knn brute force) gives the oracle's numbers.
    let brute = probe_split(
        &trainer.model,
        &ds.train,
        &config.probe,
        &lid_knn::BruteForce::new(),
    )
    .unwrap();
    assert!((brute.mean - a.mean).abs() < 1e-9 && (brute.global - a.global).abs() < 1e-9);
}

#[test]
fn resumed_run_equals_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = quick();
    config.steps = 20;
    config.checkpoint_every = 10;
    config.probe.every = 10;
    let ds = GrokDataset::new(config.operation, config.p, 0.5, 46).unwrap();
    let dev = Device::Cpu;
    let full = run_training(
        &config,
        &ds,
        &dir.path().join("a"),
        false,
        &ExhaustiveSearch,
        &dev,
        &mut |_| {},
    )
    .unwrap();
    let mut half = config.clone();
    half.steps = 10;
    let resumed_dir = dir.path().join("b");
    run_training(
        &half,
        &ds,
        &resumed_dir,
        false,
        &ExhaustiveSearch,
        &dev,
        &mut |_| {},
    )
    .unwrap();
    let resumed = run_training(
        &config,
        &ds,
        &resumed_dir,
        true,
        &ExhaustiveSearch,
        &dev,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(full, resumed);
    let csv = std::fs::read_to_string(resumed_dir.join("metrics.csv")).unwrap();
    assert!(csv.starts_with("step,lr,train_loss,train_acc,val_loss,val_acc,lid_mean"));
    assert_eq!(csv.lines().count(), 1 + full.len());
}

#[test]
fn summary_finds_peak_onset_and_lead() {
    use lid_experiments::studies::grokking::analysis::summarise_run;
    use lid_experiments::studies::grokking::probe::ProbeResult;
    use lid_experiments::studies::grokking::train::MetricsRow;
    let probe = |mean: f64| ProbeResult {
        mean,
        std: 1.0,
        global: mean,
        n_points: 10,
        n_unique: 10,
    };
    // (step, train acc, val acc, mean LID): memorised at 200 with val 0.15; LID peaks at 300
    // (step 0 is left out); val exceeds 0.25 first at 500.
    let data = [
        (0, 0.03, 0.03, 9.0),
        (100, 0.5, 0.05, 4.0),
        (200, 0.995, 0.15, 6.0),
        (300, 1.0, 0.2, 7.0),
        (400, 1.0, 0.24, 5.0),
        (500, 1.0, 0.6, 3.0),
        (600, 1.0, 0.95, 2.5),
    ];
    let rows: Vec<MetricsRow> = data
        .iter()
        .map(|&(step, tr, va, lid)| MetricsRow {
            step,
            lr: 1e-3,
            train_loss: 1.0,
            train_acc: tr,
            val_loss: 1.0,
            val_acc: va,
            train_probe: Some(probe(lid)),
            val_probe: None,
        })
        .collect();
    let s = summarise_run(0.3, 46, &rows, 0.9, 0.1);
    assert_eq!(s.memorised_step, Some(200));
    assert_eq!(s.lid_peak_step, Some(300));
    assert_eq!(s.onset_step, Some(500));
    assert_eq!(s.lead_steps, Some(200));
    assert_eq!(s.generalised_step, Some(600));
    assert!(s.grokked);
    assert_eq!(s.final_lid, Some(2.5));
    let never = summarise_run(0.3, 46, &rows[..5], 0.9, 0.1);
    assert!(!never.grokked && never.onset_step.is_none());
}
