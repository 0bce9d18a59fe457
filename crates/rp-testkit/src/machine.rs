//! Sysroots for `doctor` tests.
//!
//! Two kinds: trees around the real KFD captures in fixtures/sysfs (their `nodes/`
//! copied verbatim), and synthesized RDNA1 machines written from the values the kernel
//! implies for Navi 10/12/14 (docs/machine.md: no public verbatim RDNA1 capture exists).
//! Everything this module writes itself is synthesized and says so in
//! `<root>/SYNTHESIZED.md`.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

pub const KFD: &str = "sys/class/kfd/kfd/topology";

/// An AMD GPU to synthesize.
#[derive(Clone, Debug)]
pub struct AmdGpu {
    pub node: u32,
    /// KFD gfx_target_version; 0 leaves the key out (pre-5.15 kernels).
    pub gfx_target_version: u32,
    pub device: u16,
    pub revision: u8,
    /// KFD `name` (lowercase ASIC).
    pub asic: &'static str,
    pub simd_count: u64,
    pub simd_per_cu: u64,
    /// PCI bus number; the device sits at 0000:<bus>:00.0.
    pub bus: u8,
    pub render_minor: u32,
    pub card: u32,
    pub vram: u64,
    pub pcie_atomics: bool,
    pub unique_id: u64,
}

impl AmdGpu {
    /// RX 5600 XT: Navi 10, 0x731F rev CA, 36 CU (docs/machine.md).
    pub fn rx5600xt(node: u32, bus: u8) -> AmdGpu {
        AmdGpu {
            node,
            gfx_target_version: 100100,
            device: 0x731f,
            revision: 0xca,
            asic: "navi10",
            simd_count: 72,
            simd_per_cu: 2,
            bus,
            render_minor: 128,
            card: 0,
            vram: 6 << 30,
            pcie_atomics: true,
            unique_id: 0,
        }
    }
    /// RX 5700 XT: Navi 10, 0x731F rev C1, 40 CU.
    pub fn rx5700xt(node: u32, bus: u8) -> AmdGpu {
        AmdGpu {
            revision: 0xc1,
            simd_count: 80,
            vram: 8 << 30,
            ..AmdGpu::rx5600xt(node, bus)
        }
    }
    /// RX 5500 XT: Navi 14, 0x7340 rev C5, 22 CU.
    pub fn rx5500xt(node: u32, bus: u8) -> AmdGpu {
        AmdGpu {
            gfx_target_version: 100102,
            device: 0x7340,
            revision: 0xc5,
            asic: "navi14",
            simd_count: 44,
            vram: 8 << 30,
            ..AmdGpu::rx5600xt(node, bus)
        }
    }
    /// Raphael iGPU (GC 10.3.6 → gfx1036, docs/machine.md), 2 CU, device 0x164e.
    pub fn raphael_igpu(node: u32, bus: u8) -> AmdGpu {
        AmdGpu {
            node,
            gfx_target_version: 100306,
            device: 0x164e,
            revision: 0xc1,
            asic: "ip discovery",
            simd_count: 4,
            simd_per_cu: 2,
            bus,
            render_minor: 128,
            card: 0,
            vram: 512 << 20,
            pcie_atomics: true,
            unique_id: 0,
        }
    }
    /// RX 580: Polaris 10, 0x67DF rev E7, 36 CU of 4 SIMDs, gfx803 (KFD
    /// gfx_target_version 80003).
    pub fn rx580(node: u32, bus: u8) -> AmdGpu {
        AmdGpu {
            gfx_target_version: 80003,
            device: 0x67df,
            revision: 0xe7,
            asic: "polaris10",
            simd_count: 144,
            simd_per_cu: 4,
            vram: 8 << 30,
            ..AmdGpu::rx5600xt(node, bus)
        }
    }
    /// Ryzen 7 7840U's iGPU: Phoenix, GC 11.0.3 → gfx1103, 12 CU.
    pub fn phoenix_7840u(node: u32, bus: u8) -> AmdGpu {
        AmdGpu {
            gfx_target_version: 110003,
            device: 0x15bf,
            revision: 0xc4,
            asic: "ip discovery",
            simd_count: 24,
            ..AmdGpu::raphael_igpu(node, bus)
        }
    }
    fn slot(&self) -> String {
        format!("0000:{:02x}:00.0", self.bus)
    }
}

