//! GPT-2 decoder.
//!
//! Mirrors `transformers.models.gpt2.modeling_gpt2` (`GPT2Attention`, `GPT2MLP`, `GPT2Block`,
//! `GPT2Model`; transformers 4.x,
//! <https://github.com/huggingface/transformers/blob/v4.46.0/src/transformers/models/gpt2/modeling_gpt2.py>).
//! Projections are `Conv1D` (weight stored `(in, out)`). Hidden states follow `GPT2Model`: index `i < n`
//! is the input of block `i`, index `n` is `ln_f` of the last block's output.

use candle_core::{DType, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, Module, VarBuilder};
use serde::Deserialize;

use super::{
    attention, causal_bias, merge_heads, padding_bias, split_heads, Activation, Collector,
    HiddenStateModel,
};
use crate::error::{Error, Result};

fn default_act() -> Activation {
    Activation::GeluTanh
}
fn default_eps() -> f64 {
    1e-5
}
fn default_true() -> bool {
    true
}

/// `config.json` of a GPT-2 checkpoint; optional keys take the `transformers` defaults.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Number of learned positions.
    pub n_positions: usize,
    /// Width of the hidden states.
    pub n_embd: usize,
    /// Number of blocks.
    pub n_layer: usize,
    /// Attention heads per block.
    pub n_head: usize,
    /// Feed-forward width; default `4 * n_embd`.
    #[serde(default)]
    pub n_inner: Option<usize>,
    /// Feed-forward activation; default `gelu_new` (tanh form).
    #[serde(default = "default_act")]
    pub activation_function: Activation,
    /// LayerNorm epsilon; default 1e-5.
    #[serde(default = "default_eps")]
    pub layer_norm_epsilon: f64,
    /// Divide attention scores by `sqrt(head_dim)`; default true.
    #[serde(default = "default_true")]
    pub scale_attn_weights: bool,
    /// Also divide attention scores by `layer_idx + 1`; default false.
    #[serde(default)]
    pub scale_attn_by_inverse_layer_idx: bool,
    /// Cross-attention layers (encoder-decoder use) are not implemented.
    #[serde(default)]
    pub add_cross_attention: bool,
    /// Beginning-of-sequence token id.
    #[serde(default)]
    pub bos_token_id: Option<u32>,
    /// End-of-sequence token id.
    #[serde(default)]
    pub eos_token_id: Option<u32>,
    /// Padding token id, when set.
    #[serde(default)]
    pub pad_token_id: Option<u32>,
}

/// A `Conv1D` projection: weight `(in, out)`, loaded as a [`Linear`] with the transposed weight.
fn conv1d(n_in: usize, n_out: usize, vb: VarBuilder) -> Result<Linear> {
    let weight = vb.get((n_in, n_out), "weight")?.t()?.contiguous()?;
    let bias = vb.get(n_out, "bias")?;
    Ok(Linear::new(weight, Some(bias)))
}

/// `GPT2Block`: pre-norm attention and MLP with residuals.
struct Block {
    ln_1: LayerNorm,
    c_attn: Linear,
    attn_proj: Linear,
    ln_2: LayerNorm,
    c_fc: Linear,
    mlp_proj: Linear,
    heads: usize,
    head_dim: usize,
    scale: f64,
    act: Activation,
}

impl Block {
    fn load(vb: VarBuilder, cfg: &Config, layer_idx: usize) -> Result<Self> {
        let h = cfg.n_embd;
        let inner = cfg.n_inner.unwrap_or(4 * h);
        let head_dim = h / cfg.n_head;
        let mut scale = if cfg.scale_attn_weights {
            1.0 / (head_dim as f64).sqrt()
        } else {
            1.0
        };
        if cfg.scale_attn_by_inverse_layer_idx {
            scale /= (layer_idx + 1) as f64;
        }
        Ok(Self {
            ln_1: super::layer_norm(h, cfg.layer_norm_epsilon, vb.pp("ln_1"))?,
            c_attn: conv1d(h, 3 * h, vb.pp("attn").pp("c_attn"))?,
            attn_proj: conv1d(h, h, vb.pp("attn").pp("c_proj"))?,
            ln_2: super::layer_norm(h, cfg.layer_norm_epsilon, vb.pp("ln_2"))?,
            c_fc: conv1d(h, inner, vb.pp("mlp").pp("c_fc"))?,
            mlp_proj: conv1d(inner, h, vb.pp("mlp").pp("c_proj"))?,
            heads: cfg.n_head,
            head_dim,
            scale,
            act: cfg.activation_function,
        })
    }

