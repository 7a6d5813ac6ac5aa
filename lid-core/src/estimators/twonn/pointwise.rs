//! Pointwise TwoNN: the hot path of `lid` (a paper run is N = 60,000 points, D = 768, L = 128).
//!
//! # What is computed (docs/method.md step 7)
//! For point `i` with neighbourhood `N(i)` (its `L` graph neighbours, `i` excluded), every member `j`
//! needs `r1(j)`, `r2(j)`: its two smallest distances to the other members `N(i) \ {j}`. The naive way
//! computes all `L (L - 1) / 2` distances of the neighbourhood: `L^2 D / 2` flops per point.
//!
//! # The exact shortcut
//! Walk `j`'s own graph row (its `L` nearest neighbours in the whole cloud, sorted ascending) and take
//! the first two entries `a`, `b` (positions `p_a < p_b`) that are members of `N(i) \ {j}`.
//!
//! *Claim:* `d(j, a)` and `d(j, b)` are the two smallest distances from `j` to `N(i) \ {j}`.
//!
//! *Proof:* take any other member `m`. If `m` is in `j`'s row, it comes after `a` (we took the first
//! member), so `d(j, m) >= d(j, a)`; and if it is also not `b`, it comes after `b`, so
//! `d(j, m) >= d(j, b)`. If `m` is not in `j`'s row, then, because the row holds the `L` nearest points
//! of `j` sorted by `(distance, index)`, every point outside it is at least as far as the row's last
//! entry: `d(j, m) >= d_last >= d(j, b)`. Hence no member is closer than `a`, and at most one member
//! (`a`) is closer than `b`: `{r1, r2} = {d(j, a), d(j, b)}` as values. Ties between equal distances
//! may pick another member, but only distances enter the fit, and they are equal. ∎
//!
//! The graph distances are computed by [`crate::euclidean_distance`] (the graph convention), which is
//! symmetric bit for bit, so the shortcut gives exactly the numbers of the naive algorithm.
//!
//! Only when fewer than two members appear in `j`'s row (`j` is far from the rest of the
//! neighbourhood: 5.4 % of the members on the N = 60,000, D = 768 benchmark cloud of
//! `docs/benchmarks.md`) do we fall back to direct distances from `j` to the other `L - 1` members,
//! first as cheap `f32` values with rigorous error bounds, then exactly for the few members that can
//! still be among the two nearest. The cost drops from `O(L^2 D)` to `O(L^2)` memory lookups plus
//! `O(fallbacks · L D)` `f32` operations.
//!
//! Membership is tested with a per-task `Vec<u32>` marker of size `N` stamped with a generation number
//! (no clearing, no allocation per point).

use rayon::prelude::*;

use crate::cloud::PointCloud;
use crate::distance::{euclidean_distance, prefetch, ApproxSquaredDistance};
use crate::error::{Error, Result};
use crate::graph::KnnGraph;

use super::{fit, TwoNN};

/// Counters of the pointwise algorithm, for benchmarks and diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct PointwiseTwoNnReport {
    /// Neighbourhood members processed (`N * L`).
    pub members: u64,
    /// Members whose `r1`, `r2` needed direct distance computations (fewer than two neighbourhood
    /// members in their own graph row).
    pub fallbacks: u64,
}

impl PointwiseTwoNnReport {
    /// Fraction of members served by the graph rows alone.
    pub fn hit_rate(&self) -> f64 {
        if self.members == 0 {
            return 1.0;
        }
        1.0 - self.fallbacks as f64 / self.members as f64
    }
}

/// Fewest points a rayon job handles with one [`Scratch`], so the O(N) marker is allocated at most
/// N / 512 times.
const SCRATCH_REUSE_MIN_POINTS: usize = 512;

/// Per-task scratch space: the membership marker, the ratio buffer and the fallback buffer.
struct Scratch {
    marker: Vec<u32>,
    generation: u32,
    ratios: Vec<f64>,
    /// Members that need the fallback path.
    fallback: Vec<u32>,
    /// Approximate squared distances of the fallback path (four rows of `L`).
    approx: Vec<f32>,
    /// `(r1, r2)` of the fallback members.
    pairs: Vec<(f64, f64)>,
}

