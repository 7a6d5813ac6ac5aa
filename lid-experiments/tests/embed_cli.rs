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
    // The CPU forward is lid-train's packed one: the batch size changes no bit (issue 20).
    let differ = data
        .iter()
        .zip(&data2)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count();
    assert_eq!(differ, 0, "batch size changes {differ} values");
}

/// A causal model gives a shared prefix the same hidden state bit for bit whatever follows it and
/// whatever batch it is in, so `lid estimate`'s exact deduplication removes the copies (issue 20,
/// study 1 point 2), here on the committed tiny GPT-2 (no asset needed).
#[test]
fn embed_gives_shared_prefixes_bitwise_equal_vectors() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("prefixes.txt");
    std::fs::write(
        &corpus,
        "I need a\nI need a cheap restaurant in the north of town for four people tonight\n\
         I need a taxi\nsomething else entirely, longer than the rest of these lines by far\n",
    )
    .unwrap();
    let (data, records, cols) = embed_file(&fixture("tiny_gpt2"), &corpus, dir.path(), "4");
    let rows_of = |sequence: u64| -> Vec<usize> {
        (0..records.len())
            .filter(|&i| records[i]["sequence"] == sequence)
            .collect()
    };
    assert_same_prefix(
        &data,
        &records,
        cols,
        &rows_of(0),
        &[rows_of(1), rows_of(2)],
    );
}

/// `lid embed --model MODEL --corpus CORPUS --batch-size BATCH --max-length 64` into `dir`: the
/// vectors, the token records and the width.
fn embed_file(
    model: &Path,
    corpus: &Path,
    dir: &Path,
    batch: &str,
) -> (Vec<f32>, Vec<serde_json::Value>, usize) {
    let out = dir.join(format!("b{batch}.npy"));
    let tokens = dir.join(format!("b{batch}.jsonl"));
    let o = lid(&[
        "embed",
        "--model",
        model.to_str().unwrap(),
        "--corpus",
        corpus.to_str().unwrap(),
        "--batch-size",
        batch,
        "--max-length",
        "64",
        "--out",
        out.to_str().unwrap(),
        "--tokens-out",
        tokens.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (_, cols, data) = lid_embed::output::read_npy_f32(&out).unwrap();
    let records: Vec<serde_json::Value> = std::fs::read_to_string(&tokens)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (data, records, cols)
}

/// Every row of `short` (a sequence's tokens) has the same token id and the same bits as the row
/// at its position in each of `longer` (sequences that start with it).
fn assert_same_prefix(
    data: &[f32],
    records: &[serde_json::Value],
    cols: usize,
    short: &[usize],
    longer: &[Vec<usize>],
) {
    assert!(short.len() >= 2, "the prefix has tokens");
    for (p, &r) in short.iter().enumerate() {
        for other in longer {
            let o = other[p];
            assert_eq!(
                records[r]["token_id"], records[o]["token_id"],
                "a shared prefix"
            );
            assert_eq!(
                differing_bits(
                    &data[r * cols..(r + 1) * cols],
                    &data[o * cols..(o + 1) * cols]
                ),
                0,
                "position {p} of the shared prefix"
            );
        }
    }
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

/// Runs `lid embed` on `model` over a corpus of 19 lines of mixed lengths (1 to 40 words; the last
/// three share the prefix "I need a") with `--batch-size 1` and `8`: returns both matrices, the
/// token records and the width.
fn embed_alone_and_batched(model: &Path) -> (Vec<f32>, Vec<f32>, Vec<serde_json::Value>, usize) {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("mixed.txt");
    let words = [
        "hotel",
        "north",
        "cheap",
        "train",
        "to",
        "cambridge",
        "please",
        "I",
        "need",
        "a",
    ];
    let mut lines: Vec<String> = (0..16)
        .map(|i| {
            (0..(1 + (i * 7) % 40))
                .map(|j| words[(i + j) % words.len()])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    lines.extend(
        [
            "I need a",
            "I need a cheap hotel in the north please",
            "I need a train to cambridge",
        ]
        .map(String::from),
    );
    std::fs::write(&corpus, lines.join("\n")).unwrap();
    let (alone, records, cols) = embed_file(model, &corpus, dir.path(), "1");
    let (batched, _, _) = embed_file(model, &corpus, dir.path(), "8");
    (alone, batched, records, cols)
}

fn differing_bits(a: &[f32], b: &[f32]) -> usize {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .filter(|(x, y)| x.to_bits() != y.to_bits())
        .count()
}

fn asset(relative: &str) -> Option<PathBuf> {
    let assets = std::env::var_os("LID_ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets"));
    let path = assets.join(relative);
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI without the asset {}",
        path.display()
    );
    println!("SKIPPED: no asset at {}", path.display());
    None
}

/// MiniLM (the real asset, as the studies use it): each sequence alone and in batches of mixed
/// lengths gives the same bits (issue 20).
#[test]
fn embed_minilm_vectors_do_not_depend_on_the_batch() {
    let Some(model) = asset("minilm") else { return };
    let (alone, batched, _, _) = embed_alone_and_batched(&model);
    let differ = differing_bits(&alone, &batched);
    assert_eq!(
        differ,
        0,
        "{differ} of {} values depend on the batch",
        alone.len()
    );
}

/// SmolLM2-135M from its Q4_1 GGUF (dequantised to f32 at load, the forward of the studies): the
/// same bits alone and batched, and a shared prefix has the same vectors in every sequence. The
/// candle quantized forward that `lid embed` ran before failed both: 6,336 of 201,024 values
/// differed between batch sizes 1 and 8 on this corpus, by up to 0.50 (issue 20).
#[test]
fn embed_smollm2_gguf_vectors_do_not_depend_on_the_batch_or_the_suffix() {
    let Some(model) = asset("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") else {
        return;
    };
    let (alone, batched, records, cols) = embed_alone_and_batched(&model);
    let differ = differing_bits(&alone, &batched);
    assert_eq!(
        differ,
        0,
        "{differ} of {} values depend on the batch",
        alone.len()
    );
    let rows_of = |sequence: u64| -> Vec<usize> {
        (0..records.len())
            .filter(|&i| records[i]["sequence"] == sequence)
            .collect()
    };
    assert_same_prefix(
        &alone,
        &records,
        cols,
        &rows_of(16),
        &[rows_of(17), rows_of(18)],
    );
}
