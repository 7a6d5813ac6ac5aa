//! `lid estimate`: local intrinsic dimensions of the user's own point cloud, or of a `lid embed`
//! output folder.
//!
//! Pipeline (Ruppik et al. 2025, docs/method.md steps 5-9): read a 2-D `.npy` or safetensors tensor
//! ([`crate::cli::input`], the file opened once) or every shard of one layer of a `lid embed` folder
//! ([`crate::cli::embedding_dir`]); prepare it with [`lid_core::prepare::Preparation`] (optional
//! seeded sample, exact-duplicate removal keeping the first occurrence, optional zero-vector
//! removal); build the kNN graph with `L` neighbours ([`lid_knn::BruteForce`] by default, exact);
//! estimate every point's dimension from its `L` neighbours (docs/method.md step 7); optionally the
//! global estimate (served from the same graph through [`lid_core::KnnGraph::as_search`]); report
//! statistics and timings.
//!
//! The flags become one [`EstimateSettings`] value, validated once, before any file is read, by the
//! library types that own each setting ([`Estimator::new`], [`TwoNN::validate`],
//! [`lid_core::prepare::PreparationBuilder::build`], ...); the CLI adds the flag's name to their
//! message and restates no default or range. Defaults are the library's (TwoNN: discard 0.1,
//! scikit-dimension 0.3.4 CDF; sampling seed of [`Preparation::paper`]) and the paper's
//! `L = 128` ([`EstimateSettings::PAPER_NEIGHBORS`]). Output paths are checked next
//! ([`crate::run::paths`]); outputs are written under temporary names and renamed at the very end.
//!
//! # Guards
//! Inputs that would give a number without a word are reported on stderr (`warning: ...` /
//! `note: ...` lines) and in the `guards` object of the `--json` report ([`Guards`]):
//! - near-duplicate points ([`lid_core::guards::NearDuplicates`]: `0 < r1 <= t r_L` with `t` =
//!   `--near-duplicate-threshold`, default `1e-4`), with the neighbourhoods they affect and those
//!   they dominate; `--dedup-near` treats them as duplicates (each group keeps its first row, the
//!   graph is rebuilt on the rest) before estimating;
//! - coordinates whose scale would overflow (or underflow) the `f32` squared distances of
//!   `--knn hnsw`: the index works on an exactly rescaled copy ([`lid_knn::Hnsw::index_shift`]),
//!   which the report states;
//! - `--sample` larger than the input: all rows are used (in the seeded random order), stated.
//!
//! Every refused setting names the flag the user typed (`--neighbors 0: ...`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, ValueEnum};
pub use lid_core::estimators::Estimator;
use lid_core::estimators::{CdfConvention, EstimatorKind, GlobalEstimate, TwoNN};
use lid_core::guards::{NearDuplicateReport, NearDuplicates, ScaleCheck};
use lid_core::prepare::{Preparation, PreparationReport, ZeroVectors};
use lid_core::stats::{describe, quantiles, Summary};
use lid_core::{check_k, PointCloud, SearchKind};
use ndarray::Array1;
use ndarray_npy::WriteNpyExt;
use serde::Serialize;

use crate::cli::backend::KnnChoice;
use crate::cli::embedding_dir::{read_embedding_dir, EmbeddingSource};
use crate::cli::input::{read_cloud, InputInfo};
use crate::cli::{progress_bar, with_threads};
use crate::error::{Error, Result};
use crate::run::atomic::AtomicFile;
use crate::run::paths::OutputCheck;

/// The estimator of `lid estimate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
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

impl From<EstimatorChoice> for EstimatorKind {
    fn from(c: EstimatorChoice) -> Self {
        match c {
            EstimatorChoice::Twonn => EstimatorKind::Twonn,
            EstimatorChoice::TwonnMle => EstimatorKind::TwonnMle,
            EstimatorChoice::Mle => EstimatorKind::Mle,
            EstimatorChoice::Gride => EstimatorKind::Gride,
            EstimatorChoice::Lpca => EstimatorKind::Lpca,
        }
    }
}

/// The TwoNN CDF convention, in user words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
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

impl From<CdfConvention> for CdfChoice {
    fn from(c: CdfConvention) -> Self {
        match c {
            CdfConvention::Skdim034 => CdfChoice::Paper,
            CdfConvention::Corrected => CdfChoice::Corrected,
        }
    }
}

/// The sampling seed of the paper's preparation (docs/method.md step 4), from
/// [`Preparation::paper`].
fn paper_sample_seed() -> u64 {
    Preparation::paper()
        .sample_config()
        .map_or(0, |sample| sample.seed)
}

