//! The merged outputs of a checkpoint-series sweep: `series.csv`, `units.csv`, `summary.json`, the
//! stacked figure `series.svg`/`series.png` and `report.md`. Nothing here depends on how the units
//! were sharded or when they ran (no wall times, no clock), so sharded and unsharded sweeps merge
//! to the same bytes.

use serde::{Deserialize, Serialize};

use super::analysis::{SeriesAnalysis, SeriesRow, SplitAnalysis, StepMean};
use super::spec::{MetricSource, SeriesSpec};
use super::unit::{SeriesUnit, UnitResult};
use crate::error::Result;
use crate::run::folder::FigureRef;
use crate::run::plot::{Marker, Panel, Series, StackedPlot};
use crate::run::{StudySummary, Table};

/// The columns of `series.csv`, exactly.
pub const SERIES_COLUMNS: [&str; 6] = ["seed", "step", "split", "mean_lid", "metric", "val_loss"];

/// `summary.json`: a [`StudySummary`] (so the suite report can read it) plus the analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesSummary {
    /// What the suite report shows.
    #[serde(flatten)]
    pub study: StudySummary,
    /// Units merged.
    pub units: usize,
    /// Seeds.
    pub seeds: Vec<u64>,
    /// Checkpoint steps (union over seeds).
    pub steps: Vec<u64>,
    /// Splits, in the spec's order.
    pub splits: Vec<String>,
    /// The metric's name.
    pub metric_name: String,
    /// Spearman(seed-mean LID, seed-mean metric) on the analysed split.
    pub spearman_lid_metric: Option<f64>,
    /// Spearman(seed-mean LID, seed-mean validation loss) on the analysed split.
    pub spearman_lid_val_loss: Option<f64>,
    /// The same from the validation-loss minimum step on.
    pub spearman_lid_val_loss_from_minimum: Option<f64>,
    /// The split of the three numbers above (the headline split).
    pub analysed_split: String,
    /// Every finding.
    pub analysis: SeriesAnalysis,
}

/// A number for CSV and JSON-free tables: shortest text that reads back to the same `f64`.
fn num(v: f64) -> String {
    format!("{v}")
}

fn opt(v: Option<f64>) -> String {
    v.map(num).unwrap_or_default()
}

fn fixed(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.digits$}"))
}

fn step(v: Option<u64>) -> String {
    v.map_or_else(|| "–".into(), |s| s.to_string())
}

/// `series.csv`.
///
/// # Errors
/// Never for well-formed rows (a row-length mismatch is a bug).
pub fn series_table(rows: &[SeriesRow]) -> Result<Table> {
    let mut t = Table::new(SERIES_COLUMNS);
    for r in rows {
        t.push_row([
            r.seed.to_string(),
            r.step.to_string(),
            r.split.clone(),
            num(r.mean_lid),
            opt(r.metric),
            opt(r.val_loss),
        ])?;
    }
    Ok(t)
}

/// `units.csv`: every unit's numbers except its wall time.
///
/// # Errors
/// As [`series_table`].
pub fn units_table(units: &[SeriesUnit], results: &[UnitResult]) -> Result<Table> {
    let mut t = Table::new([
        "seed",
        "step",
        "split",
        "checkpoint",
        "sequences",
        "sequences_available",
        "truncated",
        "mean_lid",
        "std_lid",
        "median_lid",
        "points",
        "duplicates_removed",
    ]);
    for (u, r) in units.iter().zip(results) {
        t.push_row([
            r.seed.to_string(),
            r.step.to_string(),
            r.split.clone(),
            u.checkpoint.display().to_string(),
            r.sequences.to_string(),
            r.sequences_available.to_string(),
            r.truncated.to_string(),
            num(r.mean_lid),
            num(r.std_lid),
            num(r.median_lid),
            r.points.to_string(),
            r.duplicates_removed.to_string(),
        ])?;
    }
    Ok(t)
}

fn band(label: &str, points: &[StepMean]) -> Series {
    let p: Vec<(f64, f64, f64)> = points
        .iter()
        .map(|p| (p.step as f64, p.mean, p.std.unwrap_or(0.0)))
        .collect();
    Series::band(label, &p)
}

