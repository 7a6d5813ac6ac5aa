//! Studies 2 and 3 trained in Rust, end to end at toy size on the MiniLM asset: the checkpoint
//! series is written, swept and merged; `series.csv` and `summary.json` follow the contract.
//! Needs the offline assets (`scripts/fetch-assets.sh`); fails when they are missing and `CI` is
//! set, prints a skip line otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

use std::path::{Path, PathBuf};

use lid_experiments::run::RunFolder;
use lid_experiments::studies::dst::{self, DstSettings};
use lid_experiments::studies::emowoz::{self, EmowozSettings};

fn minilm() -> Option<PathBuf> {
    let assets = std::env::var_os("LID_ASSETS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets"),
        PathBuf::from,
    );
    let dir = assets.join("minilm");
    if dir.join("model.safetensors").is_file()
        && assets
            .join("convlab/multiwoz/auto_user_template_nlg.json")
            .is_file()
    {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "assets missing under CI: {} (run scripts/fetch-assets.sh)",
        assets.display()
    );
    eprintln!("SKIPPED: assets missing in {}", assets.display());
    None
}

fn check_series(out: &Path, seeds: usize) {
    let csv = std::fs::read_to_string(out.join("series.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("seed,step,split,mean_lid,metric,val_loss")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert!(!rows.is_empty());
    for r in &rows {
        assert!(r[3].parse::<f64>().unwrap() > 0.0, "mean LID {r:?}");
        assert!(
            r[4].parse::<f64>().is_ok() && r[5].parse::<f64>().is_ok(),
            "metric and loss {r:?}"
        );
    }
    let splits: std::collections::BTreeSet<&str> = rows.iter().map(|r| r[2]).collect();
    assert_eq!(
        splits.into_iter().collect::<Vec<_>>(),
        ["test", "train", "validation"]
    );
    let seeds_seen: std::collections::BTreeSet<&str> = rows.iter().map(|r| r[0]).collect();
    assert_eq!(seeds_seen.len(), seeds);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert!(
        summary.get("spearman_lid_metric").is_some()
            && summary.get("spearman_lid_val_loss").is_some()
    );
    assert!(summary["headline"].as_str().unwrap().contains("paper"));
    for f in ["COMPLETE", "report.md", "series.png", "series/COMPLETE"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    // Step 0, the untrained model, is the first checkpoint of every seed, on every split, with
    // its metric and validation loss (evaluated before the first update).
    for seed in &seeds_seen {
        let zero: Vec<&Vec<&str>> = rows
            .iter()
            .filter(|r| r[0] == *seed && r[1] == "0")
            .collect();
        assert_eq!(zero.len(), 3, "seed {seed}: step 0 on each split");
    }
    assert_eq!(summary["steps"][0].as_u64(), Some(0));
    // The Spearman from the validation-loss minimum on is reported for every split.
    for split in summary["analysis"]["splits"].as_array().unwrap() {
        assert!(split.get("spearman_lid_val_loss_from_minimum").is_some());
        assert!(split["stabilisation_band"]["band"].as_f64().unwrap() >= 0.0);
    }
}

/// The headline numbers of `summary.json` are those of `split`'s analysis.
fn check_headline_split(out: &Path, split: &str) {
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["analysed_split"], split);
    assert_eq!(summary["analysis"]["analysed_split"], split);
    let analysed = summary["analysis"]["splits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["split"] == split)
        .unwrap();
    assert_eq!(
        summary["spearman_lid_metric"],
        analysed["spearman_lid_metric"]["spearman"]
    );
}

/// The quick preset on `model` at toy size: one epoch, inputs and probe of 48 tokens, M = 12,
/// N = 200, L = 8.
fn toy_dst(model: PathBuf) -> DstSettings {
    let mut s = DstSettings::quick();
    s.model = model;
    s.max_length = 48;
    s.epochs = 1.0;
    s.probe.sequences = 12;
    s.probe.max_length = 48;
    s.probe.n_points = 200;
    s.probe.neighbors = 8;
    s
}

/// The quick preset on `model` at toy size: a checkpoint per epoch, M = 30, N = 150, L = 8.
fn toy_emowoz(model: PathBuf) -> EmowozSettings {
    let mut s = EmowozSettings::quick();
    s.model = model;
    s.checkpoints_per_epoch = 1.0;
    s.probe.sequences = 30;
    s.probe.n_points = 150;
    s.probe.neighbors = 8;
    s
}

/// Checks the settings and runs the study into `<dir>/dst`; returns that folder.
fn run_dst(s: &DstSettings, dir: &Path) -> PathBuf {
    s.check().unwrap();
    let out = dir.join("dst");
    dst::run_study(s, RunFolder::create(&out, "dst").unwrap(), &mut |_| {}).unwrap();
    out
}

/// Checks the settings and runs the study into `<dir>/emowoz`; returns that folder.
fn run_emowoz(s: &EmowozSettings, dir: &Path) -> PathBuf {
    s.check().unwrap();
    let out = dir.join("emowoz");
    emowoz::run_study(s, RunFolder::create(&out, "emowoz").unwrap(), &mut |_| {}).unwrap();
    out
}

#[test]
fn dst_series_end_to_end() {
    let Some(model) = minilm() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut s = toy_dst(model);
    s.dialogues.dialogues = 16;
    s.dialogues.max_turns = 4;
    s.batch_size = 8;
    s.seeds = vec![40, 41];
    s.checkpoint_every = 2;
    let out = run_dst(&s, dir.path());
    check_series(&out, 2);
    // The paper's headline split for DST is the training split.
    check_headline_split(&out, "train");
    // The JGA ceiling of the data is reported in the summary and the report.
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let facts = summary["facts"].as_array().unwrap();
    let ceiling = facts
        .iter()
        .find(|f| f["name"] == "jga_ceiling_validation")
        .unwrap()["value"]
        .as_f64()
        .unwrap();
    assert!((0.0..=1.0).contains(&ceiling), "{ceiling}");
    assert!(summary["headline"]
        .as_str()
        .unwrap()
        .contains("JGA ceiling"));
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("jga_ceiling_validation"), "{report}");
    // The step-0 checkpoint was trained under TripPy-R's settings, recorded in config.json.
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    let text = config.to_string();
    assert!(text.contains("\"none_class_weight\":0.1"), "{text}");
}

#[test]
fn emowoz_series_end_to_end() {
    let Some(model) = minilm() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut s = toy_emowoz(model);
    s.data.train_per_class = 2;
    s.data.validation_per_class = 2;
    s.data.test_per_class = 2;
    s.epochs = 3;
    s.batch_size = 8;
    let out = run_emowoz(&s, dir.path());
    check_series(&out, 1);
    check_headline_split(&out, "validation");
}

/// The tracker trains on MultiWOZ 2.1's own files (`--multiwoz21`), with the official split of the
/// list files: lid-data's hand-written three-dialogue fixture in the real format.
#[test]
fn dst_series_on_multiwoz21_files() {
    let Some(model) = minilm() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut s = toy_dst(model);
    s.source = Some(dst::DialogueSource::Multiwoz21(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../lid-data/tests/fixtures/multiwoz21"),
    ));
    s.batch_size = 2;
    s.seeds = vec![40];
    s.checkpoint_every = 1;
    let out = run_dst(&s, dir.path());
    check_series(&out, 1);
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("MultiWOZ 2.1 from"), "{report}");
    assert!(report.contains("(1 / 1 / 1 dialogues"), "{report}");
}

/// The classifier trains on EmoWOZ's own files (`--emowoz`): lid-data's hand-written fixture in the
/// release's format (7 emotions, its `data-split.json`).
#[test]
fn emowoz_series_on_emowoz_files() {
    let Some(model) = minilm() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut s = toy_emowoz(model);
    s.emowoz =
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../lid-data/tests/fixtures/emowoz"));
    s.epochs = 2;
    s.batch_size = 2;
    let out = run_emowoz(&s, dir.path());
    check_series(&out, 1);
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("EmoWOZ from"), "{report}");
}
