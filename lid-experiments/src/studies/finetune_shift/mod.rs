//! Study 1 of Ruppik et al. (NeurIPS 2025): fine-tuning lowers the local intrinsic dimension of a
//! model's token vectors on its fine-tuning domain and leaves other domains almost unchanged.
//!
//! A base model is measured on held-out sequences of several corpora, fine-tuned on one of them
//! with its own pretraining objective (lid-train: causal or masked LM, full or LoRA), and measured
//! again on the same sequences; [`lid_train::compare`] reports per corpus the means, the standardized mean
//! difference with a bootstrap interval and the tokens whose LID fell most, [`run_study`] writes
//! the run folder with violins and a report next to the paper's numbers.
//!
//! Run folder: `config.json`, `measurements/{base,tuned}.json` (every local estimate at full
//! precision, [`mod@measurements`]), `training/` (lid-train's checkpoints and `metrics.csv`),
//! `summary.csv` (`corpus,in_domain,base_mean,tuned_mean,smd`, then the spreads, the interval, and
//! per model the points kept, the exact duplicates removed and the share of points in
//! near-duplicate neighbourhoods), `comparisons.json`, `local/<corpus>-<model>.csv` (every local
//! estimate with its sequence, position and token), `violins.{svg,png}`, `training.{svg,png}`,
//! `report.md`, `summary.json`, `COMPLETE`.
//!
//! A killed run continues with `--resume --out DIR`: the base model is not measured again when
//! `measurements/base.json` is there, training continues from the latest checkpoint
//! (`--checkpoint-every`; lid-train's [`Trainer::resume`], bit-identical), the fine-tuned model is
//! measured from the weights of the measured checkpoint (in every run, so a kill after that
//! checkpoint loses nothing), and a run whose fine-tuned measurement is on disk trains nothing.
//! The outputs equal an uninterrupted run's byte for byte, up to wall-clock times.
//!
//! Data: each corpus is split with the run's seed ([`crate::studies::corpora::load_split`]: the
//! MultiWOZ stand-in in a seeded shuffled order, not template order, and stand-in texts that are
//! also test texts removed from the training and validation parts); the model is trained on the
//! first `train_sequences` of the fine-tuning corpus's training part, validated on the first
//! `eval_sequences` of its validation part, and measured on `M` sequences sampled from each test
//! part.

pub mod config;
pub mod measurements;

use std::path::{Path, PathBuf};
use std::time::Instant;

use lid_data::split::Fractions;
use lid_data::AssetDir;
use lid_embed::TextTokenizer;
use lid_train::data::{MaskingRule, Order, Sequence};
use lid_train::heads::{CausalLmHead, MaskedLmHead};
use lid_train::model::Init;
use lid_train::model::Model;
use lid_train::optim::Schedule;
use lid_train::probe::ProbeEstimate;
use lid_train::tasks::{CausalLmTask, MaskedLmTask};
use lid_train::train::{Event, StepRecord, Task, TrainConfig, Trainer};

use config::{FinetuneSettings, Objective, Preset};
use lid_train::compare::{self, compare, measure, CorpusComparison, ProbeCorpus};
use lid_train::model::PreparedModel;

use crate::error::{ensure, Error, Result};
use crate::run::folder::FigureRef;
use crate::run::plot::{LinePlot, Series, ViolinGroup, ViolinPlot};
use crate::run::{Direction, RunFolder, StudySummary, Table};
use crate::studies::corpora::{check_distinct, load_split, Corpus, CorpusSource};
use crate::studies::models::prepare_model;
use crate::studies::trained_series::study_folder;
use crate::studies::Study;

/// The study in the default suite (quick preset).
pub struct FinetuneShift;

impl Study for FinetuneShift {
    fn name(&self) -> &'static str {
        "finetune-shift"
    }
    fn title(&self) -> &'static str {
        "Fine-tuning lowers local dimension on its own domain (study 1)"
    }
    /// An interrupted folder continues by itself (stored measurements, the latest checkpoint).
    fn run(
        &self,
        preset: crate::run::Preset,
        folder: RunFolder,
        _resume: bool,
        log: &mut dyn FnMut(&str),
    ) -> Result<StudySummary> {
        let settings = match preset {
            crate::run::Preset::Cpu => FinetuneSettings::cpu(),
            crate::run::Preset::Quick => FinetuneSettings::quick(),
            crate::run::Preset::Paper => return Err(crate::studies::paper_needs_data(self.name())),
        };
        settings.check()?;
        Ok(run_study(&settings, folder, log)?.1)
    }
}

