//! TripPy-style dialogue state tracking on lid-train: turn inputs with span labels, the training
//! task, and joint goal accuracy.
//!
//! Inputs are lid-data's TripPy-R turn inputs rendered as the checkpoint-series probe renders them
//! (`user SEP system SEP history`, [`crate::studies::series::data::ProbeText::render`]), so the LID
//! of a checkpoint is measured on exactly what the tracker reads. Labels per slot: lid-data's
//! TripPy classes (none, dontcare, span, inform; [`lid_data::trippy`]) with the span's byte range in
//! the user segment mapped to its first and last token (a span cut off by truncation is trained as
//! none, as TripPy treats unpointable values).
//!
//! Prediction, turn by turn through a dialogue, starting from the empty state: for each slot, gate
//! none keeps the previous value, dontcare sets `dontcare`, span sets the text of the predicted
//! tokens of the user turn (from the tokenizer's byte offsets), inform sets the value the system
//! informed for that slot in this turn (kept when it informed none). **Joint goal accuracy** is the
//! fraction of turns whose predicted state equals the gold state on every slot (values compared
//! case-insensitively after trimming), the metric of the paper's DST study.

use std::collections::BTreeMap;

use lid_data::dialogue::{Dialogue, DONTCARE};
use lid_data::trippy::{self, SlotClass};
use lid_embed::TextTokenizer;
use lid_train::data::{pack, Sequence};
use lid_train::dst::{SpanTrackerHead, TurnLabels, TurnPrediction};
use lid_train::heads::HeadOutput;
use lid_train::model::{Mode, Model};
use lid_train::params::Grads;
use lid_train::tasks::forward_backward;
use lid_train::train::{StepLoss, Task, Workspace};

use crate::error::Result;
use crate::studies::series::data::ProbeText;

/// The gate classes, in head order.
pub const CLASSES: [SlotClass; 4] = SlotClass::ALL;

/// One encoded turn.
#[derive(Debug, Clone)]
pub struct TurnExample {
    /// Index of its dialogue in the split.
    pub dialogue: usize,
    /// The tokens.
    pub sequence: Sequence,
    /// Byte offsets of the tokens in the rendered text.
    pub offsets: Vec<(usize, usize)>,
    /// Tokens a span may use (the user segment).
    pub allowed: Vec<bool>,
    /// Training labels.
    pub labels: TurnLabels,
    /// The user utterance.
    pub user: String,
    /// What the system informed this turn (slot, value).
    pub informed: Vec<(String, String)>,
    /// The gold state after the turn.
    pub state: BTreeMap<String, String>,
    /// Slots whose span was cut off by truncation (trained as none).
    pub lost_spans: usize,
}

/// Encodes every turn of `dialogues` for the tracker over `slots`.
///
/// # Errors
/// Tokenizer failures.
pub fn encode(
    dialogues: &[Dialogue],
    slots: &[String],
    tokenizer: &TextTokenizer,
    separator: &str,
) -> Result<Vec<TurnExample>> {
    let mut out = Vec::new();
    for (d, dialogue) in dialogues.iter().enumerate() {
        let examples = trippy::examples(dialogue, slots);
        let texts: Vec<String> = examples
            .iter()
            .map(|e| {
                ProbeText::Turn {
                    user: e.user.clone(),
                    system: e.system.clone(),
                    history: e.history.clone(),
                }
                .render(separator)
            })
            .collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let encoded = tokenizer.encode_batch(&refs)?;
        for ((e, enc), turn) in examples.into_iter().zip(encoded).zip(&dialogue.turns) {
            let user_end = e.user.len();
            let allowed: Vec<bool> = enc
                .offsets
                .iter()
                .zip(&enc.special)
                .map(|(&(a, b), &s)| !s && b > a && b <= user_end)
                .collect();
            let mut gates = Vec::with_capacity(slots.len());
            let mut spans = Vec::with_capacity(slots.len());
            let mut lost = 0;
            for slot in slots {
                let label = &e.labels[slot];
                let (gate, span) = match (label.class, label.span) {
                    (SlotClass::Span, Some((a, b))) => {
                        match token_span(&enc.offsets, &allowed, a, b) {
                            Some(s) => (SlotClass::Span, Some(s)),
                            None => {
                                lost += 1;
                                (SlotClass::None, None)
                            }
                        }
                    }
                    (class, _) => (class, None),
                };
                gates.push(gate.index() as u32);
                spans.push(span);
            }
            out.push(TurnExample {
                dialogue: d,
                sequence: Sequence::from_encoded(&enc),
                offsets: enc.offsets,
                allowed,
                labels: TurnLabels { gates, spans },
                user: e.user,
                informed: turn.system_informed.clone(),
                state: e.state,
                lost_spans: lost,
            });
        }
    }
    Ok(out)
}

