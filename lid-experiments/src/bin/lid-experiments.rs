//! `lid-experiments`: the reproduction suite.
//!
//! Without a subcommand it runs the default suite: the quick preset of every registered study
//! (`lid_experiments::studies::registry`), each into a subfolder of one run folder, with one
//! top-level `report.md`. Studies are also subcommands with their own flags: add a variant to
//! [`Command`] and one arm to the `match` in `main` (the registry is what the suite runs; see
//! docs/architecture.md). This file is the `anyhow` edge: the library returns
//! `lid_experiments::Error`.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};
use lid_experiments::run::suite::run_suite;
use lid_experiments::run::RunFolder;
use lid_experiments::studies::{dst, emowoz, finetune_shift, grokking, registry, validation};

/// Reproductions of Ruppik et al., "Less is More: Local Intrinsic Dimensions of Contextual Language
/// Models" (NeurIPS 2025). Without a subcommand: the quick preset of every study, one report.
#[derive(Debug, Parser)]
#[command(
    name = "lid-experiments",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    /// Suite run folder (default: runs/suite-YYYYMMDD-HHMMSS, UTC; its parent must exist).
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

/// The studies, each with its own flags.
#[derive(Debug, Subcommand)]
enum Command {
    /// Estimators against synthetic manifolds of known dimension.
    Validate(validation::ValidateArgs),
    /// Grokking of modular arithmetic with the LID probe (REFERENCE.md study 4).
    Grokking(grokking::GrokkingArgs),
    /// Fine-tuning lowers local dimension on its own domain only (REFERENCE.md study 1).
    FinetuneShift(finetune_shift::FinetuneArgs),
    /// Dialogue state tracking: LID stabilises when joint goal accuracy saturates (study 2).
    Dst(dst::DstArgs),
    /// Overfitting: LID climbs back with the validation loss (study 3, offline stand-in).
    Emowoz(emowoz::EmowozArgs),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        None => {
            let folder = match &cli.out {
                Some(dir) => RunFolder::create(dir, "suite")?,
                None => RunFolder::timestamped("runs", "suite")?,
            };
            eprintln!("suite run folder {}", folder.path().display());
            let (path, _) = run_suite(folder, registry(), &mut |line| eprintln!("{line}"))?;
            println!("{}", path.join("report.md").display());
        }
        Some(Command::Validate(args)) => {
            validation::run_cli(&args)?;
        }
        Some(Command::Grokking(args)) => grokking::run_cli(&args)?,
        Some(Command::FinetuneShift(args)) => finetune_shift::run_cli(&args)?,
        Some(Command::Dst(args)) => dst::run_cli(&args)?,
        Some(Command::Emowoz(args)) => emowoz::run_cli(&args)?,
    }
    Ok(())
}
