//! # lid-experiments
//!
//! The studies of Ruppik et al. (NeurIPS 2025) with their presets, reports and plots, and the commands
//! behind the `lid` binary. Only this crate knows about the command line and run folders.
#![deny(missing_docs)]
