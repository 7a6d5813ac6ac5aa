//! The probe's texts per split: loaded once per process from a [`DataSource`], sampled (M
//! sequences, seeded), and tokenised per checkpoint tokenizer.
//!
//! - MultiWOZ 2.1 and ConvLab's unified format give one **TripPy-R input** per user turn
//!   ([`lid_data::trippy::examples`]): the user utterance, the system utterance before it (empty
//!   at the first turn) and the earlier utterances, most recent first. The text is
//!   `user SEP system SEP history` with `SEP` the tokenizer's separator (` [SEP] ` for BERT,
//!   ` </s></s> ` for RoBERTa, as TripPy-R encodes its three segments) and the history
//!   utterances joined by spaces; the tokenizer's post-processor adds `[CLS]`/`<s>` in front and
//!   the final separator, and truncation to `max_length` cuts the oldest history first. Token
//!   type ids are not used (RoBERTa has one type; for BERT all tokens get type 0).
//! - EmoWOZ gives its annotated user utterances ([`lid_data::emowoz`]), one sequence each.
//! - Text files give one sequence per non-empty line (`.txt`) or record (`.jsonl`, `.csv`).
//!
//! The sample: M sequences drawn without replacement with a ChaCha8 generator seeded by the
//! sequence seed, in corpus order (`lid_embed::Selection::Sample`); a split with at most M
//! sequences is used whole. The same texts are measured at every checkpoint.

use std::collections::BTreeMap;
use std::path::Path;

use lid_data::dialogue::{multiwoz21, unified, Dialogue};
use lid_data::emowoz;
use lid_data::split::Splits;
use lid_embed::{CorpusFormat, Selection, TextTokenizer};
use lid_train::data::Sequence;

use super::spec::DataSource;
use crate::error::{Error, Result};

/// One probe text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeText {
    /// A plain sequence.
    Plain(String),
    /// A TripPy-R turn input.
    Turn {
        /// The user utterance.
        user: String,
        /// The system utterance before it.
        system: String,
        /// Earlier utterances, most recent first.
        history: Vec<String>,
    },
}

impl ProbeText {
    /// The text given to the tokenizer, with `separator` between the segments of a turn.
    pub fn render(&self, separator: &str) -> String {
        match self {
            ProbeText::Plain(text) => text.clone(),
            ProbeText::Turn {
                user,
                system,
                history,
            } => format!(
                "{user} {separator} {system} {separator} {}",
                history.join(" ")
            ),
        }
    }
}

/// The TripPy-R inputs of dialogues, one per user turn.
pub fn turn_texts(dialogues: &[Dialogue]) -> Vec<ProbeText> {
    dialogues
        .iter()
        .flat_map(|d| lid_data::trippy::examples(d, &[]))
        .map(|e| ProbeText::Turn {
            user: e.user,
            system: e.system,
            history: e.history,
        })
        .collect()
}

fn part(splits: &Splits<ProbeText>, split: &str) -> Vec<ProbeText> {
    match split {
        "train" => splits.train.clone(),
        "validation" => splits.validation.clone(),
        _ => splits.test.clone(),
    }
}

/// Every text of every split of a dataset source (`None` for [`DataSource::Files`], which is
/// read per split).
fn load_dataset(source: &DataSource) -> Result<Option<Splits<ProbeText>>> {
    let convert = |s: Splits<Dialogue>| Splits {
        train: turn_texts(&s.train),
        validation: turn_texts(&s.validation),
        test: turn_texts(&s.test),
    };
    Ok(match source {
        DataSource::Multiwoz21 { dir } => Some(convert(multiwoz21::load(
            &multiwoz21::Multiwoz21Paths::in_dir(dir),
        )?)),
        DataSource::Unified { dir } => Some(convert(unified::load_dialogues(
            &dir.join("dialogues.json"),
        )?)),
        DataSource::Emowoz { dir } => {
            let texts = emowoz::load(&emowoz::EmowozPaths::in_dir(dir))?;
            let plain = |v: Vec<lid_data::LabelledText>| {
                v.into_iter().map(|t| ProbeText::Plain(t.text)).collect()
            };
            Some(Splits {
                train: plain(texts.train),
                validation: plain(texts.validation),
                test: plain(texts.test),
            })
        }
        DataSource::Files(_) => None,
    })
}

/// The sampled texts of each split, loaded on first use and kept for the process.
#[derive(Debug)]
pub struct TextCache {
    source: DataSource,
    sequences: usize,
    seed: u64,
    dataset: Option<Splits<ProbeText>>,
    sampled: BTreeMap<String, SplitTexts>,
}

/// The sampled texts of one split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitTexts {
    /// The texts, in corpus order.
    pub texts: Vec<ProbeText>,
    /// How many texts the split has in all.
    pub available: usize,
}

impl TextCache {
    /// A cache of `source`'s splits sampled to `sequences` texts with `seed`.
    pub fn new(source: &DataSource, sequences: usize, seed: u64) -> Self {
        Self {
            source: source.clone(),
            sequences,
            seed,
            dataset: None,
            sampled: BTreeMap::new(),
        }
    }

