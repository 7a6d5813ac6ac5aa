//! GRIDE (F. Denti, D. Doimo, A. Laio & A. Mira, "The generalized ratios intrinsic dimension
//! estimator", Scientific Reports 12, 20005, 2022).
//!
//! For every point, `mu = R_{n2} / R_{n1}` (distances to the `n2`-th and `n1`-th neighbours,
//! `n2 > n1 >= 1`) has the density `f(mu) = d (mu^d - 1)^(n2 - n1 - 1) / (B(n2 - n1, n1)
//! mu^((n2 - 1) d + 1))`. `d` maximises the log-likelihood; its derivative in `d` is
//!
//! `g(d) = (N - 1) / d - sum_i ((1 - n2 + n1) / (1 - mu_i^(-d)) + n2 - 1) ln mu_i`,
//!
//! and, following dadapy 0.3.4 (`Data.return_id_scaling_gride`, `_argmax_loglik`), the root is found
//! by bisection on `[d_min, d_max] = [0.001, 1000]` until the bracket is narrower than `1e-7`, with
//! `1 - mu^(-d)` clamped below at `2 eps`. The standard error is `1 / sqrt(I(d))` with the Fisher
//! information `I(d) = N / d^2 + sum_i (n2 - n1 - 1) (ln mu_i / (1 - mu_i^(-d)))^2 mu_i^(-d)`
//! (`1 - mu^(-d)` clamped below at `5 eps`).
//!
//! As in dadapy, ratios equal to 1 are nudged up by `10 eps`, and the likelihood uses only ratios
//! below `mu_max = q50 + 20 (q95 - q50)` (numpy-style linear percentiles), a guard against
//! near-duplicates; the Fisher information uses all `N` ratios, as dadapy does. dadapy's error term
//! always uses `n2 = 2 n1` (its only scales); here the configured `n2` is used, which is the same for
//! `n2 = 2 n1`.

use crate::cloud::PointCloud;
use crate::error::{Error, Result};
use crate::estimators::{check_graph_on_cloud, GlobalEstimate, GlobalEstimator};
use crate::graph::NeighborSearch;

/// The GRIDE estimator with neighbour orders `n1 < n2`.
///
/// ```
/// use lid_core::estimators::{GlobalEstimator, Gride};
/// use lid_core::{ExhaustiveSearch, PointCloud};
/// use rand::{Rng, SeedableRng};
///
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
/// let values: Vec<f32> = (0..2000)
///     .flat_map(|_| [rng.random::<f32>(), rng.random::<f32>(), rng.random::<f32>(), 0.0])
///     .collect();
/// let cloud = PointCloud::from_vec(values, 2000, 4).unwrap();
/// let estimate = Gride::new().estimate_global(&cloud, &ExhaustiveSearch).unwrap();
/// assert!((estimate.dimension - 3.0).abs() < 0.3, "{}", estimate.dimension);
/// assert!(estimate.std_error.unwrap() < 0.2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Gride {
    n1: usize,
    n2: usize,
    d_min: f64,
    d_max: f64,
    tolerance: f64,
}

impl Default for Gride {
    fn default() -> Self {
        Self::new()
    }
}

impl Gride {
    /// dadapy 0.3.4 defaults for the first scale: `n1 = 1`, `n2 = 2`, search bracket
    /// `[d_min, d_max] = [0.001, 1000]`, bisection tolerance `1e-7`.
    pub fn new() -> Self {
        Self {
            n1: 1,
            n2: 2,
            d_min: 1e-3,
            d_max: 1000.0,
            tolerance: 1e-7,
        }
    }

    /// Neighbour orders `1 <= n1 < n2` (default 1 and 2; dadapy's scale `i` is `n1 = 2^i`,
    /// `n2 = 2^(i+1)`).
    pub fn orders(mut self, n1: usize, n2: usize) -> Self {
        self.n1 = n1;
        self.n2 = n2;
        self
    }

    /// The neighbour orders `(n1, n2)` whose distance ratio the estimator uses.
    pub fn order_pair(&self) -> (usize, usize) {
        (self.n1, self.n2)
    }

