//! Truncated, corrupt and hostile input: a per-file error, never a panic, and no
//! allocation beyond what the input's size justifies.

use rp_codeobj::{scan, Error, Options};
use std::path::PathBuf;

fn shared_codeobj() -> Vec<(String, Vec<u8>)> {
    // The repository's fixtures (fixtures/SOURCES.md).
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/codeobj");
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    v.sort();
    assert!(v.len() >= 15);
    v
}

#[test]
fn every_truncation_of_every_fixture() {
    for (name, data) in shared_codeobj() {
        let full = scan(&data, &Options::default());
        assert!(full.error.is_none(), "{name}: {:?}", full.error);
        assert!(!full.code_objects.is_empty(), "{name}");
        let step = (data.len() / 400).max(1);
        for cut in (0..data.len()).step_by(step) {
            for deep in [false, true] {
                let r = scan(
                    &data[..cut],
                    &Options {
                        deep,
                        prefix: false,
                    },
                );
                // Either an error, or fewer/equal code objects: never invented ones.
                assert!(
                    r.code_objects.len() <= full.code_objects.len(),
                    "{name} cut {cut}"
                );
            }
        }
    }
}

#[test]
fn every_byte_flip_of_a_bundle_header() {
    let (_, data) = shared_codeobj()
        .into_iter()
        .find(|(n, _)| n.ends_with("hip52_uncompressed_bundle_from_k.o.bin"))
        .unwrap();
    for i in 0..0x90.min(data.len()) {
        for x in [0x01u8, 0x80, 0xff] {
            let mut d = data.clone();
            d[i] ^= x;
            let _ = scan(&d, &Options::default());
        }
    }
}

fn bundle_with(entries: &[(u64, u64, &str)], count: u64, len: usize) -> Vec<u8> {
    let mut b = b"__CLANG_OFFLOAD_BUNDLE__".to_vec();
    b.extend_from_slice(&count.to_le_bytes());
    for (off, size, id) in entries {
        b.extend_from_slice(&off.to_le_bytes());
        b.extend_from_slice(&size.to_le_bytes());
        b.extend_from_slice(&(id.len() as u64).to_le_bytes());
        b.extend_from_slice(id.as_bytes());
    }
    b.resize(len.max(b.len()), 0);
    b
}

#[test]
fn entry_table_lies() {
    // An entry pointing past the end.
    let b = bundle_with(
        &[(0x1000, 0x10_0000, "hipv4-amdgcn-amd-amdhsa--gfx1010")],
        1,
        0x2000,
    );
    assert!(matches!(
        scan(&b, &Options::default()).error,
        Some(Error::OutOfBounds { .. })
    ));
    // offset + size overflowing u64.
    let b = bundle_with(
        &[(u64::MAX - 10, 100, "hipv4-amdgcn-amd-amdhsa--gfx1010")],
        1,
        0x2000,
    );
    assert!(scan(&b, &Options::default()).error.is_some());
    // An absurd count.
    let b = bundle_with(&[], u64::MAX / 2, 64);
    assert!(matches!(
        scan(&b, &Options::default()).error,
        Some(Error::Limit { .. })
    ));
    // A count the file cannot hold.
    let b = bundle_with(&[], 4000, 4096);
    assert!(scan(&b, &Options::default()).error.is_some());
    // An absurd id length.
    let mut b = bundle_with(&[], 1, 0);
    b.extend_from_slice(&0x1000u64.to_le_bytes());
    b.extend_from_slice(&0u64.to_le_bytes());
    b.extend_from_slice(&u64::MAX.to_le_bytes());
    b.resize(0x2000, 0);
    assert!(matches!(
        scan(&b, &Options::default()).error,
        Some(Error::Limit { .. })
    ));
    // A blob that is not an ELF: reported with a warning, not a crash.
    let b = bundle_with(
        &[(0x1000, 16, "hipv4-amdgcn-amd-amdhsa--gfx1010")],
        1,
        0x1010,
    );
    let r = scan(&b, &Options::default());
    assert!(r.error.is_none());
    assert!(r.code_objects[0].warning.is_some());
}

