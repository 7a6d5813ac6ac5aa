//! Checkpoints: Hugging Face model directories that `lid embed`, lid-train and PyTorch
//! `transformers` load, plus the optimizer state and training position needed to resume a run
//! bit-identically.
//!
//! A checkpoint is a directory `checkpoint-<step>/` holding `config.json` (the model's, with
//! `architectures` set to the task class), `model.safetensors` (every parameter under its Hugging
//! Face name; tied weights once; LoRA adapters as `adapter/`), `tokenizer.json` when the model has
//! one, `optimizer.safetensors` (AdamW moments `m.<name>`, `v.<name>`) and `trainer_state.json`
//! (step, update count, metrics so far, the settings' fingerprint). The directory is written under a
//! temporary name and renamed when complete, so a kill leaves either a complete checkpoint or a
//! `.partial` directory that nothing reads.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::Model;
use crate::optim::AdamW;
use crate::params::{write_safetensors, WeightFile};
use crate::train::StepRecord;

/// Name of the completeness marker written last into a checkpoint.
pub const STATE_FILE: &str = "trainer_state.json";

/// What a checkpoint records about the run besides tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Optimizer updates completed.
    pub step: u64,
    /// AdamW's update count (equals `step` unless the optimizer was reset).
    pub adam_steps: u64,
    /// Fingerprint of the settings (resuming under other settings is refused).
    pub fingerprint: String,
    /// The metrics rows so far, as JSON values.
    pub rows: Vec<serde_json::Value>,
}

/// The Hugging Face `architectures` entry for a family and task.
pub fn architecture_name(family: crate::model::Family, task: &str) -> String {
    use crate::model::Family::*;
    let base = match family {
        Bert => "Bert",
        Roberta => "Roberta",
        Gpt2 => "GPT2",
        Llama => "Llama",
        Grokking => "Grokking",
    };
    let suffix = match (family, task) {
        (Gpt2, "causal_lm") => "LMHeadModel",
        (_, "causal_lm") => "ForCausalLM",
        (_, "masked_lm") => "ForMaskedLM",
        (_, "classification") => "ForSequenceClassification",
        _ => "Model",
    };
    format!("{base}{suffix}")
}

/// Writes `model` as a Hugging Face directory at `dir` (created if needed): `config.json` with
/// `architectures = [architecture]` and `extra` keys merged in, `model.safetensors` (LoRA adapter
/// parameters excluded; see [`crate::lora::save_adapter`]), and a copy of `tokenizer`.
///
/// # Errors
/// I/O failures.
pub fn save_model(
    model: &Model,
    dir: &Path,
    architecture: &str,
    extra: &serde_json::Value,
    tokenizer: Option<&Path>,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let tensors: Vec<(&str, &[usize], &[f32])> = model
        .store
        .iter()
        .filter(|(_, p)| !p.name.contains(".lora_A.") && !p.name.contains(".lora_B."))
        .map(|(_, p)| (p.name.as_str(), p.shape.as_slice(), p.data.as_slice()))
        .collect();
    write_safetensors(&dir.join("model.safetensors"), &tensors)?;
    let mut config = model
        .config
        .clone()
        .unwrap_or_else(|| serde_json::json!({}));
    if let Some(obj) = config.as_object_mut() {
        obj.insert("architectures".into(), serde_json::json!([architecture]));
        obj.insert("torch_dtype".into(), serde_json::json!("float32"));
        if let Some(extra) = extra.as_object() {
            for (k, v) in extra {
                obj.insert(k.clone(), v.clone());
            }
        }
    }
    let text = serde_json::to_string_pretty(&config).map_err(|e| Error::Invalid(e.to_string()))?;
    lid_embed::output::atomic::write_atomic(&dir.join("config.json"), text.as_bytes())?;
    if let Some(tok) = tokenizer {
        let bytes = std::fs::read(tok).map_err(|e| Error::io(tok, e))?;
        lid_embed::output::atomic::write_atomic(&dir.join("tokenizer.json"), &bytes)?;
    }
    Ok(())
}

/// Saves the optimizer moments (`m.<name>`, `v.<name>` of trainable parameters).
///
/// # Errors
/// I/O failures.
pub fn save_optimizer(model: &Model, adam: &AdamW, path: &Path) -> Result<()> {
    let mut names = Vec::new();
    for (id, p) in model.store.iter() {
        if !adam.m[id.0].is_empty() {
            names.push((format!("m.{}", p.name), id.0, true));
            names.push((format!("v.{}", p.name), id.0, false));
        }
    }
    let tensors: Vec<(&str, &[usize], &[f32])> = names
        .iter()
        .map(|(n, i, first)| {
            let shape = model.store.get(crate::params::ParamId(*i)).shape.as_slice();
            let data = if *first { &adam.m[*i] } else { &adam.v[*i] };
            (n.as_str(), shape, data.as_slice())
        })
        .collect();
    write_safetensors(path, &tensors)
}

