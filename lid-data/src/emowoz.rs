//! Reader for EmoWOZ (`emowoz-multiwoz.json`, `emowoz-dialmage.json`, `data-split.json`).
//!
//! **Format** (Feng et al., 2022; the files of the EmoWOZ release). The two dialogue files use
//! MultiWOZ's layout: an object from dialogue id to a dialogue whose `log` lists utterances with
//! `text`. EmoWOZ adds to every **user** utterance an `emotion` list: one entry per annotator and a
//! final entry (the majority vote or manual resolution), each an object with an integer `emotion`
//! (0..6, below) and further fields (`sentiment`, annotator id). System utterances have an empty
//! list. `data-split.json` maps `train`, `dev` (also `valid`, `validation`) and `test` to dialogue
//! ids, either as a list or per source (`{"multiwoz": [...], "dialmage": [...]}`).
//!
//! **Labels**, EmoWOZ's 7 classes: 0 neutral, 1 fearful/sad/disappointed, 2 dissatisfied/disliking,
//! 3 apologetic, 4 abusive, 5 excited/happy/anticipating, 6 satisfied/liking ([`EMOTIONS`]). The
//! label of an utterance is the entry whose annotator field (`annotator` or `annotator_id`) is
//! `final` if there is one, else the last entry (the final label comes last in the release). An
//! `emotion` given as one object or one integer is accepted too.
//!
//! **Output.** One [`LabelledText`] per annotated utterance (non-empty `emotion`), `turn` = its
//! position in `log` (user utterances sit at even positions in MultiWOZ dialogues); per split,
//! sources in alphabetical order (`dialmage`, `multiwoz`) and ids in the order of `data-split.json`. Dialogues of the split file missing from the dialogue files are
//! an error; dialogues of the dialogue files in no split are left out.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::io::{read_json, Ctx};
use crate::split::{Part, Splits};
pub use crate::text::LabelledText;
use crate::Result;

/// EmoWOZ's 7 emotion classes, by label index.
pub const EMOTIONS: [&str; 7] = [
    "neutral",
    "fearful/sad/disappointed",
    "dissatisfied/disliking",
    "apologetic",
    "abusive",
    "excited/happy/anticipating",
    "satisfied/liking",
];

/// Where the EmoWOZ files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmowozPaths {
    /// Dialogue files (`emowoz-multiwoz.json`, `emowoz-dialmage.json`); any number.
    pub dialogues: Vec<PathBuf>,
    /// `data-split.json`.
    pub split: PathBuf,
}

impl EmowozPaths {
    /// `emowoz-multiwoz.json`, `emowoz-dialmage.json` (when present) and `data-split.json` in `dir`.
    pub fn in_dir(dir: &Path) -> EmowozPaths {
        let mut dialogues = vec![dir.join("emowoz-multiwoz.json")];
        let dialmage = dir.join("emowoz-dialmage.json");
        if dialmage.exists() {
            dialogues.push(dialmage);
        }
        EmowozPaths {
            dialogues,
            split: dir.join("data-split.json"),
        }
    }
}

/// Reads EmoWOZ: the labelled user utterances of every split.
pub fn load(paths: &EmowozPaths) -> Result<Splits<LabelledText>> {
    // Dialogue id (".json" removed) -> its labelled utterances.
    let mut by_id: HashMap<String, Vec<LabelledText>> = HashMap::new();
    for path in &paths.dialogues {
        let json = read_json(path)?;
        let ctx = Ctx::new(path, "file");
        for (id, dialogue) in ctx.obj(&json, "(top level)")? {
            let texts = parse_dialogue(path, id, dialogue)?;
            by_id.insert(id.trim_end_matches(".json").to_string(), texts);
        }
    }
    let json = read_json(&paths.split)?;
    let ctx = Ctx::new(&paths.split, "file");
    let mut out = Splits::default();
    for (key, ids) in ctx.obj(&json, "(top level)")? {
        let part = match key.to_lowercase().as_str() {
            "train" => Part::Train,
            "dev" | "valid" | "val" | "validation" => Part::Validation,
            "test" => Part::Test,
            _ => continue,
        };
        for id in split_ids(&ctx, key, ids)? {
            let texts = by_id
                .get(id.trim_end_matches(".json"))
                .ok_or_else(|| ctx.err(key, format!("dialogue {id} is in no dialogue file")))?;
            let target = match part {
                Part::Train => &mut out.train,
                Part::Validation => &mut out.validation,
                Part::Test => &mut out.test,
            };
            target.extend(texts.iter().cloned());
        }
    }
    Ok(out)
}

