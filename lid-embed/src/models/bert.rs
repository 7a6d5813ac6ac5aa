//! BERT encoder (also MiniLM and other BERT-shaped checkpoints).
//!
//! Mirrors `transformers.models.bert.modeling_bert` (`BertEmbeddings`, `BertSelfAttention`,
//! `BertSelfOutput`, `BertIntermediate`, `BertOutput`, `BertLayer`, `BertEncoder`; transformers 4.x,
//! <https://github.com/huggingface/transformers/blob/v4.46.0/src/transformers/models/bert/modeling_bert.py>).
//! Eval mode: dropout is the identity. Absolute position embeddings only.

use candle_core::{DType, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, Module, VarBuilder};
use serde::Deserialize;

use super::{
    attention, merge_heads, padding_bias, split_heads, Activation, Collector, HiddenStateModel,
};
use crate::error::{Error, Result};

fn default_type_vocab() -> usize {
    2
}
fn default_ln_eps() -> f64 {
    1e-12
}
fn default_position_type() -> String {
    "absolute".into()
}
fn default_act() -> Activation {
    Activation::Gelu
}

/// `config.json` of a BERT (or RoBERTa) checkpoint; optional keys take the `transformers` defaults.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// Number of encoder blocks.
    pub num_hidden_layers: usize,
    /// Attention heads per block.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Feed-forward activation (default `gelu`, the erf form).
    #[serde(default = "default_act")]
    pub hidden_act: Activation,
    /// Number of learned positions.
    pub max_position_embeddings: usize,
    /// Number of token types (segment embeddings); default 2.
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    /// LayerNorm epsilon; default 1e-12.
    #[serde(default = "default_ln_eps")]
    pub layer_norm_eps: f64,
    /// Padding token id (RoBERTa also uses it as `padding_idx` for positions).
    #[serde(default)]
    pub pad_token_id: Option<u32>,
    /// Beginning-of-sequence token id, when the model has one.
    #[serde(default)]
    pub bos_token_id: Option<u32>,
    /// End-of-sequence token id, when the model has one.
    #[serde(default)]
    pub eos_token_id: Option<u32>,
    /// Decoder use of BERT/RoBERTa (causal masks, cross-attention) is not implemented.
    #[serde(default)]
    pub is_decoder: bool,
    /// Only `absolute` is implemented.
    #[serde(default = "default_position_type")]
    pub position_embedding_type: String,
}

impl Config {
    /// Rejects settings this implementation does not cover.
    pub fn validate(&self) -> Result<()> {
        if self.is_decoder {
            return Err(Error::unsupported(
                "is_decoder",
                true,
                "only encoder use is implemented",
            ));
        }
        if self.position_embedding_type != "absolute" {
            return Err(Error::unsupported(
                "position_embedding_type",
                &self.position_embedding_type,
                "only absolute position embeddings are implemented",
            ));
        }
        if self.num_attention_heads == 0 || self.hidden_size % self.num_attention_heads != 0 {
            return Err(Error::unsupported(
                "num_attention_heads",
                self.num_attention_heads,
                "must divide hidden_size",
            ));
        }
        Ok(())
    }
}

/// `BertEmbeddings`: word + position + token type, then LayerNorm.
struct Embeddings {
    word: Embedding,
    position: Embedding,
    token_type: Embedding,
    norm: LayerNorm,
}

impl Embeddings {
    fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        Ok(Self {
            word: candle_nn::embedding(cfg.vocab_size, cfg.hidden_size, vb.pp("word_embeddings"))?,
            position: candle_nn::embedding(
                cfg.max_position_embeddings,
                cfg.hidden_size,
                vb.pp("position_embeddings"),
            )?,
            token_type: candle_nn::embedding(
                cfg.type_vocab_size,
                cfg.hidden_size,
                vb.pp("token_type_embeddings"),
            )?,
            norm: super::layer_norm(cfg.hidden_size, cfg.layer_norm_eps, vb.pp("LayerNorm"))?,
        })
    }

    /// `position_ids` is `(batch, seq)` u32; token types are all 0 (single-segment inputs).
    fn forward(&self, input_ids: &Tensor, position_ids: &Tensor) -> Result<Tensor> {
        let words = self.word.forward(input_ids)?;
        let positions = self.position.forward(position_ids)?;
        let types = self.token_type.forward(&input_ids.zeros_like()?)?;
        let sum = ((words + positions)? + types)?;
        Ok(self.norm.forward(&sum)?)
    }
}

/// `BertAttention` = `BertSelfAttention` + `BertSelfOutput`.
struct Attention {
    query: Linear,
    key: Linear,
    value: Linear,
    out: Linear,
    norm: LayerNorm,
    heads: usize,
    head_dim: usize,
}

