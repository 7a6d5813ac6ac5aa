//! Summary statistics for LID estimates (docs/method.md step 9): mean, standard deviation, quantiles,
//! [`describe`], prefix summaries, bootstrap confidence intervals, Pearson and Spearman correlation,
//! the standardized mean difference (Cohen's d) between two samples, and for two training curves the
//! lagged correlation / lead-lag and a single change point in mean.
//!
//! Every function checks its input: an empty slice, a NaN or infinity, or a statistic that is
//! undefined on the data (fewer values than `ddof + 1`, zero variance in a correlation) returns an
//! [`Error`], never NaN. Sums are plain f64 sums in input order; means use a two-pass algorithm.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};

fn check_values(what: &'static str, values: &[f64], needed: usize) -> Result<()> {
    if values.len() < needed {
        return Err(Error::TooFewPoints {
            what,
            n: values.len(),
            needed,
        });
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(Error::invalid_parameter(
            "values",
            values[i],
            format!("{what}: value {i} is not finite; statistics need finite numbers"),
        ));
    }
    Ok(())
}

/// Arithmetic mean.
///
/// # Errors
/// [`Error::TooFewPoints`] on an empty slice; [`Error::InvalidParameter`] on NaN or infinity.
pub fn mean(values: &[f64]) -> Result<f64> {
    check_values("mean", values, 1)?;
    Ok(mean_unchecked(values))
}

fn mean_unchecked(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// Standard deviation with `ddof` delta degrees of freedom: `sqrt(sum((x - mean)^2) / (n - ddof))`,
/// as numpy's `std(ddof=...)`. The paper reports `ddof = 1` (the sample standard deviation).
///
/// # Errors
/// [`Error::TooFewPoints`] when `n <= ddof`; [`Error::InvalidParameter`] on NaN or infinity.
pub fn std(values: &[f64], ddof: usize) -> Result<f64> {
    check_values("a standard deviation", values, ddof + 1)?;
    Ok(std_unchecked(values, ddof))
}

fn std_unchecked(values: &[f64], ddof: usize) -> f64 {
    let m = mean_unchecked(values);
    let ss: f64 = values.iter().map(|x| (x - m) * (x - m)).sum();
    (ss / (values.len() - ddof) as f64).sqrt()
}

/// The `q`-quantile with numpy's default method (`"linear"`, Hyndman-Fan type 7): with the values
/// sorted ascending as `x[0..n]`, `h = (n - 1) q`, the result is `x[floor h] + (h - floor h) *
/// (x[floor h + 1] - x[floor h])`.
///
/// # Errors
/// [`Error::TooFewPoints`] on an empty slice; [`Error::InvalidParameter`] on NaN / infinity or `q`
/// outside `[0, 1]`.
pub fn quantile(values: &[f64], q: f64) -> Result<f64> {
    Ok(quantiles(values, &[q])?[0])
}

/// Several quantiles at once (one sort); see [`quantile`].
///
/// # Errors
/// As [`quantile`].
pub fn quantiles(values: &[f64], qs: &[f64]) -> Result<Vec<f64>> {
    check_values("a quantile", values, 1)?;
    for &q in qs {
        check_q(q)?;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    Ok(qs.iter().map(|&q| quantile_sorted(&sorted, q)).collect())
}

fn check_q(q: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&q) {
        return Err(Error::invalid_parameter(
            "q",
            q,
            "a quantile level must lie in [0, 1]",
        ));
    }
    Ok(())
}

/// Linear-interpolation quantile of already sorted, non-empty data.
fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    let frac = h - lo as f64;
    let (a, b) = (sorted[lo], sorted[hi]);
    if frac == 0.0 {
        a
    } else {
        a + frac * (b - a)
    }
}

