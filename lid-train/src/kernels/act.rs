//! Element-wise activations and their derivatives, as `transformers` defines them:
//! `gelu` (erf form), `gelu_new` / `gelu_pytorch_tanh` (tanh form), `relu`, `silu`, and `tanh`
//! (BERT's pooler). Gated feed-forward layers (Llama) use `act(gate) * up`.
//!
//! `exp` and `erf` come from lid-embed's vectorisable approximations (relative error about 2e-7,
//! absolute error of `erf` below 1e-7), evaluated on non-positive arguments only.

use lid_embed::kernels::simd::{self, multiversion, MulAdd};
use rayon::prelude::*;

use super::reduce::block_rows;

/// An activation function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Act {
    /// `x Phi(x)` (transformers `gelu`).
    GeluErf,
    /// `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))` (`gelu_new`).
    GeluTanh,
    /// `max(x, 0)`.
    Relu,
    /// `x sigmoid(x)`.
    Silu,
    /// `tanh(x)`.
    Tanh,
}

impl From<lid_embed::models::Activation> for Act {
    fn from(a: lid_embed::models::Activation) -> Self {
        use lid_embed::models::Activation as A;
        match a {
            A::Gelu => Act::GeluErf,
            A::GeluTanh => Act::GeluTanh,
            A::Relu => Act::Relu,
            A::Silu => Act::Silu,
        }
    }
}

const SQRT_2_OVER_PI: f32 = 0.797_884_6;
const GELU_C: f32 = 0.044_715;

/// `tanh(u)` from `exp(-2|u|)`.
#[inline(always)]
fn tanh<M: MulAdd>(u: f32) -> f32 {
    let e = simd::exp_nonpositive::<M>(-2.0 * u.abs());
    ((1.0 - e) / (1.0 + e)).copysign(u)
}

/// `sigmoid(x)` from `exp(-|x|)`.
#[inline(always)]
fn sigmoid<M: MulAdd>(x: f32) -> f32 {
    let e = simd::exp_nonpositive::<M>(-x.abs());
    let r = 1.0 / (1.0 + e);
    if x >= 0.0 {
        r
    } else {
        e * r
    }
}

#[inline(always)]
fn value<M: MulAdd>(act: Act, x: f32) -> f32 {
    match act {
        Act::GeluErf => simd::gelu_erf::<M>(x),
        Act::GeluTanh => {
            let u = SQRT_2_OVER_PI * M::f32(GELU_C * x * x, x, x);
            0.5 * x * (1.0 + tanh::<M>(u))
        }
        Act::Relu => x.max(0.0),
        Act::Silu => x * sigmoid::<M>(x),
        Act::Tanh => tanh::<M>(x),
    }
}

#[inline(always)]
fn derivative<M: MulAdd>(act: Act, x: f32) -> f32 {
    match act {
        Act::GeluErf => {
            let xd = f64::from(x);
            let cdf = 0.5 * (1.0 + simd::erf_f64::<M>(xd * std::f64::consts::FRAC_1_SQRT_2));
            let pdf = simd::exp_nonpositive::<M>(-0.5 * x * x) * 0.398_942_3;
            cdf as f32 + x * pdf
        }
        Act::GeluTanh => {
            let u = SQRT_2_OVER_PI * M::f32(GELU_C * x * x, x, x);
            let t = tanh::<M>(u);
            let du = SQRT_2_OVER_PI * M::f32(3.0 * GELU_C * x, x, 1.0);
            0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du
        }
        Act::Relu => {
            if x > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        Act::Silu => {
            let s = sigmoid::<M>(x);
            s * M::f32(x, 1.0 - s, 1.0)
        }
        Act::Tanh => {
            let t = tanh::<M>(x);
            1.0 - t * t
        }
    }
}

const CHUNK: usize = 16_384;

/// `out = act(x)`.
pub fn forward(x: &[f32], out: &mut [f32], act: Act) {
    assert_eq!(x.len(), out.len());
    out.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(o, x)| forward_chunk(x, o, act));
}

multiversion! {
    fn forward_chunk(x: &[f32], out: &mut [f32], act: Act) => forward_chunk_generic
}

#[inline(always)]
fn forward_chunk_generic<M: MulAdd>(x: &[f32], out: &mut [f32], act: Act) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = value::<M>(act, v);
    }
}

/// `dx = dy act'(x)` (`x` is the activation's input).
pub fn backward(x: &[f32], dy: &[f32], dx: &mut [f32], act: Act) {
    assert!(x.len() == dy.len() && dx.len() == x.len());
    dx.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .zip(dy.par_chunks(CHUNK))
        .for_each(|((dx, x), dy)| backward_chunk(x, dy, dx, act));
}

multiversion! {
    fn backward_chunk(x: &[f32], dy: &[f32], dx: &mut [f32], act: Act) => backward_chunk_generic
}

#[inline(always)]
fn backward_chunk_generic<M: MulAdd>(x: &[f32], dy: &[f32], dx: &mut [f32], act: Act) {
    for ((d, &v), &g) in dx.iter_mut().zip(x).zip(dy) {
        *d = g * derivative::<M>(act, v);
    }
}

