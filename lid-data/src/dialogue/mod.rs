//! Multi-turn task-oriented dialogues with cumulative belief states, for dialogue state tracking.
//!
//! One [`Dialogue`] type for every source: [`synthetic`] (the offline stand-in for MultiWOZ 2.1),
//! [`multiwoz21`] (the real MultiWOZ 2.1 `data.json`) and [`unified`] (ConvLab-3's unified format).
//! [`crate::trippy`] turns any of them into TripPy-R style inputs and labels.
//!
//! **Slot names** are canonical across sources: `domain-slot`, lower case, MultiWOZ 2.1 / TRADE
//! style (`hotel-pricerange`, `train-leaveat`, `train-arriveby`, `restaurant-book time`,
//! `hotel-book stay`); [`canonical_slot`] maps the spellings of each format onto them
//! (`price range` -> `pricerange`, `leaveAt`/`leave at` -> `leaveat`, book slots prefixed `book `).
//!
//! **Values**: the state holds only slots with a value; [`DONTCARE`] is the value for "the user
//! does not care". [`normalize_value`] maps the spellings of the real data (`not mentioned`, `none`,
//! empty -> no value; `dontcare`, `don't care`, `do n't care`, `dont care` -> `dontcare`).
//!
//! **Categorical slots** ([`is_categorical`]): `area`, `pricerange`, `stars`, `parking`, `internet`,
//! `day`, `book day`, `book people`, `book stay` of any domain, and `hotel-type`; every other slot
//! (names, food, attraction type, times, departure, destination) is non-categorical. This follows
//! ConvLab-3's MultiWOZ 2.1 ontology, which the [`unified`] reader uses instead when the data ships
//! an `ontology.json`.

pub mod multiwoz21;
pub mod synthetic;
pub mod unified;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::multiwoz_templates::{Domain, SlotCode};
use crate::text::SlotSpan;

/// The value of a slot the user does not care about.
pub const DONTCARE: &str = "dontcare";

/// One turn: the system utterance, then the user's answer, and the state after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    /// The system utterance before the user speaks (empty at turn 0).
    pub system: String,
    /// The user utterance.
    pub user: String,
    /// Where the values of this turn's state updates appear in `user` (byte offsets,
    /// `&user[start..end] == value`); slot names canonical.
    pub user_spans: Vec<SlotSpan>,
    /// (slot, value) pairs the system utterance offered or informed, slot names canonical.
    pub system_informed: Vec<(String, String)>,
    /// The cumulative belief state after this turn: canonical slot -> value or [`DONTCARE`].
    pub state: BTreeMap<String, String>,
}

/// A dialogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dialogue {
    /// Its id (`PMUL1234.json`, `multiwoz21-train-0`, `synthetic-00000`, ...).
    pub id: String,
    /// Its turns, in order.
    pub turns: Vec<Turn>,
}

/// What the ontology knows about one slot.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SlotInfo {
    /// Whether the slot takes values from a closed list (see [`is_categorical`]).
    pub categorical: bool,
    /// Its values, sorted (the closed list for categorical slots; the known values otherwise).
    pub values: Vec<String>,
}

/// The slots of a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Ontology {
    /// Canonical slot name -> its description.
    pub slots: BTreeMap<String, SlotInfo>,
}

impl Ontology {
    /// The ontology observed in dialogues: every slot of any state, categorical by
    /// [`is_categorical`], values the sorted distinct values seen (without [`DONTCARE`]).
    pub fn from_dialogues(dialogues: &[Dialogue]) -> Ontology {
        let mut slots: BTreeMap<String, SlotInfo> = BTreeMap::new();
        for turn in dialogues.iter().flat_map(|d| &d.turns) {
            for (slot, value) in &turn.state {
                let info = slots.entry(slot.clone()).or_insert_with(|| SlotInfo {
                    categorical: is_categorical(slot),
                    values: Vec::new(),
                });
                if value != DONTCARE {
                    info.values.push(value.clone());
                }
            }
        }
        for info in slots.values_mut() {
            info.values.sort();
            info.values.dedup();
        }
        Ontology { slots }
    }

    /// The slot names, sorted.
    pub fn slot_names(&self) -> Vec<&str> {
        self.slots.keys().map(String::as_str).collect()
    }

    /// How many slots are categorical.
    pub fn categorical_count(&self) -> usize {
        self.slots.values().filter(|s| s.categorical).count()
    }
}

/// Whether a canonical slot is categorical (see the module docs).
pub fn is_categorical(slot: &str) -> bool {
    let Some((domain, name)) = slot.split_once('-') else {
        return false;
    };
    matches!(
        name,
        "area"
            | "pricerange"
            | "stars"
            | "parking"
            | "internet"
            | "day"
            | "book day"
            | "book people"
            | "book stay"
    ) || (domain == "hotel" && name == "type")
}

