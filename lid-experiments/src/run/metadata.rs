//! Run metadata for `config.json`: what ran (versions, git commit, command line), when (UTC start
//! and end), and with how many threads. Gathering it never fails a run: what cannot be found (no
//! `git`, no repository) is recorded as `null`.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// What [`crate::run::RunFolder`] records besides a study's own settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMetadata {
    /// Study name (`"validation"`, `"grokking"`, `"suite"`, ...).
    pub study: String,
    /// Versions: `lid-experiments` and the lid crates (the workspace version), `rustc`, and the
    /// third-party crates that shape results (from `Cargo.lock` at build time; `"unknown"` when the
    /// build had no lock file).
    pub versions: BTreeMap<String, String>,
    /// `git rev-parse HEAD` of the source tree the binary was built from ([`git_state`]), when
    /// available.
    pub git_commit: Option<String>,
    /// Whether tracked files differ from that commit (`git status --porcelain
    /// --untracked-files=no`), when available.
    pub git_dirty: Option<bool>,
    /// The command line of this process.
    pub command_line: Vec<String>,
    /// Start time, UTC, ISO 8601.
    pub started_utc: String,
    /// End time, UTC, ISO 8601; `None` until the run finished.
    pub finished_utc: Option<String>,
    /// Wall-clock seconds from start to end; `None` until the run finished.
    pub wall_seconds: Option<f64>,
    /// Worker threads of the global pool (results do not depend on it).
    pub threads: usize,
    /// Every seed the run uses.
    pub seeds: Vec<u64>,
}

impl RunMetadata {
    /// Metadata of a run of `study` starting now.
    pub fn start(study: &str, seeds: &[u64], started: SystemTime) -> Self {
        let (git_commit, git_dirty) = git_state();
        Self {
            study: study.to_string(),
            versions: versions(),
            git_commit,
            git_dirty,
            command_line: std::env::args().collect(),
            started_utc: utc_timestamp(started),
            finished_utc: None,
            wall_seconds: None,
            threads: rayon::current_num_threads(),
            seeds: seeds.to_vec(),
        }
    }

    /// Records the end of the run.
    pub fn finish(&mut self, started: SystemTime, finished: SystemTime) {
        self.finished_utc = Some(utc_timestamp(finished));
        self.wall_seconds = Some(
            finished
                .duration_since(started)
                .map_or(0.0, |d| d.as_secs_f64()),
        );
    }
}

/// Versions of the code that made a run (see [`RunMetadata::versions`]).
pub fn versions() -> BTreeMap<String, String> {
    let mut v = BTreeMap::new();
    v.insert("lid".to_string(), env!("CARGO_PKG_VERSION").to_string());
    v.insert("rustc".to_string(), env!("LID_RUSTC_VERSION").to_string());
    for entry in env!("LID_DEPENDENCY_VERSIONS").split(';') {
        if let Some((name, version)) = entry.split_once('=') {
            v.insert(name.to_string(), version.to_string());
        }
    }
    v
}

/// `git rev-parse HEAD` and whether tracked files changed, of the source tree this binary was built
/// from (the workspace of `lid-experiments`, whatever the current directory: a run started from
/// another folder recorded no commit); `None` when git is missing or that tree is gone or is not a
/// repository (never an error: a run must not fail for lack of git).
pub fn git_state() -> (Option<String>, Option<bool>) {
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(source)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = run(&["rev-parse", "HEAD"]).filter(|s| !s.is_empty());
    let dirty = commit
        .as_ref()
        .and_then(|_| run(&["status", "--porcelain", "--untracked-files=no"]))
        .map(|s| !s.is_empty());
    (commit, dirty)
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a time (days-to-civil conversion of Howard Hinnant's algorithm).
pub fn utc_timestamp(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// `YYYYMMDD-HHMMSS` (UTC), for folder names.
pub fn utc_stamp_for_names(time: SystemTime) -> String {
    let iso = utc_timestamp(time).replace([':', '-'], "");
    // "YYYYMMDDTHHMMSSZ" -> "YYYYMMDD-HHMMSS"
    format!("{}-{}", &iso[..8], &iso[9..15])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_utc_civil_dates() {
        assert_eq!(utc_timestamp(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        // 2024-02-29T12:34:56Z (a leap day) = 1709210096.
        let t = UNIX_EPOCH + Duration::from_secs(1_709_210_096);
        assert_eq!(utc_timestamp(t), "2024-02-29T12:34:56Z");
        assert_eq!(utc_stamp_for_names(t), "20240229-123456");
    }

    #[test]
    fn versions_name_the_code() {
        let v = versions();
        assert_eq!(v["lid"], env!("CARGO_PKG_VERSION"));
        assert!(v["rustc"].starts_with("rustc "), "{:?}", v["rustc"]);
        assert!(v.contains_key("candle-core"), "{v:?}");
    }

    #[test]
    fn finish_records_end_and_duration() {
        let t0 = UNIX_EPOCH + Duration::from_secs(100);
        let mut m = RunMetadata::start("x", &[1, 2], t0);
        assert_eq!(m.finished_utc, None);
        m.finish(t0, t0 + Duration::from_millis(2500));
        assert_eq!(m.finished_utc.as_deref(), Some("1970-01-01T00:01:42Z"));
        assert_eq!(m.wall_seconds, Some(2.5));
        assert_eq!(m.seeds, vec![1, 2]);
    }
}
