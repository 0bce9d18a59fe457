//! Kpack shapes AMD's tools do not make, written here from the format (docs/code-objects.md,
//! "Kpack") around real code objects: tables keyed by the bare name (older tables),
//! literal search paths, archives replaced by other files, wheels streamed, search paths
//! that leave a `--sysroot`. `inspect` is checked against a decoder written here
//! (independent of rp-codeobj). The layout AMD's splitter really produces is tested in
//! `kpack_genuine.rs`, on fixtures made with AMD's own tools.
#![cfg(feature = "real-data")]

mod common;
use common::machine::{rx5600xt, torch_venv};
use common::*;
use rp_report::{
    Compression, CoverageHow, DoctorReport, FileFormat, FileReport, FixStep, KpackStatus, Severity,
};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[path = "../../rp-codeobj/tests/support/kpack_writer.rs"]
mod kpack_writer;
use kpack_writer::{archive, Kernel, Scheme};
#[path = "common/therock.rs"]
mod therock;
use therock::*;

// ---- an independent decoder -----------------------------------------------------------

/// A MessagePack value, as far as kpack tables use the format.
#[derive(Debug, Clone)]
enum M {
    Map(Vec<(M, M)>),
    Arr(Vec<M>),
    Str(String),
    Int(u64),
    Nil,
}

impl M {
    fn get(&self, k: &str) -> Option<&M> {
        match self {
            M::Map(kv) => kv
                .iter()
                .find(|(a, _)| matches!(a, M::Str(s) if s == k))
                .map(|(_, v)| v),
            _ => None,
        }
    }
    fn int(&self) -> u64 {
        match self {
            M::Int(n) => *n,
            o => panic!("not an int: {o:?}"),
        }
    }
    fn str(&self) -> &str {
        match self {
            M::Str(s) => s,
            o => panic!("not a string: {o:?}"),
        }
    }
}

/// Decode one value (the subset of MessagePack the writers use: maps, arrays, strings,
/// unsigned integers, nil).
fn mp(b: &[u8], p: &mut usize) -> M {
    let t = b[*p];
    *p += 1;
    let mut be = |n: usize| {
        let v = b[*p..*p + n].iter().fold(0u64, |a, &x| a << 8 | x as u64);
        *p += n;
        v
    };
    let (kind, len) = match t {
        0x00..=0x7f => return M::Int(t as u64),
        0x80..=0x8f => ('m', (t & 0x0f) as u64),
        0x90..=0x9f => ('a', (t & 0x0f) as u64),
        0xa0..=0xbf => ('s', (t & 0x1f) as u64),
        0xc0 => return M::Nil,
        0xcc => return M::Int(be(1)),
        0xcd => return M::Int(be(2)),
        0xce => return M::Int(be(4)),
        0xcf => return M::Int(be(8)),
        0xd9 => ('s', be(1)),
        0xda => ('s', be(2)),
        0xdb => ('s', be(4)),
        0xdc => ('a', be(2)),
        0xdd => ('a', be(4)),
        0xde => ('m', be(2)),
        0xdf => ('m', be(4)),
        _ => panic!("MessagePack type {t:#x} is not used by kpack writers"),
    };
    match kind {
        's' => {
            let s = std::str::from_utf8(&b[*p..*p + len as usize])
                .unwrap()
                .to_string();
            *p += len as usize;
            M::Str(s)
        }
        'a' => M::Arr((0..len).map(|_| mp(b, p)).collect()),
        _ => M::Map((0..len).map(|_| (mp(b, p), mp(b, p))).collect()),
    }
}

/// `EF_AMDGPU_MACH` values of the processors used here (llvm/BinaryFormat/ELF.h).
fn mach_name(mach: u32) -> &'static str {
    match mach {
        0x02f => "gfx906",
        0x033 => "gfx1010",
        0x034 => "gfx1011",
        0x035 => "gfx1012",
        0x036 => "gfx1030",
        0x03f => "gfx90a",
        m => panic!("mach {m:#x} not in the test's table"),
    }
}

