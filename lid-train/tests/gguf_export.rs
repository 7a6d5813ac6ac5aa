//! The GGUF -> f32 export (lid-embed `export`) against `transformers` 5.24.0 with `gguf` 0.19.0
//! loading the same SmolLM2-135M-Instruct Q4_1 file (`tools/golden/train/gguf_reference.py`):
//! dequantised weights (with llama.cpp's query/key permutation undone) bit-identical, and the
//! hidden states of lid-train's forward on the export within 1e-4 of PyTorch's, with the same
//! next-token argmax wherever PyTorch's top-2 gap exceeds that error.
//!
//! Needs the offline asset `smollm2` (`scripts/fetch-assets.sh`); fails when it is missing and
//! `CI` is set, prints a skip line otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

use std::path::{Path, PathBuf};

use lid_train::model::{load_model, Activations, Batch, Capture, Mode};
use safetensors::{Dtype, SafeTensors};

fn gguf_path() -> Option<PathBuf> {
    let assets = std::env::var_os("LID_ASSETS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets"),
        PathBuf::from,
    );
    let path = assets.join("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "asset missing under CI: {} (run scripts/fetch-assets.sh)",
        path.display()
    );
    eprintln!(
        "SKIPPED: {} missing (run scripts/fetch-assets.sh smollm2)",
        path.display()
    );
    None
}

fn read(path: &Path) -> Vec<(String, Vec<usize>, Vec<f64>)> {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(name, v)| {
            let values = match v.dtype() {
                Dtype::F32 => v
                    .data()
                    .chunks_exact(4)
                    .map(|b| f64::from(f32::from_le_bytes(b.try_into().unwrap())))
                    .collect(),
                Dtype::I64 => v
                    .data()
                    .chunks_exact(8)
                    .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as f64)
                    .collect(),
                other => panic!("{other:?}"),
            };
            (name, v.shape().to_vec(), values)
        })
        .collect()
}

#[test]
fn smollm2_export_matches_transformers() {
    let Some(gguf) = gguf_path() else { return };
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/smollm2_reference/reference.safetensors");
    let reference = read(&fixture);
    let get = |name: &str| {
        reference
            .iter()
            .find(|(n, _, _)| n == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture.with_file_name("meta.json")).unwrap(),
    )
    .unwrap();
    let loaded = load_model(&gguf).unwrap();
    let model = &loaded.model;
    // Weights: the slices the fixture pins, bit for bit.
    for (name, shape, values) in reference
        .iter()
        .filter(|(n, _, _)| n.starts_with("w.") || n.starts_with("wsel."))
    {
        let param = name.split_once('.').unwrap().1;
        let ours = model
            .store
            .data(model.store.id(param).unwrap_or_else(|| panic!("{param}")));
        let cols = *shape.last().unwrap();
        let rows: Vec<usize> = if name.starts_with("wsel.") {
            meta["wsel_rows"][param]
                .as_array()
                .map(|a| a.iter().map(|v| v.as_u64().unwrap() as usize).collect())
                .unwrap_or_else(|| panic!("row list for {param}"))
        } else if shape.len() == 1 {
            vec![0]
        } else {
            (0..shape[0]).collect()
        };
        for (i, &r) in rows.iter().enumerate() {
            for c in 0..cols {
                let (x, y) = (ours[r * cols + c], values[i * cols + c]);
                assert_eq!(f64::from(x), y, "{param}[{r}, {c}]");
            }
        }
    }
    // Hidden states and argmax, one text at a time.
    let (_, ids_shape, ids) = get("input_ids");
    let lens: Vec<usize> = meta["input_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_array().unwrap().len())
        .collect();
    let d = model.net.spec.hidden;
    let (_, _, h1) = get("hidden_1");
    let (_, _, hl) = get("hidden_last");
    let (_, _, argmax) = get("argmax");
    let (_, _, top2) = get("top2");
    let t = ids_shape[1];
    let mut worst = 0.0f64;
    for (s, &len) in lens.iter().enumerate() {
        let seq: Vec<u32> = (0..len).map(|i| ids[s * t + i] as u32).collect();
        let batch = Batch::new(&[seq]);
        let mut capture = Capture::new(vec![1, model.net.spec.layers]);
        let mut acts = Activations::new();
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
        for i in 0..len {
            for k in 0..d {
                worst = worst
                    .max((f64::from(capture.states[0][i * d + k]) - h1[(s * t + i) * d + k]).abs());
                worst = worst
                    .max((f64::from(capture.states[1][i * d + k]) - hl[(s * t + i) * d + k]).abs());
            }
            // Next-token argmax through the tied head.
            let emb = model.store.data(model.net.embeddings.word);
            let h = &capture.states[1][i * d..(i + 1) * d];
            let (mut best, mut best_v) = (0usize, f32::MIN);
            for v in 0..model.net.spec.vocab {
                let z: f32 = emb[v * d..(v + 1) * d]
                    .iter()
                    .zip(h)
                    .map(|(a, b)| a * b)
                    .sum();
                if z > best_v {
                    best_v = z;
                    best = v;
                }
            }
            let gap = top2[(s * t + i) * 2] - top2[(s * t + i) * 2 + 1];
            if gap > 1e-3 {
                assert_eq!(best as f64, argmax[s * t + i], "text {s} position {i}");
            }
        }
    }
    assert!(worst <= 1e-4, "hidden states differ by {worst}");
    eprintln!("SmolLM2 export: weights bit-identical, hidden states max abs diff {worst:.2e}");
}
