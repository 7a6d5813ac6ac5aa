//! Per-run events (LID peak, onset of generalisation, lead time) and the table across fractions.
//!
//! Definitions (also in `docs/reproduction.md`):
//! - **Memorised** at the first measured step with training accuracy >= 0.99.
//! - **Plateau and onset**: the validation accuracy at the memorisation step is the plateau; the onset
//!   of generalisation is the first later step whose validation accuracy exceeds the plateau by
//!   `onset_margin` (default 0.1). No memorisation, no onset.
//! - **Early minimum**: the first probed step after step 0 whose mean local LID (training
//!   sequences) is lower than at the probe before it and not higher than at the probe after it (the
//!   first local minimum after initialisation); when the series has none, its lowest probe after 0.
//! - **LID peak**: the probed step after the early minimum with the largest mean LID (first on
//!   ties).
//! - **LID change point**: the first probed step of the second segment of the least-squares single
//!   mean change ([`lid_core::stats::change_point`]) of the LID series from the peak on (the step
//!   where LID settles at its lower level); none when fewer than 3 probes follow the peak.
//! - **Lead time**: onset step minus LID-peak step (positive: the LID peak comes first); **change
//!   lead**: onset step minus change-point step.
//! - **Generalised** at the first step with validation accuracy >= `grok_threshold` (default 0.9); a
//!   run **groks** when its final validation accuracy reaches `grok_threshold`.
//! - **Lead distribution** of a fraction ([`lead_spread`]): the leads of its runs that grok and
//!   have an onset, with mean, sample std (ddof 1), min and max. A run that does not grok but has
//!   an onset (validation accuracy creeping up by the margin) keeps its lead in the per-run table
//!   and in the mean over all runs with an onset ([`FractionRow::lead_steps`]), but not in this
//!   distribution: its onset is not a grokking event. A grokked run without an onset (validation
//!   accuracy already within the margin of its final level at memorisation) is counted, not given
//!   a lead.

use serde::{Deserialize, Serialize};

use super::train::MetricsRow;
use crate::run::{MeanStd, Table};
use crate::Result;

/// Events of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Training fraction.
    pub fraction: f64,
    /// Dataset seed.
    pub seed: u64,
    /// Final validation accuracy >= the grok threshold.
    pub grokked: bool,
    /// First step with training accuracy >= 0.99.
    pub memorised_step: Option<u64>,
    /// Validation accuracy at the memorisation step.
    pub plateau_val_acc: Option<f64>,
    /// First step after memorisation with validation accuracy > plateau + margin.
    pub onset_step: Option<u64>,
    /// First step with validation accuracy >= the grok threshold.
    pub generalised_step: Option<u64>,
    /// Step of the early minimum (first local minimum of the LID series after step 0).
    pub early_min_step: Option<u64>,
    /// Step of the largest mean LID after the early minimum (training probe).
    pub lid_peak_step: Option<u64>,
    /// The largest mean LID.
    pub lid_peak: Option<f64>,
    /// `onset_step - lid_peak_step`.
    pub lead_steps: Option<i64>,
    /// First step of the lower segment of the LID series' change point after the peak.
    pub lid_change_step: Option<u64>,
    /// `onset_step - lid_change_step`.
    pub change_lead_steps: Option<i64>,
    /// Mean LID at the last probe.
    pub final_lid: Option<f64>,
    /// Mean LID at the last probe on validation sequences.
    pub final_val_lid: Option<f64>,
    /// Final training accuracy.
    pub final_train_acc: f64,
    /// Final validation accuracy.
    pub final_val_acc: f64,
}