/// Arguments of `lid estimate`. Defaults come from [`EstimateSettings::PAPER_NEIGHBORS`] and the
/// library types; every value is checked by [`EstimateSettings::from_args`].
#[derive(Debug, Clone, Args)]
pub struct EstimateArgs {
    /// Input: a 2-D .npy array (float32 or float64; rows are points), a safetensors file, or a
    /// `lid embed` output folder.
    pub input: PathBuf,
    /// Tensor name inside a safetensors file (optional when the file holds one tensor).
    #[arg(long)]
    pub tensor: Option<String>,
    /// With a `lid embed` folder: the layer to read, as requested at extraction (e.g. -1) or its
    /// absolute index (optional when the folder holds one layer).
    #[arg(long, allow_hyphen_values = true)]
    pub layer: Option<i64>,
    /// Neighbourhood size L (the paper's value by default).
    #[arg(long, default_value_t = EstimateSettings::PAPER_NEIGHBORS)]
    pub neighbors: usize,
    /// Estimator.
    #[arg(long, value_enum, default_value_t = EstimatorChoice::Twonn)]
    pub estimator: EstimatorChoice,
    /// TwoNN CDF convention (`paper` = scikit-dimension 0.3.4).
    #[arg(long, value_enum, default_value_t = CdfChoice::from(TwoNN::new().get_cdf()))]
    pub cdf: CdfChoice,
    /// TwoNN discard fraction.
    #[arg(long, default_value_t = TwoNN::new().get_discard_fraction())]
    pub discard: f64,
    /// Draw this many rows without replacement first (seeded by --seed), keeping the random order.
    #[arg(long)]
    pub sample: Option<usize>,
    /// Seed of the sampling (the paper's by default).
    #[arg(long, default_value_t = paper_sample_seed())]
    pub seed: u64,
    /// Keep only the first N rows after sampling and deduplication (the paper's N = 60,000,
    /// docs/method.md step 6; all rows by default).
    #[arg(long)]
    pub keep: Option<usize>,
    /// Keep exact duplicate rows (TwoNN then fails on them, naming the count).
    #[arg(long)]
    pub no_dedup: bool,
    /// Near-duplicate threshold t: a point whose nearest neighbour is closer than t times the
    /// distance to its L-th neighbour is reported as a near duplicate (0 turns the check off).
    #[arg(long, default_value_t = lid_core::guards::DEFAULT_NEAR_DUPLICATE_THRESHOLD)]
    pub near_duplicate_threshold: f64,
    /// Treat near duplicates as duplicates: remove them (each group keeps its first row) and
    /// rebuild the neighbour graph before estimating.
    #[arg(long)]
    pub dedup_near: bool,
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

/// Everything `lid estimate` does, resolved from the flags and validated once.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EstimateSettings {
    /// Neighbourhood size L.
    pub neighbors: usize,
    /// The estimator with its parameters.
    pub estimator: Estimator,
    /// Sampling, dedup, zero vectors.
    pub preparation: Preparation,
    /// Backend.
    pub knn: KnnChoice,
    /// Whether the backend is exact.
    pub knn_kind: SearchKind,
    /// Whether the global estimate is computed (always for GRIDE).
    pub global: bool,
    /// The near-duplicate check (threshold; discard fraction of the estimator).
    pub near_duplicates: NearDuplicates,
    /// Whether near duplicates are removed before estimating (`--dedup-near`).
    pub dedup_near: bool,
    /// Worker threads asked for (`None`: all cores).
    pub threads: Option<usize>,
}

impl EstimateSettings {
    /// The paper's neighbourhood size `L` (docs/method.md step 7), the default of `--neighbors`.
    pub const PAPER_NEIGHBORS: usize = 128;

