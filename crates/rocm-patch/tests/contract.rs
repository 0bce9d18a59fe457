//! The output contract every command keeps: `--json` gives one object with a `schema`,
//! errors go to stderr with one prefix and never to stdout, and `--timeout-ms` reaches
//! every command that reads sysfs.

mod common;

use common::machine::rx5600xt;
use common::{cli, fixture};
use rp_report::HistoryReport;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn run(args: &[&str], state: &Path) -> (i32, String, String) {
    cli()
        .args(args)
        .env("ROCM_PATCH_STATE_DIR", state)
        .env("XDG_CONFIG_HOME", state.join("config"))
        .env_remove("HSA_OVERRIDE_GFX_VERSION")
        .run()
        .triple()
}

#[test]
fn every_report_is_json_with_a_schema() {
    let d = tempfile::tempdir().unwrap();
    let root = rx5600xt(&d.path().join("root"));
    let r = root.to_str().unwrap();
    let st = d.path().join("state");
    let co = fixture("codeobj/codeobj_co6_gfx1010.co");
    let log = d.path().join("log.txt");
    std::fs::write(&log, "RuntimeError: HIP error: invalid device function\n").unwrap();
    let cases: Vec<Vec<&str>> = vec![
        vec!["doctor", "--sysroot", r, "--json"],
        vec!["inspect", "--json", co.to_str().unwrap()],
        vec!["explain", "--no-machine", "--json", log.to_str().unwrap()],
        vec!["env", "--sysroot", r, "--json"],
        vec!["env", "--sysroot", r, "--shell", "json"],
        vec!["env", "--sysroot", r, "--list", "--json"],
        vec!["history", "--json"],
        vec!["recover", "--json"],
        vec!["fix", "--sysroot", r, "--dry-run", "--json"],
        vec!["bench", "--list", "--json"],
    ];
    for args in cases {
        let (code, out, err) = run(&args, &st);
        assert!(code == 0 || code == 1, "{args:?}: exit {code}, {err}");
        let v: serde_json::Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"));
        assert_eq!(v["schema"], 1, "{args:?}: {out}");
    }
    let (_, out, _) = run(&["env", "--sysroot", r, "--list", "--json"], &st);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "native"));
    let (_, out, _) = run(&["recover", "--json"], &st);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["recovered"], serde_json::json!([]));
}

#[test]
fn errors_go_to_stderr_with_one_prefix() {
    let d = tempfile::tempdir().unwrap();
    let st = d.path().join("state");
    let missing = d.path().join("missing.so");
    let m = missing.to_str().unwrap();
    // A per-file error: the rest of the report on stdout, the error on stderr.
    let ok = fixture("codeobj/codeobj_co6_gfx1010.co");
    let (code, out, err) = run(&["inspect", m, ok.to_str().unwrap()], &st);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("rocm-patch: error: ") && err.contains(m),
        "{err}"
    );
    assert!(!out.contains("error"), "{out}");
    assert!(out.contains("gfx1010"), "{out}");
    let (code, out, err) = run(&["explain", "--no-machine", m], &st);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("rocm-patch: error: cannot read") && err.contains(m),
        "{err}"
    );
    assert!(!out.contains("cannot read"), "{out}");
    for args in [
        vec!["doctor", "--sysroot", m],
        vec!["env", "--sysroot", m],
        vec!["explain", "--sysroot", m],
        vec!["doctor", "--user", "nobody-here", "--sysroot", "/"],
        vec!["fix", "--sysroot", m],
        vec!["fix", "no-such-finding", "--sysroot", "/", "--dry-run"],
    ] {
        let (code, out, err) = run(&args, &st);
        assert_eq!(code, 2, "{args:?}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert!(err.starts_with("rocm-patch: error: "), "{args:?}: {err}");
    }
    let (code, _, err) = run(&["run", "--sysroot", "/", "--", m], &st);
    assert_eq!(code, 127);
    assert!(err.contains("rocm-patch: error: cannot run"), "{err}");
}

