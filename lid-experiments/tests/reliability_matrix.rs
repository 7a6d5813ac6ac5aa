//! The bad-input matrix of docs/reliability.md for the command-line entry points: `lid estimate`,
//! `lid knn`, `lid embed`, the study commands (`lid-experiments grokking | validate` as `_study`,
//! `finetune-shift`, `dst`, `emowoz`), `lid compare` and `lid sweep run | merge`, each row a test
//! named `matrix_<input class>_<entry point>`. Every test runs the binary as a child process
//! and asserts what the user sees: the exit status, the message on stderr (naming the file, the
//! flag, the row), the files left behind. The rows for killed runs are in `resume_embed.rs` and
//! `resume_study.rs`; the library rows in each crate's `tests/reliability.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ndarray::{Array1, Array2, Array3};
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("the binary runs")
}

fn lid(args: &[&str]) -> Output {
    run(env!("CARGO_BIN_EXE_lid"), args)
}

fn experiments(args: &[&str]) -> Output {
    run(env!("CARGO_BIN_EXE_lid-experiments"), args)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts failure with every `needle` in the message.
fn fails_with(o: &Output, needles: &[&str]) -> String {
    let err = stderr(o);
    assert!(
        !o.status.success(),
        "expected a failure, got success; stderr: {err}"
    );
    for n in needles {
        assert!(err.contains(n), "{n:?} missing from: {err}");
    }
    assert!(!err.contains("panicked"), "a panic: {err}");
    err
}

fn succeeds(o: &Output) -> String {
    let err = stderr(o);
    assert!(o.status.success(), "failed: {err}");
    err
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// `n` points uniform in a `d`-ball inside `R^ambient`.
fn ball(n: usize, d: usize, ambient: usize, seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut a = Array2::<f32>::zeros((n, ambient));
    for i in 0..n {
        let g: Vec<f64> = (0..d).map(|_| StandardNormal.sample(&mut rng)).collect();
        let norm = g.iter().map(|x| x * x).sum::<f64>().sqrt();
        let radius = rng.random::<f64>().powf(1.0 / d as f64);
        for c in 0..d {
            a[[i, c]] = (g[c] / norm * radius) as f32;
        }
    }
    a
}

fn save<A: ndarray_npy::WritableElement, D: ndarray::Dimension>(
    path: &Path,
    a: &ndarray::Array<A, D>,
) {
    a.write_npy(std::fs::File::create(path).unwrap()).unwrap();
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn read_f64(path: &Path) -> Vec<f64> {
    Array1::<f64>::read_npy(std::fs::File::open(path).unwrap())
        .unwrap()
        .to_vec()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../lid-embed/tests/fixtures")
        .join(name)
}

fn corpus(dir: &Path, n: usize) -> PathBuf {
    let path = dir.join("corpus.txt");
    let words = [
        "the", "hotel", "in", "the", "north", "has", "free", "parking",
    ];
    let lines: Vec<String> = (0..n)
        .map(|i| {
            (0..3 + i % 7)
                .map(|j| words[(i * 5 + j * 3) % words.len()])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    std::fs::write(&path, lines.join("\n")).unwrap();
    path
}

/// A copy of a fixture model folder, to break one of its files.
fn model_copy(name: &str, dir: &Path) -> PathBuf {
    let out = dir.join(name);
    std::fs::create_dir_all(&out).unwrap();
    for file in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::copy(fixture(name).join(file), out.join(file)).unwrap();
    }
    out
}

fn embed_args<'a>(model: &'a Path, corpus: &'a Path, out: &'a Path) -> Vec<&'a str> {
    vec![
        "embed",
        "--model",
        p(model),
        "--corpus",
        p(corpus),
        "--out",
        p(out),
        "--max-length",
        "64",
        "--quiet",
    ]
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

// ---- NaN and infinities ------------------------------------------------------------------------

#[test]
fn matrix_nan_estimate() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("nan.npy");
    let mut a = ball(50, 2, 3, 1);
    a[[3, 1]] = f32::NAN;
    save(&input, &a);
    fails_with(
        &lid(&["estimate", p(&input)]),
        &["nan.npy", "NaN", "row 3", "column 1"],
    );
}

#[test]
fn matrix_nan_knn() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("nan.npy");
    let mut a = ball(50, 2, 3, 1);
    a[[7, 0]] = f32::NAN;
    save(&input, &a);
    fails_with(
        &lid(&["knn", p(&input), "-k", "3"]),
        &["nan.npy", "row 7", "column 0"],
    );
}

#[test]
fn matrix_nan_embed() {
    // Weights holding a NaN: the hidden states are NaN; refused, nothing written.
    let dir = tempfile::tempdir().unwrap();
    let model = model_copy("tiny_roberta", dir.path());
    let weights = model.join("model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.shape().to_vec(), v.data().to_vec()))
        .collect();
    for (name, _, data) in tensors.iter_mut() {
        if name.contains("embeddings.word_embeddings") {
            for c in data.chunks_exact_mut(4) {
                c.copy_from_slice(&f32::NAN.to_le_bytes());
            }
        }
    }
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(n, s, d)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), d)
                    .unwrap(),
            )
        })
        .collect();
    std::fs::write(&weights, safetensors::serialize(views, None).unwrap()).unwrap();
    let corpus = corpus(dir.path(), 5);
    let out = dir.path().join("v.npy");
    fails_with(
        &lid(&embed_args(&model, &corpus, &out)),
        &["hidden state", "NaN", "sequence"],
    );
    assert!(!out.exists());
}

#[test]
fn matrix_infinity_estimate() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("inf.npy");
    let mut a = ball(50, 2, 3, 1);
    a[[2, 2]] = f32::NEG_INFINITY;
    save(&input, &a);
    fails_with(
        &lid(&["estimate", p(&input)]),
        &["inf.npy", "inf", "row 2", "column 2"],
    );
    // A finite float64 value beyond float32 is named as such.
    let wide = dir.path().join("wide.npy");
    let mut b = ball(50, 2, 3, 1).mapv(|x| x as f64);
    b[[5, 1]] = 1e300;
    save(&wide, &b);
    fails_with(
        &lid(&["estimate", p(&wide)]),
        &[
            "wide.npy",
            "1e300",
            "row 5, column 1",
            "does not fit in float32",
        ],
    );
}

#[test]
fn matrix_infinity_knn() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("inf.npy");
    let mut a = ball(50, 2, 3, 1);
    a[[9, 1]] = f32::INFINITY;
    save(&input, &a);
    fails_with(&lid(&["knn", p(&input), "-k", "3"]), &["inf.npy", "row 9"]);
}

// ---- Duplicates and near duplicates ------------------------------------------------------------

#[test]
fn matrix_duplicates_estimate() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("dups.npy");
    let base = ball(200, 3, 4, 2);
    let a = ndarray::concatenate![ndarray::Axis(0), base, base.slice(ndarray::s![..40, ..])];
    save(&input, &a);
    let report = dir.path().join("r.json");
    succeeds(&lid(&[
        "estimate",
        p(&input),
        "--neighbors",
        "32",
        "--json",
        p(&report),
    ]));
    assert_eq!(json(&report)["preparation"]["n_duplicates_removed"], 40);
    fails_with(
        &lid(&["estimate", p(&input), "--neighbors", "32", "--no-dedup"]),
        &["--no-dedup", "duplicate"],
    );
}

#[test]
fn matrix_duplicates_knn() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("dups.npy");
    let base = ball(30, 2, 2, 3);
    let a = ndarray::concatenate![ndarray::Axis(0), base, base];
    save(&input, &a);
    let dist = dir.path().join("d.npy");
    let idx = dir.path().join("i.npy");
    succeeds(&lid(&[
        "knn",
        p(&input),
        "-k",
        "2",
        "--distances-out",
        p(&dist),
        "--indices-out",
        p(&idx),
    ]));
    let d = Array2::<f64>::read_npy(std::fs::File::open(&dist).unwrap()).unwrap();
    let i = Array2::<i64>::read_npy(std::fs::File::open(&idx).unwrap()).unwrap();
    for r in 0..60 {
        assert_eq!(
            d[[r, 0]],
            0.0,
            "row {r}: its copy at distance 0 (used as is)"
        );
        assert_eq!(i[[r, 0]] as usize, (r + 30) % 60);
    }
}