/// Summary of a sample, as pandas' `describe()`: count, mean, std (ddof 1), min, quartiles, max.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// Number of values.
    pub count: usize,
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (ddof 1); `None` for a single value, where it is undefined.
    pub std: Option<f64>,
    /// Minimum.
    pub min: f64,
    /// 25 % quantile (linear interpolation).
    pub q25: f64,
    /// Median.
    pub median: f64,
    /// 75 % quantile.
    pub q75: f64,
    /// Maximum.
    pub max: f64,
}

/// [`Summary`] of `values`.
///
/// # Errors
/// As [`mean`].
pub fn describe(values: &[f64]) -> Result<Summary> {
    check_values("describe", values, 1)?;
    let mut sorted = values.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    Ok(Summary {
        count: values.len(),
        mean: mean_unchecked(values),
        std: (values.len() > 1).then(|| std_unchecked(values, 1)),
        min: sorted[0],
        q25: quantile_sorted(&sorted, 0.25),
        median: quantile_sorted(&sorted, 0.5),
        q75: quantile_sorted(&sorted, 0.75),
        max: sorted[sorted.len() - 1],
    })
}

/// Prefix sizes `step, 2 step, 3 step, ...` up to `n`, plus `n` itself when it is not a multiple of
/// `step` (the paper's "first 5k, 10k, ..." with `step = 5000`).
///
/// # Errors
/// [`Error::InvalidParameter`] when `step == 0` or `n == 0`.
pub fn prefix_sizes(n: usize, step: usize) -> Result<Vec<usize>> {
    if step == 0 || n == 0 {
        return Err(Error::invalid_parameter(
            "prefix step",
            format!("step {step}, n {n}"),
            "step and n must be at least 1",
        ));
    }
    let mut sizes: Vec<usize> = (1..=n / step).map(|i| i * step).collect();
    if !n.is_multiple_of(step) {
        sizes.push(n);
    }
    Ok(sizes)
}

/// [`Summary`] of the first `size` values.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PrefixSummary {
    /// Number of leading values summarised.
    pub size: usize,
    /// Their summary.
    pub summary: Summary,
}

/// Summaries of the first `size` values for every requested size (the paper's prefix statistics:
/// does the mean LID settle as more of the sampled points are used?).
///
/// # Errors
/// [`Error::InvalidParameter`] for a size of 0 or larger than `values.len()`; input errors as
/// [`describe`].
pub fn prefix_summaries(values: &[f64], sizes: &[usize]) -> Result<Vec<PrefixSummary>> {
    sizes
        .iter()
        .map(|&size| {
            if size == 0 || size > values.len() {
                return Err(Error::invalid_parameter(
                    "prefix size",
                    size,
                    format!(
                        "must lie between 1 and the {} values available",
                        values.len()
                    ),
                ));
            }
            Ok(PrefixSummary {
                size,
                summary: describe(&values[..size])?,
            })
        })
        .collect()
}

/// A bootstrap confidence interval.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConfidenceInterval {
    /// The statistic on the original sample.
    pub estimate: f64,
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
    /// Confidence level, e.g. 0.95.
    pub level: f64,
    /// Number of bootstrap resamples.
    pub resamples: usize,
}

/// Percentile bootstrap confidence interval of the mean.
///
/// `resamples` samples of size `n` are drawn with replacement (indices uniform in `0..n` from
/// `ChaCha8Rng::seed_from_u64(seed)`, drawn as `u64` so every platform agrees); the bounds are the
/// `(1 - level) / 2` and `(1 + level) / 2` quantiles ([`quantile`], linear) of the resampled means.
///
/// # Errors
/// [`Error::TooFewPoints`] for fewer than 2 values; [`Error::InvalidParameter`] for NaN / infinity,
/// `level` outside `(0, 1)` or `resamples == 0`.
pub fn bootstrap_mean_ci(
    values: &[f64],
    level: f64,
    resamples: usize,
    seed: u64,
) -> Result<ConfidenceInterval> {
    check_values("a bootstrap interval", values, 2)?;
    if !(level > 0.0 && level < 1.0) {
        return Err(Error::invalid_parameter(
            "level",
            level,
            "a confidence level must lie strictly between 0 and 1",
        ));
    }
    if resamples == 0 {
        return Err(Error::invalid_parameter(
            "resamples",
            0,
            "at least one bootstrap resample is needed",
        ));
    }
    let n = values.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| {
            let s: f64 = (0..n)
                .map(|_| values[rng.random_range(0..n as u64) as usize])
                .sum();
            s / n as f64
        })
        .collect();
    means.sort_unstable_by(f64::total_cmp);
    let alpha = (1.0 - level) / 2.0;
    Ok(ConfidenceInterval {
        estimate: mean_unchecked(values),
        lower: quantile_sorted(&means, alpha),
        upper: quantile_sorted(&means, 1.0 - alpha),
        level,
        resamples,
    })
}

