//! The dialogue data readers of `lid-data` on arbitrary bytes, the reader chosen by the first
//! byte: MultiWOZ 2.1 `data.json` dialogues, ConvLab-3 unified `dialogues.json` and
//! `ontology.json`, EmoWOZ dialogues, chatterbot YAML and the Wikipedia markup stripper. Each must
//! return its records or an error naming the file (and the record and field), never panic; spans
//! it returns must be byte ranges of their text on character boundaries.
#![no_main]

use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use lid_data::dialogue::{multiwoz21, unified, Dialogue};

fn scratch(name: &str, data: &[u8]) -> PathBuf {
    let base = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("lid-fuzz-data-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch folder");
    let path = dir.join(name);
    std::fs::write(&path, data).expect("scratch file");
    path
}

fn check_dialogue(d: &Dialogue) {
    for turn in &d.turns {
        for span in &turn.user_spans {
            let text = &turn.user;
            assert!(span.start <= span.end && span.end <= text.len(), "{span:?} in {text:?}");
            assert!(text.is_char_boundary(span.start) && text.is_char_boundary(span.end));
            assert_eq!(&text[span.start..span.end], span.value, "{span:?}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let path = Path::new("fuzz.json");
    match which % 6 {
        0 => {
            let Ok(value) = serde_json::from_slice::<serde_json::Value>(rest) else {
                return;
            };
            match multiwoz21::parse_dialogue(path, "PMUL0001.json", &value) {
                Ok(d) => check_dialogue(&d),
                Err(e) => assert!(e.to_string().contains("fuzz.json"), "{e}"),
            }
        }
        1 => {
            let file = scratch("dialogues.json", rest);
            match unified::load_dialogues(&file) {
                Ok(splits) => splits
                    .train
                    .iter()
                    .chain(&splits.validation)
                    .chain(&splits.test)
                    .for_each(check_dialogue),
                Err(e) => assert!(e.to_string().contains("dialogues.json"), "{e}"),
            }
        }
        2 => {
            let file = scratch("ontology.json", rest);
            if let Err(e) = unified::load_ontology(&file) {
                assert!(e.to_string().contains("ontology.json"), "{e}");
            }
        }
        3 => {
            let Ok(value) = serde_json::from_slice::<serde_json::Value>(rest) else {
                return;
            };
            if let Err(e) = lid_data::emowoz::parse_dialogue(path, "MUL0001.json", &value) {
                assert!(e.to_string().contains("fuzz.json"), "{e}");
            }
        }
        4 => {
            let file = scratch("fuzz.yml", rest);
            if let Err(e) = lid_data::chatterbot::load_file(&file) {
                assert!(e.to_string().contains("fuzz.yml"), "{e}");
            }
        }
        _ => {
            let text = String::from_utf8_lossy(rest);
            for article in lid_data::prose::wikitext::articles(&text) {
                let _ = lid_data::prose::wikitext::paragraphs(&article.wikitext, 3);
            }
            let _ = lid_data::prose::wikitext::paragraphs(&text, 0);
            let _ = lid_data::prose::wikitext::unescape(&text);
        }
    }
});
