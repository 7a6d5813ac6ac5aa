//! Reader for ConvLab-3's unified data format (`dialogues.json`, optional `ontology.json`).
//!
//! **Format.** `dialogues.json` is a list of dialogues with `dialogue_id`, `data_split`
//! (`train`, `validation`, `test`; `val`/`dev` accepted) and `turns`: each turn has `speaker`
//! (`user` or `system`), `utterance`, `dialogue_acts` (`categorical`, `non-categorical`, `binary`
//! lists of `{intent, domain, slot, value}`, non-categorical ones with character offsets `start`,
//! `end`) and, on user turns, `state` (`{domain: {slot: value}}`, empty string = no value).
//! `ontology.json` describes slots (`domains.<d>.slots.<s>.is_categorical`, `possible_values`).
//!
//! **Mapping.** Each user turn is one [`Turn`]; its `system` is the system utterance just before it
//! (empty when none). Slots are canonical ([`super::canonical_slot`]: `price range` ->
//! `pricerange`, `book people` stays), values normalised ([`super::normalize_value`]).
//!
//! **Spans.** For each slot whose value changed in the turn (and is not `dontcare`), the span of a
//! user `non-categorical` act with the same slot and value (its character offsets converted to
//! byte offsets, used when the text there equals the value ignoring ASCII case); otherwise the
//! first string-search match ([`crate::text::find_value`]); otherwise none. **System informs**:
//! the preceding system turn's categorical and non-categorical acts with intent `inform`,
//! `recommend`, `select`, `book`, `offerbook` or `offerbooked` whose slot maps to a canonical slot.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::{canonical_slot, normalize_value, Dialogue, Ontology, SlotInfo, Turn, DONTCARE};
use crate::io::{read_json, Ctx};
use crate::split::Splits;
use crate::text::{find_value, SlotSpan};
use crate::Result;

/// A dataset in the unified format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnifiedData {
    /// The dialogues by `data_split`, in file order.
    pub splits: Splits<Dialogue>,
    /// The ontology from `ontology.json` when the folder has one (slot names canonical).
    pub ontology: Option<Ontology>,
}

/// Reads `dir/dialogues.json` and, if present, `dir/ontology.json`.
pub fn load(dir: &Path) -> Result<UnifiedData> {
    let splits = load_dialogues(&dir.join("dialogues.json"))?;
    let ontology_path = dir.join("ontology.json");
    let ontology = if ontology_path.exists() {
        Some(load_ontology(&ontology_path)?)
    } else {
        None
    };
    Ok(UnifiedData { splits, ontology })
}

/// Reads a `dialogues.json` file.
pub fn load_dialogues(path: &Path) -> Result<Splits<Dialogue>> {
    let json = read_json(path)?;
    let ctx = Ctx::new(path, "file");
    let mut out = Splits::default();
    for (i, dialogue) in ctx.arr(&json, "(top level)")?.iter().enumerate() {
        let ctx = Ctx::new(path, format!("dialogue {i}"));
        let map = ctx.obj(dialogue, "(dialogue)")?;
        let id = ctx.str(ctx.get(map, "dialogue_id", "dialogue_id")?, "dialogue_id")?;
        let ctx = Ctx::new(path, format!("dialogue {id}"));
        let split = ctx.str(ctx.get(map, "data_split", "data_split")?, "data_split")?;
        let dialogue = parse_dialogue(&ctx, id, map)?;
        match split {
            "train" => out.train.push(dialogue),
            "validation" | "val" | "dev" => out.validation.push(dialogue),
            "test" => out.test.push(dialogue),
            other => {
                return Err(ctx.err(
                    "data_split",
                    format!("unknown split `{other}` (expected train, validation or test)"),
                ))
            }
        }
    }
    Ok(out)
}

fn parse_dialogue(ctx: &Ctx, id: &str, map: &serde_json::Map<String, Value>) -> Result<Dialogue> {
    let turns_json = ctx.arr(ctx.get(map, "turns", "turns")?, "turns")?;
    let mut turns = Vec::new();
    let mut system = String::new();
    let mut informed = Vec::new();
    let mut previous: BTreeMap<String, String> = BTreeMap::new();
    for (i, turn) in turns_json.iter().enumerate() {
        let field = |name: &str| format!("turns[{i}].{name}");
        let turn = ctx.obj(turn, &format!("turns[{i}]"))?;
        let speaker = ctx.str(
            ctx.get(turn, "speaker", &field("speaker"))?,
            &field("speaker"),
        )?;
        let utterance = ctx
            .str(
                ctx.get(turn, "utterance", &field("utterance"))?,
                &field("utterance"),
            )?
            .trim()
            .to_string();
        let acts = turn.get("dialogue_acts");
        match speaker {
            "system" => {
                system = utterance;
                informed = system_informed(acts);
            }
            "user" => {
                let state = parse_state(
                    ctx,
                    ctx.get(turn, "state", &field("state"))?,
                    &field("state"),
                )?;
                let user_spans = user_spans(&utterance, acts, &previous, &state);
                previous = state.clone();
                turns.push(Turn {
                    system: std::mem::take(&mut system),
                    user: utterance,
                    user_spans,
                    system_informed: std::mem::take(&mut informed),
                    state,
                });
            }
            other => {
                return Err(ctx.err(
                    &field("speaker"),
                    format!("unknown speaker `{other}` (expected user or system)"),
                ))
            }
        }
    }
    Ok(Dialogue {
        id: id.to_string(),
        turns,
    })
}

