//! `rocm-patch inspect` against real data: the repository fixtures, hipcc/clang-19 builds,
//! Debian's librocsparse, sid's rocBLAS 6.4 and a ROCm wheel from PyPI.

mod common;
use common::*;
#[cfg(feature = "real-data")]
use rp_report::CoverageHow;
use rp_report::{Compression, InspectReport};
#[cfg(feature = "real-data")]
use std::collections::BTreeMap;
#[cfg(feature = "real-data")]
use std::path::Path;
#[cfg(feature = "real-data")]
use std::process::Command;

#[test]
fn shared_fixtures_decode_exactly() {
    let (code, r) = inspect_json(&[s(&fixture("codeobj"))]);
    assert_eq!(code, 0);
    assert_eq!(r.schema, 1);
    let expect: &[(&str, &[&str], Option<u64>)] = &[
        (
            "hip52_uncompressed_bundle_from_k.o.bin",
            &["gfx1010", "gfx1030", "gfx90a:xnack-"],
            Some(4),
        ),
        (
            "hipcc52_genco_bundle_gfx1010_gfx1030.hsaco",
            &["gfx1010", "gfx1030"],
            Some(4),
        ),
        (
            "ccob_v2_zstd_clang19_standalone.decompressed.bin",
            &["gfx1010", "gfx1030"],
            Some(4),
        ),
        ("codeobj_co_v3.co", &["gfx1010"], Some(3)),
        ("codeobj_co_v4.co", &["gfx1010"], Some(4)),
        ("codeobj_co_v5.co", &["gfx1010"], Some(5)),
        ("codeobj_co6_gfx1010.co", &["gfx1010"], Some(6)),
        (
            "codeobj_co6_gfx10-1-generic.co",
            &["gfx10-1-generic"],
            Some(6),
        ),
        (
            "codeobj_co6_gfx10-3-generic.co",
            &["gfx10-3-generic"],
            Some(6),
        ),
        ("codeobj_co6_gfx11-generic.co", &["gfx11-generic"], Some(6)),
        ("codeobj_co6_gfx1201.co", &["gfx1201"], Some(6)),
        ("codeobj_co6_gfx942.co", &["gfx942"], Some(6)),
        ("codeobj_co6_gfx906.co", &["gfx906"], Some(6)),
        (
            "codeobj_co6_gfx90a_xnack+_sramecc-.co",
            &["gfx90a:sramecc-:xnack+"],
            Some(6),
        ),
        (
            "codeobj_v4_gfx90a_xnack-_from_bundle.co",
            &["gfx90a:xnack-"],
            Some(4),
        ),
        // Compressed: only the entry table is read, so the ELF header is not.
        (
            "ccob_v2_zstd_clang19_standalone.bin",
            &["gfx1010", "gfx1030"],
            None,
        ),
    ];
    for (name, targets, cov) in expect {
        assert_eq!(file_targets(&r, name), *targets, "{name}");
        let f = file(&r, name);
        for c in &f.code_objects {
            assert_eq!(c.code_object_version.map(u64::from), *cov, "{name}");
        }
    }
    let generic = file(&r, "gfx10-1-generic.co");
    assert_eq!(generic.code_objects[0].generic_version, Some(1));
    let ccob = file(&r, "standalone.bin");
    assert_eq!(ccob.code_objects[0].ccob_version, Some(2));
    assert_eq!(ccob.code_objects[0].compression, Compression::Zstd);
    // targets: code objects per processor, features stripped.
    assert_eq!(r.targets["gfx90a"], 3);
    assert!(r.coverage.is_none(), "coverage only with --gpu");
}

/// The file of a report whose path ends with `suffix`.
fn file<'a>(r: &'a InspectReport, suffix: &str) -> &'a rp_report::FileReport {
    r.files
        .iter()
        .find(|f| f.path.ends_with(suffix))
        .unwrap_or_else(|| panic!("no file ending {suffix} in {r:#?}"))
}

