//! The shape of a transformer: one description ([`Spec`]) for every architecture lid trains.
//!
//! BERT, RoBERTa, GPT-2, the Llama family and the grokking model differ in a handful of choices
//! (norm kind and placement, gated feed-forward, learned or rotary positions, causal attention,
//! which biases exist); one forward/backward implementation ([`super::pass`]) covers them all.

use serde::{Deserialize, Serialize};

use crate::kernels::act::Act;
use crate::kernels::norm::NormKind;

/// The architecture family (decides weight names and small details).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Family {
    /// BERT (and MiniLM).
    Bert,
    /// RoBERTa.
    Roberta,
    /// GPT-2.
    Gpt2,
    /// Llama family (Llama 2/3, SmolLM2, Mistral- and Qwen2-shaped).
    Llama,
    /// The grokking study's decoder (docs/reproduction.md study 4).
    Grokking,
}

impl Family {
    /// The weight-name prefix of the backbone inside the task model classes lid saves
    /// (`BertForMaskedLM` keeps its encoder under `bert.`, and so on).
    pub fn prefix(self) -> &'static str {
        match self {
            Family::Bert => "bert.",
            Family::Roberta => "roberta.",
            Family::Gpt2 => "transformer.",
            Family::Llama => "model.",
            Family::Grokking => "",
        }
    }

    /// Whether the model is a decoder (causal attention, hidden states end after the final norm).
    pub fn is_decoder(self) -> bool {
        matches!(self, Family::Gpt2 | Family::Llama | Family::Grokking)
    }
}

/// How positions enter the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Positions {
    /// A learned table of `max` rows; token `i` of a sequence uses row `offset + i` (RoBERTa:
    /// `offset = pad_token_id + 1`).
    Learned {
        /// Rows of the table.
        max: usize,
        /// First row used.
        offset: usize,
    },
    /// Rotary embedding with these inverse frequencies (length `head_dim / 2`).
    Rotary {
        /// Inverse frequencies, with the checkpoint's scaling applied.
        inv_freq: Vec<f32>,
        /// Longest sequence the model was trained for, when the config says.
        trained_max: Option<usize>,
    },
}

/// Dropout probabilities of training mode.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct DropoutRates {
    /// On the embedding output.
    pub embedding: f32,
    /// On the attention probabilities.
    pub attention: f32,
    /// On the attention output and the feed-forward output (residual branches).
    pub hidden: f32,
}

/// Everything that shapes the backbone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    /// Architecture family.
    pub family: Family,
    /// Vocabulary size.
    pub vocab: usize,
    /// Width of the hidden states.
    pub hidden: usize,
    /// Number of blocks.
    pub layers: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads.
    pub kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// Feed-forward width.
    pub intermediate: usize,
    /// LayerNorm or RMSNorm.
    pub norm: NormKind,
    /// Norm epsilon.
    pub norm_eps: f32,
    /// Pre-norm blocks (GPT-2, Llama, grokking) or post-norm (BERT, RoBERTa).
    pub pre_norm: bool,
    /// Feed-forward activation.
    pub act: Act,
    /// Gated feed-forward `down(act(gate(x)) * up(x))` (Llama).
    pub gated: bool,
    /// Positions.
    pub positions: Positions,
    /// Token-type (segment) vocabulary; 0 = none.
    pub token_types: usize,
    /// A norm on the embedding sum (BERT, RoBERTa).
    pub embedding_norm: bool,
    /// Factor on the token embeddings (grokking: `sqrt(hidden)`, else 1).
    pub embedding_scale: f32,
    /// A final norm after the last block (decoders).
    pub final_norm: bool,
    /// Causal attention.
    pub causal: bool,
    /// Attention score scale per layer (usually `1 / sqrt(head_dim)`).
    pub attn_scales: Vec<f32>,
    /// Biases on q/k/v.
    pub qkv_bias: bool,
    /// Bias on the attention output projection.
    pub out_bias: bool,
    /// Biases in the feed-forward layers.
    pub mlp_bias: bool,
    /// Dropout of training mode.
    pub dropout: DropoutRates,
    /// Padding id (RoBERTa's position offset, batch padding for other tools).
    pub pad_token_id: Option<u32>,
}

impl Spec {
    /// The grokking model (docs/reproduction.md study 4): pre-norm decoder, learned positions, embeddings
    /// scaled by `sqrt(hidden)`, GELU (erf), LayerNorm eps 1e-5, biases everywhere.
    pub fn grokking(
        vocab: usize,
        hidden: usize,
        heads: usize,
        intermediate: usize,
        layers: usize,
        max_positions: usize,
        dropout: f32,
    ) -> Self {
        let head_dim = hidden / heads.max(1);
        Self {
            family: Family::Grokking,
            vocab,
            hidden,
            layers,
            heads,
            kv_heads: heads,
            head_dim,
            intermediate,
            norm: NormKind::Layer,
            norm_eps: 1e-5,
            pre_norm: true,
            act: Act::GeluErf,
            gated: false,
            positions: Positions::Learned {
                max: max_positions,
                offset: 0,
            },
            token_types: 0,
            embedding_norm: false,
            embedding_scale: (hidden as f32).sqrt(),
            final_norm: true,
            causal: true,
            attn_scales: vec![1.0 / (head_dim as f32).sqrt(); layers],
            qkv_bias: true,
            out_bias: true,
            mlp_bias: true,
            dropout: DropoutRates {
                embedding: dropout,
                attention: 0.0,
                hidden: dropout,
            },
            pad_token_id: None,
        }
    }

    /// Number of hidden states in Hugging Face numbering (`layers + 1`).
    pub fn num_hidden_states(&self) -> usize {
        self.layers + 1
    }

    /// The longest sequence the model accepts, when it has a hard limit (learned positions).
    pub fn max_sequence(&self) -> Option<usize> {
        match &self.positions {
            Positions::Learned { max, offset } => Some(max.saturating_sub(*offset)),
            Positions::Rotary { .. } => None,
        }
    }
}
