//! Guards against inputs that give a number without a word: near-duplicate points, coordinates
//! whose scale would overflow (or underflow) `f32` arithmetic, and the checks a caller needs to
//! tell the user about them.
//!
//! Exact duplicates are errors ([`crate::Error::DuplicatePoints`]) or removed up front
//! ([`crate::prepare`]). *Near* duplicates pass both: rows repeated with a relative change of
//! `1e-7` are distinct `f32` vectors, but inside a TwoNN neighbourhood each of them has
//! `r1 ~ 1e-7 |x|` and an ordinary `r2`, so `ln(r2 / r1) ~ 16` and the line fit collapses towards
//! zero (150 such pairs in 450 points of a 4-d ball give a mean local estimate of 0.07 instead of
//! 4.0). The paper's pipeline would do the same; [`NearDuplicates`] finds them and, when asked,
//! removes them ([`NearDuplicates::rows_to_keep`]).
//!
//! # The near-duplicate criterion
//! Point `i` with graph neighbours at distances `r1 <= r2 <= ... <= r_L` is a *near duplicate* when
//! `0 < r1 <= t * r_L`: its nearest neighbour is closer than `t` times the radius of its own
//! neighbourhood (`t` = [`NearDuplicates::threshold`], default
//! [`DEFAULT_NEAR_DUPLICATE_THRESHOLD`] = `1e-4`). On data that are locally uniform on a
//! `d`-dimensional manifold, `(r1 / r_L)^d` is the smallest of `L - 1` uniform variables, so an
//! honest point is flagged with probability `1 - (1 - t^d)^(L - 1) ~ (L - 1) t^d`: 1.3 % for `d = 1`,
//! `L = 128`, `1.3e-6` for `d = 2`, and less than `1e-9` from `d = 3` on. A near duplicate made by
//! `f32` noise on an embedding has `r1 / r_L` around `1e-6` or below.
//!
//! A neighbourhood of the pointwise estimate is *affected* when one of its members has a near
//! duplicate inside it; it is *dominated* when more of its members are near duplicates than the
//! estimator discards (TwoNN keeps the `floor(L (1 - f))` smallest ratios, so up to `L - floor(L (1 -
//! f))` extreme ratios leave the fit; beyond that they enter it).
//!
//! # The scale guard
//! [`ScaleCheck`] looks at the largest absolute coordinate `M` of a cloud. A backend that computes
//! squared distances in `f32` (HNSW) overflows when `4 D M^2` exceeds `f32::MAX` (about `3.4e38`:
//! coordinates around `1e19` at `D = 768`), and loses every digit of small distances when `M` is
//! tiny. Multiplying every coordinate by a power of two is exact in binary floating point (as long as
//! no result leaves the normal range), and TwoNN (like every estimator here) is invariant under
//! uniform scaling, so the remedy is exact: search on the scaled copy, then compute every reported
//! distance on the original coordinates. [`ScaleCheck::shift`] says by which power of two.

use crate::cloud::PointCloud;
use crate::error::{Error, Result};
use crate::graph::KnnGraph;

/// Default `t` of [`NearDuplicates`]: a point is a near duplicate when its nearest neighbour is
/// closer than `1e-4` times the radius of its neighbourhood (see the module docs for the false-alarm
/// rate on honest data).
pub const DEFAULT_NEAR_DUPLICATE_THRESHOLD: f64 = 1e-4;

/// Finds near-duplicate points in a kNN graph (criterion in the module docs) and, on request, the
/// rows to keep when they are treated as duplicates.
///
/// ```
/// use lid_core::guards::NearDuplicates;
/// use lid_core::{ExhaustiveSearch, NeighborSearch, PointCloud};
/// // 40 points on a line, and a copy of point 3 moved by 1e-7.
/// let mut values: Vec<f32> = (0..40).map(|i| i as f32).collect();
/// values.push(3.0 + 1e-6);
/// let cloud = PointCloud::from_vec(values, 41, 1).unwrap();
/// let graph = ExhaustiveSearch.knn_graph(&cloud, 8).unwrap();
/// let check = NearDuplicates::new(1e-4).unwrap();
/// let report = check.check(&graph);
/// assert_eq!(report.points, 2); // point 3 and its copy
/// assert_eq!(check.rows_to_keep(&graph).len(), 40); // the copy (the later row) goes
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NearDuplicates {
    threshold: f64,
    discard_fraction: f64,
}

