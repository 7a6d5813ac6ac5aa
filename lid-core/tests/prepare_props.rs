//! Property tests of data preparation: dedup and sampling invariants, pipeline order.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

use std::collections::HashSet;

use lid_core::prepare::{dedup_rows, sample_without_replacement, Preparation, ZeroVectors};
use lid_core::PointCloud;
use proptest::prelude::*;

/// Clouds with many duplicates: values from a tiny alphabet (including -0.0 and 0.0).
fn cloud_strategy() -> impl Strategy<Value = (usize, usize, Vec<f32>)> {
    (1usize..40, 1usize..4).prop_flat_map(|(n, d)| {
        let alphabet = prop::sample::select(vec![0.0f32, -0.0, 1.0, -1.5, 2.25]);
        (Just(n), Just(d), prop::collection::vec(alphabet, n * d))
    })
}

/// Row key that identifies equal rows (+0.0 and -0.0 equal).
fn key(row: &[f32]) -> Vec<u32> {
    row.iter()
        .map(|&x| if x == 0.0 { 0 } else { x.to_bits() })
        .collect()
}

proptest! {
    #[test]
    fn dedup_keeps_exactly_the_first_occurrences((n, d, values) in cloud_strategy()) {
        let cloud = PointCloud::from_vec(values, n, d).unwrap();
        let result = dedup_rows(&cloud);
        // Reference: a linear scan with a set.
        let mut seen = HashSet::new();
        let expected: Vec<usize> = (0..n).filter(|&i| seen.insert(key(cloud.row(i)))).collect();
        prop_assert_eq!(&result.kept, &expected);
        prop_assert_eq!(result.removed, n - expected.len());
        // Order preserved (ascending) and no duplicates left.
        prop_assert!(result.kept.windows(2).all(|w| w[0] < w[1]));
        let deduped = cloud.select_rows(&result.kept).unwrap();
        let keys: HashSet<Vec<u32>> = (0..deduped.n_points()).map(|i| key(deduped.row(i))).collect();
        prop_assert_eq!(keys.len(), deduped.n_points());
        // Idempotent.
        let again = dedup_rows(&deduped);
        prop_assert_eq!(again.removed, 0);
        prop_assert_eq!(again.kept, (0..deduped.n_points()).collect::<Vec<_>>());
    }

    #[test]
    fn sampling_has_no_repeats_is_deterministic_and_prefix_consistent(
        population in 1usize..500, frac in 0.0f64..1.0, seed in any::<u64>()
    ) {
        let size = ((population as f64 * frac) as usize).max(1);
        let a = sample_without_replacement(population, size, seed).unwrap();
        prop_assert_eq!(a.len(), size);
        prop_assert!(a.iter().all(|&i| i < population));
        prop_assert_eq!(a.iter().collect::<HashSet<_>>().len(), size);
        prop_assert_eq!(&a, &sample_without_replacement(population, size, seed).unwrap());
        let full = sample_without_replacement(population, population, seed).unwrap();
        prop_assert_eq!(&full[..size], &a[..]);
    }

    #[test]
    fn pipeline_equals_composition_of_steps(
        (n, d, values) in cloud_strategy(), sample in 1usize..50, keep in 1usize..50, seed in 0u64..1000
    ) {
        let cloud = PointCloud::from_vec(values, n, d).unwrap();
        let prep = Preparation::builder()
            .sample(sample, seed)
            .zero_vectors(ZeroVectors::Remove)
            .keep_first(keep)
            .build()
            .unwrap();
        let result = prep.run(&cloud);
        // By hand: sample (capped), first occurrences, drop zeros, prefix.
        let sampled = sample_without_replacement(n, sample.min(n), seed).unwrap();
        let mut seen = HashSet::new();
        let mut rows: Vec<usize> = sampled.iter().copied().filter(|&r| seen.insert(key(cloud.row(r)))).collect();
        rows.retain(|&r| cloud.row(r).iter().any(|&x| x != 0.0));
        rows.truncate(keep);
        match result {
            Ok((out, report)) => {
                prop_assert_eq!(&report.kept_rows, &rows);
                prop_assert_eq!(report.n_sampled, sample.min(n));
                prop_assert_eq!(report.sample_capped, sample > n);
                prop_assert_eq!(report.n_output, out.n_points());
                for (i, &r) in rows.iter().enumerate() {
                    prop_assert_eq!(out.row(i), cloud.row(r));
                }
            }
            Err(e) => {
                // Only possible when every sampled row is a zero vector.
                prop_assert!(rows.is_empty(), "unexpected error {e}");
            }
        }
    }
}

#[test]
fn paper_preset_is_the_reference_settings() {
    let p = Preparation::paper();
    let s = p.sample_config().unwrap();
    assert_eq!((s.size, s.seed), (150_000, 42));
    assert!(p.dedup());
    assert_eq!(p.zero_vectors(), ZeroVectors::Keep);
    assert_eq!(p.keep_first(), Some(60_000));
    assert!(p.noise().is_none());
}

#[test]
fn dedup_handles_a_large_cloud_with_planted_duplicates() {
    // 20,000 x 64 rows (kept small for the dev profile; the algorithm is O(n d + n log n)), every
    // 10th row a copy of an earlier one.
    let (n, d) = (20_000usize, 64usize);
    let mut values = Vec::with_capacity(n * d);
    for i in 0..n {
        let src = if i % 10 == 9 { i - 9 } else { i };
        values.extend((0..d).map(|j| ((src * 31 + j * 7) % 1009) as f32 * 0.01 + src as f32));
    }
    let cloud = PointCloud::from_vec(values, n, d).unwrap();
    let result = dedup_rows(&cloud);
    assert_eq!(result.removed, n / 10);
    assert!(result.kept.iter().all(|&i| i % 10 != 9));
}
