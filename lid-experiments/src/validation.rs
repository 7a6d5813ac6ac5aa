//! The validation suite: every estimator on synthetic manifolds of known dimension, at several sample
//! sizes, as a table of estimate against true dimension (the quick reproduction suite of
//! `lid-experiments`, also written to `docs/validation.md`).
//!
//! For every manifold and sample size `N` the suite draws `N` points ([`lid_core::synthetic`]),
//! builds one kNN graph with the largest `k` any estimator needs (see [`neighbor_search`], the one
//! place that chooses the backend), and hands every estimator a [`PrecomputedGraph`] that serves
//! truncations of it, so the O(N^2) search runs once per cloud.
//!
//! Estimators ([`EstimatorSpec`]): global TwoNN in both CDF conventions, global MLE (k = 20, MacKay-
//! Ghahramani average), global GRIDE (n1 = 1, n2 = 2), global lPCA (Fukunaga-Olsen, alpha = 0.05),
//! and the mean of pointwise estimates with `L` neighbours (REFERENCE.md step 7) for TwoNN, MLE and
//! lPCA.

use std::time::Instant;

use anyhow::{Context, Result};
use lid_core::estimators::{
    CdfConvention, GlobalEstimator, Gride, Lpca, Mle, PointwiseEstimator, TwoNN,
};
use lid_core::synthetic::{Benchmark, Manifold};
use lid_core::{KnnGraph, NeighborSearch, PointCloud, SearchKind};
use serde::Serialize;

use crate::report::{BandSeries, BoxPlot, LinePlot, RunFolder, Table};

/// The neighbour-search backend of the suite.
///
/// The exact blocked-GEMM backend `lid_knn::BruteForce`; it returns the same graph as the
/// `lid_core::ExhaustiveSearch` oracle (tested in lid-knn), only faster.
pub fn neighbor_search() -> Box<dyn NeighborSearch> {
    Box::new(lid_knn::BruteForce::default())
}

/// One estimator of the table, with its settings fixed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EstimatorSpec {
    /// Global TwoNN (discard 10 %) with the given CDF convention.
    TwoNnGlobal(CdfConvention),
    /// Mean of pointwise TwoNN with `L` neighbours (REFERENCE.md step 7).
    TwoNnLocalMean(CdfConvention),
    /// Global Levina-Bickel MLE, k = 20, MacKay-Ghahramani inverse-mean average.
    MleGlobal,
    /// Mean of pointwise MLE with k = 20 (the first 20 of the `L` neighbours).
    MleLocalMean,
    /// Global GRIDE with n1 = 1, n2 = 2.
    GrideGlobal,
    /// Global lPCA (Fukunaga-Olsen, alpha = 0.05) on the whole cloud.
    LpcaGlobal,
    /// Mean of pointwise lPCA (Fukunaga-Olsen) on the `L` neighbours.
    LpcaLocalMean,
}

impl EstimatorSpec {
    /// All estimators of the suite, in table order.
    pub const ALL: [EstimatorSpec; 9] = [
        EstimatorSpec::TwoNnGlobal(CdfConvention::Skdim034),
        EstimatorSpec::TwoNnGlobal(CdfConvention::Corrected),
        EstimatorSpec::MleGlobal,
        EstimatorSpec::GrideGlobal,
        EstimatorSpec::LpcaGlobal,
        EstimatorSpec::TwoNnLocalMean(CdfConvention::Skdim034),
        EstimatorSpec::TwoNnLocalMean(CdfConvention::Corrected),
        EstimatorSpec::MleLocalMean,
        EstimatorSpec::LpcaLocalMean,
    ];

