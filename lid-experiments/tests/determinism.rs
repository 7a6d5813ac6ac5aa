//! Determinism across thread counts: the same inputs and seeds give bitwise identical pointwise
//! estimates, kNN graphs, CPU embeddings and study outputs with `RAYON_NUM_THREADS` = 1, 2 and 8.
//! Each binary runs as a child process with that environment variable (the way a user sets it);
//! outputs are compared byte for byte, except wall-clock times and paths, which are removed from
//! the JSON/Markdown reports before comparing (every removed key is listed in `TIME_KEYS`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use ndarray::Array2;
use ndarray_npy::WriteNpyExt;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

const THREADS: [&str; 3] = ["1", "2", "8"];

/// Keys that hold wall-clock times, dates, thread counts or paths (they differ between runs).
const TIME_KEYS: [&str; 13] = [
    "times",
    "seconds",
    "wall_seconds",
    "started_utc",
    "finished_utc",
    "forward_seconds",
    "threads_used",
    "command_line",
    "argv",
    "out",
    "path",
    "pointwise_out",
    "kept_out",
];

fn run(bin: &str, threads: &str, args: &[&str]) {
    let o = Command::new(bin)
        .args(args)
        .env("RAYON_NUM_THREADS", threads)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("the binary runs");
    assert!(
        o.status.success(),
        "{args:?} with {threads} threads: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn cloud(n: usize, d: usize, ambient: usize, seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let map: Vec<f32> = (0..d * ambient)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    let mut a = Array2::<f32>::zeros((n, ambient));
    for i in 0..n {
        let u: Vec<f32> = (0..d).map(|_| rng.random::<f32>()).collect();
        for c in 0..ambient {
            a[[i, c]] = 3.0 + (0..d).map(|k| u[k] * map[k * ambient + c]).sum::<f32>();
        }
    }
    a
}

/// Removes the keys of `TIME_KEYS` everywhere in a JSON value.
fn strip(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for key in TIME_KEYS {
                map.remove(key);
            }
            map.values_mut().for_each(strip);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
        _ => {}
    }
}

/// The comparable content of a file: bytes, or for JSON the value without times, for CSV the
/// rows without timing columns, for Markdown the text without `<number> s` durations.
fn comparable(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy();
    if name.ends_with(".json") {
        let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        strip(&mut v);
        return v.to_string().into_bytes();
    }
    if name.ends_with(".csv") {
        let text = String::from_utf8(bytes).unwrap();
        return common::without_columns(&text, &TIME_KEYS).into_bytes();
    }
    if name.ends_with(".md") {
        let text = String::from_utf8(bytes).unwrap();
        return common::without_durations(&text).into_bytes();
    }
    bytes
}

/// Every file under `dir` (relative name -> comparable content), skipping `config.json` and
/// `COMPLETE` (run metadata: times, command line, output path).
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                stack.push(path);
            } else if name != "config.json" && name != "COMPLETE" {
                let rel = path.strip_prefix(dir).unwrap().display().to_string();
                out.push((rel, comparable(&path)));
            }
        }
    }
    out.sort();
    out
}

fn assert_same_trees(dirs: &[PathBuf], what: &str) {
    let first = tree(&dirs[0]);
    assert!(!first.is_empty(), "{what}: no output");
    for (dir, threads) in dirs.iter().zip(THREADS).skip(1) {
        let other = tree(dir);
        let names = |t: &[(String, Vec<u8>)]| t.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(&first),
            names(&other),
            "{what}: other files with {threads} threads"
        );
        for ((name, a), (_, b)) in first.iter().zip(&other) {
            assert!(
                a == b,
                "{what}: {name} differs between 1 and {threads} threads"
            );
        }
    }
}

/// Pointwise estimates (TwoNN and MLE, exact and HNSW backends) and the JSON report.
#[test]
fn determinism_pointwise_estimates() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("cloud.npy");
    cloud(3000, 6, 48, 1)
        .write_npy(std::fs::File::create(&input).unwrap())
        .unwrap();
    for (estimator, knn) in [("twonn", "exact"), ("twonn", "hnsw"), ("mle", "exact")] {
        let outs: Vec<PathBuf> = THREADS
            .iter()
            .map(|t| {
                let out = dir.path().join(format!("{estimator}_{knn}_{t}"));
                std::fs::create_dir(&out).unwrap();
                run(
                    env!("CARGO_BIN_EXE_lid"),
                    t,
                    &[
                        "estimate",
                        p(&input),
                        "--estimator",
                        estimator,
                        "--knn",
                        knn,
                        "--neighbors",
                        "40",
                        "--global",
                        "--sample",
                        "2500",
                        "--pointwise-out",
                        p(&out.join("pw.npy")),
                        "--kept-out",
                        p(&out.join("kept.npy")),
                        "--json",
                        p(&out.join("report.json")),
                    ],
                );
                out
            })
            .collect();
        assert_same_trees(
            &outs,
            &format!("lid estimate --estimator {estimator} --knn {knn}"),
        );
    }
}

