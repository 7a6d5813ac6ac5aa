//! # lid-embed
//!
//! Contextual token vectors from candle models. (Being written; see issue 4.)
#![deny(missing_docs)]
