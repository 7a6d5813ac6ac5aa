//! `PointCloud` + kNN + TwoNN on arbitrary bytes. First byte: dimension (1..=8) and k; the rest: f32
//! values. Whatever the bytes, construction and estimation return `Ok` or an error, never panic, and
//! the exact backends agree with the oracle.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lid_core::estimators::{GlobalEstimator, PointwiseEstimator, TwoNN};
use lid_core::{ExhaustiveSearch, NeighborSearch, PointCloud};
use lid_knn::{BruteForce, KdTree};

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let dim = (head & 7) as usize + 1;
    let k = (head >> 3) as usize + 1;
    let values: Vec<f32> = rest
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let n = values.len() / dim;
    if n == 0 || n > 400 {
        return;
    }
    let Ok(cloud) = PointCloud::from_vec(values[..n * dim].to_vec(), n, dim) else {
        return;
    };
    let oracle = ExhaustiveSearch.knn_graph(&cloud, k);
    let brute = BruteForce::new()
        .with_block_size(16)
        .unwrap()
        .knn_graph(&cloud, k);
    let kdtree = KdTree::new().knn_graph(&cloud, k);
    match (&oracle, &brute, &kdtree) {
        (Ok(o), Ok(b), Ok(t)) => {
            assert_eq!(o, b, "brute force differs from the oracle");
            assert_eq!(o, t, "k-d tree differs from the oracle");
        }
        (Err(_), Err(_), Err(_)) => return,
        _ => panic!("backends disagree on whether k = {k} is valid for n = {n}"),
    }
    if let Ok(graph) = oracle {
        let _ = TwoNN::new().estimate_pointwise(&cloud, &graph);
    }
    let _ = TwoNN::new().estimate_global(&cloud, &ExhaustiveSearch);
});
