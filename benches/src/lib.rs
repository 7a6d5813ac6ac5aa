//! Shared helpers for the lid benchmarks: seeded synthetic clouds.
//!
//! Two kinds of cloud: an isotropic Gaussian (the hardest case for pruning, every point alike) and an
//! embedding-like cloud (clusters in a low-rank subspace plus a common offset and small isotropic
//! noise, as contextual token vectors are: anisotropic, clustered, far from the origin). The Python
//! side of `benches/peers/run.sh` generates the same recipe with numpy.
#![deny(missing_docs)]

use lid_core::PointCloud;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// `n` points of a standard Gaussian in `dim` dimensions (seeded).
pub fn gaussian_cloud(n: usize, dim: usize, seed: u64) -> PointCloud<'static> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let values: Vec<f32> = (0..n * dim)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    PointCloud::from_vec(values, n, dim).expect("finite Gaussian values")
}

/// An embedding-like cloud: `clusters` centres, points = offset + centre + rank-`rank` Gaussian
/// factor + 0.05 isotropic noise (seeded).
pub fn embedding_like_cloud(
    n: usize,
    dim: usize,
    rank: usize,
    clusters: usize,
    seed: u64,
) -> PointCloud<'static> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let normal = |rng: &mut ChaCha8Rng| -> f64 { StandardNormal.sample(rng) };
    let offset: Vec<f64> = (0..dim).map(|_| 2.0 * normal(&mut rng)).collect();
    let centres: Vec<f64> = (0..clusters * dim)
        .map(|_| 0.5 * normal(&mut rng))
        .collect();
    let basis: Vec<f64> = (0..rank * dim)
        .map(|_| normal(&mut rng) / (rank as f64).sqrt())
        .collect();
    let mut values = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let c = rng.random_range(0..clusters);
        let z: Vec<f64> = (0..rank).map(|_| normal(&mut rng)).collect();
        for j in 0..dim {
            let mut x = offset[j] + centres[c * dim + j] + 0.05 * normal(&mut rng);
            for (r, zr) in z.iter().enumerate() {
                x += zr * basis[r * dim + j];
            }
            values.push(x as f32);
        }
    }
    PointCloud::from_vec(values, n, dim).expect("finite values")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clouds_are_seeded() {
        assert_eq!(
            gaussian_cloud(5, 3, 1).as_slice(),
            gaussian_cloud(5, 3, 1).as_slice()
        );
        let a = embedding_like_cloud(20, 8, 2, 3, 4);
        assert_eq!(
            a.as_slice(),
            embedding_like_cloud(20, 8, 2, 3, 4).as_slice()
        );
        assert_eq!((a.n_points(), a.dim()), (20, 8));
    }
}