/// The first and last allowed token covering bytes `a..b`.
fn token_span(
    offsets: &[(usize, usize)],
    allowed: &[bool],
    a: usize,
    b: usize,
) -> Option<(u32, u32)> {
    let start = offsets
        .iter()
        .zip(allowed)
        .position(|(&(s, e), &ok)| ok && s <= a && a < e)?;
    let end = offsets
        .iter()
        .zip(allowed)
        .rposition(|(&(s, e), &ok)| ok && s < b && b <= e)?;
    (start <= end).then_some((start as u32, end as u32))
}

/// Applies one turn's predictions to the previous state.
pub fn apply(
    previous: &BTreeMap<String, String>,
    slots: &[String],
    example: &TurnExample,
    prediction: &TurnPrediction,
) -> BTreeMap<String, String> {
    let mut state = previous.clone();
    for (s, slot) in slots.iter().enumerate() {
        match CLASSES[prediction.gates[s] as usize] {
            SlotClass::None => {}
            SlotClass::Dontcare => {
                state.insert(slot.clone(), DONTCARE.to_string());
            }
            SlotClass::Span => {
                if let Some((a, b)) = prediction.spans[s] {
                    let (start, end) =
                        (example.offsets[a as usize].0, example.offsets[b as usize].1);
                    if let Some(text) = example.user.get(start..end) {
                        state.insert(slot.clone(), text.to_string());
                    }
                }
            }
            SlotClass::Inform => {
                if let Some((_, v)) = example.informed.iter().find(|(k, _)| k == slot) {
                    state.insert(slot.clone(), v.clone());
                }
            }
        }
    }
    state
}

