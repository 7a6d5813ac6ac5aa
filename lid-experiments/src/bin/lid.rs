//! `lid`: the general tool. Subcommands: `estimate` (local intrinsic dimensions of a point cloud or
//! of a `lid embed` output folder), `knn` (the kNN graph of a cloud), `embed` (token vectors of a
//! language model).
//! Also `sweep` (local dimension over a series of checkpoints, in shards for job arrays), `compare`
//! (two models on several corpora, ranked by SMD), `export-gguf` (a GGUF model as f32) and
//! `profile` (the local dimension of every hidden state from one forward pass).
//!
//! To add a subcommand: a module in `src/cli/` with its `clap::Args` struct and a `run` function,
//! a variant in [`Command`], and one match arm. This file is the `anyhow` edge: the library returns
//! `lid_experiments::Error`.

use clap::{Parser, Subcommand};
use lid_experiments::cli::sweep;
use lid_experiments::cli::{compare, embed, estimate, export, knn, profile};

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
    /// Local dimension over a series of checkpoints, as shards of independent units (a job array).
    Sweep(sweep::SweepArgs),
    /// Two models' local dimensions on the same token positions of several corpora, ranked by SMD.
    Compare(compare::CompareArgs),
    /// A GGUF model dequantised to an f32 Hugging Face directory.
    ExportGguf(export::ExportArgs),
    /// The mean local dimension of every hidden state of a model on a corpus, from one forward
    /// pass: a table and a figure against depth.
    Profile(profile::ProfileArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match &cli.command {
        Command::Estimate(args) => estimate::run(args)?,
        Command::Knn(args) => knn::run(args)?,
        Command::Embed(args) => embed::run(args)?,
        Command::Sweep(args) => sweep::run(args)?,
        Command::Compare(args) => compare::run(args)?,
        Command::ExportGguf(args) => export::run(args)?,
        Command::Profile(args) => profile::run(args)?,
    }
    Ok(())
}
