//! The chatterbot YAML reader.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture
mod common;

use lid_data::chatterbot::{load, load_file};
use lid_data::text::dedup_by_text;
use lid_data::Error;

#[test]
fn fixture_file_reads_utterances_with_category() {
    let u = load_file(&common::fixture("chatterbot/small.yml")).unwrap();
    let texts: Vec<&str> = u.iter().map(|u| u.text.as_str()).collect();
    assert_eq!(
        texts,
        vec![
            "Hello",
            "Hi there!",
            "What is your favourite number?",
            "42",
            "Write a loop",
            "for i in range(3):\n    print(i)",
            "In a game of bingo, which number is \"two little ducks\"? - '22'",
        ]
    );
    assert!(u.iter().all(|u| u.category == "small"));
    assert_eq!(u[0].topics, vec!["small talk", "greetings"]);
    assert_eq!((u[3].conversation, u[3].position), (1, 1));
    assert_eq!((u[6].conversation, u[6].position), (3, 0));
}

#[test]
fn malformed_yaml_names_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let p = common::write(dir.path(), "bad.yml", "conversations:\n- - [unclosed\n");
    assert!(matches!(load_file(&p), Err(Error::Yaml { path, .. }) if path == p));
    let p = common::write(dir.path(), "none.yml", "categories:\n- x\n");
    match load_file(&p) {
        Err(Error::Malformed { field, .. }) => assert_eq!(field, "conversations"),
        other => panic!("{other:?}"),
    }
    let p = common::write(dir.path(), "map.yml", "conversations:\n- - a\n  - {b: c}\n");
    match load_file(&p) {
        Err(Error::Malformed { record, field, .. }) => {
            assert_eq!(record, "conversation 0");
            assert_eq!(field, "conversations[0][1]");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn offline_corpus_has_all_categories() {
    let Some(assets) = common::assets("chatterbot") else {
        return;
    };
    let u = load(&assets).unwrap();
    let mut cats: Vec<&str> = u.iter().map(|u| u.category.as_str()).collect();
    cats.dedup();
    assert_eq!(cats.len(), 21, "{cats:?}");
    assert!(u.len() > 4000, "{}", u.len());
    let unique = dedup_by_text(u.clone());
    assert!(
        unique.len() < u.len() && unique.len() > 1500,
        "{}",
        unique.len()
    );
}
