//! The decoder-only transformer of the grokking study, built from candle tensors.
//!
//! Paper sizes (REFERENCE.md study 4): 2 pre-norm blocks, width 128, 4 heads x 32, feed-forward 512
//! with GELU (exact erf form, PyTorch's default), dropout 0.1, learned positions (max 5), token
//! embeddings scaled by `sqrt(width)`, causal mask, final LayerNorm, a linear head over the whole
//! vocabulary read at the last position. Every size is a field of [`ModelConfig`].
//!
//! Block: `h = x + drop(attn(ln1(x)))`, `h = h + drop(ff2(gelu(ff1(ln2(h)))))`; the embedding sum is
//! dropped out as well. Dropout masks come from a ChaCha8Rng stream that the caller passes in, so a
//! run is a pure function of its seeds (candle cannot seed its CPU generator).
//!
//! Initialisation (ChaCha8Rng from the model seed, PyTorch's defaults): linear weights and biases
//! `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`, embeddings `N(0, 1)`, LayerNorm weight 1 and bias 0.
//!
//! LayerNorm is written from differentiable tensor ops: candle-nn's fused CPU layer norm records no
//! backward pass, so gradients would silently stop there.

use crate::error::{ensure, Result};
use candle_core::{Device, Tensor, Var, D};
use rand::{Rng, RngCore};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use super::dataset::SEQ_LEN;

/// Sizes of the transformer. Defaults: the paper's (vocabulary 199 = p + 2 for p = 197).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Vocabulary size; also the number of output classes.
    pub vocab_size: usize,
    /// Residual width `d` (paper 128).
    pub d_model: usize,
    /// Attention heads (paper 4, so 32 per head).
    pub n_heads: usize,
    /// Feed-forward hidden width (paper 512).
    pub d_ff: usize,
    /// Number of blocks (paper 2).
    pub n_blocks: usize,
    /// Rows of the learned position table (paper 5).
    pub max_positions: usize,
    /// Dropout probability in training mode (paper 0.1).
    pub dropout: f64,
    /// LayerNorm epsilon (PyTorch default 1e-5).
    pub layer_norm_eps: f64,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            vocab_size: 199,
            d_model: 128,
            n_heads: 4,
            d_ff: 512,
            n_blocks: 2,
            max_positions: 5,
            dropout: 0.1,
            layer_norm_eps: 1e-5,
        }
    }
}

impl ModelConfig {
    /// Checks the sizes.
    ///
    /// # Errors
    /// Zero sizes, a width not divisible by the heads, fewer positions than [`SEQ_LEN`], dropout
    /// outside `[0, 1)`.
    pub fn check(&self) -> Result<()> {
        ensure!(self.vocab_size >= 2, "vocab_size must be at least 2");
        ensure!(
            self.d_model > 0 && self.d_ff > 0 && self.n_blocks > 0,
            "model sizes must be positive"
        );
        ensure!(
            self.n_heads > 0 && self.d_model % self.n_heads == 0,
            "d_model {} is not divisible by n_heads {}",
            self.d_model,
            self.n_heads
        );
        ensure!(
            self.max_positions >= SEQ_LEN,
            "max_positions must be at least {SEQ_LEN}"
        );
        ensure!(
            (0.0..1.0).contains(&self.dropout),
            "dropout must lie in [0, 1)"
        );
        ensure!(self.layer_norm_eps > 0.0, "layer_norm_eps must be positive");
        Ok(())
    }

    /// Number of trainable parameters.
    pub fn n_parameters(&self) -> usize {
        let (v, d, f) = (self.vocab_size, self.d_model, self.d_ff);
        let block = 2 * d + 3 * d * d + 3 * d + d * d + d + 2 * d + d * f + f + f * d + d;
        v * d + self.max_positions * d + self.n_blocks * block + 2 * d + d * v + v
    }
}

/// Parameters of one block.
struct Block {
    ln1: (Tensor, Tensor),
    qkv: (Tensor, Tensor),
    out: (Tensor, Tensor),
    ln2: (Tensor, Tensor),
    ff1: (Tensor, Tensor),
    ff2: (Tensor, Tensor),
}

/// The transformer: named variables plus the tensors the forward pass uses.
pub struct Transformer {
    config: ModelConfig,
    device: Device,
    vars: Vec<(String, Var)>,
    tok_emb: Tensor,
    pos_emb: Tensor,
    blocks: Vec<Block>,
    ln_f: (Tensor, Tensor),
    head: (Tensor, Tensor),
    causal_mask: Tensor,
}