#[test]
fn timeout_ms_reaches_every_command_that_reads_sysfs() {
    let d = tempfile::tempdir().unwrap();
    let root = rx5600xt(&d.path().join("root"));
    // A FIFO with no writer blocks like an attribute of a hung GPU.
    let attr = root.join("sys/class/kfd/kfd/topology/nodes/1/properties");
    std::fs::remove_file(&attr).unwrap();
    assert!(Command::new("mkfifo")
        .arg(&attr)
        .status()
        .unwrap()
        .success());
    let r = root.to_str().unwrap();
    let st = d.path().join("state");
    for args in [
        vec!["doctor", "--sysroot", r, "--timeout-ms", "200", "--json"],
        vec!["env", "--sysroot", r, "--timeout-ms", "200"],
        vec!["fix", "--sysroot", r, "--timeout-ms", "200", "--dry-run"],
        vec![
            "explain",
            "--sysroot",
            r,
            "--timeout-ms",
            "200",
            "/dev/null",
        ],
    ] {
        let t = Instant::now();
        let (code, _, err) = run(&args, &st);
        assert!(code == 0 || code == 1, "{args:?}: {code} {err}");
        // Well under the 2 s default: the flag reached the reader.
        assert!(
            t.elapsed() < Duration::from_millis(1500),
            "{args:?}: {:?}",
            t.elapsed()
        );
    }
}

/// Issue 13's conventions: rollback without an id suggests --last; history creates
/// nothing in an empty state directory; run without `--` says where it goes; a wheel
/// member named with control characters never reaches the terminal raw.
#[test]
fn conventions() {
    let d = tempfile::tempdir().unwrap();
    let st = d.path().join("state");
    let (code, _, err) = run(&["rollback"], &st);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("rocm-patch: error: ") && err.contains("--last"),
        "{err}"
    );
    let (code, out, _) = run(&["history"], &st);
    assert_eq!(code, 0);
    assert!(out.contains("no transactions"), "{out}");
    assert!(!st.exists(), "history created the state directory");
    let (code, _, err) = run(&["run", "true"], &st);
    assert_eq!(code, 2);
    assert!(err.contains("put `--` before the command"), "{err}");
    // A wheel whose member name carries an escape sequence.
    let whl = d.path().join("evil-1.0-py3-none-any.whl");
    let mut z = zip::ZipWriter::new(std::fs::File::create(&whl).unwrap());
    z.start_file(
        "evil/lib\u{1b}[2J.so",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    use std::io::Write;
    z.write_all(&std::fs::read(fixture("codeobj/codeobj_co6_gfx1010.co")).unwrap())
        .unwrap();
    z.finish().unwrap();
    let (_, out, _) = run(&["inspect", whl.to_str().unwrap()], &st);
    assert!(!out.contains('\u{1b}'), "{out:?}");
    assert!(out.contains("\\u{1b}[2J"), "{out}");
}

/// One overall deadline (issue 13): after the first blocked read, every later read shares
/// one more --timeout-ms in total, so 80 blocked attributes cost about two timeouts, not
/// 80 x 100 ms.
#[test]
fn blocked_reads_share_one_deadline() {
    let d = tempfile::tempdir().unwrap();
    let root = rx5600xt(&d.path().join("root"));
    let nodes = root.join("sys/class/kfd/kfd/topology/nodes");
    for i in 10..90 {
        let n = nodes.join(i.to_string());
        std::fs::create_dir_all(&n).unwrap();
        assert!(Command::new("mkfifo")
            .arg(n.join("properties"))
            .status()
            .unwrap()
            .success());
    }
    let st = d.path().join("state");
    let t = Instant::now();
    let (code, out, err) = run(
        &[
            "doctor",
            "--sysroot",
            root.to_str().unwrap(),
            "--timeout-ms",
            "200",
            "--json",
        ],
        &st,
    );
    assert!(code == 0 || code == 1, "{code} {err}");
    assert!(out.contains("sysfs-timeout"), "{out}");
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
}

/// `--state-dir` is offered by the commands that keep state, and by no other.
#[test]
fn state_dir_is_shown_only_where_it_is_used() {
    let help = |args: &[&str]| cli().args(args).arg("--help").run().stdout;
    for c in [
        vec!["deploy", "plan"],
        vec!["deploy", "lib"],
        vec!["deploy", "tensile"],
        vec!["rollback"],
        vec!["history"],
        vec!["recover"],
        vec!["fix"],
        vec!["bench"],
        vec!["tune"],
        vec!["build"],
    ] {
        assert!(help(&c).contains("--state-dir"), "{c:?}");
    }
    for c in [
        vec!["doctor"],
        vec!["env"],
        vec!["run"],
        vec!["probe"],
        vec!["explain"],
        vec!["inspect"],
        vec!["report"],
        vec!["trust"],
        vec!["trace"],
        vec![],
    ] {
        assert!(!help(&c).contains("--state-dir"), "{c:?}");
    }
    // Before the command it still works (scripts written for the old global option).
    let d = tempfile::tempdir().unwrap();
    let sd = d.path().join("s");
    let (_, v): (_, HistoryReport) = cli()
        .args(["--state-dir", sd.to_str().unwrap(), "history", "--json"])
        .json();
    assert_eq!(v.state_dir, sd.display().to_string());
}
