//! `lid estimate` (local intrinsic dimensions of the user's own point cloud) and `lid knn` (the exact
//! or approximate kNN graph of a cloud, written as `.npy`).
//!
//! `lid estimate` pipeline (Ruppik et al. 2025, REFERENCE.md steps 5-9): read a 2-D `.npy` or
//! safetensors tensor ([`crate::input`]), prepare it with [`lid_core::prepare::Preparation`] (optional
//! seeded sample, exact-duplicate removal keeping the first occurrence, optional zero-vector removal),
//! build the kNN graph with `L` neighbours ([`lid_knn::BruteForce`] by default, exact), estimate every
//! point's dimension from its `L` neighbours (REFERENCE.md step 7), optionally the global estimate, and
//! report statistics and timings. Defaults are the paper's: `L = 128`, TwoNN line fit with discard
//! fraction 0.1 and the scikit-dimension 0.3.4 CDF (`--cdf paper`).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use lid_core::estimators::{
    CdfConvention, GlobalEstimate, GlobalEstimator, Gride, Lpca, Mle, PointwiseEstimator, TwoNN,
    TwoNnMethod,
};
use lid_core::prepare::{Preparation, PreparationReport, ZeroVectors};
use lid_core::stats::{describe, quantiles, Summary};
use lid_core::{KnnGraph, NeighborSearch, PointCloud, SearchKind};
use lid_knn::{BruteForce, DeviceBruteForce, Hnsw, KdTree};
use ndarray::Array1;
use ndarray_npy::WriteNpyExt;

use crate::input::{read_cloud, InputInfo};

/// The estimator of `lid estimate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EstimatorChoice {
    /// TwoNN line fit (Facco et al. 2017), the paper's estimator; CDF from `--cdf`.
    Twonn,
    /// TwoNN censored maximum likelihood (scikit-dimension 0.5.0 `method="mle"`).
    TwonnMle,
    /// Levina-Bickel MLE on the `L` neighbours.
    Mle,
    /// GRIDE (Denti et al. 2022): global only (no pointwise estimates).
    Gride,
    /// Local PCA (Fukunaga-Olsen threshold) on the `L` neighbours.
    Lpca,
}

/// The TwoNN CDF convention, in user words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CdfChoice {
    /// `F_j = (j - 1) / n`: scikit-dimension 0.3.4, the convention of the paper's numbers.
    Paper,
    /// `F_j = j / n`: scikit-dimension 0.4 and later (estimates about 2.5 % higher).
    Corrected,
}

impl From<CdfChoice> for CdfConvention {
    fn from(c: CdfChoice) -> Self {
        match c {
            CdfChoice::Paper => CdfConvention::Skdim034,
            CdfChoice::Corrected => CdfConvention::Corrected,
        }
    }
}

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
    fn backend(self, progress: Option<&ProgressBar>) -> Result<Box<dyn NeighborSearch>> {
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
            KnnChoice::ExactCuda => {
                let brute = DeviceBruteForce::cuda(0)?;
                Box::new(match report {
                    Some(report) => brute.with_progress(report),
                    None => brute,
                })
            }
        })
    }

    /// Exact or approximate, without opening a device.
    fn kind(self) -> SearchKind {
        match self {
            KnnChoice::Hnsw => SearchKind::Approximate,
            KnnChoice::Exact | KnnChoice::Kdtree | KnnChoice::ExactCuda => SearchKind::Exact,
        }
    }
}

