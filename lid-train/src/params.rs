//! Named parameters, their gradients, and weight files.
//!
//! A [`ParamStore`] holds every parameter of a model and its task head as a flat f32 vector under
//! its Hugging Face name (the name of the task model class the checkpoint is saved as, e.g.
//! `bert.encoder.layer.0.attention.self.query.weight`), so gradients, optimizer state and
//! checkpoints line up with PyTorch's `named_parameters()` one to one. Tied weights (an LM head
//! that reuses the word embeddings) are one parameter used twice; their gradients add up.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};

use crate::error::{Error, Result};

/// Index of a parameter in its [`ParamStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamId(pub usize);

/// Whether weight decay applies to a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DecayPolicy {
    /// Hugging Face Trainer's groups: no decay for biases, for the parameters of normalisation
    /// layers, and for names matching `bias`, `layernorm`, `rmsnorm`, `(^|.)norm($|.)` or
    /// `_norm($|.)` (transformers 5.24 `Trainer.get_decay_parameter_names`).
    HuggingFace,
    /// Every parameter decays (`torch.optim.AdamW(model.parameters())`, the grokking study).
    All,
}

/// What kind of tensor a parameter is, for the weight-decay rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// A weight matrix or embedding table.
    Weight,
    /// A bias vector.
    Bias,
    /// A normalisation layer's scale or shift.
    Norm,
}

/// One parameter.
#[derive(Debug, Clone)]
pub struct Param {
    /// Hugging Face name.
    pub name: String,
    /// Shape as stored in the checkpoint.
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub data: Vec<f32>,
    /// What kind of tensor it is.
    pub kind: ParamKind,
    /// Whether the optimizer updates it (false: frozen, e.g. base weights under LoRA).
    pub trainable: bool,
}

impl Param {
    /// Whether `policy` decays this parameter.
    pub fn decays(&self, policy: DecayPolicy) -> bool {
        match policy {
            DecayPolicy::All => true,
            DecayPolicy::HuggingFace => {
                if self.kind != ParamKind::Weight {
                    return false;
                }
                let n = self.name.to_lowercase();
                let norm_segment = n.split('.').any(|s| s == "norm");
                let underscore_norm = n.split('.').any(|s| s.ends_with("_norm"));
                !(n.contains("bias")
                    || n.contains("layernorm")
                    || n.contains("rmsnorm")
                    || norm_segment
                    || underscore_norm)
            }
        }
    }
}

/// Every parameter of a model and its head.
#[derive(Debug, Clone, Default)]
pub struct ParamStore {
    params: Vec<Param>,
    by_name: HashMap<String, ParamId>,
}

impl ParamStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a parameter.
    ///
    /// # Errors
    /// A duplicate name, or data whose length does not match the shape.
    pub fn add(
        &mut self,
        name: &str,
        shape: &[usize],
        data: Vec<f32>,
        kind: ParamKind,
    ) -> Result<ParamId> {
        let len: usize = shape.iter().product();
        if data.len() != len {
            return Err(Error::Shape {
                name: name.to_string(),
                expected: shape.to_vec(),
                got: vec![data.len()],
            });
        }
        if self.by_name.contains_key(name) {
            return Err(Error::Invalid(format!("parameter {name} added twice")));
        }
        let id = ParamId(self.params.len());
        self.params.push(Param {
            name: name.to_string(),
            shape: shape.to_vec(),
            data,
            kind,
            trainable: true,
        });
        self.by_name.insert(name.to_string(), id);
        Ok(id)
    }

    /// The parameter `id`.
    pub fn get(&self, id: ParamId) -> &Param {
        &self.params[id.0]
    }

    /// The parameter `id`, mutably.
    pub fn get_mut(&mut self, id: ParamId) -> &mut Param {
        &mut self.params[id.0]
    }

    /// Values of parameter `id`.
    pub fn data(&self, id: ParamId) -> &[f32] {
        &self.params[id.0].data
    }

    /// The id of the parameter named `name`.
    pub fn id(&self, name: &str) -> Option<ParamId> {
        self.by_name.get(name).copied()
    }

    /// Number of parameters (tensors).
    pub fn len(&self) -> usize {
        self.params.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    /// All parameters in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (ParamId, &Param)> {
        self.params.iter().enumerate().map(|(i, p)| (ParamId(i), p))
    }

    /// All parameters, mutably.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Param> {
        self.params.iter_mut()
    }

    /// Number of scalars, and of trainable scalars.
    pub fn counts(&self) -> (usize, usize) {
        let all = self.params.iter().map(|p| p.data.len()).sum();
        let trainable = self
            .params
            .iter()
            .filter(|p| p.trainable)
            .map(|p| p.data.len())
            .sum();
        (all, trainable)
    }

    /// Keeps only the parameters for which `keep` is true. Ids of later parameters shift, so the
    /// model structure must not hold ids of removed ones past this call (LoRA merge removes only
    /// adapter parameters, which are added last).
    pub fn retain(&mut self, keep: impl Fn(&Param) -> bool) {
        self.params.retain(|p| keep(p));
        self.by_name = self
            .params
            .iter()
            .enumerate()
            .map(|(i, p)| (p.name.clone(), ParamId(i)))
            .collect();
    }

    /// Zeroed gradient buffers for the trainable parameters (frozen ones get none).
    pub fn zero_grads(&self) -> Grads {
        Grads {
            data: self
                .params
                .iter()
                .map(|p| {
                    if p.trainable {
                        vec![0.0; p.data.len()]
                    } else {
                        Vec::new()
                    }
                })
                .collect(),
        }
    }
}

