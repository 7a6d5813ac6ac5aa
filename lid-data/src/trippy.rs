//! TripPy-R style inputs and span-based DST labels, built from any [`Dialogue`].
//!
//! **Inputs.** For turn t of a dialogue, TripPy-R encodes three segments:
//! `[CLS] user_t [SEP] system_t [SEP] history_t [SEP]`, where `system_t` is the system utterance
//! before the user spoke ([`Turn::system`], empty at t = 0) and the history is every earlier
//! utterance, **most recent first**: `user_{t-1}, system_{t-1}, user_{t-2}, system_{t-2}, ...,
//! user_0` (empty system utterances left out). [`TrippyExample`] keeps the segments as text; the
//! caller tokenises, truncates (TripPy-R: 180 tokens) and maps spans to tokens.
//!
//! **Labels**, per slot and turn, exactly this rule (TripPy's turn-level labels, with its
//! "carry-over as none": a slot the turn does not change is `none`, and the model keeps the
//! previous value):
//! 1. the value after the turn equals the value before it (including both absent) -> [`SlotClass::None`];
//! 2. the value was removed (absent after, present before) -> [`SlotClass::None`];
//! 3. the new value is `dontcare` -> [`SlotClass::Dontcare`];
//! 4. the new value occurs in the user utterance -> [`SlotClass::Span`] with its byte range: the
//!    turn's [`Turn::user_spans`] entry for the slot whose text equals the value (ASCII case
//!    ignored), else the first word-bounded match ([`crate::text::find_value`]);
//! 5. else the system informed that value for the slot in this turn ([`Turn::system_informed`],
//!    ASCII case ignored) -> [`SlotClass::Inform`];
//! 6. else -> [`SlotClass::None`] with [`SlotLabel::unpointable`] set (TripPy's `unpointable`:
//!    the update cannot be pointed to; TripPy trains such slots as `none`).
//!
//! TripPy's `refer` class (a value copied from another slot) and its boolean `true`/`false` classes
//! are not produced: a copied value falls to rule 4, 5 or 6, and the boolean slots hotel-parking and
//! hotel-internet are treated like any other slot.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::dialogue::{Dialogue, Turn, DONTCARE};
use crate::text::find_value;

/// The class of a slot's update in one turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SlotClass {
    /// Not updated in this turn (carried over), removed, or unpointable.
    None,
    /// Set to `dontcare`.
    Dontcare,
    /// Set to a value found in the user utterance.
    Span,
    /// Set to a value the system informed in this turn.
    Inform,
}

impl SlotClass {
    /// All classes, in index order.
    pub const ALL: [SlotClass; 4] = [
        SlotClass::None,
        SlotClass::Dontcare,
        SlotClass::Span,
        SlotClass::Inform,
    ];

    /// The class index (none 0, dontcare 1, span 2, inform 3).
    pub fn index(self) -> usize {
        match self {
            SlotClass::None => 0,
            SlotClass::Dontcare => 1,
            SlotClass::Span => 2,
            SlotClass::Inform => 3,
        }
    }
}

/// The label of one slot in one turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotLabel {
    /// The class.
    pub class: SlotClass,
    /// The slot's value in the state after the turn (`None` when absent).
    pub value: Option<String>,
    /// For [`SlotClass::Span`]: the byte range of the value in the user utterance.
    pub span: Option<(usize, usize)>,
    /// The slot was updated, but neither to `dontcare`, nor to a value in the user utterance, nor
    /// to a value the system informed (rule 6).
    pub unpointable: bool,
}

/// One TripPy-R input with its labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrippyExample {
    /// The dialogue id.
    pub dialogue_id: String,
    /// The turn index.
    pub turn: usize,
    /// The user utterance (first segment).
    pub user: String,
    /// The system utterance before it (second segment; may be empty).
    pub system: String,
    /// Earlier utterances, most recent first (third segment).
    pub history: Vec<String>,
    /// Label per slot, for every slot asked for.
    pub labels: BTreeMap<String, SlotLabel>,
    /// The state after the turn.
    pub state: BTreeMap<String, String>,
}

/// The label of `slot` for `turn`, given the state before it (see the module docs).
pub fn label(previous: &BTreeMap<String, String>, turn: &Turn, slot: &str) -> SlotLabel {
    let before = previous.get(slot);
    let after = turn.state.get(slot);
    let mut label = SlotLabel {
        class: SlotClass::None,
        value: after.cloned(),
        span: None,
        unpointable: false,
    };
    let Some(value) = after else {
        return label;
    };
    if before == Some(value) {
        return label;
    }
    if value == DONTCARE {
        label.class = SlotClass::Dontcare;
        return label;
    }
    let annotated = turn
        .user_spans
        .iter()
        .find(|s| s.slot == slot && s.value.eq_ignore_ascii_case(value))
        .map(|s| (s.start, s.end));
    if let Some(span) = annotated.or_else(|| find_value(&turn.user, value)) {
        label.class = SlotClass::Span;
        label.span = Some(span);
        return label;
    }
    if turn
        .system_informed
        .iter()
        .any(|(s, v)| s == slot && v.eq_ignore_ascii_case(value))
    {
        label.class = SlotClass::Inform;
        return label;
    }
    label.unpointable = true;
    label
}

/// The TripPy-R examples of a dialogue, one per turn, labelled for every slot of `slots`.
pub fn examples(dialogue: &Dialogue, slots: &[String]) -> Vec<TrippyExample> {
    let mut out = Vec::with_capacity(dialogue.turns.len());
    let mut previous = BTreeMap::new();
    let mut history: Vec<String> = Vec::new();
    for (t, turn) in dialogue.turns.iter().enumerate() {
        let labels = slots
            .iter()
            .map(|slot| (slot.clone(), label(&previous, turn, slot)))
            .collect();
        out.push(TrippyExample {
            dialogue_id: dialogue.id.clone(),
            turn: t,
            user: turn.user.clone(),
            system: turn.system.clone(),
            history: history.iter().rev().cloned().collect(),
            labels,
            state: turn.state.clone(),
        });
        if !turn.system.is_empty() {
            history.push(turn.system.clone());
        }
        history.push(turn.user.clone());
        previous = turn.state.clone();
    }
    out
}