    /// Resolves and validates the flags, each by the library type that owns it.
    ///
    /// # Errors
    /// [`Error::Flag`] naming the first bad flag: `--discard` outside `[0, 1)`, `--neighbors` 0
    /// (or below the MLE's minimum), `--sample 0`, `--threads 0`, `--knn exact-cuda` without CUDA
    /// support, `--pointwise-out` with GRIDE, `--tensor` or `--layer` with the wrong kind of input.
    pub fn from_args(args: &EstimateArgs) -> Result<Self> {
        let core = |flag: &'static str, value: String| {
            move |e: lid_core::Error| Error::flag(flag, value.clone(), e)
        };
        let neighbors = args.neighbors;
        check_k(neighbors.saturating_add(1), neighbors)
            .map_err(core("--neighbors", neighbors.to_string()))?;
        let near_duplicates = NearDuplicates::new(args.near_duplicate_threshold).map_err(core(
            "--near-duplicate-threshold",
            args.near_duplicate_threshold.to_string(),
        ))?;
        let near_duplicates = match args.estimator {
            EstimatorChoice::Twonn | EstimatorChoice::TwonnMle => near_duplicates
                .discard_fraction(args.discard)
                .map_err(core("--discard", args.discard.to_string()))?,
            _ => near_duplicates,
        };
        if args.dedup_near && args.near_duplicate_threshold == 0.0 {
            return Err(Error::flag(
                "--dedup-near",
                "",
                "needs a positive --near-duplicate-threshold (0 turns the check off)",
            ));
        }
        // The one builder of lid-core; a refusal names the flag behind the setting.
        let (flag, value) = match args.estimator {
            EstimatorChoice::Twonn | EstimatorChoice::TwonnMle => {
                ("--discard", args.discard.to_string())
            }
            EstimatorChoice::Mle => ("--neighbors", neighbors.to_string()),
            EstimatorChoice::Gride => ("--estimator", "gride".into()),
            EstimatorChoice::Lpca => ("--estimator", "lpca".into()),
        };
        let estimator = Estimator::new(
            args.estimator.into(),
            neighbors,
            args.cdf.into(),
            args.discard,
        )
        .map_err(core(flag, value))?;
        if let Estimator::Twonn(e) = &estimator {
            if neighbors < 3 {
                return Err(Error::flag(
                    "--neighbors",
                    neighbors,
                    "TwoNN needs at least 3 neighbours per point (each neighbour's ratio uses \
                     its own two nearest members); the paper uses 128",
                ));
            }
            e.pointwise_ratios_kept(neighbors).map_err(|reason| {
                Error::flag(
                    "--discard",
                    args.discard,
                    format!(
                        "with --neighbors {neighbors} it leaves fewer than 2 ratios per \
                         neighbourhood to fit ({reason}); the paper keeps 115 of 128 \
                         (--discard 0.1)"
                    ),
                )
            })?;
            // The corrected CDF puts the largest kept ratio at F = 1 unless one is discarded.
            let kept = (neighbors as f64 * (1.0 - args.discard)).floor() as usize;
            if args.estimator == EstimatorChoice::Twonn
                && args.cdf == CdfChoice::Corrected
                && kept >= neighbors
            {
                return Err(Error::flag(
                    "--discard",
                    args.discard,
                    format!(
                        "with --cdf corrected (F_j = j/n) at least one of the L = {neighbors} \
                         ratios must be discarded, or the largest sits at F = 1 and -ln(1 - F) \
                         is infinite; use --discard 0.1 (the default) or --cdf paper"
                    ),
                ));
            }
        }
        let mut prep = Preparation::builder().dedup(!args.no_dedup).zero_vectors(
            if args.remove_zero_vectors {
                ZeroVectors::Remove
            } else {
                ZeroVectors::Keep
            },
        );
        if let Some(size) = args.sample {
            prep = prep.sample(size, args.seed);
        }
        if let Some(0) = args.keep {
            return Err(Error::flag(
                "--keep",
                0,
                "must be at least 1 (leave it off to keep every row)",
            ));
        }
        if let Some(n) = args.keep {
            prep = prep.keep_first(n);
        }
        let preparation = prep
            .build()
            .map_err(core("--sample", format!("{:?}", args.sample)))?;
        if args.threads == Some(0) {
            return Err(Error::flag("--threads", 0, "must be at least 1"));
        }
        args.knn.check_available()?;
        if estimator.pointwise().is_none() {
            if args.dedup_near {
                return Err(Error::flag(
                    "--dedup-near",
                    "",
                    "needs a pointwise estimator (the near-duplicate check works on the \
                     L-neighbour graph, which the gride estimator does not build)",
                ));
            }
            if let Some(path) = &args.pointwise_out {
                return Err(Error::flag(
                    "--pointwise-out",
                    path.display(),
                    "the gride estimator gives a global estimate only, no pointwise estimates",
                ));
            }
        }
        let is_dir = args.input.is_dir();
        if is_dir && args.tensor.is_some() {
            return Err(Error::flag(
                "--tensor",
                args.tensor.as_deref().unwrap_or_default(),
                "is for safetensors files; the input is a lid embed folder (use --layer)",
            ));
        }
        if !is_dir {
            if let Some(layer) = args.layer {
                return Err(Error::flag(
                    "--layer",
                    layer,
                    "is for lid embed output folders; the input is a file",
                ));
            }
        }
        Ok(Self {
            neighbors,
            estimator,
            preparation,
            knn: args.knn,
            knn_kind: args.knn.kind(),
            global: args.global || estimator.pointwise().is_none(),
            near_duplicates,
            dedup_near: args.dedup_near,
            threads: args.threads,
        })
    }
}