#[test]
fn deep_reads_compressed_headers_and_checks_hash() {
    let (code, r) = inspect_json(&[
        "--deep",
        s(&fixture("codeobj/ccob_v2_zstd_clang19_standalone.bin")),
    ]);
    assert_eq!(code, 0, "{r:#?}");
    for c in &r.files[0].code_objects {
        assert_eq!(c.code_object_version, Some(4));
        assert_eq!(c.size, 3128);
    }
}

/// roc-obj-ls lines: `N  ID  file://PATH#offset=X&size=Y`.
#[cfg(feature = "real-data")]
fn roc_obj_ls(path: &Path) -> Vec<(String, u64, u64)> {
    let out = Command::new("roc-obj-ls")
        .arg(path)
        .output()
        .expect("roc-obj-ls is installed by scripts/test.sh");
    assert!(
        out.status.success(),
        "roc-obj-ls failed on {}",
        path.display()
    );
    let mut v = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.len() < 3 || parts[1].starts_with("host-") {
            continue;
        }
        let uri = parts[2];
        let q = &uri[uri.rfind('#').unwrap() + 1..];
        let mut off = 0;
        let mut size = 0;
        for kv in q.split('&') {
            let (k, val) = kv.split_once('=').unwrap();
            match k {
                "offset" => off = val.parse().unwrap(),
                "size" => size = val.parse().unwrap(),
                _ => {}
            }
        }
        v.push((parts[1].to_string(), off, size));
    }
    v.sort();
    v
}

#[cfg(feature = "real-data")]
fn ours(path: &Path) -> Vec<(String, u64, u64)> {
    let (code, r) = inspect_json(&[s(path)]);
    assert_eq!(code, 0, "{}", path.display());
    let mut v: Vec<_> = r.files[0]
        .code_objects
        .iter()
        .map(|c| (c.bundle_id.clone().unwrap(), c.offset.unwrap(), c.size))
        .collect();
    v.sort();
    v
}

#[cfg(feature = "real-data")]
#[test]
fn matches_roc_obj_ls_exactly_on_uncompressed_bundles() {
    let sid = input("RP_SID").join("usr/lib/x86_64-linux-gnu/librocblas.so.4.4");
    let files = [
        fx("libone_tu.so"),
        fx("libtwo_tu.so"),
        fx("librdc.so"),
        fx("libtorch_like_no_gfx1010.so"),
        fx("libnative_gfx101x.so"),
        fx("a.o"),
        input("RP_ROCSPARSE"),
        sid,
    ];
    for f in files {
        let theirs = roc_obj_ls(&f);
        assert!(
            !theirs.is_empty(),
            "roc-obj-ls found nothing in {}",
            f.display()
        );
        assert_eq!(ours(&f), theirs, "{}", f.display());
    }
}

#[cfg(feature = "real-data")]
#[test]
fn rocsparse_inventory() {
    let (code, r) = inspect_json(&["--gpu", "gfx1010", s(&input("RP_ROCSPARSE"))]);
    // Debian's rocsparse (ROCm 5.3) carries no gfx1010 code (rocSPARSE#348).
    assert_eq!(code, 1);
    let f = &r.files[0];
    assert_eq!(f.bundles, 111);
    assert_eq!(f.code_objects.len(), 777);
    assert_eq!(r.targets["gfx90a"], 222);
    assert_eq!(
        r.coverage.as_ref().unwrap().missing[0],
        s(&input("RP_ROCSPARSE"))
    );
}

