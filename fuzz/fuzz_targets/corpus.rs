//! The corpus readers of `lid embed --corpus` (plain text, JSONL, CSV: `lid_embed::corpus`) on
//! arbitrary bytes, the format chosen by the first byte: a list of non-empty texts or an error
//! naming the file (and the line or record), never a panic; then the sequence selection
//! (`--first`, `--sample`) on the result with fuzzed sizes: ids in range, sorted, distinct, or an
//! error.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use lid_embed::{read_corpus_from, CorpusFormat, Selection};

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let (format, name) = match which % 4 {
        0 => (CorpusFormat::Lines, "fuzz.txt"),
        1 => (CorpusFormat::Jsonl { field: "text".into() }, "fuzz.jsonl"),
        2 => (CorpusFormat::Csv { column: "text".into() }, "fuzz.csv"),
        _ => (CorpusFormat::Jsonl { field: String::new() }, "fuzz.jsonl"),
    };
    match read_corpus_from(rest, &format, Path::new(name)) {
        Ok(texts) => {
            assert!(!texts.is_empty());
            assert!(texts.iter().all(|t| !t.trim().is_empty()));
            let m = rest.first().map_or(1, |&b| b as usize);
            for selection in [
                Selection::All,
                Selection::First(m),
                Selection::Sample { m, seed: 778 },
            ] {
                if let Ok(ids) = selection.choose(texts.len()) {
                    assert!(ids.windows(2).all(|w| w[0] < w[1]));
                    assert!(ids.iter().all(|&i| i < texts.len()));
                }
            }
        }
        Err(e) => assert!(e.to_string().contains(name), "{e}"),
    }
});