/// A sysroot under construction.
pub struct Machine {
    pub root: PathBuf,
    notes: Vec<String>,
}

fn write(p: &Path, s: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, s).unwrap();
}

fn copy_tree(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from) {
        let e = e.unwrap();
        let dst = to.join(e.path().strip_prefix(from).unwrap());
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dst).unwrap();
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
}

impl Machine {
    pub fn new(root: &Path) -> Machine {
        std::fs::create_dir_all(root).unwrap();
        let m = Machine {
            root: root.to_path_buf(),
            notes: Vec::new(),
        };
        // The owner of the files this test creates is named `owner`, so reports read
        // the same whether the tests run as root or not.
        let md = std::fs::metadata(root).unwrap();
        use std::os::unix::fs::MetadataExt;
        let (uid, gid) = (md.uid(), md.gid());
        write(
            &root.join("etc/passwd"),
            &format!(
                "owner:x:{uid}:{gid}::/:/bin/sh\nroot:x:0:0::/root:/bin/sh\nalice:x:{a}:{a}::/home/alice:/bin/bash\nbob:x:{b}:{b}::/home/bob:/bin/bash\n",
                a = uid + 4000,
                b = uid + 4001
            ),
        );
        write(
            &root.join("etc/group"),
            &format!(
                "render:x:{gid}:bob\nvideo:x:{v}:alice,bob\nalice:x:{a}:\nbob:x:{b}:\n",
                v = gid + 4100,
                a = uid + 4000,
                b = uid + 4001
            ),
        );
        m
    }

    fn note(&mut self, s: impl Into<String>) {
        self.notes.push(s.into());
    }

    pub fn cpu_node(&mut self, id: u32, cores: u32) -> &mut Self {
        let d = self.root.join(KFD).join("nodes").join(id.to_string());
        write(&d.join("name"), "\n");
        write(&d.join("gpu_id"), "0\n");
        write(
            &d.join("properties"),
            &format!("cpu_cores_count {cores}\nsimd_count 0\nmem_banks_count 1\ncaches_count 0\nio_links_count 0\ngfx_target_version 0\nvendor_id 0\ndevice_id 0\nlocation_id 0\ndrm_render_minor 0\nmax_engine_clk_ccompute 3800\n"),
        );
        write(&self.root.join(KFD).join("generation_id"), "1\n");
        self.note(format!("KFD node {id}: a CPU node"));
        self
    }

