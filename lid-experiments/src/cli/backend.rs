//! The `--knn` flag of `lid estimate` and `lid knn`: which [`NeighborSearch`] backend of `lid-knn`
//! builds the graph.

use std::sync::Arc;

use clap::ValueEnum;
use indicatif::ProgressBar;
use lid_core::{NeighborSearch, SearchKind};
use lid_knn::{BruteForce, Hnsw, KdTree};

use crate::error::{Error, Result};

/// The neighbour-search backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KnnChoice {
    /// Exact blocked-GEMM brute force (default; identical to a direct scan).
    Exact,
    /// Approximate HNSW with exact re-rank (check recall on your data).
    Hnsw,
    /// Exact k-d tree, for ambient dimension up to 16.
    Kdtree,
    /// Exact brute force with the Gram tiles on CUDA device 0 (needs a build with `--features cuda`).
    ExactCuda,
}

impl KnnChoice {
    /// The backend, reporting tile progress to `progress` where it can. Opening the CUDA device
    /// happens here (and sets candle's process-wide precision switch there, see
    /// `lid_knn::DeviceBruteForce::cuda`).
    ///
    /// # Errors
    /// [`Error::Flag`] for `exact-cuda` in a build without the `cuda` feature; a CUDA device that
    /// cannot be opened.
    pub fn backend(self, progress: Option<&ProgressBar>) -> Result<Box<dyn NeighborSearch>> {
        let report = progress.map(|bar| {
            let bar = bar.clone();
            Arc::new(move |done: usize, total: usize| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            }) as lid_knn::ProgressFn
        });
        Ok(match self {
            KnnChoice::Exact => {
                let brute = BruteForce::new();
                Box::new(match report {
                    Some(report) => brute.with_progress(report),
                    None => brute,
                })
            }
            KnnChoice::Hnsw => Box::new(Hnsw::default()),
            KnnChoice::Kdtree => Box::new(KdTree::new()),
            KnnChoice::ExactCuda => cuda_backend(report)?,
        })
    }

    /// Exact or approximate, without opening a device.
    pub fn kind(self) -> SearchKind {
        match self {
            KnnChoice::Hnsw => SearchKind::Approximate,
            KnnChoice::Exact | KnnChoice::Kdtree | KnnChoice::ExactCuda => SearchKind::Exact,
        }
    }

    /// Checks, before any work, that the backend is compiled in.
    ///
    /// # Errors
    /// As [`KnnChoice::backend`] for a missing feature.
    pub fn check_available(self) -> Result<()> {
        if self == KnnChoice::ExactCuda && !cfg!(feature = "cuda") {
            return Err(missing_cuda());
        }
        Ok(())
    }
}

fn missing_cuda() -> Error {
    Error::flag(
        "--knn",
        "exact-cuda",
        "this build has no CUDA support; rebuild with the `cuda` feature \
         (cargo build --release -p lid-experiments --features cuda)",
    )
}

#[cfg(feature = "cuda")]
fn cuda_backend(report: Option<lid_knn::ProgressFn>) -> Result<Box<dyn NeighborSearch>> {
    let brute = lid_knn::DeviceBruteForce::cuda(0)?;
    Ok(Box::new(match report {
        Some(report) => brute.with_progress(report),
        None => brute,
    }))
}

#[cfg(not(feature = "cuda"))]
fn cuda_backend(_report: Option<lid_knn::ProgressFn>) -> Result<Box<dyn NeighborSearch>> {
    Err(missing_cuda())
}
