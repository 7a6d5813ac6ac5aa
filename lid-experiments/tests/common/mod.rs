//! Output comparison shared by the tests that compare two runs byte for byte
//! (`determinism.rs`, `resume_study.rs`): the filters that take wall-clock times out of files
//! whose other content must be identical.

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