fn parse_state(ctx: &Ctx, state: &Value, field: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (domain, slots) in ctx.obj(state, field)? {
        let field = format!("{field}.{domain}");
        for (slot, value) in ctx.obj(slots, &field)? {
            let value = ctx.str(value, &format!("{field}.{slot}"))?;
            if let Some(value) = normalize_value(value) {
                out.insert(canonical_slot(domain, slot, false), value);
            }
        }
    }
    Ok(out)
}

/// The acts of one kind (`categorical`, `non-categorical`) as (intent, canonical slot, value,
/// optional char range); malformed entries are skipped (acts are auxiliary).
fn acts_of<'v>(
    acts: Option<&'v Value>,
    kind: &str,
) -> impl Iterator<Item = (String, String, String, Option<(usize, usize)>)> + 'v {
    let list = acts
        .and_then(|a| a.get(kind))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    list.iter().filter_map(|act| {
        let s = |k: &str| act.get(k).and_then(Value::as_str);
        let (intent, domain, slot, value) = (s("intent")?, s("domain")?, s("slot")?, s("value")?);
        if slot.is_empty() || matches!(domain, "general" | "booking") {
            return None;
        }
        let range = match (
            act.get("start").and_then(Value::as_u64),
            act.get("end").and_then(Value::as_u64),
        ) {
            (Some(a), Some(b)) => Some((a as usize, b as usize)),
            _ => None,
        };
        Some((
            intent.to_lowercase(),
            canonical_slot(domain, slot, false),
            value.trim().to_string(),
            range,
        ))
    })
}

fn system_informed(acts: Option<&Value>) -> Vec<(String, String)> {
    const INFORMING: [&str; 6] = [
        "inform",
        "recommend",
        "select",
        "book",
        "offerbook",
        "offerbooked",
    ];
    acts_of(acts, "categorical")
        .chain(acts_of(acts, "non-categorical"))
        .filter(|(intent, _, value, _)| {
            INFORMING.contains(&intent.as_str()) && !value.is_empty() && value != "?"
        })
        .map(|(_, slot, value, _)| (slot, value))
        .collect()
}

/// Byte range of a character range of `text`.
fn byte_range(text: &str, chars: (usize, usize)) -> Option<(usize, usize)> {
    if chars.1 < chars.0 {
        return None;
    }
    let offsets: Vec<usize> = text
        .char_indices()
        .map(|(b, _)| b)
        .chain(std::iter::once(text.len()))
        .collect();
    Some((*offsets.get(chars.0)?, *offsets.get(chars.1)?))
}

fn user_spans(
    user: &str,
    acts: Option<&Value>,
    previous: &BTreeMap<String, String>,
    state: &BTreeMap<String, String>,
) -> Vec<SlotSpan> {
    let annotated: Vec<(String, String, (usize, usize))> = acts_of(acts, "non-categorical")
        .filter_map(|(_, slot, value, range)| Some((slot, value, byte_range(user, range?)?)))
        .collect();
    let mut spans = Vec::new();
    for (slot, value) in state {
        if value == DONTCARE || previous.get(slot) == Some(value) {
            continue;
        }
        let from_acts = annotated.iter().find_map(|(s, v, (a, b))| {
            (s == slot && v.eq_ignore_ascii_case(value) && user[*a..*b].eq_ignore_ascii_case(value))
                .then_some((*a, *b))
        });
        if let Some((start, end)) = from_acts.or_else(|| find_value(user, value)) {
            spans.push(SlotSpan {
                slot: slot.clone(),
                value: user[start..end].to_string(),
                start,
                end,
            });
        }
    }
    spans
}

/// Reads an `ontology.json` (slot names canonical, values sorted).
pub fn load_ontology(path: &Path) -> Result<Ontology> {
    let json = read_json(path)?;
    let ctx = Ctx::new(path, "ontology");
    let top = ctx.obj(&json, "(top level)")?;
    let domains = ctx.obj(ctx.get(top, "domains", "domains")?, "domains")?;
    let mut slots = BTreeMap::new();
    for (domain, info) in domains {
        let field = format!("domains.{domain}");
        let info = ctx.obj(info, &field)?;
        let Some(domain_slots) = info.get("slots") else {
            continue;
        };
        for (slot, desc) in ctx.obj(domain_slots, &format!("{field}.slots"))? {
            let field = format!("{field}.slots.{slot}");
            let desc = ctx.obj(desc, &field)?;
            let categorical = match desc.get("is_categorical") {
                None => false,
                Some(v) => v.as_bool().ok_or_else(|| {
                    ctx.err(&format!("{field}.is_categorical"), "expected a boolean")
                })?,
            };
            let mut values = Vec::new();
            if let Some(list) = desc.get("possible_values") {
                for (i, v) in ctx
                    .arr(list, &format!("{field}.possible_values"))?
                    .iter()
                    .enumerate()
                {
                    let v = ctx.str(v, &format!("{field}.possible_values[{i}]"))?;
                    if let Some(v) = normalize_value(v).filter(|v| v != DONTCARE) {
                        values.push(v);
                    }
                }
            }
            values.sort();
            values.dedup();
            slots.insert(
                canonical_slot(domain, slot, false),
                SlotInfo {
                    categorical,
                    values,
                },
            );
        }
    }
    Ok(Ontology { slots })
}