    /// Column name.
    pub fn name(self) -> &'static str {
        match self {
            EstimatorSpec::TwoNnGlobal(CdfConvention::Skdim034) => "TwoNN-034",
            EstimatorSpec::TwoNnGlobal(_) => "TwoNN-corr",
            EstimatorSpec::TwoNnLocalMean(CdfConvention::Skdim034) => "local TwoNN-034",
            EstimatorSpec::TwoNnLocalMean(_) => "local TwoNN-corr",
            EstimatorSpec::MleGlobal => "MLE",
            EstimatorSpec::MleLocalMean => "local MLE",
            EstimatorSpec::GrideGlobal => "GRIDE",
            EstimatorSpec::LpcaGlobal => "lPCA",
            EstimatorSpec::LpcaLocalMean => "local lPCA",
        }
    }

    /// Whether the estimate is the mean of pointwise estimates.
    pub fn is_local(self) -> bool {
        matches!(
            self,
            EstimatorSpec::TwoNnLocalMean(_)
                | EstimatorSpec::MleLocalMean
                | EstimatorSpec::LpcaLocalMean
        )
    }

    /// Neighbours this estimator needs from the graph (`neighbors` = L of the local estimators).
    fn needed_k(self, neighbors: usize) -> usize {
        match self {
            EstimatorSpec::TwoNnGlobal(_) | EstimatorSpec::GrideGlobal => 2,
            EstimatorSpec::MleGlobal => MLE_K,
            EstimatorSpec::LpcaGlobal => 1,
            EstimatorSpec::MleLocalMean => MLE_K,
            EstimatorSpec::TwoNnLocalMean(_) | EstimatorSpec::LpcaLocalMean => neighbors,
        }
    }

    /// Runs the estimator: `(estimate, std of the pointwise values for local estimators, pointwise
    /// values)`.
    fn run(
        self,
        cloud: &PointCloud<'_>,
        graph: &PrecomputedGraph,
        neighbors: usize,
    ) -> lid_core::Result<(f64, Option<f64>, Option<Vec<f64>>)> {
        let global = |e: &dyn GlobalEstimator| -> lid_core::Result<_> {
            Ok((e.estimate_global(cloud, graph)?.dimension, None, None))
        };
        let local = |e: &dyn PointwiseEstimator, k: usize| -> lid_core::Result<_> {
            let g = graph.graph.truncated(k)?;
            let values = e.estimate_pointwise(cloud, &g)?.values;
            let mean = lid_core::stats::mean(&values)?;
            let std = lid_core::stats::std(&values, 1).ok();
            Ok((mean, std, Some(values)))
        };
        match self {
            EstimatorSpec::TwoNnGlobal(cdf) => global(&TwoNN::new().cdf(cdf)),
            EstimatorSpec::MleGlobal => global(&Mle::new().k(MLE_K)),
            EstimatorSpec::GrideGlobal => global(&Gride::new()),
            EstimatorSpec::LpcaGlobal => global(&Lpca::new()),
            EstimatorSpec::TwoNnLocalMean(cdf) => local(&TwoNN::new().cdf(cdf), neighbors),
            EstimatorSpec::MleLocalMean => local(&Mle::new().k(MLE_K), MLE_K),
            EstimatorSpec::LpcaLocalMean => local(&Lpca::new(), neighbors),
        }
    }
}

/// MLE neighbours (scikit-dimension's default).
pub const MLE_K: usize = 20;

/// A [`NeighborSearch`] that serves truncations of one precomputed graph of one cloud.
#[derive(Debug, Clone)]
pub struct PrecomputedGraph {
    graph: KnnGraph,
}

impl PrecomputedGraph {
    /// Wraps a graph built on the cloud the estimators will be given.
    pub fn new(graph: KnnGraph) -> Self {
        Self { graph }
    }
}

impl NeighborSearch for PrecomputedGraph {
    fn name(&self) -> &'static str {
        "precomputed"
    }

    fn kind(&self) -> SearchKind {
        SearchKind::Exact
    }

    /// The first `k` neighbours of the stored graph.
    ///
    /// # Errors
    /// [`lid_core::Error::ShapeMismatch`] when `cloud` has another number of points than the graph;
    /// [`lid_core::Error::InvalidParameter`] when `k` exceeds the stored `k`.
    fn knn_graph(&self, cloud: &PointCloud<'_>, k: usize) -> lid_core::Result<KnnGraph> {
        if cloud.n_points() != self.graph.n_points() {
            return Err(lid_core::Error::ShapeMismatch {
                what: "cloud given to a precomputed graph",
                expected: format!("{} points", self.graph.n_points()),
                got: format!("{} points", cloud.n_points()),
            });
        }
        self.graph.truncated(k)
    }
}

