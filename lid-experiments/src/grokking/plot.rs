//! Figures of the grokking study: one column per training fraction; top row training and validation
//! accuracy, bottom row mean local LID (training and validation probes), each the mean over seeds with
//! a ± one standard deviation band. Written as SVG and PNG with plotters.

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::train::MetricsRow;

/// All runs of one fraction: `(seed, rows)`.
pub struct FractionRuns<'a> {
    /// Training fraction.
    pub fraction: f64,
    /// Rows of every seed.
    pub runs: Vec<&'a [MetricsRow]>,
}

/// A mean ± std curve over seeds at the steps where `value` is defined in the first run.
fn band(
    runs: &[&[MetricsRow]],
    value: impl Fn(&MetricsRow) -> Option<f64>,
) -> Vec<(f64, f64, f64)> {
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    first
        .iter()
        .filter(|r| value(r).is_some())
        .filter_map(|r| {
            let vals: Vec<f64> = runs
                .iter()
                .filter_map(|run| run.iter().find(|x| x.step == r.step).and_then(&value))
                .collect();
            super::analysis::mean_std(vals).map(|(m, s, _)| (r.step as f64, m, s))
        })
        .collect()
}

/// A legend label, a colour and `(step, mean, std)` points.
type Curve<'a> = (&'a str, RGBColor, Vec<(f64, f64, f64)>);

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    y_label: &str,
    curves: &[Curve<'_>],
    y_range: Option<(f64, f64)>,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("plotting failed: {e:?}");
    let x_max = curves
        .iter()
        .flat_map(|c| c.2.iter().map(|p| p.0))
        .fold(1.0, f64::max);
    let (y_min, y_max) = y_range.unwrap_or_else(|| {
        let lo = curves
            .iter()
            .flat_map(|c| c.2.iter().map(|p| p.1 - p.2))
            .fold(f64::INFINITY, f64::min);
        let hi = curves
            .iter()
            .flat_map(|c| c.2.iter().map(|p| p.1 + p.2))
            .fold(f64::NEG_INFINITY, f64::max);
        if lo.is_finite() && hi.is_finite() && hi > lo {
            let pad = 0.05 * (hi - lo);
            (lo - pad, hi + pad)
        } else {
            (0.0, 1.0)
        }
    });
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(32)
        .y_label_area_size(44)
        .build_cartesian_2d(0.0..x_max, y_min..y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc(y_label)
        .x_labels(5)
        .y_labels(6)
        .draw()
        .map_err(err)?;
    for (name, color, points) in curves {
        if points.is_empty() {
            continue;
        }
        let mut polygon: Vec<(f64, f64)> = points.iter().map(|p| (p.0, p.1 + p.2)).collect();
        polygon.extend(points.iter().rev().map(|p| (p.0, p.1 - p.2)));
        chart
            .draw_series(std::iter::once(Polygon::new(polygon, color.mix(0.2))))
            .map_err(err)?;
        let color = *color;
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.0, p.1)),
                color.stroke_width(2),
            ))
            .map_err(err)?
            .label(*name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(err)?;
    Ok(())
}

fn draw_all<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    fractions: &[FractionRuns<'_>],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("plotting failed: {e:?}");
    root.fill(&WHITE).map_err(err)?;
    let cells = root.split_evenly((2, fractions.len().max(1)));
    let n = fractions.len();
    for (i, f) in fractions.iter().enumerate() {
        let runs = &f.runs;
        let acc = [
            ("train acc", BLUE, band(runs, |r| Some(r.train_acc))),
            ("val acc", RED, band(runs, |r| Some(r.val_acc))),
        ];
        let title = format!("frac {:.2} ({} seeds)", f.fraction, runs.len());
        draw_panel(&cells[i], &title, "accuracy", &acc, Some((0.0, 1.02)))?;
        let lid = [
            (
                "LID train",
                BLUE,
                band(runs, |r| r.train_probe.as_ref().map(|p| p.mean)),
            ),
            (
                "LID val",
                RED,
                band(runs, |r| r.val_probe.as_ref().map(|p| p.mean)),
            ),
        ];
        draw_panel(&cells[n + i], &title, "mean local LID", &lid, None)?;
    }
    root.present().map_err(err)?;
    Ok(())
}

/// Registers the DejaVu Sans bytes of the `dejavu` crate as plotters' `sans-serif` (plotters'
/// `ab_glyph` text needs font bytes; no system fonts are used). Same pattern as `crate::report`.
fn register_fonts() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // A failure (packaging bug) makes plotters skip text; it does not crash.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

/// Writes `<stem>.svg` and `<stem>.png` into `dir`.
///
/// # Errors
/// Plotting or I/O failure.
pub fn plot_study(dir: &Path, stem: &str, fractions: &[FractionRuns<'_>]) -> Result<()> {
    register_fonts();
    let size = (360 * fractions.len().max(1) as u32, 620);
    let svg = dir.join(format!("{stem}.svg"));
    draw_all(SVGBackend::new(&svg, size).into_drawing_area(), fractions)?;
    let png = dir.join(format!("{stem}.png"));
    draw_all(
        BitMapBackend::new(&png, size).into_drawing_area(),
        fractions,
    )?;
    Ok(())
}