impl Scratch {
    fn new(n: usize, l: usize) -> Self {
        Self {
            marker: vec![0; n],
            generation: 0,
            ratios: Vec::with_capacity(l),
            fallback: Vec::with_capacity(l),
            approx: Vec::with_capacity(4 * l),
            pairs: Vec::with_capacity(l),
        }
    }

    /// Marks the members of a new neighbourhood and returns its generation stamp.
    fn mark(&mut self, members: &[u32]) -> u32 {
        if self.generation == u32::MAX {
            self.marker.fill(0);
            self.generation = 0;
        }
        self.generation += 1;
        for &m in members {
            self.marker[m as usize] = self.generation;
        }
        self.generation
    }
}

/// One point's outcome: estimate, duplicates dropped, fallbacks taken.
type PointResult = Result<(f64, usize, u64)>;

/// Estimates every point; returns values, total dropped duplicates and the counters.
pub(super) fn estimate(
    estimator: &TwoNN,
    cloud: &PointCloud<'_>,
    graph: &KnnGraph,
) -> Result<(Vec<f64>, usize, PointwiseTwoNnReport)> {
    let n = graph.n_points();
    let l = graph.k();
    if l < 3 {
        return Err(Error::TooFewPoints {
            what: "pointwise TwoNN neighbourhood (each member needs two other members)",
            n: l,
            needed: 3,
        });
    }
    // `map_init` creates one scratch (an O(N) marker) per rayon job; without a minimum job length
    // rayon may split down to single points and re-zero the marker for each, superlinear in N.
    // Points are visited in graph order (see `locality_order`) so that consecutive neighbourhoods
    // share most members and their rows stay in cache; results are put back in index order.
    let order = locality_order(graph);
    let visited: Vec<PointResult> = order
        .par_iter()
        .with_min_len(SCRATCH_REUSE_MIN_POINTS)
        .map_init(
            || Scratch::new(n, l),
            |scratch, &i| estimate_point(estimator, cloud, graph, i as usize, scratch),
        )
        .collect();
    let mut results: Vec<Option<PointResult>> = (0..n).map(|_| None).collect();
    for (&i, result) in order.iter().zip(visited) {
        results[i as usize] = Some(result);
    }
    let results = results.into_iter().flatten();
    let mut values = Vec::with_capacity(n);
    let mut dropped = 0usize;
    let mut report = PointwiseTwoNnReport {
        members: (n * l) as u64,
        fallbacks: 0,
    };
    // The first failure in index order, whatever the thread count.
    for result in results {
        let (value, point_dropped, fallbacks) = result?;
        values.push(value);
        dropped += point_dropped;
        report.fallbacks += fallbacks;
    }
    Ok((values, dropped, report))
}

/// A permutation of the points in breadth-first order over the graph (restarting at the smallest
/// unvisited index): consecutive points are near each other, so their neighbourhoods overlap and the
/// rows of `cloud` and `graph` they read are mostly in cache already. On the N = 60,000, D = 768
/// benchmark cloud this cut the CPU time of the pointwise step by about a fifth against index
/// order, where consecutive points are unrelated (7.7-8.2 s vs 9.7-10.0 s, two runs each). Only the order of work changes, never a result.
fn locality_order(graph: &KnnGraph) -> Vec<u32> {
    let n = graph.n_points();
    let mut seen = vec![false; n];
    let mut order = Vec::with_capacity(n);
    for start in 0..n {
        if seen[start] {
            continue;
        }
        seen[start] = true;
        let mut head = order.len();
        order.push(start as u32);
        while head < order.len() {
            let i = order[head] as usize;
            head += 1;
            for &j in graph.neighbors(i) {
                if !seen[j as usize] {
                    seen[j as usize] = true;
                    order.push(j);
                }
            }
        }
    }
    order
}

