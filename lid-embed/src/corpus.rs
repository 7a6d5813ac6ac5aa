//! Reading a corpus (plain text, JSONL, CSV) and choosing the sequences to embed.
//!
//! Empty records (empty after trimming whitespace) are skipped; a sequence id is the 0-based index of
//! a sequence among the non-empty records of the file, in file order.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};

/// How a corpus file is laid out.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum CorpusFormat {
    /// One sequence per line.
    Lines,
    /// One JSON object per line; the sequence is the string in `field`.
    Jsonl {
        /// The field holding the text.
        field: String,
    },
    /// A CSV file with a header row; the sequence is the cell in `column`.
    Csv {
        /// The column holding the text.
        column: String,
    },
}

impl CorpusFormat {
    /// Picks the format from the file extension (`.jsonl`/`.ndjson` -> JSONL, `.csv` -> CSV, anything
    /// else -> lines), using `field` (default `text`) as the JSON field or CSV column.
    pub fn infer(path: &Path, field: Option<&str>) -> Self {
        let field = field.unwrap_or("text").to_string();
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .as_deref()
        {
            Some("jsonl") | Some("ndjson") => CorpusFormat::Jsonl { field },
            Some("csv") => CorpusFormat::Csv { column: field },
            _ => CorpusFormat::Lines,
        }
    }
}

/// Reads every non-empty sequence of a corpus file, in file order.
///
/// # Errors
/// [`Error::Io`] when the file cannot be opened; otherwise as [`read_corpus_from`].
pub fn read_corpus(path: &Path, format: &CorpusFormat) -> Result<Vec<String>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    read_corpus_from(file, format, path)
}

/// Reads every non-empty sequence from `reader` laid out as `format`; `path` names the source in
/// errors. (The fuzz target `corpus` drives this with arbitrary bytes.)
///
/// # Errors
/// [`Error::Corpus`] naming the file and the line or record: text that is not UTF-8, a JSONL line
/// that is not a JSON object with a string in `field`, a CSV file without a header row or the
/// column, a CSV record that cannot be read; a corpus without a single non-empty sequence.
pub fn read_corpus_from(
    reader: impl Read,
    format: &CorpusFormat,
    path: &Path,
) -> Result<Vec<String>> {
    let corpus_err = |message: String| Error::Corpus {
        path: path.to_path_buf(),
        message,
    };
    let line_err = |n: usize, e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::InvalidData {
            corpus_err(format!("line {}: not valid UTF-8 text", n + 1))
        } else {
            Error::io(path, e)
        }
    };
    // The whole file is read first (its sequences are all kept in memory anyway): a UTF-8 byte
    // order mark is dropped whatever the format, and a CSV file is checked for a quoted field that
    // is never closed before it is parsed.
    let mut bytes = Vec::new();
    BufReader::new(reader)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    let body = bytes.strip_prefix(UTF8_BOM).unwrap_or(&bytes);
    let mut out = Vec::new();
    match format {
        CorpusFormat::Lines => {
            for (n, line) in body.lines().enumerate() {
                let line = line.map_err(|e| line_err(n, e))?;
                if !line.trim().is_empty() {
                    out.push(line);
                }
            }
        }
        CorpusFormat::Jsonl { field } => {
            for (n, line) in body.lines().enumerate() {
                let line = line.map_err(|e| line_err(n, e))?;
                if line.trim().is_empty() {
                    continue;
                }
                let value: serde_json::Value = serde_json::from_str(&line)
                    .map_err(|e| corpus_err(format!("line {}: invalid JSON: {e}", n + 1)))?;
                let text = value
                    .get(field)
                    .ok_or_else(|| corpus_err(format!("line {}: no field {field:?}", n + 1)))?;
                let text = text.as_str().ok_or_else(|| {
                    corpus_err(format!("line {}: field {field:?} is not a string", n + 1))
                })?;
                if !text.trim().is_empty() {
                    out.push(text.to_string());
                }
            }
        }
        CorpusFormat::Csv { column } => {
            if let Some(line) = unclosed_quote_line(body) {
                return Err(corpus_err(format!(
                    "line {line}: a quoted field opens here and is never closed (the csv reader \
                     would take the rest of the file as one cell)"
                )));
            }
            let mut reader = csv::Reader::from_reader(body);
            let headers = reader
                .headers()
                .map_err(|e| corpus_err(format!("cannot read the header row: {e}")))?;
            let idx = headers.iter().position(|h| h == column).ok_or_else(|| {
                corpus_err(format!(
                    "no column {column:?} (columns: {:?})",
                    headers.iter().collect::<Vec<_>>()
                ))
            })?;
            for (n, record) in reader.records().enumerate() {
                let record = record.map_err(|e| corpus_err(format!("record {}: {e}", n + 1)))?;
                let text = record.get(idx).unwrap_or("");
                if !text.trim().is_empty() {
                    out.push(text.to_string());
                }
            }
        }
    }
    if out.is_empty() {
        return Err(corpus_err(
            "no non-empty sequences (the file is empty or holds only blank records)".into(),
        ));
    }
    Ok(out)
}

