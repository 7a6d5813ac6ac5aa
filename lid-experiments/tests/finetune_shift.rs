//! The fine-tuning-shift study end to end on the tiny GPT-2 fixture (lid-embed's, random weights)
//! with small text corpora: the run folder is complete and `summary.csv` has the contracted columns;
//! `lid compare` ranks corpora; the comparison statistics on planted samples; the MultiWOZ
//! stand-in's training and validation prefixes cover every domain and both speakers, and no test
//! text is trained on.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lid_data::multiwoz_templates::{utterances, Domain, MultiwozTemplates, Utterance};
use lid_data::split::{split, Fractions};
use lid_data::{AssetDir, Speaker};
use lid_experiments::studies::corpora::load_split;

use lid_experiments::run::RunFolder;
use lid_experiments::studies::corpora::CorpusSource;
use lid_experiments::studies::finetune_shift::config::{FinetuneSettings, Objective};
use lid_experiments::studies::finetune_shift::run_study;
use lid_train::compare::smd_interval;

fn tiny_gpt2() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../lid-embed/tests/fixtures/tiny_gpt2")
}

fn settings(dir: &Path) -> FinetuneSettings {
    let mut s = FinetuneSettings::quick();
    // The quick preset drops the fine-tuned weights after measuring; these tests read them.
    s.keep_checkpoint = true;
    s.model = tiny_gpt2();
    s.objective = Objective::CausalLm;
    let a = common::lines_corpus(
        dir,
        "hotels",
        "hotel north cheap book room for two nights please the",
        300,
    );
    let b = common::lines_corpus(
        dir,
        "weather",
        "rain sun cloud today cold warm wind is it a",
        300,
    );
    s.finetune_corpus = CorpusSource::File {
        path: a,
        field: None,
    };
    s.other_corpora = vec![CorpusSource::File {
        path: b,
        field: None,
    }];
    s.train_sequences = 120;
    s.eval_sequences = 20;
    s.steps = 6;
    s.measured_step = 6;
    s.warmup_steps = 1;
    s.eval_every = 3;
    s.max_length = 64;
    s.sequences_per_corpus = 30;
    s.probe.n_points = 120;
    s.probe.neighbors = 10;
    s.bootstrap_resamples = 50;
    s.check().unwrap();
    s
}

#[test]
fn study_writes_a_complete_folder_with_the_summary_contract() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let out = dir.path().join("run");
    let folder = RunFolder::create(&out, "finetune-shift").unwrap();
    let (rows, summary) = run_study(&s, folder, &mut |_| {}).unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows[0].in_domain && !rows[1].in_domain);
    assert!(rows
        .iter()
        .all(|r| r.smd.is_finite() && r.smd_lower <= r.smd && r.smd <= r.smd_upper));
    let csv = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    assert!(
        csv.starts_with("corpus,in_domain,base_mean,tuned_mean,smd,"),
        "{csv}"
    );
    // Per corpus and model: points kept, exact duplicates removed, near-duplicate share (issue 20,
    // study 1 point 3).
    assert!(
        csv.lines().next().unwrap().ends_with(
            ",base_points,tuned_points,base_duplicates_removed,tuned_duplicates_removed,\
             base_near_duplicate_share,tuned_near_duplicate_share"
        ),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 3);
    for r in &rows {
        assert!(r.base_points <= s.probe.n_points && r.tuned_points <= s.probe.n_points);
        for share in [r.base_near_duplicate_share, r.tuned_near_duplicate_share] {
            assert!((0.0..=1.0).contains(&share), "{share}");
        }
    }
    // The word-line corpora repeat lines, so their probes meet exact duplicates.
    assert!(rows[0].base_duplicates_removed > 0, "{:?}", rows[0]);
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("| hotels | base | ") && report.contains("| weather | fine-tuned | "),
        "{report}"
    );
    assert!(report.contains("exact duplicates removed"), "{report}");
    for f in [
        "COMPLETE",
        "violins.png",
        "violins.svg",
        "report.md",
        "comparisons.json",
        "local/hotels-base.csv",
        "local/weather-tuned.csv",
        "training/checkpoint-6/model.safetensors",
        "training/metrics.csv",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    assert!(summary.headline.contains("in-domain hotels"));
    // Same settings, same numbers (a second run folder).
    let again = RunFolder::create(dir.path().join("run2"), "finetune-shift").unwrap();
    let (rows2, _) = run_study(&s, again, &mut |_| {}).unwrap();
    assert_eq!(rows, rows2);
}