fn ccob_header(version: u16, method: u16, total: u64, usize_: u64) -> Vec<u8> {
    let mut b = b"CCOB".to_vec();
    b.extend_from_slice(&version.to_le_bytes());
    b.extend_from_slice(&method.to_le_bytes());
    b.extend_from_slice(&total.to_le_bytes());
    b.extend_from_slice(&usize_.to_le_bytes());
    b.extend_from_slice(&0u64.to_le_bytes());
    b
}

#[test]
fn decompression_bombs_are_refused() {
    // Declares 16 GiB from a few bytes.
    let mut b = ccob_header(3, 1, 64, 16 << 30);
    b.resize(64, 0);
    assert!(matches!(
        scan(&b, &Options::default()).error,
        Some(Error::Limit { .. })
    ));
    // A real zstd bomb: 256 MiB of zeros compress to a few KiB; the declared size is
    // beyond the accepted ratio.
    let zeros = vec![0u8; 256 << 20];
    let z = zstd::bulk::compress(&zeros, 19).unwrap();
    drop(zeros);
    let mut b = ccob_header(3, 1, 32 + z.len() as u64, 256 << 20);
    b.extend_from_slice(&z);
    let r = scan(
        &b,
        &Options {
            deep: true,
            prefix: false,
        },
    );
    assert!(
        matches!(r.error, Some(Error::Limit { .. })),
        "{:?}",
        r.error
    );
    // A declared size smaller than the stream: output is cut at the declared size.
    let payload = zstd::bulk::compress(&[7u8; 100_000], 3).unwrap();
    let mut b = ccob_header(3, 1, 32 + payload.len() as u64, 1000);
    b.extend_from_slice(&payload);
    assert!(scan(
        &b,
        &Options {
            deep: true,
            prefix: false
        }
    )
    .error
    .is_some());
    // Unknown method and version.
    assert!(matches!(
        scan(&ccob_header(3, 9, 32, 0), &Options::default()).error,
        Some(Error::Unsupported(_))
    ));
    assert!(matches!(
        scan(&ccob_header(7, 1, 32, 0), &Options::default()).error,
        Some(Error::Unsupported(_))
    ));
    // Total size past the end.
    assert!(scan(&ccob_header(3, 1, 1 << 40, 10), &Options::default())
        .error
        .is_some());
}

#[test]
fn garbage_never_panics() {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let prefixes: [&[u8]; 5] = [
        b"\x7fELF\x02\x01\x01\x40",
        b"__CLANG_OFFLOAD_BUNDLE__",
        b"CCOB\x02\x00\x01\x00",
        b"CCOB\x01\x00\x00\x00",
        b"!<arch>\n",
    ];
    for round in 0..3000 {
        let len = (next() % 9000) as usize;
        let mut d: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let p = prefixes[round % prefixes.len()];
        if d.len() >= p.len() {
            d[..p.len()].copy_from_slice(p);
        }
        let _ = scan(
            &d,
            &Options {
                deep: round % 2 == 0,
                prefix: false,
            },
        );
    }
}

#[path = "support/kpack_writer.rs"]
mod kpack_writer;
use kpack_writer::{archive, finish, map, s, Kernel, Scheme, V};

fn fixture_co(name: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/codeobj")
            .join(name),
    )
    .unwrap()
}

fn kpack_kernels() -> Vec<Kernel> {
    let k = |b: &str, a: &str, f: &str| Kernel {
        binary: b.into(),
        arch: a.into(),
        data: fixture_co(f),
    };
    vec![
        k("lib/libtorch_hip.so", "gfx1010", "codeobj_co6_gfx1010.co"),
        k("lib/libtorch_hip.so", "gfx906", "codeobj_co6_gfx906.co"),
        k("lib/librocblas.so.4", "gfx1010", "codeobj_co6_gfx1010.co"),
    ]
}

