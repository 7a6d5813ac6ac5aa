//! Text corpora of the studies, each split into seeded train / validation / test parts: the offline
//! stand-ins (relexicalised MultiWOZ utterances, the chatterbot English corpus, Wikipedia prose) and
//! any text / JSONL / CSV file a user gives.
//!
//! Stand-ins, named plainly: the paper's MultiWOZ 2.1 utterances are replaced by convlab's
//! delexicalised MultiWOZ templates relexicalised with values from its MultiWOZ database files
//! (real MultiWOZ sentences, one utterance = one sequence; `lid_data::multiwoz_templates`); its
//! Reddit corpus by chatterbot's English conversations (a second dialogue domain); its Wikipedia
//! (wikitext-103) by the English Wikipedia excerpt shipped as test data in gensim 4.4.0
//! (`lid_data::prose`).
//!
//! Order and repeats. A study takes "the first N" of a part (the paper: the first 10,000 training
//! sequences of MultiWOZ 2.1, in dialogue order, so every domain and both speakers), and the seeded
//! split keeps the corpus's order inside each part. The MultiWOZ stand-in therefore comes in
//! `lid_data::multiwoz_templates`' default order, a seeded shuffle
//! (`DEFAULT_ORDER_SEED`), not convlab's template order (user turns first, act groups sorted),
//! where the first 10,000 training utterances were user Attraction, Hospital and Hotel-Inform turns
//! only. Relexicalised templates also repeat strings (`Thank you.`), so the same text can land in
//! the training and the test part; [`load_split`] removes from the training and validation parts
//! of every stand-in each text that is also a test text, so the model is never trained or validated
//! on a sentence it is measured on. A user's file is taken as given: its order (a real MultiWOZ
//! file is in dialogue order) and its repeats (the paper used MultiWOZ 2.1's splits as published).

use std::path::PathBuf;
use std::str::FromStr;

use lid_data::split::{split, Fractions, HeldOut, Splits};
use lid_data::AssetDir;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Where a corpus comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CorpusSource {
    /// Relexicalised MultiWOZ utterances (user and system), the offline stand-in for MultiWOZ 2.1.
    Multiwoz,
    /// Chatterbot's English conversation corpus (stand-in for the paper's Reddit).
    Chatterbot,
    /// Wikipedia sentences from gensim's test data (stand-in for wikitext-103).
    Wikipedia,
    /// A user's file: one sequence per line, or JSONL / CSV with the text in `field` (default
    /// `text`), by extension.
    File {
        /// The file.
        path: PathBuf,
        /// JSON field or CSV column.
        field: Option<String>,
    },
}

impl FromStr for CorpusSource {
    type Err = Error;
    /// `multiwoz`, `chatterbot`, `wikipedia`, or a path (`path:field` for JSONL/CSV fields).
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "multiwoz" => CorpusSource::Multiwoz,
            "chatterbot" | "reddit-standin" => CorpusSource::Chatterbot,
            "wikipedia" | "prose" => CorpusSource::Wikipedia,
            other => {
                let (path, field) = match other.rsplit_once(':') {
                    Some((p, f)) if PathBuf::from(p).extension().is_some_and(|e| e != "txt") => {
                        (p, Some(f.to_string()))
                    }
                    _ => (other, None),
                };
                let path = PathBuf::from(path);
                if !path.is_file() {
                    return Err(Error::flag(
                        "--corpus",
                        other,
                        "not multiwoz, chatterbot, wikipedia or an existing file",
                    ));
                }
                CorpusSource::File { path, field }
            }
        })
    }
}

/// A corpus as it is read: a file by its canonical path (when it resolves) and field.
fn corpus_identity(c: &CorpusSource) -> String {
    match c {
        CorpusSource::File { path, field } => {
            let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            match field {
                Some(f) => format!("{}:{f}", path.display()),
                None => path.display().to_string(),
            }
        }
        named => named.name(),
    }
}

