//! `lid compare`: the local dimensions of two models (or checkpoints) on the same sampled token
//! positions of several corpora, ranked by the standardized mean difference: which data was the
//! second model tuned on? The measurement of the fine-tuning-shift study
//! ([`lid_train::compare`]) for any pair of models a user has.

use std::path::PathBuf;

use lid_data::AssetDir;

use crate::error::{Error, Result};
use crate::run::paths::OutputCheck;
use crate::run::plot::{ViolinGroup, ViolinPlot};
use crate::run::{RunFolder, StudySummary, Table};
use crate::studies::corpora::{check_distinct, CorpusSource};
use crate::studies::models::prepare_model;
use lid_train::compare::{
    check_same_token_ids, compare_models, fewer_points_warning, ComparedModel, ProbeCorpus,
};

/// Flags of `lid compare`; defaults are the paper's measurement except M and N.
#[derive(Debug, Clone, clap::Args)]
pub struct CompareArgs {
    /// The two models, base first: Hugging Face directories or .gguf files (`--model A --model B`).
    #[arg(long = "model", required = true, num_args = 1)]
    pub models: Vec<PathBuf>,
    /// Corpora: multiwoz, chatterbot, wikipedia, or text/JSONL/CSV files (`path:field` for a
    /// JSONL/CSV field); repeat the flag.
    #[arg(long = "corpus", required = true, num_args = 1)]
    pub corpora: Vec<String>,
    /// Run folder for the outputs (new or empty; its parent must exist).
    #[arg(long)]
    pub out: PathBuf,
    /// Sequences sampled per corpus, M (paper 10,000).
    #[arg(long, default_value_t = 2000)]
    pub sequences: usize,
    /// Seed of that sample (paper 778).
    #[arg(long, default_value_t = 778)]
    pub sequence_seed: u64,
    /// Points kept after deduplication, N (paper 60,000).
    #[arg(long, default_value_t = 20_000)]
    pub n_points: usize,
    /// Neighbourhood size, L (paper 128).
    #[arg(long, default_value_t = 128)]
    pub neighbors: usize,
    /// Tokens per sequence (paper 512).
    #[arg(long, default_value_t = 512)]
    pub max_length: usize,
}

