//! `lid embed`: token vectors of a model's hidden states for a corpus, streamed to `.npy`.
//!
//! Paper defaults (Ruppik et al. 2025, docs/method.md steps 1-3): last hidden state (`--layers -1`),
//! truncation to 512 tokens, pad and eos dropped, bos kept, seeded sampling of M sequences with seed
//! 778. Output: a folder (`manifest.json`, `tokens.jsonl`, `layer_<index>/shard_*.npy`) or, when
//! `--out` ends in `.npy` and one layer is asked for, a single 2-D f32 array in corpus order with
//! `--tokens-out` metadata (one JSON object per row).
//!
//! Order of work: flags; output paths ([`crate::run::paths`]: a `.npy` out's folder exists and is
//! writable, a folder out is new or empty, no output is the model, tokenizer or corpus); device and
//! model; `--max-length` against the model's position limit
//! ([`lid_embed::LoadedModel::check_max_length`]: refused for learned positions, a warning beyond a
//! rotary model's trained length); then the corpus and the extraction. Outputs are complete or
//! absent: files appear under their final names only when the extraction succeeded, and an output
//! folder holds the `PARTIAL` marker and no `manifest.json` until then (see `lid_embed::extract`).
//!
//! Resume: a folder output is checkpointed (`progress.json`); after a kill, `lid embed --resume`
//! with the same flags continues from the last checkpoint, skipping the batches done, and writes
//! the same bytes as an uninterrupted run (`tests/resume_embed.rs`). Errors of the library name
//! the flag they come from (`--batch-size 0: ...`).

use std::path::PathBuf;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use lid_embed::{
    extract, load_model, read_corpus, write_manifest, CorpusFormat, DeviceKind, ExtractOptions,
    LayerIndex, OutputTarget, Selection, Sequence, TextTokenizer, TokenFilter,
};
use serde::{Deserialize, Serialize};

use crate::error::{Error, OptionFlag, Result};
use crate::run::paths::OutputCheck;

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
    /// Truncation length in tokens, special tokens included (paper: 512). Checked against the
    /// model's positions when it is loaded.
    #[arg(long, default_value_t = ExtractOptions::default().max_length)]
    pub max_length: usize,
    /// Sequences per forward pass (grouped by length).
    #[arg(long, default_value_t = ExtractOptions::default().batch_size)]
    pub batch_size: usize,
    /// Token filter: pad-eos (paper: drop pad and eos, keep bos), mask (keep every real token),
    /// special (drop all special tokens).
    #[arg(long, default_value = "pad-eos")]
    pub filter: String,
    /// `cpu`, `cuda[:N]` or `metal[:N]` (GPU devices need a build with the matching feature).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Output folder (new or empty), or a .npy file when one layer is extracted.
    #[arg(long)]
    pub out: PathBuf,
    /// With a .npy --out: write the per-row token metadata (JSONL) here.
    #[arg(long)]
    pub tokens_out: Option<PathBuf>,
    /// Rows per shard file in folder output.
    #[arg(long, default_value_t = 262_144)]
    pub shard_rows: usize,
    /// Continue the interrupted extraction in the --out folder from its last checkpoint (same
    /// flags as the interrupted run; checked). A folder without a checkpoint starts from the
    /// beginning.
    #[arg(long)]
    pub resume: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Names the flag behind a `lid_embed` option error (`invalid option batch-size` ->
/// `--batch-size 0: ...`); other errors pass through.
fn name_flag(e: lid_embed::Error, args: &EmbedArgs) -> Error {
    let (sample_flag, sample) = match (args.sample, args.first) {
        (Some(m), _) => ("--sample", m.to_string()),
        (None, Some(m)) => ("--first", m.to_string()),
        (None, None) => ("--sample", String::new()),
    };
    let tokenizer = args.tokenizer.as_ref().map_or_else(
        || "(the tokenizer.json next to the model)".to_string(),
        |p| p.display().to_string(),
    );
    Error::from_option(
        e,
        &[
            OptionFlag::new(&["batch-size"], "--batch-size", args.batch_size),
            OptionFlag::new(
                &["layers", "layer"],
                "--layers",
                format!("{:?}", args.layers),
            ),
            OptionFlag::new(&["out", "output"], "--out", args.out.display()),
            OptionFlag::new(&["max-length"], "--max-length", args.max_length),
            OptionFlag::new(&["shard-rows"], "--shard-rows", args.shard_rows),
            OptionFlag::new(&["device"], "--device", &args.device),
            OptionFlag::new(&["filter"], "--filter", &args.filter),
            OptionFlag::new(&["resume"], "--resume", ""),
            OptionFlag::new(&["tokenizer"], "--tokenizer", tokenizer),
            OptionFlag::new(&["corpus"], "--corpus", args.corpus.display()),
            OptionFlag::new(&["sample"], sample_flag, sample),
        ],
    )
}

/// The model of an extraction, as recorded in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelProvenance {
    /// The model path as given.
    pub path: PathBuf,
    /// The architecture that ran it.
    pub architecture: serde_json::Value,
    /// Special token ids (used by the filter and for padding).
    pub special_ids: serde_json::Value,
    /// The position limit read from its configuration.
    #[serde(default)]
    pub position_limit: serde_json::Value,
}