    /// Bracket of the likelihood maximisation, `0 < d_min < d_max` (default 0.001, 1000).
    pub fn bracket(mut self, d_min: f64, d_max: f64) -> Self {
        self.d_min = d_min;
        self.d_max = d_max;
        self
    }

    /// Width of the final bisection bracket, `> 0` (default `1e-7`).
    pub fn tolerance(mut self, tolerance: f64) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Checks the parameters.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] named `n1`, `n2`, `d_min`, `d_max` or `tolerance`.
    pub fn validate(&self) -> Result<()> {
        if self.n1 == 0 {
            return Err(Error::invalid_parameter(
                "n1",
                self.n1,
                "must be at least 1",
            ));
        }
        if self.n2 <= self.n1 {
            return Err(Error::invalid_parameter(
                "n2",
                self.n2,
                format!("must exceed n1 = {}", self.n1),
            ));
        }
        if !(self.d_min.is_finite() && self.d_min > 0.0) {
            return Err(Error::invalid_parameter(
                "d_min",
                self.d_min,
                "must be positive",
            ));
        }
        if !(self.d_max.is_finite() && self.d_max > self.d_min) {
            return Err(Error::invalid_parameter(
                "d_max",
                self.d_max,
                format!("must be finite and exceed d_min = {}", self.d_min),
            ));
        }
        if !(self.tolerance.is_finite() && self.tolerance > 0.0) {
            return Err(Error::invalid_parameter(
                "tolerance",
                self.tolerance,
                "must be positive",
            ));
        }
        Ok(())
    }

    /// Fits GRIDE on ratios `mu_i = R_{n2} / R_{n1}` (one per point). Returns the dimension with its
    /// standard error; `n_discarded` counts the ratios above the outlier threshold.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a bad parameter or a ratio that is not finite and `>= 1`
    /// (an infinite ratio means duplicate points: [`Error::DuplicatePoints`]);
    /// [`Error::TooFewPoints`] for fewer than 2 ratios; [`Error::Degenerate`] when the likelihood has
    /// no maximum inside the bracket.
    pub fn fit_ratios(&self, ratios: &[f64]) -> Result<GlobalEstimate> {
        self.validate()?;
        let duplicates = ratios
            .iter()
            .filter(|mu| mu.is_infinite() || mu.is_nan())
            .count();
        if duplicates > 0 {
            return Err(Error::DuplicatePoints {
                what: "GRIDE ratios".to_string(),
                count: duplicates,
                total: ratios.len(),
            });
        }
        if let Some((i, &mu)) = ratios.iter().enumerate().find(|(_, &mu)| mu < 1.0) {
            return Err(Error::invalid_parameter(
                "ratios",
                mu,
                format!("ratio {i} is below 1, but R_n2 >= R_n1 by definition"),
            ));
        }
        if ratios.len() < 2 {
            return Err(Error::TooFewPoints {
                what: "GRIDE",
                n: ratios.len(),
                needed: 2,
            });
        }
        let eps = f64::EPSILON;
        // dadapy `_filter_mus`: nudge ratios equal to 1, then drop ratios at or above mu_max.
        let all: Vec<f64> = ratios
            .iter()
            .map(|&mu| if mu == 1.0 { mu + 10.0 * eps } else { mu })
            .collect();
        let mut sorted = all.clone();
        sorted.sort_unstable_by(f64::total_cmp);
        let q95 = numpy_percentile(&sorted, 95.0);
        let q50 = numpy_percentile(&sorted, 50.0);
        let mu_max = 20.0 * (q95 - q50) + q50;
        let used: Vec<f64> = all.iter().copied().filter(|&mu| mu < mu_max).collect();
        if used.len() < 2 {
            return Err(Error::TooFewPoints {
                what: "GRIDE (after removing outlying ratios)",
                n: used.len(),
                needed: 2,
            });
        }
        let (n1, n2) = (self.n1 as f64, self.n2 as f64);
        let log_mu: Vec<f64> = used.iter().map(|mu| mu.ln()).collect();
        let n_used = used.len() as f64;
        // Negative derivative of the log-likelihood (dadapy `_neg_dloglik_did`).
        let neg_dloglik = |d: f64| -> f64 {
            let mut sum = 0.0;
            for (&mu, &lm) in used.iter().zip(&log_mu) {
                let one_m = (1.0 - mu.powf(-d)).max(2.0 * eps);
                sum += ((1.0 - n2 + n1) / one_m + n2 - 1.0) * lm;
            }
            sum - (n_used - 1.0) / d
        };
        let (mut d0, mut d1) = (self.d_min, self.d_max);
        let l1 = neg_dloglik(d1);
        let l0 = neg_dloglik(d0);
        let product = l0 * l1;
        if product.is_nan() || product > 0.0 {
            return Err(Error::Degenerate {
                what: "GRIDE",
                reason: format!(
                    "the likelihood has no maximum in [{}, {}] (derivative does not change sign)",
                    self.d_min, self.d_max
                ),
            });
        }
        // dadapy `_argmax_loglik`: bisection, keeping the half whose end has the other sign than d1.
        while (d0 - d1).abs() > self.tolerance {
            let d2 = (d0 + d1) / 2.0;
            let l2 = neg_dloglik(d2);
            if l2 * l1 > 0.0 {
                d1 = d2;
            } else {
                d0 = d2;
            }
        }
        let d = (d0 + d1) / 2.0;
        // dadapy `_fisher_info_scaling` on all ratios (after the nudge).
        let reg = 5.0 * eps;
        let mut j1 = 0.0;
        for &mu in &all {
            let pow = mu.powf(-d);
            let one_m = (1.0 - pow).max(reg);
            let f = mu.ln() / one_m;
            j1 += (n2 - n1 - 1.0) * f * f * pow;
        }
        let fisher = all.len() as f64 / (d * d) + j1;
        Ok(GlobalEstimate {
            dimension: d,
            n_used: used.len(),
            n_discarded: ratios.len() - used.len(),
            std_error: Some(1.0 / fisher.sqrt()),
        })
    }
}

