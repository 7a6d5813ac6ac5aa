//! Helpers shared by several test binaries: the filters that take wall-clock times out of files
//! whose other content must be identical (`determinism.rs`, `resume_study.rs`, which compare two
//! runs byte for byte), the word-list corpora that `lid embed` and `finetune-shift` read
//! (`determinism.rs`, `resume_embed.rs`, `finetune_shift.rs`, `resume_study.rs`), and the kill of a
//! child process once it has written what a test waits for (`resume_study.rs`), and the sweep fixture's inputs (`sweep_tiny_model.rs`, `reliability_matrix.rs`).
#![allow(dead_code)] // each test binary compiles this module and uses only some of its helpers

use std::path::{Path, PathBuf};

/// CSV text without the columns whose header is in `names` (lid-train's `metrics.csv` has a
/// `seconds` column: wall time per update).
pub fn without_columns(text: &str, names: &[&str]) -> String {
    let header: Vec<&str> = text.lines().next().unwrap_or("").split(',').collect();
    let dropped: Vec<usize> = (0..header.len())
        .filter(|&i| names.contains(&header[i]))
        .collect();
    text.lines()
        .map(|line| {
            line.split(',')
                .enumerate()
                .filter(|(i, _)| !dropped.contains(i))
                .map(|(_, c)| c)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Markdown text without `<number> s` durations ("Wall clock 9 s."); every other word stays.
pub fn without_durations(text: &str) -> String {
    let words: Vec<&str> = text.split(' ').collect();
    words
        .iter()
        .enumerate()
        .filter(|(i, w)| {
            let unit = words
                .get(i + 1)
                .is_some_and(|n| *n == "s" || n.starts_with("s."));
            !(unit && w.parse::<f64>().is_ok())
        })
        .map(|(_, w)| *w)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Writes `dir/corpus.txt`: `n` lines of restaurant-and-taxi words, line `i` holding
/// `4 + (7 i mod spread)` of them (so at most `spread + 3` words), and returns its path.
pub fn word_corpus(dir: &Path, n: usize, spread: usize) -> PathBuf {
    let words = [
        "i",
        "need",
        "a",
        "cheap",
        "restaurant",
        "in",
        "the",
        "centre",
        "and",
        "a",
        "taxi",
        "to",
        "the",
        "station",
        "please",
        "book",
        "it",
        "for",
        "two",
        "people",
    ];
    let lines: Vec<String> = (0..n)
        .map(|i| {
            (0..4 + (i * 7) % spread)
                .map(|j| words[(i * 3 + j * 5) % words.len()])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let path = dir.join("corpus.txt");
    std::fs::write(&path, lines.join("\n")).unwrap();
    path
}

/// Writes `dir/<name>.txt`: `n` lines drawn from the space-separated `words`, line `i` holding
/// `4 + i mod 5` of them (deterministic), and returns its path.
pub fn lines_corpus(dir: &Path, name: &str, words: &str, n: usize) -> PathBuf {
    let words: Vec<&str> = words.split(' ').collect();
    let path = dir.join(format!("{name}.txt"));
    let lines: Vec<String> = (0..n)
        .map(|i| {
            (0..4 + i % 5)
                .map(|j| words[(i * 7 + j * 3) % words.len()])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// Polls (every 2 ms) until `ready` holds, then kills `child` with SIGKILL and reaps it; panics
/// naming `what` when the child ends before.
pub fn kill_when_ready(child: &mut std::process::Child, ready: impl Fn() -> bool, what: &str) {
    loop {
        if ready() {
            child.kill().unwrap(); // SIGKILL
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the child ended before {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.wait().unwrap();
}

/// Copies the sweep fixture of `scripts/slurm/fixture/` (spec, tokenizer, data, the two seeds'
/// `metrics.csv`) into `dir`, without checkpoints (`sweep_tiny_model.rs` and
/// `reliability_matrix.rs` write their own).
pub fn copy_sweep_inputs(dir: &Path) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/slurm/fixture");
    for name in [
        "spec.json",
        "tokenizer.json",
        "train.txt",
        "validation.txt",
        "checkpoints/seed1/metrics.csv",
        "checkpoints/seed2/metrics.csv",
    ] {
        let to = dir.join(name);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(src.join(name), &to).unwrap();
    }
}
