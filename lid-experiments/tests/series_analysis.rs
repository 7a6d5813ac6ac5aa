//! The checkpoint-series analysis on synthetic series with planted features. (The metric-file
//! readers are tested in lid-data, `tests/run_metrics.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

use lid_experiments::studies::series::analysis::{analyse, SeriesRow};

/// Rows of three seeds for one split: `lid(step)`, `metric(step)`, `loss(step)` plus a seed offset.
fn rows(
    split: &str,
    steps: &[u64],
    lid: impl Fn(usize) -> f64,
    metric: impl Fn(usize) -> f64,
    loss: impl Fn(usize) -> f64,
) -> Vec<SeriesRow> {
    let mut out = Vec::new();
    for (k, seed) in [40u64, 41, 42].into_iter().enumerate() {
        // Seed offsets that cancel in the mean (-0.1, 0, +0.1).
        let off = (k as f64 - 1.0) * 0.1;
        for (i, &step) in steps.iter().enumerate() {
            out.push(SeriesRow {
                seed,
                step,
                split: split.into(),
                mean_lid: lid(i) + off,
                metric: Some(metric(i) + off * 0.01),
                val_loss: Some(loss(i) + off * 0.01),
            });
        }
    }
    out
}

#[test]
fn finds_a_planted_plateau_dst_shape() {
    // DST: LID falls from 12 and settles on a plateau near 8 from step 9,000 (index 4); the metric
    // rises and saturates at step 11,000 (index 5: 0.597 >= 0.99 x 0.60 = 0.594, while 0.58 at
    // index 4 is below); validation loss bottoms out at step 5,000 (index 2).
    let steps: Vec<u64> = (0..10).map(|i| 1000 + 2000 * i).collect();
    let lid = [12.0, 11.0, 10.0, 9.0, 8.1, 8.0, 7.95, 8.05, 8.0, 8.0];
    let jga = [0.1, 0.3, 0.45, 0.52, 0.58, 0.597, 0.6, 0.599, 0.6, 0.6];
    let loss = [3.0, 2.0, 1.5, 1.6, 1.8, 2.0, 2.1, 2.2, 2.3, 2.4];
    let rows = rows("validation", &steps, |i| lid[i], |i| jga[i], |i| loss[i]);
    let a = analyse(&rows, &["validation".into()], "validation", 2);
    assert_eq!(a.metric_saturation_step, Some(steps[5]));
    assert_eq!(a.val_loss_minimum_step, Some(steps[2]));
    let v = a.analysed().unwrap();
    // Range 4.05, band max(0.405, mean seed std 0.1) = 0.405 around the last value 8.0: index 3
    // (9.0) is outside, from index 4 (8.1) on every value is inside.
    assert_eq!(v.lid_stabilisation_step, Some(steps[4]));
    let rho = v.spearman_lid_metric.unwrap();
    assert!(rho.spearman < -0.85, "{rho:?}");
    assert_eq!(rho.checkpoints, 10);
    // The change point separates the fall from the plateau.
    let cp = v.change_point.unwrap();
    assert!(cp.step >= steps[2] && cp.step <= steps[4], "{cp:?}");
    // Seed means and their spread: offsets -0.1, 0, 0.1 -> std 0.1.
    assert!((v.lid[0].mean - 12.0).abs() < 1e-12);
    assert!((v.lid[0].std.unwrap() - 0.1).abs() < 1e-12);
    assert_eq!(v.lid[0].seeds, 3);
}

#[test]
fn finds_a_planted_minimum_emowoz_shape() {
    // EmoWOZ: LID falls after epoch 1 to a minimum at epoch 4 (index 3) and climbs back; validation
    // loss bottoms at epoch 3 (index 2). The rise (8.2 - 7.3 = 0.9) is far above the spread of the
    // per-seed rises.
    let steps: Vec<u64> = (1..=8).collect();
    let lid = [9.9, 8.0, 7.5, 7.3, 7.6, 7.8, 8.0, 8.2];
    let loss = [1.0, 0.8, 0.7, 0.75, 0.85, 0.95, 1.05, 1.2];
    let f1 = [0.3, 0.5, 0.6, 0.62, 0.61, 0.6, 0.6, 0.59];
    let mut series = rows("validation", &steps, |i| lid[i], |i| f1[i], |i| loss[i]);
    // Make the seeds disagree at the minimum so the rise has a real spread: +-0.05.
    for r in series.iter_mut().filter(|r| r.step == 4) {
        r.mean_lid += match r.seed {
            40 => -0.05,
            42 => 0.05,
            _ => 0.0,
        };
    }
    let a = analyse(&series, &["validation".into()], "validation", 2);
    let v = a.analysed().unwrap();
    let m = v.lid_minimum.unwrap();
    assert_eq!(m.step, 4);
    assert!((m.lid_at_minimum - 7.3).abs() < 1e-12);
    assert!((m.rise - 0.9).abs() < 1e-12, "{m:?}");
    // Per-seed rises 0.95, 0.9, 0.85: the seed offsets cancel, the planted +-0.05 remain.
    assert!((m.rise_std.unwrap() - 0.05).abs() < 1e-9, "{m:?}");
    assert_eq!((m.seeds, m.rise_exceeds_std), (3, Some(true)));
    assert_eq!(a.val_loss_minimum_step, Some(3));
    assert!(v.spearman_lid_val_loss.unwrap().spearman > 0.6);
    // The first checkpoint is not a candidate: a series whose lowest value is the first one.
    let early = rows(
        "test",
        &steps,
        |i| [5.0, 9.0, 8.0, 8.5, 8.6, 8.7, 8.8, 8.9][i],
        |_| 0.5,
        |_| 1.0,
    );
    let b = analyse(&early, &["test".into()], "test", 2);
    assert_eq!(b.analysed().unwrap().lid_minimum.unwrap().step, 3);
    // A constant metric has no Spearman correlation: reported as a note, not a panic.
    assert!(b.analysed().unwrap().spearman_lid_metric.is_none());
    assert!(!b.analysed().unwrap().notes.is_empty());
}
