//! Local and global PCA dimension (lPCA), as scikit-dimension 0.5.0 `lPCA`.
//!
//! The spectrum is the PCA explained variance of the (centred) points: the eigenvalues
//! `lambda_1 >= ... >= lambda_m` of the sample covariance with `n - 1` in the denominator,
//! `m = min(n, D)` of them (as `sklearn.decomposition.PCA().explained_variance_`). It is computed from
//! the `n x n` Gram matrix when `n <= D` (the non-zero spectrum is the same) and from the `D x D`
//! covariance otherwise, with `nalgebra`'s symmetric eigen-solver; round-off negatives are set to 0.
//!
//! Versions ([`LpcaVersion`]):
//! - **FO** (K. Fukunaga & D. R. Olsen, "An algorithm for finding intrinsic dimensionality of data",
//!   IEEE Trans. Computers C-20, 1971): `d = #{j : lambda_j > alpha lambda_1}`, `alpha = 0.05`.
//! - **Fan** (M. Fan, N. Gu, H. Qiao & B. Zhang, "Intrinsic dimension estimation of data by principal
//!   component analysis", arXiv:1002.2050, 2010), exactly as scikit-dimension: `r` is the first index
//!   (0-based) where the cumulative explained fraction exceeds `P = 0.95`; `sigma = mean(lambda_r..)`;
//!   with `lambda'_j = lambda_j - sigma`, `d = 1 + min(first j with lambda'_j / lambda'_{j+1} > alpha,
//!   first j with cumsum(lambda')_j / sum(lambda') > beta)`, `alpha = 10`, `beta = 0.8`.
//! - **Ratio**: `d = 1 + #{j : cumsum(lambda)_j / sum(lambda) < alpha}`, `alpha = 0.05`
//!   (scikit-dimension `ver="ratio"`, `alphaRatio`).
//! - **MaxGap**: `d = 1 + argmax_j lambda_j / lambda_{j+1}` (scikit-dimension `ver="maxgap"`). When
//!   `n <= D` the smallest eigenvalue is round-off and this ratio is meaningless; use it only with
//!   `n > D`.
//!
//! Pointwise estimates (scikit-dimension `fit_pw`) use the `L` graph neighbours of each point, the
//! point itself excluded, exactly like TwoNN.

use nalgebra::{DMatrix, SymmetricEigen};
use rayon::prelude::*;

use crate::cloud::PointCloud;
use crate::error::{Error, Result};
use crate::estimators::{
    check_graph_on_cloud, smooth_over_graph, GlobalEstimate, GlobalEstimator, PointwiseEstimates,
    PointwiseEstimator,
};
use crate::graph::{KnnGraph, NeighborSearch};
use crate::guards::NearDuplicates;

/// Which rule turns the PCA spectrum into a dimension (scikit-dimension `lPCA(ver=...)`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LpcaVersion {
    /// Fukunaga-Olsen: eigenvalues above `alpha` times the largest (`ver="FO"`, `alphaFO = 0.05`).
    FukunagaOlsen {
        /// Fraction of the largest eigenvalue, in `(0, 1)`.
        alpha: f64,
    },
    /// Fan et al. 2010 (`ver="Fan"`, `alphaFan = 10`, `betaFan = 0.8`, `PFan = 0.95`).
    Fan {
        /// Large-gap threshold, `> 0`.
        alpha: f64,
        /// Total-variance threshold, in `(0, 1]`.
        beta: f64,
        /// Fraction of variance attributed to signal, in `(0, 1)`.
        p: f64,
    },
    /// Components needed to retain all but `alpha` of the variance (`ver="ratio"`,
    /// `alphaRatio = 0.05`).
    Ratio {
        /// Fraction, in `(0, 1)`.
        alpha: f64,
    },
    /// Position of the largest ratio of consecutive eigenvalues (`ver="maxgap"`).
    MaxGap,
}

impl LpcaVersion {
    /// Fukunaga-Olsen with scikit-dimension's default `alpha = 0.05`.
    pub fn fukunaga_olsen() -> Self {
        LpcaVersion::FukunagaOlsen { alpha: 0.05 }
    }

