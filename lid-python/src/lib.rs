//! # lid-python
//!
//! The native part (`lid._lid`) of the Python package `lid`: numpy arrays in, numpy arrays out, the
//! work done by `lid-core` and `lid-knn` with the GIL released (`Python::detach`, PyO3 0.30's name
//! for `allow_threads`). The pure-Python layer (`python/lid/`: `__init__.py`, `skdim.py`,
//! `probe.py`) adds defaults, dtype conversion, warnings, the scikit-dimension-compatible class and
//! the training-loop probe; this file only translates. `lid.embed` (module `embed`) is behind the
//! cargo feature `embed`, off by default because it compiles candle.
//!
//! The key design decision: no pipeline of our own. Each call runs the steps of `lid estimate`
//! (docs/method.md steps 4-7) with the library functions that own them: [`Preparation`] (seeded
//! sampling, exact-row dedup keeping the first occurrence, the first-N prefix) or [`dedup_rows`]
//! alone, a [`NeighborSearch`] backend of `lid-knn`, then a [`PointwiseEstimator`](lid_core::estimators::PointwiseEstimator) (and
//! [`smooth_pointwise`]) or [`GlobalEstimator`](lid_core::estimators::GlobalEstimator) of `lid-core`, with the settings checked by the
//! estimators' own `validate` before any search. Every error is the library's, raised as
//! `ValueError` with its message.
//!
//! Memory: a C-contiguous `float32` array is borrowed, not copied ([`PointCloud::from_view`]); a copy
//! of the rows is made only when sampling, dedup or the prefix changes the rows (the prepared cloud is
//! a new matrix, as in `lid estimate`). Other layouts and dtypes are converted by the Python layer.
#![deny(missing_docs)]

#[cfg(feature = "embed")]
mod compare;
#[cfg(feature = "embed")]
mod embed;

use lid_core::estimators::{smooth_pointwise, CdfConvention, Estimator, EstimatorKind, Mle};
use lid_core::guards::{NearDuplicateReport, NearDuplicates};
use lid_core::prepare::{dedup_rows, Preparation};
use lid_core::{check_k, NeighborSearch, PointCloud};
use lid_knn::{BruteForce, Hnsw, KdTree};
use ndarray::{Array1, Array2, ArrayView2};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray2};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// What the native `local_dimensions` returns: values, kept rows, info dict, smoothed values.
type LocalTuple<'py> = (
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyDict>,
    Option<Bound<'py, PyArray1<f64>>>,
);

/// What the native `knn` returns: distances and indices, `n x k`.
type KnnTuple<'py> = (Bound<'py, PyArray2<f64>>, Bound<'py, PyArray2<i64>>);

/// A `lid-core` error as a Python `ValueError` carrying the library's message.
fn value_error(e: lid_core::Error) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// The estimator of `name` (the names of `lid estimate --estimator`), by lid-core's one builder.
fn build_estimator(
    name: &str,
    neighbors: usize,
    cdf: CdfConvention,
    discard: f64,
) -> PyResult<(EstimatorKind, Estimator)> {
    let kind: EstimatorKind = name.parse().map_err(value_error)?;
    let e = Estimator::new(kind, neighbors, cdf, discard).map_err(value_error)?;
    Ok((kind, e))
}

fn parse_cdf(name: &str) -> PyResult<CdfConvention> {
    match name {
        "paper" => Ok(CdfConvention::Skdim034),
        "corrected" => Ok(CdfConvention::Corrected),
        other => Err(PyValueError::new_err(format!(
            "cdf {other:?}: expected \"paper\" (F_j = (j - 1)/n, scikit-dimension 0.3.4, the \
             paper's numbers) or \"corrected\" (F_j = j/n, scikit-dimension 0.4 and later)"
        ))),
    }
}

/// The neighbour-search backend, by the names of `lid estimate --knn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KnnName {
    Exact,
    Hnsw,
    Kdtree,
}

