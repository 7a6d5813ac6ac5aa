//! RoBERTa encoder.
//!
//! Mirrors `transformers.models.roberta.modeling_roberta` (transformers 4.x,
//! <https://github.com/huggingface/transformers/blob/v4.46.0/src/transformers/models/roberta/modeling_roberta.py>):
//! the blocks are BERT's; the difference is `RobertaEmbeddings`, whose position ids start after the
//! padding index (`create_position_ids_from_input_ids`: `cumsum(ids != pad) * (ids != pad) + pad`),
//! so padding tokens get position `pad` and real tokens `pad + 1, pad + 2, ...`.

use candle_core::{DType, Tensor};
use candle_nn::{Embedding, LayerNorm, Module, VarBuilder};

use super::bert::{Config, Encoder};
use super::{Collector, HiddenStateModel};
use crate::error::{Error, Result};

/// `RobertaEmbeddings`.
struct Embeddings {
    word: Embedding,
    position: Embedding,
    token_type: Embedding,
    norm: LayerNorm,
}

/// A RoBERTa encoder (`RobertaModel` without the pooler). Its config has the same keys as BERT's.
pub struct Roberta {
    embeddings: Embeddings,
    encoder: Encoder,
    cfg: Config,
    padding_idx: u32,
}

impl Roberta {
    /// Loads from weights named as `RobertaModel`, optionally under a `roberta.` prefix.
    pub fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        cfg.validate()?;
        let padding_idx = cfg.pad_token_id.unwrap_or(1);
        let vb = super::find_prefix(&vb, "embeddings.word_embeddings.weight", &["roberta"])?;
        let e = vb.pp("embeddings");
        let embeddings = Embeddings {
            word: candle_nn::embedding(cfg.vocab_size, cfg.hidden_size, e.pp("word_embeddings"))?,
            position: candle_nn::embedding(
                cfg.max_position_embeddings,
                cfg.hidden_size,
                e.pp("position_embeddings"),
            )?,
            token_type: candle_nn::embedding(
                cfg.type_vocab_size,
                cfg.hidden_size,
                e.pp("token_type_embeddings"),
            )?,
            norm: super::layer_norm(cfg.hidden_size, cfg.layer_norm_eps, e.pp("LayerNorm"))?,
        };
        Ok(Self {
            embeddings,
            encoder: Encoder::load(vb.pp("encoder"), cfg)?,
            cfg: cfg.clone(),
            padding_idx,
        })
    }

    /// `create_position_ids_from_input_ids` with `past_key_values_length = 0`.
    fn position_ids(&self, input_ids: &Tensor) -> Result<Tensor> {
        let ids = input_ids.to_vec2::<u32>()?;
        let (b, t) = input_ids.dims2()?;
        let mut out = Vec::with_capacity(b * t);
        for row in &ids {
            let mut count = 0u32;
            for &id in row {
                if id != self.padding_idx {
                    count += 1;
                    out.push(count + self.padding_idx);
                } else {
                    out.push(self.padding_idx);
                }
            }
        }
        let max = out.iter().copied().max().unwrap_or(0) as usize;
        if max >= self.cfg.max_position_embeddings {
            return Err(Error::InvalidOption {
                option: "max-length",
                reason: format!(
                    "sequence needs position {max}, but max_position_embeddings is {} (RoBERTa positions start at pad_token_id + 1)",
                    self.cfg.max_position_embeddings
                ),
            });
        }
        Ok(Tensor::from_vec(out, (b, t), input_ids.device())?)
    }
}

impl HiddenStateModel for Roberta {
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
        let positions = self.position_ids(input_ids)?;
        let e = &self.embeddings;
        let sum = ((e.word.forward(input_ids)? + e.position.forward(&positions)?)?
            + e.token_type.forward(&input_ids.zeros_like()?)?)?;
        let embedded = e.norm.forward(&sum)?.to_dtype(DType::F32)?;
        self.encoder.run(embedded, attention_mask, collector)
    }
}
