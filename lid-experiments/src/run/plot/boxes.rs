//! [`BoxPlot`]: horizontal box plots, one row per group, with known values marked.
//!
//! Horizontal, because group names (manifolds, estimators, corpora) are long and many: each name
//! sits left of its row, right-aligned, at any count, where vertical boxes would need rotated or
//! overlapping tick labels. The figure grows by one row height per group.
//!
//! Per row: box from the 25 % to the 75 % quantile (numpy's linear interpolation) in the row's
//! class colour, a black bar at the median, whiskers to the most extreme values within 1.5 IQR of
//! the box (Tukey), an open circle at the mean, and, when the row has one, its known value
//! (`reference`, e.g. the true dimension) as a vertical bar in the reference colour. Values beyond
//! the whiskers are counted in [`BoxStats::outliers`] (written to the study's tables), not drawn:
//! 60,000 pointwise estimates would bury the boxes. An optional dashed line marks one value for all
//! rows (e.g. estimate / truth = 1). Rows can be coloured by class (e.g. sample size) with a legend.
//!
//! ```
//! use lid_experiments::run::plot::{BoxPlot, BoxRow};
//! let plot = BoxPlot {
//!     title: "pointwise TwoNN per manifold".into(),
//!     value_label: "local dimension".into(),
//!     rows: vec![BoxRow::new("ball(5)", vec![4.1, 4.8, 5.0, 5.3, 6.0]).reference(5.0)],
//!     classes: vec![],
//!     reference_label: "true dimension".into(),
//!     reference_line: None,
//! };
//! let stats = plot.stats().unwrap();
//! assert_eq!(stats[0].median, 5.0);
//! lid_experiments::run::plot::render_png(&plot).unwrap();
//! ```

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::{Error, Result};
use crate::run::plot::lines::RefLine;
use crate::run::plot::style::{
    color, draw_err, draw_legend, extent, font, format_number, legend_width, padded, LegendEntry,
    LegendMark, LABEL_SIZE, LEGEND_SIZE, REFERENCE_COLOR, TICK_SIZE, TITLE_SIZE,
};

/// One row of a [`BoxPlot`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BoxRow {
    /// Name shown left of the row.
    pub label: String,
    /// The distribution.
    pub values: Vec<f64>,
    /// Known value of this row (marked), if any.
    pub reference: Option<f64>,
    /// Colour class (index into [`BoxPlot::classes`] and the palette).
    pub class: usize,
}

impl BoxRow {
    /// A row of class 0 without a known value.
    pub fn new(label: impl Into<String>, values: Vec<f64>) -> Self {
        Self {
            label: label.into(),
            values,
            reference: None,
            class: 0,
        }
    }

    /// Marks a known value.
    pub fn reference(mut self, value: f64) -> Self {
        self.reference = Some(value);
        self
    }

    /// Sets the colour class.
    pub fn class(mut self, class: usize) -> Self {
        self.class = class;
        self
    }
}

/// Horizontal box plots (see the module docs).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BoxPlot {
    /// Title.
    pub title: String,
    /// Description of the value axis (horizontal).
    pub value_label: String,
    /// Rows, top to bottom.
    pub rows: Vec<BoxRow>,
    /// Legend names of the colour classes; empty for a single class (no legend entry).
    pub classes: Vec<String>,
    /// Legend name of the per-row known values (e.g. `"true dimension"`).
    pub reference_label: String,
    /// A dashed vertical line at one value for every row.
    pub reference_line: Option<RefLine>,
}

/// The numbers of one box.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct BoxStats {
    /// Lower whisker.
    pub whisker_low: f64,
    /// 25 % quantile.
    pub q25: f64,
    /// Median.
    pub median: f64,
    /// 75 % quantile.
    pub q75: f64,
    /// Upper whisker.
    pub whisker_high: f64,
    /// Mean.
    pub mean: f64,
    /// Values outside the whiskers.
    pub outliers: usize,
    /// Number of values.
    pub count: usize,
}

impl BoxStats {
    /// The numbers of a box of `values` (see the module docs).
    ///
    /// # Errors
    /// [`Error::Core`] for no values or a non-finite one.
    pub fn of(values: &[f64]) -> Result<Self> {
        let s = lid_core::stats::describe(values)?;
        let iqr = s.q75 - s.q25;
        let (lo_fence, hi_fence) = (s.q25 - 1.5 * iqr, s.q75 + 1.5 * iqr);
        let inside = || {
            values
                .iter()
                .copied()
                .filter(|&v| v >= lo_fence && v <= hi_fence)
        };
        Ok(Self {
            whisker_low: inside().fold(f64::INFINITY, f64::min),
            q25: s.q25,
            median: s.median,
            q75: s.q75,
            whisker_high: inside().fold(f64::NEG_INFINITY, f64::max),
            mean: s.mean,
            outliers: values.len() - inside().count(),
            count: s.count,
        })
    }
}

