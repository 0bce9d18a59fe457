//! `fix` end to end on a synthesized RX 5600 XT: startup files that export the 10.3.0
//! override, a pytorch.org-like venv without gfx1010 code, and a package index served
//! by this test on 127.0.0.1 with TheRock's torch as AMD's wheel splitter makes it (host
//! wheel with `device-gfx*` extras and `== ` pins, device wheels with kpack archives of
//! real hipcc-built code: fixtures/kpack/wheels/fix*), real `rocm-bootstrap` from PyPI,
//! and `pip wheel` stand-ins for the rest, installed by real `pip` into a real venv.
#![cfg(feature = "real-data")]

mod common;

use common::machine::{rx5600xt, torch_venv, AmdGpu, Machine};
use common::*;
use rp_report::{
    DoctorReport, FindingBrief, FixAction, FixOutcome, FixReport, FixStepState, ProbeDevice,
};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const BASHRC: &str = "# ~/.bashrc\nalias ll='ls -l'\nexport HSA_OVERRIDE_GFX_VERSION=10.3.0\nexport PATH=\"$HOME/bin:$PATH\"\n";
/// A line fix must not touch: inside an `if`.
const GUARDED: &str = "if [ -d /opt/rocm ]; then\n  export HSA_OVERRIDE_GFX_VERSION=10.3.0\nfi\n";
const FISH: &str = "set -gx EDITOR vim\nset -gx HSA_OVERRIDE_GFX_VERSION 10.3.0\n";
const PYTORCH_ORG: &str =
    "__version__ = '2.5.1+rocm6.2'\ndebug = False\ncuda = None\nhip = '6.2.41133-dd7f95766'\n";

fn write(p: &Path, text: &str) {
    write_bytes(p, text.as_bytes());
}

fn write_bytes(p: &Path, data: &[u8]) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

// ---- a PEP 503 index on 127.0.0.1 -----------------------------------------------------

/// Serve `root` over HTTP/1.0 on 127.0.0.1 (a directory answers with its index.html);
/// returns the base URL. The thread lives as long as the test process.
fn serve(root: PathBuf) -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            let root = root.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(c.try_clone().unwrap());
                let mut first = String::new();
                if r.read_line(&mut first).is_err() {
                    return;
                }
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" || h == "\n" {
                        break;
                    }
                }
                let path = first.split_whitespace().nth(1).unwrap_or("/");
                let path = percent_decode(path.split('?').next().unwrap().trim_start_matches('/'));
                let path = path.as_str();
                let mut p = root.join(path);
                if p.is_dir() {
                    p = p.join("index.html");
                }
                let ok = !path.contains("..") && p.is_file();
                let body = if ok {
                    std::fs::read(&p).unwrap()
                } else {
                    b"not found".to_vec()
                };
                let ctype = if p.extension().is_some_and(|e| e == "html") {
                    "text/html"
                } else {
                    "application/octet-stream"
                };
                let head = format!(
                    "HTTP/1.0 {}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    if ok { "200 OK" } else { "404 Not Found" },
                    body.len()
                );
                let _ = c.write_all(head.as_bytes());
                let _ = c.write_all(&body);
            });
        }
    });
    format!("http://127.0.0.1:{port}")
}

/// An index that only counts the requests it gets (each answered 404): the URL and the
/// count.
fn trap() -> (String, &'static std::sync::atomic::AtomicUsize) {
    let hits: &'static std::sync::atomic::AtomicUsize =
        Box::leak(Box::new(std::sync::atomic::AtomicUsize::new(0)));
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = c.write_all(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        }
    });
    (format!("http://127.0.0.1:{port}/simple/"), hits)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One stand-in distribution: name, files (path in the wheel, content), extras.
struct Dist<'a> {
    name: &'a str,
    version: &'a str,
    files: Vec<(String, Vec<u8>)>,
    extras: Vec<(&'a str, Vec<String>)>,
}