    fn forward(&self, xs: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let h = self.heads * self.head_dim;
        let qkv = self.c_attn.forward(&self.ln_1.forward(xs)?)?;
        let q = split_heads(&qkv.narrow(2, 0, h)?, self.heads, self.head_dim)?;
        let k = split_heads(&qkv.narrow(2, h, h)?, self.heads, self.head_dim)?;
        let v = split_heads(&qkv.narrow(2, 2 * h, h)?, self.heads, self.head_dim)?;
        let ctx = attention(&q, &k, &v, self.scale, bias)?;
        let xs = (self.attn_proj.forward(&merge_heads(&ctx)?)? + xs)?;
        let inner = self
            .act
            .apply(&self.c_fc.forward(&self.ln_2.forward(&xs)?)?)?;
        Ok((self.mlp_proj.forward(&inner)? + xs)?)
    }
}

/// A GPT-2 decoder (`GPT2Model`, no LM head).
pub struct Gpt2 {
    wte: Embedding,
    wpe: Embedding,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    cfg: Config,
}

impl Gpt2 {
    /// Loads from weights named as `GPT2Model` (`wte`, `wpe`, `h.N.*`, `ln_f`), optionally under a
    /// `transformer.` prefix (`GPT2LMHeadModel` checkpoints).
    pub fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        if cfg.add_cross_attention {
            return Err(Error::unsupported(
                "add_cross_attention",
                true,
                "cross-attention is not implemented",
            ));
        }
        if cfg.n_head == 0 || !cfg.n_embd.is_multiple_of(cfg.n_head) {
            return Err(Error::unsupported(
                "n_head",
                cfg.n_head,
                "must divide n_embd",
            ));
        }
        let vb = super::find_prefix(&vb, "wte.weight", &["transformer"])?;
        let blocks = (0..cfg.n_layer)
            .map(|i| Block::load(vb.pp("h").pp(i), cfg, i))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            wte: candle_nn::embedding(cfg.vocab_size, cfg.n_embd, vb.pp("wte"))?,
            wpe: candle_nn::embedding(cfg.n_positions, cfg.n_embd, vb.pp("wpe"))?,
            blocks,
            ln_f: super::layer_norm(cfg.n_embd, cfg.layer_norm_epsilon, vb.pp("ln_f"))?,
            cfg: cfg.clone(),
        })
    }
}

impl HiddenStateModel for Gpt2 {
    fn num_blocks(&self) -> usize {
        self.cfg.n_layer
    }

    fn hidden_size(&self) -> usize {
        self.cfg.n_embd
    }

    fn hidden_states(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        wanted: &[usize],
    ) -> Result<Vec<Tensor>> {
        let mut collector = Collector::new(wanted, self.num_blocks())?;
        let (b, t) = input_ids.dims2()?;
        if t > self.cfg.n_positions {
            return Err(Error::InvalidOption {
                option: "max-length",
                reason: format!(
                    "sequence of {t} tokens exceeds n_positions {}",
                    self.cfg.n_positions
                ),
            });
        }
        let device = input_ids.device();
        // Right padding: real tokens sit at 0..len, so plain positions are correct for them.
        let positions = Tensor::arange(0u32, t as u32, device)?
            .unsqueeze(0)?
            .broadcast_as((b, t))?
            .contiguous()?;
        let bias = causal_bias(t, device)?
            .broadcast_add(&padding_bias(attention_mask)?)?
            .maximum(f32::MIN as f64)?;
        let mut xs =
            (self.wte.forward(input_ids)? + self.wpe.forward(&positions)?)?.to_dtype(DType::F32)?;
        let n = self.num_blocks();
        let last = collector.last_needed();
        let run_to = if last == n { n } else { last };
        for (i, block) in self.blocks.iter().enumerate().take(run_to) {
            collector.offer(i, &xs);
            xs = block.forward(&xs, &bias)?;
        }
        if run_to < n {
            collector.offer(run_to, &xs);
        } else {
            collector.offer(n, &self.ln_f.forward(&xs)?);
        }
        collector.finish()
    }
}
