//! Records, for the `versions` of every run's `config.json`, the compiler version and the exact
//! versions of the third-party crates that shape results, read from the workspace `Cargo.lock`.
//! Without a lock file (a build outside the workspace) the crates are recorded as `unknown`.

use std::path::Path;
use std::process::Command;

/// Crates whose versions a run records.
const RECORDED: &[&str] = &[
    "candle-core",
    "candle-nn",
    "tokenizers",
    "gemm",
    "rayon",
    "rand_chacha",
    "hnsw_rs",
    "kiddo",
    "plotters",
];

fn main() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let lock = Path::new(&manifest_dir).join("../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    println!("cargo:rerun-if-changed=build.rs");
    let text = std::fs::read_to_string(&lock).unwrap_or_default();
    let entries: Vec<String> = RECORDED
        .iter()
        .map(|name| format!("{name}={}", lock_version(&text, name)))
        .collect();
    println!(
        "cargo:rustc-env=LID_DEPENDENCY_VERSIONS={}",
        entries.join(";")
    );

    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "rustc unknown".into());
    println!("cargo:rustc-env=LID_RUSTC_VERSION={version}");
}

/// The version of the first `[[package]]` named `name` in a `Cargo.lock` text (joined with `+` when
/// several versions are locked).
fn lock_version(lock: &str, name: &str) -> String {
    let mut versions = Vec::new();
    let mut current: Option<&str> = None;
    for line in lock.lines() {
        let line = line.trim();
        if line == "[[package]]" {
            current = None;
        } else if let Some(n) = line.strip_prefix("name = ") {
            current = Some(n.trim_matches('"'));
        } else if let Some(v) = line.strip_prefix("version = ") {
            if current == Some(name) {
                versions.push(v.trim_matches('"').to_string());
            }
        }
    }
    if versions.is_empty() {
        "unknown".into()
    } else {
        versions.join("+")
    }
}