/// Per binary key: the processors of its kernels, from each kernel's own ELF header
/// (after checking the table files it under the same processor).
fn decode_archive(file: &[u8]) -> BTreeMap<String, BTreeSet<String>> {
    assert_eq!(&file[..4], b"KPAK");
    assert_eq!(u32::from_le_bytes(file[4..8].try_into().unwrap()), 1);
    let mut p = u64::from_le_bytes(file[8..16].try_into().unwrap()) as usize;
    let toc = mp(file, &mut p);
    let kernel = |ordinal: usize| -> Vec<u8> {
        match toc.get("compression_scheme").map(M::str) {
            Some("zstd-per-kernel") => {
                let mut q = toc.get("zstd_offset").unwrap().int() as usize;
                let n = u32::from_le_bytes(file[q..q + 4].try_into().unwrap()) as usize;
                assert!(ordinal < n);
                q += 4;
                for _ in 0..ordinal {
                    q += 4 + u32::from_le_bytes(file[q..q + 4].try_into().unwrap()) as usize;
                }
                let size = u32::from_le_bytes(file[q..q + 4].try_into().unwrap()) as usize;
                zstd::stream::decode_all(&file[q + 4..q + 4 + size]).unwrap()
            }
            Some("none") => {
                let M::Arr(blobs) = toc.get("blobs").unwrap() else {
                    panic!()
                };
                let b = &blobs[ordinal];
                let (o, s) = (
                    b.get("offset").unwrap().int() as usize,
                    b.get("size").unwrap().int() as usize,
                );
                file[o..o + s].to_vec()
            }
            s => panic!("scheme {s:?}"),
        }
    };
    let mut out = BTreeMap::new();
    let M::Map(bins) = toc.get("toc").unwrap() else {
        panic!()
    };
    for (bin, per) in bins {
        let M::Map(per) = per else { panic!() };
        for (arch, e) in per {
            let co = kernel(e.get("ordinal").unwrap().int() as usize);
            assert_eq!(&co[..4], b"\x7fELF");
            assert_eq!(u16::from_le_bytes([co[18], co[19]]), 224, "EM_AMDGPU");
            let flags = u32::from_le_bytes(co[48..52].try_into().unwrap());
            let name = mach_name(flags & 0xff);
            assert_eq!(name, arch.str(), "table and ELF header agree");
            out.entry(bin.str().to_string())
                .or_insert_with(BTreeSet::new)
                .insert(name.to_string());
        }
    }
    out
}

fn targets_of(file: &FileReport) -> BTreeSet<String> {
    file.code_objects
        .iter()
        .map(|c| c.target_id.split(':').next().unwrap().to_string())
        .collect()
}

// ---- tests ----------------------------------------------------------------------------

#[test]
fn archives_of_both_schemes_match_the_independent_decoder() {
    let d = tempfile::tempdir().unwrap();
    let st = Stack::new(d.path());
    let mut kernels = st.kernels("lib/librocblas.so.4", &["gfx1010", "gfx1011", "gfx1012"]);
    kernels.extend(st.kernels("lib/libMIOpen.so.1", &["gfx1010", "gfx1030"]));
    kernels.extend(st.kernels("bin/hipcc", &["gfx906", "gfx90a"]));
    for (scheme, name) in [(Scheme::Zstd, "zstd"), (Scheme::None, "none")] {
        let data = archive(
            scheme,
            "rocm",
            "gfx101X",
            &["gfx1010", "gfx1011", "gfx1012"],
            &kernels,
        );
        let path = d.path().join(format!("rocm-{name}.kpack"));
        std::fs::write(&path, &data).unwrap();
        let want = decode_archive(&data);
        for deep in [false, true] {
            let mut args = vec![s(&path)];
            if deep {
                args.push("--deep");
            }
            let (code, r) = inspect_json(&args);
            assert_eq!(code, 0, "{r:#?}");
            let f = &r.files[0];
            assert_eq!(f.format, Some(FileFormat::Kpack));
            let k = f.kpack.as_ref().unwrap();
            assert_eq!(k.group_name.as_deref(), Some("rocm"));
            assert_eq!(k.gfx_arch_family.as_deref(), Some("gfx101X"));
            assert_eq!(k.binaries, 3);
            let scheme_name = if scheme == Scheme::Zstd {
                "zstd-per-kernel"
            } else {
                "none"
            };
            assert_eq!(k.compression_scheme.as_str(), scheme_name);
            let mut got: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for c in &f.code_objects {
                assert!(c.warning.is_none(), "{c:?}");
                assert_eq!(
                    c.compression,
                    if scheme == Scheme::Zstd {
                        Compression::Zstd
                    } else {
                        Compression::None
                    }
                );
                got.entry(c.binary.clone().unwrap())
                    .or_default()
                    .insert(c.target_id.clone());
            }
            assert_eq!(got, want, "{name} deep={deep}");
        }
    }
    // A table that files a kernel under the wrong processor is flagged.
    let lie = archive(
        Scheme::Zstd,
        "torch",
        "gfx1030",
        &["gfx1030"],
        &[Kernel {
            binary: "torch/lib/libtorch_hip.so".into(),
            arch: "gfx1030".into(),
            data: st.cos["gfx1010"].clone(),
        }],
    );
    let path = d.path().join("lie.kpack");
    std::fs::write(&path, &lie).unwrap();
    let (_, r) = inspect_json(&[s(&path)]);
    let w = r.files[0].code_objects[0].warning.as_deref().unwrap();
    assert!(w.contains("gfx1030") && w.contains("gfx1010"), "{w}");
}