/// A run stopped after the measured checkpoint is on disk but before the fine-tuned model's
/// measurement is saved (here: a panic from the log line that reports it, where a kill would
/// land) is resumed without training or measuring the base model again: the fine-tuned weights are
/// read back from `training/checkpoint-<measured step>` and the rows equal an uninterrupted run's.
#[test]
fn resume_after_the_measured_checkpoint_measures_it_without_training() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let (full, _) = run_study(
        &s,
        RunFolder::create(dir.path().join("full"), "finetune-shift").unwrap(),
        &mut |_| {},
    )
    .unwrap();
    let out = dir.path().join("cut");
    let folder = RunFolder::create(&out, "finetune-shift").unwrap();
    let stopped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_study(&s, folder, &mut |line| {
            assert!(!line.starts_with("fine-tuned on"), "stopped: {line}");
        })
    }));
    assert!(stopped.is_err(), "the run was not stopped");
    assert!(out
        .join("training/checkpoint-6/trainer_state.json")
        .is_file());
    assert!(out.join("measurements/base.json").is_file());
    assert!(!out.join("measurements/tuned.json").exists());
    assert!(!out.join("COMPLETE").exists());
    let mut log = Vec::new();
    let (rows, _) = run_study(
        &s,
        RunFolder::resume(&out, "finetune-shift").unwrap(),
        &mut |line| log.push(line.to_string()),
    )
    .unwrap();
    let log = log.join("\n");
    assert!(
        log.contains("fine-tuning: continuing from the checkpoint of update 6"),
        "{log}"
    );
    assert!(!log.contains("  update "), "trained again: {log}");
    assert!(!log.contains("base on "), "base measured again: {log}");
    assert!(log.contains("fine-tuned on hotels"), "{log}");
    assert_eq!(rows, full);
    for f in ["local/hotels-tuned.csv", "local/weather-base.csv"] {
        assert_eq!(
            std::fs::read(out.join(f)).unwrap(),
            std::fs::read(dir.path().join("full").join(f)).unwrap(),
            "{f}"
        );
    }
    assert!(out.join("COMPLETE").is_file());
    // Resuming under other settings is refused, naming the measurement file and the setting.
    let mut other = s.clone();
    other.probe.neighbors = 9;
    std::fs::remove_file(out.join("COMPLETE")).unwrap();
    let err = run_study(
        &other,
        RunFolder::resume(&out, "finetune-shift").unwrap(),
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("measurements/base.json") && err.contains("probe"),
        "{err}"
    );
}