/// The corpus of an extraction, as recorded in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorpusProvenance {
    /// The corpus path as given.
    pub path: PathBuf,
    /// Its format (text, JSONL field, CSV column).
    pub format: serde_json::Value,
    /// Non-empty sequences in it.
    pub non_empty_sequences: usize,
}

/// What `lid embed` records under `provenance` in `manifest.json`; `lid estimate` reads it back to
/// name the model, layer and corpus of a folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedProvenance {
    /// The model.
    pub model: ModelProvenance,
    /// The tokenizer file used, if not the model's own vocabulary.
    #[serde(default)]
    pub tokenizer: Option<PathBuf>,
    /// The corpus.
    pub corpus: CorpusProvenance,
    /// Which sequences were embedded.
    pub selection: serde_json::Value,
    /// The device.
    pub device: String,
}

fn json_value<T: Serialize>(value: &T, what: &str) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| Error::json(what, e))
}

/// Runs `lid embed` (see the module docs for the order of checks).
///
/// # Errors
/// Bad flags, refused output paths, a `--max-length` beyond the model's positions, model, corpus
/// or extraction failures; each names the flag or file.
pub fn run(args: &EmbedArgs) -> Result<()> {
    check_flags(args)?;
    check_outputs(args)?;
    let inputs = Inputs::load(args, &|e| name_flag(e, args))?;
    write(args, &inputs)
}

/// The checks of the flags alone, before any file is looked at.
///
/// # Errors
/// A zero `--batch-size`, `--shard-rows` or `--max-length`; a `.npy` `--out` with several layers
/// or `--resume`; `--tokens-out` with a folder output.
pub fn check_flags(args: &EmbedArgs) -> Result<()> {
    if args.batch_size == 0 {
        return Err(Error::flag("--batch-size", 0, "must be at least 1"));
    }
    if args.shard_rows == 0 {
        return Err(Error::flag("--shard-rows", 0, "must be at least 1"));
    }
    if args.max_length == 0 {
        return Err(Error::flag(
            "--max-length",
            0,
            "must be at least 1 (the paper truncates to 512)",
        ));
    }
    let layers: Vec<LayerIndex> = args.layers.iter().map(|&l| LayerIndex(l)).collect();
    let is_npy = args.out.extension().is_some_and(|e| e == "npy");
    if is_npy && layers.len() != 1 {
        return Err(Error::flag(
            "--out",
            args.out.display(),
            format!(
                "a .npy file holds one layer, {} were asked for with --layers; give a folder",
                layers.len()
            ),
        ));
    }
    if is_npy && args.resume {
        return Err(Error::flag(
            "--resume",
            "",
            "continues a folder output; a single .npy --out is written in one go (start again)",
        ));
    }
    if !is_npy && args.tokens_out.is_some() {
        return Err(Error::flag(
            "--tokens-out",
            args.tokens_out.as_deref().unwrap_or(&args.out).display(),
            "is for a .npy --out; a folder output always holds tokens.jsonl",
        ));
    }
    Ok(())
}

