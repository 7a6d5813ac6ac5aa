//! [`LinePlot`]: one or more [`Series`] of a mean against a step (checkpoints, training steps, sample
//! sizes), each with an optional `mean +- std` band, plus optional horizontal reference lines.
//!
//! Made to stay readable with several series: Okabe-Ito colours in a fixed order, light bands (15 %
//! opacity) under solid 2-pixel lines, dots at the measured points (up to 60 per series), and the
//! legend in a column beside the axes, so it never covers data. With more than about five series of
//! overlapping bands, split them over panels ([`crate::run::plot::StackedPlot`]) or figures.
//!
//! ```
//! use lid_experiments::run::plot::{LinePlot, Series};
//! let plot = LinePlot {
//!     title: "mean local LID over training".into(),
//!     x_label: "step".into(),
//!     y_label: "mean LID".into(),
//!     integer_x: true,
//!     series: vec![Series::band("frac 0.30", &[(0.0, 9.0, 0.5), (500.0, 7.5, 0.4), (1000.0, 6.0, 0.3)])],
//!     reference_lines: vec![],
//!     y_range: None,
//! };
//! let svg = lid_experiments::run::plot::render_svg(&plot).unwrap();
//! assert!(svg.contains("mean local LID over training"));
//! ```

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::run::plot::style::{
    color, draw_err, draw_legend, extent, font, format_number, label_count, legend_width, padded,
    LegendEntry, LegendMark, LABEL_SIZE, REFERENCE_COLOR, TICK_SIZE, TITLE_SIZE,
};

/// One line: `y` against `x`, with an optional band `y +- spread` (a standard deviation).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Series {
    /// Legend label.
    pub label: String,
    /// Positions (steps, checkpoints, sample sizes).
    pub x: Vec<f64>,
    /// Value at every position (a mean).
    pub y: Vec<f64>,
    /// Half-width of the band at every position (a standard deviation); `None` for no band.
    pub spread: Option<Vec<f64>>,
}

impl Series {
    /// A line without a band from `(x, y)` points.
    pub fn line(label: impl Into<String>, points: &[(f64, f64)]) -> Self {
        Self {
            label: label.into(),
            x: points.iter().map(|p| p.0).collect(),
            y: points.iter().map(|p| p.1).collect(),
            spread: None,
        }
    }

    /// A line with a band from `(x, mean, std)` points (as [`crate::run::aggregate::band_over_runs`]
    /// returns them).
    pub fn band(label: impl Into<String>, points: &[(f64, f64, f64)]) -> Self {
        Self {
            label: label.into(),
            x: points.iter().map(|p| p.0).collect(),
            y: points.iter().map(|p| p.1).collect(),
            spread: Some(points.iter().map(|p| p.2).collect()),
        }
    }

    /// Checks lengths and values.
    ///
    /// # Errors
    /// [`Error::Figure`] for an empty series, mismatched lengths, a non-finite value or a negative
    /// spread.
    pub fn check(&self, figure: &str) -> Result<()> {
        let n = self.x.len();
        if n == 0 || self.y.len() != n || self.spread.as_ref().is_some_and(|s| s.len() != n) {
            return Err(Error::figure(
                figure,
                format!(
                    "series `{}` is empty or its x / y / spread lengths differ",
                    self.label
                ),
            ));
        }
        let values = self
            .x
            .iter()
            .chain(&self.y)
            .chain(self.spread.iter().flatten());
        if values.into_iter().any(|v| !v.is_finite()) {
            return Err(Error::figure(
                figure,
                format!("series `{}` has a non-finite value", self.label),
            ));
        }
        if self.spread.iter().flatten().any(|&s| s < 0.0) {
            return Err(Error::figure(
                figure,
                format!("series `{}` has a negative spread", self.label),
            ));
        }
        Ok(())
    }

    fn y_extent(&self) -> Option<(f64, f64)> {
        let s = |i: usize| self.spread.as_ref().map_or(0.0, |v| v[i]);
        extent((0..self.x.len()).flat_map(|i| [self.y[i] - s(i), self.y[i] + s(i)]))
    }
}

