//! Self-describing run folders: every study writes its settings, its numbers, its plots and a short
//! report into one folder, so that a result can be traced back to the exact run that made it.
//!
//! A [`RunFolder`] holds:
//! - `config.json`: the study name, its settings (any `Serialize` value), seeds, the `lid` version, the
//!   git commit of the working tree when `git` can tell (never an error when it cannot), the command
//!   line and the UTC creation time ([`RunFolder::write_config`]);
//! - tables as CSV ([`Table`], [`RunFolder::write_table`]) and numbers as JSON
//!   ([`RunFolder::write_json`]);
//! - plots as SVG and PNG made with `plotters`: a line plot with `mean +- std` bands against a step
//!   ([`LinePlot`]) and a box plot of distributions ([`BoxPlot`]);
//! - `report.md` ([`RunFolder::write_report`]).
//!
//! Plot text uses DejaVu Sans bundled by the `dejavu` crate and rendered by plotters' `ab_glyph`
//! feature, so no system fonts or font libraries are needed.
//!
//! The module is study-agnostic: validation, grokking and the fine-tuning studies all use it.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use serde::Serialize;

/// A run folder (see the module docs). All writers return the path they wrote.
#[derive(Debug, Clone)]
pub struct RunFolder {
    root: PathBuf,
}

/// What [`RunFolder::write_config`] records besides the study's own settings.
#[derive(Debug, Clone, Serialize)]
pub struct RunMetadata {
    /// Study name (`"validation"`, `"grokking"`, ...).
    pub study: String,
    /// Version of `lid-experiments` (the workspace version).
    pub lid_version: String,
    /// `git rev-parse HEAD` of the current directory, when available.
    pub git_commit: Option<String>,
    /// Whether `git status --porcelain` reported changes, when available.
    pub git_dirty: Option<bool>,
    /// The command line of this process.
    pub command_line: Vec<String>,
    /// Creation time, UTC, ISO 8601.
    pub created_utc: String,
    /// Every seed the run uses.
    pub seeds: Vec<u64>,
}

#[derive(Serialize)]
struct ConfigFile<'a, T: Serialize> {
    #[serde(flatten)]
    metadata: RunMetadata,
    settings: &'a T,
}

impl RunFolder {
    /// Creates (or reuses, when empty) the folder `path` and its parents.
    ///
    /// # Errors
    /// When the folder cannot be created, or exists and is not empty (runs never overwrite each other).
    pub fn create(path: impl Into<PathBuf>) -> Result<Self> {
        let root = path.into();
        if root.exists() {
            let non_empty = fs::read_dir(&root)
                .with_context(|| format!("cannot read run folder {}", root.display()))?
                .next()
                .is_some();
            if non_empty {
                bail!(
                    "run folder {} already exists and is not empty; choose another --out",
                    root.display()
                );
            }
        }
        fs::create_dir_all(&root)
            .with_context(|| format!("cannot create run folder {}", root.display()))?;
        Ok(Self { root })
    }