/// Finds the events of one run.
pub fn summarise_run(
    fraction: f64,
    seed: u64,
    rows: &[MetricsRow],
    grok_threshold: f64,
    onset_margin: f64,
) -> RunSummary {
    let last = rows.last();
    let memorised = rows.iter().find(|r| r.train_acc >= 0.99);
    let memorised_step = memorised.map(|r| r.step);
    let plateau_val_acc = memorised.map(|r| r.val_acc);
    let onset_step = memorised.and_then(|m| {
        rows.iter()
            .find(|r| r.step > m.step && r.val_acc > m.val_acc + onset_margin)
            .map(|r| r.step)
    });
    let generalised_step = rows
        .iter()
        .find(|r| r.val_acc >= grok_threshold)
        .map(|r| r.step);
    let probes: Vec<(u64, f64)> = rows
        .iter()
        .filter_map(|r| r.train_probe.as_ref().map(|p| (r.step, p.mean)))
        .collect();
    let early_min = early_minimum(&probes);
    let peak = early_min.and_then(|m| {
        probes
            .iter()
            .filter(|p| p.0 > m)
            .fold(None::<(u64, f64)>, |best, &(s, v)| match best {
                Some((_, bv)) if bv >= v => best,
                _ => Some((s, v)),
            })
    });
    let lid_change_step = peak.and_then(|(ps, _)| {
        let after: Vec<&(u64, f64)> = probes.iter().filter(|p| p.0 >= ps).collect();
        if after.len() < 3 {
            return None;
        }
        let values: Vec<f64> = after.iter().map(|p| p.1).collect();
        lid_core::stats::change_point(&values)
            .ok()
            .map(|c| after[c.index].0)
    });
    let final_val_acc = last.map_or(0.0, |r| r.val_acc);
    RunSummary {
        fraction,
        seed,
        grokked: final_val_acc >= grok_threshold,
        memorised_step,
        plateau_val_acc,
        onset_step,
        generalised_step,
        early_min_step: early_min,
        lid_peak_step: peak.map(|p| p.0),
        lid_peak: peak.map(|p| p.1),
        lead_steps: match (onset_step, peak) {
            (Some(o), Some((p, _))) => Some(o as i64 - p as i64),
            _ => None,
        },
        lid_change_step,
        change_lead_steps: match (onset_step, lid_change_step) {
            (Some(o), Some(c)) => Some(o as i64 - c as i64),
            _ => None,
        },
        final_lid: probes.last().map(|p| p.1),
        final_val_lid: rows
            .iter()
            .rev()
            .find_map(|r| r.val_probe.as_ref().map(|p| p.mean)),
        final_train_acc: last.map_or(0.0, |r| r.train_acc),
        final_val_acc,
    }
}

/// The early minimum of a probe series `(step, mean LID)` (see the module docs).
pub fn early_minimum(probes: &[(u64, f64)]) -> Option<u64> {
    let after: Vec<(usize, &(u64, f64))> =
        probes.iter().enumerate().filter(|(_, p)| p.0 > 0).collect();
    for &(i, &(step, v)) in &after {
        let lower_than_before = i > 0 && v < probes[i - 1].1;
        let not_above_next = probes.get(i + 1).is_none_or(|n| v <= n.1);
        if lower_than_before && not_above_next {
            return Some(step);
        }
    }
    after
        .iter()
        .min_by(|a, b| a.1 .1.total_cmp(&b.1 .1))
        .map(|(_, p)| p.0)
}

/// One line of the table across seeds for a fraction (mean and std over runs, [`MeanStd`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FractionRow {
    /// Training fraction.
    pub fraction: f64,
    /// Runs (seeds).
    pub runs: usize,
    /// Runs that grokked.
    pub grokked: usize,
    /// LID-peak step over runs.
    pub lid_peak_step: Option<MeanStd>,
    /// Onset step over runs that have one.
    pub onset_step: Option<MeanStd>,
    /// Lead time over runs that have one.
    pub lead_steps: Option<MeanStd>,
    /// Change-point lead over runs that have one.
    pub change_lead_steps: Option<MeanStd>,
    /// Final mean LID.
    pub final_lid: Option<MeanStd>,
    /// Final validation accuracy.
    pub final_val_acc: Option<MeanStd>,
}

