//! Which token vectors are kept. Padding is never stored, whatever the filter: batches are padded
//! by the extractor and padded positions are skipped.

use std::collections::HashSet;

use crate::error::{Error, Result};

/// The special token ids of a model, from its config (or GGUF metadata).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SpecialIds {
    /// Beginning-of-sequence id (RoBERTa `<s>`, Llama `<s>`/`<|begin_of_text|>`).
    pub bos: Option<u32>,
    /// End-of-sequence ids (Llama 3 has several).
    pub eos: Vec<u32>,
    /// Padding id.
    pub pad: Option<u32>,
}

/// Token filter applied to every real (non-padding) position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum TokenFilter {
    /// The paper's default: drop tokens whose id is the pad id or an eos id, keep bos (an id equal to
    /// bos is kept even when it is also listed as eos, as in GPT-2 where both are `<|endoftext|>`).
    /// BERT keeps `[CLS]` and `[SEP]` (it has no bos/eos ids); RoBERTa keeps `<s>` and drops `</s>`.
    #[default]
    PadAndEos,
    /// Keep every real token: the attention-mask filter (mask = 1), special tokens included.
    AttentionMask,
    /// Drop every special token (post-processor tokens and special added tokens).
    SpecialTokens,
}

impl std::str::FromStr for TokenFilter {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "pad-eos" | "paper" => Ok(TokenFilter::PadAndEos),
            "mask" | "all" | "keep-all" => Ok(TokenFilter::AttentionMask),
            "special" | "no-special" => Ok(TokenFilter::SpecialTokens),
            _ => Err(Error::InvalidOption {
                option: "filter",
                reason: format!("unknown token filter {s:?} (expected pad-eos, mask or special)"),
            }),
        }
    }
}

impl TokenFilter {
    /// Decides, for each position of one sequence, whether its vector is kept.
    pub fn keep(&self, ids: &[u32], special: &[bool], ids_info: &SpecialIds) -> Vec<bool> {
        match self {
            TokenFilter::PadAndEos => {
                let dropped: HashSet<u32> = ids_info
                    .eos
                    .iter()
                    .copied()
                    .chain(ids_info.pad)
                    .filter(|&id| Some(id) != ids_info.bos)
                    .collect();
                ids.iter().map(|id| !dropped.contains(id)).collect()
            }
            TokenFilter::AttentionMask => vec![true; ids.len()],
            TokenFilter::SpecialTokens => special.iter().map(|&s| !s).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_filter_drops_pad_and_eos_keeps_bos() {
        let roberta = SpecialIds {
            bos: Some(0),
            eos: vec![2],
            pad: Some(1),
        };
        let ids = [0, 10, 11, 2, 1];
        let special = [true, false, false, true, false];
        assert_eq!(
            TokenFilter::PadAndEos.keep(&ids, &special, &roberta),
            vec![true, true, true, false, false]
        );
        assert_eq!(
            TokenFilter::SpecialTokens.keep(&ids, &special, &roberta),
            vec![false, true, true, false, true]
        );
        assert_eq!(
            TokenFilter::AttentionMask.keep(&ids, &special, &roberta),
            vec![true; 5]
        );
        // GPT-2: bos == eos, kept.
        let gpt2 = SpecialIds {
            bos: Some(50256),
            eos: vec![50256],
            pad: None,
        };
        assert_eq!(
            TokenFilter::PadAndEos.keep(&[50256, 5], &[false, false], &gpt2),
            vec![true, true]
        );
        assert!("bogus".parse::<TokenFilter>().is_err());
    }
}