/// Build a wheel with real `pip wheel` (setuptools, no build isolation) into `out`.
fn wheel(d: &Dist, work: &Path, out: &Path) {
    let src = work.join(format!("src-{}", d.name));
    let _ = std::fs::remove_dir_all(&src);
    let mut pkgs: Vec<String> = Vec::new();
    let mut data: Vec<(String, String)> = Vec::new();
    for (path, content) in &d.files {
        write_bytes(&src.join(path), content);
        let (top, rest) = path.split_once('/').unwrap();
        if !pkgs.contains(&top.to_string()) {
            pkgs.push(top.to_string());
        }
        data.push((top.to_string(), rest.to_string()));
    }
    let extras: Vec<String> = d
        .extras
        .iter()
        .map(|(k, v)| format!("{k:?}: {v:?}"))
        .collect();
    let package_data: Vec<String> = pkgs
        .iter()
        .map(|p| {
            let files: Vec<&String> = data
                .iter()
                .filter(|(t, _)| t == p)
                .map(|(_, r)| r)
                .collect();
            format!("{p:?}: {files:?}")
        })
        .collect();
    write(
        &src.join("setup.py"),
        &format!(
            "from setuptools import setup\nsetup(name={:?}, version={:?}, packages={pkgs:?}, package_data={{{}}}, extras_require={{{}}}, zip_safe=False)\n",
            d.name,
            d.version,
            package_data.join(", "),
            extras.join(", ")
        ),
    );
    let o = Command::new(input("RP_BUILD_PYTHON"))
        .args([
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-cache-dir",
            "-w",
        ])
        .arg(out)
        .arg(&src)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "pip wheel {}: {}",
        d.name,
        String::from_utf8_lossy(&o.stderr)
    );
}

/// PEP 503 pages for every wheel in `files`.
fn index_pages(root: &Path) {
    let files = root.join("files");
    let mut by: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for e in std::fs::read_dir(&files).unwrap() {
        let n = e.unwrap().file_name().to_string_lossy().into_owned();
        let dist = n
            .split('-')
            .next()
            .unwrap()
            .replace('_', "-")
            .to_lowercase();
        by.entry(dist).or_default().push(n);
    }
    let mut top = String::from("<!DOCTYPE html><html><body>\n");
    for (dist, wheels) in &by {
        top.push_str(&format!("<a href=\"{dist}/\">{dist}</a>\n"));
        let mut page = String::from("<!DOCTYPE html><html><body>\n");
        for w in wheels {
            page.push_str(&format!("<a href=\"../../files/{w}\">{w}</a>\n"));
        }
        write(
            &root.join(format!("simple/{dist}/index.html")),
            &(page + "</body></html>\n"),
        );
    }
    write(&root.join("simple/index.html"), &(top + "</body></html>\n"));
}

struct Indexes {
    /// TheRock-like: torch with device-gfx1010 and device-gfx1030 extras.
    good: String,
    /// Its torch declares only device-gfx1030.
    no_gfx1010: String,
}

