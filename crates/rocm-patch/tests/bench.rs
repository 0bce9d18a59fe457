//! `rocm-patch bench` and `tune` with real torch from PyPI on the CPU (scripts/test.sh
//! installs it): the JSON shape, profile columns, injected crashes and hangs, the
//! history and --compare, tune rejecting a profile whose probe fails, and --write then
//! rollback restoring the config byte for byte.
#![cfg(feature = "real-data")]

mod common;

use common::{cli, input, Home, Rp};
use rp_report::{
    BenchCell, BenchReport, BenchTimer, EnvReport, ProbeDevice, ProbeStatus, RateUnit, TuneReport,
};
use serde::de::DeserializeOwned;
use std::path::Path;

/// The binary in the isolated home (the kit's `Home`: config, data and state of its own).
fn cmd(h: &Home) -> Rp {
    cli().home(h)
}

/// Run with --json; exit code, the report, stderr.
fn json<T: DeserializeOwned>(h: &Home, args: &[&str]) -> (i32, T, String) {
    let o = cmd(h).args(args).arg("--json").run();
    let v = o.json();
    (o.code, v, o.stderr)
}

fn py() -> String {
    input("RP_TORCH_PYTHON").display().to_string()
}

fn row<'a>(v: &'a BenchReport, name: &str) -> &'a rp_report::BenchRow {
    v.benches
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no benchmark {name} in {v:#?}"))
}

/// The first cell of a benchmark's row.
fn cell<'a>(v: &'a BenchReport, name: &str) -> &'a BenchCell {
    &row(v, name).cells[0]
}

