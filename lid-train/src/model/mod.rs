//! Trainable transformers: BERT, RoBERTa, GPT-2, Llama family and the grokking model.
//!
//! A [`Model`] is a [`ParamStore`] (every weight under its Hugging Face name) plus a
//! [`Transformer`] that knows which parameters play which role, built from a [`Spec`]. Weights come
//! from a Hugging Face directory (`config.json` + safetensors, parsed by lid-embed's config types
//! so that inference and training read a checkpoint the same way), from a GGUF file dequantised to
//! f32 (lid-embed), or from a seeded initialisation. The forward and backward passes are in
//! [`pass`]; task heads (masked LM, causal LM, classification, spans) in [`crate::heads`].

pub mod hidden_states;
pub mod linear;
pub mod load;
pub mod pass;
pub mod spec;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

pub use hidden_states::{use_packed_forward, PackedForward};
pub use linear::{Layout, Linear, LoraAdapter};
pub use load::{load_model, LoadedModel, PreparedModel};
pub use pass::{Activations, Batch, Capture, Mode};
pub use spec::{DropoutRates, Family, Positions, Spec};

use crate::error::{Error, Result};
use crate::kernels::norm::{Norm, NormKind};
use crate::params::{ParamId, ParamKind, ParamStore, WeightFile};

/// A normalisation layer's parameters.
#[derive(Debug, Clone, Copy)]
pub struct NormParams {
    /// Scale.
    pub weight: ParamId,
    /// Shift (LayerNorm only).
    pub bias: Option<ParamId>,
}

impl NormParams {
    /// The kernel view of this norm.
    pub fn view<'a>(&self, store: &'a ParamStore, kind: NormKind, eps: f32) -> Norm<'a> {
        Norm {
            kind,
            weight: store.data(self.weight),
            bias: self.bias.map(|b| store.data(b)),
            eps,
        }
    }
}

/// The embedding layer's parameters.
#[derive(Debug, Clone)]
pub struct EmbeddingParams {
    /// Token embeddings `(vocab, hidden)`.
    pub word: ParamId,
    /// Learned positions `(max, hidden)`.
    pub position: Option<ParamId>,
    /// Token types `(types, hidden)`.
    pub token_type: Option<ParamId>,
    /// Norm on the sum (BERT, RoBERTa).
    pub norm: Option<NormParams>,
}

/// One block's parameters.
#[derive(Debug, Clone)]
pub struct LayerParams {
    /// Pre-norm: before attention; post-norm: after the attention residual.
    pub attn_norm: NormParams,
    /// Query projection.
    pub q: Linear,
    /// Key projection.
    pub k: Linear,
    /// Value projection.
    pub v: Linear,
    /// Attention output projection.
    pub o: Linear,
    /// Pre-norm: before the feed-forward; post-norm: after its residual.
    pub mlp_norm: NormParams,
    /// First feed-forward projection (Llama: `up_proj`).
    pub up: Linear,
    /// Gate projection (Llama).
    pub gate: Option<Linear>,
    /// Second feed-forward projection.
    pub down: Linear,
}

/// The backbone: which parameters play which role.
#[derive(Debug, Clone)]
pub struct Transformer {
    /// Its shape.
    pub spec: Spec,
    /// Embeddings.
    pub embeddings: EmbeddingParams,
    /// Blocks.
    pub layers: Vec<LayerParams>,
    /// Final norm (decoders).
    pub final_norm: Option<NormParams>,
}

/// A model ready to train or run: parameters plus structure, and the configuration it came with.
#[derive(Debug, Clone)]
pub struct Model {
    /// Every parameter (backbone and heads).
    pub store: ParamStore,
    /// The backbone.
    pub net: Transformer,
    /// The checkpoint's `config.json` (updated when saved), `None` for models built in code.
    pub config: Option<serde_json::Value>,
}

/// Where parameters come from while a model is assembled: a checkpoint's tensors, or a seeded
/// initialisation for those the checkpoint lacks (or for every one).
pub struct ParamSource<'a> {
    /// Tensors to take from (removed as they are taken).
    pub weights: Option<&'a mut WeightFile>,
    /// Initialisation for parameters not in `weights` (`None`: missing weights are an error).
    pub init: Option<&'a mut Init>,
    /// Names of the parameters that were initialised rather than loaded.
    pub initialised: Vec<String>,
}

/// Seeded initialisation, Hugging Face's `_init_weights`: linear weights and embeddings
/// `N(0, std)`, biases 0, norm weights 1 (grokking: PyTorch's module defaults, see
/// [`Init::pytorch_defaults`]).
#[derive(Debug)]
pub struct Init {
    rng: ChaCha8Rng,
    /// Standard deviation (`initializer_range`, default 0.02).
    pub std: f32,
    /// PyTorch module defaults instead: `U(-1/sqrt(fan_in), 1/sqrt(fan_in))` for linear layers,
    /// `N(0, 1)` for embeddings.
    pub pytorch_defaults: bool,
}

