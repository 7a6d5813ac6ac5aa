//! The validation suite: every estimator on synthetic manifolds of known dimension, at several sample
//! sizes, as a table of estimate against true dimension (the quick reproduction suite of
//! `lid-experiments`, also written to `docs/validation.md`).
//!
//! For every manifold and sample size `N` the suite draws `N` points ([`lid_core::synthetic`]),
//! builds one kNN graph with the largest `k` any estimator needs (see [`neighbor_search`], the one
//! place that chooses the backend), and hands every estimator that graph as a search
//! ([`lid_core::KnnGraph::as_search`], truncated to the `k` each asks for), so the O(N^2) search runs
//! once per cloud.
//!
//! Estimators ([`EstimatorSpec`]): global TwoNN in both CDF conventions, global MLE (k = 20, MacKay-
//! Ghahramani average), global GRIDE (n1 = 1, n2 = 2), global lPCA (Fukunaga-Olsen, alpha = 0.05),
//! and the mean of pointwise estimates with `L` neighbours (docs/method.md step 7) for TwoNN, MLE and
//! lPCA.
//!
//! Run folder ([`write_run`]): `config.json`, `results.json`, `table.csv` (long), `table_wide.csv`,
//! `table.md`, `accuracy.csv` (median |relative error| per estimator and N), `local_twonn_box.csv`,
//! figures `local_twonn_box` (pointwise TwoNN per manifold at the largest N, true dimension marked)
//! and `ratio_by_estimator` (estimate / true dimension over the manifolds, per estimator and N),
//! `report.md`, `summary.json`, `COMPLETE`.

use std::time::Instant;

use std::path::PathBuf;

