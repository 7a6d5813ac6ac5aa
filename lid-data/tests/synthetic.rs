//! Synthetic DST dialogues from the offline assets: state consistency by construction, exact
//! spans, determinism, ontology, TripPy labels, parameter errors.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture
mod common;

use std::collections::{BTreeMap, HashMap};

use lid_data::dialogue::synthetic::{generate, SyntheticConfig};
use lid_data::dialogue::DONTCARE;
use lid_data::multiwoz_templates::MultiwozTemplates;
use lid_data::trippy::{examples, SlotClass};
use lid_data::Error;

#[test]
fn states_follow_from_spans_dontcares_and_accepted_informs() {
    let Some(assets) = common::assets("convlab") else {
        return;
    };
    let templates = MultiwozTemplates::load(&assets).unwrap();
    let config = SyntheticConfig {
        dialogues: 300,
        ..Default::default()
    };
    let data = generate(&templates, &config).unwrap();
    assert_eq!(data.dialogues.len(), 300);
    assert_eq!(data.ontology.slots.len(), 28);
    assert_eq!(data.ontology.categorical_count(), 14);
    let (mut dontcares, mut accepted, mut spans) = (0, 0, 0);
    for d in &data.dialogues {
        assert!(
            d.turns.len() >= 2 && d.turns.len() <= config.max_turns,
            "{}",
            d.turns.len()
        );
        assert_eq!(d.turns[0].system, "");
        let mut previous: BTreeMap<String, String> = BTreeMap::new();
        for (t, turn) in d.turns.iter().enumerate() {
            assert!(!turn.user.is_empty());
            // Every span is exact, and is what the state now holds.
            for s in &turn.user_spans {
                assert_eq!(&turn.user[s.start..s.end], s.value, "{} turn {t}", d.id);
                assert_eq!(turn.state.get(&s.slot), Some(&s.value), "{} turn {t}", d.id);
                assert_ne!(
                    previous.get(&s.slot),
                    Some(&s.value),
                    "a span always changes the state"
                );
                spans += 1;
            }
            // Nothing is ever removed, and every change is explained by this turn.
            for slot in previous.keys() {
                assert!(
                    turn.state.contains_key(slot),
                    "{} turn {t}: {slot} removed",
                    d.id
                );
            }
            for (slot, value) in &turn.state {
                if previous.get(slot) == Some(value) {
                    continue;
                }
                if value == DONTCARE {
                    dontcares += 1;
                } else if turn
                    .user_spans
                    .iter()
                    .any(|s| &s.slot == slot && &s.value == value)
                {
                } else if turn
                    .system_informed
                    .iter()
                    .any(|(s, v)| s == slot && v == value)
                {
                    assert!(slot.ends_with("-name"), "only names are accepted: {slot}");
                    accepted += 1;
                } else {
                    panic!("{} turn {t}: {slot} = {value} unexplained", d.id);
                }
                assert!(data.ontology.slots.contains_key(slot), "{slot}");
                if value != DONTCARE {
                    assert!(
                        data.ontology.slots[slot].values.contains(value),
                        "{slot} = {value}"
                    );
                }
            }
            previous = turn.state.clone();
        }
    }
    assert!(
        dontcares > 20 && accepted > 20 && spans > 1000,
        "{dontcares} {accepted} {spans}"
    );
}

#[test]
fn generation_is_deterministic_and_trippy_labels_cover_every_class() {
    let Some(assets) = common::assets("convlab") else {
        return;
    };
    let templates = MultiwozTemplates::load(&assets).unwrap();
    let config = SyntheticConfig {
        dialogues: 100,
        seed: 7,
        ..Default::default()
    };
    let a = generate(&templates, &config).unwrap();
    let b = generate(&templates, &config).unwrap();
    assert_eq!(a, b);
    let c = generate(
        &templates,
        &SyntheticConfig {
            seed: 8,
            ..config.clone()
        },
    )
    .unwrap();
    assert_ne!(a.dialogues, c.dialogues);
    let slots: Vec<String> = a.ontology.slots.keys().cloned().collect();
    let mut counts: HashMap<SlotClass, usize> = HashMap::new();
    for d in &a.dialogues {
        for ex in examples(d, &slots) {
            for label in ex.labels.values() {
                assert!(!label.unpointable, "synthetic updates are always pointable");
                *counts.entry(label.class).or_default() += 1;
                if let Some((s, e)) = label.span {
                    assert_eq!(Some(&ex.user[s..e]), label.value.as_deref());
                }
            }
        }
    }
    for class in SlotClass::ALL {
        assert!(
            counts.get(&class).copied().unwrap_or(0) > 0,
            "{class:?}: {counts:?}"
        );
    }
}

#[test]
fn invalid_configs_are_rejected() {
    let Some(assets) = common::assets("convlab") else {
        return;
    };
    let templates = MultiwozTemplates::load(&assets).unwrap();
    for bad in [
        SyntheticConfig {
            min_domains: 0,
            ..Default::default()
        },
        SyntheticConfig {
            min_domains: 3,
            max_domains: 2,
            ..Default::default()
        },
        SyntheticConfig {
            max_turns: 1,
            ..Default::default()
        },
        SyntheticConfig {
            p_accept: 1.5,
            ..Default::default()
        },
    ] {
        assert!(matches!(
            generate(&templates, &bad),
            Err(Error::InvalidParameter { .. })
        ));
    }
    let short = generate(
        &templates,
        &SyntheticConfig {
            dialogues: 20,
            max_turns: 2,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(short.dialogues.iter().all(|d| d.turns.len() <= 2));
}
