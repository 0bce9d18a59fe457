//! NVIDIA and Intel device-id ranges and the chip family of each (data/families.toml).

use crate::machine::{self, Family};
use crate::Kb;

pub(crate) const FAMILIES_TOML: &str = include_str!("../data/families.toml");

/// Parse the embedded data/families.toml. The data is part of the binary and checked by this
/// crate's tests, so a parse failure is a build defect, not a user error.
pub(crate) fn load() -> machine::FamiliesFile {
    toml::from_str(FAMILIES_TOML).expect("embedded data/families.toml is valid")
}

impl Kb {
    /// The chip family of an NVIDIA or Intel device id.
    pub fn family(&self, vendor: u16, device: u16) -> Option<&Family> {
        let key = self.vendor(vendor)?.key.as_str();
        self.families
            .family
            .iter()
            .find(|f| f.vendor == key && (f.first..=f.last).contains(&device))
    }
}
