//! `report` building blocks: tables, plots with bad input, timestamps.

use lid_experiments::report::{utc_timestamp, BandSeries, BoxPlot, LinePlot, RunFolder, Table};
use std::time::{Duration, UNIX_EPOCH};

#[test]
fn table_markdown_and_row_checks() {
    let mut t = Table::new(["a", "b"]);
    t.push_row(["1", "x|y"]).unwrap();
    assert!(t.push_row(["only one"]).is_err());
    assert_eq!(t.to_markdown(), "| a | b |\n|---|---|\n| 1 | x\\|y |\n");
}

#[test]
fn timestamps_are_utc_civil_dates() {
    assert_eq!(utc_timestamp(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    // 2024-02-29T12:34:56Z (a leap day) = 1709210096.
    let t = UNIX_EPOCH + Duration::from_secs(1_709_210_096);
    assert_eq!(utc_timestamp(t), "2024-02-29T12:34:56Z");
}

#[test]
fn plots_are_written_and_bad_plots_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let folder = RunFolder::create(dir.path().join("r")).unwrap();
    let plot = LinePlot {
        title: "mean LID".into(),
        x_label: "step".into(),
        y_label: "LID".into(),
        log_x: false,
        series: vec![BandSeries {
            label: "frac 0.25".into(),
            x: vec![0.0, 500.0, 1000.0],
            mean: vec![5.0, 9.0, 7.0],
            std: Some(vec![0.5, 1.0, 0.2]),
        }],
        reference_lines: vec![("baseline".into(), 6.0)],
    };
    let [svg, png] = folder.line_plot("lid", &plot).unwrap();
    let svg_text = std::fs::read_to_string(svg).unwrap();
    assert!(svg_text.contains("mean LID"), "title text is in the SVG");
    assert!(std::fs::metadata(png).unwrap().len() > 1000);

    let mut bad = plot.clone();
    bad.series[0].mean.pop();
    assert!(folder.line_plot("bad", &bad).is_err());
    bad = plot.clone();
    bad.series[0].mean[1] = f64::NAN;
    assert!(folder.line_plot("bad", &bad).is_err());

    let boxes = BoxPlot {
        title: "local LID".into(),
        y_label: "LID".into(),
        groups: vec![
            (
                "base".into(),
                (0..100).map(|i| 8.0 + (i % 7) as f64 * 0.3).collect(),
            ),
            (
                "fine-tuned".into(),
                (0..100)
                    .map(|i| 6.0 + (i % 5) as f64 * 0.4)
                    .chain([30.0])
                    .collect(),
            ),
        ],
    };
    let stats = boxes.stats().unwrap();
    assert_eq!(stats[1].outliers, 1);
    assert!(stats[0].q25 <= stats[0].median && stats[0].median <= stats[0].q75);
    folder.box_plot("box", &boxes).unwrap();
    let empty = BoxPlot {
        groups: vec![("e".into(), vec![])],
        ..boxes
    };
    assert!(folder.box_plot("empty", &empty).is_err());
}
