//! `lid export-gguf`: a GGUF Llama model dequantised to f32 as a Hugging Face directory
//! (`config.json`, `model.safetensors`, `tokenizer.json`) that `lid embed`, lid-train and PyTorch
//! `transformers` load ([`lid_embed::export`]).

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::run::paths::OutputCheck;

/// Flags of `lid export-gguf`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    /// The .gguf file.
    pub gguf: PathBuf,
    /// The output directory (new or empty; its parent must exist).
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `lid export-gguf`.
///
/// # Errors
/// An unreadable or unsupported GGUF file, an unusable `--out`, I/O failures.
pub fn run(args: &ExportArgs) -> Result<()> {
    OutputCheck::new()
        .input(&args.gguf)
        .folder("--out", &args.out)
        .check()?;
    if args.out.exists()
        && std::fs::read_dir(&args.out)
            .map_err(|e| Error::io(&args.out, e))?
            .next()
            .is_some()
    {
        return Err(Error::OutputPath {
            flag: "--out".into(),
            path: args.out.clone(),
            reason: "exists and is not empty".into(),
        });
    }
    let export = lid_embed::export::gguf_to_f32(&args.gguf)?;
    lid_embed::export::write_hf_directory(&export, &args.gguf, &args.out)?;
    let values: usize = export.tensors.values().map(|(_, v)| v.len()).sum();
    eprintln!(
        "wrote {} ({} tensors, {values} values, f32)",
        args.out.display(),
        export.tensors.len()
    );
    Ok(())
}