    /// A GPU: KFD node (docs/machine.md keys), PCI device with DRM nodes, render node.
    pub fn amd_gpu(&mut self, g: &AmdGpu) -> &mut Self {
        let d = self.root.join(KFD).join("nodes").join(g.node.to_string());
        write(&d.join("name"), &format!("{}\n", g.asic));
        write(&d.join("gpu_id"), &format!("{}\n", 40000 + g.node));
        let gtv = if g.gfx_target_version > 0 {
            format!("gfx_target_version {}\n", g.gfx_target_version)
        } else {
            String::new()
        };
        write(
            &d.join("properties"),
            &format!(
                "cpu_cores_count 0\nsimd_count {}\nmem_banks_count 1\ncaches_count 0\nio_links_count 1\np2p_links_count 0\ncpu_core_id_base 0\nsimd_id_base 2147487744\nmax_waves_per_simd 16\nlds_size_in_kb 64\ngds_size_in_kb 0\nnum_gws 64\nwave_front_size 32\narray_count 4\nsimd_arrays_per_engine 2\ncu_per_simd_array 10\nsimd_per_cu {}\nmax_slots_scratch_cu 32\n{gtv}vendor_id 4098\ndevice_id {}\nlocation_id {}\ndomain 0\ndrm_render_minor {}\nhive_id 0\nnum_sdma_engines 2\nnum_sdma_xgmi_engines 0\nnum_sdma_queues_per_engine 8\nnum_cp_queues 8\nmax_engine_clk_fcompute 1750\nlocal_mem_size 0\nfw_version 150\ncapability 671326848\ndebug_prop 0\nsdma_fw_version 50\nunique_id {}\nnum_xcc 1\nmax_engine_clk_ccompute 3800\n",
                g.simd_count, g.simd_per_cu, g.device, (g.bus as u32) << 8, g.render_minor, g.unique_id
            ),
        );
        write(
            &d.join("mem_banks/0/properties"),
            &format!(
                "heap_type 1\nsize_in_bytes {}\nflags 0\nwidth 256\nmem_clk_max 875\n",
                g.vram
            ),
        );
        // io_link flags: bit0 enabled; bits 2/3 NO_ATOMICS_32/64 (docs/machine.md).
        let flags = if g.pcie_atomics { 1 } else { 1 | 4 | 8 };
        write(
            &d.join("io_links/0/properties"),
            &format!("type 2\nversion_major 0\nversion_minor 0\nnode_from {}\nnode_to 0\nweight 20\nmin_latency 0\nmax_latency 0\nmin_bandwidth 312\nmax_bandwidth 16000\nrecommended_transfer_size 0\nflags {flags}\n", g.node),
        );
        self.pci_device(
            &g.slot(),
            0x030000,
            0x1002,
            g.device,
            g.revision,
            Some("amdgpu"),
            &[
                format!("card{}", g.card),
                format!("renderD{}", g.render_minor),
            ],
        );
        write(
            &self
                .root
                .join("sys/bus/pci/devices")
                .join(g.slot())
                .join("mem_info_vram_total"),
            &format!("{}\n", g.vram),
        );
        self.render_node(g.render_minor, 0o660);
        self.note(format!(
            "KFD node {} and PCI {}: {:04x} rev {:02x} ({}), synthesized from docs/machine.md/§5.3",
            g.node,
            g.slot(),
            g.device,
            g.revision,
            g.asic
        ));
        self
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one argument per field of the fixture"
    )]
    pub fn pci_device(
        &mut self,
        slot: &str,
        class: u32,
        vendor: u16,
        device: u16,
        revision: u8,
        driver: Option<&str>,
        drm: &[String],
    ) -> &mut Self {
        let d = self.root.join("sys/bus/pci/devices").join(slot);
        write(&d.join("class"), &format!("0x{class:06x}\n"));
        write(&d.join("vendor"), &format!("0x{vendor:04x}\n"));
        write(&d.join("device"), &format!("0x{device:04x}\n"));
        write(&d.join("revision"), &format!("0x{revision:02x}\n"));
        write(&d.join("subsystem_vendor"), &format!("0x{vendor:04x}\n"));
        write(&d.join("subsystem_device"), "0x0b36\n");
        if let Some(drv) = driver {
            let target = self.root.join("sys/bus/pci/drivers").join(drv);
            std::fs::create_dir_all(&target).unwrap();
            symlink(format!("../../../bus/pci/drivers/{drv}"), d.join("driver")).unwrap();
        }
        for n in drm {
            std::fs::create_dir_all(d.join("drm").join(n)).unwrap();
        }
        self
    }

    pub fn render_node(&mut self, minor: u32, mode: u32) -> &mut Self {
        let p = self.root.join(format!("dev/dri/renderD{minor}"));
        write(&p, "");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        self
    }

    /// `/dev/kfd`, owned by the test user and group `render` (etc/group).
    pub fn dev_kfd(&mut self, mode: u32) -> &mut Self {
        let p = self.root.join("dev/kfd");
        write(&p, "");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        self
    }

    pub fn amdgpu_module(&mut self) -> &mut Self {
        let d = self.root.join("sys/module/amdgpu/parameters");
        write(&d.join("noretry"), "-1\n");
        write(&d.join("ppfeaturemask"), "0xfff7bfff\n");
        write(&d.join("mes"), "0\n");
        self
    }

    /// The usual working state: amdgpu loaded, /dev/kfd rw for group render.
    pub fn driver_ok(&mut self) -> &mut Self {
        self.amdgpu_module().dev_kfd(0o660)
    }

    /// A real KFD capture from fixtures/sysfs: its nodes copied verbatim into the
    /// topology directory, plus a synthesized PCI device for each GPU node (built from
    /// the node's vendor_id, device_id and location_id).
    pub fn capture(&mut self, dir: &Path, revision: u8) -> &mut Self {
        let topo = self.root.join(KFD);
        copy_tree(dir, &topo);
        if !topo.join("generation_id").exists() {
            write(&topo.join("generation_id"), "1\n");
        }
        self.note(format!(
            "KFD topology: verbatim copy of fixtures/sysfs/{}",
            dir.file_name().unwrap().to_string_lossy()
        ));
        for e in std::fs::read_dir(topo.join("nodes")).unwrap() {
            let p = e.unwrap().path();
            let props = std::fs::read_to_string(p.join("properties")).unwrap();
            let get = |k: &str| -> u64 {
                props
                    .lines()
                    .find_map(|l| l.strip_prefix(&format!("{k} ")))
                    .map(|v| v.trim().parse().unwrap())
                    .unwrap_or(0)
            };
            if get("simd_count") == 0 {
                continue;
            }
            let loc = get("location_id");
            let slot = format!(
                "{:04x}:{:02x}:{:02x}.{:x}",
                get("domain"),
                loc >> 8,
                (loc >> 3) & 0x1f,
                loc & 7
            );
            let minor = get("drm_render_minor") as u32;
            self.pci_device(
                &slot,
                0x038000,
                get("vendor_id") as u16,
                get("device_id") as u16,
                revision,
                Some("amdgpu"),
                &["card1".to_string(), format!("renderD{minor}")],
            );
            self.render_node(minor, 0o660);
            self.note(format!(
                "PCI {slot}: synthesized around the capture (revision {revision:02x})"
            ));
        }
        self
    }

    /// libdrm's amdgpu.ids, from the repository excerpt.
    pub fn amdgpu_ids(&mut self, excerpt: &Path) -> &mut Self {
        let p = self.root.join("usr/share/libdrm/amdgpu.ids");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::copy(excerpt, &p).unwrap();
        self.note("usr/share/libdrm/amdgpu.ids: fixtures/ids excerpt");
        self
    }

    pub fn file(&mut self, rel: &str, content: &str) -> &mut Self {
        write(&self.root.join(rel), content);
        self
    }

    pub fn finish(&mut self) -> PathBuf {
        let mut s = String::from("# SYNTHESIZED test machine\n\nWritten by crates/rocm-patch/tests/common/machine.rs. Parts:\n\n");
        for n in &self.notes {
            s.push_str(&format!("- {n}\n"));
        }
        write(&self.root.join("SYNTHESIZED.md"), &s);
        self.root.clone()
    }
}

