//! The analysis of a merged checkpoint series, with rules fixed before any curve was seen (they are
//! written verbatim in docs/reproduction.md, "Definitions for studies 2 and 3"):
//!
//! Every rule works on **seed means**: at each checkpoint step, the mean over the seeds that have a
//! value there ([`seed_means`]); steps ascending.
//!
//! - **Metric saturation step** (DST): the first checkpoint step at which the seed-mean metric
//!   reaches at least 99 % ([`SATURATION_FRACTION`]) of its maximum over the series
//!   ([`saturation_step`]).
//! - **LID stabilisation step**: the first checkpoint step `s` such that for every later checkpoint
//!   `t >= s`, `|LID(t) - LID(last)| <= band`, with `band = max(0.1 x (max LID - min LID), mean
//!   over checkpoints of the seed std of the LID)` ([`STABILISATION_TOLERANCE`],
//!   [`stabilisation_band`], [`stabilisation_step`]), on the seed-mean LID of each split (the
//!   analysed split's marks the figure). The seed std at a checkpoint is the sample standard
//!   deviation (ddof 1) over the seeds there; its mean runs over the checkpoints with at least 2
//!   seeds; with one seed the band is the range term alone. (Amended 2026-12-07, before any run
//!   under it: the range rule alone declares a series stable while it still moves by more than
//!   the seed-to-seed noise, whenever the range is small against that noise.)
//! - **Validation-loss minimum step**: the argmin over steps of the seed-mean validation loss,
//!   the first on ties ([`minimum_index`]).
//! - **Overfitting** (EmoWOZ): the LID minimum step is the argmin of the seed-mean LID over the
//!   checkpoints after the first (first on ties); the LID rise is `LID(last) - LID(min)` of the
//!   seed means; its standard deviation over seeds is the sample standard deviation (ddof 1) of the
//!   per-seed rises `LID_seed(last) - LID_seed(min step)` over the seeds that have both
//!   checkpoints; the report says whether the rise exceeds that standard deviation
//!   ([`lid_minimum`]).
//! - **Correlations**: Spearman between the seed-mean LID and the seed-mean metric, and between the
//!   seed-mean LID and the seed-mean validation loss, over the checkpoints where both are known
//!   ([`lid_core::stats::spearman`]); the latter also over the checkpoints from the
//!   validation-loss minimum step on (that step included; the overfitting phase, amended
//!   2026-12-07). Also reported, not used by the rules above: the
//!   least-squares change point of the seed-mean LID series ([`lid_core::stats::change_point`];
//!   the step is the first checkpoint of the second segment) and the lead-lag of the LID fall
//!   against the metric ([`lid_core::stats::lead_lag`] of `-LID` against the metric, lags up to
//!   `max_lag` checkpoints, capped at `n - 3`; a positive lag means the LID series moves that many
//!   checkpoints before the metric).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::run::MeanStd;

/// The fraction of its maximum the metric must reach to count as saturated.
pub const SATURATION_FRACTION: f64 = 0.99;
/// The range term of the stabilisation band, as a fraction of the LID range over the series.
pub const STABILISATION_TOLERANCE: f64 = 0.1;

/// One row of `series.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesRow {
    /// Training seed.
    pub seed: u64,
    /// Checkpoint step.
    pub step: u64,
    /// The split.
    pub split: String,
    /// Mean local LID.
    pub mean_lid: f64,
    /// Task metric of the checkpoint.
    pub metric: Option<f64>,
    /// Validation loss of the checkpoint.
    pub val_loss: Option<f64>,
}

/// The mean over seeds at one step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepMean {
    /// Checkpoint step.
    pub step: u64,
    /// Mean over the seeds.
    pub mean: f64,
    /// Sample standard deviation over the seeds (`None` for one seed).
    pub std: Option<f64>,
    /// Seeds with a value at this step.
    pub seeds: usize,
}

