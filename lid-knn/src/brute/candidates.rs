//! Per-row candidate sets with a rigorous margin.
//!
//! A row keeps every candidate `j` whose lower bound `L_j = a_j - gamma S_j` does not exceed `tau`, the
//! smallest known upper bound of the row's `k`-th exact squared distance (`tau` = the `k`-th smallest
//! `U_j = a_j + gamma S_j` seen so far; see [`super::bound`]). Why the final `k` are the true `k`:
//! `k` distinct points have exact distance `e <= U <= tau`, so the true `k`-th distance `e_(k) <= tau`;
//! a point with `e_j <= e_(k)` has `L_j <= e_j <= tau` and is never dropped. The kept set therefore
//! contains every point that ties with or beats the true `k`-th neighbour, and sorting it by the exact
//! `(distance, index)` yields exactly the oracle's row.
//!
//! When a row's band stays wide (many duplicates or exact ties), the row switches to exact mode: every
//! candidate's exact distance is computed at once and only the best `k` by `(distance, index)` are kept,
//! so memory stays `O(k)` per row whatever the data.

/// Candidate bookkeeping of one row.
#[derive(Debug, Clone)]
pub(crate) struct RowCandidates {
    /// `(approximate squared distance, index)` in approximate mode.
    approx: Vec<(f32, u32)>,
    /// `(exact distance, index)`, sorted, at most `k` long, in exact mode.
    exact: Option<Vec<(f64, u32)>>,
    /// Upper bound of the row's `k`-th exact squared distance (`+inf` until `k` candidates are known).
    tau: f64,
    /// Prune when `approx` reaches this length.
    prune_at: usize,
}

/// What a row needs to evaluate bounds and exact distances.
pub(crate) struct RowContext<'a> {
    /// Index of the row's point (in the query set).
    pub(crate) row: usize,
    /// Neighbours wanted.
    pub(crate) k: usize,
    /// The error factor `gamma`.
    pub(crate) gamma: f64,
    /// The absolute underflow slack `eta`.
    pub(crate) eta: f64,
    /// Square of the scale applied to the centred points (converts exact squared distances to the
    /// scaled units of `a`, `tau` and the norms).
    pub(crate) scale2: f64,
    /// Centred squared norm of the row's point.
    pub(crate) row_norm: f32,
    /// Centred squared norms of the candidate (reference) points.
    pub(crate) col_norms: &'a [f32],
    /// The row's original coordinates.
    pub(crate) row_point: &'a [f32],
    /// The reference points' original coordinates, row-major.
    pub(crate) reference: &'a [f32],
    /// Dimension.
    pub(crate) dim: usize,
}

impl RowContext<'_> {
    fn exact_distance(&self, j: u32) -> f64 {
        self.exact_squared(j).sqrt()
    }

    fn exact_squared(&self, j: u32) -> f64 {
        let j = j as usize;
        lid_core::squared_euclidean_distance(
            self.row_point,
            &self.reference[j * self.dim..(j + 1) * self.dim],
        )
    }

    fn prefetch(&self, j: u32) {
        let j = j as usize;
        lid_core::prefetch(&self.reference[j * self.dim..(j + 1) * self.dim]);
    }

    fn slack(&self, j: u32) -> f64 {
        self.gamma * (self.row_norm as f64 + self.col_norms[j as usize] as f64) + self.eta
    }

    /// An upper bound, in scaled units, of every squared distance whose square root (in original
    /// units) is at most `distance`; covers the rounding of `sqrt` and of the scaling, so points tying
    /// with the `k`-th distance are never dropped.
    fn squared_upper(&self, distance: f64) -> f64 {
        distance * distance * self.scale2 * (1.0 + 1e-12)
    }
}

/// Rows whose band holds more than this many times `k` candidates switch to exact mode.
const EXACT_MODE_FACTOR: usize = 4;

impl RowCandidates {
    /// An empty set for a row that wants `k` neighbours.
    pub(crate) fn new(k: usize) -> Self {
        Self {
            approx: Vec::new(),
            exact: None,
            tau: f64::INFINITY,
            prune_at: 2 * k + 32,
        }
    }

