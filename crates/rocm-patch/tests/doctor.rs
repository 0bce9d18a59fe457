//! `rocm-patch doctor` on real KFD captures and synthesized RDNA1 machines, with Python
//! environments holding real hipcc-built code objects and real Debian Tensile files.
//! Reports are snapshotted (tests/snapshots) with the temporary root replaced by [ROOT].

mod common;

#[cfg(feature = "real-data")]
use common::machine::torch_venv;
use common::machine::{rx5600xt, AmdGpu, Machine};
use common::{cli, finding, fixture, ids};
#[cfg(feature = "real-data")]
use common::{fx, input};
use rp_report::{
    DoctorReport, EnvReport, FixStep, FoundBy, NameSource, Severity, SitesFrom, TargetSource,
    Vendor,
};
#[cfg(feature = "real-data")]
use rp_report::{TorchBuild, VersionSource};
use std::path::Path;
#[cfg(feature = "real-data")]
use std::path::PathBuf;
use std::process::Command;

const PYTORCH_ORG: &str = "__version__ = '2.5.1+rocm6.2'\ndebug = False\ncuda = None\ngit_version = 'a8d6afb511a69687bbb2b7e88a3cf67917e1697e'\nhip = '6.2.41133-dd7f95766'\n";
#[cfg(feature = "real-data")]
const THEROCK: &str = "from typing import Optional\n__all__ = ['__version__', 'debug', 'cuda', 'git_version', 'hip']\n__version__ = '2.12.0+rocm7.14.0'\ndebug = False\ncuda: Optional[str] = None\ngit_version = 'unknown'\nhip: Optional[str] = '7.14.0-0'\n";
#[cfg(feature = "real-data")]
const CUDA: &str = "from typing import Optional\n__version__ = '2.9.1+cu128'\ndebug = False\ncuda: Optional[str] = '12.8'\nhip: Optional[str] = None\n";

/// sid's rocBLAS Tensile directory (rocblas/<version>/library).
#[cfg(feature = "real-data")]
fn sid_tensile() -> PathBuf {
    let base = input("RP_SID").join("usr/lib/x86_64-linux-gnu/rocblas");
    std::fs::read_dir(&base)
        .unwrap()
        .map(|e| e.unwrap().path().join("library"))
        .find(|p| p.is_dir())
        .expect("sid rocBLAS library directory")
}

#[cfg(feature = "real-data")]
struct Envs {
    pytorch_org: PathBuf,
    native: PathBuf,
    cuda: PathBuf,
}

#[cfg(feature = "real-data")]
fn envs(dir: &Path) -> Envs {
    let t = sid_tensile();
    Envs {
        // pytorch.org-like: many targets, none RDNA1 (pytorch#132570).
        pytorch_org: torch_venv(
            &dir.join("venv-pytorch-org"),
            PYTORCH_ORG,
            &[("libtorch_hip.so", &fx("libtorch_like_no_gfx1010.so"))],
            Some(&t),
            &["gfx900", "gfx906", "gfx908", "gfx1030"],
        ),
        // Native gfx101x (a TheRock-like device wheel).
        native: torch_venv(
            &dir.join("venv-native"),
            THEROCK,
            &[("libtorch_hip.so", &fx("libnative_gfx101x.so"))],
            Some(&t),
            &["gfx1010", "gfx1030"],
        ),
        cuda: torch_venv(&dir.join("venv-cuda"), CUDA, &[], None, &[]),
    }
}

/// A doctor report: typed (reached through `Deref`) and as printed (`raw`, for the
/// snapshots and the checks of the JSON's shape).
struct Doc {
    r: DoctorReport,
    raw: serde_json::Value,
}

impl std::ops::Deref for Doc {
    type Target = DoctorReport;
    fn deref(&self) -> &DoctorReport {
        &self.r
    }
}

/// Run doctor with exactly this environment; returns (exit, human, json).
fn doctor(
    root: &Path,
    pythons: &[&Path],
    env: &[(&str, &str)],
    extra: &[&str],
) -> (i32, String, Doc) {
    let run = |json: bool| {
        let mut c = cli()
            .env_clear()
            .current_dir(root)
            .arg("doctor")
            .arg("--sysroot")
            .arg(root);
        for p in pythons {
            c = c.arg("--python").arg(p);
        }
        c = c.args(extra);
        if json {
            c = c.arg("--json");
        }
        let o = c.envs(env.iter().copied()).run();
        assert!(o.stderr.is_empty(), "stderr: {}", o.stderr);
        o
    };
    let human = run(false);
    let json = run(true);
    assert_eq!(human.code, json.code);
    let doc = Doc {
        r: json.json(),
        raw: json.value(),
    };
    (human.code, human.stdout, doc)
}

/// Snapshot both reports with the sysroot shown as [ROOT] and the rest of the temporary
/// directory (the Python environments) as [TMP].
fn snap(name: &str, root: &Path, human: &str, doc: &Doc) {
    let r = root.to_str().unwrap();
    let tmp = root.parent().unwrap().to_str().unwrap();
    let clean = |s: &str| s.replace(r, "[ROOT]").replace(tmp, "[TMP]");
    let h = clean(human);
    let j = clean(&serde_json::to_string_pretty(&doc.raw).unwrap());
    insta::assert_snapshot!(format!("{name}.human"), h);
    insta::assert_snapshot!(format!("{name}.json"), j);
}

