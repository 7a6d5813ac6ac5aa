//! GRIDE against dadapy 0.3.4 `Data(X).return_id_scaling_gride(range_max=4)`: scales
//! `(n1, n2) = (1, 2)` and `(2, 4)`, dimension and Fisher-information error.
//!
//! dadapy computes distances with `sklearn.metrics.pairwise_distances_chunked` (dot-product formula)
//! and stops its bisection when the bracket is narrower than 1e-7, so the dimension can differ by up
//! to about 1e-7 absolute when a ratio differs in its last digits; relative tolerance 1e-7 on the
//! dimension and the error (measured maxima printed with `--nocapture`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

#[path = "fixtures/golden_util.rs"]
mod golden_util;

use golden_util::{assert_close, cloud, values};
use lid_core::estimators::{GlobalEstimator, Gride};
use lid_core::ExhaustiveSearch;

#[test]
fn gride_two_scales_with_error() {
    for name in ["union", "ball"] {
        let cloud = cloud(name);
        let peer = values(&format!("{name}_gride_dadapy034")); // rows: scale; columns: id, error
        for (scale, (n1, n2)) in [(1usize, 2usize), (2, 4)].into_iter().enumerate() {
            let ours = Gride::new()
                .orders(n1, n2)
                .estimate_global(&cloud, &ExhaustiveSearch)
                .unwrap();
            let label = format!("{name} GRIDE n1={n1} n2={n2}");
            assert_close(
                &format!("{label} dimension"),
                &[ours.dimension],
                &[peer[2 * scale]],
                1e-7,
            );
            assert_close(
                &format!("{label} std_error"),
                &[ours.std_error.unwrap()],
                &[peer[2 * scale + 1]],
                1e-7,
            );
        }
    }
}