/// `out = act(gate) * up`.
pub fn gated_forward(gate: &[f32], up: &[f32], out: &mut [f32], act: Act) {
    assert!(gate.len() == up.len() && out.len() == gate.len());
    out.par_chunks_mut(CHUNK)
        .zip(gate.par_chunks(CHUNK))
        .zip(up.par_chunks(CHUNK))
        .for_each(|((o, g), u)| gated_forward_chunk(g, u, o, act));
}

multiversion! {
    fn gated_forward_chunk(gate: &[f32], up: &[f32], out: &mut [f32], act: Act) => gated_forward_chunk_generic
}

#[inline(always)]
fn gated_forward_chunk_generic<M: MulAdd>(gate: &[f32], up: &[f32], out: &mut [f32], act: Act) {
    for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
        *o = value::<M>(act, g) * u;
    }
}

/// Backward of [`gated_forward`]: `dgate = dy up act'(gate)`, `dup = dy act(gate)`.
pub fn gated_backward(
    gate: &[f32],
    up: &[f32],
    dy: &[f32],
    dgate: &mut [f32],
    dup: &mut [f32],
    act: Act,
) {
    let n = gate.len();
    assert!(up.len() == n && dy.len() == n && dgate.len() == n && dup.len() == n);
    dgate
        .par_chunks_mut(CHUNK)
        .zip(dup.par_chunks_mut(CHUNK))
        .zip(gate.par_chunks(CHUNK).zip(up.par_chunks(CHUNK)))
        .zip(dy.par_chunks(CHUNK))
        .for_each(|(((dg, du), (g, u)), dy)| gated_backward_chunk(g, u, dy, dg, du, act));
}

multiversion! {
    fn gated_backward_chunk(gate: &[f32], up: &[f32], dy: &[f32], dgate: &mut [f32], dup: &mut [f32], act: Act) => gated_backward_chunk_generic
}

#[inline(always)]
fn gated_backward_chunk_generic<M: MulAdd>(
    gate: &[f32],
    up: &[f32],
    dy: &[f32],
    dgate: &mut [f32],
    dup: &mut [f32],
    act: Act,
) {
    for i in 0..gate.len() {
        let (g, u, d) = (gate[i], up[i], dy[i]);
        dgate[i] = d * u * derivative::<M>(act, g);
        dup[i] = d * value::<M>(act, g);
    }
}

/// `x += bias` over rows of `bias.len()` values.
pub fn add_bias(x: &mut [f32], bias: &[f32]) {
    let width = bias.len();
    assert!(width > 0 && x.len().is_multiple_of(width));
    x.par_chunks_mut(block_rows(width) * width).for_each(|x| {
        for row in x.chunks_exact_mut(width) {
            for (v, &b) in row.iter_mut().zip(bias) {
                *v += b;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(act: Act, x: f64) -> f64 {
        match act {
            Act::GeluErf => 0.5 * x * (1.0 + erf(x / 2f64.sqrt())),
            Act::GeluTanh => {
                let u = (2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x);
                0.5 * x * (1.0 + u.tanh())
            }
            Act::Relu => x.max(0.0),
            Act::Silu => x / (1.0 + (-x).exp()),
            Act::Tanh => x.tanh(),
        }
    }

    fn erf(z: f64) -> f64 {
        // Abramowitz-Stegun 7.1.26 is too coarse; integrate the series instead.
        let a = z.abs();
        let (mut term, mut total, mut n) = (a, a, 0.0);
        while term.abs() > 1e-17 * total.abs().max(1e-300) && n < 400.0 {
            n += 1.0;
            term *= -a * a / n;
            total += term / (2.0 * n + 1.0);
        }
        (total * 2.0 / std::f64::consts::PI.sqrt()).copysign(z)
    }

    #[test]
    fn values_and_derivatives_match_float64_references() {
        let xs: Vec<f32> = (-600..=600).map(|i| i as f32 * 0.01).collect();
        for act in [Act::GeluErf, Act::GeluTanh, Act::Relu, Act::Silu, Act::Tanh] {
            let mut out = vec![0.0; xs.len()];
            forward(&xs, &mut out, act);
            let ones = vec![1.0; xs.len()];
            let mut d = vec![0.0; xs.len()];
            backward(&xs, &ones, &mut d, act);
            for ((&x, &y), &dy) in xs.iter().zip(&out).zip(&d) {
                let want = reference(act, f64::from(x));
                assert!(
                    (f64::from(y) - want).abs() < 2e-6,
                    "{act:?}({x}) = {y}, want {want}"
                );
                if act == Act::Relu && x == 0.0 {
                    continue;
                }
                let h = 1e-4;
                let slope = (reference(act, f64::from(x) + h) - reference(act, f64::from(x) - h))
                    / (2.0 * h);
                assert!(
                    (f64::from(dy) - slope).abs() < 2e-5,
                    "{act:?}'({x}) = {dy}, want {slope}"
                );
            }
        }
    }
}
