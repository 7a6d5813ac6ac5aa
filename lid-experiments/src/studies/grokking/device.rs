//! Training steps of the grokking model on a candle device (`--device cuda` / `metal`): forward
//! and backward by candle's autograd on the device, everything else (AdamW, evaluation, the LID
//! probe, checkpoints) on the CPU with lid-train, so both paths share one optimizer, one probe and
//! one checkpoint format.
//!
//! Per micro-batch the CPU weights (about 450k values at the paper's sizes) are copied to the
//! device, the loss and gradients computed there, and the gradients copied back into lid-train's
//! buffers. The model is the same as lid-train's grokking backbone ([`super::config::ModelConfig::spec`]):
//! pre-norm blocks, fused `qkv`, GELU (erf), LayerNorm eps 1e-5, embeddings scaled by `sqrt(d)`,
//! learned positions, causal attention, final LayerNorm, `head` on the last position; parameter
//! names are lid-train's (`tok.weight`, `blocks.0.qkv.weight`, ...). Dropout masks come from a
//! ChaCha8 stream seeded per micro-batch (a GPU run is not bitwise equal to a CPU run, and is not
//! meant to be). LayerNorm is written from differentiable tensor ops (candle-nn's fused CPU layer
//! norm records no backward pass).
//!
//! On candle's CPU device this path computes the same loss and gradients as lid-train's kernels
//! (tested to 1e-4), which is how it is checked without a GPU.

use candle_core::{DType, Device, Tensor, Var, D};
use lid_train::model::Model;
use lid_train::params::Grads;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::dataset::SEQ_LEN;
use crate::error::{ensure, Error, Result};

/// The model's parameters as candle variables on a device, in the store's order.
pub struct DeviceModel {
    device: Device,
    vars: Vec<Var>,
    names: Vec<String>,
    d_model: usize,
    n_heads: usize,
    n_blocks: usize,
    dropout: f64,
    causal_mask: Tensor,
}

fn linear(x: &Tensor, w: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    x.matmul(&w.t()?)?.broadcast_add(b)
}

fn layer_norm(x: &Tensor, w: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    let d = x.dim(D::Minus1)? as f64;
    let mean = (x.sum_keepdim(D::Minus1)? / d)?;
    let centred = x.broadcast_sub(&mean)?;
    let var = (centred.sqr()?.sum_keepdim(D::Minus1)? / d)?;
    let normed = centred.broadcast_div(&(var + 1e-5)?.sqrt()?)?;
    normed.broadcast_mul(w)?.broadcast_add(b)
}

impl DeviceModel {
    /// Variables for every parameter of `model` on `device`.
    ///
    /// # Errors
    /// A model that is not the grokking backbone, candle failures.
    pub fn new(model: &Model, device: &Device) -> Result<Self> {
        let spec = &model.net.spec;
        ensure!(
            spec.family == lid_train::model::Family::Grokking,
            "the device path trains the grokking model only"
        );
        let mut vars = Vec::new();
        let mut names = Vec::new();
        for (_, p) in model.store.iter() {
            vars.push(Var::from_slice(&p.data, p.shape.as_slice(), device)?);
            names.push(p.name.clone());
        }
        let mut mask = vec![0f32; SEQ_LEN * SEQ_LEN];
        for i in 0..SEQ_LEN {
            for j in (i + 1)..SEQ_LEN {
                mask[i * SEQ_LEN + j] = f32::NEG_INFINITY;
            }
        }
        Ok(Self {
            device: device.clone(),
            vars,
            names,
            d_model: spec.hidden,
            n_heads: spec.heads,
            n_blocks: spec.layers,
            dropout: f64::from(spec.dropout.hidden),
            causal_mask: Tensor::from_vec(mask, (SEQ_LEN, SEQ_LEN), device)?,
        })
    }

