//! Figures of the grokking study, all from [`crate::run::plot`], each mean +- std over the dataset
//! seeds of a fraction ([`crate::run::aggregate::band_over_runs`]):
//! - [`lid_by_fraction`]: mean local LID (training probe) against the step, one line per fraction;
//! - [`val_acc_by_fraction`]: validation accuracy against the step, one line per fraction;
//! - [`fraction_panels`]: for one fraction, mean LID (training and validation probes), accuracy and
//!   loss stacked on one step axis, with markers at the mean LID-peak and onset steps.

use super::analysis::FractionRow;
use super::train::MetricsRow;
use crate::run::aggregate::band_over_runs;
use crate::run::plot::{LinePlot, Marker, Panel, Series, StackedPlot};

/// All runs of one fraction.
pub struct FractionRuns<'a> {
    /// Training fraction.
    pub fraction: f64,
    /// Metrics rows of every seed.
    pub runs: Vec<&'a [MetricsRow]>,
}

/// Mean +- std over the runs of `value` at the steps where it is defined.
fn band(
    label: String,
    runs: &[&[MetricsRow]],
    value: impl Fn(&MetricsRow) -> Option<f64>,
) -> Option<Series> {
    let curves: Vec<Vec<(f64, f64)>> = runs
        .iter()
        .map(|rows| {
            rows.iter()
                .filter_map(|r| value(r).map(|v| (r.step as f64, v)))
                .collect()
        })
        .collect();
    let points = band_over_runs(&curves);
    (!points.is_empty()).then(|| Series::band(label, &points))
}

fn seeds_note(groups: &[FractionRuns<'_>]) -> String {
    let n: Vec<usize> = groups.iter().map(|g| g.runs.len()).collect();
    match (n.iter().min(), n.iter().max()) {
        (Some(1), Some(1)) => "one seed".into(),
        (Some(a), Some(b)) if a == b => format!("mean ± std over {a} seeds"),
        _ => "mean ± std over seeds".into(),
    }
}

/// Mean local LID of the training probe against the step, one line per fraction.
pub fn lid_by_fraction(groups: &[FractionRuns<'_>]) -> Option<LinePlot> {
    let series: Vec<Series> = groups
        .iter()
        .filter_map(|g| {
            band(format!("fraction {:.2}", g.fraction), &g.runs, |r| {
                r.train_probe.as_ref().map(|p| p.mean)
            })
        })
        .collect();
    (!series.is_empty()).then(|| LinePlot {
        title: format!(
            "Mean local LID of the last block, training sequences ({})",
            seeds_note(groups)
        ),
        x_label: "training step".into(),
        y_label: "mean local LID".into(),
        integer_x: true,
        series,
        reference_lines: Vec::new(),
        y_range: None,
    })
}

/// Validation accuracy against the step, one line per fraction.
pub fn val_acc_by_fraction(groups: &[FractionRuns<'_>]) -> Option<LinePlot> {
    let series: Vec<Series> = groups
        .iter()
        .filter_map(|g| {
            band(format!("fraction {:.2}", g.fraction), &g.runs, |r| {
                Some(r.val_acc)
            })
        })
        .collect();
    (!series.is_empty()).then(|| LinePlot {
        title: format!("Validation accuracy ({})", seeds_note(groups)),
        x_label: "training step".into(),
        y_label: "validation accuracy".into(),
        integer_x: true,
        series,
        reference_lines: Vec::new(),
        y_range: Some((0.0, 1.02)),
    })
}

/// LID, accuracy and loss of one fraction on one step axis, with the mean LID-peak and onset steps
/// of `row` as markers.
pub fn fraction_panels(group: &FractionRuns<'_>, row: Option<&FractionRow>) -> StackedPlot {
    let runs = &group.runs;
    let lid: Vec<Series> = [
        band("training probe".into(), runs, |r| {
            r.train_probe.as_ref().map(|p| p.mean)
        }),
        band("validation probe".into(), runs, |r| {
            r.val_probe.as_ref().map(|p| p.mean)
        }),
    ]
    .into_iter()
    .flatten()
    .collect();
    let acc: Vec<Series> = [
        band("training".into(), runs, |r| Some(r.train_acc)),
        band("validation".into(), runs, |r| Some(r.val_acc)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let loss: Vec<Series> = [
        band("training".into(), runs, |r| Some(r.train_loss)),
        band("validation".into(), runs, |r| Some(r.val_loss)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut panels = Vec::new();
    if !lid.is_empty() {
        panels.push(Panel::new("mean local LID", lid));
    }
    if !acc.is_empty() {
        let mut p = Panel::new("accuracy", acc);
        p.y_range = Some((0.0, 1.02));
        panels.push(p);
    }
    if !loss.is_empty() {
        panels.push(Panel::new("cross-entropy", loss));
    }
    let mut markers = Vec::new();
    if let Some(row) = row {
        if let Some(m) = &row.lid_peak_step {
            markers.push(Marker {
                label: "LID peak".into(),
                x: m.mean,
            });
        }
        if let Some(m) = &row.onset_step {
            markers.push(Marker {
                label: "val-acc onset".into(),
                x: m.mean,
            });
        }
    }
    StackedPlot {
        title: format!(
            "Training fraction {:.2} ({})",
            group.fraction,
            seeds_note(std::slice::from_ref(group))
        ),
        x_label: "training step".into(),
        integer_x: true,
        panels,
        markers,
    }
}
