//! Training examples, batch order and masked-LM corruption.
//!
//! Everything random is a pure function of the run's seed and the update step (ChaCha8 streams),
//! so a resumed run draws exactly the batches, masks and dropout an uninterrupted one would.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::kernels::dropout::{derive_seed, mix64};
use crate::model::Batch;

/// A tokenised sequence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sequence {
    /// Token ids (special tokens included).
    pub ids: Vec<u32>,
    /// True where the token is special (never masked).
    pub special: Vec<bool>,
    /// Token types (empty: all 0).
    pub token_types: Vec<u32>,
}

impl Sequence {
    /// A sequence whose tokens are all ordinary.
    pub fn plain(ids: Vec<u32>) -> Self {
        let special = vec![false; ids.len()];
        Self {
            ids,
            special,
            token_types: Vec::new(),
        }
    }

    /// From lid-embed's tokenizer output.
    pub fn from_encoded(e: &lid_embed::tokenize::Encoded) -> Self {
        Self {
            ids: e.ids.clone(),
            special: e.special.clone(),
            token_types: Vec::new(),
        }
    }
}

/// Packs `seqs` into a batch.
pub fn pack<'a>(seqs: impl IntoIterator<Item = &'a Sequence>) -> Batch {
    let mut batch = Batch::new::<Vec<u32>>(&[]);
    for s in seqs {
        let tt = (!s.token_types.is_empty()).then_some(s.token_types.as_slice());
        batch.push(&s.ids, tt);
    }
    batch
}

/// How training examples are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// Epochs over a seeded permutation, consecutive batches, the last one partial (PyTorch
    /// `DataLoader(shuffle=True, drop_last=False)`).
    Epochs,
    /// Each batch drawn uniformly with replacement (the grokking study).
    WithReplacement,
}

/// Which examples micro-batch `micro` of update `step` uses, with `n` examples, batches of
/// `batch` and `accum` micro-batches per update.
pub fn micro_batch(
    order: Order,
    n: usize,
    batch: usize,
    accum: usize,
    seed: u64,
    step: u64,
    micro: usize,
) -> Vec<usize> {
    match order {
        Order::WithReplacement => {
            let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(seed, &[0x0D, step, micro as u64]));
            (0..batch).map(|_| rng.random_range(0..n)).collect()
        }
        Order::Epochs => {
            let per_epoch = n.div_ceil(batch) as u64;
            let global = step * accum as u64 + micro as u64;
            let (epoch, index) = (global / per_epoch, (global % per_epoch) as usize);
            let mut perm: Vec<usize> = (0..n).collect();
            perm.shuffle(&mut ChaCha8Rng::seed_from_u64(derive_seed(
                seed,
                &[0x0E, epoch],
            )));
            perm[index * batch..((index + 1) * batch).min(n)].to_vec()
        }
    }
}

/// Number of optimizer updates covering `epochs` epochs: `ceil(ceil(n / batch) * epochs / accum)`.
/// Micro-batches form one stream across epochs, so when `accum` does not divide an epoch's batches
/// an update may take its last micro-batches from the next epoch.
pub fn updates_for_epochs(n: usize, batch: usize, accum: usize, epochs: f64) -> u64 {
    let per_epoch = n.div_ceil(batch) as f64;
    (per_epoch * epochs / accum as f64).ceil() as u64
}

/// BERT's masked-LM corruption (`DataCollatorForLanguageModeling`): each non-special token is
/// selected with probability `probability` (paper 0.15); a selected token becomes the mask token
/// with probability 0.8, a uniformly random token with 0.1, and stays with 0.1. Its original id is
/// the label.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MaskingRule {
    /// Selection probability.
    pub probability: f64,
    /// The mask token's id.
    pub mask_id: u32,
    /// Vocabulary size (random replacements are drawn from `0..vocab`).
    pub vocab: u32,
}

/// A corrupted batch: the sequences with masks applied, and the positions to predict.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Masked {
    /// Corrupted sequences.
    pub sequences: Vec<Sequence>,
    /// Packed row of each selected token.
    pub rows: Vec<usize>,
    /// Original token at each selected row.
    pub labels: Vec<u32>,
}