#[test]
fn kpackd_library_follows_its_search_paths() {
    let d = tempfile::tempdir().unwrap();
    let st = Stack::new(d.path());
    let venv = st.venv(&d.path().join("venv"), &["gfx1010"]);
    let lib = venv.join("lib/python3.11/site-packages/torch/lib/libtorch_hip.so");
    // The independent view: the marker, its search paths resolved, the archives read.
    let marker = dump_section(&lib, ".rocm_kpack_ref", &st.work);
    let m = mp(&marker, &mut 0);
    let key = m.get("kernel_name").unwrap().str().to_string();
    let M::Arr(paths) = m.get("kpack_search_paths").unwrap() else {
        panic!()
    };
    let mut want = BTreeSet::new();
    for p in paths {
        let a = lib.parent().unwrap().join(p.str());
        if let Ok(data) = std::fs::read(&a) {
            want.extend(decode_archive(&data).remove(&key).unwrap_or_default());
        }
    }
    assert_eq!(want, BTreeSet::from(["gfx1010".to_string()]));

    let (code, r) = inspect_json(&[s(&lib)]);
    assert_eq!(code, 0, "{r:#?}");
    let f = &r.files[0];
    assert_eq!(f.format, Some(FileFormat::HostElf));
    assert_eq!(targets_of(f), want);
    let k = f.kpack_ref.as_ref().unwrap();
    assert_eq!(k.kernel_name, "torch/lib/libtorch_hip.so");
    assert_eq!(k.search[0].status, KpackStatus::Found);
    assert_eq!(k.search[0].targets, ["gfx1010"]);
    assert!(k.search[0]
        .archive
        .as_deref()
        .unwrap()
        .ends_with("torch/.kpack/torch-gfx1010.kpack"));
    assert_eq!(k.search[1].status, KpackStatus::Missing);
    for c in &f.code_objects {
        assert!(c
            .archive
            .as_deref()
            .unwrap()
            .ends_with("torch-gfx1010.kpack"));
    }
    // The zeroed .hip_fatbin holds nothing: every code object came from the archive.
    let before = inspect_json(&[s(&fx("libnative_gfx101x.so"))]).1;
    assert_eq!(targets_of(&before.files[0]).len(), 3);
    assert_eq!(f.code_objects.len(), 1);

    // Coverage answers from the archives.
    let (code, r) = inspect_json(&[s(&lib), "--gpu", "gfx1010"]);
    assert_eq!(code, 0);
    assert_eq!(
        r.coverage.as_ref().unwrap().covered[0].how,
        CoverageHow::Exact
    );
    let (code, r) = inspect_json(&[s(&lib), "--gpu", "gfx1030"]);
    assert_eq!(code, 1);
    assert_eq!(r.coverage.as_ref().unwrap().missing[0], s(&lib));

    // Archive removed: the library is missing code, with the reason, never "no GPU code".
    let archive_path = venv.join("lib/python3.11/site-packages/torch/.kpack/torch-gfx1010.kpack");
    std::fs::remove_file(&archive_path).unwrap();
    let (code, r) = inspect_json(&[s(&lib), "--gpu", "gfx1010"]);
    assert_eq!(code, 1, "{r:#?}");
    let f = &r.files[0];
    assert_eq!(
        f.kpack_ref.as_ref().unwrap().search[0].status,
        KpackStatus::Missing
    );
    assert!(f.notes[0].contains("torch-gfx1010.kpack (missing)"));
    assert_eq!(r.coverage.as_ref().unwrap().missing[0], s(&lib));
    // An archive without the binary's key, and one that is not an archive.
    let other = archive(
        Scheme::None,
        "torch",
        "gfx1010",
        &["gfx1010"],
        &st.kernels("torch/lib/other.so", &["gfx1010"]),
    );
    write_bytes(&archive_path, &other);
    let (_, r) = inspect_json(&[s(&lib)]);
    assert_eq!(
        r.files[0].kpack_ref.as_ref().unwrap().search[0].status,
        KpackStatus::NoEntry
    );
    write_bytes(&archive_path, b"not an archive at all");
    let (_, r) = inspect_json(&[s(&lib)]);
    let sr = &r.files[0].kpack_ref.as_ref().unwrap().search[0];
    assert_eq!(sr.status, KpackStatus::Unreadable);
    assert!(sr.error.as_deref().unwrap().contains("KPAK"), "{sr:?}");

    // The human report says where the code was looked for.
    let (_, human, _) = rp(&["inspect", s(&lib)]);
    assert!(
        human.contains("kpack'd as torch/lib/libtorch_hip.so"),
        "{human}"
    );
    assert!(human.contains("(unreadable)"), "{human}");
}

