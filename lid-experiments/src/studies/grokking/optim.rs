//! AdamW with decoupled weight decay (Loshchilov & Hutter; PyTorch's `torch.optim.AdamW`), global
//! gradient-norm clipping (PyTorch's `clip_grad_norm_`) and the paper's learning-rate schedule.
//!
//! Written here rather than taken from candle-nn because the run must be resumable: candle-nn's
//! `AdamW` keeps its moments private. The update is the same as PyTorch's and candle-nn's:
//! `theta <- theta (1 - lr wd)`, `m <- b1 m + (1 - b1) g`, `v <- b2 v + (1 - b2) g^2`,
//! `theta <- theta - lr m_hat / (sqrt(v_hat) + eps)` with `m_hat = m / (1 - b1^t)`,
//! `v_hat = v / (1 - b2^t)`. Parameters without a gradient are skipped (no decay either), as in PyTorch.

use crate::error::{ensure, Result};
use candle_core::{backprop::GradStore, Tensor, Var};
use serde::{Deserialize, Serialize};

/// AdamW hyper-parameters. Defaults: the paper's grokking settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdamWConfig {
    /// Peak learning rate (paper 1e-3).
    pub lr: f64,
    /// First-moment decay (paper 0.9).
    pub beta1: f64,
    /// Second-moment decay (paper 0.98).
    pub beta2: f64,
    /// Denominator epsilon (paper 1e-6).
    pub eps: f64,
    /// Decoupled weight decay (paper 0.01).
    pub weight_decay: f64,
    /// Global gradient-norm clip; `None` disables (paper 1.0).
    pub max_grad_norm: Option<f64>,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.98,
            eps: 1e-6,
            weight_decay: 0.01,
            max_grad_norm: Some(1.0),
        }
    }
}

/// Learning-rate schedule: a factor of the peak learning rate per step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// The paper's: the factor rises linearly from 1/3 at step 0 to 1 at `warmup_steps`, then falls
    /// linearly to 0 at `total_steps` (PyTorch `LinearLR(1/3, 1, warmup)` followed by a linear
    /// decay).
    WarmupLinearDecay {
        /// Warm-up steps (paper 10).
        warmup_steps: u64,
        /// Step at which the factor reaches 0 (paper 400,000).
        total_steps: u64,
    },
    /// The same warm-up, then a constant factor 1.
    WarmupConstant {
        /// Warm-up steps (paper 10).
        warmup_steps: u64,
    },
}

impl Schedule {
    /// The factor for the update made at `step` (0-based).
    pub fn factor(&self, step: u64) -> f64 {
        let warm = |w: u64| {
            if step < w {
                Some(1.0 / 3.0 + (2.0 / 3.0) * step as f64 / w as f64)
            } else {
                None
            }
        };
        match *self {
            Schedule::WarmupLinearDecay {
                warmup_steps,
                total_steps,
            } => warm(warmup_steps).unwrap_or_else(|| {
                let span = total_steps.saturating_sub(warmup_steps).max(1) as f64;
                (total_steps.saturating_sub(step) as f64 / span).clamp(0.0, 1.0)
            }),
            Schedule::WarmupConstant { warmup_steps } => warm(warmup_steps).unwrap_or(1.0),
        }
    }
}

/// Moments of one parameter.
#[derive(Debug, Clone)]
pub struct Moments {
    /// First moment.
    pub m: Vec<f32>,
    /// Second moment.
    pub v: Vec<f32>,
}

/// AdamW over a fixed list of candle variables, with its state in plain vectors (checkpointable).
#[derive(Debug)]
pub struct AdamW {
    config: AdamWConfig,
    /// Number of updates made so far (PyTorch's per-parameter `step`; here shared).
    pub step_count: u64,
    /// One entry per variable, in the model's variable order.
    pub moments: Vec<Moments>,
}

/// What one update did.
#[derive(Debug, Clone, Copy)]
pub struct StepInfo {
    /// Global gradient L2 norm before clipping.
    pub grad_norm: f64,
    /// Learning rate used.
    pub lr: f64,
}

impl AdamW {
    /// A fresh optimiser for variables of the given element counts.
    pub fn new(config: AdamWConfig, sizes: &[usize]) -> Self {
        let moments = sizes
            .iter()
            .map(|&n| Moments {
                m: vec![0.0; n],
                v: vec![0.0; n],
            })
            .collect();
        Self {
            config,
            step_count: 0,
            moments,
        }
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &AdamWConfig {
        &self.config
    }

    /// Clips the gradients of `vars` to the global norm and makes one AdamW update at learning rate
    /// `lr`.
    ///
    /// # Errors
    /// A variable count differing from the optimiser's, a non-finite gradient norm, or a candle
    /// failure.
    pub fn step(&mut self, vars: &[&Var], grads: &GradStore, lr: f64) -> Result<StepInfo> {
        ensure!(
            vars.len() == self.moments.len(),
            "optimiser built for {} variables, got {}",
            self.moments.len(),
            vars.len()
        );
        let mut flat_grads = Vec::with_capacity(vars.len());
        let mut sum_sq = 0f64;
        for var in vars {
            let g = match grads.get(var.as_tensor()) {
                Some(g) => {
                    let g = g.flatten_all()?.to_vec1::<f32>()?;
                    sum_sq += g.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>();
                    Some(g)
                }
                None => None,
            };
            flat_grads.push(g);
        }
        let grad_norm = sum_sq.sqrt();
        ensure!(
            grad_norm.is_finite(),
            "gradient norm is not finite at update {}",
            self.step_count + 1
        );
        let clip = match self.config.max_grad_norm {
            Some(max) => (max / (grad_norm + 1e-6)).min(1.0),
            None => 1.0,
        } as f32;
        self.step_count += 1;
        let t = self.step_count as i32;
        let (b1, b2) = (self.config.beta1, self.config.beta2);
        let bc1 = 1.0 - b1.powi(t);
        let bc2_sqrt = (1.0 - b2.powi(t)).sqrt();
        let step_size = (lr / bc1) as f32;
        let decay = (1.0 - lr * self.config.weight_decay) as f32;
        let (b1f, b2f, eps) = (b1 as f32, b2 as f32, self.config.eps as f32);
        let bc2_sqrt = bc2_sqrt as f32;
        for ((var, grad), moments) in vars.iter().zip(flat_grads).zip(self.moments.iter_mut()) {
            let Some(grad) = grad else { continue };
            let mut theta = var.as_tensor().flatten_all()?.to_vec1::<f32>()?;
            for (((th, &g), m), v) in theta
                .iter_mut()
                .zip(&grad)
                .zip(moments.m.iter_mut())
                .zip(moments.v.iter_mut())
            {
                let g = g * clip;
                *th *= decay;
                *m = b1f * *m + (1.0 - b1f) * g;
                *v = b2f * *v + (1.0 - b2f) * g * g;
                let denom = v.sqrt() / bc2_sqrt + eps;
                *th -= step_size * *m / denom;
            }
            var.set(&Tensor::from_vec(theta, var.shape(), var.device())?)?;
        }
        Ok(StepInfo { grad_norm, lr })
    }
}
