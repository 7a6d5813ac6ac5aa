//! Where the offline assets live.
//!
//! `bash scripts/fetch-assets.sh` downloads pinned PyPI packages and unpacks the parts we use into
//! one folder (default `<repo>/assets`, or `$LID_ASSETS`):
//!
//! | asset        | files                                                             | from                |
//! |--------------|-------------------------------------------------------------------|---------------------|
//! | `convlab`    | `multiwoz/auto_{user,system}_template_nlg.json`, `db/*_db.json`   | `convlab==3.0.1`    |
//! | `chatterbot` | `english/*.yml`                                                   | `chatterbot-corpus==1.3.3` |
//! | `prose`      | `enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2`, `lee_background.cor` | `gensim==4.4.0` (test data) |
//!
//! [`AssetDir`] only builds paths; [`AssetDir::require`] checks that one exists and otherwise
//! returns [`Error::MissingAsset`] with the command that fetches it. No function here reads the
//! environment unless its name says so ([`AssetDir::from_env_or_workspace`]).

use std::path::{Path, PathBuf};

use crate::text::Speaker;
use crate::{Error, Result};

/// The root folder of the offline assets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetDir {
    root: PathBuf,
}

impl AssetDir {
    /// Assets under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        AssetDir { root: root.into() }
    }

    /// `<workspace>/assets`, located from this crate's source folder at compile time (the default
    /// of `scripts/fetch-assets.sh`).
    pub fn workspace() -> Self {
        AssetDir::new(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("assets"),
        )
    }

    /// `$LID_ASSETS` when set and non-empty (as `scripts/fetch-assets.sh` reads it), else
    /// [`AssetDir::workspace`].
    pub fn from_env_or_workspace() -> Self {
        match std::env::var_os("LID_ASSETS") {
            Some(dir) if !dir.is_empty() => AssetDir::new(dir),
            _ => AssetDir::workspace(),
        }
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// convlab's MultiWOZ template file of `speaker`
    /// (`convlab/multiwoz/auto_{user,system}_template_nlg.json`).
    pub fn convlab_templates(&self, speaker: Speaker) -> PathBuf {
        let name = match speaker {
            Speaker::User => "auto_user_template_nlg.json",
            Speaker::System => "auto_system_template_nlg.json",
        };
        self.root.join("convlab").join("multiwoz").join(name)
    }

    /// convlab's MultiWOZ database folder (`convlab/db`, files `*_db.json`).
    pub fn convlab_db(&self) -> PathBuf {
        self.root.join("convlab").join("db")
    }

    /// The chatterbot English corpus folder (`chatterbot/english`, files `*.yml`).
    pub fn chatterbot_english(&self) -> PathBuf {
        self.root.join("chatterbot").join("english")
    }

    /// The prose folder (`prose`).
    pub fn prose(&self) -> PathBuf {
        self.root.join("prose")
    }

    /// `path` if it exists, else [`Error::MissingAsset`] naming `asset` (the name that
    /// `scripts/fetch-assets.sh` takes).
    pub fn require(path: PathBuf, asset: &'static str) -> Result<PathBuf> {
        if path.exists() {
            Ok(path)
        } else {
            Err(Error::MissingAsset { path, asset })
        }
    }
}