impl KnnName {
    fn parse(name: &str) -> PyResult<Self> {
        match name {
            "exact" => Ok(Self::Exact),
            "hnsw" => Ok(Self::Hnsw),
            "kdtree" => Ok(Self::Kdtree),
            other => Err(PyValueError::new_err(format!(
                "knn {other:?}: expected \"exact\" (blocked brute force, the default), \"hnsw\" \
                 (approximate, exact re-rank) or \"kdtree\" (exact, up to 16 dimensions)"
            ))),
        }
    }

    fn backend(self) -> Box<dyn NeighborSearch> {
        match self {
            Self::Exact => Box::new(BruteForce::new()),
            Self::Hnsw => Box::new(Hnsw::default()),
            Self::Kdtree => Box::new(KdTree::new()),
        }
    }
}

/// The prepared cloud: the input itself (borrowed) or a new matrix of the kept rows.
/// ([`PointCloud`] is invariant in its lifetime, hence two variants.)
enum Rows<'a> {
    Input(PointCloud<'a>),
    Selected(PointCloud<'static>),
}

impl Rows<'_> {
    /// Runs `f` on the cloud, whichever variant holds it.
    fn with<R>(&self, f: impl FnOnce(&PointCloud<'_>) -> R) -> R {
        match self {
            Rows::Input(cloud) => f(cloud),
            Rows::Selected(cloud) => f(cloud),
        }
    }
}

/// The rows of the input the estimate is computed on, and what preparation did.
struct Prepared<'a> {
    cloud: Rows<'a>,
    kept: Vec<usize>,
    duplicates_removed: usize,
    sample_capped: bool,
}

/// What [`prepare`] is asked to do (the preparation flags of `lid estimate`).
#[derive(Debug, Clone, Copy)]
struct PrepareSettings {
    dedup: bool,
    /// `(size, seed)` of the sample drawn first.
    sample: Option<(usize, u64)>,
    /// Keep only the first rows after sampling and dedup (`--keep`, the paper's N).
    keep: Option<usize>,
}

impl PrepareSettings {
    /// The preparation asked for by the Python arguments (`sample` rows drawn with `seed`).
    fn new(dedup: bool, sample: Option<usize>, seed: u64, keep: Option<usize>) -> Self {
        Self {
            dedup,
            sample: sample.map(|s| (s, seed)),
            keep,
        }
    }
}