/// TwoNN on the neighbourhood of point `i` (see the module docs for the algorithm and its proof).
fn estimate_point(
    estimator: &TwoNN,
    cloud: &PointCloud<'_>,
    graph: &KnnGraph,
    i: usize,
    scratch: &mut Scratch,
) -> PointResult {
    let members = graph.neighbors(i);
    let stamp = scratch.mark(members);
    let Scratch {
        marker,
        ratios,
        fallback,
        approx,
        pairs,
        ..
    } = scratch;
    ratios.clear();
    fallback.clear();
    let mut duplicates = 0usize;
    let mut add = |(r1, r2): (f64, f64)| {
        if r1 == 0.0 {
            duplicates += 1;
        } else {
            ratios.push(r2 / r1);
        }
    };
    for (p, &j) in members.iter().enumerate() {
        if let Some(&next) = members.get(p + 1) {
            // The next walk reads that member's graph row: start loading it now.
            prefetch(graph.neighbors(next as usize));
        }
        match first_two_members(graph, j, marker, stamp) {
            Some(pair) => add(pair),
            None => fallback.push(j),
        }
    }
    direct_first_two(cloud, members, fallback, approx, pairs);
    pairs.iter().copied().for_each(add);
    if duplicates > 0 && !estimator.drop_duplicates {
        return Err(Error::DuplicatePoints {
            what: format!("the TwoNN neighbourhood of point {i}"),
            count: duplicates,
            total: members.len(),
        });
    }
    // The ratios are sorted inside the fit, so their order (graph hits first) does not matter.
    let fit = fit::fit_sorted_ratios(
        ratios,
        estimator.discard_fraction,
        estimator.cdf,
        estimator.method,
        "pointwise TwoNN neighbourhood",
    )
    .map_err(|e| with_point(e, i))?;
    Ok((fit.dimension, duplicates, fallback.len() as u64))
}

/// The distances of the first two entries of `j`'s graph row that carry the neighbourhood's stamp,
/// or `None` when the row holds fewer than two of them. (`j` itself never appears in its own row.)
#[inline]
fn first_two_members(graph: &KnnGraph, j: u32, marker: &[u32], stamp: u32) -> Option<(f64, f64)> {
    let row = graph.neighbors(j as usize);
    let dist = graph.distances(j as usize);
    let mut first = None;
    for (&m, &d) in row.iter().zip(dist) {
        if marker[m as usize] == stamp {
            match first {
                None => first = Some(d),
                Some(r1) => return Some((r1, d)),
            }
        }
    }
    None
}

/// The two smallest direct distances from each member in `fallback` to the other members, into
/// `out` in the order of `fallback` (the fallback path).
///
/// A cheap `f32` pass ([`ApproxSquaredDistance`], rigorous error bounds; four fallback members per
/// pass over the neighbourhood, so each member row is read once per four) finds `U2`, the second
/// smallest upper bound; only members whose lower bound does not exceed `U2` get the exact distance.
/// The two members with the smallest exact distances have exact values `<= U2`, so they are never
/// skipped: the result equals the exact computation over all members (the unit test checks it).
fn direct_first_two(
    cloud: &PointCloud<'_>,
    members: &[u32],
    fallback: &[u32],
    approx: &mut Vec<f32>,
    out: &mut Vec<(f64, f64)>,
) {
    out.clear();
    let Some(bounds) = ApproxSquaredDistance::for_dim(cloud.dim()) else {
        out.extend(fallback.iter().map(|&j| exact_first_two(cloud, members, j)));
        return;
    };
    let l = members.len();
    // Every value is overwritten for each chunk.
    approx.clear();
    approx.resize(4 * l, 0.0);
    for chunk in fallback.chunks(4) {
        // Fewer than four: the last row is repeated (its values are computed and ignored).
        let xs: [&[f32]; 4] =
            std::array::from_fn(|t| cloud.row(chunk[t.min(chunk.len() - 1)] as usize));
        for (p, &m) in members.iter().enumerate() {
            if let Some(&next) = members.get(p + 1) {
                prefetch(cloud.row(next as usize));
            }
            let s = bounds.squared4(xs, cloud.row(m as usize));
            for (t, &value) in s.iter().enumerate() {
                approx[t * l + p] = value;
            }
        }
        for (t, &j) in chunk.iter().enumerate() {
            out.push(filtered_first_two(
                &bounds,
                cloud,
                members,
                j,
                &approx[t * l..(t + 1) * l],
            ));
        }
    }
}

