//! The figures of every study, made once here and written as SVG and PNG by
//! [`crate::run::RunFolder::write_figure`]:
//!
//! | figure | shows | typical use |
//! |---|---|---|
//! | [`LinePlot`] | mean +- std bands of several [`Series`] against a step, reference lines | mean LID over checkpoints, per fraction or corpus |
//! | [`StackedPlot`] | [`Panel`]s stacked on one shared x axis, with labelled vertical [`Marker`]s | mean LID on top, task metric and validation loss below; "LID stabilises", "val loss minimum" |
//! | [`BoxPlot`] | horizontal boxes, one row per group, known values marked per row | pointwise LID per manifold with the true dimension; estimate / truth per estimator |
//! | [`ViolinPlot`] | violins of several variants side by side per group | local LID of base vs fine-tuned per corpus |
//!
//! Rules every figure follows (see [`style`]): one idea per figure; the legend in a column beside
//! the axes, never over data; category labels on the axis where they have room (horizontal boxes,
//! violins with figure width growing with the groups) instead of crowded, overlapping tick labels;
//! marker labels staggered into rows when they would overlap; integer axes without fractional
//! ticks; numbers without float noise (`1000`, not `1000.0`); known values marked in one
//! reference colour. Bad data (empty, non-finite, mismatched lengths) is an [`crate::Error::Figure`],
//! never a blank or broken image.
//!
//! To add a figure type: a struct with public fields and `size()` plus a generic
//! `draw<DB: DrawingBackend>(&self, root)`, then `impl_figure!(Type)` to make it a [`Figure`].

pub mod boxes;
pub mod canvas;
pub mod lines;
pub mod panels;
pub mod style;
pub mod violins;

pub use boxes::{BoxPlot, BoxRow, BoxStats};
pub use canvas::PngCanvas;
pub use lines::{LinePlot, RefLine, Series};
pub use panels::{Marker, Panel, StackedPlot};
pub use violins::{ViolinGroup, ViolinPlot};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Error, Result};

/// A figure that can be drawn on both backends (trait objects cannot have generic methods, so each
/// backend has its own method; the crate-internal `impl_figure!` macro writes both from one generic
/// `draw`).
pub trait Figure {
    /// Title (used in error messages).
    fn title(&self) -> &str;
    /// Pixel size `(width, height)`.
    fn pixel_size(&self) -> (u32, u32);
    /// Draws onto an SVG area.
    ///
    /// # Errors
    /// [`Error::Figure`] for data the figure cannot show or a drawing failure.
    fn draw_svg(&self, area: &DrawingArea<SVGBackend<'_>, Shift>) -> Result<()>;
    /// Draws onto a bitmap area.
    ///
    /// # Errors
    /// As [`Figure::draw_svg`].
    fn draw_png(&self, area: &DrawingArea<PngCanvas<'_>, Shift>) -> Result<()>;
}

/// Implements [`Figure`] for a type with a `title: String` field, `size()` and a generic `draw`.
macro_rules! impl_figure {
    ($t:ty) => {
        impl $crate::run::plot::Figure for $t {
            fn title(&self) -> &str {
                &self.title
            }
            fn pixel_size(&self) -> (u32, u32) {
                self.size()
            }
            fn draw_svg(
                &self,
                area: &plotters::drawing::DrawingArea<
                    plotters::backend::SVGBackend<'_>,
                    plotters::coord::Shift,
                >,
            ) -> $crate::error::Result<()> {
                self.draw(area)
            }
            fn draw_png(
                &self,
                area: &plotters::drawing::DrawingArea<
                    $crate::run::plot::PngCanvas<'_>,
                    plotters::coord::Shift,
                >,
            ) -> $crate::error::Result<()> {
                self.draw(area)
            }
        }
    };
}
pub(crate) use impl_figure;

/// The figure as SVG text.
///
/// # Errors
/// [`Error::Figure`].
pub fn render_svg(figure: &dyn Figure) -> Result<String> {
    style::register_fonts();
    let mut text = String::new();
    {
        let area = SVGBackend::with_string(&mut text, figure.pixel_size()).into_drawing_area();
        figure.draw_svg(&area)?;
        area.present()
            .map_err(style::draw_err::<std::io::Error>(figure.title()))?;
    }
    Ok(text)
}

/// The figure as PNG bytes (RGB, 8 bits per channel).
///
/// # Errors
/// [`Error::Figure`].
pub fn render_png(figure: &dyn Figure) -> Result<Vec<u8>> {
    style::register_fonts();
    let (w, h) = figure.pixel_size();
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let area = PngCanvas::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        figure.draw_png(&area)?;
        area.present()
            .map_err(|e| Error::figure(figure.title(), format!("drawing failed: {e}")))?;
    }
    let mut png = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut png, w, h);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let fail =
            |e: png::EncodingError| Error::figure(figure.title(), format!("PNG encoding: {e}"));
        let mut writer = encoder.write_header().map_err(fail)?;
        writer.write_image_data(&rgb).map_err(fail)?;
        writer.finish().map_err(fail)?;
    }
    Ok(png)
}