impl Default for NearDuplicates {
    /// `t` = [`DEFAULT_NEAR_DUPLICATE_THRESHOLD`], discard fraction 0.1 (TwoNN's default).
    fn default() -> Self {
        Self {
            threshold: DEFAULT_NEAR_DUPLICATE_THRESHOLD,
            discard_fraction: 0.1,
        }
    }
}

impl NearDuplicates {
    /// A check with threshold `t` (a point is a near duplicate when `0 < r1 <= t * r_L`).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] named `near_duplicate_threshold` unless `0 <= t < 1` (`t = 0`
    /// flags nothing: the check is off).
    pub fn new(threshold: f64) -> Result<Self> {
        if !(threshold.is_finite() && (0.0..1.0).contains(&threshold)) {
            return Err(Error::invalid_parameter(
                "near_duplicate_threshold",
                threshold,
                "must be in [0, 1): a point is a near duplicate when its nearest neighbour is closer \
                 than this fraction of its neighbourhood radius (0 turns the check off)",
            ));
        }
        Ok(Self {
            threshold,
            ..Self::default()
        })
    }

    /// The share of extreme ratios the estimator leaves out (default 0.1, TwoNN's default), used for
    /// [`NearDuplicateReport::neighbourhoods_dominated`].
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] named `discard_fraction` unless it is in `[0, 1)`.
    pub fn discard_fraction(mut self, fraction: f64) -> Result<Self> {
        if !(fraction.is_finite() && (0.0..1.0).contains(&fraction)) {
            return Err(Error::invalid_parameter(
                "discard_fraction",
                fraction,
                "must be in [0, 1)",
            ));
        }
        self.discard_fraction = fraction;
        Ok(self)
    }

    /// The threshold `t`.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// Whether point `i` is a near duplicate: `0 < r1 <= t * r_L` in its graph row.
    #[inline]
    fn is_near_duplicate(&self, graph: &KnnGraph, i: usize) -> bool {
        let d = graph.distances(i);
        let (r1, r_last) = (d[0], d[d.len() - 1]);
        r1 > 0.0 && r1 <= self.threshold * r_last
    }

    /// Counts near-duplicate points and the neighbourhoods they affect. `O(N L)`, no allocation
    /// beyond one flag per point.
    pub fn check(&self, graph: &KnnGraph) -> NearDuplicateReport {
        let n = graph.n_points();
        let l = graph.k();
        let flagged: Vec<bool> = (0..n).map(|i| self.is_near_duplicate(graph, i)).collect();
        let exact = (0..n).filter(|&i| graph.distances(i)[0] == 0.0).count();
        let points = flagged.iter().filter(|&&f| f).count();
        let kept = (l as f64 * (1.0 - self.discard_fraction)).floor() as usize;
        let tolerated = l - kept.min(l);
        let (mut affected, mut dominated, mut max_members) = (0usize, 0usize, 0usize);
        let mut examples = Vec::new();
        if points > 0 {
            // marker[j] == i: j is a member of the neighbourhood of i (set while visiting i).
            let mut marker = vec![usize::MAX; n];
            for i in 0..n {
                let members = graph.neighbors(i);
                for &j in members {
                    marker[j as usize] = i;
                }
                // A member is a near duplicate *inside* the neighbourhood when its own nearest
                // neighbour (at r1 <= t r_L) is a member too.
                let count = members
                    .iter()
                    .filter(|&&j| {
                        let j = j as usize;
                        flagged[j] && marker[graph.neighbors(j)[0] as usize] == i
                    })
                    .count();
                if count > 0 {
                    affected += 1;
                }
                if count > tolerated {
                    dominated += 1;
                }
                max_members = max_members.max(count);
            }
            examples = (0..n)
                .filter(|&i| flagged[i])
                .take(NearDuplicateReport::EXAMPLES)
                .map(|i| NearDuplicatePair {
                    point: i,
                    neighbour: graph.neighbors(i)[0] as usize,
                    r1: graph.distances(i)[0],
                    radius: graph.distances(i)[l - 1],
                })
                .collect();
        }
        NearDuplicateReport {
            threshold: self.threshold,
            criterion: "0 < r1 <= threshold * r_L (nearest-neighbour distance against the \
                        distance to the L-th neighbour)",
            neighbors: l,
            points,
            exact_duplicate_points: exact,
            neighbourhoods_affected: affected,
            neighbourhoods_dominated: dominated,
            discard_fraction: self.discard_fraction,
            max_members_in_a_neighbourhood: max_members,
            examples,
        }
    }

    /// The number of near-duplicate points only (what every pointwise estimator reports in
    /// [`crate::estimators::PointwiseEstimates::near_duplicate_points`]); `O(N)`.
    pub fn count(&self, graph: &KnnGraph) -> usize {
        (0..graph.n_points())
            .filter(|&i| self.is_near_duplicate(graph, i))
            .count()
    }

    /// Rows to keep when near duplicates are treated as duplicates ("deduplicate within a
    /// tolerance"): points `i`, `j` are linked when `d(i, j) <= t * r_L(i)` and `j` is among `i`'s
    /// graph neighbours (exact duplicates, `d = 0`, are linked too); every group of linked points
    /// keeps its first (smallest) row. Ascending row indices, so the order of the cloud is kept.
    ///
    /// The result depends only on the graph (not on the thread count). Rebuild the graph on the
    /// kept rows before estimating.
    pub fn rows_to_keep(&self, graph: &KnnGraph) -> Vec<usize> {
        let n = graph.n_points();
        let mut parent: Vec<usize> = (0..n).collect();
        fn root(parent: &mut [usize], mut i: usize) -> usize {
            while parent[i] != i {
                parent[i] = parent[parent[i]];
                i = parent[i];
            }
            i
        }
        for i in 0..n {
            let d = graph.distances(i);
            let limit = self.threshold * d[d.len() - 1];
            for (&j, &dist) in graph.neighbors(i).iter().zip(d) {
                if dist > limit && dist > 0.0 {
                    break; // rows are sorted by distance
                }
                let (a, b) = (root(&mut parent, i), root(&mut parent, j as usize));
                // The smaller index becomes the root, so each group's root is its first row.
                if a != b {
                    let (lo, hi) = (a.min(b), a.max(b));
                    parent[hi] = lo;
                }
            }
        }
        (0..n).filter(|&i| root(&mut parent, i) == i).collect()
    }
}

