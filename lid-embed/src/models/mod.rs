//! Forward passes that return hidden states in Hugging Face numbering.
//!
//! Index 0 is the embedding output, index `i` (1..=n) the output of block `i`. For the decoders
//! (GPT-2, Llama) the last index is taken after the final norm, exactly as `transformers` fills
//! `output_hidden_states` (so the output of the last block before the norm is not among them). A model
//! with `n` blocks therefore has `n + 1` hidden states, and negative indices count from the end
//! (`-1` = index `n`).
//!
//! Each architecture lives in its own file with a serde `Config` mirroring `config.json` and one
//! struct per upstream submodule, loaded from the checkpoint's weight names.

pub mod bert;
pub mod gpt2;
pub mod llama;
pub mod quantized_llama;
pub mod roberta;

use candle_core::{DType, Device, Tensor};

use crate::error::{Error, Result};

/// A model that returns the hidden states asked for in one forward pass.
pub trait HiddenStateModel {
    /// Number of transformer blocks `n`; there are `n + 1` hidden states.
    fn num_blocks(&self) -> usize;

    /// Width of every hidden state.
    fn hidden_size(&self) -> usize;

    /// Runs one batch and returns the hidden states at the absolute indices `wanted` (each in
    /// `0..=n`, see [`LayerIndex::resolve`]), in the order asked, each of shape
    /// `(batch, seq_len, hidden)` in f32. `input_ids` and `attention_mask` are `(batch, seq_len)` u32
    /// tensors; padding is on the right and its mask entries are 0.
    fn hidden_states(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        wanted: &[usize],
    ) -> Result<Vec<Tensor>>;
}

/// A layer index in Hugging Face numbering; negative values count from the end (`-1` = last).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct LayerIndex(pub i64);

impl LayerIndex {
    /// The paper's layer: `hidden_states[-1]`.
    pub const LAST: LayerIndex = LayerIndex(-1);

    /// Resolves to an absolute index in `0..=num_blocks`, or fails naming the valid range.
    pub fn resolve(self, num_blocks: usize) -> Result<usize> {
        let count = num_blocks as i64 + 1;
        let abs = if self.0 < 0 { count + self.0 } else { self.0 };
        if (0..count).contains(&abs) {
            Ok(abs as usize)
        } else {
            Err(Error::InvalidOption {
                option: "layers",
                reason: format!(
                    "layer {} is out of range: this model has {count} hidden states (indices 0..={num_blocks} or -{count}..=-1)",
                    self.0
                ),
            })
        }
    }
}

impl std::str::FromStr for LayerIndex {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        s.trim()
            .parse::<i64>()
            .map(LayerIndex)
            .map_err(|_| Error::InvalidOption {
                option: "layers",
                reason: format!("{s:?} is not an integer layer index"),
            })
    }
}

/// Collects the wanted hidden states while a forward pass walks through the blocks.
pub(crate) struct Collector<'a> {
    wanted: &'a [usize],
    found: Vec<Option<Tensor>>,
}

impl<'a> Collector<'a> {
    pub(crate) fn new(wanted: &'a [usize], num_blocks: usize) -> Result<Self> {
        if let Some(&bad) = wanted.iter().find(|&&w| w > num_blocks) {
            return Err(Error::InvalidOption {
                option: "layers",
                reason: format!("hidden state {bad} does not exist (model has 0..={num_blocks})"),
            });
        }
        Ok(Self {
            wanted,
            found: vec![None; wanted.len()],
        })
    }

    /// The highest index wanted: blocks after it need not run.
    pub(crate) fn last_needed(&self) -> usize {
        self.wanted.iter().copied().max().unwrap_or(0)
    }

    /// Whether hidden state `index` is wanted.
    pub(crate) fn wants(&self, index: usize) -> bool {
        self.wanted.contains(&index)
    }

    /// Offers hidden state `index`; kept if wanted.
    pub(crate) fn offer(&mut self, index: usize, state: &Tensor) {
        for (slot, &w) in self.found.iter_mut().zip(self.wanted) {
            if w == index {
                *slot = Some(state.clone());
            }
        }
    }