/// Both indexes, built once per test process: torch and its device wheels exactly as
/// AMD's wheel splitter made them (fixtures/kpack/wheels/fix*, SOURCES.md there), real
/// `rocm-bootstrap` and `filelock` from PyPI, and stand-ins built with `pip wheel` for the
/// rest of what TheRock's extras pull in.
fn indexes() -> &'static Indexes {
    static I: OnceLock<Indexes> = OnceLock::new();
    I.get_or_init(|| {
        let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()))
            .path()
            .to_path_buf();
        let work = dir.join("work");
        let mut dists = Vec::new();
        for g in ["gfx1010", "gfx1030", "gfx90a"] {
            // What the device wheels require (`--device-requires-dist`).
            dists.push(Dist {
                name: Box::leak(format!("rocm-sdk-device-{g}").into_boxed_str()),
                version: "7.10.0",
                files: vec![(format!("_rocm_sdk_device_{g}/__init__.py"), b"".to_vec())],
                extras: vec![],
            });
            dists.push(Dist {
                name: Box::leak(format!("amd-torchvision-device-{g}").into_boxed_str()),
                version: "0.24.1",
                files: vec![(
                    format!("_amd_torchvision_device_{g}/__init__.py"),
                    b"".to_vec(),
                )],
                extras: vec![],
            });
        }
        dists.push(Dist {
            name: "torchvision",
            version: "0.24.1",
            files: vec![("torchvision/__init__.py".into(), b"".to_vec())],
            extras: vec![
                (
                    "device-gfx1010",
                    vec!["amd-torchvision-device-gfx1010".into()],
                ),
                (
                    "device-gfx1030",
                    vec!["amd-torchvision-device-gfx1030".into()],
                ),
            ],
        });
        dists.push(Dist {
            name: "torchaudio",
            version: "2.9.1",
            files: vec![("torchaudio/__init__.py".into(), b"".to_vec())],
            extras: vec![],
        });
        let good = dir.join("good");
        let bad = dir.join("no-gfx1010");
        for d in &dists {
            wheel(d, &work, &good.join("files"));
        }
        std::fs::create_dir_all(bad.join("files")).unwrap();
        for e in std::fs::read_dir(good.join("files")).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), bad.join("files").join(e.file_name())).unwrap();
        }
        // Real packages from PyPI that the genuine host wheel requires.
        let pypi: Vec<PathBuf> = std::fs::read_dir(input("RP_WHEELS"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let n = p.file_name().unwrap().to_string_lossy();
                n.starts_with("rocm_bootstrap-") || n.starts_with("filelock-")
            })
            .collect();
        assert_eq!(
            pypi.len(),
            2,
            "scripts/test.sh downloads rocm-bootstrap and filelock"
        );
        for (idx, split) in [(&good, "wheels/fix"), (&bad, "wheels/fix-no-gfx1010")] {
            let genuine = fixture(&format!("kpack/{split}"));
            for w in std::fs::read_dir(&genuine).unwrap().chain(
                pypi.iter()
                    .map(|p| p.parent().unwrap().to_path_buf())
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .flat_map(|d| std::fs::read_dir(d).unwrap()),
            ) {
                let p = w.unwrap().path();
                let n = p.file_name().unwrap().to_string_lossy().into_owned();
                let wanted = p.starts_with(&genuine) || pypi.contains(&p);
                if wanted && n.ends_with(".whl") {
                    std::fs::copy(&p, idx.join("files").join(&n)).unwrap();
                }
            }
        }
        index_pages(&good);
        index_pages(&bad);
        let base = serve(dir.clone());
        Indexes {
            good: format!("{base}/good/simple/"),
            no_gfx1010: format!("{base}/no-gfx1010/simple/"),
        }
    })
}

// ---- the machine ----------------------------------------------------------------------

struct Case {
    _dir: tempfile::TempDir,
    root: PathBuf,
    state: PathBuf,
    venv: PathBuf,
    old_venv: PathBuf,
}

fn case() -> Case {
    case_with(BASHRC)
}

fn case_with(bashrc: &str) -> Case {
    let dir = tempfile::tempdir().unwrap();
    let root = rx5600xt(&dir.path().join("root"));
    write(&root.join("home/bob/.bashrc"), bashrc);
    write(&root.join("home/bob/.config/fish/config.fish"), FISH);
    let old_venv = torch_venv(
        &root.join("home/bob/venvs/pt"),
        PYTORCH_ORG,
        &[("libtorch_hip.so", &fx("libtorch_like_no_gfx1010.so"))],
        None,
        &[],
    );
    Case {
        state: dir.path().join("state"),
        venv: dir.path().join("venvs/torch-gfx1010"),
        root,
        old_venv,
        _dir: dir,
    }
}

/// The host's real interpreter (not a shim, not a venv).
fn host_python() -> PathBuf {
    let o = Command::new("python3")
        .args(["-c", "import sys; print(sys._base_executable)"])
        .output()
        .unwrap();
    PathBuf::from(String::from_utf8(o.stdout).unwrap().trim())
}

impl Case {
    fn command(&self, index: &str, extra: &[&str]) -> Rp {
        cli()
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .current_dir(&self.root)
            .state_dir(&self.state)
            .args(["fix", "--user", "bob", "--sysroot"])
            .arg(&self.root)
            .arg("--python")
            .arg(&self.old_venv)
            .arg("--venv")
            .arg(&self.venv)
            .arg("--venv-python")
            .arg(host_python())
            .args(["--index-url", index])
            .args(extra)
    }

