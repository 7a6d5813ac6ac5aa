//! The ConvLab-3 unified-format reader on a hand-written fixture, and its errors.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture
mod common;

use lid_data::dialogue::unified::load;
use lid_data::dialogue::DONTCARE;
use lid_data::Error;

#[test]
fn fixture_turns_states_spans_and_ontology() {
    let data = load(&common::fixture("unified")).unwrap();
    let s = &data.splits;
    assert_eq!((s.train.len(), s.validation.len(), s.test.len()), (1, 1, 1));
    let d = &s.train[0];
    assert_eq!(d.id, "multiwoz21-train-0");
    assert_eq!(d.turns.len(), 2);
    let t0 = &d.turns[0];
    assert_eq!(t0.system, "");
    assert_eq!(t0.state["restaurant-pricerange"], "moderate");
    assert_eq!(t0.state["restaurant-area"], "west");
    assert_eq!(t0.state.len(), 2, "empty values are no value");
    // `moderate` is not written as such ("moderately"): only `west` has a span.
    assert_eq!(t0.user_spans.len(), 1);
    assert_eq!(t0.user_spans[0].value, "west");
    let t1 = &d.turns[1];
    assert_eq!(t1.system, "Prezzo is a nice italian place there.");
    assert_eq!(
        t1.system_informed,
        vec![
            ("restaurant-name".to_string(), "prezzo".to_string()),
            ("restaurant-food".to_string(), "italian".to_string())
        ]
    );
    let spans: Vec<(&str, &str)> = t1
        .user_spans
        .iter()
        .map(|s| (s.slot.as_str(), s.value.as_str()))
        .collect();
    assert_eq!(
        spans,
        vec![
            ("restaurant-book day", "sunday"),
            ("restaurant-book people", "4"),
            ("restaurant-book time", "12:00"),
            ("restaurant-name", "Prezzo"),
        ]
    );
    for sp in &t1.user_spans {
        assert_eq!(&t1.user[sp.start..sp.end], sp.value);
    }
    // Non-ASCII text: the act's character offsets become byte offsets.
    let v = &s.validation[0].turns[0];
    assert_eq!(v.state["restaurant-pricerange"], DONTCARE);
    let name = &v.user_spans[0];
    assert_eq!(name.value, "Café Uno");
    assert_eq!(&v.user[name.start..name.end], "Café Uno");
    assert_eq!(name.char_range(&v.user), Some(20..28));

    let ontology = data.ontology.unwrap();
    assert_eq!(ontology.slots.len(), 5);
    assert!(ontology.slots["restaurant-pricerange"].categorical);
    assert!(!ontology.slots["restaurant-name"].categorical);
    assert_eq!(ontology.slots["hotel-stars"].values.len(), 6);
}

#[test]
fn malformed_dialogues_name_file_dialogue_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(common::fixture("unified/dialogues.json")).unwrap();
    let path = dir.path().join("dialogues.json");
    std::fs::write(
        &path,
        text.replacen("\"data_split\": \"test\"", "\"data_split\": \"dev-2\"", 1),
    )
    .unwrap();
    match load(dir.path()) {
        Err(Error::Malformed {
            path: p,
            record,
            field,
            problem,
        }) => {
            assert_eq!(p, path);
            assert_eq!(record, "dialogue multiwoz21-test-0");
            assert_eq!(field, "data_split");
            assert!(problem.contains("dev-2"));
        }
        other => panic!("{other:?}"),
    }
    std::fs::write(
        &path,
        text.replacen("\"speaker\": \"user\"", "\"speaker\": \"usr\"", 1),
    )
    .unwrap();
    let err = load(dir.path()).unwrap_err();
    assert!(
        matches!(&err, Error::Malformed { field, .. } if field == "turns[0].speaker"),
        "{err}"
    );
    // A user turn without a state.
    let bad = text.replacen("\"state\": {", "\"stat\": {", 1);
    std::fs::write(&path, bad).unwrap();
    let err = load(dir.path()).unwrap_err();
    assert!(
        matches!(&err, Error::Malformed { record, field, .. } if record == "dialogue multiwoz21-train-0" && field == "turns[0].state"),
        "{err}"
    );
    assert!(data_is_absent_without_ontology(dir.path()));
}

fn data_is_absent_without_ontology(dir: &std::path::Path) -> bool {
    let text = std::fs::read_to_string(common::fixture("unified/dialogues.json")).unwrap();
    std::fs::write(dir.join("dialogues.json"), text).unwrap();
    load(dir).unwrap().ontology.is_none()
}
