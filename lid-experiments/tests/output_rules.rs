//! The output rules of issue 9, one test each, on the real binaries:
//! 1. a command killed or failing mid-way leaves nothing that looks complete (no final `.npy`, no
//!    manifest, no completeness marker; `lid estimate` refuses the partial folder);
//! 2. an output that is an input is refused before any work (the input is unchanged);
//! 3. an output in a missing folder is refused before any work (before errors the work would hit);
//! 4. a `--max-length` beyond the model's positions is refused when the model is loaded, and a
//!    rotary model only warns.
//!
//! Fixtures: the committed tiny models of lid-embed and the golden ball cloud of lid-core.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn lid() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lid"))
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("the binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn model(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../lid-embed/tests/fixtures")
        .join(name)
}

fn ball() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../lid-core/tests/fixtures/golden/ball_cloud.npy")
}

/// Every file under `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// A corpus of `n` short distinct lines.
fn corpus(dir: &Path, n: usize) -> PathBuf {
    let words = [
        "book", "a", "taxi", "to", "the", "hotel", "cheap", "north", "train", "station",
    ];
    let text: Vec<String> = (0..n)
        .map(|i| {
            (0..6)
                .map(|j| words[(i * 7 + j * 3 + i / 10) % words.len()])
                .collect::<Vec<_>>()
                .join(" ")
                + &format!(" {i}")
        })
        .collect();
    let path = dir.join("corpus.txt");
    std::fs::write(&path, text.join("\n")).unwrap();
    path
}

/// Starts `cmd`, waits until `ready` holds (polling), kills the process, and returns whether it was
/// still running when killed.
fn kill_when(mut cmd: Command, ready: impl Fn() -> bool) -> bool {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !ready() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the command ended ({status}) before it could be interrupted");
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "never got ready"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let running = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    child.wait().unwrap();
    running
}

fn has_partial_file(dir: &Path) -> bool {
    files(dir).iter().any(|f| f.ends_with(".partial"))
}

// Rule 1 ---------------------------------------------------------------------------------------

#[test]
fn killed_embed_leaves_a_folder_that_cannot_be_mistaken_for_a_result() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus(dir.path(), 20_000);
    let out = dir.path().join("emb");
    let mut cmd = lid();
    cmd.args(["embed", "--model"])
        .arg(model("tiny_roberta"))
        .arg("--corpus")
        .arg(&corpus)
        .args([
            "--max-length",
            "128",
            "--batch-size",
            "1",
            "--quiet",
            "--out",
        ])
        .arg(&out);
    // Killed while the shards are being written (their temporary files exist).
    let layer = out.join("layer_3");
    assert!(kill_when(cmd, || layer.is_dir() && has_partial_file(&layer)));
    let left = files(&out);
    assert!(!left.iter().any(|f| f.ends_with(".npy")), "{left:?}");
    assert!(!left.contains(&"manifest.json".to_string()), "{left:?}");
    assert!(left.contains(&"PARTIAL".to_string()), "{left:?}");
    let o = run(lid().arg("estimate").arg(&out));
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("incomplete") && err.contains("PARTIAL"),
        "{err}"
    );
}

#[test]
fn killed_embed_to_a_single_file_leaves_no_npy() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus(dir.path(), 20_000);
    let out = dir.path().join("vectors.npy");
    let tokens = dir.path().join("tokens.jsonl");
    let mut cmd = lid();
    cmd.args(["embed", "--model"])
        .arg(model("tiny_gpt2"))
        .arg("--corpus")
        .arg(&corpus)
        .args([
            "--max-length",
            "128",
            "--batch-size",
            "1",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .arg("--tokens-out")
        .arg(&tokens);
    let d = dir.path().to_path_buf();
    assert!(kill_when(cmd, || files(&d)
        .iter()
        .any(|f| f.starts_with(".vectors.npy."))));
    let left = files(dir.path());
    assert!(!out.exists() && !tokens.exists(), "{left:?}");
    assert!(
        !left
            .iter()
            .any(|f| f.ends_with(".npy") || f.ends_with(".jsonl")),
        "{left:?}"
    );
}

#[test]
fn estimate_failing_after_the_search_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // Rows 50..60 repeat rows 0..10: without dedup TwoNN refuses them after the kNN search.
    let input = dir.path().join("dups.npy");
    let mut cloud = ndarray::Array2::<f32>::zeros((60, 3));
    for i in 0..60 {
        let b = (i % 50) as f32;
        cloud[[i, 0]] = b.sin() * 3.0;
        cloud[[i, 1]] = (b * 0.7).cos() * 2.0;
        cloud[[i, 2]] = b * 0.1;
    }
    ndarray_npy::WriteNpyExt::write_npy(&cloud, std::fs::File::create(&input).unwrap()).unwrap();
    let o = run(lid()
        .arg("estimate")
        .arg(&input)
        .args(["--neighbors", "10", "--no-dedup", "--pointwise-out"])
        .arg(dir.path().join("pw.npy"))
        .arg("--kept-out")
        .arg(dir.path().join("kept.npy"))
        .arg("--json")
        .arg(dir.path().join("r.json")));
    assert!(
        !o.status.success() && stderr(&o).contains("duplicate"),
        "{}",
        stderr(&o)
    );
    assert_eq!(files(dir.path()), vec!["dups.npy".to_string()]);
}

