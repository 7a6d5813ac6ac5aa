//! The readers of training-run metric files on small hand-written fixtures in each format
//! (TripPy-R `eval_res.<split>.json`, a `seed,step,metric,val_loss` CSV, lid-train's
//! `metrics.csv`), and the inputs the fuzz target `run_metrics` found (`fuzz_regression_*`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

use std::path::Path;

use lid_data::run_metrics::{
    read_lid_train_metrics, read_series_csv, read_trippy_eval_res, StepMetrics,
};

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn reads_trippy_eval_res() {
    // As TripPy-R's run_dst.py writes it: one object per checkpoint (global_step from the folder
    // name, as a string), the output folder's own model last as "final".
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "eval_res.dev.json",
        r#"[
  {"eval_accuracy_hotel-area": 0.97, "eval_accuracy_goal": 0.4123, "eval_loss_hotel-area": 0.1, "loss": 2.5, "global_step": "1775"},
  {"eval_accuracy_goal": 0.5, "loss": 2.25, "global_step": "10650"},
  {"eval_accuracy_goal": 0.45, "loss": 2.3, "global_step": 3550},
  {"eval_accuracy_goal": 0.55, "loss": 2.2, "global_step": "final"}
]"#,
    );
    let m = read_trippy_eval_res(&path, "eval_accuracy_goal", "loss").unwrap();
    let steps: Vec<u64> = m.keys().copied().collect();
    assert_eq!(steps, vec![1775, 3550, 10650]);
    assert_eq!(
        m[&1775],
        StepMetrics {
            metric: Some(0.4123),
            val_loss: Some(2.5)
        }
    );
    // Malformed entries name the file, the entry and the field.
    let bad = write(
        dir.path(),
        "eval_res.test.json",
        r#"[{"eval_accuracy_goal": 0.4, "loss": 2.5, "global_step": "1775"},
            {"eval_accuracy_goal": "high", "loss": 2.5, "global_step": "3550"}]"#,
    );
    let err = read_trippy_eval_res(&bad, "eval_accuracy_goal", "loss")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("eval_res.test.json")
            && err.contains("entry 1 (global_step 3550)")
            && err.contains("eval_accuracy_goal"),
        "{err}"
    );
    let bad = write(
        dir.path(),
        "b.json",
        r#"[{"eval_accuracy_goal": 0.4, "loss": 1}]"#,
    );
    let err = read_trippy_eval_res(&bad, "eval_accuracy_goal", "loss")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("entry 0") && err.contains("global_step"),
        "{err}"
    );
    let bad = write(dir.path(), "c.json", r#"{"eval_accuracy_goal": 0.4}"#);
    assert!(read_trippy_eval_res(&bad, "eval_accuracy_goal", "loss").is_err());
}

#[test]
fn reads_series_csv_and_lid_train_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "m.csv",
        "step,seed,val_loss,metric,note\n100,40,1.5,0.2,x\n200,40,,0.3,y\n100,41,1.4,,z\n",
    );
    let m = read_series_csv(&path).unwrap();
    assert_eq!(m.len(), 3);
    assert_eq!(
        m[&(40, 200)],
        StepMetrics {
            metric: Some(0.3),
            val_loss: None
        }
    );
    assert_eq!(m[&(41, 100)].metric, None);
    let bad = write(
        dir.path(),
        "bad.csv",
        "seed,step,metric,val_loss\n40,100,abc,1\n",
    );
    let err = read_series_csv(&bad).unwrap_err().to_string();
    assert!(
        err.contains("bad.csv") && err.contains("line 2") && err.contains("`metric`"),
        "{err}"
    );
    let missing = write(dir.path(), "missing.csv", "seed,step,metric\n40,100,0.5\n");
    let err = read_series_csv(&missing).unwrap_err().to_string();
    assert!(
        err.contains("val_loss") && err.contains("no such column"),
        "{err}"
    );

    // lid-train: step,lr,loss,grad_norm,tokens,seconds, then the evaluation columns, empty where
    // the step was not evaluated.
    let lt = write(
        dir.path(),
        "metrics.csv",
        "step,lr,loss,grad_norm,tokens,seconds,eval_loss,macro_f1\n\
         0,0,,,0,0.0000,2.0,0.1\n\
         50,0.0001,1.2,0.9,4096,0.5000,,\n\
         100,0.0001,0.9,0.8,4096,0.5000,1.1,0.45\n",
    );
    let m = read_lid_train_metrics(&lt, "macro_f1", "eval_loss").unwrap();
    assert_eq!(m.keys().copied().collect::<Vec<_>>(), vec![0, 100]);
    assert_eq!(m[&100].val_loss, Some(1.1));
    let err = read_lid_train_metrics(&lt, "accuracy", "eval_loss")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("accuracy") && err.contains("macro_f1"),
        "{err}"
    );
}

#[test]
fn malformed_files_are_errors_naming_file_and_place() {
    let dir = tempfile::tempdir().unwrap();
    // A row with more fields than the header: csv's own error, with the file.
    let ragged = write(
        dir.path(),
        "ragged.csv",
        "seed,step,metric,val_loss\n1,2,3,4,5\n",
    );
    let err = read_series_csv(&ragged).unwrap_err().to_string();
    assert!(err.contains("ragged.csv") && err.contains("CSV"), "{err}");
    // A (seed, step) listed twice.
    let twice = write(
        dir.path(),
        "twice.csv",
        "seed,step,metric,val_loss\n1,2,0.5,1\n1,2,0.6,1\n",
    );
    let err = read_series_csv(&twice).unwrap_err().to_string();
    assert!(
        err.contains("twice.csv") && err.contains("listed twice"),
        "{err}"
    );
    // Infinite and negative values are refused where they cannot be.
    let inf = write(
        dir.path(),
        "inf.csv",
        "step,loss,eval_loss,accuracy\n10,1,inf,0.5\n",
    );
    let err = read_lid_train_metrics(&inf, "accuracy", "eval_loss")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("inf.csv") && err.contains("eval_loss"),
        "{err}"
    );
    let neg = write(
        dir.path(),
        "neg.json",
        r#"[{"eval_accuracy_goal": 0.4, "loss": 1, "global_step": -5}]"#,
    );
    let err = read_trippy_eval_res(&neg, "eval_accuracy_goal", "loss")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("neg.json") && err.contains("global_step"),
        "{err}"
    );
    // Not JSON at all: serde_json's position, with the file.
    let cut = write(
        dir.path(),
        "cut.json",
        r#"[{"eval_accuracy_goal": 0.4, "lo"#,
    );
    let err = read_trippy_eval_res(&cut, "eval_accuracy_goal", "loss")
        .unwrap_err()
        .to_string();
    assert!(err.contains("cut.json") && err.contains("line 1"), "{err}");
}

#[test]
fn public_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<StepMetrics>();
    send_sync::<lid_data::run_metrics::MetricTable>();
    send_sync::<lid_data::Error>();
    send_sync::<lid_data::dialogue::Dialogue>();
    send_sync::<lid_data::dialogue::Ontology>();
    send_sync::<lid_data::trippy::TrippyExample>();
    send_sync::<lid_data::LabelledText>();
    send_sync::<lid_data::multiwoz_templates::MultiwozTemplates>();
    send_sync::<lid_data::acts::ActsTask>();
    send_sync::<lid_data::AssetDir>();
}