/// A Python venv with torch: `version.py` as given, `torch/lib` holding copies of real
/// hipcc-built libraries, and a rocBLAS Tensile directory with real Debian files for
/// the given archs.
pub fn torch_venv(
    dir: &Path,
    version_py: &str,
    libs: &[(&str, &Path)],
    tensile_src: Option<&Path>,
    archs: &[&str],
) -> PathBuf {
    write(
        &dir.join("pyvenv.cfg"),
        "home = /usr/bin\nversion = 3.11.7\n",
    );
    let sp = dir.join("lib/python3.11/site-packages");
    write(&sp.join("torch/__init__.py"), "");
    write(&sp.join("torch/version.py"), version_py);
    std::fs::create_dir_all(sp.join("torch/lib")).unwrap();
    for (name, src) in libs {
        std::fs::copy(src, sp.join("torch/lib").join(name)).unwrap();
    }
    if let Some(src) = tensile_src {
        let dst = sp.join("torch/lib/rocblas/library");
        std::fs::create_dir_all(&dst).unwrap();
        let mut n = 0;
        for e in std::fs::read_dir(src).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            // The catalog and kernels of each arch, plus a couple of its code objects.
            let keep = archs.iter().any(|a| {
                name == format!("TensileLibrary_lazy_{a}.dat")
                    || name == format!("Kernels.so-000-{a}.hsaco")
                    || (name.ends_with(&format!("_{a}.hsaco"))
                        && name.contains("Type_SS_")
                        && name.contains("Ailk_Bljk"))
            });
            if keep {
                std::fs::copy(e.path(), dst.join(&name)).unwrap();
                n += 1;
            }
        }
        assert!(
            n >= archs.len() * 2,
            "too few Tensile files copied from {}",
            src.display()
        );
    }
    dir.to_path_buf()
}

/// The usual test machine: one CPU node and an RX 5600 XT on node 1 with a working
/// driver (synthesized).
pub fn rx5600xt(root: &Path) -> PathBuf {
    Machine::new(root)
        .cpu_node(0, 12)
        .amd_gpu(&AmdGpu::rx5600xt(1, 0x03))
        .driver_ok()
        .finish()
}
