//! Property tests: estimates are invariant under rotation (random orthogonal matrix), translation and
//! uniform scaling of the cloud.
//!
//! Tolerance: the transformed cloud is computed in f64 and stored as f32, which moves every distance
//! by about 1e-7 relative (more after a translation, up to |offset| / spread * 6e-8). Ratios then
//! move by ~1e-6, and a fit over 100+ ratios by less; 1e-3 relative leaves a wide margin while still
//! catching any real dependence on position, orientation or scale (which would change estimates by
//! whole percents). A perturbation can also swap the L-th and (L+1)-th neighbours of a point when
//! their distances are within ~1e-6: such points get a different neighbourhood, so pointwise values
//! are compared only where the neighbourhood is unchanged, and at least 95 % of points must be.
//! lPCA counts are compared exactly on data with a wide spectral gap.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

use lid_core::estimators::{
    CdfConvention, GlobalEstimator, Gride, Lpca, LpcaVersion, Mle, PointwiseEstimator, TwoNN,
};
use lid_core::{ExhaustiveSearch, KnnGraph, NeighborSearch, PointCloud};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

const N: usize = 160;
const DIM: usize = 6;
const L: usize = 24;
const TOL: f64 = 1e-3;

/// A 3-d Gaussian blob in a random 3-d subspace of R^6 plus 1e-3 noise in all coordinates.
fn base_cloud(seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let basis = random_orthogonal(&mut rng);
    let mut values = Vec::with_capacity(N * DIM);
    for _ in 0..N {
        let z: [f64; 3] = std::array::from_fn(|_| StandardNormal.sample(&mut rng));
        for c in 0..DIM {
            let noise: f64 = StandardNormal.sample(&mut rng);
            values.push((0..3).map(|a| z[a] * basis[a * DIM + c]).sum::<f64>() + 1e-3 * noise);
        }
    }
    values
}

/// A random orthogonal DIM x DIM matrix (row-major): Gram-Schmidt on Gaussian rows.
fn random_orthogonal(rng: &mut ChaCha8Rng) -> Vec<f64> {
    let mut q = vec![0.0f64; DIM * DIM];
    for r in 0..DIM {
        let mut v: Vec<f64> = (0..DIM).map(|_| StandardNormal.sample(rng)).collect();
        for p in 0..r {
            let dot: f64 = (0..DIM).map(|c| v[c] * q[p * DIM + c]).sum();
            for c in 0..DIM {
                v[c] -= dot * q[p * DIM + c];
            }
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        for c in 0..DIM {
            q[r * DIM + c] = v[c] / norm;
        }
    }
    q
}

/// `scale * (Q x) + offset` for every point, stored as f32.
fn transform(values: &[f64], q: &[f64], scale: f64, offset: &[f64]) -> PointCloud<'static> {
    let mut out = Vec::with_capacity(values.len());
    for x in values.chunks(DIM) {
        for r in 0..DIM {
            let y: f64 = (0..DIM).map(|c| q[r * DIM + c] * x[c]).sum();
            out.push((scale * y + offset[r]) as f32);
        }
    }
    PointCloud::from_vec(out, N, DIM).unwrap()
}

fn to_cloud(values: &[f64]) -> PointCloud<'static> {
    PointCloud::from_vec(values.iter().map(|&v| v as f32).collect(), N, DIM).unwrap()
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

/// Pointwise values agree where the neighbourhood (as a set) is unchanged; >= 95 % unchanged.
fn assert_pointwise_close(
    name: &str,
    a: &[f64],
    b: &[f64],
    ga: &KnnGraph,
    gb: &KnnGraph,
    tol: f64,
) -> Result<(), TestCaseError> {
    let mut same = 0;
    for i in 0..a.len() {
        let mut na = ga.neighbors(i).to_vec();
        let mut nb = gb.neighbors(i).to_vec();
        na.sort_unstable();
        nb.sort_unstable();
        if na == nb {
            same += 1;
            prop_assert!(
                rel(a[i], b[i]) <= tol,
                "{name} point {i}: {} vs {}",
                a[i],
                b[i]
            );
        }
    }
    prop_assert!(
        same * 100 >= a.len() * 95,
        "{name}: only {same} unchanged neighbourhoods"
    );
    Ok(())
}

fn check_invariance(seed: u64, scale: f64, shift: f64) -> Result<(), TestCaseError> {
    let base = base_cloud(seed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    let q = random_orthogonal(&mut rng);
    let offset: Vec<f64> = (0..DIM)
        .map(|_| {
            let g: f64 = StandardNormal.sample(&mut rng);
            shift * g
        })
        .collect();
    let a = to_cloud(&base);
    let b = transform(&base, &q, scale, &offset);
    let ga = ExhaustiveSearch.knn_graph(&a, L).unwrap();
    let gb = ExhaustiveSearch.knn_graph(&b, L).unwrap();

    let globals: [(&str, &dyn GlobalEstimator); 5] = [
        ("twonn", &TwoNN::new()),
        (
            "twonn corrected",
            &TwoNN::new().cdf(CdfConvention::Corrected),
        ),
        ("mle", &Mle::new()),
        ("gride", &Gride::new()),
        ("gride 2-4", &Gride::new().orders(2, 4)),
    ];
    for (name, est) in globals {
        let x = est
            .estimate_global(&a, &ExhaustiveSearch)
            .unwrap()
            .dimension;
        let y = est
            .estimate_global(&b, &ExhaustiveSearch)
            .unwrap()
            .dimension;
        prop_assert!(rel(x, y) <= TOL, "{name}: {x} vs {y}");
    }
    let lpca = Lpca::new().version(LpcaVersion::fukunaga_olsen());
    prop_assert_eq!(
        lpca.estimate_global(&a, &ExhaustiveSearch)
            .unwrap()
            .dimension,
        lpca.estimate_global(&b, &ExhaustiveSearch)
            .unwrap()
            .dimension
    );

    let pointwise: [(&str, &dyn PointwiseEstimator); 2] =
        [("twonn pw", &TwoNN::new()), ("mle pw", &Mle::new())];
    for (name, est) in pointwise {
        let x = est.estimate_pointwise(&a, &ga).unwrap().values;
        let y = est.estimate_pointwise(&b, &gb).unwrap().values;
        assert_pointwise_close(name, &x, &y, &ga, &gb, TOL)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn invariant_under_rotation(seed in 0u64..1_000_000) {
        check_invariance(seed, 1.0, 0.0)?;
    }

    #[test]
    fn invariant_under_translation(seed in 0u64..1_000_000, shift in 0.1f64..10.0) {
        check_invariance(seed, 1.0, shift)?;
    }

    #[test]
    fn invariant_under_scaling(seed in 0u64..1_000_000, scale in 0.01f64..100.0) {
        check_invariance(seed, scale, 0.0)?;
    }
}