/// The example: near duplicates that pass exact dedup pull the mean local TwoNN to 0.07
/// (4.0 without them); `lid estimate` now says so on stderr and in the JSON, and `--dedup-near`
/// removes them.
#[test]
fn matrix_near_duplicates_estimate() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("near.npy");
    let base = ball(300, 4, 10, 1);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let copies = base.slice(ndarray::s![..150, ..]).mapv(|x| {
        let z: f64 = StandardNormal.sample(&mut rng);
        x * (1.0 + 1e-7 * z as f32)
    });
    save(
        &input,
        &ndarray::concatenate![ndarray::Axis(0), base, copies],
    );
    let (report, pw) = (dir.path().join("r.json"), dir.path().join("pw.npy"));
    let o = lid(&[
        "estimate",
        p(&input),
        "--neighbors",
        "64",
        "--json",
        p(&report),
        "--pointwise-out",
        p(&pw),
    ]);
    let err = succeeds(&o);
    assert!(
        err.contains("warning:") && err.contains("near duplicates"),
        "{err}"
    );
    assert!(err.contains("--dedup-near"), "{err}");
    let r = json(&report);
    let nd = &r["guards"]["near_duplicates"];
    assert!(nd["points"].as_u64().unwrap() >= 250, "{nd}");
    assert_eq!(nd["threshold"], 1e-4);
    assert!(nd["neighbourhoods_dominated"].as_u64().unwrap() > 400);
    assert_eq!(r["guards"]["messages"].as_array().unwrap().len(), 1);
    assert!(mean(&read_f64(&pw)) < 1.0);

    let (report2, pw2, kept) = (
        dir.path().join("r2.json"),
        dir.path().join("pw2.npy"),
        dir.path().join("kept.npy"),
    );
    let err = succeeds(&lid(&[
        "estimate",
        p(&input),
        "--neighbors",
        "64",
        "--dedup-near",
        "--json",
        p(&report2),
        "--pointwise-out",
        p(&pw2),
        "--kept-out",
        p(&kept),
    ]));
    assert!(err.contains("--dedup-near removed"), "{err}");
    let r = json(&report2);
    assert_eq!(r["guards"]["near_duplicates"]["action"], "removed");
    assert_eq!(r["guards"]["near_duplicates"]["after_removal"]["points"], 0);
    let values = read_f64(&pw2);
    assert_eq!(values.len(), 300);
    assert!((mean(&values) - 4.0).abs() < 0.6, "{}", mean(&values));
    // The kept rows are the 300 originals, in order.
    let kept = Array1::<i64>::read_npy(std::fs::File::open(&kept).unwrap()).unwrap();
    assert_eq!(kept.to_vec(), (0..300).collect::<Vec<i64>>());
    // The threshold is a flag, checked.
    fails_with(
        &lid(&["estimate", p(&input), "--near-duplicate-threshold", "2"]),
        &["--near-duplicate-threshold 2"],
    );
}

// ---- Too few points, wrong shapes, empty and corrupt files -------------------------------------

#[test]
fn matrix_too_few_points_estimate() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("small.npy");
    save(&input, &ball(20, 2, 2, 4));
    fails_with(
        &lid(&["estimate", p(&input), "--neighbors", "20"]),
        &["--neighbors 20", "20 points remain"],
    );
    fails_with(
        &lid(&["estimate", p(&input), "--neighbors", "2"]),
        &["--neighbors 2", "at least 3 neighbours"],
    );
}

/// Neighbourhoods too small for what an estimator reports: lPCA's values capped at `L - 1` below
/// the data's dimension and the MLE at `L = 2` are named on stderr and in the JSON guards; GRIDE's
/// settings line says that it does not use `--neighbors`.
#[test]
fn matrix_tiny_neighbourhoods_estimate() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("ball.npy");
    save(&input, &ball(200, 5, 5, 3));
    let json_path = dir.path().join("r.json");
    let o = lid(&[
        "estimate",
        p(&input),
        "--estimator",
        "lpca",
        "--neighbors",
        "3",
        "--json",
        p(&json_path),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning: lPCA with --neighbors 3 can find at most 2 dimensions"),
        "{err}"
    );
    let r = json(&json_path);
    let affected = r["guards"]["neighbourhood"]["points_affected"]
        .as_u64()
        .unwrap();
    assert!(affected > 100, "{affected}");
    // Enough neighbours: no cap below the dimension, no warning.
    let o = lid(&[
        "estimate",
        p(&input),
        "--estimator",
        "lpca",
        "--neighbors",
        "20",
        "--json",
        p(&json_path),
    ]);
    assert!(o.status.success());
    assert!(!String::from_utf8_lossy(&o.stderr).contains("lPCA with"));
    assert!(json(&json_path)["guards"]["neighbourhood"].is_null());
    let o = lid(&[
        "estimate",
        p(&input),
        "--estimator",
        "mle",
        "--neighbors",
        "2",
        "--json",
        p(&json_path),
    ]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("single log distance ratio"));
    assert_eq!(
        json(&json_path)["guards"]["neighbourhood"]["points_affected"],
        200
    );
    let o = lid(&[
        "estimate",
        p(&input),
        "--estimator",
        "gride",
        "--neighbors",
        "7",
    ]);
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("L unused (GRIDE neighbour orders 1 and 2)"),
        "{out}"
    );
}

#[test]
fn matrix_too_few_points_knn() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("small.npy");
    save(&input, &ball(5, 2, 2, 4));
    fails_with(
        &lid(&["knn", p(&input), "-k", "5"]),
        &["-k 5", "has 5 rows"],
    );
}

#[test]
fn matrix_wrong_shapes_estimate() {
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("one.npy");
    save(&one, &Array1::<f32>::zeros(5));
    fails_with(
        &lid(&["estimate", p(&one)]),
        &["one.npy", "1 dimensions, expected 2"],
    );
    let three = dir.path().join("three.npy");
    save(&three, &Array3::<f32>::zeros((2, 3, 4)));
    fails_with(
        &lid(&["estimate", p(&three)]),
        &["three.npy", "3 dimensions"],
    );
    let ints = dir.path().join("ints.npy");
    save(&ints, &Array2::<i32>::zeros((5, 3)));
    fails_with(&lid(&["estimate", p(&ints)]), &["ints.npy", "float32"]);
    let wide = dir.path().join("wide.npy");
    save(&wide, &ball(40, 2, 20, 1));
    fails_with(
        &lid(&["estimate", p(&wide), "--knn", "kdtree", "--neighbors", "5"]),
        &["--knn kdtree", "20 dimensions", "--knn exact"],
    );
}

#[test]
fn matrix_wrong_shapes_knn() {
    let dir = tempfile::tempdir().unwrap();
    let wide = dir.path().join("wide.npy");
    save(&wide, &ball(40, 2, 20, 1));
    fails_with(
        &lid(&["knn", p(&wide), "-k", "3", "--knn", "kdtree"]),
        &["--knn kdtree", "20 dimensions"],
    );
    let one = dir.path().join("one.npy");
    save(&one, &Array1::<f32>::zeros(5));
    fails_with(
        &lid(&["knn", p(&one), "-k", "1"]),
        &["one.npy", "dimensions"],
    );
}

#[test]
fn matrix_empty_files_estimate() {
    let dir = tempfile::tempdir().unwrap();
    let zero = dir.path().join("zero.npy");
    std::fs::write(&zero, b"").unwrap();
    fails_with(&lid(&["estimate", p(&zero)]), &["zero.npy"]);
    let rows = dir.path().join("rows.npy");
    save(&rows, &Array2::<f32>::zeros((0, 5)));
    fails_with(&lid(&["estimate", p(&rows)]), &["rows.npy", "empty"]);
    let cols = dir.path().join("cols.npy");
    save(&cols, &Array2::<f32>::zeros((5, 0)));
    fails_with(&lid(&["estimate", p(&cols)]), &["cols.npy", "dimension 0"]);
    let missing = dir.path().join("missing.npy");
    fails_with(&lid(&["estimate", p(&missing)]), &["missing.npy"]);
    // Every row a zero vector, removed on request: named.
    let zeros = dir.path().join("zeros.npy");
    save(&zeros, &Array2::<f32>::zeros((10, 3)));
    fails_with(
        &lid(&["estimate", p(&zeros), "--remove-zero-vectors"]),
        &["--remove-zero-vectors", "zero vector"],
    );
}

