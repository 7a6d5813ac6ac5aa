//! The probe texts of a checkpoint series from the dataset readers, on lid-data's hand-written
//! fixtures (`lid-data/tests/fixtures/`): MultiWOZ 2.1 as TripPy-R turn inputs, EmoWOZ user
//! utterances, and a malformed file named with its dialogue and field.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

use std::path::{Path, PathBuf};

use lid_experiments::studies::series::data::{ProbeText, TextCache};
use lid_experiments::studies::series::spec::DataSource;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../lid-data/tests/fixtures")
        .join(name)
}

#[test]
fn multiwoz_turns_become_trippy_inputs() {
    let source = DataSource::Multiwoz21 {
        dir: fixture("multiwoz21"),
    };
    let mut cache = TextCache::new(&source, 7000, 778);
    let train = cache.split("train").unwrap().clone();
    // PMUL0001: four user turns with a system reply (the last user item has none).
    assert_eq!((train.texts.len(), train.available), (4, 4));
    let ProbeText::Turn {
        user,
        system,
        history,
    } = &train.texts[0]
    else {
        panic!("a turn input expected: {:?}", train.texts[0]);
    };
    assert_eq!(
        user,
        "I am looking for a cheap restaurant in the centre of town."
    );
    assert!(system.is_empty() && history.is_empty());
    // The second turn: the system utterance before it, and the history most recent first.
    let second = train.texts[1].render("[SEP]");
    assert_eq!(
        second,
        "I don't care about the food. Can you recommend one? [SEP] There are 15 cheap \
         restaurants in the centre. Do you have a food preference? [SEP] I am looking for a \
         cheap restaurant in the centre of town."
    );
    assert!(!cache.split("validation").unwrap().texts.is_empty());
    assert!(!cache.split("test").unwrap().texts.is_empty());
}

#[test]
fn emowoz_gives_user_utterances() {
    let source = DataSource::Emowoz {
        dir: fixture("emowoz"),
    };
    let mut cache = TextCache::new(&source, 7000, 778);
    let train = cache.split("train").unwrap().clone();
    assert!(!train.texts.is_empty());
    assert!(train
        .texts
        .iter()
        .all(|t| matches!(t, ProbeText::Plain(s) if !s.is_empty())));
}

#[test]
fn malformed_data_names_file_dialogue_and_field() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["data.json", "valListFile.txt", "testListFile.txt"] {
        std::fs::copy(fixture("multiwoz21").join(name), dir.path().join(name)).unwrap();
    }
    let path = dir.path().join("data.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    json["PMUL0001.json"]["log"][2]["text"] = serde_json::json!(42);
    std::fs::write(&path, json.to_string()).unwrap();
    let source = DataSource::Multiwoz21 {
        dir: dir.path().to_path_buf(),
    };
    let err = TextCache::new(&source, 10, 1)
        .split("train")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("data.json") && err.contains("PMUL0001") && err.contains("text"),
        "{err}"
    );
}
