//! The forward that `lid embed`, `lid profile` and `lid.embed` run on the CPU
//! (`lid_train::model::use_packed_forward`: this crate's forward behind lid-embed's
//! `HiddenStateModel`) against PyTorch `transformers` on lid-embed's golden fixtures (every hidden
//! state, 1e-4, the tolerance of lid-embed's own golden test), and bitwise invariant to the batch a
//! sequence is in: each text alone gives the bit patterns it has in the padded batch of four.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

const TOLERANCE: f32 = 1e-4;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../lid-embed/tests/fixtures")
}

fn check(model_dir: &Path, expected_file: &Path, name: &str) {
    let mut loaded = lid_embed::load_model(model_dir, &Device::Cpu).unwrap();
    assert!(lid_train::model::use_packed_forward(&mut loaded).unwrap());
    let expected: HashMap<String, Tensor> =
        candle_core::safetensors::load(expected_file, &Device::Cpu).unwrap();
    let ids = expected["input_ids"].to_dtype(DType::U32).unwrap();
    let mask = expected["attention_mask"].to_dtype(DType::U32).unwrap();
    let n = loaded.model.num_blocks();
    let all: Vec<usize> = (0..=n).collect();
    let states = loaded.model.hidden_states(&ids, &mask, &all).unwrap();
    let id_rows = ids.to_vec2::<u32>().unwrap();
    let mask_rows = mask.to_vec2::<u32>().unwrap();
    let mut diffs = Vec::new();
    for (i, ours) in states.iter().enumerate() {
        let ours = ours.to_vec3::<f32>().unwrap();
        let theirs = expected[&format!("hidden_{i}")].to_vec3::<f32>().unwrap();
        let mut max = 0.0f32;
        for b in 0..ours.len() {
            for t in 0..ours[b].len() {
                if mask_rows[b][t] == 0 {
                    assert!(ours[b][t].iter().all(|&v| v == 0.0), "padding is zero");
                    continue;
                }
                for (x, y) in ours[b][t].iter().zip(&theirs[b][t]) {
                    max = max.max((x - y).abs());
                }
            }
        }
        diffs.push(max);
    }
    println!("{name}: max abs diff per hidden state (0..={n}): {diffs:?}");
    for (i, d) in diffs.iter().enumerate() {
        assert!(*d <= TOLERANCE, "{name}: hidden state {i} differs by {d}");
    }
    // Each text alone: bitwise the rows it has in the batch, at every hidden state.
    for (b, row) in id_rows.iter().enumerate() {
        let len = mask_rows[b].iter().filter(|&&m| m == 1).count();
        let one = Tensor::from_vec(row[..len].to_vec(), (1, len), &Device::Cpu).unwrap();
        let ones = Tensor::ones((1, len), DType::U32, &Device::Cpu).unwrap();
        let alone = loaded.model.hidden_states(&one, &ones, &all).unwrap();
        for (i, (a, s)) in alone.iter().zip(&states).enumerate() {
            let a = a.to_vec3::<f32>().unwrap();
            let s = s.to_vec3::<f32>().unwrap();
            for t in 0..len {
                let same = a[0][t]
                    .iter()
                    .zip(&s[b][t])
                    .all(|(x, y)| x.to_bits() == y.to_bits());
                assert!(
                    same,
                    "{name}: text {b} alone differs at hidden state {i}, token {t}"
                );
            }
        }
    }
}

#[test]
fn packed_forward_matches_transformers_and_is_batch_invariant() {
    for name in ["tiny_roberta", "tiny_gpt2", "tiny_llama"] {
        let dir = fixtures().join(name);
        check(&dir, &dir.join("expected.safetensors"), name);
    }
    let assets = std::env::var_os("LID_ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets"));
    let minilm = assets.join("minilm");
    if minilm.join("model.safetensors").is_file() {
        check(
            &minilm,
            &fixtures().join("minilm/expected.safetensors"),
            "minilm",
        );
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but the MiniLM asset is missing at {}",
            minilm.display()
        );
        println!("SKIPPED minilm: asset missing at {}", minilm.display());
    }
}