#[test]
fn matrix_empty_files_knn() {
    let dir = tempfile::tempdir().unwrap();
    let zero = dir.path().join("zero.npy");
    std::fs::write(&zero, b"").unwrap();
    fails_with(&lid(&["knn", p(&zero), "-k", "1"]), &["zero.npy"]);
}

#[test]
fn matrix_empty_files_embed() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, b"").unwrap();
    let out = dir.path().join("v.npy");
    fails_with(
        &lid(&embed_args(&fixture("tiny_roberta"), &empty, &out)),
        &["empty.txt", "no non-empty sequences"],
    );
}

#[test]
fn matrix_truncated_npy_estimate() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.npy");
    save(&good, &ball(100, 2, 3, 1));
    let bytes = std::fs::read(&good).unwrap();
    for cut in [5, 60, bytes.len() / 2, bytes.len() - 1] {
        let t = dir.path().join(format!("cut{cut}.npy"));
        std::fs::write(&t, &bytes[..cut]).unwrap();
        fails_with(&lid(&["estimate", p(&t)]), &[&format!("cut{cut}.npy")]);
    }
    let t = dir.path().join("half.npy");
    std::fs::write(&t, &bytes[..bytes.len() / 2]).unwrap();
    fails_with(&lid(&["estimate", p(&t)]), &["half.npy", "truncated"]);
}

#[test]
fn matrix_truncated_npy_knn() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.npy");
    save(&good, &ball(100, 2, 3, 1));
    let bytes = std::fs::read(&good).unwrap();
    let t = dir.path().join("half.npy");
    std::fs::write(&t, &bytes[..bytes.len() / 2]).unwrap();
    fails_with(&lid(&["knn", p(&t), "-k", "2"]), &["half.npy", "truncated"]);
}

#[test]
fn matrix_corrupt_safetensors_estimate() {
    let dir = tempfile::tempdir().unwrap();
    let a = ball(20, 2, 3, 1);
    let data: Vec<u8> = a.iter().flat_map(|x| x.to_le_bytes()).collect();
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![20, 3], &data).unwrap();
    let bytes = safetensors::serialize(vec![("emb", view)], None).unwrap();
    let good = dir.path().join("good.safetensors");
    std::fs::write(&good, &bytes).unwrap();
    succeeds(&lid(&["estimate", p(&good), "--neighbors", "5"]));
    fails_with(
        &lid(&["estimate", p(&good), "--neighbors", "5", "--tensor", "nope"]),
        &["good.safetensors", "nope"],
    );
    for cut in [4, 12, bytes.len() - 8] {
        let t = dir.path().join(format!("cut{cut}.safetensors"));
        std::fs::write(&t, &bytes[..cut]).unwrap();
        fails_with(
            &lid(&["estimate", p(&t)]),
            &[&format!("cut{cut}.safetensors")],
        );
    }
    let mut garbage = bytes.clone();
    garbage[8] = b'#';
    let t = dir.path().join("garbage.safetensors");
    std::fs::write(&t, &garbage).unwrap();
    fails_with(&lid(&["estimate", p(&t)]), &["garbage.safetensors"]);
}

#[test]
fn matrix_truncated_safetensors_embed() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_copy("tiny_roberta", dir.path());
    let weights = model.join("model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    let corpus = corpus(dir.path(), 3);
    let out = dir.path().join("v.npy");
    fails_with(
        &lid(&embed_args(&model, &corpus, &out)),
        &["model.safetensors"],
    );
    assert!(!out.exists());
}

#[test]
fn matrix_corrupt_config_json_embed() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_copy("tiny_roberta", dir.path());
    std::fs::write(model.join("config.json"), "{\"model_type\": ").unwrap();
    let corpus = corpus(dir.path(), 3);
    let out = dir.path().join("v.npy");
    fails_with(
        &lid(&embed_args(&model, &corpus, &out)),
        &["config.json", "cannot parse"],
    );
}

#[test]
fn matrix_unknown_model_config_embed() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_copy("tiny_roberta", dir.path());
    let text = std::fs::read_to_string(model.join("config.json"))
        .unwrap()
        .replace("\"roberta\"", "\"mamba\"");
    std::fs::write(model.join("config.json"), text).unwrap();
    let corpus = corpus(dir.path(), 3);
    let out = dir.path().join("v.npy");
    fails_with(
        &lid(&embed_args(&model, &corpus, &out)),
        &["\"mamba\"", "supported: bert, roberta"],
    );
}

#[test]
fn matrix_corrupt_tokenizer_json_embed() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_copy("tiny_roberta", dir.path());
    std::fs::write(
        model.join("tokenizer.json"),
        "{\"version\": \"1.0\", \"model\": 7}",
    )
    .unwrap();
    let corpus = corpus(dir.path(), 3);
    let out = dir.path().join("v.npy");
    fails_with(
        &lid(&embed_args(&model, &corpus, &out)),
        &["tokenizer.json"],
    );
}

/// A tokenizer that produces ids past the model's embedding (here one added token more than the
/// model's 320) is refused naming `--tokenizer` and both sizes, before any output is written
/// (it failed in the embedding lookup of a batch, leaving a PARTIAL folder that suggested
/// `--resume`).
#[test]
fn matrix_tokenizer_larger_than_the_model_embed() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_copy("tiny_roberta", dir.path());
    let path = model.join("tokenizer.json");
    let mut tokenizer: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    tokenizer["added_tokens"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "id": 400, "content": "<extra>", "single_word": false, "lstrip": false,
            "rstrip": false, "normalized": false, "special": true
        }));
    std::fs::write(&path, tokenizer.to_string()).unwrap();
    let corpus = corpus(dir.path(), 3);
    let out = dir.path().join("run");
    fails_with(
        &lid(&embed_args(&model, &corpus, &out)),
        &[
            "--tokenizer",
            "token ids up to",
            "embeds 320 tokens",
            "vocab_size",
        ],
    );
    assert!(!out.exists(), "nothing written");
}

#[test]
fn matrix_truncated_gguf_embed() {
    let dir = tempfile::tempdir().unwrap();
    let gguf = dir.path().join("model.gguf");
    let mut b = Vec::new();
    b.extend_from_slice(b"GGUF");
    b.extend_from_slice(&3u32.to_le_bytes());
    b.extend_from_slice(&1u64.to_le_bytes());
    b.extend_from_slice(&(1u64 << 61).to_le_bytes()); // metadata entries that cannot be there
    std::fs::write(&gguf, &b).unwrap();
    let corpus = corpus(dir.path(), 3);
    let out = dir.path().join("v.npy");
    fails_with(
        &lid(&embed_args(&gguf, &corpus, &out)),
        &["model.gguf", "not a readable GGUF file"],
    );
}

#[test]
fn matrix_corrupt_corpus_embed() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("c.jsonl");
    std::fs::write(
        &corpus,
        "{\"text\": \"fine\"}\n{\"text\": \"also fine\"}\n{broken\n",
    )
    .unwrap();
    let out = dir.path().join("v.npy");
    fails_with(
        &lid(&embed_args(&fixture("tiny_roberta"), &corpus, &out)),
        &["c.jsonl", "line 3", "invalid JSON"],
    );
    let csv = dir.path().join("c.csv");
    std::fs::write(&csv, "id,utterance\n1,hello\n").unwrap();
    fails_with(
        &lid(&embed_args(&fixture("tiny_roberta"), &csv, &out)),
        &["c.csv", "no column \"text\""],
    );
}

// ---- Huge scales -------------------------------------------------------------------------------

