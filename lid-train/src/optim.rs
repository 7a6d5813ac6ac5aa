//! AdamW with PyTorch's semantics, Hugging Face's weight-decay groups, global gradient-norm
//! clipping and the learning-rate schedules of the studies.
//!
//! The update for each trainable parameter, `t` = number of updates so far including this one
//! (`torch.optim.AdamW`, single-tensor path):
//! `p *= 1 - lr wd` (wd = 0 for the no-decay group), `m += (1 - b1) (g - m)` (PyTorch's `lerp_`),
//! `v = b2 v + (1 - b2) g^2`, `p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`.
//! Clipping (`clip_grad_norm_`): `g *= min(1, max_norm / (||g|| + 1e-6))` with the global L2 norm.
//! The state (moments and `t`) is plain vectors, saved and restored by [`crate::checkpoint`].

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::params::{DecayPolicy, Grads, ParamStore};

/// AdamW settings. [`Default`]: PyTorch's / the Hugging Face Trainer's (lr 5e-5, betas
/// (0.9, 0.999), eps 1e-8, weight decay 0.0, clip 1.0, HF decay groups).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdamWConfig {
    /// Peak learning rate.
    pub lr: f64,
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Denominator epsilon.
    pub eps: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
    /// Which parameters decay.
    pub decay_policy: DecayPolicy,
    /// Global gradient-norm clip; `None` disables.
    pub max_grad_norm: Option<f64>,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self {
            lr: 5e-5,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decay_policy: DecayPolicy::HuggingFace,
            max_grad_norm: Some(1.0),
        }
    }
}

impl AdamWConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// A non-positive or non-finite learning rate, betas outside `[0, 1)`, a non-positive eps, a
    /// negative weight decay or clip.
    pub fn check(&self) -> Result<()> {
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(Error::setting(
                "lr",
                format!("must be positive and finite, got {}", self.lr),
            ));
        }
        for (name, b) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&b) {
                return Err(Error::setting(name, format!("must lie in [0, 1), got {b}")));
            }
        }
        if self.eps.is_nan() || self.eps <= 0.0 {
            return Err(Error::setting(
                "eps",
                format!("must be positive, got {}", self.eps),
            ));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return Err(Error::setting(
                "weight-decay",
                format!("must be non-negative, got {}", self.weight_decay),
            ));
        }
        if let Some(c) = self.max_grad_norm {
            if c.is_nan() || c <= 0.0 {
                return Err(Error::setting(
                    "max-grad-norm",
                    format!("must be positive, got {c}"),
                ));
            }
        }
        Ok(())
    }
}

/// Learning-rate schedule: the factor on the peak learning rate for the update made at step `s`
/// (0-based, counting optimizer updates).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// Factor 1.
    Constant,
    /// `transformers.get_linear_schedule_with_warmup`: `s / warmup` during warm-up, then linear to
    /// 0 at `total` (`max(0, (total - s) / (total - warmup))`). Paper, fine-tuning: 500 warm-up
    /// steps; DST: 5 % of the steps.
    LinearWarmupDecay {
        /// Warm-up steps.
        warmup: u64,
        /// Step at which the factor reaches 0.
        total: u64,
    },
    /// The grokking study's: from 1/3 to 1 over `warmup` steps (PyTorch `LinearLR(1/3)`), then
    /// linear to 0 at `total` (paper: 10 and 400,000).
    ThirdWarmupDecay {
        /// Warm-up steps.
        warmup: u64,
        /// Step at which the factor reaches 0.
        total: u64,
    },
    /// The same warm-up from 1/3, then a constant factor 1.
    ThirdWarmupConstant {
        /// Warm-up steps.
        warmup: u64,
    },
}

impl Schedule {
    /// The factor at update `step`.
    pub fn factor(&self, step: u64) -> f64 {
        let decay = |warmup: u64, total: u64| {
            let span = total.saturating_sub(warmup).max(1) as f64;
            (total.saturating_sub(step) as f64 / span).clamp(0.0, 1.0)
        };
        match *self {
            Schedule::Constant => 1.0,
            Schedule::LinearWarmupDecay { warmup, total } => {
                if step < warmup {
                    step as f64 / warmup as f64
                } else {
                    decay(warmup, total)
                }
            }
            Schedule::ThirdWarmupDecay { warmup, total } => {
                if step < warmup {
                    1.0 / 3.0 + (2.0 / 3.0) * step as f64 / warmup as f64
                } else {
                    decay(warmup, total)
                }
            }
            Schedule::ThirdWarmupConstant { warmup } => {
                if step < warmup {
                    1.0 / 3.0 + (2.0 / 3.0) * step as f64 / warmup as f64
                } else {
                    1.0
                }
            }
        }
    }
}

/// What one update did.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepInfo {
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Learning rate used.
    pub lr: f64,
}

