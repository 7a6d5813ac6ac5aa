//! `lid knn`: the exact (or approximate) kNN graph of a point cloud, written as two `.npy` arrays,
//! neighbour indices (`n x k`, int64) and distances (`n x k`, float64), each row sorted by
//! `(distance, index)` with the point itself excluded. The cloud is used as is (no dedup).
//!
//! Order of work: flags, output paths ([`crate::run::paths`]), reading, search, then the outputs
//! under temporary names, renamed when both are complete. With `--knn hnsw` on coordinates whose
//! scale would overflow `f32` squared distances, a note on stderr says that the index works on an
//! exactly rescaled copy (see `lid_knn::Hnsw`).

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use ndarray::Array2;
use ndarray_npy::WriteNpyExt;

use crate::cli::backend::KnnChoice;
use crate::cli::input::read_cloud;
use crate::cli::{progress_bar, with_threads};
use crate::error::{Error, Result};
use crate::run::atomic::AtomicFile;
use crate::run::paths::OutputCheck;

/// Arguments of `lid knn`.
#[derive(Debug, Clone, Args)]
pub struct KnnArgs {
    /// Input: a 2-D .npy array (float32 or float64) or a safetensors file. Used as is (no dedup).
    pub input: PathBuf,
    /// Tensor name inside a safetensors file.
    #[arg(long)]
    pub tensor: Option<String>,
    /// Neighbours per point (the point itself excluded).
    #[arg(short, long)]
    pub k: usize,
    /// Neighbour search backend.
    #[arg(long, value_enum, default_value_t = KnnChoice::Exact)]
    pub knn: KnnChoice,
    /// Write the neighbour indices (n x k, int64) here.
    #[arg(long)]
    pub indices_out: Option<PathBuf>,
    /// Write the neighbour distances (n x k, float64) here.
    #[arg(long)]
    pub distances_out: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Runs `lid knn`: builds the graph, writes the requested arrays and prints the timing.
///
/// # Errors
/// Bad flags or input, `k` too large for the cloud, refused output paths.
pub fn run(args: &KnnArgs) -> Result<()> {
    lid_core::check_k(args.k.saturating_add(1), args.k)
        .map_err(|e| Error::flag("-k", args.k, e))?;
    args.knn.check_available()?;
    OutputCheck::new()
        .input(&args.input)
        .maybe_file("--indices-out", args.indices_out.as_deref())
        .maybe_file("--distances-out", args.distances_out.as_deref())
        .check()?;
    with_threads(args.threads, || -> Result<()> {
        let t = Instant::now();
        let (cloud, info) = read_cloud(&args.input, args.tensor.as_deref())?;
        let load = t.elapsed().as_secs_f64();
        lid_core::check_k(cloud.n_points(), args.k).map_err(|e| {
            Error::flag(
                "-k",
                args.k,
                format!(
                    "{e} (the input {} has {} rows)",
                    args.input.display(),
                    cloud.n_points()
                ),
            )
        })?;
        if args.knn == KnnChoice::Kdtree && cloud.dim() > lid_knn::KDTREE_MAX_DIM {
            return Err(Error::flag(
                "--knn",
                "kdtree",
                format!(
                    "the input has {} dimensions; the k-d tree backend takes 1 to {}; use --knn exact",
                    cloud.dim(),
                    lid_knn::KDTREE_MAX_DIM
                ),
            ));
        }
        if args.knn == KnnChoice::Hnsw {
            if let Some(shift) = lid_knn::Hnsw::index_shift(&cloud) {
                let check = lid_core::guards::ScaleCheck::of(&cloud);
                eprintln!("{}", crate::cli::estimate::scale_note(&check, shift));
            }
        }
        let t = Instant::now();
        let bar = progress_bar("kNN graph (tiles)");
        let graph = args.knn.backend(Some(&bar))?.knn_graph(&cloud, args.k)?;
        bar.finish_and_clear();
        let search = t.elapsed().as_secs_f64();
        let (n, k) = (graph.n_points(), graph.k());
        let mut pending = Vec::new();
        if let Some(path) = &args.indices_out {
            let idx: Vec<i64> = graph.indices_flat().iter().map(|&j| j as i64).collect();
            pending.push(npy_file(path, &Array2::from_shape_vec((n, k), idx))?);
        }
        if let Some(path) = &args.distances_out {
            let dist = graph.distances_flat().to_vec();
            pending.push(npy_file(path, &Array2::from_shape_vec((n, k), dist))?);
        }
        for file in pending {
            file.commit()?;
        }
        crate::outln!(
            "knn        {} points x {} dims, k = {k}, backend {:?}: load {load:.2} s, search {search:.2} s ({} threads)",
            info.n_points,
            info.dim,
            args.knn,
            rayon::current_num_threads()
        );
        Ok(())
    })?
}

/// A 2-D `.npy` file written under its temporary name (commit it to publish).
fn npy_file<A: ndarray_npy::WritableElement>(
    path: &std::path::Path,
    array: &std::result::Result<Array2<A>, ndarray::ShapeError>,
) -> Result<AtomicFile> {
    let array = array.as_ref().map_err(|e| {
        Error::Check(format!(
            "the kNN graph does not have its n x k shape ({e}); this is a bug"
        ))
    })?;
    let mut file = AtomicFile::create(path)?;
    array.write_npy(&mut file).map_err(|e| Error::Format {
        action: "write",
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(file)
}
