//! `lid-experiments grokking` killed (SIGKILL) in the middle of its second training run, then
//! rerun with `--resume --out` on the same folder: the finished run is not trained again, the
//! interrupted one continues from its last checkpoint, and every output equals that of an
//! uninterrupted run byte for byte (the JSON and Markdown reports after removing wall-clock times;
//! `config.json` and `COMPLETE` hold times and the command line and are not compared). Matrix row "killed runs" x
//! study commands of docs/reliability.md.
//!
//! The same for the trained-series studies `dst` and `emowoz` (`matrix_killed_run_dst`,
//! `matrix_killed_run_emowoz`): two seeds on lid-embed's tiny RoBERTa fixture, killed once the
//! second seed has written its first checkpoint; on resume no complete checkpoint is written again
//! (their files keep their modification times), the finished seed logs no evaluation, and every
//! output equals an uninterrupted run's.
//!
//! The validation study (`lid-experiments validate`) has no resume: it runs in seconds and writes
//! its folder only at the end (a killed run leaves a folder without `COMPLETE`, which readers
//! refuse; tested here too).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn grokking(out: &Path, resume: bool) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lid-experiments"));
    c.args([
        "grokking",
        "--preset",
        "quick",
        "--fractions",
        "0.4,0.5",
        "--steps",
        "400",
        "--checkpoint-every",
        "20",
        // One run after the other, so that the kill lands in the second run: side by side (the
        // default on several cores) both would be cut.
        "--threads",
        "1",
        "--out",
        p(out),
    ])
    .env("RUST_BACKTRACE", "0");
    if resume {
        c.arg("--resume");
    }
    c
}

fn strip(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for key in ["seconds", "wall_seconds", "started_utc", "finished_utc"] {
                map.remove(key);
            }
            map.values_mut().for_each(strip);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
        // A study's headline ends in "Wall clock 9 s.".
        serde_json::Value::String(s) => *s = common::without_durations(s),
        _ => {}
    }
}

fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                stack.push(path);
            } else if name.ends_with(".partial") {
                // A temporary file of the killed process: RunFolder::resume does not sweep them
                // yet (lid_embed::output::atomic::remove_stale_partials does; see docs/reliability.md).
                eprintln!("left by the killed run: {}", path.display());
            } else if name != "config.json" && name != "COMPLETE" {
                let mut bytes = std::fs::read(&path).unwrap();
                if name.ends_with(".json") {
                    let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                    strip(&mut v);
                    bytes = v.to_string().into_bytes();
                }
                if name.ends_with(".csv") {
                    let text = String::from_utf8(bytes).unwrap();
                    bytes = common::without_columns(&text, &["seconds"]).into_bytes();
                }
                if name.ends_with(".md") {
                    let text = String::from_utf8(bytes).unwrap();
                    bytes = common::without_durations(&text).into_bytes();
                }
                out.push((path.strip_prefix(dir).unwrap().display().to_string(), bytes));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn matrix_killed_run_study() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    let o = grokking(&full, false).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // Kill during the second run, once it has passed step 200 (checkpoints every 20 steps).
    let cut: PathBuf = dir.path().join("cut");
    let mut child = grokking(&cut, false)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut second = false;
    let mut killed = false;
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        second |= line.contains("run frac 0.50");
        let step = line
            .trim_start()
            .strip_prefix("step")
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse::<u64>().ok());
        if second && step.is_some_and(|s| s >= 200) {
            child.kill().unwrap(); // SIGKILL
            killed = true;
            break;
        }
    }
    child.wait().unwrap();
    assert!(killed, "the second run never reached step 200");
    assert!(!cut.join("COMPLETE").exists(), "killed before the end");
    // The finished first run left its lid-train checkpoint (training/checkpoint-<step>/).
    let finished = cut.join("runs/frac0.40_seed46/training");
    assert!(
        std::fs::read_dir(&finished)
            .unwrap()
            .filter_map(|e| e.ok())
            .any(
                |e| e.file_name().to_string_lossy().starts_with("checkpoint-")
                    && e.path().join("trainer_state.json").is_file()
            ),
        "no checkpoint in {}",
        finished.display()
    );

    // Without --resume the folder is refused (it is not empty).
    let o = grokking(&cut, false).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not empty"));

    let o = grokking(&cut, true).output().unwrap();
    let log = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{log}");
    // The finished run trains no step again: no progress line between its header and the next.
    let first_run = log
        .split("run frac 0.40")
        .nth(1)
        .and_then(|s| s.split("run frac 0.50").next())
        .unwrap();
    assert!(
        !first_run.contains("step"),
        "the finished run was trained again: {log}"
    );
    // The interrupted one continues after its checkpoint: no line before step 200.
    let second_run = log.split("run frac 0.50").nth(1).unwrap();
    for line in second_run.lines() {
        if let Some(step) = line
            .trim_start()
            .strip_prefix("step")
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse::<u64>().ok())
        {
            assert!(step > 180, "step {step} was redone: {log}");
        }
    }
    assert!(cut.join("COMPLETE").is_file());
    same_outputs(&full, &cut, "grokking");
}