impl MaskingRule {
    /// Checks the rule.
    ///
    /// # Errors
    /// A probability outside `(0, 1]`, a mask id outside the vocabulary.
    pub fn check(&self) -> Result<()> {
        if !(self.probability > 0.0 && self.probability <= 1.0) {
            return Err(Error::setting(
                "mlm-probability",
                format!("must lie in (0, 1], got {}", self.probability),
            ));
        }
        if self.mask_id >= self.vocab {
            return Err(Error::setting(
                "mask token",
                format!(
                    "id {} is outside the vocabulary of {}",
                    self.mask_id, self.vocab
                ),
            ));
        }
        Ok(())
    }

    /// Corrupts `seqs`; `seed` should differ per update and micro-batch. As in `transformers`, a
    /// sequence may end up with no selected token.
    pub fn apply(&self, seqs: &[&Sequence], seed: u64) -> Masked {
        let mut out = Masked::default();
        let mut row = 0;
        for (i, s) in seqs.iter().enumerate() {
            let mut rng =
                ChaCha8Rng::seed_from_u64(mix64(seed ^ (i as u64).wrapping_mul(0x9E37_79B9)));
            let mut ids = s.ids.clone();
            for (j, id) in ids.iter_mut().enumerate() {
                if s.special.get(j).copied().unwrap_or(false) {
                    continue;
                }
                if rng.random::<f64>() < self.probability {
                    out.rows.push(row + j);
                    out.labels.push(*id);
                    let r: f64 = rng.random();
                    if r < 0.8 {
                        *id = self.mask_id;
                    } else if r < 0.9 {
                        *id = rng.random_range(0..self.vocab);
                    }
                }
            }
            row += ids.len();
            out.sequences.push(Sequence {
                ids,
                special: s.special.clone(),
                token_types: s.token_types.clone(),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_proportions_on_a_large_sample() {
        let rule = MaskingRule {
            probability: 0.15,
            mask_id: 3,
            vocab: 1000,
        };
        let seqs: Vec<Sequence> = (0..400)
            .map(|i| {
                let ids: Vec<u32> = (0..250)
                    .map(|j| 10 + ((i * 31 + j * 7) % 900) as u32)
                    .collect();
                let mut s = Sequence::plain(ids);
                s.special[0] = true;
                s
            })
            .collect();
        let refs: Vec<&Sequence> = seqs.iter().collect();
        let m = rule.apply(&refs, 99);
        let maskable = 400 * 249;
        let selected = m.rows.len() as f64 / maskable as f64;
        assert!((selected - 0.15).abs() < 0.004, "selected {selected}");
        let flat: Vec<u32> = m.sequences.iter().flat_map(|s| s.ids.clone()).collect();
        let masked = m.rows.iter().filter(|&&r| flat[r] == 3).count() as f64 / m.rows.len() as f64;
        let kept = m
            .rows
            .iter()
            .zip(&m.labels)
            .filter(|(&r, &l)| flat[r] == l)
            .count() as f64
            / m.rows.len() as f64;
        assert!((masked - 0.8).abs() < 0.01, "masked {masked}");
        assert!((kept - 0.1).abs() < 0.01 + 0.001, "kept {kept}");
        // Special tokens are never selected; unselected tokens are unchanged.
        assert!(m.rows.iter().all(|&r| r % 250 != 0));
        // Same seed, same corruption.
        assert_eq!(rule.apply(&refs, 99), m);
    }

    #[test]
    fn epochs_visit_every_example_once_and_replacement_is_seeded() {
        let (n, b, accum) = (23, 4, 2);
        let steps = updates_for_epochs(n, b, accum, 1.0);
        assert_eq!(steps, 3);
        let mut seen: Vec<usize> = (0..steps)
            .flat_map(|s| {
                (0..accum).flat_map(move |m| micro_batch(Order::Epochs, n, b, accum, 7, s, m))
            })
            .take(n)
            .collect();
        seen.sort();
        assert_eq!(seen, (0..n).collect::<Vec<_>>());
        let a = micro_batch(Order::WithReplacement, n, 50, 1, 7, 3, 0);
        assert_eq!(a, micro_batch(Order::WithReplacement, n, 50, 1, 7, 3, 0));
        assert_ne!(a, micro_batch(Order::WithReplacement, n, 50, 1, 7, 4, 0));
    }
}