/// The exact two smallest distances from `j` to the other members, given the approximate squared
/// distances `approx[p]` from `j` to `members[p]`.
fn filtered_first_two(
    bounds: &ApproxSquaredDistance,
    cloud: &PointCloud<'_>,
    members: &[u32],
    j: u32,
    approx: &[f32],
) -> (f64, f64) {
    let x = cloud.row(j as usize);
    let others = || members.iter().zip(approx).filter(move |&(&m, _)| m != j);
    if others().any(|(_, s)| !s.is_finite()) {
        // f32 overflow: no bound holds.
        return exact_first_two(cloud, members, j);
    }
    let (_, u2) = two_smallest(others().map(|(_, &s)| bounds.upper(s)));
    two_smallest(
        others()
            .filter(|&(_, &s)| bounds.lower(s) <= u2)
            .map(|(&m, _)| euclidean_distance(x, cloud.row(m as usize))),
    )
}

/// The exact two smallest distances from `j` to the other members, without filtering.
fn exact_first_two(cloud: &PointCloud<'_>, members: &[u32], j: u32) -> (f64, f64) {
    let x = cloud.row(j as usize);
    two_smallest(
        members
            .iter()
            .filter(|&&m| m != j)
            .map(|&m| euclidean_distance(x, cloud.row(m as usize))),
    )
}

/// The two smallest values of `distances` (`+inf` for missing ones).
fn two_smallest(distances: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut r1, mut r2) = (f64::INFINITY, f64::INFINITY);
    for d in distances {
        if d < r1 {
            r2 = r1;
            r1 = d;
        } else if d < r2 {
            r2 = d;
        }
    }
    (r1, r2)
}

/// Adds the point index to errors raised inside one neighbourhood fit.
fn with_point(error: Error, i: usize) -> Error {
    match error {
        Error::Degenerate { what, reason } => Error::Degenerate {
            what,
            reason: format!("neighbourhood of point {i}: {reason}"),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The filtered fallback equals the exact minimum over all members, also with duplicates, exact
    /// ties and near-ties below the `f32` resolution.
    #[test]
    fn filtered_fallback_equals_exact_two_smallest() {
        let (n, d) = (60usize, 40usize);
        let mut state = 7u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        let mut values: Vec<f32> = (0..n * d).map(|_| 100.0 + next()).collect();
        // Row 1 duplicates row 0, row 2 ties with row 3 around row 4, row 5 is row 0 nudged by one ulp.
        let row0: Vec<f32> = values[..d].to_vec();
        values[d..2 * d].copy_from_slice(&row0);
        for c in 0..d {
            values[2 * d + c] = values[4 * d + c] + 0.25;
            values[3 * d + c] = values[4 * d + c] - 0.25;
        }
        values[5 * d] = f32::from_bits(row0[0].to_bits() + 1);
        values[5 * d + 1..6 * d].copy_from_slice(&row0[1..]);
        let cloud = PointCloud::from_vec(values, n, d).unwrap();
        let members: Vec<u32> = (0..n as u32).collect();
        let (mut approx, mut got) = (Vec::new(), Vec::new());
        // Every member, and batches that are not multiples of four.
        for fallback in [members.clone(), vec![5, 0, 1], vec![4]] {
            direct_first_two(&cloud, &members, &fallback, &mut approx, &mut got);
            assert_eq!(got.len(), fallback.len());
            for (&j, pair) in fallback.iter().zip(&got) {
                let want = exact_first_two(&cloud, &members, j);
                assert_eq!(
                    (pair.0.to_bits(), pair.1.to_bits()),
                    (want.0.to_bits(), want.1.to_bits()),
                    "member {j}"
                );
            }
        }
    }
}