    pub(crate) fn finish(self) -> Result<Vec<Tensor>> {
        self.found
            .into_iter()
            .zip(self.wanted)
            .map(|(t, w)| {
                t.ok_or_else(|| Error::InvalidOption {
                    option: "layers",
                    reason: format!("hidden state {w} was not produced"),
                })
            })
            .collect()
    }
}

/// Activation functions named in `config.json` (`hidden_act` / `activation_function`), with the exact
/// `transformers` semantics: `gelu` is the erf form, `gelu_new` / `gelu_pytorch_tanh` the tanh form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub enum Activation {
    /// Exact GELU, `x * Phi(x)` (transformers `gelu`).
    #[serde(rename = "gelu")]
    Gelu,
    /// Tanh approximation of GELU (transformers `gelu_new`, `gelu_pytorch_tanh`, `gelu_fast`).
    #[serde(alias = "gelu_new", alias = "gelu_pytorch_tanh", alias = "gelu_fast")]
    GeluTanh,
    /// ReLU.
    #[serde(rename = "relu")]
    Relu,
    /// SiLU / swish.
    #[serde(rename = "silu", alias = "swish")]
    Silu,
}

impl Activation {
    pub(crate) fn apply(self, xs: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Activation::Gelu => xs.gelu_erf()?,
            Activation::GeluTanh => xs.gelu()?,
            Activation::Relu => xs.relu()?,
            Activation::Silu => candle_nn::ops::silu(xs)?,
        })
    }
}

/// Additive key-padding bias of shape `(batch, 1, 1, seq)`: 0 where the mask is 1, a large negative
/// number where it is 0 (transformers uses `finfo(float32).min` the same way).
pub(crate) fn padding_bias(attention_mask: &Tensor) -> Result<Tensor> {
    let (b, t) = attention_mask.dims2()?;
    let mask = attention_mask.to_dtype(DType::F32)?;
    let bias = ((mask - 1.0)? * (f32::MAX as f64))?;
    Ok(bias.reshape((b, 1, 1, t))?)
}

/// Additive causal bias `(1, 1, seq, seq)`: 0 on and below the diagonal, a large negative number above.
pub(crate) fn causal_bias(seq_len: usize, device: &Device) -> Result<Tensor> {
    let values: Vec<f32> = (0..seq_len)
        .flat_map(|i| (0..seq_len).map(move |j| if j > i { f32::MIN } else { 0.0 }))
        .collect();
    Ok(Tensor::from_vec(values, (1, 1, seq_len, seq_len), device)?)
}

/// Scaled dot-product attention on `(batch, heads, seq, head_dim)` tensors with an additive bias,
/// softmax in f32.
pub(crate) fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    scale: f64,
    bias: &Tensor,
) -> Result<Tensor> {
    let scores = (q.matmul(&k.t()?)? * scale)?;
    let scores = scores.broadcast_add(bias)?;
    let probs = candle_nn::ops::softmax_last_dim(&scores)?;
    Ok(probs.matmul(v)?)
}

/// `(batch, seq, heads * head_dim)` -> `(batch, heads, seq, head_dim)`, contiguous.
pub(crate) fn split_heads(xs: &Tensor, heads: usize, head_dim: usize) -> Result<Tensor> {
    let (b, t, _) = xs.dims3()?;
    Ok(xs
        .reshape((b, t, heads, head_dim))?
        .transpose(1, 2)?
        .contiguous()?)
}

/// `(batch, heads, seq, head_dim)` -> `(batch, seq, heads * head_dim)`.
pub(crate) fn merge_heads(xs: &Tensor) -> Result<Tensor> {
    let (b, h, t, d) = xs.dims4()?;
    Ok(xs.transpose(1, 2)?.reshape((b, t, h * d))?)
}

/// Loads the weight and bias of a LayerNorm stored as `weight`/`bias` or, in older checkpoints,
/// `gamma`/`beta`.
fn layer_norm_parts(size: usize, vb: &candle_nn::VarBuilder) -> Result<(Tensor, Tensor)> {
    let (w, b) = if vb.contains_tensor("weight") {
        ("weight", "bias")
    } else {
        ("gamma", "beta")
    };
    Ok((vb.get(size, w)?, vb.get(size, b)?))
}

