//! TripPy-R inputs and labels, checked by hand on the MultiWOZ 2.1 fixture.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture
mod common;

use lid_data::dialogue::multiwoz21::{load, Multiwoz21Paths};
use lid_data::trippy::{examples, SlotClass};

#[test]
fn labels_and_history_match_the_hand_computed_ones() {
    let splits = load(&Multiwoz21Paths::in_dir(&common::fixture("multiwoz21"))).unwrap();
    let d = &splits.train[0];
    let slots: Vec<String> = [
        "restaurant-area",
        "restaurant-pricerange",
        "restaurant-food",
        "restaurant-name",
        "restaurant-book people",
        "restaurant-book time",
        "restaurant-book day",
        "taxi-destination",
        "taxi-arriveby",
        "hotel-area",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let ex = examples(d, &slots);
    assert_eq!(ex.len(), 4);
    let class = |t: usize, slot: &str| ex[t].labels[slot].class;
    use SlotClass::*;
    // Turn 0: two values written by the user.
    assert_eq!(class(0, "restaurant-area"), Span);
    assert_eq!(class(0, "restaurant-pricerange"), Span);
    let (s, e) = ex[0].labels["restaurant-area"].span.unwrap();
    assert_eq!(&ex[0].user[s..e], "centre");
    assert_eq!(class(0, "restaurant-food"), None);
    assert_eq!(ex[0].labels["restaurant-food"].value, Option::None);
    // Turn 1: carried over values are `none`; a new dontcare.
    assert_eq!(class(1, "restaurant-area"), None);
    assert_eq!(
        ex[1].labels["restaurant-area"].value.as_deref(),
        Some("centre")
    );
    assert_eq!(class(1, "restaurant-food"), Dontcare);
    // Turn 2: the name the system recommended is `inform`; booking values are spans.
    assert_eq!(class(2, "restaurant-name"), Inform);
    assert_eq!(class(2, "restaurant-book people"), Span);
    assert_eq!(class(2, "restaurant-book time"), Span);
    assert_eq!(class(2, "restaurant-book day"), Span);
    assert_eq!(class(2, "restaurant-food"), None);
    // Turn 3: the destination copied from the restaurant is unpointable (TripPy's `refer`).
    assert_eq!(class(3, "taxi-destination"), None);
    assert!(ex[3].labels["taxi-destination"].unpointable);
    assert_eq!(class(3, "taxi-arriveby"), Span);
    assert_eq!(class(3, "hotel-area"), None);
    assert!(!ex[3].labels["hotel-area"].unpointable);
    // Segments: user, system, history most recent first.
    assert_eq!(ex[0].system, "");
    assert!(ex[0].history.is_empty());
    assert_eq!(ex[3].system, "Booked! Reference number is 00000021.");
    let turns = &d.turns;
    assert_eq!(
        ex[3].history,
        vec![
            turns[2].user.clone(),
            turns[2].system.clone(),
            turns[1].user.clone(),
            turns[1].system.clone(),
            turns[0].user.clone(),
        ]
    );
    assert_eq!(SlotClass::ALL.map(SlotClass::index), [0, 1, 2, 3]);
}
