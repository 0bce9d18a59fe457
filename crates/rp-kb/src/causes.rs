//! Root causes `explain` reports (data/causes.toml).

use crate::machine::{self, Cause};
use crate::Kb;

pub(crate) const CAUSES_TOML: &str = include_str!("../data/causes.toml");

/// Parse the embedded data/causes.toml. The data is part of the binary and checked by this
/// crate's tests, so a parse failure is a build defect, not a user error.
pub(crate) fn load() -> machine::CausesFile {
    toml::from_str(CAUSES_TOML).expect("embedded data/causes.toml is valid")
}

impl Kb {
    /// Root causes `explain` reports.
    pub fn causes(&self) -> &[Cause] {
        &self.causes.cause
    }

    /// A cause by id. Unknown ids are a programming error.
    pub fn cause(&self, id: &str) -> &Cause {
        self.causes
            .cause
            .iter()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("cause {id:?} is not in data/causes.toml"))
    }
}