fn check_pair(what: &'static str, x: &[f64], y: &[f64]) -> Result<()> {
    if x.len() != y.len() {
        return Err(Error::ShapeMismatch {
            what,
            expected: format!("two samples of equal length ({})", x.len()),
            got: format!("{} and {}", x.len(), y.len()),
        });
    }
    check_values(what, x, 2)?;
    check_values(what, y, 2)
}

/// Pearson correlation coefficient `cov(x, y) / (sd(x) sd(y))`.
///
/// # Errors
/// [`Error::ShapeMismatch`] for different lengths; [`Error::TooFewPoints`] for fewer than 2 pairs;
/// [`Error::Degenerate`] when either sample is constant (the correlation is undefined).
pub fn pearson(x: &[f64], y: &[f64]) -> Result<f64> {
    check_pair("a Pearson correlation", x, y)?;
    pearson_unchecked(x, y, "Pearson correlation")
}

fn pearson_unchecked(x: &[f64], y: &[f64], what: &'static str) -> Result<f64> {
    let (mx, my) = (mean_unchecked(x), mean_unchecked(y));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx == 0.0 || syy == 0.0 {
        return Err(Error::Degenerate {
            what,
            reason: "one of the samples is constant (zero variance)".into(),
        });
    }
    Ok((sxy / (sxx.sqrt() * syy.sqrt())).clamp(-1.0, 1.0))
}

/// Ranks `1..=n` of the values, ties receiving the average of the ranks they span (as
/// `scipy.stats.rankdata(method="average")`).
///
/// # Errors
/// As [`mean`].
pub fn average_ranks(values: &[f64]) -> Result<Vec<f64>> {
    check_values("ranks", values, 1)?;
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        // `==` rather than total_cmp so that -0.0 and 0.0 tie.
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Ranks start..end (0-based) -> average 1-based rank.
        let avg = (start + end + 1) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = avg;
        }
        start = end;
    }
    Ok(ranks)
}

/// Spearman rank correlation: the Pearson correlation of the average ranks (ties averaged), as
/// `scipy.stats.spearmanr`.
///
/// # Errors
/// As [`pearson`]; [`Error::Degenerate`] when all values of a sample tie.
pub fn spearman(x: &[f64], y: &[f64]) -> Result<f64> {
    check_pair("a Spearman correlation", x, y)?;
    pearson_unchecked(
        &average_ranks(x)?,
        &average_ranks(y)?,
        "Spearman correlation",
    )
}

