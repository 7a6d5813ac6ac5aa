//! `lid embed`: token vectors of a model's hidden states for a corpus, streamed to `.npy`.
//!
//! Paper defaults (Ruppik et al. 2025, REFERENCE.md steps 1-3): last hidden state (`--layers -1`),
//! truncation to 512 tokens, pad and eos dropped, bos kept, seeded sampling of M sequences with seed
//! 778. Output: a directory (`manifest.json`, `tokens.jsonl`, `layer_<index>/shard_*.npy`) or, when
//! `--out` ends in `.npy` and one layer is asked for, a single 2-D f32 array in corpus order with
//! `--tokens-out` metadata (one JSON object per row).

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use lid_embed::{
    extract, load_model, read_corpus, write_manifest, CorpusFormat, DeviceKind, ExtractOptions,
    LayerIndex, OutputTarget, Selection, Sequence, TextTokenizer, TokenFilter,
};

/// Arguments of `lid embed`.
#[derive(Debug, Clone, Args)]
pub struct EmbedArgs {
    /// Model directory (config.json, model.safetensors, tokenizer.json) or a .gguf file.
    #[arg(long)]
    pub model: PathBuf,
    /// tokenizer.json to use instead of the one next to the model (GGUF files without one use the
    /// vocabulary stored in the file).
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Corpus: plain text (one sequence per line), .jsonl (see --field) or .csv (see --field).
    #[arg(long)]
    pub corpus: PathBuf,
    /// JSONL field or CSV column holding the text.
    #[arg(long, default_value = "text")]
    pub field: String,
    /// Hidden states to extract, comma separated, Hugging Face numbering (0 = embeddings, -1 = last).
    #[arg(
        long,
        default_value = "-1",
        value_delimiter = ',',
        allow_hyphen_values = true
    )]
    pub layers: Vec<i64>,
    /// Embed M sequences sampled without replacement with --seed (paper: 10000 or 7000).
    #[arg(long, conflicts_with = "first")]
    pub sample: Option<usize>,
    /// Embed the first M sequences instead of a sample.
    #[arg(long)]
    pub first: Option<usize>,
    /// Seed of the sequence sample (paper: 778).
    #[arg(long, default_value_t = 778)]
    pub seed: u64,
    /// Truncation length in tokens, special tokens included (paper: 512).
    #[arg(long, default_value_t = 512)]
    pub max_length: usize,
    /// Sequences per forward pass (grouped by length).
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Token filter: pad-eos (paper: drop pad and eos, keep bos), mask (keep every real token),
    /// special (drop all special tokens).
    #[arg(long, default_value = "pad-eos")]
    pub filter: String,
    /// `cpu`, `cuda[:N]` or `metal[:N]` (GPU devices need a build with the matching feature).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Output directory, or a .npy file when one layer is extracted.
    #[arg(long)]
    pub out: PathBuf,
    /// With a .npy --out: write the per-row token metadata (JSONL) here.
    #[arg(long)]
    pub tokens_out: Option<PathBuf>,
    /// Rows per shard file in directory output.
    #[arg(long, default_value_t = 262_144)]
    pub shard_rows: usize,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Runs `lid embed`.
pub fn run(args: &EmbedArgs) -> anyhow::Result<()> {
    let device_kind: DeviceKind = args.device.parse()?;
    let filter: TokenFilter = args.filter.parse()?;
    let device = device_kind.open()?;
    let model = load_model(&args.model, &device)
        .with_context(|| format!("loading model {}", args.model.display()))?;
    let tokenizer = match (&args.tokenizer, &model.tokenizer_path) {
        (Some(path), _) | (None, Some(path)) => TextTokenizer::from_file(path, args.max_length)?,
        (None, None) if model.architecture == lid_embed::Architecture::QuantizedLlama => {
            TextTokenizer::new(
                lid_embed::tokenize::tokenizer_from_gguf(&args.model)?,
                args.max_length,
            )?
        }
        (None, None) => bail!(
            "no tokenizer.json next to {}; pass --tokenizer",
            args.model.display()
        ),
    };
    let format = CorpusFormat::infer(&args.corpus, Some(&args.field));
    let texts = read_corpus(&args.corpus, &format)?;
    let selection = match (args.sample, args.first) {
        (Some(m), _) => Selection::Sample { m, seed: args.seed },
        (None, Some(m)) => Selection::First(m),
        (None, None) => Selection::All,
    };
    let chosen = selection.choose(texts.len())?;
    let sequences: Vec<Sequence<'_>> = chosen
        .iter()
        .map(|&id| Sequence {
            id,
            text: &texts[id],
        })
        .collect();

    let options = ExtractOptions {
        layers: args.layers.iter().map(|&l| LayerIndex(l)).collect(),
        max_length: args.max_length,
        batch_size: args.batch_size,
        filter,
    };
    let is_npy = args.out.extension().is_some_and(|e| e == "npy");
    let target = if is_npy {
        OutputTarget::NpyFile {
            path: args.out.clone(),
            tokens: args.tokens_out.clone(),
        }
    } else {
        if args.tokens_out.is_some() {
            bail!("--tokens-out is for a .npy --out; a directory output always holds tokens.jsonl");
        }
        std::fs::create_dir_all(&args.out)
            .with_context(|| format!("creating {}", args.out.display()))?;
        OutputTarget::Directory {
            dir: args.out.clone(),
            shard_rows: args.shard_rows,
        }
    };

    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(sequences.len() as u64)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} embed [{elapsed_precise}] {bar:40} {pos}/{len} sequences ({per_sec}, eta {eta}) {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let summary = extract(
        &model,
        &tokenizer,
        &sequences,
        &options,
        &target,
        &mut |p| {
            bar.set_position(p.sequences_done as u64);
            bar.set_message(format!("{} tokens", p.tokens_done));
        },
    )?;
    bar.finish_and_clear();

    if let OutputTarget::Directory { dir, .. } = &target {
        let provenance = serde_json::json!({
            "model": {"path": args.model, "architecture": model.architecture, "special_ids": model.special},
            "tokenizer": args.tokenizer.clone().or(model.tokenizer_path.clone()),
            "corpus": {"path": args.corpus, "format": format, "non_empty_sequences": texts.len()},
            "selection": selection,
            "device": device_kind.to_string(),
        });
        let manifest = write_manifest(dir, &summary, &options, provenance)?;
        eprintln!("wrote {}", manifest.display());
    }
    let rate = summary.tokens_total as f64 / summary.forward_seconds.max(1e-9);
    eprintln!(
        "embedded {} sequences ({} truncated), {} tokens, kept {} rows x {} for layer(s) {:?} in {:.2} s ({:.0} tokens/s) -> {}",
        summary.sequences,
        summary.truncated_sequences,
        summary.tokens_total,
        summary.tokens_kept,
        summary.hidden_size,
        summary.layers.iter().map(|l| l.index).collect::<Vec<_>>(),
        summary.forward_seconds,
        rate,
        args.out.display()
    );
    Ok(())
}