    /// Creates `parent/<prefix>-<YYYYMMDD-HHMMSS>` (UTC); adds `-2`, `-3`, ... when that name is taken.
    ///
    /// # Errors
    /// As [`RunFolder::create`].
    pub fn timestamped(parent: impl AsRef<Path>, prefix: &str) -> Result<Self> {
        let stamp = utc_timestamp(SystemTime::now()).replace([':', '-'], "");
        let stamp = format!("{}-{}", &stamp[..8], &stamp[9..15]);
        let base = parent.as_ref().join(format!("{prefix}-{stamp}"));
        let mut candidate = base.clone();
        let mut i = 2;
        while candidate.exists() {
            candidate = PathBuf::from(format!("{}-{i}", base.display()));
            i += 1;
        }
        Self::create(candidate)
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Writes `config.json`: metadata (see [`RunMetadata`]) plus `settings` under the key `settings`.
    ///
    /// # Errors
    /// When `settings` cannot be serialised or the file cannot be written.
    pub fn write_config<T: Serialize>(
        &self,
        study: &str,
        settings: &T,
        seeds: &[u64],
    ) -> Result<PathBuf> {
        let (git_commit, git_dirty) = git_state();
        let metadata = RunMetadata {
            study: study.to_string(),
            lid_version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit,
            git_dirty,
            command_line: std::env::args().collect(),
            created_utc: utc_timestamp(SystemTime::now()),
            seeds: seeds.to_vec(),
        };
        self.write_json("config.json", &ConfigFile { metadata, settings })
    }

    /// Writes any serialisable value as pretty JSON to `name` (e.g. `"results.json"`).
    ///
    /// # Errors
    /// Serialisation (for example a NaN in a float) or I/O failure.
    pub fn write_json<T: Serialize + ?Sized>(&self, name: &str, value: &T) -> Result<PathBuf> {
        let text = serde_json::to_string_pretty(value)
            .with_context(|| format!("cannot serialise {name} to JSON"))?;
        self.write_text(name, &(text + "\n"))
    }

    /// Writes a table as CSV to `name` (e.g. `"table.csv"`).
    ///
    /// # Errors
    /// I/O failure.
    pub fn write_table(&self, name: &str, table: &Table) -> Result<PathBuf> {
        let path = self.root.join(name);
        let mut writer = csv::Writer::from_path(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        writer.write_record(&table.headers)?;
        for row in &table.rows {
            writer.write_record(row)?;
        }
        writer
            .flush()
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }

    /// Writes `report.md`.
    ///
    /// # Errors
    /// I/O failure.
    pub fn write_report(&self, markdown: &str) -> Result<PathBuf> {
        self.write_text("report.md", markdown)
    }

    /// Writes a text file.
    ///
    /// # Errors
    /// I/O failure.
    pub fn write_text(&self, name: &str, text: &str) -> Result<PathBuf> {
        let path = self.root.join(name);
        let mut file =
            fs::File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
        file.write_all(text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }

    /// Draws `plot` to `<stem>.svg` and `<stem>.png` (1000 x 600 px); returns both paths.
    ///
    /// # Errors
    /// An empty or inconsistent plot (see [`LinePlot`]) or a drawing / I/O failure.
    pub fn line_plot(&self, stem: &str, plot: &LinePlot) -> Result<[PathBuf; 2]> {
        plot.check()?;
        self.draw_both(stem, plot)
    }

    /// Draws `plot` to `<stem>.svg` and `<stem>.png`; returns both paths.
    ///
    /// # Errors
    /// An empty plot or a group without finite values, or a drawing / I/O failure.
    pub fn box_plot(&self, stem: &str, plot: &BoxPlot) -> Result<[PathBuf; 2]> {
        let stats = plot.stats()?;
        self.draw_both(stem, &(plot, stats))
    }

    fn draw_both(&self, stem: &str, plot: &dyn DrawOnBoth) -> Result<[PathBuf; 2]> {
        register_fonts();
        let svg = self.root.join(format!("{stem}.svg"));
        let png = self.root.join(format!("{stem}.png"));
        {
            let area = SVGBackend::new(&svg, PLOT_SIZE).into_drawing_area();
            plot.draw_svg(&area)?;
            area.present()
                .map_err(draw_err)
                .with_context(|| format!("cannot write {}", svg.display()))?;
        }
        {
            let area = BitMapBackend::new(&png, PLOT_SIZE).into_drawing_area();
            plot.draw_png(&area)?;
            area.present()
                .map_err(draw_err)
                .with_context(|| format!("cannot write {}", png.display()))?;
        }
        Ok([svg, png])
    }
}

/// Pixel size of every plot.
const PLOT_SIZE: (u32, u32) = (1000, 600);

/// A plot that can be drawn on both backends (trait objects cannot have generic methods).
trait DrawOnBoth {
    fn draw_svg(&self, area: &DrawingArea<SVGBackend<'_>, Shift>) -> Result<()>;
    fn draw_png(&self, area: &DrawingArea<BitMapBackend<'_>, Shift>) -> Result<()>;
}

impl DrawOnBoth for LinePlot {
    fn draw_svg(&self, area: &DrawingArea<SVGBackend<'_>, Shift>) -> Result<()> {
        self.draw(area)
    }
    fn draw_png(&self, area: &DrawingArea<BitMapBackend<'_>, Shift>) -> Result<()> {
        self.draw(area)
    }
}

impl DrawOnBoth for (&BoxPlot, Vec<BoxStats>) {
    fn draw_svg(&self, area: &DrawingArea<SVGBackend<'_>, Shift>) -> Result<()> {
        self.0.draw(area, &self.1)
    }
    fn draw_png(&self, area: &DrawingArea<BitMapBackend<'_>, Shift>) -> Result<()> {
        self.0.draw(area, &self.1)
    }
}

/// Registers the bundled DejaVu Sans as plotters' `sans-serif` font (once per process).
fn register_fonts() {
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

/// A table of strings with a header row, written as CSV or rendered as Markdown.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Table {
    /// Column names.
    pub headers: Vec<String>,
    /// Rows, each as long as `headers`.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these columns.
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Self {
        Self {
            headers: headers.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row.
    ///
    /// # Errors
    /// When the row length differs from the number of columns.
    pub fn push_row<S: Into<String>>(&mut self, row: impl IntoIterator<Item = S>) -> Result<()> {
        let row: Vec<String> = row.into_iter().map(Into::into).collect();
        if row.len() != self.headers.len() {
            bail!(
                "table row has {} cells, the table has {} columns",
                row.len(),
                self.headers.len()
            );
        }
        self.rows.push(row);
        Ok(())
    }

    /// The table as GitHub-flavoured Markdown (`|` in cells escaped).
    pub fn to_markdown(&self) -> String {
        let esc = |s: &String| s.replace('|', "\\|");
        let mut out = String::new();
        out.push_str(&format!(
            "| {} |\n",
            self.headers.iter().map(esc).collect::<Vec<_>>().join(" | ")
        ));
        out.push_str(&format!(
            "|{}\n",
            self.headers.iter().map(|_| "---|").collect::<String>()
        ));
        for row in &self.rows {
            out.push_str(&format!(
                "| {} |\n",
                row.iter().map(esc).collect::<Vec<_>>().join(" | ")
            ));
        }
        out
    }
}

/// One line of a [`LinePlot`]: `mean` against `x`, with an optional `mean +- std` band.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BandSeries {
    /// Legend label.
    pub label: String,
    /// Positions (steps, checkpoints, sample sizes), ascending.
    pub x: Vec<f64>,
    /// Mean at every position.
    pub mean: Vec<f64>,
    /// Standard deviation at every position (the band is `mean +- std`); `None` for no band.
    pub std: Option<Vec<f64>>,
}

/// A line plot of one or more [`BandSeries`] against a step, with optional horizontal reference lines
/// (for example a true dimension).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinePlot {
    /// Title.
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// Use a log10 x axis (x must be positive).
    pub log_x: bool,
    /// The lines.
    pub series: Vec<BandSeries>,
    /// Horizontal dashed lines `(label, y)`.
    pub reference_lines: Vec<(String, f64)>,
}

impl LinePlot {
    fn check(&self) -> Result<()> {
        if self.series.is_empty() {
            bail!("line plot `{}` has no series", self.title);
        }
        for s in &self.series {
            let n = s.x.len();
            if n == 0 || s.mean.len() != n || s.std.as_ref().is_some_and(|v| v.len() != n) {
                bail!(
                    "series `{}` of plot `{}` is empty or its x / mean / std lengths differ",
                    s.label,
                    self.title
                );
            }
            let finite = s.x.iter().chain(&s.mean).chain(s.std.iter().flatten());
            if finite.into_iter().any(|v| !v.is_finite()) {
                bail!(
                    "series `{}` of plot `{}` has a non-finite value",
                    s.label,
                    self.title
                );
            }
            if self.log_x && s.x.iter().any(|&x| x <= 0.0) {
                bail!(
                    "plot `{}` has a log x axis but series `{}` has x <= 0",
                    self.title,
                    s.label
                );
            }
        }
        Ok(())
    }

    fn ranges(&self) -> ((f64, f64), (f64, f64)) {
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for s in &self.series {
            for (i, (&x, &m)) in s.x.iter().zip(&s.mean).enumerate() {
                let sd = s.std.as_ref().map_or(0.0, |v| v[i].abs());
                x0 = x0.min(x);
                x1 = x1.max(x);
                y0 = y0.min(m - sd);
                y1 = y1.max(m + sd);
            }
        }
        for &(_, y) in &self.reference_lines {
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
        (pad_range(x0, x1, 0.0), pad_range(y0, y1, 0.05))
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        area.fill(&WHITE).map_err(draw_err)?;
        let ((x0, x1), (y0, y1)) = self.ranges();
        let mut builder = ChartBuilder::on(area);
        builder
            .caption(&self.title, ("sans-serif", 24))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60);
        if self.log_x {
            let mut chart = builder
                .build_cartesian_2d((x0..x1).log_scale(), y0..y1)
                .map_err(draw_err)?;
            chart
                .configure_mesh()
                .x_desc(&self.x_label)
                .y_desc(&self.y_label)
                .draw()
                .map_err(draw_err)?;
            self.draw_series(&mut chart, x0, x1)
        } else {
            let mut chart = builder
                .build_cartesian_2d(x0..x1, y0..y1)
                .map_err(draw_err)?;
            chart
                .configure_mesh()
                .x_desc(&self.x_label)
                .y_desc(&self.y_label)
                .draw()
                .map_err(draw_err)?;
            self.draw_series(&mut chart, x0, x1)
        }
    }

    fn draw_series<'a, DB: DrawingBackend + 'a, X>(
        &self,
        chart: &mut ChartContext<'a, DB, Cartesian2d<X, plotters::coord::types::RangedCoordf64>>,
        x0: f64,
        x1: f64,
    ) -> Result<()>
    where
        X: Ranged<ValueType = f64>,
        DB::ErrorType: 'static,
    {
        for (i, s) in self.series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            if let Some(std) = &s.std {
                let upper: Vec<(f64, f64)> =
                    s.x.iter()
                        .zip(&s.mean)
                        .zip(std)
                        .map(|((&x, &m), &sd)| (x, m + sd))
                        .collect();
                let lower: Vec<(f64, f64)> =
                    s.x.iter()
                        .zip(&s.mean)
                        .zip(std)
                        .map(|((&x, &m), &sd)| (x, m - sd))
                        .collect();
                let polygon: Vec<(f64, f64)> =
                    upper.into_iter().chain(lower.into_iter().rev()).collect();
                chart
                    .draw_series(std::iter::once(Polygon::new(
                        polygon,
                        color.mix(0.2).filled(),
                    )))
                    .map_err(draw_err)?;
            }
            let points: Vec<(f64, f64)> = s.x.iter().copied().zip(s.mean.iter().copied()).collect();
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .map_err(draw_err)?
                .label(&s.label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart
                .draw_series(
                    points
                        .into_iter()
                        .map(|p| Circle::new(p, 3, color.filled())),
                )
                .map_err(draw_err)?;
        }
        for &(ref label, y) in &self.reference_lines {
            let dashes = dashed_segments(x0, x1, 60);
            chart
                .draw_series(
                    dashes.into_iter().map(|(a, b)| {
                        PathElement::new(vec![(a, y), (b, y)], BLACK.stroke_width(1))
                    }),
                )
                .map_err(draw_err)?
                .label(label.as_str())
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(draw_err)?;
        Ok(())
    }
}

/// Box plot of several distributions side by side: box from the 25 % to the 75 % quantile (numpy's
/// linear interpolation), a line at the median, whiskers to the most extreme values within 1.5 IQR of
/// the box (Tukey), a diamond at the mean. Outliers beyond the whiskers are counted in the label, not
/// drawn (clouds of 60,000 estimates would bury the boxes).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BoxPlot {
    /// Title.
    pub title: String,
    /// Y axis label.
    pub y_label: String,
    /// `(name, values)` per box.
    pub groups: Vec<(String, Vec<f64>)>,
}

/// Per-box numbers drawn by [`BoxPlot`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
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
}

impl BoxPlot {
    /// The numbers of every box.
    ///
    /// # Errors
    /// An empty plot, an empty group, or a non-finite value.
    pub fn stats(&self) -> Result<Vec<BoxStats>> {
        if self.groups.is_empty() {
            bail!("box plot `{}` has no groups", self.title);
        }
        self.groups
            .iter()
            .map(|(name, values)| {
                let s = lid_core::stats::describe(values)
                    .with_context(|| format!("box `{name}` of plot `{}`", self.title))?;
                let iqr = s.q75 - s.q25;
                let (lo_fence, hi_fence) = (s.q25 - 1.5 * iqr, s.q75 + 1.5 * iqr);
                let inside = values.iter().filter(|&&v| v >= lo_fence && v <= hi_fence);
                let whisker_low = inside.clone().fold(f64::MAX, |a, &b| a.min(b));
                let whisker_high = inside.clone().fold(f64::MIN, |a, &b| a.max(b));
                Ok(BoxStats {
                    whisker_low,
                    q25: s.q25,
                    median: s.median,
                    q75: s.q75,
                    whisker_high,
                    mean: s.mean,
                    outliers: values.len() - inside.count(),
                })
            })
            .collect()
    }

    fn draw<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        stats: &[BoxStats],
    ) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        area.fill(&WHITE).map_err(draw_err)?;
        let y0 = stats
            .iter()
            .map(|s| s.whisker_low.min(s.mean))
            .fold(f64::MAX, f64::min);
        let y1 = stats
            .iter()
            .map(|s| s.whisker_high.max(s.mean))
            .fold(f64::MIN, f64::max);
        let (y0, y1) = pad_range(y0, y1, 0.05);
        let n = self.groups.len();
        let names: Vec<String> = self
            .groups
            .iter()
            .zip(stats)
            .map(|((name, _), s)| {
                if s.outliers > 0 {
                    format!("{name} (+{} out)", s.outliers)
                } else {
                    name.clone()
                }
            })
            .collect();
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, ("sans-serif", 24))
            .margin(15)
            .x_label_area_size(60)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5..(n as f64 - 0.5), y0..y1)
            .map_err(draw_err)?;
        let label_of = |x: &f64| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < n {
                names[i as usize].clone()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&label_of)
            .y_desc(&self.y_label)
            .draw()
            .map_err(draw_err)?;
        for (i, s) in stats.iter().enumerate() {
            let x = i as f64;
            let color = Palette99::pick(i).to_rgba();
            let w = 0.3;
            chart
                .draw_series([
                    Rectangle::new([(x - w, s.q25), (x + w, s.q75)], color.mix(0.3).filled()),
                    Rectangle::new([(x - w, s.q25), (x + w, s.q75)], color.stroke_width(2)),
                ])
                .map_err(draw_err)?;
            let lines = [
                vec![(x - w, s.median), (x + w, s.median)],
                vec![(x, s.q75), (x, s.whisker_high)],
                vec![(x, s.q25), (x, s.whisker_low)],
                vec![(x - w / 2.0, s.whisker_high), (x + w / 2.0, s.whisker_high)],
                vec![(x - w / 2.0, s.whisker_low), (x + w / 2.0, s.whisker_low)],
            ];
            chart
                .draw_series(
                    lines
                        .into_iter()
                        .map(|l| PathElement::new(l, BLACK.stroke_width(2))),
                )
                .map_err(draw_err)?;
            chart
                .draw_series(std::iter::once(Cross::new(
                    (x, s.mean),
                    5,
                    BLACK.stroke_width(2),
                )))
                .map_err(draw_err)?;
        }
        Ok(())
    }
}