#[test]
fn killed_study_has_no_completeness_marker() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("val");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lid-experiments"));
    cmd.args(["validate", "--sizes", "6000", "--neighbors", "32", "--out"])
        .arg(&out);
    let config = out.join("config.json");
    assert!(kill_when(cmd, || config.is_file()));
    assert!(!out.join("COMPLETE").exists());
    let err = lid_experiments::run::folder::require_complete(&out)
        .unwrap_err()
        .to_string();
    assert!(err.contains("incomplete"), "{err}");
    assert!(lid_experiments::run::folder::read_summary(&out).is_err());
}

// Rule 2 ---------------------------------------------------------------------------------------

#[test]
fn an_output_that_is_an_input_is_refused_before_work() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("cloud.npy");
    std::fs::copy(ball(), &input).unwrap();
    let before = std::fs::read(&input).unwrap();
    for flag in ["--pointwise-out", "--kept-out", "--json"] {
        let o = run(lid().arg("estimate").arg(&input).arg(flag).arg(&input));
        let err = stderr(&o);
        assert!(
            !o.status.success() && err.contains(flag) && err.contains("is the input"),
            "{err}"
        );
        assert!(o.stdout.is_empty(), "no estimate was made");
    }
    // Two outputs that are one file.
    let o = run(lid()
        .arg("estimate")
        .arg(&input)
        .arg("--pointwise-out")
        .arg(dir.path().join("a.npy"))
        .arg("--json")
        .arg(dir.path().join("./a.npy")));
    assert!(
        stderr(&o).contains("same file as --pointwise-out"),
        "{}",
        stderr(&o)
    );
    let o = run(lid()
        .arg("knn")
        .arg(&input)
        .args(["-k", "3", "--indices-out"])
        .arg(&input));
    assert!(stderr(&o).contains("--indices-out") && stderr(&o).contains("is the input"));
    // lid embed: the token metadata must not overwrite the corpus.
    let corpus = corpus(dir.path(), 5);
    let corpus_before = std::fs::read(&corpus).unwrap();
    let o = run(lid()
        .args(["embed", "--model"])
        .arg(model("tiny_gpt2"))
        .arg("--corpus")
        .arg(&corpus)
        .arg("--out")
        .arg(dir.path().join("v.npy"))
        .arg("--tokens-out")
        .arg(&corpus));
    assert!(stderr(&o).contains("--tokens-out") && stderr(&o).contains("is the input"));
    assert_eq!(std::fs::read(&input).unwrap(), before);
    assert_eq!(std::fs::read(&corpus).unwrap(), corpus_before);
    assert!(!dir.path().join("v.npy").exists());
}

// Rule 3 ---------------------------------------------------------------------------------------

#[test]
fn a_missing_output_folder_is_refused_before_work() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/folder");
    // The run would fail later (L = 600 needs 601 points); the output is refused first.
    let o = run(lid()
        .arg("estimate")
        .arg(ball())
        .args(["--neighbors", "600", "--json"])
        .arg(missing.join("r.json")));
    let err = stderr(&o);
    assert!(
        err.contains("--json") && err.contains("does not exist"),
        "{err}"
    );
    assert!(!err.contains("--neighbors"), "{err}");
    // lid embed: refused before the device is opened and the model loaded.
    let corpus = corpus(dir.path(), 3);
    let o = run(lid()
        .args(["embed", "--device", "cuda", "--model"])
        .arg(model("tiny_gpt2"))
        .arg("--corpus")
        .arg(&corpus)
        .arg("--out")
        .arg(missing.join("v.npy")));
    let err = stderr(&o);
    assert!(
        err.contains("--out") && err.contains("does not exist"),
        "{err}"
    );
    // A folder output whose parent is missing, and the suite's --out.
    let o = run(lid()
        .args(["embed", "--model"])
        .arg(model("tiny_gpt2"))
        .arg("--corpus")
        .arg(&corpus)
        .arg("--out")
        .arg(&missing));
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));
    let o = run(Command::new(env!("CARGO_BIN_EXE_lid-experiments"))
        .args(["validate", "--out"])
        .arg(&missing));
    assert!(stderr(&o).contains("--out") && stderr(&o).contains("does not exist"));
    assert!(!dir.path().join("no").exists());
}

// Rule 4 ---------------------------------------------------------------------------------------

#[test]
fn max_length_beyond_the_positions_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus(dir.path(), 3);
    // RoBERTa: 130 position embeddings, positions start at pad + 1 = 2: 128 usable.
    for (name, limit) in [("tiny_roberta", "128"), ("tiny_gpt2", "128")] {
        let out = dir.path().join(format!("{name}_out"));
        let o = run(lid()
            .args(["embed", "--model"])
            .arg(model(name))
            .arg("--corpus")
            .arg(&corpus)
            .args(["--max-length", "512", "--out"])
            .arg(&out));
        let err = stderr(&o);
        assert!(
            !o.status.success()
                && err.contains("--max-length")
                && err.contains(&format!("--max-length {limit} or less")),
            "{name}: {err}"
        );
        assert!(!out.exists(), "{name}: nothing written");
    }
    // The limit itself is fine.
    let o = run(lid()
        .args(["embed", "--quiet", "--model"])
        .arg(model("tiny_roberta"))
        .arg("--corpus")
        .arg(&corpus)
        .args(["--max-length", "128", "--out"])
        .arg(dir.path().join("ok.npy")));
    assert!(o.status.success(), "{}", stderr(&o));
    // Llama (rotary positions, trained on 128): a warning, and the run goes on.
    let o = run(lid()
        .args(["embed", "--quiet", "--model"])
        .arg(model("tiny_llama"))
        .arg("--corpus")
        .arg(&corpus)
        .args(["--max-length", "512", "--out"])
        .arg(dir.path().join("llama.npy")));
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("warning") && err.contains("trained"), "{err}");
}
