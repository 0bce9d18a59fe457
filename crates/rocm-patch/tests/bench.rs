//! `rocm-patch bench` and `tune` with real torch from PyPI on the CPU (scripts/test.sh
//! installs it): the JSON shape, profile columns, injected crashes and hangs, the
//! history and --compare, tune rejecting a profile whose probe fails, and --write then
//! rollback restoring the config byte for byte.
#![cfg(feature = "real-data")]

mod common;

use common::input;
use std::path::Path;
use std::process::Command;

/// An isolated home: config, data and state directories of its own.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        let dir = tempfile::tempdir().unwrap();
        for d in ["config", "data", "state"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        Home { dir }
    }
    fn path(&self, p: &str) -> std::path::PathBuf {
        self.dir.path().join(p)
    }
    fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_rocm-patch"));
        c.env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_DATA_HOME", self.path("data"))
            .env("ROCM_PATCH_STATE_DIR", self.path("state"))
            .env_remove("MIOPEN_FIND_MODE")
            .current_dir(self.dir.path());
        c
    }
    /// Run with --json; exit code, the report, stderr.
    fn json(&self, args: &[&str]) -> (i32, serde_json::Value, String) {
        let o = self.cmd().args(args).arg("--json").output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        let v = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
            panic!(
                "bad JSON ({e}): {}\n{err}",
                String::from_utf8_lossy(&o.stdout)
            )
        });
        (o.status.code().unwrap(), v, err)
    }
}

fn py() -> String {
    input("RP_TORCH_PYTHON").display().to_string()
}

fn row<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v["benches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no benchmark {name} in {v:#}"))
}

