//! [`StackedPlot`]: several [`Panel`]s of lines stacked on one shared x axis (same range, same pixel
//! positions, tick labels only under the bottom panel), with optional labelled vertical
//! [`Marker`]s drawn through every panel.
//!
//! Made for training curves read together: mean LID on top, the task metric and the validation loss
//! below, with markers such as "LID stabilises" or "val loss minimum". Marker labels sit in a strip
//! above the top panel, in the marker's colour, staggered into as many rows as needed so that no two
//! overlap. Each panel has its own legend beside it.
//!
//! ```
//! use lid_experiments::run::plot::{Marker, Panel, Series, StackedPlot};
//! let steps = [0.0, 1000.0, 2000.0, 3000.0];
//! let plot = StackedPlot {
//!     title: "DST seed 40".into(),
//!     x_label: "step".into(),
//!     integer_x: true,
//!     panels: vec![
//!         Panel::new("mean LID", vec![Series::line("train", &[(0.0, 9.0), (1000.0, 8.0), (2000.0, 7.5), (3000.0, 7.5)])]),
//!         Panel::new("JGA", vec![Series::line("dev", &[(0.0, 0.1), (1000.0, 0.4), (2000.0, 0.55), (3000.0, 0.56)])]),
//!     ],
//!     markers: vec![Marker { label: "LID stabilises".into(), x: 2000.0 }],
//! };
//! let svg = lid_experiments::run::plot::render_svg(&plot).unwrap();
//! assert!(svg.contains("LID stabilises"));
//! # let _ = steps;
//! ```

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::{Error, Result};
use crate::run::plot::lines::{
    draw_panel, fit_y, legend_entries, PanelSpec, RefLine, Series, MARGIN, Y_AREA,
};
use crate::run::plot::style::{
    draw_err, draw_legend, extent, font, legend_width, padded, LEGEND_SIZE, TITLE_SIZE,
};

/// One panel: lines with their y axis.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Panel {
    /// Y axis description.
    pub y_label: String,
    /// The lines (colours restart at the first palette colour in every panel).
    pub series: Vec<Series>,
    /// Horizontal dashed lines.
    pub reference_lines: Vec<RefLine>,
    /// Fixed y range; `None` fits the data.
    pub y_range: Option<(f64, f64)>,
}

impl Panel {
    /// A panel of `series` with a fitted y range and no reference lines.
    pub fn new(y_label: impl Into<String>, series: Vec<Series>) -> Self {
        Self {
            y_label: y_label.into(),
            series,
            reference_lines: Vec::new(),
            y_range: None,
        }
    }
}

/// A labelled vertical line through every panel at `x`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Marker {
    /// Label shown above the top panel.
    pub label: String,
    /// Position on the shared x axis.
    pub x: f64,
}

/// Panels on one shared x axis with markers (see the module docs).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StackedPlot {
    /// Title.
    pub title: String,
    /// Shared x axis description (under the bottom panel).
    pub x_label: String,
    /// X values are integers: tick labels only at integers.
    pub integer_x: bool,
    /// Panels, top to bottom.
    pub panels: Vec<Panel>,
    /// Vertical markers.
    pub markers: Vec<Marker>,
}

const PANEL_HEIGHT: u32 = 230;
const BOTTOM_AXIS: u32 = 52;
const MARKER_ROW: i32 = 22;
const WIDTH: u32 = 1100;

/// Marker colours: black, dark slate, dark olive (cycling): readable on white and unlike the
/// Okabe-Ito colours of the series.
const MARKER_COLORS: [RGBColor; 3] = [
    RGBColor(0, 0, 0),
    RGBColor(70, 80, 110),
    RGBColor(110, 100, 30),
];

fn marker_color(i: usize) -> RGBColor {
    MARKER_COLORS[i % MARKER_COLORS.len()]
}

impl StackedPlot {
    fn check(&self) -> Result<()> {
        if self.panels.is_empty() {
            return Err(Error::figure(&self.title, "no panels"));
        }
        for (i, p) in self.panels.iter().enumerate() {
            if p.series.is_empty() {
                return Err(Error::figure(
                    &self.title,
                    format!("panel {i} has no series"),
                ));
            }
            for s in &p.series {
                s.check(&self.title)?;
            }
        }
        if let Some(m) = self.markers.iter().find(|m| !m.x.is_finite()) {
            return Err(Error::figure(
                &self.title,
                format!("marker `{}` is not at a finite x", m.label),
            ));
        }
        Ok(())
    }

    fn x_range(&self) -> (f64, f64) {
        extent(
            self.panels
                .iter()
                .flat_map(|p| p.series.iter().flat_map(|s| s.x.iter().copied()))
                .chain(self.markers.iter().map(|m| m.x)),
        )
        .map(|(a, b)| padded(a, b, 0.02))
        .unwrap_or((0.0, 1.0))
    }

    fn legend_entries(&self) -> Vec<Vec<crate::run::plot::style::LegendEntry>> {
        self.panels
            .iter()
            .map(|p| legend_entries(&p.series, &p.reference_lines))
            .collect()
    }

    /// Assigns each marker a label row so that labels in one row do not overlap; returns the rows and
    /// the number of rows. `px` maps an x value to its pixel column, `width` measures a label.
    fn label_rows(
        &self,
        px: impl Fn(f64) -> i32,
        width: impl Fn(&str) -> i32,
    ) -> (Vec<usize>, usize) {
        let mut order: Vec<usize> = (0..self.markers.len()).collect();
        order.sort_by(|&a, &b| self.markers[a].x.total_cmp(&self.markers[b].x));
        let mut row_ends: Vec<i32> = Vec::new();
        let mut rows = vec![0; self.markers.len()];
        for i in order {
            let w = width(&self.markers[i].label);
            let left = px(self.markers[i].x) - w / 2;
            let row = match row_ends.iter().position(|&end| end + 10 <= left) {
                Some(r) => r,
                None => {
                    row_ends.push(i32::MIN);
                    row_ends.len() - 1
                }
            };
            row_ends[row] = left + w;
            rows[i] = row;
        }
        (rows, row_ends.len())
    }

