//! # lid-experiments
//!
//! The studies of Ruppik et al. (NeurIPS 2025) with their presets, reports and plots, and the commands
//! behind the `lid` binary. Only this crate knows about the command line and run folders.
#![allow(missing_docs)] // TODO(issue 2): deny once the modules are written.

pub mod embed_cmd;
pub mod estimate_cmd;
pub mod grokking;
pub mod input;
pub mod report;
pub mod validation;
