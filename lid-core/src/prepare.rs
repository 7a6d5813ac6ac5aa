//! Data preparation: exact-row deduplication, zero-vector removal, seeded sampling without
//! replacement, prefix truncation and Gaussian noise, and the [`Preparation`] pipeline that chains them
//! in the paper's order (docs/method.md steps 4-6).
//!
//! Every step works on row indices into the original cloud and copies the data once at the end, so a
//! 150,000 x 768 input costs one extra copy of the kept rows only. Every random step takes an explicit
//! seed and uses [`ChaCha8Rng`], so results are identical on every platform and thread count.
//!
//! # Row equality
//! Two rows are duplicates when they are equal coordinate by coordinate as `f32` numbers. Clouds never
//! contain NaN (see [`PointCloud`]), so this is bit-pattern equality except that `+0.0` and `-0.0`
//! count as equal (they are the same point, and at distance 0 from each other).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

use crate::cloud::PointCloud;
use crate::error::{Error, Result};

/// Result of [`dedup_rows`]: the rows to keep, in their original order, and how many were removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dedup {
    /// Row indices of the first occurrence of every distinct row, ascending (the original order).
    pub kept: Vec<usize>,
    /// Number of rows removed as exact duplicates of an earlier row.
    pub removed: usize,
}

/// Exact-row deduplication: keeps the first occurrence of every distinct row, in order.
///
/// Rows are hashed in parallel (the hash of a row depends only on its values, never on the thread
/// count), indices are sorted by `(hash, index)` and every group of equal hashes is resolved by exact
/// comparison, so a hash collision can never merge two different rows. `+0.0` and `-0.0` are treated as
/// equal (see the module docs). Runs in O(n d + n log n).
pub fn dedup_rows(cloud: &PointCloud<'_>) -> Dedup {
    let rows: Vec<usize> = (0..cloud.n_points()).collect();
    dedup_selected_rows(cloud, &rows)
}

/// [`dedup_rows`] on a selection of rows, in the selection's order: returns the positions *in `rows`*
/// (not row indices) of first occurrences, ascending, and the number of duplicates removed.
///
/// This is the building block of the pipeline, where the selection is a random sample.
///
/// # Panics
/// When an entry of `rows` is out of range for `cloud` (a programming error).
pub fn dedup_selected_rows(cloud: &PointCloud<'_>, rows: &[usize]) -> Dedup {
    let hashes: Vec<u64> = rows.par_iter().map(|&r| row_hash(cloud.row(r))).collect();
    let mut order: Vec<usize> = (0..rows.len()).collect();
    // Sort positions by (hash, position): equal rows end up adjacent-by-hash with the first
    // occurrence first in its group.
    order.par_sort_unstable_by_key(|&p| (hashes[p], p));
    let mut is_duplicate = vec![false; rows.len()];
    let mut start = 0;
    while start < order.len() {
        let h = hashes[order[start]];
        let mut end = start + 1;
        while end < order.len() && hashes[order[end]] == h {
            end += 1;
        }
        if end - start > 1 {
            // Representatives of the distinct rows seen so far in this hash group (usually one).
            let mut representatives: Vec<usize> = Vec::with_capacity(1);
            for &p in &order[start..end] {
                let row = cloud.row(rows[p]);
                let dup = representatives
                    .iter()
                    .any(|&q| rows_equal(row, cloud.row(rows[q])));
                if dup {
                    is_duplicate[p] = true;
                } else {
                    representatives.push(p);
                }
            }
        }
        start = end;
    }
    let kept: Vec<usize> = (0..rows.len()).filter(|&p| !is_duplicate[p]).collect();
    let removed = rows.len() - kept.len();
    Dedup { kept, removed }
}

/// Whether two rows are equal as `f32` vectors (`+0.0 == -0.0`; clouds hold no NaN).
#[inline]
fn rows_equal(a: &[f32], b: &[f32]) -> bool {
    a == b
}

