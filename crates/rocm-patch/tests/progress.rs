//! Issue 29: every wait of over 2 s shows a progress line on a terminal (probe's worker
//! start, bench's and tune's runs, an inspection), and nothing is added without one or
//! under `--json`. The terminal is a real pseudo-terminal (`script` from util-linux);
//! the slow Python is a shell script that takes 3 s to fail, as an interpreter that
//! imports torch for seconds would.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// An "interpreter" that answers nothing for 3 s, then exits 1.
fn slow_python(dir: &Path) -> PathBuf {
    let p = dir.join("python");
    std::fs::write(&p, "#!/bin/sh\nsleep 3\necho 'no torch here' >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    p
}

/// Run `rocm-patch ARGS` on a pseudo-terminal (stdout and stderr both on it); returns
/// what the terminal received.
fn on_terminal(args: &str, env: &[(&str, &str)]) -> String {
    let cmd = format!("'{}' {args}", env!("CARGO_BIN_EXE_rocm-patch"));
    let mut c = Command::new("script");
    c.args(["-qefc", &cmd, "/dev/null"])
        .env_remove("RP_PROGRESS_AFTER_MS");
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().expect("script (util-linux) runs");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The progress lines drawn on the terminal, each as `LABEL | TIME` (the padding between
/// the label and the time at the right edge taken out).
fn drawn(tty: &str) -> Vec<String> {
    tty.split(['\r', '\n', '\x1b'])
        .filter_map(|l| l.strip_prefix("rocm-patch: "))
        .filter(|l| !l.starts_with("error:"))
        .map(|l| {
            let (label, time) = l.trim_end().rsplit_once(' ').unwrap_or((l, ""));
            format!("{} | {time}", label.trim_end())
        })
        .collect()
}

/// The same command with stderr a pipe: what it wrote there.
fn piped_stderr(args: &[&str]) -> String {
    common::cli()
        .args(args)
        .env_remove("RP_PROGRESS_AFTER_MS")
        .run()
        .stderr
}

#[test]
fn probe_shows_the_worker_start_after_two_seconds() {
    let d = tempfile::tempdir().unwrap();
    let py = slow_python(d.path());
    let tty = on_terminal(&format!("probe --python '{}'", py.display()), &[]);
    let lines = drawn(&tty);
    // Nothing before 2 s; then the line, with the time going on.
    assert_eq!(
        lines.first().map(String::as_str),
        Some("starting the probe worker (importing torch) | 2s"),
        "{tty:?}"
    );
    assert!(
        lines
            .iter()
            .all(|l| l.ends_with(" | 2s") || l.ends_with(" | 3s")),
        "{lines:?}"
    );
    // The line is taken away before the error is printed.
    assert!(
        tty.contains("\x1b[2Krocm-patch: error: the worker exited"),
        "{tty:?}"
    );
    // No terminal, or --json: only the error.
    let p = py.to_str().unwrap();
    for args in [
        vec!["probe", "--python", p],
        vec!["probe", "--json", "--python", p],
    ] {
        let err = piped_stderr(&args);
        assert!(!err.contains("starting the probe worker"), "{err:?}");
        assert!(
            err.starts_with("rocm-patch: error: the worker exited"),
            "{err:?}"
        );
    }
    let tty = on_terminal(&format!("probe --json --python '{p}'"), &[]);
    assert!(!tty.contains("starting the probe worker"), "{tty:?}");
}

#[test]
fn bench_and_tune_show_what_they_wait_for() {
    let d = tempfile::tempdir().unwrap();
    let py = slow_python(d.path());
    let state = d.path().join("state");
    let tty = on_terminal(
        &format!(
            "bench --no-history --python '{}' --state-dir '{}'",
            py.display(),
            state.display()
        ),
        &[],
    );
    assert_eq!(
        drawn(&tty).first().map(String::as_str),
        Some("bench: starting the worker (importing torch) | 2s"),
        "{tty:?}"
    );
    let tty = on_terminal(
        &format!(
            "tune --profile native --python '{}' --state-dir '{}'",
            py.display(),
            state.display()
        ),
        &[],
    );
    assert!(
        drawn(&tty)
            .iter()
            .any(|l| l == "tune: probing native (every probe under this profile) | 2s"),
        "{tty:?}"
    );
    assert!(tty.contains("tune: probing native\r\n"), "{tty:?}");
}

#[test]
fn inspect_shows_how_many_files_are_read() {
    let dir = common::fixture("codeobj");
    let tty = on_terminal(
        &format!("inspect '{}'", dir.display()),
        &[("RP_PROGRESS_AFTER_MS", "0")],
    );
    let lines = drawn(&tty);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("inspect: ") && l.ends_with(" | 0s")),
        "{tty:?}"
    );
    let tty = on_terminal(
        &format!("inspect --json '{}'", dir.display()),
        &[("RP_PROGRESS_AFTER_MS", "0")],
    );
    assert!(!tty.contains("rocm-patch: inspect: "), "{tty:?}");
}
