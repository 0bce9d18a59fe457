//! `rocm-patch probe` with real torch from PyPI on the CPU (scripts/test.sh installs it):
//! the full matrix, fault injection through --probes-dir, the interface and the errors.
#![cfg(feature = "real-data")]

mod common;

use common::{cli, input};
use rp_report::{ProbeDevice, ProbeList, ProbeReport, ProbeResult, ProbeStatus};
use std::path::Path;

fn probe(args: &[&str], env: &[(&str, &str)]) -> (i32, ProbeReport, String) {
    let o = cli()
        .arg("probe")
        .arg("--json")
        .arg("--python")
        .arg(input("RP_TORCH_PYTHON"))
        .args(args)
        .envs(env.iter().copied())
        .run();
    let v = o.json();
    (o.code, v, o.stderr)
}

fn result<'a>(v: &'a ProbeReport, name: &str) -> &'a ProbeResult {
    v.probes
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no probe {name}"))
}

const FAULTS: &str = r#"
import ctypes, os, subprocess, time

def probe_segfault(torch, device):
    ctypes.string_at(0)

def probe_abort(torch, device):
    os.abort()

def probe_hang(torch, device):
    # A child in the probe's process group must die with it.
    p = subprocess.Popen(["sleep", "3600"])
    with open(os.environ["RP_TEST_PIDFILE"], "w") as f:
        f.write(str(p.pid))
    time.sleep(3600)

def probe_wrong_value(torch, device):
    got = torch.ones(3, device=device).sum().item()
    assert got == 4.0, f"sum of ones(3) is {got}, expected 4"

def probe_raises(torch, device):
    raise ValueError("boom")

def probe_env(torch, device):
    return os.environ.get("AMD_SERIALIZE_KERNEL", "unset")
"#;

#[test]
fn full_matrix_with_injected_faults() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("faults.py"), FAULTS).unwrap();
    std::fs::write(d.path().join("notes.txt"), "not a probe file").unwrap();
    let pidfile = d.path().join("hang.pid");
    let t = std::time::Instant::now();
    // The whole matrix with a generous timeout (a loaded CI box is slow); the hang is
    // excluded here and tested with a short timeout below.
    let (code, v, _) = probe(
        &[
            "--device",
            "cpu",
            "--timeout",
            "300",
            "--probes-dir",
            d.path().to_str().unwrap(),
            "--only",
            "[!h]*",
        ],
        &[],
    );
    let wall = t.elapsed();
    assert_eq!(code, 1);
    assert_eq!(v.schema, 1);
    assert_eq!(v.device, ProbeDevice::Cpu);
    assert!(v.torch.starts_with('2'), "{}", v.torch);
    assert!(!v.python.is_empty());
    // Every built-in probe passes on the CPU, except the fp16 GPU paths (skip); each
    // carries its group and library path from the knowledge base.
    let gpu_only = ["conv2d_fp16", "batchnorm_train_fp16"];
    let builtin: Vec<&str> = rp_kb::kb()
        .probes()
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert!(builtin.len() >= 55, "{}", builtin.len());
    for name in builtin.iter().filter(|n| !gpu_only.contains(n)) {
        assert_eq!(
            result(&v, name).status,
            ProbeStatus::Pass,
            "{name}: {:?}",
            result(&v, name)
        );
        assert!(result(&v, name).exercises.is_some(), "{name}");
    }
    assert_eq!(
        result(&v, "lstm_fwd_bwd").group.as_deref(),
        Some("rdna1-known")
    );
    assert!(result(&v, "int8_matmul")
        .remedy
        .as_deref()
        .unwrap()
        .contains("float matmul is unaffected"));
    assert!(result(&v, "segfault").group.is_none());
    assert_eq!(result(&v, "conv2d_fp16").status, ProbeStatus::Skip);
    assert!(result(&v, "train_cnn")
        .detail
        .as_deref()
        .unwrap()
        .contains("->"));
    // Each fault, classified and attributed to its own probe.
    let seg = result(&v, "segfault");
    assert_eq!(seg.status, ProbeStatus::Crash);
    assert_eq!(seg.signal.as_deref(), Some("SIGSEGV"));
    let seg_err = seg.stderr.as_deref().unwrap();
    assert!(seg_err.contains("Segmentation fault"), "{seg:?}");
    assert!(seg_err.contains("probe_segfault"));
    let ab = result(&v, "abort");
    assert_eq!(ab.status, ProbeStatus::Crash);
    assert_eq!(ab.signal.as_deref(), Some("SIGABRT"));
    assert!(ab.stderr.as_deref().unwrap().contains("probe_abort"));
    let w = result(&v, "wrong_value");
    assert_eq!(w.status, ProbeStatus::Wrong);
    assert_eq!(
        w.detail.as_deref(),
        Some("sum of ones(3) is 3.0, expected 4")
    );
    let e = result(&v, "raises");
    assert_eq!(e.status, ProbeStatus::Error);
    assert_eq!(e.detail.as_deref(), Some("ValueError: boom"));
    assert!(e.stderr.as_deref().unwrap().contains("Traceback"));
    assert_eq!(result(&v, "env").detail.as_deref(), Some("unset"));
    // Two deaths, two restarts; torch was not imported per probe.
    assert_eq!(v.workers_started, 3);
    assert_eq!(v.probes.len(), builtin.len() + 5);
    // A hang: killed after its timeout, with the child it started (same process group),
    // and the next probe still runs.
    let (code, v, _) = probe(
        &[
            "--device",
            "cpu",
            "--timeout",
            "3",
            "--probes-dir",
            d.path().to_str().unwrap(),
            "--only",
            "{hang,raises}",
        ],
        &[("RP_TEST_PIDFILE", pidfile.to_str().unwrap())],
    );
    assert_eq!(code, 1);
    let hang = result(&v, "hang");
    assert_eq!(hang.status, ProbeStatus::Timeout);
    assert!(hang.seconds >= 3.0);
    assert_eq!(result(&v, "raises").status, ProbeStatus::Error);
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap()
                .contains(") Z "),
        "sleep {pid} survived"
    );
    // Three torch imports after the faults plus the 8 s hang: well under a minute here.
    assert!(wall.as_secs() < 600, "{wall:?}");
}