/// A 64-bit hash of a row's values, with `-0.0` mapped to `+0.0` so that equal rows hash equally.
///
/// Multiply-rotate mixing per value (as in FxHash) plus a final avalanche (splitmix64's finaliser);
/// collisions only cost an exact comparison. Hand-written because it sits on the hot path of a
/// 150,000 x 768 dedup, where SipHash would cost several times more.
#[inline]
fn row_hash(row: &[f32]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h: u64 = row.len() as u64;
    for &x in row {
        let bits = if x == 0.0 { 0u32 } else { x.to_bits() };
        h = (h.rotate_left(5) ^ bits as u64).wrapping_mul(K);
    }
    // splitmix64 finaliser.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Whether every coordinate of `row` is zero (`+0.0` or `-0.0`).
pub fn is_zero_row(row: &[f32]) -> bool {
    row.iter().all(|&x| x == 0.0)
}

/// Indices of the rows that are not zero vectors, in order, and the number of zero rows.
pub fn non_zero_rows(cloud: &PointCloud<'_>) -> (Vec<usize>, usize) {
    let kept: Vec<usize> = (0..cloud.n_points())
        .filter(|&i| !is_zero_row(cloud.row(i)))
        .collect();
    let removed = cloud.n_points() - kept.len();
    (kept, removed)
}

/// Samples `size` distinct indices from `0..population` without replacement, in random order.
///
/// The algorithm is a partial Fisher-Yates shuffle driven by `ChaCha8Rng::seed_from_u64(seed)`: step
/// `i` (for `i = 0, 1, ..`) swaps position `i` with a uniform position in `i..population` (drawn with
/// `random_range` on `u64`, so the result is the same on 32- and 64-bit platforms). The sample is the
/// first `size` entries of that permutation, which gives two guarantees:
/// - determinism: the same `(population, size, seed)` always gives the same sample;
/// - prefix consistency: with the same `population` and `seed`, a smaller sample is a prefix of a
///   larger one.
///
/// The paper samples 150,000 token vectors with seed 42 and keeps that random order (docs/method.md
/// step 4). The sequence is our own (not numpy's), so the same seed does not select the same rows as
/// the authors' Python code.
///
/// Memory is O(population): the permutation is materialised as `usize` indices.
///
/// # Errors
/// [`Error::InvalidParameter`] when `size == 0` or `size > population`.
pub fn sample_without_replacement(population: usize, size: usize, seed: u64) -> Result<Vec<usize>> {
    if size == 0 {
        return Err(Error::invalid_parameter(
            "sample size",
            size,
            "must be at least 1",
        ));
    }
    if size > population {
        return Err(Error::invalid_parameter(
            "sample size",
            size,
            format!("cannot draw more than the {population} available rows without replacement"),
        ));
    }
    let mut perm: Vec<usize> = (0..population).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for i in 0..size {
        let j = rng.random_range(i as u64..population as u64) as usize;
        perm.swap(i, j);
    }
    perm.truncate(size);
    Ok(perm)
}

/// The first `n` rows (all rows when the cloud has fewer), as a new owned cloud.
///
/// # Errors
/// [`Error::InvalidParameter`] when `n == 0`.
pub fn prefix(cloud: &PointCloud<'_>, n: usize) -> Result<PointCloud<'static>> {
    if n == 0 {
        return Err(Error::invalid_parameter(
            "prefix size",
            n,
            "must be at least 1",
        ));
    }
    let rows: Vec<usize> = (0..n.min(cloud.n_points())).collect();
    cloud.select_rows(&rows)
}

/// Adds independent Gaussian noise `N(0, sigma^2)` to every coordinate (the paper's noise ablation).
///
/// Noise values are drawn in row-major order from `ChaCha8Rng::seed_from_u64(seed)` with
/// [`StandardNormal`] (f64), scaled by `sigma`, added in f64 and rounded to f32. Deterministic for a
/// seed. `sigma == 0` returns an exact copy.
///
/// # Errors
/// [`Error::InvalidParameter`] when `sigma` is negative or not finite; [`Error::NonFinite`] if the sum
/// overflows f32 (only for absurd `sigma`).
pub fn add_gaussian_noise(
    cloud: &PointCloud<'_>,
    sigma: f64,
    seed: u64,
) -> Result<PointCloud<'static>> {
    check_sigma(sigma)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let values: Vec<f32> = cloud
        .as_slice()
        .iter()
        .map(|&x| {
            let z: f64 = rng.sample(StandardNormal);
            (x as f64 + sigma * z) as f32
        })
        .collect();
    PointCloud::from_vec(values, cloud.n_points(), cloud.dim())
}

fn check_sigma(sigma: f64) -> Result<()> {
    if !(sigma.is_finite() && sigma >= 0.0) {
        return Err(Error::invalid_parameter(
            "noise sigma",
            sigma,
            "must be a finite number >= 0",
        ));
    }
    Ok(())
}

/// What to do with zero vectors (all coordinates zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZeroVectors {
    /// Keep them (paper default, docs/method.md step 5). After dedup at most one remains.
    #[default]
    Keep,
    /// Remove them (a guard against the reference code's zero-filled rows).
    Remove,
}

