//! The algorithmic datasets of the grokking study (docs/reproduction.md study 4): binary operations on a
//! finite set, written as four-token sequences `[a, op, b, =]` whose label `c = a op b` is predicted
//! at the last position.
//!
//! Vocabulary:
//! - modular arithmetic mod a prime `p`: tokens `0..p` are the residues, `p` is the operation token,
//!   `p + 1` is `=`; vocabulary `p + 2` (the paper's).
//! - the symmetric group S5: tokens `0..120` are the 120 permutations of `{0,..,4}` in lexicographic
//!   order, `120` is the operation token, `121` is `=`; vocabulary 122. The operation is composition,
//!   `(a ∘ b)(i) = a(b(i))`.
//!
//! All pairs are shuffled by the dataset seed (ChaCha8Rng) and split at `floor(#pairs x frac)`: the
//! first part trains, the rest validates.

use crate::error::{bail, ensure, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Number of tokens in one sequence: `[a, op, b, =]`.
pub const SEQ_LEN: usize = 4;

/// The binary operation of a grokking dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// `(a + b) mod p` (the paper's operation), all `p^2` pairs.
    Sum,
    /// `(a - b) mod p`, all `p^2` pairs.
    Subtract,
    /// `(a * b) mod p`, all `p^2` pairs.
    Multiply,
    /// `(a * b^-1) mod p` with the modular inverse, `b != 0`: `p (p - 1)` pairs.
    Divide,
    /// Composition of permutations in S5 (`p` is ignored): `120^2` pairs.
    S5,
}

impl Operation {
    /// Number of operand values (and of result classes).
    pub fn n_elements(self, p: u32) -> usize {
        match self {
            Operation::S5 => 120,
            _ => p as usize,
        }
    }

    /// Vocabulary size: the elements plus the operation and `=` tokens.
    pub fn vocab_size(self, p: u32) -> usize {
        self.n_elements(p) + 2
    }
}

/// One example: the four input tokens and the label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Example {
    /// `[a, op, b, =]`.
    pub tokens: [u32; SEQ_LEN],
    /// `a op b`.
    pub label: u32,
}

/// A shuffled and split dataset.
#[derive(Debug, Clone)]
pub struct GrokDataset {
    /// The operation.
    pub operation: Operation,
    /// The modulus (ignored for S5).
    pub p: u32,
    /// The dataset seed (shuffle of the pairs; the training loop also draws its batches from it).
    pub seed: u64,
    /// Vocabulary size (also the number of output classes of the model).
    pub vocab_size: usize,
    /// Training examples (the first `floor(#pairs x frac)` after the shuffle).
    pub train: Vec<Example>,
    /// Validation examples (the rest).
    pub val: Vec<Example>,
}

/// Whether `p` is prime (trial division).
pub fn is_prime(p: u32) -> bool {
    p >= 2
        && (2..)
            .take_while(|d: &u32| (*d as u64) * (*d as u64) <= p as u64)
            .all(|d| !p.is_multiple_of(d))
}

/// `base^exp mod p` with 64-bit intermediates.
fn pow_mod(base: u64, mut exp: u64, p: u64) -> u64 {
    let (mut acc, mut b) = (1u64, base % p);
    while exp > 0 {
        if exp & 1 == 1 {
            acc = acc * b % p;
        }
        b = b * b % p;
        exp >>= 1;
    }
    acc
}

/// The modular inverse of `b != 0` modulo the prime `p` (Fermat: `b^(p-2)`).
pub fn mod_inverse(b: u32, p: u32) -> u32 {
    pow_mod(b as u64, p as u64 - 2, p as u64) as u32
}

/// The 120 permutations of `{0,..,4}` in lexicographic order.
pub fn s5_elements() -> Vec<[u8; 5]> {
    let mut out = Vec::with_capacity(120);
    for a in 0..5u8 {
        for b in 0..5u8 {
            for c in 0..5u8 {
                for d in 0..5u8 {
                    for e in 0..5u8 {
                        let perm = [a, b, c, d, e];
                        let mut seen = [false; 5];
                        if perm
                            .iter()
                            .all(|&x| !std::mem::replace(&mut seen[x as usize], true))
                        {
                            out.push(perm);
                        }
                    }
                }
            }
        }
    }
    out
}

/// Every `(a, b, c)` triple of the operation, in `(a, b)` lexicographic order.
pub fn all_triples(operation: Operation, p: u32) -> Result<Vec<(u32, u32, u32)>> {
    if operation != Operation::S5 {
        ensure!(
            is_prime(p),
            "modulus p = {p} is not a prime (division needs a field)"
        );
        ensure!(p < 1 << 20, "modulus p = {p} is too large (at most 2^20)");
    }
    let mut out = Vec::new();
    match operation {
        Operation::S5 => {
            let perms = s5_elements();
            // Invariant: `perms` holds all 120 permutations of 0..5 in lexicographic (sorted)
            // order, and a composition of two permutations is again one of them, so the binary
            // search always finds it.
            #[allow(clippy::expect_used)]
            let index = |perm: &[u8; 5]| {
                perms
                    .binary_search(perm)
                    .expect("a composition of permutations is a permutation")
            };
            for (ia, a) in perms.iter().enumerate() {
                for (ib, b) in perms.iter().enumerate() {
                    let c: [u8; 5] = std::array::from_fn(|i| a[b[i] as usize]);
                    out.push((ia as u32, ib as u32, index(&c) as u32));
                }
            }
        }
        _ => {
            let pp = p as u64;
            for a in 0..p {
                for b in 0..p {
                    let (a64, b64) = (a as u64, b as u64);
                    let c = match operation {
                        Operation::Sum => (a64 + b64) % pp,
                        Operation::Subtract => (a64 + pp - b64) % pp,
                        Operation::Multiply => a64 * b64 % pp,
                        Operation::Divide => {
                            if b == 0 {
                                continue;
                            }
                            a64 * mod_inverse(b, p) as u64 % pp
                        }
                        Operation::S5 => unreachable!("handled above"),
                    };
                    out.push((a, b, c as u32));
                }
            }
        }
    }
    Ok(out)
}

impl GrokDataset {
    /// Builds all pairs, shuffles them with `ChaCha8Rng::seed_from_u64(seed)` and keeps the first
    /// `floor(#pairs x train_fraction)` for training.
    ///
    /// # Errors
    /// A modulus that is not prime, or a fraction that leaves either split empty.
    pub fn new(operation: Operation, p: u32, train_fraction: f64, seed: u64) -> Result<Self> {
        if !(train_fraction > 0.0 && train_fraction < 1.0) {
            bail!("training fraction must lie in (0, 1), got {train_fraction}");
        }
        let triples = all_triples(operation, p)?;
        let n_elements = operation.n_elements(p) as u32;
        let (op_token, eq_token) = (n_elements, n_elements + 1);
        let mut examples: Vec<Example> = triples
            .into_iter()
            .map(|(a, b, c)| Example {
                tokens: [a, op_token, b, eq_token],
                label: c,
            })
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        examples.shuffle(&mut rng);
        let n_train = (examples.len() as f64 * train_fraction).floor() as usize;
        if n_train == 0 || n_train == examples.len() {
            bail!(
                "training fraction {train_fraction} of {} pairs leaves an empty split",
                examples.len()
            );
        }
        let val = examples.split_off(n_train);
        Ok(Self {
            operation,
            p,
            seed,
            vocab_size: operation.vocab_size(p),
            train: examples,
            val,
        })
    }
}
