//! The one error type of the `lid-experiments` library, grouped by theme: settings named by their
//! flag, output paths, run folders, plots and tables, and errors passed up from the lower crates.
//! Binaries (`src/bin/`) turn it into `anyhow` at their edge; nothing else here uses `anyhow`.

use std::path::{Path, PathBuf};

pub use crate::cli::input::InputError;

/// Result alias for `lid-experiments`.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong in a command or a study.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A command-line setting is invalid; `flag` is the flag the user typed (`--discard`).
    #[error("{flag} {value}: {reason}")]
    Flag {
        /// The flag, with its dashes.
        flag: &'static str,
        /// The value given, as typed or as resolved.
        value: String,
        /// Why it is refused, in words the user can act on.
        reason: String,
    },
    /// A failed check of study settings or of a training run, with its message (the settings of
    /// a preset with overrides, a non-finite training loss, ...).
    #[error("{0}")]
    Check(String),
    /// An output path is refused before any work starts (see [`crate::run::paths`]).
    #[error("{flag} {path}: {reason}")]
    OutputPath {
        /// The flag that named the output (`--json`, `--out`).
        flag: String,
        /// The path given.
        path: PathBuf,
        /// Why it is refused.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A value could not be turned into (or read from) JSON or CSV.
    #[error("cannot {action} {path}: {message}")]
    Format {
        /// `"serialise"`, `"parse"`, ...
        action: &'static str,
        /// The file (or the name of the value) involved.
        path: PathBuf,
        /// The serialiser's message.
        message: String,
    },
    /// A run folder cannot be used: not empty, incomplete (no completeness marker), unreadable.
    #[error("run folder {path}: {reason}")]
    RunFolder {
        /// The folder.
        path: PathBuf,
        /// What is wrong, and what to do.
        reason: String,
    },
    /// A plot or table was given data it cannot show (empty, non-finite, mismatched lengths), or
    /// drawing failed.
    #[error("figure `{figure}`: {reason}")]
    Figure {
        /// Title or file stem of the figure (or table).
        figure: String,
        /// What is wrong.
        reason: String,
    },
    /// A point-cloud input file could not be read (`.npy` / safetensors).
    #[error(transparent)]
    Input(#[from] InputError),
    /// An error of the estimators, preparation, statistics or neighbour search.
    #[error(transparent)]
    Core(#[from] lid_core::Error),
    /// An error of model loading or token-vector extraction.
    #[error(transparent)]
    Embed(#[from] lid_embed::Error),
    /// An error of training, checkpoints or the LID probe.
    #[error(transparent)]
    Train(#[from] lid_train::Error),
    /// An error of the corpus and dialogue readers.
    #[error(transparent)]
    Data(#[from] lid_data::Error),
    /// A sweep cannot be merged: some of its units have no result file yet.
    #[error(
        "sweep {dir}: {missing} of {total} units have no result yet ({units}); run the sweep \
         again (`lid sweep run`, or the shards that did not finish), then merge"
    )]
    SweepIncomplete {
        /// The folder of the unit files.
        dir: PathBuf,
        /// How many units are missing.
        missing: usize,
        /// How many units the sweep has.
        total: usize,
        /// The first missing units' keys.
        units: String,
    },
    /// A user's input file (a sweep spec, a metrics file) parsed but a record in it is wrong.
    #[error("{path}: {record}: field `{field}`: {problem}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The record: a row, a list entry, the spec.
        record: String,
        /// The field (a dotted path inside the record, or a column).
        field: String,
        /// What is wrong, in words the user can act on.
        problem: String,
    },
    /// An error from candle (the grokking model and optimiser).
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
}

/// One row of the table [`Error::from_option`] names flags with: lid-embed's option names, the
/// command's flag for them and the value it was given.
#[derive(Debug, Clone)]
pub struct OptionFlag {
    /// lid-embed's names of the option (`layers` and `layer` name one flag).
    pub options: &'static [&'static str],
    /// The flag.
    pub flag: &'static str,
    /// The value given, as the error shows it.
    pub value: String,
}

impl OptionFlag {
    /// `flag` for the lid-embed `options`, given `value`.
    pub fn new(options: &'static [&'static str], flag: &'static str, value: impl ToString) -> Self {
        Self {
            options,
            flag,
            value: value.to_string(),
        }
    }
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// Names the flag behind a `lid_embed` option error (`invalid option max-length` ->
    /// `--max-length 1: ...`): `flags` maps lid-embed's option names to the command's flag and the
    /// value it was given. Other errors, and options the command has no flag for, pass through.
    /// The one place where library option names become command-line flags (`lid embed`,
    /// `lid profile` and the studies' model loading call it with their own tables).
    pub fn from_option(e: lid_embed::Error, flags: &[OptionFlag]) -> Self {
        match e {
            lid_embed::Error::InvalidOption { option, reason } => {
                match flags.iter().find(|f| f.options.contains(&option)) {
                    Some(f) => Error::flag(f.flag, &f.value, reason),
                    None => lid_embed::Error::InvalidOption { option, reason }.into(),
                }
            }
            other => other.into(),
        }
    }

    /// A refused flag value.
    pub fn flag(flag: &'static str, value: impl ToString, reason: impl ToString) -> Self {
        Error::Flag {
            flag,
            value: value.to_string(),
            reason: reason.to_string(),
        }
    }

    /// Refuses a list flag that repeats a value (`--seeds 40,40`, `--fractions 0.4,0.40`): the
    /// studies treat each value as an independent run, so a repeat would fake a spread (a seed
    /// counted twice halves no variance, it only duplicates a row).
    ///
    /// # Errors
    /// [`Error::Flag`] naming the flag and the first repeated value.
    pub fn refuse_repeats<T: PartialEq + std::fmt::Display>(
        flag: &'static str,
        values: &[T],
    ) -> Result<()> {
        for (i, v) in values.iter().enumerate() {
            if values[..i].contains(v) {
                return Err(Error::flag(
                    flag,
                    v,
                    "is given twice; each value is one independent run, so a repeat would only \
                     duplicate rows and fake the spread over runs",
                ));
            }
        }
        Ok(())
    }

    /// A JSON serialisation failure of the value written to `path`.
    pub fn json(path: impl AsRef<Path>, e: serde_json::Error) -> Self {
        Error::Format {
            action: "serialise",
            path: path.as_ref().to_path_buf(),
            message: e.to_string(),
        }
    }

    /// A figure or table that cannot be made.
    pub fn figure(figure: impl ToString, reason: impl ToString) -> Self {
        Error::Figure {
            figure: figure.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// Returns early with [`Error::Check`] and a formatted message unless the condition holds (the
/// crate's `ensure!`, for the checks of study settings and training runs).
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        // A `match` rather than `if !cond`: conditions are often float comparisons.
        match $cond {
            true => {}
            false => return Err($crate::error::Error::Check(format!($($arg)+))),
        }
    };
}

/// Returns early with [`Error::Check`] and a formatted message (the crate's `bail!`).
macro_rules! bail {
    ($($arg:tt)+) => {
        return Err($crate::error::Error::Check(format!($($arg)+)))
    };
}

pub(crate) use {bail, ensure};