impl Init {
    /// Hugging Face's scheme with `std`, from `seed`.
    pub fn hugging_face(seed: u64, std: f32) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            std,
            pytorch_defaults: false,
        }
    }

    /// PyTorch's module defaults, from `seed`.
    pub fn pytorch_defaults(seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            std: 1.0,
            pytorch_defaults: true,
        }
    }

    fn values(
        &mut self,
        shape: &[usize],
        kind: ParamKind,
        fan_in: usize,
        is_embedding: bool,
    ) -> Vec<f32> {
        use rand::Rng;
        let n: usize = shape.iter().product();
        match kind {
            ParamKind::Norm => {
                // Norm scales are 1 and shifts 0; a norm's shift is registered with fan_in 0.
                vec![if fan_in == 0 { 0.0 } else { 1.0 }; n]
            }
            ParamKind::Bias if !self.pytorch_defaults => vec![0.0; n],
            _ if self.pytorch_defaults && !is_embedding => {
                let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
                (0..n)
                    .map(|_| self.rng.random_range(-bound..bound) as f32)
                    .collect()
            }
            _ => {
                let std = if self.pytorch_defaults {
                    1.0
                } else {
                    f64::from(self.std)
                };
                // Invariant: N(0, 0.02) is a valid normal distribution (the fallback for an
                // invalid std).
                #[allow(clippy::expect_used)]
                let normal = Normal::new(0.0, std)
                    .unwrap_or_else(|_| Normal::new(0.0, 0.02).expect("valid"));
                (0..n)
                    .map(|_| normal.sample(&mut self.rng) as f32)
                    .collect()
            }
        }
    }
}

impl ParamSource<'_> {
    /// Registers parameter `name` of `shape`, taken from the checkpoint (trying `name`, then each of
    /// `alternatives`) or initialised.
    ///
    /// # Errors
    /// A missing weight without an initialiser, or a wrong shape.
    #[allow(clippy::too_many_arguments)]
    pub fn param(
        &mut self,
        store: &mut ParamStore,
        name: &str,
        alternatives: &[String],
        shape: &[usize],
        kind: ParamKind,
        fan_in: usize,
        is_embedding: bool,
    ) -> Result<ParamId> {
        if let Some(weights) = self.weights.as_deref_mut() {
            let found = std::iter::once(name.to_string())
                .chain(alternatives.iter().cloned())
                .find(|n| weights.contains(n));
            if let Some(found) = found {
                // Invariant: `find` above kept only names that `contains` confirmed.
                #[allow(clippy::expect_used)]
                let (got_shape, data) = weights.take(&found).expect("present: checked by contains");
                if got_shape != shape {
                    return Err(Error::Shape {
                        name: found,
                        expected: shape.to_vec(),
                        got: got_shape,
                    });
                }
                return store.add(name, shape, data, kind);
            }
        }
        match self.init.as_deref_mut() {
            Some(init) => {
                let data = init.values(shape, kind, fan_in, is_embedding);
                self.initialised.push(name.to_string());
                store.add(name, shape, data, kind)
            }
            None => Err(Error::MissingWeight {
                name: name.to_string(),
                tried: alternatives.to_vec(),
                source_files: self
                    .weights
                    .as_deref()
                    .map_or_else(|| "no checkpoint".to_string(), WeightFile::describe),
            }),
        }
    }

    /// A norm's weight (and bias for LayerNorm) under `base` (`base.weight` / `base.bias`, also
    /// the old `gamma` / `beta`).
    pub fn norm(
        &mut self,
        store: &mut ParamStore,
        base: &str,
        alternatives: &[String],
        width: usize,
        kind: NormKind,
    ) -> Result<NormParams> {
        let alt = |suffix: &str, old: &str| -> Vec<String> {
            let mut v: Vec<String> = alternatives
                .iter()
                .map(|a| format!("{a}.{suffix}"))
                .collect();
            v.push(format!("{base}.{old}"));
            v.extend(alternatives.iter().map(|a| format!("{a}.{old}")));
            v
        };
        let weight = self.param(
            store,
            &format!("{base}.weight"),
            &alt("weight", "gamma"),
            &[width],
            ParamKind::Norm,
            1,
            false,
        )?;
        let bias = match kind {
            NormKind::Layer => Some(self.param(
                store,
                &format!("{base}.bias"),
                &alt("bias", "beta"),
                &[width],
                ParamKind::Norm,
                0,
                false,
            )?),
            NormKind::Rms => None,
        };
        Ok(NormParams { weight, bias })
    }

    /// A linear layer `base.weight` (+ `base.bias`) of the given layout.
    #[allow(clippy::too_many_arguments)]
    pub fn linear(
        &mut self,
        store: &mut ParamStore,
        base: &str,
        alternatives: &[String],
        in_dim: usize,
        out_dim: usize,
        bias: bool,
        layout: Layout,
    ) -> Result<Linear> {
        let shape = match layout {
            Layout::OutIn => [out_dim, in_dim],
            Layout::InOut => [in_dim, out_dim],
        };
        let alt = |s: &str| {
            alternatives
                .iter()
                .map(|a| format!("{a}.{s}"))
                .collect::<Vec<_>>()
        };
        let w = self.param(
            store,
            &format!("{base}.weight"),
            &alt("weight"),
            &shape,
            ParamKind::Weight,
            in_dim,
            false,
        )?;
        let b = match bias {
            true => Some(self.param(
                store,
                &format!("{base}.bias"),
                &alt("bias"),
                &[out_dim],
                ParamKind::Bias,
                in_dim,
                false,
            )?),
            false => None,
        };
        Ok(Linear::new(w, b, in_dim, out_dim, layout))
    }
}

impl Model {
    /// Number of parameters (scalars), all and trainable.
    pub fn parameter_counts(&self) -> (usize, usize) {
        self.store.counts()
    }

    /// The backbone's spec.
    pub fn spec(&self) -> &Spec {
        &self.net.spec
    }
}
