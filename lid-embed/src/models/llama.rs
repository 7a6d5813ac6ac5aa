//! Llama-family decoder (Llama 2/3, SmolLM2, Mistral-shaped and Qwen2-shaped checkpoints).
//!
//! Mirrors `transformers.models.llama.modeling_llama` (`LlamaRMSNorm`, `LlamaRotaryEmbedding`,
//! `LlamaAttention`, `LlamaMLP`, `LlamaDecoderLayer`, `LlamaModel`; transformers 4.x,
//! <https://github.com/huggingface/transformers/blob/v4.46.0/src/transformers/models/llama/modeling_llama.py>),
//! with the rotary scaling of `modeling_rope_utils` (`default`, `linear`, `llama3`; anything else is an
//! error). Rotary embedding in the half-split ("rotate_half") layout. Hidden states follow
//! `LlamaModel`: index `i < n` is the input of block `i`, index `n` is the final `norm` output.

use candle_core::{DType, Device, Tensor};
use candle_nn::{Embedding, Linear, Module, RmsNorm, VarBuilder};
use serde::Deserialize;

use super::{
    attention, causal_bias, merge_heads, padding_bias, split_heads, Activation, Collector,
    HiddenStateModel,
};
use crate::error::{Error, Result};

fn default_act() -> Activation {
    Activation::Silu
}
fn default_eps() -> f64 {
    1e-6
}
fn default_theta() -> f64 {
    10_000.0
}

/// One token id or a list of them (Llama 3 lists several end-of-sequence ids).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum TokenIds {
    /// A single id.
    One(u32),
    /// Several ids.
    Many(Vec<u32>),
}

impl TokenIds {
    /// All ids as a list.
    pub fn to_vec(&self) -> Vec<u32> {
        match self {
            TokenIds::One(id) => vec![*id],
            TokenIds::Many(ids) => ids.clone(),
        }
    }
}

/// `config.json` of a Llama-family checkpoint; optional keys take the `transformers` defaults.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// `llama`, `mistral` or `qwen2` (the latter always has q/k/v biases).
    #[serde(default)]
    pub model_type: Option<String>,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// Width of the gated feed-forward layer.
    pub intermediate_size: usize,
    /// Number of decoder blocks.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention); default `num_attention_heads`.
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    /// Per-head width; default `hidden_size / num_attention_heads`.
    #[serde(default)]
    pub head_dim: Option<usize>,
    /// Feed-forward activation; default `silu`.
    #[serde(default = "default_act")]
    pub hidden_act: Activation,
    /// Longest sequence the model was trained for.
    #[serde(default)]
    pub max_position_embeddings: Option<usize>,
    /// RMSNorm epsilon; default 1e-6.
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    /// Rotary base; default 10000.
    #[serde(default = "default_theta")]
    pub rope_theta: f64,
    /// Rotary scaling (`null`, `default`, `linear`, `llama3`).
    #[serde(default)]
    pub rope_scaling: Option<serde_json::Value>,
    /// transformers >= 5 stores `rope_theta` and the scaling together here; it wins over the keys
    /// above when present.
    #[serde(default)]
    pub rope_parameters: Option<serde_json::Value>,
    /// Biases on q/k/v/o projections; default false.
    #[serde(default)]
    pub attention_bias: bool,
    /// Biases on the MLP projections; default false.
    #[serde(default)]
    pub mlp_bias: bool,
    /// Mistral's sliding window, checked against the sequence length.
    #[serde(default)]
    pub sliding_window: Option<usize>,
    /// Beginning-of-sequence id(s).
    #[serde(default)]
    pub bos_token_id: Option<TokenIds>,
    /// End-of-sequence id(s).
    #[serde(default)]
    pub eos_token_id: Option<TokenIds>,
    /// Padding id, when set.
    #[serde(default)]
    pub pad_token_id: Option<TokenIds>,
}

