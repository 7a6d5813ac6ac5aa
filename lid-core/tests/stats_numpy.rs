//! Statistics against values computed with numpy 2.x / scipy (pip, Python 3.11):
//!
//! ```text
//! /work/venvs/skdim/bin/python -c "import numpy as np, scipy.stats as st
//! x=np.array([3.1,-2.0,7.5,0.25,4.0,4.0,11.0,-0.5,2.2]); y=np.array([1.0,2.0,2.0,5.5,-1.0,3.0,8.0,0.0,2.5])
//! print(x.mean(), x.std(), x.std(ddof=1), [np.quantile(x,q) for q in [0,.1,.25,.5,.75,.9,.99,1]])
//! print(st.pearsonr(x,y)[0], st.spearmanr(x,y)[0], st.rankdata(x))
//! sp=np.sqrt((8*x.var(ddof=1)+8*y.var(ddof=1))/16); print((x.mean()-y.mean())/sp)"
//! ```
//! Tolerance 1e-12 (relative to values of order 1-10; differences are summation order only).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

use lid_core::stats::*;

const X: [f64; 9] = [3.1, -2.0, 7.5, 0.25, 4.0, 4.0, 11.0, -0.5, 2.2];
const Y: [f64; 9] = [1.0, 2.0, 2.0, 5.5, -1.0, 3.0, 8.0, 0.0, 2.5];
const TOL: f64 = 1e-12;

fn close(a: f64, b: f64) {
    assert!((a - b).abs() <= TOL * b.abs().max(1.0), "{a} vs {b}");
}

#[test]
fn mean_std_match_numpy() {
    close(mean(&X).unwrap(), 3.283333333333333);
    close(std(&X, 0).unwrap(), 3.8150287606313595);
    close(std(&X, 1).unwrap(), 4.046449060596216);
}

#[test]
fn quantiles_match_numpy_linear() {
    let qs = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0];
    let expected = [
        -2.0,
        -0.7999999999999999,
        0.25,
        3.1,
        4.0,
        8.200000000000001,
        10.719999999999999,
        11.0,
    ];
    for (got, want) in quantiles(&X, &qs).unwrap().into_iter().zip(expected) {
        close(got, want);
    }
    let s = describe(&X).unwrap();
    assert_eq!(s.count, 9);
    close(s.std.unwrap(), 4.046449060596216);
    close(s.q25, 0.25);
    close(s.median, 3.1);
    close(s.q75, 4.0);
    assert_eq!((s.min, s.max), (-2.0, 11.0));
    assert_eq!(describe(&[2.0]).unwrap().std, None);
}

#[test]
fn correlations_match_scipy() {
    close(pearson(&X, &Y).unwrap(), 0.46485653376645325);
    close(spearman(&X, &Y).unwrap(), 0.2605042016806723);
    assert_eq!(
        average_ranks(&X).unwrap(),
        vec![5.0, 1.0, 8.0, 3.0, 6.5, 6.5, 9.0, 2.0, 4.0]
    );
    // Perfectly monotone but nonlinear: Spearman 1, Pearson < 1.
    let a = [1.0, 2.0, 3.0, 4.0];
    let b = [1.0, 8.0, 27.0, 64.0];
    close(spearman(&a, &b).unwrap(), 1.0);
    assert!(pearson(&a, &b).unwrap() < 0.99);
}

#[test]
fn standardized_mean_difference_matches_pooled_formula() {
    close(
        standardized_mean_difference(&X, &Y).unwrap(),
        0.21024897209792143,
    );
    close(
        standardized_mean_difference(&Y, &X).unwrap(),
        -0.21024897209792143,
    );
}

#[test]
fn prefix_summaries_use_leading_values() {
    let sizes = prefix_sizes(X.len(), 4).unwrap();
    assert_eq!(sizes, vec![4, 8, 9]);
    let p = prefix_summaries(&X, &sizes).unwrap();
    close(p[0].summary.mean, (3.1 - 2.0 + 7.5 + 0.25) / 4.0);
    close(p[2].summary.mean, 3.283333333333333);
}