/// Whether `--out` is a single `.npy` file (else a folder).
fn is_npy(args: &EmbedArgs) -> bool {
    args.out.extension().is_some_and(|e| e == "npy")
}

/// The checks of the output paths ([`crate::run::paths`]), before anything is loaded.
///
/// # Errors
/// A refused `--out` or `--tokens-out`, an interrupted folder without `--resume` (or a finished
/// or foreign one with it).
pub fn check_outputs(args: &EmbedArgs) -> Result<()> {
    let is_npy = is_npy(args);
    let mut outputs = OutputCheck::new().input(&args.model).input(&args.corpus);
    if let Some(t) = &args.tokenizer {
        outputs = outputs.input(t);
    }
    let interrupted = args.out.join(lid_embed::output::PARTIAL_MARKER).is_file();
    outputs = if is_npy {
        outputs
            .file("--out", &args.out)
            .maybe_file("--tokens-out", args.tokens_out.as_deref())
    } else if args.resume && args.out.is_dir() {
        if !interrupted {
            let complete = args.out.join(lid_embed::output::MANIFEST_FILE).is_file();
            return Err(Error::flag(
                "--resume",
                args.out.display(),
                if complete {
                    "the folder holds a finished extraction (manifest.json, no PARTIAL marker); \
                     there is nothing to resume"
                } else {
                    "the folder holds no interrupted lid embed extraction (no PARTIAL marker)"
                },
            ));
        }
        // The folder exists: its manifest must be writable there and must not be an input.
        outputs.file("--out", &args.out.join(lid_embed::output::MANIFEST_FILE))
    } else {
        if interrupted {
            return Err(Error::flag(
                "--out",
                args.out.display(),
                "holds an interrupted lid embed extraction (PARTIAL marker); add --resume (with \
                 the same flags) to continue it, or choose a new folder",
            ));
        }
        outputs.folder("--out", &args.out)
    };
    outputs.check()?;
    Ok(())
}

/// What `lid embed` loads and checks before it writes anything: the device, the model and its
/// tokenizer (checked against each other and `--max-length`), the corpus and the sequences chosen.
pub struct Inputs {
    device_kind: DeviceKind,
    filter: TokenFilter,
    model: lid_embed::LoadedModel,
    tokenizer: TextTokenizer,
    format: CorpusFormat,
    texts: Vec<String>,
    selection: Selection,
    chosen: Vec<usize>,
}

impl Inputs {
    /// Loads and checks the inputs of `args`; `name` turns lid-embed's option errors into errors
    /// naming the caller's flags (`lid profile` has `--sequences` where `lid embed` has
    /// `--sample`).
    ///
    /// # Errors
    /// An unknown `--device` or `--filter`, model, tokenizer or corpus failures, a `--max-length`
    /// the model or tokenizer cannot take, more sequences asked for than the corpus has.
    pub fn load(args: &EmbedArgs, name: &dyn Fn(lid_embed::Error) -> Error) -> Result<Self> {
        let device_kind: DeviceKind = args.device.parse().map_err(name)?;
        let filter: TokenFilter = args.filter.parse().map_err(name)?;
        let device = device_kind.open()?;
        let mut model = load_model(&args.model, &device)?;
        // On the CPU, the forward of every other measurement (probe, compare, sweep, studies):
        // bitwise invariant to batch composition and sequence length.
        lid_train::model::use_packed_forward(&mut model)?;
        if let Some(warning) = model.check_max_length(args.max_length).map_err(name)? {
            eprintln!("warning: {warning}");
        }
        let tokenizer = match (&args.tokenizer, &model.tokenizer_path) {
            (Some(path), _) | (None, Some(path)) => {
                TextTokenizer::from_file(path, args.max_length).map_err(name)?
            }
            (None, None) if model.architecture == lid_embed::Architecture::QuantizedLlama => {
                TextTokenizer::new(
                    lid_embed::tokenize::tokenizer_from_gguf(&args.model)?,
                    args.max_length,
                )
                .map_err(name)?
            }
            (None, None) => {
                return Err(Error::flag(
                    "--tokenizer",
                    "",
                    format!(
                        "no tokenizer.json next to {}; pass --tokenizer",
                        args.model.display()
                    ),
                ))
            }
        };
        model.check_tokenizer(&tokenizer).map_err(name)?;
        let format = CorpusFormat::infer(&args.corpus, Some(&args.field));
        let texts = read_corpus(&args.corpus, &format)?;
        let selection = match (args.sample, args.first) {
            (Some(m), _) => Selection::Sample { m, seed: args.seed },
            (None, Some(m)) => Selection::First(m),
            (None, None) => Selection::All,
        };
        let chosen = selection.choose(texts.len()).map_err(name)?;
        Ok(Self {
            device_kind,
            filter,
            model,
            tokenizer,
            format,
            texts,
            selection,
            chosen,
        })
    }

