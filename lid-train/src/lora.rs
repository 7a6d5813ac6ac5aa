//! LoRA (Hu et al. 2021) and rsLoRA (Kalajdzievski 2023) adapters on a model's projections,
//! PEFT-compatible: `y = x W^T + scale * (x A^T) B^T` with `A (r, in)`, `B (out, r)`,
//! `scale = alpha / r` (LoRA) or `alpha / sqrt(r)` (rsLoRA); base weights frozen.
//!
//! The paper's LoRA variants (docs/reproduction.md study 1): Llama-3.2-1B/3B, Llama-3.1-8B, Phi-3.5-mini
//! with r 16, alpha 32, rsLoRA, attention projections. Initialisation as PEFT's default: `A` from
//! `kaiming_uniform_(a = sqrt(5))` = `U(-1/sqrt(in), 1/sqrt(in))`, `B` zero (so training starts from
//! the base model). Parameter names are those of PEFT's `adapter_model.safetensors`
//! (`base_model.model.<module>.lora_A.weight`), so [`save_adapter`] writes a directory PEFT loads;
//! [`merge`] folds the adapters into the base weights (`W += scale B A`, PEFT's `merge_and_unload`).

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::kernels::gemm::{matmul, MatMut, MatRef, Threads};
use crate::model::{Layout, Linear, LoraAdapter, Model};
use crate::params::{ParamKind, WeightFile};

/// Which projections of each block get an adapter (PEFT `target_modules`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum LoraTarget {
    /// Query projection (`q_proj`, `query`).
    Q,
    /// Key projection.
    K,
    /// Value projection.
    V,
    /// Attention output projection.
    O,
    /// Feed-forward up projection.
    Up,
    /// Feed-forward gate projection (Llama).
    Gate,
    /// Feed-forward down projection.
    Down,
}

impl LoraTarget {
    /// The attention projections (the paper's choice).
    pub const ATTENTION: [LoraTarget; 4] =
        [LoraTarget::Q, LoraTarget::K, LoraTarget::V, LoraTarget::O];
}

/// Adapter settings. [`Default`]: the paper's (r 16, alpha 32, rsLoRA, attention projections).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoraConfig {
    /// Rank `r`.
    pub rank: usize,
    /// `lora_alpha`.
    pub alpha: f32,
    /// Scale by `alpha / sqrt(r)` instead of `alpha / r`.
    pub rslora: bool,
    /// Projections that get an adapter.
    pub targets: Vec<LoraTarget>,
    /// Seed of `A`'s initialisation.
    pub seed: u64,
}

impl Default for LoraConfig {
    fn default() -> Self {
        Self {
            rank: 16,
            alpha: 32.0,
            rslora: true,
            targets: LoraTarget::ATTENTION.to_vec(),
            seed: 0,
        }
    }
}

impl LoraConfig {
    /// `alpha / r` or `alpha / sqrt(r)`.
    pub fn scale(&self) -> f32 {
        if self.rslora {
            self.alpha / (self.rank as f32).sqrt()
        } else {
            self.alpha / self.rank as f32
        }
    }
}

fn module_name(model: &Model, lin: &Linear) -> String {
    let name = &model.store.get(lin.weight).name;
    name.strip_suffix(".weight").unwrap_or(name).to_string()
}

fn targets_of(layer: &mut crate::model::LayerParams, t: LoraTarget) -> Option<&mut Linear> {
    match t {
        LoraTarget::Q => Some(&mut layer.q),
        LoraTarget::K => Some(&mut layer.k),
        LoraTarget::V => Some(&mut layer.v),
        LoraTarget::O => Some(&mut layer.o),
        LoraTarget::Up => Some(&mut layer.up),
        LoraTarget::Gate => layer.gate.as_mut(),
        LoraTarget::Down => Some(&mut layer.down),
    }
}