/// Settings of a validation run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValidationConfig {
    /// Sample sizes `N`.
    pub sizes: Vec<usize>,
    /// Neighbourhood size `L` of the local (pointwise) estimators.
    pub neighbors: usize,
    /// Seed of the point samples (manifold `i` at size index `j` uses `seed + 1000 i + j`).
    pub seed: u64,
    /// Manifolds, by name (see [`ValidationConfig::manifolds`]).
    pub manifold_names: Vec<String>,
    /// Estimators, by column name.
    pub estimator_names: Vec<String>,
    #[serde(skip)]
    manifolds: Vec<Manifold>,
    #[serde(skip)]
    estimators: Vec<EstimatorSpec>,
}

impl ValidationConfig {
    /// A config over the given manifolds and estimators.
    pub fn new(
        manifolds: Vec<Manifold>,
        estimators: Vec<EstimatorSpec>,
        sizes: Vec<usize>,
        neighbors: usize,
        seed: u64,
    ) -> Self {
        Self {
            sizes,
            neighbors,
            seed,
            manifold_names: manifolds.iter().map(Manifold::name).collect(),
            estimator_names: estimators.iter().map(|e| e.name().to_string()).collect(),
            manifolds,
            estimators,
        }
    }

    /// The quick reproduction suite: basic shapes and the M1-M13 benchmark set, every estimator,
    /// `N` in {1000, 4000}, `L = 64`, seed 2025. About a minute in release on 2 cores.
    pub fn quick() -> Self {
        Self::new(
            quick_manifolds(),
            EstimatorSpec::ALL.to_vec(),
            vec![1000, 4000],
            64,
            2025,
        )
    }

    /// The manifolds.
    pub fn manifolds(&self) -> &[Manifold] {
        &self.manifolds
    }

    /// The estimators.
    pub fn estimators(&self) -> &[EstimatorSpec] {
        &self.estimators
    }
}

/// Manifolds of the quick suite: ball(5), sphere(3), cube(8), swiss roll, a curved 6-cube in R^30,
/// and the M1-M13 benchmark set without M10d (70-d cube surface; no estimator here gets near 70 with
/// a few thousand points, and its 71-d distances dominate the run time).
pub fn quick_manifolds() -> Vec<Manifold> {
    let mut m = vec![
        Manifold::Ball { dim: 5 },
        Manifold::Sphere { dim: 3 },
        Manifold::Cube { dim: 8 },
        Manifold::SwissRoll,
        Manifold::CurvedCube {
            dim: 6,
            ambient: 30,
            curvature: 0.7,
            map_seed: 7,
        },
    ];
    m.extend(
        Benchmark::ALL
            .into_iter()
            .filter(|b| *b != Benchmark::M10dCubic)
            .map(Manifold::Benchmark),
    );
    m
}

/// One cell of the result: an estimator on a manifold at a sample size.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValidationRow {
    /// Manifold name.
    pub manifold: String,
    /// True intrinsic dimension.
    pub intrinsic_dim: usize,
    /// Ambient dimension.
    pub ambient_dim: usize,
    /// Sample size.
    pub n: usize,
    /// Estimator column name.
    pub estimator: String,
    /// The estimate (`None` when the estimator failed; see `error`).
    pub estimate: Option<f64>,
    /// `(estimate - true) / true`.
    pub relative_error: Option<f64>,
    /// For local estimators: standard deviation (ddof 1) of the pointwise values.
    pub local_std: Option<f64>,
    /// The estimator's error message, when it failed.
    pub error: Option<String>,
}

/// Everything a validation run produced.
#[derive(Debug, Clone, Serialize)]
pub struct ValidationResult {
    /// One row per (manifold, N, estimator).
    pub rows: Vec<ValidationRow>,
    /// Pointwise TwoNN-034 values at the largest N per manifold (for the distribution plot).
    #[serde(skip)]
    pub local_twonn: Vec<(String, Vec<f64>)>,
    /// Wall time in seconds.
    pub seconds: f64,
    /// Backend name.
    pub search: String,
}

