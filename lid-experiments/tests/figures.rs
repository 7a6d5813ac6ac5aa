//! The figures of `run::plot` through `RunFolder::write_figure`: both files are written with the
//! announced pixel size, text reaches the SVG, known values and markers are drawn, and data a figure
//! cannot show is an error naming the figure, not a broken image.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

use lid_experiments::run::plot::{
    render_png, BoxPlot, BoxRow, Figure, LinePlot, Marker, Panel, RefLine, Series, StackedPlot,
    ViolinGroup, ViolinPlot,
};
use lid_experiments::run::RunFolder;

fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    (w, h)
}

fn line_plot() -> LinePlot {
    LinePlot {
        title: "mean LID".into(),
        x_label: "step".into(),
        y_label: "LID".into(),
        integer_x: true,
        series: vec![
            Series::band(
                "frac 0.25",
                &[(0.0, 5.0, 0.5), (500.0, 9.0, 1.0), (1000.0, 7.0, 0.2)],
            ),
            Series::line("frac 0.50", &[(0.0, 4.0), (500.0, 6.0), (1000.0, 3.0)]),
        ],
        reference_lines: vec![RefLine {
            label: "baseline".into(),
            y: 6.0,
        }],
        y_range: None,
    }
}

#[test]
fn every_figure_type_is_written_as_svg_and_png() {
    let dir = tempfile::tempdir().unwrap();
    let folder = RunFolder::create(dir.path().join("r"), "figures").unwrap();
    let stacked = StackedPlot {
        title: "one axis".into(),
        x_label: "step".into(),
        integer_x: true,
        panels: vec![
            Panel::new(
                "LID",
                vec![Series::line("train", &[(0.0, 9.0), (10.0, 7.0)])],
            ),
            Panel::new(
                "accuracy",
                vec![Series::line("val", &[(0.0, 0.1), (10.0, 0.9)])],
            ),
        ],
        markers: vec![Marker {
            label: "LID stabilises".into(),
            x: 6.0,
        }],
    };
    let boxes = BoxPlot {
        title: "boxes".into(),
        value_label: "local LID".into(),
        rows: vec![
            BoxRow::new(
                "ball (d = 5)",
                (0..100).map(|i| 4.0 + (i % 9) as f64 * 0.2).collect(),
            )
            .reference(5.0),
            BoxRow::new(
                "cube (d = 8)",
                (0..100).map(|i| 7.0 + (i % 5) as f64 * 0.3).collect(),
            )
            .reference(8.0),
        ],
        classes: vec![],
        reference_label: "true dimension".into(),
        reference_line: None,
    };
    let violins = ViolinPlot {
        title: "violins".into(),
        y_label: "local LID".into(),
        variants: vec!["base".into(), "fine-tuned".into()],
        groups: vec![ViolinGroup {
            label: "MultiWOZ".into(),
            distributions: vec![
                (0..200).map(|i| 9.0 + (i as f64 * 0.37).sin()).collect(),
                (0..200).map(|i| 7.0 + (i as f64 * 0.53).sin()).collect(),
            ],
        }],
    };
    let figures: [(&str, &dyn Figure, &[&str]); 4] = [
        (
            "lines",
            &line_plot(),
            &["mean LID", "frac 0.25", "baseline"],
        ),
        (
            "stacked",
            &stacked,
            &["one axis", "LID stabilises", "accuracy"],
        ),
        (
            "boxes",
            &boxes,
            &["ball (d = 5)", "true dimension", "median"],
        ),
        ("violins", &violins, &["MultiWOZ", "fine-tuned"]),
    ];
    for (stem, figure, texts) in figures {
        let [svg, png] = folder.write_figure(stem, figure).unwrap();
        let svg = std::fs::read_to_string(svg).unwrap();
        for t in texts {
            assert!(svg.contains(t), "{stem}: `{t}` missing from the SVG");
        }
        assert_eq!(
            png_size(&std::fs::read(png).unwrap()),
            figure.pixel_size(),
            "{stem}"
        );
    }
    // Tick labels of an integer axis are integers ("1000", never "1000.0").
    let svg = std::fs::read_to_string(dir.path().join("r/lines.svg")).unwrap();
    assert!(
        svg.contains("\n1000\n") && !svg.contains("1000.0"),
        "integer ticks"
    );
    // The box plot grows with its rows.
    let mut more = boxes.clone();
    more.rows = (0..20).map(|i| boxes.rows[i % 2].clone()).collect();
    assert!(more.size().1 > boxes.size().1);
}

#[test]
fn bad_data_is_an_error_naming_the_figure() {
    let mut bad = line_plot();
    bad.series[0].y.pop();
    let err = render_png(&bad).unwrap_err().to_string();
    assert!(
        err.contains("mean LID") && err.contains("lengths differ"),
        "{err}"
    );
    let mut bad = line_plot();
    bad.series[1].y[1] = f64::NAN;
    assert!(render_png(&bad)
        .unwrap_err()
        .to_string()
        .contains("non-finite"));
    let empty = BoxPlot {
        title: "empty".into(),
        value_label: "v".into(),
        rows: vec![BoxRow::new("nothing", vec![])],
        classes: vec![],
        reference_label: String::new(),
        reference_line: None,
    };
    assert!(render_png(&empty)
        .unwrap_err()
        .to_string()
        .contains("nothing"));
    let no_panels = StackedPlot {
        title: "none".into(),
        x_label: "x".into(),
        integer_x: false,
        panels: vec![],
        markers: vec![],
    };
    assert!(render_png(&no_panels).is_err());
}
