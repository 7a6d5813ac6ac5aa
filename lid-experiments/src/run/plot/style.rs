//! The look shared by every figure: fonts, colours, number formatting, axis ranges and the legend
//! drawn beside (never on) the data.
//!
//! - Text is DejaVu Sans from the `dejavu` crate, registered once as plotters' `sans-serif` and
//!   rendered by plotters' `ab_glyph` feature: no system fonts are needed.
//! - Colours are the Okabe-Ito palette (distinguishable with the common colour-vision
//!   deficiencies), in a fixed order, so series `i` has the same colour in every figure.
//! - Tick labels never print `1000.0`: integers print as integers, other values with at most four
//!   decimals and no trailing zeros; integer axes ask for at most one label per unit.

use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::{Error, Result};

/// Title size in pixels.
pub const TITLE_SIZE: u32 = 24;
/// Axis description size.
pub const LABEL_SIZE: u32 = 18;
/// Tick label size.
pub const TICK_SIZE: u32 = 15;
/// Legend text size.
pub const LEGEND_SIZE: u32 = 15;

/// Okabe & Ito (2008), "Color Universal Design": blue, vermillion, bluish green, reddish purple,
/// orange, sky blue, black, yellow (yellow last: faint on white).
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
    RGBColor(240, 228, 66),
];

/// Colour of series `i` (cycles after eight).
pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Colour of reference values (true dimensions, targets): a dark red not in [`PALETTE`].
pub const REFERENCE_COLOR: RGBColor = RGBColor(190, 0, 40);

/// Registers the bundled DejaVu Sans as plotters' `sans-serif` font (once per process).
pub fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TrueType font shipped by the `dejavu` crate; a failure would be a
        // packaging bug, and text would then be skipped by plotters rather than crash.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
        let _ = plotters::style::register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold());
    });
}

/// A text style of `size` pixels.
pub fn font(size: u32) -> TextStyle<'static> {
    ("sans-serif", size).into_font().color(&BLACK)
}

/// A tick value as text: `1000`, `0.25`, `-3.5` (see the module docs).
pub fn format_number(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let scale = v.abs().max(1.0);
    if (v - v.round()).abs() <= 1e-9 * scale {
        let r = v.round();
        return if r == 0.0 {
            "0".into()
        } else {
            format!("{r:.0}")
        };
    }
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// At most `max` tick labels, and for an integer axis over `[lo, hi]` no more than one per unit
/// (so that no fractional tick appears between integers).
pub fn label_count(lo: f64, hi: f64, integer: bool, max: usize) -> usize {
    if integer {
        let units = (hi - lo).floor().max(0.0) as usize + 1;
        units.clamp(2, max.max(2))
    } else {
        max
    }
}

/// `[lo, hi]` padded by `frac` of its width on both sides; a single value gets a visible range.
pub fn padded(lo: f64, hi: f64, frac: f64) -> (f64, f64) {
    if hi > lo {
        let pad = (hi - lo) * frac;
        (lo - pad, hi + pad)
    } else {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        (lo - pad, hi + pad)
    }
}

/// Smallest and largest of finite values (`None` when there are none).
pub fn extent(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
}

/// Maps a plotters drawing error to [`Error::Figure`].
pub fn draw_err<E: std::error::Error + Send + Sync + 'static>(
    figure: &str,
) -> impl Fn(DrawingAreaErrorKind<E>) -> Error + '_ {
    move |e| Error::figure(figure, format!("drawing failed: {e}"))
}

/// How a legend entry is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LegendMark {
    /// A line (a series).
    Line,
    /// A dashed line (a reference or marker line).
    Dashed,
    /// A filled box (a box or violin colour).
    Swatch,
}

/// One legend entry.
#[derive(Debug, Clone, PartialEq)]
pub struct LegendEntry {
    /// Text.
    pub label: String,
    /// Colour.
    pub color: RGBColor,
    /// Mark.
    pub mark: LegendMark,
}

const LEGEND_MARK_WIDTH: i32 = 28;
const LEGEND_GAP: i32 = 8;
const LEGEND_ROW: i32 = 24;

/// Width in pixels a legend of `entries` needs (0 when there are none).
pub fn legend_width<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[LegendEntry],
) -> u32 {
    let style = font(LEGEND_SIZE);
    entries
        .iter()
        .map(|e| {
            let (w, _) = area.estimate_text_size(&e.label, &style).unwrap_or((
                (e.label.chars().count() as u32) * LEGEND_SIZE * 6 / 10,
                LEGEND_SIZE,
            ));
            w + (LEGEND_MARK_WIDTH + 2 * LEGEND_GAP) as u32 + 12
        })
        .max()
        .unwrap_or(0)
}

/// Draws a legend into `area` (a column beside the plot), one entry per row from `top`.
///
/// # Errors
/// A drawing failure.
pub fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[LegendEntry],
    top: i32,
    figure: &str,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let err = draw_err::<DB::ErrorType>(figure);
    let style = font(LEGEND_SIZE).pos(Pos::new(HPos::Left, VPos::Center));
    for (i, e) in entries.iter().enumerate() {
        let y = top + LEGEND_ROW / 2 + i as i32 * LEGEND_ROW;
        let (x0, x1) = (LEGEND_GAP, LEGEND_GAP + LEGEND_MARK_WIDTH);
        match e.mark {
            LegendMark::Line => area
                .draw(&PathElement::new(
                    vec![(x0, y), (x1, y)],
                    e.color.stroke_width(3),
                ))
                .map_err(&err)?,
            LegendMark::Dashed => {
                for k in 0..3 {
                    let a = x0 + k * 11;
                    area.draw(&PathElement::new(
                        vec![(a, y), (a + 6, y)],
                        e.color.stroke_width(2),
                    ))
                    .map_err(&err)?;
                }
            }
            LegendMark::Swatch => {
                area.draw(&Rectangle::new(
                    [(x0, y - 7), (x1, y + 7)],
                    e.color.mix(0.45).filled(),
                ))
                .map_err(&err)?;
                area.draw(&Rectangle::new(
                    [(x0, y - 7), (x1, y + 7)],
                    e.color.stroke_width(2),
                ))
                .map_err(&err)?;
            }
        }
        area.draw_text(&e.label, &style, (x1 + LEGEND_GAP, y))
            .map_err(&err)?;
    }
    Ok(())
}

/// Height in pixels of a legend of `n` entries.
pub fn legend_height(n: usize) -> i32 {
    n as i32 * LEGEND_ROW
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_without_float_noise() {
        assert_eq!(format_number(1000.0), "1000");
        assert_eq!(format_number(4000.000000001), "4000");
        assert_eq!(format_number(0.25), "0.25");
        assert_eq!(format_number(-3.5), "-3.5");
        assert_eq!(format_number(0.1 + 0.2), "0.3");
        assert_eq!(format_number(-0.00001), "0");
        assert_eq!(format_number(1e-3), "0.001");
    }

    #[test]
    fn integer_axes_get_no_fractional_ticks() {
        assert_eq!(label_count(0.0, 3.0, true, 10), 4);
        assert_eq!(label_count(0.0, 1500.0, true, 8), 8);
        assert_eq!(label_count(0.0, 1.0, false, 8), 8);
        assert_eq!(padded(2.0, 2.0, 0.05), (1.8, 2.2));
        assert_eq!(extent([3.0, f64::NAN, -1.0]), Some((-1.0, 3.0)));
    }
}