/// Whether two states agree on every slot (values compared case-insensitively, trimmed).
pub fn same_state(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> bool {
    a.len() == b.len() && a.iter().all(|(k, v)| same_value(Some(v), b.get(k)))
}

/// Whether two optional slot values agree: both absent, or equal case-insensitively after
/// trimming (the comparison of [`same_state`], slot by slot).
fn same_value(a: Option<&String>, b: Option<&String>) -> bool {
    let norm = |v: Option<&String>| v.map(|v| v.trim().to_lowercase());
    norm(a) == norm(b)
}

/// Joint goal accuracy of predicted states against gold states, turn by turn (`predicted[i]`
/// for turn `i`).
pub fn joint_goal_accuracy(
    predicted: &[BTreeMap<String, String>],
    gold: &[BTreeMap<String, String>],
) -> f64 {
    if gold.is_empty() {
        return 0.0;
    }
    predicted
        .iter()
        .zip(gold)
        .filter(|(p, g)| same_state(p, g))
        .count() as f64
        / gold.len() as f64
}

/// The joint goal accuracy a tracker that predicts every label right would reach on `examples`
/// (dialogues in order): the gold gates and spans applied turn by turn from the empty state as
/// [`apply`] applies predictions. It is below 1 where the labels cannot produce the gold state: a
/// value that is no span of the user turn and was not informed by the system, a span cut off by
/// truncation (trained as none), and every later turn of the dialogue that carries the miss. One
/// minus it is the share of turns no prediction of this tracker can get right.
pub fn jga_ceiling(examples: &[TurnExample], slots: &[String]) -> f64 {
    let mut state = BTreeMap::new();
    let mut last_dialogue = usize::MAX;
    let mut predicted = Vec::with_capacity(examples.len());
    for e in examples {
        if e.dialogue != last_dialogue {
            state = BTreeMap::new();
            last_dialogue = e.dialogue;
        }
        let oracle = TurnPrediction {
            gates: e.labels.gates.clone(),
            spans: e.labels.spans.clone(),
        };
        state = apply(&state, slots, e, &oracle);
        predicted.push(state.clone());
    }
    let gold: Vec<BTreeMap<String, String>> = examples.iter().map(|e| e.state.clone()).collect();
    joint_goal_accuracy(&predicted, &gold)
}

/// The tracker as a lid-train task.
pub struct DstTask {
    /// The head.
    pub head: SpanTrackerHead,
    /// Slots, in head order.
    pub slots: Vec<String>,
    /// Training turns.
    pub train: Vec<TurnExample>,
    /// Validation turns, dialogues in order.
    pub eval: Vec<TurnExample>,
}

const EVAL_BATCH: usize = 32;

impl DstTask {
    /// Loss, joint goal accuracy and gate diagnostics on `examples` (dialogues in order).
    ///
    /// # Errors
    /// Model errors.
    pub fn score(
        &self,
        model: &Model,
        ws: &mut Workspace,
        examples: &[TurnExample],
    ) -> lid_train::Result<Scores> {
        let mut total = HeadOutput::default();
        let mut predictions = Vec::with_capacity(examples.len());
        for chunk in examples.chunks(EVAL_BATCH) {
            let batch = pack(chunk.iter().map(|e| &e.sequence));
            let labels: Vec<TurnLabels> = chunk.iter().map(|e| e.labels.clone()).collect();
            let allowed: Vec<Vec<bool>> = chunk.iter().map(|e| e.allowed.clone()).collect();
            let mut preds = Vec::new();
            total.merge(forward_backward(
                model,
                ws,
                &batch,
                Mode::Eval,
                None,
                |h, _| {
                    let (out, p) = self.head.run(
                        model,
                        h,
                        &batch,
                        Some(&labels),
                        &allowed,
                        Mode::Eval,
                        None,
                    )?;
                    preds = p;
                    Ok(out)
                },
            )?);
            predictions.extend(preds);
        }
        let mut state = BTreeMap::new();
        let mut last_dialogue = usize::MAX;
        let mut predicted = Vec::with_capacity(examples.len());
        for (e, p) in examples.iter().zip(&predictions) {
            if e.dialogue != last_dialogue {
                state = BTreeMap::new();
                last_dialogue = e.dialogue;
            }
            state = apply(&state, &self.slots, e, p);
            predicted.push(state.clone());
        }
        let gold: Vec<BTreeMap<String, String>> =
            examples.iter().map(|e| e.state.clone()).collect();
        let mut counts = LabelCounts::default();
        for (e, p) in examples.iter().zip(&predictions) {
            counts.add(&e.labels, p);
        }
        let slot_values = predicted
            .iter()
            .zip(&gold)
            .map(|(p, g)| {
                self.slots
                    .iter()
                    .filter(|s| same_value(p.get(*s), g.get(*s)))
                    .count()
            })
            .sum::<usize>();
        Ok(Scores {
            loss: total.mean_loss(),
            jga: joint_goal_accuracy(&predicted, &gold),
            update_recall: counts.update_recall(),
            update_precision: counts.update_precision(),
            span_exact: counts.span_exact(),
            turn_accuracy: counts.turns_right as f64 / examples.len().max(1) as f64,
            slot_accuracy: slot_values as f64 / (examples.len() * self.slots.len()).max(1) as f64,
        })
    }
}

/// Label-level counts behind the diagnostics of [`Scores`]: each turn judged on its own labels,
/// so that an error is counted once where it is made, not again in every later turn of the
/// dialogue that carries it (as JGA does).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct LabelCounts {
    /// Slot-turns whose gold gate is not none.
    updates: usize,
    /// Of those, predicted with the gold gate.
    updates_found: usize,
    /// Slot-turns predicted with a gate other than none.
    predicted_updates: usize,
    /// Of those, predicted with the gold gate.
    predicted_right: usize,
    /// Slot-turns whose gold gate is span.
    spans: usize,
    /// Of those, whose best span equals the gold span (whatever gate was predicted).
    spans_exact: usize,
    /// Turns whose every gate, and every span the gold gate asks for, is predicted right.
    turns_right: usize,
}

impl LabelCounts {
    fn add(&mut self, labels: &TurnLabels, prediction: &TurnPrediction) {
        let span = SlotClass::Span.index() as u32;
        let mut turn_right = true;
        for (s, (&g, &q)) in labels.gates.iter().zip(&prediction.gates).enumerate() {
            if g != 0 {
                self.updates += 1;
                self.updates_found += usize::from(g == q);
            }
            if q != 0 {
                self.predicted_updates += 1;
                self.predicted_right += usize::from(g == q);
            }
            let mut right = g == q;
            if g == span {
                self.spans += 1;
                let exact = labels.spans[s].is_some() && labels.spans[s] == prediction.spans[s];
                self.spans_exact += usize::from(exact);
                right &= exact;
            }
            turn_right &= right;
        }
        self.turns_right += usize::from(turn_right);
    }

    fn update_recall(&self) -> f64 {
        self.updates_found as f64 / self.updates.max(1) as f64
    }

    fn update_precision(&self) -> f64 {
        self.predicted_right as f64 / self.predicted_updates.max(1) as f64
    }

    fn span_exact(&self) -> f64 {
        self.spans_exact as f64 / self.spans.max(1) as f64
    }
}