#[test]
fn only_glob_profile_and_human_output() {
    let (code, v, _) = probe(&["--device", "cpu", "--only", "matmul_*"], &[]);
    assert_eq!(code, 0);
    let names: Vec<&str> = v.probes.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["matmul_fp32", "matmul_fp16", "matmul_bf16"]);
    // Groups, names and lists: repeatable and comma-separated.
    let (code, v, _) = probe(
        &[
            "--device",
            "cpu",
            "--only",
            "workloads",
            "--only",
            "unique,nonzero",
        ],
        &[],
    );
    assert_eq!(code, 0);
    let names: Vec<&str> = v.probes.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "nonzero",
            "train_cnn",
            "unique",
            "unet_block",
            "transformer_decode"
        ]
    );
    // --list needs no Python: the table of the knowledge base.
    let (code, l): (_, ProbeList) = cli()
        .args(["probe", "--list", "--json", "--python", "/nonexistent"])
        .json();
    assert_eq!(code, 0);
    assert_eq!(l.schema, 1);
    let lstm = l.probes.iter().find(|p| p.name == "lstm_fwd_bwd").unwrap();
    assert_eq!(lstm.group, "rdna1-known");
    assert!(lstm.exercises.contains("MIOpen RNN"));
    // --profile applies a profile's environment to the worker.
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("faults.py"), FAULTS).unwrap();
    let (code, v, _) = probe(
        &[
            "--device",
            "cpu",
            "--only",
            "env",
            "--profile",
            "debug",
            "--probes-dir",
            d.path().to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 0);
    assert_eq!(v.profile.as_deref(), Some("debug"));
    assert_eq!(result(&v, "env").detail.as_deref(), Some("3"));
    // Human output: a row per probe and a summary.
    let o = cli()
        .args(["probe", "--device", "cpu", "--only", "sort", "--python"])
        .arg(input("RP_TORCH_PYTHON"))
        .run();
    let out = &o.stdout;
    assert!(out.starts_with("PROBE"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("sort") && l.contains("pass")),
        "{out}"
    );
    assert!(out.contains("1 probe: 1 pass"), "{out}");
}

