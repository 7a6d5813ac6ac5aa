//! Llama-architecture decoder from a quantized GGUF file (SmolLM2-135M-Instruct Q4_1 and the like).
//!
//! The computation is `LlamaModel` (see [`super::llama`]) with the llama.cpp weight layout
//! (`token_embd`, `blk.N.attn_q`, ..., `output_norm`; upstream reference: llama.cpp `llm_build_llama`
//! and candle-transformers `quantized_llama.rs`). llama.cpp's converter permutes the q/k rows so that
//! rotary pairs are adjacent, hence the interleaved rotary form here. Matrix products run on the
//! quantized weights (`QMatMul`); the token embedding and the norms are dequantized to f32.
//! Hidden states follow `LlamaModel`: index `n` is the final norm's output.

use std::fs::File;
use std::path::Path;

use candle_core::quantized::{gguf_file, QMatMul};
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Embedding, RmsNorm};

use super::llama::{inverse_frequencies, repeat_kv, rotary_tables};
use super::{
    attention, causal_bias, merge_heads, padding_bias, split_heads, Collector, HiddenStateModel,
};
use crate::error::{Error, Result};

/// Hyper-parameters read from the GGUF metadata (`llama.*` keys).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Config {
    /// `general.architecture`; only `llama` is supported.
    pub architecture: String,
    /// `llama.block_count`.
    pub num_blocks: usize,
    /// `llama.embedding_length`.
    pub hidden_size: usize,
    /// `llama.attention.head_count`.
    pub heads: usize,
    /// `llama.attention.head_count_kv` (default: `heads`).
    pub kv_heads: usize,
    /// `llama.rope.dimension_count` (default: `hidden_size / heads`).
    pub head_dim: usize,
    /// `llama.attention.layer_norm_rms_epsilon`.
    pub rms_norm_eps: f64,
    /// `llama.rope.freq_base` (default 10000).
    pub rope_theta: f64,
    /// `llama.context_length`, when present.
    pub context_length: Option<usize>,
    /// `tokenizer.ggml.bos_token_id`.
    pub bos_token_id: Option<u32>,
    /// `tokenizer.ggml.eos_token_id`.
    pub eos_token_id: Option<u32>,
    /// `tokenizer.ggml.padding_token_id`.
    pub pad_token_id: Option<u32>,
}

impl Config {
    /// Reads the hyper-parameters from GGUF metadata.
    pub fn from_gguf(content: &gguf_file::Content) -> Result<Self> {
        let md = &content.metadata;
        let architecture = md
            .get("general.architecture")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_default();
        if architecture != "llama" {
            return Err(Error::UnknownModelType {
                model_type: architecture,
                path: "GGUF general.architecture".into(),
            });
        }
        let get_u = |key: &str| -> Option<usize> {
            md.get(&format!("llama.{key}")).and_then(|v| {
                v.to_u32()
                    .ok()
                    .map(|x| x as usize)
                    .or_else(|| v.to_u64().ok().map(|x| x as usize))
            })
        };
        let need = |key: &str| -> Result<usize> {
            get_u(key).ok_or_else(|| {
                Error::unsupported(
                    &format!("llama.{key}"),
                    "missing",
                    "required GGUF metadata key",
                )
            })
        };
        let heads = need("attention.head_count")?;
        let hidden_size = need("embedding_length")?;
        let token = |key: &str| {
            md.get(&format!("tokenizer.ggml.{key}"))
                .and_then(|v| v.to_u32().ok())
        };
        Ok(Self {
            architecture,
            num_blocks: need("block_count")?,
            hidden_size,
            heads,
            kv_heads: get_u("attention.head_count_kv").unwrap_or(heads),
            head_dim: get_u("rope.dimension_count").unwrap_or(hidden_size / heads.max(1)),
            rms_norm_eps: md
                .get("llama.attention.layer_norm_rms_epsilon")
                .and_then(|v| v.to_f32().ok())
                .map(f64::from)
                .unwrap_or(1e-5),
            rope_theta: md
                .get("llama.rope.freq_base")
                .and_then(|v| v.to_f32().ok())
                .map(f64::from)
                .unwrap_or(10_000.0),
            context_length: get_u("context_length"),
            bos_token_id: token("bos_token_id"),
            eos_token_id: token("eos_token_id"),
            pad_token_id: token("padding_token_id"),
        })
    }
}

struct Block {
    attn_norm: RmsNorm,
    q: QMatMul,
    k: QMatMul,
    v: QMatMul,
    o: QMatMul,
    ffn_norm: RmsNorm,
    gate: QMatMul,
    up: QMatMul,
    down: QMatMul,
}

/// A quantized Llama decoder loaded from GGUF.
pub struct QuantizedLlama {
    embed: Embedding,
    blocks: Vec<Block>,
    norm: RmsNorm,
    inv_freq: Vec<f32>,
    cfg: Config,
}

