//! End-to-end tests of the `lid estimate` and `lid knn` binaries.
//!
//! Golden values: `lid-core/tests/fixtures/golden/` (made by `tools/golden/run.sh`), scikit-dimension
//! 0.3.4 `TwoNN().fit_pw(X, precomputed_knn=knn[:, :L])` with the default `discard_fraction = 0.1`,
//! i.e. the paper's path. Tolerance, relative per point: 1e-12 for the D = 16 ball (direct distances on
//! both sides), 1e-8 for the D = 256 union cloud (scikit-learn's dot-product distances on the peer
//! side; helper A measured 1.2e-9).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

use std::path::{Path, PathBuf};
use std::process::Command;

use ndarray::{Array1, Array2};
use ndarray_npy::{ReadNpyExt, WriteNpyExt};

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../lid-core/tests/fixtures/golden")
        .join(name)
}

fn lid(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lid"))
        .args(args)
        .output()
        .expect("the lid binary runs")
}

fn read_f64(path: &Path) -> Array1<f64> {
    Array1::<f64>::read_npy(std::fs::File::open(path).unwrap()).unwrap()
}

fn assert_matches_golden(cloud: &str, expected: &str, neighbors: &str, rel_tol: f64) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pw.npy");
    let json = dir.path().join("report.json");
    let run = lid(&[
        "estimate",
        golden(cloud).to_str().unwrap(),
        "--neighbors",
        neighbors,
        "--cdf",
        "paper",
        "--global",
        "--pointwise-out",
        out.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let ours = read_f64(&out);
    let theirs = read_f64(&golden(expected));
    assert_eq!(ours.len(), theirs.len());
    let worst = ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| ((a - b) / b).abs())
        .fold(0f64, f64::max);
    assert!(
        worst <= rel_tol,
        "{cloud}: max relative difference {worst:e} > {rel_tol:e}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let mean = report["pointwise"]["summary"]["mean"].as_f64().unwrap();
    let expected_mean = theirs.mean().unwrap();
    assert!(
        (mean - expected_mean).abs() <= 1e-9 * expected_mean.abs(),
        "{mean} vs {expected_mean}"
    );
    assert_eq!(report["preparation"]["n_duplicates_removed"], 0);
    assert!(report["global"]["dimension"].as_f64().unwrap().is_finite());
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains("pointwise  mean") && stdout.contains("global"),
        "{stdout}"
    );
}

#[test]
fn reproduces_skdim_034_on_the_ball_cloud() {
    assert_matches_golden(
        "ball_cloud.npy",
        "ball_twonn_pw_L128_skdim034.npy",
        "128",
        1e-12,
    );
    assert_matches_golden(
        "ball_cloud.npy",
        "ball_twonn_pw_L64_skdim034.npy",
        "64",
        1e-12,
    );
}

#[test]
fn reproduces_skdim_034_on_the_union_cloud() {
    assert_matches_golden(
        "union_cloud.npy",
        "union_twonn_pw_L128_skdim034.npy",
        "128",
        1e-8,
    );
}

#[test]
fn duplicates_are_removed_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("dups.npy");
    let mut cloud = Array2::<f32>::zeros((60, 3));
    for i in 0..60 {
        let base = (i % 50) as f32; // rows 50..60 repeat rows 0..10
        cloud[[i, 0]] = base.sin() * 3.0;
        cloud[[i, 1]] = (base * 0.7).cos() * 2.0;
        cloud[[i, 2]] = base * 0.1;
    }
    cloud
        .write_npy(std::fs::File::create(&input).unwrap())
        .unwrap();
    let kept = dir.path().join("kept.npy");
    let json = dir.path().join("r.json");
    let run = lid(&[
        "estimate",
        input.to_str().unwrap(),
        "--neighbors",
        "10",
        "--kept-out",
        kept.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let kept = Array1::<i64>::read_npy(std::fs::File::open(&kept).unwrap()).unwrap();
    assert_eq!(kept.to_vec(), (0..50).collect::<Vec<i64>>());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["preparation"]["n_duplicates_removed"], 10);
    // Without dedup TwoNN refuses the zero distances with a message that says what to do.
    let run = lid(&[
        "estimate",
        input.to_str().unwrap(),
        "--neighbors",
        "10",
        "--no-dedup",
    ]);
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("duplicate"));
}