/// The example: HNSW with coordinates around 1e20 returned other neighbours (its f32
/// squared distances overflow). Now every backend gives the estimates of the same cloud at scale 1
/// (the cloud is multiplied by 2^66, exactly), and HNSW says that its index works on a rescaled copy.
#[test]
fn matrix_huge_scales_estimate() {
    let dir = tempfile::tempdir().unwrap();
    let base = ball(400, 3, 8, 5);
    let (unit, huge) = (dir.path().join("unit.npy"), dir.path().join("huge.npy"));
    save(&unit, &base);
    save(&huge, &base.mapv(|x| x * 2f32.powi(66)));
    for knn in ["exact", "hnsw", "kdtree"] {
        let (a, b, r) = (
            dir.path().join(format!("a_{knn}.npy")),
            dir.path().join(format!("b_{knn}.npy")),
            dir.path().join(format!("r_{knn}.json")),
        );
        succeeds(&lid(&[
            "estimate",
            p(&unit),
            "--neighbors",
            "32",
            "--knn",
            knn,
            "--pointwise-out",
            p(&a),
        ]));
        let err = succeeds(&lid(&[
            "estimate",
            p(&huge),
            "--neighbors",
            "32",
            "--knn",
            knn,
            "--pointwise-out",
            p(&b),
            "--json",
            p(&r),
            "--global",
        ]));
        assert_eq!(
            read_f64(&a),
            read_f64(&b),
            "--knn {knn}: scale changed the estimates"
        );
        let report = json(&r);
        assert_eq!(report["guards"]["scale"]["overflow"], true);
        assert!(report["global"]["dimension"].as_f64().unwrap().is_finite());
        if knn == "hnsw" {
            // The largest coordinate is below 2^66 (the ball has radius 1): brought into [1, 2).
            let shift = report["guards"]["scale"]["hnsw_index_shift"]
                .as_i64()
                .unwrap();
            let max_abs = report["guards"]["scale"]["max_abs"].as_f64().unwrap();
            assert!(
                (1.0..2.0).contains(&(max_abs * 2f64.powi(shift as i32))),
                "{shift}"
            );
            assert!(
                err.contains("note:") && err.contains(&format!("2^{shift}")),
                "{err}"
            );
        } else {
            assert!(report["guards"]["scale"]["hnsw_index_shift"].is_null());
        }
    }
}

#[test]
fn matrix_huge_scales_knn() {
    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge.npy");
    save(&huge, &ball(300, 4, 10, 6).mapv(|x| x * 1e20));
    let d = dir.path().join("d.npy");
    let err = succeeds(&lid(&[
        "knn",
        p(&huge),
        "-k",
        "64",
        "--knn",
        "hnsw",
        "--distances-out",
        p(&d),
    ]));
    assert!(err.contains("2^-66"), "{err}");
    let dist = Array2::<f64>::read_npy(std::fs::File::open(&d).unwrap()).unwrap();
    assert!(dist.iter().all(|x| x.is_finite() && *x > 1e17));
}

// ---- Sample larger than the data ---------------------------------------------------------------

#[test]
fn matrix_sample_larger_than_cloud_estimate() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("c.npy");
    save(&input, &ball(300, 3, 4, 7));
    let r = dir.path().join("r.json");
    let err = succeeds(&lid(&[
        "estimate",
        p(&input),
        "--neighbors",
        "16",
        "--sample",
        "1000",
        "--json",
        p(&r),
    ]));
    assert!(
        err.contains("warning: --sample 1000") && err.contains("(300)"),
        "{err}"
    );
    let report = json(&r);
    assert_eq!(report["guards"]["sample"]["capped"], true);
    assert_eq!(report["guards"]["sample"]["available"], 300);
    assert_eq!(report["preparation"]["n_sampled"], 300);
    fails_with(
        &lid(&["estimate", p(&input), "--sample", "0"]),
        &["--sample"],
    );
}

/// `--keep N` (the paper's step 6, first N rows after dedup): the prefix is kept; more than remain
/// is a stated cap, as for `--sample`; 0 is refused naming the flag.
#[test]
fn matrix_keep_larger_than_cloud_estimate() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("c.npy");
    let mut cloud = ball(300, 3, 4, 7);
    // Ten exact copies of row 0: dedup runs before the prefix is taken.
    for r in 1..=10 {
        let first = cloud.row(0).to_owned();
        cloud.row_mut(r).assign(&first);
    }
    save(&input, &cloud);
    let r = dir.path().join("r.json");
    let kept = dir.path().join("kept.npy");
    succeeds(&lid(&[
        "estimate",
        p(&input),
        "--neighbors",
        "16",
        "--keep",
        "150",
        "--json",
        p(&r),
        "--kept-out",
        p(&kept),
    ]));
    assert_eq!(json(&r)["preparation"]["n_output"], 150);
    let rows = Array1::<i64>::read_npy(std::fs::File::open(&kept).unwrap()).unwrap();
    let expected: Vec<i64> = std::iter::once(0).chain(11..160).collect();
    assert_eq!(rows.to_vec(), expected);
    let err = succeeds(&lid(&[
        "estimate",
        p(&input),
        "--neighbors",
        "16",
        "--keep",
        "1000",
        "--json",
        p(&r),
    ]));
    assert!(
        err.contains("warning: --keep 1000") && err.contains("(290)"),
        "{err}"
    );
    assert_eq!(json(&r)["preparation"]["prefix_capped"], true);
    fails_with(&lid(&["estimate", p(&input), "--keep", "0"]), &["--keep 0"]);
}

#[test]
fn matrix_sample_larger_than_corpus_embed() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus(dir.path(), 5);
    let out = dir.path().join("v.npy");
    let model = fixture("tiny_roberta");
    let mut args = embed_args(&model, &corpus, &out);
    args.extend(["--sample", "10"]);
    fails_with(&lid(&args), &["--sample 10", "the corpus has 5"]);
    let mut args = embed_args(&model, &corpus, &out);
    args.extend(["--first", "6"]);
    fails_with(&lid(&args), &["--first 6"]);
}

// ---- Outputs -----------------------------------------------------------------------------------

#[test]
fn matrix_output_is_input_estimate() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("c.npy");
    save(&input, &ball(50, 2, 3, 1));
    let before = std::fs::read(&input).unwrap();
    fails_with(
        &lid(&[
            "estimate",
            p(&input),
            "--neighbors",
            "5",
            "--pointwise-out",
            p(&input),
        ]),
        &["--pointwise-out", "is the input"],
    );
    let same = dir.path().join("same.json");
    fails_with(
        &lid(&[
            "estimate",
            p(&input),
            "--neighbors",
            "5",
            "--json",
            p(&same),
            "--kept-out",
            p(&same),
        ]),
        &["same file"],
    );
    assert_eq!(
        std::fs::read(&input).unwrap(),
        before,
        "the input is untouched"
    );
}

#[test]
fn matrix_output_is_input_knn() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("c.npy");
    save(&input, &ball(50, 2, 3, 1));
    fails_with(
        &lid(&["knn", p(&input), "-k", "3", "--indices-out", p(&input)]),
        &["--indices-out", "is the input"],
    );
}

#[test]
fn matrix_output_is_input_embed() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus(dir.path(), 3);
    let out = dir.path().join("v.npy");
    let model = fixture("tiny_roberta");
    let mut args = embed_args(&model, &corpus, &out);
    args.extend(["--tokens-out", p(&corpus)]);
    fails_with(&lid(&args), &["--tokens-out", "is the input"]);
    fails_with(
        &lid(&embed_args(&model, &corpus, &model)),
        &["--out", "not empty"],
    );
}

#[test]
fn matrix_unwritable_output_estimate() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("c.npy");
    save(&input, &ball(50, 2, 3, 1));
    let missing = dir.path().join("no/such/r.json");
    fails_with(
        &lid(&["estimate", p(&input), "--json", p(&missing)]),
        &["--json", "does not exist"],
    );
    // A "folder" that is a file.
    let under_file = input.join("r.json");
    fails_with(
        &lid(&["estimate", p(&input), "--json", p(&under_file)]),
        &["--json"],
    );
    let folder = dir.path().to_path_buf();
    fails_with(
        &lid(&["estimate", p(&input), "--pointwise-out", p(&folder)]),
        &["--pointwise-out", "is a folder"],
    );
}

