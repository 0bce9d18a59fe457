//! TheRock-shaped installs for tests: real hipcc-built libraries kpack'd with binutils
//! (their device code moved into kpack archives written from the format), laid out as
//! TheRock's wheels lay out torch and its per-GPU device packages.
#![allow(
    dead_code,
    reason = "included by several test binaries, each using a part: an expect would be unfulfilled in those that use all of it"
)]

use crate::common::machine::torch_venv;
use crate::common::*;
use crate::kpack_writer::{archive, kpack_ref, Kernel, Scheme};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `torch/version.py` of a TheRock torch.
pub const THEROCK: &str = "from typing import Optional\n__version__ = '2.12.0+rocm7.14.0'\ndebug = False\ncuda: Optional[str] = None\nhip: Optional[str] = '7.14.0-0'\n";

/// Device code objects of the uncompressed bundles in a `.hip_fatbin` (hipcc 5.2), by
/// processor.
pub fn bundle_code_objects(fatbin: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let u64_at = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    let mut out = BTreeMap::new();
    let mut p = 0;
    while p + 24 <= fatbin.len() {
        if &fatbin[p..p + 24] == b"__CLANG_OFFLOAD_BUNDLE__" {
            let b = &fatbin[p..];
            let mut q = 32;
            for _ in 0..u64_at(b, 24) {
                let (off, size, len) = (u64_at(b, q), u64_at(b, q + 8), u64_at(b, q + 16));
                let id = std::str::from_utf8(&b[q + 24..q + 24 + len as usize]).unwrap();
                if !id.starts_with("host") {
                    let proc_ = id.rsplit("--").next().unwrap().split(':').next().unwrap();
                    out.entry(proc_.to_string())
                        .or_insert_with(|| b[off as usize..(off + size) as usize].to_vec());
                }
                q += 24 + len as usize;
            }
        }
        p += 4096;
    }
    out
}

pub fn objcopy(args: &[&str]) {
    let o = Command::new("objcopy").args(args).output().unwrap();
    assert!(
        o.status.success(),
        "objcopy {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

pub fn dump_section(lib: &Path, section: &str, dir: &Path) -> Vec<u8> {
    let out = dir.join(format!("dump{section}"));
    objcopy(&[
        "--dump-section",
        &format!("{section}={}", out.display()),
        s(lib),
        s(&dir.join("scratch.so")),
    ]);
    std::fs::read(out).unwrap()
}

/// A kpack'd copy of a real hipcc-built library: its wrappers say `HIPK`, its
/// `.hip_fatbin` is zeroed, and `.rocm_kpack_ref` names its key and archives (added as a
/// plain section: TheRock also maps it, which only the runtime needs).
pub fn kpackd(src: &Path, dst: &Path, key: &str, search: &[&str], work: &Path) {
    let seg = dump_section(src, ".hipFatBinSegment", work);
    let mut hipk = seg.clone();
    let mut n = 0;
    for rec in hipk.chunks_exact_mut(24) {
        if rec[..4] == 0x4849_5046u32.to_le_bytes() {
            rec[..4].copy_from_slice(&0x4B50_4948u32.to_le_bytes());
            n += 1;
        }
    }
    assert!(n > 0, "no HIPF wrapper in {}", src.display());
    let fatbin = dump_section(src, ".hip_fatbin", work);
    let (seg_f, zero_f, ref_f) = (work.join("seg"), work.join("zero"), work.join("ref"));
    std::fs::write(&seg_f, &hipk).unwrap();
    std::fs::write(&zero_f, vec![0u8; fatbin.len()]).unwrap();
    std::fs::write(&ref_f, kpack_ref(key, search)).unwrap();
    std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
    objcopy(&[
        "--update-section",
        &format!(".hipFatBinSegment={}", seg_f.display()),
        "--update-section",
        &format!(".hip_fatbin={}", zero_f.display()),
        "--add-section",
        &format!(".rocm_kpack_ref={}", ref_f.display()),
        s(src),
        s(dst),
    ]);
}

pub struct Stack {
    pub work: PathBuf,
    /// Real code objects by processor (from hipcc 5.2 builds).
    pub cos: BTreeMap<String, Vec<u8>>,
}

impl Stack {
    pub fn new(dir: &Path) -> Stack {
        let work = dir.join("work");
        std::fs::create_dir_all(&work).unwrap();
        let mut cos = BTreeMap::new();
        for lib in ["libnative_gfx101x.so", "libtorch_like_no_gfx1010.so"] {
            let fb = dump_section(&fx(lib), ".hip_fatbin", &work);
            for (k, v) in bundle_code_objects(&fb) {
                cos.entry(k).or_insert(v);
            }
        }
        for p in [
            "gfx1010", "gfx1011", "gfx1012", "gfx1030", "gfx906", "gfx90a",
        ] {
            assert!(cos.contains_key(p), "no {p} code object in the fixtures");
        }
        Stack { work, cos }
    }

    pub fn kernels(&self, key: &str, archs: &[&str]) -> Vec<Kernel> {
        archs
            .iter()
            .map(|a| Kernel {
                binary: key.into(),
                arch: a.to_string(),
                data: self.cos[*a].clone(),
            })
            .collect()
    }

    /// A TheRock-shaped venv: host torch with a kpack'd libtorch_hip.so whose search paths
    /// name the torch archives of gfx1010 and gfx1030, plus the device packages given.
    pub fn venv(&self, dir: &Path, devices: &[&str]) -> PathBuf {
        let venv = torch_venv(dir, THEROCK, &[], None, &[]);
        let site = venv.join("lib/python3.11/site-packages");
        write(
            &site.join("torch-2.12.0+rocm7.14.0.dist-info/METADATA"),
            "Name: torch\n",
        );
        kpackd(
            &fx("libnative_gfx101x.so"),
            &site.join("torch/lib/libtorch_hip.so"),
            "torch/lib/libtorch_hip.so",
            &[
                "../.kpack/torch-gfx1010.kpack",
                "../.kpack/torch-gfx1030.kpack",
            ],
            &self.work,
        );
        for d in devices {
            write(
                &site.join(format!("amd_torch_device_{d}-2.12.0.dist-info/METADATA")),
                &format!("Name: amd-torch-device-{d}\n"),
            );
            let data = archive(
                Scheme::Zstd,
                "torch",
                d,
                &[d],
                &self.kernels("torch/lib/libtorch_hip.so", &[d]),
            );
            write_bytes(&site.join(format!("torch/.kpack/torch-{d}.kpack")), &data);
        }
        venv
    }
}

pub fn write(p: &Path, text: &str) {
    write_bytes(p, text.as_bytes());
}

pub fn write_bytes(p: &Path, data: &[u8]) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}
