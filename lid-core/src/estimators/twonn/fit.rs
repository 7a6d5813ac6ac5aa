//! The TwoNN fits on a set of ratios `mu = r2 / r1`: the line fit of Facco et al. (2017) in both CDF
//! conventions, and the censored maximum-likelihood estimate of scikit-dimension 0.5.0.

use crate::error::{Error, Result};

use super::{CdfConvention, TwoNnFit, TwoNnMethod};

/// Number of ratios kept out of `n`: `floor(n * (1 - discard))`, computed in `f64` exactly as
/// scikit-dimension does (`int(N * (1 - discard_fraction))`), so that the rounding agrees bit for bit.
pub(crate) fn kept_count(n: usize, discard_fraction: f64) -> usize {
    (n as f64 * (1.0 - discard_fraction)).floor() as usize
}

/// The ratios kept out of `n`, refused ([`Error::TooFewPoints`] naming `what`) below two.
pub(crate) fn check_kept(n: usize, discard_fraction: f64, what: &'static str) -> Result<usize> {
    let k = kept_count(n, discard_fraction);
    if k < 2 {
        return Err(Error::TooFewPoints {
            what,
            n,
            needed: needed_points(discard_fraction),
        });
    }
    Ok(k)
}

/// Fits TwoNN on ratios that are all finite and `>= 1`, **sorted ascending in place** first.
///
/// `ratios` is the scratch buffer of the caller (sorted in place: no allocation on the hot path).
/// `what` names the fit in error messages.
pub(crate) fn fit_sorted_ratios(
    ratios: &mut [f64],
    discard_fraction: f64,
    cdf: CdfConvention,
    method: TwoNnMethod,
    what: &'static str,
) -> Result<TwoNnFit> {
    let n = ratios.len();
    let k = check_kept(n, discard_fraction, what)?;
    // Finite values: total_cmp is the numeric order.
    ratios.sort_unstable_by(f64::total_cmp);
    let kept = &ratios[..k];
    let dimension = match method {
        TwoNnMethod::LineFit => line_fit(kept, n, cdf, what)?,
        TwoNnMethod::CensoredMle => censored_mle(kept, n, what)?,
    };
    Ok(TwoNnFit {
        dimension,
        n_used: k,
        n_discarded: n - k,
        dropped_duplicates: 0,
    })
}

/// Smallest `n` with `floor(n (1 - discard)) >= 2`, for the error message.
fn needed_points(discard_fraction: f64) -> usize {
    (3..100_000)
        .find(|&n| kept_count(n, discard_fraction) >= 2)
        .unwrap_or(100_000)
}

/// `d = sum(x y) / sum(x^2)` with `x_j = ln mu_(j)`, `y_j = -ln(1 - F_j)`, `j = 1..k`, where
/// `F_j = (j - 1) / n` (`Skdim034`) or `j / n` (`Corrected`) and `n` counts all ratios (kept and
/// discarded).
fn line_fit(kept: &[f64], n: usize, cdf: CdfConvention, what: &'static str) -> Result<f64> {
    let n_f = n as f64;
    let mut sxy = 0.0f64;
    let mut sxx = 0.0f64;
    for (j0, &mu) in kept.iter().enumerate() {
        let j = match cdf {
            CdfConvention::Skdim034 => j0,
            CdfConvention::Corrected => j0 + 1,
        };
        if j == n {
            // Only reachable with `Corrected` when nothing is discarded: F = 1 gives y = infinity.
            return Err(Error::Degenerate {
                what,
                reason: format!(
                    "with the Corrected CDF (F_j = j/n) the largest kept ratio has F = 1 and \
                     -ln(1 - F) is infinite; discard at least one of the {n} ratios \
                     (discard_fraction > 0)"
                ),
            });
        }
        let x = mu.ln();
        let y = -(1.0 - j as f64 / n_f).ln();
        sxy += x * y;
        sxx += x * x;
    }
    if sxx == 0.0 {
        return Err(all_ratios_one(what, kept.len()));
    }
    Ok(sxy / sxx)
}

/// `d = (k - 1) / (sum_{j<=k} ln mu_(j) + (n - k) ln mu_(k))`: the unbiased maximum-likelihood
/// estimate of the Pareto shape under type-II censoring (the `n - k` discarded ratios are only known
/// to exceed `mu_(k)`), scikit-dimension 0.5.0 `TwoNN(method="mle")`.
fn censored_mle(kept: &[f64], n: usize, what: &'static str) -> Result<f64> {
    let k = kept.len();
    let sum_log: f64 = kept.iter().map(|mu| mu.ln()).sum();
    let last = kept[k - 1].ln();
    let denominator = sum_log + (n - k) as f64 * last;
    if denominator == 0.0 {
        return Err(all_ratios_one(what, k));
    }
    Ok((k - 1) as f64 / denominator)
}

fn all_ratios_one(what: &'static str, k: usize) -> Error {
    Error::Degenerate {
        what,
        reason: format!(
            "all {k} kept ratios r2/r1 equal 1 (every point is equidistant from its two nearest \
             neighbours), so ln(mu) = 0 and the slope is undefined"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_count_rounds_like_python_int() {
        assert_eq!(kept_count(128, 0.1), 115);
        assert_eq!(kept_count(64, 0.1), 57);
        assert_eq!(kept_count(10, 0.1), 9);
        assert_eq!(kept_count(100, 0.0), 100);
        assert_eq!(needed_points(0.1), 3);
        assert_eq!(needed_points(0.5), 4);
    }

    #[test]
    fn line_fit_by_hand() {
        // Three ratios, no discard, Skdim034: F = 0, 1/3, 2/3.
        let mut mu = vec![
            std::f64::consts::E,
            1.0_f64.exp().powi(2),
            1.0_f64.exp().powi(3),
        ];
        let fit = fit_sorted_ratios(
            &mut mu,
            0.0,
            CdfConvention::Skdim034,
            TwoNnMethod::LineFit,
            "test",
        )
        .unwrap();
        let x = [1.0f64, 2.0, 3.0];
        let y = [0.0, -(2.0f64 / 3.0).ln(), -(1.0f64 / 3.0).ln()];
        let expected: f64 = x.iter().zip(&y).map(|(a, b)| a * b).sum::<f64>() / 14.0;
        assert!((fit.dimension - expected).abs() < 1e-12);
        assert_eq!((fit.n_used, fit.n_discarded), (3, 0));
    }

    #[test]
    fn corrected_without_discard_is_degenerate() {
        let mut mu = vec![1.5, 2.0, 3.0];
        let r = fit_sorted_ratios(
            &mut mu,
            0.0,
            CdfConvention::Corrected,
            TwoNnMethod::LineFit,
            "test",
        );
        assert!(matches!(r, Err(Error::Degenerate { .. })));
    }
}