impl Config {
    /// Per-head width: `head_dim`, else `hidden_size / num_attention_heads`.
    pub fn head_dim(&self) -> usize {
        self.head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    /// Key/value heads: `num_key_value_heads`, else `num_attention_heads`.
    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    /// The rotary base and scaling, from `rope_parameters` (transformers >= 5) or the older keys.
    pub fn rope(&self) -> (f64, Option<&serde_json::Value>) {
        match self.rope_parameters.as_ref().filter(|p| p.is_object()) {
            Some(p) => (
                p.get("rope_theta")
                    .and_then(|t| t.as_f64())
                    .unwrap_or(self.rope_theta),
                Some(p),
            ),
            None => (self.rope_theta, self.rope_scaling.as_ref()),
        }
    }

    /// Rejects settings this implementation does not cover.
    pub fn validate(&self) -> Result<()> {
        let heads = self.num_attention_heads;
        if heads == 0 || self.kv_heads() == 0 || !heads.is_multiple_of(self.kv_heads()) {
            return Err(Error::unsupported(
                "num_key_value_heads",
                self.kv_heads(),
                "must be positive and divide num_attention_heads",
            ));
        }
        if !self.head_dim().is_multiple_of(2) {
            return Err(Error::unsupported(
                "head_dim",
                self.head_dim(),
                "rotary embedding needs an even head_dim",
            ));
        }
        let (theta, scaling) = self.rope();
        inverse_frequencies(theta, self.head_dim(), scaling)?;
        Ok(())
    }
}

/// Rotary inverse frequencies in f32, as `transformers` computes them, with the scaling applied.
pub fn inverse_frequencies(
    theta: f64,
    head_dim: usize,
    scaling: Option<&serde_json::Value>,
) -> Result<Vec<f32>> {
    let base: Vec<f32> = (0..head_dim / 2)
        .map(|i| 1.0f32 / (theta as f32).powf((2 * i) as f32 / head_dim as f32))
        .collect();
    let Some(scaling) = scaling.filter(|s| !s.is_null()) else {
        return Ok(base);
    };
    let kind = scaling
        .get("rope_type")
        .or_else(|| scaling.get("type"))
        .and_then(|v| v.as_str())
        .unwrap_or("default");
    let number = |key: &str| -> Result<f32> {
        scaling
            .get(key)
            .and_then(|v| v.as_f64())
            .map(|v| v as f32)
            .ok_or_else(|| {
                Error::unsupported("rope_scaling", scaling, &format!("missing number {key:?}"))
            })
    };
    match kind {
        "default" => Ok(base),
        "linear" => {
            let factor = number("factor")?;
            Ok(base.into_iter().map(|f| f / factor).collect())
        }
        "llama3" => {
            let factor = number("factor")?;
            let low = number("low_freq_factor")?;
            let high = number("high_freq_factor")?;
            let old_ctx = number("original_max_position_embeddings")?;
            let low_wavelen = old_ctx / low;
            let high_wavelen = old_ctx / high;
            Ok(base
                .into_iter()
                .map(|f| {
                    let wavelen = 2.0 * std::f32::consts::PI / f;
                    if wavelen < high_wavelen {
                        f
                    } else if wavelen > low_wavelen {
                        f / factor
                    } else {
                        let smooth = (old_ctx / wavelen - low) / (high - low);
                        (1.0 - smooth) * f / factor + smooth * f
                    }
                })
                .collect())
        }
        other => Err(Error::unsupported(
            "rope_scaling.rope_type",
            other,
            "only default, linear and llama3 rotary scaling are implemented",
        )),
    }
}

/// cos/sin tables `(seq_len, head_dim / 2)` for positions `0..seq_len`.
pub(crate) fn rotary_tables(
    inv_freq: &[f32],
    seq_len: usize,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let half = inv_freq.len();
    let mut cos = Vec::with_capacity(seq_len * half);
    let mut sin = Vec::with_capacity(seq_len * half);
    for p in 0..seq_len {
        for &f in inv_freq {
            let angle = p as f32 * f;
            cos.push(angle.cos());
            sin.push(angle.sin());
        }
    }
    Ok((
        Tensor::from_vec(cos, (seq_len, half), device)?,
        Tensor::from_vec(sin, (seq_len, half), device)?,
    ))
}

/// Repeats each key/value head `rep` times (`repeat_kv`).
pub(crate) fn repeat_kv(xs: Tensor, rep: usize) -> Result<Tensor> {
    if rep == 1 {
        return Ok(xs);
    }
    let (b, kv, t, d) = xs.dims4()?;
    Ok(xs
        .unsqueeze(2)?
        .broadcast_as((b, kv, rep, t, d))?
        .contiguous()?
        .reshape((b, kv * rep, t, d))?)
}

/// `LlamaAttention` + `LlamaMLP` with their norms: one `LlamaDecoderLayer`.
struct Block {
    input_norm: RmsNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    post_norm: RmsNorm,
    gate: Linear,
    up: Linear,
    down: Linear,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    act: Activation,
}

impl Block {
    fn load(vb: VarBuilder, cfg: &Config, qkv_bias: bool) -> Result<Self> {
        let (h, hd) = (cfg.hidden_size, cfg.head_dim());
        let (heads, kv) = (cfg.num_attention_heads, cfg.kv_heads());
        let a = vb.pp("self_attn");
        let m = vb.pp("mlp");
        let i = cfg.intermediate_size;
        Ok(Self {
            input_norm: candle_nn::rms_norm(h, cfg.rms_norm_eps, vb.pp("input_layernorm"))?,
            q: candle_nn::linear_b(h, heads * hd, qkv_bias, a.pp("q_proj"))?,
            k: candle_nn::linear_b(h, kv * hd, qkv_bias, a.pp("k_proj"))?,
            v: candle_nn::linear_b(h, kv * hd, qkv_bias, a.pp("v_proj"))?,
            o: candle_nn::linear_b(heads * hd, h, cfg.attention_bias, a.pp("o_proj"))?,
            post_norm: candle_nn::rms_norm(h, cfg.rms_norm_eps, vb.pp("post_attention_layernorm"))?,
            gate: candle_nn::linear_b(h, i, cfg.mlp_bias, m.pp("gate_proj"))?,
            up: candle_nn::linear_b(h, i, cfg.mlp_bias, m.pp("up_proj"))?,
            down: candle_nn::linear_b(i, h, cfg.mlp_bias, m.pp("down_proj"))?,
            heads,
            kv_heads: kv,
            head_dim: hd,
            act: cfg.hidden_act,
        })
    }

