//! Writes kpack archives and `.rocm_kpack_ref` payloads from the format as TheRock
//! RFC0008 and the rocm-kpack sources describe it (docs/code-objects.md, "Kpack"), for
//! test vectors: no producer of kpack files exists on this machine. Shared by the
//! rp-codeobj and rocm-patch tests. MessagePack is written with the `rmp` crate.
#![allow(
    dead_code,
    reason = "included by several test binaries, each using a part: an expect would be unfulfilled in those that use all of it"
)]

/// A MessagePack value.
#[derive(Clone, Debug)]
pub enum V {
    Map(Vec<(V, V)>),
    Arr(Vec<V>),
    Str(String),
    U(u64),
    /// Bytes written as they are (for hostile vectors).
    Raw(Vec<u8>),
}

pub fn s(x: &str) -> V {
    V::Str(x.to_string())
}

pub fn map(kv: Vec<(&str, V)>) -> V {
    V::Map(kv.into_iter().map(|(k, v)| (s(k), v)).collect())
}

pub fn encode(v: &V, out: &mut Vec<u8>) {
    match v {
        V::Map(kv) => {
            rmp::encode::write_map_len(out, kv.len() as u32).unwrap();
            for (k, v) in kv {
                encode(k, out);
                encode(v, out);
            }
        }
        V::Arr(a) => {
            rmp::encode::write_array_len(out, a.len() as u32).unwrap();
            for x in a {
                encode(x, out);
            }
        }
        V::Str(t) => rmp::encode::write_str(out, t).unwrap(),
        V::U(n) => {
            rmp::encode::write_uint(out, *n).unwrap();
        }
        V::Raw(b) => out.extend_from_slice(b),
    }
}

/// One kernel: a host binary's code object for one processor.
pub struct Kernel {
    pub binary: String,
    pub arch: String,
    pub data: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Scheme {
    Zstd,
    None,
}

/// The 64-byte-aligned header with a placeholder table offset.
fn header() -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(b"KPAK");
    f.extend_from_slice(&1u32.to_le_bytes());
    f.extend_from_slice(&0u64.to_le_bytes());
    f.resize(64, 0);
    f
}

/// Append the table and patch its offset into the header.
pub fn finish(mut f: Vec<u8>, toc: &V) -> Vec<u8> {
    let at = f.len() as u64;
    encode(toc, &mut f);
    f[8..16].copy_from_slice(&at.to_le_bytes());
    f
}

/// The `toc` map of binaries → processors → entries, kernels numbered in order.
pub fn toc_entries(kernels: &[Kernel]) -> V {
    let mut per: Vec<(String, Vec<(V, V)>)> = Vec::new();
    for (i, k) in kernels.iter().enumerate() {
        let e = map(vec![
            ("type", s("hsaco")),
            ("ordinal", V::U(i as u64)),
            ("original_size", V::U(k.data.len() as u64)),
        ]);
        match per.iter_mut().find(|(b, _)| *b == k.binary) {
            Some((_, v)) => v.push((s(&k.arch), e)),
            None => per.push((k.binary.clone(), vec![(s(&k.arch), e)])),
        }
    }
    V::Map(
        per.into_iter()
            .map(|(b, v)| (V::Str(b), V::Map(v)))
            .collect(),
    )
}

/// A whole archive.
pub fn archive(
    scheme: Scheme,
    group: &str,
    family: &str,
    arches: &[&str],
    kernels: &[Kernel],
) -> Vec<u8> {
    let mut f = header();
    let mut fields = vec![
        ("format_version", V::U(1)),
        ("group_name", s(group)),
        ("gfx_arch_family", s(family)),
        ("gfx_arches", V::Arr(arches.iter().map(|a| s(a)).collect())),
        ("toc", toc_entries(kernels)),
    ];
    match scheme {
        Scheme::Zstd => {
            let start = f.len() as u64;
            f.extend_from_slice(&(kernels.len() as u32).to_le_bytes());
            for k in kernels {
                let frame = zstd::bulk::compress(&k.data, 3).unwrap();
                f.extend_from_slice(&(frame.len() as u32).to_le_bytes());
                f.extend_from_slice(&frame);
            }
            let size = f.len() as u64 - start;
            fields.push(("compression_scheme", s("zstd-per-kernel")));
            fields.push(("zstd_offset", V::U(start)));
            fields.push(("zstd_size", V::U(size)));
        }
        Scheme::None => {
            let mut blobs = Vec::new();
            for k in kernels {
                blobs.push(map(vec![
                    ("offset", V::U(f.len() as u64)),
                    ("size", V::U(k.data.len() as u64)),
                ]));
                f.extend_from_slice(&k.data);
            }
            fields.push(("compression_scheme", s("none")));
            fields.push(("blobs", V::Arr(blobs)));
        }
    }
    finish(f, &map(fields))
}

/// A `.rocm_kpack_ref` payload.
pub fn kpack_ref(kernel_name: &str, paths: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    encode(
        &map(vec![
            ("kernel_name", s(kernel_name)),
            (
                "kpack_search_paths",
                V::Arr(paths.iter().map(|p| s(p)).collect()),
            ),
        ]),
        &mut out,
    );
    out
}
