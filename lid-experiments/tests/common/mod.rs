//! Helpers shared by several test binaries: the filters that take wall-clock times out of files
//! whose other content must be identical (`determinism.rs`, `resume_study.rs`, which compare two
//! runs byte for byte), and the word-list corpus that `lid embed` reads (`determinism.rs`,
//! `resume_embed.rs`).
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
