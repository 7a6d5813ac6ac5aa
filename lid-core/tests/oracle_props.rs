//! The brute-force oracle `ExhaustiveSearch` agrees with itself under a permutation of the rows: the
//! graph of the permuted cloud maps back to the same neighbour distances, and to the same indices when
//! no two candidate distances tie.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

use lid_core::prepare::sample_without_replacement;
use lid_core::{ExhaustiveSearch, NeighborSearch, PointCloud};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn permutation_maps_graph_back(
        (n, d, values) in (3usize..40, 1usize..5).prop_flat_map(|(n, d)| {
            (Just(n), Just(d), prop::collection::vec(-100i32..100, n * d))
        }),
        k_frac in 0.0f64..1.0,
        seed in any::<u64>(),
    ) {
        // Integer-valued coordinates scaled by 1/8 create frequent exact ties.
        let values: Vec<f32> = values.into_iter().map(|v| v as f32 / 8.0).collect();
        let k = 1 + ((n - 2) as f64 * k_frac) as usize;
        let cloud = PointCloud::from_vec(values, n, d).unwrap();
        let perm = sample_without_replacement(n, n, seed).unwrap(); // new row i = old row perm[i]
        let permuted = cloud.select_rows(&perm).unwrap();
        let g = ExhaustiveSearch.knn_graph(&cloud, k).unwrap();
        let gp = ExhaustiveSearch.knn_graph(&permuted, k).unwrap();
        for (new_i, &old_i) in perm.iter().enumerate() {
            // Distances are permutation invariant (sorted, computed by the same function).
            prop_assert_eq!(gp.distances(new_i), g.distances(old_i));
            // Indices agree when the row's distances to all other points are distinct.
            let mut all: Vec<f64> = (0..n)
                .filter(|&j| j != old_i)
                .map(|j| lid_core::euclidean_distance(cloud.row(old_i), cloud.row(j)))
                .collect();
            all.sort_by(f64::total_cmp);
            let no_ties = all.windows(2).all(|w| w[0] < w[1]);
            if no_ties {
                let mapped: Vec<u32> = gp.neighbors(new_i).iter().map(|&j| perm[j as usize] as u32).collect();
                prop_assert_eq!(&mapped[..], g.neighbors(old_i));
            }
        }
    }
}
