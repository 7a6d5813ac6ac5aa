//! # lid-train
//!
//! Training transformers on the CPU (placeholder; being written).
#![deny(missing_docs)]