/// A horizontal dashed reference line (a true value, a target, a baseline).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RefLine {
    /// Legend label.
    pub label: String,
    /// The value.
    pub y: f64,
}

/// Mean +- std bands of several series against a step (see the module docs).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LinePlot {
    /// Title.
    pub title: String,
    /// X axis description.
    pub x_label: String,
    /// Y axis description.
    pub y_label: String,
    /// X values are integers (steps, sizes): tick labels only at integers.
    pub integer_x: bool,
    /// The lines.
    pub series: Vec<Series>,
    /// Horizontal dashed lines.
    pub reference_lines: Vec<RefLine>,
    /// Fixed y range (for example `(0, 1)` for accuracies); `None` fits the data.
    pub y_range: Option<(f64, f64)>,
}

/// Pixel width of the y axis label area of every line panel (the same in stacked panels, so their
/// x axes line up).
pub(crate) const Y_AREA: u32 = 78;
/// Margin around a panel.
pub(crate) const MARGIN: u32 = 12;

/// What one panel of lines draws.
pub(crate) struct PanelSpec<'a> {
    pub figure: &'a str,
    pub series: &'a [Series],
    pub reference_lines: &'a [RefLine],
    pub x_range: (f64, f64),
    pub y_range: (f64, f64),
    pub x_label: Option<&'a str>,
    pub y_label: &'a str,
    pub integer_x: bool,
    /// Vertical dashed lines `(x, colour)` across the panel.
    pub vertical: &'a [(f64, RGBColor)],
    pub x_area: u32,
}

/// The y range of series and reference lines, padded by 5 %.
pub(crate) fn fit_y(series: &[Series], refs: &[RefLine]) -> (f64, f64) {
    let lo_hi = extent(
        series
            .iter()
            .filter_map(Series::y_extent)
            .flat_map(|(a, b)| [a, b])
            .chain(refs.iter().map(|r| r.y)),
    )
    .unwrap_or((0.0, 1.0));
    padded(lo_hi.0, lo_hi.1, 0.05)
}

/// Legend entries of series and reference lines.
pub(crate) fn legend_entries(series: &[Series], refs: &[RefLine]) -> Vec<LegendEntry> {
    let mut entries: Vec<LegendEntry> = series
        .iter()
        .enumerate()
        .map(|(i, s)| LegendEntry {
            label: s.label.clone(),
            color: color(i),
            mark: LegendMark::Line,
        })
        .collect();
    entries.extend(refs.iter().map(|r| LegendEntry {
        label: r.label.clone(),
        color: REFERENCE_COLOR,
        mark: LegendMark::Dashed,
    }));
    entries
}

/// Draws axes, bands, lines, reference and vertical lines of one panel; returns the chart's pixel
/// range in x (for labels drawn outside it).
pub(crate) fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    spec: &PanelSpec<'_>,
) -> Result<std::ops::Range<i32>>
where
    DB::ErrorType: 'static,
{
    let err = draw_err::<DB::ErrorType>(spec.figure);
    let (x0, x1) = spec.x_range;
    let (y0, y1) = spec.y_range;
    let mut chart = ChartBuilder::on(area)
        .margin(MARGIN)
        .x_label_area_size(spec.x_area)
        .y_label_area_size(Y_AREA)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(&err)?;
    let width = area.dim_in_pixel().0;
    let x_labels = label_count(x0, x1, spec.integer_x, (width / 90).max(2) as usize);
    let formatter = |v: &f64| format_number(*v);
    // Panels without an x axis area keep the vertical grid lines but print no tick labels.
    let no_label = |_: &f64| String::new();
    let x_formatter: &dyn Fn(&f64) -> String = if spec.x_area > 0 {
        &formatter
    } else {
        &no_label
    };
    let mut mesh = chart.configure_mesh();
    mesh.x_labels(x_labels)
        .y_labels(6)
        .x_label_formatter(x_formatter)
        .y_label_formatter(&formatter)
        .label_style(font(TICK_SIZE))
        .axis_desc_style(font(LABEL_SIZE))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .y_desc(spec.y_label);
    if let Some(x_label) = spec.x_label {
        mesh.x_desc(x_label);
    }
    mesh.draw().map_err(&err)?;
    draw_lines(&mut chart, spec)?;
    Ok(chart.plotting_area().get_x_axis_pixel_range())
}

