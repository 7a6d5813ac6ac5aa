//! A real checkpoint-series sweep on lid-train's tiny BERT fixture (`lid-train/tests/fixtures/
//! bert_cls/model`: 2 layers, width 32, vocabulary 48, 12 positions), with the tiny spec of
//! `scripts/slurm/fixture/` (a word-level tokenizer over 44 MultiWOZ-like words, two splits of 40
//! short sentences, lid-train style `metrics.csv` per seed). Six "checkpoints" (seeds 1 and 2 x
//! steps 10, 20, 30) are perturbed copies of the fixture saved with
//! `lid_train::checkpoint::save_model`; 12 units in all.
//!
//! Checked: sharded sweeps (K = 2 and K = 3, shards run in any order, any thread count) merge to
//! the same bytes as an unsharded sweep; a shard killed mid-run and rerun computes only the units
//! without a result file; a merge of an incomplete sweep is refused with the missing units named;
//! the CLI names the flag of every bad argument.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lid_experiments::studies::series::spec::SeriesSpec;
use lid_experiments::studies::series::sweep::{Shard, SweepUnit};
use lid_experiments::studies::series::{self, SERIES_FILE};

const MERGED: [&str; 6] = [
    "series.csv",
    "units.csv",
    "summary.json",
    "report.md",
    "series.svg",
    "series.png",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Copies the fixture spec and data into `dir` and writes the six checkpoints; returns the spec.
fn make_fixture(dir: &Path) -> PathBuf {
    common::copy_sweep_inputs(dir);
    let model = repo().join("lid-train/tests/fixtures/bert_cls/model");
    for seed in [1u64, 2] {
        for step in [10u64, 20, 30] {
            let mut loaded = lid_train::model::load_model(&model).unwrap();
            let amplitude = 0.1 * step as f32 / 10.0;
            for p in loaded.model.store.iter_mut() {
                for (i, v) in p.data.iter_mut().enumerate() {
                    *v *= 1.0 + amplitude * (i as f32 * 0.37 + seed as f32).sin();
                }
            }
            let out = dir.join(format!("checkpoints/seed{seed}/checkpoint-{step}"));
            lid_train::checkpoint::save_model(
                &loaded.model,
                &out,
                "BertModel",
                &serde_json::json!({}),
                None,
            )
            .unwrap();
        }
    }
    dir.join("spec.json")
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn assert_same_merge(a: &Path, b: &Path) {
    for name in MERGED {
        assert!(
            read(&a.join(name)) == read(&b.join(name)),
            "{name} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
}

fn quiet(_: &str) {}

#[test]
fn sharded_sweeps_merge_to_the_same_bytes_as_an_unsharded_one() {
    let dir = tempfile::tempdir().unwrap();
    let spec = SeriesSpec::from_file(&make_fixture(dir.path())).unwrap();
    let plan = series::plan(&spec).unwrap();
    let keys: Vec<String> = plan.units.iter().map(SweepUnit::key).collect();
    assert_eq!(keys.len(), 12);
    assert_eq!(&keys[..3], &["1-10-train", "1-10-validation", "1-20-train"]);

    let whole = dir.path().join("whole");
    let report = series::run_sweep(&spec, &whole, Shard::ALL, &mut quiet).unwrap();
    assert_eq!((report.units, report.computed.len()), (12, 12));
    series::merge(&whole, &mut quiet).unwrap();

    for k in [2usize, 3] {
        let out = dir.path().join(format!("k{k}"));
        // Shards in reverse order: the result may not depend on which shard ran first.
        for i in (0..k).rev() {
            let r = series::run_sweep(&spec, &out, Shard::new(i, k).unwrap(), &mut quiet).unwrap();
            assert_eq!(r.units, (i..12).step_by(k).count());
            assert!(r.skipped.is_empty());
        }
        series::merge(&out, &mut quiet).unwrap();
        assert_same_merge(&whole, &out);
    }

    // The merged series: the exact columns, one row per unit, the checkpoints' metrics joined.
    let csv = String::from_utf8(read(&whole.join(SERIES_FILE))).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "seed,step,split,mean_lid,metric,val_loss");
    assert_eq!(lines.len(), 13);
    let row: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(&row[..3], &["1", "10", "train"]);
    assert_eq!(&row[4..], &["0.55", "1.4"]);
    let lids: Vec<f64> = lines[1..]
        .iter()
        .map(|l| l.split(',').nth(3).unwrap().parse().unwrap())
        .collect();
    assert!(lids.iter().all(|v| v.is_finite() && *v > 0.0), "{lids:?}");
    // Different checkpoints give different LIDs (the units measured different models).
    let mut distinct = lids.clone();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    assert!(distinct.len() > 6, "{lids:?}");
    // The summary reads as the suite's StudySummary and carries the correlations.
    let summary = lid_experiments::run::folder::read_summary(&whole).unwrap();
    assert_eq!(summary.study, "series");
    let json: serde_json::Value =
        serde_json::from_slice(&read(&whole.join("summary.json"))).unwrap();
    assert_eq!(json["analysis"]["analysed_split"], "validation");
    assert_eq!(json["analysis"]["metric_saturation_step"], 30);
    assert_eq!(json["analysis"]["val_loss_minimum_step"], 20);
    assert!(json["spearman_lid_metric"].is_number(), "{json}");
}

fn lid(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lid"))
        .args(args)
        .output()
        .expect("the lid binary runs")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn failure(out: &Output) -> String {
    assert!(!out.status.success(), "expected a failure");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn unit_files(out: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(out.join("units"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".json") && !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn cli_shards_resume_after_a_kill_and_merge_like_an_unsharded_run() {
    let dir = tempfile::tempdir().unwrap();
    let spec = make_fixture(dir.path());
    let spec_s = spec.to_str().unwrap();
    assert_eq!(ok(&lid(&["sweep", "units", "--spec", spec_s])).trim(), "12");

    // Reference: unsharded, one thread.
    let whole = dir.path().join("whole");
    let w = whole.to_str().unwrap();
    ok(&lid(&[
        "sweep",
        "run",
        "--spec",
        spec_s,
        "--out",
        w,
        "--threads",
        "1",
    ]));
    ok(&lid(&["sweep", "merge", "--out", w]));

    // Three shards started at the same moment on a folder that does not exist yet, as a job
    // array starts them: they must agree on the plan and not refuse each other's files.
    let together = dir.path().join("together");
    let handles: Vec<_> = (0..3)
        .map(|i| {
            let (spec, out) = (spec.clone(), together.clone());
            std::thread::spawn(move || {
                Command::new(env!("CARGO_BIN_EXE_lid"))
                    .args(["sweep", "run", "--spec"])
                    .arg(&spec)
                    .arg("--out")
                    .arg(&out)
                    .args(["--task-index", &i.to_string(), "--task-count", "3"])
                    .output()
                    .unwrap()
            })
        })
        .collect();
    for h in handles {
        ok(&h.join().unwrap());
    }
    ok(&lid(&[
        "sweep",
        "merge",
        "--out",
        together.to_str().unwrap(),
    ]));
    assert_same_merge(&whole, &together);

    let out = dir.path().join("sharded");
    let o = out.to_str().unwrap();
    let shard = |i: &str| {
        lid(&[
            "sweep",
            "run",
            "--spec",
            spec_s,
            "--out",
            o,
            "--task-index",
            i,
            "--task-count",
            "2",
        ])
    };
    let stdout = ok(&shard("0"));
    assert!(
        stdout.contains("6 units, 6 computed, 0 already done"),
        "{stdout}"
    );
    // Half the units: the merge refuses and names what is missing.
    let err = failure(&lid(&["sweep", "merge", "--out", o]));
    assert!(
        err.contains("6 of 12 units") && err.contains("1-10-validation"),
        "{err}"
    );
    assert!(!out.join("COMPLETE").exists());

    // Shard 1 killed mid-run (as soon as its first unit file appears, or when it is done).
    let mut child = Command::new(env!("CARGO_BIN_EXE_lid"))
        .args([
            "sweep",
            "run",
            "--spec",
            spec_s,
            "--out",
            o,
            "--task-index",
            "1",
            "--task-count",
            "2",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    while unit_files(&out).len() < 7 && child.try_wait().unwrap().is_none() {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let _ = child.kill();
    let _ = child.wait();
    // A killed write leaves at most a hidden partial file; a stray one must be ignored.
    std::fs::write(
        out.join("units/.1-30-train.json.99999-0.partial"),
        "{\"trunc",
    )
    .unwrap();
    let done_before = unit_files(&out).len() - 6;
    assert!(done_before >= 1, "the killed shard finished no unit");
    let stdout = ok(&shard("1"));
    assert!(
        stdout.contains(&format!(
            "6 units, {} computed, {done_before} already done",
            6 - done_before
        )),
        "{stdout}"
    );
    // Rerunning a finished shard computes nothing.
    let stdout = ok(&shard("0"));
    assert!(stdout.contains("0 computed, 6 already done"), "{stdout}");
    ok(&lid(&["sweep", "merge", "--out", o]));
    assert_same_merge(&whole, &out);
    lid_experiments::run::folder::require_complete(&out).unwrap();
}

#[test]
fn cli_errors_name_the_flag_or_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let spec = make_fixture(dir.path());
    let spec_s = spec.to_str().unwrap();
    let out = dir.path().join("out");
    let o = out.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["sweep", "run", "--spec", spec_s, "--out", o];
        args.extend_from_slice(extra);
        lid(&args)
    };
    let err = failure(&run(&["--task-index", "0"]));
    assert!(
        err.contains("--task-index 0") && err.contains("--task-count"),
        "{err}"
    );
    let err = failure(&run(&["--task-index", "3", "--task-count", "3"]));
    assert!(err.contains("--task-index 3"), "{err}");
    let err = failure(&run(&["--task-index", "0", "--task-count", "0"]));
    assert!(err.contains("--task-count 0"), "{err}");
    let err = failure(&lid(&[
        "sweep",
        "run",
        "--spec",
        "/no/such.json",
        "--out",
        o,
    ]));
    assert!(err.contains("--spec /no/such.json"), "{err}");
    // An output that is a file, a non-empty folder without a sweep, a missing parent.
    let file = dir.path().join("train.txt");
    let err = failure(&lid(&[
        "sweep",
        "run",
        "--spec",
        spec_s,
        "--out",
        file.to_str().unwrap(),
    ]));
    assert!(
        err.contains("--out") && err.contains("not a folder"),
        "{err}"
    );
    let err = failure(&lid(&[
        "sweep",
        "run",
        "--spec",
        spec_s,
        "--out",
        dir.path().to_str().unwrap(),
    ]));
    assert!(
        err.contains("--out") && err.contains("holds no sweep"),
        "{err}"
    );
    let deep = dir.path().join("no/such/out");
    let err = failure(&lid(&[
        "sweep",
        "run",
        "--spec",
        spec_s,
        "--out",
        deep.to_str().unwrap(),
    ]));
    assert!(
        err.contains("--out") && err.contains("does not exist"),
        "{err}"
    );
    let err = failure(&lid(&["sweep", "merge", "--out", o]));
    assert!(err.contains("--out"), "{err}");
    // A bad spec value names the spec file and the field.
    let text = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(&spec, text.replace("\"neighbors\": 8", "\"neighbors\": 2")).unwrap();
    let err = failure(&run(&[]));
    assert!(
        err.contains("spec.json") && err.contains("field `probe`"),
        "{err}"
    );
    // A folder of another sweep is refused.
    std::fs::write(&spec, &text).unwrap();
    ok(&run(&["--task-index", "0", "--task-count", "12"]));
    std::fs::write(&spec, text.replace("\"neighbors\": 8", "\"neighbors\": 9")).unwrap();
    let err = failure(&run(&[]));
    assert!(
        err.contains("holds another sweep") && err.contains("`probe` differs"),
        "{err}"
    );
}
