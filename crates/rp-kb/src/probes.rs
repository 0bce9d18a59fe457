//! What each built-in probe stands for (data/probes.toml).

use crate::machine::{self, ProbeSpec};
use crate::Kb;

pub(crate) const PROBES_TOML: &str = include_str!("../data/probes.toml");

/// Parse the embedded data/probes.toml. The data is part of the binary and checked by this
/// crate's tests, so a parse failure is a build defect, not a user error.
pub(crate) fn load() -> machine::ProbesFile {
    toml::from_str(PROBES_TOML).expect("embedded data/probes.toml is valid")
}

impl Kb {
    /// What each built-in probe stands for.
    pub fn probes(&self) -> &[ProbeSpec] {
        &self.probes.probe
    }

    /// One probe's entry.
    pub fn probe(&self, name: &str) -> Option<&ProbeSpec> {
        self.probes.probe.iter().find(|p| p.name == name)
    }
}
