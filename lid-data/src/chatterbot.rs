//! The chatterbot English conversation corpus, one utterance per sequence.
//!
//! **What it is.** `chatterbot-corpus==1.3.3` (PyPI) ships small English YAML files, one per topic
//! (`ai.yml`, `food.yml`, `tech_support.yml`, ...): `categories:` (topic names) and
//! `conversations:` (lists of utterances, prompt then replies). Fetched by
//! `bash scripts/fetch-assets.sh chatterbot` into `assets/chatterbot/english/`.
//!
//! **What it stands in for.** A second, off-domain English conversation corpus next to MultiWOZ for
//! the fine-tuning-shift study (the paper uses Reddit there; Reddit is not available offline).
//!
//! Every utterance of every conversation becomes one [`ChatterbotUtterance`], in file order (files
//! sorted by name), its category the file's stem (`ai`, `coding`, ...). Multi-line block scalars (the
//! code answers of `coding.yml`) keep their line breaks. Repeated prompts (`What is AI?` opens several
//! conversations) are kept; [`crate::text::dedup_by_text`] removes them. Defaults: all files,
//! duplicates kept: 4,332 utterances (1,875 distinct texts) in 21 categories.

use std::path::Path;

use serde::{Deserialize, Serialize};
use yaml_rust2::{Yaml, YamlLoader};

use crate::assets::AssetDir;
use crate::io::{list_files, read_text};
use crate::text::HasText;
use crate::{Error, Result};

/// One utterance of the chatterbot corpus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatterbotUtterance {
    /// The text (trimmed).
    pub text: String,
    /// The category: the file's stem (`ai`, `food`, ...).
    pub category: String,
    /// The topic names listed under `categories:` in the file.
    pub topics: Vec<String>,
    /// Index of the conversation within its file.
    pub conversation: usize,
    /// Position of the utterance within its conversation (0 = the prompt).
    pub position: usize,
}

impl HasText for ChatterbotUtterance {
    fn text(&self) -> &str {
        &self.text
    }
}

/// Loads every `*.yml` file of the `chatterbot` offline asset.
pub fn load(assets: &AssetDir) -> Result<Vec<ChatterbotUtterance>> {
    let dir = AssetDir::require(assets.chatterbot_english(), "chatterbot")?;
    load_dir(&dir)
}

/// Loads every `*.yml` file of a folder, files sorted by name.
pub fn load_dir(dir: &Path) -> Result<Vec<ChatterbotUtterance>> {
    let mut out = Vec::new();
    for path in list_files(dir, ".yml")? {
        out.extend(load_file(&path)?);
    }
    Ok(out)
}

/// Loads one chatterbot YAML file.
pub fn load_file(path: &Path) -> Result<Vec<ChatterbotUtterance>> {
    let text = read_text(path)?;
    let docs = YamlLoader::load_from_str(&text).map_err(|e| Error::Yaml {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let err = |record: String, field: &str, problem: &str| {
        Error::malformed(path, record, field, problem.to_string())
    };
    let doc = docs
        .first()
        .ok_or_else(|| err("file".into(), "(document)", "empty file"))?;
    let category = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let topics = match &doc["categories"] {
        Yaml::BadValue => Vec::new(),
        Yaml::Array(items) => items.iter().filter_map(scalar).collect(),
        _ => return Err(err("file".into(), "categories", "expected a list")),
    };
    let conversations = match &doc["conversations"] {
        Yaml::Array(items) => items,
        Yaml::BadValue => return Err(err("file".into(), "conversations", "missing")),
        _ => return Err(err("file".into(), "conversations", "expected a list")),
    };
    let mut out = Vec::new();
    for (c, conversation) in conversations.iter().enumerate() {
        let record = format!("conversation {c}");
        // A conversation is a list of utterances; a lone text (as one entry of `trivia.yml`, whose
        // answer line continues its question as a plain scalar) is a one-utterance conversation.
        let single;
        let utterances = match conversation {
            Yaml::Array(utterances) => utterances.as_slice(),
            other if scalar(other).is_some() => {
                single = [other.clone()];
                &single[..]
            }
            _ => {
                return Err(err(
                    record,
                    "conversations",
                    "expected a list of utterances",
                ))
            }
        };
        for (position, utterance) in utterances.iter().enumerate() {
            let text = scalar(utterance).ok_or_else(|| {
                err(
                    record.clone(),
                    &format!("conversations[{c}][{position}]"),
                    "expected a text",
                )
            })?;
            let text = text.trim().to_string();
            if text.is_empty() {
                continue;
            }
            out.push(ChatterbotUtterance {
                text,
                category: category.clone(),
                topics: topics.clone(),
                conversation: c,
                position,
            });
        }
    }
    Ok(out)
}

/// A YAML scalar as text (numbers and booleans as YAML wrote them, e.g. `42`, `true`).
fn scalar(value: &Yaml) -> Option<String> {
    match value {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}
