//! `probe`, `bench` and `tune` against rp_testkit's fake worker (a Python 3 script that
//! speaks the worker protocol without torch): hangs become timeouts, a signal is named,
//! a CPU run gets its note, a wrong answer fails its probe, bench renders metrics and
//! tune picks the fastest correct profile. No torch, no GPU: these run in the fast tier.

mod common;

use common::{cli, FakeWorker, Home, Rp, FAKE_PYTHON};
use rp_report::{BenchReport, ProbeDevice, ProbeReport, ProbeResult, ProbeStatus, TuneReport};
use std::time::Duration;

/// `probe --json --python FAKE ARGS` with the fake doing `w`.
fn probe(w: &FakeWorker, args: &[&str]) -> (i32, ProbeReport, String) {
    let o = cli()
        .args(["probe", "--python", FAKE_PYTHON])
        .args(args)
        .envs([w.env()])
        .timeout(Duration::from_secs(120))
        .json_output();
    let r = o.json();
    (o.code, r, o.stderr)
}

fn result<'a>(r: &'a ProbeReport, name: &str) -> &'a ProbeResult {
    r.probes
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no probe {name} in {r:#?}"))
}

#[test]
fn every_probe_passes_on_a_gpu_that_answers_right() {
    let (code, r, err) = probe(&FakeWorker::gpu(), &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(r.schema, 1);
    assert_eq!(r.device, ProbeDevice::Cuda);
    assert_eq!(r.cuda_available, Some(true));
    assert_eq!(r.hip.as_deref(), Some("6.2.41133"));
    assert_eq!(r.workers_started, 1);
    assert_eq!(r.device_note, None);
    assert!(!r.gpu_not_seen);
    // Every built-in probe ran (the fake reads their names from the real worker script)
    // and carries its knowledge-base facts.
    assert_eq!(r.probes.len(), rp_kb::kb().probes().len());
    for p in &r.probes {
        assert_eq!(p.status, ProbeStatus::Pass, "{p:?}");
        assert!(p.group.is_some() && p.exercises.is_some(), "{p:?}");
    }
    // gfx1010 gets RDNA1's remedies.
    assert!(result(&r, "lstm_fwd_bwd").remedy.is_some());
}

#[test]
fn a_hang_is_a_timeout_and_the_matrix_goes_on() {
    let w = FakeWorker::gpu().hang("alloc_small");
    let (code, r, err) = probe(
        &w,
        &[
            "--only",
            "device_init,alloc_small,copy_h2d",
            "--timeout",
            "1",
        ],
    );
    assert_eq!(code, 1, "{err}");
    let hang = result(&r, "alloc_small");
    assert_eq!(hang.status, ProbeStatus::Timeout);
    assert_eq!(
        hang.detail.as_deref(),
        Some("no answer within 1 s; the worker's process group was killed")
    );
    assert!(hang.seconds >= 1.0, "{hang:?}");
    assert!(
        hang.stderr
            .as_deref()
            .unwrap()
            .contains("fake: alloc_small hangs"),
        "{hang:?}"
    );
    assert_eq!(result(&r, "device_init").status, ProbeStatus::Pass);
    assert_eq!(result(&r, "copy_h2d").status, ProbeStatus::Pass);
    // The hang cost a worker: one restart.
    assert_eq!(r.workers_started, 2);
}

#[test]
fn three_hangs_in_a_row_skip_the_rest() {
    let w = FakeWorker::gpu()
        .hang("device_init")
        .hang("alloc_small")
        .hang("alloc_large");
    let (code, r, err) = probe(
        &w,
        &[
            "--only",
            "device_init,alloc_small,alloc_large,copy_h2d",
            "--timeout",
            "0.5",
        ],
    );
    assert_eq!(code, 1, "{err}");
    for n in ["device_init", "alloc_small", "alloc_large"] {
        assert_eq!(result(&r, n).status, ProbeStatus::Timeout, "{n}");
    }
    let rest = result(&r, "copy_h2d");
    assert_eq!(rest.status, ProbeStatus::Skip);
    assert!(
        rest.detail
            .as_deref()
            .unwrap()
            .starts_with("not run: 3 probes in a row hung"),
        "{rest:?}"
    );
    assert_eq!(r.workers_started, 3);
}

#[test]
fn a_crash_is_named_by_its_signal_and_an_exit_by_its_status() {
    let w = FakeWorker::gpu()
        .crash("device_init", "SIGSEGV")
        .crash("alloc_small", "SIGABRT")
        .exit("alloc_large", 7);
    let (code, r, err) = probe(
        &w,
        &["--only", "device_init,alloc_small,alloc_large,copy_h2d"],
    );
    assert_eq!(code, 1, "{err}");
    let segv = result(&r, "device_init");
    assert_eq!(segv.status, ProbeStatus::Crash);
    assert_eq!(segv.signal.as_deref(), Some("SIGSEGV"));
    assert_eq!(segv.detail.as_deref(), Some("the worker died of SIGSEGV"));
    assert!(segv
        .stderr
        .as_deref()
        .unwrap()
        .contains("fake: device_init dies of SIGSEGV"));
    let abrt = result(&r, "alloc_small");
    assert_eq!(abrt.status, ProbeStatus::Crash);
    assert_eq!(abrt.signal.as_deref(), Some("SIGABRT"));
    let exit = result(&r, "alloc_large");
    assert_eq!(exit.status, ProbeStatus::Error);
    assert_eq!(exit.signal, None);
    assert_eq!(
        exit.detail.as_deref(),
        Some("the worker exited with status 7")
    );
    assert_eq!(result(&r, "copy_h2d").status, ProbeStatus::Pass);
    assert_eq!(r.workers_started, 4);
}

#[test]
fn a_wrong_answer_or_an_error_fails_its_probe_only() {
    let w = FakeWorker::gpu()
        .wrong("matmul_fp32")
        .error("reduction", "RuntimeError: boom");
    let (code, r, err) = probe(&w, &["--only", "reduction,matmul_fp32,elementwise"]);
    assert_eq!(code, 1, "{err}");
    let wrong = result(&r, "matmul_fp32");
    assert_eq!(wrong.status, ProbeStatus::Wrong);
    assert_eq!(
        wrong.detail.as_deref(),
        Some("AssertionError: fake: matmul_fp32: result differs from CPU")
    );
    // Its own stderr, between the markers, without them.
    let stderr = wrong.stderr.as_deref().unwrap();
    assert!(stderr.contains("Traceback"), "{stderr}");
    assert!(!stderr.contains("##rp-probe"), "{stderr}");
    let error = result(&r, "reduction");
    assert_eq!(error.status, ProbeStatus::Error);
    assert_eq!(error.detail.as_deref(), Some("RuntimeError: boom"));
    assert_eq!(result(&r, "elementwise").status, ProbeStatus::Pass);
    // Neither is a device error: one worker throughout.
    assert_eq!(r.workers_started, 1);
}

#[test]
fn a_device_error_restarts_the_worker() {
    let w = FakeWorker::gpu().error("reduction", "HIP error: invalid device function");
    // matmul_fp32 comes after reduction in the matrix: it gets a new worker.
    let (code, r, err) = probe(&w, &["--only", "reduction,matmul_fp32"]);
    assert_eq!(code, 1, "{err}");
    let e = result(&r, "reduction");
    assert_eq!(e.status, ProbeStatus::Error);
    assert!(e.cause.is_some(), "explain names a cause: {e:?}");
    assert_eq!(result(&r, "matmul_fp32").status, ProbeStatus::Pass);
    assert_eq!(r.workers_started, 2);
}

#[test]
fn a_cpu_run_gets_the_cpu_note() {
    // `--device auto` and torch sees no GPU: the CPU was tested, which passes here (the
    // test machines have no AMD GPU).
    let (code, r, err) = probe(&FakeWorker::no_gpu(), &["--only", "device_init"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(r.device, ProbeDevice::Cpu);
    assert_eq!(r.cuda_available, Some(false));
    assert!(!r.gpu_not_seen);
    assert_eq!(
        r.device_note.as_deref(),
        Some("No GPU here: the CPU was tested.")
    );
    // `--device cuda` and torch sees none: a failure, said.
    let (code, r, err) = probe(
        &FakeWorker::no_gpu(),
        &["--only", "device_init", "--device", "cuda"],
    );
    assert_eq!(code, 1, "{err}");
    assert!(r.gpu_not_seen);
    assert_eq!(
        r.device_note.as_deref(),
        Some("FAILED: --device cuda, but torch 2.5.1+rocm6.2 sees no GPU; the CPU was tested instead.")
    );
    // `--device cpu` asked for it: no note.
    let (code, r, err) = probe(
        &FakeWorker::gpu(),
        &["--only", "device_init", "--device", "cpu"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(r.device, ProbeDevice::Cpu);
    assert_eq!(r.device_note, None);
}

#[test]
fn a_worker_that_cannot_import_torch_is_an_error() {
    let o = cli()
        .args(["probe", "--json", "--python", FAKE_PYTHON])
        .envs([FakeWorker::gpu()
            .fatal("cannot import torch in /fake: ModuleNotFoundError")
            .env()])
        .run();
    assert_eq!(o.code, 2, "{o:?}");
    assert_eq!(o.stdout, "");
    assert_eq!(
        o.stderr,
        "rocm-patch: error: cannot import torch in /fake: ModuleNotFoundError\n"
    );
}

fn bench(h: &Home, w: &FakeWorker, args: &[&str]) -> Rp {
    cli()
        .home(h)
        .args(["bench", "--python", FAKE_PYTHON])
        .args(args)
        .envs([w.env()])
        .timeout(Duration::from_secs(120))
}

#[test]
fn bench_metrics_are_reported_and_rendered() {
    let h = Home::new();
    let w = FakeWorker::gpu()
        .ms("matmul_fp32_1024", 2.0)
        .crash("copy_d2d", "SIGSEGV");
    let args = [
        "--only",
        "matmul_fp32_1024,copy_d2d",
        "--repeat",
        "3",
        "--no-history",
    ];
    let (code, r): (i32, BenchReport) = bench(&h, &w, &args).json();
    assert_eq!(code, 1);
    assert_eq!(r.profiles, ["current"]);
    let mm = r
        .benches
        .iter()
        .find(|b| b.name == "matmul_fp32_1024")
        .unwrap();
    let cell = &mm.cells[0];
    assert_eq!(cell.status, ProbeStatus::Pass);
    let m = cell.metrics.as_ref().unwrap();
    assert_eq!(m.median_ms, 2.0);
    assert_eq!(m.reps, 3);
    assert!(m.rate.unwrap() > 0.0);
    let crash = r.benches.iter().find(|b| b.name == "copy_d2d").unwrap();
    assert_eq!(crash.cells[0].status, ProbeStatus::Crash);
    assert_eq!(crash.cells[0].signal.as_deref(), Some("SIGSEGV"));
    // The human report shows the measurement and the crash.
    let o = bench(&h, &w, &args).run();
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stdout.contains("matmul_fp32_1024"), "{}", o.stdout);
    assert!(o.stdout.contains("2.00"), "{}", o.stdout);
    assert!(o.stdout.contains("SIGSEGV"), "{}", o.stdout);
}

const PROFILES: &str = "[profiles.fast]\nextends = \"native\"\n[profiles.fast.vars]\nRP_FAKE_FAST = \"1\"\n\n[profiles.broken]\nextends = \"native\"\n[profiles.broken.vars]\nRP_FAKE_BROKEN = \"1\"\n";

#[test]
fn tune_picks_the_fastest_correct_profile() {
    let h = Home::new();
    let cfg = h.path("config/rocm-patch/config.toml");
    std::fs::create_dir_all(cfg.parent().unwrap()).unwrap();
    std::fs::write(&cfg, PROFILES).unwrap();
    let w = FakeWorker::gpu()
        .wrong_when("RP_FAKE_BROKEN", "device_init")
        .scale_when("RP_FAKE_FAST", 0.5);
    let (code, r): (i32, TuneReport) = cli()
        .home(&h)
        .args(["tune", "--python", FAKE_PYTHON])
        .args(["-p", "native", "-p", "fast", "-p", "broken"])
        .args(["--probe-only", "device_init", "--only", "matmul_fp32_1024"])
        .args(["--repeat", "2"])
        .envs([w.env()])
        .timeout(Duration::from_secs(120))
        .json();
    assert_eq!(code, 0, "{r:#?}");
    assert_eq!(r.best.as_deref(), Some("fast"), "{r:#?}");
    let cand = |n: &str| {
        r.candidates
            .iter()
            .find(|c| c.name == n)
            .unwrap_or_else(|| panic!("no candidate {n}: {r:#?}"))
    };
    assert_eq!(cand("native").geomean_ratio, Some(1.0));
    assert_eq!(cand("fast").geomean_ratio, Some(0.5));
    let broken = cand("broken");
    assert!(!broken.correct);
    assert_eq!(broken.geomean_ratio, None);
    assert_eq!(
        broken.note.as_deref(),
        Some("rejected: device_init failed (again when run a second time)")
    );
    // A ROCm torch: MIOpen's find modes are tried on top of each correct profile.
    assert!(r
        .candidates
        .iter()
        .any(|c| c.name.starts_with("fast+MIOPEN_FIND_MODE=")));
    let b = r.bench.as_ref().unwrap();
    assert!(!b.profiles.iter().any(|p| p == "broken"));
}