#[test]
fn matrix_unwritable_output_knn() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("c.npy");
    save(&input, &ball(50, 2, 3, 1));
    let missing = dir.path().join("no/i.npy");
    fails_with(
        &lid(&["knn", p(&input), "-k", "2", "--indices-out", p(&missing)]),
        &["--indices-out", "does not exist"],
    );
}

#[test]
fn matrix_unwritable_output_embed() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus(dir.path(), 3);
    let out = dir.path().join("no/such/v.npy");
    fails_with(
        &lid(&embed_args(&fixture("tiny_roberta"), &corpus, &out)),
        &["--out", "does not exist"],
    );
}

// ---- Flags -------------------------------------------------------------------------------------

#[test]
fn matrix_bad_flags_estimate() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("c.npy");
    save(&input, &ball(50, 2, 3, 1));
    for (flags, needle) in [
        (&["--neighbors", "0"][..], "--neighbors 0"),
        (&["--discard", "1.5"][..], "--discard 1.5"),
        (&["--discard", "0", "--cdf", "corrected"][..], "--discard 0"),
        (&["--threads", "0"][..], "--threads 0"),
        (
            &["--near-duplicate-threshold=-1"][..],
            "--near-duplicate-threshold -1",
        ),
        (
            &["--dedup-near", "--near-duplicate-threshold", "0"][..],
            "--dedup-near",
        ),
        (
            &["--estimator", "gride", "--dedup-near"][..],
            "--dedup-near",
        ),
        (&["--layer", "3"][..], "--layer 3"),
    ] {
        let mut args = vec!["estimate", p(&input)];
        args.extend_from_slice(flags);
        let err = fails_with(&lid(&args), &[needle]);
        assert!(
            err.contains(&format!("Error: {needle}")),
            "{flags:?}: {err}"
        );
    }
}

#[test]
fn matrix_bad_flags_knn() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("c.npy");
    save(&input, &ball(50, 2, 3, 1));
    fails_with(&lid(&["knn", p(&input), "-k", "0"]), &["-k 0"]);
}

#[test]
fn matrix_bad_flags_embed() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus(dir.path(), 3);
    let out = dir.path().join("v.npy");
    let model = fixture("tiny_roberta");
    for (flags, needle) in [
        (&["--batch-size", "0"][..], "--batch-size 0"),
        (&["--shard-rows", "0"][..], "--shard-rows 0"),
        (&["--layers", "0,-1"][..], "--out"),
        (&["--resume"][..], "--resume"),
    ] {
        let mut args = embed_args(&model, &corpus, &out);
        args.extend_from_slice(flags);
        fails_with(&lid(&args), &[needle]);
    }
    // A --max-length beyond the model's learned positions (RoBERTa fixture: 128), and zero.
    let mut args = embed_args(&model, &corpus, &out);
    args[8] = "4096";
    fails_with(&lid(&args), &["--max-length 4096", "positions"]);
    args[8] = "0";
    fails_with(&lid(&args), &["--max-length 0"]);
}

#[test]
fn matrix_bad_flags_study() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("g");
    fails_with(
        &experiments(&[
            "grokking",
            "--preset",
            "quick",
            "--fractions",
            "1.5",
            "--out",
            p(&out),
        ]),
        &["--fractions"],
    );
    fails_with(
        &experiments(&["grokking", "--preset", "quick", "--resume"]),
        &["--resume", "--out"],
    );
    assert!(!out.exists(), "no run folder for refused settings");
    fails_with(
        &experiments(&[
            "validate",
            "--neighbors",
            "0",
            "--out",
            p(&dir.path().join("v")),
        ]),
        &["--neighbors"],
    );
}

#[test]
fn matrix_output_not_empty_study() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keep.txt"), "mine").unwrap();
    fails_with(
        &experiments(&["grokking", "--preset", "quick", "--out", p(dir.path())]),
        &["not empty"],
    );
    fails_with(
        &experiments(&["validate", "--out", p(dir.path())]),
        &["not empty"],
    );
    assert_eq!(files_in(dir.path()), vec!["keep.txt".to_string()]);
}

#[test]
fn matrix_unwritable_output_study() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("no/such/run");
    fails_with(
        &experiments(&["grokking", "--preset", "quick", "--out", p(&out)]),
        &["no/such"],
    );
    fails_with(&experiments(&["validate", "--out", p(&out)]), &["no/such"]);
}

// ---- Killed runs (estimate, and reading an interrupted embed folder) ---------------------------

/// A killed `lid estimate` leaves no output under a final name (outputs are written under
/// temporary names and renamed at the very end).
#[test]
fn matrix_killed_run_estimate() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("big.npy");
    save(&input, &ball(30_000, 8, 64, 11));
    let (r, pw) = (dir.path().join("r.json"), dir.path().join("pw.npy"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_lid"))
        .args([
            "estimate",
            p(&input),
            "--json",
            p(&r),
            "--pointwise-out",
            p(&pw),
        ])
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let finished = child.try_wait().unwrap().is_some();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !finished,
        "the run finished within 300 ms; make the input larger"
    );
    assert!(!r.exists() && !pw.exists(), "{:?}", files_in(dir.path()));
}

/// `lid estimate` refuses a `lid embed` folder whose extraction was killed.
#[test]
fn matrix_killed_run_embed_folder_estimate() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("emb");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join(lid_embed::output::PARTIAL_MARKER), "").unwrap();
    fails_with(&lid(&["estimate", p(&folder)]), &["incomplete", "PARTIAL"]);
}

/// Two writers on one `lid embed` output folder: while another process holds the folder's lock
/// (here this test process), `lid embed --out` into it is refused naming `--out`, and nothing is
/// written there; once the lock is released the same command runs.
#[cfg(unix)]
#[test]
fn matrix_two_writers_embed() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus(dir.path(), 5);
    let folder = dir.path().join("emb");
    std::fs::create_dir(&folder).unwrap();
    let model = fixture("tiny_roberta");
    let lock = lid_embed::output::lock::lock_folder(&folder)
        .unwrap()
        .expect("the folder is free");
    fails_with(
        &lid(&embed_args(&model, &corpus, &folder)),
        &["--out", "another process is writing into this folder"],
    );
    assert!(files_in(&folder).is_empty(), "{:?}", files_in(&folder));
    drop(lock);
    let out = lid(&embed_args(&model, &corpus, &folder));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(folder.join(lid_embed::output::MANIFEST_FILE).is_file());
}

// ---- Study commands with data and models: finetune-shift, dst, emowoz ---------------------------
//
// Every refusal comes before any training; a failure after the run folder exists leaves it without
// `COMPLETE` (readers and `--resume` see an interrupted run, never a finished one).

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The tiny probe and data flags of a trained-series study on the tiny RoBERTa fixture.
fn series_args<'a>(study: &'a str, model: &'a Path, out: &'a Path) -> Vec<&'a str> {
    let mut args = vec![
        study,
        "--preset",
        "quick",
        "--model",
        p(model),
        "--seeds",
        "1",
    ];
    if study == "dst" {
        args.extend(["--dialogues", "20", "--epochs", "1"]);
    } else {
        args.extend(["--epochs", "1"]);
    }
    args.extend([
        "--probe-sequences",
        "20",
        "--n-points",
        "500",
        "--neighbors",
        "8",
        "--out",
        p(out),
    ]);
    args
}

/// `lid-experiments <study>` with [`series_args`] followed by `extra`.
fn run_series(study: &str, model: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = series_args(study, model, out);
    args.extend_from_slice(extra);
    experiments(&args)
}

/// The refusals dst and emowoz share, with nothing written to `out`: the paper preset without its
/// real data (the error names `data_flag`), and `--resume` without `--out`.
fn refuses_paper_without_data_and_bare_resume(
    study: &str,
    model: &Path,
    out: &Path,
    data_flag: &str,
) {
    fails_with(
        &experiments(&[
            study,
            "--preset",
            "paper",
            "--model",
            p(model),
            "--out",
            p(out),
        ]),
        &[data_flag],
    );
    fails_with(
        &experiments(&[study, "--preset", "quick", "--resume"]),
        &["--resume", "--out"],
    );
}