/// What [`NearDuplicates::check`] found.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NearDuplicateReport {
    /// The threshold `t`.
    pub threshold: f64,
    /// The criterion, in words.
    pub criterion: &'static str,
    /// Neighbours per point in the graph (`L`).
    pub neighbors: usize,
    /// Points with `0 < r1 <= t * r_L`.
    pub points: usize,
    /// Points with `r1 = 0` (exact duplicates; not counted in `points`).
    pub exact_duplicate_points: usize,
    /// Neighbourhoods holding at least one member whose near duplicate is a member too.
    pub neighbourhoods_affected: usize,
    /// Neighbourhoods holding more such members than the discard fraction removes
    /// (`L - floor(L (1 - discard_fraction))`): their fits are driven by near duplicates.
    pub neighbourhoods_dominated: usize,
    /// The discard fraction used for `neighbourhoods_dominated`.
    pub discard_fraction: f64,
    /// The most near-duplicate members found in one neighbourhood.
    pub max_members_in_a_neighbourhood: usize,
    /// The first few flagged points (in index order), to look at.
    pub examples: Vec<NearDuplicatePair>,
}

impl NearDuplicateReport {
    /// How many examples are listed.
    pub const EXAMPLES: usize = 5;

    /// Whether anything was found.
    pub fn any(&self) -> bool {
        self.points > 0
    }
}

