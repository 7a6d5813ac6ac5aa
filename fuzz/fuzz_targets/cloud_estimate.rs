//! `PointCloud` construction + exact kNN graphs + TwoNN (global and pointwise) on small fuzzed clouds.
//!
//! Layout of the input: byte 0 = dimension (low 3 bits, 1..=8) and k (high 5 bits, 1..=32); byte 1 =
//! block size of `BruteForce` (low 6 bits, 1..=64) and how the rest is read (high 2 bits: raw `f32`
//! little-endian, or `i8` values as small integers (many ties and duplicates), as small offsets on a
//! large common value (cancellation in the Gram form), or times 1e20 (squared norms overflow `f32`));
//! byte 2 = TwoNN options; the rest = the coordinates, row-major.
//!
//! Properties checked, whatever the bytes:
//! - nothing panics: construction and estimation return `Ok` or an error;
//! - `lid_knn::BruteForce` (any block size) and `lid_knn::KdTree` give the graph of the oracle
//!   `lid_core::ExhaustiveSearch` exactly (`==`: same indices, bit-identical distances), and refuse the
//!   same `k`;
//! - TwoNN's global estimate is the same through the oracle and through `BruteForce`, and every
//!   estimate that is returned is finite.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lid_core::estimators::{
    CdfConvention, GlobalEstimator, PointwiseEstimator, TwoNN, TwoNnMethod,
};
use lid_core::{ExhaustiveSearch, NeighborSearch, PointCloud};
use lid_knn::{BruteForce, KdTree};

/// Largest cloud tried: the oracle is O(n^2) and the fuzzer should stay at thousands of execs/s.
const MAX_POINTS: usize = 300;

fn decode(encoding: u8, rest: &[u8]) -> Vec<f32> {
    match encoding {
        0 => rest
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        1 => rest.iter().map(|&b| b as i8 as f32).collect(),
        2 => rest
            .iter()
            .map(|&b| 1000.0 + b as i8 as f32 * 1e-3)
            .collect(),
        _ => rest.iter().map(|&b| b as i8 as f32 * 1e20).collect(),
    }
}

fn twonn_from(options: u8) -> TwoNN {
    let discard = [0.0, 0.1, 0.5, 0.9][(options & 3) as usize];
    let cdf = if options & 4 == 0 {
        CdfConvention::Skdim034
    } else {
        CdfConvention::Corrected
    };
    let method = if options & 8 == 0 {
        TwoNnMethod::LineFit
    } else {
        TwoNnMethod::CensoredMle
    };
    TwoNN::new()
        .discard_fraction(discard)
        .cdf(cdf)
        .method(method)
        .drop_duplicates(options & 16 != 0)
        .smooth(options & 32 != 0)
}

fuzz_target!(|data: &[u8]| {
    let [head, layout, options, rest @ ..] = data else {
        return;
    };
    let dim = (head & 7) as usize + 1;
    let k = (head >> 3) as usize + 1;
    let block_size = (layout & 63) as usize + 1;
    let values = decode(layout >> 6, rest);
    let n = values.len() / dim;
    if n == 0 || n > MAX_POINTS {
        return;
    }
    let Ok(cloud) = PointCloud::from_vec(values[..n * dim].to_vec(), n, dim) else {
        // Refused (non-finite values): the error path is what is being tested.
        return;
    };

    let oracle = ExhaustiveSearch.knn_graph(&cloud, k);
    let brute_search = BruteForce::new()
        .with_block_size(block_size)
        .expect("block_size >= 1 by construction");
    let brute = brute_search.knn_graph(&cloud, k);
    let kdtree = KdTree::new().knn_graph(&cloud, k);
    match (&oracle, &brute, &kdtree) {
        (Ok(o), Ok(b), Ok(t)) => {
            assert!(
                o == b,
                "BruteForce (block {block_size}) differs from ExhaustiveSearch (n = {n}, d = {dim}, \
                 k = {k})\noracle: {o:?}\nbrute: {b:?}"
            );
            assert!(
                o == t,
                "KdTree differs from ExhaustiveSearch (n = {n}, d = {dim}, k = {k})"
            );
        }
        (Err(_), Err(_), Err(_)) => {}
        _ => panic!(
            "backends disagree on whether k = {k} is valid for n = {n}: oracle {:?}, brute {:?}, \
             kdtree {:?}",
            oracle.as_ref().err(),
            brute.as_ref().err(),
            kdtree.as_ref().err()
        ),
    }

    let twonn = twonn_from(*options);
    if let Ok(graph) = &oracle {
        if let Ok(pointwise) = twonn.estimate_pointwise(&cloud, graph) {
            assert_eq!(pointwise.values.len(), n);
            assert!(
                pointwise.values.iter().all(|v| v.is_finite()),
                "non-finite pointwise TwoNN estimate: {:?}",
                pointwise.values
            );
        }
    }
    let global_oracle = twonn.estimate_global(&cloud, &ExhaustiveSearch);
    let global_brute = twonn.estimate_global(&cloud, &brute_search);
    match (&global_oracle, &global_brute) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b, "TwoNN global differs between oracle and BruteForce");
            assert!(a.dimension.is_finite(), "non-finite global TwoNN: {a:?}");
        }
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        _ => panic!("TwoNN global: oracle {global_oracle:?}, BruteForce {global_brute:?}"),
    }
});
