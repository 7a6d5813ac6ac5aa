//! The one error type of `lid-data`.
//!
//! Every variant that comes from user data names the file, and where it can, the record (dialogue,
//! turn, template, conversation) and the field, so that a malformed download can be found and fixed.
//! Nothing in this crate panics on user data.

use std::path::PathBuf;

/// Errors of `lid-data`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or folder could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// A file is not valid JSON.
    #[error("{path}: not valid JSON: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's message (line and column).
        #[source]
        source: serde_json::Error,
    },

    /// A file is not valid CSV (a row with another number of fields than the header, bad UTF-8).
    #[error("{path}: not valid CSV: {source}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// The parser's message (with the line).
        #[source]
        source: csv::Error,
    },

    /// A file is not valid YAML.
    #[error("{path}: not valid YAML: {message}")]
    Yaml {
        /// The file.
        path: PathBuf,
        /// The parser's message (line and column).
        message: String,
    },

    /// A file parsed, but a record in it does not have the expected shape.
    #[error("{path}: {record}: field `{field}`: {problem}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The record: a dialogue id with its turn, a template group and key, a conversation index.
        record: String,
        /// The field that is missing or wrong (a dotted path inside the record).
        field: String,
        /// What is wrong with it.
        problem: String,
    },

    /// An offline asset folder or file is missing.
    #[error("offline asset missing: {path}; run `bash scripts/fetch-assets.sh {asset}`")]
    MissingAsset {
        /// The file or folder that was expected.
        path: PathBuf,
        /// The asset name understood by `scripts/fetch-assets.sh`.
        asset: &'static str,
    },

    /// A parameter is out of its valid range.
    #[error("invalid parameter `{name}`: {problem}")]
    InvalidParameter {
        /// The parameter.
        name: &'static str,
        /// Why it is invalid.
        problem: String,
    },

    /// The data does not hold enough items for what was asked.
    #[error("not enough data: {what}: need {needed}, have {available}")]
    NotEnoughData {
        /// What was being built.
        what: String,
        /// How many items were needed.
        needed: usize,
        /// How many there are.
        available: usize,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// A [`Error::Malformed`] with owned strings.
    pub(crate) fn malformed(
        path: impl Into<PathBuf>,
        record: impl Into<String>,
        field: impl Into<String>,
        problem: impl Into<String>,
    ) -> Self {
        Error::Malformed {
            path: path.into(),
            record: record.into(),
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// A [`Error::InvalidParameter`].
    pub(crate) fn parameter(name: &'static str, problem: impl Into<String>) -> Self {
        Error::InvalidParameter {
            name,
            problem: problem.into(),
        }
    }
}
