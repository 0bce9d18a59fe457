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
