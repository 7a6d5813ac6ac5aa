//! # lid-embed
//!
//! Contextual token vectors from language models, for local intrinsic dimension studies (Ruppik et
//! al., "Less is More: Local Intrinsic Dimensions of Contextual Language Models", NeurIPS 2025).
//!
//! The key design decision: our own forward passes, built from candle-nn layers, return **every**
//! hidden state in Hugging Face numbering (index 0 = embedding output, `i` = after block `i`; for
//! decoders the last index is after the final norm, as `transformers` does; negative indices count
//! from the end), so any layer, or several from one pass, can be extracted. They are checked against
//! PyTorch `transformers` on identical weights and inputs (see `tests/`).
//!
//! Architectures: BERT (and MiniLM), RoBERTa, GPT-2, Llama family from safetensors, and the Llama
//! architecture from quantized GGUF (SmolLM2). Loading is local only: a directory with
//! `config.json`, `model.safetensors` (or a sharded index) and `tokenizer.json`, or a `.gguf` file.
//!
//! Extraction ([`extract::extract`]) tokenises with truncation (paper: 512), batches by length with
//! attention masks, filters tokens by id (paper: drop pad and eos, keep bos) and streams f32 rows in
//! corpus order to `.npy` (one file, or shards per layer) with per-token JSONL metadata. Padding is
//! never stored and memory is bounded by one batch.
//!
//! Devices: CPU by default; the `cuda` and `metal` features forward to candle. Asking for a device
//! that is not compiled in is an [`Error::Device`].
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod corpus;
pub mod device;
pub mod error;
pub mod export;
pub mod extract;
pub mod filter;
pub mod gguf;
pub mod kernels;
pub mod load;
pub mod models;
pub mod output;
pub mod tokenize;

pub use corpus::{read_corpus, read_corpus_from, CorpusFormat, Selection};
pub use device::DeviceKind;
pub use error::{Error, Result};
pub use extract::{
    extract, write_manifest, ExtractOptions, OutputTarget, Progress, Sequence, Summary,
};
pub use filter::{SpecialIds, TokenFilter};
pub use load::{load_model, Architecture, LoadedModel};
pub use models::{HiddenStateModel, LayerIndex};
pub use tokenize::TextTokenizer;