/// Standardized mean difference (Cohen's d with pooled standard deviation):
///
/// `d = (mean(a) - mean(b)) / s_p`, `s_p = sqrt(((n_a - 1) s_a^2 + (n_b - 1) s_b^2) / (n_a + n_b - 2))`
///
/// with `s_a`, `s_b` the sample standard deviations (ddof 1). Positive when `a` has the larger mean.
/// The paper uses it to compare mean LID before and after fine-tuning (about 1.19 on MultiWOZ; pass
/// the base model's estimates as `a` to get a positive value for a drop).
///
/// # Errors
/// [`Error::TooFewPoints`] when a sample has fewer than 2 values; [`Error::InvalidParameter`] on NaN /
/// infinity; [`Error::Degenerate`] when the pooled standard deviation is zero.
pub fn standardized_mean_difference(a: &[f64], b: &[f64]) -> Result<f64> {
    check_values("a standardized mean difference (sample a)", a, 2)?;
    check_values("a standardized mean difference (sample b)", b, 2)?;
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (sa, sb) = (std_unchecked(a, 1), std_unchecked(b, 1));
    let pooled = (((na - 1.0) * sa * sa + (nb - 1.0) * sb * sb) / (na + nb - 2.0)).sqrt();
    if pooled == 0.0 {
        return Err(Error::Degenerate {
            what: "standardized mean difference",
            reason: "both samples are constant (pooled standard deviation 0)".into(),
        });
    }
    Ok((mean_unchecked(a) - mean_unchecked(b)) / pooled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_values() {
        let x = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(mean(&x).unwrap(), 2.5);
        assert!((std(&x, 0).unwrap() - 1.25f64.sqrt()).abs() < 1e-15);
        assert_eq!(quantile(&x, 0.5).unwrap(), 2.5);
        assert_eq!(
            average_ranks(&[3.0, 1.0, 3.0]).unwrap(),
            vec![2.5, 1.0, 2.5]
        );
        assert_eq!(prefix_sizes(12, 5).unwrap(), vec![5, 10, 12]);
        assert_eq!(prefix_sizes(10, 5).unwrap(), vec![5, 10]);
    }

    #[test]
    fn errors() {
        assert!(mean(&[]).is_err());
        assert!(mean(&[1.0, f64::NAN]).is_err());
        assert!(std(&[1.0], 1).is_err());
        assert!(quantile(&[1.0], 1.5).is_err());
        assert!(pearson(&[1.0, 1.0], &[1.0, 2.0]).is_err());
        assert!(pearson(&[1.0, 2.0], &[1.0]).is_err());
        assert!(standardized_mean_difference(&[1.0, 1.0], &[2.0, 2.0]).is_err());
        assert!(prefix_summaries(&[1.0, 2.0], &[3]).is_err());
        assert!(bootstrap_mean_ci(&[1.0, 2.0], 1.0, 10, 0).is_err());
    }
}

/// Pearson correlation of two equally long series at one lag (see [`lagged_correlations`]).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LagCorrelation {
    /// The lag: `x[t]` is paired with `y[t + lag]`. Positive: `x` leads `y` by `lag` steps.
    pub lag: i64,
    /// Pearson correlation of the overlapping pairs.
    pub correlation: f64,
    /// Number of overlapping pairs, `n - |lag|`.
    pub pairs: usize,
}

/// Pearson correlation of `x[t]` with `y[t + lag]` over the overlapping pairs, for every lag in
/// `-max_lag..=max_lag`, in increasing lag order (as `np.corrcoef(x[:n - lag], y[lag:])` for
/// `lag >= 0` and `np.corrcoef(x[-lag:], y[:n + lag])` for `lag < 0`).
///
/// Used to ask whether one training curve moves before another (e.g. the LID of a checkpoint and its
/// validation accuracy in the grokking study, where the paper reports that LID falls first).
///
/// # Errors
/// [`Error::ShapeMismatch`] for different lengths; [`Error::InvalidParameter`] on NaN / infinity or
/// when a lag leaves fewer than 3 pairs; [`Error::Degenerate`] when an overlap is constant.
pub fn lagged_correlations(x: &[f64], y: &[f64], max_lag: usize) -> Result<Vec<LagCorrelation>> {
    check_pair("lagged correlations", x, y)?;
    let n = x.len();
    if max_lag + 3 > n {
        return Err(Error::invalid_parameter(
            "max_lag",
            max_lag,
            format!("series of length {n} leave fewer than 3 pairs at lag {max_lag}"),
        ));
    }
    let max_lag = max_lag as i64;
    (-max_lag..=max_lag)
        .map(|lag| {
            let shift = lag.unsigned_abs() as usize;
            let (xs, ys) = if lag >= 0 {
                (&x[..n - shift], &y[shift..])
            } else {
                (&x[shift..], &y[..n - shift])
            };
            Ok(LagCorrelation {
                lag,
                correlation: pearson_unchecked(xs, ys, "lagged correlation")?,
                pairs: n - shift,
            })
        })
        .collect()
}

