//! The dialogue-act classification stand-in: classes, sizes, disjoint parts, determinism.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture
mod common;

use std::collections::HashSet;

use lid_data::acts::{build, ActsConfig};
use lid_data::multiwoz_templates::MultiwozTemplates;
use lid_data::Error;

#[test]
fn seventeen_classes_few_train_examples_disjoint_parts() {
    let Some(assets) = common::assets("convlab") else {
        return;
    };
    let templates = MultiwozTemplates::load(&assets).unwrap();
    let task = build(&templates, &ActsConfig::default()).unwrap();
    assert_eq!(task.classes.len(), 17);
    let s = &task.splits;
    assert_eq!(s.train.len(), 17 * 16);
    // Classes with few distinct templates share what is left after training equally.
    assert_eq!(s.validation.len(), 1028);
    assert_eq!(s.test.len(), 1029);
    for c in 0..17 {
        let count =
            |part: &Vec<lid_data::LabelledText>| part.iter().filter(|t| t.label == c).count();
        assert_eq!(count(&s.train), 16);
        let (v, t) = (count(&s.validation), count(&s.test));
        assert!(
            (13..=64).contains(&v) && (t == v || t == v + 1),
            "{}: {v} {t}",
            task.classes[c]
        );
    }
    let greet = task
        .classes
        .iter()
        .position(|c| c == "general-greet")
        .unwrap();
    assert_eq!(s.validation.iter().filter(|t| t.label == greet).count(), 13);
    for t in s.train.iter().chain(&s.validation).chain(&s.test) {
        assert_eq!(task.classes[t.label], t.label_name);
        assert!(!t.text.contains('#') || t.text.contains(" #"));
    }
    let train: HashSet<&str> = s.train.iter().map(|t| t.text.as_str()).collect();
    let test: HashSet<&str> = s.test.iter().map(|t| t.text.as_str()).collect();
    assert!(train.is_disjoint(&test));
    assert!(s
        .validation
        .iter()
        .all(|t| !train.contains(t.text.as_str())));
    assert_eq!(task, build(&templates, &ActsConfig::default()).unwrap());
    let other = build(
        &templates,
        &ActsConfig {
            seed: 1,
            ..Default::default()
        },
    )
    .unwrap();
    assert_ne!(task.splits.train, other.splits.train);
    assert!(matches!(
        build(
            &templates,
            &ActsConfig {
                train_per_class: 0,
                ..Default::default()
            }
        ),
        Err(Error::InvalidParameter { .. })
    ));
    assert!(matches!(
        build(
            &templates,
            &ActsConfig {
                train_per_class: 44,
                ..Default::default()
            }
        ),
        Err(Error::NotEnoughData { .. })
    ));
}