/// Seed means of `(seed, step, value)` points, steps ascending.
pub fn seed_means(points: impl IntoIterator<Item = (u64, u64, f64)>) -> Vec<StepMean> {
    let mut by_step: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    for (_, step, value) in points {
        by_step.entry(step).or_default().push(value);
    }
    by_step
        .into_iter()
        .filter_map(|(step, values)| {
            let m = MeanStd::of(&values)?;
            Some(StepMean {
                step,
                mean: m.mean,
                std: m.std,
                seeds: m.n,
            })
        })
        .collect()
}

/// The index of the first checkpoint whose value reaches [`SATURATION_FRACTION`] of the maximum;
/// `None` for an empty series or a maximum that is not positive (the rule assumes a metric where
/// higher is better, at least 0).
pub fn saturation_index(values: &[f64]) -> Option<usize> {
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max.is_nan() || max <= 0.0 {
        return None;
    }
    values.iter().position(|&v| v >= SATURATION_FRACTION * max)
}

/// The step of [`saturation_index`].
pub fn saturation_step(series: &[StepMean]) -> Option<u64> {
    let values: Vec<f64> = series.iter().map(|p| p.mean).collect();
    saturation_index(&values).map(|i| series[i].step)
}

/// The half-width of the band around the last value inside which a series counts as stable.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StabilisationBand {
    /// [`STABILISATION_TOLERANCE`] x (max - min) of the seed means.
    pub range_term: f64,
    /// The mean over checkpoints of the seed standard deviation (`None` with one seed).
    pub seed_spread: Option<f64>,
    /// `max(range_term, seed_spread)`: the band used.
    pub band: f64,
}

/// The stabilisation band of a seed-mean series (see the module docs); `None` when empty.
pub fn stabilisation_band(series: &[StepMean]) -> Option<StabilisationBand> {
    let values: Vec<f64> = series.iter().map(|p| p.mean).collect();
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    if values.is_empty() {
        return None;
    }
    let range_term = STABILISATION_TOLERANCE * (max - min);
    let stds: Vec<f64> = series.iter().filter_map(|p| p.std).collect();
    let seed_spread = (!stds.is_empty()).then(|| stds.iter().sum::<f64>() / stds.len() as f64);
    Some(StabilisationBand {
        range_term,
        seed_spread,
        band: seed_spread.map_or(range_term, |s| range_term.max(s)),
    })
}

/// The index of the first checkpoint from which every value stays within `band` of the last
/// value; `None` for an empty series.
pub fn stabilisation_index(values: &[f64], band: f64) -> Option<usize> {
    let last = *values.last()?;
    // The last index where the value leaves the band; stabilised from the one after it.
    let outside = values.iter().rposition(|&v| (v - last).abs() > band);
    Some(outside.map_or(0, |i| i + 1))
}

/// The step of [`stabilisation_index`] under [`stabilisation_band`].
pub fn stabilisation_step(series: &[StepMean]) -> Option<u64> {
    let band = stabilisation_band(series)?;
    let values: Vec<f64> = series.iter().map(|p| p.mean).collect();
    stabilisation_index(&values, band.band).map(|i| series[i].step)
}

/// The index of the smallest value at or after `from` (the first on ties); `None` when there is
/// none.
pub fn minimum_index(values: &[f64], from: usize) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, &v) in values.iter().enumerate().skip(from) {
        if best.is_none_or(|b| v < values[b]) {
            best = Some(i);
        }
    }
    best
}

/// The LID minimum after the first checkpoint and the rise from it (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LidMinimum {
    /// The step of the minimum.
    pub step: u64,
    /// Seed-mean LID there.
    pub lid_at_minimum: f64,
    /// Seed-mean LID at the last checkpoint.
    pub lid_last: f64,
    /// `lid_last - lid_at_minimum`.
    pub rise: f64,
    /// Standard deviation (ddof 1) of the per-seed rises (`None` with fewer than 2 seeds).
    pub rise_std: Option<f64>,
    /// Seeds with both checkpoints.
    pub seeds: usize,
    /// Whether `rise > rise_std` (`None` without a standard deviation).
    pub rise_exceeds_std: Option<bool>,
}

