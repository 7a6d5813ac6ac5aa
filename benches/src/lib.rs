//! Shared helpers for the lid benchmarks.