#[test]
fn bootstrap_interval_is_seeded_and_brackets_the_mean() {
    let values: Vec<f64> = (0..200).map(|i| ((i * 37) % 101) as f64 / 10.0).collect();
    let a = bootstrap_mean_ci(&values, 0.95, 2000, 7).unwrap();
    let b = bootstrap_mean_ci(&values, 0.95, 2000, 7).unwrap();
    assert_eq!(a, b);
    assert!(a.lower < a.estimate && a.estimate < a.upper);
    // Normal-theory half width 1.96 s / sqrt(n); the percentile interval should be close to it.
    let half = 1.96 * std(&values, 1).unwrap() / (values.len() as f64).sqrt();
    let width = a.upper - a.lower;
    assert!(
        (width / (2.0 * half) - 1.0).abs() < 0.15,
        "width {width} vs {}",
        2.0 * half
    );
    assert_ne!(a, bootstrap_mean_ci(&values, 0.95, 2000, 8).unwrap());
}

#[test]
fn undefined_statistics_are_errors() {
    assert!(mean(&[]).is_err());
    assert!(std(&[f64::INFINITY, 1.0], 1).is_err());
    assert!(std(&[1.0, 2.0], 2).is_err());
    assert!(quantile(&[1.0], -0.1).is_err());
    assert!(spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).is_err());
    assert!(pearson(&[1.0], &[1.0]).is_err());
    assert!(standardized_mean_difference(&[1.0], &[1.0, 2.0]).is_err());
    assert!(prefix_sizes(10, 0).is_err());
    assert!(prefix_summaries(&X, &[0]).is_err());
    assert!(bootstrap_mean_ci(&X, 0.95, 0, 1).is_err());
}

/// numpy 2.x: `np.corrcoef(x[:n-lag], y[lag:])[0, 1]` for lag >= 0,
/// `np.corrcoef(x[-lag:], y[:n+lag])[0, 1]` for lag < 0 (same X, Y as above).
#[test]
fn lagged_correlations_match_numpy() {
    let want = [
        (-2, -0.5547335467256529),
        (-1, -0.08162096409905276),
        (0, 0.46485653376645325),
        (1, 0.1238140551892936),
        (2, -0.3943188788577896),
    ];
    let got = lagged_correlations(&X, &Y, 2).unwrap();
    assert_eq!(got.len(), want.len());
    for (g, (lag, r)) in got.iter().zip(want) {
        assert_eq!(g.lag, lag);
        assert_eq!(g.pairs, 9 - lag.unsigned_abs() as usize);
        close(g.correlation, r);
    }
    assert_eq!(lead_lag(&X, &Y, 2).unwrap().lag, 0);
    // y is x delayed by 3 steps: x leads y by 3.
    let x: Vec<f64> = (0..40).map(|t| ((t * t) % 17) as f64).collect();
    let y: Vec<f64> = (0..40)
        .map(|t| if t >= 3 { x[t - 3] } else { 0.0 })
        .collect();
    let best = lead_lag(&x, &y, 6).unwrap();
    assert_eq!((best.lag, best.pairs), (3, 37));
    close(best.correlation, 1.0);
    assert!(lagged_correlations(&X, &Y, 7).is_err());
    assert!(lagged_correlations(&X, &Y[..8], 1).is_err());
}

/// numpy: the split minimising `((s[:i] - s[:i].mean())**2).sum() + ((s[i:] - s[i:].mean())**2).sum()`
/// over `i in 1..n` for `s = [1.0, 1.2, 0.9, 1.1, 3.0, 3.2, 2.9, 3.1, 3.0, 2.8]`: index 4, means 1.05 and
/// 3.0, total SSE 9.276, split SSE 0.15. With an offset of 1e6 numpy's own sums drift by 4e-11.
#[test]
fn change_point_matches_numpy() {
    let s = [1.0, 1.2, 0.9, 1.1, 3.0, 3.2, 2.9, 3.1, 3.0, 2.8];
    let cp = change_point(&s).unwrap();
    assert_eq!(cp.index, 4);
    close(cp.mean_before, 1.05);
    close(cp.mean_after, 3.0);
    close(cp.total_sse, 9.276);
    close(cp.split_sse, 0.15);
    let shifted: Vec<f64> = s.iter().map(|v| v + 1e6).collect();
    let cp = change_point(&shifted).unwrap();
    assert_eq!(cp.index, 4);
    assert!((cp.mean_before - 1000001.05).abs() < 1e-8);
    assert!((cp.total_sse - 9.276).abs() < 1e-8 && (cp.split_sse - 0.15).abs() < 1e-8);
    assert!(change_point(&[2.0, 2.0, 2.0]).is_err());
    assert!(change_point(&[1.0]).is_err());
    assert!(change_point(&[1.0, f64::NAN]).is_err());
}
