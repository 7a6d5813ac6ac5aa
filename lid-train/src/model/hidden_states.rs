//! lid-train's forward behind lid-embed's [`HiddenStateModel`], so that `lid embed`, `lid profile`
//! and `lid.embed` compute hidden states with the same forward as the probe, `lid compare`, `lid
//! sweep` and the studies: one forward for every LID measurement on the CPU.
//!
//! This forward runs on packed sequences (no padding, see [`Batch`]), and its kernels are bitwise
//! invariant to the sequence length, the batch composition, a token's place in the batch and the
//! thread count (`tests/invariance.rs`), so exact deduplication of token vectors removes every
//! copy of a shared prefix, as it does in the paper's padded batches (docs/reproduction.md, study
//! 1). lid-embed's own forward (candle) remains for GPU devices.
//!
//! The adapter takes lid-embed's padded `(batch, seq_len)` tensors (right padding, mask 0 on the
//! padding), packs the unmasked tokens, runs one [`Mode::Eval`] forward capturing the hidden states
//! asked for, and scatters them back to `(batch, seq_len, hidden)` with zeros at the padding.

use std::sync::Mutex;

use candle_core::Tensor;
use lid_embed::models::HiddenStateModel;

use super::{Activations, Batch, Capture, Mode, Model};

/// A [`Model`] as a [`HiddenStateModel`] (see the module docs).
pub struct PackedForward {
    model: Model,
    /// Buffers reused between batches (the forward runs one batch at a time).
    acts: Mutex<Activations>,
}

impl PackedForward {
    /// Wraps `model` (its parameters are used as they are; nothing is trained).
    pub fn new(model: Model) -> Self {
        Self {
            model,
            acts: Mutex::new(Activations::new()),
        }
    }
}

fn forward_error(e: impl std::fmt::Display) -> lid_embed::Error {
    lid_embed::Error::Forward(e.to_string())
}

impl HiddenStateModel for PackedForward {
    fn num_blocks(&self) -> usize {
        self.model.net.spec.layers
    }

    fn hidden_size(&self) -> usize {
        self.model.net.spec.hidden
    }

    fn hidden_states(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        wanted: &[usize],
    ) -> lid_embed::Result<Vec<Tensor>> {
        let (rows, width) = input_ids.dims2()?;
        let ids: Vec<u32> = input_ids.flatten_all()?.to_vec1()?;
        let mask: Vec<u32> = attention_mask.flatten_all()?.to_vec1()?;
        let hidden = self.hidden_size();
        // Unmasked tokens of each row; right padding, so they are a prefix.
        let mut lengths = Vec::with_capacity(rows);
        let mut batch = Batch::default();
        for r in 0..rows {
            let row_mask = &mask[r * width..(r + 1) * width];
            let len = row_mask.iter().take_while(|&&m| m != 0).count();
            if row_mask[len..].iter().any(|&m| m != 0) {
                return Err(forward_error(format!(
                    "row {r} of the attention mask is not right-padded"
                )));
            }
            lengths.push(len);
            if len > 0 {
                batch.push(&ids[r * width..r * width + len], None);
            }
        }
        let mut out = vec![vec![0f32; rows * width * hidden]; wanted.len()];
        if !batch.is_empty() {
            let mut capture = Capture::new(wanted.to_vec());
            let mut acts = self
                .acts
                .lock()
                .map_err(|_| forward_error("a previous batch panicked"))?;
            self.model
                .net
                .forward(
                    &self.model.store,
                    &batch,
                    Mode::Eval,
                    &mut acts,
                    Some(&mut capture),
                )
                .map_err(forward_error)?;
            for (dst, state) in out.iter_mut().zip(&capture.states) {
                let mut packed = 0;
                for (r, &len) in lengths.iter().enumerate() {
                    let n = len * hidden;
                    dst[r * width * hidden..r * width * hidden + n]
                        .copy_from_slice(&state[packed..packed + n]);
                    packed += n;
                }
            }
        }
        out.into_iter()
            .map(|v| {
                Ok(Tensor::from_vec(
                    v,
                    (rows, width, hidden),
                    input_ids.device(),
                )?)
            })
            .collect()
    }
}

/// Gives `loaded` (a model loaded by lid-embed) this crate's forward when it runs on the CPU: the
/// weights are read again by [`super::load_model`] (a `.gguf` file dequantised to f32) and the
/// candle forward is dropped. On a GPU device the candle forward stays. Returns whether the
/// forward was replaced.
///
/// # Errors
/// Loading failures of [`super::load_model`].
pub fn use_packed_forward(loaded: &mut lid_embed::LoadedModel) -> crate::Result<bool> {
    if !loaded.device.is_cpu() {
        return Ok(false);
    }
    let model = super::load_model(&loaded.path)?.model;
    loaded.model = Box::new(PackedForward::new(model));
    Ok(true)
}
