//! `lid`: the general tool. Subcommands: `estimate` (local intrinsic dimensions of a point cloud or
//! of a `lid embed` output folder), `knn` (the kNN graph of a cloud), `embed` (token vectors of a
//! language model).
//!
//! To add a subcommand: a module in `src/cli/` with its `clap::Args` struct and a `run` function,
//! a variant in [`Command`], and one match arm. This file is the `anyhow` edge: the library returns
//! `lid_experiments::Error`.

use clap::{Parser, Subcommand};
use lid_experiments::cli::{embed, estimate, knn};

/// Local intrinsic dimensions of point clouds and of contextual token embeddings
/// (Ruppik et al., "Less is More", NeurIPS 2025).
#[derive(Debug, Parser)]
#[command(name = "lid", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Pointwise (local) intrinsic dimension of every point of a 2-D .npy / safetensors cloud or of
    /// one layer of a `lid embed` output folder.
    Estimate(estimate::EstimateArgs),
    /// The k nearest neighbours of every point (exact by default), written as .npy.
    Knn(knn::KnnArgs),
    /// Token vectors of a model's hidden states for a corpus.
    Embed(embed::EmbedArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match &cli.command {
        Command::Estimate(args) => estimate::run(args)?,
        Command::Knn(args) => knn::run(args)?,
        Command::Embed(args) => embed::run(args)?,
    }
    Ok(())
}