/// A copy of a lid-data fixture folder (`multiwoz21`, `unified`, `emowoz`), to break a file of it.
fn data_copy(name: &str, dir: &Path) -> PathBuf {
    let src = repo().join("lid-data/tests/fixtures").join(name);
    let out = dir.join(name);
    std::fs::create_dir_all(&out).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), out.join(e.file_name())).unwrap();
    }
    out
}

/// Cuts a file to its first half.
fn truncate_half(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    std::fs::write(path, &bytes[..bytes.len() / 2]).unwrap();
}

fn not_complete(out: &Path) {
    assert!(
        !out.join("COMPLETE").exists(),
        "{} looks complete",
        out.display()
    );
}

#[test]
fn matrix_bad_flags_finetune_shift() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("f");
    let run = |extra: &[&str]| {
        let mut args = vec!["finetune-shift", "--preset", "quick", "--out", p(&out)];
        args.extend_from_slice(extra);
        experiments(&args)
    };
    fails_with(&run(&["--steps", "0"]), &["--steps"]);
    fails_with(&run(&["--corpus", "no-such-corpus"]), &["no-such-corpus"]);
    fails_with(
        &experiments(&["finetune-shift", "--preset", "paper", "--out", p(&out)]),
        &["--model"],
    );
    fails_with(
        &experiments(&["finetune-shift", "--preset", "quick", "--resume"]),
        &["--resume", "--out"],
    );
    fails_with(&run(&["--checkpoint-every", "0"]), &["--checkpoint-every"]);
    assert!(!out.exists(), "no run folder for refused settings");
}

/// The same file as the fine-tuning corpus and an off-domain corpus (also through another
/// spelling of its path), or twice among the off-domain ones: refused naming both flags and the
/// canonical path, before any work; so are two files of the same name (their outputs would
/// overwrite each other).
#[test]
fn matrix_bad_flags_finetune_shift_same_corpus() {
    let dir = tempfile::tempdir().unwrap();
    let c = corpus(dir.path(), 40);
    let canonical = std::fs::canonicalize(&c).unwrap();
    let other = dir.path().join("other.txt");
    std::fs::write(&other, "the train leaves at noon\n").unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let same_name = dir.path().join("sub/corpus.txt");
    std::fs::write(&same_name, "a taxi to the station\n").unwrap();
    let detour = dir.path().join("sub/../corpus.txt");
    let out = dir.path().join("f");
    let run = |corpus: &Path, others: &str| {
        experiments(&[
            "finetune-shift",
            "--preset",
            "quick",
            "--model",
            p(&fixture("tiny_gpt2")),
            "--corpus",
            p(corpus),
            "--other-corpus",
            others,
            "--out",
            p(&out),
        ])
    };
    let err = fails_with(
        &run(&c, p(&c)),
        &["--corpus", "--other-corpus", "same corpus"],
    );
    assert!(err.contains(p(&canonical)), "{err}");
    fails_with(
        &run(&c, p(&detour)),
        &["--corpus", "--other-corpus", p(&canonical)],
    );
    fails_with(
        &run(&c, &format!("{},{}", p(&other), p(&other))),
        &["--other-corpus", "same corpus"],
    );
    fails_with(
        &run(&c, p(&same_name)),
        &["--other-corpus", "--corpus", "name corpus"],
    );
    assert!(!out.exists(), "no run folder for refused settings");
}

#[test]
fn matrix_bad_flags_dst() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("d");
    let model = fixture("tiny_roberta");
    let run = |extra: &[&str]| run_series("dst", &model, &out, extra);
    fails_with(&run(&["--checkpoint-every", "0"]), &["--checkpoint-every"]);
    fails_with(&run(&["--epochs", "0"]), &["--epochs"]);
    fails_with(&run(&["--neighbors", "2"]), &["--neighbors"]);
    fails_with(&run(&["--n-points", "8"]), &["--n-points"]);
    fails_with(&run(&["--probe-sequences", "0"]), &["--probe-sequences"]);
    fails_with(
        &run(&["--multiwoz21", "a", "--unified", "b"]),
        &["--multiwoz21", "--unified"],
    );
    fails_with(
        &experiments(&["dst", "--preset", "paper", "--out", p(&out)]),
        &["--model"],
    );
    refuses_paper_without_data_and_bare_resume("dst", &model, &out, "--multiwoz21");
    assert!(!out.exists(), "no run folder for refused settings");
}

#[test]
fn matrix_bad_flags_emowoz() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e");
    let model = fixture("tiny_roberta");
    let run = |extra: &[&str]| run_series("emowoz", &model, &out, extra);
    fails_with(&run(&["--epochs", "0"]), &["--epochs"]);
    fails_with(&run(&["--neighbors", "2"]), &["--neighbors"]);
    fails_with(&run(&["--seeds", ""]), &["--seeds"]);
    refuses_paper_without_data_and_bare_resume("emowoz", &model, &out, "--emowoz");
    assert!(!out.exists(), "no run folder for refused settings");
}

#[test]
fn matrix_output_not_empty_trained_studies() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keep.txt"), "mine").unwrap();
    let model = fixture("tiny_roberta");
    for study in ["dst", "emowoz"] {
        fails_with(
            &experiments(&series_args(study, &model, dir.path())),
            &["not empty"],
        );
    }
    fails_with(
        &experiments(&[
            "finetune-shift",
            "--preset",
            "quick",
            "--out",
            p(dir.path()),
        ]),
        &["not empty"],
    );
    assert_eq!(files_in(dir.path()), vec!["keep.txt".to_string()]);
}

#[test]
fn matrix_unwritable_output_trained_studies() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("no/such/run");
    let model = fixture("tiny_roberta");
    for study in ["dst", "emowoz"] {
        fails_with(
            &experiments(&series_args(study, &model, &out)),
            &["no/such"],
        );
        // A file where the folder should be.
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        fails_with(&experiments(&series_args(study, &model, &file)), &["file"]);
    }
    fails_with(
        &experiments(&["finetune-shift", "--preset", "quick", "--out", p(&out)]),
        &["no/such"],
    );
}

/// A model folder that does not exist, and one without its weights: the error names the path and
/// the folder is left without `COMPLETE`. (The data are lid-data's fixtures, read before the model.)
#[test]
fn matrix_missing_model_trained_studies() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-model");
    let data = repo().join("lid-data/tests/fixtures");
    let (mw, ew) = (data.join("multiwoz21"), data.join("emowoz"));
    for (study, flag, data) in [("dst", "--multiwoz21", &mw), ("emowoz", "--emowoz", &ew)] {
        let broken = model_copy("tiny_roberta", &dir.path().join(study));
        std::fs::remove_file(broken.join("model.safetensors")).unwrap();
        for (i, (model, needle)) in [(&missing, "no-such-model"), (&broken, "model.safetensors")]
            .into_iter()
            .enumerate()
        {
            let out = dir.path().join(format!("{study}-{i}"));
            fails_with(&run_series(study, model, &out, &[flag, p(data)]), &[needle]);
            not_complete(&out);
        }
    }
    let c = corpus(dir.path(), 40);
    let other = dir.path().join("other.txt");
    std::fs::write(&other, "the train leaves at noon\n").unwrap();
    let out = dir.path().join("f");
    fails_with(
        &experiments(&[
            "finetune-shift",
            "--preset",
            "quick",
            "--model",
            p(&missing),
            "--corpus",
            p(&c),
            "--other-corpus",
            p(&other),
            "--out",
            p(&out),
        ]),
        &["no-such-model"],
    );
    not_complete(&out);
}

/// `--multiwoz21` / `--unified` folders with a truncated or missing file: the error names the file.
#[test]
fn matrix_corrupt_dialogue_data_dst() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixture("tiny_roberta");
    let case = |flag: &str, data: &Path, needle: &str, i: usize| {
        let out = dir.path().join(format!("d{i}"));
        fails_with(
            &run_series("dst", &model, &out, &[flag, p(data)]),
            &[needle],
        );
        not_complete(&out);
    };
    let m = data_copy("multiwoz21", &dir.path().join("a"));
    truncate_half(&m.join("data.json"));
    case("--multiwoz21", &m, "data.json", 0);
    let m = data_copy("multiwoz21", &dir.path().join("b"));
    std::fs::remove_file(m.join("valListFile.txt")).unwrap();
    case("--multiwoz21", &m, "valListFile.txt", 1);
    case("--multiwoz21", &dir.path().join("nowhere"), "nowhere", 2);
    let u = data_copy("unified", &dir.path().join("c"));
    truncate_half(&u.join("dialogues.json"));
    case("--unified", &u, "dialogues.json", 3);
    let u = data_copy("unified", &dir.path().join("d"));
    truncate_half(&u.join("ontology.json"));
    case("--unified", &u, "ontology.json", 4);
}