/// Command-line arguments of `lid-experiments finetune-shift`: a preset plus overrides.
#[derive(Debug, Clone, clap::Args)]
pub struct FinetuneArgs {
    /// Settings to start from.
    #[arg(long, value_enum, default_value_t = Preset::Cpu)]
    pub preset: Preset,
    /// Run folder (default: runs/finetune-shift-YYYYMMDD-HHMMSS, UTC; its parent must exist).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the interrupted run in the folder given with `--out` (same flags): the base
    /// model is not measured again, training continues from the latest checkpoint.
    #[arg(long, requires = "out")]
    pub resume: bool,
    /// Base model: a Hugging Face directory or a .gguf file (required by the paper preset).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Training objective (default: causal LM for decoders, masked LM for encoders).
    #[arg(long, value_enum)]
    pub objective: Option<Objective>,
    /// The fine-tuning corpus: multiwoz, chatterbot, wikipedia, or a text/JSONL/CSV file.
    #[arg(long)]
    pub corpus: Option<String>,
    /// The other corpora (repeat or comma-separate).
    #[arg(long, value_delimiter = ',')]
    pub other_corpus: Option<Vec<String>>,
    /// Training sequences taken from the fine-tuning corpus.
    #[arg(long)]
    pub train_sequences: Option<usize>,
    /// Optimizer updates (the schedule decays to 0 at the last; the last is measured unless
    /// --measured-step says otherwise).
    #[arg(long)]
    pub steps: Option<u64>,
    /// The update whose weights are measured as "fine-tuned".
    #[arg(long)]
    pub measured_step: Option<u64>,
    /// A training checkpoint every this many updates, for `--resume` (cpu preset 125, paper 500,
    /// quick none: only the measured and the last update).
    #[arg(long)]
    pub checkpoint_every: Option<u64>,
    /// Tokens per sequence, for training and measuring (at most the model's positions).
    #[arg(long)]
    pub max_length: Option<usize>,
    /// Sequences sampled per corpus for the measurement, M.
    #[arg(long)]
    pub sequences_per_corpus: Option<usize>,
    /// Points kept after deduplication, N.
    #[arg(long)]
    pub n_points: Option<usize>,
    /// Neighbourhood size, L.
    #[arg(long)]
    pub neighbors: Option<usize>,
    /// Fine-tune LoRA adapters (paper: r 16, alpha 32, rsLoRA, attention projections) instead of
    /// every weight.
    #[arg(long)]
    pub lora: bool,
}