/// Gaussian noise settings for [`Preparation`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NoiseConfig {
    /// Standard deviation per coordinate.
    pub sigma: f64,
    /// Seed of the noise generator.
    pub seed: u64,
}

/// Sampling settings for [`Preparation`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SampleConfig {
    /// Number of rows to draw without replacement (paper: 150,000).
    pub size: usize,
    /// Seed (paper: 42).
    pub seed: u64,
}

/// The preparation pipeline of docs/method.md steps 4-6, validated at construction.
///
/// Order of the steps (each optional except the order itself):
/// 1. `sample`: draw `size` rows without replacement with [`sample_without_replacement`], keeping the
///    random order. When the cloud has fewer rows than `size`, all rows are taken in a seeded random
///    order (the report sets [`PreparationReport::sample_capped`]); this is not an error.
/// 2. `dedup`: remove exact duplicate rows, keeping the first occurrence in the sampled order.
/// 3. `zero_vectors`: keep (paper) or remove all-zero rows.
/// 4. `keep_first`: keep the first `N` rows (paper: 60,000). With fewer rows available all are kept
///    and [`PreparationReport::prefix_capped`] is set; not an error.
/// 5. `noise`: add Gaussian noise (ablation only; the paper's main runs use none).
///
/// Build with [`Preparation::builder`] or take [`Preparation::paper`]; the default
/// ([`PreparationBuilder::default`]) does nothing but deduplicate.
///
/// ```
/// use lid_core::prepare::Preparation;
/// let prep = Preparation::builder().sample(1000, 42).keep_first(500).build().unwrap();
/// assert!(Preparation::builder().sample(0, 42).build().is_err());
/// # let _ = prep;
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Preparation {
    sample: Option<SampleConfig>,
    dedup: bool,
    zero_vectors: ZeroVectors,
    keep_first: Option<usize>,
    noise: Option<NoiseConfig>,
}

/// Unchecked settings for a [`Preparation`]; [`PreparationBuilder::build`] validates them.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparationBuilder {
    sample: Option<SampleConfig>,
    dedup: bool,
    zero_vectors: ZeroVectors,
    keep_first: Option<usize>,
    noise: Option<NoiseConfig>,
}

impl Default for PreparationBuilder {
    /// No sampling, dedup on, zero vectors kept, no prefix, no noise.
    fn default() -> Self {
        Self {
            sample: None,
            dedup: true,
            zero_vectors: ZeroVectors::Keep,
            keep_first: None,
            noise: None,
        }
    }
}

impl PreparationBuilder {
    /// Sample `size` rows without replacement with `seed` (paper: 150,000 and 42).
    pub fn sample(mut self, size: usize, seed: u64) -> Self {
        self.sample = Some(SampleConfig { size, seed });
        self
    }

    /// Turn exact-row dedup on (default) or off.
    pub fn dedup(mut self, on: bool) -> Self {
        self.dedup = on;
        self
    }

    /// Keep (default) or remove zero vectors.
    pub fn zero_vectors(mut self, policy: ZeroVectors) -> Self {
        self.zero_vectors = policy;
        self
    }

    /// Keep only the first `n` rows after dedup (paper: 60,000).
    pub fn keep_first(mut self, n: usize) -> Self {
        self.keep_first = Some(n);
        self
    }

    /// Add Gaussian noise with standard deviation `sigma` and `seed` as the last step.
    pub fn noise(mut self, sigma: f64, seed: u64) -> Self {
        self.noise = Some(NoiseConfig { sigma, seed });
        self
    }