/// Groups run summaries by fraction (in the order first seen).
pub fn table(summaries: &[RunSummary]) -> Vec<FractionRow> {
    let mut fractions: Vec<f64> = Vec::new();
    for s in summaries {
        if !fractions.contains(&s.fraction) {
            fractions.push(s.fraction);
        }
    }
    fractions
        .into_iter()
        .map(|f| {
            let runs: Vec<&RunSummary> = summaries.iter().filter(|s| s.fraction == f).collect();
            let ms = |values: Vec<f64>| MeanStd::of(&values);
            FractionRow {
                fraction: f,
                runs: runs.len(),
                grokked: runs.iter().filter(|r| r.grokked).count(),
                lid_peak_step: ms(runs
                    .iter()
                    .filter_map(|r| r.lid_peak_step.map(|x| x as f64))
                    .collect()),
                onset_step: ms(runs
                    .iter()
                    .filter_map(|r| r.onset_step.map(|x| x as f64))
                    .collect()),
                lead_steps: ms(runs
                    .iter()
                    .filter_map(|r| r.lead_steps.map(|x| x as f64))
                    .collect()),
                change_lead_steps: ms(runs
                    .iter()
                    .filter_map(|r| r.change_lead_steps.map(|x| x as f64))
                    .collect()),
                final_lid: ms(runs.iter().filter_map(|r| r.final_lid).collect()),
                final_val_acc: ms(runs.iter().map(|r| r.final_val_acc).collect()),
            }
        })
        .collect()
}

/// The table across fractions (`mean ± std` over seeds; `–` where no run has the event).
///
/// # Errors
/// Never (nine cells for nine columns; a row-length mismatch is a bug).
pub fn fraction_table(rows: &[FractionRow]) -> Result<Table> {
    let fmt = |x: &Option<MeanStd>, digits: usize| {
        x.as_ref().map_or("–".to_string(), |m| m.display(digits))
    };
    let mut t = Table::new([
        "fraction",
        "runs",
        "grokked",
        "LID peak step",
        "val-acc onset step",
        "lead (onset − peak)",
        "lead (onset − change point)",
        "final mean LID",
        "final val acc",
    ]);
    for r in rows {
        t.push_row([
            format!("{:.2}", r.fraction),
            r.runs.to_string(),
            r.grokked.to_string(),
            fmt(&r.lid_peak_step, 0),
            fmt(&r.onset_step, 0),
            fmt(&r.lead_steps, 0),
            fmt(&r.change_lead_steps, 0),
            fmt(&r.final_lid, 2),
            fmt(&r.final_val_acc, 3),
        ])?;
    }
    Ok(t)
}

/// The distribution of the lead over a fraction's grokked runs (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeadSpread {
    /// Training fraction.
    pub fraction: f64,
    /// Runs (seeds).
    pub runs: usize,
    /// Runs that grokked.
    pub grokked: usize,
    /// Leads of the grokked runs with an onset, in run order.
    pub leads: Vec<i64>,
    /// Mean and sample std of `leads`.
    pub mean_std: Option<MeanStd>,
    /// Smallest lead.
    pub min: Option<i64>,
    /// Largest lead.
    pub max: Option<i64>,
    /// Grokked runs whose LID peak comes before their onset (lead > 0).
    pub peak_first: usize,
}

/// The lead distribution per fraction, fractions in the order first seen.
pub fn lead_spread(summaries: &[RunSummary]) -> Vec<LeadSpread> {
    let mut fractions: Vec<f64> = Vec::new();
    for s in summaries {
        if !fractions.contains(&s.fraction) {
            fractions.push(s.fraction);
        }
    }
    fractions
        .into_iter()
        .map(|f| {
            let runs: Vec<&RunSummary> = summaries.iter().filter(|s| s.fraction == f).collect();
            let leads: Vec<i64> = runs
                .iter()
                .filter(|r| r.grokked)
                .filter_map(|r| r.lead_steps)
                .collect();
            LeadSpread {
                fraction: f,
                runs: runs.len(),
                grokked: runs.iter().filter(|r| r.grokked).count(),
                mean_std: MeanStd::of(&leads.iter().map(|&l| l as f64).collect::<Vec<_>>()),
                min: leads.iter().copied().min(),
                max: leads.iter().copied().max(),
                peak_first: leads.iter().filter(|&&l| l > 0).count(),
                leads,
            }
        })
        .collect()
}