/// One flagged point and its nearest neighbour.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NearDuplicatePair {
    /// The point (row of the cloud the graph was built on).
    pub point: usize,
    /// Its nearest neighbour.
    pub neighbour: usize,
    /// The distance between them.
    pub r1: f64,
    /// The distance from the point to its `L`-th neighbour.
    pub radius: f64,
}

/// The largest absolute coordinate of a cloud, and whether `f32` squared distances of its points
/// overflow or lose their small values (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScaleCheck {
    /// Largest absolute coordinate `M`.
    pub max_abs: f32,
    /// Ambient dimension `D`.
    pub dim: usize,
    /// `4 D M^2 > 2^126`: an `f32` squared distance can overflow to infinity.
    pub overflow: bool,
    /// `0 < M < 2^-32`: `f32` squared distances of near points fall towards the subnormal range.
    pub underflow: bool,
}

impl ScaleCheck {
    /// Squared distances above `2^126` count as overflowing (`f32::MAX` is about `2^128`; two bits
    /// of margin for the rounding of the sums).
    const F32_SQUARED_LIMIT: f64 = 8.507_059_173_023_462e37; // 2^126
    /// Largest coordinates below `2^-32` count as too small for `f32` squared distances.
    const F32_SMALL_LIMIT: f64 = 2.328_306_436_538_696_3e-10; // 2^-32

    /// Looks at every coordinate once (`O(N D)`).
    pub fn of(cloud: &PointCloud<'_>) -> Self {
        let max_abs = cloud
            .as_slice()
            .iter()
            .fold(0f32, |m, &x| if x.abs() > m { x.abs() } else { m });
        let dim = cloud.dim();
        let m = max_abs as f64;
        Self {
            max_abs,
            dim,
            overflow: 4.0 * dim as f64 * m * m > Self::F32_SQUARED_LIMIT,
            underflow: m > 0.0 && m < Self::F32_SMALL_LIMIT,
        }
    }

    /// The power of two `s` such that multiplying every coordinate by `2^s` brings the largest one
    /// into `[1, 2)`, when `f32` squared distances need it (`overflow` or `underflow`); `None`
    /// otherwise. The scaling is exact for every coordinate that stays in the normal `f32` range
    /// (all but those below `2^-126` of the largest, which cannot change an `f32` distance anyway).
    pub fn shift(&self) -> Option<i32> {
        if !(self.overflow || self.underflow) || self.max_abs == 0.0 {
            return None;
        }
        // max_abs = m 2^e with m in [1, 2): e = floor(log2(max_abs)), exact from the bits.
        Some(-f32_exponent(self.max_abs))
    }

