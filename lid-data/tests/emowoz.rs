//! The EmoWOZ reader on hand-written fixtures, and its errors.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture
mod common;

use lid_data::emowoz::{load, EmowozPaths, EMOTIONS};
use lid_data::Error;

#[test]
fn fixture_user_turns_with_final_labels_per_split() {
    let s = load(&EmowozPaths::in_dir(&common::fixture("emowoz"))).unwrap();
    let rows: Vec<(&str, usize, usize)> = s
        .train
        .iter()
        .map(|t| (t.dialogue_id.as_str(), t.turn, t.label))
        .collect();
    // The final annotation wins; without annotator ids the last entry is the final one.
    // Sources of a split in alphabetical order (dialmage, multiwoz), ids in file order.
    assert_eq!(
        rows,
        vec![
            ("DMAGE001.json", 0, 2),
            ("PMUL0001.json", 0, 0),
            ("PMUL0001.json", 2, 6)
        ]
    );
    assert_eq!(s.train[2].label_name, "satisfied/liking");
    assert_eq!(s.train[2].text, "That sounds perfect, thank you so much!");
    assert_eq!(s.validation.len(), 1);
    assert_eq!(s.validation[0].label_name, "apologetic");
    assert_eq!(s.test[0].label, 1);
    assert_eq!(EMOTIONS.len(), 7);
}

fn copy(dir: &std::path::Path) {
    for f in [
        "emowoz-multiwoz.json",
        "emowoz-dialmage.json",
        "data-split.json",
    ] {
        std::fs::copy(common::fixture("emowoz").join(f), dir.join(f)).unwrap();
    }
}

#[test]
fn malformed_labels_and_splits_are_named() {
    let dir = tempfile::tempdir().unwrap();
    copy(dir.path());
    let path = dir.path().join("emowoz-multiwoz.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let bad = text.replace("\"emotion\": 1,", "\"emotion\": 9,");
    assert_ne!(bad, text);
    std::fs::write(&path, &bad).unwrap();
    match load(&EmowozPaths::in_dir(dir.path())) {
        Err(Error::Malformed {
            path: p,
            record,
            field,
            problem,
        }) => {
            assert_eq!(p, path);
            assert_eq!(record, "dialogue MUL0003.json");
            assert_eq!(field, "log[0].emotion[3].emotion");
            assert!(problem.contains('9'));
        }
        other => panic!("{other:?}"),
    }
    std::fs::write(
        &path,
        text.replacen(
            "\"text\": \"Sorry, I gave you the wrong day.\"",
            "\"text\": 5",
            1,
        ),
    )
    .unwrap();
    let err = load(&EmowozPaths::in_dir(dir.path())).unwrap_err();
    assert!(
        matches!(&err, Error::Malformed { field, .. } if field == "log[0].text"),
        "{err}"
    );
    std::fs::write(&path, &text).unwrap();
    let split = dir.path().join("data-split.json");
    std::fs::write(&split, r#"{"train": {"multiwoz": ["PMUL9999.json"]}}"#).unwrap();
    let err = load(&EmowozPaths::in_dir(dir.path())).unwrap_err();
    assert!(err.to_string().contains("PMUL9999.json"), "{err}");
    std::fs::write(
        &split,
        r#"{"train": ["PMUL0001.json"], "test": ["MUL0003"]}"#,
    )
    .unwrap();
    let s = load(&EmowozPaths::in_dir(dir.path())).unwrap();
    assert_eq!((s.train.len(), s.validation.len(), s.test.len()), (2, 0, 1));
}