impl EstimateArgs {
    /// The input and output paths, for the checks made before any work
    /// ([`crate::run::paths`]).
    pub fn outputs(&self) -> OutputCheck {
        OutputCheck::new()
            .input(&self.input)
            .maybe_file("--pointwise-out", self.pointwise_out.as_deref())
            .maybe_file("--kept-out", self.kept_out.as_deref())
            .maybe_file("--json", self.json.as_deref())
    }
}

/// Wall time of each stage, in seconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StageTimes {
    /// Reading the input.
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

/// Statistics of the pointwise estimates.
#[derive(Debug, Clone, Serialize)]
pub struct PointwiseSummary {
    /// count, mean, std (ddof 1), min, quartiles, max.
    pub summary: Summary,
    /// Quantile levels of `quantile_values`.
    pub quantile_levels: Vec<f64>,
    /// The quantiles (linear interpolation).
    pub quantile_values: Vec<f64>,
}

/// What `--sample` did when it asked for more rows than the input has.
#[derive(Debug, Clone, Serialize)]
pub struct SampleGuard {
    /// Rows asked for.
    pub requested: usize,
    /// Rows in the input.
    pub available: usize,
    /// True when `requested > available` and every row was used (in the seeded random order).
    pub capped: bool,
}

/// A neighbourhood too small for what the estimator reports from it.
#[derive(Debug, Clone, Serialize)]
pub struct NeighbourhoodGuard {
    /// What the neighbourhood size limits, in words.
    pub limit: String,
    /// Points whose estimate the limit affects.
    pub points_affected: usize,
}

/// The limit the neighbourhood size `neighbors` puts on the pointwise `values` of `estimator` in
/// `dim` ambient dimensions, when one applies:
/// - lPCA: the PCA of `L` centred neighbours has rank at most `L - 1`, so no estimate can exceed
///   it; when `L - 1 < D`, the points at that cap have lower bounds, not estimates;
/// - MLE at `L = 2`: each pointwise value is the inverse of one log distance ratio, an inverse
///   exponential variable whose expectation is infinite, so the pointwise mean and spread estimate
///   nothing (the global MLE averages the inverses and is not affected).
///
/// TwoNN refuses `L < 3` (and neighbourhoods that keep fewer than 2 ratios) before any work.
pub fn neighbourhood_guard(
    estimator: &Estimator,
    neighbors: usize,
    dim: usize,
    values: &[f64],
) -> Option<NeighbourhoodGuard> {
    match estimator {
        Estimator::Lpca(_) if neighbors.saturating_sub(1) < dim => {
            let cap = neighbors.saturating_sub(1) as f64;
            let at_cap = values.iter().filter(|&&v| v >= cap).count();
            (at_cap > 0).then(|| NeighbourhoodGuard {
                limit: format!(
                    "lPCA with --neighbors {neighbors} can find at most {} dimensions (the rank of \
                     {neighbors} centred neighbours) in {dim}; {at_cap} of {} points sit at that \
                     cap, so their values are lower bounds, not estimates; give more --neighbors",
                    neighbors - 1,
                    values.len()
                ),
                points_affected: at_cap,
            })
        }
        Estimator::Mle(_) if neighbors == 2 => Some(NeighbourhoodGuard {
            limit: "the MLE at --neighbors 2 gives each point the inverse of a single log \
                    distance ratio, whose expectation is infinite: the pointwise mean, spread and \
                    upper quantiles estimate nothing (the global estimate, which averages the \
                    inverses, is not affected); give --neighbors 3 or more"
                .into(),
            points_affected: values.len(),
        }),
        _ => None,
    }
}

/// The scale of the coordinates against the `f32` arithmetic of the backends.
#[derive(Debug, Clone, Serialize)]
pub struct ScaleGuard {
    /// Largest absolute coordinate, overflow / underflow of `f32` squared distances.
    #[serde(flatten)]
    pub check: ScaleCheck,
    /// With `--knn hnsw`: the power of two `s` by which the index's copy of the cloud was
    /// multiplied (`2^s`, exact); `None` when not rescaled or another backend was used (the exact
    /// backends rescale internally and compute every distance in `f64`).
    pub hnsw_index_shift: Option<i32>,
}

/// The near-duplicate check and what was done about it.
#[derive(Debug, Clone, Serialize)]
pub struct NearDuplicateGuard {
    /// What the check found on the prepared cloud.
    #[serde(flatten)]
    pub found: NearDuplicateReport,
    /// `"reported"`, or `"removed"` with `--dedup-near`.
    pub action: &'static str,
    /// Points removed by `--dedup-near`.
    pub removed: usize,
    /// With `--dedup-near`: the check on the cloud that was estimated.
    pub after_removal: Option<NearDuplicateReport>,
}