/// The LID minimum over the checkpoints after the first, from the seed means `lid` and the rows
/// of one split (for the per-seed rises); `None` with fewer than 2 checkpoints.
pub fn lid_minimum(lid: &[StepMean], rows: &[&SeriesRow]) -> Option<LidMinimum> {
    let values: Vec<f64> = lid.iter().map(|p| p.mean).collect();
    let i = minimum_index(&values, 1)?;
    let (min_step, last) = (lid[i].step, *lid.last()?);
    let value_at = |seed: u64, step: u64| {
        rows.iter()
            .find(|r| r.seed == seed && r.step == step)
            .map(|r| r.mean_lid)
    };
    let mut seeds: Vec<u64> = rows.iter().map(|r| r.seed).collect();
    seeds.sort_unstable();
    seeds.dedup();
    let rises: Vec<f64> = seeds
        .iter()
        .filter_map(|&s| Some(value_at(s, last.step)? - value_at(s, min_step)?))
        .collect();
    let rise = last.mean - lid[i].mean;
    let rise_std = MeanStd::of(&rises).and_then(|m| m.std);
    Some(LidMinimum {
        step: min_step,
        lid_at_minimum: lid[i].mean,
        lid_last: last.mean,
        rise,
        rise_std,
        seeds: rises.len(),
        rise_exceeds_std: rise_std.map(|s| rise > s),
    })
}

/// A Spearman correlation over checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Correlation {
    /// Spearman's rho.
    pub spearman: f64,
    /// Checkpoints (steps) paired.
    pub checkpoints: usize,
}

/// The least-squares change point of the seed-mean LID.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChangePointAt {
    /// The first step of the second segment.
    pub step: u64,
    /// Mean LID before it.
    pub mean_before: f64,
    /// Mean LID from it on.
    pub mean_after: f64,
    /// Fraction of the variance the split explains, `1 - split_sse / total_sse`.
    pub variance_explained: f64,
}

/// The lead-lag of the LID fall against the metric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LeadLag {
    /// Lag in checkpoints; positive: LID moves first.
    pub lag: i64,
    /// Pearson correlation of `-LID` with the metric at that lag.
    pub correlation: f64,
    /// Pairs at that lag.
    pub pairs: usize,
    /// The largest lag tried.
    pub max_lag: usize,
}

/// The analysis of one split's LID.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SplitAnalysis {
    /// The split.
    pub split: String,
    /// Seed-mean LID per step.
    pub lid: Vec<StepMean>,
    /// LID stabilisation step.
    pub lid_stabilisation_step: Option<u64>,
    /// The band the stabilisation step used.
    pub stabilisation_band: Option<StabilisationBand>,
    /// LID minimum after the first checkpoint and the rise from it.
    pub lid_minimum: Option<LidMinimum>,
    /// Spearman(seed-mean LID, seed-mean metric).
    pub spearman_lid_metric: Option<Correlation>,
    /// Spearman(seed-mean LID, seed-mean validation loss).
    pub spearman_lid_val_loss: Option<Correlation>,
    /// The same over the checkpoints from the validation-loss minimum step on.
    pub spearman_lid_val_loss_from_minimum: Option<Correlation>,
    /// Change point of the seed-mean LID.
    pub change_point: Option<ChangePointAt>,
    /// Lead-lag of the LID fall against the metric.
    pub lead_lag: Option<LeadLag>,
    /// Why a value above is missing.
    pub notes: Vec<String>,
}

/// The analysis of a merged series.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SeriesAnalysis {
    /// The split the rules and markers use.
    pub analysed_split: String,
    /// Seed-mean task metric per step (empty without metrics).
    pub metric: Vec<StepMean>,
    /// Seed-mean validation loss per step (empty without losses).
    pub val_loss: Vec<StepMean>,
    /// Metric saturation step.
    pub metric_saturation_step: Option<u64>,
    /// Validation-loss minimum step.
    pub val_loss_minimum_step: Option<u64>,
    /// Per split, in the spec's order.
    pub splits: Vec<SplitAnalysis>,
}