/// A zstd-per-kernel archive whose table is `toc` (the blob holds the real kernels).
fn zstd_archive_with(toc: impl FnOnce(u64, u64) -> V) -> Vec<u8> {
    let good = archive(
        Scheme::Zstd,
        "torch",
        "gfx1010",
        &["gfx1010"],
        &kpack_kernels(),
    );
    let toc_at = u64::from_le_bytes(good[8..16].try_into().unwrap()) as usize;
    finish(good[..toc_at].to_vec(), &toc(64, toc_at as u64 - 64))
}

fn entry(ordinal: u64, size: u64) -> V {
    map(vec![
        ("type", s("hsaco")),
        ("ordinal", V::U(ordinal)),
        ("original_size", V::U(size)),
    ])
}

fn zstd_toc(off: u64, size: u64, toc: V) -> V {
    map(vec![
        ("format_version", V::U(1)),
        ("compression_scheme", s("zstd-per-kernel")),
        ("zstd_offset", V::U(off)),
        ("zstd_size", V::U(size)),
        ("toc", toc),
    ])
}

fn kpack_error(data: &[u8]) -> Error {
    for deep in [false, true] {
        let r = scan(
            data,
            &Options {
                deep,
                prefix: false,
            },
        );
        assert!(
            r.code_objects.is_empty(),
            "deep {deep}: {:?}",
            r.code_objects
        );
        assert!(r.error.is_some(), "deep {deep}: no error");
    }
    scan(data, &Options::default()).error.unwrap()
}

#[test]
fn kpack_archives_both_schemes_and_every_truncation() {
    for scheme in [Scheme::Zstd, Scheme::None] {
        let data = archive(scheme, "torch", "gfx1010", &["gfx1010"], &kpack_kernels());
        for deep in [false, true] {
            let r = scan(
                &data,
                &Options {
                    deep,
                    prefix: false,
                },
            );
            assert!(r.error.is_none(), "{scheme:?}: {:?}", r.error);
            let got: Vec<(String, String)> = r
                .code_objects
                .iter()
                .map(|c| (c.binary.clone().unwrap(), c.target_id.clone()))
                .collect();
            assert_eq!(got.len(), 3, "{got:?}");
            assert!(got.contains(&("lib/libtorch_hip.so".into(), "gfx906".into())));
            assert!(r.code_objects.iter().all(|c| c.warning.is_none()));
        }
        // Every cut: an error or fewer kernels, never a panic or an invented one.
        for cut in (0..data.len()).step_by((data.len() / 300).max(1)) {
            let r = scan(&data[..cut], &Options::default());
            assert!(r.code_objects.len() <= 3);
        }
    }
}

#[test]
fn kpack_hostile_tables() {
    // Table offset past the end.
    let mut d = archive(Scheme::Zstd, "t", "gfx1010", &[], &kpack_kernels());
    d[8..16].copy_from_slice(&(1u64 << 40).to_le_bytes());
    assert!(matches!(kpack_error(&d), Error::OutOfBounds { .. }));
    // A huge ordinal.
    let d = zstd_archive_with(|o, n| {
        zstd_toc(
            o,
            n,
            map(vec![(
                "lib/x.so",
                map(vec![("gfx1010", entry(u64::MAX, 10))]),
            )]),
        )
    });
    assert!(
        matches!(kpack_error(&d), Error::Limit { .. }),
        "{:?}",
        kpack_error(&d)
    );
    // A blob that claims to run past the table, and a kernel count beyond the blob.
    let d = zstd_archive_with(|o, n| zstd_toc(o, n + 4096, map(vec![])));
    assert!(matches!(kpack_error(&d), Error::OutOfBounds { .. }));
    let mut d = archive(Scheme::Zstd, "t", "gfx1010", &[], &kpack_kernels());
    d[64..68].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(kpack_error(&d), Error::Limit { .. }));
    // A frame size past the blob.
    let mut d = archive(Scheme::Zstd, "t", "gfx1010", &[], &kpack_kernels());
    d[68..72].copy_from_slice(&(1u32 << 30).to_le_bytes());
    assert!(matches!(kpack_error(&d), Error::OutOfBounds { .. }));
    // No-op scheme: a blob past the table.
    let d = finish(
        vec![0; 64],
        &map(vec![
            ("compression_scheme", s("none")),
            (
                "blobs",
                V::Arr(vec![map(vec![
                    ("offset", V::U(64)),
                    ("size", V::U(1 << 40)),
                ])]),
            ),
            ("toc", map(vec![])),
        ]),
    );
    let mut d = d;
    d[..4].copy_from_slice(b"KPAK");
    d[4..8].copy_from_slice(&1u32.to_le_bytes());
    assert!(matches!(kpack_error(&d), Error::OutOfBounds { .. }));
    // MessagePack nested 10,000 deep inside an entry's metadata: refused, no overflow.
    let d = zstd_archive_with(|o, n| {
        // 10,000 one-element arrays (0x91), then a 0.
        let mut raw = vec![0x91u8; 10_000];
        raw.push(0);
        let deep = V::Raw(raw);
        let e = map(vec![("ordinal", V::U(0)), ("metadata", deep)]);
        zstd_toc(o, n, map(vec![("lib/x.so", map(vec![("gfx1010", e)]))]))
    });
    let e = kpack_error(&d);
    assert!(e.to_string().contains("depth"), "{e}");
}