    /// The current bound `tau` (squared distance).
    pub(crate) fn tau(&self) -> f64 {
        self.tau
    }

    /// Offers candidate `j` with approximate squared distance `a`.
    pub(crate) fn push(&mut self, a: f32, j: u32, ctx: &RowContext<'_>) {
        if a as f64 - ctx.slack(j) > self.tau {
            return;
        }
        if let Some(best) = self.exact.as_mut() {
            insert_bounded(best, (ctx.exact_distance(j), j), ctx.k);
            if best.len() == ctx.k {
                self.tau = self.tau.min(ctx.squared_upper(best[ctx.k - 1].0));
            }
            return;
        }
        self.approx.push((a, j));
        if self.approx.len() >= self.prune_at {
            self.prune(ctx);
        }
    }

    /// Recomputes `tau` from the `k` smallest upper bounds and drops candidates whose lower bound
    /// exceeds it; switches to exact mode when the band stays wide.
    fn prune(&mut self, ctx: &RowContext<'_>) {
        let k = ctx.k;
        if self.approx.len() >= k {
            let mut upper: Vec<f64> = self
                .approx
                .iter()
                .map(|&(a, j)| a as f64 + ctx.slack(j))
                .collect();
            let (_, kth, _) = upper.select_nth_unstable_by(k - 1, f64::total_cmp);
            self.tau = self.tau.min(*kth);
        }
        let tau = self.tau;
        self.approx.retain(|&(a, j)| a as f64 - ctx.slack(j) <= tau);
        if self.approx.len() > EXACT_MODE_FACTOR * k + 32 {
            self.switch_to_exact(ctx);
        } else {
            self.prune_at = self.prune_at.max(2 * self.approx.len());
        }
    }

    fn switch_to_exact(&mut self, ctx: &RowContext<'_>) {
        let mut best: Vec<(f64, u32)> = Vec::with_capacity(ctx.k + 1);
        for item in exact_distances(&self.approx, ctx) {
            insert_bounded(&mut best, item, ctx.k);
        }
        self.approx = Vec::new();
        if best.len() == ctx.k {
            self.tau = self.tau.min(ctx.squared_upper(best[ctx.k - 1].0));
        }
        self.exact = Some(best);
    }

    /// The row's final `k` neighbours as `(distance, index)`, sorted by `(distance, index)`, with
    /// distances from [`lid_core::euclidean_distance`].
    pub(crate) fn finish(mut self, ctx: &RowContext<'_>) -> Vec<(f64, u32)> {
        let mut chosen: Vec<(f64, u32)> = match self.exact.take() {
            Some(best) => best,
            None => {
                self.prune(ctx);
                match self.exact.take() {
                    Some(best) => best,
                    None => exact_distances(&self.approx, ctx).collect(),
                }
            }
        };
        // `sqrt` is monotone but may map two squared values to one distance: sort on the final
        // distances, exactly like the oracle.
        chosen.sort_unstable_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
        chosen.truncate(ctx.k);
        debug_assert_eq!(
            chosen.len(),
            ctx.k,
            "row {}: fewer than k candidates kept",
            ctx.row
        );
        chosen
    }
}

/// `(exact distance, index)` of every candidate, in order. Candidate rows are scattered in memory, so
/// the next one is prefetched while the current distance is computed.
fn exact_distances<'a>(
    approx: &'a [(f32, u32)],
    ctx: &'a RowContext<'_>,
) -> impl Iterator<Item = (f64, u32)> + 'a {
    approx.iter().enumerate().map(move |(t, &(_, j))| {
        if let Some(&(_, next)) = approx.get(t + 1) {
            ctx.prefetch(next);
        }
        (ctx.exact_distance(j), j)
    })
}

/// Inserts into a list sorted by `(distance, index)`, keeping at most `k` entries.
fn insert_bounded(best: &mut Vec<(f64, u32)>, item: (f64, u32), k: usize) {
    let cmp = |x: &(f64, u32), y: &(f64, u32)| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1));
    if best.len() == k && cmp(&item, &best[k - 1]).is_ge() {
        return;
    }
    let pos = best.partition_point(|x| cmp(x, &item).is_lt());
    best.insert(pos, item);
    best.truncate(k);
}