    /// Pixel size (the height grows with the panels and the markers). The marker label rows are
    /// counted while drawing; the panels share whatever height the labels leave.
    pub fn size(&self) -> (u32, u32) {
        let rows = self.markers.len().min(3) as u32;
        (
            WIDTH,
            TITLE_SIZE
                + 30
                + rows * MARKER_ROW as u32
                + 8
                + self.panels.len() as u32 * PANEL_HEIGHT
                + BOTTOM_AXIS,
        )
    }

    pub(crate) fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        self.check()?;
        let err = draw_err::<DB::ErrorType>(&self.title);
        root.fill(&WHITE).map_err(&err)?;
        let body = root.titled(&self.title, font(TITLE_SIZE)).map_err(&err)?;
        let legends = self.legend_entries();
        let lw = legends
            .iter()
            .map(|e| legend_width(&body, e))
            .max()
            .unwrap_or(0);
        let (width, height) = body.dim_in_pixel();
        let plot_width = width - lw;
        let x_range = self.x_range();
        // The plotting area of every panel spans these pixel columns (margin + y label area on the
        // left, margin on the right), so marker labels can be placed before the panels are drawn.
        let (left, right) = ((MARGIN + Y_AREA) as i32, plot_width as i32 - MARGIN as i32);
        let px = |x: f64| {
            left + ((x - x_range.0) / (x_range.1 - x_range.0) * f64::from(right - left)) as i32
        };
        let label_style = font(LEGEND_SIZE);
        let text_width = |t: &str| {
            body.estimate_text_size(t, &label_style)
                .map_or(t.chars().count() as i32 * 9, |(w, _)| w as i32)
        };
        let (rows, n_rows) = self.label_rows(px, text_width);
        let strip = if self.markers.is_empty() {
            0
        } else {
            n_rows as i32 * MARKER_ROW + 8
        };
        let (strip_area, panels_area) = body.split_vertically(strip);
        let (panels_area, legend_column) = panels_area.split_horizontally(plot_width);
        let n = self.panels.len() as u32;
        let panel_h = (height - strip as u32 - BOTTOM_AXIS) / n;
        let mut breaks: Vec<u32> = (1..n).map(|i| i * panel_h).collect();
        breaks.dedup();
        let areas = panels_area.split_by_breakpoints::<u32, u32, _, _>(Vec::<u32>::new(), breaks);
        let legend_areas = legend_column.split_by_breakpoints::<u32, u32, _, _>(
            Vec::<u32>::new(),
            (1..n).map(|i| i * panel_h).collect::<Vec<_>>(),
        );
        let vertical: Vec<(f64, RGBColor)> = self
            .markers
            .iter()
            .enumerate()
            .map(|(i, m)| (m.x, marker_color(i)))
            .collect();
        for (i, (panel, area)) in self.panels.iter().zip(&areas).enumerate() {
            let bottom = i + 1 == self.panels.len();
            let y_range = panel
                .y_range
                .unwrap_or_else(|| fit_y(&panel.series, &panel.reference_lines));
            draw_panel(
                area,
                &PanelSpec {
                    figure: &self.title,
                    series: &panel.series,
                    reference_lines: &panel.reference_lines,
                    x_range,
                    y_range,
                    x_label: bottom.then_some(self.x_label.as_str()),
                    y_label: &panel.y_label,
                    integer_x: self.integer_x,
                    vertical: &vertical,
                    x_area: if bottom { BOTTOM_AXIS } else { 0 },
                },
            )?;
            draw_legend(&legend_areas[i], &legends[i], MARGIN as i32, &self.title)?;
        }
        for (i, m) in self.markers.iter().enumerate() {
            let c = marker_color(i);
            let style = font(LEGEND_SIZE)
                .color(&c)
                .pos(Pos::new(HPos::Center, VPos::Center));
            let w = text_width(&m.label);
            // Keep the label inside the plotting columns.
            let x = px(m.x).clamp(left + w / 2, (right - w / 2).max(left + w / 2));
            let y = 4 + rows[i] as i32 * MARKER_ROW + MARKER_ROW / 2;
            strip_area
                .draw_text(&m.label, &style, (x, y))
                .map_err(&err)?;
        }
        Ok(())
    }
}

super::impl_figure!(StackedPlot);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_marker_labels_go_to_separate_rows() {
        let plot = StackedPlot {
            title: "t".into(),
            x_label: "x".into(),
            integer_x: true,
            panels: vec![Panel::new(
                "y",
                vec![Series::line("a", &[(0.0, 1.0), (100.0, 2.0)])],
            )],
            markers: vec![
                Marker {
                    label: "first".into(),
                    x: 50.0,
                },
                Marker {
                    label: "second".into(),
                    x: 51.0,
                },
                Marker {
                    label: "far".into(),
                    x: 95.0,
                },
            ],
        };
        // 10 pixels per unit, labels 60 pixels wide: 50 and 51 collide, 95 does not.
        let (rows, n) = plot.label_rows(|x| (x * 10.0) as i32, |_| 60);
        assert_eq!(rows, vec![0, 1, 0]);
        assert_eq!(n, 2);
    }
}
