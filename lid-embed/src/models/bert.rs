//! BERT encoder (also MiniLM and other BERT-shaped checkpoints).
//!
//! Mirrors `transformers.models.bert.modeling_bert` (`BertEmbeddings`, `BertSelfAttention`,
//! `BertSelfOutput`, `BertIntermediate`, `BertOutput`, `BertLayer`, `BertEncoder`; transformers 4.x,
//! <https://github.com/huggingface/transformers/blob/v4.46.0/src/transformers/models/bert/modeling_bert.py>).
//! Eval mode: dropout is the identity. Absolute position embeddings only.

use std::sync::Mutex;

use candle_core::{DType, Tensor};
use candle_nn::{Embedding, LayerNorm, Module, VarBuilder};
use serde::Deserialize;

use super::{
    attention, merge_heads, padding_bias, split_heads, Activation, Collector, HiddenStateModel,
    Norm, SplitLinear,
};
use crate::error::{Error, Result};
use crate::kernels::encoder::{self, Batch, BlockWeights, EncoderDims, NormWeights, Workspace};
use crate::kernels::CpuF32;

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
        if self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
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

/// `BertAttention` = `BertSelfAttention` + `BertSelfOutput`, with query, key and value packed into
/// one projection (`[q | k | v]` along the output dimension: one GEMM instead of three).
struct Attention {
    qkv: SplitLinear,
    out: SplitLinear,
    norm: Norm,
    heads: usize,
    head_dim: usize,
}

impl Attention {
    fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        let h = cfg.hidden_size;
        Ok(Self {
            qkv: SplitLinear::load_packed(
                &vb.pp("self"),
                &["query", "key", "value"],
                h,
                &[h, h, h],
            )?,
            out: SplitLinear::load(&vb.pp("output"), "dense", h, h)?,
            norm: Norm::load(h, cfg.layer_norm_eps, vb.pp("output").pp("LayerNorm"))?,
            heads: cfg.num_attention_heads,
            head_dim: h / cfg.num_attention_heads,
        })
    }

    fn forward(&self, xs: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let h = self.heads * self.head_dim;
        let qkv = self.qkv.forward(xs)?;
        let part = |i: usize| -> Result<Tensor> {
            let x = qkv.narrow(2, i * h, h)?.contiguous()?;
            split_heads(&x, self.heads, self.head_dim)
        };
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let ctx = attention(&part(0)?, &part(1)?, &part(2)?, scale, bias)?;
        let projected = self.out.forward(&merge_heads(&ctx)?)?;
        self.norm.forward(&(projected + xs)?)
    }
}

/// `BertLayer`: attention, then `BertIntermediate` + `BertOutput`.
struct Layer {
    attention: Attention,
    intermediate: SplitLinear,
    output: SplitLinear,
    norm: Norm,
    act: Activation,
}

impl Layer {
    fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        let (h, inner) = (cfg.hidden_size, cfg.intermediate_size);
        Ok(Self {
            attention: Attention::load(vb.pp("attention"), cfg)?,
            intermediate: SplitLinear::load(&vb.pp("intermediate"), "dense", h, inner)?,
            output: SplitLinear::load(&vb.pp("output"), "dense", inner, h)?,
            norm: Norm::load(h, cfg.layer_norm_eps, vb.pp("output").pp("LayerNorm"))?,
            act: cfg.hidden_act,
        })
    }

    fn forward(&self, xs: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let attended = self.attention.forward(xs, bias)?;
        let inner = self.act.apply(&self.intermediate.forward(&attended)?)?;
        let out = self.output.forward(&inner)?;
        self.norm.forward(&(out + attended)?)
    }

    /// The block's tensors in the order [`cpu_block`] reads them.
    fn tensors(&self) -> [&Tensor; 12] {
        let a = &self.attention;
        [
            &a.qkv.weight_t,
            &a.qkv.bias,
            &a.out.weight_t,
            &a.out.bias,
            &a.norm.weight,
            &a.norm.shift,
            &self.intermediate.weight_t,
            &self.intermediate.bias,
            &self.output.weight_t,
            &self.output.bias,
            &self.norm.weight,
            &self.norm.shift,
        ]
    }
}