    /// The cloud multiplied by `2^shift` (an owned copy), or `None` when no shift is needed.
    ///
    /// # Errors
    /// [`Error::NonFinite`] cannot occur for a shift from [`ScaleCheck::shift`] (it only brings
    /// values towards 1); it is passed on from [`PointCloud::from_vec`] for safety.
    pub fn scaled(&self, cloud: &PointCloud<'_>) -> Result<Option<PointCloud<'static>>> {
        let Some(shift) = self.shift() else {
            return Ok(None);
        };
        let factor = 2f64.powi(shift);
        let values: Vec<f32> = cloud
            .as_slice()
            .iter()
            .map(|&x| (x as f64 * factor) as f32)
            .collect();
        PointCloud::from_vec(values, cloud.n_points(), cloud.dim()).map(Some)
    }
}

/// `floor(log2(|x|))` for a finite non-zero `f32` (subnormals included), from its bits.
fn f32_exponent(x: f32) -> i32 {
    let bits = x.abs().to_bits();
    let biased = (bits >> 23) as i32;
    if biased == 0 {
        // Subnormal: value = mantissa 2^-149.
        let mantissa = bits & 0x7f_ffff;
        31 - mantissa.leading_zeros() as i32 - 149
    } else {
        biased - 127
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ExhaustiveSearch, NeighborSearch};

    #[test]
    fn exponent_from_bits() {
        for (x, e) in [
            (1.0f32, 0),
            (1.5, 0),
            (2.0, 1),
            (0.75, -1),
            (1e20, 66),
            (f32::MAX, 127),
            (f32::MIN_POSITIVE, -126),
            (f32::from_bits(1), -149),
            (-3.0, 1),
        ] {
            assert_eq!(f32_exponent(x), e, "{x}");
            assert_eq!((x.abs() as f64).log2().floor() as i32, e, "{x}");
        }
    }

    #[test]
    fn scale_check_flags_overflow_and_tiny_scales_only() {
        let cloud = |v: f32| PointCloud::from_vec(vec![v, -v, 0.5 * v, 0.0], 2, 2).unwrap();
        let ok = ScaleCheck::of(&cloud(1e3));
        assert!(!ok.overflow && !ok.underflow && ok.shift().is_none());
        let huge = ScaleCheck::of(&cloud(1e20));
        assert!(huge.overflow);
        assert_eq!(huge.shift(), Some(-66));
        let scaled = huge.scaled(&cloud(1e20)).unwrap().unwrap();
        assert!(scaled.as_slice().iter().all(|x| x.abs() < 2.0));
        // Exact: scaling back gives the same bits.
        for (a, b) in scaled.as_slice().iter().zip(cloud(1e20).as_slice()) {
            assert_eq!(((*a as f64) * 2f64.powi(66)) as f32, *b);
        }
        let tiny = ScaleCheck::of(&cloud(1e-20));
        assert!(tiny.underflow && !tiny.overflow);
        assert_eq!(tiny.shift(), Some(67));
        let zeros = ScaleCheck::of(&PointCloud::from_vec(vec![0.0; 4], 2, 2).unwrap());
        assert!(zeros.shift().is_none());
    }

    #[test]
    fn near_duplicate_groups_keep_their_first_row() {
        // 0..30 on a line; row 30 near row 5, row 31 near row 30 (a chain), row 32 exactly row 7.
        let mut v: Vec<f32> = (0..30).map(|i| i as f32 * 10.0).collect();
        v.extend([50.0 + 1e-5, 50.0 + 2e-5, 70.0]);
        let cloud = PointCloud::from_vec(v, 33, 1).unwrap();
        let graph = ExhaustiveSearch.knn_graph(&cloud, 6).unwrap();
        let check = NearDuplicates::new(1e-4).unwrap();
        let report = check.check(&graph);
        assert_eq!(report.points, 3, "{report:?}"); // 5, 30, 31
        assert_eq!(report.exact_duplicate_points, 2); // 7 and 32
        assert!(report.neighbourhoods_affected > 0);
        assert_eq!(report.examples[0].point, 5);
        let keep = check.rows_to_keep(&graph);
        assert_eq!(keep, (0..30).collect::<Vec<_>>());
        assert_eq!(check.count(&graph), 3);
        // t = 0 turns the check off but still merges exact duplicates.
        let off = NearDuplicates::new(0.0).unwrap();
        assert_eq!(off.check(&graph).points, 0);
        assert_eq!(off.rows_to_keep(&graph).len(), 32);
        assert!(NearDuplicates::new(1.0).is_err());
        assert!(NearDuplicates::new(f64::NAN).is_err());
        assert!(NearDuplicates::default().discard_fraction(1.0).is_err());
    }
}