#[test]
fn wheels_read_kpack_members_in_place() {
    let d = tempfile::tempdir().unwrap();
    let st = Stack::new(d.path());
    let host = d.path().join("host");
    kpackd(
        &fx("libnative_gfx101x.so"),
        &host.join("torch/lib/libtorch_hip.so"),
        "torch/lib/libtorch_hip.so",
        &["../.kpack/torch-gfx1010.kpack"],
        &st.work,
    );
    let zip = |name: &str, files: &[(&str, Vec<u8>)]| -> PathBuf {
        let p = d.path().join(name);
        let mut w = zip::ZipWriter::new(std::fs::File::create(&p).unwrap());
        for (n, data) in files {
            w.start_file(*n, zip::write::SimpleFileOptions::default())
                .unwrap();
            std::io::Write::write_all(&mut w, data).unwrap();
        }
        w.finish().unwrap();
        p
    };
    let lib = std::fs::read(host.join("torch/lib/libtorch_hip.so")).unwrap();
    let ar = archive(
        Scheme::Zstd,
        "torch",
        "gfx1010",
        &["gfx1010"],
        &st.kernels("torch/lib/libtorch_hip.so", &["gfx1010"]),
    );
    // A host wheel alone: its device code lives in the device package, by name.
    let w = zip(
        "torch-2.12.0-cp311-cp311-linux_x86_64.whl",
        &[("torch/lib/libtorch_hip.so", lib.clone())],
    );
    let (code, r) = inspect_json(&[s(&w)]);
    assert_eq!(code, 0, "{r:#?}");
    let f = &r.files[0];
    assert_eq!(
        f.kpack_ref.as_ref().unwrap().search[0].status,
        KpackStatus::Missing,
        "{f:?}"
    );
    let note = &f.notes[0];
    assert!(
        note.contains("device packages") && note.contains("torch/.kpack/torch-gfx1010.kpack"),
        "{note}"
    );
    // Host and archive in one wheel (streamed archive members take the spill path).
    let both = zip(
        "both.whl",
        &[
            ("torch/lib/libtorch_hip.so", lib),
            ("torch/.kpack/torch-gfx1010.kpack", ar.clone()),
        ],
    );
    for in_mem in ["0", "1"] {
        let (code, r) = inspect_json(&[s(&both), "--wheel-member-in-memory", in_mem]);
        assert_eq!(code, 0, "{r:#?}");
        let files = &r.files;
        let a = files
            .iter()
            .find(|f| f.format == Some(FileFormat::Kpack))
            .expect("archive member");
        assert_eq!(targets_of(a), BTreeSet::from(["gfx1010".to_string()]));
        let l = files
            .iter()
            .find(|f| f.format == Some(FileFormat::HostElf))
            .unwrap();
        assert_eq!(
            l.kpack_ref.as_ref().unwrap().search[0].status,
            KpackStatus::Found,
            "{l:?}"
        );
        assert_eq!(targets_of(l), BTreeSet::from(["gfx1010".to_string()]));
    }
}

