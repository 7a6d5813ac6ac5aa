//! Seeded splits: determinism, disjointness, coverage, sizes, parameter errors.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture
use lid_data::split::{assign, split, Fractions, Part};
use lid_data::Error;

#[test]
fn splits_are_deterministic_disjoint_and_cover_everything() {
    let items: Vec<usize> = (0..1003).collect();
    let f = Fractions {
        train: 0.7,
        validation: 0.2,
    };
    let a = split(items.clone(), f, 778).unwrap();
    let b = split(items.clone(), f, 778).unwrap();
    let c = split(items.clone(), f, 779).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(a.train.len(), 702);
    assert_eq!(a.validation.len(), 200);
    assert_eq!(a.test.len(), 101);
    let mut all: Vec<usize> = a
        .train
        .iter()
        .chain(&a.validation)
        .chain(&a.test)
        .copied()
        .collect();
    all.sort();
    assert_eq!(all, items, "each item exactly once");
    // Original relative order kept inside each part.
    for part in Part::ALL {
        assert!(
            a.part(part).windows(2).all(|w| w[0] < w[1]),
            "{}",
            part.name()
        );
    }
    assert_eq!(
        assign(1003, f, 778)
            .unwrap()
            .iter()
            .filter(|p| **p == Part::Test)
            .count(),
        101
    );
}

#[test]
fn edge_fractions_and_errors() {
    let s = split(
        vec!['a', 'b', 'c'],
        Fractions {
            train: 1.0,
            validation: 0.0,
        },
        0,
    )
    .unwrap();
    assert_eq!((s.train.len(), s.validation.len(), s.test.len()), (3, 0, 0));
    let s = split(Vec::<u8>::new(), Fractions::default(), 0).unwrap();
    assert!(s.is_empty());
    for bad in [
        Fractions {
            train: 1.2,
            validation: 0.0,
        },
        Fractions {
            train: 0.5,
            validation: -0.1,
        },
        Fractions {
            train: 0.6,
            validation: 0.5,
        },
    ] {
        assert!(
            matches!(split(vec![1], bad, 0), Err(Error::InvalidParameter { .. })),
            "{bad:?}"
        );
    }
}

/// Repeated texts must not reach both the measured (test) part and the training or validation part:
/// relexicalised templates repeat `Thank you.` hundreds of times.
#[test]
fn hold_out_test_removes_every_test_text_from_train_and_validation() {
    let texts: Vec<String> = (0..600)
        .map(|i| match i % 3 {
            0 => format!("unique {i}"),
            1 => "Thank you.".to_string(),
            _ => format!("repeated {}", i % 7),
        })
        .collect();
    let f = Fractions {
        train: 0.8,
        validation: 0.1,
    };
    let mut s = split(texts, f, 0).unwrap();
    let before = s.clone();
    let held = s.hold_out_test(|t| t.as_str());
    assert_eq!(s.test, before.test, "the test part is unchanged");
    for text in &s.test {
        assert!(!s.train.contains(text), "{text} in train");
        assert!(!s.validation.contains(text), "{text} in validation");
    }
    assert_eq!(held.train_removed, before.train.len() - s.train.len());
    assert_eq!(
        held.validation_removed,
        before.validation.len() - s.validation.len()
    );
    assert!(held.train_removed > 100, "{held:?}");
    // What stays keeps its order, and every unique text stays.
    let kept: Vec<&String> = before
        .train
        .iter()
        .filter(|t| !before.test.contains(t))
        .collect();
    assert_eq!(s.train.iter().collect::<Vec<_>>(), kept);
    assert!(s.train.iter().filter(|t| t.starts_with("unique")).count() > 150);
}
