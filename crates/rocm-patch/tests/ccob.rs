//! Compressed bundles (CCOB), checked against a decoder written here from the format in
//! llvm-project clang/lib/Driver/OffloadBundler.cpp (independent of rp-codeobj), and v1/v3/zlib vectors built from the spec with
//! the zstd and flate2 crates (no producer of those exists on this machine).
#![cfg(feature = "real-data")]

mod common;
use common::*;
use md5::{Digest, Md5};
use std::io::Write;
use std::process::Command;

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}
fn u32_at(b: &[u8], at: usize) -> u64 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as u64
}

/// Independent decoder: device target ids of every CCOB found at a 4096-aligned offset.
fn independent_targets(file: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut p = 0;
    while p + 32 <= file.len() {
        if &file[p..p + 4] == b"CCOB" {
            let version = u16::from_le_bytes([file[p + 4], file[p + 5]]);
            let method = u16::from_le_bytes([file[p + 6], file[p + 7]]);
            let (total, usize_, hash, hl) = match version {
                2 => (
                    u32_at(file, p + 8),
                    u32_at(file, p + 12),
                    u64_at(file, p + 16),
                    24,
                ),
                3 => (
                    u64_at(file, p + 8),
                    u64_at(file, p + 16),
                    u64_at(file, p + 24),
                    32,
                ),
                v => panic!("independent decoder handles v2/v3 here, got {v}"),
            };
            let payload = &file[p + hl..p + total as usize];
            let bundle = match method {
                1 => zstd::stream::decode_all(payload).unwrap(),
                0 => {
                    let mut d = flate2::read::ZlibDecoder::new(payload);
                    let mut v = Vec::new();
                    std::io::Read::read_to_end(&mut d, &mut v).unwrap();
                    v
                }
                m => panic!("method {m}"),
            };
            assert_eq!(bundle.len() as u64, usize_);
            let md5 = Md5::digest(&bundle);
            assert_eq!(
                u64::from_le_bytes(md5[..8].try_into().unwrap()),
                hash,
                "hash"
            );
            assert_eq!(&bundle[..24], b"__CLANG_OFFLOAD_BUNDLE__");
            let n = u64_at(&bundle, 24);
            let mut q = 32;
            for _ in 0..n {
                let id_len = u64_at(&bundle, q + 16) as usize;
                let id = std::str::from_utf8(&bundle[q + 24..q + 24 + id_len]).unwrap();
                if !id.starts_with("host") {
                    out.push(id.rsplit("--").next().unwrap().to_string());
                }
                q += 24 + id_len;
            }
            p += (total as usize).div_ceil(4096) * 4096;
        } else {
            p += 4096;
        }
    }
    out.sort();
    out
}

#[test]
fn clang19_ccob_matches_independent_decoder() {
    for f in [
        fx("libccob.so"),
        fx("bundler_compressed.ccob"),
        fx("src/c19a.o"),
        fixture("codeobj/ccob_v2_zstd_clang19_embedded_from_libccob.so.bin"),
    ] {
        let bytes = std::fs::read(&f).unwrap();
        let theirs = independent_targets(&bytes);
        assert!(!theirs.is_empty(), "{}", f.display());
        let (code, r) = inspect_json(&[s(&f)]);
        assert_eq!(code, 0);
        assert_eq!(target_ids(&r), theirs, "{}", f.display());
    }
}

/// Write a CCOB around `bundle` exactly as docs/code-objects.md lays it out.
fn encode(bundle: &[u8], version: u16, method: u16) -> Vec<u8> {
    let compressed = if method == 1 {
        zstd::bulk::compress(bundle, 3).unwrap()
    } else {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bundle).unwrap();
        e.finish().unwrap()
    };
    let md5 = Md5::digest(bundle);
    let hash = u64::from_le_bytes(md5[..8].try_into().unwrap());
    let mut out = b"CCOB".to_vec();
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&method.to_le_bytes());
    match version {
        1 => {
            out.extend_from_slice(&(bundle.len() as u32).to_le_bytes());
        }
        2 => {
            out.extend_from_slice(&((24 + compressed.len()) as u32).to_le_bytes());
            out.extend_from_slice(&(bundle.len() as u32).to_le_bytes());
        }
        _ => {
            out.extend_from_slice(&((32 + compressed.len()) as u64).to_le_bytes());
            out.extend_from_slice(&(bundle.len() as u64).to_le_bytes());
        }
    }
    out.extend_from_slice(&hash.to_le_bytes());
    out.extend_from_slice(&compressed);
    out
}