/// The lead distribution as a table (`leads.csv` and the report).
///
/// # Errors
/// Never (nine cells for nine columns; a row-length mismatch is a bug).
pub fn lead_table(rows: &[LeadSpread]) -> Result<Table> {
    let opt = |x: Option<i64>| x.map_or("–".to_string(), |v| v.to_string());
    let mut t = Table::new([
        "fraction",
        "runs",
        "grokked",
        "grokked with a lead",
        "peak before onset",
        "lead mean ± std",
        "lead min",
        "lead max",
        "leads",
    ]);
    for r in rows {
        t.push_row([
            format!("{:.2}", r.fraction),
            r.runs.to_string(),
            r.grokked.to_string(),
            r.leads.len().to_string(),
            r.peak_first.to_string(),
            r.mean_std
                .as_ref()
                .map_or("–".to_string(), |m| m.display(0)),
            opt(r.min),
            opt(r.max),
            r.leads
                .iter()
                .map(|l| l.to_string())
                .collect::<Vec<_>>()
                .join(" "),
        ])?;
    }
    Ok(t)
}

/// One line per run with the events the report discusses (the report's per-run table; every
/// column is in `summary.csv`).
///
/// # Errors
/// Never (nine cells for nine columns; a row-length mismatch is a bug).
pub fn run_events_table(summaries: &[RunSummary]) -> Result<Table> {
    let step = |x: Option<u64>| x.map_or("–".to_string(), |v| v.to_string());
    let mut t = Table::new([
        "fraction",
        "seed",
        "memorised (val acc)",
        "LID peak (step)",
        "onset",
        "lead (onset − peak)",
        "change point",
        "final LID",
        "final val acc",
    ]);
    for s in summaries {
        t.push_row([
            format!("{:.2}", s.fraction),
            s.seed.to_string(),
            match (s.memorised_step, s.plateau_val_acc) {
                (Some(m), Some(v)) => format!("{m} ({v:.2})"),
                _ => "–".to_string(),
            },
            match (s.lid_peak, s.lid_peak_step) {
                (Some(v), Some(p)) => format!("{v:.2} ({p})"),
                _ => "–".to_string(),
            },
            step(s.onset_step),
            s.lead_steps.map_or("–".to_string(), |l| format!("{l:+}")),
            step(s.lid_change_step),
            s.final_lid.map_or("–".to_string(), |v| format!("{v:.2}")),
            format!(
                "{:.3}{}",
                s.final_val_acc,
                if s.grokked { " (groks)" } else { "" }
            ),
        ])?;
    }
    Ok(t)
}

/// The per-run summaries as a table (`summary.csv`).
///
/// # Errors
/// Never (seventeen cells for seventeen columns; a row-length mismatch is a bug).
pub fn runs_table(summaries: &[RunSummary]) -> Result<Table> {
    let opt = |x: Option<String>| x.unwrap_or_default();
    let mut t = Table::new([
        "fraction",
        "seed",
        "grokked",
        "memorised_step",
        "plateau_val_acc",
        "onset_step",
        "generalised_step",
        "early_min_step",
        "lid_peak_step",
        "lid_peak",
        "lead_steps",
        "lid_change_step",
        "change_lead_steps",
        "final_lid",
        "final_val_lid",
        "final_train_acc",
        "final_val_acc",
    ]);
    for s in summaries {
        t.push_row([
            s.fraction.to_string(),
            s.seed.to_string(),
            s.grokked.to_string(),
            opt(s.memorised_step.map(|v| v.to_string())),
            opt(s.plateau_val_acc.map(|v| v.to_string())),
            opt(s.onset_step.map(|v| v.to_string())),
            opt(s.generalised_step.map(|v| v.to_string())),
            opt(s.early_min_step.map(|v| v.to_string())),
            opt(s.lid_peak_step.map(|v| v.to_string())),
            opt(s.lid_peak.map(|v| v.to_string())),
            opt(s.lead_steps.map(|v| v.to_string())),
            opt(s.lid_change_step.map(|v| v.to_string())),
            opt(s.change_lead_steps.map(|v| v.to_string())),
            opt(s.final_lid.map(|v| v.to_string())),
            opt(s.final_val_lid.map(|v| v.to_string())),
            s.final_train_acc.to_string(),
            s.final_val_acc.to_string(),
        ])?;
    }
    Ok(t)
}
