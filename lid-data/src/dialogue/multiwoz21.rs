//! Reader for the real MultiWOZ 2.1 (`data.json`, `valListFile.txt`, `testListFile.txt`).
//!
//! **Format.** `data.json` maps dialogue ids (`PMUL1234.json`) to dialogues whose `log` alternates
//! user (even positions) and system (odd positions) items, each with `text`. System items carry the
//! belief state after the preceding user turn in `metadata`: per domain a `book` object (booking
//! slots such as `people`, `day`, plus a `booked` list that is ignored) and a `semi` object (search
//! slots). Items may carry `dialog_act` (`{"Restaurant-Inform": [["Food", "italian"], ...]}`).
//! The list files hold one dialogue id per line; dialogues in neither are training dialogues.
//!
//! **Mapping.** Turn t pairs the system text at position 2t-1 (empty for t = 0), the user text at
//! 2t and the state of `metadata` at 2t+1. Slots are canonical ([`super::canonical_slot`]: book
//! slots become `domain-book slot`), values normalised ([`super::normalize_value`]: `not
//! mentioned`/`none`/empty are no value; `dontcare`/`don't care`/`do n't care` are `dontcare`).
//! A final user item without a system reply has no state and is dropped.
//!
//! **Spans** are found by string search: for every slot whose value changed in turn t (and is not
//! `dontcare`), the first case-insensitive, word-bounded occurrence of the value in the user text
//! ([`crate::text::find_value`]); values the user wrote differently (`center` for `centre`, `7pm`
//! for `19:00`) get no span. **System informs** come from the `dialog_act` of the system item
//! before the user turn: every `<Domain>-<Act>` pair whose slot maps to a state slot
//! ([`super::state_slot`]); `Booking-*` acts, which name no domain, and values `none`/`?` are
//! skipped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{canonical_slot, normalize_value, state_slot, Dialogue, Turn, DONTCARE};
use crate::io::{read_json, read_text, Ctx};
use crate::multiwoz_templates::{Domain, SlotCode};
use crate::split::Splits;
use crate::text::{find_value, SlotSpan};
use crate::Result;

/// Where the MultiWOZ 2.1 files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Multiwoz21Paths {
    /// `data.json`.
    pub data: PathBuf,
    /// `valListFile.txt`.
    pub validation_list: PathBuf,
    /// `testListFile.txt`.
    pub test_list: PathBuf,
}

impl Multiwoz21Paths {
    /// The standard file names inside the unpacked `MultiWOZ_2.1` folder.
    pub fn in_dir(dir: &Path) -> Multiwoz21Paths {
        Multiwoz21Paths {
            data: dir.join("data.json"),
            validation_list: dir.join("valListFile.txt"),
            test_list: dir.join("testListFile.txt"),
        }
    }
}

/// Reads MultiWOZ 2.1 and splits it by the list files; dialogues ordered by id within each part.
pub fn load(paths: &Multiwoz21Paths) -> Result<Splits<Dialogue>> {
    let validation = read_list(&paths.validation_list)?;
    let test = read_list(&paths.test_list)?;
    let json = read_json(&paths.data)?;
    let ctx = Ctx::new(&paths.data, "file");
    let mut out = Splits::default();
    for (id, dialogue) in ctx.obj(&json, "(top level)")? {
        let dialogue = parse_dialogue(&paths.data, id, dialogue)?;
        let key = id.trim_end_matches(".json");
        if validation.contains(key) {
            out.validation.push(dialogue);
        } else if test.contains(key) {
            out.test.push(dialogue);
        } else {
            out.train.push(dialogue);
        }
    }
    Ok(out)
}

/// The ids of a list file, `.json` suffix removed.
fn read_list(path: &Path) -> Result<std::collections::BTreeSet<String>> {
    Ok(read_text(path)?
        .lines()
        .map(|l| l.trim().trim_end_matches(".json").to_string())
        .filter(|l| !l.is_empty())
        .collect())
}

