//! # lid-experiments
//!
//! The studies of Ruppik et al. (NeurIPS 2025) with their presets, reports and plots, and the commands
//! behind the `lid` binary. Only this crate knows about the command line and run folders.
//!
//! - [`cli`]: the `lid` subcommands (`estimate`, `knn`, `embed`) and input reading.
//! - [`studies`]: the studies (validation, grokking) and the [`studies::Study`] registry of the
//!   default suite.
//! - [`run`]: what every study writes: run folders, tables, figures, metadata, the suite report,
//!   and the output rules (complete or absent; paths checked before work).
//! - [`error`]: the crate's one error type; `anyhow` appears only in `src/bin/`.
//!
//! Where to add a study, an estimator, a backend or a model: `docs/architecture.md`.
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod cli;
pub mod error;
pub mod run;
pub mod studies;

pub use error::{Error, Result};
