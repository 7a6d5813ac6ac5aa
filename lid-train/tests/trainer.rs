//! The training loop: a run interrupted after a checkpoint and resumed ends with the same bits as
//! an uninterrupted one; results do not depend on the thread count; checkpoints load back (lid-train
//! and lid-embed's inference path) and give the same hidden states.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

use std::path::{Path, PathBuf};

use lid_train::data::{MaskingRule, Order, Sequence};
use lid_train::heads::MaskedLmHead;
use lid_train::model::{load_model, Activations, Batch, Capture, DropoutRates, Init, Mode, Model};
use lid_train::optim::{AdamWConfig, Schedule};
use lid_train::params::DecayPolicy;
use lid_train::tasks::MaskedLmTask;
use lid_train::train::{Event, TrainConfig, Trainer};

fn fixture_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bert_mlm/model")
}

/// Synthetic token sequences over the tiny vocabulary (ids 5..48), with [CLS]=1 and [SEP]=2 marked
/// special.
fn sequences(n: usize, seed: u64) -> Vec<Sequence> {
    (0..n)
        .map(|i| {
            let len = 3 + (i * 7 + seed as usize) % 8;
            let mut ids = vec![1u32];
            ids.extend((0..len).map(|j| 5 + ((i * 13 + j * 5 + seed as usize) % 43) as u32));
            ids.push(2);
            let mut s = Sequence::plain(ids);
            s.special[0] = true;
            *s.special.last_mut().unwrap() = true;
            s
        })
        .collect()
}

fn setup() -> (Model, MaskedLmTask) {
    let mut loaded = load_model(&fixture_model()).unwrap();
    // Dropout on, so that resuming must reproduce the masks too.
    loaded.model.net.spec.dropout = DropoutRates {
        embedding: 0.1,
        attention: 0.1,
        hidden: 0.1,
    };
    let mut init = Init::hugging_face(3, 0.02);
    let (head, _) =
        MaskedLmHead::attach(&mut loaded.model, Some(&mut loaded.weights), &mut init).unwrap();
    let task = MaskedLmTask {
        head,
        train: sequences(37, 1),
        eval: sequences(9, 2),
        rule: MaskingRule {
            probability: 0.15,
            mask_id: 4,
            vocab: 48,
        },
        eval_seed: 5,
    };
    (loaded.model, task)
}

fn config() -> TrainConfig {
    TrainConfig {
        optimizer: AdamWConfig {
            lr: 1e-3,
            weight_decay: 0.01,
            decay_policy: DecayPolicy::HuggingFace,
            ..AdamWConfig::default()
        },
        schedule: Schedule::LinearWarmupDecay {
            warmup: 2,
            total: 8,
        },
        batch_size: 5,
        grad_accumulation: 2,
        order: Order::Epochs,
        steps: 8,
        seed: 17,
        dropout: true,
        eval_every: Some(4),
        eval_at_start: true,
        checkpoint_every: Some(3),
        checkpoint_at: Vec::new(),
        keep_checkpoints: true,
    }
}

fn bits(model: &Model) -> Vec<u32> {
    model
        .store
        .iter()
        .flat_map(|(_, p)| p.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>())
        .collect()
}

fn strip_seconds(t: &Trainer) -> Vec<String> {
    t.records
        .iter()
        .map(|r| {
            format!(
                "{} {} {:?} {:?} {} {:?}",
                r.step, r.lr, r.loss, r.grad_norm, r.tokens, r.eval
            )
        })
        .collect()
}

