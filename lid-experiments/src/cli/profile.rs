//! `lid profile`: the mean local dimension of every hidden state of a model on a corpus, from one
//! forward pass.
//!
//! The paper's layer ablations ran one extraction and one estimate per layer. `lid profile` runs
//! `lid embed` once with every hidden state requested (Hugging Face numbering, 0 = embedding output
//! up to the last block), streamed to disk, then `lid estimate` on each layer in turn with the
//! paper's preparation (docs/method.md steps 4-9): memory holds one layer's cloud at a time, never
//! all of them. Both steps are the commands themselves, built from the same flags, so a profile's
//! row for layer `i` is the number `lid estimate DIR/vectors --layer i` gives.
//!
//! Outputs, in a run folder (`--out`, new or empty): `profile.csv` and `profile.md` (layer, points,
//! mean, std, median, quartiles, 5 % and 95 % quantiles), `profile.png|svg` (mean, median and
//! quartiles against depth), `layers/layer-<i>.json` (each layer's full `lid estimate` report),
//! `config.json` and `COMPLETE`. The token vectors (`vectors/`) are removed at the end unless
//! `--keep-vectors`.

use std::path::PathBuf;

use clap::{Args, CommandFactory, FromArgMatches, Parser};
use serde::Serialize;

use crate::cli::embed::{self, EmbedArgs};
use crate::cli::estimate::{self, EstimateArgs, EstimateReport, EstimateSettings};
use crate::error::{Error, OptionFlag, Result};
use crate::run::folder::RunFolder;
use crate::run::plot::{LinePlot, Series};
use crate::run::table::Table;

/// Arguments of `lid profile`.
#[derive(Debug, Clone, Args, Serialize)]
pub struct ProfileArgs {
    /// Model directory (config.json, model.safetensors, tokenizer.json) or a .gguf file.
    #[arg(long)]
    pub model: PathBuf,
    /// Corpus: plain text (one sequence per line), .jsonl or .csv (see --field).
    #[arg(long)]
    pub corpus: PathBuf,
    /// JSONL field or CSV column holding the text.
    #[arg(long, default_value = "text")]
    pub field: String,
    /// Sequences sampled from the corpus, M (paper: 10000 or 7000; all by default).
    #[arg(long)]
    pub sequences: Option<usize>,
    /// Seed of that sample (paper: 778).
    #[arg(long, default_value_t = 778)]
    pub sequence_seed: u64,
    /// Truncation length in tokens, special tokens included (paper: 512).
    #[arg(long, default_value_t = 512)]
    pub max_length: usize,
    /// Sequences per forward pass.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// `cpu`, `cuda[:N]` or `metal[:N]`.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Token vectors sampled per layer before deduplication (paper: 150000, seed 42).
    #[arg(long, default_value_t = 150_000)]
    pub token_sample: usize,
    /// Points kept per layer after deduplication, N (paper: 60000).
    #[arg(long, default_value_t = 60_000)]
    pub n_points: usize,
    /// Neighbourhood size L (paper: 128).
    #[arg(long, default_value_t = EstimateSettings::PAPER_NEIGHBORS)]
    pub neighbors: usize,
    /// Run folder for the outputs (new or empty; its parent must exist).
    #[arg(long)]
    pub out: PathBuf,
    /// Keep the token vectors of every layer in `--out`/vectors (removed by default).
    #[arg(long)]
    pub keep_vectors: bool,
}

/// One layer's row of the profile.
#[derive(Debug, Clone, Serialize)]
pub struct LayerRow {
    /// Hidden-state index (Hugging Face numbering, 0 = embedding output).
    pub layer: i64,
    /// Points estimated (after sampling, deduplication and the prefix).
    pub points: usize,
    /// Mean local dimension.
    pub mean: f64,
    /// Standard deviation over the points (ddof 1).
    pub std: f64,
    /// Median.
    pub median: f64,
    /// First and third quartiles.
    pub quartiles: (f64, f64),
    /// 5 % and 95 % quantiles.
    pub q05_q95: (f64, f64),
}

