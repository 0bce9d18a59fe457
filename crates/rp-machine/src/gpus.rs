//! GPUs from the KFD topology joined with their PCI devices (docs/machine.md).

use crate::ids::Ids;
use crate::sysfs::{KfdNode, PciDevice, Sysfs};
use crate::SysRoot;
use rp_report::{Gpu, TargetSource, Vendor};
use std::collections::BTreeMap;

/// GPUs in report order, and each AMD KFD node's unique id (for `GPU-<uuid>` matching).
pub struct Gpus {
    pub list: Vec<Gpu>,
    pub unique_ids: BTreeMap<u32, u64>,
}

/// The true target of a KFD node: `gfx_target_version`, else the node's ASIC name,
/// else its PCI device id (old kernels; docs/machine.md).
fn kfd_target(n: &KfdNode) -> (Option<String>, Option<TargetSource>) {
    let kb = rp_kb::kb();
    if let Some(v) = n.props.u64("gfx_target_version").filter(|&v| v > 0) {
        if let Some(name) = u32::try_from(v)
            .ok()
            .and_then(|v| rp_kb::GfxVersion::from_kfd(v).gfx_name())
        {
            return (Some(name), Some(TargetSource::Kfd));
        }
    }
    if let Some(a) = (!n.name.is_empty())
        .then(|| kb.asic_by_name(&n.name))
        .flatten()
    {
        return (a.gfx.clone(), a.gfx.as_ref().map(|_| TargetSource::KfdName));
    }
    if let Some(a) = n
        .props
        .u64("device_id")
        .and_then(|d| kb.asic_by_device(d as u16))
    {
        return (
            a.gfx.clone(),
            a.gfx.as_ref().map(|_| TargetSource::DeviceId),
        );
    }
    (None, None)
}

fn vendor_key(vendor: u16) -> Vendor {
    rp_kb::kb()
        .vendor(vendor)
        .and_then(|v| v.key.parse().ok())
        .unwrap_or(Vendor::Other)
}

fn fill_target_facts(g: &mut Gpu) {
    if let Some(t) = g
        .gfx_target
        .as_deref()
        .and_then(|t| rp_kb::kb().processor(t))
    {
        g.family = Some(t.family().to_string());
        if let rp_kb::Processor::Specific(t) = t {
            g.apu = t.apu;
        }
    }
}

pub fn collect(m: &Sysfs, root: &SysRoot, ids: &mut Ids) -> Gpus {
    let mut list = Vec::new();
    let mut unique_ids = BTreeMap::new();
    let mut used_pci = vec![false; m.pci.len()];
    let nodes: Vec<&KfdNode> = m
        .topology
        .as_ref()
        .map(|t| t.nodes.iter().filter(|n| n.is_gpu()).collect())
        .unwrap_or_default();
    for n in nodes {
        let vendor = n.props.u64("vendor_id").unwrap_or(0x1002) as u16;
        let device = n.props.u64("device_id").unwrap_or(0) as u16;
        let slot = n.pci_slot();
        let pci_idx = m
            .pci
            .iter()
            .position(|p| Some(&p.slot) == slot.as_ref())
            .or_else(|| {
                // Captures without a matching address: one device with these ids.
                let same: Vec<usize> = (0..m.pci.len())
                    .filter(|&i| {
                        !used_pci[i] && m.pci[i].vendor == vendor && m.pci[i].device == device
                    })
                    .collect();
                (same.len() == 1).then(|| same[0])
            });
        let pci: Option<&PciDevice> = pci_idx.map(|i| {
            used_pci[i] = true;
            &m.pci[i]
        });
        let revision = pci.and_then(|p| p.revision);
        let (name, name_source) = ids.name(root, vendor, device, revision);
        let (gfx_target, source) = kfd_target(n);
        let simd = n.props.u64("simd_count");
        let per_cu = n.props.u64("simd_per_cu").filter(|&v| v > 0);
        // Render minors start at 128 (drm_drv.c); a device minor has 20 bits
        // (include/linux/kdev_t.h MINORBITS), so anything larger is garbage.
        let render_minor = n
            .props
            .u64("drm_render_minor")
            .filter(|&v| (128..1 << 20).contains(&v));
        if let Some(u) = n.props.u64("unique_id").filter(|&u| u > 0) {
            unique_ids.insert(n.id, u);
        }
        let mut g = Gpu {
            vendor: vendor_key(vendor),
            node: Some(n.id),
            gfx_target,
            gfx_target_source: source,
            pci_id: format!("{vendor:04x}:{device:04x}"),
            revision: revision.map(|r| format!("{r:02x}")),
            name,
            name_source,
            pci_slot: pci.map(|p| p.slot.clone()).or(slot),
            asic: (!n.name.is_empty() && n.name != "ip discovery").then(|| n.name.clone()),
            compute_units: simd.zip(per_cu).map(|(s, c)| s / c),
            simd_count: simd,
            vram_bytes: n.vram_bytes().or(pci.and_then(|p| p.vram_total)),
            drm_card: pci.and_then(|p| p.card()).map(str::to_string),
            render_node: render_minor
                .map(|m| format!("renderD{m}"))
                .or_else(|| pci.and_then(|p| p.render()).map(str::to_string)),
            driver: pci.and_then(|p| p.driver.clone()),
            pcie_atomics: n.pcie_atomics(),
            ..Gpu::default()
        };
        fill_target_facts(&mut g);
        list.push(g);
    }
    // GPUs without a KFD node: AMD GPUs the driver did not bring up, and other vendors.
    let kb = rp_kb::kb();
    for (i, p) in m.pci.iter().enumerate() {
        if used_pci[i] {
            continue;
        }
        let (name, name_source) = ids.name(root, p.vendor, p.device, p.revision);
        let gfx = (p.vendor == 0x1002)
            .then(|| kb.asic_by_device(p.device))
            .flatten()
            .and_then(|a| a.gfx.clone());
        let mut g = Gpu {
            vendor: vendor_key(p.vendor),
            gfx_target_source: gfx.as_ref().map(|_| TargetSource::DeviceId),
            gfx_target: gfx,
            pci_id: format!("{:04x}:{:04x}", p.vendor, p.device),
            revision: p.revision.map(|r| format!("{r:02x}")),
            name,
            name_source,
            pci_slot: Some(p.slot.clone()),
            vram_bytes: p.vram_total,
            drm_card: p.card().map(str::to_string),
            render_node: p.render().map(str::to_string),
            driver: p.driver.clone(),
            ..Gpu::default()
        };
        fill_target_facts(&mut g);
        list.push(g);
    }
    Gpus { list, unique_ids }
}