/// The guards of `lid estimate` (see the module docs): each check and its outcome, plus every
/// warning printed on stderr.
#[derive(Debug, Clone, Serialize)]
pub struct Guards {
    /// Near duplicates (`None` for a global-only estimator, which builds no L-neighbour graph).
    pub near_duplicates: Option<NearDuplicateGuard>,
    /// The scale of the coordinates.
    pub scale: ScaleGuard,
    /// `--sample` against the input size (`None` without `--sample`).
    pub sample: Option<SampleGuard>,
    /// A neighbourhood too small for the estimator (`None` when none applies).
    pub neighbourhood: Option<NeighbourhoodGuard>,
    /// The warnings and notes printed on stderr, in order.
    pub messages: Vec<String>,
}

impl Guards {
    fn say(&mut self, message: String) {
        eprintln!("{message}");
        self.messages.push(message);
    }
}

/// Everything `lid estimate` reports (the `--json` document).
#[derive(Debug, Clone, Serialize)]
pub struct EstimateReport {
    /// `lid` version.
    pub version: &'static str,
    /// The input.
    pub input: InputInfo,
    /// For a `lid embed` folder: the model, layer and corpus the vectors came from.
    pub embedding: Option<EmbeddingSource>,
    /// Resolved settings.
    pub settings: EstimateSettings,
    /// Threads used.
    pub threads_used: usize,
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
    /// Near duplicates, scale, sample size: what was checked and found.
    pub guards: Guards,
    /// Stage timings in seconds.
    pub times: StageTimes,
}

/// Quantile levels reported for the pointwise estimates.
pub const QUANTILE_LEVELS: [f64; 7] = [0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95];

/// Runs `lid estimate`: settings, then output paths, then the work; prints the human summary on
/// stdout and writes the requested files last.
///
/// # Errors
/// Bad flags, refused output paths, bad input, with a message naming the problem and the flag or
/// file.
pub fn run(args: &EstimateArgs) -> Result<()> {
    let settings = EstimateSettings::from_args(args)?;
    args.outputs().check()?;
    let report = with_threads(settings.threads, || estimate(args, &settings))??;
    print_summary(&report);
    Ok(())
}

/// Reads the input: a file, or a `lid embed` folder.
fn read_input(
    args: &EstimateArgs,
) -> Result<(PointCloud<'static>, InputInfo, Option<EmbeddingSource>)> {
    if args.input.is_dir() {
        let (cloud, info, source) = read_embedding_dir(&args.input, args.layer)?;
        Ok((cloud, info, Some(source)))
    } else {
        let (cloud, info) = read_cloud(&args.input, args.tensor.as_deref())?;
        Ok((cloud, info, None))
    }
}

