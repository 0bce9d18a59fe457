//! Byte-exact edits of small text files: comment out given lines, prepend a line.

use std::path::Path;

/// Largest file `fix` edits.
pub const MAX_EDIT: u64 = 1 << 20;

/// Read a regular file of at most [`MAX_EDIT`] bytes without blocking on a FIFO or a
/// device. `Ok(None)` when it does not exist.
pub fn read_small(p: &Path) -> Result<Option<Vec<u8>>, String> {
    match rp_machine::read_regular(p, MAX_EDIT) {
        Ok(buf) => Ok(Some(buf)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(rp_machine::OpenError::TooLarge { len, .. }) => Err(format!(
            "{}: {len} bytes, larger than the {MAX_EDIT} bytes fix edits",
            p.display()
        )),
        Err(e) => Err(format!("{}: {e}", p.display())),
    }
}

/// `data` with each of `lines` (1-based) prefixed by `marker`; every other byte as it
/// was. Each line must still read as `expect` says (the file changed since the plan
/// otherwise).
pub fn comment_out(
    data: &[u8],
    lines: &[(u32, String)],
    marker: &str,
    shown: &str,
) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(data.len() + lines.len() * (marker.len() + 2));
    let mut done = 0;
    for (i, line) in data.split_inclusive(|&b| b == b'\n').enumerate() {
        let n = i as u32 + 1;
        if let Some((_, expect)) = lines.iter().find(|(l, _)| *l == n) {
            let text = String::from_utf8_lossy(line);
            if text.trim_end_matches(['\n', '\r']) != expect {
                return Err(format!(
                    "{shown}:{n} changed since it was read; run fix again"
                ));
            }
            out.extend_from_slice(marker.as_bytes());
            done += 1;
        }
        out.extend_from_slice(line);
    }
    if done != lines.len() {
        return Err(format!("{shown} is shorter than it was; run fix again"));
    }
    Ok(out)
}

/// The text of line `n` (1-based) without its line ending.
pub fn line_text(data: &[u8], n: u32) -> Option<String> {
    data.split_inclusive(|&b| b == b'\n')
        .nth(n.checked_sub(1)? as usize)
        .map(|l| {
            String::from_utf8_lossy(l)
                .trim_end_matches(['\n', '\r'])
                .to_string()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_named_lines_change() {
        let data = b"a=1\r\nexport HSA_OVERRIDE_GFX_VERSION=10.3.0\n\xff tail";
        let out = comment_out(
            data,
            &[(2, "export HSA_OVERRIDE_GFX_VERSION=10.3.0".into())],
            "# M: ",
            "f",
        )
        .unwrap();
        assert_eq!(
            out,
            b"a=1\r\n# M: export HSA_OVERRIDE_GFX_VERSION=10.3.0\n\xff tail".to_vec()
        );
        assert!(comment_out(data, &[(2, "other".into())], "# ", "f").is_err());
        assert!(comment_out(data, &[(9, "x".into())], "# ", "f").is_err());
        assert_eq!(line_text(data, 1).as_deref(), Some("a=1"));
    }
}
