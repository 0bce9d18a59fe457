//! Byte-exact edits of small text files: take assignments out of a startup file as its
//! shell reads it (rp_machine::shell), check that the result still parses, prepend a
//! line.

use std::path::Path;

/// Largest file `fix` edits.
pub const MAX_EDIT: u64 = 1 << 20;

/// Read a regular file of at most [`MAX_EDIT`] bytes without blocking on a FIFO or a
/// device. `Ok(None)` when it does not exist.
pub fn read_small(p: &Path) -> Result<Option<Vec<u8>>, String> {
    match rp_sys::read_regular(p, MAX_EDIT) {
        Ok(buf) => Ok(Some(buf)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(rp_sys::OpenError {
            kind: rp_sys::OpenErrorKind::TooLarge { len, .. },
            ..
        }) => Err(format!(
            "{}: {len} bytes, larger than the {MAX_EDIT} bytes fix edits",
            p.display()
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// A startup file without the commands starting at `lines` (each with the text its
/// first line had when planned) that set `names`, as [`rp_machine::shell::remove_assignments`]
/// rewrites it, and proven to parse (see [`check_parses`]).
pub fn remove_settings(
    data: &[u8],
    file: &Path,
    lines: &[(u32, String)],
    names: &[String],
    marker: &str,
    shown: &str,
) -> Result<Vec<u8>, String> {
    let text = std::str::from_utf8(data)
        .map_err(|_| format!("{shown} is not UTF-8 text: it is named, not edited"))?;
    for (n, expect) in lines {
        if line_text(data, *n).as_deref() != Some(expect.as_str()) {
            return Err(format!(
                "{shown}:{n} changed since it was read; run fix again"
            ));
        }
    }
    let d = rp_machine::startup_dialect(file);
    let only: Vec<u32> = lines.iter().map(|(n, _)| *n).collect();
    let new = rp_machine::shell::remove_assignments(text, d, &only, names, marker)
        .map_err(|e| format!("{shown}: {e}"))?;
    check_parses(
        &new,
        d,
        file,
        shown,
        lines.iter().all(|(n, _)| single_line(text, d, *n)),
    )?;
    Ok(new.into_bytes())
}

/// The command at `line` is on that line alone (nothing continues it).
fn single_line(text: &str, d: rp_machine::shell::Dialect, line: u32) -> bool {
    rp_machine::shell::lex(text, d)
        .commands
        .iter()
        .find(|c| c.first_line == line)
        .is_some_and(|c| c.last_line == line)
}

/// Does `text` parse as its shell reads it? `bash -n` for sh files (`zsh -n` for zsh's
/// own files), `fish --no-execute` for fish, run on a copy with a deadline: the checkers
/// read, they never run the file (bash(1) `-n`, zsh(1) NO_EXEC, fish(1)
/// `--no-execute`). Without the checker, only edits that comment out whole one-line
/// commands are accepted: the lexer placed them, and nothing else changes.
pub fn check_parses(
    text: &str,
    d: rp_machine::shell::Dialect,
    file: &Path,
    shown: &str,
    trivial: bool,
) -> Result<(), String> {
    use rp_machine::shell::Dialect;
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let (checker, args): (&str, &[&str]) = match d {
        Dialect::Plain => return Ok(()),
        Dialect::Fish => ("fish", &["--no-execute"]),
        Dialect::Sh if name.starts_with(".z") => ("zsh", &["-n"]),
        Dialect::Sh => ("bash", &["-n"]),
    };
    let Some(path) = which(checker) else {
        return if trivial {
            Ok(())
        } else {
            Err(format!(
                "{shown}: {checker} is not installed to prove the edited file still parses, and the edit is more than commenting out one line: edit it by hand"
            ))
        };
    };
    let dir = tempfile::tempdir().map_err(|e| format!("{shown}: {e}"))?;
    let copy = dir.path().join(name);
    std::fs::write(&copy, text).map_err(|e| format!("{shown}: {e}"))?;
    let mut cmd = std::process::Command::new(&path);
    cmd.args(args).arg(&copy);
    let timeout = std::time::Duration::from_secs(10);
    let opts = rp_sys::process::Options {
        deadline: Some(timeout),
        grace: std::time::Duration::ZERO,
        ..Default::default()
    };
    let out = rp_sys::process::run_bounded(cmd, &opts, 64 << 10)
        .map_err(|e| e.to_string())
        .and_then(|o| match o.ended.stopped {
            Some(_) => Err(format!(
                "{} did not finish within {} s (killed)",
                path.display(),
                timeout.as_secs()
            )),
            None => Ok(o),
        })
        .map_err(|e| format!("{shown}: {checker} did not check the edited file: {e}"))?;
    if out.ended.success() {
        Ok(())
    } else {
        Err(format!(
            "{shown}: the edited file would not parse ({checker}: {}): left as it is",
            String::from_utf8_lossy(&out.stderr)
                .trim()
                .replace(&copy.display().to_string(), shown)
        ))
    }
}

/// A program on PATH.
fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
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
    fn settings_come_out_and_the_rest_stays() {
        let data = b"a=1\r\nexport A=1 HSA_OVERRIDE_GFX_VERSION=10.3.0\n# tail";
        let names = vec!["HSA_OVERRIDE_GFX_VERSION".to_string()];
        let line = |n| (n, line_text(data, n).unwrap());
        let out = remove_settings(
            data,
            Path::new("/h/.bashrc"),
            &[line(2)],
            &names,
            "# M: ",
            "f",
        )
        .unwrap();
        assert_eq!(
            out,
            b"a=1\r\n# M: export A=1 HSA_OVERRIDE_GFX_VERSION=10.3.0\nexport A=1\n# tail".to_vec()
        );
        // The file changed since the plan: refused.
        assert!(remove_settings(
            data,
            Path::new("/h/.bashrc"),
            &[(2, "other".into())],
            &names,
            "# ",
            "f"
        )
        .is_err());
        assert_eq!(line_text(data, 1).as_deref(), Some("a=1"));
    }
}
