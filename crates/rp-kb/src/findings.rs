//! The finding catalog (data/findings.toml).

use crate::machine::{self, FindingSpec};
use crate::Kb;

pub(crate) const FINDINGS_TOML: &str = include_str!("../data/findings.toml");

/// Parse the embedded data/findings.toml. The data is part of the binary and checked by this
/// crate's tests, so a parse failure is a build defect, not a user error.
pub(crate) fn load() -> machine::FindingsFile {
    toml::from_str(FINDINGS_TOML).expect("embedded data/findings.toml is valid")
}

impl Kb {
    /// A finding's catalog entry. Unknown ids are a programming error.
    pub fn finding(&self, id: &str) -> &FindingSpec {
        self.findings
            .finding
            .iter()
            .find(|f| f.id == id)
            .unwrap_or_else(|| panic!("finding id {id:?} is not in data/findings.toml"))
    }

    /// The whole finding catalog.
    pub fn findings(&self) -> &[FindingSpec] {
        &self.findings.finding
    }
}