    /// The number of blocks of the model (its hidden states are numbered 0..=blocks).
    pub fn num_blocks(&self) -> usize {
        self.model.model.num_blocks()
    }
}

/// Extracts the token vectors of `inputs` as `args` asks (the flags and outputs checked by
/// [`check_flags`] and [`check_outputs`]) and writes them with the manifest.
///
/// # Errors
/// Extraction and I/O failures, each naming its flag or file.
pub fn write(args: &EmbedArgs, inputs: &Inputs) -> Result<()> {
    let Inputs {
        device_kind,
        filter,
        model,
        tokenizer,
        format,
        texts,
        selection,
        chosen,
    } = inputs;
    let is_npy = is_npy(args);
    let layers: Vec<LayerIndex> = args.layers.iter().map(|&l| LayerIndex(l)).collect();
    let sequences: Vec<Sequence<'_>> = chosen
        .iter()
        .map(|&id| Sequence {
            id,
            text: &texts[id],
        })
        .collect();

    let options = ExtractOptions {
        layers,
        max_length: args.max_length,
        batch_size: args.batch_size,
        filter: *filter,
    };
    let target = if is_npy {
        OutputTarget::NpyFile {
            path: args.out.clone(),
            tokens: args.tokens_out.clone(),
        }
    } else {
        OutputTarget::Directory {
            dir: args.out.clone(),
            shard_rows: args.shard_rows,
            resume: args.resume,
        }
    };

    // One writer per output folder: the lock is held until this command ends (a kill releases it),
    // taken after every check so that a refused run leaves no folder behind.
    let _lock = if is_npy {
        None
    } else {
        std::fs::create_dir_all(&args.out).map_err(|e| Error::io(&args.out, e))?;
        Some(crate::run::folder::lock_folder(&args.out)?)
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
    let summary = extract(model, tokenizer, &sequences, &options, &target, &mut |p| {
        bar.set_position(p.sequences_done as u64);
        bar.set_message(format!("{} tokens", p.tokens_done));
    })
    .map_err(|e| name_flag(e, args))?;
    bar.finish_and_clear();
    if summary.batches_resumed > 0 {
        eprintln!(
            "resumed {}: {} batches were done by the interrupted run and skipped",
            args.out.display(),
            summary.batches_resumed
        );
    }

    if let OutputTarget::Directory { dir, .. } = &target {
        let provenance = EmbedProvenance {
            model: ModelProvenance {
                path: args.model.clone(),
                architecture: json_value(&model.architecture, "manifest.json")?,
                special_ids: json_value(&model.special, "manifest.json")?,
                position_limit: json_value(&model.position_limit, "manifest.json")?,
            },
            tokenizer: args.tokenizer.clone().or(model.tokenizer_path.clone()),
            corpus: CorpusProvenance {
                path: args.corpus.clone(),
                format: json_value(format, "manifest.json")?,
                non_empty_sequences: texts.len(),
            },
            selection: json_value(selection, "manifest.json")?,
            device: device_kind.to_string(),
        };
        let manifest = write_manifest(
            dir,
            &summary,
            &options,
            json_value(&provenance, "manifest.json")?,
        )?;
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