impl SeriesAnalysis {
    /// The analysis of the analysed split.
    pub fn analysed(&self) -> Option<&SplitAnalysis> {
        self.splits.iter().find(|s| s.split == self.analysed_split)
    }
}

/// The values of `a` and `b` at the steps both have.
fn paired(a: &[StepMean], b: &[StepMean]) -> (Vec<f64>, Vec<f64>) {
    a.iter()
        .filter_map(|p| {
            b.iter()
                .find(|q| q.step == p.step)
                .map(|q| (p.mean, q.mean))
        })
        .unzip()
}

fn correlation(
    lid: &[StepMean],
    other: &[StepMean],
    what: &str,
    notes: &mut Vec<String>,
) -> Option<Correlation> {
    if lid.is_empty() || other.is_empty() {
        notes.push(format!("no {what}: Spearman(LID, {what}) not computed"));
        return None;
    }
    let (x, y) = paired(lid, other);
    match lid_core::stats::spearman(&x, &y) {
        Ok(rho) => Some(Correlation {
            spearman: rho,
            checkpoints: x.len(),
        }),
        Err(e) => {
            notes.push(format!("Spearman(LID, {what}) undefined: {e}"));
            None
        }
    }
}

/// Analyses the rows of a merged series (see the module docs). `splits` gives the split order,
/// `analysed_split` the split of the markers, `max_lag` the lead-lag's largest lag.
pub fn analyse(
    rows: &[SeriesRow],
    splits: &[String],
    analysed_split: &str,
    max_lag: usize,
) -> SeriesAnalysis {
    // Metrics belong to checkpoints: one value per (seed, step), whichever split's row holds it.
    let mut per_checkpoint: BTreeMap<(u64, u64), (Option<f64>, Option<f64>)> = BTreeMap::new();
    for r in rows {
        per_checkpoint
            .entry((r.seed, r.step))
            .or_insert((r.metric, r.val_loss));
    }
    let metric = seed_means(
        per_checkpoint
            .iter()
            .filter_map(|(&(seed, step), &(m, _))| Some((seed, step, m?))),
    );
    let val_loss = seed_means(
        per_checkpoint
            .iter()
            .filter_map(|(&(seed, step), &(_, l))| Some((seed, step, l?))),
    );
    let metric_saturation_step = saturation_step(&metric);
    let loss_values: Vec<f64> = val_loss.iter().map(|p| p.mean).collect();
    let val_loss_minimum_step = minimum_index(&loss_values, 0).map(|i| val_loss[i].step);
    let splits = splits
        .iter()
        .map(|split| {
            let split_rows: Vec<&SeriesRow> = rows.iter().filter(|r| &r.split == split).collect();
            let lid = seed_means(split_rows.iter().map(|r| (r.seed, r.step, r.mean_lid)));
            let mut notes = Vec::new();
            let spearman_lid_metric = correlation(&lid, &metric, "metric", &mut notes);
            let spearman_lid_val_loss = correlation(&lid, &val_loss, "validation loss", &mut notes);
            let spearman_lid_val_loss_from_minimum = val_loss_minimum_step.and_then(|from| {
                let late = |p: &[StepMean]| -> Vec<StepMean> {
                    p.iter().filter(|q| q.step >= from).copied().collect()
                };
                correlation(
                    &late(&lid),
                    &late(&val_loss),
                    "validation loss from its minimum on",
                    &mut notes,
                )
            });
            let values: Vec<f64> = lid.iter().map(|p| p.mean).collect();
            let change_point = match lid_core::stats::change_point(&values) {
                Ok(c) => Some(ChangePointAt {
                    step: lid[c.index].step,
                    mean_before: c.mean_before,
                    mean_after: c.mean_after,
                    variance_explained: 1.0 - c.split_sse / c.total_sse,
                }),
                Err(e) => {
                    notes.push(format!("no LID change point: {e}"));
                    None
                }
            };
            let lead_lag = if metric.is_empty() {
                None
            } else {
                let (x, y) = paired(&lid, &metric);
                let falling: Vec<f64> = x.iter().map(|v| -v).collect();
                let lag = max_lag.min(x.len().saturating_sub(3));
                match lid_core::stats::lead_lag(&falling, &y, lag) {
                    Ok(c) => Some(LeadLag {
                        lag: c.lag,
                        correlation: c.correlation,
                        pairs: c.pairs,
                        max_lag: lag,
                    }),
                    Err(e) => {
                        notes.push(format!("no lead-lag of LID against the metric: {e}"));
                        None
                    }
                }
            };
            SplitAnalysis {
                split: split.clone(),
                lid_stabilisation_step: stabilisation_step(&lid),
                stabilisation_band: stabilisation_band(&lid),
                lid_minimum: lid_minimum(&lid, &split_rows),
                lid,
                spearman_lid_metric,
                spearman_lid_val_loss,
                spearman_lid_val_loss_from_minimum,
                change_point,
                lead_lag,
                notes,
            }
        })
        .collect();
    SeriesAnalysis {
        analysed_split: analysed_split.to_string(),
        metric,
        val_loss,
        metric_saturation_step,
        val_loss_minimum_step,
        splits,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_on_small_series() {
        // Saturation: max 0.5, 99 % = 0.495; first reached at index 3.
        assert_eq!(
            saturation_index(&[0.1, 0.3, 0.49, 0.496, 0.5, 0.45]),
            Some(3)
        );
        assert_eq!(saturation_index(&[0.0, 0.0]), None);
        assert_eq!(saturation_index(&[]), None);
        // Stabilisation: range 10, band 1 around the last value 2.
        assert_eq!(
            stabilisation_index(&[12.0, 8.0, 3.5, 2.9, 1.5, 2.0], 1.0),
            Some(3)
        );
        // A value leaving the band late moves the step after it.
        assert_eq!(
            stabilisation_index(&[12.0, 2.0, 2.5, 3.2, 2.0], 1.0),
            Some(4)
        );
        assert_eq!(stabilisation_index(&[5.0, 5.0], 0.0), Some(0));
        assert_eq!(stabilisation_index(&[], 1.0), None);
        // Minimum: first on ties, from an index.
        assert_eq!(minimum_index(&[1.0, 3.0, 2.0, 2.0, 4.0], 1), Some(2));
        assert_eq!(minimum_index(&[1.0, 3.0, 2.0, 2.0, 4.0], 0), Some(0));
        assert_eq!(minimum_index(&[1.0], 1), None);
    }

    #[test]
    fn seed_means_and_rises() {
        let rows: Vec<SeriesRow> = [(1, 10, 9.0), (2, 10, 11.0), (1, 20, 7.0), (2, 20, 8.0)]
            .iter()
            .map(|&(seed, step, lid)| SeriesRow {
                seed,
                step,
                split: "v".into(),
                mean_lid: lid,
                metric: None,
                val_loss: None,
            })
            .collect();
        let lid = seed_means(rows.iter().map(|r| (r.seed, r.step, r.mean_lid)));
        assert_eq!(lid.len(), 2);
        assert_eq!((lid[0].step, lid[0].mean, lid[0].seeds), (10, 10.0, 2));
        assert_eq!(lid[0].std, Some(2f64.sqrt()));
        // Two checkpoints: the minimum after the first is the last one; rise 0 for each seed.
        let refs: Vec<&SeriesRow> = rows.iter().collect();
        let m = lid_minimum(&lid, &refs).unwrap();
        assert_eq!(
            (m.step, m.rise, m.rise_std, m.seeds),
            (20, 0.0, Some(0.0), 2)
        );
        assert_eq!(m.rise_exceeds_std, Some(false));
    }

    fn means(points: &[(f64, Option<f64>)]) -> Vec<StepMean> {
        points
            .iter()
            .enumerate()
            .map(|(i, &(mean, std))| StepMean {
                step: 100 * i as u64,
                mean,
                std,
                seeds: if std.is_some() { 2 } else { 1 },
            })
            .collect()
    }

    /// The band is the larger of 0.1 x range and the mean seed std: a series whose range is small
    /// against the seed spread is stable from where it enters the seed-noise band, not from where it
    /// enters a tenth of its range.
    #[test]
    fn stabilisation_band_takes_the_seed_spread() {
        // Range 1.0 (term 0.1); seed stds 0.3 on average; last value 6.0.
        let series = means(&[
            (7.0, Some(0.3)),
            (6.4, Some(0.2)),
            (6.25, Some(0.4)),
            (6.1, Some(0.3)),
            (6.0, Some(0.3)),
        ]);
        let band = stabilisation_band(&series).unwrap();
        assert!((band.range_term - 0.1).abs() < 1e-12);
        assert!((band.seed_spread.unwrap() - 0.3).abs() < 1e-12);
        assert_eq!(band.band, band.seed_spread.unwrap());
        // |6.4 - 6.0| = 0.4 > 0.3: stable from index 2 (step 200); the range rule alone: step 300.
        assert_eq!(stabilisation_step(&series), Some(200));
        let values: Vec<f64> = series.iter().map(|p| p.mean).collect();
        assert_eq!(stabilisation_index(&values, band.range_term), Some(3));
        // One seed: the range term alone.
        let single = means(&[
            (7.0, None),
            (6.4, None),
            (6.25, None),
            (6.1, None),
            (6.0, None),
        ]);
        let band = stabilisation_band(&single).unwrap();
        assert_eq!((band.seed_spread, band.band), (None, band.range_term));
        assert_eq!(stabilisation_step(&single), Some(300));
        // A large range: the range term wins.
        let wide = means(&[
            (16.0, Some(0.1)),
            (8.0, Some(0.1)),
            (6.5, Some(0.1)),
            (6.0, Some(0.1)),
        ]);
        assert!((stabilisation_band(&wide).unwrap().band - 1.0).abs() < 1e-12);
        assert_eq!(stabilisation_step(&wide), Some(200));
        assert_eq!(stabilisation_band(&[]), None);
    }

    /// Spearman from the validation-loss minimum on uses that step and the later ones only.
    #[test]
    fn spearman_from_the_validation_loss_minimum() {
        // Loss falls to step 200, then rises; LID falls throughout until step 200, then rises.
        let lid = [9.0, 8.0, 7.0, 7.5, 8.0, 8.5];
        let loss = [3.0, 2.0, 1.0, 1.2, 1.1, 1.5];
        let rows: Vec<SeriesRow> = lid
            .iter()
            .zip(loss)
            .enumerate()
            .map(|(i, (&l, v))| SeriesRow {
                seed: 1,
                step: 100 * i as u64,
                split: "train".into(),
                mean_lid: l,
                metric: Some(i as f64),
                val_loss: Some(v),
            })
            .collect();
        let a = analyse(&rows, &["train".into()], "train", 2);
        assert_eq!(a.val_loss_minimum_step, Some(200));
        let s = &a.splits[0];
        let late = s.spearman_lid_val_loss_from_minimum.unwrap();
        assert_eq!(late.checkpoints, 4);
        // LID 7, 7.5, 8, 8.5 against loss 1.0, 1.2, 1.1, 1.5: ranks (1,2,3,4) vs (1,3,2,4): 0.8.
        assert!((late.spearman - 0.8).abs() < 1e-12, "{}", late.spearman);
        assert!(s.spearman_lid_val_loss.unwrap().checkpoints == 6);
    }
}