    /// Fan et al. with scikit-dimension's defaults `alpha = 10`, `beta = 0.8`, `p = 0.95`.
    pub fn fan() -> Self {
        LpcaVersion::Fan {
            alpha: 10.0,
            beta: 0.8,
            p: 0.95,
        }
    }
}

impl Default for LpcaVersion {
    fn default() -> Self {
        Self::fukunaga_olsen()
    }
}

/// PCA dimension, global (whole cloud) or pointwise (graph neighbourhoods).
///
/// ```
/// use lid_core::estimators::{GlobalEstimator, Lpca};
/// use lid_core::{ExhaustiveSearch, PointCloud};
/// use rand::{Rng, SeedableRng};
///
/// // A flat 3-d ball-like blob in 6-d: three coordinates vary, three are zero.
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
/// let values: Vec<f32> = (0..500)
///     .flat_map(|_| [rng.random::<f32>() - 0.5, rng.random::<f32>() - 0.5, rng.random::<f32>() - 0.5, 0.0, 0.0, 0.0])
///     .collect();
/// let cloud = PointCloud::from_vec(values, 500, 6).unwrap();
/// let estimate = Lpca::new().estimate_global(&cloud, &ExhaustiveSearch).unwrap();
/// assert_eq!(estimate.dimension, 3.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Lpca {
    version: LpcaVersion,
    smooth: bool,
}

impl Lpca {
    /// Fukunaga-Olsen with `alpha = 0.05` (scikit-dimension 0.5.0 `lPCA()` defaults), no smoothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the version (default [`LpcaVersion::fukunaga_olsen`]).
    pub fn version(mut self, version: LpcaVersion) -> Self {
        self.version = version;
        self
    }

    /// Pointwise only: mean over the point and its `L` neighbours (default `false`).
    pub fn smooth(mut self, smooth: bool) -> Self {
        self.smooth = smooth;
        self
    }

    /// Checks the parameters.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the bad field (`alpha`, `beta`, `p`).
    pub fn validate(&self) -> Result<()> {
        let open_unit = |name: &'static str, v: f64| {
            if v.is_finite() && v > 0.0 && v < 1.0 {
                Ok(())
            } else {
                Err(Error::invalid_parameter(name, v, "must be in (0, 1)"))
            }
        };
        match self.version {
            LpcaVersion::FukunagaOlsen { alpha } | LpcaVersion::Ratio { alpha } => {
                open_unit("alpha", alpha)
            }
            LpcaVersion::Fan { alpha, beta, p } => {
                if !(alpha.is_finite() && alpha > 0.0) {
                    return Err(Error::invalid_parameter("alpha", alpha, "must be positive"));
                }
                if !(beta.is_finite() && beta > 0.0 && beta <= 1.0) {
                    return Err(Error::invalid_parameter("beta", beta, "must be in (0, 1]"));
                }
                open_unit("p", p)
            }
            LpcaVersion::MaxGap => Ok(()),
        }
    }

    /// The dimension from an explained-variance spectrum sorted in descending order.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a bad parameter or an unsorted, negative or non-finite
    /// spectrum; [`Error::Degenerate`] when the largest eigenvalue is 0 (all points equal) or the
    /// Fan rule finds no index.
    pub fn fit_spectrum(&self, eigenvalues: &[f64]) -> Result<f64> {
        self.validate()?;
        if eigenvalues.len() < 2 {
            return Err(Error::TooFewPoints {
                what: "lPCA spectrum (eigenvalues)",
                n: eigenvalues.len(),
                needed: 2,
            });
        }
        for (j, w) in eigenvalues.windows(2).enumerate() {
            if !(w[0].is_finite() && w[1].is_finite() && w[1] >= 0.0 && w[0] >= w[1]) {
                return Err(Error::invalid_parameter(
                    "eigenvalues",
                    format!("({}, {})", w[0], w[1]),
                    format!("positions {j}, {}: the spectrum must be finite, non-negative and descending", j + 1),
                ));
            }
        }
        let ev = eigenvalues;
        if ev[0] <= 0.0 {
            return Err(Error::Degenerate {
                what: "lPCA",
                reason: "all points coincide (the largest eigenvalue is 0)".to_string(),
            });
        }
        let d = match self.version {
            LpcaVersion::FukunagaOlsen { alpha } => {
                ev.iter().filter(|&&l| l > alpha * ev[0]).count()
            }
            LpcaVersion::Ratio { alpha } => {
                let cumsum = cumulative(ev);
                let max = cumsum.iter().copied().fold(f64::MIN, f64::max);
                1 + cumsum.iter().filter(|&&c| c / max < alpha).count()
            }
            LpcaVersion::MaxGap => {
                let mut best: Option<(usize, f64)> = None;
                for j in 0..ev.len() - 1 {
                    let gap = ev[j] / ev[j + 1];
                    if gap.is_nan() {
                        continue;
                    }
                    if best.is_none_or(|(_, g)| gap > g) {
                        best = Some((j, gap));
                    }
                }
                match best {
                    Some((j, _)) => j + 1,
                    None => return Err(fan_degenerate("every eigenvalue gap is undefined")),
                }
            }
            LpcaVersion::Fan { alpha, beta, p } => fan(ev, alpha, beta, p)?,
        };
        Ok(d as f64)
    }

    /// Raw pointwise values (no smoothing).
    fn pointwise_values(&self, cloud: &PointCloud<'_>, graph: &KnnGraph) -> Result<Vec<f64>> {
        self.validate()?;
        if graph.k() < 2 {
            return Err(Error::TooFewPoints {
                what: "pointwise lPCA neighbourhood",
                n: graph.k(),
                needed: 2,
            });
        }
        let results: Vec<Result<f64>> = (0..graph.n_points())
            .into_par_iter()
            .map(|i| {
                let spectrum = pca_spectrum(cloud, Some(graph.neighbors(i)));
                self.fit_spectrum(&spectrum).map_err(|e| match e {
                    Error::Degenerate { what, reason } => Error::Degenerate {
                        what,
                        reason: format!("neighbourhood of point {i}: {reason}"),
                    },
                    other => other,
                })
            })
            .collect();
        results.into_iter().collect()
    }
}