#[test]
fn resumed_run_equals_uninterrupted_run_bitwise() {
    let dir = tempfile::tempdir().unwrap();
    let (model, task) = setup();
    let mut straight = Trainer::new(model, config(), None).unwrap();
    straight
        .run(&task, Some(&dir.path().join("a")), None, &mut |_| Ok(()))
        .unwrap();

    // Interrupted after 4 updates (the last checkpoint is at 3), then a fresh process resumes.
    let (model, task) = setup();
    let mut first = Trainer::new(model, config(), None).unwrap();
    first
        .run(&task, Some(&dir.path().join("b")), Some(4), &mut |_| Ok(()))
        .unwrap();
    drop(first);
    // What a process killed while writing checkpoint 6 leaves behind: resume removes it.
    let stale = dir.path().join("b/.checkpoint-6.4000000.partial");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("model.safetensors"), b"half").unwrap();
    let (model, task) = setup();
    let mut resumed = Trainer::new(model, config(), None).unwrap();
    assert_eq!(
        resumed.resume(&dir.path().join("b"), &task).unwrap(),
        Some(3)
    );
    assert!(!stale.exists(), "stale partial checkpoint kept");
    resumed
        .run(&task, Some(&dir.path().join("b")), None, &mut |_| Ok(()))
        .unwrap();

    assert_eq!(bits(&straight.model), bits(&resumed.model));
    assert_eq!(straight.adam.m, resumed.adam.m);
    assert_eq!(strip_seconds(&straight), strip_seconds(&resumed));
    // The metrics of both runs, written to disk, agree except the timing column.
    let read = |p: &Path| -> Vec<String> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| {
                l.split(',')
                    .enumerate()
                    .filter(|(i, _)| *i != 5)
                    .map(|(_, c)| c)
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect()
    };
    assert_eq!(
        read(&dir.path().join("a/metrics.csv")),
        read(&dir.path().join("b/metrics.csv"))
    );
    // Settings changed: resuming is refused.
    let (model, task) = setup();
    let mut other = Trainer::new(
        model,
        TrainConfig {
            seed: 18,
            ..config()
        },
        None,
    )
    .unwrap();
    let err = other
        .resume(&dir.path().join("b"), &task)
        .unwrap_err()
        .to_string();
    assert!(err.contains("other settings"), "{err}");
}

/// `checkpoint_at` 0 writes the untrained model as `checkpoint-0` (the first point of a study's
/// series), after the start evaluation; a run killed right after it resumes from it, evaluates and
/// writes it only once, and ends with the uninterrupted run's bits and records.
#[test]
fn step_zero_checkpoint_holds_the_untrained_model() {
    let dir = tempfile::tempdir().unwrap();
    let settings = TrainConfig {
        checkpoint_at: vec![0],
        ..config()
    };
    let (model, task) = setup();
    let untrained = bits(&model);
    let mut straight = Trainer::new(model, settings.clone(), None).unwrap();
    let mut written = Vec::new();
    straight
        .run(&task, Some(&dir.path().join("a")), None, &mut |e| {
            if let Event::Checkpoint { step, .. } = e {
                written.push(step);
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(written, [0, 3, 6, 8]);
    let zero = dir.path().join("a/checkpoint-0");
    let mut restored = straight.model.clone();
    lid_train::checkpoint::restore(&mut restored, None, &zero).unwrap();
    assert_eq!(bits(&restored), untrained);
    let state = lid_train::checkpoint::read_state(&zero).unwrap();
    assert_eq!(state.step, 0);
    assert_eq!(straight.records[0].step, 0);
    assert!(!straight.records[0].eval.is_empty());

    // Killed after checkpoint 0, before any update.
    let (model, task) = setup();
    let mut first = Trainer::new(model, settings.clone(), None).unwrap();
    first
        .run(&task, Some(&dir.path().join("b")), Some(0), &mut |_| Ok(()))
        .unwrap();
    drop(first);
    let (model, task) = setup();
    let mut resumed = Trainer::new(model, settings, None).unwrap();
    assert_eq!(
        resumed.resume(&dir.path().join("b"), &task).unwrap(),
        Some(0)
    );
    let mut again = Vec::new();
    resumed
        .run(&task, Some(&dir.path().join("b")), None, &mut |e| {
            match e {
                Event::Checkpoint { step, .. } => again.push(("checkpoint", step)),
                Event::Evaluated { step, .. } => again.push(("eval", step)),
                Event::Step(_) => {}
            }
            Ok(())
        })
        .unwrap();
    assert!(!again.contains(&("checkpoint", 0)) && !again.contains(&("eval", 0)));
    assert_eq!(bits(&straight.model), bits(&resumed.model));
    assert_eq!(strip_seconds(&straight), strip_seconds(&resumed));
}

#[test]
fn training_does_not_depend_on_the_thread_count() {
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let (model, task) = setup();
            let mut t = Trainer::new(
                model,
                TrainConfig {
                    checkpoint_every: None,
                    ..config()
                },
                None,
            )
            .unwrap();
            t.run(&task, None, None, &mut |_| Ok(())).unwrap();
            (bits(&t.model), strip_seconds(&t))
        })
    };
    let one = run(1);
    assert_eq!(one, run(2));
    assert_eq!(one, run(5));
}