/// Sampling, dedup and prefix of `lid estimate` ([`Preparation`]). Without sampling or prefix,
/// [`dedup_rows`] alone decides, so that a cloud without duplicates stays borrowed (no copy).
fn prepare(cloud: PointCloud<'_>, settings: PrepareSettings) -> lid_core::Result<Prepared<'_>> {
    let n = cloud.n_points();
    let PrepareSettings {
        dedup,
        sample,
        keep,
    } = settings;
    if sample.is_some() || keep.is_some() {
        let mut builder = Preparation::builder().dedup(dedup);
        if let Some((size, seed)) = sample {
            builder = builder.sample(size, seed);
        }
        if let Some(keep) = keep {
            builder = builder.keep_first(keep);
        }
        let (prepared, report) = builder.build()?.run(&cloud)?;
        return Ok(Prepared {
            cloud: Rows::Selected(prepared),
            kept: report.kept_rows,
            duplicates_removed: report.n_duplicates_removed,
            sample_capped: report.sample_capped,
        });
    }
    if !dedup {
        return Ok(Prepared {
            cloud: Rows::Input(cloud),
            kept: (0..n).collect(),
            duplicates_removed: 0,
            sample_capped: false,
        });
    }
    let d = dedup_rows(&cloud);
    let cloud = if d.removed == 0 {
        Rows::Input(cloud)
    } else {
        Rows::Selected(cloud.select_rows(&d.kept)?)
    };
    Ok(Prepared {
        cloud,
        kept: d.kept,
        duplicates_removed: d.removed,
        sample_capped: false,
    })
}

/// A borrowed view of a C-contiguous float32 matrix (the Python layer converts anything else).
fn borrow_matrix<'py>(x: &'py PyReadonlyArray2<'py, f32>) -> PyResult<ArrayView2<'py, f32>> {
    let view = x.as_array();
    if !view.is_standard_layout() {
        return Err(PyTypeError::new_err(
            "expected a C-contiguous float32 array (numpy.ascontiguousarray(x, dtype=numpy.float32))",
        ));
    }
    Ok(view)
}

/// The pointwise estimator of `name` with its settings, validated before any search.
fn pointwise_estimator(
    name: &str,
    neighbors: usize,
    cdf: CdfConvention,
    discard: f64,
) -> PyResult<(EstimatorKind, Estimator)> {
    let (kind, e) = build_estimator(name, neighbors, cdf, discard)?;
    match &e {
        Estimator::Twonn(t) => {
            t.pointwise_ratios_kept(neighbors).map_err(value_error)?;
        }
        Estimator::Gride(_) => {
            return Err(PyValueError::new_err(
                "estimator \"gride\" gives a global estimate only, no pointwise estimates; use \
                 lid.global_dimension(x, estimator=\"gride\")",
            ))
        }
        Estimator::Mle(_) | Estimator::Lpca(_) => {}
    }
    Ok((kind, e))
}

/// What [`local_dimensions`] computed, before it becomes Python objects.
struct LocalResult {
    values: Vec<f64>,
    smoothed: Option<Vec<f64>>,
    kept: Vec<usize>,
    duplicates_removed: usize,
    sample_capped: bool,
    dropped_duplicates: usize,
    near: NearDuplicateReport,
}

/// Per-point local intrinsic dimensions (the steps of `lid estimate`).
///
/// `x`: C-contiguous float32 matrix, one point per row. Returns `(values, kept, info, smoothed)`: the
/// estimates (float64, one per kept row, in the order of `kept`), the input row of each (int64), a
/// dict of what preparation and the guards found, and with `smooth` the estimates averaged over each
/// point and its neighbours ([`smooth_pointwise`]; otherwise `None`). Raises `ValueError` with the
/// library's message.
#[pyfunction]
#[pyo3(signature = (x, neighbors, estimator, cdf, discard, knn, dedup, sample, seed, keep, smooth, near_duplicate_threshold))]
#[allow(clippy::too_many_arguments)] // the keyword arguments of the Python function, one to one
fn local_dimensions<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f32>,
    neighbors: usize,
    estimator: &str,
    cdf: &str,
    discard: f64,
    knn: &str,
    dedup: bool,
    sample: Option<usize>,
    seed: u64,
    keep: Option<usize>,
    smooth: bool,
    near_duplicate_threshold: f64,
) -> PyResult<LocalTuple<'py>> {
    let (kind, est) = pointwise_estimator(estimator, neighbors, parse_cdf(cdf)?, discard)?;
    let pointwise = est
        .pointwise()
        .ok_or_else(|| PyValueError::new_err("this estimator has no pointwise estimates"))?;
    let backend = KnnName::parse(knn)?.backend();
    let near = NearDuplicates::new(near_duplicate_threshold).map_err(value_error)?;
    let near = match kind {
        EstimatorKind::Twonn | EstimatorKind::TwonnMle => {
            near.discard_fraction(discard).map_err(value_error)?
        }
        _ => near,
    };
    let settings = PrepareSettings::new(dedup, sample, seed, keep);
    let view = borrow_matrix(&x)?;
    let result = py
        .detach(|| -> lid_core::Result<LocalResult> {
            let cloud = PointCloud::from_view(view)?;
            let p = prepare(cloud, settings)?;
            let (graph, estimates) = p.cloud.with(|cloud| -> lid_core::Result<_> {
                check_k(cloud.n_points(), neighbors)?;
                let graph = backend.knn_graph(cloud, neighbors)?;
                let estimates = pointwise.estimate_pointwise(cloud, &graph)?;
                Ok((graph, estimates))
            })?;
            let smoothed = if smooth {
                Some(smooth_pointwise(&estimates.values, &graph)?)
            } else {
                None
            };
            Ok(LocalResult {
                values: estimates.values,
                smoothed,
                kept: p.kept,
                duplicates_removed: p.duplicates_removed,
                sample_capped: p.sample_capped,
                dropped_duplicates: estimates.dropped_duplicates,
                near: near.check(&graph),
            })
        })
        .map_err(value_error)?;
    let info = PyDict::new(py);
    info.set_item("duplicates_removed", result.duplicates_removed)?;
    info.set_item("sample_capped", result.sample_capped)?;
    info.set_item("dropped_duplicates", result.dropped_duplicates)?;
    info.set_item("near_duplicate_threshold", result.near.threshold)?;
    info.set_item("near_duplicate_points", result.near.points)?;
    info.set_item(
        "near_duplicate_neighbourhoods_affected",
        result.near.neighbourhoods_affected,
    )?;
    info.set_item(
        "near_duplicate_neighbourhoods_dominated",
        result.near.neighbourhoods_dominated,
    )?;
    let kept: Array1<i64> = result.kept.iter().map(|&r| r as i64).collect();
    Ok((
        Array1::from(result.values).into_pyarray(py),
        kept.into_pyarray(py),
        info,
        result.smoothed.map(|s| Array1::from(s).into_pyarray(py)),
    ))
}