/// The validation study has no resume; a killed run leaves a folder without its completeness
/// marker.
#[test]
fn matrix_killed_run_validate() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("v");
    let mut child = Command::new(env!("CARGO_BIN_EXE_lid-experiments"))
        .args(["validate", "--out", p(&out)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let finished = child.try_wait().unwrap().is_some();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!finished, "validate finished within 0.5 s");
    assert!(!out.join("COMPLETE").exists());
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `lid-experiments <study>` on lid-embed's tiny RoBERTa (3 layers, width 32) with a tiny probe.
fn trained_study(study: &str, extra: &[&str], out: &Path, resume: bool) -> Command {
    let model = repo().join("lid-embed/tests/fixtures/tiny_roberta");
    let mut c = Command::new(env!("CARGO_BIN_EXE_lid-experiments"));
    c.args([study, "--preset", "quick", "--model", p(&model)])
        .args(extra)
        .args([
            "--probe-sequences",
            "40",
            "--n-points",
            "1000",
            "--neighbors",
            "10",
            "--out",
            p(out),
        ])
        .env("RUST_BACKTRACE", "0");
    if resume {
        c.arg("--resume");
    }
    c
}

/// Every file of every complete `checkpoint-<step>/` below `checkpoints`, with its modification time.
fn checkpoint_files(checkpoints: &Path) -> Vec<(PathBuf, std::time::SystemTime)> {
    let mut out = Vec::new();
    for seed in std::fs::read_dir(checkpoints).unwrap() {
        for ck in std::fs::read_dir(seed.unwrap().path()).unwrap() {
            let ck = ck.unwrap().path();
            let name = ck.file_name().unwrap().to_string_lossy().into_owned();
            if ck.is_dir() && name.starts_with("checkpoint-") {
                for f in std::fs::read_dir(&ck).unwrap() {
                    let f = f.unwrap();
                    if f.path().is_file() {
                        out.push((f.path(), f.metadata().unwrap().modified().unwrap()));
                    }
                }
            }
        }
    }
    out.sort();
    out
}

/// Kills `study` (seeds `first`, `second`) once `second` has a complete checkpoint, resumes it,
/// and compares with an uninterrupted run.
fn killed_trained_study(study: &str, extra: &[&str], first: u64, second: u64) {
    // The offline dialogues are composed from convlab's MultiWOZ templates (the offline assets;
    // lid-data's fixtures are too small to kill a run in the middle of a seed).
    let assets =
        std::env::var_os("LID_ASSETS").map_or_else(|| repo().join("assets"), PathBuf::from);
    let templates = assets.join("convlab/multiwoz/auto_user_template_nlg.json");
    if !templates.is_file() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{} is missing under CI: run scripts/fetch-assets.sh",
            templates.display()
        );
        eprintln!(
            "SKIPPED: {} is missing (scripts/fetch-assets.sh)",
            templates.display()
        );
        return;
    }
    // Both runs write into the same path (the sweep's plan names its checkpoint files): the
    // uninterrupted run's folder is moved aside before the killed run starts.
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("run");
    let full = dir.path().join("full");
    let o = trained_study(study, extra, &cut, false).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::rename(&cut, &full).unwrap();

    let mut child = trained_study(study, extra, &cut, false)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let seed_dir = cut.join(format!("checkpoints/seed{second}"));
    let has_checkpoint = || {
        std::fs::read_dir(&seed_dir).is_ok_and(|entries| {
            entries.filter_map(|e| e.ok()).any(|e| {
                e.file_name().to_string_lossy().starts_with("checkpoint-")
                    && e.path().join("trainer_state.json").is_file()
            })
        })
    };
    common::kill_when_ready(
        &mut child,
        has_checkpoint,
        &format!("{study}'s seed {second} wrote a checkpoint"),
    );
    assert!(!cut.join("COMPLETE").exists(), "killed before the end");
    // lid-train writes a seed's metrics.csv when its last update is done: the kill landed during
    // the second seed's training, after its first checkpoint.
    assert!(
        !seed_dir.join("metrics.csv").exists(),
        "seed {second} finished training before the kill; the test needs a later kill"
    );
    assert!(cut
        .join(format!("checkpoints/seed{first}/metrics.csv"))
        .is_file());
    let before = checkpoint_files(&cut.join("checkpoints"));
    assert!(before
        .iter()
        .any(|(f, _)| f.starts_with(&seed_dir) && f.ends_with("trainer_state.json")));

    // Without --resume the folder is refused (it is not empty).
    let o = trained_study(study, extra, &cut, false).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not empty"));

    let o = trained_study(study, extra, &cut, true).output().unwrap();
    let log = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{log}");
    assert!(
        log.contains(&format!(
            "seed {first}: continuing from the checkpoint of update"
        )) && log.contains(&format!(
            "seed {second}: continuing from the checkpoint of update"
        )),
        "{log}"
    );
    // The finished seed is not evaluated (nor trained) again.
    assert!(
        !log.lines()
            .any(|l| l.starts_with(&format!("  seed {first} "))),
        "seed {first} was trained again: {log}"
    );
    // No complete checkpoint was written again: every file that the pruning of weights left has
    // the modification time it had when the run was killed.
    let after = checkpoint_files(&cut.join("checkpoints"));
    let mut kept = 0;
    for (f, t) in &before {
        if let Some((_, u)) = after.iter().find(|(g, _)| g == f) {
            assert_eq!(t, u, "{} was written again", f.display());
            kept += 1;
        } else {
            let name = f.file_name().unwrap().to_string_lossy();
            assert!(
                name == "model.safetensors" || name == "optimizer.safetensors",
                "{} disappeared",
                f.display()
            );
        }
    }
    assert!(kept > 0);
    assert!(cut.join("COMPLETE").is_file());
    same_outputs(&full, &cut, study);

    // A complete folder is not resumed: refused, left complete.
    let o = trained_study(study, extra, &cut, true).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        !o.status.success() && err.contains("--out") && err.contains("complete"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(cut.join("COMPLETE").is_file());
    // A kill after the checkpoint weights were pruned but before `COMPLETE` was written: every
    // seed is finished without weights; the resumed run trains nothing and writes the same bytes.
    std::fs::remove_file(cut.join("COMPLETE")).unwrap();
    let o = trained_study(study, extra, &cut, true).output().unwrap();
    let log = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{log}");
    assert!(log.contains(&format!("seed {second}: finished")), "{log}");
    same_outputs(&full, &cut, study);
}

