//! `config.json` of a model folder (`lid embed --model DIR`) on arbitrary bytes, next to real
//! weights and tokenizer (the committed tiny RoBERTa, GPT-2 or Llama fixture, chosen by the first
//! byte): loading must give a model or an error, never panic (a zero head count, huge sizes,
//! negative or absurd values, wrong types).
#![no_main]

use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;

const FIXTURES: [&str; 3] = ["tiny_roberta", "tiny_gpt2", "tiny_llama"];

fuzz_target!(|data: &[u8]| {
    let Some((&which, config)) = data.split_first() else {
        return;
    };
    let fixture = FIXTURES[which as usize % FIXTURES.len()];
    let dir = model_dir(fixture);
    std::fs::write(dir.join("config.json"), config).expect("scratch file");
    match lid_embed::load_model(&dir, &candle_core::Device::Cpu) {
        Ok(model) => {
            // A loaded model must run a tiny batch or fail cleanly.
            let ids = candle_core::Tensor::new(&[[0u32, 1, 2]], &candle_core::Device::Cpu)
                .expect("ids");
            let mask = candle_core::Tensor::new(&[[1u32, 1, 1]], &candle_core::Device::Cpu)
                .expect("mask");
            let _ = model.model.hidden_states(&ids, &mask, &[0]);
            let _ = model.check_max_length(512);
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});

/// A scratch model folder with the fixture's weights and tokenizer (copied once per process).
fn model_dir(fixture: &str) -> PathBuf {
    let base = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("lid-fuzz-config-{}-{fixture}", std::process::id()));
    if !dir.join("model.safetensors").is_file() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../lid-embed/tests/fixtures")
            .join(fixture);
        std::fs::create_dir_all(&dir).expect("scratch folder");
        for file in ["model.safetensors", "tokenizer.json"] {
            std::fs::copy(src.join(file), dir.join(file)).expect("fixture file");
        }
    }
    dir
}