    /// Validates the settings.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for sample size 0, `keep_first` 0, or a negative / non-finite noise
    /// sigma.
    pub fn build(self) -> Result<Preparation> {
        if let Some(s) = self.sample {
            if s.size == 0 {
                return Err(Error::invalid_parameter(
                    "sample size",
                    0,
                    "must be at least 1 (leave sampling off to use all rows)",
                ));
            }
        }
        if self.keep_first == Some(0) {
            return Err(Error::invalid_parameter(
                "keep_first",
                0,
                "must be at least 1 (leave it off to keep all rows)",
            ));
        }
        if let Some(noise) = self.noise {
            check_sigma(noise.sigma)?;
        }
        Ok(Preparation {
            sample: self.sample,
            dedup: self.dedup,
            zero_vectors: self.zero_vectors,
            keep_first: self.keep_first,
            noise: self.noise,
        })
    }
}

/// What [`Preparation::run`] did: counts after every stage and the original index of every kept row.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PreparationReport {
    /// Rows in the input cloud.
    pub n_input: usize,
    /// Rows after sampling (equals `n_input` without sampling).
    pub n_sampled: usize,
    /// True when the sample size exceeded the rows available and all rows were taken.
    pub sample_capped: bool,
    /// Exact duplicates removed (0 when dedup is off).
    pub n_duplicates_removed: usize,
    /// Zero vectors still present after dedup (before any removal).
    pub n_zero_vectors: usize,
    /// Zero vectors removed (0 unless [`ZeroVectors::Remove`]).
    pub n_zero_vectors_removed: usize,
    /// Rows available before the prefix step.
    pub n_before_prefix: usize,
    /// True when `keep_first` exceeded the rows available and all were kept.
    pub prefix_capped: bool,
    /// Rows in the prepared cloud.
    pub n_output: usize,
    /// For each output row, its row index in the input cloud.
    pub kept_rows: Vec<usize>,
}

impl Preparation {
    /// Starts a builder with the defaults of [`PreparationBuilder::default`].
    pub fn builder() -> PreparationBuilder {
        PreparationBuilder::default()
    }

    /// The paper's settings (docs/method.md steps 4-6): sample 150,000 rows with seed 42, dedup, keep zero
    /// vectors, keep the first 60,000, no noise.
    pub fn paper() -> Self {
        Preparation {
            sample: Some(SampleConfig {
                size: 150_000,
                seed: 42,
            }),
            dedup: true,
            zero_vectors: ZeroVectors::Keep,
            keep_first: Some(60_000),
            noise: None,
        }
    }

    /// The sampling step, if any.
    pub fn sample_config(&self) -> Option<SampleConfig> {
        self.sample
    }

    /// Whether dedup is on.
    pub fn dedup(&self) -> bool {
        self.dedup
    }

    /// The zero-vector policy.
    pub fn zero_vectors(&self) -> ZeroVectors {
        self.zero_vectors
    }

    /// The prefix size, if any.
    pub fn keep_first(&self) -> Option<usize> {
        self.keep_first
    }

    /// The noise step, if any.
    pub fn noise(&self) -> Option<NoiseConfig> {
        self.noise
    }