/// numpy's default (`linear`) percentile of sorted data, with numpy's two-sided interpolation
/// (`b - (b - a)(1 - t)` when `t >= 0.5`), so that the outlier threshold matches dadapy exactly.
fn numpy_percentile(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    let h = (n - 1) as f64 * (q / 100.0);
    let lo = h.floor();
    let t = h - lo;
    let lo = lo as usize;
    let hi = (lo + 1).min(n - 1);
    let (a, b) = (sorted[lo], sorted[hi]);
    let diff = b - a;
    if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    }
}

impl GlobalEstimator for Gride {
    /// Asks `search` for `n2` neighbours per point and fits on `R_{n2} / R_{n1}`.
    fn estimate_global(
        &self,
        cloud: &PointCloud<'_>,
        search: &dyn NeighborSearch,
    ) -> Result<GlobalEstimate> {
        self.validate()?;
        let graph = search.knn_graph(cloud, self.n2)?;
        check_graph_on_cloud(cloud, &graph)?;
        let n = graph.n_points();
        let mut ratios = Vec::with_capacity(n);
        let mut duplicates = 0usize;
        for i in 0..n {
            let d = graph.distances(i);
            let (r1, r2) = (d[self.n1 - 1], d[self.n2 - 1]);
            if r1 == 0.0 {
                duplicates += 1;
            } else {
                ratios.push(r2 / r1);
            }
        }
        if duplicates > 0 {
            return Err(Error::DuplicatePoints {
                what: format!(
                    "GRIDE (zero distance to the neighbour of order n1 = {})",
                    self.n1
                ),
                count: duplicates,
                total: n,
            });
        }
        self.fit_ratios(&ratios)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_matches_numpy() {
        // numpy.percentile([1, 2, 3, 4, 10], [95, 50]) == [8.8, 3.0]
        let s = [1.0, 2.0, 3.0, 4.0, 10.0];
        assert!((numpy_percentile(&s, 95.0) - 8.8).abs() < 1e-12);
        assert_eq!(numpy_percentile(&s, 50.0), 3.0);
        assert_eq!(numpy_percentile(&[5.0], 95.0), 5.0);
    }
}