    fn get(&self, name: &str) -> Result<Tensor> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|i| self.vars[i].as_tensor().clone())
            .ok_or_else(|| Error::Check(format!("the device model has no parameter {name}")))
    }

    fn dropout(&self, x: Tensor, rng: &mut Option<ChaCha8Rng>) -> Result<Tensor> {
        match rng {
            Some(rng) if self.dropout > 0.0 => {
                let keep = 1.0 / (1.0 - self.dropout) as f32;
                let threshold = (self.dropout * (u32::MAX as f64 + 1.0)) as u64;
                let mask: Vec<f32> = (0..x.elem_count())
                    .map(|_| {
                        if u64::from(rng.next_u32()) < threshold {
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

    /// Copies `model`'s current weights to the device, computes the mean cross-entropy of `labels`
    /// at the last position of `tokens` (rows of [`SEQ_LEN`]) and adds `scale` times its gradient
    /// to `grads`. `dropout_seed`: `Some` for training mode.
    ///
    /// # Errors
    /// Candle failures, a non-finite loss.
    pub fn gradients(
        &self,
        model: &Model,
        tokens: &[u32],
        labels: &[u32],
        dropout_seed: Option<u64>,
        grads: &mut Grads,
        scale: f32,
    ) -> Result<f64> {
        for ((_, p), var) in model.store.iter().zip(&self.vars) {
            var.set(&Tensor::from_slice(
                &p.data,
                p.shape.as_slice(),
                &self.device,
            )?)?;
        }
        let batch = labels.len();
        let (d, heads) = (self.d_model, self.n_heads);
        let hd = d / heads;
        let mut rng = dropout_seed.map(ChaCha8Rng::seed_from_u64);
        let ids = Tensor::from_slice(tokens, batch * SEQ_LEN, &self.device)?;
        let tok = (self.get("tok.weight")?.index_select(&ids, 0)? * (d as f64).sqrt())?;
        let pos = self
            .get("pos.weight")?
            .narrow(0, 0, SEQ_LEN)?
            .repeat((batch, 1))?;
        let mut h = self.dropout((tok + pos)?, &mut rng)?;
        for l in 0..self.n_blocks {
            let p = |s: &str| self.get(&format!("blocks.{l}.{s}"));
            let x = layer_norm(&h, &p("ln1.weight")?, &p("ln1.bias")?)?;
            let qkv = linear(&x, &p("qkv.weight")?, &p("qkv.bias")?)?;
            let split = |i: usize| -> candle_core::Result<Tensor> {
                qkv.narrow(1, i * d, d)?
                    .reshape((batch, SEQ_LEN, heads, hd))?
                    .transpose(1, 2)?
                    .contiguous()
            };
            let (q, k, v) = (split(0)?, split(1)?, split(2)?);
            let scores = (q.matmul(&k.t()?)? * (1.0 / (hd as f64).sqrt()))?
                .broadcast_add(&self.causal_mask)?;
            let probs = candle_nn::ops::softmax(&scores, D::Minus1)?;
            let attn = probs
                .matmul(&v)?
                .transpose(1, 2)?
                .contiguous()?
                .reshape((batch * SEQ_LEN, d))?;
            let attn =
                self.dropout(linear(&attn, &p("out.weight")?, &p("out.bias")?)?, &mut rng)?;
            h = (h + attn)?;
            let x = layer_norm(&h, &p("ln2.weight")?, &p("ln2.bias")?)?;
            let ff = linear(
                &linear(&x, &p("ff1.weight")?, &p("ff1.bias")?)?.gelu_erf()?,
                &p("ff2.weight")?,
                &p("ff2.bias")?,
            )?;
            h = (h + self.dropout(ff, &mut rng)?)?;
        }
        let last = h
            .reshape((batch, SEQ_LEN, d))?
            .narrow(1, SEQ_LEN - 1, 1)?
            .squeeze(1)?;
        let normed = layer_norm(&last, &self.get("ln_f.weight")?, &self.get("ln_f.bias")?)?;
        let logits = linear(&normed, &self.get("head.weight")?, &self.get("head.bias")?)?;
        let labels = Tensor::from_slice(labels, batch, &self.device)?;
        let loss = candle_nn::loss::cross_entropy(&logits, &labels)?;
        let value = f64::from(loss.to_dtype(DType::F32)?.to_scalar::<f32>()?);
        ensure!(
            value.is_finite(),
            "training loss is not finite on the device"
        );
        let store = loss.backward()?;
        for (i, var) in self.vars.iter().enumerate() {
            let id = lid_train::params::ParamId(i);
            let (Some(g), Some(target)) = (store.get(var.as_tensor()), grads.get_mut(id)) else {
                continue;
            };
            let g = g.flatten_all()?.to_vec1::<f32>()?;
            for (t, v) in target.iter_mut().zip(g) {
                *t += scale * v;
            }
        }
        Ok(value)
    }
}
