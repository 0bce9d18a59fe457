//! Log-line signatures `explain` matches (data/signatures.toml).

use crate::machine::{self, Signature};
use crate::Kb;

pub(crate) const SIGNATURES_TOML: &str = include_str!("../data/signatures.toml");

/// Parse the embedded data/signatures.toml. The data is part of the binary and checked by this
/// crate's tests, so a parse failure is a build defect, not a user error.
pub(crate) fn load() -> machine::SignaturesFile {
    toml::from_str(SIGNATURES_TOML).expect("embedded data/signatures.toml is valid")
}

impl Kb {
    /// Log signatures.
    pub fn signatures(&self) -> &[Signature] {
        &self.signatures.signature
    }
}