    fn forward(&self, xs: &Tensor, cos: &Tensor, sin: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let normed = self.input_norm.forward(xs)?;
        let q = split_heads(&self.q.forward(&normed)?, self.heads, self.head_dim)?;
        let k = split_heads(&self.k.forward(&normed)?, self.kv_heads, self.head_dim)?;
        let v = split_heads(&self.v.forward(&normed)?, self.kv_heads, self.head_dim)?;
        let q = candle_nn::rotary_emb::rope(&q, cos, sin)?;
        let k = candle_nn::rotary_emb::rope(&k, cos, sin)?;
        let rep = self.heads / self.kv_heads;
        let k = repeat_kv(k, rep)?;
        let v = repeat_kv(v, rep)?;
        let ctx = attention(&q, &k, &v, 1.0 / (self.head_dim as f64).sqrt(), bias)?;
        let xs = (self.o.forward(&merge_heads(&ctx)?)? + xs)?;
        let normed = self.post_norm.forward(&xs)?;
        let gated = (self.act.apply(&self.gate.forward(&normed)?)? * self.up.forward(&normed)?)?;
        Ok((self.down.forward(&gated)? + xs)?)
    }
}

/// A Llama-family decoder (`LlamaModel`, no LM head).
pub struct Llama {
    embed: Embedding,
    blocks: Vec<Block>,
    norm: RmsNorm,
    inv_freq: Vec<f32>,
    cfg: Config,
}

impl Llama {
    /// Loads from weights named as `LlamaModel` (`embed_tokens`, `layers.N.*`, `norm`), optionally
    /// under a `model.` prefix (`LlamaForCausalLM` checkpoints).
    pub fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        cfg.validate()?;
        let qkv_bias = cfg.attention_bias || cfg.model_type.as_deref() == Some("qwen2");
        let vb = super::find_prefix(&vb, "embed_tokens.weight", &["model"])?;
        let blocks = (0..cfg.num_hidden_layers)
            .map(|i| Block::load(vb.pp("layers").pp(i), cfg, qkv_bias))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            embed: candle_nn::embedding(cfg.vocab_size, cfg.hidden_size, vb.pp("embed_tokens"))?,
            blocks,
            norm: candle_nn::rms_norm(cfg.hidden_size, cfg.rms_norm_eps, vb.pp("norm"))?,
            inv_freq: {
                let (theta, scaling) = cfg.rope();
                inverse_frequencies(theta, cfg.head_dim(), scaling)?
            },
            cfg: cfg.clone(),
        })
    }
}

impl HiddenStateModel for Llama {
    fn num_blocks(&self) -> usize {
        self.cfg.num_hidden_layers
    }

    fn hidden_size(&self) -> usize {
        self.cfg.hidden_size
    }

    fn hidden_states(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        wanted: &[usize],
    ) -> Result<Vec<Tensor>> {
        let mut collector = Collector::new(wanted, self.num_blocks())?;
        let (_, t) = input_ids.dims2()?;
        if let Some(window) = self.cfg.sliding_window.filter(|&w| t > w) {
            return Err(Error::InvalidOption {
                option: "max-length",
                reason: format!("sequence of {t} tokens exceeds the sliding window {window}, which is not implemented"),
            });
        }
        let device = input_ids.device();
        let (cos, sin) = rotary_tables(&self.inv_freq, t, device)?;
        let bias = causal_bias(t, device)?
            .broadcast_add(&padding_bias(attention_mask)?)?
            .maximum(f32::MIN as f64)?;
        let mut xs = self.embed.forward(input_ids)?.to_dtype(DType::F32)?;
        let n = self.num_blocks();
        let run_to = collector.last_needed();
        for (i, block) in self.blocks.iter().enumerate().take(run_to) {
            collector.offer(i, &xs);
            xs = block.forward(&xs, &cos, &sin, &bias)?;
        }
        if run_to < n {
            collector.offer(run_to, &xs);
        } else {
            collector.offer(n, &self.norm.forward(&xs)?);
        }
        collector.finish()
    }
}