#[cfg(feature = "real-data")]
#[test]
fn sid_rocblas_install_and_tensile_directory() {
    let lib = input("RP_SID").join("usr/lib/x86_64-linux-gnu");
    let so = lib.join("librocblas.so.4.4");
    let tensile = lib.join("rocblas");
    let (code, r) = inspect_json(&["--gpu", "gfx1010", s(&so), s(&tensile)]);
    assert_eq!(
        code, 0,
        "sid rocBLAS is built for gfx1010: {:?}",
        r.coverage
    );
    let dirs = &r.tensile_dirs;
    assert_eq!(dirs.len(), 1);
    let archs: Vec<&str> = dirs[0].archs.iter().map(String::as_str).collect();
    assert!(
        archs.contains(&"gfx1010") && archs.contains(&"gfx90a"),
        "{archs:?}"
    );
    assert!(dirs[0].files > 1300);
    // gfx1012 is not in Debian's rocBLAS target list: both the library and the
    // Tensile directory are missing.
    let (code, r) = inspect_json(&["--gpu", "gfx1012", s(&so), s(&tensile)]);
    assert_eq!(code, 1);
    let missing = &r.coverage.as_ref().unwrap().missing;
    assert_eq!(missing.len(), 2, "{missing:?}");
    assert!(missing.iter().any(|m| m.ends_with("/library")));
}