/// The stacked figure: mean +- std over seeds of the mean LID per split on top, the metric and the
/// validation loss below, markers at the steps the analysis found.
pub fn figure(spec: &SeriesSpec, analysis: &SeriesAnalysis, seeds: usize) -> StackedPlot {
    let metric = &spec.analysis.metric_name;
    let mut panels = vec![Panel::new(
        "mean local LID",
        analysis
            .splits
            .iter()
            .map(|s| band(&s.split, &s.lid))
            .collect(),
    )];
    if !analysis.metric.is_empty() {
        panels.push(Panel::new(
            metric.clone(),
            vec![band(metric, &analysis.metric)],
        ));
    }
    if !analysis.val_loss.is_empty() {
        panels.push(Panel::new(
            "validation loss",
            vec![band("val loss", &analysis.val_loss)],
        ));
    }
    let mut markers = Vec::new();
    let split = &analysis.analysed_split;
    if let Some(a) = analysis.analysed() {
        if let Some(s) = a.lid_stabilisation_step {
            markers.push(Marker {
                label: format!("LID stabilises ({split})"),
                x: s as f64,
            });
        }
        if let Some(m) = &a.lid_minimum {
            markers.push(Marker {
                label: format!("LID minimum ({split})"),
                x: m.step as f64,
            });
        }
    }
    if let Some(s) = analysis.metric_saturation_step {
        markers.push(Marker {
            label: format!("{metric} saturates"),
            x: s as f64,
        });
    }
    if let Some(s) = analysis.val_loss_minimum_step {
        markers.push(Marker {
            label: "val loss minimum".into(),
            x: s as f64,
        });
    }
    StackedPlot {
        title: format!(
            "{}: mean ± std over {seeds} seed{}",
            spec.name,
            if seeds == 1 { "" } else { "s" }
        ),
        x_label: "checkpoint step".into(),
        integer_x: true,
        panels,
        markers,
    }
}

/// The per-split findings as a table.
///
/// # Errors
/// As [`series_table`].
pub fn findings_table(analysis: &SeriesAnalysis) -> Result<Table> {
    let mut t = Table::new([
        "split",
        "LID stabilises",
        "band (0.1 range / seed std)",
        "LID min (after first)",
        "LID rise ± std over seeds",
        "rise > std",
        "Spearman LID-metric",
        "Spearman LID-val loss",
        "from val-loss min on",
        "LID change point",
        "lead-lag (checkpoints)",
    ]);
    for s in &analysis.splits {
        let (min, rise, exceeds) = match &s.lid_minimum {
            Some(m) => (
                m.step.to_string(),
                match m.rise_std {
                    Some(sd) => format!("{:.3} ± {sd:.3} (n = {})", m.rise, m.seeds),
                    None => format!("{:.3} (n = {})", m.rise, m.seeds),
                },
                m.rise_exceeds_std
                    .map_or_else(|| "–".into(), |b| if b { "yes" } else { "no" }.into()),
            ),
            None => ("–".into(), "–".into(), "–".into()),
        };
        t.push_row([
            s.split.clone(),
            step(s.lid_stabilisation_step),
            s.stabilisation_band.map_or_else(
                || "–".into(),
                |b| {
                    format!(
                        "{:.3} ({:.3} / {})",
                        b.band,
                        b.range_term,
                        fixed(b.seed_spread, 3)
                    )
                },
            ),
            min,
            rise,
            exceeds,
            fixed(s.spearman_lid_metric.map(|c| c.spearman), 3),
            fixed(s.spearman_lid_val_loss.map(|c| c.spearman), 3),
            s.spearman_lid_val_loss_from_minimum.map_or_else(
                || "–".into(),
                |c| format!("{:.3} (n = {})", c.spearman, c.checkpoints),
            ),
            s.change_point
                .map_or_else(|| "–".into(), |c| c.step.to_string()),
            s.lead_lag.map_or_else(
                || "–".into(),
                |l| format!("{:+} (r = {:.3})", l.lag, l.correlation),
            ),
        ])?;
    }
    Ok(t)
}

/// Seed means per step: one LID column per split, the metric and the validation loss.
///
/// # Errors
/// As [`series_table`].
pub fn means_table(analysis: &SeriesAnalysis, metric_name: &str) -> Result<Table> {
    let mut headers = vec!["step".to_string()];
    headers.extend(analysis.splits.iter().map(|s| format!("LID {}", s.split)));
    headers.push(metric_name.to_string());
    headers.push("val loss".into());
    let mut steps: Vec<u64> = analysis
        .splits
        .iter()
        .flat_map(|s| s.lid.iter().map(|p| p.step))
        .chain(analysis.metric.iter().map(|p| p.step))
        .chain(analysis.val_loss.iter().map(|p| p.step))
        .collect();
    steps.sort_unstable();
    steps.dedup();
    let at = |points: &[StepMean], step: u64, digits: usize| {
        points.iter().find(|p| p.step == step).map_or_else(
            || "–".to_string(),
            |p| match p.std {
                Some(sd) => format!("{:.digits$} ± {sd:.digits$}", p.mean),
                None => format!("{:.digits$}", p.mean),
            },
        )
    };
    let mut t = Table::new(headers);
    for s in steps {
        let mut row = vec![s.to_string()];
        row.extend(analysis.splits.iter().map(|a| at(&a.lid, s, 3)));
        row.push(at(&analysis.metric, s, 4));
        row.push(at(&analysis.val_loss, s, 4));
        t.push_row(row)?;
    }
    Ok(t)
}