/// `--emowoz` folders with a truncated or missing file: the error names the file.
#[test]
fn matrix_corrupt_dialogue_data_emowoz() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixture("tiny_roberta");
    let case = |data: &Path, needle: &str, i: usize| {
        let out = dir.path().join(format!("e{i}"));
        fails_with(
            &run_series("emowoz", &model, &out, &["--emowoz", p(data)]),
            &[needle],
        );
        not_complete(&out);
    };
    let e = data_copy("emowoz", &dir.path().join("a"));
    truncate_half(&e.join("emowoz-multiwoz.json"));
    case(&e, "emowoz-multiwoz.json", 0);
    let e = data_copy("emowoz", &dir.path().join("b"));
    std::fs::remove_file(e.join("data-split.json")).unwrap();
    case(&e, "data-split.json", 1);
    let e = data_copy("emowoz", &dir.path().join("c"));
    truncate_half(&e.join("data-split.json"));
    case(&e, "data-split.json", 2);
    case(&dir.path().join("nowhere"), "nowhere", 3);
}

/// A fine-tuning corpus file with a broken JSONL line: the error names the file and the line.
#[test]
fn matrix_corrupt_corpus_finetune_shift() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"text\": \"a hotel\"}\n{\"text\": \n").unwrap();
    let out = dir.path().join("f");
    fails_with(
        &experiments(&[
            "finetune-shift",
            "--preset",
            "quick",
            "--model",
            p(&fixture("tiny_gpt2")),
            "--corpus",
            p(&bad),
            "--other-corpus",
            p(&corpus(dir.path(), 40)),
            "--out",
            p(&out),
        ]),
        &["bad.jsonl", "line 2"],
    );
    not_complete(&out);
}

/// A `lid-experiments finetune-shift` run killed during training leaves its folder without
/// `COMPLETE` (readers refuse it; `--resume` continues it: `resume_study.rs`,
/// `matrix_killed_run_finetune_shift_resume`).
#[test]
fn matrix_killed_run_finetune_shift() {
    let dir = tempfile::tempdir().unwrap();
    let c = corpus(dir.path(), 400);
    let other = dir.path().join("other.txt");
    let lines: Vec<String> = (0..200)
        .map(|i| format!("train {} leaves at {} from the station", i % 13, i % 24))
        .collect();
    std::fs::write(&other, lines.join("\n")).unwrap();
    let out = dir.path().join("f");
    let mut child = Command::new(env!("CARGO_BIN_EXE_lid-experiments"))
        .args([
            "finetune-shift",
            "--preset",
            "quick",
            "--model",
            p(&fixture("tiny_gpt2")),
            "--max-length",
            "64",
            "--neighbors",
            "8",
            "--n-points",
            "100",
            "--steps",
            "100000",
            "--corpus",
            p(&c),
            "--other-corpus",
            p(&other),
            "--out",
            p(&out),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Training has started once lid-train's output folder exists.
    let started = std::time::Instant::now();
    while !out.join("training").exists() && started.elapsed().as_secs() < 60 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "finetune-shift ended before training"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let finished = child.try_wait().unwrap().is_some();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!finished, "finetune-shift finished 100,000 updates");
    assert!(out.join("training").exists(), "training never started");
    not_complete(&out);
}

// ---- lid compare -----------------------------------------------------------------------------

fn compare_args<'a>(a: &'a Path, b: &'a Path, corpus: &'a Path, out: &'a Path) -> Vec<&'a str> {
    vec![
        "compare",
        "--model",
        p(a),
        "--model",
        p(b),
        "--corpus",
        p(corpus),
        "--sequences",
        "20",
        "--n-points",
        "100",
        "--neighbors",
        "8",
        "--max-length",
        "32",
        "--out",
        p(out),
    ]
}

#[test]
fn matrix_bad_flags_compare() {
    let dir = tempfile::tempdir().unwrap();
    let c = corpus(dir.path(), 40);
    let m = fixture("tiny_roberta");
    let out = dir.path().join("c");
    let run = |extra: &[&str]| {
        let mut args = compare_args(&m, &m, &c, &out);
        args.extend_from_slice(extra);
        lid(&args)
    };
    fails_with(&run(&["--model", p(&m)]), &["--model", "exactly two"]);
    fails_with(&run(&["--sequences", "1"]), &["--sequences"]);
    fails_with(&run(&["--neighbors", "2"]), &["--neighbors"]);
    fails_with(&run(&["--corpus", "no-such-corpus"]), &["no-such-corpus"]);
    // One corpus given twice would give two equal rows of the ranking.
    fails_with(&run(&["--corpus", p(&c)]), &["--corpus", "same corpus"]);
    assert!(!out.exists(), "no run folder for refused flags");
}

/// `--n-points` above the tokens a corpus has is named on stderr, in the report and in
/// `warnings.json` (it used all tokens without a word), as `lid estimate --sample` does.
#[test]
fn matrix_n_points_above_the_tokens_compare_warns() {
    let dir = tempfile::tempdir().unwrap();
    let c = corpus(dir.path(), 40);
    let m = fixture("tiny_roberta");
    let out = dir.path().join("c");
    let mut args = compare_args(&m, &m, &c, &out);
    let n = args.iter().position(|a| *a == "--n-points").unwrap();
    args[n + 1] = "50000";
    let err = succeeds(&lid(&args));
    assert!(err.contains("warning: --n-points 50000"), "{err}");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("warning: --n-points 50000"), "{report}");
    let warnings: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(out.join("warnings.json")).unwrap()).unwrap();
    assert_eq!(warnings.len(), 2, "one per model: {warnings:?}");
}

#[test]
fn matrix_output_not_empty_compare() {
    let dir = tempfile::tempdir().unwrap();
    let c = corpus(dir.path(), 40);
    let m = fixture("tiny_roberta");
    let out = dir.path().join("c");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "mine").unwrap();
    fails_with(
        &lid(&compare_args(&m, &m, &c, &out)),
        &["--out", "not empty"],
    );
    assert_eq!(files_in(&out), vec!["keep.txt".to_string()]);
}

#[test]
fn matrix_unwritable_output_compare() {
    let dir = tempfile::tempdir().unwrap();
    let c = corpus(dir.path(), 40);
    let m = fixture("tiny_roberta");
    fails_with(
        &lid(&compare_args(&m, &m, &c, &dir.path().join("no/such/c"))),
        &["--out", "no/such"],
    );
    fails_with(&lid(&compare_args(&m, &m, &c, &c)), &["--out"]);
}

/// Models that do not exist, a model folder without weights, the output folder of a (killed)
/// `lid embed` given as a model: the error names the path; no run folder looks complete.
#[test]
fn matrix_missing_model_compare() {
    let dir = tempfile::tempdir().unwrap();
    let c = corpus(dir.path(), 40);
    let m = fixture("tiny_roberta");
    let out = dir.path().join("c");
    let missing = dir.path().join("no-such-model");
    fails_with(
        &lid(&compare_args(&m, &missing, &c, &out)),
        &["no-such-model"],
    );
    not_complete(&out);
    let broken = model_copy("tiny_roberta", dir.path());
    std::fs::remove_file(broken.join("model.safetensors")).unwrap();
    let out = dir.path().join("c2");
    fails_with(
        &lid(&compare_args(&m, &broken, &c, &out)),
        &["model.safetensors"],
    );
    not_complete(&out);
    // An embedding folder left by a killed `lid embed` (PARTIAL marker, no manifest).
    let emb = dir.path().join("emb");
    std::fs::create_dir(&emb).unwrap();
    std::fs::write(emb.join("PARTIAL"), "").unwrap();
    std::fs::write(emb.join("progress.json"), "{}").unwrap();
    let out = dir.path().join("c3");
    fails_with(&lid(&compare_args(&m, &emb, &c, &out)), &["emb"]);
    not_complete(&out);
}