#[test]
fn kpack_zstd_bomb_is_bounded() {
    // One frame of 512 MiB of zeros (about 16 KiB compressed), declared as 4 KiB.
    let zeros = vec![0u8; 512 << 20];
    let frame = zstd::bulk::compress(&zeros, 19).unwrap();
    drop(zeros);
    let mut f = vec![0u8; 64];
    f[..4].copy_from_slice(b"KPAK");
    f[4..8].copy_from_slice(&1u32.to_le_bytes());
    f.extend_from_slice(&1u32.to_le_bytes());
    f.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    f.extend_from_slice(&frame);
    let n = f.len() as u64 - 64;
    let d = finish(
        f,
        &zstd_toc(
            64,
            n,
            map(vec![("lib/x.so", map(vec![("gfx1010", entry(0, 4096))]))]),
        ),
    );
    // The inventory reads a prefix only; the deep scan stops one byte past the
    // declared size and reports the lie.
    let r = scan(&d, &Options::default());
    assert_eq!(r.code_objects.len(), 1);
    assert!(r.code_objects[0].warning.is_some());
    let r = scan(
        &d,
        &Options {
            deep: true,
            prefix: false,
        },
    );
    let w = r.code_objects[0].warning.clone().unwrap();
    assert!(w.contains("larger than the 4096 bytes declared"), "{w}");
    // Declared huge: refused before decompressing.
    let d2 = {
        let toc_at = u64::from_le_bytes(d[8..16].try_into().unwrap()) as usize;
        finish(
            d[..toc_at].to_vec(),
            &zstd_toc(
                64,
                n,
                map(vec![(
                    "lib/x.so",
                    map(vec![("gfx1010", entry(0, 64 << 30))]),
                )]),
            ),
        )
    };
    let r = scan(
        &d2,
        &Options {
            deep: true,
            prefix: false,
        },
    );
    assert!(r.code_objects[0]
        .warning
        .as_deref()
        .unwrap()
        .contains("sanity limit"));
}

#[test]
fn kpack_ref_sections() {
    let r = rp_codeobj::kpack::parse_ref(&kpack_writer::kpack_ref(
        "lib/libtorch_hip.so",
        &["../.kpack/torch-gfx1010.kpack"],
    ))
    .unwrap();
    assert_eq!(r.kernel_name, "lib/libtorch_hip.so");
    assert_eq!(r.kpack_search_paths, ["../.kpack/torch-gfx1010.kpack"]);
    // Padding after the map is allowed; garbage and missing fields are errors.
    let mut padded = kpack_writer::kpack_ref("k", &[]);
    padded.extend_from_slice(&[0; 64]);
    assert!(rp_codeobj::kpack::parse_ref(&padded).is_ok());
    assert!(rp_codeobj::kpack::parse_ref(&[0xc1, 0, 0]).is_err());
    let mut only_name = Vec::new();
    kpack_writer::encode(&map(vec![("kernel_name", s("k"))]), &mut only_name);
    assert!(rp_codeobj::kpack::parse_ref(&only_name).is_err());
}