fn pad_range(lo: f64, hi: f64, frac: f64) -> (f64, f64) {
    if hi > lo {
        let pad = (hi - lo) * frac;
        (lo - pad, hi + pad)
    } else {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        (lo - pad, hi + pad)
    }
}

fn dashed_segments(x0: f64, x1: f64, count: usize) -> Vec<(f64, f64)> {
    // Dashes in x are uniform on a linear axis; on a log axis they are still drawn, just uneven.
    let step = (x1 - x0) / (2 * count) as f64;
    (0..count)
        .map(|i| {
            (
                x0 + 2.0 * i as f64 * step,
                x0 + (2.0 * i as f64 + 1.0) * step,
            )
        })
        .collect()
}

fn draw_err<E: std::error::Error + Send + Sync + 'static>(
    e: DrawingAreaErrorKind<E>,
) -> anyhow::Error {
    anyhow::anyhow!("plot drawing failed: {e}")
}

/// `git rev-parse HEAD` and whether the tree is dirty; `None` when git is missing or this is not a
/// repository (never an error: a run must not fail for lack of git).
fn git_state() -> (Option<String>, Option<bool>) {
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = run(&["rev-parse", "HEAD"]).filter(|s| !s.is_empty());
    let dirty = commit
        .as_ref()
        .and_then(|_| run(&["status", "--porcelain", "--untracked-files=no"]))
        .map(|s| !s.is_empty());
    (commit, dirty)
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a time (days-to-civil conversion of Howard Hinnant's algorithm).
pub fn utc_timestamp(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}