/// Parses `words` (a subcommand's flags, without the program name) into its `clap::Args` struct,
/// with the defaults and checks the command line has.
fn parse_as<A: Args + FromArgMatches>(name: &'static str, words: &[String]) -> Result<A> {
    #[derive(Parser)]
    struct Wrapper;
    let command = A::augment_args(Wrapper::command().name(name).no_binary_name(true));
    let matches = command
        .try_get_matches_from(words)
        .map_err(|e| Error::Check(format!("lid profile built an invalid {name} call: {e}")))?;
    A::from_arg_matches(&matches)
        .map_err(|e| Error::Check(format!("lid profile built an invalid {name} call: {e}")))
}

/// Runs `lid profile` (see the module docs).
///
/// # Errors
/// Bad flags (named), refused output paths, and every error of `lid embed` and `lid estimate`.
pub fn run(args: &ProfileArgs) -> Result<()> {
    check(args)?;
    // `lid embed`'s own checks and loading, with lid-embed's option errors named by this
    // command's flags; the layers and the output folder are filled in once the model is known and
    // the run folder exists.
    let mut embed_args = embed_args(args, &[0], &args.out.join("vectors"))?;
    embed::check_flags(&embed_args)?;
    let inputs = embed::Inputs::load(&embed_args, &|e| {
        Error::from_option(
            e,
            &[
                OptionFlag::new(&["device"], "--device", &args.device),
                OptionFlag::new(&["max-length"], "--max-length", args.max_length),
                OptionFlag::new(&["batch-size"], "--batch-size", args.batch_size),
                OptionFlag::new(&["corpus"], "--corpus", args.corpus.display()),
                OptionFlag::new(
                    &["sample"],
                    "--sequences",
                    args.sequences.map_or_else(String::new, |m| m.to_string()),
                ),
            ],
        )
    })?;
    let layers = inputs.num_blocks();
    let mut folder = RunFolder::create(&args.out, "profile")?;
    folder.write_config(args, &[args.sequence_seed, 42])?;
    let vectors = folder.path().join("vectors");
    let all: Vec<i64> = (0..=layers as i64).collect();
    embed_args.layers = all;
    embed_args.out = vectors.clone();
    embed::check_outputs(&embed_args)?;
    embed::write(&embed_args, &inputs)?;
    let s = |p: &std::path::Path| p.display().to_string();

    let layer_dir = folder.dir("layers")?;
    let mut rows = Vec::with_capacity(layers + 1);
    for layer in 0..=layers as i64 {
        let json = layer_dir.join(format!("layer-{layer}.json"));
        let words: Vec<String> = [
            s(&vectors),
            "--layer".into(),
            layer.to_string(),
            "--sample".into(),
            args.token_sample.to_string(),
            "--keep".into(),
            args.n_points.to_string(),
            "--neighbors".into(),
            args.neighbors.to_string(),
            "--json".into(),
            s(&json),
        ]
        .into();
        let estimate_args = parse_as::<EstimateArgs>("estimate", &words)?;
        let settings = EstimateSettings::from_args(&estimate_args)?;
        let report = estimate::estimate(&estimate_args, &settings)?;
        rows.push(layer_row(layer, &report)?);
        eprintln!(
            "layer {layer:>2}: mean local dimension {:.3} over {} points",
            rows[rows.len() - 1].mean,
            rows[rows.len() - 1].points
        );
    }
    let table = profile_table(&rows)?;
    folder.write_bytes("profile.csv", &table.to_csv()?)?;
    folder.write_text("profile.md", &table.to_markdown())?;
    let name = args
        .model
        .file_name()
        .map_or_else(|| s(&args.model), |n| n.to_string_lossy().into_owned());
    // Mean, median and quartiles: local estimates are skewed (a few tokens in near-duplicate
    // neighbourhoods reach far above the rest), so a mean +- std band would mislead.
    let line = |label: &str, value: &dyn Fn(&LayerRow) -> f64| {
        Series::line(
            label,
            &rows
                .iter()
                .map(|r| (r.layer as f64, value(r)))
                .collect::<Vec<_>>(),
        )
    };
    let plot = LinePlot {
        title: format!("Local dimension by depth: {name}"),
        x_label: "hidden state (0 = embedding output)".into(),
        y_label: "local LID over tokens".into(),
        integer_x: true,
        series: vec![
            line("mean", &|r| r.mean),
            line("median", &|r| r.median),
            line("25 % quantile", &|r| r.quartiles.0),
            line("75 % quantile", &|r| r.quartiles.1),
        ],
        reference_lines: Vec::new(),
        y_range: None,
    };
    folder.write_figure("profile", &plot)?;
    if !args.keep_vectors {
        std::fs::remove_dir_all(&vectors).map_err(|e| Error::io(&vectors, e))?;
    }
    crate::outln!("{}", table.to_markdown());
    let done = folder.finish()?;
    eprintln!("wrote {}", done.display());
    Ok(())
}