impl FinetuneArgs {
    /// The resolved settings.
    ///
    /// # Errors
    /// A missing model for the paper preset, an unknown corpus, an invalid setting.
    pub fn settings(&self) -> Result<FinetuneSettings> {
        let mut s = match self.preset {
            Preset::Paper => {
                let model = self.model.clone().ok_or_else(|| {
                    Error::flag(
                        "--model",
                        "(missing)",
                        "the paper preset needs a local RoBERTa-base or GPT-2-medium directory",
                    )
                })?;
                FinetuneSettings::paper(model, self.objective.unwrap_or(Objective::MaskedLm))
            }
            Preset::Cpu => FinetuneSettings::cpu(),
            Preset::Quick => FinetuneSettings::quick(),
        };
        if let Some(m) = &self.model {
            s.model = m.clone();
        }
        if let Some(o) = self.objective {
            s.objective = o;
        }
        if let Some(c) = &self.corpus {
            s.finetune_corpus = c.parse()?;
        }
        if let Some(others) = &self.other_corpus {
            s.other_corpora = others.iter().map(|c| c.parse()).collect::<Result<_>>()?;
        }
        if let Some(n) = self.train_sequences {
            s.train_sequences = n;
        }
        if let Some(n) = self.steps {
            s.warmup_steps = (s.warmup_steps as f64 * n as f64 / s.steps as f64).round() as u64;
            s.steps = n;
            s.measured_step = n;
            s.eval_every = s.eval_every.min(n);
        }
        if let Some(n) = self.measured_step {
            s.measured_step = n;
        }
        if let Some(k) = self.checkpoint_every {
            if k == 0 {
                return Err(Error::flag("--checkpoint-every", k, "must be at least 1"));
            }
            s.checkpoint_every = Some(k);
        }
        if let Some(n) = self.max_length {
            s.max_length = n;
        }
        if let Some(m) = self.sequences_per_corpus {
            s.sequences_per_corpus = m;
        }
        if let Some(n) = self.n_points {
            s.probe.n_points = n;
        }
        if let Some(l) = self.neighbors {
            s.probe.neighbors = l;
        }
        if self.lora {
            s.lora = Some(lid_train::lora::LoraConfig::default());
        }
        let flagged: Vec<(&'static str, &CorpusSource)> =
            std::iter::once(("--corpus", &s.finetune_corpus))
                .chain(s.other_corpora.iter().map(|c| ("--other-corpus", c)))
                .collect();
        check_distinct(&flagged)?;
        s.check()?;
        Ok(s)
    }
}

/// Runs `lid-experiments finetune-shift`.
///
/// # Errors
/// Invalid settings, data, training, probe or I/O failures.
pub fn run_cli(args: &FinetuneArgs) -> Result<()> {
    let settings = args.settings()?;
    let folder = study_folder(
        args.out.as_deref(),
        args.resume,
        "finetune-shift",
        &settings,
    )?;
    let (rows, _) = run_study(&settings, folder, &mut |line| eprintln!("{line}"))?;
    crate::outln!("{}", summary_table(&rows)?.to_markdown());
    Ok(())
}

fn tokenise(tokenizer: &TextTokenizer, texts: &[String]) -> Result<Vec<Sequence>> {
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    Ok(tokenizer
        .encode_batch(&refs)?
        .iter()
        .map(Sequence::from_encoded)
        .collect())
}

/// Runs the study into `folder`; returns the comparison rows and the suite summary.
///
/// # Errors
/// Data, model, training, probe or I/O failures (the folder then stays incomplete).
pub fn run_study(
    settings: &FinetuneSettings,
    mut folder: RunFolder,
    log: &mut dyn FnMut(&str),
) -> Result<(Vec<CorpusComparison>, StudySummary)> {
    let started = Instant::now();
    folder.write_config(
        settings,
        &[
            settings.seed,
            settings.split_seed,
            settings.sequence_seed,
            settings.probe.sample_seed,
        ],
    )?;
    let assets = AssetDir::from_env_or_workspace();
    let fractions = Fractions {
        train: settings.split_fractions.0,
        validation: settings.split_fractions.1,
    };
    let sources: Vec<(CorpusSource, bool)> =
        std::iter::once((settings.finetune_corpus.clone(), true))
            .chain(settings.other_corpora.iter().map(|c| (c.clone(), false)))
            .collect();
    let corpora = sources
        .iter()
        .map(|(s, _)| load_split(s, &assets, fractions, settings.split_seed))
        .collect::<Result<Vec<_>>>()?;
    for c in &corpora {
        log(&format!("corpus {}: {}", c.source.name(), split_line(c)));
    }
    let prepared = prepare_model(&settings.model, settings.max_length)?;
    let tokenizer_path = folder.path().join("tokenizer.json");
    folder.write_text("tokenizer.json", &prepared.tokenizer_json)?;
    let special = prepared.loaded.special.clone();
    let probes = corpora
        .iter()
        .zip(&sources)
        .map(|(c, (s, in_domain))| {
            ProbeCorpus::sample(
                &s.name(),
                *in_domain,
                &c.splits.test,
                settings.sequences_per_corpus,
                settings.sequence_seed,
                &prepared.tokenizer,
            )
        })
        .collect::<lid_train::Result<Vec<_>>>()?;
    // The base model, unless an interrupted run of the same settings measured it.
    let base = match measurements::read(folder.path(), measurements::BASE_FILE, settings, &probes)?
    {
        Some(base) => {
            log(&format!(
                "base model: measured by the interrupted run ({}), not again",
                measurements::BASE_FILE
            ));
            base
        }
        None => {
            let mut base = Vec::new();
            for p in &probes {
                let t = Instant::now();
                let e = measure(&prepared.loaded.model, &special, p, &settings.probe, 0)?;
                log(&format!(
                    "base on {}: mean LID {:.3} over {} ({} tokens, {:.0} s)",
                    p.name,
                    e.point.mean,
                    points_line(&e.point),
                    p.token_count(),
                    t.elapsed().as_secs_f64()
                ));
                base.push(e);
            }
            measurements::write(&folder, measurements::BASE_FILE, settings, &probes, &base)?;
            base
        }
    };
    let training_dir = folder.dir("training")?;
    let fine = &corpora[0];
    let (records, tuned) = match measurements::read(
        folder.path(),
        measurements::TUNED_FILE,
        settings,
        &probes,
    )? {
        // Trained and measured by the interrupted run (its weights may be pruned already).
        Some(tuned) => {
            let (step, latest) = lid_train::checkpoint::list_checkpoints(&training_dir)
                .pop()
                .filter(|(step, _)| *step == settings.steps)
                .ok_or_else(|| {
                    Error::Check(format!(
                        "{} has no checkpoint of the last update {} although {} is there",
                        training_dir.display(),
                        settings.steps,
                        measurements::TUNED_FILE
                    ))
                })?;
            log(&format!(
                    "fine-tuning: finished by the interrupted run (update {step}) and measured ({}), not again",
                    measurements::TUNED_FILE
                ));
            let (_, records) = lid_train::checkpoint::read_state_records(&latest)?;
            (records, tuned)
        }
        None => {
            let (model, records) =
                fine_tune(settings, prepared, fine, &training_dir, tokenizer_path, log)?;
            let tuned = measure_checkpoint(settings, model, &special, &probes, &training_dir, log)?;
            measurements::write(&folder, measurements::TUNED_FILE, settings, &probes, &tuned)?;
            (records, tuned)
        }
    };
    let rows = probes
        .iter()
        .zip(base.iter().zip(&tuned))
        .map(|(p, (b, t))| {
            compare(
                p,
                b,
                t,
                settings.bootstrap_resamples,
                settings.min_token_count,
                15,
            )
        })
        .collect::<lid_train::Result<Vec<_>>>()?;
    remove_periodic_checkpoints(&training_dir, settings.measured_step)?;
    write_outputs(settings, &folder, &probes, &base, &tuned, &rows, &records)?;
    // The run is complete: no resume needs the optimizer state; the weights stay when asked.
    for (_, dir) in lid_train::checkpoint::list_checkpoints(&training_dir) {
        let optimizer = dir.join("optimizer.safetensors");
        if optimizer.exists() {
            std::fs::remove_file(&optimizer).map_err(|e| Error::io(&optimizer, e))?;
        }
    }
    if !settings.keep_checkpoint {
        crate::studies::trained_series::prune_checkpoint_weights(&training_dir)?;
    }
    let summary = study_summary(&rows)?;
    folder.write_summary(&summary)?;
    folder.write_report(&report(
        settings,
        &sources,
        &corpora,
        &rows,
        &records,
        started.elapsed().as_secs_f64(),
    )?)?;
    folder.finish()?;
    Ok((rows, summary))
}

/// Fine-tunes the prepared model on `fine`'s training part into `training_dir` (checkpoints carry a
/// copy of `tokenizer_path`), continuing from the
/// latest checkpoint there when an interrupted run left one (lid-train's fingerprint check refuses
/// one of other settings); returns the trained model and the step records.
fn fine_tune(
    settings: &FinetuneSettings,
    prepared: PreparedModel,
    fine: &Corpus,
    training_dir: &Path,
    tokenizer_path: PathBuf,
    log: &mut dyn FnMut(&str),
) -> Result<(Model, Vec<StepRecord>)> {
    let train_texts: Vec<String> = fine
        .splits
        .train
        .iter()
        .take(settings.train_sequences)
        .cloned()
        .collect();
    let eval_texts: Vec<String> = fine
        .splits
        .validation
        .iter()
        .take(settings.eval_sequences)
        .cloned()
        .collect();
    let train = tokenise(&prepared.tokenizer, &train_texts)?;
    let eval = tokenise(&prepared.tokenizer, &eval_texts)?;
    let mut init = Init::hugging_face(settings.seed, 0.02);
    let PreparedModel {
        loaded, tokenizer, ..
    } = prepared;
    let (mut model, mut weights) = (loaded.model, loaded.weights);
    let task: Box<dyn Task> = match settings.objective {
        Objective::CausalLm => {
            let (head, _) = CausalLmHead::attach(&mut model, Some(&mut weights))?;
            Box::new(CausalLmTask { head, train, eval })
        }
        Objective::MaskedLm => {
            let (head, report) = MaskedLmHead::attach(&mut model, Some(&mut weights), &mut init)?;
            if !report.initialised.is_empty() {
                log(&format!(
                    "the checkpoint has no masked-LM head: initialised {}",
                    report.initialised.join(", ")
                ));
            }
            let mask_id = tokenizer
                .token_to_id("[MASK]")
                .or_else(|| tokenizer.token_to_id("<mask>"))
                .ok_or_else(|| {
                    Error::Check("the tokenizer has no [MASK] or <mask> token for masked LM".into())
                })?;
            let rule = MaskingRule {
                probability: settings.mlm_probability,
                mask_id,
                vocab: model.net.spec.vocab as u32,
            };
            Box::new(MaskedLmTask {
                head,
                train,
                eval,
                rule,
                eval_seed: settings.seed,
            })
        }
    };
    drop(weights);
    if let Some(lora) = &settings.lora {
        lid_train::lora::attach(&mut model, lora, None)?;
    }
    let (all, trainable) = model.parameter_counts();
    log(&format!(
        "fine-tuning {} of {} parameters for {} updates (batch {} x {})",
        trainable, all, settings.steps, settings.batch_size, settings.grad_accumulation
    ));
    let config = TrainConfig {
        optimizer: settings.optimizer.clone(),
        schedule: Schedule::LinearWarmupDecay {
            warmup: settings.warmup_steps,
            total: settings.steps,
        },
        batch_size: settings.batch_size,
        grad_accumulation: settings.grad_accumulation,
        order: Order::Epochs,
        steps: settings.steps,
        seed: settings.seed,
        dropout: true,
        eval_every: Some(settings.eval_every),
        eval_at_start: true,
        checkpoint_every: settings.checkpoint_every,
        checkpoint_at: vec![settings.measured_step],
        keep_checkpoints: true,
    };
    let mut trainer = Trainer::new(model, config, Some(tokenizer_path))?;
    if let Some(step) = trainer.resume(training_dir, &*task)? {
        log(&format!(
            "fine-tuning: continuing from the checkpoint of update {step}"
        ));
    }
    let train_start = Instant::now();
    let measured_step = settings.measured_step;
    trainer.run(&*task, Some(training_dir), None, &mut |e| {
        match e {
            Event::Evaluated { step, metrics, .. } => {
                let text: Vec<String> =
                    metrics.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
                log(&format!(
                    "  update {step}: {} ({:.0} s)",
                    text.join(", "),
                    train_start.elapsed().as_secs_f64()
                ));
            }
            Event::Checkpoint { .. } => {
                remove_periodic_checkpoints(training_dir, measured_step)
                    .map_err(|e| lid_train::Error::Invalid(e.to_string()))?;
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok((trainer.model, trainer.records))
}

/// Measures the weights of the measured checkpoint (`training/checkpoint-<measured_step>`, LoRA
/// adapters merged) on every probe corpus: read back from disk in every run, so an uninterrupted
/// run and one resumed after that checkpoint measure the same bits. `model` is the trained model
/// (its structure; its values are replaced).
fn measure_checkpoint(
    settings: &FinetuneSettings,
    mut model: Model,
    special: &lid_embed::SpecialIds,
    probes: &[ProbeCorpus],
    training_dir: &Path,
    log: &mut dyn FnMut(&str),
) -> Result<Vec<ProbeEstimate>> {
    let step = settings.measured_step;
    let dir = training_dir.join(format!("checkpoint-{step}"));
    ensure!(
        dir.join(lid_train::checkpoint::STATE_FILE).is_file(),
        "the fine-tuned model was not measured (no checkpoint at update {step} in {})",
        training_dir.display()
    );
    lid_train::checkpoint::restore(&mut model, None, &dir)?;
    if settings.lora.is_some() {
        lid_train::lora::merge(&mut model)?;
    }
    let mut tuned = Vec::with_capacity(probes.len());
    for p in probes {
        let est = measure(&model, special, p, &settings.probe, step)?;
        log(&format!(
            "fine-tuned on {}: mean LID {:.3} over {}",
            p.name,
            est.point.mean,
            points_line(&est.point)
        ));
        tuned.push(est);
    }
    Ok(tuned)
}

/// Removes every `checkpoint-<step>/` of `training_dir` but the latest complete one and the
/// measured one: the periodic checkpoints exist for `--resume`, and only the latest is resumed
/// from. Folders are matched by name, so one half-removed by a killed run goes too.
///
/// # Errors
/// I/O failures.
fn remove_periodic_checkpoints(training_dir: &Path, measured_step: u64) -> Result<()> {
    let Some((latest, _)) = lid_train::checkpoint::list_checkpoints(training_dir).pop() else {
        return Ok(());
    };
    let entries = std::fs::read_dir(training_dir).map_err(|e| Error::io(training_dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| Error::io(training_dir, e))?.path();
        let step = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("checkpoint-"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(step) = step {
            if step != latest && step != measured_step && path.is_dir() {
                std::fs::remove_dir_all(&path).map_err(|e| Error::io(&path, e))?;
            }
        }
    }
    Ok(())
}

/// A corpus's split in words: part sizes and the stand-in texts held out of training.
fn split_line(c: &Corpus) -> String {
    let s = &c.splits;
    format!(
        "{} train / {} validation / {} test sequences ({} training and {} validation texts equal to a test text removed)",
        s.train.len(),
        s.validation.len(),
        s.test.len(),
        c.held_out.train_removed,
        c.held_out.validation_removed
    )
}

/// A measurement's point set in words, for the log.
fn points_line(p: &lid_train::probe::ProbePoint) -> String {
    format!(
        "{} points ({} exact duplicates removed, {:.1} % in near-duplicate neighbourhoods)",
        p.n_points,
        p.duplicates_removed,
        100.0 * compare::near_duplicate_share(p)
    )
}

/// `summary.csv`: the columns the issue names first.
fn summary_table(rows: &[CorpusComparison]) -> Result<Table> {
    let mut t = Table::new([
        "corpus",
        "in_domain",
        "base_mean",
        "tuned_mean",
        "smd",
        "base_std",
        "tuned_std",
        "smd_lower",
        "smd_upper",
        "base_points",
        "tuned_points",
        "base_duplicates_removed",
        "tuned_duplicates_removed",
        "base_near_duplicate_share",
        "tuned_near_duplicate_share",
    ]);
    for r in rows {
        t.push_row([
            r.corpus.clone(),
            r.in_domain.to_string(),
            format!("{:.4}", r.base_mean),
            format!("{:.4}", r.tuned_mean),
            format!("{:.4}", r.smd),
            format!("{:.4}", r.base_std),
            format!("{:.4}", r.tuned_std),
            format!("{:.4}", r.smd_lower),
            format!("{:.4}", r.smd_upper),
            r.base_points.to_string(),
            r.tuned_points.to_string(),
            r.base_duplicates_removed.to_string(),
            r.tuned_duplicates_removed.to_string(),
            format!("{:.4}", r.base_near_duplicate_share),
            format!("{:.4}", r.tuned_near_duplicate_share),
        ])?;
    }
    Ok(t)
}

fn local_table(probe: &ProbeCorpus, e: &ProbeEstimate) -> Result<Table> {
    let mut t = Table::new(["sequence", "position", "token_id", "token", "lid"]);
    for (tok, v) in e.tokens.iter().zip(&e.local) {
        t.push_row([
            tok.sequence.to_string(),
            tok.position.to_string(),
            tok.id.to_string(),
            probe.tokens[tok.sequence as usize][tok.position as usize].clone(),
            format!("{v:.6}"),
        ])?;
    }
    Ok(t)
}

fn write_outputs(
    settings: &FinetuneSettings,
    folder: &RunFolder,
    probes: &[ProbeCorpus],
    base: &[ProbeEstimate],
    tuned: &[ProbeEstimate],
    rows: &[CorpusComparison],
    records: &[StepRecord],
) -> Result<()> {
    folder.write_table("summary.csv", &summary_table(rows)?)?;
    folder.write_json("comparisons.json", rows)?;
    folder.dir("local")?;
    for ((p, b), t) in probes.iter().zip(base).zip(tuned) {
        folder.write_table(&format!("local/{}-base.csv", p.name), &local_table(p, b)?)?;
        folder.write_table(&format!("local/{}-tuned.csv", p.name), &local_table(p, t)?)?;
    }
    let violins = ViolinPlot {
        title: format!(
            "Local LID before and after fine-tuning on {} (N <= {}, L = {})",
            settings.finetune_corpus.name(),
            settings.probe.n_points,
            settings.probe.neighbors
        ),
        y_label: "local LID (TwoNN)".into(),
        variants: vec![
            "base".into(),
            format!("fine-tuned ({} updates)", settings.measured_step),
        ],
        groups: rows
            .iter()
            .zip(base.iter().zip(tuned))
            .map(|(r, (b, t))| ViolinGroup {
                // Short labels: three groups share about 500 pixels; the title names the
                // in-domain corpus.
                label: format!("{}: SMD {:.2}", r.corpus, r.smd),
                distributions: vec![b.local.clone(), t.local.clone()],
            })
            .collect(),
    };
    folder.write_figure("violins", &violins)?;
    let train_loss: Vec<(f64, f64)> = records
        .iter()
        .filter_map(|r| r.loss.map(|l| (r.step as f64, l)))
        .collect();
    let eval_loss: Vec<(f64, f64)> = records
        .iter()
        .filter_map(|r| {
            r.eval
                .iter()
                .find(|(k, _)| k == "eval_loss")
                .map(|(_, v)| (r.step as f64, *v))
        })
        .collect();
    if !train_loss.is_empty() && !eval_loss.is_empty() {
        let plot = LinePlot {
            title: format!("Fine-tuning on {}", settings.finetune_corpus.name()),
            x_label: "update".into(),
            y_label: "loss (nats per token)".into(),
            integer_x: true,
            series: vec![
                Series::line("training loss", &train_loss),
                Series::line("validation loss", &eval_loss),
            ],
            reference_lines: Vec::new(),
            y_range: None,
        };
        folder.write_figure("training", &plot)?;
    }
    Ok(())
}

fn study_summary(rows: &[CorpusComparison]) -> Result<StudySummary> {
    let inside: Vec<&CorpusComparison> = rows.iter().filter(|r| r.in_domain).collect();
    let outside: Vec<&CorpusComparison> = rows.iter().filter(|r| !r.in_domain).collect();
    let fmt = |rs: &[&CorpusComparison]| {
        rs.iter()
            .map(|r| format!("{} {:+.2}", r.corpus, r.smd))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Ok(StudySummary {
        study: "finetune-shift".into(),
        title: FinetuneShift.title().into(),
        headline: format!("SMD (base minus fine-tuned mean local LID): in-domain {}; off-domain {} (paper: MultiWOZ 1.19, Wikipedia 0.08, Reddit 0.10)", fmt(&inside), fmt(&outside)),
        table_markdown: Some(summary_table(rows)?.to_markdown()),
        figures: vec![FigureRef { file: "violins.png".into(), caption: "local LID of the base and the fine-tuned model per corpus".into() }],
        direction: Some(direction(&inside, &outside)),
    })
}

/// The paper's direction (docs/reproduction.md, "Direction at a preset"): every in-domain SMD
/// positive with its bootstrap interval above 0, and above every off-domain SMD.
fn direction(inside: &[&CorpusComparison], outside: &[&CorpusComparison]) -> Direction {
    let top_outside = outside
        .iter()
        .map(|r| r.smd)
        .fold(f64::NEG_INFINITY, f64::max);
    let shown = !inside.is_empty()
        && inside
            .iter()
            .all(|r| r.smd > 0.0 && r.smd_lower > 0.0 && r.smd > top_outside);
    let values = inside
        .iter()
        .map(|r| {
            format!(
                "{} {:+.2} ({:+.2}, {:+.2})",
                r.corpus, r.smd, r.smd_lower, r.smd_upper
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    Direction::new(
        shown,
        format!(
            "Rule: the in-domain SMD is positive, its 95 % interval above 0, and above every off-domain SMD; in domain {values}, largest off-domain {top_outside:+.2}."
        ),
    )
}

/// The point sets in `report.md`: one row per corpus and model.
fn points_table(rows: &[CorpusComparison]) -> Result<Table> {
    let mut t = Table::new([
        "corpus",
        "model",
        "points kept (N after dedup)",
        "exact duplicates removed",
        "points in near-duplicate neighbourhoods",
    ]);
    for r in rows {
        for (model, points, duplicates, share) in [
            (
                "base",
                r.base_points,
                r.base_duplicates_removed,
                r.base_near_duplicate_share,
            ),
            (
                "fine-tuned",
                r.tuned_points,
                r.tuned_duplicates_removed,
                r.tuned_near_duplicate_share,
            ),
        ] {
            t.push_row([
                r.corpus.clone(),
                model.to_string(),
                points.to_string(),
                duplicates.to_string(),
                format!("{:.1} %", 100.0 * share),
            ])?;
        }
    }
    Ok(t)
}

fn report(
    settings: &FinetuneSettings,
    sources: &[(CorpusSource, bool)],
    corpora: &[Corpus],
    rows: &[CorpusComparison],
    records: &[StepRecord],
    seconds: f64,
) -> Result<String> {
    let mut md = format!(
        "# Fine-tuning shift (preset `{}`)\n\nBase model `{}`, {:?}{}, fine-tuned on {} training sequences of `{}` for {} updates (batch {} x accumulation {}, AdamW lr {}, weight decay {}, {} warm-up updates, linear decay), measured at update {}. LID: M = {} sequences per corpus (seed {}), last layer, pad/eos dropped, N <= {} after dedup, L = {}, TwoNN with scikit-dimension 0.3.4's CDF. Wall clock {:.0} s.\n\nCorpora:\n",
        settings.preset,
        settings.model.display(),
        settings.objective,
        if settings.lora.is_some() { " with LoRA" } else { "" },
        settings.train_sequences,
        settings.finetune_corpus.name(),
        settings.steps,
        settings.batch_size,
        settings.grad_accumulation,
        settings.optimizer.lr,
        settings.optimizer.weight_decay,
        settings.warmup_steps,
        settings.measured_step,
        settings.sequences_per_corpus,
        settings.sequence_seed,
        settings.probe.n_points,
        settings.probe.neighbors,
        seconds
    );
    for ((s, in_domain), c) in sources.iter().zip(corpora) {
        md.push_str(&format!(
            "- `{}`{}: {}; split {}\n",
            s.name(),
            if *in_domain { " (in-domain)" } else { "" },
            s.description(),
            split_line(c)
        ));
    }
    md.push_str("\nThe model is trained on the first training sequences of the in-domain corpus's training part and validated on the first of its validation part; the stand-in MultiWOZ corpus is in a seeded shuffled order (every prefix mixes all domains and both speakers), and stand-in texts equal to a test text are removed from the training and validation parts. Each corpus is measured on sequences sampled from its test part.\n");
    md.push_str("\n## Result\n\nSMD = (base mean - fine-tuned mean) / pooled std; positive = LID fell. 95 % bootstrap interval over resampled points.\n\n");
    md.push_str(&summary_table(rows)?.to_markdown());
    md.push_str("\nThe point sets, per corpus and model: points kept after removing exact duplicates (at most N), the exact duplicates removed, and the share of points whose L-neighbourhood holds a near-duplicate pair (the guard of `lid estimate`: a point whose nearest neighbour is closer than 1e-4 times its neighbourhood radius; such neighbourhoods pull local estimates towards 0).\n\n");
    md.push_str(&points_table(rows)?.to_markdown());
    md.push_str("\nPaper (RoBERTa-base, MultiWOZ fine-tuning, N = 60,000, L = 128): SMD about 1.19 on MultiWOZ, 0.08 on Wikipedia, 0.10 on Reddit; RoBERTa's MultiWOZ mean LID about 8-10.\n\n![violins](violins.png)\n\n");
    if let Some(last) = records.iter().rev().find(|r| !r.eval.is_empty()) {
        let first = records.iter().find(|r| !r.eval.is_empty());
        let get = |r: &StepRecord| {
            r.eval
                .iter()
                .find(|(k, _)| k == "eval_loss")
                .map_or(f64::NAN, |(_, v)| *v)
        };
        md.push_str(&format!("Validation loss on the fine-tuning corpus: {:.4} at update {} -> {:.4} at update {}.\n\n![training](training.png)\n\n", first.map_or(f64::NAN, get), first.map_or(0, |r| r.step), get(last), last.step));
    }
    md.push_str("## Tokens whose local LID fell most\n\nMean of (base - fine-tuned) over the positions present in both point sets, tokens seen at least ");
    md.push_str(&format!("{} times.\n\n", settings.min_token_count));
    for r in rows {
        md.push_str(&format!("**{}**: ", r.corpus));
        let items: Vec<String> = r
            .largest_drops
            .iter()
            .take(10)
            .map(|d| {
                format!(
                    "`{}` {:+.2} ({}x)",
                    d.token.replace('`', "'"),
                    d.mean_drop,
                    d.count
                )
            })
            .collect();
        md.push_str(&items.join(", "));
        md.push_str("\n\n");
    }
    Ok(md)
}
