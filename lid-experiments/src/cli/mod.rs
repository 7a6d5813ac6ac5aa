//! The `lid` subcommands and what they share.
//!
//! - [`estimate`]: `lid estimate`, local intrinsic dimensions of a point cloud or of a `lid embed`
//!   output folder.
//! - [`knn`]: `lid knn`, the kNN graph of a cloud as `.npy`.
//! - [`embed`]: `lid embed`, token vectors of a model's hidden states.
//! - [`input`]: `.npy` / safetensors point clouds; [`embedding_dir`]: `lid embed` output folders.
//! - [`backend`]: the `--knn` choice shared by `estimate` and `knn`.
//! - [`sweep`]: `lid sweep`, checkpoint-series sweeps in shards (units, run, merge).
//! - [`compare`]: `lid compare`, two models' local dimensions on several corpora, ranked by SMD.
//! - [`export`]: `lid export-gguf`, a GGUF model dequantised to an f32 Hugging Face directory.
//! - [`profile`]: `lid profile`, the mean local dimension of every hidden state from one forward
//!   pass.
//! - [`stdout`]: the one writer of standard output ([`crate::outln!`]): a closed pipe ends a command
//!   quietly, as it does a Unix tool.
//!
//! Every command checks its settings (through the library types that own them) and its output
//! paths ([`crate::run::paths`]) before it reads or computes anything, and writes its outputs
//! through [`crate::run::atomic`].

pub mod backend;
pub mod compare;
pub mod embed;
pub mod embedding_dir;
pub mod estimate;
pub mod export;
pub mod input;
pub mod knn;
pub mod profile;
pub mod stdout;
pub mod sweep;

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use crate::error::{Error, Result};

/// Runs `f` on a pool of `threads` workers (`None`: the global pool, all cores). Results do not
/// depend on the count.
///
/// # Errors
/// [`Error::Flag`] for `--threads 0`; the pool cannot be started.
pub fn with_threads<T: Send>(threads: Option<usize>, f: impl FnOnce() -> T + Send) -> Result<T> {
    match threads {
        None => Ok(f()),
        Some(0) => Err(Error::flag("--threads", 0, "must be at least 1")),
        Some(n) => Ok(rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .map_err(|e| Error::flag("--threads", n, format!("cannot start the pool: {e}")))?
            .install(f)),
    }
}

/// A progress bar on stderr when it is a terminal, hidden otherwise.
pub fn progress_bar(message: &'static str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} {bar:40} {pos}/{len} [{elapsed_precise} < {eta_precise}]",
    ) {
        bar.set_style(style);
    }
    bar.set_message(message);
    bar
}