#[test]
fn bench_reports_measurements_skips_and_history() {
    let h = Home::new();
    let (code, v, err) = json::<BenchReport>(
        &h,
        &[
            "bench",
            "--python",
            &py(),
            "--only",
            "matmul_fp32_1024,copy_d2d",
            "--only",
            "copy_h2d_pinned",
            "--repeat",
            "3",
        ],
    );
    assert_eq!(code, 0, "{v:#?}\n{err}");
    assert_eq!(v.schema, 1);
    assert_eq!(v.device, ProbeDevice::Cpu);
    assert_eq!(v.profiles, ["current"]);
    assert!(v.torch.starts_with('2'));
    let names: Vec<&str> = v.benches.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["matmul_fp32_1024", "copy_d2d", "copy_h2d_pinned"]);
    let mm = cell(&v, "matmul_fp32_1024");
    assert_eq!(mm.status, ProbeStatus::Pass);
    let m = mm.metrics.as_ref().unwrap();
    assert_eq!(m.unit, RateUnit::TflopPerS);
    assert_eq!(m.work, 2.0 * 1024f64.powi(3));
    assert_eq!(m.reps, 3);
    assert_eq!(m.timer, BenchTimer::PerfCounter);
    let (lo, med, hi) = (m.min_ms, m.median_ms, m.max_ms);
    assert!(0.0 < lo && lo <= med && med <= hi, "{m:?}");
    // The rate is the work over the median time.
    let rate = m.rate.unwrap();
    assert!((rate - 2.0 * 1024f64.powi(3) / (med / 1e3) / 1e12).abs() < 1e-6 * rate.max(1.0));
    // No GPU: no peak, no percentage; the CPU note.
    assert!(v.peak.is_none() && mm.percent_of_peak.is_none());
    assert!(v.device_note.as_deref().unwrap().contains("CPU"));
    assert_eq!(row(&v, "copy_d2d").unit, Some(RateUnit::GbPerS));
    let pinned = cell(&v, "copy_h2d_pinned");
    assert_eq!(pinned.status, ProbeStatus::Skip);
    assert!(pinned.detail.as_deref().unwrap().contains("GPU path"));
    // Recorded for --compare.
    let hist = h.path("state/bench-history.jsonl");
    assert_eq!(v.history, Some(hist.display().to_string()));
    let text = std::fs::read_to_string(&hist).unwrap();
    assert_eq!(text.lines().count(), 1);
    let e: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(e["device"], "cpu");
    assert_eq!(e["results"].as_array().unwrap().len(), 2, "{e}");

    // A second run compares with the first.
    let (code, v2, err) = json::<BenchReport>(
        &h,
        &[
            "bench",
            "--python",
            &py(),
            "--only",
            "matmul_fp32_1024",
            "--repeat",
            "3",
            "--compare",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let c = v2.compare.as_ref().unwrap();
    assert_eq!(c.since, v.time);
    let ch = &c.changes[0];
    assert_eq!(ch.name, "matmul_fp32_1024");
    let (then, now) = (ch.then, ch.now);
    assert_eq!(then, rate);
    let pct = ch.change_percent;
    assert!((pct - (now / then - 1.0) * 100.0).abs() < 1e-9);
    // (within_spread is a bool: the typed report requires it.)
    let _: bool = ch.within_spread;
    assert_eq!(ch.since, v.time);
    assert_eq!(std::fs::read_to_string(&hist).unwrap().lines().count(), 2);
    // --no-history leaves the file alone.
    let (code, _, _) = json::<BenchReport>(
        &h,
        &[
            "bench",
            "--python",
            &py(),
            "--only",
            "copy_d2d",
            "--repeat",
            "1",
            "--no-history",
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(std::fs::read_to_string(&hist).unwrap().lines().count(), 2);
}

#[test]
fn profiles_are_columns_compared_with_the_first() {
    let h = Home::new();
    let (code, v, err) = json::<BenchReport>(
        &h,
        &[
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
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(v.profiles, ["native", "safe"]);
    for r in &v.benches {
        let cells = &r.cells;
        assert_eq!(cells.len(), 2);
        assert_eq!(cells[0].profile, "native");
        assert_eq!(cells[1].profile, "safe");
        let t0 = cells[0].metrics.as_ref().unwrap().median_ms;
        let t1 = cells[1].metrics.as_ref().unwrap().median_ms;
        assert!((cells[1].time_ratio.unwrap() - t1 / t0).abs() < 1e-9);
        assert_eq!(cells[0].time_ratio, Some(1.0));
    }
    let g = &v.geomean_ratio;
    assert_eq!(g[0], Some(1.0));
    assert!(g[1].unwrap() > 0.0);
    // Two workers: one per profile.
    assert_eq!(v.workers_started, 2);
    // The human table names both columns and says which is faster.
    let o = cmd(&h)
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
        .run();
    let text = &o.stdout;
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
    let (code, v, err) = json::<BenchReport>(
        &h,
        &[
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
        ],
    );
    assert_eq!(code, 1, "{v:#?}\n{err}");
    let crash = cell(&v, "a_crash");
    assert_eq!(crash.status, ProbeStatus::Crash);
    assert_eq!(crash.signal.as_deref(), Some("SIGSEGV"));
    assert!(crash
        .stderr
        .as_deref()
        .unwrap()
        .contains("Segmentation fault"));
    let hang = cell(&v, "b_hang");
    assert_eq!(hang.status, ProbeStatus::Timeout);
    let after = cell(&v, "c_after");
    assert_eq!(after.status, ProbeStatus::Pass, "{after:?}");
    assert!(after.metrics.as_ref().unwrap().rate.unwrap() > 0.0);
    // The crash and the hang each cost a worker.
    assert_eq!(v.workers_started, 3);
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
        let o = cmd(&h).args(["bench", "--python", &py()]).args(&args).run();
        let err = &o.stderr;
        assert_eq!(o.code, 2, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    // --list needs no Python.
    let o = cmd(&h).args(["bench", "--list"]).run();
    let text = &o.stdout;
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
    let (code, v, err) = json::<TuneReport>(
        &h,
        &[
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
        ],
    );
    assert_eq!(code, 0, "{v:#?}\n{err}");
    let cands = &v.candidates;
    let cand = |n: &str| {
        cands
            .iter()
            .find(|c| c.name == n)
            .unwrap_or_else(|| panic!("no candidate {n}: {v:#?}"))
    };
    // The default profile is the baseline, tried first.
    assert_eq!(cands[0].name, "native");
    assert_eq!(cands[0].geomean_ratio, Some(1.0));
    let broken = cand("broken");
    assert!(!broken.correct);
    assert_eq!(
        broken.failed_probes[0],
        "env_sane (wrong): broken by the profile"
    );
    assert_eq!(
        broken.note.as_deref(),
        Some("rejected: env_sane failed (again when run a second time)")
    );
    // A probe that fails once and then passes is named flaky, and still rejects.
    let flaky = cand("flaky");
    assert!(!flaky.correct);
    assert_eq!(
        flaky.note.as_deref(),
        Some("rejected: once_wrong failed, then passed when run again (flaky)")
    );
    assert!(broken.geomean_ratio.is_none());
    // A dangerous profile is not tried unless named.
    assert!(cand("legacy-rdna1-override")
        .note
        .as_deref()
        .unwrap()
        .starts_with("not tried"));
    for n in ["native", "safe", "debug"] {
        assert!(cand(n).correct, "{n}");
        assert!(cand(n).geomean_ratio.unwrap() > 0.0);
    }
    // The rejected profile is not benchmarked.
    let b = v.bench.as_ref().unwrap();
    assert!(!b.profiles.iter().any(|p| p == "broken"));
    // No MIOpen on a CPU torch: no find-mode variants, and a note says so.
    assert!(!cands.iter().any(|c| c.name.contains("MIOPEN_FIND_MODE")));
    assert!(v.notes[0].contains("not a ROCm build"));
    let best = v.best.as_deref().unwrap();
    let w = v.written.as_ref().unwrap();
    assert_eq!(w.profile, best);
    assert_eq!(w.file, cfg.display().to_string());
    let written = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        written.contains(&format!("profile = \"{best}\"")),
        "{written}"
    );
    assert!(written.contains("[profiles.broken]"), "{written}");
    // env now resolves that profile by default.
    let (_, e): (_, EnvReport) = cmd(&h).args(["env", "--json"]).json();
    assert_eq!(e.profile, best);
    // Rollback restores the config byte for byte.
    let o = cmd(&h).args(["rollback", "--last"]).run();
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(std::fs::read(&cfg).unwrap(), user_config.as_bytes());
}

#[test]
fn tune_write_without_a_config_creates_it_and_rollback_removes_it() {
    let h = Home::new();
    let cfg = h.path("config/rocm-patch/config.toml");
    let (code, v, err) = json::<TuneReport>(
        &h,
        &[
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
        ],
    );
    assert_eq!(code, 0, "{v:#?}\n{err}");
    assert!(Path::new(&cfg).exists());
    let o = cmd(&h).args(["rollback", "--last"]).run();
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(!cfg.exists());
}
