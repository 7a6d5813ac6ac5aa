//! Running English prose: a third domain next to MultiWOZ and chatterbot.
//!
//! **What it is.** Two real prose corpora that ship as test data in the PyPI package
//! `gensim==4.4.0`, fetched by `bash scripts/fetch-assets.sh prose` into `assets/prose/`:
//! - [`ProseSource::Wikipedia`] (the default): `enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2`,
//!   a shortened English Wikipedia XML dump of 206 pages (106 articles, the rest redirects and
//!   other namespaces: Anarchism, Autism, Albedo, Abraham Lincoln, Aristotle, Alabama, ...). Their
//!   running text is extracted by [`wikitext`]'s markup stripper: 17,210 sentences (4,670
//!   paragraphs, 385k words) from 97 articles at the defaults.
//! - [`ProseSource::LeeNews`]: `lee_background.cor`, the Lee et al. (2005) background corpus of
//!   300 Australian Broadcasting Corporation news articles, one article per line (2,681
//!   sentences).
//!
//! **What it stands in for.** The paper's Wikipedia domain (wikitext-103) in the fine-tuning-shift
//! study: the Wikipedia sample is the same kind of text (English Wikipedia articles), only smaller.
//!
//! Sequences are sentences ([`ProseUnit::Sentence`], default; [`crate::text::split_sentences`]) or
//! paragraphs ([`ProseUnit::Paragraph`]); sequences with fewer than `min_words` words (default 4)
//! are dropped.

pub mod wikitext;

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::assets::AssetDir;
use crate::io::read_text;
use crate::text::{split_sentences, HasText};
use crate::{Error, Result};

/// File name of the Wikipedia sample inside the `prose` asset.
pub const WIKIPEDIA_FILE: &str =
    "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2";
/// File name of the Lee news corpus inside the `prose` asset.
pub const LEE_FILE: &str = "lee_background.cor";

/// Which prose corpus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ProseSource {
    /// English Wikipedia articles (gensim's shortened dump).
    #[default]
    Wikipedia,
    /// ABC news articles (Lee background corpus).
    LeeNews,
}

/// What one sequence is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ProseUnit {
    /// One sentence.
    #[default]
    Sentence,
    /// One paragraph (Wikipedia) or one article (Lee news, which has no paragraph breaks).
    Paragraph,
}

/// Settings of [`load`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProseConfig {
    /// The corpus (default Wikipedia).
    pub source: ProseSource,
    /// Sentences or paragraphs (default sentences).
    pub unit: ProseUnit,
    /// Sequences with fewer words are dropped (default 4).
    pub min_words: usize,
}

impl Default for ProseConfig {
    fn default() -> Self {
        ProseConfig {
            source: ProseSource::Wikipedia,
            unit: ProseUnit::Sentence,
            min_words: 4,
        }
    }
}

/// One sequence of prose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProseSequence {
    /// The text.
    pub text: String,
    /// The document: the article title (Wikipedia) or `lee-NNN` (line number, from 0).
    pub document: String,
    /// Index of the paragraph within the document.
    pub paragraph: usize,
    /// Index of the sentence within the paragraph (0 for paragraph sequences).
    pub sentence: usize,
}

impl HasText for ProseSequence {
    fn text(&self) -> &str {
        &self.text
    }
}

/// Loads the chosen corpus from the `prose` offline asset.
pub fn load(assets: &AssetDir, config: &ProseConfig) -> Result<Vec<ProseSequence>> {
    let file = match config.source {
        ProseSource::Wikipedia => WIKIPEDIA_FILE,
        ProseSource::LeeNews => LEE_FILE,
    };
    let path = AssetDir::require(assets.prose().join(file), "prose")?;
    match config.source {
        ProseSource::Wikipedia => load_wikipedia(&path, config.unit, config.min_words),
        ProseSource::LeeNews => load_lee(&path, config.unit, config.min_words),
    }
}

/// Reads a MediaWiki XML dump (`.xml`, or `.bz2`-compressed when the name ends with `.bz2`) and
/// returns the prose of its articles (see [`wikitext`]).
pub fn load_wikipedia(
    path: &Path,
    unit: ProseUnit,
    min_words: usize,
) -> Result<Vec<ProseSequence>> {
    let xml = if path.extension().is_some_and(|e| e == "bz2") {
        let file = std::fs::File::open(path).map_err(|source| io_error(path, source))?;
        let mut xml = String::new();
        bzip2::read::MultiBzDecoder::new(file)
            .read_to_string(&mut xml)
            .map_err(|source| io_error(path, source))?;
        xml
    } else {
        read_text(path)?
    };
    let mut out = Vec::new();
    for article in wikitext::articles(&xml) {
        let paragraphs = wikitext::paragraphs(&article.wikitext, min_words);
        push_units(&mut out, &article.title, paragraphs, unit, min_words);
    }
    Ok(out)
}

/// Reads a corpus with one document per line (the Lee background corpus).
pub fn load_lee(path: &Path, unit: ProseUnit, min_words: usize) -> Result<Vec<ProseSequence>> {
    let text = read_text(path)?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        push_units(
            &mut out,
            &format!("lee-{i:03}"),
            vec![line.to_string()],
            unit,
            min_words,
        );
    }
    Ok(out)
}

fn push_units(
    out: &mut Vec<ProseSequence>,
    document: &str,
    paragraphs: Vec<String>,
    unit: ProseUnit,
    min_words: usize,
) {
    for (p, paragraph) in paragraphs.into_iter().enumerate() {
        let units = match unit {
            ProseUnit::Sentence => split_sentences(&paragraph),
            ProseUnit::Paragraph => vec![paragraph],
        };
        for (s, text) in units.into_iter().enumerate() {
            if text.split_whitespace().count() >= min_words {
                out.push(ProseSequence {
                    text,
                    document: document.to_string(),
                    paragraph: p,
                    sentence: s,
                });
            }
        }
    }
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: PathBuf::from(path),
        source,
    }
}