fn same_outputs(full: &Path, cut: &Path, study: &str) {
    let (a, b) = (tree(full), tree(cut));
    let names = |t: &[(String, Vec<u8>)]| t.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&a), names(&b));
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert!(
            x == y,
            "{name} differs between the resumed and the uninterrupted {study} run"
        );
    }
}

/// `lid-experiments dst --resume`: 40 offline dialogues, 36 updates per seed, a checkpoint every 12.
#[test]
fn matrix_killed_run_dst() {
    killed_trained_study(
        "dst",
        &[
            "--seeds",
            "40,41",
            "--dialogues",
            "40",
            "--epochs",
            "6",
            "--checkpoint-every",
            "12",
        ],
        40,
        41,
    );
}

/// `lid-experiments emowoz --resume`: the dialogue-act stand-in, 6 epochs of 9 updates per seed, a
/// checkpoint every 2 epochs.
#[test]
fn matrix_killed_run_emowoz() {
    killed_trained_study("emowoz", &["--seeds", "50,51", "--epochs", "6"], 50, 51);
}

/// `lid-experiments finetune-shift` on lid-embed's tiny GPT-2 (random weights) with two small
/// corpora: 200 updates, a checkpoint (and an evaluation) every 20.
fn finetune(corpora: (&Path, &Path), out: &Path, resume: bool) -> Command {
    let model = repo().join("lid-embed/tests/fixtures/tiny_gpt2");
    let mut c = Command::new(env!("CARGO_BIN_EXE_lid-experiments"));
    c.args(["finetune-shift", "--preset", "quick", "--model", p(&model)])
        .args(["--corpus", p(corpora.0), "--other-corpus", p(corpora.1)])
        .args([
            "--train-sequences",
            "120",
            "--steps",
            "200",
            "--checkpoint-every",
            "20",
            "--max-length",
            "64",
            "--sequences-per-corpus",
            "30",
            "--n-points",
            "120",
            "--neighbors",
            "10",
            "--out",
            p(out),
        ])
        .env("RUST_BACKTRACE", "0");
    if resume {
        c.arg("--resume");
    }
    c
}