use lid_core::estimators::{
    CdfConvention, GlobalEstimator, Gride, Lpca, Mle, PointwiseEstimator, TwoNN,
};
use lid_core::synthetic::{Benchmark, Manifold};
use lid_core::{KnnGraph, NeighborSearch, PointCloud, SearchKind};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::run::folder::FigureRef;
use crate::run::plot::{BoxPlot, BoxRow, BoxStats, RefLine};
use crate::run::{RunFolder, StudySummary, Table};
use crate::studies::Study;

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
    /// Mean of pointwise TwoNN with `L` neighbours (docs/method.md step 7).
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

    /// Runs the estimator on `cloud` with its neighbours from `graph` (built on `cloud` by a backend
    /// of `kind`): `(estimate, std of the pointwise values for local estimators, pointwise values)`.
    fn run(
        self,
        cloud: &PointCloud<'_>,
        graph: &KnnGraph,
        kind: SearchKind,
        neighbors: usize,
    ) -> lid_core::Result<(f64, Option<f64>, Option<Vec<f64>>)> {
        let search = graph.as_search(kind);
        let global = |e: &dyn GlobalEstimator| -> lid_core::Result<_> {
            Ok((e.estimate_global(cloud, &search)?.dimension, None, None))
        };
        let local = |e: &dyn PointwiseEstimator, k: usize| -> lid_core::Result<_> {
            let g = graph.truncated(k)?;
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
    /// A config over the given manifolds and estimators, checked once here.
    ///
    /// # Errors
    /// [`Error::Flag`] for no manifolds or estimators, no sizes or a size below 3 (`--sizes`),
    /// `L` below 3 (`--neighbors`; local TwoNN needs 3 points), or a size not above `L` (`--sizes`;
    /// every local estimate would fail).
    pub fn new(
        manifolds: Vec<Manifold>,
        estimators: Vec<EstimatorSpec>,
        sizes: Vec<usize>,
        neighbors: usize,
        seed: u64,
    ) -> Result<Self> {
        if sizes.is_empty() || sizes.iter().any(|&n| n < 3) {
            return Err(Error::flag(
                "--sizes",
                format!("{sizes:?}"),
                "list one or more sample sizes of at least 3 points",
            ));
        }
        if neighbors < 3 {
            return Err(Error::flag(
                "--neighbors",
                neighbors,
                "must be at least 3 (local TwoNN needs 3 points)",
            ));
        }
        if let Some(&n) = sizes.iter().find(|&&n| n <= neighbors) {
            return Err(Error::flag(
                "--sizes",
                n,
                format!(
                    "is not above --neighbors {neighbors}: the local estimators need L = \
                     {neighbors} neighbours besides each point; give sizes above {neighbors} or \
                     a smaller --neighbors"
                ),
            ));
        }
        if manifolds.is_empty() || estimators.is_empty() {
            return Err(Error::Check(
                "a validation run needs at least one manifold and one estimator".into(),
            ));
        }
        Ok(Self {
            sizes,
            neighbors,
            seed,
            manifold_names: manifolds.iter().map(Manifold::name).collect(),
            estimator_names: estimators.iter().map(|e| e.name().to_string()).collect(),
            manifolds,
            estimators,
        })
    }

    /// The quick reproduction suite: basic shapes and the M1-M13 benchmark set, every estimator,
    /// `N` in {1000, 4000}, `L = 64`, seed 2025. About a minute in release on 2 cores.
    // Invariant: the preset's settings are constants that pass `new`'s checks (unit test
    // `quick_preset_is_valid_and_overrides_are_checked`); no user input reaches this call.
    #[allow(clippy::expect_used)]
    pub fn quick() -> Self {
        Self::new(
            quick_manifolds(),
            EstimatorSpec::ALL.to_vec(),
            vec![1000, 4000],
            64,
            2025,
        )
        .expect("the quick preset is valid (checked by a unit test)")
    }

    /// The quick preset with the overrides of the command line, checked once.
    ///
    /// # Errors
    /// As [`ValidationConfig::new`].
    pub fn quick_with(
        sizes: Option<Vec<usize>>,
        neighbors: Option<usize>,
        seed: Option<u64>,
    ) -> Result<Self> {
        let q = Self::quick();
        Self::new(
            q.manifolds,
            q.estimators,
            sizes.unwrap_or(q.sizes),
            neighbors.unwrap_or(q.neighbors),
            seed.unwrap_or(q.seed),
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

/// Pointwise estimates of one manifold (for the distribution figure).
#[derive(Debug, Clone, PartialEq)]
pub struct LocalValues {
    /// Manifold name.
    pub manifold: String,
    /// True intrinsic dimension.
    pub intrinsic_dim: usize,
    /// The pointwise estimates.
    pub values: Vec<f64>,
}

/// Everything a validation run produced.
#[derive(Debug, Clone, Serialize)]
pub struct ValidationResult {
    /// One row per (manifold, N, estimator).
    pub rows: Vec<ValidationRow>,
    /// Pointwise TwoNN-034 values at the largest N per manifold (for the distribution figure).
    #[serde(skip)]
    pub local_twonn: Vec<LocalValues>,
    /// Wall time in seconds.
    pub seconds: f64,
    /// Backend name.
    pub search: String,
}

/// Runs the suite with `search` as backend. Estimator failures become rows with an `error`; sampling
/// or search failures abort.
///
/// # Errors
/// [`Error::Core`]: a manifold that cannot be sampled, or a failed neighbour search.
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
            let sample = manifold.sample(n, seed)?;
            let t = Instant::now();
            let graph = search.knn_graph(&sample.cloud, k_max.min(n - 1))?;
            for &spec in &config.estimators {
                let result = spec.run(&sample.cloud, &graph, search.kind(), config.neighbors);
                let truth = sample.intrinsic_dim as f64;
                let row = match result {
                    Ok((estimate, local_std, values)) => {
                        if n == largest
                            && spec == EstimatorSpec::TwoNnLocalMean(CdfConvention::Skdim034)
                        {
                            if let Some(values) = values {
                                local_twonn.push(LocalValues {
                                    manifold: manifold.name(),
                                    intrinsic_dim: sample.intrinsic_dim,
                                    values,
                                });
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
///
/// # Errors
/// A result whose rows are not one per estimator per (manifold, N) (not one that
/// [`run_validation`] made with `config`).
pub fn wide_table(config: &ValidationConfig, result: &ValidationResult) -> Result<Table> {
    let mut headers = vec!["manifold".to_string(), "d".into(), "D".into(), "N".into()];
    headers.extend(config.estimators.iter().map(|e| e.name().to_string()));
    let mut table = Table::new(headers);
    let width = config.estimators.len();
    // run_validation pushes exactly one row per estimator per (manifold, N).
    if width == 0 || !result.rows.len().is_multiple_of(width) {
        return Err(Error::figure(
            "validation table",
            format!(
                "{} result rows are not one per estimator ({width}) per manifold and size",
                result.rows.len()
            ),
        ));
    }
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
        table.push_row(row)?;
    }
    Ok(table)
}

/// The long table: every [`ValidationRow`] as CSV-ready strings.
///
/// # Errors
/// Never (nine cells for nine columns; a row-length mismatch is a bug).
pub fn long_table(result: &ValidationResult) -> Result<Table> {
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
        table.push_row([
            r.manifold.clone(),
            r.intrinsic_dim.to_string(),
            r.ambient_dim.to_string(),
            r.n.to_string(),
            r.estimator.clone(),
            opt(r.estimate),
            opt(r.relative_error),
            opt(r.local_std),
            r.error.clone().unwrap_or_default(),
        ])?;
    }
    Ok(table)
}

/// Median |relative error| of every estimator at every N over the manifolds (the key table).
///
/// # Errors
/// Never (one cell per column: name, one per size, failures; a mismatch is a bug).
pub fn accuracy_table(config: &ValidationConfig, result: &ValidationResult) -> Result<Table> {
    let mut headers = vec!["estimator".to_string()];
    headers.extend(
        config
            .sizes
            .iter()
            .map(|n| format!("median |rel. error|, N = {n}")),
    );
    headers.push("failed".into());
    let mut table = Table::new(headers);
    for spec in &config.estimators {
        let mut row = vec![spec.name().to_string()];
        for &n in &config.sizes {
            let errors: Vec<f64> = result
                .rows
                .iter()
                .filter(|r| r.n == n && r.estimator == spec.name())
                .filter_map(|r| r.relative_error.map(f64::abs))
                .collect();
            row.push(
                lid_core::stats::quantile(&errors, 0.5)
                    .map_or("–".to_string(), |m| format!("{:.1} %", 100.0 * m)),
            );
        }
        let failed = result
            .rows
            .iter()
            .filter(|r| r.estimator == spec.name() && r.error.is_some())
            .count();
        row.push(failed.to_string());
        table.push_row(row)?;
    }
    Ok(table)
}

/// The figure of pointwise TwoNN at the largest N per manifold, with the true dimension marked.
pub fn local_twonn_figure(config: &ValidationConfig, result: &ValidationResult) -> BoxPlot {
    BoxPlot {
        title: format!(
            "Pointwise TwoNN (L = {}, N = {}) per manifold",
            config.neighbors,
            config.sizes.iter().max().copied().unwrap_or(0)
        ),
        value_label: "local intrinsic dimension".into(),
        rows: result
            .local_twonn
            .iter()
            .map(|l| {
                BoxRow::new(
                    format!("{} (d = {})", l.manifold, l.intrinsic_dim),
                    l.values.clone(),
                )
                .reference(l.intrinsic_dim as f64)
            })
            .collect(),
        classes: Vec::new(),
        reference_label: "true dimension".into(),
        reference_line: None,
    }
}

/// The figure of estimate / true dimension over the manifolds, one row per estimator and N.
pub fn ratio_figure(config: &ValidationConfig, result: &ValidationResult) -> BoxPlot {
    let mut rows = Vec::new();
    for spec in &config.estimators {
        for (class, &n) in config.sizes.iter().enumerate() {
            let ratios: Vec<f64> = result
                .rows
                .iter()
                .filter(|r| r.n == n && r.estimator == spec.name())
                .filter_map(|r| r.estimate.map(|e| e / r.intrinsic_dim as f64))
                .collect();
            if !ratios.is_empty() {
                rows.push(BoxRow::new(format!("{}, N = {n}", spec.name()), ratios).class(class));
            }
        }
    }
    BoxPlot {
        title: format!(
            "Estimate / true dimension over {} manifolds",
            config.manifolds.len()
        ),
        value_label: "estimate / true dimension".into(),
        rows,
        classes: config.sizes.iter().map(|n| format!("N = {n}")).collect(),
        reference_label: String::new(),
        reference_line: Some(RefLine {
            label: "exact (1)".into(),
            y: 1.0,
        }),
    }
}

/// Never fails for ten cells in ten columns (a row-length mismatch is a bug).
fn box_stats_table(figure: &BoxPlot, stats: &[BoxStats]) -> Result<Table> {
    let mut table = Table::new([
        "row",
        "count",
        "mean",
        "whisker_low",
        "q25",
        "median",
        "q75",
        "whisker_high",
        "outliers",
        "reference",
    ]);
    for (row, s) in figure.rows.iter().zip(stats) {
        let f = |v: f64| format!("{v:.6}");
        table.push_row([
            row.label.clone(),
            s.count.to_string(),
            f(s.mean),
            f(s.whisker_low),
            f(s.q25),
            f(s.median),
            f(s.q75),
            f(s.whisker_high),
            s.outliers.to_string(),
            row.reference.map_or(String::new(), f),
        ])?;
    }
    Ok(table)
}

/// Writes the run folder (see the module docs) and finishes it; returns the summary.
///
/// # Errors
/// I/O or figure failures.
pub fn write_run(
    mut folder: RunFolder,
    config: &ValidationConfig,
    result: &ValidationResult,
) -> Result<StudySummary> {
    folder.write_config(config, &[config.seed])?;
    folder.write_json("results.json", result)?;
    folder.write_table("table.csv", &long_table(result)?)?;
    let wide = wide_table(config, result)?;
    folder.write_table("table_wide.csv", &wide)?;
    let markdown = wide.to_markdown();
    folder.write_text("table.md", &markdown)?;
    let accuracy = accuracy_table(config, result)?;
    folder.write_table("accuracy.csv", &accuracy)?;

    let mut figures = Vec::new();
    if !result.local_twonn.is_empty() {
        let local = local_twonn_figure(config, result);
        folder.write_table(
            "local_twonn_box.csv",
            &box_stats_table(&local, &local.stats()?)?,
        )?;
        folder.write_figure("local_twonn_box", &local)?;
        figures.push(FigureRef {
            file: "local_twonn_box.png".into(),
            caption: format!(
                "pointwise TwoNN (L = {}) per manifold; red bar = true dimension",
                config.neighbors
            ),
        });
    }
    let ratio = ratio_figure(config, result);
    if !ratio.rows.is_empty() {
        folder.write_table(
            "ratio_by_estimator.csv",
            &box_stats_table(&ratio, &ratio.stats()?)?,
        )?;
        folder.write_figure("ratio_by_estimator", &ratio)?;
        figures.push(FigureRef {
            file: "ratio_by_estimator.png".into(),
            caption: "estimate / true dimension over the manifolds, per estimator and N".into(),
        });
    }
    let failures = result.rows.iter().filter(|r| r.error.is_some()).count();
    let accuracy_md = accuracy.to_markdown();
    let report = format!(
        "# Validation: estimators on manifolds of known dimension\n\n\
         Sizes N = {:?}, local neighbourhood L = {}, seed {}, backend `{}`, {:.1} s.\n\
         {} of {} estimates failed (see `table.csv`, column `error`).\n\n\
         ## Accuracy\n\nMedian over the {} manifolds of |estimate - d| / d (`accuracy.csv`).\n\n{}\n\
         ![local](local_twonn_box.png)\n\n![ratio](ratio_by_estimator.png)\n\n\
         ## Every estimate\n\nCells are estimates; `d` is the true intrinsic dimension, `D` the \
         ambient dimension.\n\n{}",
        config.sizes,
        config.neighbors,
        config.seed,
        result.search,
        result.seconds,
        failures,
        result.rows.len(),
        config.manifolds.len(),
        accuracy_md,
        markdown
    );
    folder.write_report(&report)?;
    let summary = StudySummary {
        study: "validation".into(),
        title: "Validation: estimators on manifolds of known dimension".into(),
        headline: format!(
            "{} estimators on {} manifolds at N = {:?} (L = {}): median |relative error| per \
             estimator below; {} of {} estimates failed.",
            config.estimators.len(),
            config.manifolds.len(),
            config.sizes,
            config.neighbors,
            failures,
            result.rows.len()
        ),
        table_markdown: Some(accuracy_md),
        figures,
        direction: None,
    };
    folder.write_summary(&summary)?;
    folder.finish()?;
    Ok(summary)
}

/// Flags of `lid-experiments validate`; unset flags take the quick preset's values
/// ([`ValidationConfig::quick`]).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ValidateArgs {
    /// Run folder (default: runs/validation-YYYYMMDD-HHMMSS, UTC; its parent must exist).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Sample sizes N, comma separated (quick preset: 1000,4000).
    #[arg(long, value_delimiter = ',')]
    pub sizes: Option<Vec<usize>>,
    /// Neighbourhood size L of the local estimators (quick preset: 64).
    #[arg(long)]
    pub neighbors: Option<usize>,
    /// Seed of the point samples (quick preset: 2025).
    #[arg(long)]
    pub seed: Option<u64>,
}

/// Runs the validation study into `folder` with `config`, logging progress; returns the summary.
///
/// # Errors
/// As [`run_validation`] and [`write_run`].
pub fn run_into(
    folder: RunFolder,
    config: &ValidationConfig,
    log: &mut dyn FnMut(&str),
) -> Result<StudySummary> {
    log(&format!(
        "validation: {} manifolds x N = {:?}, L = {}, run folder {}",
        config.manifolds().len(),
        config.sizes,
        config.neighbors,
        folder.path().display()
    ));
    let search = neighbor_search();
    let result = run_validation(config, search.as_ref(), |line| log(&format!("  {line}")))?;
    log(&format!("done in {:.1} s", result.seconds));
    write_run(folder, config, &result)
}

/// Runs `lid-experiments validate`: settings first (checked once), then the output folder, then
/// the work. Prints the wide table.
///
/// # Errors
/// Invalid flags, an unusable `--out`, or the errors of [`run_into`].
pub fn run_cli(args: &ValidateArgs) -> Result<PathBuf> {
    let config = ValidationConfig::quick_with(args.sizes.clone(), args.neighbors, args.seed)?;
    let folder = match &args.out {
        Some(dir) => RunFolder::create(dir, "validation")?,
        None => RunFolder::timestamped("runs", "validation")?,
    };
    let path = folder.path().to_path_buf();
    let summary = run_into(folder, &config, &mut |line| eprintln!("{line}"))?;
    if let Some(table) = &summary.table_markdown {
        crate::outln!("{table}");
    }
    eprintln!("wrote {}", path.display());
    Ok(path)
}

/// The validation study in the registry (quick preset).
#[derive(Debug, Clone, Copy)]
pub struct Validation;

impl Study for Validation {
    fn name(&self) -> &'static str {
        "validation"
    }

    fn title(&self) -> &'static str {
        "Estimators on manifolds of known dimension"
    }

    /// One configuration at every preset (the estimators on synthetic manifolds take about a
    /// minute); an interrupted folder is measured again.
    fn run(
        &self,
        _preset: crate::run::Preset,
        folder: RunFolder,
        _resume: bool,
        log: &mut dyn FnMut(&str),
    ) -> Result<StudySummary> {
        run_into(folder, &ValidationConfig::quick(), log)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_preset_is_valid_and_overrides_are_checked() {
        let q = ValidationConfig::quick();
        assert_eq!(q.sizes, vec![1000, 4000]);
        let err = ValidationConfig::quick_with(Some(vec![2]), None, None)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("--sizes"), "{err}");
        let err = ValidationConfig::quick_with(None, Some(2), None)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("--neighbors 2"), "{err}");
        // N at or below L: every local estimate would fail; refused before any work.
        let err = ValidationConfig::quick_with(Some(vec![1000, 64]), None, None)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("--sizes 64"), "{err}");
        assert!(ValidationConfig::quick_with(Some(vec![65]), None, None).is_ok());
    }
}