/// One global intrinsic dimension of the prepared cloud.
///
/// `neighbors`: the MLE's `k` (other estimators ignore it; `None` keeps the library's default).
/// Returns `(dimension, n_used, n_discarded, std_error)`.
#[pyfunction]
#[pyo3(signature = (x, estimator, cdf, discard, knn, dedup, sample, seed, keep, neighbors))]
#[allow(clippy::too_many_arguments)] // the keyword arguments of the Python function, one to one
fn global_dimension<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f32>,
    estimator: &str,
    cdf: &str,
    discard: f64,
    knn: &str,
    dedup: bool,
    sample: Option<usize>,
    seed: u64,
    keep: Option<usize>,
    neighbors: Option<usize>,
) -> PyResult<(f64, usize, usize, Option<f64>)> {
    // The MLE's k is `neighbors` when given, else its default (20).
    let k = neighbors.unwrap_or_else(|| Mle::new().get_k());
    let (_, est) = build_estimator(estimator, k, parse_cdf(cdf)?, discard)?;
    let backend = KnnName::parse(knn)?.backend();
    let settings = PrepareSettings::new(dedup, sample, seed, keep);
    let view = borrow_matrix(&x)?;
    let estimate = py
        .detach(|| -> lid_core::Result<_> {
            let cloud = PointCloud::from_view(view)?;
            let p = prepare(cloud, settings)?;
            p.cloud
                .with(|cloud| est.global().estimate_global(cloud, backend.as_ref()))
        })
        .map_err(value_error)?;
    Ok((
        estimate.dimension,
        estimate.n_used,
        estimate.n_discarded,
        estimate.std_error,
    ))
}

/// The `k` nearest neighbours of every row (the row itself excluded), sorted by (distance, index).
///
/// Returns `(distances, indices)`: float64 Euclidean distances and int64 row indices, both `n x k`.
#[pyfunction]
#[pyo3(signature = (x, k, knn))]
fn knn<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f32>,
    k: usize,
    knn: &str,
) -> PyResult<KnnTuple<'py>> {
    let backend = KnnName::parse(knn)?.backend();
    let view = borrow_matrix(&x)?;
    let graph = py
        .detach(|| -> lid_core::Result<_> {
            let cloud = PointCloud::from_view(view)?;
            check_k(cloud.n_points(), k)?;
            backend.knn_graph(&cloud, k)
        })
        .map_err(value_error)?;
    let n = graph.n_points();
    let shape_error = |e: ndarray::ShapeError| PyValueError::new_err(e.to_string());
    let distances =
        Array2::from_shape_vec((n, k), graph.distances_flat().to_vec()).map_err(shape_error)?;
    let indices = Array2::from_shape_vec(
        (n, k),
        graph.indices_flat().iter().map(|&j| i64::from(j)).collect(),
    )
    .map_err(shape_error)?;
    Ok((distances.into_pyarray(py), indices.into_pyarray(py)))
}

/// The native module `lid._lid`.
#[pymodule]
fn _lid(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(local_dimensions, m)?)?;
    m.add_function(wrap_pyfunction!(global_dimension, m)?)?;
    m.add_function(wrap_pyfunction!(knn, m)?)?;
    #[cfg(feature = "embed")]
    m.add_function(wrap_pyfunction!(embed::embed, m)?)?;
    #[cfg(feature = "embed")]
    m.add_function(wrap_pyfunction!(compare::compare, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
