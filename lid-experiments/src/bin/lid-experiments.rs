//! `lid-experiments`: the reproduction suite.
//!
//! Without a subcommand it runs the quick validation suite (every estimator on synthetic manifolds of
//! known dimension) and writes a run folder. Studies are subcommands: add a variant to [`Command`]
//! and one arm to the `match` in `main`.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use lid_experiments::report::RunFolder;
use lid_experiments::validation::{self, ValidationConfig};

/// Reproductions of Ruppik et al., "Less is More: Local Intrinsic Dimensions of Contextual Language
/// Models" (NeurIPS 2025). Without a subcommand: the quick validation suite.
#[derive(Debug, Parser)]
#[command(name = "lid-experiments", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

/// The studies.
#[derive(Debug, Subcommand)]
enum Command {
    /// Estimators against synthetic manifolds of known dimension (the default).
    Validate(ValidateArgs),
    /// Grokking of modular arithmetic with the LID probe (REFERENCE.md study 4).
    Grokking(lid_experiments::grokking::GrokkingArgs),
}

/// Flags of `validate`; defaults are [`ValidationConfig::quick`].
#[derive(Debug, Args, Default)]
struct ValidateArgs {
    /// Run folder (default: runs/validation-<UTC timestamp>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Sample sizes N, comma separated (default 1000,4000).
    #[arg(long, value_delimiter = ',')]
    sizes: Option<Vec<usize>>,
    /// Neighbourhood size L of the local estimators (default 64).
    #[arg(long)]
    neighbors: Option<usize>,
    /// Seed of the point samples (default 2025).
    #[arg(long)]
    seed: Option<u64>,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        None => run_validate(&ValidateArgs::default()),
        Some(Command::Validate(args)) => run_validate(&args),
        Some(Command::Grokking(args)) => lid_experiments::grokking::run_cli(&args),
    }
}

fn run_validate(args: &ValidateArgs) -> Result<()> {
    let quick = ValidationConfig::quick();
    let sizes = args.sizes.clone().unwrap_or_else(|| quick.sizes.clone());
    if sizes.is_empty() || sizes.iter().any(|&n| n < 3) {
        anyhow::bail!("--sizes must list sample sizes of at least 3 points, got {sizes:?}");
    }
    let neighbors = args.neighbors.unwrap_or(quick.neighbors);
    if neighbors < 3 {
        anyhow::bail!(
            "--neighbors must be at least 3 (local TwoNN needs 3 points), got {neighbors}"
        );
    }
    let config = ValidationConfig::new(
        quick.manifolds().to_vec(),
        quick.estimators().to_vec(),
        sizes,
        neighbors,
        args.seed.unwrap_or(quick.seed),
    );
    let folder = match &args.out {
        Some(dir) => RunFolder::create(dir)?,
        None => RunFolder::timestamped("runs", "validation")?,
    };
    eprintln!(
        "validation: {} manifolds x N = {:?}, L = {}, run folder {}",
        config.manifolds().len(),
        config.sizes,
        config.neighbors,
        folder.path().display()
    );
    let search = validation::neighbor_search();
    let result =
        validation::run_validation(&config, search.as_ref(), |line| eprintln!("  {line}"))?;
    validation::write_run(&folder, &config, &result)?;
    println!("{}", validation::wide_table(&config, &result).to_markdown());
    eprintln!(
        "done in {:.1} s; wrote {}",
        result.seconds,
        folder.path().display()
    );
    Ok(())
}
