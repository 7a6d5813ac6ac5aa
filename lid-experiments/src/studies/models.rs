//! Loading a model for a study: the parameters (lid-train, from a Hugging Face directory or a GGUF
//! file dequantised to f32) and its tokenizer (`tokenizer.json` next to the weights, or rebuilt from
//! the GGUF vocabulary), with the maximum length checked against the model's positions at load.

use lid_embed::TextTokenizer;
use lid_train::model::load_model;

use crate::error::{ensure, Error, OptionFlag, Result};

/// The default model of a cpu or quick preset, `relative` to the asset folder (`minilm`,
/// `smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`): `assets/<relative>` when the current folder has it
/// (the repository root, where the presets' recorded settings have always said `assets/...`), else
/// under `$LID_ASSETS`, else under the workspace's `assets` folder (where
/// `scripts/fetch-assets.sh` puts it). A study run from another folder thus finds the model that
/// `scripts/fetch-assets.sh` fetched instead of failing with "assets/minilm: expected a model
/// directory"; the path it used is recorded in the run's `config.json`.
pub fn asset_model(relative: &str) -> std::path::PathBuf {
    let local = std::path::Path::new("assets").join(relative);
    if local.exists() {
        return local;
    }
    lid_data::AssetDir::from_env_or_workspace()
        .root()
        .join(relative)
}

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
    // A limit the tokenizer cannot use is the user's `--max-length`.
    let name_limit = |e: lid_embed::Error| {
        Error::from_option(
            e,
            &[OptionFlag::new(&["max-length"], "--max-length", max_length)],
        )
    };
    let (tokenizer, json) = match &loaded.tokenizer {
        Some(p) => (
            TextTokenizer::from_file(p, max_length).map_err(name_limit)?,
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
            (
                TextTokenizer::new(tok, max_length).map_err(name_limit)?,
                json,
            )
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Cargo runs unit tests in the crate's folder, which has no `assets`: the presets' default
    /// model is still found (where `scripts/fetch-assets.sh` put it).
    #[test]
    fn preset_models_are_found_outside_the_repository_root() {
        assert!(!std::path::Path::new("assets").exists());
        let minilm = asset_model("minilm");
        assert!(minilm.join("config.json").is_file(), "{}", minilm.display());
    }
}