#[test]
fn doctor_on_therock_installs() {
    let d = tempfile::tempdir().unwrap();
    let st = Stack::new(d.path());
    let root = rx5600xt(&d.path().join("root"));
    let run = |venv: &Path| {
        let c = || {
            cli()
                .env_clear()
                .current_dir(&root)
                .args(["doctor", "--sysroot"])
                .arg(&root)
                .arg("--python")
                .arg(venv)
        };
        let human = c().run();
        let json = c().arg("--json").run();
        assert_eq!(human.code, json.code);
        let v: DoctorReport = json.json();
        (human.code, human.stdout, v)
    };

    // The right device package: its archive carries gfx1010 code, no error.
    let good = st.venv(&d.path().join("venv-good"), &["gfx1010"]);
    let (code, human, v) = run(&good);
    assert_eq!(code, 0, "{human}");
    assert!(
        human.contains("device packages: amd-torch-device-gfx1010 2.12.0"),
        "{human}"
    );
    assert!(
        human.contains("1 archive found (torch-gfx1010.kpack)"),
        "{human}"
    );
    assert!(
        human.contains("node 1 as gfx1010: code loads (from the kpack archives)"),
        "{human}"
    );
    let t = v.python[0].torch.as_ref().unwrap();
    assert_eq!(t.targets, ["gfx1010"]);
    assert_eq!(t.device_packages[0].target, "gfx1010");
    assert!(
        ids(&v)
            .iter()
            .all(|i| !i.contains("device") && !i.contains("torch")),
        "{:?}",
        ids(&v)
    );

    // The wrong device package: an error that names the right one.
    let wrong = st.venv(&d.path().join("venv-wrong"), &["gfx1030"]);
    let (code, human, v) = run(&wrong);
    assert_eq!(code, 1, "{human}");
    assert!(!human.contains("code loads"), "{human}");
    let f = finding(&v, "device-package-mismatch");
    assert_eq!(f.severity, Severity::Error);
    assert!(f.title.contains("amd-torch-device-gfx1010"), "{f:?}");
    let fix = serde_json::to_string(&f.fix).unwrap();
    assert!(fix.contains("device-gfx1010"), "{fix}");
    assert!(ids(&v).contains(&"torch-missing-target".to_string()));

    // No device package at all: an error, never "code loads".
    let none = st.venv(&d.path().join("venv-none"), &[]);
    let (code, human, v) = run(&none);
    assert_eq!(code, 1, "{human}");
    assert!(!human.contains("code loads"), "{human}");
    let f = finding(&v, "torch-missing-target");
    assert!(f.why.contains("kpack'd"), "{f:?}");
    assert!(fix_contains(&f.fix, "torch[device-gfx1010]"));

    // A ROCm torch with no device code anywhere: an error with the places looked in.
    let bare = torch_venv(&d.path().join("venv-bare"), THEROCK, &[], None, &[]);
    let (code, human, v) = run(&bare);
    assert_eq!(code, 1, "{human}");
    assert!(human.contains("no GPU code found"), "{human}");
    let f = finding(&v, "torch-missing-target");
    assert!(f.why.contains("looked in"), "{f:?}");
}

fn fix_contains(fix: &[FixStep], what: &str) -> bool {
    serde_json::to_string(fix).unwrap().contains(what)
}

#[test]
fn sysroot_archives_outside_the_tree_are_not_opened() {
    let d = tempfile::tempdir().unwrap();
    let st = Stack::new(d.path());
    let root = rx5600xt(&d.path().join("root"));
    // The environment inside the tree; its library points out of it.
    let venv = st.venv(&root.join("opt/venv"), &[]);
    let lib = venv.join("lib/python3.11/site-packages/torch/lib/libtorch_hip.so");
    let outside = d.path().join("outside.kpack");
    write_bytes(
        &outside,
        &archive(
            Scheme::Zstd,
            "torch",
            "gfx1010",
            &["gfx1010"],
            &st.kernels("torch/lib/libtorch_hip.so", &["gfx1010"]),
        ),
    );
    let rel = "../../../../../../../../outside.kpack";
    assert!(
        lib.parent().unwrap().join(rel).canonicalize().unwrap() == outside.canonicalize().unwrap()
    );
    kpackd(
        &fx("libnative_gfx101x.so"),
        &lib,
        "torch/lib/libtorch_hip.so",
        &[rel],
        &st.work,
    );
    let o = cli()
        .env_clear()
        .args(["doctor", "--json", "--sysroot"])
        .arg(&root)
        .arg("--python")
        .arg(&venv)
        .run();
    let r: DoctorReport = o.json();
    let t = r.python[0].torch.as_ref().unwrap();
    assert!(t.targets.is_empty(), "{t:?}");
    assert_eq!(o.code, 1);
    assert!(
        t.looked_in.iter().any(|p| p == rel),
        "shown as the library writes it: {t:?}"
    );
    // Nothing but the sysroot field itself names a host path (the JSON text as printed).
    let mut v = o.value();
    v.as_object_mut().unwrap().remove("sysroot");
    let text = serde_json::to_string(&v).unwrap();
    assert!(!text.contains(s(d.path())), "a host path leaked: {text}");
}