#[test]
fn compare_ranks_corpora_and_refuses_a_third_model() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    // A "fine-tuned" model: the study's checkpoint.
    let run = dir.path().join("run");
    run_study(
        &s,
        RunFolder::create(&run, "finetune-shift").unwrap(),
        &mut |_| {},
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_lid");
    let corpora: Vec<String> = [&s.finetune_corpus, &s.other_corpora[0]]
        .iter()
        .map(|c| match c {
            CorpusSource::File { path, .. } => path.display().to_string(),
            _ => unreachable!(),
        })
        .collect();
    let out = dir.path().join("cmp");
    let status = std::process::Command::new(bin)
        .args(["compare", "--model"])
        .arg(tiny_gpt2())
        .arg("--model")
        .arg(run.join("training/checkpoint-6"))
        .args([
            "--corpus",
            &corpora[0],
            "--corpus",
            &corpora[1],
            "--sequences",
            "30",
            "--n-points",
            "120",
            "--neighbors",
            "10",
            "--max-length",
            "64",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let csv = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    assert!(
        csv.starts_with("rank,corpus,base_mean,other_mean,smd"),
        "{csv}"
    );
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .ends_with(",base_near_duplicate_share,other_near_duplicate_share"),
        "{csv}"
    );
    assert!(out.join("COMPLETE").is_file());
    let bad = std::process::Command::new(bin)
        .args([
            "compare",
            "--model",
            "a",
            "--model",
            "b",
            "--model",
            "c",
            "--corpus",
            &corpora[0],
            "--out",
        ])
        .arg(dir.path().join("cmp2"))
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--model"));
}

#[test]
fn smd_interval_covers_a_planted_shift() {
    // Two samples whose means differ by exactly one pooled standard deviation.
    let a: Vec<f64> = (0..400)
        .map(|i| 10.0 + ((i * 37) % 100) as f64 / 100.0 * 2.0 - 1.0)
        .collect();
    let b: Vec<f64> = a.iter().map(|v| v - 0.5794).collect();
    let smd = lid_core::stats::standardized_mean_difference(&a, &b).unwrap();
    let (lo, hi) = smd_interval(&a, &b, 400, 1).unwrap();
    assert!(lo < smd && smd < hi, "{lo} {smd} {hi}");
    assert!(hi - lo < 0.5 && lo > 0.5, "{lo} {hi}");
}

/// The offline assets when convlab is there (required under `CI`).
fn convlab_assets() -> Option<AssetDir> {
    let assets = AssetDir::from_env_or_workspace();
    let dir = assets.root().join("convlab");
    if dir.is_dir() {
        return Some(assets);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} is missing under CI: run scripts/fetch-assets.sh",
        dir.display()
    );
    eprintln!(
        "SKIPPED: {} is missing (scripts/fetch-assets.sh)",
        dir.display()
    );
    None
}

/// `speaker:<user|system>` and `domain:<name>` shares of `us`.
fn mix(us: &[Utterance]) -> BTreeMap<String, f64> {
    let mut counts: BTreeMap<String, f64> = BTreeMap::new();
    for u in us {
        let speaker = match u.speaker {
            Speaker::User => "user",
            Speaker::System => "system",
        };
        let domain = u.act_group.split('-').next().and_then(Domain::parse);
        let domain = domain.unwrap_or_else(|| panic!("act group {}", u.act_group));
        *counts.entry(format!("speaker:{speaker}")).or_default() += 1.0;
        *counts
            .entry(format!("domain:{}", domain.name()))
            .or_default() += 1.0;
    }
    counts.values_mut().for_each(|c| *c /= us.len() as f64);
    counts
}

/// The first `n` of `part` hold every speaker and domain of `part` with `part`'s shares, within 4
/// standard errors of a uniform sample of `n` (`4 sqrt(p (1 - p) / n)`; the order is a seeded
/// shuffle, so a prefix is such a sample). Small prefixes need only the speakers and the domains
/// of at least 5 % (police and hospital, under 1 %, may be absent from 100 random utterances, as
/// from 100 consecutive real turns).
fn assert_prefix_mixes(part: &[Utterance], n: usize, what: &str) {
    let (whole, prefix) = (mix(part), mix(&part[..n]));
    for (key, &p) in &whole {
        let q = prefix.get(key).copied().unwrap_or(0.0);
        if n >= 10_000 || key.starts_with("speaker") || p >= 0.05 {
            assert!(q > 0.0, "{what}: no {key} in the first {n} ({prefix:?})");
        }
        let tolerance = 4.0 * (p * (1.0 - p) / n as f64).sqrt();
        assert!(
            (q - p).abs() <= tolerance,
            "{what}: {key} is {q:.4} of the first {n}, {p:.4} of the part (tolerance {tolerance:.4})"
        );
    }
}

