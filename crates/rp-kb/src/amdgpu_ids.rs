//! Marketing names of AMD GPUs: libdrm's amdgpu.ids (data/amdgpu.ids).

use crate::Kb;

/// libdrm's `amdgpu.ids`, embedded verbatim (data/devices.toml says which copy).
pub const AMDGPU_IDS: &str = include_str!("../data/amdgpu.ids");

impl Kb {
    /// The marketing name of an AMD (device, revision) in the embedded amdgpu.ids.
    pub fn marketing_name(&self, device: u16, revision: u8) -> Option<&str> {
        self.amdgpu_ids
            .iter()
            .find(|(d, r, _)| *d == device && *r == revision)
            .map(|(_, _, n)| n.as_str())
    }

    /// The processor of a GPU named as libdrm's amdgpu.ids names it (`AMD Radeon RX 5600
    /// XT` is gfx1010), when the name is unambiguous.
    pub fn target_by_marketing_name(&self, name: &str) -> Option<String> {
        let mut found: Option<String> = None;
        for (dev, _, n) in &self.amdgpu_ids {
            if !n.eq_ignore_ascii_case(name.trim()) {
                continue;
            }
            let t = self.asic_by_device(*dev)?.gfx.clone()?;
            match &found {
                Some(f) if *f != t => return None,
                _ => found = Some(t),
            }
        }
        found
    }
}

/// Parse amdgpu.ids: comments, a version line, then `DEVICE, REVISION, name` records.
pub fn parse_amdgpu_ids(text: &str) -> Vec<(u16, u8, String)> {
    let mut out = Vec::new();
    let mut seen_version = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if !seen_version {
            seen_version = true;
            if !line.contains(',') {
                continue;
            }
        }
        let mut parts = line.splitn(3, ',');
        let (Some(d), Some(r), Some(n)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let (Ok(d), Ok(r)) = (
            u16::from_str_radix(d.trim(), 16),
            u8::from_str_radix(r.trim(), 16),
        ) else {
            continue;
        };
        out.push((d, r, n.trim().to_string()));
    }
    out
}
