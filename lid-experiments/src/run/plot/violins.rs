//! [`ViolinPlot`]: distributions of several variants side by side in every group, e.g. the local
//! LID of the base and the fine-tuned model (variants) per corpus (groups).
//!
//! Each violin is a Gaussian kernel density estimate (Silverman's bandwidth, `0.9 min(sd, IQR /
//! 1.34) n^(-1/5)`), evaluated on 120 points between the smallest and the largest value (no tails
//! beyond the data) and scaled to its own maximum, so that shapes, not sample sizes, are compared.
//! Inside: a black bar from the 25 % to the 75 % quantile and a white dot at the median. Variants
//! have the palette colours in order, named in the legend; group names are written centred under
//! their violins (the figure widens with the groups so that they never overlap). A distribution
//! whose values are all equal is drawn as a horizontal bar.
//!
//! ```
//! use lid_experiments::run::plot::{ViolinGroup, ViolinPlot};
//! let plot = ViolinPlot {
//!     title: "local LID, base vs fine-tuned".into(),
//!     y_label: "local LID".into(),
//!     variants: vec!["base".into(), "fine-tuned".into()],
//!     groups: vec![ViolinGroup {
//!         label: "MultiWOZ".into(),
//!         distributions: vec![vec![9.0, 9.5, 10.0, 10.2, 11.0], vec![7.0, 7.4, 8.0, 8.1, 9.0]],
//!     }],
//! };
//! lid_experiments::run::plot::render_svg(&plot).unwrap();
//! ```

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::{Error, Result};
use crate::run::plot::style::{
    color, draw_err, draw_legend, extent, font, format_number, legend_width, padded, LegendEntry,
    LegendMark, LABEL_SIZE, LEGEND_SIZE, TICK_SIZE, TITLE_SIZE,
};

/// One group: a distribution per variant, in the order of [`ViolinPlot::variants`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ViolinGroup {
    /// Name written under the group.
    pub label: String,
    /// One distribution per variant.
    pub distributions: Vec<Vec<f64>>,
}

/// Grouped violins (see the module docs).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ViolinPlot {
    /// Title.
    pub title: String,
    /// Y axis description.
    pub y_label: String,
    /// Variant names (legend), one colour each.
    pub variants: Vec<String>,
    /// Groups, left to right.
    pub groups: Vec<ViolinGroup>,
}

const GRID: usize = 120;

/// `(y, density scaled to a maximum of 1)` of a Gaussian KDE on `GRID` points over the data range;
/// a single point when the data have no spread.
fn density(values: &[f64]) -> Vec<(f64, f64)> {
    let (lo, hi) = extent(values.iter().copied()).unwrap_or((0.0, 0.0));
    let n = values.len() as f64;
    let sd = lid_core::stats::std(values, 1).unwrap_or(0.0);
    let iqr = lid_core::stats::quantiles(values, &[0.25, 0.75]).map_or(0.0, |q| q[1] - q[0]);
    let spread = if iqr > 0.0 { sd.min(iqr / 1.34) } else { sd };
    let h = 0.9 * spread * n.powf(-0.2);
    if h.is_nan() || h <= 0.0 || hi <= lo {
        return vec![(lo, 1.0)];
    }
    let ys: Vec<f64> = (0..GRID)
        .map(|i| lo + (hi - lo) * i as f64 / (GRID - 1) as f64)
        .collect();
    let dens: Vec<f64> = ys
        .iter()
        .map(|&y| {
            values
                .iter()
                .map(|&v| {
                    let z = (y - v) / h;
                    (-0.5 * z * z).exp()
                })
                .sum::<f64>()
        })
        .collect();
    let max = dens.iter().copied().fold(0.0, f64::max);
    ys.into_iter()
        .zip(dens)
        .map(|(y, d)| (y, if max > 0.0 { d / max } else { 0.0 }))
        .collect()
}