    /// Runs the pipeline on `cloud` and returns the prepared cloud and what was done.
    ///
    /// # Errors
    /// [`Error::EmptyCloud`] when nothing is left (only possible when every row is a zero vector and
    /// they are removed); noise errors as [`add_gaussian_noise`].
    pub fn run(&self, cloud: &PointCloud<'_>) -> Result<(PointCloud<'static>, PreparationReport)> {
        let n_input = cloud.n_points();
        // 1. Sample.
        let (mut rows, sample_capped) = match self.sample {
            Some(s) => {
                let size = s.size.min(n_input);
                (
                    sample_without_replacement(n_input, size, s.seed)?,
                    s.size > n_input,
                )
            }
            None => ((0..n_input).collect(), false),
        };
        let n_sampled = rows.len();
        // 2. Dedup, in the sampled order.
        let mut n_duplicates_removed = 0;
        if self.dedup {
            let d = dedup_selected_rows(cloud, &rows);
            n_duplicates_removed = d.removed;
            rows = d.kept.into_iter().map(|p| rows[p]).collect();
        }
        // 3. Zero vectors.
        let n_zero_vectors = rows.iter().filter(|&&r| is_zero_row(cloud.row(r))).count();
        let mut n_zero_vectors_removed = 0;
        if self.zero_vectors == ZeroVectors::Remove && n_zero_vectors > 0 {
            rows.retain(|&r| !is_zero_row(cloud.row(r)));
            n_zero_vectors_removed = n_zero_vectors;
        }
        // 4. Prefix.
        let n_before_prefix = rows.len();
        let mut prefix_capped = false;
        if let Some(n) = self.keep_first {
            prefix_capped = n > rows.len();
            rows.truncate(n);
        }
        if rows.is_empty() {
            return Err(Error::EmptyCloud);
        }
        let mut prepared = cloud.select_rows(&rows)?;
        // 5. Noise.
        if let Some(noise) = self.noise {
            prepared = add_gaussian_noise(&prepared, noise.sigma, noise.seed)?;
        }
        let report = PreparationReport {
            n_input,
            n_sampled,
            sample_capped,
            n_duplicates_removed,
            n_zero_vectors,
            n_zero_vectors_removed,
            n_before_prefix,
            prefix_capped,
            n_output: rows.len(),
            kept_rows: rows,
        };
        Ok((prepared, report))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn dedup_keeps_first_occurrence_and_treats_signed_zero_equal() {
        let cloud = PointCloud::from_array(array![
            [1.0f32, 2.0],
            [0.0, -0.0],
            [1.0, 2.0],
            [3.0, 4.0],
            [-0.0, 0.0],
            [1.0, 2.0000002],
        ])
        .unwrap();
        let d = dedup_rows(&cloud);
        assert_eq!(d.kept, vec![0, 1, 3, 5]);
        assert_eq!(d.removed, 2);
    }

    #[test]
    fn sampling_is_a_seeded_prefix_consistent_permutation() {
        let a = sample_without_replacement(100, 10, 42).unwrap();
        let b = sample_without_replacement(100, 30, 42).unwrap();
        assert_eq!(&b[..10], &a[..]);
        assert_ne!(a, sample_without_replacement(100, 10, 43).unwrap());
        let mut all = sample_without_replacement(50, 50, 7).unwrap();
        all.sort_unstable();
        assert_eq!(all, (0..50).collect::<Vec<_>>());
        assert!(sample_without_replacement(5, 0, 1).is_err());
        assert!(sample_without_replacement(5, 6, 1).is_err());
    }

    #[test]
    fn pipeline_counts_and_caps() {
        let cloud = PointCloud::from_array(array![
            [1.0f32, 0.0],
            [1.0, 0.0],
            [0.0, 0.0],
            [2.0, 0.0],
            [0.0, 0.0],
        ])
        .unwrap();
        let prep = Preparation::builder()
            .zero_vectors(ZeroVectors::Remove)
            .keep_first(10)
            .build()
            .unwrap();
        let (out, report) = prep.run(&cloud).unwrap();
        assert_eq!(report.kept_rows, vec![0, 3]);
        assert_eq!(report.n_duplicates_removed, 2);
        assert_eq!(report.n_zero_vectors, 1);
        assert_eq!(report.n_zero_vectors_removed, 1);
        assert!(report.prefix_capped);
        assert_eq!(out.row(1), &[2.0, 0.0]);
        assert!(Preparation::builder().keep_first(0).build().is_err());
        assert!(Preparation::builder().noise(-1.0, 0).build().is_err());
        assert!(Preparation::builder().noise(f64::NAN, 0).build().is_err());
    }

    #[test]
    fn noise_is_deterministic_and_zero_sigma_is_identity() {
        let cloud = PointCloud::from_array(array![[1.0f32, 2.0], [3.0, 4.0]]).unwrap();
        let a = add_gaussian_noise(&cloud, 0.1, 5).unwrap();
        let b = add_gaussian_noise(&cloud, 0.1, 5).unwrap();
        assert_eq!(a.as_slice(), b.as_slice());
        assert_ne!(a.as_slice(), cloud.as_slice());
        let same = add_gaussian_noise(&cloud, 0.0, 5).unwrap();
        assert_eq!(same.as_slice(), cloud.as_slice());
    }
}