#[cfg(feature = "real-data")]
#[test]
fn gpu_coverage_and_exit_codes() {
    let (code, _) = inspect_json(&["--gpu", "gfx1010", s(&fx("libnative_gfx101x.so"))]);
    assert_eq!(code, 0);
    let (code, r) = inspect_json(&[
        "--gpu",
        "gfx1010",
        s(&fx("libnative_gfx101x.so")),
        s(&fx("libtorch_like_no_gfx1010.so")),
    ]);
    assert_eq!(code, 1);
    let c = r.coverage.as_ref().unwrap();
    assert_eq!(c.gpu, "gfx1010");
    assert_eq!(c.missing.len(), 1);
    assert!(c.missing[0].ends_with("libtorch_like_no_gfx1010.so"));
    // Generic code objects cover every member of their family.
    let (code, r) = inspect_json(&[
        "--gpu",
        "gfx1012",
        s(&fixture("codeobj/codeobj_co6_gfx10-1-generic.co")),
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        r.coverage.as_ref().unwrap().covered[0].how,
        CoverageHow::Generic
    );
    let (code, _) = inspect_json(&[
        "--gpu",
        "gfx1030",
        s(&fixture("codeobj/codeobj_co6_gfx10-1-generic.co")),
    ]);
    assert_eq!(code, 1);
    // xnack: an xnack+ object does not load on a GPU running the default (xnack off).
    let x = fixture("codeobj/codeobj_co6_gfx90a_xnack+_sramecc-.co");
    assert_eq!(inspect_json(&["--gpu", "gfx90a", s(&x)]).0, 1);
    assert_eq!(
        inspect_json(&["--gpu", "gfx90a:sramecc-:xnack+", s(&x)]).0,
        0
    );
    // An unreadable file: exit 2, and the other file is still reported.
    let (code, r) = inspect_json(&[
        "--gpu",
        "gfx1010",
        "/nonexistent/libx.so",
        s(&fx("libnative_gfx101x.so")),
    ]);
    assert_eq!(code, 2);
    assert_eq!(r.files.len(), 2);
    // Files are sorted by path, so find the bad one by name (CI clones live anywhere).
    let bad = r
        .files
        .iter()
        .find(|f| f.path == "/nonexistent/libx.so")
        .expect("the unreadable file is reported");
    assert!(
        bad.error.as_deref().unwrap().contains("cannot read"),
        "{bad:?}"
    );
    // A bad --gpu value is a clear error naming it.
    let (code, _, err) = rp(&["inspect", "--gpu", "sm_80", s(&fx("librdc.so"))]);
    assert_eq!(code, 2);
    assert!(err.contains("sm_80"), "{err}");
}

#[cfg(feature = "real-data")]
#[test]
fn compressed_bundles_from_clang19_and_the_bundler() {
    let (code, r) = inspect_json(&[s(&fx("libccob.so")), s(&fx("bundler_compressed.ccob"))]);
    assert_eq!(code, 0);
    assert_eq!(
        file_targets(&r, "libccob.so"),
        ["gfx1010", "gfx1010", "gfx1100", "gfx1100"]
    );
    assert_eq!(
        file_targets(&r, "bundler_compressed.ccob"),
        ["gfx1010", "gfx1030"]
    );
    for f in &r.files {
        for c in &f.code_objects {
            assert_eq!(c.compression, Compression::Zstd);
            assert_eq!(c.ccob_version, Some(2));
        }
    }
    // roc-obj-ls reads nothing in a compressed fat binary: the reason this tool exists.
    assert!(roc_obj_ls(&fx("libccob.so")).is_empty());
}

#[cfg(feature = "real-data")]
#[test]
fn archives_and_relocatables() {
    let (code, r) = inspect_json(&["-v", s(&fx("libdev.a"))]);
    assert_eq!(code, 0);
    assert_eq!(
        file_targets(&r, "libdev.a"),
        ["gfx1010", "gfx1030", "gfx803"]
    );
    let members: Vec<&str> = r.files[0]
        .code_objects
        .iter()
        .map(|c| c.member.as_deref().unwrap())
        .collect();
    assert_eq!(members, ["a.o", "a.o", "b.o"]);
    // Archives nested deeper than the scanner follows: a per-file error, exit 2, and
    // the rest of the scan goes on.
    let (code, r) = inspect_json(&[s(&fx("nested_deep.a")), s(&fx("librdc.so"))]);
    assert_eq!(code, 2);
    let nested = file(&r, "nested_deep.a");
    assert!(nested.error.as_deref().unwrap().contains("nesting depth"));
    assert_eq!(file_targets(&r, "librdc.so"), ["gfx1012", "gfx1030"]);
}

#[cfg(feature = "real-data")]
fn targets_by_file(r: &InspectReport) -> BTreeMap<String, Vec<String>> {
    r.files
        .iter()
        .map(|f| {
            let p = &f.path;
            let key = p[p.find("!/").map_or(0, |i| i + 2)..].to_string();
            let mut t: Vec<String> = f.code_objects.iter().map(|c| c.target_id.clone()).collect();
            t.sort();
            (key, t)
        })
        .collect()
}

#[cfg(feature = "real-data")]
#[test]
fn wheels_are_read_in_place_in_memory_and_streamed() {
    let whl = fx("fakepkg-1.0-py3-none-linux_x86_64.whl");
    let (code, mem) = inspect_json(&["--gpu", "gfx1010", s(&whl)]);
    assert_eq!(code, 1, "the torch-like member lacks gfx1010");
    let (_, streamed) =
        inspect_json(&["--gpu", "gfx1010", "--wheel-member-in-memory", "1", s(&whl)]);
    assert_eq!(targets_by_file(&mem), targets_by_file(&streamed));
    let t = targets_by_file(&mem);
    assert_eq!(
        t["fakepkg/lib/libccob.so"],
        ["gfx1010", "gfx1010", "gfx1100", "gfx1100"]
    );
    let (_, direct) = inspect_json(&[s(&fx("libtorch_like_no_gfx1010.so"))]);
    assert_eq!(
        t["fakepkg/lib/libtorch_like_no_gfx1010.so"],
        target_ids(&direct)
    );
    assert_eq!(mem.tensile_dirs[0].archs, ["gfx1010", "gfx1030"]);
    let missing = &mem.coverage.as_ref().unwrap().missing;
    assert_eq!(missing.len(), 1);
    assert!(missing[0].ends_with("!/fakepkg/lib/libtorch_like_no_gfx1010.so"));
}

#[cfg(feature = "real-data")]
#[test]
fn real_rocm_wheel_from_pypi() {
    let dir = input("RP_WHEELS");
    let whl = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("torch_scatter_rocm"))
        .expect("torch_scatter_rocm wheel");
    let (code, r) = inspect_json(&["--gpu", "gfx1010", s(&whl)]);
    assert_eq!(code, 0, "{:?}", r.coverage);
    assert!(r.targets["gfx1010"] >= 1);
    let (_, streamed) = inspect_json(&["--wheel-member-in-memory", "1", s(&whl)]);
    assert_eq!(targets_by_file(&r), targets_by_file(&streamed));
}

