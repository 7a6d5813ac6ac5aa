//! The MultiWOZ 2.1 reader on a hand-written fixture, and its errors.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture
mod common;

use std::collections::BTreeMap;

use lid_data::dialogue::multiwoz21::{load, Multiwoz21Paths};
use lid_data::dialogue::DONTCARE;
use lid_data::Error;

fn state(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn fixture_splits_states_spans_and_informs() {
    let splits = load(&Multiwoz21Paths::in_dir(&common::fixture("multiwoz21"))).unwrap();
    assert_eq!(splits.train.len(), 1);
    assert_eq!(splits.validation[0].id, "SNG0002.json");
    assert_eq!(splits.test[0].id, "MUL0003.json");
    let d = &splits.train[0];
    assert_eq!(d.id, "PMUL0001.json");
    assert_eq!(
        d.turns.len(),
        4,
        "the last user item has no system reply and is dropped"
    );
    let t0 = &d.turns[0];
    assert_eq!(t0.system, "");
    assert_eq!(
        t0.state,
        state(&[
            ("restaurant-area", "centre"),
            ("restaurant-pricerange", "cheap")
        ])
    );
    for s in &t0.user_spans {
        assert_eq!(&t0.user[s.start..s.end], s.value);
    }
    assert_eq!(t0.user_spans.len(), 2);
    let t1 = &d.turns[1];
    assert_eq!(
        t1.system,
        "There are 15 cheap restaurants in the centre. Do you have a food preference?"
    );
    assert_eq!(t1.state["restaurant-food"], DONTCARE);
    assert!(t1.user_spans.is_empty());
    assert_eq!(
        t1.system_informed,
        vec![
            ("restaurant-pricerange".to_string(), "cheap".to_string()),
            ("restaurant-area".to_string(), "centre".to_string())
        ]
    );
    let t2 = &d.turns[2];
    assert_eq!(t2.state["restaurant-book people"], "2");
    assert_eq!(t2.state["restaurant-book time"], "18:30");
    assert_eq!(t2.state["restaurant-name"], "dojo noodle bar");
    let slots: Vec<&str> = t2.user_spans.iter().map(|s| s.slot.as_str()).collect();
    assert_eq!(
        slots,
        vec![
            "restaurant-book day",
            "restaurant-book people",
            "restaurant-book time"
        ]
    );
    assert_eq!(
        t2.system_informed,
        vec![("restaurant-name".to_string(), "dojo noodle bar".to_string())]
    );
    let t3 = &d.turns[3];
    assert!(
        t3.system_informed.is_empty(),
        "Booking-* acts name no domain"
    );
    assert_eq!(t3.state["taxi-destination"], "dojo noodle bar");
    assert_eq!(t3.user_spans.len(), 1);
    assert_eq!(t3.user_spans[0].slot, "taxi-arriveby");

    let train = &splits.test[0];
    assert_eq!(
        train.turns[0]
            .user_spans
            .iter()
            .find(|s| s.slot == "train-day")
            .unwrap()
            .value,
        "Monday"
    );
    assert_eq!(
        train.turns[1].state["train-arriveby"], DONTCARE,
        "`do n't care` normalised"
    );
    assert_eq!(train.turns[1].state["train-leaveat"], "09:00");
}

fn copy_fixture(dir: &std::path::Path) {
    for f in ["data.json", "valListFile.txt", "testListFile.txt"] {
        std::fs::copy(common::fixture("multiwoz21").join(f), dir.join(f)).unwrap();
    }
}

#[test]
fn malformed_data_names_file_dialogue_and_field() {
    let dir = tempfile::tempdir().unwrap();
    copy_fixture(dir.path());
    let data = dir.path().join("data.json");
    let text = std::fs::read_to_string(&data).unwrap();
    // A number where a slot value must be a string.
    let bad = text.replacen("\"pricerange\": \"cheap\"", "\"pricerange\": 3", 1);
    std::fs::write(&data, bad).unwrap();
    match load(&Multiwoz21Paths::in_dir(dir.path())) {
        Err(Error::Malformed {
            path,
            record,
            field,
            ..
        }) => {
            assert_eq!(path, data);
            assert_eq!(record, "dialogue PMUL0001.json");
            assert_eq!(field, "log[1].metadata.restaurant.semi.pricerange");
        }
        other => panic!("{other:?}"),
    }
    // A log item without text.
    let bad = text.replacen(
        "\"text\": \"How about acorn guest house?\"",
        "\"txt\": \"x\"",
        1,
    );
    std::fs::write(&data, bad).unwrap();
    let err = load(&Multiwoz21Paths::in_dir(dir.path())).unwrap_err();
    assert!(
        matches!(&err, Error::Malformed { record, field, .. } if record == "dialogue SNG0002.json" && field == "log[1].text"),
        "{err}"
    );
    assert!(err.to_string().contains("data.json"));
    // Missing list file.
    std::fs::write(&data, text).unwrap();
    std::fs::remove_file(dir.path().join("testListFile.txt")).unwrap();
    assert!(matches!(
        load(&Multiwoz21Paths::in_dir(dir.path())),
        Err(Error::Io { .. })
    ));
}
