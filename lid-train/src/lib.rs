//! # lid-train
//!
//! Training and fine-tuning transformers on the CPU for the studies of Ruppik et al., "Less is
//! More: Local Intrinsic Dimensions of Contextual Language Models" (NeurIPS 2025): masked and
//! causal language modelling, sequence classification and span-based dialogue state tracking on
//! BERT, RoBERTa, GPT-2 and Llama-family checkpoints (lid-embed's configurations), and the
//! grokking study's small decoder, with a label-free local-dimension probe for any training loop.
//!
//! The key design decision: our own forward and backward passes ([`model::pass`]) on reusable f32
//! buffers with fused CPU kernels ([`kernels`]), rather than candle's autograd. The candle loop of
//! the grokking study ran at 0.22x PyTorch's steps/s on 2 cores; its time went to per-op
//! allocations, single-threaded element-wise ops and graph bookkeeping. Every gradient is checked
//! against PyTorch on golden fixtures (`tests/`), and results are bitwise independent of the
//! thread count.
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod checkpoint;
pub mod compare;
pub mod data;
pub mod dst;
pub mod error;
pub mod heads;
pub mod kernels;
pub mod lora;
pub mod metrics;
pub mod model;
pub mod optim;
pub mod params;
pub mod probe;
pub mod tasks;
pub mod train;

pub use error::{Error, Result};
