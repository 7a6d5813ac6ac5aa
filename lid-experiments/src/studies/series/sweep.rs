//! The sweep mechanism, independent of what a unit computes: a fixed list of units, each with its
//! own result file; shards by task index and count; resume by skipping units already done; a
//! collect step that refuses to merge an incomplete sweep.
//!
//! A sweep folder holds:
//! - [`PLAN_FILE`] (`plan.json`): the resolved settings and the list of units, in their fixed
//!   order, with a fingerprint. The first process to start the sweep writes it (create-if-absent,
//!   so concurrent shards cannot both write it); every later process checks that its own plan is
//!   the same, so all shards of one sweep agree on the unit order ([`Plan::establish`]).
//! - [`UNITS_DIR`]`/<key>.json`: one [`UnitRecord`] per finished unit, written through
//!   [`crate::run::atomic`], so a killed process leaves complete files or none (at worst a hidden
//!   `.partial` file, which nothing reads).
//!
//! Shard `I` of `K` runs the units `u` with `u % K == I` ([`Shard`]); a unit whose file exists is
//! skipped ([`run_shard`]), so rerunning a killed shard, or running the whole sweep again, only
//! computes what is missing. Because every unit's result depends only on the unit and the plan,
//! sharded and unsharded sweeps collect ([`collect`]) to the same results.
//!
//! The mechanism is generic: a unit is any serialisable value with a [`SweepUnit::key`]. The
//! checkpoint series ([`super`]) uses `(seed, step, split)` units; a study whose units are whole
//! training runs (grokking's fraction x seed runs) uses the same functions with its own unit type.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::run::atomic::{temporary_path, write_atomic};

/// The plan file of a sweep folder.
pub const PLAN_FILE: &str = "plan.json";
/// The folder of unit result files inside a sweep folder.
pub const UNITS_DIR: &str = "units";

/// One shard of a sweep: the units `u` with `u % count == index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// This shard's index, `0..count`.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

impl Shard {
    /// The whole sweep as one shard.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Shard `index` of `count`.
    ///
    /// # Errors
    /// [`Error::Flag`] naming `--task-count` for a count of 0 and `--task-index` for an index not
    /// below the count.
    pub fn new(index: usize, count: usize) -> Result<Self> {
        if count == 0 {
            return Err(Error::flag("--task-count", count, "must be at least 1"));
        }
        if index >= count {
            return Err(Error::flag(
                "--task-index",
                index,
                format!("must be below --task-count {count} (shards are numbered 0..{count})"),
            ));
        }
        Ok(Self { index, count })
    }

    /// The shard of the flags `--task-index` and `--task-count`: both or neither (the whole sweep).
    ///
    /// # Errors
    /// [`Error::Flag`] when only one is given, or as [`Shard::new`].
    pub fn from_flags(index: Option<usize>, count: Option<usize>) -> Result<Self> {
        match (index, count) {
            (None, None) => Ok(Self::ALL),
            (Some(i), Some(k)) => Self::new(i, k),
            (Some(i), None) => Err(Error::flag(
                "--task-index",
                i,
                "needs --task-count too (the number of shards)",
            )),
            (None, Some(k)) => Err(Error::flag(
                "--task-count",
                k,
                "needs --task-index too (this shard's number, 0..count)",
            )),
        }
    }

    /// Whether unit number `unit` (its position in the plan) belongs to this shard.
    pub fn contains(&self, unit: usize) -> bool {
        unit % self.count == self.index
    }

    /// The positions of this shard's units among `n` units.
    pub fn positions(&self, n: usize) -> impl Iterator<Item = usize> + '_ {
        (self.index..n).step_by(self.count)
    }
}

/// A unit of a sweep.
pub trait SweepUnit {
    /// The unit's file stem: unique within the sweep, made of ASCII letters, digits, `.`, `_` and
    /// `-`, not starting with `.`.
    fn key(&self) -> String;
}

/// Whether `key` is a valid unit file stem (see [`SweepUnit::key`]).
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with('.')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The 64-bit FNV-1a hash of the compact JSON of `value`, as 16 hex digits: a fingerprint of
/// settings that is the same on every machine and in every process.
///
/// # Errors
/// [`Error::Format`] when the value cannot be serialised (a NaN, for example).
pub fn fingerprint<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    let text = serde_json::to_string(value).map_err(|e| Error::json("fingerprint", e))?;
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    Ok(format!("{hash:016x}"))
}

/// The plan of a sweep: its settings and its units in their fixed order (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan<S, U> {
    /// What kind of sweep this is (`series`, ...); a folder of another kind is refused.
    pub kind: String,
    /// Fingerprint of `settings` and `units` ([`fingerprint`]); every unit file carries it.
    pub fingerprint: String,
    /// The resolved settings.
    pub settings: S,
    /// The units, in the order shards count them.
    pub units: Vec<U>,
}

