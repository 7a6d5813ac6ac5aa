//! The one error type of `lid-embed`, grouped by theme: files, model configuration, tokenisation,
//! corpus input, extraction options, devices, and errors passed up from candle.

use std::path::{Path, PathBuf};

/// Result alias for `lid-embed`.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong while loading a model or extracting token vectors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A required file is missing from a model directory or corpus path.
    #[error("missing file {path}: {what}")]
    MissingFile {
        /// The file that was looked for.
        path: PathBuf,
        /// What it is needed for.
        what: String,
    },
    /// A JSON file (config.json, index, corpus line) could not be parsed.
    #[error("cannot parse {path}: {message}")]
    Parse {
        /// The file involved.
        path: PathBuf,
        /// The parser's message, with the line when known.
        message: String,
    },
    /// The model configuration names an architecture this crate does not implement.
    #[error("unsupported model_type {model_type:?} in {path} (supported: bert, roberta, gpt2, llama, mistral, qwen2; GGUF: llama)")]
    UnknownModelType {
        /// The `model_type` found.
        model_type: String,
        /// Where it was found.
        path: PathBuf,
    },
    /// A configuration value is not implemented (for example a rope scaling type) or inconsistent.
    #[error("unsupported configuration: {field} = {value}: {reason}")]
    UnsupportedConfig {
        /// The configuration key.
        field: String,
        /// The value found.
        value: String,
        /// Why it is rejected.
        reason: String,
    },
    /// The tokenizer could not be loaded or failed on an input.
    #[error("tokenizer error: {0}")]
    Tokenizer(String),
    /// A corpus file is malformed (missing field or column, bad line).
    #[error("corpus {path}: {message}")]
    Corpus {
        /// The corpus file.
        path: PathBuf,
        /// What is wrong, with the line when known.
        message: String,
    },
    /// An extraction option is invalid (zero batch size, layer out of range, ...).
    #[error("invalid option {option}: {reason}")]
    InvalidOption {
        /// The option.
        option: &'static str,
        /// Why it is rejected.
        reason: String,
    },
    /// A hidden state is NaN or infinite: the weights (a corrupt or diverged checkpoint) or the
    /// arithmetic produced it. Nothing is written for it.
    #[error(
        "hidden state {layer} of sequence {sequence} is {value} at token position {position}: \
         the model produces non-finite vectors (corrupt or diverged weights?); no output was \
         written for it"
    )]
    NonFiniteOutput {
        /// Absolute hidden-state index.
        layer: usize,
        /// Sequence id.
        sequence: usize,
        /// Token position in the sequence.
        position: usize,
        /// The value found.
        value: f32,
    },
    /// The requested device is not compiled in or not available.
    #[error("device {device} is not available: {reason}")]
    Device {
        /// The device asked for.
        device: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// A forward pass supplied from outside this crate (lid-train's, behind
    /// [`crate::models::HiddenStateModel`]) failed.
    #[error("forward pass: {0}")]
    Forward(String),
    /// An error from candle (tensor shapes, missing weights, GGUF parsing, ...).
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// A configuration value that is not supported.
    pub fn unsupported(field: &str, value: impl std::fmt::Debug, reason: &str) -> Self {
        Error::UnsupportedConfig {
            field: field.to_string(),
            value: format!("{value:?}"),
            reason: reason.to_string(),
        }
    }
}