/// What a forward pass returns.
pub struct ForwardOutput {
    /// Logits at the last position, `(batch, vocab)`.
    pub logits: Tensor,
    /// The output of the last block before the final LayerNorm, `(batch * SEQ_LEN, d_model)`,
    /// rows in (sequence, position) order. This is what the LID probe reads.
    pub last_block: Tensor,
}

struct Init<'a> {
    rng: &'a mut ChaCha8Rng,
    device: &'a Device,
    vars: Vec<(String, Var)>,
}

impl Init<'_> {
    fn push(&mut self, name: String, values: Vec<f32>, shape: &[usize]) -> Result<Tensor> {
        let var = Var::from_vec(values, shape, self.device)?;
        let tensor = var.as_tensor().clone();
        self.vars.push((name, var));
        Ok(tensor)
    }
    fn uniform(&mut self, name: String, shape: &[usize], bound: f64) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        let values = (0..n)
            .map(|_| self.rng.random_range(-bound..bound) as f32)
            .collect();
        self.push(name, values, shape)
    }
    fn normal(&mut self, name: String, shape: &[usize]) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        let values = (0..n)
            .map(|_| {
                let z: f64 = StandardNormal.sample(self.rng);
                z as f32
            })
            .collect();
        self.push(name, values, shape)
    }
    fn constant(&mut self, name: String, shape: &[usize], value: f32) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        self.push(name, vec![value; n], shape)
    }
    fn linear(&mut self, name: &str, fan_in: usize, fan_out: usize) -> Result<(Tensor, Tensor)> {
        let bound = 1.0 / (fan_in as f64).sqrt();
        let w = self.uniform(format!("{name}.weight"), &[fan_out, fan_in], bound)?;
        let b = self.uniform(format!("{name}.bias"), &[fan_out], bound)?;
        Ok((w, b))
    }
    fn layer_norm(&mut self, name: &str, d: usize) -> Result<(Tensor, Tensor)> {
        let w = self.constant(format!("{name}.weight"), &[d], 1.0)?;
        let b = self.constant(format!("{name}.bias"), &[d], 0.0)?;
        Ok((w, b))
    }
}

/// A dropout mask source: a ChaCha8Rng stream, or `None` in eval mode.
pub type DropoutRng<'a> = Option<&'a mut ChaCha8Rng>;

fn linear(x: &Tensor, (w, b): &(Tensor, Tensor)) -> candle_core::Result<Tensor> {
    x.matmul(&w.t()?)?.broadcast_add(b)
}

impl Transformer {
    /// Creates a model with weights drawn from `rng` (see the module docs for the scheme).
    ///
    /// # Errors
    /// Invalid sizes ([`ModelConfig::check`]) or a candle failure.
    pub fn new(config: ModelConfig, rng: &mut ChaCha8Rng, device: &Device) -> Result<Self> {
        config.check()?;
        let (v, d, f) = (config.vocab_size, config.d_model, config.d_ff);
        let mut init = Init {
            rng,
            device,
            vars: Vec::new(),
        };
        let tok_emb = init.normal("tok_emb.weight".into(), &[v, d])?;
        let pos_emb = init.normal("pos_emb.weight".into(), &[config.max_positions, d])?;
        let mut blocks = Vec::with_capacity(config.n_blocks);
        for i in 0..config.n_blocks {
            let p = format!("blocks.{i}");
            blocks.push(Block {
                ln1: init.layer_norm(&format!("{p}.ln1"), d)?,
                qkv: init.linear(&format!("{p}.attn.qkv"), d, 3 * d)?,
                out: init.linear(&format!("{p}.attn.out"), d, d)?,
                ln2: init.layer_norm(&format!("{p}.ln2"), d)?,
                ff1: init.linear(&format!("{p}.ff1"), d, f)?,
                ff2: init.linear(&format!("{p}.ff2"), f, d)?,
            });
        }
        let ln_f = init.layer_norm("ln_f", d)?;
        let head = init.linear("head", d, v)?;
        let mut mask = vec![0f32; SEQ_LEN * SEQ_LEN];
        for i in 0..SEQ_LEN {
            for j in (i + 1)..SEQ_LEN {
                mask[i * SEQ_LEN + j] = f32::NEG_INFINITY;
            }
        }
        let causal_mask = Tensor::from_vec(mask, (SEQ_LEN, SEQ_LEN), device)?;
        Ok(Self {
            config,
            device: device.clone(),
            vars: init.vars,
            tok_emb,
            pos_emb,
            blocks,
            ln_f,
            head,
            causal_mask,
        })
    }

    /// The sizes.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The trainable variables with their names, in a fixed order.
    pub fn vars(&self) -> &[(String, Var)] {
        &self.vars
    }

    /// Total number of trainable scalars.
    pub fn n_parameters(&self) -> usize {
        self.vars.iter().map(|(_, v)| v.elem_count()).sum()
    }