/// The ids of one split entry: a list, or an object of lists (per source, in key order).
fn split_ids<'v>(ctx: &Ctx, key: &str, ids: &'v Value) -> Result<Vec<&'v str>> {
    let lists: Vec<(String, &Value)> = match ids {
        Value::Object(per_source) => per_source
            .iter()
            .map(|(source, list)| (format!("{key}.{source}"), list))
            .collect(),
        other => vec![(key.to_string(), other)],
    };
    let mut out = Vec::new();
    for (field, list) in lists {
        for (i, id) in ctx.arr(list, &field)?.iter().enumerate() {
            out.push(ctx.str(id, &format!("{field}[{i}]"))?);
        }
    }
    Ok(out)
}

/// The labelled utterances of one dialogue (`path` is only used in error messages).
pub fn parse_dialogue(path: &Path, id: &str, dialogue: &Value) -> Result<Vec<LabelledText>> {
    let ctx = Ctx::new(path, format!("dialogue {id}"));
    let map = ctx.obj(dialogue, "(dialogue)")?;
    let log = ctx.arr(ctx.get(map, "log", "log")?, "log")?;
    let mut out = Vec::new();
    for (i, item) in log.iter().enumerate() {
        let item = ctx.obj(item, &format!("log[{i}]"))?;
        let field = format!("log[{i}].emotion");
        let Some(label) = final_label(&ctx, item.get("emotion"), &field)? else {
            continue;
        };
        let text_field = format!("log[{i}].text");
        let text = ctx.str(ctx.get(item, "text", &text_field)?, &text_field)?;
        out.push(LabelledText {
            dialogue_id: id.to_string(),
            turn: i,
            text: text.trim().to_string(),
            label,
            label_name: EMOTIONS[label].to_string(),
        });
    }
    Ok(out)
}

/// The final label of an `emotion` field, `None` when the field is absent or empty.
fn final_label(ctx: &Ctx, emotion: Option<&Value>, field: &str) -> Result<Option<usize>> {
    let entry = match emotion {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(entries)) if entries.is_empty() => return Ok(None),
        Some(Value::Array(entries)) => {
            let is_final = |e: &&Value| {
                let annotator = |k| e.get(k).and_then(Value::as_str);
                annotator("annotator") == Some("final")
                    || annotator("annotator_id") == Some("final")
            };
            let index = entries
                .iter()
                .position(|e| is_final(&e))
                .unwrap_or(entries.len() - 1);
            (&entries[index], format!("{field}[{index}]"))
        }
        Some(other) => (other, field.to_string()),
    };
    let (value, field) = entry;
    let label = match value {
        Value::Object(map) => label_of(ctx, map, &field)?,
        other => number(ctx, other, &field)?,
    };
    Ok(Some(label))
}

fn label_of(ctx: &Ctx, map: &Map<String, Value>, field: &str) -> Result<usize> {
    let field = format!("{field}.emotion");
    number(ctx, ctx.get(map, "emotion", &field)?, &field)
}

fn number(ctx: &Ctx, value: &Value, field: &str) -> Result<usize> {
    let n = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    }
    .ok_or_else(|| {
        ctx.err(
            field,
            format!("expected an emotion label 0..6, found {value}"),
        )
    })?;
    if n as usize >= EMOTIONS.len() {
        return Err(ctx.err(field, format!("emotion label {n} is not in 0..6")));
    }
    Ok(n as usize)
}