impl QuantizedLlama {
    /// Reads a GGUF file and loads every block onto `device`.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        // candle allocates whatever sizes the file announces: check them first (crate::gguf).
        crate::gguf::check_file(path)?;
        let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
        let content = gguf_file::Content::read(&mut file).map_err(|e| Error::Parse {
            path: path.to_path_buf(),
            message: format!("not a readable GGUF file: {e}"),
        })?;
        let cfg = Config::from_gguf(&content)?;
        if cfg.heads == 0
            || cfg.kv_heads == 0
            || cfg.heads % cfg.kv_heads != 0
            || cfg.head_dim % 2 != 0
        {
            return Err(Error::unsupported(
                "llama.attention.head_count_kv",
                (cfg.heads, cfg.kv_heads, cfg.head_dim),
                "heads must be a multiple of kv heads and head_dim even",
            ));
        }
        // Sizes from the metadata must be possible for this file before anything is allocated
        // from them (found by the `gguf` fuzz target: a block count of 2^37 asked for terabytes).
        let tensors = content.tensor_infos.len();
        if cfg.num_blocks > tensors / 9 {
            return Err(Error::unsupported(
                "llama.block_count",
                cfg.num_blocks,
                &format!(
                    "each block needs 9 tensors and the file holds {tensors}; the metadata is \
                     corrupt"
                ),
            ));
        }
        if cfg.head_dim == 0 || cfg.head_dim > cfg.hidden_size.max(1) {
            return Err(Error::unsupported(
                "llama.rope.dimension_count",
                cfg.head_dim,
                &format!(
                    "the head size must be between 1 and the embedding length ({})",
                    cfg.hidden_size
                ),
            ));
        }
        let mut qtensor = |name: String| -> Result<candle_core::quantized::QTensor> {
            Ok(content.tensor(&mut file, &name, device)?)
        };
        let embed_q = qtensor("token_embd.weight".into())?;
        let embed = Embedding::new(embed_q.dequantize(device)?, cfg.hidden_size);
        let norm_eps = cfg.rms_norm_eps;
        let mut blocks = Vec::with_capacity(cfg.num_blocks);
        for i in 0..cfg.num_blocks {
            let mut take = |suffix: &str| qtensor(format!("blk.{i}.{suffix}.weight"));
            let attn_norm = RmsNorm::new(take("attn_norm")?.dequantize(device)?, norm_eps);
            let ffn_norm = RmsNorm::new(take("ffn_norm")?.dequantize(device)?, norm_eps);
            blocks.push(Block {
                attn_norm,
                q: QMatMul::from_qtensor(take("attn_q")?)?,
                k: QMatMul::from_qtensor(take("attn_k")?)?,
                v: QMatMul::from_qtensor(take("attn_v")?)?,
                o: QMatMul::from_qtensor(take("attn_output")?)?,
                ffn_norm,
                gate: QMatMul::from_qtensor(take("ffn_gate")?)?,
                up: QMatMul::from_qtensor(take("ffn_up")?)?,
                down: QMatMul::from_qtensor(take("ffn_down")?)?,
            });
        }
        let norm = RmsNorm::new(
            qtensor("output_norm.weight".into())?.dequantize(device)?,
            norm_eps,
        );
        let inv_freq = inverse_frequencies(cfg.rope_theta, cfg.head_dim, None)?;
        Ok(Self {
            embed,
            blocks,
            norm,
            inv_freq,
            cfg,
        })
    }

    /// The hyper-parameters read from the file.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    fn block_forward(
        &self,
        b: &Block,
        xs: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        bias: &Tensor,
    ) -> Result<Tensor> {
        let c = &self.cfg;
        let normed = b.attn_norm.forward(xs)?;
        let q = split_heads(&b.q.forward(&normed)?, c.heads, c.head_dim)?;
        let k = split_heads(&b.k.forward(&normed)?, c.kv_heads, c.head_dim)?;
        let v = split_heads(&b.v.forward(&normed)?, c.kv_heads, c.head_dim)?;
        let q = candle_nn::rotary_emb::rope_i(&q, cos, sin)?;
        let k = candle_nn::rotary_emb::rope_i(&k, cos, sin)?;
        let rep = c.heads / c.kv_heads;
        let ctx = attention(
            &q,
            &repeat_kv(k, rep)?,
            &repeat_kv(v, rep)?,
            1.0 / (c.head_dim as f64).sqrt(),
            bias,
        )?;
        let xs = (b.o.forward(&merge_heads(&ctx)?)? + xs)?;
        let normed = b.ffn_norm.forward(&xs)?;
        let gated = (candle_nn::ops::silu(&b.gate.forward(&normed)?)? * b.up.forward(&normed)?)?;
        Ok((b.down.forward(&gated)? + xs)?)
    }
}

impl HiddenStateModel for QuantizedLlama {
    fn num_blocks(&self) -> usize {
        self.cfg.num_blocks
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
            xs = self.block_forward(block, &xs, &cos, &sin, &bias)?;
        }
        if run_to < n {
            collector.offer(run_to, &xs);
        } else {
            collector.offer(n, &self.norm.forward(&xs)?);
        }
        collector.finish()
    }
}
