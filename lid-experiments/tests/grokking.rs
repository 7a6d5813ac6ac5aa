//! The grokking study on lid-train: dataset, model size, training, probe, resume, the device path,
//! and the analysis of peaks, onsets and leads.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

mod common;

use lid_embed::DeviceKind;
use lid_experiments::studies::grokking::config::{ModelConfig, StudyConfig};
use lid_experiments::studies::grokking::dataset::{
    mod_inverse, s5_elements, GrokDataset, Operation,
};
use lid_experiments::studies::grokking::probe::split_probe;
use lid_experiments::studies::grokking::train::{
    new_model, run_training, train_config, MetricsRow, Start,
};

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
    let config = StudyConfig::paper().resolve().unwrap();
    assert_eq!(config.model.n_parameters(), 448_583);
    let (model, _) = new_model(&config).unwrap();
    assert_eq!(model.parameter_counts(), (448_583, 448_583));
}

#[test]
fn bad_model_sizes_fail() {
    let bad = ModelConfig {
        n_heads: 3,
        ..ModelConfig::default()
    };
    assert!(bad.check().is_err());
    let bad = ModelConfig {
        dropout: 1.0,
        ..ModelConfig::default()
    };
    assert!(bad.check().is_err());
}

fn smoke() -> StudyConfig {
    StudyConfig::smoke().resolve().unwrap()
}

#[test]
fn short_training_reduces_training_loss() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = smoke();
    config.optimizer.weight_decay = 0.01;
    config.steps = 80;
    config.probe.every = 40;
    config.eval_every = 40;
    let ds = GrokDataset::new(config.operation, config.p, 0.5, 46).unwrap();
    let rows = run_training(
        &config,
        &ds,
        dir.path(),
        Start::Fresh,
        &DeviceKind::Cpu,
        &mut |_| {},
    )
    .unwrap();
    let (first, last) = (rows.first().unwrap(), rows.last().unwrap());
    assert_eq!((first.step, last.step), (0, 80));
    assert!(
        last.train_loss < 0.9 * first.train_loss,
        "training loss {} -> {}",
        first.train_loss,
        last.train_loss
    );
}

#[test]
fn probe_is_deterministic_for_a_seed() {
    let config = smoke();
    let ds = GrokDataset::new(config.operation, config.p, 0.5, 46).unwrap();
    let (model, _) = new_model(&config).unwrap();
    let probe = split_probe(&ds.train, &config.probe).unwrap();
    let a = probe.estimate(&model, 0).unwrap().point;
    let b = split_probe(&ds.train, &config.probe)
        .unwrap()
        .estimate(&model, 0)
        .unwrap()
        .point;
    assert_eq!(a, b);
    assert!(a.mean.is_finite() && a.mean > 0.0 && a.std > 0.0 && a.global.unwrap() > 0.0);
    assert!(a.n_points <= config.probe.n_points);
    let mut other = config.probe.clone();
    other.seed = 779;
    let c = split_probe(&ds.train, &other)
        .unwrap()
        .estimate(&model, 0)
        .unwrap()
        .point;
    assert_ne!(a.mean, c.mean);
}

#[test]
fn resumed_run_equals_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = smoke();
    config.steps = 20;
    config.checkpoint_every = 10;
    config.probe.every = 10;
    let ds = GrokDataset::new(config.operation, config.p, 0.5, 46).unwrap();
    let full = run_training(
        &config,
        &ds,
        &dir.path().join("a"),
        Start::Fresh,
        &DeviceKind::Cpu,
        &mut |_| {},
    )
    .unwrap();
    // A run killed after its checkpoint at step 10, continued by a new process.
    let resumed_dir = dir.path().join("b");
    let rows_a = run_until(&config, &ds, &resumed_dir, 10);
    assert_eq!(rows_a.last().unwrap().step, 10);
    let resumed = run_training(
        &config,
        &ds,
        &resumed_dir,
        Start::Resume,
        &DeviceKind::Cpu,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(full, resumed);
    let csv = std::fs::read_to_string(resumed_dir.join("metrics.csv")).unwrap();
    assert!(csv.starts_with("step,lr,train_loss,train_acc,val_loss,val_acc,lid_mean"));
    assert_eq!(csv.lines().count(), 1 + full.len());
}