    /// The sampled texts of `split` (a canonical dataset split name, or a file split's name).
    ///
    /// # Errors
    /// The readers' errors (naming file, dialogue and field); [`Error::Malformed`] for an empty
    /// split or an unknown split name.
    pub fn split(&mut self, split: &str) -> Result<&SplitTexts> {
        if !self.sampled.contains_key(split) {
            let all = self.all_texts(split)?;
            let available = all.len();
            let ids = if available <= self.sequences {
                Selection::All.choose(available)?
            } else {
                Selection::Sample {
                    m: self.sequences,
                    seed: self.seed,
                }
                .choose(available)?
            };
            let mut all: Vec<Option<ProbeText>> = all.into_iter().map(Some).collect();
            let texts = ids.into_iter().filter_map(|i| all[i].take()).collect();
            self.sampled
                .insert(split.to_string(), SplitTexts { texts, available });
        }
        self.sampled
            .get(split)
            .ok_or_else(|| Error::Check(format!("split {split} was not loaded; this is a bug")))
    }

    fn all_texts(&mut self, split: &str) -> Result<Vec<ProbeText>> {
        let texts = match &self.source {
            DataSource::Files(files) => {
                let file = files.iter().find(|f| f.split == split).ok_or_else(|| {
                    Error::Check(format!("split {split} has no file; this is a bug"))
                })?;
                let format = CorpusFormat::infer(&file.path, file.field.as_deref());
                lid_embed::read_corpus(&file.path, &format)?
                    .into_iter()
                    .map(ProbeText::Plain)
                    .collect()
            }
            source => {
                if self.dataset.is_none() {
                    self.dataset = load_dataset(source)?;
                }
                self.dataset
                    .as_ref()
                    .map(|d| part(d, split))
                    .unwrap_or_default()
            }
        };
        if texts.is_empty() {
            return Err(Error::Malformed {
                path: source_path(&self.source, split).to_path_buf(),
                record: format!("split {split}"),
                field: "(texts)".into(),
                problem: "the split has no texts".into(),
            });
        }
        Ok(texts)
    }
}

/// The file or folder a split is read from (for messages).
fn source_path<'a>(source: &'a DataSource, split: &str) -> &'a Path {
    match source {
        DataSource::Multiwoz21 { dir }
        | DataSource::Unified { dir }
        | DataSource::Emowoz { dir } => dir,
        DataSource::Files(files) => files
            .iter()
            .find(|f| f.split == split)
            .map_or(Path::new("?"), |f| &f.path),
    }
}

/// The separator between the segments of a turn input: the given one, or ` [SEP] ` / ` </s></s> `
/// by what the tokenizer knows.
///
/// # Errors
/// [`Error::Malformed`] naming `probe.separator` when the tokenizer has neither token.
pub fn separator(tokenizer: &TextTokenizer, given: Option<&str>, path: &Path) -> Result<String> {
    if let Some(s) = given {
        return Ok(s.to_string());
    }
    if tokenizer.token_to_id("[SEP]").is_some() {
        return Ok("[SEP]".into());
    }
    if tokenizer.token_to_id("</s>").is_some() {
        return Ok("</s></s>".into());
    }
    Err(Error::Malformed {
        path: path.to_path_buf(),
        record: "tokenizer".into(),
        field: "probe.separator".into(),
        problem: "the tokenizer has neither [SEP] nor </s>; set probe.separator in the spec".into(),
    })
}

/// Tokenises `texts` (segments of turns joined by `separator`): the sequences and how many were
/// truncated.
///
/// # Errors
/// Tokenizer failures.
pub fn tokenize(
    texts: &[ProbeText],
    tokenizer: &TextTokenizer,
    separator: &str,
) -> Result<(Vec<Sequence>, usize)> {
    let rendered: Vec<String> = texts.iter().map(|t| t.render(separator)).collect();
    let refs: Vec<&str> = rendered.iter().map(String::as_str).collect();
    let encoded = tokenizer.encode_batch(&refs)?;
    let truncated = encoded.iter().filter(|e| e.truncated).count();
    Ok((
        encoded.iter().map(Sequence::from_encoded).collect(),
        truncated,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::studies::series::spec::SplitFile;

    #[test]
    fn turns_render_as_three_segments() {
        let t = ProbeText::Turn {
            user: "a cheap hotel".into(),
            system: "which area?".into(),
            history: vec!["hello".into(), "hi".into()],
        };
        assert_eq!(
            t.render("[SEP]"),
            "a cheap hotel [SEP] which area? [SEP] hello hi"
        );
        assert_eq!(ProbeText::Plain("x".into()).render("[SEP]"), "x");
    }

    #[test]
    fn samples_are_seeded_and_small_splits_are_used_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        let lines: Vec<String> = (0..50).map(|i| format!("line {i}")).collect();
        std::fs::write(&path, lines.join("\n")).unwrap();
        let source = DataSource::Files(vec![SplitFile {
            split: "a".into(),
            path: path.clone(),
            field: None,
        }]);
        let first = TextCache::new(&source, 10, 778).split("a").unwrap().clone();
        let again = TextCache::new(&source, 10, 778).split("a").unwrap().clone();
        let other = TextCache::new(&source, 10, 779).split("a").unwrap().clone();
        assert_eq!(first, again);
        assert_ne!(first, other);
        assert_eq!((first.texts.len(), first.available), (10, 50));
        let whole = TextCache::new(&source, 500, 778)
            .split("a")
            .unwrap()
            .clone();
        assert_eq!(whole.texts.len(), 50);
        assert_eq!(whole.texts[3], ProbeText::Plain("line 3".into()));
        std::fs::write(&path, "\n\n").unwrap();
        let err = TextCache::new(&source, 5, 1)
            .split("a")
            .unwrap_err()
            .to_string();
        assert!(err.contains("a.txt"), "{err}");
    }
}
