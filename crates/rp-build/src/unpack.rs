//! Unpacking a source tarball (gzip, xz, zstd or plain tar) into the build directory:
//! the single top-level directory is stripped, and nothing lands outside `dest`.

use crate::BuildError;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Component, Path, PathBuf};

fn open(p: &Path) -> Result<Box<dyn Read>, BuildError> {
    let mut f = File::open(p).map_err(|e| BuildError::io(p, "cannot read", e))?;
    let mut magic = [0u8; 6];
    let n = f
        .read(&mut magic)
        .map_err(|e| BuildError::io(p, "cannot read", e))?;
    let f = File::open(p).map_err(|e| BuildError::io(p, "cannot read", e))?;
    let r = BufReader::new(f);
    Ok(match &magic[..n] {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::GzDecoder::new(r)),
        [0xfd, b'7', b'z', b'X', b'Z', 0] => Box::new(xz2::read::XzDecoder::new(r)),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Box::new(
            zstd::stream::read::Decoder::new(r).map_err(|e| BuildError::io(p, "cannot read", e))?,
        ),
        _ => Box::new(r),
    })
}

/// The path of an entry with its first `strip` components removed; `None` for an entry
/// that is one of those leading directories. Refuses absolute paths and `..`.
fn stripped(p: &Path, strip: usize) -> Result<Option<PathBuf>, String> {
    let mut out = PathBuf::new();
    let mut seen = 0;
    for c in p.components() {
        match c {
            Component::Normal(n) if seen >= strip => out.push(n),
            Component::Normal(_) => seen += 1,
            Component::CurDir => {}
            _ => return Err(format!("entry {} leaves the tree", p.display())),
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

/// No component of `rel` below `dest` is a symlink (an earlier entry cannot redirect a
/// later one out of the tree).
fn no_symlink_parents(dest: &Path, rel: &Path) -> bool {
    let mut p = dest.to_path_buf();
    let parts: Vec<_> = rel.components().collect();
    for c in &parts[..parts.len().saturating_sub(1)] {
        p.push(c);
        if std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
            return false;
        }
    }
    true
}

/// Most bytes unpacking may write: the largest ROCm source tree (PyTorch with its
/// submodules) is a few GiB.
pub const MAX_UNPACKED: u64 = 32 << 30;
/// Most bytes unpacked per byte of tarball: source tarballs compress 3–10 times; a
/// tarball that grows a hundredfold is a bomb.
pub const MAX_RATIO: u64 = 100;
/// Most entries unpacked.
pub const MAX_ENTRIES: u64 = 2_000_000;

/// Unpack `tarball` into `dest` (which must not exist), without its first `strip`
/// directories (1: the `project-1.0/` every release tarball has). A file above that
/// depth is an error that says so, not a file silently left out.
pub fn unpack(
    tarball: &Path,
    dest: &Path,
    strip: usize,
    cancel: &std::sync::atomic::AtomicBool,
) -> Result<u64, BuildError> {
    let bad = |m: String| BuildError::Refused(format!("{}: {m}", tarball.display()));
    std::fs::create_dir_all(dest).map_err(|e| BuildError::io(dest, "cannot create", e))?;
    let mut a = tar::Archive::new(open(tarball)?);
    // Mode bits as written, without setuid/setgid (the tar crate drops them unless asked).
    a.set_preserve_permissions(false);
    a.set_overwrite(true);
    let mut n = 0u64;
    // What the entries declare, checked before each is written: an absolute cap and a
    // ratio to the tarball's own size.
    let packed = std::fs::metadata(tarball).map(|m| m.len()).unwrap_or(0);
    let cap = MAX_UNPACKED.min(packed.saturating_mul(MAX_RATIO).max(64 << 20));
    let mut written = 0u64;
    let entries = a.entries().map_err(|e| bad(e.to_string()))?;
    for e in entries {
        if cancel.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(BuildError::Interrupted);
        }
        let mut e = e.map_err(|e| bad(e.to_string()))?;
        written = written.saturating_add(e.header().size().unwrap_or(0));
        if written > cap || n >= MAX_ENTRIES {
            return Err(bad(format!(
                "unpacks to more than {cap} bytes or {MAX_ENTRIES} entries ({packed} bytes packed; at most {MAX_RATIO} times that, and {MAX_UNPACKED} in all): refused as a decompression bomb"
            )));
        }
        let path = e.path().map_err(|e| bad(e.to_string()))?.into_owned();
        let Some(rel) = stripped(&path, strip).map_err(bad)? else {
            if !e.header().entry_type().is_dir()
                && !e.header().entry_type().is_pax_global_extensions()
            {
                return Err(bad(format!(
                    "entry {} is above the {strip} director{} the recipe strips (set `strip` in [source])",
                    path.display(),
                    if strip == 1 { "y" } else { "ies" }
                )));
            }
            continue;
        };
        if !no_symlink_parents(dest, &rel) {
            return Err(bad(format!(
                "entry {} goes through a symlink",
                path.display()
            )));
        }
        let kind = e.header().entry_type();
        if kind.is_hard_link() {
            // A hard link's target is another entry: keep it inside too.
            let target = e
                .link_name()
                .map_err(|x| bad(x.to_string()))?
                .map(|t| t.into_owned())
                .unwrap_or_default();
            let Some(t) = stripped(&target, strip).map_err(bad)? else {
                return Err(bad(format!("hard link {} has no target", path.display())));
            };
            let to = dest.join(&rel);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|x| BuildError::io(parent, "cannot create", x))?;
            }
            let _ = std::fs::remove_file(&to);
            std::fs::hard_link(dest.join(t), &to)
                .map_err(|x| BuildError::io(&to, "cannot link", x))?;
            n += 1;
            continue;
        }
        if !(kind.is_file() || kind.is_dir() || kind.is_symlink()) {
            // Devices, FIFOs and pax headers are not source code.
            continue;
        }
        let to = dest.join(&rel);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|x| BuildError::io(parent, "cannot create", x))?;
        }
        e.unpack(&to)
            .map_err(|x| bad(format!("cannot unpack {}: {x}", path.display())))?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    static NO: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

    #[test]
    fn a_tarball_that_inflates_too_much_is_refused() {
        let d = tempfile::tempdir().unwrap();
        // 200 MiB of zeros in one entry, gzip'ed to a few hundred KiB.
        let tgz = d.path().join("bomb.tar.gz");
        let f = std::fs::File::create(&tgz).unwrap();
        let gz = flate2::write::GzEncoder::new(f, flate2::Compression::best());
        let mut b = tar::Builder::new(gz);
        let mut h = tar::Header::new_gnu();
        let size = 200u64 << 20;
        h.set_size(size);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "top/zeros", std::io::repeat(0).take(size))
            .unwrap();
        b.into_inner().unwrap().finish().unwrap();
        assert!(std::fs::metadata(&tgz).unwrap().len() < 1 << 20);
        let e = unpack(&tgz, &d.path().join("out"), 1, &NO).unwrap_err();
        assert!(e.to_string().contains("decompression bomb"), "{e}");
        // Nothing of it was written.
        assert!(!d.path().join("out/zeros").exists());
    }

    fn tarball(entries: &[(&str, &[u8])], link: Option<(&str, &str)>) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        let gz = flate2::write::GzEncoder::new(f.reopen().unwrap(), flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        for (p, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, p, *data).unwrap();
        }
        if let Some((p, to)) = link {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, p, to).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap();
        f
    }

    #[test]
    fn strips_the_top_directory() {
        let t = tarball(
            &[
                ("proj-1.0/src/a.c", b"int a;"),
                ("proj-1.0/CMakeLists.txt", b"x"),
            ],
            None,
        );
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("src");
        assert_eq!(unpack(t.path(), &dest, 1, &NO).unwrap(), 2);
        assert_eq!(std::fs::read(dest.join("src/a.c")).unwrap(), b"int a;");
    }

    #[test]
    fn reads_xz_and_zstd_and_refuses_paths_out_of_the_tree() {
        for kind in ["xz", "zst"] {
            let f = tempfile::NamedTempFile::new().unwrap();
            let w: Box<dyn std::io::Write> = match kind {
                "xz" => Box::new(xz2::write::XzEncoder::new(f.reopen().unwrap(), 1)),
                _ => Box::new(
                    zstd::stream::write::Encoder::new(f.reopen().unwrap(), 1)
                        .unwrap()
                        .auto_finish(),
                ),
            };
            let mut b = tar::Builder::new(w);
            let mut h = tar::Header::new_gnu();
            h.set_size(2);
            h.set_mode(0o4755);
            h.set_cksum();
            b.append_data(&mut h, "top/bin/tool", &b"#!"[..]).unwrap();
            drop(b.into_inner().unwrap());
            let d = tempfile::tempdir().unwrap();
            let dest = d.path().join("src");
            assert_eq!(unpack(f.path(), &dest, 1, &NO).unwrap(), 1, "{kind}");
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dest.join("bin/tool"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o7000, 0, "{kind}: setuid kept ({mode:o})");
            assert_ne!(mode & 0o100, 0, "{kind}: executable bit lost ({mode:o})");
        }
        assert!(stripped(Path::new("top/../../etc/passwd"), 1).is_err());
        assert!(stripped(Path::new("/etc/passwd"), 1).is_err());
        assert_eq!(stripped(Path::new("top"), 1).unwrap(), None);
        assert_eq!(
            stripped(Path::new("./top/a/b"), 1).unwrap(),
            Some(PathBuf::from("a/b"))
        );
        assert_eq!(
            stripped(Path::new("./a/b"), 0).unwrap(),
            Some(PathBuf::from("a/b"))
        );
        // A file beside the top directory is named, not dropped.
        let t = tarball(&[("top/a.c", b"x"), ("README", b"y")], None);
        let d = tempfile::tempdir().unwrap();
        let e = unpack(t.path(), &d.path().join("s"), 1, &NO).unwrap_err();
        assert!(e.to_string().contains("entry README is above"), "{e}");
        let d = tempfile::tempdir().unwrap();
        assert_eq!(unpack(t.path(), &d.path().join("s"), 0, &NO).unwrap(), 2);
        assert!(d.path().join("s/top/a.c").is_file() && d.path().join("s/README").is_file());
    }

    #[test]
    fn refuses_writing_through_a_symlink() {
        let out = tempfile::tempdir().unwrap();
        let t = tarball(
            &[("p/evil/x", b"owned")],
            Some(("p/evil", out.path().to_str().unwrap())),
        );
        // The link comes after the file here; build one where it comes first.
        let f = tempfile::NamedTempFile::new().unwrap();
        let mut b = tar::Builder::new(f.reopen().unwrap());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "p/evil", out.path()).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_size(5);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "p/evil/x", &b"owned"[..]).unwrap();
        b.finish().unwrap();
        let d = tempfile::tempdir().unwrap();
        let e = unpack(f.path(), &d.path().join("src"), 1, &NO).unwrap_err();
        assert!(e.to_string().contains("symlink"), "{e}");
        assert!(!out.path().join("x").exists());
        drop(t);
    }
}