/// Runs the pipeline with validated `settings` and writes the requested files (all under temporary
/// names until everything succeeded); returns the report.
///
/// # Errors
/// As [`run`], after the settings and path checks.
pub fn estimate(args: &EstimateArgs, settings: &EstimateSettings) -> Result<EstimateReport> {
    let start = Instant::now();
    let mut times = StageTimes::default();

    let t = Instant::now();
    let (raw, info, embedding) = read_input(args)?;
    times.load = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let (mut cloud, mut preparation) = settings.preparation.run(&raw).map_err(|e| match e {
        lid_core::Error::EmptyCloud if args.remove_zero_vectors => Error::flag(
            "--remove-zero-vectors",
            "",
            format!(
                "every one of the {} rows is a zero vector, nothing is left to estimate",
                raw.n_points()
            ),
        ),
        other => other.into(),
    })?;
    drop(raw);
    times.prepare = t.elapsed().as_secs_f64();

    let mut guards = Guards {
        near_duplicates: None,
        scale: ScaleGuard {
            check: ScaleCheck::of(&cloud),
            hnsw_index_shift: None,
        },
        sample: settings.preparation.sample_config().map(|s| SampleGuard {
            requested: s.size,
            available: preparation.n_input,
            capped: preparation.sample_capped,
        }),
        neighbourhood: None,
        messages: Vec::new(),
    };
    if preparation.sample_capped {
        guards.say(format!(
            "warning: --sample {} asks for more rows than the input has ({}); all {} rows are \
             used, in the seeded random order",
            settings.preparation.sample_config().map_or(0, |s| s.size),
            preparation.n_input,
            preparation.n_input
        ));
    }
    if preparation.prefix_capped {
        guards.say(format!(
            "warning: --keep {} asks for more rows than remain after preparation ({}); all {} \
             are used",
            settings.preparation.keep_first().unwrap_or(0),
            preparation.n_before_prefix,
            preparation.n_before_prefix
        ));
    }
    check_backend_fits(settings.knn, &cloud)?;
    if settings.knn == KnnChoice::Hnsw {
        guards.scale.hnsw_index_shift = lid_knn::Hnsw::index_shift(&cloud);
        if let Some(shift) = guards.scale.hnsw_index_shift {
            guards.say(scale_note(&guards.scale.check, shift));
        }
    }

    let pointwise_estimator = settings.estimator.pointwise();
    let bar = progress_bar("kNN graph (tiles)");
    let backend = settings.knn.backend(Some(&bar))?;
    // Pointwise estimators need the L-neighbour graph; a global-only estimator asks for what it
    // needs from the backend itself.
    let graph = match pointwise_estimator {
        Some(_) => {
            let t = Instant::now();
            let mut graph = build_graph(backend.as_ref(), &cloud, settings, &preparation)?;
            let found = settings.near_duplicates.check(&graph);
            let mut guard = NearDuplicateGuard {
                found,
                action: "reported",
                removed: 0,
                after_removal: None,
            };
            if guard.found.any() {
                guards.say(near_duplicate_warning(&guard.found, settings));
            }
            if settings.dedup_near && guard.found.any() {
                let keep = settings.near_duplicates.rows_to_keep(&graph);
                guard.action = "removed";
                guard.removed = cloud.n_points() - keep.len();
                cloud = cloud.select_rows(&keep)?;
                preparation.kept_rows = keep.iter().map(|&p| preparation.kept_rows[p]).collect();
                preparation.n_output = preparation.kept_rows.len();
                graph = build_graph(backend.as_ref(), &cloud, settings, &preparation)?;
                let after = settings.near_duplicates.check(&graph);
                guards.say(format!(
                    "note: --dedup-near removed {} near-duplicate points (each group keeps its \
                     first row); {} points remain, {} of them still flagged",
                    guard.removed,
                    cloud.n_points(),
                    after.points
                ));
                guard.after_removal = Some(after);
            }
            guards.near_duplicates = Some(guard);
            times.knn = t.elapsed().as_secs_f64();
            Some(graph)
        }
        None => None,
    };

    let t = Instant::now();
    let (values, dropped) = match (pointwise_estimator, &graph) {
        (Some(est), Some(graph)) => {
            let result = est
                .estimate_pointwise(&cloud, graph)
                .map_err(|e| name_duplicate_flag(e, args))?;
            (Some(result.values), result.dropped_duplicates)
        }
        _ => (None, 0),
    };
    times.pointwise = t.elapsed().as_secs_f64();
    if let Some(v) = &values {
        guards.neighbourhood =
            neighbourhood_guard(&settings.estimator, settings.neighbors, cloud.dim(), v);
        if let Some(g) = &guards.neighbourhood {
            guards.say(format!("warning: {}", g.limit));
        }
    }

    let t = Instant::now();
    let global = if settings.global {
        let estimate = match &graph {
            // Served from the L-neighbour graph when the estimator needs no more neighbours.
            Some(graph) => settings.estimator.global().estimate_global(
                &cloud,
                &graph.as_search(settings.knn_kind).or_else(backend.as_ref()),
            ),
            None => settings
                .estimator
                .global()
                .estimate_global(&cloud, backend.as_ref()),
        }
        .map_err(|e| name_duplicate_flag(e, args))?;
        Some(estimate)
    } else {
        None
    };
    times.global = t.elapsed().as_secs_f64();
    bar.finish_and_clear();

    let pointwise = match &values {
        Some(v) => Some(PointwiseSummary {
            summary: describe(v)?,
            quantile_levels: QUANTILE_LEVELS.to_vec(),
            quantile_values: quantiles(v, &QUANTILE_LEVELS)?,
        }),
        None => None,
    };

    // Outputs: every file written under its temporary name first, renamed only at the end.
    let mut pending = Vec::new();
    if let (Some(path), Some(v)) = (&args.pointwise_out, &values) {
        pending.push(npy_file(path, &Array1::from(v.clone()))?);
    }
    if let Some(path) = &args.kept_out {
        let rows: Array1<i64> = preparation.kept_rows.iter().map(|&r| r as i64).collect();
        pending.push(npy_file(path, &rows)?);
        preparation.kept_rows = Vec::new();
    }
    times.total = start.elapsed().as_secs_f64();
    let report = EstimateReport {
        version: env!("CARGO_PKG_VERSION"),
        input: info,
        embedding,
        settings: settings.clone(),
        threads_used: rayon::current_num_threads(),
        preparation,
        kept_out: args.kept_out.clone(),
        pointwise_out: args.pointwise_out.clone(),
        pointwise,
        pointwise_dropped_duplicates: dropped,
        global,
        guards,
        times,
    };
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| Error::json(path, e))?;
        let mut file = AtomicFile::create(path)?;
        std::io::Write::write_all(&mut file, (text + "\n").as_bytes())
            .map_err(|e| Error::io(path, e))?;
        pending.push(file);
    }
    for file in pending {
        file.commit()?;
    }
    Ok(report)
}

