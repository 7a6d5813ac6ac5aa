//! Prose corpora: Wikipedia dump extraction (plain and bzip2), Lee news, sizes of the offline asset.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture
mod common;

use std::io::Write;

use lid_data::prose::{load, load_lee, load_wikipedia, ProseConfig, ProseSource, ProseUnit};
use lid_data::Error;

const DUMP: &str = r#"<mediawiki>
<page><title>Albedo</title><ns>0</ns><revision><text xml:space="preserve">{{Short description|Ratio}}
'''Albedo''' is the measure of the [[diffuse reflection]] of [[Sun|solar]] radiation.&lt;ref&gt;{{cite}}&lt;/ref&gt; It is measured on a scale from 0 to 1. Dr. Smith agreed with this.

== Terrestrial albedo ==
* A list item that should not appear in the output at all.
Fresh snow has an albedo of about 0.9.
</text></revision></page>
<page><title>Albedo (disambiguation)</title><ns>0</ns><revision><text>Albedo may refer to many things in this long line.</text></revision></page>
</mediawiki>"#;

#[test]
fn wikipedia_dump_plain_and_bzip2_give_the_same_sentences() {
    let dir = tempfile::tempdir().unwrap();
    let plain = common::write(dir.path(), "dump.xml", DUMP);
    let packed = dir.path().join("dump.xml.bz2");
    let mut enc = bzip2::write::BzEncoder::new(
        std::fs::File::create(&packed).unwrap(),
        bzip2::Compression::best(),
    );
    enc.write_all(DUMP.as_bytes()).unwrap();
    enc.finish().unwrap();
    let a = load_wikipedia(&plain, ProseUnit::Sentence, 4).unwrap();
    let b = load_wikipedia(&packed, ProseUnit::Sentence, 4).unwrap();
    assert_eq!(a, b);
    let texts: Vec<&str> = a.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(
        texts,
        vec![
            "Albedo is the measure of the diffuse reflection of solar radiation.",
            "It is measured on a scale from 0 to 1.",
            "Dr. Smith agreed with this.",
            "Fresh snow has an albedo of about 0.9.",
        ]
    );
    assert!(a.iter().all(|s| s.document == "Albedo"));
    assert_eq!((a[3].paragraph, a[3].sentence), (1, 0));
    let p = load_wikipedia(&plain, ProseUnit::Paragraph, 4).unwrap();
    assert_eq!(p.len(), 2);
}

#[test]
fn lee_corpus_one_document_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::write(
        dir.path(),
        "lee.cor",
        "First story. It has two sentences.\n\nShort.\n",
    );
    let s = load_lee(&path, ProseUnit::Sentence, 1).unwrap();
    assert_eq!(s.len(), 3);
    assert_eq!(s[2].document, "lee-002");
    let s = load_lee(&path, ProseUnit::Sentence, 2).unwrap();
    assert_eq!(s.len(), 2, "`Short.` has fewer than 2 words");
    let missing = dir.path().join("none.cor");
    assert!(matches!(
        load_lee(&missing, ProseUnit::Sentence, 1),
        Err(Error::Io { .. })
    ));
    let broken = common::write(dir.path(), "broken.bz2", "not bzip2");
    assert!(
        matches!(load_wikipedia(&broken, ProseUnit::Sentence, 1), Err(Error::Io { path, .. }) if path == broken)
    );
}

#[test]
fn offline_prose_sizes() {
    let Some(assets) = common::assets("prose") else {
        return;
    };
    let wiki = load(&assets, &ProseConfig::default()).unwrap();
    let docs: std::collections::BTreeSet<&str> = wiki.iter().map(|s| s.document.as_str()).collect();
    assert!(wiki.len() > 15_000, "{}", wiki.len());
    assert!(docs.len() > 90, "{}", docs.len());
    assert!(wiki
        .iter()
        .all(|s| !s.text.contains("{{") && !s.text.contains("[[") && !s.text.contains("<ref")));
    let lee = load(
        &assets,
        &ProseConfig {
            source: ProseSource::LeeNews,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(lee.len() > 2_500, "{}", lee.len());
}