/// AdamW state over the trainable parameters of a [`ParamStore`].
#[derive(Debug, Clone)]
pub struct AdamW {
    config: AdamWConfig,
    /// Updates made so far.
    pub steps: u64,
    /// First moments, one buffer per parameter (empty for frozen ones).
    pub m: Vec<Vec<f32>>,
    /// Second moments.
    pub v: Vec<Vec<f32>>,
}

impl AdamW {
    /// Zero state for `store`'s trainable parameters.
    ///
    /// # Errors
    /// Invalid settings.
    pub fn new(config: AdamWConfig, store: &ParamStore) -> Result<Self> {
        config.check()?;
        let zeros = |trainable: bool, n: usize| {
            if trainable {
                vec![0.0f32; n]
            } else {
                Vec::new()
            }
        };
        let m = store
            .iter()
            .map(|(_, p)| zeros(p.trainable, p.data.len()))
            .collect();
        let v = store
            .iter()
            .map(|(_, p)| zeros(p.trainable, p.data.len()))
            .collect();
        Ok(Self {
            config,
            steps: 0,
            m,
            v,
        })
    }

    /// The settings.
    pub fn config(&self) -> &AdamWConfig {
        &self.config
    }

    /// Clips `grads` to the global norm and updates `store` at learning rate `lr`.
    ///
    /// # Errors
    /// A non-finite gradient norm (the parameters are left unchanged), or state that does not
    /// match the store.
    pub fn step(&mut self, store: &mut ParamStore, grads: &mut Grads, lr: f64) -> Result<StepInfo> {
        if self.m.len() != store.len() {
            return Err(Error::Invalid(format!(
                "optimizer state for {} parameters, model has {}",
                self.m.len(),
                store.len()
            )));
        }
        let grad_norm = grads.norm();
        if !grad_norm.is_finite() {
            return Err(Error::NonFinite(format!(
                "gradient norm is {grad_norm} at update {}",
                self.steps + 1
            )));
        }
        if let Some(max) = self.config.max_grad_norm {
            let coef = (max / (grad_norm + 1e-6)).min(1.0);
            grads.scale(coef as f32);
        }
        self.steps += 1;
        let t = self.steps as i32;
        let c = &self.config;
        let bc1 = 1.0 - c.beta1.powi(t);
        let bc2_sqrt = (1.0 - c.beta2.powi(t)).sqrt() as f32;
        let step_size = (lr / bc1) as f32;
        let (w1, b2, eps) = ((1.0 - c.beta1) as f32, c.beta2 as f32, c.eps as f32);
        let policy = c.decay_policy;
        for (i, p) in store.iter_mut().enumerate() {
            if !p.trainable {
                continue;
            }
            let Some(g) = grads.get(crate::params::ParamId(i)) else {
                continue;
            };
            let decay = if p.decays(policy) {
                (1.0 - lr * c.weight_decay) as f32
            } else {
                1.0
            };
            const CHUNK: usize = 1 << 14;
            p.data
                .par_chunks_mut(CHUNK)
                .zip(self.m[i].par_chunks_mut(CHUNK))
                .zip(self.v[i].par_chunks_mut(CHUNK))
                .zip(g.par_chunks(CHUNK))
                .for_each(|(((theta, m), v), g)| {
                    for j in 0..theta.len() {
                        let gj = g[j];
                        theta[j] *= decay;
                        m[j] += w1 * (gj - m[j]);
                        v[j] = b2 * v[j] + (1.0 - b2) * gj * gj;
                        let denom = v[j].sqrt() / bc2_sqrt + eps;
                        theta[j] -= step_size * (m[j] / denom);
                    }
                });
        }
        Ok(StepInfo { grad_norm, lr })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_match_their_definitions() {
        let hf = Schedule::LinearWarmupDecay {
            warmup: 1,
            total: 4,
        };
        assert_eq!(
            [
                hf.factor(0),
                hf.factor(1),
                hf.factor(2),
                hf.factor(4),
                hf.factor(9)
            ],
            [0.0, 1.0, 2.0 / 3.0, 0.0, 0.0]
        );
        let grok = Schedule::ThirdWarmupDecay {
            warmup: 10,
            total: 400_000,
        };
        assert!((grok.factor(0) - 1.0 / 3.0).abs() < 1e-15);
        assert!((grok.factor(5) - 2.0 / 3.0).abs() < 1e-15);
        assert_eq!(grok.factor(10), 1.0);
        assert!((grok.factor(200_005) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn bad_settings_are_named() {
        let bad = AdamWConfig {
            lr: 0.0,
            ..AdamWConfig::default()
        };
        assert!(bad.check().unwrap_err().to_string().contains("`lr`"));
        let bad = AdamWConfig {
            beta2: 1.0,
            ..AdamWConfig::default()
        };
        assert!(bad.check().unwrap_err().to_string().contains("`beta2`"));
    }
}