/// Runs the study's training for `config` but stops after `steps` updates, as a killed process
/// would after its checkpoint at that step.
fn run_until(
    config: &StudyConfig,
    ds: &GrokDataset,
    dir: &std::path::Path,
    steps: u64,
) -> Vec<MetricsRow> {
    use lid_experiments::studies::grokking::train::GrokTask;
    let (model, head) = new_model(config).unwrap();
    let task = GrokTask {
        head,
        data: ds,
        train_probe: split_probe(&ds.train, &config.probe).unwrap(),
        val_probe: Some(split_probe(&ds.val, &config.probe).unwrap()),
        probe_every: config.probe.every,
        last_step: config.steps,
        device: None,
    };
    let mut trainer =
        lid_train::train::Trainer::new(model, train_config(config, ds.seed), None).unwrap();
    trainer
        .run(&task, Some(&dir.join("training")), Some(steps), &mut |_| {
            Ok(())
        })
        .unwrap();
    trainer
        .records
        .iter()
        .filter_map(MetricsRow::from_record)
        .collect()
}

/// The candle device path (on candle's CPU device) computes the loss and gradients of lid-train's
/// kernels on the same weights and batch (dropout off), so the GPU path trains the same model.
#[test]
fn device_path_matches_lid_train_on_the_cpu_device() {
    use lid_experiments::studies::grokking::device::DeviceModel;
    use lid_train::heads::GradTarget;
    use lid_train::model::{Activations, Batch, Mode};
    let mut config = smoke();
    config.model.dropout = 0.0;
    let (model, head) = new_model(&config).unwrap();
    let ds = GrokDataset::new(config.operation, config.p, 0.5, 46).unwrap();
    let examples = &ds.train[..32];
    let seqs: Vec<Vec<u32>> = examples.iter().map(|e| e.tokens.to_vec()).collect();
    let labels: Vec<u32> = examples.iter().map(|e| e.label).collect();
    let batch = Batch::new(&seqs);
    let mut acts = Activations::new();
    model
        .net
        .forward(&model.store, &batch, Mode::TrainNoDropout, &mut acts, None)
        .unwrap();
    let mut grads = model.store.zero_grads();
    let mut d_hidden = vec![0.0; acts.output().len()];
    let hidden = acts.output().to_vec();
    let out = head
        .run(
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
    let device = DeviceModel::new(&model, &candle_core::Device::Cpu).unwrap();
    let mut theirs = model.store.zero_grads();
    let loss = device
        .gradients(&model, &batch.ids, &labels, None, &mut theirs, 1.0)
        .unwrap();
    assert!(
        (loss - out.mean_loss()).abs() < 1e-5,
        "{loss} vs {}",
        out.mean_loss()
    );
    for (id, p) in model.store.iter() {
        let (a, b) = (grads.get(id).unwrap(), theirs.get(id).unwrap());
        let d = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(d <= 1e-4, "gradient of {} differs by {d}", p.name);
    }
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

/// The study's runs as sweep units: two shards merged give the same per-run numbers as one
/// unsharded study, and rerunning a finished shard computes nothing.
#[test]
fn sharded_study_merges_to_the_unsharded_result() {
    use lid_experiments::run::RunFolder;
    use lid_experiments::studies::grokking::{merge_runs, run_runs, run_study};
    use lid_experiments::studies::series::sweep::Shard;
    let dir = tempfile::tempdir().unwrap();
    let mut config = smoke();
    config.fractions = vec![0.4, 0.6];
    config.steps = 20;
    let (whole, _) = run_study(
        &config,
        RunFolder::create(dir.path().join("whole"), "grokking").unwrap(),
        Start::Fresh,
        &DeviceKind::Cpu,
        &mut |_| {},
    )
    .unwrap();
    let out = dir.path().join("sharded");
    for i in [1, 0] {
        run_runs(
            &config,
            &out,
            Shard::new(i, 2).unwrap(),
            &DeviceKind::Cpu,
            &mut |_| {},
        )
        .unwrap();
    }
    let again = run_runs(
        &config,
        &out,
        Shard::new(0, 2).unwrap(),
        &DeviceKind::Cpu,
        &mut |_| {},
    )
    .unwrap();
    assert!(again.computed.is_empty() && again.skipped.len() == 1);
    let (merged, _) = merge_runs(&out, &mut |_| {}).unwrap();
    assert_eq!(whole.summaries, merged.summaries);
    assert_eq!(whole.rows, merged.rows);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("whole/summary.csv")).unwrap(),
        std::fs::read_to_string(out.join("summary.csv")).unwrap()
    );
    assert!(out.join("COMPLETE").is_file());
}