impl ViolinPlot {
    fn check(&self) -> Result<()> {
        if self.groups.is_empty() || self.variants.is_empty() {
            return Err(Error::figure(&self.title, "no groups or no variants"));
        }
        for g in &self.groups {
            if g.distributions.len() != self.variants.len() {
                return Err(Error::figure(
                    &self.title,
                    format!(
                        "group `{}` has {} distributions for {} variants",
                        g.label,
                        g.distributions.len(),
                        self.variants.len()
                    ),
                ));
            }
            for (v, d) in self.variants.iter().zip(&g.distributions) {
                if d.is_empty() || d.iter().any(|x| !x.is_finite()) {
                    return Err(Error::figure(
                        &self.title,
                        format!("`{}` of group `{}` is empty or not finite", v, g.label),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Pixel size (widens with groups and variants).
    pub fn size(&self) -> (u32, u32) {
        let per_group = 70 * self.variants.len().max(2) as u32 + 40;
        ((200 + per_group * self.groups.len() as u32).max(800), 640)
    }

    pub(crate) fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        self.check()?;
        let err = draw_err::<DB::ErrorType>(&self.title);
        root.fill(&WHITE).map_err(&err)?;
        let body = root.titled(&self.title, font(TITLE_SIZE)).map_err(&err)?;
        let entries: Vec<LegendEntry> = self
            .variants
            .iter()
            .enumerate()
            .map(|(i, v)| LegendEntry {
                label: v.clone(),
                color: color(i),
                mark: LegendMark::Swatch,
            })
            .collect();
        let lw = legend_width(&body, &entries);
        let (plot_area, legend_area) = body.split_horizontally(body.dim_in_pixel().0 - lw);
        let g = self.groups.len();
        let v = self.variants.len();
        let (y0, y1) = extent(
            self.groups
                .iter()
                .flat_map(|g| g.distributions.iter().flatten().copied()),
        )
        .map(|(a, b)| padded(a, b, 0.05))
        .unwrap_or((0.0, 1.0));
        let mut chart = ChartBuilder::on(&plot_area)
            .margin(12)
            .x_label_area_size(56)
            .y_label_area_size(78)
            .build_cartesian_2d(-0.5..(g as f64 - 0.5), y0..y1)
            .map_err(&err)?;
        let formatter = |y: &f64| format_number(*y);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_labels(6)
            .y_label_formatter(&formatter)
            .label_style(font(TICK_SIZE))
            .axis_desc_style(font(LABEL_SIZE))
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.08))
            .y_desc(&self.y_label)
            .draw()
            .map_err(&err)?;
        let slot = 0.8 / v as f64;
        let half = slot / 2.0 * 0.9;
        for (gi, group) in self.groups.iter().enumerate() {
            for (vi, values) in group.distributions.iter().enumerate() {
                let center = gi as f64 - 0.4 + slot * (vi as f64 + 0.5);
                let c = color(vi);
                let shape = density(values);
                if shape.len() == 1 {
                    let y = shape[0].0;
                    chart
                        .draw_series(std::iter::once(PathElement::new(
                            vec![(center - half, y), (center + half, y)],
                            c.stroke_width(3),
                        )))
                        .map_err(&err)?;
                } else {
                    let right = shape.iter().map(|&(y, d)| (center + d * half, y));
                    let left: Vec<(f64, f64)> =
                        shape.iter().map(|&(y, d)| (center - d * half, y)).collect();
                    let outline: Vec<(f64, f64)> = right.chain(left.into_iter().rev()).collect();
                    chart
                        .draw_series([Polygon::new(outline.clone(), c.mix(0.5).filled())])
                        .map_err(&err)?;
                    let mut closed = outline;
                    closed.push(closed[0]);
                    chart
                        .draw_series(std::iter::once(PathElement::new(closed, c.stroke_width(1))))
                        .map_err(&err)?;
                }
                let q = lid_core::stats::quantiles(values, &[0.25, 0.5, 0.75])?;
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(center, q[0]), (center, q[2])],
                        BLACK.stroke_width(5),
                    )))
                    .map_err(&err)?;
                chart
                    .draw_series([
                        Circle::new((center, q[1]), 4, WHITE.filled()),
                        Circle::new((center, q[1]), 4, BLACK.stroke_width(1)),
                    ])
                    .map_err(&err)?;
            }
            let (px, py) = chart.backend_coord(&(gi as f64, y0));
            let (ax, ay) = plot_area.get_base_pixel();
            plot_area
                .draw_text(
                    &group.label,
                    &font(LEGEND_SIZE + 1).pos(Pos::new(HPos::Center, VPos::Top)),
                    (px - ax, py - ay + 10),
                )
                .map_err(&err)?;
        }
        draw_legend(&legend_area, &entries, 12, &self.title)
    }
}

super::impl_figure!(ViolinPlot);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn density_is_scaled_and_bounded_by_the_data() {
        let values: Vec<f64> = (0..200)
            .map(|i| (i as f64 / 20.0).sin() * 2.0 + 5.0)
            .collect();
        let d = density(&values);
        assert_eq!(d.len(), GRID);
        let (lo, hi) = extent(values.iter().copied()).unwrap();
        assert_eq!((d[0].0, d[GRID - 1].0), (lo, hi));
        let max = d.iter().map(|p| p.1).fold(0.0, f64::max);
        assert!((max - 1.0).abs() < 1e-12);
        assert_eq!(density(&[3.0, 3.0, 3.0]), vec![(3.0, 1.0)]);
    }

    #[test]
    fn mismatched_groups_are_errors() {
        let plot = ViolinPlot {
            title: "v".into(),
            y_label: "y".into(),
            variants: vec!["a".into(), "b".into()],
            groups: vec![ViolinGroup {
                label: "g".into(),
                distributions: vec![vec![1.0]],
            }],
        };
        let err = crate::run::plot::render_svg(&plot).unwrap_err().to_string();
        assert!(err.contains("1 distributions for 2 variants"), "{err}");
    }
}
