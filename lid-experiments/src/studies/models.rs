//! Loading a model for a study: the parameters (lid-train, from a Hugging Face directory or a GGUF
//! file dequantised to f32) and its tokenizer (`tokenizer.json` next to the weights, or rebuilt from
//! the GGUF vocabulary), with the maximum length checked against the model's positions at load.

use lid_train::model::PreparedModel;

use crate::error::{Error, OptionFlag, Result};

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

/// Loads a model (directory or GGUF) and its tokenizer (`tokenizer.json` next to it, or built from
/// the GGUF vocabulary) through [`PreparedModel::load`], naming `--max-length` when the limit is
/// refused.
///
/// # Errors
/// Loading failures, a missing tokenizer, a `--max-length` the tokenizer or the model's positions
/// cannot use.
pub fn prepare_model(path: &std::path::Path, max_length: usize) -> Result<PreparedModel> {
    PreparedModel::load(path, max_length).map_err(|e| match e {
        // A limit the tokenizer or the model cannot use is the user's `--max-length`.
        lid_train::Error::Embed(e) => Error::from_option(
            e,
            &[OptionFlag::new(&["max-length"], "--max-length", max_length)],
        ),
        other => other.into(),
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
