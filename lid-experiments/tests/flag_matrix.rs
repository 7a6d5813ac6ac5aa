//! The generated half of docs/reliability.md's bad-input matrix: every flag that takes a value,
//! of every command listed in [`COMMANDS`], read from the command's own `--help` (so a new flag is
//! covered the day it is added), given each value of [`VALUES`] (zero, one, negative, huge, not a
//! number, not finite, empty) on top of a minimal valid invocation, and run as a child process.
//!
//! Each cell must end one of three ways, and the test lists every cell that does not:
//! - success (exit 0): the value is valid, the command did its work;
//! - a refusal (exit 1) whose `Error:` line names the flag (`--name`, or its short form), or the
//!   file the value names when the flag takes a path, and that leaves no file or folder behind;
//! - clap's usage error (exit 2), which names the flag itself;
//!
//! and never a panic, another exit status, or a run longer than [`LIMIT`] (an unbounded
//! allocation or loop). Each cell runs in its own empty working folder, so a value that is taken
//! as an output path writes nothing outside it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ndarray::Array2;
use ndarray_npy::WriteNpyExt;

/// Values tried for every flag.
const VALUES: [&str; 9] = [
    "0",
    "1",
    "-1",
    "18446744073709551616",
    "1e308",
    "NaN",
    "inf",
    "abc",
    "",
];

/// The longest a cell may run.
const LIMIT: Duration = Duration::from_secs(60);

/// The subcommands under test, with their binary (their minimal valid runs: [`base_args`]). Of the
/// studies only grokking is here: its smoke preset runs in about a second, so its valid cells run
/// the whole study; the other studies' smoke runs train a transformer for tens of seconds each.
const COMMANDS: [(&str, &str); 6] = [
    (LID, "estimate"),
    (LID, "knn"),
    (LID, "embed"),
    (LID, "compare"),
    (LID, "profile"),
    (LID_EXPERIMENTS, "grokking"),
];

const LID: &str = env!("CARGO_BIN_EXE_lid");
const LID_EXPERIMENTS: &str = env!("CARGO_BIN_EXE_lid-experiments");

struct Fixtures {
    cloud: PathBuf,
    model: PathBuf,
    corpus: PathBuf,
}

fn fixtures(dir: &Path) -> Fixtures {
    // 300 points of a 3-d Gaussian in 6 coordinates: every default (L = 128) is valid.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f32 / (1u64 << 53) as f32 - 0.5
    };
    let mut a = Array2::<f32>::zeros((300, 6));
    for mut row in a.rows_mut() {
        for j in 0..3 {
            row[j] = next();
        }
    }
    let cloud = dir.join("cloud.npy");
    a.write_npy(std::fs::File::create(&cloud).unwrap()).unwrap();
    let corpus = dir.join("corpus.txt");
    let lines: Vec<String> = (0..12)
        .map(|i| format!("the hotel in the north has {i} free parking places"))
        .collect();
    std::fs::write(&corpus, lines.join("\n")).unwrap();
    Fixtures {
        cloud,
        model: Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../lid-embed/tests/fixtures/tiny_roberta"),
        corpus,
    }
}

/// The minimal valid invocation of `command` (its output, if any, goes into the cell's folder).
fn base_args(command: &str, f: &Fixtures) -> Vec<String> {
    let s = |p: &Path| p.to_str().unwrap().to_string();
    match command {
        "estimate" => vec!["estimate".into(), s(&f.cloud)],
        "knn" => vec![
            "knn".into(),
            s(&f.cloud),
            "--k".into(),
            "5".into(),
            "--indices-out".into(),
            "indices.npy".into(),
        ],
        "embed" => vec![
            "embed".into(),
            "--model".into(),
            s(&f.model),
            "--corpus".into(),
            s(&f.corpus),
            "--out".into(),
            "vectors".into(),
            "--max-length".into(),
            "64".into(),
            "--quiet".into(),
        ],
        "compare" => vec![
            "compare".into(),
            "--model".into(),
            s(&f.model),
            "--model".into(),
            s(&f.model),
            "--corpus".into(),
            s(&f.corpus),
            "--out".into(),
            "run".into(),
            "--sequences".into(),
            "12".into(),
            "--n-points".into(),
            "200".into(),
            "--neighbors".into(),
            "8".into(),
            "--max-length".into(),
            "64".into(),
        ],
        "profile" => vec![
            "profile".into(),
            "--model".into(),
            s(&f.model),
            "--corpus".into(),
            s(&f.corpus),
            "--out".into(),
            "run".into(),
            "--max-length".into(),
            "64".into(),
            "--n-points".into(),
            "100".into(),
            "--neighbors".into(),
            "8".into(),
        ],
        "grokking" => vec![
            "grokking".into(),
            "--preset".into(),
            "smoke".into(),
            "--out".into(),
            "run".into(),
        ],
        other => panic!("no base invocation for {other}"),
    }
}

