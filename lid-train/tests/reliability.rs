//! lid-train on damaged checkpoints: every file `checkpoint::restore` and `checkpoint::read_state`
//! read (`model.safetensors`, the LoRA `adapter/adapter_model.safetensors`,
//! `optimizer.safetensors`, `trainer_state.json`), replaced by one of another shape or cut short,
//! is an error naming the file and the tensor, never a panic or a model that takes what it is
//! given (docs/reliability.md; fuzz target `train_checkpoint`). Plus the `Send + Sync` assertions
//! of the public types that users move across threads.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

use std::path::{Path, PathBuf};

use lid_train::checkpoint::{self, TrainerState};
use lid_train::lora::{self, LoraConfig};
use lid_train::model::{load_model, Model};
use lid_train::optim::{AdamW, AdamWConfig};
use lid_train::params::write_safetensors;

fn fixture_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bert_mlm/model")
}

/// The tiny BERT with rank-`rank` LoRA adapters on its attention, its AdamW state, and a sound
/// checkpoint of both in `dir`.
fn checkpoint_with_lora(dir: &Path, rank: usize) -> (Model, AdamW) {
    let mut model = load_model(&fixture_model()).unwrap().model;
    let lora = LoraConfig {
        rank,
        ..LoraConfig::default()
    };
    lora::attach(&mut model, &lora, None).unwrap();
    let adam = AdamW::new(AdamWConfig::default(), &model.store).unwrap();
    checkpoint::save_model(&model, dir, "BertModel", &serde_json::json!({}), None).unwrap();
    lora::save_adapter(&model, &lora, &dir.join("adapter")).unwrap();
    checkpoint::save_optimizer(&model, &adam, &dir.join("optimizer.safetensors")).unwrap();
    let state = TrainerState {
        step: 4,
        adam_steps: 4,
        fingerprint: "test".into(),
        rows: Vec::new(),
    };
    std::fs::write(
        dir.join(checkpoint::STATE_FILE),
        serde_json::to_vec(&state).unwrap(),
    )
    .unwrap();
    (model, adam)
}

#[test]
fn a_sound_checkpoint_restores() {
    let dir = tempfile::tempdir().unwrap();
    let (mut model, mut adam) = checkpoint_with_lora(dir.path(), 2);
    checkpoint::restore(&mut model, Some(&mut adam), dir.path()).unwrap();
    assert_eq!(checkpoint::read_state(dir.path()).unwrap().step, 4);
}

#[test]
fn restore_refuses_an_adapter_of_another_shape() {
    // A rank-4 adapter restored into a rank-2 model: before the check, its tensors were taken as
    // they came (four times the values the model's shapes say) and the next forward pass read
    // past or beside them.
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let (mut model, mut adam) = checkpoint_with_lora(dir.path(), 2);
    checkpoint_with_lora(other.path(), 4);
    std::fs::copy(
        other.path().join("adapter/adapter_model.safetensors"),
        dir.path().join("adapter/adapter_model.safetensors"),
    )
    .unwrap();
    let err = checkpoint::restore(&mut model, Some(&mut adam), dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("adapter_model.safetensors") && err.contains("lora_") && err.contains("[2,"),
        "{err}"
    );
}

#[test]
fn restore_refuses_backbone_weights_and_moments_of_another_shape() {
    let dir = tempfile::tempdir().unwrap();
    let (mut model, mut adam) = checkpoint_with_lora(dir.path(), 2);
    // Every backbone tensor halved along its first axis.
    let halved: Vec<(String, Vec<usize>, Vec<f32>)> = model
        .store
        .iter()
        .filter(|(_, p)| !p.name.contains(".lora_"))
        .map(|(_, p)| {
            let mut shape = p.shape.clone();
            shape[0] = shape[0].div_ceil(2);
            let n = shape.iter().product();
            (p.name.clone(), shape, p.data[..n].to_vec())
        })
        .collect();
    let views: Vec<(&str, &[usize], &[f32])> = halved
        .iter()
        .map(|(n, s, d)| (n.as_str(), s.as_slice(), d.as_slice()))
        .collect();
    let good = std::fs::read(dir.path().join("model.safetensors")).unwrap();
    write_safetensors(&dir.path().join("model.safetensors"), &views).unwrap();
    let err = checkpoint::restore(&mut model, None, dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("model.safetensors") && err.contains("shape"),
        "{err}"
    );
    std::fs::write(dir.path().join("model.safetensors"), good).unwrap();

    // Moments of one value each.
    let names: Vec<String> = model
        .store
        .iter()
        .filter(|(id, _)| !adam.m[id.0].is_empty())
        .flat_map(|(_, p)| [format!("m.{}", p.name), format!("v.{}", p.name)])
        .collect();
    let one = [0.0f32];
    let views: Vec<(&str, &[usize], &[f32])> = names
        .iter()
        .map(|n| (n.as_str(), &[1usize][..], &one[..]))
        .collect();
    write_safetensors(&dir.path().join("optimizer.safetensors"), &views).unwrap();
    let err = checkpoint::restore(&mut model, Some(&mut adam), dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("optimizer.safetensors") && err.contains("m."),
        "{err}"
    );
}

#[test]
fn truncated_checkpoint_files_are_errors_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let (mut model, mut adam) = checkpoint_with_lora(dir.path(), 2);
    for file in [
        checkpoint::STATE_FILE,
        "model.safetensors",
        "optimizer.safetensors",
        "adapter/adapter_model.safetensors",
    ] {
        let path = dir.path().join(file);
        let good = std::fs::read(&path).unwrap();
        std::fs::write(&path, &good[..good.len() / 2]).unwrap();
        let err = checkpoint::read_state(dir.path())
            .and_then(|_| checkpoint::restore(&mut model, Some(&mut adam), dir.path()))
            .unwrap_err()
            .to_string();
        let name = Path::new(file).file_name().unwrap().to_str().unwrap();
        assert!(err.contains(name), "{file}: {err}");
        std::fs::write(&path, good).unwrap();
    }
}

#[test]
fn public_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Model>();
    send_sync::<AdamW>();
    send_sync::<lid_train::params::WeightFile>();
    send_sync::<lid_train::train::Trainer>();
    send_sync::<lid_train::train::TrainConfig>();
    send_sync::<lid_train::probe::LidProbe>();
    send_sync::<lid_train::tasks::MaskedLmTask>();
    send_sync::<lid_train::tasks::CausalLmTask>();
    send_sync::<lid_train::tasks::ClassificationTask>();
    send_sync::<lid_train::Error>();
}
