//! `lid embed` into a folder, killed (SIGKILL) after its first checkpoint, then `lid embed --resume`
//! with the same flags: the resumed run skips the batches the killed one finished and leaves the
//! same bytes as an uninterrupted run (every shard and `tokens.jsonl`; `manifest.json` equal up to
//! its timing and resumed-batch fields). Matrix row "killed runs" x `lid embed` of
//! docs/reliability.md.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn embed(model: &Path, corpus: &Path, out: &Path, resume: bool) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lid"));
    c.args([
        "embed",
        "--model",
        p(model),
        "--corpus",
        p(corpus),
        "--layers",
        "-1,2",
        "--batch-size",
        "1",
        "--shard-rows",
        "5000",
        "--max-length",
        "64",
        "--out",
        p(out),
        "--quiet",
    ])
    .env("RUST_BACKTRACE", "0");
    if resume {
        c.arg("--resume");
    }
    c
}

/// Every file of a folder (relative name -> bytes), temporary files included.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().display().to_string();
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn batches_done(out: &Path) -> usize {
    std::fs::read_to_string(out.join("progress.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["batches_done"].as_u64())
        .unwrap_or(0) as usize
}

#[test]
fn matrix_killed_run_embed() {
    let dir = tempfile::tempdir().unwrap();
    let model =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../lid-embed/tests/fixtures/tiny_roberta");
    let corpus = common::word_corpus(dir.path(), 3000, 41);

    // The reference: one uninterrupted run.
    let full = dir.path().join("full");
    let o = embed(&model, &corpus, &full, false).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // Killed after its second checkpoint (more than one batch done, more to do).
    let cut = dir.path().join("cut");
    let mut child = embed(&model, &corpus, &cut, false)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while batches_done(&cut) < 2 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the extraction finished before the test could kill it; enlarge the corpus"
        );
        assert!(start.elapsed() < Duration::from_secs(120), "no checkpoint");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let done = batches_done(&cut);
    assert!(cut.join("PARTIAL").is_file(), "killed before the end");
    assert!(!cut.join("manifest.json").exists());

    // Readers refuse the interrupted folder; a plain rerun is told to resume.
    let o = Command::new(env!("CARGO_BIN_EXE_lid"))
        .args(["estimate", p(&cut)])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("PARTIAL"));
    let o = embed(&model, &corpus, &cut, false).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("--resume"), "{err}");
    // Resuming with other flags is refused by the fingerprint.
    let o = embed(&model, &corpus, &cut, true)
        .args(["--seed", "1", "--sample", "2999"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("other settings"),
        "{err}"
    );

    // The resume: skips the finished batches, ends with the same bytes.
    let o = embed(&model, &corpus, &cut, true).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let skipped: usize = err
        .split("resumed ")
        .nth(1)
        .and_then(|s| s.split(": ").nth(1))
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no resume line in: {err}"));
    assert!(
        skipped >= done && skipped >= 2,
        "skipped {skipped}, checkpoint had {done}"
    );
    let (a, b) = (tree(&full), tree(&cut));
    let names = |t: &[(String, Vec<u8>)]| t.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&a), names(&b), "same files, no temporary file left");
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        if name == "manifest.json" {
            let strip = |bytes: &[u8]| {
                let mut v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
                let s = v["summary"].as_object_mut().unwrap();
                s.remove("forward_seconds");
                s.remove("batches_resumed");
                v
            };
            assert_eq!(strip(x), strip(y), "manifest.json");
        } else {
            assert!(
                x == y,
                "{name} differs between the resumed and the uninterrupted run"
            );
        }
    }
    // A finished folder has nothing to resume.
    let o = embed(&model, &corpus, &cut, true).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("nothing to resume"),
        "{err}"
    );
}