/// The UTF-8 byte order mark some editors put at the start of a file.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The 1-based line where a CSV quoted field opens that the file never closes, if any.
///
/// The scan follows the csv crate's default dialect (RFC 4180: `"` opens a quoted field only at
/// the start of a field, `""` inside one is a literal quote, `,` and line ends separate fields).
/// That reader does not report such a field: it takes everything to the end of the file as one
/// cell, which would silently turn the rest of a corpus into one sequence.
fn unclosed_quote_line(bytes: &[u8]) -> Option<usize> {
    let mut line = 1;
    let mut opened_at = None;
    let mut field_start = true;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\n' {
            line += 1;
        }
        if opened_at.is_some() {
            if b == b'"' {
                if bytes.get(i + 1) == Some(&b'"') {
                    i += 2;
                    continue;
                }
                opened_at = None;
            }
            field_start = false;
        } else {
            match b {
                b'"' if field_start => {
                    opened_at = Some(line);
                    field_start = false;
                }
                b',' | b'\n' | b'\r' => field_start = true,
                _ => field_start = false,
            }
        }
        i += 1;
    }
    opened_at
}

/// Which sequences of the corpus are embedded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Selection {
    /// Every sequence.
    All,
    /// The first `m` sequences.
    First(usize),
    /// `m` sequences drawn without replacement with a seeded ChaCha8 generator (paper: seed 778,
    /// M = 10,000 or 7,000). The chosen ids are returned in corpus order. The draw cannot reproduce
    /// the reference code's Python generator; it is deterministic for a given seed.
    Sample {
        /// Number of sequences.
        m: usize,
        /// Generator seed.
        seed: u64,
    },
}

impl Selection {
    /// Returns the chosen sequence ids (ascending) out of `total`. Asking for more sequences than the
    /// corpus holds is an error (never a silent shortfall).
    pub fn choose(&self, total: usize) -> Result<Vec<usize>> {
        let check = |m: usize| {
            if m == 0 || m > total {
                Err(Error::InvalidOption {
                    option: "sample",
                    reason: format!(
                        "asked for {m} sequences, the corpus has {total} non-empty ones"
                    ),
                })
            } else {
                Ok(())
            }
        };
        match *self {
            Selection::All => Ok((0..total).collect()),
            Selection::First(m) => {
                check(m)?;
                Ok((0..m).collect())
            }
            Selection::Sample { m, seed } => {
                check(m)?;
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                let mut ids = rand::seq::index::sample(&mut rng, total, m).into_vec();
                ids.sort_unstable();
                Ok(ids)
            }
        }
    }
}

/// A corpus file with its format, for manifests.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CorpusSpec {
    /// The file.
    pub path: PathBuf,
    /// Its layout.
    pub format: CorpusFormat,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn reads_three_formats() {
        let dir = tempfile::tempdir().unwrap();
        let lines = dir.path().join("c.txt");
        std::fs::write(&lines, "a b\n\n c \n").unwrap();
        assert_eq!(
            read_corpus(&lines, &CorpusFormat::infer(&lines, None)).unwrap(),
            vec!["a b", " c "]
        );
        let jsonl = dir.path().join("c.jsonl");
        let mut f = std::fs::File::create(&jsonl).unwrap();
        writeln!(f, "{{\"utt\": \"hello\"}}\n{{\"utt\": \"x\"}}").unwrap();
        let fmt = CorpusFormat::infer(&jsonl, Some("utt"));
        assert_eq!(read_corpus(&jsonl, &fmt).unwrap(), vec!["hello", "x"]);
        let err = read_corpus(&jsonl, &CorpusFormat::infer(&jsonl, None)).unwrap_err();
        assert!(err.to_string().contains("no field \"text\""), "{err}");
        let csv_path = dir.path().join("c.csv");
        std::fs::write(&csv_path, "id,text\n1,\"hi, there\"\n2,yo\n").unwrap();
        assert_eq!(
            read_corpus(&csv_path, &CorpusFormat::infer(&csv_path, None)).unwrap(),
            vec!["hi, there", "yo"]
        );
    }

    #[test]
    fn sampling_is_seeded_and_checked() {
        let a = Selection::Sample { m: 5, seed: 778 }.choose(100).unwrap();
        assert_eq!(
            a,
            Selection::Sample { m: 5, seed: 778 }.choose(100).unwrap()
        );
        assert_ne!(
            a,
            Selection::Sample { m: 5, seed: 779 }.choose(100).unwrap()
        );
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(Selection::First(3).choose(10).unwrap(), vec![0, 1, 2]);
        assert!(Selection::First(11).choose(10).is_err());
    }
}
