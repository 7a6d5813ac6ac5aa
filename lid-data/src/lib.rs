//! # lid-data
//!
//! Corpora and dialogue datasets for the studies (placeholder; being written).
#![deny(missing_docs)]