/// Every fixture parses the same at every address alignment: an `ar` member at an odd
/// offset is read in place, never copied (issue 13: a 1 GiB object in a `.a` cost 2.1 GB).
#[test]
fn every_alignment_reads_the_same() {
    for (name, data) in shared_codeobj() {
        let want = format!("{:?}", scan(&data, &Options::default()).code_objects);
        for shift in 1..8 {
            let mut v = vec![0u8; shift];
            v.extend_from_slice(&data);
            let got = format!("{:?}", scan(&v[shift..], &Options::default()).code_objects);
            assert_eq!(got, want, "{name} at +{shift}");
        }
    }
}

/// A table that declares a million keys is refused before anything is stored (the
/// declared length alone: the test does not write a million entries).
#[test]
fn kpack_table_of_a_million_keys_is_refused_fast() {
    let t0 = std::time::Instant::now();
    let mut f = archive(Scheme::None, "t", "gfx1010", &["gfx1010"], &[]);
    // Replace the table by one whose `toc` map says it has 10^6 entries.
    let at = u64::from_le_bytes(f[8..16].try_into().unwrap()) as usize;
    f.truncate(at);
    let mut toc = Vec::new();
    rmp::encode::write_map_len(&mut toc, 2).unwrap();
    rmp::encode::write_str(&mut toc, "compression_scheme").unwrap();
    rmp::encode::write_str(&mut toc, "none").unwrap();
    rmp::encode::write_str(&mut toc, "toc").unwrap();
    rmp::encode::write_map_len(&mut toc, 1_000_000).unwrap();
    for i in 0..1000u32 {
        rmp::encode::write_str(&mut toc, &format!("lib/x.so#{i}")).unwrap();
        rmp::encode::write_map_len(&mut toc, 0).unwrap();
    }
    f.extend_from_slice(&toc);
    let e = kpack_error(&f);
    assert!(e.to_string().contains("more than"), "{e}");
    // Also when the map is honest about its length but too long.
    let mut toc = Vec::new();
    rmp::encode::write_map_len(&mut toc, 1).unwrap();
    rmp::encode::write_str(&mut toc, "toc").unwrap();
    let n = rp_codeobj::kpack::MAX_TOC_ENTRIES as u32 + 1;
    rmp::encode::write_map_len(&mut toc, n).unwrap();
    for i in 0..n {
        rmp::encode::write_str(&mut toc, &format!("k#{i}")).unwrap();
        rmp::encode::write_map_len(&mut toc, 0).unwrap();
    }
    let mut g = f[..at].to_vec();
    g.extend_from_slice(&toc);
    g[8..16].copy_from_slice(&(at as u64).to_le_bytes());
    assert!(kpack_error(&g).to_string().contains("more than"));
    assert!(t0.elapsed() < std::time::Duration::from_secs(20));
}

/// Thousands of search paths in a `.rocm_kpack_ref` are a per-file error.
#[test]
fn kpack_ref_with_thousands_of_paths_is_refused() {
    let paths: Vec<String> = (0..5000)
        .map(|i| format!("../.kpack/x{i}_@GFXARCH@.kpack"))
        .collect();
    let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
    let e = rp_codeobj::kpack::parse_ref(&kpack_writer::kpack_ref("lib/x.so", &refs)).unwrap_err();
    assert!(matches!(e, Error::Limit { .. }), "{e}");
    let ok: Vec<&str> = refs[..rp_codeobj::kpack::MAX_SEARCH_PATHS].to_vec();
    assert!(rp_codeobj::kpack::parse_ref(&kpack_writer::kpack_ref("lib/x.so", &ok)).is_ok());
}