#[test]
fn spec_vectors_v1_v2_v3_zlib_and_zstd() {
    let bundle = std::fs::read(fx("plain_bundle.bin")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for version in [1u16, 2, 3] {
        for (method, name) in [(0u16, "zlib"), (1, "zstd")] {
            let path = dir.path().join(format!("v{version}_{name}.ccob"));
            std::fs::write(&path, encode(&bundle, version, method)).unwrap();
            for deep in [false, true] {
                let mut args = vec![s(&path)];
                if deep {
                    args.insert(0, "--deep");
                }
                let (code, r) = inspect_json(&args);
                assert_eq!(code, 0, "v{version} {name} deep={deep}: {r:#?}");
                assert_eq!(target_ids(&r), ["gfx1010", "gfx1030"]);
                for c in &r.files[0].code_objects {
                    assert_eq!(c.ccob_version, Some(version));
                    assert_eq!(c.compression.as_str(), name);
                    // clang-19 writes code object v5 by default (docs/code-objects.md).
                    assert_eq!(c.code_object_version, deep.then_some(5));
                }
            }
        }
    }
    // The independent decoder agrees on the v3 vector.
    assert_eq!(
        independent_targets(&encode(&bundle, 3, 1)),
        ["gfx1010", "gfx1030"]
    );
}

#[test]
fn deep_detects_hash_mismatch() {
    let bundle = std::fs::read(fx("plain_bundle.bin")).unwrap();
    let mut v = encode(&bundle, 2, 1);
    v[16] ^= 0xff; // corrupt the hash
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad_hash.ccob");
    std::fs::write(&path, v).unwrap();
    assert_eq!(
        inspect_json(&[s(&path)]).0,
        0,
        "the fast path does not read the whole payload"
    );
    let (code, r) = inspect_json(&["--deep", s(&path)]);
    assert_eq!(code, 2);
    assert!(r.files[0]
        .error
        .as_deref()
        .unwrap()
        .contains("hash mismatch"));
}

/// Put several CCOB v1 (which has no size field) into a real host object's
/// `.hip_fatbin`, 4096-aligned as clang lays out one bundle per translation unit.
#[test]
fn several_v1_bundles_in_one_hip_fatbin() {
    let bundle = std::fs::read(fx("plain_bundle.bin")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut sec = Vec::new();
    for (i, method) in [1u16, 0, 1].iter().enumerate() {
        sec.resize(i * 8192, 0);
        sec.extend_from_slice(&encode(&bundle, 1, *method));
    }
    let sec_path = dir.path().join("fatbin.bin");
    std::fs::write(&sec_path, &sec).unwrap();
    let c = dir.path().join("host.c");
    std::fs::write(&c, "int host_symbol = 1;\n").unwrap();
    let obj = dir.path().join("host.o");
    assert!(Command::new("cc")
        .args(["-c", s(&c), "-o", s(&obj)])
        .status()
        .unwrap()
        .success());
    let out = dir.path().join("with_fatbin.o");
    let st = Command::new("objcopy")
        .arg(format!("--add-section=.hip_fatbin={}", sec_path.display()))
        .args([
            "--set-section-flags",
            ".hip_fatbin=alloc,readonly",
            "--set-section-alignment",
            ".hip_fatbin=4096",
        ])
        .args([s(&obj), s(&out)])
        .status()
        .unwrap();
    assert!(st.success());
    let (code, r) = inspect_json(&[s(&out)]);
    assert_eq!(code, 0, "{r:#?}");
    assert_eq!(r.files[0].bundles, 3);
    assert_eq!(
        target_ids(&r),
        ["gfx1010", "gfx1010", "gfx1010", "gfx1030", "gfx1030", "gfx1030"]
    );
    let methods: Vec<&str> = r.files[0]
        .code_objects
        .iter()
        .map(|c| c.compression.as_str())
        .collect();
    assert_eq!(methods, ["zstd", "zstd", "zlib", "zlib", "zstd", "zstd"]);
}