/// The L-neighbour graph of the prepared cloud, with `--neighbors` checked against its size.
fn build_graph(
    backend: &dyn lid_core::NeighborSearch,
    cloud: &PointCloud<'_>,
    settings: &EstimateSettings,
    preparation: &PreparationReport,
) -> Result<lid_core::KnnGraph> {
    let n = cloud.n_points();
    check_k(n, settings.neighbors).map_err(|e| {
        Error::flag(
            "--neighbors",
            settings.neighbors,
            format!(
                "{e}; {n} points remain after preparation ({} read{}, {} duplicates removed, {} \
                 zero vectors removed{})",
                preparation.n_input,
                match settings.preparation.sample_config() {
                    Some(s) if preparation.n_sampled < preparation.n_input => {
                        format!(", --sample {} kept {}", s.size, preparation.n_sampled)
                    }
                    _ => String::new(),
                },
                preparation.n_duplicates_removed,
                preparation.n_zero_vectors_removed,
                match settings.preparation.keep_first() {
                    Some(k) if k < preparation.n_before_prefix => format!(", --keep {k}"),
                    _ => String::new(),
                },
            ),
        )
    })?;
    Ok(backend.knn_graph(cloud, settings.neighbors)?)
}

/// Refuses, naming `--knn`, a backend that cannot take the cloud (the k-d tree above its
/// dimension limit).
fn check_backend_fits(knn: KnnChoice, cloud: &PointCloud<'_>) -> Result<()> {
    if knn == KnnChoice::Kdtree && cloud.dim() > lid_knn::KDTREE_MAX_DIM {
        return Err(Error::flag(
            "--knn",
            "kdtree",
            format!(
                "the input has {} dimensions; the k-d tree backend takes 1 to {} (it is slower \
                 than brute force above that); use --knn exact",
                cloud.dim(),
                lid_knn::KDTREE_MAX_DIM
            ),
        ));
    }
    Ok(())
}

/// The stderr note of an HNSW index built on a rescaled copy.
pub(crate) fn scale_note(check: &ScaleCheck, shift: i32) -> String {
    let why = if check.overflow {
        "would overflow the f32 squared distances of the HNSW index"
    } else {
        "would leave the f32 squared distances of the HNSW index in the subnormal range"
    };
    format!(
        "note: the largest coordinate is {:.3e}, which {why}; the index is built on the cloud \
         multiplied by 2^{shift} (exact: a power of two), and every reported distance is computed \
         on the original coordinates (TwoNN is scale-invariant)",
        check.max_abs
    )
}

/// The stderr warning for near duplicates.
fn near_duplicate_warning(found: &NearDuplicateReport, settings: &EstimateSettings) -> String {
    let mut text = format!(
        "warning: {} of the prepared points are near duplicates (nearest neighbour closer than \
         {:e} times the distance to the L-th neighbour; --near-duplicate-threshold); they affect \
         {} of the neighbourhoods",
        found.points, found.threshold, found.neighbourhoods_affected
    );
    if found.neighbourhoods_dominated > 0 {
        text.push_str(&format!(
            ", and {} neighbourhoods hold more of them than the estimator discards (fraction \
             {}), so their estimates are driven by near duplicates (far below the true dimension)",
            found.neighbourhoods_dominated, found.discard_fraction
        ));
    }
    if !settings.dedup_near {
        text.push_str(
            "; --dedup-near removes them (each group keeps its first row) before estimating",
        );
    }
    if let Some(e) = found.examples.first() {
        text.push_str(&format!(
            ". Example: prepared point {} is {:.3e} from point {} (its L-th neighbour is at {:.3e})",
            e.point, e.r1, e.neighbour, e.radius
        ));
    }
    text
}

/// Points the user to `--no-dedup` when duplicates reach an estimator because dedup was turned
/// off.
fn name_duplicate_flag(e: lid_core::Error, args: &EstimateArgs) -> Error {
    match e {
        lid_core::Error::DuplicatePoints { .. } if args.no_dedup => Error::flag(
            "--no-dedup",
            "",
            format!("{e}; leave out --no-dedup to remove exact duplicates first (the paper does)"),
        ),
        other => other.into(),
    }
}