/// Every file under `dir` with its bytes, sorted by path.
fn tree_bytes(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let name = path.strip_prefix(dir).unwrap().display().to_string();
                out.push((name, std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// `value` without its `seconds` fields (wall-clock times).
fn without_seconds(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.remove("seconds");
            map.values_mut().for_each(without_seconds);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(without_seconds),
        _ => {}
    }
}

/// The runs of a study go side by side on the pool's threads (one run per thread): on 1, 2 and 3
/// threads the four runs give the same summaries, the same metrics and the same bytes in every
/// file (tables, figures, report, lid-train's checkpoints: weights, optimizer state, step records),
/// wall-clock times aside.
#[test]
fn runs_side_by_side_give_the_same_bytes_on_any_thread_count() {
    use lid_experiments::run::RunFolder;
    use lid_experiments::studies::grokking::run_study;
    let dir = tempfile::tempdir().unwrap();
    let mut config = smoke();
    config.fractions = vec![0.4, 0.6];
    config.data_seeds = vec![46, 47];
    config.steps = 20;
    let run = |threads: usize| {
        let out = dir.path().join(format!("threads{threads}"));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let mut lines = Vec::new();
        let (result, _) = pool
            .install(|| {
                run_study(
                    &config,
                    RunFolder::create(&out, "grokking").unwrap(),
                    Start::Fresh,
                    &DeviceKind::Cpu,
                    &mut |l| lines.push(l.to_string()),
                )
            })
            .unwrap();
        // Every run logged its header, whatever thread it ran on.
        for key in ["frac 0.40 seed 46", "frac 0.60 seed 47"] {
            assert!(
                lines.iter().any(|l| l.starts_with(&format!("run {key}"))),
                "{lines:?}"
            );
        }
        // Every file but the wall-clock times (`config.json` and `COMPLETE` hold the start and
        // end; the `seconds` of lid-train's step records and of the study).
        let files: Vec<(String, Vec<u8>)> = tree_bytes(&out)
            .into_iter()
            .filter(|(name, _)| name != "config.json" && name != "COMPLETE")
            .map(|(name, bytes)| {
                let bytes = if name.ends_with(".csv") {
                    let text = String::from_utf8(bytes).unwrap();
                    common::without_columns(&text, &["seconds"]).into_bytes()
                } else if name.ends_with(".json") {
                    let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                    without_seconds(&mut v);
                    v.to_string().into_bytes()
                } else if name.ends_with(".md") {
                    let text = String::from_utf8(bytes).unwrap();
                    common::without_durations(&text).into_bytes()
                } else {
                    bytes
                };
                (name, bytes)
            })
            .collect();
        (result, files)
    };
    let (one, one_files) = run(1);
    assert_eq!(one.summaries.len(), 4);
    assert!(
        one_files
            .iter()
            .filter(|(n, _)| n.ends_with("model.safetensors"))
            .count()
            >= 4,
        "{:?}",
        one_files.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    for threads in [2, 3] {
        let (other, files) = run(threads);
        assert_eq!(one.summaries, other.summaries, "{threads} threads");
        assert_eq!(one.rows, other.rows, "{threads} threads");
        assert_eq!(
            one_files.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            files.iter().map(|(n, _)| n).collect::<Vec<_>>()
        );
        for ((name, a), (_, b)) in one_files.iter().zip(&files) {
            assert!(a == b, "{name} differs on {threads} threads");
        }
    }
}

/// `lid-experiments grokking --preset smoke --out OUT EXTRA...`.
fn grokking_cli(out: &std::path::Path, extra: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_lid-experiments"))
        .args(["grokking", "--preset", "smoke", "--out"])
        .arg(out)
        .args(extra)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap()
}

fn refused(o: &std::process::Output, words: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "accepted: {err}");
    assert!(!err.contains("panicked"), "{err}");
    for w in words {
        assert!(err.contains(w), "`{w}` not in: {err}");
    }
}

/// Issue 22, item 1: `--resume` of a finished folder is refused whatever the settings (other seeds,
/// another `--p`, the same ones), and the folder keeps every byte: summary, config, `COMPLETE`.
#[test]
fn resume_of_a_finished_folder_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = grokking_cli(&out, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let before = tree_bytes(&out);
    assert!(before.iter().any(|(n, _)| n == "COMPLETE"));
    for extra in [
        &["--resume", "--seeds", "47"][..],
        &["--resume", "--seeds", "46,47"],
        &["--resume", "--p", "29"],
        &["--resume"],
    ] {
        refused(&grokking_cli(&out, extra), &["--out", "complete"]);
        assert!(tree_bytes(&out) == before, "{extra:?} changed the folder");
    }
}

/// Issue 22, item 1: `--resume` into a non-empty folder that is not a grokking run is refused
/// before anything is written into it.
#[test]
fn resume_into_an_unrelated_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mine");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "mine").unwrap();
    refused(
        &grokking_cli(&out, &["--resume"]),
        &["--out", "not a run folder of grokking"],
    );
    assert_eq!(
        tree_bytes(&out),
        vec![("keep.txt".to_string(), b"mine".to_vec())]
    );
    // Another study's folder.
    let config = br#"{"study": "dst", "settings": {}}"#.to_vec();
    std::fs::write(out.join("config.json"), &config).unwrap();
    refused(
        &grokking_cli(&out, &["--resume"]),
        &["--out", "a run of dst"],
    );
    assert_eq!(tree_bytes(&out).len(), 2);
    // An empty folder is a new run.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let o = grokking_cli(&empty, &["--resume"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(empty.join("COMPLETE").is_file());
}

/// Issue 22, item 1: an interrupted folder resumed with other settings (`--p`, `--seeds`) is
/// refused, naming the setting, and every file stays byte for byte (no `COMPLETE` written,
/// `config.json` not rewritten); resumed with its own settings it finishes with the same results.
#[test]
fn refused_resume_of_an_interrupted_folder_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = grokking_cli(&out, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary = std::fs::read(out.join("summary.csv")).unwrap();
    // Killed after its last file but before the marker.
    std::fs::remove_file(out.join("COMPLETE")).unwrap();
    let before = tree_bytes(&out);
    refused(
        &grokking_cli(&out, &["--resume", "--p", "29"]),
        &[
            "--out",
            "other settings",
            "settings.study.p: 23 there, 29 asked for",
        ],
    );
    assert!(tree_bytes(&out) == before, "--p 29 changed the folder");
    refused(
        &grokking_cli(&out, &["--resume", "--seeds", "47"]),
        &["--out", "other settings", "data_seeds"],
    );
    assert!(tree_bytes(&out) == before, "--seeds 47 changed the folder");
    let o = grokking_cli(&out, &["--resume"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.join("COMPLETE").is_file());
    assert_eq!(std::fs::read(out.join("summary.csv")).unwrap(), summary);
}

/// `--extend`: a finished run of 40 steps trained on to 80 gives the same metrics and summaries,
/// byte for byte, as a run of 80 steps from the start; extending to fewer steps, with another
/// setting, or a folder without a run is refused before anything in it changes.
#[test]
fn extended_run_equals_a_longer_run() {
    let dir = tempfile::tempdir().unwrap();
    let (short, long) = (dir.path().join("short"), dir.path().join("long"));
    let ok = |o: std::process::Output| {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    ok(grokking_cli(&short, &["--steps", "40"]));
    let before = tree_bytes(&short);
    refused(
        &grokking_cli(&short, &["--extend", "--steps", "20"]),
        &["--steps", "started for 40 steps", "longer, not shorter"],
    );
    assert!(
        tree_bytes(&short) == before,
        "--steps 20 changed the folder"
    );
    refused(
        &grokking_cli(&short, &["--extend", "--steps", "80", "--p", "29"]),
        &[
            "--out",
            "other settings",
            "settings.study.p: 23 there, 29 asked for",
        ],
    );
    assert!(tree_bytes(&short) == before, "--p 29 changed the folder");
    refused(
        &grokking_cli(&dir.path().join("none"), &["--extend", "--steps", "80"]),
        &["--out", "no run of grokking"],
    );
    ok(grokking_cli(&short, &["--extend", "--steps", "80"]));
    ok(grokking_cli(&long, &["--steps", "80"]));
    assert!(short.join("COMPLETE").is_file());
    for file in [
        "summary.csv",
        "fractions.csv",
        "runs/frac0.50_seed46/metrics.csv",
    ] {
        let (a, b) = (
            std::fs::read_to_string(short.join(file)).unwrap(),
            std::fs::read_to_string(long.join(file)).unwrap(),
        );
        assert_eq!(a, b, "{file}");
    }
    let metrics = std::fs::read_to_string(short.join("runs/frac0.50_seed46/metrics.csv")).unwrap();
    assert!(metrics.lines().last().unwrap().starts_with("80,"));
}

/// `config.json` records the commit of the source tree the binary was built from, also when the
/// command runs from a folder outside the repository (it recorded none: git ran in the current
/// folder).
#[test]
fn the_commit_is_recorded_from_any_working_folder() {
    let source = env!("CARGO_MANIFEST_DIR");
    let Some(head) = std::process::Command::new("git")
        .args(["-C", source, "rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    else {
        eprintln!("no git or no repository here: nothing to compare with");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_lid-experiments"))
        .args(["grokking", "--preset", "smoke", "--out", "run"])
        .current_dir(dir.path())
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("run/config.json")).unwrap())
            .unwrap();
    assert_eq!(config["git_commit"], serde_json::Value::String(head));
    assert!(config["git_dirty"].is_boolean(), "{config}");
}