fn draw_lines<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    spec: &PanelSpec<'_>,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let err = draw_err::<DB::ErrorType>(spec.figure);
    let (x0, x1) = spec.x_range;
    let (y0, y1) = spec.y_range;
    for (i, s) in spec.series.iter().enumerate() {
        if let Some(spread) = &s.spread {
            let c = color(i);
            let upper =
                s.x.iter()
                    .zip(&s.y)
                    .zip(spread)
                    .map(|((&x, &y), &d)| (x, y + d));
            let lower: Vec<(f64, f64)> =
                s.x.iter()
                    .zip(&s.y)
                    .zip(spread)
                    .map(|((&x, &y), &d)| (x, y - d))
                    .collect();
            let polygon: Vec<(f64, f64)> = upper.chain(lower.into_iter().rev()).collect();
            chart
                .draw_series(std::iter::once(Polygon::new(polygon, c.mix(0.15).filled())))
                .map_err(&err)?;
        }
    }
    for &(x, c) in spec.vertical {
        chart
            .draw_series(DashedLineSeries::new(
                [(x, y0), (x, y1)],
                7,
                5,
                c.stroke_width(2),
            ))
            .map_err(&err)?;
    }
    for r in spec.reference_lines {
        chart
            .draw_series(DashedLineSeries::new(
                [(x0, r.y), (x1, r.y)],
                9,
                6,
                REFERENCE_COLOR.stroke_width(2),
            ))
            .map_err(&err)?;
    }
    for (i, s) in spec.series.iter().enumerate() {
        let c = color(i);
        let points: Vec<(f64, f64)> = s.x.iter().copied().zip(s.y.iter().copied()).collect();
        chart
            .draw_series(LineSeries::new(points.clone(), c.stroke_width(2)))
            .map_err(&err)?;
        if points.len() <= 60 {
            chart
                .draw_series(points.into_iter().map(|p| Circle::new(p, 3, c.filled())))
                .map_err(&err)?;
        }
    }
    Ok(())
}

impl LinePlot {
    fn check(&self) -> Result<()> {
        if self.series.is_empty() {
            return Err(Error::figure(&self.title, "no series"));
        }
        for s in &self.series {
            s.check(&self.title)?;
        }
        if let Some((lo, hi)) = self.y_range {
            if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                return Err(Error::figure(
                    &self.title,
                    "y range must be finite and increasing",
                ));
            }
        }
        Ok(())
    }

    /// Pixel size.
    pub fn size(&self) -> (u32, u32) {
        (1100, 620)
    }

    pub(crate) fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        self.check()?;
        let err = draw_err::<DB::ErrorType>(&self.title);
        root.fill(&WHITE).map_err(&err)?;
        let body = root.titled(&self.title, font(TITLE_SIZE)).map_err(&err)?;
        let entries = legend_entries(&self.series, &self.reference_lines);
        let lw = legend_width(&body, &entries);
        let (plot_area, legend_area) = body.split_horizontally(body.dim_in_pixel().0 - lw);
        let x_range = extent(self.series.iter().flat_map(|s| s.x.iter().copied()))
            .map(|(a, b)| padded(a, b, 0.02))
            .unwrap_or((0.0, 1.0));
        let y_range = self
            .y_range
            .unwrap_or_else(|| fit_y(&self.series, &self.reference_lines));
        draw_panel(
            &plot_area,
            &PanelSpec {
                figure: &self.title,
                series: &self.series,
                reference_lines: &self.reference_lines,
                x_range,
                y_range,
                x_label: Some(&self.x_label),
                y_label: &self.y_label,
                integer_x: self.integer_x,
                vertical: &[],
                x_area: 52,
            },
        )?;
        draw_legend(&legend_area, &entries, MARGIN as i32, &self.title)
    }
}

super::impl_figure!(LinePlot);