/// The lag of largest correlation among [`lagged_correlations`]`(x, y, max_lag)`: positive means `x`
/// leads `y`. Ties go to the smallest `|lag|`, then to the negative lag, so a flat profile reports 0.
///
/// # Errors
/// As [`lagged_correlations`].
pub fn lead_lag(x: &[f64], y: &[f64], max_lag: usize) -> Result<LagCorrelation> {
    let all = lagged_correlations(x, y, max_lag)?;
    let mut best = all[max_lag]; // lag 0
    for c in all {
        let better = c.correlation > best.correlation
            || (c.correlation == best.correlation && c.lag.abs() < best.lag.abs());
        if better {
            best = c;
        }
    }
    Ok(best)
}

/// A single change in mean (see [`change_point`]).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChangePoint {
    /// First index of the second segment (`1..n`).
    pub index: usize,
    /// Mean of `values[..index]`.
    pub mean_before: f64,
    /// Mean of `values[index..]`.
    pub mean_after: f64,
    /// Sum of squared deviations from the overall mean.
    pub total_sse: f64,
    /// Sum of squared deviations from the two segment means at the chosen split (the minimum).
    pub split_sse: f64,
}

/// The least-squares single change point in mean: the split `values[..index]`, `values[index..]`
/// (both non-empty) that minimises the summed squared deviations from the two segment means (the
/// first split of binary segmentation; ties go to the earliest index). Segment sums use Welford's
/// updates from both ends, so long series with a large offset lose no precision. The fraction of
/// variance explained is `1 - split_sse / total_sse`.
///
/// # Errors
/// [`Error::TooFewPoints`] for fewer than 2 values; [`Error::InvalidParameter`] on NaN / infinity;
/// [`Error::Degenerate`] for a constant series (no change to locate).
pub fn change_point(values: &[f64]) -> Result<ChangePoint> {
    check_values("a change point", values, 2)?;
    let n = values.len();
    // suffix[i] = (mean, sse) of values[i..], by Welford from the end.
    let mut suffix = vec![(0.0, 0.0); n + 1];
    let (mut mean, mut sse) = (0.0f64, 0.0f64);
    for (count, i) in (0..n).rev().enumerate() {
        let delta = values[i] - mean;
        mean += delta / (count + 1) as f64;
        sse += delta * (values[i] - mean);
        suffix[i] = (mean, sse);
    }
    let total_sse = suffix[0].1;
    if total_sse == 0.0 {
        return Err(Error::Degenerate {
            what: "change point",
            reason: "the series is constant: there is no change in mean to locate".into(),
        });
    }
    let (mut mean, mut sse) = (0.0f64, 0.0f64);
    let mut best: Option<ChangePoint> = None;
    for index in 1..n {
        let x = values[index - 1];
        let delta = x - mean;
        mean += delta / index as f64;
        sse += delta * (x - mean);
        let (mean_after, sse_after) = suffix[index];
        let split_sse = sse + sse_after;
        if best.is_none_or(|b| split_sse < b.split_sse) {
            best = Some(ChangePoint {
                index,
                mean_before: mean,
                mean_after,
                total_sse,
                split_sse,
            });
        }
    }
    // n >= 2, so the loop ran at least once; the error is unreachable.
    best.ok_or(Error::TooFewPoints {
        what: "change point",
        n,
        needed: 2,
    })
}
