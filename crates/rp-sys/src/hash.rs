//! Hashing files.

use crate::durable::{ctx, PathError};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// SHA-256 of a file, hex, streamed; with the number of bytes hashed.
pub fn sha256_file(p: &Path) -> Result<(String, u64), PathError> {
    let mut f = ctx(File::open(p), p, "cannot open")?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = ctx(f.read(&mut buf), p, "cannot read")?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((format!("{:x}", h.finalize()), n))
}

#[cfg(test)]
mod tests {
    #[test]
    fn empty_and_abc() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("abc");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(
            super::sha256_file(&p).unwrap(),
            (
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".into(),
                3
            )
        );
        let e = super::sha256_file(&d.path().join("no")).unwrap_err();
        assert!(e.to_string().contains("cannot open"), "{e}");
    }
}