impl Attention {
    fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        let h = cfg.hidden_size;
        let sa = vb.pp("self");
        Ok(Self {
            query: candle_nn::linear(h, h, sa.pp("query"))?,
            key: candle_nn::linear(h, h, sa.pp("key"))?,
            value: candle_nn::linear(h, h, sa.pp("value"))?,
            out: candle_nn::linear(h, h, vb.pp("output").pp("dense"))?,
            norm: super::layer_norm(h, cfg.layer_norm_eps, vb.pp("output").pp("LayerNorm"))?,
            heads: cfg.num_attention_heads,
            head_dim: h / cfg.num_attention_heads,
        })
    }

    fn forward(&self, xs: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let q = split_heads(&self.query.forward(xs)?, self.heads, self.head_dim)?;
        let k = split_heads(&self.key.forward(xs)?, self.heads, self.head_dim)?;
        let v = split_heads(&self.value.forward(xs)?, self.heads, self.head_dim)?;
        let ctx = attention(&q, &k, &v, 1.0 / (self.head_dim as f64).sqrt(), bias)?;
        let projected = self.out.forward(&merge_heads(&ctx)?)?;
        Ok(self.norm.forward(&(projected + xs)?)?)
    }
}

/// `BertLayer`: attention, then `BertIntermediate` + `BertOutput`.
struct Layer {
    attention: Attention,
    intermediate: Linear,
    output: Linear,
    norm: LayerNorm,
    act: Activation,
}

impl Layer {
    fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        Ok(Self {
            attention: Attention::load(vb.pp("attention"), cfg)?,
            intermediate: candle_nn::linear(
                cfg.hidden_size,
                cfg.intermediate_size,
                vb.pp("intermediate").pp("dense"),
            )?,
            output: candle_nn::linear(
                cfg.intermediate_size,
                cfg.hidden_size,
                vb.pp("output").pp("dense"),
            )?,
            norm: super::layer_norm(
                cfg.hidden_size,
                cfg.layer_norm_eps,
                vb.pp("output").pp("LayerNorm"),
            )?,
            act: cfg.hidden_act,
        })
    }

    fn forward(&self, xs: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let attended = self.attention.forward(xs, bias)?;
        let inner = self.act.apply(&self.intermediate.forward(&attended)?)?;
        let out = self.output.forward(&inner)?;
        Ok(self.norm.forward(&(out + attended)?)?)
    }
}

/// `BertEncoder`: the stack of blocks; shared with RoBERTa.
pub(crate) struct Encoder {
    layers: Vec<Layer>,
}

impl Encoder {
    pub(crate) fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| Layer::load(vb.pp("layer").pp(i), cfg))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { layers })
    }

    /// Runs the blocks from the embedding output, offering every hidden state to `collector`.
    pub(crate) fn run(
        &self,
        embedded: Tensor,
        attention_mask: &Tensor,
        mut collector: Collector<'_>,
    ) -> Result<Vec<Tensor>> {
        let bias = padding_bias(attention_mask)?;
        let last = collector.last_needed();
        collector.offer(0, &embedded);
        let mut xs = embedded;
        for (i, layer) in self.layers.iter().enumerate().take(last) {
            xs = layer.forward(&xs, &bias)?;
            collector.offer(i + 1, &xs);
        }
        collector.finish()
    }
}

/// A BERT encoder (`BertModel` without the pooler).
pub struct Bert {
    embeddings: Embeddings,
    encoder: Encoder,
    cfg: Config,
}

impl Bert {
    /// Loads from a checkpoint whose weights are named as `BertModel` (`embeddings.*`,
    /// `encoder.layer.N.*`), optionally under a `bert.` prefix (task-head checkpoints).
    pub fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        cfg.validate()?;
        let vb = super::find_prefix(&vb, "embeddings.word_embeddings.weight", &["bert"])?;
        Ok(Self {
            embeddings: Embeddings::load(vb.pp("embeddings"), cfg)?,
            encoder: Encoder::load(vb.pp("encoder"), cfg)?,
            cfg: cfg.clone(),
        })
    }
}

impl HiddenStateModel for Bert {
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
        let collector = Collector::new(wanted, self.num_blocks())?;
        let (b, t) = input_ids.dims2()?;
        if t > self.cfg.max_position_embeddings {
            return Err(Error::InvalidOption {
                option: "max-length",
                reason: format!(
                    "sequence of {t} tokens exceeds max_position_embeddings {}",
                    self.cfg.max_position_embeddings
                ),
            });
        }
        let positions = Tensor::arange(0u32, t as u32, input_ids.device())?
            .unsqueeze(0)?
            .broadcast_as((b, t))?
            .contiguous()?;
        let embedded = self.embeddings.forward(input_ids, &positions)?;
        self.encoder
            .run(embedded.to_dtype(DType::F32)?, attention_mask, collector)
    }
}
