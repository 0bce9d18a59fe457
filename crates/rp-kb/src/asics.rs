//! amdgpu's device table: ASICs, their PCI ids and KFD targets, and GC IP versions
//! (data/asics.toml).

use crate::machine::{self, Asic, GcVersion};
use crate::Kb;

pub(crate) const ASICS_TOML: &str = include_str!("../data/asics.toml");

/// Parse the embedded data/asics.toml. The data is part of the binary and checked by this
/// crate's tests, so a parse failure is a build defect, not a user error.
pub(crate) fn load() -> machine::AsicsFile {
    toml::from_str(ASICS_TOML).expect("embedded data/asics.toml is valid")
}

impl Kb {
    /// The AMD ASIC the amdgpu driver binds to a PCI device id.
    pub fn asic_by_device(&self, device: u16) -> Option<&Asic> {
        self.asics.asic.iter().find(|a| a.ids.contains(&device))
    }

    /// Every ASIC of amdgpu's device table.
    pub fn asics(&self) -> &[Asic] {
        &self.asics.asic
    }

    /// The KFD target of a GC IP version (`10.3.0`).
    pub fn gc_target(&self, version: &str) -> Option<&GcVersion> {
        self.asics.gc.iter().find(|g| g.version == version)
    }

    /// Every GC IP version KFD knows.
    pub fn gc_versions(&self) -> &[GcVersion] {
        &self.asics.gc
    }

    /// The AMD ASIC with this KFD node name (`navi10`).
    pub fn asic_by_name(&self, name: &str) -> Option<&Asic> {
        self.asics
            .asic
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests {
    use crate::kb;
    use crate::{parse_amdgpu_ids, AMDGPU_IDS};

    /// The device table covers amdgpu's whole pciidlist: ids are unique, every ASIC has
    /// a KFD target the knowledge base knows or says KFD does not support it, and every
    /// GC version maps to a known processor.
    #[test]
    fn every_amdgpu_device_has_an_asic_and_a_target_or_none() {
        let kb = kb();
        assert!(kb.asics().len() >= 35, "{}", kb.asics().len());
        let mut seen = std::collections::HashSet::new();
        for a in kb.asics() {
            assert!(!a.ids.is_empty(), "{}", a.name);
            for id in &a.ids {
                assert!(seen.insert(*id), "device id {id:#06x} listed twice");
            }
            match &a.gfx {
                Some(g) => {
                    assert!(a.kfd, "{}", a.name);
                    assert!(kb.processor(g).is_some(), "{}: {g} unknown", a.name);
                }
                None => assert!(!a.kfd, "{}: no target and not marked kfd = false", a.name),
            }
            assert!(a.reference.contains("amdgpu_drv.c"), "{}", a.name);
        }
        assert!(seen.len() > 300);
        for g in kb.gc_versions() {
            assert!(kb.processor(&g.gfx).is_some(), "{}: {}", g.version, g.gfx);
        }
        // The embedded amdgpu.ids keeps its version line and parses whole.
        assert!(AMDGPU_IDS.lines().any(|l| l.trim() == "1.0.0"));
        assert!(parse_amdgpu_ids(AMDGPU_IDS).len() > 400);
    }
}