/// Checks the flags of this command alone (each refusal names its flag); `lid embed`'s checks
/// and loading follow in [`run`].
fn check(args: &ProfileArgs) -> Result<()> {
    let positive = [
        ("--token-sample", args.token_sample),
        ("--n-points", args.n_points),
        ("--batch-size", args.batch_size),
        ("--max-length", args.max_length),
        ("--sequences", args.sequences.unwrap_or(1)),
    ];
    for (flag, value) in positive {
        if value == 0 {
            return Err(Error::flag(flag, 0, "must be at least 1"));
        }
    }
    // The estimate's own checks (--neighbors), on a placeholder input.
    let words: Vec<String> = ["-", "--neighbors", &args.neighbors.to_string()]
        .iter()
        .map(|w| w.to_string())
        .collect();
    EstimateSettings::from_args(&parse_as::<EstimateArgs>("estimate", &words)?)?;
    for (flag, value) in [
        ("--n-points", args.n_points),
        ("--token-sample", args.token_sample),
    ] {
        if value <= args.neighbors {
            return Err(Error::flag(
                flag,
                value,
                format!(
                    "must exceed --neighbors {} (a neighbourhood needs that many other points)",
                    args.neighbors
                ),
            ));
        }
    }
    Ok(())
}

/// The `lid embed` call of a profile: `layers` of `args`' model on its corpus into `out`.
fn embed_args(args: &ProfileArgs, layers: &[i64], out: &std::path::Path) -> Result<EmbedArgs> {
    let s = |p: &std::path::Path| p.display().to_string();
    let mut words: Vec<String> = [
        "--model",
        &s(&args.model),
        "--corpus",
        &s(&args.corpus),
        "--field",
        &args.field,
        "--seed",
        &args.sequence_seed.to_string(),
        "--max-length",
        &args.max_length.to_string(),
        "--batch-size",
        &args.batch_size.to_string(),
        "--device",
        &args.device,
        "--out",
        &s(out),
        "--quiet",
        "--layers",
    ]
    .iter()
    .map(|w| w.to_string())
    .collect();
    words.push(
        layers
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(","),
    );
    if let Some(m) = args.sequences {
        words.extend(["--sample".to_string(), m.to_string()]);
    }
    parse_as::<EmbedArgs>("embed", &words)
}

fn layer_row(layer: i64, report: &EstimateReport) -> Result<LayerRow> {
    let pw = report.pointwise.as_ref().ok_or_else(|| {
        Error::Check(format!(
            "layer {layer}: the estimate has no pointwise values"
        ))
    })?;
    let q = |level: f64| {
        pw.quantile_levels
            .iter()
            .position(|&l| (l - level).abs() < 1e-12)
            .map_or(f64::NAN, |i| pw.quantile_values[i])
    };
    Ok(LayerRow {
        layer,
        points: pw.summary.count,
        mean: pw.summary.mean,
        std: pw.summary.std.unwrap_or(0.0),
        median: pw.summary.median,
        quartiles: (pw.summary.q25, pw.summary.q75),
        q05_q95: (q(0.05), q(0.95)),
    })
}

fn profile_table(rows: &[LayerRow]) -> Result<Table> {
    let mut table = Table::new([
        "layer", "points", "mean", "std", "median", "q25", "q75", "q05", "q95",
    ]);
    for r in rows {
        table.push_row([
            r.layer.to_string(),
            r.points.to_string(),
            format!("{:.4}", r.mean),
            format!("{:.4}", r.std),
            format!("{:.4}", r.median),
            format!("{:.4}", r.quartiles.0),
            format!("{:.4}", r.quartiles.1),
            format!("{:.4}", r.q05_q95.0),
            format!("{:.4}", r.q05_q95.1),
        ])?;
    }
    Ok(table)
}