/// Arguments of `lid estimate`.
#[derive(Debug, Clone, Args)]
pub struct EstimateArgs {
    /// Input: a 2-D .npy array (float32 or float64; rows are points) or a safetensors file.
    pub input: PathBuf,
    /// Tensor name inside a safetensors file (optional when the file holds one tensor).
    #[arg(long)]
    pub tensor: Option<String>,
    /// Neighbourhood size L (paper: 128).
    #[arg(long, default_value_t = 128)]
    pub neighbors: usize,
    /// Estimator.
    #[arg(long, value_enum, default_value_t = EstimatorChoice::Twonn)]
    pub estimator: EstimatorChoice,
    /// TwoNN CDF convention (`paper` = scikit-dimension 0.3.4).
    #[arg(long, value_enum, default_value_t = CdfChoice::Paper)]
    pub cdf: CdfChoice,
    /// TwoNN discard fraction (paper: 0.1).
    #[arg(long, default_value_t = 0.1)]
    pub discard: f64,
    /// Draw this many rows without replacement first (seeded by --seed), keeping the random order.
    #[arg(long)]
    pub sample: Option<usize>,
    /// Seed of the sampling (paper: 42).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Keep exact duplicate rows (TwoNN then fails on them, naming the count).
    #[arg(long)]
    pub no_dedup: bool,
    /// Remove all-zero rows (kept by default, as in the paper).
    #[arg(long)]
    pub remove_zero_vectors: bool,
    /// Neighbour search backend.
    #[arg(long, value_enum, default_value_t = KnnChoice::Exact)]
    pub knn: KnnChoice,
    /// Also compute the global estimate on all prepared points.
    #[arg(long)]
    pub global: bool,
    /// Write the pointwise estimates (float64, order of the prepared points) to this .npy file.
    #[arg(long)]
    pub pointwise_out: Option<PathBuf>,
    /// Write the input row index of every prepared point (int64) to this .npy file.
    #[arg(long)]
    pub kept_out: Option<PathBuf>,
    /// Write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Wall time of each stage, in seconds.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct StageTimes {
    /// Reading the input file.
    pub load: f64,
    /// Sampling, dedup, zero vectors.
    pub prepare: f64,
    /// kNN graph.
    pub knn: f64,
    /// Pointwise estimates.
    pub pointwise: f64,
    /// Global estimate (0 when not asked for).
    pub global: f64,
    /// Everything.
    pub total: f64,
}

/// Settings as resolved (written to the JSON report).
#[derive(Debug, Clone, serde::Serialize)]
pub struct EstimateSettings {
    /// L.
    pub neighbors: usize,
    /// Estimator.
    pub estimator: EstimatorChoice,
    /// CDF convention (TwoNN line fit only).
    pub cdf: CdfChoice,
    /// Discard fraction (TwoNN only).
    pub discard: f64,
    /// Sample size, if sampling.
    pub sample: Option<usize>,
    /// Sampling seed.
    pub seed: u64,
    /// Whether duplicates were removed.
    pub dedup: bool,
    /// Whether zero vectors were removed.
    pub remove_zero_vectors: bool,
    /// Backend.
    pub knn: KnnChoice,
    /// Whether the backend is exact.
    pub knn_kind: SearchKind,
    /// Threads used.
    pub threads: usize,
}

/// Statistics of the pointwise estimates.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PointwiseSummary {
    /// count, mean, std (ddof 1), min, quartiles, max.
    pub summary: Summary,
    /// Quantile levels of `quantile_values`.
    pub quantile_levels: Vec<f64>,
    /// The quantiles (linear interpolation).
    pub quantile_values: Vec<f64>,
}

/// Everything `lid estimate` reports (the `--json` document).
#[derive(Debug, Clone, serde::Serialize)]
pub struct EstimateReport {
    /// `lid` version.
    pub version: &'static str,
    /// The input file.
    pub input: InputInfo,
    /// Resolved settings.
    pub settings: EstimateSettings,
    /// What preparation did (`kept_rows` is emptied when `--kept-out` is given: see `kept_out`).
    pub preparation: PreparationReport,
    /// Where the kept rows were written, if `--kept-out` was given.
    pub kept_out: Option<PathBuf>,
    /// Where the pointwise estimates were written, if `--pointwise-out` was given.
    pub pointwise_out: Option<PathBuf>,
    /// Statistics of the pointwise estimates (`None` for global-only estimators).
    pub pointwise: Option<PointwiseSummary>,
    /// Points dropped inside neighbourhood fits because of zero distances.
    pub pointwise_dropped_duplicates: usize,
    /// The global estimate, if asked for (always for GRIDE).
    pub global: Option<GlobalEstimate>,
    /// Stage timings in seconds.
    pub times: StageTimes,
}

