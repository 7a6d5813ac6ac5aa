//! Errors of lid-train: one enum, messages a user can act on.

use std::path::{Path, PathBuf};

/// Everything that can go wrong while loading, training, checkpointing or probing a model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file exists but its content is not what it should be.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A weight is missing from the checkpoint.
    #[error("weight {name} not found in {source_files} (also tried {tried:?})")]
    MissingWeight {
        /// The name looked for.
        name: String,
        /// Other names tried.
        tried: Vec<String>,
        /// Where it was looked for.
        source_files: String,
    },
    /// A tensor has the wrong shape.
    #[error("tensor {name} has shape {got:?}, expected {expected:?}")]
    Shape {
        /// The tensor.
        name: String,
        /// The shape the model needs.
        expected: Vec<usize>,
        /// The shape found.
        got: Vec<usize>,
    },
    /// The model configuration is not one this crate trains.
    #[error("unsupported model configuration: {0}")]
    Unsupported(String),
    /// A setting is out of range.
    #[error("invalid setting `{name}`: {reason}")]
    Setting {
        /// The setting's name (as the user writes it).
        name: String,
        /// Why it is invalid.
        reason: String,
    },
    /// Input data does not fit the model (token id out of range, sequence too long, empty batch).
    #[error("invalid input: {0}")]
    Input(String),
    /// Training diverged.
    #[error("training diverged: {0}")]
    NonFinite(String),
    /// An internal consistency check failed.
    #[error("{0}")]
    Invalid(String),
    /// From lid-embed (model configs, tokenizers, GGUF).
    #[error(transparent)]
    Embed(#[from] lid_embed::Error),
    /// From lid-core (estimators, statistics).
    #[error(transparent)]
    Core(#[from] lid_core::Error),
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// A setting error.
    pub fn setting(name: &str, reason: impl Into<String>) -> Self {
        Self::Setting {
            name: name.to_string(),
            reason: reason.into(),
        }
    }
}

/// Result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