/// The kNN graph (indices and distances) of the exact and HNSW backends.
#[test]
fn determinism_knn_graphs() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("cloud.npy");
    cloud(4000, 5, 64, 2)
        .write_npy(std::fs::File::create(&input).unwrap())
        .unwrap();
    for knn in ["exact", "hnsw", "kdtree"] {
        let input = if knn == "kdtree" {
            let small = dir.path().join("small.npy");
            cloud(4000, 3, 8, 3)
                .write_npy(std::fs::File::create(&small).unwrap())
                .unwrap();
            small
        } else {
            input.clone()
        };
        let outs: Vec<PathBuf> = THREADS
            .iter()
            .map(|t| {
                let out = dir.path().join(format!("{knn}_{t}"));
                std::fs::create_dir(&out).unwrap();
                run(
                    env!("CARGO_BIN_EXE_lid"),
                    t,
                    &[
                        "knn",
                        p(&input),
                        "-k",
                        "24",
                        "--knn",
                        knn,
                        "--indices-out",
                        p(&out.join("i.npy")),
                        "--distances-out",
                        p(&out.join("d.npy")),
                    ],
                );
                out
            })
            .collect();
        assert_same_trees(&outs, &format!("lid knn --knn {knn}"));
    }
}

fn embeddings_identical(model: &Path, n: usize, layers: &str) {
    let dir = tempfile::tempdir().unwrap();
    let corpus = common::word_corpus(dir.path(), n, 29);
    let outs: Vec<PathBuf> = THREADS
        .iter()
        .map(|t| {
            let out = dir.path().join(format!("emb_{t}"));
            run(
                env!("CARGO_BIN_EXE_lid"),
                t,
                &[
                    "embed",
                    "--model",
                    p(model),
                    "--corpus",
                    p(&corpus),
                    "--layers",
                    layers,
                    "--batch-size",
                    "8",
                    "--max-length",
                    "64",
                    "--out",
                    p(&out),
                    "--quiet",
                ],
            );
            out
        })
        .collect();
    assert_same_trees(&outs, &format!("lid embed {}", model.display()));
}

/// CPU embeddings of the committed tiny RoBERTa and GPT-2, and of MiniLM (a real 384-wide BERT,
/// large enough for the matrix products and attention to run on several threads) when the offline
/// assets are present (`scripts/fetch-assets.sh`; required when `CI` is set).
#[test]
fn determinism_embeddings_cpu() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lid-embed/tests/fixtures");
    embeddings_identical(&fixtures.join("tiny_roberta"), 40, "-1,1");
    embeddings_identical(&fixtures.join("tiny_gpt2"), 40, "-1");
    let minilm = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/minilm");
    if minilm.join("model.safetensors").is_file() {
        embeddings_identical(&minilm, 48, "-1,3");
    } else if std::env::var_os("CI").is_some() {
        panic!(
            "{} is missing: run scripts/fetch-assets.sh",
            minilm.display()
        );
    } else {
        eprintln!(
            "skipping MiniLM: {} is missing (scripts/fetch-assets.sh)",
            minilm.display()
        );
    }
}

/// A study's outputs: the validation study's quick preset (estimators on synthetic manifolds; the
/// kNN graphs, pointwise estimates and summaries of every estimator) and grokking's quick preset
/// (training, the LID probe, figures).
#[test]
fn determinism_study_summaries() {
    let dir = tempfile::tempdir().unwrap();
    for (study, extra) in [
        ("validate", &["--sizes", "1000"][..]),
        ("grokking", &["--preset", "quick"][..]),
    ] {
        let outs: Vec<PathBuf> = THREADS
            .iter()
            .map(|t| {
                let out = dir.path().join(format!("{study}_{t}"));
                let mut args = vec![study, "--out", p(&out)];
                args.extend_from_slice(extra);
                run(env!("CARGO_BIN_EXE_lid-experiments"), t, &args);
                out
            })
            .collect();
        assert_same_trees(&outs, &format!("lid-experiments {study}"));
    }
}