#[test]
fn bad_input_gives_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.npy");
    let run = lid(&["estimate", missing.to_str().unwrap()]);
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("missing.npy"));

    let garbage = dir.path().join("garbage.bin");
    std::fs::write(&garbage, b"this is not an array").unwrap();
    let run = lid(&["estimate", garbage.to_str().unwrap()]);
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("garbage.bin"));

    let one_d = dir.path().join("one_d.npy");
    Array1::<f32>::zeros(5)
        .write_npy(std::fs::File::create(&one_d).unwrap())
        .unwrap();
    let run = lid(&["estimate", one_d.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&run.stderr).to_string();
    assert!(!run.status.success() && err.contains("dimensions"), "{err}");

    // L = 128 on the 600-point ball is fine; L = 600 is not.
    let run = lid(&[
        "estimate",
        golden("ball_cloud.npy").to_str().unwrap(),
        "--neighbors",
        "600",
    ]);
    let err = String::from_utf8_lossy(&run.stderr).to_string();
    assert!(
        !run.status.success() && err.contains("--neighbors 600"),
        "{err}"
    );

    let run = lid(&[
        "estimate",
        golden("ball_cloud.npy").to_str().unwrap(),
        "--estimator",
        "nope",
    ]);
    assert!(!run.status.success());

    // The CUDA backend in a build without the `cuda` feature (CI) names the missing feature.
    if !cfg!(feature = "cuda") {
        let run = lid(&[
            "estimate",
            golden("ball_cloud.npy").to_str().unwrap(),
            "--knn",
            "exact-cuda",
        ]);
        let err = String::from_utf8_lossy(&run.stderr).to_string();
        assert!(
            !run.status.success() && err.contains("`cuda` feature"),
            "{err}"
        );
    }
}

#[test]
fn every_estimator_and_backend_runs() {
    let ball = golden("ball_cloud.npy");
    let ball = ball.to_str().unwrap();
    for estimator in ["twonn", "twonn-mle", "mle", "lpca", "gride"] {
        let run = lid(&[
            "estimate",
            ball,
            "--neighbors",
            "32",
            "--estimator",
            estimator,
            "--cdf",
            "corrected",
        ]);
        assert!(
            run.status.success(),
            "{estimator}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();
    for (knn, threads) in [("exact", "1"), ("exact", "2"), ("kdtree", "2")] {
        let out = dir.path().join(format!("{knn}_{threads}.npy"));
        let run = lid(&[
            "estimate",
            ball,
            "--neighbors",
            "32",
            "--knn",
            knn,
            "--threads",
            threads,
            "--pointwise-out",
            out.to_str().unwrap(),
        ]);
        assert!(
            run.status.success(),
            "{knn}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        outputs.push(std::fs::read(&out).unwrap());
    }
    assert_eq!(outputs[0], outputs[1], "thread count changed the estimates");
    assert_eq!(outputs[0], outputs[2], "kdtree and brute force differ");
    let run = lid(&["estimate", ball, "--neighbors", "32", "--knn", "hnsw"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

#[test]
fn knn_command_writes_the_graph() {
    let dir = tempfile::tempdir().unwrap();
    let idx = dir.path().join("idx.npy");
    let dist = dir.path().join("dist.npy");
    let run = lid(&[
        "knn",
        golden("ball_cloud.npy").to_str().unwrap(),
        "-k",
        "128",
        "--indices-out",
        idx.to_str().unwrap(),
        "--distances-out",
        dist.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let ours = Array2::<i64>::read_npy(std::fs::File::open(&idx).unwrap()).unwrap();
    let theirs =
        Array2::<i32>::read_npy(std::fs::File::open(golden("ball_knn128.npy")).unwrap()).unwrap();
    assert_eq!(ours, theirs.mapv(|x| x as i64));
    let d = Array2::<f64>::read_npy(std::fs::File::open(&dist).unwrap()).unwrap();
    assert_eq!(d.dim(), (600, 128));
}

/// Issue 22, item 4: a closed standard output (`lid estimate cloud.npy | head -1`, the reader gone
/// before the summary is printed) ends the command quietly with status 0 instead of the panic
/// "failed printing to stdout: Broken pipe" (exit 101); the files it was asked for are complete.
#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_lid"))
        .args([
            "estimate",
            golden("ball_cloud.npy").to_str().unwrap(),
            "--neighbors",
            "20",
            "--json",
            json.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the read end of the pipe before the command writes its first line.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(report["pointwise"]["summary"]["mean"].as_f64().is_some());
}