#[cfg(feature = "real-data")]
#[test]
fn human_output_has_summary_and_table() {
    let (code, out, _) = rp(&[
        "inspect",
        "--gpu",
        "gfx1010",
        s(&fx("libtorch_like_no_gfx1010.so")),
        s(&fx("libnative_gfx101x.so")),
    ]);
    assert_eq!(code, 1);
    assert!(
        out.contains("Targets (code objects per processor):"),
        "{out}"
    );
    assert!(out.contains("PATH"), "{out}");
    assert!(out.contains("MISSING"), "{out}");
    assert!(!out.contains('\u{1b}'), "no colour when not a terminal");
}

/// A FIFO named like a library is reported, never opened for a blocking read (issue 13).
#[test]
fn a_fifo_is_not_read() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("some-fifo.so");
    assert!(std::process::Command::new("mkfifo")
        .arg(&f)
        .status()
        .unwrap()
        .success());
    let t = std::time::Instant::now();
    let (code, out, err) = common::rp(&["inspect", f.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("not a regular file"), "{err}");
    assert!(t.elapsed() < std::time::Duration::from_secs(10));
}

/// A wheel whose 2,000 central-directory entries all point at one member (a zip bomb's
/// shape: 142 s before) is refused at once, naming the overlap (issue 13).
#[test]
fn overlapping_wheel_entries_are_refused() {
    use std::io::Write;
    let d = tempfile::tempdir().unwrap();
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        z.start_file(
            "lib/a000.so",
            zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated),
        )
        .unwrap();
        z.write_all(&vec![0u8; 8 << 20]).unwrap();
        z.finish().unwrap();
    }
    let b = buf.into_inner();
    let eocd = b.len() - 22;
    assert_eq!(&b[eocd..eocd + 4], b"PK\x05\x06");
    let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap()) as usize;
    let (cd_size, cd_off) = (u32_at(eocd + 12), u32_at(eocd + 16));
    let entry = &b[cd_off..cd_off + cd_size];
    let mut out = b[..cd_off].to_vec();
    let n = 2000u16;
    for i in 0..n {
        let mut e = entry.to_vec();
        let name = format!("lib/a{:03}.so", i % 1000);
        let at = e.windows(11).position(|w| w == b"lib/a000.so").unwrap();
        e[at..at + 11].copy_from_slice(name.as_bytes());
        out.extend_from_slice(&e);
    }
    let mut end = b[eocd..].to_vec();
    end[8..10].copy_from_slice(&n.to_le_bytes());
    end[10..12].copy_from_slice(&n.to_le_bytes());
    end[12..16].copy_from_slice(&((cd_size * n as usize) as u32).to_le_bytes());
    out.extend_from_slice(&end);
    let whl = d.path().join("bomb-1.0-py3-none-any.whl");
    std::fs::write(&whl, out).unwrap();
    let t = std::time::Instant::now();
    let (code, v) = common::inspect_json(&[whl.to_str().unwrap()]);
    assert_eq!(code, 2, "{v:#?}");
    let err = v.files[0].error.clone().unwrap_or_default();
    assert!(err.contains("overlap"), "{v:#?}");
    assert!(t.elapsed() < std::time::Duration::from_secs(20));
}

/// Issue 29: a file with no GPU code is not "0 can run it, 0 cannot" with exit 0.
#[test]
fn no_gpu_code_is_said_and_is_not_success() {
    let host = std::path::Path::new("/bin/sh");
    let (code, out, _) = rp(&["inspect", "--gpu", "gfx1010", host.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("nothing here runs on the GPU"), "{out}");
    assert!(!out.contains("0 cannot"), "{out}");
}
