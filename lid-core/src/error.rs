//! The one error type of `lid-core`.
//!
//! Every variant names the problem in terms a user can act on: which parameter, which row, how many
//! points. Estimators and preparation steps never panic on user data and never return NaN silently;
//! they return one of these.

use std::path::PathBuf;

/// Errors of `lid-core`, grouped by theme.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- Shape and content of the input cloud -------------------------------------------------
    /// The cloud has no rows.
    #[error("the point cloud is empty (0 points)")]
    EmptyCloud,

    /// The cloud has rows but zero columns.
    #[error(
        "the point cloud has {n} points of dimension 0; every point needs at least one coordinate"
    )]
    ZeroDimension {
        /// Number of rows.
        n: usize,
    },

    /// A coordinate is NaN or infinite.
    #[error(
        "non-finite value {value} at row {row}, column {col}; remove or repair such points first"
    )]
    NonFinite {
        /// Row (point) index.
        row: usize,
        /// Column (coordinate) index.
        col: usize,
        /// The offending value.
        value: f64,
    },

    /// Two arrays that must agree in shape do not.
    #[error("shape mismatch in {what}: expected {expected}, got {got}")]
    ShapeMismatch {
        /// What was being compared.
        what: &'static str,
        /// The expected shape, in words.
        expected: String,
        /// The shape received.
        got: String,
    },

    /// Fewer points than an operation needs.
    #[error("too few points for {what}: have {n}, need at least {needed}")]
    TooFewPoints {
        /// The operation.
        what: &'static str,
        /// Points available.
        n: usize,
        /// Points required.
        needed: usize,
    },

    // ---- Parameters ---------------------------------------------------------------------------
    /// A parameter is out of its valid range.
    #[error("invalid parameter `{name}` = {value}: {reason}")]
    InvalidParameter {
        /// Parameter name as the user sees it.
        name: &'static str,
        /// The rejected value, formatted.
        value: String,
        /// Why it is rejected and what is allowed.
        reason: String,
    },

    // ---- Degenerate geometry ------------------------------------------------------------------
    /// Points at distance zero from their nearest neighbour (duplicates) make the TwoNN ratio
    /// `r2 / r1` undefined.
    #[error(
        "{count} of {total} points have a zero nearest-neighbour distance (duplicate points) in {what}; \
         deduplicate the cloud first, or ask the estimator to drop such points"
    )]
    DuplicatePoints {
        /// Where it happened (estimator or neighbourhood).
        what: String,
        /// Number of affected points.
        count: usize,
        /// Number of points considered.
        total: usize,
    },

    /// The data admit no finite estimate (for example every ratio equals one, or all points coincide).
    #[error("degenerate input for {what}: {reason}")]
    Degenerate {
        /// The estimator or statistic.
        what: &'static str,
        /// What is degenerate.
        reason: String,
    },

    // ---- Neighbour graphs and search backends -------------------------------------------------
    /// A `KnnGraph` violates one of its invariants.
    #[error("invalid kNN graph: {reason}")]
    InvalidGraph {
        /// The violated invariant.
        reason: String,
    },

    /// A neighbour-search backend failed.
    #[error("neighbour search backend `{backend}` failed: {message}")]
    Search {
        /// The backend name.
        backend: &'static str,
        /// What went wrong.
        message: String,
    },

    // ---- Files --------------------------------------------------------------------------------
    /// An I/O error, with the path involved.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Shorthand for [`Error::InvalidParameter`].
    pub fn invalid_parameter(
        name: &'static str,
        value: impl std::fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        Error::InvalidParameter {
            name,
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}