/// Quantile levels reported for the pointwise estimates.
pub const QUANTILE_LEVELS: [f64; 7] = [0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95];

/// Runs `lid estimate`: prints the human summary on stdout and writes the requested files.
///
/// # Errors
/// Bad input or settings, with a message naming the problem (and the file where relevant).
pub fn run(args: &EstimateArgs) -> Result<()> {
    let report = with_threads(args.threads, || estimate(args))??;
    print_summary(&report);
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

fn with_threads<T: Send>(threads: Option<usize>, f: impl FnOnce() -> T + Send) -> Result<T> {
    match threads {
        None => Ok(f()),
        Some(0) => bail!("--threads must be at least 1"),
        Some(n) => Ok(rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .context("cannot start the thread pool")?
            .install(f)),
    }
}

/// Runs the pipeline and returns the report (also writes `--pointwise-out` / `--kept-out`).
///
/// # Errors
/// As [`run`].
pub fn estimate(args: &EstimateArgs) -> Result<EstimateReport> {
    let start = Instant::now();
    let mut times = StageTimes::default();
    if !(0.0..1.0).contains(&args.discard) {
        bail!("--discard must be in [0, 1), got {}", args.discard);
    }

    let t = Instant::now();
    let (raw, info) = read_cloud(&args.input, args.tensor.as_deref())?;
    times.load = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut prep =
        Preparation::builder()
            .dedup(!args.no_dedup)
            .zero_vectors(if args.remove_zero_vectors {
                ZeroVectors::Remove
            } else {
                ZeroVectors::Keep
            });
    if let Some(size) = args.sample {
        prep = prep.sample(size, args.seed);
    }
    let (cloud, mut preparation) = prep.build()?.run(&raw)?;
    drop(raw);
    times.prepare = t.elapsed().as_secs_f64();

    let n = cloud.n_points();
    let needs_pointwise = args.estimator != EstimatorChoice::Gride;
    let graph = if needs_pointwise {
        if args.neighbors >= n {
            bail!(
                "--neighbors {} needs at least {} points after preparation, but {} remain \
                 ({} read, {} duplicates removed)",
                args.neighbors,
                args.neighbors + 1,
                n,
                preparation.n_input,
                preparation.n_duplicates_removed
            );
        }
        let t = Instant::now();
        let bar = progress_bar("kNN graph (tiles)");
        let backend = args.knn.backend(Some(&bar))?;
        let graph = backend.knn_graph(&cloud, args.neighbors)?;
        bar.finish_and_clear();
        times.knn = t.elapsed().as_secs_f64();
        Some(graph)
    } else {
        None
    };

    let t = Instant::now();
    let (values, dropped) = match &graph {
        Some(graph) => {
            let est = pointwise_estimator(args)?;
            let result = est.estimate_pointwise(&cloud, graph)?;
            (Some(result.values), result.dropped_duplicates)
        }
        None => (None, 0),
    };
    times.pointwise = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let global = if args.global || args.estimator == EstimatorChoice::Gride {
        Some(global_estimate(args, &cloud, graph.as_ref())?)
    } else {
        None
    };
    times.global = t.elapsed().as_secs_f64();

    let pointwise = match &values {
        Some(v) => Some(PointwiseSummary {
            summary: describe(v)?,
            quantile_levels: QUANTILE_LEVELS.to_vec(),
            quantile_values: quantiles(v, &QUANTILE_LEVELS)?,
        }),
        None => None,
    };
    if let (Some(path), Some(v)) = (&args.pointwise_out, &values) {
        write_npy(path, &Array1::from(v.clone()))?;
    } else if let (Some(_), None) = (&args.pointwise_out, &values) {
        bail!(
            "--pointwise-out: the {:?} estimator has no pointwise estimates",
            args.estimator
        );
    }
    if let Some(path) = &args.kept_out {
        let rows: Array1<i64> = preparation.kept_rows.iter().map(|&r| r as i64).collect();
        write_npy(path, &rows)?;
        preparation.kept_rows = Vec::new();
    }
    times.total = start.elapsed().as_secs_f64();
    Ok(EstimateReport {
        version: env!("CARGO_PKG_VERSION"),
        input: info,
        settings: EstimateSettings {
            neighbors: args.neighbors,
            estimator: args.estimator,
            cdf: args.cdf,
            discard: args.discard,
            sample: args.sample,
            seed: args.seed,
            dedup: !args.no_dedup,
            remove_zero_vectors: args.remove_zero_vectors,
            knn: args.knn,
            knn_kind: args.knn.kind(),
            threads: rayon::current_num_threads(),
        },
        preparation,
        kept_out: args.kept_out.clone(),
        pointwise_out: args.pointwise_out.clone(),
        pointwise,
        pointwise_dropped_duplicates: dropped,
        global,
        times,
    })
}

fn twonn(args: &EstimateArgs) -> TwoNN {
    let method = if args.estimator == EstimatorChoice::TwonnMle {
        TwoNnMethod::CensoredMle
    } else {
        TwoNnMethod::LineFit
    };
    TwoNN::new()
        .cdf(args.cdf.into())
        .discard_fraction(args.discard)
        .method(method)
}

fn pointwise_estimator(args: &EstimateArgs) -> Result<Box<dyn PointwiseEstimator>> {
    Ok(match args.estimator {
        EstimatorChoice::Twonn | EstimatorChoice::TwonnMle => Box::new(twonn(args)),
        EstimatorChoice::Mle => Box::new(Mle::new().k(args.neighbors)),
        EstimatorChoice::Lpca => Box::new(Lpca::new()),
        EstimatorChoice::Gride => bail!("GRIDE has no pointwise estimates"),
    })
}

/// The global estimate, reusing the pointwise kNN graph where it has enough neighbours.
fn global_estimate(
    args: &EstimateArgs,
    cloud: &PointCloud<'_>,
    graph: Option<&KnnGraph>,
) -> Result<GlobalEstimate> {
    let search = GraphReuse {
        graph,
        fallback: args.knn.backend(None)?,
    };
    let estimate = match args.estimator {
        EstimatorChoice::Twonn | EstimatorChoice::TwonnMle => {
            twonn(args).estimate_global(cloud, &search)?
        }
        EstimatorChoice::Mle => Mle::new().estimate_global(cloud, &search)?,
        EstimatorChoice::Gride => Gride::new().estimate_global(cloud, &search)?,
        EstimatorChoice::Lpca => Lpca::new().estimate_global(cloud, &search)?,
    };
    Ok(estimate)
}

/// A [`NeighborSearch`] that answers from an already computed graph of the same cloud when it has at
/// least `k` neighbours (rows are sorted, so the first `k` are the `k` nearest), and otherwise asks the
/// fallback backend. Saves a second all-pairs pass for the global estimate.
struct GraphReuse<'g> {
    graph: Option<&'g KnnGraph>,
    fallback: Box<dyn NeighborSearch>,
}