fn metric_source(spec: &SeriesSpec) -> String {
    match &spec.metrics {
        MetricSource::None => "none".into(),
        MetricSource::Trippy(t) => format!(
            "TripPy-R `eval_res.{}.json` (`{}` as {}, `{}` as validation loss)",
            t.split, t.metric_key, spec.analysis.metric_name, t.loss_key
        ),
        MetricSource::Csv { path } => format!("CSV {}", path.display()),
        MetricSource::LidTrain(l) => format!(
            "lid-train `metrics.csv` (`{}` as {}, `{}` as validation loss)",
            l.metric, spec.analysis.metric_name, l.loss
        ),
    }
}

fn headline(spec: &SeriesSpec, analysis: &SeriesAnalysis) -> String {
    let split = &analysis.analysed_split;
    let metric = &spec.analysis.metric_name;
    let Some(a) = analysis.analysed() else {
        return format!("No LID series for the split {split}.");
    };
    let mut parts = vec![format!(
        "On {split}, mean LID stabilises at step {}",
        step(a.lid_stabilisation_step)
    )];
    if !analysis.metric.is_empty() {
        parts.push(format!(
            "{metric} saturates at step {}",
            step(analysis.metric_saturation_step)
        ));
    }
    if !analysis.val_loss.is_empty() {
        parts.push(format!(
            "validation loss is lowest at step {}",
            step(analysis.val_loss_minimum_step)
        ));
    }
    let mut text = parts.join("; ") + ".";
    if let Some(c) = a.spearman_lid_metric {
        text.push_str(&format!(
            " Spearman(LID, {metric}) = {:.3} over {} checkpoints.",
            c.spearman, c.checkpoints
        ));
    }
    if let Some(c) = a.spearman_lid_val_loss {
        text.push_str(&format!(" Spearman(LID, val loss) = {:.3}", c.spearman));
        match a.spearman_lid_val_loss_from_minimum {
            Some(m) => text.push_str(&format!(
                ", {:.3} over the {} checkpoints from the val-loss minimum on.",
                m.spearman, m.checkpoints
            )),
            None => text.push('.'),
        }
    }
    if let Some(m) = &a.lid_minimum {
        let sd = m
            .rise_std
            .map_or_else(String::new, |s| format!(" ± {s:.3}"));
        text.push_str(&format!(
            " LID minimum after the first checkpoint at step {}, rise to the last {:.3}{sd}.",
            m.step, m.rise
        ));
    }
    text
}

/// The summary, report and tables of a merged series.
pub struct MergedReport {
    /// `summary.json`.
    pub summary: SeriesSummary,
    /// `report.md`.
    pub markdown: String,
}