/// A flag that takes a value, as `--help` lists it.
#[derive(Debug)]
struct Flag {
    long: String,
    short: Option<char>,
    value_name: String,
}

/// The flags of `command` that take a value, from its `--help`.
fn value_flags(binary: &str, command: &str) -> Vec<Flag> {
    let out = Command::new(binary)
        .args([command, "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    let mut flags = Vec::new();
    for line in help.lines() {
        let t = line.trim_start();
        // "-k, --k <K>": a short alias before the long name.
        let short = t
            .strip_prefix('-')
            .filter(|r| r.len() > 2 && &r[1..3] == ", ")
            .and_then(|r| r.chars().next());
        let t = if short.is_some() { &t[4..] } else { t };
        let Some(rest) = t.strip_prefix("--") else {
            continue;
        };
        let mut parts = rest.splitn(2, ' ');
        let name = parts.next().unwrap_or_default();
        let Some(value) = parts
            .next()
            .and_then(|v| v.strip_prefix('<'))
            .and_then(|v| v.split('>').next())
        else {
            continue;
        };
        if name != "help" {
            flags.push(Flag {
                long: name.to_string(),
                short,
                value_name: value.to_string(),
            });
        }
    }
    flags
}

/// Flags whose value is a path: a refusal may name the file instead of the flag.
fn takes_path(value_name: &str) -> bool {
    [
        "OUT",
        "PATH",
        "DIR",
        "FILE",
        "MODEL",
        "CORPUS",
        "TOKENIZER",
        "JSON",
        "INPUT",
    ]
    .iter()
    .any(|k| value_name.contains(k))
}

struct Cell {
    binary: &'static str,
    command: &'static str,
    flag: String,
    value: &'static str,
    problem: String,
}

fn run_cell(
    (binary, command): (&'static str, &'static str),
    flag: &Flag,
    value: &'static str,
    f: &Fixtures,
) -> Option<Cell> {
    let (long, value_name) = (flag.long.as_str(), flag.value_name.as_str());
    let dir = tempfile::tempdir().unwrap();
    let mut args = base_args(command, f);
    // A flag already in the base invocation is replaced, not repeated.
    if let Some(i) = args.iter().position(|a| a == &format!("--{long}")) {
        args.drain(i..i + 2);
    }
    args.push(format!("--{long}"));
    args.push(value.to_string());
    let mut child = Command::new(binary)
        .args(&args)
        .current_dir(dir.path())
        .env("RUST_BACKTRACE", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > LIMIT {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    let cell = |problem: String| Cell {
        binary,
        command,
        flag: long.to_string(),
        value,
        problem,
    };
    let Some(status) = status else {
        return Some(cell(format!("still running after {LIMIT:?}")));
    };
    if err.contains("panicked") {
        return Some(cell(format!("panic: {err}")));
    }
    match status.code() {
        Some(0) | Some(2) => None,
        Some(1) => {
            let line = err
                .lines()
                .find(|l| l.starts_with("Error:"))
                .unwrap_or_default();
            let names_flag = line.contains(&format!("--{long}"))
                || flag.short.is_some_and(|c| line.contains(&format!("-{c} ")));
            let names_file = takes_path(value_name) && !value.is_empty() && line.contains(value);
            if !(names_flag || names_file) {
                return Some(cell(format!("error without the flag: {line}")));
            }
            // A refusal leaves nothing behind: the outputs of every base invocation go into the
            // cell's own folder, which must still be empty.
            let left: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            (!left.is_empty()).then(|| cell(format!("refused but left {left:?}: {line}")))
        }
        other => Some(cell(format!("exit status {other:?}: {err}"))),
    }
}

#[test]
fn every_value_flag_of_every_command_is_validated_or_works() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixtures(dir.path());
    let mut cells = 0;
    let mut problems = Vec::new();
    for (binary, command) in COMMANDS {
        let flags = value_flags(binary, command);
        assert!(
            flags.len() >= 3,
            "{command}: flags not read from --help: {flags:?}"
        );
        for flag in &flags {
            for value in VALUES {
                cells += 1;
                if let Some(p) = run_cell((binary, command), flag, value, &f) {
                    problems.push(p);
                }
            }
        }
    }
    let listing: Vec<String> = problems
        .iter()
        .map(|c| {
            let binary = Path::new(c.binary).file_name().unwrap().to_string_lossy();
            format!(
                "{binary} {} --{} {:?}: {}",
                c.command, c.flag, c.value, c.problem
            )
        })
        .collect();
    assert!(
        problems.is_empty(),
        "{} of {cells} cells misbehave:\n{}",
        problems.len(),
        listing.join("\n")
    );
}
