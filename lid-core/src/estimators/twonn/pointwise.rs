//! Pointwise TwoNN: the hot path of `lid` (a paper run is N = 60,000 points, D = 768, L = 128).
//!
//! # What is computed (REFERENCE.md step 7)
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
//! Only when fewer than two members appear in `j`'s row (rare: `j` is far from the rest of the
//! neighbourhood) do we fall back to direct distances from `j` to the other `L - 1` members. The cost
//! drops from `O(L^2 D)` to `O(L^2)` memory lookups plus `O(fallbacks · L D)`.
//!
//! Membership is tested with a per-task `Vec<u32>` marker of size `N` stamped with a generation number
//! (no clearing, no allocation per point).

use rayon::prelude::*;

use crate::cloud::{euclidean_distance, PointCloud};
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

/// Per-task scratch space: the membership marker and the ratio buffer.
struct Scratch {
    marker: Vec<u32>,
    generation: u32,
    ratios: Vec<f64>,
}

impl Scratch {
    fn new(n: usize, l: usize) -> Self {
        Self {
            marker: vec![0; n],
            generation: 0,
            ratios: Vec::with_capacity(l),
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
    let results: Vec<PointResult> = (0..n)
        .into_par_iter()
        .with_min_len(SCRATCH_REUSE_MIN_POINTS)
        .map_init(
            || Scratch::new(n, l),
            |scratch, i| estimate_point(estimator, cloud, graph, i, scratch),
        )
        .collect();
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
    scratch.ratios.clear();
    let mut duplicates = 0usize;
    let mut fallbacks = 0u64;
    for &j in members {
        let (r1, r2) = match first_two_members(graph, j, &scratch.marker, stamp) {
            Some(pair) => pair,
            None => {
                fallbacks += 1;
                direct_first_two(cloud, members, j)
            }
        };
        if r1 == 0.0 {
            duplicates += 1;
        } else {
            scratch.ratios.push(r2 / r1);
        }
    }
    if duplicates > 0 && !estimator.drop_duplicates {
        return Err(Error::DuplicatePoints {
            what: format!("the TwoNN neighbourhood of point {i}"),
            count: duplicates,
            total: members.len(),
        });
    }
    let fit = fit::fit_sorted_ratios(
        &mut scratch.ratios,
        estimator.discard_fraction,
        estimator.cdf,
        estimator.method,
        "pointwise TwoNN neighbourhood",
    )
    .map_err(|e| with_point(e, i))?;
    Ok((fit.dimension, duplicates, fallbacks))
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

/// The two smallest direct distances from member `j` to the other members (fallback path).
fn direct_first_two(cloud: &PointCloud<'_>, members: &[u32], j: u32) -> (f64, f64) {
    let x = cloud.row(j as usize);
    let (mut r1, mut r2) = (f64::INFINITY, f64::INFINITY);
    for &m in members {
        if m == j {
            continue;
        }
        let d = euclidean_distance(x, cloud.row(m as usize));
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
