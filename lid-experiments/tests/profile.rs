//! `lid profile`: one extraction of every hidden state, one estimate per layer, and each row equal
//! to what `lid estimate` gives on that layer of the kept vectors.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

use std::path::Path;
use std::process::Command;

fn lid(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lid"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap()
}

#[test]
fn each_row_of_the_profile_is_the_estimate_of_its_layer() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("c.txt");
    let lines: Vec<String> = (0..60)
        .map(|i| {
            format!(
                "the guest house in the north has {i} rooms and free parking for {} people",
                i % 7 + 1
            )
        })
        .collect();
    std::fs::write(&corpus, lines.join("\n")).unwrap();
    let model =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../lid-embed/tests/fixtures/tiny_roberta");
    let out = dir.path().join("profile");
    let o = lid(&[
        "profile",
        "--model",
        model.to_str().unwrap(),
        "--corpus",
        corpus.to_str().unwrap(),
        "--max-length",
        "64",
        "--n-points",
        "400",
        "--neighbors",
        "16",
        "--keep-vectors",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.join("COMPLETE").is_file());
    assert!(out.join("profile.png").is_file() && out.join("profile.svg").is_file());
    let csv = std::fs::read_to_string(out.join("profile.csv")).unwrap();
    let rows: Vec<Vec<String>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    // The tiny RoBERTa has 3 blocks: hidden states 0 (embeddings) to 3.
    assert_eq!(
        rows.iter().map(|r| r[0].as_str()).collect::<Vec<_>>(),
        ["0", "1", "2", "3"]
    );
    for row in &rows {
        let json = dir.path().join(format!("e{}.json", row[0]));
        let e = lid(&[
            "estimate",
            out.join("vectors").to_str().unwrap(),
            "--layer",
            &row[0],
            "--sample",
            "150000",
            "--keep",
            "400",
            "--neighbors",
            "16",
            "--json",
            json.to_str().unwrap(),
        ]);
        assert!(e.status.success(), "{}", String::from_utf8_lossy(&e.stderr));
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let mean = report["pointwise"]["summary"]["mean"].as_f64().unwrap();
        assert_eq!(row[2], format!("{mean:.4}"), "layer {}", row[0]);
        assert_eq!(
            row[1],
            report["pointwise"]["summary"]["count"].to_string(),
            "layer {}",
            row[0]
        );
    }
    // Without --keep-vectors the vectors are removed; a refused flag leaves no folder.
    let again = dir.path().join("again");
    let o = lid(&[
        "profile",
        "--model",
        model.to_str().unwrap(),
        "--corpus",
        corpus.to_str().unwrap(),
        "--n-points",
        "8",
        "--neighbors",
        "16",
        "--out",
        again.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--n-points 8"));
    assert!(!again.exists());
}
