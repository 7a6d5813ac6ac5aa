//! Seeded train/validation/test splits of any list.
//!
//! [`split`] shuffles the indices `0..n` with ChaCha8 seeded by `seed` (Fisher-Yates, rand 0.9's
//! `SliceRandom::shuffle`), then cuts them: the first `floor(n * train)` go to train, the next
//! `floor(n * validation)` to validation, and the rest to test (so the three parts cover the list
//! exactly once). Within each part items keep their original relative order, so a split is stable
//! under how the caller later iterates. Same list length, fractions and seed, same split.
//!
//! A list with repeated items (a corpus where `Thank you.` occurs hundreds of times) puts copies in
//! every part; [`Splits::hold_out_test`] removes from the training and validation parts every item
//! equal (by a key, such as its text) to a test item, so that nothing measured on the test part was
//! trained or validated on.

use std::collections::HashSet;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Train, validation and test parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Splits<T> {
    /// Training part.
    pub train: Vec<T>,
    /// Validation (development) part.
    pub validation: Vec<T>,
    /// Test part.
    pub test: Vec<T>,
}

impl<T> Default for Splits<T> {
    fn default() -> Self {
        Splits {
            train: Vec::new(),
            validation: Vec::new(),
            test: Vec::new(),
        }
    }
}

impl<T> Splits<T> {
    /// The part of a split name.
    pub fn part(&self, part: Part) -> &[T] {
        match part {
            Part::Train => &self.train,
            Part::Validation => &self.validation,
            Part::Test => &self.test,
        }
    }

    /// Total number of items.
    pub fn len(&self) -> usize {
        self.train.len() + self.validation.len() + self.test.len()
    }

    /// Whether all parts are empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes from the training and validation parts every item whose `key` equals the key of a
    /// test item; the rest keep their order, the test part is unchanged. Returns how many went.
    /// `O(n)` with a hash set of the test keys.
    pub fn hold_out_test<K>(&mut self, key: K) -> HeldOut
    where
        K: Fn(&T) -> &str,
    {
        let Splits {
            train,
            validation,
            test,
        } = self;
        let held: HashSet<&str> = test.iter().map(&key).collect();
        let (train_before, validation_before) = (train.len(), validation.len());
        train.retain(|item| !held.contains(key(item)));
        validation.retain(|item| !held.contains(key(item)));
        HeldOut {
            train_removed: train_before - train.len(),
            validation_removed: validation_before - validation.len(),
        }
    }
}

/// What [`Splits::hold_out_test`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldOut {
    /// Training items equal to a test item.
    pub train_removed: usize,
    /// Validation items equal to a test item.
    pub validation_removed: usize,
}

/// A part of a split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Part {
    /// Training part.
    Train,
    /// Validation (development) part.
    Validation,
    /// Test part.
    Test,
}

impl Part {
    /// All parts in order.
    pub const ALL: [Part; 3] = [Part::Train, Part::Validation, Part::Test];

    /// `train`, `validation` or `test`.
    pub fn name(self) -> &'static str {
        match self {
            Part::Train => "train",
            Part::Validation => "validation",
            Part::Test => "test",
        }
    }
}

/// Fractions of a split; test gets the rest.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Fractions {
    /// Fraction for training, in [0, 1].
    pub train: f64,
    /// Fraction for validation, in [0, 1]; `train + validation <= 1`.
    pub validation: f64,
}

impl Default for Fractions {
    /// 0.8 / 0.1 / 0.1.
    fn default() -> Self {
        Fractions {
            train: 0.8,
            validation: 0.1,
        }
    }
}

impl Fractions {
    /// Checks the ranges.
    pub fn check(&self) -> Result<()> {
        for (name, f) in [("train", self.train), ("validation", self.validation)] {
            if !(0.0..=1.0).contains(&f) {
                return Err(Error::parameter(
                    if name == "train" {
                        "fractions.train"
                    } else {
                        "fractions.validation"
                    },
                    format!("{f} is not in [0, 1]"),
                ));
            }
        }
        if self.train + self.validation > 1.0 + 1e-12 {
            return Err(Error::parameter(
                "fractions",
                format!(
                    "train + validation = {} exceeds 1",
                    self.train + self.validation
                ),
            ));
        }
        Ok(())
    }
}

/// The part of each index `0..n` (see the module docs for the rule).
pub fn assign(n: usize, fractions: Fractions, seed: u64) -> Result<Vec<Part>> {
    fractions.check()?;
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let n_train = ((n as f64) * fractions.train).floor() as usize;
    let n_val = (((n as f64) * fractions.validation).floor() as usize).min(n - n_train);
    let mut parts = vec![Part::Test; n];
    for (rank, &index) in order.iter().enumerate() {
        parts[index] = if rank < n_train {
            Part::Train
        } else if rank < n_train + n_val {
            Part::Validation
        } else {
            Part::Test
        };
    }
    Ok(parts)
}

/// Splits `items` (see the module docs for the rule).
pub fn split<T>(items: Vec<T>, fractions: Fractions, seed: u64) -> Result<Splits<T>> {
    let parts = assign(items.len(), fractions, seed)?;
    let mut out = Splits::default();
    for (item, part) in items.into_iter().zip(parts) {
        match part {
            Part::Train => out.train.push(item),
            Part::Validation => out.validation.push(item),
            Part::Test => out.test.push(item),
        }
    }
    Ok(out)
}
