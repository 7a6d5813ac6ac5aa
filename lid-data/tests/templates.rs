//! Relexicalisation of convlab templates: exact spans, entity consistency, determinism, errors.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture
mod common;

use lid_data::multiwoz_templates::{
    utterances, Database, Domain, MultiwozTemplates, Speakers, TemplateSet, Utterance,
    UtteranceConfig, UtteranceOrder,
};
use lid_data::{Error, Speaker};

fn fixture_templates() -> MultiwozTemplates {
    MultiwozTemplates::load_from(
        &common::fixture("convlab/user.json"),
        &common::fixture("convlab/system.json"),
        &common::fixture("convlab/db"),
    )
    .unwrap()
}

fn assert_spans_exact(u: &lid_data::multiwoz_templates::Utterance) {
    for s in &u.slot_values {
        assert_eq!(&u.text[s.start..s.end], s.value, "in {:?}", u.text);
    }
    assert!(
        !u.text.contains('#') || u.text.contains(" #"),
        "placeholder left: {:?}",
        u.text
    );
}

#[test]
fn fixture_relexicalisation_has_exact_spans() {
    let t = fixture_templates();
    assert_eq!(
        t.user.groups(),
        vec!["Restaurant-Inform", "Taxi-Inform", "general-thank"]
    );
    let us = utterances(
        &t,
        &UtteranceConfig {
            per_template: 20,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(us.len(), 20 * (5 + 4));
    for u in &us {
        assert_spans_exact(u);
        assert!(!u.text.contains("#RESTAURANT") && !u.text.contains("#TAXI"));
    }
    // Detokenised, with the stray `#` kept as text (the system file has a Taxi-Inform group too).
    let taxi = us
        .iter()
        .find(|u| u.act_group == "Taxi-Inform" && u.speaker == Speaker::User)
        .unwrap();
    assert!(taxi.text.starts_with("I'm leaving "), "{}", taxi.text);
    assert!(
        taxi.text.ends_with("I need the car # too."),
        "{}",
        taxi.text
    );
    let thanks = us.iter().find(|u| u.act_group == "general-thank").unwrap();
    assert_eq!(thanks.text, "Thank you.");
    assert_eq!(thanks.speaker, Speaker::User);
}

#[test]
fn values_of_one_entity_stay_together() {
    let t = fixture_templates();
    let db = &t.database;
    let pairs: Vec<(String, String)> = db
        .entities(Domain::Restaurant)
        .iter()
        .map(|e| {
            let v = |c| e.values[&c].clone();
            use lid_data::multiwoz_templates::SlotCode as S;
            (v(S::Name), v(S::Addr))
        })
        .collect();
    let config = UtteranceConfig {
        speakers: Speakers::System,
        per_template: 30,
        ..Default::default()
    };
    let us = utterances(&t, &config).unwrap();
    let mut checked = 0;
    for u in us.iter().filter(|u| u.act_group == "Restaurant-Recommend") {
        let names: Vec<&str> = u
            .slot_values
            .iter()
            .filter(|s| s.slot == "restaurant-name")
            .map(|s| s.value.as_str())
            .collect();
        let addrs: Vec<&str> = u
            .slot_values
            .iter()
            .filter(|s| s.slot == "restaurant-addr")
            .map(|s| s.value.as_str())
            .collect();
        assert_eq!(names.len(), 2);
        assert_ne!(names[0], names[1], "two distinct entities");
        for (n, a) in names.iter().zip(&addrs) {
            assert!(pairs.contains(&(n.to_string(), a.to_string())), "{n} / {a}");
        }
        checked += 1;
    }
    assert_eq!(checked, 30);
    // Reference numbers and taxi values are generated.
    let booked = us.iter().find(|u| u.act_group == "Booking-Book").unwrap();
    let r = &booked.slot_values[0];
    assert_eq!(r.slot, "booking-ref");
    assert_eq!(r.value.len(), 8);
    let taxi = us.iter().find(|u| u.act_group == "Taxi-Inform").unwrap();
    let car = &taxi.slot_values[0].value;
    assert!(
        car.contains(' ') && ["black", "white"].iter().any(|c| car.starts_with(c)),
        "{car}"
    );
    assert_eq!(taxi.slot_values[1].value.len(), 10);
}

#[test]
fn same_seed_same_utterances_other_seed_other_values() {
    let t = fixture_templates();
    let a = utterances(
        &t,
        &UtteranceConfig {
            per_template: 5,
            ..Default::default()
        },
    )
    .unwrap();
    let b = utterances(
        &t,
        &UtteranceConfig {
            per_template: 5,
            ..Default::default()
        },
    )
    .unwrap();
    let c = utterances(
        &t,
        &UtteranceConfig {
            per_template: 5,
            seed: 1,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    let tok = utterances(
        &t,
        &UtteranceConfig {
            detokenize: false,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(tok.iter().any(|u| u.text == "Thank you ."));
    for u in &tok {
        assert_spans_exact(u);
    }
}

#[test]
fn malformed_template_files_name_file_group_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let bad_key = common::write(
        dir.path(),
        "k.json",
        r#"{"Hotel-Inform": {"Colour;": ["x"]}}"#,
    );
    match TemplateSet::load(&bad_key, Speaker::User) {
        Err(Error::Malformed {
            path,
            record,
            field,
            ..
        }) => {
            assert_eq!(path, bad_key);
            assert_eq!(record, "group Hotel-Inform key Colour;");
            assert_eq!(field, "key");
        }
        other => panic!("{other:?}"),
    }
    let bad_text = common::write(
        dir.path(),
        "t.json",
        r#"{"Hotel-Inform": {"Area;": ["ok", 3]}}"#,
    );
    let err = TemplateSet::load(&bad_text, Speaker::User).unwrap_err();
    assert!(
        matches!(&err, Error::Malformed { field, .. } if field == "Area;[1]"),
        "{err}"
    );
    assert!(err.to_string().contains("t.json"), "{err}");
    let bad_ph = common::write(
        dir.path(),
        "p.json",
        r#"{"Hotel-Inform": {"Area;": ["in #HOTEL-INFORM-COLOUR#"]}}"#,
    );
    let err = TemplateSet::load(&bad_ph, Speaker::User).unwrap_err();
    assert!(err.to_string().contains("#HOTEL-INFORM-COLOUR#"), "{err}");
    let not_json = common::write(dir.path(), "n.json", "{");
    assert!(matches!(
        TemplateSet::load(&not_json, Speaker::User),
        Err(Error::Json { .. })
    ));
    let missing = dir.path().join("absent.json");
    assert!(
        matches!(TemplateSet::load(&missing, Speaker::User), Err(Error::Io { path, .. }) if path == missing)
    );
}

#[test]
fn malformed_database_names_record_and_column() {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(common::fixture("convlab/db")).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
    }
    common::write(
        dir.path(),
        "restaurant_db.json",
        r#"[{"name": "a"}, {"name": ["b"]}]"#,
    );
    let err = Database::load(dir.path()).unwrap_err();
    match &err {
        Error::Malformed { record, field, .. } => {
            assert_eq!(record, "record 1");
            assert_eq!(field, "name");
        }
        other => panic!("{other:?}"),
    }
    common::write(dir.path(), "restaurant_db.json", "[]");
    common::write(dir.path(), "taxi_db.json", r#"{"taxi_colors": []}"#);
    let err = Database::load(dir.path()).unwrap_err();
    assert!(err.to_string().contains("taxi_colors"), "{err}");
}

#[test]
fn offline_assets_relexicalise_every_template_exactly() {
    let Some(assets) = common::assets("convlab") else {
        return;
    };
    let t = MultiwozTemplates::load(&assets).unwrap();
    assert_eq!(t.user.groups().len(), 17);
    assert_eq!(t.system.groups().len(), 31);
    let us = utterances(&t, &UtteranceConfig::default()).unwrap();
    assert_eq!(us.len(), t.user.templates.len() + t.system.templates.len());
    assert!(us.len() > 68_000, "{}", us.len());
    let mut values = 0;
    for u in &us {
        for s in &u.slot_values {
            assert_eq!(&u.text[s.start..s.end], s.value, "in {:?}", u.text);
            assert!(!s.value.is_empty() && s.value != "?");
            values += 1;
        }
        assert!(!u.text.contains("-INFORM-"), "{}", u.text);
    }
    assert!(values > 45_000, "{values}");
}

/// The stand-in's default order is a seeded shuffle of template order (issue 20, study 1: in
/// template order every prefix was one speaker and a few act groups): the same utterances with the
/// same values, reordered; deterministic; template order still available.
#[test]
fn default_order_is_a_seeded_shuffle_of_template_order() {
    let t = fixture_templates();
    let config = UtteranceConfig {
        per_template: 20,
        ..Default::default()
    };
    let shuffled = utterances(&t, &config).unwrap();
    let template = utterances(
        &t,
        &UtteranceConfig {
            order: UtteranceOrder::Template,
            ..config.clone()
        },
    )
    .unwrap();
    assert_eq!(shuffled, utterances(&t, &config).unwrap());
    assert_ne!(shuffled, template);
    let sorted = |us: &[Utterance]| {
        let mut keys: Vec<String> = us.iter().map(|u| format!("{u:?}")).collect();
        keys.sort();
        keys
    };
    assert_eq!(sorted(&shuffled), sorted(&template), "same utterances");
    // Template order: every user utterance before every system one. Shuffled: the first quarter
    // already has both speakers.
    let first_system = template
        .iter()
        .position(|u| u.speaker == Speaker::System)
        .unwrap();
    assert!(template[first_system..]
        .iter()
        .all(|u| u.speaker == Speaker::System));
    let quarter = &shuffled[..shuffled.len() / 4];
    for speaker in [Speaker::User, Speaker::System] {
        assert!(quarter.iter().any(|u| u.speaker == speaker), "{speaker:?}");
    }
    let other_seed = utterances(
        &t,
        &UtteranceConfig {
            order: UtteranceOrder::Shuffled { seed: 1 },
            ..config
        },
    )
    .unwrap();
    assert_ne!(other_seed, shuffled);
    assert_eq!(sorted(&other_seed), sorted(&template));
}