/// A finding's structured fix as text: one line a step, `command   # note`.
fn fix_text(fix: &[FixStep]) -> String {
    fix.iter()
        .map(|st| {
            let c = st.command.as_deref().unwrap_or("");
            match st.note.as_deref() {
                Some(n) if c.is_empty() => format!("# {n}"),
                Some(n) => format!("{c}   # {n}"),
                None => c.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(feature = "real-data")]
#[test]
fn rx5600xt_with_pytorch_org_wheel_no_override() {
    let d = tempfile::tempdir().unwrap();
    let root = rx5600xt(&d.path().join("root"));
    let e = envs(d.path());
    let (code, human, v) = doctor(&root, &[&e.pytorch_org], &[], &["--user", "bob"]);
    assert_eq!(code, 1);
    let g = &v.gpus[0];
    assert_eq!(g.vendor, Vendor::Amd);
    assert_eq!(g.node, Some(1));
    assert_eq!(g.gfx_target.as_deref(), Some("gfx1010"));
    assert_eq!(g.pci_id, "1002:731f");
    assert_eq!(g.revision.as_deref(), Some("ca"));
    // No amdgpu.ids in this sysroot: the embedded table names it.
    assert_eq!(g.name, "AMD Radeon RX 5600 XT");
    assert_eq!(g.name_source, NameSource::Embedded);
    assert_eq!(g.compute_units, Some(36));
    assert_eq!(
        ids(&v),
        [
            "rocblas-missing-target",
            "torch-missing-target",
            "hipblaslt-unsupported"
        ]
    );
    let t = finding(&v, "torch-missing-target");
    assert!(fix_text(&t.fix).contains("torch[device-gfx1010]"));
    assert!(!fix_text(&t.fix).contains("10.3.0"));
    snap("rx5600xt_pytorch_org", &root, &human, &v);
}

#[cfg(feature = "real-data")]
#[test]
fn rx5600xt_with_the_10_3_0_override() {
    let d = tempfile::tempdir().unwrap();
    let root = rx5600xt(&d.path().join("root"));
    let e = envs(d.path());
    let (code, human, v) = doctor(
        &root,
        &[&e.pytorch_org],
        &[("HSA_OVERRIDE_GFX_VERSION", "10.3.0")],
        &["--user", "bob"],
    );
    assert_eq!(code, 1);
    // The true target comes from sysfs, not from the override.
    assert_eq!(v.gpus[0].gfx_target.as_deref(), Some("gfx1010"));
    assert_eq!(v.gpus[0].runtime.as_ref().unwrap().isa, "gfx1030");
    let f = finding(&v, "override-foreign-isa");
    assert_eq!(f.severity, Severity::Error);
    // A finding has no "findings" of its own: a check of the JSON's shape.
    let raw = v.raw["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "override-foreign-isa")
        .unwrap();
    assert_eq!(raw["findings"], serde_json::Value::Null);
    let fix = &fix_text(&f.fix);
    assert!(fix.starts_with("unset HSA_OVERRIDE_GFX_VERSION"), "{fix}");
    assert!(fix.contains("torch[device-gfx1010]"));
    assert!(!fix.contains("=10.3.0"), "{fix}");
    // The override hides torch's lack of gfx1010 code; doctor still names it.
    assert!(ids(&v).contains(&"torch-missing-target".to_string()));
    let var = &v.environment.variables[0];
    assert_eq!(var.name, "HSA_OVERRIDE_GFX_VERSION");
    assert!(var.effects[0].contains("foreign ISA"));
    snap("rx5600xt_override_10_3_0", &root, &human, &v);
}

#[cfg(feature = "real-data")]
#[test]
fn rx5600xt_native_stack_is_clean_and_a_native_override_is_unneeded() {
    let d = tempfile::tempdir().unwrap();
    let root = rx5600xt(&d.path().join("root"));
    let e = envs(d.path());
    let (code, human, v) = doctor(&root, &[&e.native], &[], &["--user", "bob"]);
    assert_eq!(code, 0, "{human}");
    assert_eq!(ids(&v), ["hipblaslt-unsupported"]);
    let s = &v.python[0].torch.as_ref().unwrap().gpu_support[0];
    assert_eq!(s.target, "gfx1010");
    assert_eq!(s.rocblas_has_target, Some(true));
    snap("rx5600xt_native", &root, &human, &v);

    let (code, _, v) = doctor(
        &root,
        &[&e.native],
        &[("HSA_OVERRIDE_GFX_VERSION", "10.1.0")],
        &["--user", "bob"],
    );
    assert_eq!(code, 0);
    assert_eq!(finding(&v, "override-unneeded").severity, Severity::Warning);
}

#[cfg(feature = "real-data")]
#[test]
fn rx5500xt_overrides() {
    let d = tempfile::tempdir().unwrap();
    let root = Machine::new(&d.path().join("root"))
        .cpu_node(0, 6)
        .amd_gpu(&AmdGpu::rx5500xt(1, 0x0a))
        .driver_ok()
        .amdgpu_ids(&fixture("ids/amdgpu.ids.excerpt_navi_and_later.txt"))
        .finish();
    let e = envs(d.path());
    let (code, human, v) = doctor(&root, &[&e.native], &[], &["--user", "bob"]);
    assert_eq!(v.gpus[0].gfx_target.as_deref(), Some("gfx1012"));
    assert_eq!(v.gpus[0].name, "AMD Radeon RX 5500 XT");
    assert_eq!(v.gpus[0].name_source, NameSource::AmdgpuIds);
    // libnative_gfx101x.so has gfx1012 code, but the Tensile files are gfx1010's only.
    assert_eq!(code, 1);
    assert_eq!(ids(&v), ["rocblas-missing-target", "hipblaslt-unsupported"]);
    snap("rx5500xt_native_env", &root, &human, &v);
    // 10.3.0 is foreign on gfx1012 as on gfx1010.
    let (code, _, v) = doctor(
        &root,
        &[&e.native],
        &[("HSA_OVERRIDE_GFX_VERSION", "10.3.0")],
        &["--user", "bob"],
    );
    assert_eq!(code, 1);
    assert_eq!(
        finding(&v, "override-foreign-isa").subject.as_deref(),
        Some("node 1")
    );
    // 10.1.0 makes gfx1012 run gfx1010 code, which it executes correctly (cgmb's patch):
    // no override error, and rocBLAS's gfx1010 files now count.
    let (code, _, v) = doctor(
        &root,
        &[&e.native],
        &[("HSA_OVERRIDE_GFX_VERSION", "10.1.0")],
        &["--user", "bob"],
    );
    assert_eq!(code, 0, "{:#?}", v.findings);
    assert_eq!(
        v.python[0].torch.as_ref().unwrap().gpu_support[0].target,
        "gfx1012 or gfx1010"
    );
    assert_eq!(finding(&v, "override-unneeded").severity, Severity::Warning);
}

#[cfg(feature = "real-data")]
#[test]
fn apu_plus_rx5700xt_mixed_override() {
    let d = tempfile::tempdir().unwrap();
    let mut dgpu = AmdGpu::rx5700xt(2, 0x03);
    dgpu.render_minor = 129;
    dgpu.card = 1;
    let root = Machine::new(&d.path().join("root"))
        .cpu_node(0, 16)
        .amd_gpu(&AmdGpu::raphael_igpu(1, 0x0e))
        .amd_gpu(&dgpu)
        .driver_ok()
        .finish();
    let e = envs(d.path());
    let (code, human, v) = doctor(
        &root,
        &[&e.native],
        &[("HSA_OVERRIDE_GFX_VERSION", "10.3.0")],
        &["--user", "bob"],
    );
    assert_eq!(code, 1);
    let targets: Vec<&str> = v
        .gpus
        .iter()
        .map(|g| g.gfx_target.as_deref().unwrap())
        .collect();
    assert_eq!(targets, ["gfx1036", "gfx1010"]);
    assert!(v.gpus[0].apu);
    let f = finding(&v, "override-foreign-isa");
    assert_eq!(f.subject.as_deref(), Some("node 2"));
    let fix = &fix_text(&f.fix);
    // The iGPU may keep its override (gfx1036 runs gfx1030 code); the dGPU must not.
    assert!(
        fix.contains("export HSA_OVERRIDE_GFX_VERSION_1=10.3.0"),
        "{fix}"
    );
    assert!(fix.contains("ROCR_VISIBLE_DEVICES=0"), "{fix}");
    snap("apu_rx5700xt_override", &root, &human, &v);

    // The fixed environment: per-device override for the iGPU only.
    let (code, _, v) = doctor(
        &root,
        &[&e.native],
        &[("HSA_OVERRIDE_GFX_VERSION_1", "10.3.0")],
        &["--user", "bob"],
    );
    // No error for the dGPU; the iGPU still has no torch code (this torch is gfx101x
    // only), which is why hiding it is the better fix here.
    assert_eq!(code, 1);
    let errors: Vec<_> = v
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    assert_eq!(errors.len(), 1, "{:#?}", v.findings);
    assert_eq!(errors[0].id, "torch-missing-target");
    assert!(errors[0].subject.as_deref().unwrap().ends_with("node 1"));
    assert_eq!(v.gpus[0].runtime.as_ref().unwrap().isa, "gfx1030");
    assert_eq!(v.gpus[1].runtime.as_ref().unwrap().isa, "gfx1010");
    // Hiding the iGPU: the dGPU becomes HIP device 0.
    let (_, human, v) = doctor(
        &root,
        &[&e.native],
        &[("ROCR_VISIBLE_DEVICES", "1")],
        &["--user", "bob"],
    );
    assert!(!v.gpus[0].runtime.as_ref().unwrap().visible);
    assert_eq!(v.gpus[1].runtime.as_ref().unwrap().device_index, Some(0));
    assert_eq!(finding(&v, "gpu-hidden").subject.as_deref(), Some("node 1"));
    snap("apu_rx5700xt_hidden_igpu", &root, &human, &v);
}

#[test]
fn real_captures() {
    let d = tempfile::tempdir().unwrap();
    // Vega10 MI25 on a pre-2021 kernel: no gfx_target_version, so the device id decides.
    let root = Machine::new(&d.path().join("mi25"))
        .capture(&fixture("sysfs/k8s-device-plugin_vega10-mi25"), 0x01)
        .driver_ok()
        .finish();
    let (_, human, v) = doctor(&root, &[], &[], &["--user", "bob"]);
    let g = &v.gpus[0];
    assert_eq!(g.gfx_target.as_deref(), Some("gfx900"));
    assert_eq!(g.gfx_target_source, Some(TargetSource::DeviceId));
    // From the embedded amdgpu.ids (the tree has none): the revision decides.
    assert_eq!(g.name, "AMD Radeon Instinct MI25");
    assert_eq!(g.name_source, NameSource::Embedded);
    assert_eq!(g.vram_bytes, Some(17163091968u64));
    snap("capture_vega10_mi25", &root, &human, &v);

    // MI210 with a stale 10.3.0 override (L-R-B#5238): foreign ISA.
    let root = Machine::new(&d.path().join("mi210"))
        .capture(&fixture("sysfs/k8s-device-plugin_mi210"), 0x02)
        .driver_ok()
        .finish();
    let (code, human, v) = doctor(
        &root,
        &[],
        &[("HSA_OVERRIDE_GFX_VERSION", "10.3.0")],
        &["--user", "bob"],
    );
    assert_eq!(code, 1);
    assert_eq!(v.gpus[0].node, Some(2));
    assert_eq!(v.gpus[0].gfx_target.as_deref(), Some("gfx90a"));
    assert_eq!(v.gpus[0].name, "AMD Instinct MI210");
    assert_eq!(
        finding(&v, "override-foreign-isa").subject.as_deref(),
        Some("node 2")
    );
    snap("capture_mi210_override", &root, &human, &v);

    // MI308X: "ip discovery" name, a device missing from every name table.
    let root = Machine::new(&d.path().join("mi308x"))
        .capture(&fixture("sysfs/k8s-device-plugin_mi308x"), 0x00)
        .driver_ok()
        .finish();
    let (code, human, v) = doctor(
        &root,
        &[],
        &[("HSA_OVERRIDE_GFX_VERSION", "10.3.0")],
        &["--user", "bob"],
    );
    assert_eq!(code, 1);
    let g = &v.gpus[0];
    assert_eq!(g.gfx_target.as_deref(), Some("gfx942"));
    assert_eq!(g.name, "AMD GPU 0x74a2");
    assert_eq!(g.name_source, NameSource::Generic);
    assert_eq!(g.asic, None);
    assert_eq!(g.vram_bytes, Some(51539607552u64));
    assert!(ids(&v).contains(&"override-foreign-isa".to_string()));
    snap("capture_mi308x_override", &root, &human, &v);
}

#[test]
fn driver_and_access_problems() {
    let d = tempfile::tempdir().unwrap();
    // alice is in video but not render: /dev/kfd and the render node are closed to her.
    let root = rx5600xt(&d.path().join("access"));
    let (code, human, v) = doctor(&root, &[], &[], &["--user", "alice"]);
    assert_eq!(code, 1);
    let f = finding(&v, "kfd-inaccessible");
    assert!(fix_text(&f.fix).contains("usermod -aG render,video alice"));
    assert!(f.fix[0].needs_root);
    assert_eq!(
        v.driver
            .device_nodes
            .iter()
            .filter(|n| !n.accessible)
            .count(),
        2
    );
    snap("access_denied", &root, &human, &v);
    // bob is in render.
    let (code, _, v) = doctor(&root, &[], &[], &["--user", "bob"]);
    assert_eq!(code, 0, "{:#?}", v.findings);
    // An unknown user is a tool error naming it.
    let (code, _, err) = common::rp(&[
        "doctor",
        "--sysroot",
        root.to_str().unwrap(),
        "--user",
        "carol",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("carol"), "{err}");

    // An RX 5700 XT on the bus, amdgpu not loaded, nomodeset on the command line.
    let root = Machine::new(&d.path().join("nodriver"))
        .pci_device("0000:03:00.0", 0x030000, 0x1002, 0x731f, 0xc1, None, &[])
        .file(
            "proc/cmdline",
            "BOOT_IMAGE=/vmlinuz root=/dev/sda1 quiet nomodeset\n",
        )
        .finish();
    let (code, human, v) = doctor(&root, &[], &[], &["--user", "bob"]);
    assert_eq!(code, 1);
    let g = &v.gpus[0];
    assert_eq!(g.node, None);
    assert_eq!(g.gfx_target.as_deref(), Some("gfx1010"));
    assert_eq!(g.gfx_target_source, Some(TargetSource::DeviceId));
    let f = finding(&v, "amdgpu-not-loaded");
    assert!(fix_text(&f.fix).contains("nomodeset"));
    snap("amdgpu_not_loaded", &root, &human, &v);

    // No PCIe atomics.
    let mut g = AmdGpu::rx5600xt(1, 0x03);
    g.pcie_atomics = false;
    let root = Machine::new(&d.path().join("atomics"))
        .cpu_node(0, 4)
        .amd_gpu(&g)
        .driver_ok()
        .finish();
    let (_, _, v) = doctor(&root, &[], &[], &["--user", "bob"]);
    assert_eq!(
        finding(&v, "pcie-atomics-missing").severity,
        Severity::Warning
    );
    assert_eq!(v.gpus[0].pcie_atomics, Some(false));
}

#[cfg(feature = "real-data")]
#[test]
fn other_vendors_and_non_rocm_torch() {
    let d = tempfile::tempdir().unwrap();
    // An H100 box (PCI 10de:2330): listed, no AMD GPU.
    let root = Machine::new(&d.path().join("nvidia"))
        .pci_device(
            "0000:19:00.0",
            0x030200,
            0x10de,
            0x2330,
            0xa1,
            Some("nvidia"),
            &["card0".into(), "renderD128".into()],
        )
        .pci_device(
            "0000:00:02.0",
            0x030000,
            0x8086,
            0x46a6,
            0x0c,
            Some("i915"),
            &["card1".into()],
        )
        .finish();
    let e = envs(d.path());
    let (code, human, v) = doctor(&root, &[&e.cuda], &[], &["--user", "bob"]);
    assert_eq!(code, 0);
    let vendors: Vec<Vendor> = v.gpus.iter().map(|g| g.vendor).collect();
    assert_eq!(vendors, [Vendor::Intel, Vendor::Nvidia]);
    assert_eq!(ids(&v), ["no-amd-gpu"]);
    assert_eq!(v.python[0].torch.as_ref().unwrap().build, TorchBuild::Cuda);
    snap("nvidia_box", &root, &human, &v);
    // A CUDA torch on an RDNA1 machine has no HIP code at all.
    let root = rx5600xt(&d.path().join("rdna1"));
    let (code, _, v) = doctor(&root, &[&e.cuda], &[], &["--user", "bob"]);
    assert_eq!(code, 1);
    assert!(finding(&v, "torch-missing-target")
        .why
        .contains("CUDA 12.8 build"));
}

#[test]
fn a_hung_sysfs_read_times_out_and_becomes_a_finding() {
    let d = tempfile::tempdir().unwrap();
    let root = rx5600xt(&d.path().join("hung"));
    // A FIFO with no writer blocks its reader, as amdgpu attributes do on a hung GPU.
    let attr = root.join("sys/bus/pci/devices/0000:03:00.0/mem_info_vram_total");
    std::fs::remove_file(&attr).unwrap();
    let st = Command::new("mkfifo").arg(&attr).status().unwrap();
    assert!(st.success());
    let t = std::time::Instant::now();
    let (code, _, v) = doctor(&root, &[], &[], &["--user", "bob", "--timeout-ms", "300"]);
    assert!(
        t.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(code, 1);
    let f = finding(&v, "sysfs-timeout");
    assert_eq!(
        f.subject.as_deref(),
        Some("/sys/bus/pci/devices/0000:03:00.0/mem_info_vram_total")
    );
    assert!(f.title.contains("300 ms"));
    // The rest of the report is still there.
    assert_eq!(v.gpus[0].gfx_target.as_deref(), Some("gfx1010"));
}

#[cfg(feature = "real-data")]
#[test]
fn rocm_installs_and_the_loader_order() {
    let d = tempfile::tempdir().unwrap();
    let root = rx5600xt(&d.path().join("root"));
    let opt = root.join("opt/rocm-6.4.0");
    std::fs::create_dir_all(opt.join(".info")).unwrap();
    std::fs::write(opt.join(".info/version"), "6.4.0-47\n").unwrap();
    std::fs::create_dir_all(opt.join("lib/rocblas")).unwrap();
    std::fs::copy(
        input("RP_FIXTURES").join("libone_tu.so"),
        opt.join("lib/libamdhip64.so.6.4.43482"),
    )
    .unwrap();
    std::os::unix::fs::symlink("libamdhip64.so.6.4.43482", opt.join("lib/libamdhip64.so.6"))
        .unwrap();
    // doctor reads a Tensile directory by its file names: the same names as sid's files
    // (a link out of the tree would, rightly, not be followed).
    let lib = opt.join("lib/rocblas/library");
    std::fs::create_dir_all(&lib).unwrap();
    for e in std::fs::read_dir(sid_tensile()).unwrap() {
        std::fs::write(lib.join(e.unwrap().file_name()), b"").unwrap();
    }
    std::os::unix::fs::symlink("rocm-6.4.0", root.join("opt/rocm")).unwrap();
    let distro = root.join("usr/lib/x86_64-linux-gnu");
    std::fs::create_dir_all(&distro).unwrap();
    std::fs::write(distro.join("libamdhip64.so.5.2.21153"), b"").unwrap();
    std::fs::create_dir_all(root.join("etc/ld.so.conf.d")).unwrap();
    std::fs::write(
        root.join("etc/ld.so.conf"),
        "include /etc/ld.so.conf.d/*.conf\n",
    )
    .unwrap();
    std::fs::write(
        root.join("etc/ld.so.conf.d/20-rocm.conf"),
        "/opt/rocm/lib\n",
    )
    .unwrap();
    let (_, human, v) = doctor(&root, &[], &[], &["--user", "bob"]);
    let r = &v.rocm;
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].path, "/opt/rocm-6.4.0");
    assert_eq!(r[0].version.as_deref(), Some("6.4.0-47"));
    assert!(r[0].loader_first);
    assert!(r[0]
        .rocblas_library
        .as_ref()
        .unwrap()
        .archs
        .iter()
        .any(|a| a == "gfx1010"));
    assert_eq!(r[1].version.as_deref(), Some("5.2.21153"));
    assert_eq!(r[1].version_source, Some(VersionSource::Soname));
    snap("rocm_installs", &root, &human, &v);
    // LD_LIBRARY_PATH wins over ld.so.conf.
    let (_, _, v) = doctor(
        &root,
        &[],
        &[("LD_LIBRARY_PATH", "/usr/lib/x86_64-linux-gnu")],
        &["--user", "bob"],
    );
    assert!(v.rocm[1].loader_first);
    assert!(!v.rocm[0].loader_first);
}

#[cfg(feature = "real-data")]
#[test]
fn python_discovery_without_flags() {
    let d = tempfile::tempdir().unwrap();
    let root = rx5600xt(&d.path().join("root"));
    // Venvs in the current directory (doctor runs with cwd = root here).
    envs(&root);
    let (_, _, v) = doctor(
        &root,
        &[],
        &[("VIRTUAL_ENV", "/venv-native")],
        &["--user", "bob"],
    );
    let found: Vec<(&str, FoundBy)> = v
        .python
        .iter()
        .map(|p| (p.path.as_str(), p.found_by))
        .collect();
    // The active venv first; the same venv found again in cwd is reported once.
    assert_eq!(
        found,
        [
            ("/venv-native", FoundBy::VirtualEnv),
            ("/venv-cuda", FoundBy::Cwd),
            ("/venv-pytorch-org", FoundBy::Cwd),
        ]
    );
    // A bad --python path is reported, the rest goes on, and the exit is 2 with the
    // path named on stderr.
    let o = cli()
        .env_clear()
        .args([
            "doctor",
            "--json",
            "--user",
            "bob",
            "--python",
            "/nonexistent/python3",
            "--python",
        ])
        .arg(root.join("venv-native"))
        .arg("--sysroot")
        .arg(&root)
        .run();
    assert_eq!(o.code, 2);
    assert!(o
        .stderr
        .contains("rocm-patch: error: --python /nonexistent/python3: no such file"));
    let v: DoctorReport = o.json();
    assert!(v.python[0]
        .error
        .as_deref()
        .unwrap()
        .contains("does not exist"));
    assert_eq!(
        v.python[1].torch.as_ref().unwrap().version.as_deref(),
        Some("2.12.0+rocm7.14.0")
    );
}

#[test]
fn the_live_machine_report_is_well_formed() {
    // This machine: whatever it has, the report parses and every finding is in the catalog.
    let (code, out, err) = common::rp(&["doctor", "--json"]);
    assert!(code == 0 || code == 1, "{code} {err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["schema"], 1);
    for f in v["findings"].as_array().unwrap() {
        for k in ["id", "severity", "title", "why", "ref", "fix"] {
            assert!(f.get(k).is_some(), "{k} missing in {f}");
        }
    }
}

/// A tree handed to doctor is only read: an interpreter in it is never run (even when its
/// site-packages cannot be derived from files), and the host's own `~/.local` torch is
/// not reported as the tree's.
#[test]
fn a_sysroot_is_never_executed_and_never_mixed_with_the_host() {
    let d = tempfile::tempdir().unwrap();
    let root = rx5600xt(&d.path().join("root"));
    let marker = d.path().join("executed");
    let script = format!(
        "#!/bin/sh\ntouch {}\necho /nonexistent/site-packages\n",
        marker.display()
    );
    let put = |rel: &str, text: &str| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    };
    // A system layout doctor recognises, and one it does not (no lib/python3.X).
    put("usr/bin/python3", &script);
    std::fs::create_dir_all(root.join("usr/lib/python3.11/site-packages")).unwrap();
    put("opt/odd/bin/python3", &script);
    put(
        "etc/passwd",
        "root:x:0:0::/root:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/bash\n",
    );
    // The host's home holds a torch in its user site.
    let host_home = d.path().join("host-home");
    let host_site = host_home.join(".local/lib/python3.11/site-packages/torch");
    std::fs::create_dir_all(&host_site).unwrap();
    std::fs::write(host_site.join("version.py"), PYTORCH_ORG).unwrap();
    let home = host_home.to_str().unwrap();
    for (path, odd) in [("/usr/bin", false), ("/opt/odd/bin", true)] {
        let (_, human, v) = doctor(&root, &[], &[("PATH", path), ("HOME", home)], &[]);
        assert!(
            !marker.exists(),
            "a program below --sysroot was run ({path})"
        );
        let py = &v.python[0];
        assert_eq!(py.found_by, FoundBy::Path, "{human}");
        assert!(py.torch.is_none(), "{human}");
        assert!(!human.contains("host-home"), "{human}");
        if odd {
            assert_eq!(py.site_packages_from, SitesFrom::Unknown);
            assert!(
                py.error.as_deref().unwrap().contains("never run"),
                "{human}"
            );
        } else {
            assert_eq!(py.site_packages_from, SitesFrom::Files);
            assert_eq!(py.site_packages[0], "/usr/lib/python3.11/site-packages");
        }
    }
}

/// The user site of the tree's own user (its /etc/passwd home) is read, inside the tree.
#[test]
fn the_tree_user_site_is_read_inside_the_tree() {
    let d = tempfile::tempdir().unwrap();
    let root = rx5600xt(&d.path().join("root"));
    std::fs::create_dir_all(root.join("usr/bin")).unwrap();
    std::fs::write(root.join("usr/bin/python3"), "").unwrap();
    std::fs::create_dir_all(root.join("usr/lib/python3.11/site-packages")).unwrap();
    let uid = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap();
    std::fs::write(
        root.join("etc/passwd"),
        format!("me:x:{uid}:{uid}::/home/me:/bin/sh\n"),
    )
    .unwrap();
    let site = root.join("home/me/.local/lib/python3.11/site-packages/torch");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("version.py"), PYTORCH_ORG).unwrap();
    let (_, human, v) = doctor(&root, &[], &[("PATH", "/usr/bin")], &[]);
    let torch = v.python[0].torch.as_ref().expect(&human);
    assert_eq!(torch.version.as_deref(), Some("2.5.1+rocm6.2"), "{human}");
    assert_eq!(
        torch.path,
        "/home/me/.local/lib/python3.11/site-packages/torch"
    );
}

/// On the live machine an interpreter whose layout doctor does not know is asked for
/// `sys.path` — with a deadline, in its own process group — and the report says so.
#[test]
fn the_live_machine_may_ask_an_unknown_interpreter_and_says_so() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let site = d.path().join("odd-site/site-packages");
    std::fs::create_dir_all(site.join("torch")).unwrap();
    std::fs::write(site.join("torch/version.py"), PYTORCH_ORG).unwrap();
    let py = d.path().join("odd/bin/python3");
    std::fs::create_dir_all(py.parent().unwrap()).unwrap();
    std::fs::write(&py, format!("#!/bin/sh\necho {}\n", site.display())).unwrap();
    std::fs::set_permissions(&py, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (_, v): (_, DoctorReport) = cli().args(["doctor", "--json", "--python"]).arg(&py).json();
    let p = &v.python[0];
    assert_eq!(p.site_packages_from, SitesFrom::Interpreter, "{p:?}");
    assert_eq!(
        p.torch.as_ref().and_then(|t| t.version.as_deref()),
        Some("2.5.1+rocm6.2"),
        "{p:?}"
    );
    // One that never finishes (and leaves a child holding the pipe) is killed with its
    // whole group after the deadline.
    std::fs::write(&py, "#!/bin/sh\n(sleep 600) &\nsleep 600\n").unwrap();
    let t = std::time::Instant::now();
    let (_, v): (_, DoctorReport) = cli().args(["doctor", "--json", "--python"]).arg(&py).json();
    assert!(
        t.elapsed() < std::time::Duration::from_secs(15),
        "{:?}",
        t.elapsed()
    );
    assert!(
        v.python[0]
            .error
            .as_deref()
            .unwrap()
            .contains("did not print sys.path"),
        "{:?}",
        v.python[0]
    );
}

/// One synthesized GPU for a device id of every ASIC of amdgpu's device table, on a
/// kernel without `gfx_target_version` (the target must come from the device id): doctor
/// names the KFD target and the family, and `env` resolves a profile for it. ASICs KFD
/// does not support have no KFD node; doctor lists them from the PCI bus without a
/// target.
#[test]
fn every_asic_of_the_device_table_is_named() {
    let d = tempfile::tempdir().unwrap();
    let kb = rp_kb::kb();
    let mut checked = 0;
    for (i, a) in kb.asics().iter().enumerate() {
        let root = d.path().join(format!("m{i}"));
        let device = a.ids[0];
        let mut m = Machine::new(&root);
        m.cpu_node(0, 8);
        if a.kfd {
            let g = AmdGpu {
                gfx_target_version: 0,
                device,
                revision: 0,
                asic: "",
                ..AmdGpu::rx5600xt(1, 0x03)
            };
            m.amd_gpu(&g).driver_ok();
        } else {
            m.pci_device(
                "0000:03:00.0",
                0x030000,
                0x1002,
                device,
                0,
                Some("amdgpu"),
                &[],
            );
            m.amdgpu_module();
        }
        let root = m.finish();
        let (_, human, v) = doctor(&root, &[], &[], &[]);
        let g = &v.gpus[0];
        assert_eq!(
            g.pci_id,
            format!("1002:{device:04x}"),
            "{}: {human}",
            a.name
        );
        match &a.gfx {
            Some(t) => {
                assert_eq!(
                    g.gfx_target.as_deref(),
                    Some(t.as_str()),
                    "{}: {human}",
                    a.name
                );
                assert_eq!(
                    g.gfx_target_source,
                    Some(TargetSource::DeviceId),
                    "{}",
                    a.name
                );
                assert!(g.family.is_some(), "{}: no family: {g:?}", a.name);
                let (code, e): (_, EnvReport) = cli()
                    .args(["env", "--json", "--sysroot"])
                    .arg(&root)
                    .env_clear()
                    .json();
                assert_eq!(code, 0, "{}: env failed", a.name);
                assert_eq!(e.profile, "native", "{}", a.name);
                assert!(e.gpus[0].contains(t.as_str()), "{}: {:?}", a.name, e.gpus);
                checked += 1;
            }
            None => assert!(g.gfx_target.is_none(), "{}: {g:?}", a.name),
        }
    }
    assert!(checked >= 20, "{checked}");
}

/// Numbers and names from sysfs are range-checked (issue 13): a render minor of
/// 2^64-1 names no device node (and so no false `kfd-inaccessible`), memory banks whose
/// sizes overflow are not a wrapped small VRAM, and `+1` and `001` are not node 1.
#[test]
fn hostile_sysfs_values_are_checked() {
    let d = tempfile::tempdir().unwrap();
    let root = rx5600xt(&d.path().join("root"));
    let node = root.join("sys/class/kfd/kfd/topology/nodes/1");
    let props = std::fs::read_to_string(node.join("properties")).unwrap();
    std::fs::write(
        node.join("properties"),
        props.replace(
            "drm_render_minor 128",
            "drm_render_minor 18446744073709551615",
        ),
    )
    .unwrap();
    for b in ["0", "1"] {
        std::fs::create_dir_all(node.join("mem_banks").join(b)).unwrap();
        std::fs::write(
            node.join("mem_banks").join(b).join("properties"),
            "heap_type 1\nsize_in_bytes 18446744073709551000\n",
        )
        .unwrap();
    }
    for alias in ["+1", "001"] {
        let to = node.parent().unwrap().join(alias);
        std::fs::create_dir_all(&to).unwrap();
        for f in ["name", "gpu_id", "properties"] {
            std::fs::copy(node.join(f), to.join(f)).unwrap();
        }
    }
    let (_, human, v) = doctor(&root, &[], &[], &[]);
    assert!(!human.contains("18446744073709551615"), "{human}");
    let amd: Vec<_> = v.gpus.iter().filter(|g| g.vendor == Vendor::Amd).collect();
    assert_eq!(amd.len(), 1, "{:#?}", v.gpus);
    let vram = amd[0].vram_bytes.unwrap();
    assert!(vram > 1 << 30, "wrapped VRAM: {vram}");
    assert!(
        !ids(&v).contains(&"kfd-inaccessible".to_string()),
        "{:?}",
        ids(&v)
    );
}

/// Doctor's next steps fit the distribution (no pacman line on Debian), and an override
/// set by a venv's activate script is named as file:line (issue 13).
#[test]
fn steps_fit_the_distribution_and_activate_scripts_are_read() {
    let d = tempfile::tempdir().unwrap();
    let root = rx5600xt(&d.path().join("root"));
    let env = [("HSA_OVERRIDE_GFX_VERSION", "10.3.0")];
    let (_, human, _) = doctor(&root, &[], &env, &[]);
    assert!(
        human.contains("pacman"),
        "unknown distribution: every route\n{human}"
    );
    std::fs::write(
        root.join("etc/os-release"),
        "PRETTY_NAME=\"Debian GNU/Linux 13\"\nID=debian\n",
    )
    .unwrap();
    let (_, human, _) = doctor(&root, &[], &env, &[]);
    assert!(!human.contains("pacman"), "{human}");
    assert!(human.contains("Next steps"), "{human}");
    assert!(
        !human.contains("\n  $ "),
        "commands carry no prompt:\n{human}"
    );
    std::fs::write(root.join("etc/os-release"), "ID=manjaro\nID_LIKE=arch\n").unwrap();
    let (_, human, _) = doctor(&root, &[], &env, &[]);
    assert!(human.contains("sudo pacman -S rocm-hip-sdk"), "{human}");
    // A venv whose activate script exports the override.
    let venv = root.join("home/bob/venv");
    std::fs::create_dir_all(venv.join("bin")).unwrap();
    std::fs::write(venv.join("pyvenv.cfg"), "home = /usr/bin\n").unwrap();
    std::fs::write(
        venv.join("bin/activate"),
        "# venv\nVIRTUAL_ENV=/home/bob/venv\nexport HSA_OVERRIDE_GFX_VERSION=10.3.0\n",
    )
    .unwrap();
    let (code, _, v) = doctor(&root, &[&venv], &[], &["--user", "bob"]);
    assert_eq!(code, 1);
    let f = finding(&v, "override-in-startup-file");
    assert_eq!(
        f.subject.as_deref(),
        Some("/home/bob/venv/bin/activate:3"),
        "{f:?}"
    );
}

/// Issue 29: `--python /dev/zero` or a FIFO is named for what it is, never read, and a
/// `/dev/kfd` that is a directory is not "read/write".
#[test]
fn devices_and_fifos_are_named_for_what_they_are() {
    let d = tempfile::tempdir().unwrap();
    let root = rx5600xt(&d.path().join("root"));
    let fifo = d.path().join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    for p in [Path::new("/dev/zero"), fifo.as_path()] {
        let o = cli()
            .env_clear()
            .args(["doctor", "--json", "--sysroot"])
            .arg(&root)
            .arg("--python")
            .arg(p)
            .run();
        assert_eq!(o.code, 2);
        let err = &o.stderr;
        assert!(err.contains("a device, FIFO or socket"), "{err}");
        assert!(!err.contains("no such file"), "{err}");
        let v: DoctorReport = o.json();
        let e = v.python[0].error.clone().unwrap_or_default();
        assert!(!e.contains("does not exist"), "{e}");
    }
    // /dev/kfd as a directory.
    std::fs::remove_file(root.join("dev/kfd")).unwrap();
    std::fs::create_dir(root.join("dev/kfd")).unwrap();
    let (_, _, v) = doctor(&root, &[], &[], &["--user", "bob"]);
    let kfd = v
        .driver
        .device_nodes
        .iter()
        .find(|n| n.path == "/dev/kfd")
        .unwrap();
    assert!(!kfd.accessible, "{kfd:?}");
    assert!(
        kfd.owner
            .as_deref()
            .unwrap()
            .contains("not a character device"),
        "{kfd:?}"
    );
}