#[derive(Serialize)]
struct Fingerprinted<'a, S, U> {
    kind: &'a str,
    settings: &'a S,
    units: &'a [U],
}

impl<S, U> Plan<S, U>
where
    S: Serialize + DeserializeOwned,
    U: Serialize + DeserializeOwned + SweepUnit,
{
    /// A plan of `units` under `settings`, fingerprinted.
    ///
    /// # Errors
    /// [`Error::Check`] for an invalid or repeated unit key; [`Error::Format`] when the settings
    /// cannot be serialised.
    pub fn new(kind: &str, settings: S, units: Vec<U>) -> Result<Self> {
        let mut keys: Vec<String> = units.iter().map(SweepUnit::key).collect();
        if let Some(bad) = keys.iter().find(|k| !valid_key(k)) {
            return Err(Error::Check(format!(
                "sweep unit key {bad:?} is not a valid file name (letters, digits, '.', '_', '-')"
            )));
        }
        keys.sort_unstable();
        if let Some(pair) = keys.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::Check(format!(
                "two sweep units share the key {:?}; every unit needs its own result file",
                pair[0]
            )));
        }
        let fingerprint = fingerprint(&Fingerprinted {
            kind,
            settings: &settings,
            units: &units,
        })?;
        Ok(Self {
            kind: kind.to_string(),
            fingerprint,
            settings,
            units,
        })
    }

    /// Makes this the plan of the sweep folder `dir` (created if needed, its parent must exist):
    /// writes [`PLAN_FILE`] if the folder has none, or checks that the one there is this plan.
    ///
    /// # Errors
    /// [`Error::RunFolder`] when the folder holds the plan of another sweep (other settings or
    /// units: it names what differs); [`Error::Io`].
    pub fn establish(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir.join(UNITS_DIR)).map_err(|e| Error::io(dir, e))?;
        let path = dir.join(PLAN_FILE);
        if !path.exists() {
            let text = serde_json::to_string_pretty(self).map_err(|e| Error::json(&path, e))?;
            write_once(&path, (text + "\n").as_bytes())?;
        }
        let existing: serde_json::Value = read_json(&path)?;
        let ours = serde_json::to_value(self).map_err(|e| Error::json(&path, e))?;
        if existing == ours {
            return Ok(());
        }
        Err(Error::RunFolder {
            path: dir.to_path_buf(),
            reason: format!(
                "holds another sweep ({}); use a new output folder, or the spec and checkpoints \
                 this sweep was started with",
                describe_difference(&existing, &ours)
            ),
        })
    }

    /// Reads the plan of the sweep folder `dir`.
    ///
    /// # Errors
    /// [`Error::RunFolder`] when there is no plan (no sweep was started there) or it is of another
    /// kind; [`Error::Format`] when it cannot be parsed.
    pub fn read(dir: &Path, kind: &str) -> Result<Self> {
        let path = dir.join(PLAN_FILE);
        if !path.is_file() {
            return Err(Error::RunFolder {
                path: dir.to_path_buf(),
                reason: format!(
                    "has no {PLAN_FILE}: no sweep was started here (run `lid sweep run` first)"
                ),
            });
        }
        let plan: Self = read_json(&path)?;
        if plan.kind != kind {
            return Err(Error::RunFolder {
                path: dir.to_path_buf(),
                reason: format!("holds a `{}` sweep, not a `{kind}` sweep", plan.kind),
            });
        }
        Ok(plan)
    }

    /// The unit result files of this plan in `dir`.
    pub fn store(&self, dir: &Path) -> UnitStore {
        UnitStore::new(dir, &self.fingerprint)
    }
}

/// What differs between two plans, in a few words.
fn describe_difference(existing: &serde_json::Value, ours: &serde_json::Value) -> String {
    let count = |v: &serde_json::Value| v["units"].as_array().map_or(0, Vec::len);
    if existing["kind"] != ours["kind"] {
        return format!("a `{}` sweep", existing["kind"].as_str().unwrap_or("?"));
    }
    if existing["settings"] != ours["settings"] {
        let field = match (&existing["settings"], &ours["settings"]) {
            (serde_json::Value::Object(a), serde_json::Value::Object(b)) => a
                .keys()
                .chain(b.keys())
                .find(|k| a.get(*k) != b.get(*k))
                .cloned(),
            _ => None,
        };
        return match field {
            Some(f) => format!("planned with other settings: `{f}` differs"),
            None => "planned with other settings".into(),
        };
    }
    format!(
        "planned with other units: {} there, {} now",
        count(existing),
        count(ours)
    )
}