const ROW_HEIGHT: u32 = 30;
const TOP: u32 = 50;
const BOTTOM: u32 = 72;
const WIDTH: u32 = 1100;

impl BoxPlot {
    /// The numbers of every row, in order.
    ///
    /// # Errors
    /// [`Error::Figure`] for a plot without rows or a row without finite values.
    pub fn stats(&self) -> Result<Vec<BoxStats>> {
        if self.rows.is_empty() {
            return Err(Error::figure(&self.title, "no rows"));
        }
        self.rows
            .iter()
            .map(|r| {
                BoxStats::of(&r.values)
                    .map_err(|e| Error::figure(&self.title, format!("row `{}`: {e}", r.label)))
            })
            .collect()
    }

    /// Pixel size (grows with the rows).
    pub fn size(&self) -> (u32, u32) {
        // At least enough height for the legend and the key beside the rows.
        (
            WIDTH,
            (TOP + BOTTOM + ROW_HEIGHT * self.rows.len().max(1) as u32).max(300),
        )
    }

    fn legend(&self) -> Vec<LegendEntry> {
        let mut entries: Vec<LegendEntry> = if self.classes.len() > 1 {
            self.classes
                .iter()
                .enumerate()
                .map(|(i, c)| LegendEntry {
                    label: c.clone(),
                    color: color(i),
                    mark: LegendMark::Swatch,
                })
                .collect()
        } else {
            Vec::new()
        };
        if self.rows.iter().any(|r| r.reference.is_some()) {
            entries.push(LegendEntry {
                label: self.reference_label.clone(),
                color: REFERENCE_COLOR,
                mark: LegendMark::Line,
            });
        }
        if let Some(r) = &self.reference_line {
            entries.push(LegendEntry {
                label: r.label.clone(),
                color: REFERENCE_COLOR,
                mark: LegendMark::Dashed,
            });
        }
        entries
    }

    pub(crate) fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let stats = self.stats()?;
        let err = draw_err::<DB::ErrorType>(&self.title);
        root.fill(&WHITE).map_err(&err)?;
        let body = root.titled(&self.title, font(TITLE_SIZE)).map_err(&err)?;
        let entries = self.legend();
        let key = [
            "box: 25-75 %",
            "black bar: median",
            "circle: mean",
            "whiskers: 1.5 IQR",
        ];
        let key_entries: Vec<LegendEntry> = key
            .iter()
            .map(|k| LegendEntry {
                label: (*k).to_string(),
                color: WHITE,
                mark: LegendMark::Line,
            })
            .collect();
        let lw = legend_width(&body, &entries).max(legend_width(&body, &key_entries));
        let (plot_area, legend_area) = body.split_horizontally(body.dim_in_pixel().0 - lw);

        let label_style = font(LEGEND_SIZE);
        let label_width = self
            .rows
            .iter()
            .map(|r| {
                plot_area
                    .estimate_text_size(&r.label, &label_style)
                    .map_or(r.label.chars().count() as u32 * 9, |(w, _)| w)
            })
            .max()
            .unwrap_or(0)
            + 16;

