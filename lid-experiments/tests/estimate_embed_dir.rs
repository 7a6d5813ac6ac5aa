//! `lid estimate DIR` on a `lid embed` output folder: every shard of the chosen layer is read in
//! order (the estimates equal those of the same layer written as one `.npy`), the manifest's model,
//! layer and corpus reach the JSON report, and a missing or ambiguous layer is a clear error.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn lid(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lid"))
        .args(args)
        .output()
        .expect("the lid binary runs")
}

fn check(o: &Output) {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../lid-embed/tests/fixtures/tiny_gpt2")
}

#[test]
fn a_sharded_folder_estimates_like_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.txt");
    let lines: Vec<String> = (0..40)
        .map(|i| {
            format!(
                "sentence number {i} about trains, hotels and the weather {}",
                i * 7
            )
        })
        .collect();
    std::fs::write(&corpus, lines.join("\n")).unwrap();
    let (m, c) = (
        model().to_string_lossy().into_owned(),
        corpus.to_string_lossy().into_owned(),
    );
    let folder = dir.path().join("emb");
    let single = dir.path().join("last.npy");
    let common = [
        "embed",
        "--quiet",
        "--model",
        &m,
        "--corpus",
        &c,
        "--max-length",
        "128",
    ];
    // Two layers, shards of 100 rows (several per layer).
    let mut args = common.to_vec();
    args.extend(["--layers", "-1,1", "--shard-rows", "100", "--out"]);
    args.push(folder.to_str().unwrap());
    check(&lid(&args));
    let mut args = common.to_vec();
    args.extend(["--out", single.to_str().unwrap()]);
    check(&lid(&args));
    let shards = std::fs::read_dir(folder.join("layer_3")).unwrap().count();
    assert!(shards > 2, "{shards} shards");

    let json = dir.path().join("r.json");
    let pw_dir = dir.path().join("pw_dir.npy");
    let pw_file = dir.path().join("pw_file.npy");
    check(&lid(&[
        "estimate",
        folder.to_str().unwrap(),
        "--layer",
        "-1",
        "--neighbors",
        "20",
        "--pointwise-out",
        pw_dir.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]));
    check(&lid(&[
        "estimate",
        single.to_str().unwrap(),
        "--neighbors",
        "20",
        "--pointwise-out",
        pw_file.to_str().unwrap(),
    ]));
    assert_eq!(
        std::fs::read(&pw_dir).unwrap(),
        std::fs::read(&pw_file).unwrap(),
        "the folder's shards, read in order, are the single file"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let e = &report["embedding"];
    assert_eq!(e["model"].as_str(), Some(m.as_str()));
    assert_eq!(e["corpus"].as_str(), Some(c.as_str()));
    assert_eq!(e["layer_requested"], -1);
    assert_eq!(e["layer_index"], 3);
    assert_eq!(e["architecture"], "Gpt2");
    assert_eq!(e["shards"].as_u64(), Some(shards as u64));
    assert_eq!(report["input"]["format"], "embed_directory");

    // The absolute index names the same layer; two layers need --layer; an absent one is named.
    let o = lid(&[
        "estimate",
        folder.to_str().unwrap(),
        "--layer",
        "3",
        "--neighbors",
        "20",
    ]);
    check(&o);
    let o = lid(&["estimate", folder.to_str().unwrap(), "--neighbors", "20"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("--layer"), "{err}");
    let o = lid(&["estimate", folder.to_str().unwrap(), "--layer", "2"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success()
            && err.contains("layer 2 is not stored")
            && err.contains("-1 (index 3)"),
        "{err}"
    );
}