/// Writes `bytes` to `path` only if `path` does not exist, atomically (a temporary file linked to
/// the final name, which fails when the name is taken). Returns whether this call wrote it.
fn write_once(path: &Path, bytes: &[u8]) -> Result<bool> {
    let temp = temporary_path(path);
    let published = (|| {
        std::fs::write(&temp, bytes)?;
        std::fs::File::open(&temp)?.sync_all()?;
        match std::fs::hard_link(&temp, path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    })();
    let _ = std::fs::remove_file(&temp);
    published.map_err(|e| Error::io(path, e))
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::Format {
        action: "parse",
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// The contents of a unit result file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitRecord<R> {
    /// The unit's key (its file stem).
    pub key: String,
    /// The fingerprint of the plan it was computed under.
    pub fingerprint: String,
    /// The result.
    pub result: R,
}

/// The unit result files of one sweep: `<sweep>/units/<key>.json`.
#[derive(Debug, Clone)]
pub struct UnitStore {
    dir: PathBuf,
    fingerprint: String,
}

impl UnitStore {
    /// The unit files of the sweep folder `sweep_dir` under the plan fingerprint `fingerprint`.
    pub fn new(sweep_dir: &Path, fingerprint: &str) -> Self {
        Self {
            dir: sweep_dir.join(UNITS_DIR),
            fingerprint: fingerprint.to_string(),
        }
    }

    /// The folder of the unit files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The result file of the unit `key`.
    pub fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    /// The result of unit `key`, `None` when it has no file yet.
    ///
    /// # Errors
    /// [`Error::Format`] for a file that cannot be parsed; [`Error::RunFolder`] for a file of
    /// another unit or another plan (copied in from another sweep).
    pub fn load<R: DeserializeOwned>(&self, key: &str) -> Result<Option<R>> {
        let path = self.path(key);
        if !path.exists() {
            return Ok(None);
        }
        let record: UnitRecord<R> = read_json(&path)?;
        if record.key != key || record.fingerprint != self.fingerprint {
            return Err(Error::RunFolder {
                path,
                reason: format!(
                    "belongs to unit {:?} of plan {}, not to unit {key:?} of plan {}; remove it",
                    record.key, record.fingerprint, self.fingerprint
                ),
            });
        }
        Ok(Some(record.result))
    }

    /// Writes the result of unit `key` (complete or not at all).
    ///
    /// # Errors
    /// [`Error::Format`], [`Error::Io`].
    pub fn store<R: Serialize>(&self, key: &str, result: &R) -> Result<PathBuf> {
        let path = self.path(key);
        let record = UnitRecord {
            key: key.to_string(),
            fingerprint: self.fingerprint.clone(),
            result,
        };
        let text = serde_json::to_string_pretty(&record).map_err(|e| Error::json(&path, e))?;
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        Ok(write_atomic(&path, (text + "\n").as_bytes())?)
    }
}

/// What one shard did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardReport {
    /// Units of the shard.
    pub units: usize,
    /// Keys of the units computed now.
    pub computed: Vec<String>,
    /// Keys of the units skipped because their result file already existed.
    pub skipped: Vec<String>,
}

/// Runs the units of `shard` (see the module docs): each unit without a result file is computed
/// by `compute(position, unit)` and stored at once; units with a file are skipped.
///
/// # Errors
/// The first error of `compute` or of the store; units finished before it keep their files.
pub fn run_shard<U, R>(
    store: &UnitStore,
    units: &[U],
    shard: Shard,
    mut compute: impl FnMut(usize, &U) -> Result<R>,
    log: &mut dyn FnMut(&str),
) -> Result<ShardReport>
where
    U: SweepUnit,
    R: Serialize + DeserializeOwned,
{
    let mut report = ShardReport::default();
    let positions: Vec<usize> = shard.positions(units.len()).collect();
    report.units = positions.len();
    for (done, &u) in positions.iter().enumerate() {
        let key = units[u].key();
        if store.load::<R>(&key)?.is_some() {
            report.skipped.push(key);
            continue;
        }
        let result = compute(u, &units[u])?;
        store.store(&key, &result)?;
        log(&format!(
            "unit {key} done ({} of {} in shard {}/{})",
            done + 1,
            positions.len(),
            shard.index,
            shard.count
        ));
        report.computed.push(key);
    }
    Ok(report)
}

/// The results of every unit, in plan order.
///
/// # Errors
/// [`Error::SweepIncomplete`] naming the units without a result file (the sweep, or one of its
/// shards, has not finished); errors of [`UnitStore::load`].
pub fn collect<U, R>(store: &UnitStore, units: &[U]) -> Result<Vec<R>>
where
    U: SweepUnit,
    R: DeserializeOwned,
{
    let mut results = Vec::with_capacity(units.len());
    let mut missing = Vec::new();
    for unit in units {
        let key = unit.key();
        match store.load::<R>(&key)? {
            Some(r) => results.push(r),
            None => missing.push(key),
        }
    }
    if missing.is_empty() {
        return Ok(results);
    }
    const SHOWN: usize = 8;
    let mut names = missing
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if missing.len() > SHOWN {
        names.push_str(&format!(", and {} more", missing.len() - SHOWN));
    }
    Err(Error::SweepIncomplete {
        dir: store.dir().to_path_buf(),
        missing: missing.len(),
        total: units.len(),
        units: names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct U(u32);
    impl SweepUnit for U {
        fn key(&self) -> String {
            format!("u{}", self.0)
        }
    }

    #[test]
    fn shards_partition_the_units() {
        for k in 1..5 {
            let mut seen = vec![0; 11];
            for i in 0..k {
                let shard = Shard::new(i, k).unwrap();
                for u in shard.positions(11) {
                    assert!(shard.contains(u));
                    seen[u] += 1;
                }
            }
            assert!(seen.iter().all(|&c| c == 1), "{k}: {seen:?}");
        }
        let err = Shard::new(2, 2).unwrap_err().to_string();
        assert!(err.contains("--task-index 2"), "{err}");
        let err = Shard::new(0, 0).unwrap_err().to_string();
        assert!(err.contains("--task-count 0"), "{err}");
        let err = Shard::from_flags(Some(1), None).unwrap_err().to_string();
        assert!(err.contains("needs --task-count"), "{err}");
        assert_eq!(Shard::from_flags(None, None).unwrap(), Shard::ALL);
    }

    #[test]
    fn plans_are_written_once_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let plan = Plan::new("demo", serde_json::json!({"a": 1}), vec![U(1), U(2)]).unwrap();
        plan.establish(dir.path()).unwrap();
        plan.establish(dir.path()).unwrap();
        let other = Plan::new("demo", serde_json::json!({"a": 2}), vec![U(1), U(2)]).unwrap();
        let err = other.establish(dir.path()).unwrap_err().to_string();
        assert!(err.contains("`a` differs"), "{err}");
        let more = Plan::new("demo", serde_json::json!({"a": 1}), vec![U(1)]).unwrap();
        let err = more.establish(dir.path()).unwrap_err().to_string();
        assert!(err.contains("2 there, 1 now"), "{err}");
        let read: Plan<serde_json::Value, U> = Plan::read(dir.path(), "demo").unwrap();
        assert_eq!(read, plan);
        assert!(Plan::<serde_json::Value, U>::read(dir.path(), "other").is_err());
        assert!(Plan::new("demo", 0, vec![U(1), U(1)]).is_err());
        // Written once: a second writer finds the name taken.
        let path = dir.path().join("once.json");
        assert!(write_once(&path, b"first").unwrap());
        assert!(!write_once(&path, b"second").unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
    }

    #[test]
    fn shards_resume_and_collect_refuses_missing_units() {
        let dir = tempfile::tempdir().unwrap();
        let units: Vec<U> = (0..5).map(U).collect();
        let plan = Plan::new("demo", (), units.clone()).unwrap();
        plan.establish(dir.path()).unwrap();
        let store = plan.store(dir.path());
        let mut calls = 0;
        // A shard that dies after its first unit.
        let err = run_shard(
            &store,
            &units,
            Shard::new(0, 2).unwrap(),
            |_, u: &U| {
                calls += 1;
                if calls > 1 {
                    return Err(Error::Check("killed".into()));
                }
                Ok(u.0 * 10)
            },
            &mut |_| {},
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "killed");
        let err = collect::<U, u32>(&store, &units).unwrap_err().to_string();
        assert!(err.contains("4 of 5 units"), "{err}");
        assert!(err.contains("u1, u2, u3, u4"), "{err}");
        // The rerun skips the finished unit.
        let report = run_shard(
            &store,
            &units,
            Shard::new(0, 2).unwrap(),
            |_, u: &U| Ok(u.0 * 10),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(report.skipped, vec!["u0"]);
        assert_eq!(report.computed, vec!["u2", "u4"]);
        run_shard(
            &store,
            &units,
            Shard::ALL,
            |_, u: &U| Ok(u.0 * 10),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(
            collect::<U, u32>(&store, &units).unwrap(),
            vec![0, 10, 20, 30, 40]
        );
        // A file of another plan is refused, not silently used.
        let other = Plan::new("demo", 1, units.clone()).unwrap();
        let err = collect::<U, u32>(&other.store(dir.path()), &units)
            .unwrap_err()
            .to_string();
        assert!(err.contains("of plan"), "{err}");
    }
}