/// Builds `summary.json` and `report.md`.
///
/// # Errors
/// As [`series_table`].
pub fn build(
    spec: &SeriesSpec,
    units: &[SeriesUnit],
    rows: &[SeriesRow],
    analysis: &SeriesAnalysis,
) -> Result<MergedReport> {
    let mut seeds: Vec<u64> = units.iter().map(|u| u.seed).collect();
    seeds.sort_unstable();
    seeds.dedup();
    let mut steps: Vec<u64> = units.iter().map(|u| u.step).collect();
    steps.sort_unstable();
    steps.dedup();
    let splits: Vec<String> = analysis.splits.iter().map(|s| s.split.clone()).collect();
    let checkpoints = units.len() / splits.len().max(1);
    let findings = findings_table(analysis)?;
    let means = means_table(analysis, &spec.analysis.metric_name)?;
    let caption = format!(
        "Mean local LID per split (top), {} and validation loss (below) over checkpoints, mean ± \
         std over {} seeds; markers at the steps the analysis finds.",
        spec.analysis.metric_name,
        seeds.len()
    );
    let analysed: Option<&SplitAnalysis> = analysis.analysed();
    let summary = SeriesSummary {
        study: StudySummary {
            study: "series".into(),
            title: spec.name.clone(),
            headline: headline(spec, analysis),
            table_markdown: Some(findings.to_markdown()),
            figures: vec![FigureRef {
                file: "series.png".into(),
                caption: caption.clone(),
            }],
            direction: None,
        },
        units: units.len(),
        seeds: seeds.clone(),
        steps: steps.clone(),
        splits: splits.clone(),
        metric_name: spec.analysis.metric_name.clone(),
        spearman_lid_metric: analysed.and_then(|a| a.spearman_lid_metric.map(|c| c.spearman)),
        spearman_lid_val_loss: analysed.and_then(|a| a.spearman_lid_val_loss.map(|c| c.spearman)),
        spearman_lid_val_loss_from_minimum: analysed
            .and_then(|a| a.spearman_lid_val_loss_from_minimum.map(|c| c.spearman)),
        analysed_split: analysis.analysed_split.clone(),
        analysis: analysis.clone(),
    };
    let p = &spec.probe;
    let missing_metric = rows.iter().filter(|r| r.metric.is_none()).count();
    let mut md = format!("# {}: local dimension over checkpoints\n\n", spec.name);
    md.push_str(&format!(
        "{} units: {checkpoints} checkpoints ({} seeds: {}; steps {}..{}) x {} splits ({}).\n\n",
        units.len(),
        seeds.len(),
        seeds
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        steps.first().copied().unwrap_or(0),
        steps.last().copied().unwrap_or(0),
        splits.len(),
        splits.join(", ")
    ));
    md.push_str(&format!(
        "Probe: M = {} sequences per split (seed {}), max length {}, hidden state {}, token \
         filter {:?}, {} token vectors sampled (seed {}), exact duplicates removed, N = {}, L = \
         {}, TwoNN CDF {:?}. Metrics: {}.\n\n",
        p.sequences,
        p.sequence_seed,
        p.max_length,
        p.layer,
        p.filter,
        p.sample
            .map_or_else(|| "all".to_string(), |s| s.to_string()),
        p.sample_seed,
        p.n_points,
        p.neighbors,
        p.cdf,
        metric_source(spec)
    ));
    if missing_metric > 0 && !matches!(spec.metrics, MetricSource::None) {
        md.push_str(&format!(
            "{missing_metric} of {} rows have no metric in the metric files (left empty in \
             series.csv).\n\n",
            rows.len()
        ));
    }
    md.push_str(&format!("![{caption}](series.png)\n\n"));
    md.push_str(&format!("## Findings\n\n{}\n\n", summary.study.headline));
    md.push_str(&format!(
        "Analysed split (the headline numbers and the figure's markers; the table has every split): {}. Metric saturation step: {}. Validation-loss minimum step: {}.\n\n",
        analysis.analysed_split,
        step(analysis.metric_saturation_step),
        step(analysis.val_loss_minimum_step)
    ));
    md.push_str(&findings.to_markdown());
    md.push('\n');
    let notes: Vec<String> = analysis
        .splits
        .iter()
        .flat_map(|s| s.notes.iter().map(move |n| format!("- {}: {n}", s.split)))
        .collect();
    if !notes.is_empty() {
        md.push_str(&format!("Notes:\n{}\n\n", notes.join("\n")));
    }
    md.push_str("## Seed means per checkpoint\n\n");
    md.push_str(&means.to_markdown());
    md.push_str(
        "\n## Definitions\n\nFixed before any curve was seen (docs/reproduction.md, \
         \"Definitions for studies 2 and 3\"); every rule uses seed means per step.\n\n\
         - Metric saturation step: the first checkpoint step at which the seed-mean metric \
         reaches at least 99 % of its maximum over the series.\n\
         - LID stabilisation step: the first checkpoint step s such that for every later \
         checkpoint t >= s, |LID(t) - LID(last)| <= band, band = max(0.1 x (max LID - min LID), \
         mean over checkpoints of the seed std of the LID) (the range term alone with one \
         seed).\n\
         - Validation-loss minimum step: argmin over steps of the seed-mean validation loss \
         (first on ties).\n\
         - LID minimum: argmin of the seed-mean LID over the checkpoints after the first; rise = \
         LID(last) - LID(min), its std the sample std of the per-seed rises.\n\
         - Spearman correlations over checkpoints of the seed means (with the validation loss \
         also from its minimum step on); the change point and the \
         lead-lag (of -LID against the metric; positive: LID moves first) are reported, not used \
         by the rules.\n\n\
         Files: series.csv (seed, step, split, mean_lid, metric, val_loss), units.csv (every \
         unit's statistics), summary.json (this analysis), units/ (one result file per unit), \
         plan.json (settings and unit order).\n",
    );
    Ok(MergedReport {
        summary,
        markdown: md,
    })
}
