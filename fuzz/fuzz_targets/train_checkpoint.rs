//! lid-train's checkpoint reader, as `Trainer::resume` and the sweeps use it, with one file of a
//! sound checkpoint replaced by arbitrary bytes (the file chosen by the first byte):
//! `trainer_state.json` (`checkpoint::read_state`), `model.safetensors`, `optimizer.safetensors`
//! or the LoRA `adapter/adapter_model.safetensors` (`checkpoint::restore`). The checkpoint is the
//! committed tiny RoBERTa with LoRA adapters on its attention and AdamW moments for them. Each
//! read must succeed with every parameter and moment of the size its shape says, or fail with an
//! error naming the file, never panic.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use lid_train::checkpoint::{self, TrainerState};
use lid_train::lora::{self, LoraConfig};
use lid_train::model::load::load_model;
use lid_train::model::Model;
use lid_train::optim::{AdamW, AdamWConfig};

const FILES: [&str; 4] = [
    "trainer_state.json",
    "model.safetensors",
    "optimizer.safetensors",
    "adapter/adapter_model.safetensors",
];

/// The sound checkpoint (written once per process), its model and optimizer, and the original
/// bytes of each of its files.
struct Fixture {
    dir: PathBuf,
    model: Model,
    adam: AdamW,
    originals: Vec<Vec<u8>>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("lid-fuzz-checkpoint-{}", std::process::id()));
        let src =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../lid-embed/tests/fixtures/tiny_roberta");
        let mut model = load_model(&src).expect("tiny RoBERTa fixture").model;
        let lora = LoraConfig {
            rank: 2,
            ..LoraConfig::default()
        };
        lora::attach(&mut model, &lora, None).expect("LoRA");
        let adam = AdamW::new(AdamWConfig::default(), &model.store).expect("AdamW");
        checkpoint::save_model(&model, &dir, "RobertaModel", &serde_json::json!({}), None)
            .expect("model");
        lora::save_adapter(&model, &lora, &dir.join("adapter")).expect("adapter");
        checkpoint::save_optimizer(&model, &adam, &dir.join("optimizer.safetensors"))
            .expect("optimizer");
        let state = TrainerState {
            step: 10,
            adam_steps: 10,
            fingerprint: "fuzz".into(),
            rows: vec![serde_json::json!({"step": 10, "lr": 1e-4, "loss": 1.5})],
        };
        std::fs::write(
            dir.join(checkpoint::STATE_FILE),
            serde_json::to_vec(&state).expect("state"),
        )
        .expect("state file");
        let originals = FILES
            .iter()
            .map(|f| std::fs::read(dir.join(f)).expect("checkpoint file"))
            .collect();
        Fixture {
            dir,
            model,
            adam,
            originals,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let f = fixture();
    let i = usize::from(which) % FILES.len();
    let path = f.dir.join(FILES[i]);
    std::fs::write(&path, rest).expect("scratch file");
    let mut model = f.model.clone();
    let mut adam = f.adam.clone();
    let result = checkpoint::read_state(&f.dir)
        .map(|_| ())
        .and_then(|()| checkpoint::restore(&mut model, Some(&mut adam), &f.dir));
    std::fs::write(&path, &f.originals[i]).expect("restore the fixture");
    match result {
        Ok(()) => {
            for (id, p) in model.store.iter() {
                assert_eq!(
                    p.data.len(),
                    p.shape.iter().product::<usize>(),
                    "{}",
                    p.name
                );
                assert_eq!(adam.m[id.0].len(), f.adam.m[id.0].len(), "{}", p.name);
                assert_eq!(adam.v[id.0].len(), f.adam.v[id.0].len(), "{}", p.name);
            }
        }
        Err(e) => {
            let text = e.to_string();
            assert!(!text.is_empty());
        }
    }
});
