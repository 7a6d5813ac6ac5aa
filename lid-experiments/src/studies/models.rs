//! Loading a model for a study: the parameters (lid-train, from a Hugging Face directory or a GGUF
//! file dequantised to f32) and its tokenizer (`tokenizer.json` next to the weights, or rebuilt from
//! the GGUF vocabulary), with the maximum length checked against the model's positions at load.

use lid_embed::TextTokenizer;
use lid_train::model::load_model;

use crate::error::{ensure, Error, Result};

/// A model with its tokenizer and special ids.
pub struct Prepared {
    /// The loaded model (parameters in memory).
    pub loaded: lid_train::model::LoadedModel,
    /// Its tokenizer (truncating to the study's maximum length).
    pub tokenizer: TextTokenizer,
    /// The tokenizer as `tokenizer.json` text (copied into checkpoints).
    pub tokenizer_json: String,
}

/// Loads a model (directory or GGUF) and its tokenizer (`tokenizer.json` next to it, or built from
/// the GGUF vocabulary).
///
/// # Errors
/// Loading failures, a missing tokenizer.
pub fn prepare_model(path: &std::path::Path, max_length: usize) -> Result<Prepared> {
    let loaded = load_model(path)?;
    let (tokenizer, json) = match &loaded.tokenizer {
        Some(p) => (
            TextTokenizer::from_file(p, max_length)?,
            std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?,
        ),
        None => {
            let tok = lid_embed::tokenize::tokenizer_from_gguf(path)?;
            let json = tok.to_string(false).map_err(|e| {
                Error::Check(format!(
                    "cannot serialise the tokenizer of {}: {e}",
                    path.display()
                ))
            })?;
            (TextTokenizer::new(tok, max_length)?, json)
        }
    };
    if let Some(max) = loaded.model.net.spec.max_sequence() {
        ensure!(
            max_length <= max,
            "--max-length {max_length} exceeds the {max} positions of {} (lower --max-length)",
            path.display()
        );
    }
    Ok(Prepared {
        loaded,
        tokenizer,
        tokenizer_json: json,
    })
}
