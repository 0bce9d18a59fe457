//! The kernel's view of the GPUs: KFD topology, PCI/DRM devices, the amdgpu module and
//! the device nodes, read through a [`SysRoot`] with a deadline on every attribute.
//! Formats: the KFD sysfs interface (`drivers/gpu/drm/amd/amdkfd/kfd_topology.c`,
//! `include/uapi/linux/kfd_sysfs.h`), the PCI sysfs ABI
//! (`Documentation/ABI/testing/sysfs-bus-pci`) and `docs/machine.md`.

use crate::read::{parse_hex, ReadProblem};
use crate::SysRoot;
use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// KFD topology locations, newest first (docs/machine.md).
const KFD_TOPOLOGY: [&str; 2] = [
    "/sys/class/kfd/kfd/topology",
    "/sys/devices/virtual/kfd/kfd/topology",
];

/// amdgpu module parameters worth reporting (docs/machine.md).
const AMDGPU_PARAMS: [&str; 14] = [
    "noretry",
    "mes",
    "sched_policy",
    "cwsr_enable",
    "exp_hw_support",
    "ppfeaturemask",
    "gpu_recovery",
    "lockup_timeout",
    "runpm",
    "si_support",
    "cik_support",
    "vramlimit",
    "gttsize",
    "ip_block_mask",
];

/// A `key value` properties file (docs/machine.md), order kept, unknown keys kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Props(pub Vec<(String, String)>);

impl Props {
    /// Parse the text of a properties file: split each line at its first space.
    pub fn parse(text: &str) -> Props {
        Props(
            text.lines()
                .filter_map(|l| {
                    let l = l.trim_end_matches('\r');
                    let (k, v) = l.split_once(' ')?;
                    (!k.is_empty()).then(|| (k.to_string(), v.trim().to_string()))
                })
                .collect(),
        )
    }

    /// A raw value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A numeric value; `None` when missing or not a number.
    pub fn u64(&self, key: &str) -> Option<u64> {
        self.get(key)?.parse().ok()
    }
}

/// One KFD topology node (CPU or GPU).
#[derive(Debug, Clone, Default)]
pub struct KfdNode {
    /// Node id (directory name).
    pub id: u32,
    /// `name` file (ASIC name, empty for CPUs and old kernels).
    pub name: String,
    /// `gpu_id` (0 for CPU nodes).
    pub gpu_id: Option<u64>,
    /// `properties`.
    pub props: Props,
    /// `mem_banks/*/properties`.
    pub mem_banks: Vec<Props>,
    /// `io_links/*/properties`.
    pub io_links: Vec<Props>,
}

impl KfdNode {
    /// A GPU node: it has SIMDs (CPU nodes report simd_count 0).
    pub fn is_gpu(&self) -> bool {
        self.props.u64("simd_count").unwrap_or(0) > 0
    }

    /// PCI address built from `domain` and `location_id` (docs/machine.md).
    pub fn pci_slot(&self) -> Option<String> {
        let loc = self.props.u64("location_id")?;
        let domain = self.props.u64("domain").unwrap_or(0);
        Some(format!(
            "{:04x}:{:02x}:{:02x}.{:x}",
            domain,
            loc >> 8,
            (loc >> 3) & 0x1f,
            loc & 7
        ))
    }

    /// VRAM from FB_PUBLIC/FB_PRIVATE memory banks, else the legacy `local_mem_size`
    /// (docs/machine.md).
    pub fn vram_bytes(&self) -> Option<u64> {
        // A sum that overflows is garbage, not a size (never a wrapped small number).
        let banks: Option<u64> = self
            .mem_banks
            .iter()
            .filter(|b| matches!(b.u64("heap_type"), Some(1) | Some(2)))
            .filter_map(|b| b.u64("size_in_bytes"))
            .try_fold(0u64, |a, x| a.checked_add(x));
        match banks {
            Some(b) if b > 0 => return Some(b),
            None => return None,
            _ => {}
        }
        self.props.u64("local_mem_size").filter(|&v| v > 0)
    }

    /// PCIe atomics to the CPU: `Some(false)` when a PCIe io_link sets
    /// NO_ATOMICS_32_BIT or NO_ATOMICS_64_BIT (flags bits 2 and 3, docs/machine.md).
    pub fn pcie_atomics(&self) -> Option<bool> {
        let pcie: Vec<&Props> = self
            .io_links
            .iter()
            .filter(|l| l.u64("type") == Some(2))
            .collect();
        if pcie.is_empty() {
            return None;
        }
        Some(pcie.iter().all(|l| {
            let flags = l.u64("flags").unwrap_or(0);
            flags & 0b1100 == 0
        }))
    }
}

