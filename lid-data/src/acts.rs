//! Dialogue-act classification of relexicalised MultiWOZ user utterances: the offline stand-in for
//! EmoWOZ emotion recognition.
//!
//! **What it stands in for.** The paper's overfitting study trains a BERT classifier on EmoWOZ's
//! 7 emotion labels; EmoWOZ is not available offline. This task keeps the shape (user utterances of
//! MultiWOZ, one label each, a sentence classifier) but labels each utterance with the dialogue-act
//! group of its convlab template (17 user groups: `Attraction-Inform`, ..., `general-thank`), and
//! gives few training examples per class so that a classifier overfits within a CPU budget. It is a
//! different task from emotion recognition; it exists only to produce an overfitting curve offline.
//!
//! **How it is built.** Per group, templates are deduplicated by their surface text (texts found in
//! more than one group are dropped as ambiguous), shuffled (seeded), and cut: the first
//! `train_per_class` templates are training examples, the next `validation_per_class` validation
//! and the next `test_per_class` test examples. A group with fewer templates than asked keeps
//! `train_per_class` for training and shares the rest equally between validation and test (test
//! gets the odd one); a group with fewer than `train_per_class + 2` templates is an error. Each
//! template is relexicalised once ([`crate::multiwoz_templates`]), so no template (and no text)
//! is in two parts. Labels index the groups in sorted order.
//!
//! Defaults: 16 training, 64 validation and 64 test examples per class, detokenised text, seed 0:
//! 272 / 1,028 / 1,029 examples (three groups have fewer distinct templates: general-greet gives
//! 16 / 13 / 14, Taxi-Request 16 / 56 / 56, Police-Inform 16 / 63 / 63).

use std::collections::{BTreeMap, HashMap};

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::multiwoz_templates::{FixedValues, MultiwozTemplates, Relexicaliser, Template};
use crate::split::Splits;
pub use crate::text::LabelledText;
use crate::{Error, Result};

/// Settings of [`build`] (defaults in the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActsConfig {
    /// Training examples per class.
    pub train_per_class: usize,
    /// Validation examples per class (fewer when a class has too few templates).
    pub validation_per_class: usize,
    /// Test examples per class (fewer when a class has too few templates).
    pub test_per_class: usize,
    /// Detokenise the MultiWOZ tokenisation.
    pub detokenize: bool,
    /// Seed of the template order and the values.
    pub seed: u64,
}

impl Default for ActsConfig {
    fn default() -> Self {
        ActsConfig {
            train_per_class: 16,
            validation_per_class: 64,
            test_per_class: 64,
            detokenize: true,
            seed: 0,
        }
    }
}

/// The classification task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActsTask {
    /// Class names by label index (the user act groups, sorted).
    pub classes: Vec<String>,
    /// The examples; within each part, class by class.
    pub splits: Splits<LabelledText>,
}

/// Builds the task from the user templates (see the module docs).
pub fn build(templates: &MultiwozTemplates, config: &ActsConfig) -> Result<ActsTask> {
    if config.train_per_class == 0 {
        return Err(Error::parameter("train_per_class", "must be at least 1"));
    }
    let relex = Relexicaliser::new(templates.database.clone(), config.detokenize);
    // Surface text -> groups it occurs in; and the first template of each (group, text).
    let mut groups_of: HashMap<String, Vec<&str>> = HashMap::new();
    let mut by_group: BTreeMap<&str, Vec<(String, &Template)>> = BTreeMap::new();
    for t in &templates.user.templates {
        let surface = relex.surface(&t.text);
        let groups = groups_of.entry(surface.clone()).or_default();
        if groups.contains(&t.group.as_str()) {
            continue;
        }
        groups.push(&t.group);
        by_group.entry(&t.group).or_default().push((surface, t));
    }
    let classes: Vec<String> = by_group.keys().map(|g| g.to_string()).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut splits = Splits::default();
    let fixed = FixedValues::new();
    for (label, (group, entries)) in by_group.into_iter().enumerate() {
        let mut entries: Vec<&Template> = entries
            .into_iter()
            .filter(|(surface, _)| groups_of[surface].len() == 1)
            .map(|(_, t)| t)
            .collect();
        entries.shuffle(&mut rng);
        let n_train = config.train_per_class;
        if entries.len() < n_train + 2 {
            return Err(Error::NotEnoughData {
                what: format!("templates of act group {group}"),
                needed: n_train + 2,
                available: entries.len(),
            });
        }
        let rest = entries.len() - n_train;
        let (n_val, n_test) = if rest >= config.validation_per_class + config.test_per_class {
            (config.validation_per_class, config.test_per_class)
        } else {
            (rest / 2, rest - rest / 2)
        };
        let cuts = [
            (0, n_train),
            (n_train, n_train + n_val),
            (n_train + n_val, n_train + n_val + n_test),
        ];
        for ((start, end), target) in
            cuts.into_iter()
                .zip([&mut splits.train, &mut splits.validation, &mut splits.test])
        {
            for t in &entries[start..end] {
                let filled = relex.fill(t, &fixed, &mut rng)?;
                target.push(LabelledText {
                    dialogue_id: format!("{group}/{}", t.key),
                    turn: 0,
                    text: filled.text,
                    label,
                    label_name: group.to_string(),
                });
            }
        }
    }
    Ok(ActsTask { classes, splits })
}
