//! Shared helpers of the integration tests: fixture paths and offline-asset gating.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use lid_data::AssetDir;

/// `tests/fixtures/<rel>`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(rel)
}

/// The offline assets if `asset` (a `scripts/fetch-assets.sh` name) is present.
///
/// When it is missing: with `CI` set the test fails (CI must have fetched the assets); otherwise
/// it prints a skip line and returns `None`.
pub fn assets(asset: &str) -> Option<AssetDir> {
    let dir = AssetDir::from_env_or_workspace();
    let path = dir.root().join(asset);
    if path.is_dir() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "offline asset `{asset}` missing at {} while CI is set; run `bash scripts/fetch-assets.sh {asset}`",
            path.display()
        );
    }
    eprintln!(
        "skip: offline asset `{asset}` missing at {} (run `bash scripts/fetch-assets.sh {asset}`)",
        path.display()
    );
    None
}

/// Writes `content` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, content).unwrap();
    path
}