/// The KFD topology.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    /// Where it was found (machine path).
    pub path: String,
    /// `generation_id`.
    pub generation_id: Option<u64>,
    /// Nodes in id order.
    pub nodes: Vec<KfdNode>,
}

/// A display or compute PCI device.
#[derive(Debug, Clone, Default)]
pub struct PciDevice {
    /// Address, e.g. `0000:03:00.0`.
    pub slot: String,
    /// PCI class (24 bits).
    pub class: u32,
    /// Vendor id.
    pub vendor: u16,
    /// Device id.
    pub device: u16,
    /// Revision.
    pub revision: Option<u8>,
    /// Subsystem vendor and device.
    pub subsystem: Option<(u16, u16)>,
    /// Bound driver (basename of the `driver` link).
    pub driver: Option<String>,
    /// DRM nodes (`card0`, `renderD128`).
    pub drm: Vec<String>,
    /// `mem_info_vram_total` (amdgpu).
    pub vram_total: Option<u64>,
}

impl PciDevice {
    /// The `cardN` node.
    pub fn card(&self) -> Option<&str> {
        self.drm
            .iter()
            .find(|n| n.starts_with("card"))
            .map(String::as_str)
    }
    /// The `renderDN` node.
    pub fn render(&self) -> Option<&str> {
        self.drm
            .iter()
            .find(|n| n.starts_with("renderD"))
            .map(String::as_str)
    }
}

/// A device node's ownership and mode.
#[derive(Debug, Clone)]
pub struct DevNode {
    /// Machine path.
    pub path: String,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Permission bits.
    pub mode: u32,
    /// A character device (false in captured trees).
    pub char_device: bool,
    /// It is a directory (never a device node, in a tree or on a machine).
    pub dir: bool,
}

/// Loaded kernel modules of interest.
#[derive(Debug, Clone, Default)]
pub struct Modules {
    /// `/sys/module/amdgpu` exists.
    pub amdgpu: bool,
    /// Selected amdgpu parameters.
    pub amdgpu_params: BTreeMap<String, String>,
}

/// The kernel's view: everything read from sysfs and /dev.
#[derive(Debug, Clone, Default)]
pub struct Sysfs {
    /// KFD topology, when present.
    pub topology: Option<Topology>,
    /// Display and accelerator PCI devices, by address.
    pub pci: Vec<PciDevice>,
    /// Kernel modules.
    pub modules: Modules,
    /// `/dev/kfd`, when present.
    pub kfd_node: Option<DevNode>,
    /// `/dev/dri/renderD*`, by name.
    pub render_nodes: BTreeMap<String, DevNode>,
    /// Reads that failed or timed out.
    pub problems: Vec<ReadProblem>,
}

fn sorted_dir(r: &SysRoot, p: &Path) -> Vec<(String, PathBuf)> {
    let mut v = r.read_dir(p);
    v.sort_by_key(|a| natural_key(&a.0));
    v
}

fn natural_key(s: &str) -> (String, u64) {
    let digits = s.len() - s.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (head, tail) = s.split_at(s.len() - digits);
    (head.to_string(), tail.parse().unwrap_or(0))
}

fn props_dir(r: &SysRoot, dir: &Path) -> Vec<Props> {
    sorted_dir(r, dir)
        .into_iter()
        .filter_map(|(_, p)| r.reader().text(&p.join("properties")).ok())
        .map(|t| Props::parse(&t))
        .collect()
}

fn read_topology(r: &SysRoot) -> Option<Topology> {
    let (path, dir) = KFD_TOPOLOGY
        .iter()
        .map(|p| (p.to_string(), r.host(p)))
        .find(|(_, d)| r.is_dir(&d.join("nodes")))?;
    // A hot-plug during the walk bumps generation_id: walk again (docs/machine.md).
    let mut last = None;
    for _ in 0..3 {
        let before = r
            .reader()
            .attr(&dir.join("generation_id"))
            .and_then(|s| s.parse().ok());
        let mut nodes = Vec::new();
        for (name, p) in sorted_dir(r, &dir.join("nodes")) {
            // Only canonical decimal names are nodes: `+7` and `007` are not node 7.
            let Some(id) = name.parse::<u32>().ok().filter(|n| n.to_string() == name) else {
                continue;
            };
            let Ok(text) = r.reader().text(&p.join("properties")) else {
                continue;
            };
            nodes.push(KfdNode {
                id,
                name: r.reader().attr(&p.join("name")).unwrap_or_default(),
                gpu_id: r
                    .reader()
                    .attr(&p.join("gpu_id"))
                    .and_then(|s| s.parse().ok()),
                props: Props::parse(&text),
                mem_banks: props_dir(r, &p.join("mem_banks")),
                io_links: props_dir(r, &p.join("io_links")),
            });
        }
        let after = r
            .reader()
            .attr(&dir.join("generation_id"))
            .and_then(|s| s.parse().ok());
        let topo = Topology {
            path: path.clone(),
            generation_id: after,
            nodes,
        };
        if before == after {
            return Some(topo);
        }
        last = Some(topo);
    }
    last
}