/// Refuses a corpus given twice, each with the flag it came from (`--corpus multiwoz` and
/// `--other-corpus multiwoz`, `chatterbot` and `reddit-standin`, one file under two spellings):
/// a corpus counted twice fakes a statistic (an in-domain corpus counted as off-domain, two equal
/// rows of a ranking), and two corpora of one name overwrite each other's `local/<name>-*.csv`, so
/// two corpora of the same name are refused too.
///
/// # Errors
/// [`Error::Flag`] naming the second of the two and the first.
pub fn check_distinct(corpora: &[(&'static str, &CorpusSource)]) -> Result<()> {
    for (i, (flag_a, a)) in corpora.iter().enumerate() {
        for (flag_b, b) in &corpora[i + 1..] {
            let (ia, ib) = (corpus_identity(a), corpus_identity(b));
            if ia == ib {
                return Err(Error::flag(
                    flag_b,
                    &ib,
                    format!("the same corpus as {flag_a} {ia}; give each corpus once"),
                ));
            }
            if a.name() == b.name() {
                return Err(Error::flag(
                    flag_b,
                    &ib,
                    format!(
                        "has the name {} of {flag_a} {ia} (the name of its output files local/{}-*.csv); rename one",
                        a.name(),
                        a.name()
                    ),
                ));
            }
        }
    }
    Ok(())
}

impl CorpusSource {
    /// A short name for tables and file names.
    pub fn name(&self) -> String {
        match self {
            CorpusSource::Multiwoz => "multiwoz".into(),
            CorpusSource::Chatterbot => "chatterbot".into(),
            CorpusSource::Wikipedia => "wikipedia".into(),
            CorpusSource::File { path, .. } => path
                .file_stem()
                .map_or_else(|| "corpus".into(), |s| s.to_string_lossy().into_owned()),
        }
    }

    /// What it stands for, for reports.
    pub fn description(&self) -> String {
        match self {
            CorpusSource::Multiwoz => "relexicalised MultiWOZ utterances from convlab 3.0.1 templates and databases (offline stand-in for MultiWOZ 2.1)".into(),
            CorpusSource::Chatterbot => "chatterbot-corpus 1.3.3 English conversations (offline stand-in for Reddit)".into(),
            CorpusSource::Wikipedia => "English Wikipedia sentences from gensim 4.4.0 test data (offline stand-in for wikitext-103)".into(),
            CorpusSource::File { path, .. } => format!("user corpus {}", path.display()),
        }
    }

    /// Whether this is one of the built-in stand-ins (not a user's file).
    pub fn is_standin(&self) -> bool {
        !matches!(self, CorpusSource::File { .. })
    }

    /// Every non-empty sequence, in the corpus's order (the MultiWOZ stand-in: lid-data's seeded
    /// shuffle, see the module docs).
    ///
    /// # Errors
    /// Missing assets or unreadable files.
    pub fn load(&self, assets: &AssetDir) -> Result<Vec<String>> {
        Ok(match self {
            CorpusSource::Multiwoz => {
                let templates = lid_data::multiwoz_templates::MultiwozTemplates::load(assets)?;
                lid_data::multiwoz_templates::utterances(&templates, &Default::default())?
                    .into_iter()
                    .map(|u| u.text)
                    .collect()
            }
            CorpusSource::Chatterbot => lid_data::chatterbot::load(assets)?
                .into_iter()
                .map(|u| u.text)
                .collect(),
            CorpusSource::Wikipedia => lid_data::prose::load(assets, &Default::default())?
                .into_iter()
                .map(|p| p.text)
                .collect(),
            CorpusSource::File { path, field } => {
                let format = lid_embed::CorpusFormat::infer(path, field.as_deref());
                lid_embed::read_corpus(path, &format)?
            }
        })
    }
}

/// A corpus split into parts.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// Where it came from.
    pub source: CorpusSource,
    /// Its parts.
    pub splits: Splits<String>,
    /// Training and validation texts removed because a test text is the same (stand-ins only).
    pub held_out: HeldOut,
}

/// Loads `source` and splits it with `fractions` (train, validation; test gets the rest) and `seed`;
/// for a stand-in, then removes from the training and validation parts every text that is also a
/// test text (`Splits::hold_out_test`, see the module docs).
///
/// # Errors
/// Loading errors, invalid fractions.
pub fn load_split(
    source: &CorpusSource,
    assets: &AssetDir,
    fractions: Fractions,
    seed: u64,
) -> Result<Corpus> {
    let texts = source.load(assets)?;
    if texts.is_empty() {
        return Err(Error::Check(format!("corpus {} is empty", source.name())));
    }
    let mut splits = split(texts, fractions, seed)?;
    let held_out = match source.is_standin() {
        true => splits.hold_out_test(String::as_str),
        false => HeldOut::default(),
    };
    Ok(Corpus {
        source: source.clone(),
        splits,
        held_out,
    })
}
