//! `lid-experiments`: the reproduction suite.
//!
//! `reproduce --preset cpu|quick` runs every registered study (`lid_experiments::studies::registry`)
//! at that preset, each into a subfolder of one run folder, with one top-level `report.md`,
//! resumable with `--resume`. Without a subcommand it runs the default suite: `reproduce --preset
//! quick`. Studies are also subcommands with their own flags: add a variant to
//! [`Command`] and one arm to the `match` in `main` (the registry is what the suite runs; see
//! docs/architecture.md). This file is the `anyhow` edge: the library returns
//! `lid_experiments::Error`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Parser, Subcommand};
use lid_experiments::run::suite::{run_suite, SuiteFolder};
use lid_experiments::run::Preset;
use lid_experiments::studies::{dst, emowoz, finetune_shift, grokking, registry, validation};

/// Reproductions of Ruppik et al., "Less is More: Local Intrinsic Dimensions of Contextual Language
/// Models" (NeurIPS 2025). Without a subcommand: the quick preset of every study, one report
/// (`reproduce --preset quick`).
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
    /// Every study at one preset into one run folder with one report (resumable).
    Reproduce(ReproduceArgs),
    /// Estimators against synthetic manifolds of known dimension.
    Validate(validation::ValidateArgs),
    /// Grokking of modular arithmetic with the LID probe (docs/reproduction.md study 4).
    Grokking(grokking::GrokkingArgs),
    /// Fine-tuning lowers local dimension on its own domain only (docs/reproduction.md study 1).
    FinetuneShift(finetune_shift::FinetuneArgs),
    /// Dialogue state tracking: LID stabilises when joint goal accuracy saturates (study 2).
    Dst(dst::DstArgs),
    /// Overfitting: LID climbs back with the validation loss (study 3, offline stand-in).
    Emowoz(emowoz::EmowozArgs),
}

/// Flags of `lid-experiments reproduce`.
#[derive(Debug, clap::Args)]
struct ReproduceArgs {
    /// The preset every study runs: `cpu` (the paper's model and optimizer settings where 2 cores
    /// allow, about 2 hours in all) or `quick` (the default suite, minutes).
    #[arg(long, value_enum, default_value_t = Preset::Cpu)]
    preset: Preset,
    /// Suite run folder (default: runs/suite-YYYYMMDD-HHMMSS, UTC; its parent must exist).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue the interrupted suite in the folder given with `--out` (same preset): finished
    /// studies are kept, an interrupted one continues from what it stored.
    #[arg(long, requires = "out")]
    resume: bool,
}

/// Runs the suite and prints the path of its report.
fn reproduce(preset: Preset, out: Option<&Path>, resume: bool) -> Result<()> {
    let at = match (out, resume) {
        (Some(dir), true) => SuiteFolder::Resume(dir),
        (Some(dir), false) => SuiteFolder::New(dir),
        (None, _) => SuiteFolder::Timestamped(Path::new("runs")),
    };
    let (path, _) = run_suite(at, preset, registry(), &mut |line| eprintln!("{line}"))?;
    lid_experiments::outln!("{}", path.join("report.md").display());
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        None => reproduce(Preset::Quick, cli.out.as_deref(), false)?,
        Some(Command::Reproduce(args)) => reproduce(args.preset, args.out.as_deref(), args.resume)?,
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