/// Loads a LayerNorm stored as `weight`/`bias` or, in older checkpoints, `gamma`/`beta`.
pub(crate) fn layer_norm(
    size: usize,
    eps: f64,
    vb: candle_nn::VarBuilder,
) -> Result<candle_nn::LayerNorm> {
    let (weight, bias) = layer_norm_parts(size, &vb)?;
    Ok(candle_nn::LayerNorm::new(weight, bias, eps))
}

/// A LayerNorm whose parameters stay in reach (candle-nn's `LayerNorm` keeps its epsilon private),
/// for the CPU kernels of [`crate::kernels`].
pub(crate) struct Norm {
    pub(crate) weight: Tensor,
    pub(crate) shift: Tensor,
    pub(crate) eps: f64,
}

impl Norm {
    /// Loads a LayerNorm like [`layer_norm`].
    pub(crate) fn load(size: usize, eps: f64, vb: candle_nn::VarBuilder) -> Result<Self> {
        let (weight, shift) = layer_norm_parts(size, &vb)?;
        Ok(Self { weight, shift, eps })
    }

    /// The LayerNorm (candle-nn).
    pub(crate) fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let layer = candle_nn::LayerNorm::new(self.weight.clone(), self.shift.clone(), self.eps);
        Ok(candle_nn::Module::forward(&layer, xs)?)
    }
}

/// A linear layer `x W^T + b` kept as `W^T` (contiguous `(in, out)`, the layout the GEMM runs
/// fastest with) and a separate bias, so that the bias add can be fused into the kernel that consumes
/// the product ([`crate::kernels`]). Several checkpoint layers with the same input can be packed into
/// one (query, key and value: one GEMM instead of three).
pub(crate) struct SplitLinear {
    pub(crate) weight_t: Tensor,
    pub(crate) bias: Tensor,
}

impl SplitLinear {
    /// Packs the layers named `names` under `vb` (each `weight` `(out_i, in)`, `bias` `(out_i,)`)
    /// along the output dimension, in the order given.
    pub(crate) fn load_packed(
        vb: &candle_nn::VarBuilder,
        names: &[&str],
        in_dim: usize,
        out_dims: &[usize],
    ) -> Result<Self> {
        let mut weights = Vec::with_capacity(names.len());
        let mut biases = Vec::with_capacity(names.len());
        for (name, &out) in names.iter().zip(out_dims) {
            weights.push(vb.pp(*name).get((out, in_dim), "weight")?);
            biases.push(vb.pp(*name).get(out, "bias")?);
        }
        Ok(Self {
            weight_t: Tensor::cat(&weights, 0)?.t()?.contiguous()?,
            bias: Tensor::cat(&biases, 0)?,
        })
    }

    /// One layer `name` under `vb`.
    pub(crate) fn load(
        vb: &candle_nn::VarBuilder,
        name: &str,
        in_dim: usize,
        out_dim: usize,
    ) -> Result<Self> {
        Self::load_packed(vb, &[name], in_dim, &[out_dim])
    }

    /// `xs W^T` without the bias; `xs` is `(batch, seq, in)`, the result `(batch, seq, out)`.
    pub(crate) fn product(&self, xs: &Tensor) -> Result<Tensor> {
        let (b, t, d) = xs.dims3()?;
        let out = self.weight_t.dim(1)?;
        Ok(xs
            .reshape((b * t, d))?
            .matmul(&self.weight_t)?
            .reshape((b, t, out))?)
    }

    /// `xs W^T + b`.
    pub(crate) fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        Ok(self.product(xs)?.broadcast_add(&self.bias)?)
    }
}

/// Picks the weight-name prefix under which `probe` exists: none (a bare `*Model` checkpoint) or one
/// of `prefixes` (task-head checkpoints such as `bert.`, `roberta.`, `transformer.`, `model.`).
pub(crate) fn find_prefix<'a>(
    vb: &candle_nn::VarBuilder<'a>,
    probe: &str,
    prefixes: &[&str],
) -> Result<candle_nn::VarBuilder<'a>> {
    if vb.contains_tensor(probe) {
        return Ok(vb.clone());
    }
    for p in prefixes {
        let sub = vb.pp(*p);
        if sub.contains_tensor(probe) {
            return Ok(sub);
        }
    }
    Err(Error::MissingFile {
        path: probe.into(),
        what: format!("weight not found in the checkpoint (tried no prefix and {prefixes:?})"),
    })
}
