//! The metric-file readers of the checkpoint sweeps (`lid_data::run_metrics`) on arbitrary bytes,
//! the reader chosen by the first byte: TripPy-R's `eval_res.<split>.json`, the
//! `seed,step,metric,val_loss` CSV, lid-train's `metrics.csv`. Each must return its table or an
//! error naming the file, never panic; every value it returns is finite.
#![no_main]

use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use lid_data::run_metrics::{
    read_lid_train_metrics, read_series_csv, read_trippy_eval_res, StepMetrics,
};

fn scratch(name: &str, data: &[u8]) -> PathBuf {
    let base = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("lid-fuzz-metrics-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch folder");
    let path = dir.join(name);
    std::fs::write(&path, data).expect("scratch file");
    path
}

fn check(m: &StepMetrics) {
    for v in [m.metric, m.val_loss].into_iter().flatten() {
        assert!(v.is_finite(), "{m:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let result = match which % 3 {
        0 => {
            let path = scratch("eval_res.dev.json", rest);
            read_trippy_eval_res(&path, "eval_accuracy_goal", "loss").map(|t| {
                t.values().for_each(check);
                // Every returned entry carries both values (the reader requires them).
                assert!(t
                    .values()
                    .all(|m| m.metric.is_some() && m.val_loss.is_some()));
            })
        }
        1 => {
            let path = scratch("series.csv", rest);
            read_series_csv(&path).map(|t| t.values().for_each(check))
        }
        _ => {
            let path = scratch("metrics.csv", rest);
            read_lid_train_metrics(&path, "accuracy", "eval_loss").map(|t| {
                t.values().for_each(check);
                // Only rows where the metric column has a value are read.
                assert!(t.values().all(|m| m.metric.is_some()));
            })
        }
    };
    if let Err(e) = result {
        assert!(e.to_string().contains("lid-fuzz-metrics"), "{e}");
    }
});
