//! Softmax cross-entropy over rows of logits, fused with its gradient.

use lid_embed::kernels::simd::{self, multiversion, MulAdd};
use rayon::prelude::*;

/// What [`cross_entropy`] found for one row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowLoss {
    /// `-log softmax(logits)[label]`.
    pub loss: f64,
    /// Index of the largest logit (the first one on ties).
    pub argmax: u32,
}

/// For each row `r` of `logits` (`labels.len()` rows of `width`): the loss of `labels[r]`, and
/// the logits overwritten by `scale * (softmax - onehot)` when `grad` is true (`scale` is usually
/// `1 / number of labelled rows`, the mean reduction of `torch.nn.CrossEntropyLoss`).
///
/// # Panics
/// When a label is out of range (labels are checked where examples are built).
pub fn cross_entropy(
    logits: &mut [f32],
    width: usize,
    labels: &[u32],
    scale: f32,
    grad: bool,
) -> Vec<RowLoss> {
    assert!(width > 0 && logits.len() == labels.len() * width);
    assert!(
        labels.iter().all(|&l| (l as usize) < width),
        "label out of range"
    );
    logits
        .par_chunks_mut(width)
        .zip(labels.par_iter())
        .map(|(row, &label)| row_loss(row, label, scale, grad))
        .collect()
}

multiversion! {
    fn row_loss_dispatch(row: &mut [f32], label: u32, scale: f32, grad: bool, out: &mut RowLoss) => row_loss_generic
}

fn row_loss(row: &mut [f32], label: u32, scale: f32, grad: bool) -> RowLoss {
    let mut out = RowLoss {
        loss: 0.0,
        argmax: 0,
    };
    row_loss_dispatch(row, label, scale, grad, &mut out);
    out
}

#[inline(always)]
fn row_loss_generic<M: MulAdd>(
    row: &mut [f32],
    label: u32,
    scale: f32,
    grad: bool,
    out: &mut RowLoss,
) {
    let top = simd::max(row);
    let argmax = row.iter().position(|&v| v == top).unwrap_or(0) as u32;
    let target = row[label as usize];
    let mut acc = [0.0f32; simd::LANES];
    let chunks = row.chunks_exact(simd::LANES);
    let tail: f32 = chunks
        .remainder()
        .iter()
        .map(|&v| simd::exp_nonpositive::<M>(v - top))
        .sum();
    for chunk in chunks {
        for (a, &v) in acc.iter_mut().zip(chunk) {
            *a += simd::exp_nonpositive::<M>(v - top);
        }
    }
    let total = acc.iter().sum::<f32>() + tail;
    let log_total = f64::from(total).ln();
    out.loss = log_total - f64::from(target - top);
    out.argmax = argmax;
    if grad {
        let inv = scale / total;
        for v in row.iter_mut() {
            *v = simd::exp_nonpositive::<M>(*v - top) * inv;
        }
        row[label as usize] -= scale;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_and_gradient_match_float64_softmax() {
        let width = 37;
        let rows = 5;
        let logits: Vec<f32> = (0..rows * width)
            .map(|i| ((i * 7919) % 113) as f32 * 0.1 - 5.0)
            .collect();
        let labels: Vec<u32> = (0..rows as u32).map(|r| (r * 11) % width as u32).collect();
        let mut work = logits.clone();
        let out = cross_entropy(&mut work, width, &labels, 0.5, true);
        for r in 0..rows {
            let row = &logits[r * width..(r + 1) * width];
            let m = row.iter().fold(f64::MIN, |a, &b| a.max(f64::from(b)));
            let z: f64 = row.iter().map(|&v| (f64::from(v) - m).exp()).sum();
            let want = m + z.ln() - f64::from(row[labels[r] as usize]);
            assert!((out[r].loss - want).abs() < 1e-5);
            for c in 0..width {
                let p = (f64::from(row[c]) - m).exp() / z;
                let g = 0.5 * (p - if c == labels[r] as usize { 1.0 } else { 0.0 });
                assert!((f64::from(work[r * width + c]) - g).abs() < 1e-6);
            }
        }
    }
}