/// Two models with different tokenizers (a RoBERTa and a GPT-2 with equal vocabulary sizes) used
/// to be compared on the base model's token ids without a word; refused, naming the token.
#[test]
fn matrix_mismatched_models_compare() {
    let dir = tempfile::tempdir().unwrap();
    let c = corpus(dir.path(), 40);
    let out = dir.path().join("c");
    fails_with(
        &lid(&compare_args(
            &fixture("tiny_roberta"),
            &fixture("tiny_gpt2"),
            &c,
            &out,
        )),
        &["--model", "tiny_gpt2", "tokenizer differs", "tiny_roberta"],
    );
    not_complete(&out);
}

#[test]
fn matrix_corrupt_corpus_compare() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"text\": \"a hotel\"}\n{\"text\": \n").unwrap();
    let m = fixture("tiny_roberta");
    let out = dir.path().join("c");
    fails_with(
        &lid(&compare_args(&m, &m, &bad, &out)),
        &["bad.jsonl", "line 2"],
    );
    not_complete(&out);
}

// ---- lid sweep run | merge --------------------------------------------------------------------

/// The tiny sweep of `scripts/slurm/fixture/` with lid-train's tiny BERT copied as every
/// checkpoint (seeds 1, 2 x steps 10, 20, 30; see `sweep_tiny_model.rs`); returns the spec.
fn sweep_fixture(dir: &Path) -> PathBuf {
    common::copy_sweep_inputs(dir);
    let model = repo().join("lid-train/tests/fixtures/bert_cls/model");
    for seed in [1, 2] {
        for step in [10, 20, 30] {
            let to = dir.join(format!("checkpoints/seed{seed}/checkpoint-{step}"));
            std::fs::create_dir_all(&to).unwrap();
            for f in ["config.json", "model.safetensors"] {
                std::fs::copy(model.join(f), to.join(f)).unwrap();
            }
        }
    }
    dir.join("spec.json")
}

fn sweep_run(spec: &Path, out: &Path) -> Output {
    lid(&["sweep", "run", "--spec", p(spec), "--out", p(out)])
}

#[test]
fn matrix_bad_flags_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let spec = sweep_fixture(dir.path());
    let out = dir.path().join("s");
    let run = |extra: &[&str]| {
        let mut args = vec!["sweep", "run", "--spec", p(&spec), "--out", p(&out)];
        args.extend_from_slice(extra);
        lid(&args)
    };
    fails_with(
        &run(&["--task-index", "0"]),
        &["--task-index", "--task-count"],
    );
    fails_with(
        &run(&["--task-index", "2", "--task-count", "2"]),
        &["--task-index 2"],
    );
    fails_with(&run(&["--threads", "0"]), &["--threads"]);
    fails_with(
        &lid(&["sweep", "run", "--spec", "/no/such.json", "--out", p(&out)]),
        &["--spec /no/such.json"],
    );
    assert!(!out.exists(), "no sweep folder for refused flags");
}

#[test]
fn matrix_output_not_empty_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let spec = sweep_fixture(dir.path());
    // A folder holding other files is not taken for a sweep; `merge` of a folder without a sweep
    // is refused.
    fails_with(&sweep_run(&spec, dir.path()), &["--out", "holds no sweep"]);
    fails_with(
        &lid(&[
            "sweep",
            "merge",
            "--out",
            p(&dir.path().join("checkpoints")),
        ]),
        &["checkpoints", "no sweep was started here"],
    );
    not_complete(&dir.path().join("checkpoints"));
}

#[test]
fn matrix_unwritable_output_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let spec = sweep_fixture(dir.path());
    fails_with(
        &sweep_run(&spec, &dir.path().join("no/such/out")),
        &["--out", "does not exist"],
    );
    fails_with(
        &sweep_run(&spec, &dir.path().join("train.txt")),
        &["--out", "not a folder"],
    );
    fails_with(
        &lid(&[
            "sweep",
            "merge",
            "--out",
            p(&dir.path().join("no/such/out")),
        ]),
        &["--out"],
    );
}

/// A spec that is not JSON, one with an unknown field, one whose checkpoints are missing: the error
/// names the spec file (with line and column, or the field) or the missing path; nothing is
/// written.
#[test]
fn matrix_corrupt_spec_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let spec = sweep_fixture(dir.path());
    let text = std::fs::read_to_string(&spec).unwrap();
    let out = dir.path().join("s");
    std::fs::write(&spec, &text[..text.len() / 2]).unwrap();
    fails_with(&sweep_run(&spec, &out), &["spec.json", "line"]);
    fails_with(
        &lid(&["sweep", "units", "--spec", p(&spec)]),
        &["spec.json"],
    );
    std::fs::write(&spec, text.replace("\"sample\": null", "\"sampel\": null")).unwrap();
    fails_with(&sweep_run(&spec, &out), &["spec.json", "sampel"]);
    assert!(!out.exists(), "nothing written for a bad spec");
    // Checkpoints named by the spec that are not there.
    std::fs::write(&spec, &text).unwrap();
    std::fs::remove_dir_all(dir.path().join("checkpoints/seed2")).unwrap();
    std::fs::remove_dir_all(dir.path().join("checkpoints/seed1/checkpoint-20")).unwrap();
    std::fs::write(
        &spec,
        text.replace(
            "{\"seed_folders\": {\"root\": \"checkpoints\"}}",
            "{\"list\": [{\"seed\": 1, \"step\": 20, \"path\": \"checkpoints/seed1/checkpoint-20\"}]}",
        ),
    )
    .unwrap();
    fails_with(&sweep_run(&spec, &out), &["checkpoint-20"]);
    std::fs::write(
        &spec,
        text.replace("\"root\": \"checkpoints\"", "\"root\": \"no-such-root\""),
    )
    .unwrap();
    fails_with(&sweep_run(&spec, &out), &["no-such-root"]);
    assert!(!out.exists(), "nothing written for missing checkpoints");
}

/// A `metrics.csv` with a step that is not a number, or a row cut short: `lid sweep merge` (which
/// reads the metrics) names the file; the sweep folder is not marked complete.
#[test]
fn matrix_corrupt_metrics_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let spec = sweep_fixture(dir.path());
    let metrics = dir.path().join("checkpoints/seed1/metrics.csv");
    let text = std::fs::read_to_string(&metrics).unwrap();
    let out = dir.path().join("s");
    succeeds(&sweep_run(&spec, &out));
    let merge = || lid(&["sweep", "merge", "--out", p(&out)]);
    std::fs::write(&metrics, text.replacen("\n10,", "\nten,", 1)).unwrap();
    fails_with(&merge(), &["metrics.csv", "ten"]);
    not_complete(&out);
    std::fs::write(&metrics, text.replacen("1.1,0.8", "1.1,abc", 1)).unwrap();
    fails_with(&merge(), &["metrics.csv", "abc"]);
    not_complete(&out);
    let cut: String = text.lines().take(3).collect::<Vec<_>>().join("\n") + "\n10,0.001";
    std::fs::write(&metrics, cut).unwrap();
    fails_with(&merge(), &["metrics.csv"]);
    not_complete(&out);
    std::fs::write(&metrics, &text).unwrap();
    succeeds(&merge());
    assert!(out.join("COMPLETE").is_file());
}

/// The library types a user embeds (run folders, tables, study settings and results, errors) can
/// move across threads, as those of the other crates can.
#[test]
fn public_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<lid_experiments::error::Error>();
    send_sync::<lid_experiments::run::RunFolder>();
    send_sync::<lid_experiments::run::StudySummary>();
    send_sync::<lid_experiments::run::Table>();
    send_sync::<lid_experiments::studies::series::spec::SeriesSpec>();
    send_sync::<lid_experiments::studies::finetune_shift::config::FinetuneSettings>();
    send_sync::<lid_experiments::studies::dst::DstSettings>();
    send_sync::<lid_experiments::studies::grokking::config::StudyConfig>();
    send_sync::<lid_experiments::studies::grokking::StudyResult>();
    send_sync::<lid_experiments::studies::validation::ValidationConfig>();
}
