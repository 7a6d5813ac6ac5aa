//! [`Preset`]: the named settings every study starts from, one enum for the whole crate.
//!
//! Each study maps a preset to its settings in one constructor per preset (`paper()`, `cpu()`,
//! `quick()`), and overrides from the command line go on top; docs/reproduction.md lists, per study,
//! every difference of the `cpu` preset from the paper's settings.

use serde::{Deserialize, Serialize};

/// Named settings of a study.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// The paper's settings (docs/reproduction.md), on the paper's data and models given as local
    /// paths: for a GPU, hours to weeks.
    Paper,
    /// The paper's model and optimizer settings where a 2-core CPU allows, on the offline stand-in
    /// data, with less data, fewer steps and smaller probes (each difference listed in
    /// docs/reproduction.md): minutes to tens of minutes per study.
    Cpu,
    /// A short run of the whole pipeline of a study, for the default suite.
    Quick,
}

impl Preset {
    /// `paper`, `cpu` or `quick`: the spelling of the command line and of `config.json`.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Paper => "paper",
            Preset::Cpu => "cpu",
            Preset::Quick => "quick",
        }
    }
}

impl std::fmt::Display for Preset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