/// Freezes every parameter of `model` and attaches adapters to the `config.targets` of every block,
/// initialised as PEFT does, or read from `adapter` (an `adapter_model.safetensors`) when given.
///
/// # Errors
/// Rank 0, a target that is a slice of a fused weight (GPT-2's `c_attn`: PEFT adapts the fused
/// projection as a whole, which lid does not), a missing or wrongly shaped adapter tensor.
pub fn attach(
    model: &mut Model,
    config: &LoraConfig,
    mut adapter: Option<&mut WeightFile>,
) -> Result<()> {
    if config.rank == 0 {
        return Err(Error::setting("lora-rank", "must be at least 1"));
    }
    if config.targets.is_empty() {
        return Err(Error::setting(
            "lora-targets",
            "name at least one projection",
        ));
    }
    for p in model.store.iter_mut() {
        p.trainable = false;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let scale = config.scale();
    let mut layers = std::mem::take(&mut model.net.layers);
    let result = (|| -> Result<()> {
        for layer in &mut layers {
            for &t in &config.targets {
                let Some(lin) = targets_of(layer, t) else {
                    continue;
                };
                if lin.out_rows.len() != lin.stored_out || lin.layout != Layout::OutIn {
                    return Err(Error::Unsupported(format!(
                        "LoRA on {:?} of a fused or Conv1D projection (supported: separate nn.Linear projections, e.g. Llama, BERT)",
                        t
                    )));
                }
                let module = module_name(model, lin);
                let (inp, out, r) = (lin.in_dim, lin.out_dim(), config.rank);
                let a_name = format!("base_model.model.{module}.lora_A.weight");
                let b_name = format!("base_model.model.{module}.lora_B.weight");
                let (a, b) = match adapter.as_deref_mut() {
                    Some(w) => {
                        let mut take = |name: &str, shape: [usize; 2]| -> Result<Vec<f32>> {
                            let (got, data) = w.take(name).ok_or_else(|| Error::MissingWeight {
                                name: name.to_string(),
                                tried: Vec::new(),
                                source_files: "the adapter".into(),
                            })?;
                            if got != shape {
                                return Err(Error::Shape {
                                    name: name.to_string(),
                                    expected: shape.to_vec(),
                                    got,
                                });
                            }
                            Ok(data)
                        };
                        (take(&a_name, [r, inp])?, take(&b_name, [out, r])?)
                    }
                    None => {
                        let bound = 1.0 / (inp as f64).sqrt();
                        let a = (0..r * inp)
                            .map(|_| rng.random_range(-bound..bound) as f32)
                            .collect();
                        (a, vec![0.0f32; out * r])
                    }
                };
                let a = model.store.add(&a_name, &[r, inp], a, ParamKind::Weight)?;
                let b = model.store.add(&b_name, &[out, r], b, ParamKind::Weight)?;
                lin.lora = Some(LoraAdapter {
                    a,
                    b,
                    rank: r,
                    scale,
                });
            }
        }
        Ok(())
    })();
    model.net.layers = layers;
    result
}

/// Folds every adapter into its base weight (`W += scale B A`, in f32 through the same product
/// as training), removes the adapters, drops their parameters and makes every parameter trainable
/// again (PEFT's `merge_and_unload`).
///
/// # Errors
/// When a parameter was added after the adapters (a head attached after [`attach`]): removing the
/// adapters would then shift its id. Attach heads before adapters.
pub fn merge(model: &mut Model) -> Result<()> {
    let is_adapter = |name: &str| name.contains(".lora_A.") || name.contains(".lora_B.");
    let first = model.store.iter().position(|(_, p)| is_adapter(&p.name));
    if let Some(first) = first {
        if let Some((_, p)) = model
            .store
            .iter()
            .skip(first)
            .find(|(_, p)| !is_adapter(&p.name))
        {
            return Err(Error::Invalid(format!(
                "parameter {} was added after the LoRA adapters; attach heads before adapters",
                p.name
            )));
        }
    }
    let mut layers = std::mem::take(&mut model.net.layers);
    for layer in &mut layers {
        for t in [
            LoraTarget::Q,
            LoraTarget::K,
            LoraTarget::V,
            LoraTarget::O,
            LoraTarget::Up,
            LoraTarget::Gate,
            LoraTarget::Down,
        ] {
            let Some(lin) = targets_of(layer, t) else {
                continue;
            };
            let Some(lora) = lin.lora.take() else {
                continue;
            };
            let (inp, out, r) = (lin.in_dim, lin.out_dim(), lora.rank);
            let a = model.store.data(lora.a).to_vec();
            let b: Vec<f32> = model
                .store
                .data(lora.b)
                .iter()
                .map(|&v| v * lora.scale)
                .collect();
            let w = &mut model.store.get_mut(lin.weight).data;
            matmul(
                MatMut::new(w, out, inp),
                MatRef::new(&b, out, r),
                MatRef::new(&a, r, inp),
                true,
                Threads::Pool,
            );
        }
    }
    model.net.layers = layers;
    model.store.retain(|p| !is_adapter(&p.name));
    for p in model.store.iter_mut() {
        p.trainable = true;
    }
    Ok(())
}

/// Writes the adapters as a PEFT directory: `adapter_config.json` and `adapter_model.safetensors`.
///
/// # Errors
/// A model without adapters, I/O failures.
pub fn save_adapter(model: &Model, config: &LoraConfig, dir: &Path) -> Result<()> {
    let tensors: Vec<(&str, &[usize], &[f32])> = model
        .store
        .iter()
        .filter(|(_, p)| p.name.contains(".lora_A.") || p.name.contains(".lora_B."))
        .map(|(_, p)| (p.name.as_str(), p.shape.as_slice(), p.data.as_slice()))
        .collect();
    if tensors.is_empty() {
        return Err(Error::Invalid(
            "the model has no LoRA adapters to save".into(),
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    crate::params::write_safetensors(&dir.join("adapter_model.safetensors"), &tensors)?;
    let modules: Vec<&str> = config
        .targets
        .iter()
        .map(|t| match t {
            LoraTarget::Q => "q_proj",
            LoraTarget::K => "k_proj",
            LoraTarget::V => "v_proj",
            LoraTarget::O => "o_proj",
            LoraTarget::Up => "up_proj",
            LoraTarget::Gate => "gate_proj",
            LoraTarget::Down => "down_proj",
        })
        .collect();
    let json = serde_json::json!({
        "peft_type": "LORA",
        "r": config.rank,
        "lora_alpha": config.alpha,
        "use_rslora": config.rslora,
        "target_modules": modules,
        "lora_dropout": 0.0,
        "bias": "none",
        "fan_in_fan_out": false,
        "task_type": "CAUSAL_LM",
        "inference_mode": true,
    });
    let text = serde_json::to_string_pretty(&json).map_err(|e| Error::Invalid(e.to_string()))?;
    lid_embed::output::atomic::write_atomic(&dir.join("adapter_config.json"), text.as_bytes())?;
    Ok(())
}