fn read_pci(r: &SysRoot) -> Vec<PciDevice> {
    let mut out = Vec::new();
    for (slot, p) in sorted_dir(r, &r.host("/sys/bus/pci/devices")) {
        let Some(class) = r
            .reader()
            .attr(&p.join("class"))
            .and_then(|s| parse_hex(&s))
        else {
            continue;
        };
        // 0x03xxxx display controllers, 0x12xxxx processing accelerators (docs/machine.md).
        if !matches!(class >> 16, 0x03 | 0x12) {
            continue;
        }
        let hex16 = |f: &str| {
            r.reader()
                .attr(&p.join(f))
                .and_then(|s| parse_hex(&s))
                .map(|v| v as u16)
        };
        let driver = r
            .read_link(&p.join("driver"))
            .and_then(|l| l.file_name().map(|n| n.to_string_lossy().into_owned()));
        let drm = sorted_dir(r, &p.join("drm"))
            .into_iter()
            .map(|(n, _)| n)
            .filter(|n| n.starts_with("card") || n.starts_with("renderD"))
            .collect();
        let vram_total = if driver.as_deref() == Some("amdgpu") {
            r.reader()
                .attr(&p.join("mem_info_vram_total"))
                .and_then(|s| s.parse().ok())
        } else {
            None
        };
        out.push(PciDevice {
            slot,
            class,
            vendor: hex16("vendor").unwrap_or(0),
            device: hex16("device").unwrap_or(0),
            revision: hex16("revision").map(|v| v as u8),
            subsystem: hex16("subsystem_vendor").zip(hex16("subsystem_device")),
            driver,
            drm,
            vram_total,
        });
    }
    out
}

fn dev_node(r: &SysRoot, abs: &str) -> Option<DevNode> {
    let md = r.metadata(&r.host(abs))?;
    Some(DevNode {
        path: abs.to_string(),
        uid: md.uid(),
        gid: md.gid(),
        mode: md.mode() & 0o7777,
        char_device: md.file_type().is_char_device(),
        dir: md.file_type().is_dir(),
    })
}

/// Read the kernel's view of the GPUs below the root.
pub fn read(r: &SysRoot) -> Sysfs {
    let topology = read_topology(r);
    let pci = read_pci(r);
    let amdgpu_dir = r.host("/sys/module/amdgpu");
    let mut modules = Modules {
        amdgpu: r.is_dir(&amdgpu_dir),
        ..Default::default()
    };
    if modules.amdgpu {
        for p in AMDGPU_PARAMS {
            if let Some(v) = r.reader().attr(&amdgpu_dir.join("parameters").join(p)) {
                modules.amdgpu_params.insert(p.to_string(), v);
            }
        }
    }
    let render_nodes = sorted_dir(r, &r.host("/dev/dri"))
        .into_iter()
        .filter(|(n, _)| n.starts_with("renderD"))
        .filter_map(|(n, _)| dev_node(r, &format!("/dev/dri/{n}")).map(|d| (n, d)))
        .collect();
    Sysfs {
        topology,
        pci,
        modules,
        kfd_node: dev_node(r, "/dev/kfd"),
        render_nodes,
        problems: r.reader().problems(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn props_keep_unknown_keys_and_tolerate_junk() {
        let p = Props::parse("simd_count 80\ngpu_family gfx115X\n\nnovalue\nx 1 2\r\n");
        assert_eq!(p.u64("simd_count"), Some(80));
        assert_eq!(p.get("gpu_family"), Some("gfx115X"));
        assert_eq!(p.u64("gpu_family"), None);
        assert_eq!(p.get("x"), Some("1 2"));
        assert_eq!(p.0.len(), 3);
    }

    #[test]
    fn slot_from_location() {
        let n = KfdNode {
            props: Props::parse("location_id 17152\ndomain 0"),
            ..Default::default()
        };
        assert_eq!(n.pci_slot().as_deref(), Some("0000:43:00.0"));
    }

    #[test]
    fn natural_order() {
        let mut v = vec!["10", "2", "1"];
        v.sort_by_key(|s| natural_key(s));
        assert_eq!(v, ["1", "2", "10"]);
    }
}