/// A 1-D `.npy` file written under its temporary name (commit it to publish).
fn npy_file<A: ndarray_npy::WritableElement>(path: &Path, array: &Array1<A>) -> Result<AtomicFile> {
    let mut file = AtomicFile::create(path)?;
    array.write_npy(&mut file).map_err(|e| Error::Format {
        action: "write",
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(file)
}

fn print_summary(r: &EstimateReport) {
    let p = &r.preparation;
    crate::outln!(
        "input      {} ({} x {}, {:?})",
        r.input.path.display(),
        r.input.n_points,
        r.input.dim,
        r.input.dtype
    );
    if let Some(e) = &r.embedding {
        crate::outln!(
            "embedding  layer {} (index {}) of {} from {}, {} sequences, {} shards",
            e.layer_requested,
            e.layer_index,
            e.model
                .as_ref()
                .map_or("an unrecorded model".to_string(), |m| m
                    .display()
                    .to_string()),
            e.corpus
                .as_ref()
                .map_or("an unrecorded corpus".to_string(), |c| c
                    .display()
                    .to_string()),
            e.sequences,
            e.shards
        );
    }
    crate::outln!(
        "prepared   {} points ({} sampled, {} duplicates removed, {} zero vectors, {} removed)",
        p.n_output,
        p.n_sampled,
        p.n_duplicates_removed,
        p.n_zero_vectors,
        p.n_zero_vectors_removed
    );
    let s = &r.settings;
    let neighbourhood = match s.estimator {
        // GRIDE asks the backend for its own neighbour ranks; --neighbors is not used.
        Estimator::Gride(g) => {
            let (n1, n2) = g.order_pair();
            format!("L unused (GRIDE neighbour orders {n1} and {n2})")
        }
        _ => format!("L = {}", s.neighbors),
    };
    crate::outln!(
        "settings   estimator {:?}, {neighbourhood}, knn {:?} ({:?}), {} threads",
        s.estimator,
        s.knn,
        s.knn_kind,
        r.threads_used
    );
    if let Some(pw) = &r.pointwise {
        let s = &pw.summary;
        crate::outln!(
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
        crate::outln!("quantiles  {}", qs.join("  "));
    }
    if let Some(g) = &r.global {
        crate::outln!(
            "global     {:.4} ({} used, {} discarded{})",
            g.dimension,
            g.n_used,
            g.n_discarded,
            g.std_error
                .map_or(String::new(), |e| format!(", std error {e:.4}"))
        );
    }
    if let Some(nd) = &r.guards.near_duplicates {
        crate::outln!(
            "guards     near duplicates {} (threshold {:e}, {} neighbourhoods affected, {} dominated{})",
            nd.found.points,
            nd.found.threshold,
            nd.found.neighbourhoods_affected,
            nd.found.neighbourhoods_dominated,
            if nd.removed > 0 {
                format!(", {} removed by --dedup-near", nd.removed)
            } else {
                String::new()
            }
        );
    }
    let t = &r.times;
    crate::outln!(
        "time (s)   load {:.2}  prepare {:.2}  knn {:.2}  pointwise {:.2}  global {:.2}  total {:.2}",
        t.load, t.prepare, t.knn, t.pointwise, t.global, t.total
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: EstimateArgs,
    }

    fn settings(flags: &[&str]) -> Result<EstimateSettings> {
        let mut argv = vec!["lid", "x.npy"];
        argv.extend_from_slice(flags);
        EstimateSettings::from_args(&Cli::parse_from(argv).args)
    }

    #[test]
    fn defaults_come_from_the_library_types() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.neighbors, EstimateSettings::PAPER_NEIGHBORS);
        assert_eq!(s.estimator, Estimator::Twonn(TwoNN::new()));
        assert_eq!(s.preparation, Preparation::builder().build().unwrap());
        let s = settings(&["--sample", "10"]).unwrap();
        assert_eq!(
            s.preparation.sample_config().unwrap().seed,
            Preparation::paper().sample_config().unwrap().seed
        );
    }

    #[test]
    fn each_bad_flag_is_named() {
        for (flags, flag) in [
            (&["--discard", "1.5"][..], "--discard 1.5"),
            (&["--neighbors", "0"][..], "--neighbors 0"),
            (&["--neighbors", "1"][..], "--neighbors 1"),
            (&["--neighbors", "2"][..], "--neighbors 2"),
            (&["--discard", "0.99"][..], "--discard 0.99"),
            (
                &["--neighbors", "3", "--discard", "0.5"][..],
                "--discard 0.5",
            ),
            (
                &["--estimator", "mle", "--neighbors", "1"][..],
                "--neighbors 1",
            ),
            (&["--sample", "0"][..], "--sample"),
            (&["--threads", "0"][..], "--threads 0"),
            (
                &["--estimator", "gride", "--pointwise-out", "p.npy"][..],
                "--pointwise-out",
            ),
            (&["--layer", "-1"][..], "--layer -1"),
        ] {
            let err = settings(flags).unwrap_err().to_string();
            assert!(err.starts_with(flag), "{flags:?}: {err}");
        }
    }
}