/// The evaluation steps logged (`  update <step>: eval_loss ...`).
fn logged_updates(log: &str) -> Vec<u64> {
    log.lines()
        .filter_map(|l| l.strip_prefix("  update "))
        .filter_map(|l| l.split(':').next()?.parse().ok())
        .collect()
}

/// `lid-experiments finetune-shift --resume`: killed (SIGKILL) once the first training checkpoint
/// is on disk, resumed: the base model is not measured again (no log line, `measurements/base.json`
/// keeps its modification time), training continues after the latest checkpoint (no evaluation at
/// or before it is logged again), and every output equals an uninterrupted run's. Then: a complete
/// folder is refused, and a kill after the weights were pruned but before `COMPLETE` resumes
/// without training or measuring and writes the same bytes.
#[test]
fn matrix_killed_run_finetune_shift_resume() {
    let dir = tempfile::tempdir().unwrap();
    let hotels = common::lines_corpus(
        dir.path(),
        "hotels",
        "hotel north cheap book room for two nights please the",
        300,
    );
    let weather = common::lines_corpus(
        dir.path(),
        "weather",
        "rain sun cloud today cold warm wind is it a",
        300,
    );
    let corpora = (hotels.as_path(), weather.as_path());
    // Both runs write into the same path (outputs may record it); the uninterrupted run's folder is
    // moved aside before the killed run starts.
    let cut = dir.path().join("run");
    let full = dir.path().join("full");
    let o = finetune(corpora, &cut, false).output().unwrap();
    let log = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{log}");
    assert_eq!(
        logged_updates(&log),
        (0..=200).step_by(20).collect::<Vec<u64>>()
    );
    std::fs::rename(&cut, &full).unwrap();

    let mut child = finetune(corpora, &cut, false)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let training = cut.join("training");
    let has_checkpoint = || !lid_train_checkpoints(&training).is_empty();
    common::kill_when_ready(
        &mut child,
        has_checkpoint,
        "finetune-shift's first checkpoint",
    );
    assert!(!cut.join("COMPLETE").exists(), "killed before the end");
    // lid-train writes training/metrics.csv after the last update: the kill landed in training.
    assert!(
        !training.join("metrics.csv").exists(),
        "training finished before the kill; the test needs a later kill"
    );
    let base = cut.join("measurements/base.json");
    assert!(
        base.is_file(),
        "the base model was measured before training"
    );
    assert!(!cut.join("measurements/tuned.json").exists());
    let base_time = std::fs::metadata(&base).unwrap().modified().unwrap();

    // Without --resume the folder is refused (it is not empty).
    let o = finetune(corpora, &cut, false).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not empty"));

    let o = finetune(corpora, &cut, true).output().unwrap();
    let log = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{log}");
    assert!(
        log.contains("base model: measured by the interrupted run") && !log.contains("base on "),
        "the base model was measured again: {log}"
    );
    assert_eq!(
        std::fs::metadata(&base).unwrap().modified().unwrap(),
        base_time,
        "{} was written again",
        base.display()
    );
    let from: u64 = log
        .split("fine-tuning: continuing from the checkpoint of update ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("training did not continue from a checkpoint: {log}"));
    assert!((20..200).contains(&from), "{log}");
    let updates = logged_updates(&log);
    assert!(
        updates.first() == Some(&(from + 20)) && updates.last() == Some(&200),
        "evaluations {updates:?} after resuming from update {from}: {log}"
    );
    assert!(cut.join("COMPLETE").is_file());
    same_outputs(&full, &cut, "finetune-shift");

    // A complete folder is not resumed: refused, left complete.
    let o = finetune(corpora, &cut, true).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        !o.status.success() && err.contains("--out") && err.contains("complete"),
        "{err}"
    );
    assert!(cut.join("COMPLETE").is_file());
    // A kill after the weights were pruned (the quick preset keeps none) but before `COMPLETE`:
    // trained and measured, so the resumed run does neither and writes the same bytes.
    std::fs::remove_file(cut.join("COMPLETE")).unwrap();
    let o = finetune(corpora, &cut, true).output().unwrap();
    let log = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{log}");
    assert!(
        log.contains("fine-tuning: finished by the interrupted run (update 200)")
            && logged_updates(&log).is_empty()
            && !log.contains("fine-tuned on ")
            && !log.contains("base on "),
        "{log}"
    );
    same_outputs(&full, &cut, "finetune-shift");
}

