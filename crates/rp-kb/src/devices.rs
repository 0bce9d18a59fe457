//! PCI vendors of GPUs (data/devices.toml).

use crate::machine::{self, Vendor};
use crate::Kb;

pub(crate) const DEVICES_TOML: &str = include_str!("../data/devices.toml");

/// Parse the embedded data/devices.toml. The data is part of the binary and checked by this
/// crate's tests, so a parse failure is a build defect, not a user error.
pub(crate) fn load() -> machine::DevicesFile {
    toml::from_str(DEVICES_TOML).expect("embedded data/devices.toml is valid")
}

impl Kb {
    /// A GPU vendor by PCI id.
    pub fn vendor(&self, id: u16) -> Option<&Vendor> {
        self.devices.vendor.iter().find(|v| v.id == id)
    }
}
