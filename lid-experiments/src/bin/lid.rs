//! `lid`: the general tool. Subcommands: `estimate` (local intrinsic dimensions of a point cloud),
//! `knn` (the kNN graph of a cloud), `embed` (token vectors of a language model).
//!
//! To add a subcommand: a variant in [`Command`] holding its `clap::Args` struct, and one match arm.

use clap::{Parser, Subcommand};
use lid_experiments::{embed_cmd, estimate_cmd};

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
    /// Pointwise (local) intrinsic dimension of every point of a 2-D .npy / safetensors cloud.
    Estimate(estimate_cmd::EstimateArgs),
    /// The k nearest neighbours of every point (exact by default), written as .npy.
    Knn(estimate_cmd::KnnArgs),
    /// Token vectors of a model's hidden states for a corpus.
    Embed(embed_cmd::EmbedArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match &cli.command {
        Command::Estimate(args) => estimate_cmd::run(args),
        Command::Knn(args) => estimate_cmd::run_knn(args),
        Command::Embed(args) => embed_cmd::run(args),
    }
}