#[test]
fn bench_reports_measurements_skips_and_history() {
    let h = Home::new();
    let (code, v, err) = h.json(&[
        "bench",
        "--python",
        &py(),
        "--only",
        "matmul_fp32_1024,copy_d2d",
        "--only",
        "copy_h2d_pinned",
        "--repeat",
        "3",
    ]);
    assert_eq!(code, 0, "{v:#}\n{err}");
    assert_eq!(v["schema"], 1);
    assert_eq!(v["device"], "cpu");
    assert_eq!(v["profiles"], serde_json::json!(["current"]));
    assert!(v["torch"].as_str().unwrap().starts_with('2'));
    let names: Vec<&str> = v["benches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["matmul_fp32_1024", "copy_d2d", "copy_h2d_pinned"]);
    let mm = &row(&v, "matmul_fp32_1024")["cells"][0];
    assert_eq!(mm["status"], "pass");
    let m = &mm["metrics"];
    assert_eq!(m["unit"], "TFLOP/s");
    assert_eq!(m["work"].as_f64().unwrap(), 2.0 * 1024f64.powi(3));
    assert_eq!(m["reps"], 3);
    assert_eq!(m["timer"], "perf_counter");
    let (lo, med, hi) = (
        m["min_ms"].as_f64().unwrap(),
        m["median_ms"].as_f64().unwrap(),
        m["max_ms"].as_f64().unwrap(),
    );
    assert!(0.0 < lo && lo <= med && med <= hi, "{m}");
    // The rate is the work over the median time.
    let rate = m["rate"].as_f64().unwrap();
    assert!((rate - 2.0 * 1024f64.powi(3) / (med / 1e3) / 1e12).abs() < 1e-6 * rate.max(1.0));
    // No GPU: no peak, no percentage; the CPU note.
    assert!(v["peak"].is_null() && mm["percent_of_peak"].is_null());
    assert!(v["device_note"].as_str().unwrap().contains("CPU"));
    assert_eq!(row(&v, "copy_d2d")["unit"], "GB/s");
    let pinned = &row(&v, "copy_h2d_pinned")["cells"][0];
    assert_eq!(pinned["status"], "skip");
    assert!(pinned["detail"].as_str().unwrap().contains("GPU path"));
    // Recorded for --compare.
    let hist = h.path("state/bench-history.jsonl");
    assert_eq!(v["history"], hist.display().to_string());
    let text = std::fs::read_to_string(&hist).unwrap();
    assert_eq!(text.lines().count(), 1);
    let e: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(e["device"], "cpu");
    assert_eq!(e["results"].as_array().unwrap().len(), 2, "{e}");

    // A second run compares with the first.
    let (code, v2, err) = h.json(&[
        "bench",
        "--python",
        &py(),
        "--only",
        "matmul_fp32_1024",
        "--repeat",
        "3",
        "--compare",
    ]);
    assert_eq!(code, 0, "{err}");
    let c = &v2["compare"];
    assert_eq!(c["since"], v["time"]);
    let ch = &c["changes"][0];
    assert_eq!(ch["name"], "matmul_fp32_1024");
    let (then, now) = (ch["then"].as_f64().unwrap(), ch["now"].as_f64().unwrap());
    assert_eq!(then, rate);
    let pct = ch["change_percent"].as_f64().unwrap();
    assert!((pct - (now / then - 1.0) * 100.0).abs() < 1e-9);
    assert!(ch["within_spread"].is_boolean());
    assert_eq!(ch["since"], v["time"]);
    assert_eq!(std::fs::read_to_string(&hist).unwrap().lines().count(), 2);
    // --no-history leaves the file alone.
    let (code, _, _) = h.json(&[
        "bench",
        "--python",
        &py(),
        "--only",
        "copy_d2d",
        "--repeat",
        "1",
        "--no-history",
    ]);
    assert_eq!(code, 0);
    assert_eq!(std::fs::read_to_string(&hist).unwrap().lines().count(), 2);
}

#[test]
fn profiles_are_columns_compared_with_the_first() {
    let h = Home::new();
    let (code, v, err) = h.json(&[
        "bench",
        "--python",
        &py(),
        "--only",
        "matmul_fp32_1024,copy_d2d",
        "--repeat",
        "3",
        "-p",
        "native",
        "-p",
        "safe",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["profiles"], serde_json::json!(["native", "safe"]));
    for r in v["benches"].as_array().unwrap() {
        let cells = r["cells"].as_array().unwrap();
        assert_eq!(cells.len(), 2);
        assert_eq!(cells[0]["profile"], "native");
        assert_eq!(cells[1]["profile"], "safe");
        let t0 = cells[0]["metrics"]["median_ms"].as_f64().unwrap();
        let t1 = cells[1]["metrics"]["median_ms"].as_f64().unwrap();
        assert!((cells[1]["time_ratio"].as_f64().unwrap() - t1 / t0).abs() < 1e-9);
        assert_eq!(cells[0]["time_ratio"], 1.0);
    }
    let g = v["geomean_ratio"].as_array().unwrap();
    assert_eq!(g[0], 1.0);
    assert!(g[1].as_f64().unwrap() > 0.0);
    // Two workers: one per profile.
    assert_eq!(v["workers_started"], 2);
    // The human table names both columns and says which is faster.
    let o = h
        .cmd()
        .args([
            "bench",
            "--python",
            &py(),
            "--only",
            "copy_d2d",
            "--repeat",
            "2",
        ])
        .args(["-p", "native", "-p", "safe", "--no-history"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("native") && text.contains("safe"), "{text}");
    assert!(
        text.contains("safe is ") && text.contains("than native (geometric mean)"),
        "{text}"
    );
}

const FAULTS: &str = r#"
import ctypes, time

def bench_a_crash(torch, device, h):
    ctypes.string_at(0)

def bench_b_hang(torch, device, h):
    time.sleep(3600)

def bench_c_after(torch, device, h):
    a = torch.ones(1 << 20, device=device)
    b = torch.empty_like(a)
    return h.measure(lambda: b.copy_(a), 8 << 20, "GB/s", "bandwidth")
"#;

#[test]
fn a_crash_or_hang_is_reported_and_the_run_goes_on() {
    let h = Home::new();
    let dir = h.path("benches");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("faults.py"), FAULTS).unwrap();
    let (code, v, err) = h.json(&[
        "bench",
        "--python",
        &py(),
        "--benches-dir",
        dir.to_str().unwrap(),
        "--only",
        "a_crash,b_hang,c_after",
        "--timeout",
        "8",
        "--repeat",
        "2",
    ]);
    assert_eq!(code, 1, "{v:#}\n{err}");
    let crash = &row(&v, "a_crash")["cells"][0];
    assert_eq!(crash["status"], "crash");
    assert_eq!(crash["signal"], "SIGSEGV");
    assert!(crash["stderr"]
        .as_str()
        .unwrap()
        .contains("Segmentation fault"));
    let hang = &row(&v, "b_hang")["cells"][0];
    assert_eq!(hang["status"], "timeout");
    let after = &row(&v, "c_after")["cells"][0];
    assert_eq!(after["status"], "pass", "{after}");
    assert!(after["metrics"]["rate"].as_f64().unwrap() > 0.0);
    // The crash and the hang each cost a worker.
    assert_eq!(v["workers_started"], 3);
}

#[test]
fn bad_input_is_named() {
    let h = Home::new();
    for (args, want) in [
        (vec!["--repeat", "0"], "--repeat 0"),
        (vec!["--timeout", "0"], "--timeout 0"),
        (vec!["--only", "nothing_like_this"], "nothing_like_this"),
        (vec!["-p", "no-such-profile"], "no-such-profile"),
    ] {
        let o = h
            .cmd()
            .args(["bench", "--python", &py()])
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    // --list needs no Python.
    let o = h.cmd().args(["bench", "--list"]).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("conv2d_fwd_fp16") && text.contains("ResNet-50"),
        "{text}"
    );
}

const USER_CONFIG: &str = "# my settings, kept byte for byte\n\n[profiles.broken]\nextends = \"native\"\ndescription = \"a profile whose probe fails\"\n[profiles.broken.vars]\nRP_TEST_BROKEN = \"1\"\n";

const PROBE: &str = r#"
import os

def probe_env_sane(torch, device):
    assert os.environ.get("RP_TEST_BROKEN") != "1", "broken by the profile"

def probe_once_wrong(torch, device):
    # Under the "flaky" profile: wrong the first time only.
    mark = os.environ.get("RP_TEST_FLAKY_MARK")
    if mark and not os.path.exists(mark):
        open(mark, "w").close()
        raise AssertionError("wrong once")
"#;

#[test]
fn tune_rejects_a_failing_profile_and_write_rolls_back() {
    let h = Home::new();
    let cfg = h.path("config/rocm-patch/config.toml");
    std::fs::create_dir_all(cfg.parent().unwrap()).unwrap();
    let user_config = format!(
        "{USER_CONFIG}\n[profiles.flaky]\nextends = \"native\"\n[profiles.flaky.vars]\nRP_TEST_FLAKY_MARK = {:?}\n",
        h.path("flaky.mark").display().to_string()
    );
    std::fs::write(&cfg, &user_config).unwrap();
    let probes = h.path("probes");
    std::fs::create_dir_all(&probes).unwrap();
    std::fs::write(probes.join("sane.py"), PROBE).unwrap();
    let (code, v, err) = h.json(&[
        "tune",
        "--python",
        &py(),
        "--probe-only",
        "device_init,matmul_fp32,env_sane,once_wrong",
        "--probes-dir",
        probes.to_str().unwrap(),
        "--only",
        "matmul_fp32_1024",
        "--repeat",
        "3",
        "--write",
    ]);
    assert_eq!(code, 0, "{v:#}\n{err}");
    let cands = v["candidates"].as_array().unwrap();
    let cand = |n: &str| {
        cands
            .iter()
            .find(|c| c["name"] == n)
            .unwrap_or_else(|| panic!("no candidate {n}: {v:#}"))
    };
    // The default profile is the baseline, tried first.
    assert_eq!(cands[0]["name"], "native");
    assert_eq!(cands[0]["geomean_ratio"], 1.0);
    let broken = cand("broken");
    assert_eq!(broken["correct"], false);
    assert_eq!(
        broken["failed_probes"][0],
        "env_sane (wrong): broken by the profile"
    );
    assert_eq!(
        broken["note"],
        "rejected: env_sane failed (again when run a second time)"
    );
    // A probe that fails once and then passes is named flaky, and still rejects.
    let flaky = cand("flaky");
    assert_eq!(flaky["correct"], false);
    assert_eq!(
        flaky["note"],
        "rejected: once_wrong failed, then passed when run again (flaky)"
    );
    assert!(broken["geomean_ratio"].is_null());
    // A dangerous profile is not tried unless named.
    assert!(cand("legacy-rdna1-override")["note"]
        .as_str()
        .unwrap()
        .starts_with("not tried"));
    for n in ["native", "safe", "debug"] {
        assert_eq!(cand(n)["correct"], true, "{n}");
        assert!(cand(n)["geomean_ratio"].as_f64().unwrap() > 0.0);
    }
    // The rejected profile is not benchmarked.
    let b = &v["bench"];
    assert!(!b["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p == "broken"));
    // No MIOpen on a CPU torch: no find-mode variants, and a note says so.
    assert!(!cands
        .iter()
        .any(|c| c["name"].as_str().unwrap().contains("MIOPEN_FIND_MODE")));
    assert!(v["notes"][0].as_str().unwrap().contains("not a ROCm build"));
    let best = v["best"].as_str().unwrap();
    let w = &v["written"];
    assert_eq!(w["profile"], best);
    assert_eq!(w["file"], cfg.display().to_string());
    let written = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        written.contains(&format!("profile = \"{best}\"")),
        "{written}"
    );
    assert!(written.contains("[profiles.broken]"), "{written}");
    // env now resolves that profile by default.
    let o = h.cmd().args(["env", "--json"]).output().unwrap();
    let e: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(e["profile"], best);
    // Rollback restores the config byte for byte.
    let o = h.cmd().args(["rollback", "--last"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(&cfg).unwrap(), user_config.as_bytes());
}

#[test]
fn tune_write_without_a_config_creates_it_and_rollback_removes_it() {
    let h = Home::new();
    let cfg = h.path("config/rocm-patch/config.toml");
    let (code, v, err) = h.json(&[
        "tune",
        "--python",
        &py(),
        "-p",
        "native",
        "-p",
        "safe",
        "--probe-only",
        "device_init",
        "--only",
        "copy_d2d",
        "--repeat",
        "2",
        "--write",
    ]);
    assert_eq!(code, 0, "{v:#}\n{err}");
    assert!(Path::new(&cfg).exists());
    let o = h.cmd().args(["rollback", "--last"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!cfg.exists());
}