/// Regression, issue 20 (study 1, point 1): the stand-in came in template order (user turns first,
/// act groups sorted) and the split keeps the order inside each part, so the cpu preset trained on
/// the first 10,000 training utterances -- user Attraction, Hospital and Hotel-Inform turns only --
/// and validated on one act group; relexicalised strings (`Thank you.`) also reached both the
/// training and the test part. Here the study's own split (`load_split` with each preset's
/// fractions and seed) is checked through a labelled twin built from the same lid-data calls.
#[test]
fn multiwoz_standin_prefixes_cover_every_domain_and_both_speakers_and_no_test_text_is_trained_on() {
    let Some(assets) = convlab_assets() else {
        return;
    };
    let templates = MultiwozTemplates::load(&assets).unwrap();
    let all = utterances(&templates, &Default::default()).unwrap();
    for settings in [FinetuneSettings::cpu(), FinetuneSettings::quick()] {
        let fractions = Fractions {
            train: settings.split_fractions.0,
            validation: settings.split_fractions.1,
        };
        let corpus = load_split(
            &CorpusSource::Multiwoz,
            &assets,
            fractions,
            settings.split_seed,
        )
        .unwrap();
        let mut labelled = split(all.clone(), fractions, settings.split_seed).unwrap();
        let held = labelled.hold_out_test(|u| u.text.as_str());
        assert_eq!(held, corpus.held_out);
        for (twin, texts) in [
            (&labelled.train, &corpus.splits.train),
            (&labelled.validation, &corpus.splits.validation),
            (&labelled.test, &corpus.splits.test),
        ] {
            let twin: Vec<&String> = twin.iter().map(|u| &u.text).collect();
            assert_eq!(twin, texts.iter().collect::<Vec<_>>());
        }
        // No test text is trained or validated on; relexicalised repeats made thousands.
        let test: std::collections::HashSet<&str> =
            corpus.splits.test.iter().map(String::as_str).collect();
        assert!(corpus
            .splits
            .train
            .iter()
            .all(|t| !test.contains(t.as_str())));
        assert!(corpus
            .splits
            .validation
            .iter()
            .all(|t| !test.contains(t.as_str())));
        assert!(held.train_removed > 1_000, "{held:?}");
        // What the study trains and validates on.
        assert!(settings.train_sequences <= labelled.train.len());
        assert_prefix_mixes(
            &labelled.train,
            settings.train_sequences,
            &format!("{} training", settings.preset),
        );
        assert_prefix_mixes(
            &labelled.validation,
            settings.eval_sequences,
            &format!("{} validation", settings.preset),
        );
    }
}

/// A user's file keeps its order (a real MultiWOZ file is in dialogue order) and its repeats:
/// only the stand-ins are reordered and held out.
#[test]
fn a_user_corpus_keeps_its_order_and_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dialogue.txt");
    let lines: Vec<String> = (0..200)
        .map(|i| match i % 4 {
            0 => "thank you".to_string(),
            _ => format!("turn {i}"),
        })
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let source = CorpusSource::File { path, field: None };
    let fractions = Fractions {
        train: 0.8,
        validation: 0.1,
    };
    let corpus = load_split(&source, &AssetDir::from_env_or_workspace(), fractions, 0).unwrap();
    assert_eq!(corpus.held_out, Default::default());
    assert_eq!(corpus.splits.len(), 200);
    let rank = |t: &String| lines.iter().position(|l| l == t).unwrap();
    let numbered: Vec<usize> = corpus
        .splits
        .train
        .iter()
        .filter(|t| t.starts_with("turn"))
        .map(rank)
        .collect();
    assert!(numbered.windows(2).all(|w| w[0] < w[1]), "file order kept");
    assert!(corpus.splits.train.iter().any(|t| t == "thank you"));
    assert!(corpus.splits.test.iter().any(|t| t == "thank you"));
}