/// Restores parameters (by name) from a checkpoint's `model.safetensors` and, when given, the
/// optimizer moments.
///
/// # Errors
/// A missing tensor, a shape mismatch, unreadable files.
pub fn restore(model: &mut Model, adam: Option<&mut AdamW>, dir: &Path) -> Result<()> {
    let mut weights = WeightFile::read(&[dir.join("model.safetensors")])?;
    for p in model.store.iter_mut() {
        if p.name.contains(".lora_A.") || p.name.contains(".lora_B.") {
            continue;
        }
        let (shape, data) = weights.take(&p.name).ok_or_else(|| Error::MissingWeight {
            name: p.name.clone(),
            tried: Vec::new(),
            source_files: dir.join("model.safetensors").display().to_string(),
        })?;
        check_shape(&p.name, &p.shape, shape, &dir.join("model.safetensors"))?;
        p.data = data;
    }
    let adapter = dir.join("adapter/adapter_model.safetensors");
    if adapter.is_file() {
        let mut w = WeightFile::read(std::slice::from_ref(&adapter))?;
        for p in model.store.iter_mut().filter(|p| p.name.contains(".lora_")) {
            let (shape, data) = w.take(&p.name).ok_or_else(|| Error::MissingWeight {
                name: p.name.clone(),
                tried: Vec::new(),
                source_files: adapter.display().to_string(),
            })?;
            // Without this check an adapter of another rank was taken as it came and the next
            // forward pass indexed past it (found while writing the fuzz target
            // `train_checkpoint`; test `restore_refuses_an_adapter_of_another_shape`).
            check_shape(&p.name, &p.shape, shape, &adapter)?;
            p.data = data;
        }
    }
    if let Some(adam) = adam {
        let path = dir.join("optimizer.safetensors");
        let mut w = WeightFile::read(std::slice::from_ref(&path))?;
        for (id, p) in model.store.iter() {
            if adam.m[id.0].is_empty() {
                continue;
            }
            for (prefix, target) in [("m", &mut adam.m[id.0]), ("v", &mut adam.v[id.0])] {
                let name = format!("{prefix}.{}", p.name);
                let (_, data) = w.take(&name).ok_or_else(|| Error::MissingWeight {
                    name: name.clone(),
                    tried: Vec::new(),
                    source_files: path.display().to_string(),
                })?;
                if data.len() != target.len() {
                    return Err(Error::Shape {
                        name: format!("{name} (in {})", path.display()),
                        expected: vec![target.len()],
                        got: vec![data.len()],
                    });
                }
                *target = data;
            }
        }
    }
    Ok(())
}

/// A [`Error::Shape`] naming the tensor and its file when `got` is not `expected`.
fn check_shape(name: &str, expected: &[usize], got: Vec<usize>, file: &Path) -> Result<()> {
    if got == expected {
        return Ok(());
    }
    Err(Error::Shape {
        name: format!("{name} (in {})", file.display()),
        expected: expected.to_vec(),
        got,
    })
}

/// The complete checkpoints under `dir` (`checkpoint-<step>` with a `trainer_state.json`), by step.
pub fn list_checkpoints(dir: &Path) -> Vec<(u64, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(u64, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let step = name.strip_prefix("checkpoint-")?.parse::<u64>().ok()?;
            let path = e.path();
            path.join(STATE_FILE).is_file().then_some((step, path))
        })
        .collect();
    out.sort();
    out
}

/// Reads a checkpoint's `trainer_state.json`.
///
/// # Errors
/// A missing or malformed file.
pub fn read_state(dir: &Path) -> Result<TrainerState> {
    let path = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::Parse {
        path,
        message: e.to_string(),
    })
}

/// Reads a checkpoint's `trainer_state.json` and its metric rows as [`StepRecord`]s (what
/// [`crate::train::Trainer::resume`] continues from, and what a finished run's report is made of).
///
/// # Errors
/// As [`read_state`]; a row that is not a step record.
pub fn read_state_records(dir: &Path) -> Result<(TrainerState, Vec<StepRecord>)> {
    let mut state = read_state(dir)?;
    let records = std::mem::take(&mut state.rows)
        .into_iter()
        .map(|v| {
            serde_json::from_value(v).map_err(|e| Error::Parse {
                path: dir.join(STATE_FILE),
                message: e.to_string(),
            })
        })
        .collect::<Result<_>>()?;
    Ok((state, records))
}

/// Publishes a checkpoint directory written at `tmp` as `final_dir` (replacing an older one of the
/// same name).
///
/// # Errors
/// I/O failures.
pub fn publish_dir(tmp: &Path, final_dir: &Path) -> Result<()> {
    if final_dir.exists() {
        std::fs::remove_dir_all(final_dir).map_err(|e| Error::io(final_dir, e))?;
    }
    std::fs::rename(tmp, final_dir).map_err(|e| Error::io(final_dir, e))
}