        let n = self.rows.len();
        let (v0, v1) = extent(
            stats
                .iter()
                .flat_map(|s| [s.whisker_low, s.whisker_high, s.mean])
                .chain(self.rows.iter().filter_map(|r| r.reference))
                .chain(self.reference_line.iter().map(|r| r.y)),
        )
        .map(|(a, b)| padded(a, b, 0.04))
        .unwrap_or((0.0, 1.0));
        let mut chart = ChartBuilder::on(&plot_area)
            .margin(12)
            .x_label_area_size(56)
            .y_label_area_size(label_width)
            .build_cartesian_2d(v0..v1, -0.5..(n as f64 - 0.5))
            .map_err(&err)?;
        let formatter = |v: &f64| format_number(*v);
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .x_labels(((plot_area.dim_in_pixel().0 - label_width) / 90).max(2) as usize)
            .x_label_formatter(&formatter)
            .label_style(font(TICK_SIZE))
            .axis_desc_style(font(LABEL_SIZE))
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.08))
            .x_desc(&self.value_label)
            .draw()
            .map_err(&err)?;

        // Row i is drawn at y = n - 1 - i, so the first row is at the top.
        let y_of = |i: usize| (n - 1 - i) as f64;
        for i in (0..n).filter(|i| i % 2 == 1) {
            let y = y_of(i);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(v0, y - 0.5), (v1, y + 0.5)],
                    BLACK.mix(0.035).filled(),
                )))
                .map_err(&err)?;
        }
        if let Some(r) = &self.reference_line {
            chart
                .draw_series(DashedLineSeries::new(
                    [(r.y, -0.5), (r.y, n as f64 - 0.5)],
                    9,
                    6,
                    REFERENCE_COLOR.stroke_width(2),
                ))
                .map_err(&err)?;
        }
        for (i, (row, s)) in self.rows.iter().zip(&stats).enumerate() {
            let y = y_of(i);
            let c = color(row.class);
            let h = 0.32;
            chart
                .draw_series([
                    PathElement::new(vec![(s.whisker_low, y), (s.q25, y)], BLACK.stroke_width(1)),
                    PathElement::new(vec![(s.q75, y), (s.whisker_high, y)], BLACK.stroke_width(1)),
                    PathElement::new(
                        vec![(s.whisker_low, y - h / 2.0), (s.whisker_low, y + h / 2.0)],
                        BLACK.stroke_width(1),
                    ),
                    PathElement::new(
                        vec![(s.whisker_high, y - h / 2.0), (s.whisker_high, y + h / 2.0)],
                        BLACK.stroke_width(1),
                    ),
                ])
                .map_err(&err)?;
            chart
                .draw_series([
                    Rectangle::new([(s.q25, y - h), (s.q75, y + h)], c.mix(0.45).filled()),
                    Rectangle::new([(s.q25, y - h), (s.q75, y + h)], c.stroke_width(1)),
                ])
                .map_err(&err)?;
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(s.median, y - h), (s.median, y + h)],
                    BLACK.stroke_width(3),
                )))
                .map_err(&err)?;
            chart
                .draw_series([
                    Circle::new((s.mean, y), 4, WHITE.filled()),
                    Circle::new((s.mean, y), 4, BLACK.stroke_width(1)),
                ])
                .map_err(&err)?;
            if let Some(truth) = row.reference {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(truth, y - 0.45), (truth, y + 0.45)],
                        REFERENCE_COLOR.stroke_width(3),
                    )))
                    .map_err(&err)?;
            }
            // The row's name, right-aligned left of the axis.
            let (px, py) = chart.backend_coord(&(v0, y));
            let (ax, ay) = (plot_area.get_base_pixel().0, plot_area.get_base_pixel().1);
            plot_area
                .draw_text(
                    &row.label,
                    &label_style.pos(Pos::new(HPos::Right, VPos::Center)),
                    (px - ax - 8, py - ay),
                )
                .map_err(&err)?;
        }
        draw_legend(&legend_area, &entries, 12, &self.title)?;
        // The key to the marks, in small grey text under the legend.
        let key_style = font(LEGEND_SIZE - 2)
            .color(&RGBColor(90, 90, 90))
            .pos(Pos::new(HPos::Left, VPos::Center));
        let top = 12 + crate::run::plot::style::legend_height(entries.len()) + 16;
        for (k, text) in key.iter().enumerate() {
            legend_area
                .draw_text(text, &key_style, (8, top + k as i32 * 20))
                .map_err(&err)?;
        }
        Ok(())
    }
}

super::impl_figure!(BoxPlot);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_follow_tukey() {
        let mut values: Vec<f64> = (0..100).map(|i| 6.0 + (i % 5) as f64 * 0.4).collect();
        values.push(30.0);
        let s = BoxStats::of(&values).unwrap();
        assert_eq!(s.outliers, 1);
        assert_eq!(s.count, 101);
        assert!(s.q25 <= s.median && s.median <= s.q75);
        assert_eq!(s.whisker_high, 7.6);
        let empty = BoxPlot {
            title: "e".into(),
            value_label: "v".into(),
            rows: vec![BoxRow::new("none", vec![])],
            classes: vec![],
            reference_label: String::new(),
            reference_line: None,
        };
        let err = empty.stats().unwrap_err().to_string();
        assert!(err.contains("none"), "{err}");
    }
}