/// The block's weights as CPU slices, from the views of [`Layer::tensors`].
fn cpu_block<'a>(layer: &Layer, views: &'a [CpuF32<'_>]) -> BlockWeights<'a> {
    let v = |i: usize| views[i].slice();
    BlockWeights {
        qkv: v(0),
        qkv_bias: v(1),
        attn_out: v(2),
        attn_out_bias: v(3),
        attn_norm: NormWeights {
            weight: v(4),
            shift: v(5),
            eps: layer.attention.norm.eps as f32,
        },
        inner: v(6),
        inner_bias: v(7),
        out: v(8),
        out_bias: v(9),
        out_norm: NormWeights {
            weight: v(10),
            shift: v(11),
            eps: layer.norm.eps as f32,
        },
    }
}

/// `BertEncoder`: the stack of blocks; shared with RoBERTa.
///
/// Two paths compute the same thing: on the CPU in f32 with the exact GELU, the fused kernels of
/// [`crate::kernels::encoder`] on reusable buffers; on any other device (or activation), candle ops.
pub(crate) struct Encoder {
    layers: Vec<Layer>,
    dims: EncoderDims,
    act: Activation,
    workspace: Mutex<Workspace>,
}

impl Encoder {
    pub(crate) fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| Layer::load(vb.pp("layer").pp(i), cfg))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            layers,
            dims: EncoderDims {
                hidden: cfg.hidden_size,
                intermediate: cfg.intermediate_size,
                heads: cfg.num_attention_heads,
            },
            act: cfg.hidden_act,
            workspace: Mutex::new(Workspace::default()),
        })
    }

    /// Runs the blocks from the embedding output, offering every hidden state to `collector`.
    pub(crate) fn run(
        &self,
        embedded: Tensor,
        attention_mask: &Tensor,
        collector: Collector<'_>,
    ) -> Result<Vec<Tensor>> {
        let (b, t, _) = embedded.dims3()?;
        if attention_mask.dims2()? != (b, t) {
            return Err(Error::InvalidOption {
                option: "attention_mask",
                reason: format!(
                    "shape {:?} does not match the {b} x {t} input ids",
                    attention_mask.dims()
                ),
            });
        }
        let on_cpu = embedded.device().is_cpu() && embedded.dtype() == DType::F32;
        if on_cpu && self.act == Activation::Gelu {
            self.run_cpu(embedded, attention_mask, collector)
        } else {
            self.run_candle(embedded, attention_mask, collector)
        }
    }

    /// The candle-op path (any device).
    fn run_candle(
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

    /// The fused CPU path; falls back to [`Self::run_candle`] if a weight is not a contiguous f32
    /// CPU tensor.
    fn run_cpu(
        &self,
        embedded: Tensor,
        attention_mask: &Tensor,
        mut collector: Collector<'_>,
    ) -> Result<Vec<Tensor>> {
        let views: Option<Vec<Vec<CpuF32<'_>>>> = self
            .layers
            .iter()
            .map(|layer| layer.tensors().into_iter().map(CpuF32::new).collect())
            .collect();
        let embedded = embedded.contiguous()?;
        let (Some(views), Some(input)) = (views, CpuF32::new(&embedded)) else {
            return self.run_candle(embedded, attention_mask, collector);
        };
        let blocks: Vec<BlockWeights<'_>> = self
            .layers
            .iter()
            .zip(&views)
            .map(|(layer, v)| cpu_block(layer, v))
            .collect();
        let (b, t, h) = embedded.dims3()?;
        let keep: Vec<bool> = attention_mask
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?
            .into_iter()
            .map(|m| m != 0.0)
            .collect();
        let batch = Batch {
            embedded: input.slice(),
            keep: &keep,
            batch: b,
            seq: t,
        };
        collector.offer(0, &embedded);
        let last = collector.last_needed();
        let mut failure = None;
        let mut emit = |index: usize, state: &[f32]| {
            if collector.wants(index) {
                match Tensor::from_slice(state, (b, t, h), embedded.device()) {
                    Ok(tensor) => collector.offer(index, &tensor),
                    Err(e) => {
                        failure = Some(e);
                        return false;
                    }
                }
            }
            index < last
        };
        // A concurrent caller holding the workspace gets buffers of its own.
        let mut fresh = Workspace::default();
        let mut guard = self.workspace.try_lock();
        let ws = match guard.as_deref_mut() {
            Ok(ws) => ws,
            Err(_) => &mut fresh,
        };
        if last > 0 {
            encoder::run(&blocks[..last], self.dims, &batch, ws, &mut emit);
        }
        if let Some(e) = failure {
            return Err(e.into());
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

#[cfg(test)]
mod tests {
    //! The fused CPU path of the encoder against its candle-op path on random weights, with
    //! padding; the golden tests compare the CPU path with `transformers` on real checkpoints.

    use std::collections::HashMap;

    use candle_core::Device;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn random_encoder(cfg: &Config, rng: &mut ChaCha8Rng) -> Encoder {
        let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
        let mut shapes: Vec<(String, Vec<usize>)> = Vec::new();
        for l in 0..cfg.num_hidden_layers {
            let p = format!("encoder.layer.{l}.");
            for name in ["query", "key", "value"] {
                shapes.push((format!("{p}attention.self.{name}.weight"), vec![h, h]));
                shapes.push((format!("{p}attention.self.{name}.bias"), vec![h]));
            }
            shapes.push((format!("{p}attention.output.dense.weight"), vec![h, h]));
            shapes.push((format!("{p}intermediate.dense.weight"), vec![i, h]));
            shapes.push((format!("{p}intermediate.dense.bias"), vec![i]));
            shapes.push((format!("{p}output.dense.weight"), vec![h, i]));
            for dense in ["attention.output.dense", "output.dense"] {
                shapes.push((format!("{p}{dense}.bias"), vec![h]));
            }
            for norm in ["attention.output.LayerNorm", "output.LayerNorm"] {
                shapes.push((format!("{p}{norm}.weight"), vec![h]));
                shapes.push((format!("{p}{norm}.bias"), vec![h]));
            }
        }
        let tensors: HashMap<String, Tensor> = shapes
            .into_iter()
            .map(|(name, shape)| {
                let n = shape.iter().product();
                let scale = if name.contains("LayerNorm.weight") {
                    0.0
                } else {
                    0.2
                };
                let offset = if name.contains("LayerNorm.weight") {
                    1.0
                } else {
                    0.0
                };
                let values: Vec<f32> = (0..n)
                    .map(|_| offset + scale * (rng.random::<f32>() * 2.0 - 1.0))
                    .collect();
                let t = Tensor::from_vec(values, shape, &Device::Cpu).unwrap();
                (name, t)
            })
            .collect();
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
        Encoder::load(vb.pp("encoder"), cfg).unwrap()
    }

    #[test]
    fn fused_cpu_path_matches_candle_path() {
        let cfg: Config = serde_json::from_value(serde_json::json!({
            "vocab_size": 10, "hidden_size": 48, "num_hidden_layers": 3,
            "num_attention_heads": 4, "intermediate_size": 80,
            "max_position_embeddings": 32,
        }))
        .unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let encoder = random_encoder(&cfg, &mut rng);
        let (b, t, h) = (3, 7, cfg.hidden_size);
        let values: Vec<f32> = (0..b * t * h)
            .map(|_| rng.random::<f32>() * 2.0 - 1.0)
            .collect();
        let embedded = Tensor::from_vec(values, (b, t, h), &Device::Cpu).unwrap();
        let lengths = [7u32, 3, 1];
        let mask: Vec<u32> = lengths
            .iter()
            .flat_map(|&len| (0..t as u32).map(move |j| u32::from(j < len)))
            .collect();
        let mask = Tensor::from_vec(mask, (b, t), &Device::Cpu).unwrap();
        let wanted = [0, 1, 2, 3];
        let run = |cpu: bool| {
            let collector = Collector::new(&wanted, cfg.num_hidden_layers).unwrap();
            if cpu {
                encoder.run_cpu(embedded.clone(), &mask, collector).unwrap()
            } else {
                encoder
                    .run_candle(embedded.clone(), &mask, collector)
                    .unwrap()
            }
        };
        let (fused, plain) = (run(true), run(false));
        // The CPU path does not fall back here: every weight is a contiguous f32 CPU tensor.
        assert!(encoder
            .layers
            .iter()
            .all(|l| l.tensors().into_iter().all(|t| CpuF32::new(t).is_some())));
        for (index, (x, y)) in fused.iter().zip(&plain).enumerate() {
            let d = (x - y)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(d <= 1e-5, "hidden state {index}: {d}");
        }
        // A mask that does not match the input is an error, not a panic.
        let collector = Collector::new(&[1], cfg.num_hidden_layers).unwrap();
        let short_mask = mask.narrow(1, 0, 5).unwrap();
        assert!(encoder
            .run(embedded.clone(), &short_mask, collector)
            .is_err());
        // Only the last hidden state wanted: blocks after it are skipped, the values agree.
        let collector = Collector::new(&[2], cfg.num_hidden_layers).unwrap();
        let second = encoder.run(embedded.clone(), &mask, collector).unwrap();
        let d = (&second[0] - &fused[2])
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap();
        assert_eq!(d.to_scalar::<f32>().unwrap(), 0.0);
    }
}
