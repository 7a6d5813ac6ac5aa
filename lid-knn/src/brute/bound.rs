//! The rigorous error bound of the `f32` Gram-matrix distance formula.
//!
//! Candidates are ranked with `a = |x|^2 + |y|^2 - 2 x.y`, evaluated in `f32` on mean-centred
//! coordinates. Let `u = 2^-24` (unit round-off of `f32`), `D` the dimension, `S = n_x + n_y` the sum
//! of the (centred) squared norms, and `e` the squared distance computed by
//! [`lid_core::squared_euclidean_distance`] on the original coordinates. Then
//!
//! ```text
//! |a - e| <= gamma(D) * S,      gamma(D) = 2 (D + 16) u
//! ```
//!
//! Derivation (standard floating-point analysis, Higham, "Accuracy and Stability of Numerical
//! Algorithms", 2nd ed., section 3.1): the dot product of two `D`-vectors in any summation order, with
//! or without FMA, has error at most `gamma_D sum |x_k y_k| <= gamma_D |x||y| <= gamma_D S / 2`, with
//! `gamma_D = D u / (1 - D u)`; the factor 2 of `-2 x.y` is exact. Rounding the norms to `f32` costs
//! `u S`, the two additions `2 u (S + 2|x.y|) <= 4 u S`. Centring `x' = fl(x - mean)` moves each point
//! by at most `u |x'|`, which changes the squared distance by at most `u e + 2 u S <= 4 u S` (using
//! `e <= 2 S`). The reference distance itself is accumulated in `f64` (relative error about
//! `D 2^-53`). Altogether `|a - e| <= (D + 10) u S (1 + D u)`; the factor 2 in `gamma` covers the
//! second-order terms with a wide margin for every `D < 2^20`.
//!
//! The analysis above assumes no underflow. The centred points are scaled by a power of two (exact)
//! so that their largest coordinate lies in `[0.5, 1]`; no `f32` operation can then overflow, and
//! underflow (subnormal products of tiny coordinates) costs at most an absolute `eta = (D + 8) 2^-126`,
//! which is added to every bound: `|a - e| <= gamma S + eta` (all in scaled units).

/// Unit round-off of `f32`.
const F32_UNIT_ROUNDOFF: f64 = 1.0 / (1u64 << 24) as f64;

/// `gamma(D) = 2 (D + 16) 2^-24`: `|a - e| <= gamma * (n_x + n_y)` (see the module doc).
pub(crate) fn gram_error_factor(dim: usize) -> f64 {
    2.0 * (dim as f64 + 16.0) * F32_UNIT_ROUNDOFF
}

/// `eta(D) = (D + 8) 2^-126`: the absolute slack that covers `f32` underflow (see the module doc).
pub(crate) fn underflow_slack(dim: usize) -> f64 {
    (dim as f64 + 8.0) * f64::from(f32::MIN_POSITIVE)
}

/// An `f32` filter value `theta >= tau + gamma * (n_row + n_col_max) + eta`, rounded upwards, so that
/// `a > theta` proves `a - gamma (n_row + n_col) - eta > tau` for every column whose norm is at most
/// `n_col_max`.
pub(crate) fn f32_filter(tau: f64, gamma: f64, eta: f64, n_row: f32, n_col_max: f32) -> f32 {
    if !tau.is_finite() {
        return f32::INFINITY;
    }
    let bound = tau + gamma * (n_row as f64 + n_col_max as f64) + eta;
    // Rounding f64 -> f32 is to nearest (relative error <= 2^-24); the factor makes it an upper bound.
    let theta = (bound * (1.0 + 1e-6)) as f32;
    if bound > 0.0 {
        theta
    } else {
        // tau is a squared distance bound (>= 0), so this branch only handles bound == 0.
        f32::MIN_POSITIVE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_is_an_upper_bound() {
        let gamma = gram_error_factor(768);
        let eta = underflow_slack(768);
        for &(tau, n_row, n_col) in &[
            (1.0, 3.0f32, 4.0f32),
            (1e-9, 0.0, 0.0),
            (12345.678, 1e4, 2e4),
        ] {
            let theta = f32_filter(tau, gamma, eta, n_row, n_col);
            assert!(theta as f64 >= tau + gamma * (n_row as f64 + n_col as f64) + eta);
        }
        assert_eq!(
            f32_filter(f64::INFINITY, gamma, eta, 1.0, 1.0),
            f32::INFINITY
        );
        assert!(f32_filter(0.0, gamma, 0.0, 0.0, 0.0) > 0.0);
    }

    #[test]
    fn gamma_grows_with_dimension() {
        assert!(gram_error_factor(1) < gram_error_factor(768));
        assert!(gram_error_factor(768) < 1e-4);
    }
}