/// Runs the suite with `search` as backend. Estimator failures become rows with an `error`; sampling
/// or search failures abort.
///
/// # Errors
/// A manifold that cannot be sampled, or a failed neighbour search.
pub fn run_validation(
    config: &ValidationConfig,
    search: &dyn NeighborSearch,
    mut progress: impl FnMut(&str),
) -> Result<ValidationResult> {
    let start = Instant::now();
    let k_max = config
        .estimators
        .iter()
        .map(|e| e.needed_k(config.neighbors))
        .max()
        .unwrap_or(2)
        .max(2);
    let mut rows = Vec::new();
    let mut local_twonn = Vec::new();
    let largest = config.sizes.iter().copied().max().unwrap_or(0);
    for (mi, manifold) in config.manifolds.iter().enumerate() {
        for (si, &n) in config.sizes.iter().enumerate() {
            let seed = config.seed + 1000 * mi as u64 + si as u64;
            let sample = manifold
                .sample(n, seed)
                .with_context(|| format!("sampling {} with N = {n}", manifold.name()))?;
            let t = Instant::now();
            let graph = search
                .knn_graph(&sample.cloud, k_max.min(n - 1))
                .with_context(|| format!("{}-NN graph of {} (N = {n})", k_max, manifold.name()))?;
            let graph = PrecomputedGraph::new(graph);
            for &spec in &config.estimators {
                let result = spec.run(&sample.cloud, &graph, config.neighbors);
                let truth = sample.intrinsic_dim as f64;
                let row = match result {
                    Ok((estimate, local_std, values)) => {
                        if n == largest
                            && spec == EstimatorSpec::TwoNnLocalMean(CdfConvention::Skdim034)
                        {
                            if let Some(v) = values {
                                local_twonn.push((manifold.name(), v));
                            }
                        }
                        ValidationRow {
                            manifold: manifold.name(),
                            intrinsic_dim: sample.intrinsic_dim,
                            ambient_dim: sample.ambient_dim(),
                            n,
                            estimator: spec.name().into(),
                            estimate: Some(estimate),
                            relative_error: Some((estimate - truth) / truth),
                            local_std,
                            error: None,
                        }
                    }
                    Err(e) => ValidationRow {
                        manifold: manifold.name(),
                        intrinsic_dim: sample.intrinsic_dim,
                        ambient_dim: sample.ambient_dim(),
                        n,
                        estimator: spec.name().into(),
                        estimate: None,
                        relative_error: None,
                        local_std: None,
                        error: Some(e.to_string()),
                    },
                };
                rows.push(row);
            }
            progress(&format!(
                "{} (d = {}, D = {}), N = {n}: {:.2} s",
                manifold.name(),
                sample.intrinsic_dim,
                sample.ambient_dim(),
                t.elapsed().as_secs_f64()
            ));
        }
    }
    Ok(ValidationResult {
        rows,
        local_twonn,
        seconds: start.elapsed().as_secs_f64(),
        search: search.name().to_string(),
    })
}

/// The wide table: one row per (manifold, N), one column per estimator, cells `estimate` (two
/// decimals) or `err`.
pub fn wide_table(config: &ValidationConfig, result: &ValidationResult) -> Table {
    let mut headers = vec!["manifold".to_string(), "d".into(), "D".into(), "N".into()];
    headers.extend(config.estimators.iter().map(|e| e.name().to_string()));
    let mut table = Table::new(headers);
    let width = config.estimators.len();
    for chunk in result.rows.chunks(width) {
        let first = &chunk[0];
        let mut row = vec![
            first.manifold.clone(),
            first.intrinsic_dim.to_string(),
            first.ambient_dim.to_string(),
            first.n.to_string(),
        ];
        row.extend(chunk.iter().map(|r| match r.estimate {
            Some(v) => format!("{v:.2}"),
            None => "err".into(),
        }));
        // Invariant: run_validation pushes exactly one row per estimator per (manifold, N).
        table.push_row(row).expect("one cell per estimator column");
    }
    table
}