#[test]
fn tool_errors() {
    // No torch in that Python: exit 2, saying so.
    let o = cli()
        .args(["probe", "--python"])
        .arg(input("RP_NO_TORCH_PYTHON"))
        .run();
    assert_eq!(o.code, 2);
    let err = &o.stderr;
    assert!(err.contains("cannot import torch"), "{err}");
    // No such interpreter.
    let o = cli()
        .args(["probe", "--python", "/nonexistent/python3"])
        .run();
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("/nonexistent/python3"));
    // A glob that matches nothing lists the probes.
    let o = cli()
        .args(["probe", "--only", "nothing*", "--python"])
        .arg(input("RP_TORCH_PYTHON"))
        .run();
    assert_eq!(o.code, 2);
    let err = &o.stderr;
    assert!(
        err.contains("matches no probe") && err.contains("train_cnn"),
        "{err}"
    );
    // The CUDA device on a machine without one: device_init errors, the rest are skipped.
    let (code, v, _) = probe(&["--device", "cuda", "--only", "*_init"], &[]);
    if v.probes[0].status != ProbeStatus::Pass {
        assert_eq!(code, 1);
        assert_eq!(v.probes[0].status, ProbeStatus::Error);
    }
}

/// Issue 13's reproducers: an absurd --timeout is an error, a venv directory is taken
/// as --python, a GPU run that lands on the CPU says so, and three hangs in a row stop
/// the run instead of costing --timeout for every remaining probe.
#[test]
fn bounds_directories_and_hangs() {
    let o = cli()
        .args(["probe", "--timeout", "1e20", "--python", "/bin/false"])
        .run();
    assert_eq!(o.code, 2);
    let err = &o.stderr;
    assert!(
        err.starts_with("rocm-patch: error: --timeout ") && err.contains("at most 86400"),
        "{err}"
    );
    // The venv directory instead of its interpreter; --only takes comma-separated names.
    let venv = input("RP_TORCH_PYTHON")
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let o = cli()
        .args([
            "probe",
            "--json",
            "--only",
            "device_init,alloc_small",
            "--python",
        ])
        .arg(&venv)
        .run();
    let v: ProbeReport = o.json();
    assert_eq!(v.probes.len(), 2, "{v:#?}");
    assert_eq!(v.device, ProbeDevice::Cpu);
    // This machine has no GPU: the CPU result is labelled, and not a failure.
    assert_eq!(o.code, 0, "{v:#?}");
    assert!(v
        .device_note
        .as_deref()
        .unwrap()
        .contains("the CPU was tested"));
    assert!(!v.gpu_not_seen);
    // --device cuda without a GPU: a failure that says why.
    // (This machine has none: the run must fail, whatever device torch reports.)
    let (code, v, _) = probe(&["--device", "cuda", "--only", "alloc_small"], &[]);
    assert_eq!(code, 1, "{v:#?}");
    assert!(v.gpu_not_seen, "{v:#?}");
    assert!(
        v.device_note.as_deref().unwrap().contains("sees no GPU"),
        "{v:#?}"
    );
    // Four probes that hang: three time out, the fourth is not waited for.
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("hangs.py"),
        "import time\n\ndef probe_hang_a(torch, device):\n    time.sleep(600)\n\ndef probe_hang_b(torch, device):\n    time.sleep(600)\n\ndef probe_hang_c(torch, device):\n    time.sleep(600)\n\ndef probe_hang_d(torch, device):\n    time.sleep(600)\n",
    )
    .unwrap();
    let t = std::time::Instant::now();
    let (code, v, _) = probe(
        &[
            "--probes-dir",
            d.path().to_str().unwrap(),
            "--only",
            "hang_*",
            "--timeout",
            "1",
        ],
        &[],
    );
    assert_eq!(code, 1);
    let st: Vec<ProbeStatus> = v.probes.iter().map(|p| p.status).collect();
    assert_eq!(
        st,
        [
            ProbeStatus::Timeout,
            ProbeStatus::Timeout,
            ProbeStatus::Timeout,
            ProbeStatus::Skip
        ],
        "{v:#?}"
    );
    assert!(result(&v, "hang_d")
        .detail
        .as_deref()
        .unwrap()
        .contains("3 probes in a row hung"));
    assert!(
        t.elapsed() < std::time::Duration::from_secs(60),
        "{:?}",
        t.elapsed()
    );
}