/// Gradients, one buffer per parameter of a [`ParamStore`] (empty for frozen parameters).
#[derive(Debug, Clone, Default)]
pub struct Grads {
    data: Vec<Vec<f32>>,
}

impl Grads {
    /// The gradient buffer of `id`, when the parameter is trainable.
    pub fn get(&self, id: ParamId) -> Option<&[f32]> {
        let g = &self.data[id.0];
        (!g.is_empty()).then_some(g.as_slice())
    }

    /// The gradient buffer of `id` to accumulate into, when the parameter is trainable.
    pub fn get_mut(&mut self, id: ParamId) -> Option<&mut [f32]> {
        let g = &mut self.data[id.0];
        (!g.is_empty()).then_some(g.as_mut_slice())
    }

    /// Two different gradient buffers at once (a norm's weight and bias).
    ///
    /// # Panics
    /// When `a == b` (an internal bug).
    pub fn get_two_mut(
        &mut self,
        a: ParamId,
        b: Option<ParamId>,
    ) -> (Option<&mut [f32]>, Option<&mut [f32]>) {
        let Some(b) = b else {
            return (self.get_mut(a), None);
        };
        assert_ne!(a, b, "one parameter asked for twice");
        let (lo, hi, swapped) = if a.0 < b.0 {
            (a.0, b.0, false)
        } else {
            (b.0, a.0, true)
        };
        let (left, right) = self.data.split_at_mut(hi);
        let first = &mut left[lo];
        let second = &mut right[0];
        let (x, y) = (non_empty(first), non_empty(second));
        if swapped {
            (y, x)
        } else {
            (x, y)
        }
    }

    /// Sets every gradient to zero.
    pub fn zero(&mut self) {
        for g in &mut self.data {
            g.fill(0.0);
        }
    }

    /// Multiplies every gradient by `factor`.
    pub fn scale(&mut self, factor: f32) {
        for g in &mut self.data {
            for v in g.iter_mut() {
                *v *= factor;
            }
        }
    }

    /// The global L2 norm, summed in f64 per parameter in store order (thread-independent).
    pub fn norm(&self) -> f64 {
        self.data
            .iter()
            .map(|g| crate::kernels::reduce::sum_of_squares(g))
            .sum::<f64>()
            .sqrt()
    }

    /// Buffers in store order.
    pub fn buffers(&self) -> &[Vec<f32>] {
        &self.data
    }
}

fn non_empty(g: &mut [f32]) -> Option<&mut [f32]> {
    (!g.is_empty()).then_some(g)
}

/// Tensors read from safetensors files, converted to f32.
#[derive(Debug, Default)]
pub struct WeightFile {
    tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    sources: Vec<PathBuf>,
}