#[test]
fn checkpoints_load_back_and_in_lid_embed() {
    let dir = tempfile::tempdir().unwrap();
    let (model, task) = setup();
    let mut t = Trainer::new(
        model,
        TrainConfig {
            steps: 3,
            checkpoint_every: None,
            ..config()
        },
        None,
    )
    .unwrap();
    let mut seen = Vec::new();
    t.run(&task, Some(dir.path()), None, &mut |e| {
        if let Event::Checkpoint { dir, .. } = e {
            seen.push(dir.to_path_buf());
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, vec![dir.path().join("checkpoint-3")]);
    let ckpt = &seen[0];
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ckpt.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["architectures"][0], "BertForMaskedLM");
    // lid-train reads its own checkpoint back, head included.
    let mut back = load_model(ckpt).unwrap();
    let (_, report) = MaskedLmHead::attach(
        &mut back.model,
        Some(&mut back.weights),
        &mut Init::hugging_face(0, 0.02),
    )
    .unwrap();
    assert!(report.initialised.is_empty());
    assert_eq!(bits(&back.model), bits(&t.model));
    // lid-embed's inference path gives the same hidden states.
    let ids: Vec<u32> = vec![1, 7, 9, 11, 30, 2];
    let batch = Batch::new(std::slice::from_ref(&ids));
    let n = t.model.net.spec.num_hidden_states();
    let mut capture = Capture::new((0..n).collect());
    t.model
        .net
        .forward(
            &t.model.store,
            &batch,
            Mode::Eval,
            &mut Activations::new(),
            Some(&mut capture),
        )
        .unwrap();
    // For tools/golden/train/check_checkpoint_transformers.py: the checkpoint and lid-train's
    // hidden states of `ids`, which the script compares with `transformers` loading the folder.
    if let Some(keep) = std::env::var_os("LID_KEEP_CHECKPOINT") {
        let keep = PathBuf::from(keep);
        std::fs::create_dir_all(&keep).unwrap();
        for entry in std::fs::read_dir(ckpt).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                std::fs::copy(&path, keep.join(path.file_name().unwrap())).unwrap();
            }
        }
        let states = serde_json::json!({ "ids": ids, "hidden_states": capture.states });
        std::fs::write(keep.join("lid_hidden_states.json"), states.to_string()).unwrap();
    }
    let loaded = lid_embed::load_model(ckpt, &candle_core::Device::Cpu).unwrap();
    let input =
        candle_core::Tensor::from_vec(ids.clone(), (1, ids.len()), &candle_core::Device::Cpu)
            .unwrap();
    let mask = candle_core::Tensor::ones(
        (1, ids.len()),
        candle_core::DType::U32,
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let wanted: Vec<usize> = (0..n).collect();
    let theirs = loaded.model.hidden_states(&input, &mask, &wanted).unwrap();
    for (i, state) in theirs.iter().enumerate() {
        let v = state.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let d = v
            .iter()
            .zip(&capture.states[i])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(d <= 1e-5, "hidden state {i} differs by {d}");
    }
}