fn fan_degenerate(reason: &str) -> Error {
    Error::Degenerate {
        what: "lPCA",
        reason: reason.to_string(),
    }
}

/// Sequential cumulative sum (numpy `cumsum` order).
fn cumulative(values: &[f64]) -> Vec<f64> {
    let mut acc = 0.0;
    values
        .iter()
        .map(|v| {
            acc += v;
            acc
        })
        .collect()
}

/// scikit-dimension 0.5.0 `lPCA._fan`, step by step.
fn fan(ev: &[f64], alpha: f64, beta: f64, p: f64) -> Result<usize> {
    // Python's builtin `sum` adds left to right, like the last cumulative value.
    let cumsum = cumulative(ev);
    let total = cumsum[cumsum.len() - 1];
    let r = cumsum
        .iter()
        .position(|&c| c / total > p)
        .ok_or_else(|| fan_degenerate("no eigenvalue prefix exceeds the signal fraction p"))?;
    let tail = &ev[r..];
    let sigma = tail.iter().sum::<f64>() / tail.len() as f64;
    let shifted: Vec<f64> = ev.iter().map(|l| l - sigma).collect();
    let first_gap = (0..shifted.len() - 1).find(|&j| shifted[j] / shifted[j + 1] > alpha);
    let cum_shifted = cumulative(&shifted);
    let total_shifted = cum_shifted[cum_shifted.len() - 1];
    let first_beta = cum_shifted.iter().position(|&c| c / total_shifted > beta);
    match (first_gap, first_beta) {
        (Some(a), Some(b)) => Ok(1 + a.min(b)),
        (Some(a), None) => Ok(1 + a),
        (None, Some(b)) => Ok(1 + b),
        (None, None) => Err(fan_degenerate(
            "neither a large eigenvalue gap nor the variance threshold beta is reached",
        )),
    }
}