    fn layer_norm(&self, x: &Tensor, (w, b): &(Tensor, Tensor)) -> candle_core::Result<Tensor> {
        let d = x.dim(D::Minus1)? as f64;
        let mean = (x.sum_keepdim(D::Minus1)? / d)?;
        let centred = x.broadcast_sub(&mean)?;
        let var = (centred.sqr()?.sum_keepdim(D::Minus1)? / d)?;
        let normed = centred.broadcast_div(&(var + self.config.layer_norm_eps)?.sqrt()?)?;
        normed.broadcast_mul(w)?.broadcast_add(b)
    }

    fn dropout(&self, x: Tensor, rng: &mut DropoutRng<'_>) -> Result<Tensor> {
        let p = self.config.dropout;
        match rng {
            Some(rng) if p > 0.0 => {
                let keep = 1.0 / (1.0 - p) as f32;
                let threshold = (p * (u32::MAX as f64 + 1.0)) as u64;
                let mask: Vec<f32> = (0..x.elem_count())
                    .map(|_| {
                        if (rng.next_u32() as u64) < threshold {
                            0.0
                        } else {
                            keep
                        }
                    })
                    .collect();
                let mask = Tensor::from_vec(mask, x.shape(), &self.device)?;
                Ok((x * mask)?)
            }
            _ => Ok(x),
        }
    }

    /// Runs the model on `tokens` (`(batch, SEQ_LEN)`, u32). Training mode when `dropout_rng` is
    /// `Some`, eval mode (no dropout) when `None`.
    ///
    /// # Errors
    /// Wrong token shape or a candle failure.
    pub fn forward(
        &self,
        tokens: &Tensor,
        mut dropout_rng: DropoutRng<'_>,
    ) -> Result<ForwardOutput> {
        let (batch, seq) = tokens.dims2()?;
        ensure!(
            seq == SEQ_LEN,
            "sequences must have {SEQ_LEN} tokens, got {seq}"
        );
        let (d, heads) = (self.config.d_model, self.config.n_heads);
        let head_dim = d / heads;
        let flat = tokens.flatten_all()?;
        let tok = (self.tok_emb.index_select(&flat, 0)? * (d as f64).sqrt())?;
        let pos = self.pos_emb.narrow(0, 0, seq)?.repeat((batch, 1))?;
        let mut h = self.dropout((tok + pos)?, &mut dropout_rng)?; // (batch*seq, d)
        let scale = 1.0 / (head_dim as f64).sqrt();
        for block in &self.blocks {
            let x = self.layer_norm(&h, &block.ln1)?;
            let qkv = linear(&x, &block.qkv)?; // (batch*seq, 3d)
            let split = |i: usize| -> candle_core::Result<Tensor> {
                qkv.narrow(1, i * d, d)?
                    .reshape((batch, seq, heads, head_dim))?
                    .transpose(1, 2)?
                    .contiguous()
            };
            let (q, k, v) = (split(0)?, split(1)?, split(2)?);
            let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(&self.causal_mask)?;
            let probs = candle_nn::ops::softmax(&scores, D::Minus1)?;
            let attn = probs
                .matmul(&v)?
                .transpose(1, 2)?
                .contiguous()?
                .reshape((batch * seq, d))?;
            let attn = self.dropout(linear(&attn, &block.out)?, &mut dropout_rng)?;
            h = (h + attn)?;
            let x = self.layer_norm(&h, &block.ln2)?;
            let ff = linear(&linear(&x, &block.ff1)?.gelu_erf()?, &block.ff2)?;
            let ff = self.dropout(ff, &mut dropout_rng)?;
            h = (h + ff)?;
        }
        let last = h
            .reshape((batch, seq, d))?
            .narrow(1, seq - 1, 1)?
            .squeeze(1)?;
        let logits = linear(&self.layer_norm(&last, &self.ln_f)?, &self.head)?;
        Ok(ForwardOutput {
            logits,
            last_block: h,
        })
    }

    /// Tokens of `examples` as a `(n, SEQ_LEN)` tensor and labels as `(n,)`.
    ///
    /// # Errors
    /// A candle failure.
    pub fn batch_tensors(&self, examples: &[super::dataset::Example]) -> Result<(Tensor, Tensor)> {
        let tokens: Vec<u32> = examples.iter().flat_map(|e| e.tokens).collect();
        let labels: Vec<u32> = examples.iter().map(|e| e.label).collect();
        let n = examples.len();
        Ok((
            Tensor::from_vec(tokens, (n, SEQ_LEN), &self.device)?,
            Tensor::from_vec(labels, n, &self.device)?,
        ))
    }
}