/// The canonical name of `slot` of `domain` in any source's spelling (see the module docs).
/// `book` marks slots that come from a booking section (MultiWOZ 2.1 `metadata.*.book`).
pub fn canonical_slot(domain: &str, slot: &str, book: bool) -> String {
    let domain = domain.trim().to_lowercase();
    let mut name = slot.trim().to_lowercase();
    if let Some(rest) = name.strip_prefix("book") {
        name = format!("book {}", rest.trim_start_matches(['_', ' ', '-']));
    } else if book {
        name = format!("book {name}");
    }
    let name = match name.as_str() {
        "price range" | "price" => "pricerange".to_string(),
        "leave at" | "leave" => "leaveat".to_string(),
        "arrive by" | "arrive" => "arriveby".to_string(),
        "dest" => "destination".to_string(),
        "depart" => "departure".to_string(),
        _ => name,
    };
    format!("{domain}-{name}")
}

/// Maps the spellings of "no value" to `None` and of "don't care" to [`DONTCARE`]; trims and
/// otherwise keeps the value (see the module docs).
pub fn normalize_value(value: &str) -> Option<String> {
    let v = value.trim();
    match v.to_lowercase().as_str() {
        "" | "not mentioned" | "none" => None,
        "dontcare" | "don't care" | "do n't care" | "dont care" | "do not care" => {
            Some(DONTCARE.to_string())
        }
        _ => Some(v.to_string()),
    }
}

/// The canonical state slot of a template (domain, slot code), or `None` when the pair is not a
/// belief-state slot (addresses, phones, references, ...). `Booking` acts name no domain; they map
/// through `booking_domain` (the domain being booked).
pub fn state_slot(
    domain: Domain,
    code: SlotCode,
    booking_domain: Option<Domain>,
) -> Option<String> {
    use Domain as D;
    use SlotCode as S;
    let domain = match domain {
        D::Booking => booking_domain?,
        d => d,
    };
    let name = match (domain, code) {
        (D::Restaurant | D::Hotel | D::Attraction, S::Area) => "area",
        (D::Restaurant | D::Hotel | D::Attraction, S::Name) => "name",
        (D::Restaurant, S::Food) => "food",
        (D::Restaurant | D::Hotel, S::Price) => "pricerange",
        (D::Restaurant | D::Hotel, S::Day) => "book day",
        (D::Restaurant | D::Hotel | D::Train, S::People) => "book people",
        (D::Restaurant, S::Time) => "book time",
        (D::Hotel, S::Stay) => "book stay",
        (D::Hotel, S::Stars) => "stars",
        (D::Hotel | D::Attraction, S::Type) => "type",
        (D::Hotel, S::Internet) => "internet",
        (D::Hotel, S::Parking) => "parking",
        (D::Train, S::Day) => "day",
        (D::Train | D::Taxi, S::Depart) => "departure",
        (D::Train | D::Taxi, S::Dest) => "destination",
        (D::Train | D::Taxi, S::Leave) => "leaveat",
        (D::Train | D::Taxi, S::Arrive) => "arriveby",
        (D::Hospital, S::Department) => "department",
        _ => return None,
    };
    Some(format!("{}-{name}", domain.name()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_names_agree_across_formats() {
        assert_eq!(
            canonical_slot("Hotel", "pricerange", false),
            "hotel-pricerange"
        );
        assert_eq!(
            canonical_slot("hotel", "price range", false),
            "hotel-pricerange"
        );
        assert_eq!(canonical_slot("train", "leaveAt", false), "train-leaveat");
        assert_eq!(canonical_slot("train", "leave at", false), "train-leaveat");
        assert_eq!(canonical_slot("train", "arriveBy", false), "train-arriveby");
        assert_eq!(canonical_slot("hotel", "people", true), "hotel-book people");
        assert_eq!(
            canonical_slot("hotel", "book people", false),
            "hotel-book people"
        );
        assert_eq!(
            canonical_slot("restaurant", "book_time", false),
            "restaurant-book time"
        );
        assert_eq!(
            state_slot(Domain::Booking, SlotCode::Stay, Some(Domain::Hotel)).as_deref(),
            Some("hotel-book stay")
        );
        assert!(is_categorical("hotel-type"));
        assert!(!is_categorical("attraction-type"));
        assert!(is_categorical("train-book people"));
        assert!(!is_categorical("restaurant-book time"));
    }

    #[test]
    fn values_normalise() {
        assert_eq!(normalize_value("not mentioned"), None);
        assert_eq!(normalize_value(""), None);
        assert_eq!(normalize_value("do n't care").as_deref(), Some(DONTCARE));
        assert_eq!(normalize_value("don't care").as_deref(), Some(DONTCARE));
        assert_eq!(normalize_value(" cheap ").as_deref(), Some("cheap"));
    }
}