/// PCA explained variance (descending, `min(n, D)` values, denominator `n - 1`) of the given rows of
/// `cloud` (all rows when `rows` is `None`). Needs `n >= 2`.
pub(crate) fn pca_spectrum(cloud: &PointCloud<'_>, rows: Option<&[u32]>) -> Vec<f64> {
    let dim = cloud.dim();
    let n = rows.map_or(cloud.n_points(), <[u32]>::len);
    let row = |a: usize| -> &[f32] {
        match rows {
            Some(r) => cloud.row(r[a] as usize),
            None => cloud.row(a),
        }
    };
    let mut mean = vec![0.0f64; dim];
    for a in 0..n {
        for (m, &x) in mean.iter_mut().zip(row(a)) {
            *m += x as f64;
        }
    }
    for m in &mut mean {
        *m /= n as f64;
    }
    let scale = 1.0 / (n as f64 - 1.0);
    let matrix = if n <= dim {
        // Gram matrix of the centred rows: its eigenvalues are the non-zero covariance spectrum.
        let centred = DMatrix::from_fn(n, dim, |a, c| row(a)[c] as f64 - mean[c]);
        let mut gram = &centred * centred.transpose();
        gram *= scale;
        gram
    } else {
        // Covariance, accumulated over blocks of rows to bound memory.
        let mut cov = DMatrix::<f64>::zeros(dim, dim);
        let block = 512;
        let mut start = 0;
        while start < n {
            let len = block.min(n - start);
            let b = DMatrix::from_fn(len, dim, |a, c| row(start + a)[c] as f64 - mean[c]);
            cov.gemm_tr(scale, &b, &b, 1.0);
            start += len;
        }
        cov
    };
    let mut eigenvalues: Vec<f64> = SymmetricEigen::new(matrix)
        .eigenvalues
        .iter()
        .map(|&l| l.max(0.0))
        .collect();
    eigenvalues.sort_unstable_by(|a, b| b.total_cmp(a));
    eigenvalues
}

impl GlobalEstimator for Lpca {
    /// PCA on the whole cloud (the search is not used). `n_used` is the number of points.
    fn estimate_global(
        &self,
        cloud: &PointCloud<'_>,
        _search: &dyn NeighborSearch,
    ) -> Result<GlobalEstimate> {
        self.validate()?;
        let n = cloud.n_points();
        if n < 2 {
            return Err(Error::TooFewPoints {
                what: "global lPCA",
                n,
                needed: 2,
            });
        }
        let spectrum = pca_spectrum(cloud, None);
        Ok(GlobalEstimate {
            dimension: self.fit_spectrum(&spectrum)?,
            n_used: n,
            n_discarded: 0,
            std_error: None,
        })
    }
}

impl PointwiseEstimator for Lpca {
    /// PCA of the `L = graph.k()` neighbours of each point (the point excluded), parallel over points.
    fn estimate_pointwise(
        &self,
        cloud: &PointCloud<'_>,
        graph: &KnnGraph,
    ) -> Result<PointwiseEstimates> {
        check_graph_on_cloud(cloud, graph)?;
        let mut values = self.pointwise_values(cloud, graph)?;
        if self.smooth {
            values = smooth_over_graph(&values, graph);
        }
        Ok(PointwiseEstimates {
            values,
            neighbors: graph.k(),
            dropped_duplicates: 0,
            near_duplicate_points: NearDuplicates::default().count(graph),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fo_and_fan_on_a_hand_spectrum() {
        let ev = [10.0, 5.0, 0.4, 0.01, 0.0];
        assert_eq!(Lpca::new().fit_spectrum(&ev).unwrap(), 2.0);
        // Fan: cumsum/total = [.651, .977, ...] -> r = 1; sigma = mean(5, .4, .01, 0) = 1.3525;
        // shifted = [8.6475, 3.6475, -0.9525, ...]: gap 8.6475/3.6475 < 10, 3.6475/-0.95 < 10,
        // cumsum(shifted)/sum(shifted) first > 0.8 at index 0 -> d = 1.
        let fan = Lpca::new().version(LpcaVersion::fan());
        assert_eq!(fan.fit_spectrum(&ev).unwrap(), 1.0);
        assert!(matches!(
            Lpca::new().fit_spectrum(&[0.0, 0.0]),
            Err(Error::Degenerate { .. })
        ));
    }
}