/// The complete `checkpoint-<step>/` folders (with `trainer_state.json`) in `dir`.
fn lid_train_checkpoints(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).map_or_else(
        |_| Vec::new(),
        |entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|d| {
                    d.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("checkpoint-"))
                        && d.join("trainer_state.json").is_file()
                })
                .collect()
        },
    )
}

/// Issue 22, item 1, for the studies that resume through `study_folder`: `--resume --out DIR` on a
/// folder that holds no run of the study (an unrelated non-empty folder) and on an interrupted run
/// of other settings is refused before any work, naming `--out`, and leaves every file as it was
/// (before, such a folder was reopened and a whole study written into it).
#[test]
fn resume_refuses_foreign_folders_and_other_settings_for_every_study() {
    let dir = tempfile::tempdir().unwrap();
    for study in ["finetune-shift", "dst", "emowoz"] {
        let foreign = dir.path().join(format!("{study}-foreign"));
        std::fs::create_dir(&foreign).unwrap();
        std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
        let other = dir.path().join(format!("{study}-other"));
        std::fs::create_dir(&other).unwrap();
        let config =
            format!(r#"{{"study": "{study}", "settings": {{"preset": "cpu", "seed": 12345}}}}"#);
        std::fs::write(other.join("config.json"), &config).unwrap();
        for (folder, expected) in [
            (&foreign, "not a run folder of"),
            (&other, "other settings"),
        ] {
            let before: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(folder)
                .unwrap()
                .map(|e| {
                    let path = e.unwrap().path();
                    let bytes = std::fs::read(&path).unwrap();
                    (path, bytes)
                })
                .collect();
            let out = Command::new(env!("CARGO_BIN_EXE_lid-experiments"))
                .args([study, "--preset", "quick", "--resume", "--out", p(folder)])
                .env("RUST_BACKTRACE", "0")
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{study}: {stderr}");
            assert!(
                stderr.contains("--out") && stderr.contains(expected),
                "{study}: {stderr}"
            );
            let after = std::fs::read_dir(folder).unwrap().count();
            assert_eq!(after, before.len(), "{study}: files added to {folder:?}");
            for (path, bytes) in before {
                assert_eq!(std::fs::read(&path).unwrap(), bytes, "{study}: {path:?}");
            }
        }
    }
}
