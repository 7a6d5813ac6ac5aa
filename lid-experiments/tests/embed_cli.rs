//! `lid embed` end to end on the committed tiny RoBERTa fixture (lid-embed/tests/fixtures): the
//! single-.npy contract, the directory output read back through `lid_embed::output::read_layer`, and
//! clear errors for a GPU device on a CPU build and for an unknown model.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../lid-embed/tests/fixtures")
        .join(name)
}

fn lid(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lid"))
        .args(args)
        .output()
        .expect("run lid")
}

fn corpus(dir: &Path) -> PathBuf {
    let path = dir.join("corpus.jsonl");
    let lines: Vec<String> = [
        "I need a cheap restaurant.",
        "",
        "Book a taxi to the station.",
        "hi",
        "Is there free parking at the hotel in the north?",
    ]
    .iter()
    .map(|t| serde_json::json!({ "utterance": t }).to_string())
    .collect();
    std::fs::write(&path, lines.join("\n")).unwrap();
    path
}

#[test]
fn embed_writes_npy_and_tokens_in_corpus_order() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus(dir.path());
    let out = dir.path().join("vectors.npy");
    let tokens = dir.path().join("tokens.jsonl");
    let model = fixture("tiny_roberta");
    let o = lid(&[
        "embed",
        "--model",
        model.to_str().unwrap(),
        "--corpus",
        corpus.to_str().unwrap(),
        "--field",
        "utterance",
        "--sample",
        "3",
        "--seed",
        "778",
        "--batch-size",
        "2",
        "--max-length",
        "128",
        "--out",
        out.to_str().unwrap(),
        "--tokens-out",
        tokens.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (rows, cols, data) = lid_embed::output::read_npy_f32(&out).unwrap();
    assert_eq!(cols, 32);
    assert!(data.iter().all(|v| v.is_finite()));
    let records: Vec<serde_json::Value> = std::fs::read_to_string(&tokens)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), rows);
    let keys: Vec<(u64, u64)> = records
        .iter()
        .map(|r| {
            (
                r["sequence"].as_u64().unwrap(),
                r["position"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "corpus order");
    let sequences: std::collections::BTreeSet<u64> = keys.iter().map(|k| k.0).collect();
    assert_eq!(sequences.len(), 3, "3 sampled sequences");
    assert!(
        sequences.iter().all(|&s| s < 4),
        "ids index the 4 non-empty sequences"
    );
    assert!(
        records
            .iter()
            .all(|r| r["token_id"] != 2 && r["token_id"] != 1),
        "</s> and <pad> dropped"
    );

    // Same run is reproducible.
    let out2 = dir.path().join("again.npy");
    let o = lid(&[
        "embed",
        "--model",
        model.to_str().unwrap(),
        "--corpus",
        corpus.to_str().unwrap(),
        "--field",
        "utterance",
        "--sample",
        "3",
        "--batch-size",
        "3",
        "--max-length",
        "128",
        "--out",
        out2.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (_, _, data2) = lid_embed::output::read_npy_f32(&out2).unwrap();
    let max = data
        .iter()
        .zip(&data2)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(max <= 1e-5, "batch size changes values by {max}");
}

#[test]
fn embed_directory_output_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus(dir.path());
    let out = dir.path().join("run");
    let model = fixture("tiny_gpt2");
    let o = lid(&[
        "embed",
        "--model",
        model.to_str().unwrap(),
        "--corpus",
        corpus.to_str().unwrap(),
        "--field",
        "utterance",
        "--layers",
        "-1,0",
        "--max-length",
        "128",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (rows, cols, _) = lid_embed::output::read_layer(&out, Some(-1)).unwrap();
    let (rows0, _, _) = lid_embed::output::read_layer(&out, Some(0)).unwrap();
    assert_eq!((rows, cols), (rows0, 32));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["summary"]["sequences"], 4);
    assert_eq!(manifest["provenance"]["selection"], "All");

    let o = lid(&[
        "embed",
        "--model",
        model.to_str().unwrap(),
        "--corpus",
        corpus.to_str().unwrap(),
        "--field",
        "utterance",
        "--device",
        "cuda",
        "--out",
        dir.path().join("cuda_run").to_str().unwrap(),
        "--quiet",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    if !cfg!(feature = "cuda") {
        assert!(
            !o.status.success() && err.contains("--features cuda"),
            "{err}"
        );
    }
    let o = lid(&[
        "embed",
        "--model",
        dir.path().to_str().unwrap(),
        "--corpus",
        corpus.to_str().unwrap(),
        "--out",
        dir.path().join("no_model_run").to_str().unwrap(),
        "--quiet",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("config.json"), "{err}");
}