impl WeightFile {
    /// Reads every tensor of `files` (f32, f16 and bf16 are converted to f32).
    ///
    /// # Errors
    /// Unreadable or corrupt files, unsupported dtypes.
    pub fn read(files: &[PathBuf]) -> Result<Self> {
        let mut tensors = BTreeMap::new();
        for path in files {
            let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
            let st = SafeTensors::deserialize(&bytes).map_err(|e| Error::Parse {
                path: path.clone(),
                message: format!("not a readable safetensors file: {e}"),
            })?;
            for (name, view) in st.tensors() {
                match view.dtype() {
                    // Integer and boolean tensors are buffers (BERT's `position_ids`), not weights.
                    Dtype::I64
                    | Dtype::I32
                    | Dtype::I16
                    | Dtype::I8
                    | Dtype::U8
                    | Dtype::U16
                    | Dtype::U32
                    | Dtype::U64
                    | Dtype::BOOL => continue,
                    _ => {}
                }
                let values = to_f32(view.dtype(), view.data()).ok_or_else(|| Error::Parse {
                    path: path.clone(),
                    message: format!(
                        "tensor {name} has dtype {:?}; f32, f16 and bf16 are supported",
                        view.dtype()
                    ),
                })?;
                tensors.insert(name, (view.shape().to_vec(), values));
            }
        }
        Ok(Self {
            tensors,
            sources: files.to_vec(),
        })
    }

    /// Tensors given directly (tests, GGUF conversion).
    pub fn from_tensors(tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>) -> Self {
        Self {
            tensors,
            sources: Vec::new(),
        }
    }

    /// Removes and returns tensor `name` when present.
    pub fn take(&mut self, name: &str) -> Option<(Vec<usize>, Vec<f32>)> {
        self.tensors.remove(name)
    }

    /// Whether tensor `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// Names still present.
    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.tensors.keys()
    }

    /// The files read, for error messages.
    pub fn describe(&self) -> String {
        if self.sources.is_empty() {
            "the given tensors".to_string()
        } else {
            self.sources
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
    }
}

fn to_f32(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f32>> {
    match dtype {
        Dtype::F32 => Some(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        ),
        Dtype::F16 => Some(
            bytes
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
        ),
        Dtype::BF16 => Some(
            bytes
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
        ),
        _ => None,
    }
}

/// Writes `tensors` (name, shape, values) as one f32 safetensors file, atomically (temporary
/// name, then rename).
///
/// # Errors
/// I/O failures.
pub fn write_safetensors(path: &Path, tensors: &[(&str, &[usize], &[f32])]) -> Result<()> {
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(name, shape, data)| {
            let bytes: &[u8] = bytemuck_cast(data);
            safetensors::tensor::TensorView::new(Dtype::F32, shape.to_vec(), bytes)
                .map(|v| (name.to_string(), v))
                .map_err(|e| Error::Invalid(format!("tensor {name}: {e}")))
        })
        .collect::<Result<_>>()?;
    let bytes = safetensors::serialize(views, None).map_err(|e| Error::Invalid(e.to_string()))?;
    lid_embed::output::atomic::write_atomic(path, &bytes)?;
    Ok(())
}

/// The bytes of an f32 slice (little-endian targets only, which is every target lid builds for).
fn bytemuck_cast(data: &[f32]) -> &[u8] {
    #[cfg(target_endian = "big")]
    compile_error!("lid-train writes little-endian safetensors and assumes a little-endian target");
    // SAFETY: f32 has no padding and every bit pattern of its 4 bytes is a valid u8; the length is
    // scaled by size_of::<f32>() and the lifetime is tied to `data`.
    unsafe { std::slice::from_raw_parts(data.as_ptr().cast::<u8>(), std::mem::size_of_val(data)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(name: &str, kind: ParamKind) -> Param {
        Param {
            name: name.into(),
            shape: vec![1],
            data: vec![0.0],
            kind,
            trainable: true,
        }
    }

    #[test]
    fn hugging_face_decay_rule() {
        let hf = DecayPolicy::HuggingFace;
        assert!(param(
            "bert.encoder.layer.0.attention.self.query.weight",
            ParamKind::Weight
        )
        .decays(hf));
        assert!(!param(
            "bert.encoder.layer.0.attention.self.query.bias",
            ParamKind::Bias
        )
        .decays(hf));
        assert!(!param("transformer.h.0.ln_1.weight", ParamKind::Norm).decays(hf));
        assert!(!param("model.layers.0.input_layernorm.weight", ParamKind::Weight).decays(hf));
        assert!(!param("model.norm.weight", ParamKind::Weight).decays(hf));
        assert!(!param("x.post_norm.weight", ParamKind::Weight).decays(hf));
        assert!(param("model.normalizer.weight", ParamKind::Weight).decays(hf));
        assert!(param("blocks.0.ln1.weight", ParamKind::Norm).decays(DecayPolicy::All));
    }
}