/// What [`DstTask::score`] measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scores {
    /// Mean loss per turn.
    pub loss: f64,
    /// Joint goal accuracy.
    pub jga: f64,
    /// Fraction of the slot updates (gold gate not none) whose gate is predicted right.
    pub update_recall: f64,
    /// Fraction of the predicted slot updates (gate not none) whose gold gate is the same class:
    /// low where the tracker fires on slots the turn does not change.
    pub update_precision: f64,
    /// Fraction of the gold span labels whose best span (start and end) is predicted exactly.
    pub span_exact: f64,
    /// Fraction of turns whose every gate, and every span a gold span gate asks for, is predicted
    /// right: the accuracy of one turn given the gold state before it (JGA compounds the misses
    /// over the dialogue).
    pub turn_accuracy: f64,
    /// Fraction of slot-turns whose predicted value (after applying the predictions through the
    /// dialogue) equals the gold one, absent included.
    pub slot_accuracy: f64,
}

impl Task for DstTask {
    fn kind(&self) -> &'static str {
        "dst"
    }
    fn train_len(&self) -> usize {
        self.train.len()
    }
    fn train_batch(
        &self,
        model: &Model,
        ws: &mut Workspace,
        indices: &[usize],
        mode: Mode,
        _seed: u64,
        grads: &mut Grads,
        scale: f32,
    ) -> lid_train::Result<StepLoss> {
        let batch = pack(indices.iter().map(|&i| &self.train[i].sequence));
        let labels: Vec<TurnLabels> = indices
            .iter()
            .map(|&i| self.train[i].labels.clone())
            .collect();
        let allowed: Vec<Vec<bool>> = indices
            .iter()
            .map(|&i| self.train[i].allowed.clone())
            .collect();
        let out = forward_backward(model, ws, &batch, mode, Some((grads, scale)), |h, g| {
            Ok(self
                .head
                .run(model, h, &batch, Some(&labels), &allowed, mode, g)?
                .0)
        })?;
        Ok(StepLoss::from_head(&out, batch.rows()))
    }
    fn evaluate(
        &self,
        model: &Model,
        ws: &mut Workspace,
        _step: u64,
    ) -> lid_train::Result<Vec<(String, f64)>> {
        let s = self.score(model, ws, &self.eval)?;
        Ok(vec![
            ("eval_loss".into(), s.loss),
            ("jga".into(), s.jga),
            ("update_recall".into(), s.update_recall),
            ("update_precision".into(), s.update_precision),
            ("span_exact".into(), s.span_exact),
            ("turn_accuracy".into(), s.turn_accuracy),
            ("slot_accuracy".into(), s.slot_accuracy),
        ])
    }
    fn checkpoint_config(&self, model: &Model) -> (String, serde_json::Value) {
        (
            lid_train::checkpoint::architecture_name(model.net.spec.family, "dst"),
            serde_json::json!({"dst_slots": self.slots, "dst_classes": ["none", "dontcare", "span", "inform"]}),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Hand-computed: 4 turns; turn 1 misses a slot, turn 3 has a wrong value (case differences do
    /// not count), so JGA = 2 / 4.
    #[test]
    fn joint_goal_accuracy_matches_a_hand_count() {
        let gold = vec![
            state(&[("hotel-area", "north")]),
            state(&[("hotel-area", "north"), ("hotel-stars", "4")]),
            state(&[("hotel-area", "north"), ("hotel-stars", "4")]),
            state(&[
                ("hotel-area", "north"),
                ("hotel-stars", "4"),
                ("hotel-name", "acorn guest house"),
            ]),
        ];
        let predicted = vec![
            state(&[("hotel-area", "North ")]),
            state(&[("hotel-area", "north")]),
            state(&[("hotel-area", "north"), ("hotel-stars", "4")]),
            state(&[
                ("hotel-area", "north"),
                ("hotel-stars", "4"),
                ("hotel-name", "acorn"),
            ]),
        ];
        assert_eq!(joint_goal_accuracy(&predicted, &gold), 0.5);
        assert_eq!(joint_goal_accuracy(&gold, &gold), 1.0);
    }

    #[test]
    fn predictions_update_the_state_as_trippy_does() {
        let slots = vec![
            "hotel-area".to_string(),
            "hotel-stars".to_string(),
            "hotel-name".to_string(),
        ];
        let user = "a hotel in the north please".to_string();
        let offsets = vec![
            (0, 0),
            (0, 1),
            (2, 7),
            (8, 10),
            (11, 14),
            (15, 20),
            (21, 27),
            (0, 0),
        ];
        let example = TurnExample {
            dialogue: 0,
            sequence: Sequence::plain(vec![0; 8]),
            offsets,
            allowed: vec![false, true, true, true, true, true, true, false],
            labels: TurnLabels {
                gates: vec![0; 3],
                spans: vec![None; 3],
            },
            user,
            informed: vec![("hotel-name".into(), "acorn guest house".into())],
            state: BTreeMap::new(),
            lost_spans: 0,
        };
        let previous = state(&[("hotel-stars", "4")]);
        // area: span tokens 5..5 ("north"); stars: dontcare; name: inform.
        let prediction = TurnPrediction {
            gates: vec![2, 1, 3],
            spans: vec![Some((5, 5)), None, None],
        };
        let next = apply(&previous, &slots, &example, &prediction);
        assert_eq!(
            next,
            state(&[
                ("hotel-area", "north"),
                ("hotel-stars", "dontcare"),
                ("hotel-name", "acorn guest house")
            ])
        );
        // none keeps the previous value.
        let keep = TurnPrediction {
            gates: vec![0, 0, 0],
            spans: vec![None; 3],
        };
        assert_eq!(apply(&previous, &slots, &example, &keep), previous);
        assert_eq!(
            token_span(&example.offsets, &example.allowed, 15, 20),
            Some((5, 5))
        );
        assert_eq!(
            token_span(&example.offsets, &example.allowed, 11, 20),
            Some((4, 5))
        );
    }

    /// Hand-counted: two turns of three slots. Turn 1: gold (span 1..2, none, inform), predicted
    /// (span 1..2, dontcare, inform): one false update. Turn 2: gold (none, span 3..3, none),
    /// predicted (none, span 3..4, none): the gate is right, the span is not.
    #[test]
    fn label_counts_match_a_hand_count() {
        let mut c = LabelCounts::default();
        c.add(
            &TurnLabels {
                gates: vec![2, 0, 3],
                spans: vec![Some((1, 2)), None, None],
            },
            &TurnPrediction {
                gates: vec![2, 1, 3],
                spans: vec![Some((1, 2)), Some((1, 1)), Some((1, 1))],
            },
        );
        c.add(
            &TurnLabels {
                gates: vec![0, 2, 0],
                spans: vec![None, Some((3, 3)), None],
            },
            &TurnPrediction {
                gates: vec![0, 2, 0],
                spans: vec![Some((1, 1)), Some((3, 4)), Some((1, 1))],
            },
        );
        // Gold updates 3, all three gates right; predicted updates 4, 3 right; spans 2, 1 exact;
        // no turn entirely right.
        assert_eq!(c.update_recall(), 1.0);
        assert_eq!(c.update_precision(), 0.75);
        assert_eq!(c.span_exact(), 0.5);
        assert_eq!(c.turns_right, 0);
        assert!(same_value(
            Some(&" North".to_string()),
            Some(&"north".to_string())
        ));
        assert!(same_value(None, None));
        assert!(!same_value(Some(&"north".to_string()), None));
    }

    /// The ceiling on a hand-made two-turn dialogue: turn 1's span label produces "north"; turn 2's
    /// gold state has a value no label can produce (the span was cut off and trained as none), so
    /// the ceiling is 1 / 2.
    #[test]
    fn jga_ceiling_counts_turns_no_label_can_produce() {
        let slots = vec!["hotel-area".to_string(), "hotel-stars".to_string()];
        let turn = |labels: TurnLabels, state: BTreeMap<String, String>| TurnExample {
            dialogue: 0,
            sequence: Sequence::plain(vec![0; 8]),
            offsets: vec![
                (0, 0),
                (0, 1),
                (2, 7),
                (8, 10),
                (11, 14),
                (15, 20),
                (21, 27),
                (0, 0),
            ],
            allowed: vec![false, true, true, true, true, true, true, false],
            labels,
            user: "a hotel in the north please".to_string(),
            informed: Vec::new(),
            state,
            lost_spans: 0,
        };
        let first = turn(
            TurnLabels {
                gates: vec![2, 0],
                spans: vec![Some((5, 5)), None],
            },
            state(&[("hotel-area", "north")]),
        );
        let second = turn(
            TurnLabels {
                gates: vec![0, 0],
                spans: vec![None, None],
            },
            state(&[("hotel-area", "north"), ("hotel-stars", "4")]),
        );
        assert_eq!(jga_ceiling(&[first.clone(), second], &slots), 0.5);
        assert_eq!(jga_ceiling(&[first], &slots), 1.0);
    }
}