impl NeighborSearch for GraphReuse<'_> {
    fn name(&self) -> &'static str {
        self.fallback.name()
    }

    fn kind(&self) -> SearchKind {
        self.fallback.kind()
    }

    fn knn_graph(&self, cloud: &PointCloud<'_>, k: usize) -> lid_core::Result<KnnGraph> {
        match self.graph {
            Some(g) if g.n_points() == cloud.n_points() && k >= 1 && k <= g.k() => g.truncated(k),
            _ => self.fallback.knn_graph(cloud, k),
        }
    }
}

fn progress_bar(message: &'static str) -> ProgressBar {
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

fn write_npy<A: ndarray_npy::WritableElement>(path: &Path, array: &Array1<A>) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    array
        .write_npy(std::io::BufWriter::new(file))
        .map_err(|e| anyhow!("cannot write {}: {e}", path.display()))
}

fn print_summary(r: &EstimateReport) {
    let p = &r.preparation;
    println!(
        "input      {} ({} x {}, {:?})",
        r.input.path.display(),
        r.input.n_points,
        r.input.dim,
        r.input.dtype
    );
    println!(
        "prepared   {} points ({} sampled, {} duplicates removed, {} zero vectors, {} removed)",
        p.n_output, p.n_sampled, p.n_duplicates_removed, p.n_zero_vectors, p.n_zero_vectors_removed
    );
    println!(
        "settings   estimator {:?}, L = {}, cdf {:?}, discard {}, knn {:?} ({:?}), {} threads",
        r.settings.estimator,
        r.settings.neighbors,
        r.settings.cdf,
        r.settings.discard,
        r.settings.knn,
        r.settings.knn_kind,
        r.settings.threads
    );
    if let Some(pw) = &r.pointwise {
        let s = &pw.summary;
        println!(
            "pointwise  mean {:.4}  std {}  min {:.4}  max {:.4}  (n = {})",
            s.mean,
            s.std.map_or("n/a".to_string(), |v| format!("{v:.4}")),
            s.min,
            s.max,
            s.count
        );
        let qs: Vec<String> = pw
            .quantile_levels
            .iter()
            .zip(&pw.quantile_values)
            .map(|(l, v)| format!("q{:.0}={v:.4}", l * 100.0))
            .collect();
        println!("quantiles  {}", qs.join("  "));
    }
    if let Some(g) = &r.global {
        println!(
            "global     {:.4} ({} used, {} discarded{})",
            g.dimension,
            g.n_used,
            g.n_discarded,
            g.std_error
                .map_or(String::new(), |e| format!(", std error {e:.4}"))
        );
    }
    let t = &r.times;
    println!(
        "time (s)   load {:.2}  prepare {:.2}  knn {:.2}  pointwise {:.2}  global {:.2}  total {:.2}",
        t.load, t.prepare, t.knn, t.pointwise, t.global, t.total
    );
}

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
/// Bad input or `k`, unwritable outputs.
pub fn run_knn(args: &KnnArgs) -> Result<()> {
    with_threads(args.threads, || -> Result<()> {
        let t = Instant::now();
        let (cloud, info) = read_cloud(&args.input, args.tensor.as_deref())?;
        let load = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let bar = progress_bar("kNN graph (tiles)");
        let graph = args.knn.backend(Some(&bar))?.knn_graph(&cloud, args.k)?;
        bar.finish_and_clear();
        let knn = t.elapsed().as_secs_f64();
        let (n, k) = (graph.n_points(), graph.k());
        if let Some(path) = &args.indices_out {
            let idx: Vec<i64> = graph.indices_flat().iter().map(|&j| j as i64).collect();
            let a = ndarray::Array2::from_shape_vec((n, k), idx).context("graph shape")?;
            write_npy2(path, &a)?;
        }
        if let Some(path) = &args.distances_out {
            let a = ndarray::Array2::from_shape_vec((n, k), graph.distances_flat().to_vec())
                .context("graph shape")?;
            write_npy2(path, &a)?;
        }
        println!(
            "knn        {} points x {} dims, k = {k}, backend {:?}: load {load:.2} s, search {knn:.2} s ({} threads)",
            info.n_points,
            info.dim,
            args.knn,
            rayon::current_num_threads()
        );
        Ok(())
    })?
}

fn write_npy2<A: ndarray_npy::WritableElement>(
    path: &Path,
    array: &ndarray::Array2<A>,
) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    array
        .write_npy(std::io::BufWriter::new(file))
        .map_err(|e| anyhow!("cannot write {}: {e}", path.display()))
}