    fn fix(&self, index: &str, extra: &[&str]) -> (i32, FixReport, String) {
        let o = self.command(index, extra).arg("--json").run();
        let v = o.json();
        (o.code, v, o.stderr)
    }

    fn rp(&self, args: &[&str]) -> Output {
        cli().state_dir(&self.state).args(args).run()
    }
}

fn ids_of(v: &[FindingBrief]) -> Vec<String> {
    v.iter().map(|f| f.id.clone()).collect()
}

/// The first step of a plan that takes `action`.
fn step(v: &FixReport, action: FixAction) -> &rp_report::FixPlanStep {
    v.steps
        .iter()
        .find(|s| s.action == action)
        .unwrap_or_else(|| panic!("no {action} step in {v:#?}"))
}

// ---- tests ----------------------------------------------------------------------------

#[test]
fn rx5600xt_from_broken_to_working_and_back() {
    let c = case();
    let before = tree_snapshot(&c.root);
    // A global pip.conf (found through XDG_CONFIG_DIRS) with an extra index: fix's pip
    // must consult AMD's index alone (pip's `--isolated` still reads global files).
    let (extra, hits) = trap();
    let global = c.root.parent().unwrap().join("xdg");
    write(
        &global.join("pip/pip.conf"),
        &format!("[global]\nextra-index-url = {extra}\n"),
    );
    let o = c
        .command(&indexes().good, &["--yes", "--json"])
        .env("XDG_CONFIG_DIRS", &global)
        .run();
    let (code, v, err): (i32, FixReport, String) = (o.code, o.json(), o.stderr);
    assert_eq!(code, 0, "{v:#?}\n{err}");
    assert_eq!(v.outcome, FixOutcome::Fixed);
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "pip asked the global pip.conf's extra index"
    );
    let b = ids_of(&v.before);
    assert!(b.contains(&"override-in-startup-file".to_string()), "{b:?}");
    assert!(b.contains(&"torch-missing-target".to_string()), "{b:?}");
    assert!(v.remaining.is_empty(), "{v:#?}");
    let after = ids_of(v.after.as_ref().unwrap());
    assert!(
        !after
            .iter()
            .any(|i| i.starts_with("override") || i == "torch-missing-target"),
        "{after:?}"
    );
    // The old venv was not touched: its finding is superseded by the new venv, not fixed.
    assert!(
        v.superseded
            .iter()
            .any(|k| k.starts_with("torch-missing-target (") && k.contains("venvs/pt")),
        "{v:#?}"
    );
    assert!(!v.fixed.iter().any(|k| k.contains("venvs/pt")), "{v:#?}");
    // The startup files: each exporting line commented out and marked; the one inside
    // the `if` left alone and named.
    let tx = v.transaction.clone().unwrap();
    let bashrc = std::fs::read_to_string(c.root.join("home/bob/.bashrc")).unwrap();
    let marker = format!("# rocm-patch fix (transaction {tx};");
    assert!(
        bashrc.contains(&format!("{marker} `rocm-patch rollback {tx}` restores): export HSA_OVERRIDE_GFX_VERSION=10.3.0\nexport PATH")),
        "{bashrc}"
    );
    let fish = std::fs::read_to_string(c.root.join("home/bob/.config/fish/config.fish")).unwrap();
    assert!(
        fish.starts_with("set -gx EDITOR vim\n# rocm-patch fix"),
        "{fish}"
    );
    let first = &v.steps[0];
    assert_eq!(first.action, FixAction::CommentStartupLines);
    assert_eq!(first.state, FixStepState::Done);
    // (`untouched` is left out of the JSON when empty.)
    assert!(first.untouched.is_empty(), "{first:?}");
    // The venv: device packages and gfx1010 code, verified.
    let venv_step = step(&v, FixAction::NativeVenv);
    assert_eq!(venv_step.state, FixStepState::Done, "{venv_step:?}");
    assert_eq!(v.venv, Some(c.venv.display().to_string()));
    let sp = std::fs::read_dir(c.venv.join("lib"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("site-packages");
    // AMD's layout: `{group}_{arch}.kpack` beside the host libraries' package.
    assert!(sp.join("torch/.kpack/torch_gfx1010.kpack").is_file());
    assert!(!sp.join("torch/.kpack/torch_gfx1030.kpack").exists());
    assert!(
        sp.join("rocm_bootstrap").is_dir(),
        "the host wheel's rocm-bootstrap"
    );
    // The probe says plainly that it did not run, and why.
    let p = v.probe.as_ref().unwrap();
    assert!(!p.ran, "{p:?}");
    assert!(p.note.as_deref().unwrap().contains("--sysroot"), "{p:?}");
    assert!(v.next[0].starts_with("rocm-patch run --venv"));
    // Doctor on the new venv agrees: gfx1010 code from the kpack archives.
    let (_, dv): (_, DoctorReport) = cli()
        .env_clear()
        .args(["doctor", "--json", "--user", "bob", "--sysroot"])
        .arg(&c.root)
        .arg("--python")
        .arg(&c.venv)
        .json();
    assert_eq!(dv.python[0].torch.as_ref().unwrap().targets, ["gfx1010"]);
    // history shows it as fix; rollback --last undoes all of it.
    let h = c.rp(&["history"]);
    assert!(h.stdout.contains(" fix "), "{h:?}");
    let r = c.rp(&["rollback", "--last"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        tree_snapshot(&c.root),
        before,
        "the tree is not restored byte for byte"
    );
    assert!(!c.venv.exists(), "rollback left the venv");
}

/// The human report, as README's "Fix it" shows it (written to the target directory
/// with the temporary paths replaced).
#[test]
fn human_report() {
    let c = case();
    let o = c.command(&indexes().good, &["--yes"]).run();
    let text = o.stdout;
    assert_eq!(o.code, 0, "{text}");
    for want in [
        "Plan for ",
        "1. Stop exporting the override from your startup files  [comment-startup-lines]",
        "change: /home/bob/.bashrc:3 sets HSA_OVERRIDE_GFX_VERSION=10.3.0",
        "state: done",
        "Transaction 1: `rocm-patch rollback 1` (or `rollback --last`) undoes this fix.",
        "fixed: override-in-startup-file (/home/bob/.bashrc:3)",
        "remaining: none",
        "Probe: not run: the GPU is in the --sysroot tree",
        "rocm-patch run --venv ",
        "Result: fixed.",
    ] {
        assert!(text.contains(want), "{want:?} missing:\n{text}");
    }
    let base = c.root.parent().unwrap().display().to_string();
    let shown = text
        .replace(&base, "/tmp/demo")
        .replace(&host_python().display().to_string(), "/usr/bin/python3.12");
    let shown = regex_port(&shown);
    std::fs::write(
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("fix-rx5600xt.txt"),
        shown,
    )
    .unwrap();
}

/// The index's port varies from run to run.
fn regex_port(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("127.0.0.1:") {
        out.push_str(&rest[..i + 10]);
        rest = &rest[i + 10..];
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        out.push_str("8000");
        rest = &rest[digits..];
    }
    out + rest
}

#[test]
fn dry_run_changes_nothing() {
    let c = case_with(&format!("{BASHRC}{GUARDED}"));
    let before = tree_snapshot(&c.root);
    let (code, v, _) = c.fix(&indexes().good, &["--dry-run"]);
    assert_eq!(code, 1, "{v:#?}");
    assert_eq!(v.outcome, FixOutcome::DryRun);
    assert!(v.steps.len() >= 2, "{v:#?}");
    assert!(v
        .steps
        .iter()
        .all(|s| s.state == FixStepState::Planned || s.state == FixStepState::Printed));
    // The guarded line is named, not touched.
    let u = &v.steps[0].untouched[0];
    assert!(
        u.contains("/home/bob/.bashrc:6") && u.contains("inside a block"),
        "{u}"
    );
    assert_eq!(tree_snapshot(&c.root), before);
    assert!(!c.venv.exists() && !c.state.exists());
}

#[test]
fn without_a_terminal_and_yes_nothing_is_changed() {
    let c = case();
    let before = tree_snapshot(&c.root);
    let (code, v, _) = c.fix(&indexes().good, &[]);
    assert_eq!(code, 2, "{v:#?}");
    assert_eq!(v.outcome, FixOutcome::Declined);
    assert!(v.error.as_deref().unwrap().contains("--yes"));
    assert_eq!(tree_snapshot(&c.root), before);
    assert!(!c.venv.exists());
}

#[test]
fn an_index_without_the_device_extra_rolls_everything_back() {
    let c = case();
    let before = tree_snapshot(&c.root);
    let (code, v, err) = c.fix(&indexes().no_gfx1010, &["--yes"]);
    assert_eq!(code, 3, "{v:#?}\n{err}");
    assert_eq!(v.outcome, FixOutcome::RolledBack);
    let s = step(&v, FixAction::NativeVenv);
    assert_eq!(s.state, FixStepState::Failed);
    let d = s.detail.as_deref().unwrap();
    assert!(
        d.contains("pip exited 0") && d.contains("amd-torch-device-gfx1010"),
        "{d}"
    );
    assert_eq!(tree_snapshot(&c.root), before, "startup files not restored");
    assert!(!c.venv.exists(), "the venv was left behind");
    assert!(
        !c.venv.parent().unwrap().exists(),
        "the venv's parent directory, made for it, was left behind"
    );
}

#[test]
fn killed_during_the_file_edits_recover_restores_them() {
    let c = case();
    let before = tree_snapshot(&c.root);
    let o = cli()
        .env_clear()
        .env("ROCM_PATCH_FAULT_AFTER_OPS", "1")
        .state_dir(&c.state)
        .args([
            "fix",
            "override-in-startup-file",
            "--yes",
            "--user",
            "bob",
            "--sysroot",
        ])
        .arg(&c.root)
        .run();
    assert!(o.signal.is_some(), "the fault hook did not fire: {o:?}");
    // Half-changed: the first file edited, the second not.
    assert_ne!(tree_snapshot(&c.root), before);
    let r = c.rp(&["recover"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(tree_snapshot(&c.root), before);
}

#[test]
fn a_cpu_probe_is_part_of_the_report_and_never_a_gpu_pass() {
    let c = case();
    let (code, v, err) = c.fix(
        &indexes().good,
        &[
            "override-in-startup-file",
            "--yes",
            "--probe-python",
            input("RP_TORCH_PYTHON").to_str().unwrap(),
        ],
    );
    let p = v.probe.as_ref().unwrap();
    assert!(p.ran, "{v:#?}\n{err}");
    assert_eq!(p.device, Some(ProbeDevice::Cpu));
    assert!(p.total >= 40, "{p:?}");
    assert!(!p.gpu_verified);
    let note = p.note.as_deref().unwrap();
    assert!(
        note.contains("ran on the CPU") && note.contains("gfx1010"),
        "{p:?}"
    );
    // The override is fixed, torch-missing-target remains (not asked for), and a CPU
    // run verifies no GPU: exit 1.
    assert_eq!(code, 1, "{v:#?}");
    assert_eq!(v.outcome, FixOutcome::Incomplete);
}

#[test]
fn groups_are_added_and_removed_exactly() {
    let d = tempfile::tempdir().unwrap();
    // alice is in video, not in render; /dev/kfd is render's, 0660.
    let root = Machine::new(&d.path().join("root"))
        .cpu_node(0, 8)
        .amd_gpu(&AmdGpu::rx5600xt(1, 0x03))
        .driver_ok()
        .finish();
    let group_before = std::fs::read_to_string(root.join("etc/group")).unwrap();
    let tree_before = tree_snapshot(&root);
    let state = d.path().join("state");
    let run = |args: &[&str]| {
        cli()
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .state_dir(&state)
            .args(args)
            .run()
    };
    let r = root.to_str().unwrap();
    let o = run(&[
        "fix",
        "kfd-inaccessible",
        "--user",
        "alice",
        "--sysroot",
        r,
        "--system",
        "--yes",
        "--json",
    ]);
    let v: FixReport = o.json();
    let step = &v.steps[0];
    assert_eq!(step.action, FixAction::AddGroups, "{v:#?}");
    assert!(step.relogin);
    if rp_sys::os::euid() != 0 {
        // Without root the step is printed, with the exact command.
        assert_eq!(step.state, FixStepState::Printed);
        assert_eq!(step.commands[0], "sudo usermod -aG render alice");
        return;
    }
    assert_eq!(o.code, 0, "{v:#?}");
    assert_eq!(step.state, FixStepState::Done);
    let g = std::fs::read_to_string(root.join("etc/group")).unwrap();
    assert!(
        g.lines()
            .any(|l| l.starts_with("render:") && l.ends_with("bob,alice")),
        "{g}"
    );
    assert!(v.remaining.is_empty(), "{v:#?}");
    let rb = run(&["rollback", "--last"]);
    assert_eq!(rb.code, 0, "{rb:?}");
    assert_eq!(
        std::fs::read_to_string(root.join("etc/group")).unwrap(),
        group_before
    );
    // usermod's `etc/group-` and `etc/gshadow-` backups are not left behind.
    assert_eq!(
        tree_snapshot(&root),
        tree_before,
        "the tree is not as it was"
    );
}

#[test]
fn run_venv_puts_the_venv_first() {
    let d = tempfile::tempdir().unwrap();
    let venv = d.path().join("v");
    let o = Command::new(host_python())
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .output()
        .unwrap();
    assert!(o.status.success());
    let out = cli()
        .env("PATH", "/usr/bin:/bin")
        .args(["run", "--venv"])
        .arg(&venv)
        .args([
            "--",
            "python",
            "-c",
            "import os, sys; print(sys.prefix); print(os.environ['VIRTUAL_ENV'])",
        ])
        .run();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{out:?}");
    assert_eq!(lines[0], venv.display().to_string());
    assert_eq!(lines[1], venv.display().to_string());
    let bad = cli()
        .args(["run", "--venv", "/nonexistent", "--", "true"])
        .run();
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("/nonexistent"));
}

/// Without --system, a group change is printed with the exact command: nothing changes,
/// the error stays (exit 1), and no state directory is made.
#[test]
fn what_needs_root_is_printed_not_changed() {
    let d = tempfile::tempdir().unwrap();
    let root = Machine::new(&d.path().join("root"))
        .cpu_node(0, 8)
        .amd_gpu(&AmdGpu::rx5600xt(1, 0x03))
        .driver_ok()
        .finish();
    let before = tree_snapshot(&root);
    let state = d.path().join("state");
    let o = cli()
        .env_clear()
        .state_dir(&state)
        .args([
            "fix",
            "kfd-inaccessible",
            "--user",
            "alice",
            "--json",
            "--yes",
            "--sysroot",
        ])
        .arg(&root)
        .run();
    let v: FixReport = o.json();
    assert_eq!(o.code, 1, "{v:#?}");
    let s = &v.steps[0];
    assert_eq!(s.action, FixAction::AddGroups, "{v:#?}");
    assert_eq!(s.state, FixStepState::Printed);
    assert_eq!(s.commands[0], "sudo usermod -aG render alice");
    assert!(s.detail.as_deref().unwrap().contains("--system"), "{s:?}");
    assert_eq!(v.outcome, FixOutcome::Incomplete);
    assert_eq!(v.remaining[0], "kfd-inaccessible (/dev/kfd)");
    assert_eq!(tree_snapshot(&root), before);
    assert!(!state.exists());
}

/// Issue 29's bar for startup files: a `.bashrc` holding every shape of the override —
/// a continued export, a multi-line quoted string and a here-document that only mention
/// it, `declare -x`, `typeset -x`, and a multi-assignment export — comes out of `fix`
/// parseable (`bash -n`), with the override gone when bash reads the file, and with
/// everything else as it was (the other assignments kept, the string and the
/// here-document untouched, every other line byte for byte).
#[test]
fn every_bashrc_shape_comes_out_parseable_with_the_override_gone() {
    const SHAPES: &str = "# ~/.bashrc\n\
alias ll='ls -l'\n\
export HSA_OVERRIDE_GFX_VERSION=10.3.0 \\\n  KEEP_CONT=yes\n\
MSG=\"first line\nexport HSA_OVERRIDE_GFX_VERSION=10.3.0\nlast line\"\n\
cat >/dev/null <<'EOF'\nexport HSA_OVERRIDE_GFX_VERSION=10.3.0\nEOF\n\
declare -x HSA_OVERRIDE_GFX_VERSION=10.3.0\n\
typeset -x HSA_OVERRIDE_GFX_VERSION=10.3.0\n\
export KEEP_A=1 HSA_OVERRIDE_GFX_VERSION=10.3.0 KEEP_B=2\n\
export PATH=\"$HOME/bin:$PATH\"\n";
    let c = case_with(SHAPES);
    let home = c.root.join("home/bob");
    let read_back = |file: &Path| {
        let o = Command::new("bash")
            .env_clear()
            .env("HOME", &home)
            .env("PATH", "/usr/bin:/bin")
            .args(["--norc", "--noprofile", "-c"])
            .arg(". \"$1\"; printf '%s|%s|%s|%s|%s' \"${HSA_OVERRIDE_GFX_VERSION-unset}\" \"$KEEP_CONT\" \"$KEEP_A\" \"$KEEP_B\" \"$MSG\"")
            .arg("bash")
            .arg(file)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let msg = "first line\nexport HSA_OVERRIDE_GFX_VERSION=10.3.0\nlast line";
    // Before: bash sees the override.
    assert_eq!(
        read_back(&home.join(".bashrc")),
        format!("10.3.0|yes|1|2|{msg}")
    );
    let (code, v, err) = c.fix(&indexes().good, &["--yes"]);
    let after = std::fs::read_to_string(home.join(".bashrc")).unwrap();
    assert_eq!(code, 0, "{err}\n{after}\n{v:#?}");
    assert_eq!(v.outcome, FixOutcome::Fixed, "{v:#?}");
    let step = &v.steps[0];
    assert_eq!(step.action, FixAction::CommentStartupLines, "{v:#?}");
    assert_eq!(step.state, FixStepState::Done, "{v:#?}");
    // The here-document's line is named (text, not a command) and left as it is.
    assert!(
        step.untouched
            .first()
            .is_some_and(|u| u.ends_with("inside a here-document (text, not a command)")),
        "{step:#?}"
    );
    let o = Command::new("bash")
        .arg("-n")
        .arg(home.join(".bashrc"))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "bash -n: {}\n{after}",
        String::from_utf8_lossy(&o.stderr)
    );
    // After: the override is gone, everything else bash sets is the same.
    assert_eq!(
        read_back(&home.join(".bashrc")),
        format!("unset|yes|1|2|{msg}"),
        "{after}"
    );
    // Every original line that is not an edited command is there, in order, byte for
    // byte (edited commands are kept as marked comments, their other assignments
    // follow them).
    let edited = [
        "export HSA_OVERRIDE_GFX_VERSION=10.3.0 \\",
        "  KEEP_CONT=yes",
        "declare -x HSA_OVERRIDE_GFX_VERSION=10.3.0",
        "typeset -x HSA_OVERRIDE_GFX_VERSION=10.3.0",
        "export KEEP_A=1 HSA_OVERRIDE_GFX_VERSION=10.3.0 KEEP_B=2",
    ];
    let mut out_lines = after.lines();
    for l in SHAPES.lines().filter(|l| !edited.contains(l)) {
        assert!(
            out_lines.any(|o| o == l),
            "{l:?} missing or out of order in:\n{after}"
        );
    }
    // The string's and the here-document's lines are not commented.
    assert_eq!(
        after
            .lines()
            .filter(|l| *l == "export HSA_OVERRIDE_GFX_VERSION=10.3.0")
            .count(),
        2,
        "{after}"
    );
    // Rolled back, the file is the original, byte for byte.
    let tx = v.transaction.as_deref().unwrap();
    let o = c.rp(&["rollback", tx]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(
        std::fs::read_to_string(home.join(".bashrc")).unwrap(),
        SHAPES
    );
}
