//! Draws one example of every figure type of `lid_experiments::run::plot` into a run folder, with
//! synthetic data shaped like the studies' (LID curves over training, base vs fine-tuned
//! distributions), so the look of the figures can be checked by eye:
//! `cargo run --release -p lid-experiments --example figure_gallery -- /tmp/gallery`
//! (the folder must not exist or be empty; its parent must exist).

use lid_experiments::run::plot::{
    BoxPlot, BoxRow, LinePlot, Marker, Panel, RefLine, Series, StackedPlot, ViolinGroup, ViolinPlot,
};
use lid_experiments::run::RunFolder;

/// A smooth deterministic wiggle in [-1, 1].
fn wiggle(i: usize, seed: usize) -> f64 {
    ((i * 37 + seed * 101) as f64 * 0.618).sin()
}

/// A standard normal deviate from a hashed index (Box-Muller on two xorshift draws): deterministic
/// noise without a random-number dependency.
fn bell(i: usize, seed: usize) -> f64 {
    let mut state = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (seed as u64 + 7);
    let mut uniform = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let (u1, u2) = (uniform(), uniform());
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .ok_or("usage: figure_gallery <new folder>")?;
    let folder = RunFolder::create(&out, "figure-gallery")?;
    let steps: Vec<f64> = (0..=30).map(|i| i as f64 * 1000.0).collect();

    // (1) Mean +- std bands of several series against a step.
    let series: Vec<Series> = [0.10, 0.20, 0.30, 0.40, 0.50]
        .iter()
        .enumerate()
        .map(|(k, &frac)| {
            let points: Vec<(f64, f64, f64)> = steps
                .iter()
                .enumerate()
                .map(|(i, &s)| {
                    let peak = 6000.0 + 6000.0 * k as f64;
                    let rise = 18.0 - 8.0 * (frac - 0.1) / 0.4;
                    let y = 4.0 + rise * (s / peak).min(1.0)
                        - if s > peak {
                            (s - peak) / 3000.0 * frac * 4.0
                        } else {
                            0.0
                        };
                    (s, y.max(3.0), 0.4 + 0.15 * wiggle(i, k).abs())
                })
                .collect();
            Series::band(format!("fraction {frac:.2}"), &points)
        })
        .collect();
    folder.write_figure(
        "lines",
        &LinePlot {
            title: "Mean local LID over training (mean ± std over 5 seeds)".into(),
            x_label: "training step".into(),
            y_label: "mean local LID".into(),
            integer_x: true,
            series,
            reference_lines: vec![RefLine {
                label: "initialisation".into(),
                y: 4.0,
            }],
            y_range: None,
        },
    )?;

    // (2) Stacked panels on one step axis with markers.
    let lid: Vec<(f64, f64, f64)> = steps
        .iter()
        .map(|&s| (s, 7.0 + 3.0 * (-s / 8000.0).exp(), 0.3))
        .collect();
    let jga: Vec<(f64, f64, f64)> = steps
        .iter()
        .map(|&s| (s, 0.56 * (1.0 - (-s / 7000.0).exp()), 0.02))
        .collect();
    let loss: Vec<(f64, f64)> = steps
        .iter()
        .map(|&s| (s, 1.2 - 0.8 * (-((s - 7500.0) / 6000.0).powi(2)).exp()))
        .collect();
    folder.write_figure(
        "panels",
        &StackedPlot {
            title: "Dialogue state tracking, seeds 40-44".into(),
            x_label: "training step".into(),
            integer_x: true,
            panels: vec![
                Panel::new("mean local LID", vec![Series::band("dev", &lid)]),
                Panel::new("joint goal accuracy", vec![Series::band("dev", &jga)]),
                Panel::new("validation loss", vec![Series::line("dev", &loss)]),
            ],
            markers: vec![
                Marker {
                    label: "val loss minimum".into(),
                    x: 7500.0,
                },
                Marker {
                    label: "LID stabilises".into(),
                    x: 24000.0,
                },
                Marker {
                    label: "JGA saturates".into(),
                    x: 25000.0,
                },
            ],
        },
    )?;

    // (3) Horizontal boxes with known values.
    let rows: Vec<BoxRow> = [
        ("ball(5)", 5.0),
        ("sphere(3)", 3.0),
        ("M1_Sphere_10d", 10.0),
        ("swiss roll", 2.0),
    ]
    .iter()
    .enumerate()
    .map(|(k, &(name, d))| {
        let values: Vec<f64> = (0..2000)
            .map(|i| d * (0.92 + 0.06 * bell(i, k)) + if i % 97 == 0 { d * 0.8 } else { 0.0 })
            .collect();
        BoxRow::new(format!("{name} (d = {d})"), values).reference(d)
    })
    .collect();
    folder.write_figure(
        "boxes",
        &BoxPlot {
            title: "Pointwise TwoNN (L = 64) per manifold".into(),
            value_label: "local intrinsic dimension".into(),
            rows,
            classes: vec![],
            reference_label: "true dimension".into(),
            reference_line: None,
        },
    )?;

    // (4) Violins, base vs fine-tuned per corpus.
    let groups: Vec<ViolinGroup> = [
        ("MultiWOZ", 9.0, 7.2),
        ("Reddit", 10.5, 10.3),
        ("Wikipedia", 11.0, 10.9),
    ]
    .iter()
    .enumerate()
    .map(|(k, &(name, base, tuned))| ViolinGroup {
        label: name.into(),
        distributions: vec![
            (0..3000).map(|i| base + 0.9 * bell(i, k)).collect(),
            (0..3000).map(|i| tuned + 0.8 * bell(i, k + 3)).collect(),
        ],
    })
    .collect();
    folder.write_figure(
        "violins",
        &ViolinPlot {
            title: "Local LID of RoBERTa, base vs fine-tuned on MultiWOZ".into(),
            y_label: "local LID (L = 128)".into(),
            variants: vec!["base".into(), "fine-tuned".into()],
            groups,
        },
    )?;
    let path = folder.finish()?;
    println!("{}", path.display());
    Ok(())
}