/// Parses one dialogue of `data.json` (`path` is only used in error messages).
pub fn parse_dialogue(path: &Path, id: &str, dialogue: &Value) -> Result<Dialogue> {
    let ctx = Ctx::new(path, format!("dialogue {id}"));
    let dialogue = ctx.obj(dialogue, "(dialogue)")?;
    let log = ctx.arr(ctx.get(dialogue, "log", "log")?, "log")?;
    let mut texts = Vec::with_capacity(log.len());
    for (i, item) in log.iter().enumerate() {
        let field = format!("log[{i}].text");
        let item = ctx.obj(item, &format!("log[{i}]"))?;
        texts.push(
            ctx.str(ctx.get(item, "text", &field)?, &field)?
                .trim()
                .to_string(),
        );
    }
    let mut turns = Vec::with_capacity(log.len() / 2);
    let mut previous: BTreeMap<String, String> = BTreeMap::new();
    for t in 0..log.len() / 2 {
        let user = texts[2 * t].clone();
        let system = if t == 0 {
            String::new()
        } else {
            texts[2 * t - 1].clone()
        };
        let state = parse_metadata(&ctx, &log[2 * t + 1], 2 * t + 1)?;
        let user_spans = spans_of_changes(&user, &previous, &state);
        let system_informed = if t == 0 {
            Vec::new()
        } else {
            informed_of(&log[2 * t - 1])
        };
        previous = state.clone();
        turns.push(Turn {
            system,
            user,
            user_spans,
            system_informed,
            state,
        });
    }
    Ok(Dialogue {
        id: id.to_string(),
        turns,
    })
}

/// The state in `metadata` of a system log item.
fn parse_metadata(ctx: &Ctx, item: &Value, position: usize) -> Result<BTreeMap<String, String>> {
    let field = format!("log[{position}].metadata");
    let item = ctx.obj(item, &format!("log[{position}]"))?;
    let metadata = ctx.obj(ctx.get(item, "metadata", &field)?, &field)?;
    let mut state = BTreeMap::new();
    for (domain, sections) in metadata {
        let field = format!("{field}.{domain}");
        let sections = ctx.obj(sections, &field)?;
        for (section, book) in [("book", true), ("semi", false)] {
            let Some(slots) = sections.get(section) else {
                continue;
            };
            let field = format!("{field}.{section}");
            for (slot, value) in ctx.obj(slots, &field)? {
                if book && slot == "booked" {
                    continue;
                }
                let value = ctx.str(value, &format!("{field}.{slot}"))?;
                if let Some(value) = normalize_value(value) {
                    state.insert(canonical_slot(domain, slot, book), value);
                }
            }
        }
    }
    Ok(state)
}

/// Spans, by string search, of the values that changed between two states.
pub(crate) fn spans_of_changes(
    user: &str,
    previous: &BTreeMap<String, String>,
    state: &BTreeMap<String, String>,
) -> Vec<SlotSpan> {
    let mut spans = Vec::new();
    for (slot, value) in state {
        if value == DONTCARE || previous.get(slot) == Some(value) {
            continue;
        }
        if let Some((start, end)) = find_value(user, value) {
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

/// (slot, value)s of the `dialog_act` of a system log item (see the module docs).
fn informed_of(item: &Value) -> Vec<(String, String)> {
    let Some(acts) = item.get("dialog_act").and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (act, pairs) in acts {
        let Some(domain) = act.split('-').next().and_then(Domain::parse) else {
            continue;
        };
        for pair in pairs.as_array().into_iter().flatten() {
            let (Some(slot), Some(value)) = (
                pair.get(0).and_then(Value::as_str),
                pair.get(1).and_then(Value::as_str),
            ) else {
                continue;
            };
            let value = value.trim();
            if value.is_empty() || value == "?" || value.eq_ignore_ascii_case("none") {
                continue;
            }
            let slot = SlotCode::parse(slot).and_then(|code| state_slot(domain, code, None));
            if let Some(slot) = slot {
                out.push((slot, value.to_string()));
            }
        }
    }
    out
}
