//! Marketing names: libdrm's amdgpu.ids (by device and revision), pci.ids (by device),
//! then the embedded table (docs/machine.md).

use crate::SysRoot;
use rp_report::NameSource;

/// amdgpu.ids locations (docs/machine.md).
const AMDGPU_IDS: [&str; 2] = [
    "/usr/share/libdrm/amdgpu.ids",
    "/usr/local/share/libdrm/amdgpu.ids",
];
/// pci.ids locations (docs/machine.md).
const PCI_IDS: [&str; 3] = [
    "/usr/share/misc/pci.ids",
    "/usr/share/hwdata/pci.ids",
    "/usr/share/pci.ids",
];

/// Name tables read from a sysroot, loaded on first use.
#[derive(Debug, Default)]
pub struct Ids {
    amdgpu: Option<Vec<(u16, u8, String)>>,
    pci: Option<String>,
}

pub use rp_kb::parse_amdgpu_ids;

/// Look a device up in pci.ids text: the `\tdddd  Name` line under vendor `vvvv`.
pub fn pci_ids_name(text: &str, vendor: u16, device: u16) -> Option<String> {
    let vtag = format!("{vendor:04x}  ");
    let dtag = format!("\t{device:04x}  ");
    let mut in_vendor = false;
    for line in text.lines() {
        if line.starts_with('C') && line.len() > 1 && line.as_bytes()[1] == b' ' {
            break; // class section
        }
        if !line.starts_with('\t') && !line.starts_with('#') && !line.is_empty() {
            in_vendor = line.to_ascii_lowercase().starts_with(&vtag);
            continue;
        }
        if in_vendor && line.to_ascii_lowercase().starts_with(&dtag) {
            return Some(line[dtag.len()..].trim().to_string());
        }
    }
    None
}

impl Ids {
    fn amdgpu(&mut self, root: &SysRoot) -> &[(u16, u8, String)] {
        self.amdgpu.get_or_insert_with(|| {
            AMDGPU_IDS
                .iter()
                .find_map(|p| root.text(&root.host(p)))
                .map(|t| parse_amdgpu_ids(&t))
                .unwrap_or_default()
        })
    }

    fn pci(&mut self, root: &SysRoot) -> &str {
        self.pci.get_or_insert_with(|| {
            PCI_IDS
                .iter()
                .find_map(|p| root.text(&root.host(p)))
                .unwrap_or_default()
        })
    }

    /// The marketing name of a GPU and where it came from: amdgpu.ids (AMD, exact
    /// revision), the embedded table, pci.ids, or a generic name.
    pub fn name(
        &mut self,
        root: &SysRoot,
        vendor: u16,
        device: u16,
        revision: Option<u8>,
    ) -> (String, NameSource) {
        let kb = rp_kb::kb();
        if vendor == 0x1002 {
            if let Some(rev) = revision {
                if let Some((_, _, n)) = self
                    .amdgpu(root)
                    .iter()
                    .find(|(d, r, _)| *d == device && *r == rev)
                {
                    return (n.clone(), NameSource::AmdgpuIds);
                }
                if let Some(m) = kb.marketing_name(device, rev) {
                    return (m.to_string(), NameSource::Embedded);
                }
            }
        }
        if let Some(n) = pci_ids_name(self.pci(root), vendor, device) {
            let v = kb.vendor(vendor).map(|v| v.name.as_str()).unwrap_or("");
            let full = if v.is_empty() || n.starts_with(v) {
                n
            } else {
                format!("{v} {n}")
            };
            return (full, NameSource::PciIds);
        }
        let v = kb.vendor(vendor).map(|v| v.name.as_str()).unwrap_or("PCI");
        // NVIDIA and Intel: at least the chip family, from the knowledge base's ranges.
        if let Some(f) = kb.family(vendor, device) {
            return (
                format!("{v} {} 0x{device:04x}", f.name),
                NameSource::Generic,
            );
        }
        (format!("{v} GPU 0x{device:04x}"), NameSource::Generic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amdgpu_ids_grammar() {
        let t = "# c\n\n1.0.0\n731F,\tCA,\tAMD Radeon RX 5600 XT\n7340, c5 ,AMD Radeon RX 5500 XT\nbad line\n";
        let v = parse_amdgpu_ids(t);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0], (0x731f, 0xca, "AMD Radeon RX 5600 XT".to_string()));
        assert_eq!(v[1].1, 0xc5);
    }

    #[test]
    fn pci_ids_grammar() {
        let t = "# x\n1002  Advanced Micro Devices, Inc. [AMD/ATI]\n\t731f  Navi 10 [Radeon RX 5600 OEM/5600 XT / 5700/5700 XT]\n\t\t1002 0b36  Reference RX 5700 XT\n10de  NVIDIA Corporation\n\t2330  GH100 [H100 SXM5 80GB]\nC 03  Display controller\n";
        assert_eq!(
            pci_ids_name(t, 0x1002, 0x731f).as_deref(),
            Some("Navi 10 [Radeon RX 5600 OEM/5600 XT / 5700/5700 XT]")
        );
        assert_eq!(
            pci_ids_name(t, 0x10de, 0x2330).as_deref(),
            Some("GH100 [H100 SXM5 80GB]")
        );
        assert_eq!(pci_ids_name(t, 0x10de, 0x731f), None);
    }
}