/// Runs `lid compare`.
///
/// # Errors
/// Bad flags, unreadable models or corpora, probe failures, I/O.
pub fn run(args: &CompareArgs) -> Result<()> {
    if args.models.len() != 2 {
        return Err(Error::flag(
            "--model",
            args.models.len(),
            "give exactly two models: --model BASE --model OTHER",
        ));
    }
    let sources: Vec<CorpusSource> = args
        .corpora
        .iter()
        .map(|c| c.parse())
        .collect::<Result<_>>()?;
    check_distinct(&sources.iter().map(|s| ("--corpus", s)).collect::<Vec<_>>())?;
    let mut check = OutputCheck::new().folder("--out", &args.out);
    for m in &args.models {
        check = check.input(m);
    }
    check.check()?;
    let settings = lid_train::probe::ProbeSettings {
        n_points: args.n_points,
        neighbors: args.neighbors,
        ..lid_train::probe::ProbeSettings::paper()
    };
    settings.check().map_err(|e| {
        Error::flag(
            "--n-points / --neighbors",
            format!("{} / {}", args.n_points, args.neighbors),
            e,
        )
    })?;
    if args.sequences < 2 {
        return Err(Error::flag(
            "--sequences",
            args.sequences,
            "must be at least 2",
        ));
    }
    // Both models (and their tokenizers at --max-length) are checked before the folder exists.
    let base = prepare_model(&args.models[0], args.max_length)?;
    let other = prepare_model(&args.models[1], args.max_length)?;
    let mut folder = RunFolder::create(&args.out, "compare")?;
    folder.write_config(&serde_json::json!({"models": args.models, "corpora": args.corpora, "sequences": args.sequences, "sequence_seed": args.sequence_seed, "probe": settings, "max_length": args.max_length}), &[args.sequence_seed, settings.sample_seed])?;
    let assets = AssetDir::from_env_or_workspace();
    let probes = sources
        .iter()
        .map(|s| {
            ProbeCorpus::sample(
                &s.name(),
                false,
                &s.load(&assets)?,
                args.sequences,
                args.sequence_seed,
                &base.tokenizer,
            )
            .map_err(Error::from)
        })
        .collect::<Result<Vec<_>>>()?;
    check_same_token_ids(&probes, &other.tokenizer).map_err(|e| {
        let why = match e {
            lid_train::Error::Input(why) => why,
            other => other.to_string(),
        };
        Error::flag(
            "--model",
            args.models[1].display(),
            format!(
                "its tokenizer differs from that of {}: {why}",
                args.models[0].display()
            ),
        )
    })?;
    let mut warnings = Vec::new();
    let measured = compare_models(
        ComparedModel {
            model: &base.loaded.model,
            special: &base.loaded.special,
        },
        ComparedModel {
            model: &other.loaded.model,
            special: &other.loaded.special,
        },
        &probes,
        &settings,
        |i, p, e| {
            let path = args.models[i].display();
            eprintln!(
                "{path} on {}: mean LID {:.3} over {} points",
                p.name, e.point.mean, e.point.n_points
            );
            if let Some(w) = fewer_points_warning("--n-points ", &settings, &path.to_string(), p, e)
            {
                let warning = format!("warning: {w}");
                eprintln!("{warning}");
                warnings.push(warning);
            }
        },
    )?;
    let estimates = [measured.base, measured.other];
    let mut rows = measured.rows;
    rows.sort_by(|a, b| b.smd.total_cmp(&a.smd));
    let mut table = Table::new([
        "rank",
        "corpus",
        "base_mean",
        "other_mean",
        "smd",
        "smd_lower",
        "smd_upper",
        "points",
        "other_points",
        "base_duplicates_removed",
        "other_duplicates_removed",
        "base_near_duplicate_share",
        "other_near_duplicate_share",
    ]);
    for (i, r) in rows.iter().enumerate() {
        table.push_row([
            (i + 1).to_string(),
            r.corpus.clone(),
            format!("{:.4}", r.base_mean),
            format!("{:.4}", r.tuned_mean),
            format!("{:.4}", r.smd),
            format!("{:.4}", r.smd_lower),
            format!("{:.4}", r.smd_upper),
            r.base_points.to_string(),
            r.tuned_points.to_string(),
            r.base_duplicates_removed.to_string(),
            r.tuned_duplicates_removed.to_string(),
            format!("{:.4}", r.base_near_duplicate_share),
            format!("{:.4}", r.tuned_near_duplicate_share),
        ])?;
    }
    folder.write_table("summary.csv", &table)?;
    folder.write_json("comparisons.json", &rows)?;
    let order: Vec<usize> = rows
        .iter()
        .map(|r| probes.iter().position(|p| p.name == r.corpus).unwrap_or(0))
        .collect();
    let violins = ViolinPlot {
        title: "Local LID per corpus: base vs other model".into(),
        y_label: "local LID (TwoNN)".into(),
        variants: vec![
            args.models[0].display().to_string(),
            args.models[1].display().to_string(),
        ],
        groups: order
            .iter()
            .zip(&rows)
            .map(|(&i, r)| ViolinGroup {
                label: format!("{} (SMD {:.2})", r.corpus, r.smd),
                distributions: vec![estimates[0][i].local.clone(), estimates[1][i].local.clone()],
            })
            .collect(),
    };
    folder.write_figure("violins", &violins)?;
    let top = rows.first().map_or(String::new(), |r| {
        format!("largest drop on {} (SMD {:.2})", r.corpus, r.smd)
    });
    let markdown = table.to_markdown();
    let notes: String = warnings.iter().map(|w| format!("- {w}\n")).collect();
    folder.write_report(&format!("# lid compare\n\nBase `{}`, other `{}`; corpora ranked by SMD (base minus other mean local LID over the pooled std; positive = lower LID in the other model): {top}.\n\n{notes}\n{markdown}\n![violins](violins.png)\n", args.models[0].display(), args.models[1].display()))?;
    folder.write_json("warnings.json", &warnings)?;
    folder.write_summary(&StudySummary {
        study: "compare".into(),
        title: "lid compare".into(),
        headline: top,
        table_markdown: Some(markdown.clone()),
        figures: Vec::new(),
        direction: None,
    })?;
    folder.finish()?;
    crate::outln!("{markdown}");
    Ok(())
}