/// The long table: every [`ValidationRow`] as CSV-ready strings.
pub fn long_table(result: &ValidationResult) -> Table {
    let mut table = Table::new([
        "manifold",
        "intrinsic_dim",
        "ambient_dim",
        "n",
        "estimator",
        "estimate",
        "relative_error",
        "local_std",
        "error",
    ]);
    let opt = |v: Option<f64>| v.map_or(String::new(), |x| format!("{x:.6}"));
    for r in &result.rows {
        table
            .push_row([
                r.manifold.clone(),
                r.intrinsic_dim.to_string(),
                r.ambient_dim.to_string(),
                r.n.to_string(),
                r.estimator.clone(),
                opt(r.estimate),
                opt(r.relative_error),
                opt(r.local_std),
                r.error.clone().unwrap_or_default(),
            ])
            .expect("nine cells for nine columns");
    }
    table
}

/// Writes the run folder: config.json, results.json, table.csv (long), table_wide.csv, table.md,
/// report.md, `ratio_vs_n.{svg,png}` (estimate / true dimension against N, mean +- std over
/// manifolds, one line per estimator) and `local_twonn_box.{svg,png}` (pointwise TwoNN at the
/// largest N per manifold).
///
/// # Errors
/// I/O or plotting failure.
pub fn write_run(
    folder: &RunFolder,
    config: &ValidationConfig,
    result: &ValidationResult,
) -> Result<()> {
    folder.write_config("validation", config, &[config.seed])?;
    folder.write_json("results.json", result)?;
    folder.write_table("table.csv", &long_table(result))?;
    let wide = wide_table(config, result);
    folder.write_table("table_wide.csv", &wide)?;
    let markdown = wide.to_markdown();
    folder.write_text("table.md", &markdown)?;

    let mut series = Vec::new();
    for spec in &config.estimators {
        let mut x = Vec::new();
        let mut mean = Vec::new();
        let mut std = Vec::new();
        for &n in &config.sizes {
            let ratios: Vec<f64> = result
                .rows
                .iter()
                .filter(|r| r.n == n && r.estimator == spec.name())
                .filter_map(|r| r.estimate.map(|e| e / r.intrinsic_dim as f64))
                .collect();
            if ratios.len() >= 2 {
                x.push(n as f64);
                mean.push(lid_core::stats::mean(&ratios)?);
                std.push(lid_core::stats::std(&ratios, 1)?);
            }
        }
        if !x.is_empty() {
            series.push(BandSeries {
                label: spec.name().into(),
                x,
                mean,
                std: Some(std),
            });
        }
    }
    if !series.is_empty() {
        folder.line_plot(
            "ratio_vs_n",
            &LinePlot {
                title: "estimate / true dimension (mean +- std over manifolds)".into(),
                x_label: "N (points)".into(),
                y_label: "estimate / true dimension".into(),
                log_x: true,
                series,
                reference_lines: vec![("exact".into(), 1.0)],
            },
        )?;
    }
    if !result.local_twonn.is_empty() {
        folder.box_plot(
            "local_twonn_box",
            &BoxPlot {
                title: format!(
                    "pointwise TwoNN (L = {}, N = {}) per manifold",
                    config.neighbors,
                    config.sizes.iter().max().copied().unwrap_or(0)
                ),
                y_label: "local dimension".into(),
                groups: result.local_twonn.clone(),
            },
        )?;
    }
    let failures = result.rows.iter().filter(|r| r.error.is_some()).count();
    let report = format!(
        "# Validation: estimators on manifolds of known dimension\n\n\
         Sizes N = {:?}, local neighbourhood L = {}, seed {}, backend `{}`, {:.1} s.\n\
         {} of {} estimates failed (see `table.csv`, column `error`).\n\n\
         Cells are estimates; `d` is the true intrinsic dimension, `D` the ambient dimension.\n\n{}\n\
         Plots: `ratio_vs_n.svg` (estimate / d against N), `local_twonn_box.svg` (pointwise TwoNN).\n",
        config.sizes,
        config.neighbors,
        config.seed,
        result.search,
        result.seconds,
        failures,
        result.rows.len(),
        markdown
    );
    folder.write_report(&report)?;
    Ok(())
}
