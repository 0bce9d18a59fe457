//! `rocm-patch build` end to end with real parts: a small HIP library (tests/data/hiplib:
//! a CMake project with two kernels and a unit test) served as a tarball by an HTTP server
//! in this test on 127.0.0.1 (with Range support, and a first response cut short to test
//! resuming), patched, built with Debian's hipcc for gfx1010 and gfx1030, tested with
//! ctest, checked with inspect, deployed into a torch-like tree and rolled back. Failure
//! cases: checksum mismatch, a changed upstream file, a failing compile, Ctrl-C and
//! resume, a missing tool; the built-in miopen recipe's dry run.
#![cfg(feature = "real-data")]

mod common;

use common::{cli, Output, Rp};
use rp_report::{
    BuildOutcome, BuildReport, InspectReport, PatchState, PreflightItem, PreflightKind, SourceKind,
    SourceReport, SourceState, StepReport, StepState,
};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A command line for the binary, with no cache or state directory from the environment.
fn rp() -> Rp {
    cli()
        .env_remove("ROCM_PATCH_CACHE_DIR")
        .env_remove("ROCM_PATCH_STATE_DIR")
}

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn sha256(p: &Path) -> String {
    let out = Command::new("sha256sum").arg(p).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// A static file server: GET with optional `Range: bytes=N-`; the first `cut` responses
/// stop after half the body (a dropped connection).
struct Server {
    port: u16,
    hits: Arc<AtomicUsize>,
}

fn serve(dir: PathBuf, cut: usize) -> Server {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let n = h.fetch_add(1, Ordering::SeqCst);
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut first = String::new();
            if r.read_line(&mut first).is_err() {
                continue;
            }
            let mut range: Option<u64> = None;
            loop {
                let mut l = String::new();
                if r.read_line(&mut l).unwrap_or(0) == 0 || l == "\r\n" {
                    break;
                }
                if let Some(v) = l.to_ascii_lowercase().strip_prefix("range: bytes=") {
                    range = v.trim().trim_end_matches('-').parse().ok();
                }
            }
            let name = first
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .trim_start_matches('/');
            let Ok(body) = std::fs::read(dir.join(name)) else {
                let _ = s.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                continue;
            };
            let start = range.unwrap_or(0).min(body.len() as u64) as usize;
            let part = &body[start..];
            let head = if range.is_some() {
                format!(
                    "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{}/{}\r\nConnection: close\r\n\r\n",
                    part.len(),
                    body.len() - 1,
                    body.len()
                )
            } else {
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    part.len()
                )
            };
            let _ = s.write_all(head.as_bytes());
            if n < cut {
                let _ = s.write_all(&part[..part.len() / 2]);
                let _ = s.shutdown(std::net::Shutdown::Both);
                continue;
            }
            let _ = s.write_all(part);
        }
    });
    Server { port, hits }
}

/// The test project as `name.tar.gz` in `dir`, optionally with one file changed.
fn tarball(dir: &Path, name: &str, change: Option<(&str, &str)>) -> PathBuf {
    let stage = dir.join(format!("stage-{name}"));
    let top = stage.join("hiplib-1.0.0");
    std::fs::create_dir_all(&stage).unwrap();
    let st = Command::new("cp")
        .arg("-r")
        .arg(data().join("hiplib"))
        .arg(&top)
        .status()
        .unwrap();
    assert!(st.success());
    if let Some((f, text)) = change {
        let p = top.join(f);
        let s = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, format!("{s}{text}")).unwrap();
    }
    let out = dir.join(format!("{name}.tar.gz"));
    let st = Command::new("tar")
        .arg("-czf")
        .arg(&out)
        .arg("-C")
        .arg(&stage)
        .arg("hiplib-1.0.0")
        .status()
        .unwrap();
    assert!(st.success());
    out
}

/// A recipe for the test project in `dir` (with its patch beside it).
fn recipe(dir: &Path, url: &str, sha: &str, extra_tool: Option<&str>) -> PathBuf {
    let patch = data().join("hiplib-blocks.patch");
    std::fs::copy(&patch, dir.join("hiplib-blocks.patch")).unwrap();
    let upstream = sha256(&data().join("hiplib/src/hiplib.cpp"));
    let tool = extra_tool
        .map(|t| format!("[[tool]]\nname = \"{t}\"\npackages = {{ debian = \"{t}-pkg\" }}\n"))
        .unwrap_or_default();
    let text = std::fs::read_to_string(data().join("hiplib.toml.in"))
        .unwrap()
        .replace("@URL@", url)
        .replace("@SHA256@", sha)
        .replace("@UPSTREAM@", &upstream)
        .replace("\n[[patch]]", &format!("\n{tool}[[patch]]"));
    let p = dir.join("hiplib.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// The steps' names and states, in order.
fn states(v: &BuildReport) -> Vec<(&str, StepState)> {
    v.steps.iter().map(|s| (s.name.as_str(), s.state)).collect()
}

/// The report's source (a build that got as far as choosing one).
fn source(v: &BuildReport) -> &SourceReport {
    v.source
        .as_ref()
        .unwrap_or_else(|| panic!("no source: {v:#?}"))
}

/// The report's step `i`.
fn step(v: &BuildReport, i: usize) -> &StepReport {
    v.steps
        .get(i)
        .unwrap_or_else(|| panic!("no step {i}: {v:#?}"))
}

/// The report's patch `i`'s state.
fn patch_state(v: &BuildReport, i: usize) -> PatchState {
    v.patches
        .get(i)
        .unwrap_or_else(|| panic!("no patch {i}: {v:#?}"))
        .state
}

/// The test project as a tarball in `dir` and its recipe with a `file://` URL.
fn file_recipe(dir: &Path) -> PathBuf {
    let tb = tarball(dir, "hiplib-1.0.0", None);
    recipe(dir, &format!("file://{}", tb.display()), &sha256(&tb), None)
}

/// Replace `from` (which must be there) by `to` in a recipe file.
fn edit(recipe: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(recipe).unwrap();
    assert!(text.contains(from), "{from:?} not in {}", recipe.display());
    std::fs::write(recipe, text.replace(from, to)).unwrap();
}

/// `rocm-patch build RECIPE --gpu GPU --cache-dir CACHE`.
fn build_cmd(recipe: &Path, gpu: &str, cache: &Path) -> Rp {
    rp().arg("build")
        .arg(recipe)
        .args(["--gpu", gpu, "--cache-dir"])
        .arg(cache)
}

/// `rocm-patch build RECIPE --gpu gfx1010 --cache-dir CACHE EXTRA`, spawned with stderr
/// piped and stdout as given, for the tests that signal it (the builder only runs to the
/// end). The one place that launches the binary by hand.
fn spawn_build(recipe: &Path, cache: &Path, extra: &[&str], stdout: Stdio) -> Child {
    Command::new(env!("CARGO_BIN_EXE_rocm-patch"))
        .env_remove("ROCM_PATCH_CACHE_DIR")
        .env_remove("ROCM_PATCH_STATE_DIR")
        .arg("build")
        .arg(recipe)
        .args(["--gpu", "gfx1010", "--cache-dir"])
        .arg(cache)
        .args(extra)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// A JSON build that deploys into `lib` with its journal in `state`.
fn build_deploying(recipe: &Path, cache: &Path, lib: &Path, state: &Path) -> (Output, BuildReport) {
    build(
        recipe,
        cache,
        &[
            "--deploy-into",
            lib.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
        ],
    )
}

/// A JSON build for gfx1010 with two jobs and `extra` arguments: the output and its report.
fn build(recipe: &Path, cache: &Path, extra: &[&str]) -> (Output, BuildReport) {
    let o = build_cmd(recipe, "gfx1010", cache)
        .args(["--json", "--jobs", "2"])
        .args(extra)
        .run();
    let v = o.json();
    (o, v)
}

#[test]
fn builds_verifies_deploys_and_rolls_back_then_resumes_with_nothing_to_do() {
    let t = tempfile::tempdir().unwrap();
    let srv_dir = t.path().join("srv");
    std::fs::create_dir_all(&srv_dir).unwrap();
    let tb = tarball(t.path(), "hiplib-1.0.0", None);
    std::fs::copy(&tb, srv_dir.join("hiplib-1.0.0.tar.gz")).unwrap();
    // The first response is cut in half: the second request must resume with a Range.
    let srv = serve(srv_dir, 1);
    let url = format!("http://127.0.0.1:{}/hiplib-1.0.0.tar.gz", srv.port);
    let r = recipe(t.path(), &url, &sha256(&tb), None);
    let cache = t.path().join("cache");
    let state = t.path().join("state");
    // A torch-like tree with an older libhiplib.so in torch/lib.
    let lib = t.path().join("venv/lib/python3.12/site-packages/torch/lib");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::write(lib.join("libhiplib.so"), b"the old library").unwrap();
    std::fs::write(lib.join("libtorch.so"), b"untouched").unwrap();

    // First attempt: the download is cut short; the partial file is kept.
    let (o, v) = build(&r, &cache, &[]);
    assert_eq!(o.code, 1, "{v:#?}");
    assert_eq!(v.outcome, BuildOutcome::Failed);
    assert!(
        v.error.as_deref().unwrap().contains("run again to resume"),
        "{v:#?}"
    );
    assert!(!cache.join("build/hiplib-1.0.0-gfx1010/src").exists());

    let (o, v) = build_deploying(&r, &cache, &lib, &state);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert!(
        matches!(source(&v).state, SourceState::Resumed(_)),
        "{v:#?}"
    );
    assert_eq!(srv.hits.load(Ordering::SeqCst), 2);
    assert_eq!(patch_state(&v, 0), PatchState::Applied);
    assert_eq!(
        states(&v),
        [
            ("configure", StepState::Ran),
            ("build", StepState::Ran),
            ("test", StepState::Ran),
            ("install", StepState::Ran)
        ]
    );
    // The unit test passed because of the patch (unpatched, 1000 elements need 4 blocks
    // and the old code says 3): its log says so.
    let test_log = std::fs::read_to_string(step(&v, 2).log.as_deref().unwrap()).unwrap();
    assert!(test_log.contains("100% tests passed"), "{test_log}");
    let out = &v.outputs[0];
    assert!(out.ok, "{v:#?}");
    assert_eq!(out.targets, ["gfx1010", "gfx1030"]);
    // Deployed: torch/lib/libhiplib.so is the built library; inspect agrees.
    let tx = v.deploy.as_ref().unwrap().id.clone();
    let built =
        std::fs::read(cache.join("build/hiplib-1.0.0-gfx1010/prefix/lib/libhiplib.so")).unwrap();
    assert_eq!(std::fs::read(lib.join("libhiplib.so")).unwrap(), built);
    let (_, iv) = rp()
        .args(["inspect", "--json", "--gpu", "gfx1010"])
        .arg(lib.join("libhiplib.so"))
        .json::<InspectReport>();
    assert!(iv.coverage.as_ref().unwrap().missing.is_empty(), "{iv:#?}");
    // Rollback restores the old bytes; the other file was never touched.
    rp().args(["rollback", &tx, "--state-dir"])
        .arg(&state)
        .run()
        .code(0);
    assert_eq!(
        std::fs::read(lib.join("libhiplib.so")).unwrap(),
        b"the old library"
    );
    assert_eq!(
        std::fs::read(lib.join("libtorch.so")).unwrap(),
        b"untouched"
    );

    // Nothing changed: every step is skipped and nothing is downloaded again.
    let (o, v) = build(&r, &cache, &[]);
    assert_eq!(o.code, 0, "{v:#?}");
    assert!(
        states(&v).iter().all(|(_, s)| *s == StepState::Skipped),
        "{v:#?}"
    );
    assert_eq!(source(&v).state, SourceState::Cached);
    assert_eq!(srv.hits.load(Ordering::SeqCst), 2);

    // A removed install is made again (install's `creates`), the rest still skipped.
    std::fs::remove_dir_all(cache.join("build/hiplib-1.0.0-gfx1010/prefix")).unwrap();
    let (o, v) = build(&r, &cache, &[]);
    assert_eq!(o.code, 0, "{v:#?}");
    assert_eq!(states(&v)[3], ("install", StepState::Ran));
    assert_eq!(states(&v)[1], ("build", StepState::Skipped));
}

#[test]
fn checksum_mismatch_is_refused_before_anything_is_unpacked_or_run() {
    let t = tempfile::tempdir().unwrap();
    let tb = tarball(t.path(), "hiplib-1.0.0", None);
    let url = format!("file://{}", tb.display());
    let r = recipe(t.path(), &url, &"0".repeat(64), None);
    let cache = t.path().join("cache");
    let (o, v) = build(&r, &cache, &[]);
    assert_eq!(o.code, 1, "{v:#?}");
    assert_eq!(v.outcome, BuildOutcome::Refused);
    let e = v.error.as_deref().unwrap();
    assert!(
        e.contains("checksum mismatch") && e.contains(&sha256(&tb)),
        "{e}"
    );
    assert!(
        states(&v).iter().all(|(_, s)| *s == StepState::NotRun),
        "{v:#?}"
    );
    assert!(!cache.join("build/hiplib-1.0.0-gfx1010/src").exists());
    assert!(!cache.join("build/hiplib-1.0.0-gfx1010/build").exists());
    // The bad download is not kept under its final name.
    let kept: Vec<_> = std::fs::read_dir(cache.join("sources")).unwrap().collect();
    assert!(kept.is_empty(), "{kept:?}");
}

#[test]
fn a_changed_upstream_file_is_named_and_nothing_is_patched_or_built() {
    let t = tempfile::tempdir().unwrap();
    let tb = tarball(
        t.path(),
        "hiplib-1.0.1",
        Some(("src/hiplib.cpp", "// a later upstream change\n")),
    );
    let url = format!("file://{}", tb.display());
    let r = recipe(t.path(), &url, &sha256(&tb), None);
    let cache = t.path().join("cache");
    let (o, v) = build(&r, &cache, &[]);
    assert_eq!(o.code, 1, "{v:#?}");
    assert_eq!(v.outcome, BuildOutcome::Refused);
    let e = v.error.as_deref().unwrap();
    assert!(e.contains("upstream file src/hiplib.cpp changed"), "{e}");
    assert!(e.contains("hiplib-blocks.patch"), "{e}");
    assert_eq!(patch_state(&v, 0), PatchState::Planned);
    assert!(
        states(&v).iter().all(|(_, s)| *s == StepState::NotRun),
        "{v:#?}"
    );
    assert!(!cache.join("build/hiplib-1.0.0-gfx1010/src").exists());
}

#[test]
fn a_failing_compile_shows_the_log_tail_and_its_path() {
    let t = tempfile::tempdir().unwrap();
    let r = file_recipe(t.path());
    // A local checkout with a syntax error (the patch still applies: the hunk's lines
    // are unchanged; the recorded upstream sha256 is checked on the copy).
    let src = t.path().join("checkout");
    let st = Command::new("cp")
        .arg("-r")
        .arg(data().join("hiplib"))
        .arg(&src)
        .status()
        .unwrap();
    assert!(st.success());
    let cache = t.path().join("cache");
    std::fs::write(
        src.join("include/hiplib.h"),
        "#pragma once\nthis is not C++;\n",
    )
    .unwrap();
    let (o, v) = build(&r, &cache, &["--source", src.to_str().unwrap()]);
    assert_eq!(o.code, 1, "{v:#?}");
    assert_eq!(v.outcome, BuildOutcome::Failed);
    assert_eq!(source(&v).kind, SourceKind::Local);
    assert!(source(&v).identity.starts_with("tree sha256:"), "{v:#?}");
    let failed = step(&v, 1);
    assert_eq!(failed.state, StepState::Failed, "{v:#?}");
    assert!(
        failed.status.as_deref().unwrap().starts_with("exit status"),
        "{failed:#?}"
    );
    let tail = failed.tail.join("\n");
    assert!(tail.contains("error"), "{tail}");
    let log = failed.log.as_deref().unwrap();
    assert!(Path::new(log).is_file());
    assert!(v.error.as_deref().unwrap().contains(log), "{v:#?}");
    // The human report shows the tail and the log's path.
    let o = build_cmd(&r, "gfx1010", &cache)
        .args(["--jobs", "2", "--source", src.to_str().unwrap()])
        .run();
    let text = &o.stdout;
    assert_eq!(o.code, 1, "{text}");
    assert!(
        text.contains("last lines of") && text.contains(log),
        "{text}"
    );
    assert!(text.contains("| "), "{text}");
    // A recipe for a monorepo (`subdir`) takes a checkout of the project alone too.
    let mono = t.path().join("mono.toml");
    let text = std::fs::read_to_string(&r)
        .unwrap()
        .replace("[source]\n", "[source]\nsubdir = \"projects/hiplib\"\n");
    std::fs::write(&mono, text).unwrap();
    let (_, v) = build(
        &mono,
        &t.path().join("cache2"),
        &["--source", src.to_str().unwrap()],
    );
    assert_eq!(patch_state(&v, 0), PatchState::Applied, "{v:#?}");
    assert_eq!(step(&v, 1).state, StepState::Failed, "{v:#?}");
    assert!(
        step(&v, 0).command.contains("/src/projects/hiplib -B"),
        "{v:#?}"
    );
    // The source was copied, never changed.
    assert_eq!(
        std::fs::read_to_string(src.join("include/hiplib.h")).unwrap(),
        "#pragma once\nthis is not C++;\n"
    );
}

#[test]
fn ctrl_c_during_the_build_then_a_second_run_resumes() {
    let t = tempfile::tempdir().unwrap();
    let r = file_recipe(t.path());
    let cache = t.path().join("cache");
    let mut child = spawn_build(&r, &cache, &["--json", "--jobs", "1"], Stdio::piped());
    let pid = child.id();
    let err = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines() {
            let line = line.unwrap_or_default();
            if line.contains("] build (log") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(120))
        .expect("the build step started");
    // A second build of the same directory meanwhile is refused, and changes nothing.
    let (o, v) = build(&r, &cache, &[]);
    assert_eq!(o.code, 1, "{v:#?}");
    assert!(
        v.error
            .as_deref()
            .unwrap()
            .contains("another rocm-patch build is using"),
        "{v:#?}"
    );
    std::thread::sleep(Duration::from_millis(300));
    let _ = rp_sys::os::kill(pid, rp_sys::signal::SIGINT);
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(130), "{out}");
    let v: BuildReport = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v.outcome, BuildOutcome::Interrupted);
    assert_eq!(
        states(&v)[..2],
        [
            ("configure", StepState::Ran),
            ("build", StepState::Interrupted)
        ]
    );
    let started = Instant::now();
    let (o, v) = build(&r, &cache, &[]);
    assert_eq!(o.code, 0, "{v:#?}");
    assert_eq!(source(&v).state, SourceState::Cached);
    assert_eq!(patch_state(&v, 0), PatchState::AlreadyApplied);
    assert_eq!(
        states(&v),
        [
            ("configure", StepState::Skipped),
            ("build", StepState::Ran),
            ("test", StepState::Ran),
            ("install", StepState::Ran)
        ]
    );
    assert!(started.elapsed() < Duration::from_secs(600));
}

#[test]
fn a_missing_tool_stops_preflight_before_anything_is_fetched() {
    let t = tempfile::tempdir().unwrap();
    let srv_dir = t.path().join("srv");
    std::fs::create_dir_all(&srv_dir).unwrap();
    let tb = tarball(t.path(), "hiplib-1.0.0", None);
    std::fs::copy(&tb, srv_dir.join("hiplib-1.0.0.tar.gz")).unwrap();
    let srv = serve(srv_dir, 0);
    let url = format!("http://127.0.0.1:{}/hiplib-1.0.0.tar.gz", srv.port);
    let r = recipe(t.path(), &url, &sha256(&tb), Some("rp-no-such-tool"));
    let cache = t.path().join("cache");
    let (o, v) = build(&r, &cache, &[]);
    assert_eq!(o.code, 1, "{v:#?}");
    assert_eq!(v.outcome, BuildOutcome::PreflightFailed);
    let missing: Vec<&PreflightItem> = v.preflight.iter().filter(|p| !p.ok).collect();
    assert_eq!(missing.len(), 1, "{v:#?}");
    assert_eq!(missing[0].name, "rp-no-such-tool");
    assert_eq!(
        missing[0].packages.first().map(String::as_str),
        Some("debian: rp-no-such-tool-pkg")
    );
    assert_eq!(srv.hits.load(Ordering::SeqCst), 0);
    assert!(!cache.exists() || !cache.join("sources").exists());
    // The human report names the package.
    let text = build_cmd(&r, "gfx1010", &cache).run().stdout;
    assert!(
        text.contains("MISSING") && text.contains("install: debian: rp-no-such-tool-pkg"),
        "{text}"
    );
}

#[test]
fn dry_run_of_miopen_shows_the_seed_flags_and_runs_nothing() {
    let t = tempfile::tempdir().unwrap();
    let cache = t.path().join("cache");
    let o = rp()
        .args([
            "build",
            "--dry-run",
            "miopen",
            "--gpu",
            "gfx1010",
            "--jobs",
            "8",
        ])
        .arg("--cache-dir")
        .arg(&cache)
        .run();
    let text = &o.stdout;
    assert_eq!(o.code, 0, "{text}");
    for flag in [
        "-DMIOPEN_USE_MLIR=OFF",
        "-DBoost_USE_STATIC_LIBS=OFF",
        "-DMIOPEN_ENABLE_AI_KERNEL_TUNING=OFF",
        "-DMIOPEN_USE_COMPOSABLEKERNEL=OFF",
        "-DGPU_TARGETS=gfx1010",
        "--parallel 8",
    ] {
        assert!(text.contains(flag), "{flag} missing:\n{text}");
    }
    // MIOpen 3.2.0 has no MIOPEN_USE_HIPBLASLT option: it is not passed.
    assert!(!text.contains("MIOPEN_USE_HIPBLASLT"), "{text}");
    // The cost is stated before anything runs.
    assert!(
        text.contains("CPU-hours") && text.contains("GiB of disk"),
        "{text}"
    );
    assert!(text.contains("3.2.0-bn-gfx101x.patch"), "{text}");
    // The fetch and the patch are printed as the commands a real run uses.
    assert!(
        text.contains("git fetch -q --depth 1 https://github.com/ROCm/MIOpen.git d62f77307968e63a9c0b5c1688a2927a1410510c"),
        "{text}"
    );
    assert!(text.contains("patch -p1 --batch --forward"), "{text}");
    assert!(
        text.contains("not selected") && text.contains("seed-skip-find"),
        "{text}"
    );
    assert!(
        !text.contains("{gpu}") && !text.contains("{prefix}"),
        "{text}"
    );
    assert!(!cache.exists(), "a dry run created {}", cache.display());
    // --deploy-into is shown as the copies it would make; a missing directory is bad
    // input, refused before anything else.
    let o = rp()
        .args([
            "build",
            "--dry-run",
            "miopen",
            "--gpu",
            "gfx1010",
            "--deploy-into",
        ])
        .arg(t.path())
        .arg("--cache-dir")
        .arg(&cache)
        .run();
    let text = &o.stdout;
    assert!(
        text.contains("prefix/lib/libMIOpen.so would be copied to")
            && text.contains(&format!("{}/libMIOpen.so", t.path().display())),
        "{text}"
    );
    let o = rp()
        .args([
            "build",
            "miopen",
            "--gpu",
            "gfx1010",
            "--deploy-into",
            "/nonexistent/torch/lib",
        ])
        .arg("--cache-dir")
        .arg(&cache)
        .run();
    assert_eq!(o.code, 2);
    assert!(o
        .stderr
        .contains("--deploy-into /nonexistent/torch/lib: not a directory"));
    assert!(!cache.exists());
    // --with seed-patches selects them; an unknown option is bad input.
    let v = rp()
        .args([
            "build",
            "--dry-run",
            "miopen",
            "--gpu",
            "gfx1010",
            "--with",
            "seed-patches",
            "--json",
        ])
        .arg("--cache-dir")
        .arg(&cache)
        .json::<BuildReport>()
        .1;
    assert!(
        v.patches.iter().all(|p| p.state == PatchState::Planned),
        "{v:#?}"
    );
    let o = rp()
        .args([
            "build",
            "--dry-run",
            "miopen",
            "--gpu",
            "gfx1010",
            "--with",
            "nope",
        ])
        .run();
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("seed-patches"));
    // --show explains why the seed patches are not needed, with references.
    let o = rp().args(["build", "--show", "miopen"]).run();
    let text = &o.stdout;
    assert!(
        text.contains("MIOPEN_FIND_MODE=FAST") && text.contains("pull/158951"),
        "{text}"
    );
    assert!(
        text.contains("hipMalloc already returns coarse-grained"),
        "{text}"
    );
    // --list names every built-in recipe.
    let o = rp().args(["build", "--list"]).run();
    let text = &o.stdout;
    for r in [
        "miopen@3.2.0",
        "miopen@develop-109ded9",
        "rocblas@",
        "rocsparse@",
        "rocrand@",
        "rocsolver@",
        "pytorch@",
    ] {
        assert!(text.contains(r), "{r}: {text}");
    }
}

#[test]
fn bad_input_is_named() {
    let t = tempfile::tempdir().unwrap();
    let o = rp().args(["build", "nope", "--gpu", "gfx1010"]).run();
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("no recipe \"nope\""));
    let o = rp().args(["build", "miopen", "--gpu", "gfx9999x"]).run();
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("gfx9999x"));
    let bad = t.path().join("bad.toml");
    std::fs::write(&bad, "name = \"x\"\nversion = \"1\"\nsummary = \"s\"\n[source]\nurl = \"http://h/x\"\n[[step]]\nname = \"a\"\nrun = [\"true\"]\n").unwrap();
    let o = rp().arg("build").arg(&bad).args(["--gpu", "gfx1010"]).run();
    assert_eq!(o.code, 2);
    let e = o.stderr;
    assert!(e.contains("bad.toml") && e.contains("sha256"), "{e}");
    // A FIFO named as the recipe is refused without blocking.
    let fifo = t.path().join("r.toml");
    rp_sys::os::mkfifo(&fifo, 0o600).unwrap();
    let o = rp()
        .arg("build")
        .arg(&fifo)
        .args(["--gpu", "gfx1010"])
        .run();
    assert_eq!(o.code, 2);
}

#[test]
fn a_library_without_code_for_the_gpu_fails_verification_and_is_not_deployed() {
    let t = tempfile::tempdir().unwrap();
    let r = file_recipe(t.path());
    // Built for gfx1030 only, asked for gfx1010.
    edit(&r, "-DGPU_TARGETS={gpu};gfx1030", "-DGPU_TARGETS=gfx1030");
    let lib = t.path().join("torch/lib");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::write(lib.join("libhiplib.so"), b"old").unwrap();
    let cache = t.path().join("cache");
    let state = t.path().join("state");
    let (o, v) = build_deploying(&r, &cache, &lib, &state);
    assert_eq!(o.code, 1, "{v:#?}");
    assert_eq!(v.outcome, BuildOutcome::Unverified);
    let e = v.error.as_deref().unwrap();
    assert!(
        e.contains("libhiplib.so lacks code for gfx1010 (it carries: gfx1030)"),
        "{e}"
    );
    assert!(v.deploy.is_none());
    assert_eq!(std::fs::read(lib.join("libhiplib.so")).unwrap(), b"old");

    // A recipe whose prerequisite is an installed library with code for the GPU (as
    // pytorch's needs rocBLAS): preflight inspects it.
    let prefix_lib = cache.join("build/hiplib-1.0.0-gfx1010/prefix/lib");
    let needs = t.path().join("needs.toml");
    std::fs::write(
        &needs,
        format!(
            "name = \"needs\"\nversion = \"1\"\nsummary = \"s\"\n[source]\nurl = \"file:///x.tgz\"\nsha256 = \"{}\"\n[[gpu_code]]\nname = \"hiplib\"\nlibrary = \"libhiplib.so\"\ndirs = [\"/nonexistent\", \"{}\"]\npackages = {{ debian = \"libhiplib-dev\" }}\n[[step]]\nname = \"a\"\nrun = [\"true\"]\n",
            "0".repeat(64),
            prefix_lib.display()
        ),
    )
    .unwrap();
    let pre = |gpu: &str| {
        let (_, v) = build_cmd(&needs, gpu, &cache)
            .args(["--json", "--dry-run"])
            .json::<BuildReport>();
        item(&v, PreflightKind::GpuCode).clone()
    };
    let p = pre("gfx1030");
    assert!(p.ok, "{p:#?}");
    assert_eq!(p.kind, PreflightKind::GpuCode);
    let p = pre("gfx1010");
    assert!(!p.ok, "{p:#?}");
    let e = p.problem.as_deref().unwrap();
    assert!(
        e.contains("has no code for gfx1010 (it carries: gfx1030)"),
        "{e}"
    );
}

#[test]
fn a_git_source_is_checked_out_at_its_commit_and_a_failed_step_is_explained() {
    let t = tempfile::tempdir().unwrap();
    // A real git repository holding the test project, fetched by commit over file://.
    let repo = t.path().join("repo");
    let st = Command::new("cp")
        .arg("-r")
        .arg(data().join("hiplib"))
        .arg(&repo)
        .status()
        .unwrap();
    assert!(st.success());
    let git = |args: &[&str]| {
        let o = Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(&repo)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "hiplib"]);
    let commit = git(&["rev-parse", "HEAD"]);
    let r = recipe(t.path(), "file:///unused", &"0".repeat(64), None);
    edit(
        &r,
        &format!("url = \"file:///unused\"\nsha256 = \"{}\"", "0".repeat(64)),
        &format!("git = \"file://{}\"\ncommit = \"{commit}\"", repo.display()),
    );
    // The build step fails the way MIOpen's batch-norm kernels fail on GFX10.
    edit(
        &r,
        r#"run = ["cmake", "--build", "{build}", "--parallel", "{jobs}"]"#,
        r#"run = ["sh", "-c", "echo 'bn.s:12:5: error: dpp variant of this instruction is not supported'; exit 1"]"#,
    );
    let cache = t.path().join("cache");
    let (o, v) = build(&r, &cache, &[]);
    assert_eq!(o.code, 1, "{v:#?}");
    assert_eq!(source(&v).kind, SourceKind::Git);
    assert_eq!(source(&v).identity, format!("commit {commit}"));
    assert_eq!(patch_state(&v, 0), PatchState::Applied);
    assert_eq!(step(&v, 0).state, StepState::Ran);
    assert_eq!(step(&v, 1).state, StepState::Failed);
    let explained = &step(&v, 1).explained;
    assert_eq!(explained.len(), 1, "{v:#?}");
    let e = &explained[0];
    assert!(
        e.contains("line 3") && e.contains("llvm-dpp-variant-unsupported"),
        "{e}"
    );
    assert!(!e.contains("<your gfx target>"), "{e}");
    // A commit that is not in the repository is refused.
    edit(&r, &commit, &"1".repeat(40));
    let (o, v) = build(&r, &cache, &[]);
    assert_eq!(o.code, 1, "{v:#?}");
    assert!(v.error.as_deref().unwrap().contains("git fetch"), "{v:#?}");
}

#[test]
fn a_tensile_directory_is_deployed_with_its_library_in_one_transaction() {
    let t = tempfile::tempdir().unwrap();
    let r = file_recipe(t.path());
    // The install also writes a Tensile directory for {gpu} and gfx1030, as rocBLAS's does.
    let text = std::fs::read_to_string(&r).unwrap()
        + r#"
[[step]]
name = "tensile"
run = ["sh", "-c", "d={prefix}/lib/rocblas/library && mkdir -p $d && for a in {gpu} gfx1030; do echo catalog > $d/TensileLibrary_lazy_$a.dat; done"]

[[output]]
path = "lib/rocblas/library"
check = "tensile"
deploy = true
"#;
    std::fs::write(&r, text).unwrap();
    // torch/lib with its own rocBLAS Tensile directory (gfx1030 only).
    let lib = t.path().join("torch/lib");
    let tensile = lib.join("rocblas/library");
    std::fs::create_dir_all(&tensile).unwrap();
    std::fs::write(tensile.join("TensileLibrary_lazy_gfx1030.dat"), b"theirs").unwrap();
    std::fs::write(lib.join("libhiplib.so"), b"old").unwrap();
    let cache = t.path().join("cache");
    let state = t.path().join("state");
    let (o, v) = build_deploying(&r, &cache, &lib, &state);
    assert_eq!(o.code, 0, "{v:#?}");
    assert!(v.outputs[1].ok, "{v:#?}");
    let changes: Vec<&str> = v
        .deploy
        .as_ref()
        .unwrap()
        .changes
        .iter()
        .map(|c| c.path.as_str())
        .collect();
    assert_eq!(changes.len(), 2, "{v:#?}");
    // The gfx1010 catalog arrived; the tree's gfx1030 file is theirs still.
    assert_eq!(
        std::fs::read(tensile.join("TensileLibrary_lazy_gfx1010.dat")).unwrap(),
        b"catalog\n"
    );
    assert_eq!(
        std::fs::read(tensile.join("TensileLibrary_lazy_gfx1030.dat")).unwrap(),
        b"theirs"
    );
    assert_ne!(std::fs::read(lib.join("libhiplib.so")).unwrap(), b"old");
    rp().args(["rollback", "--last", "--state-dir"])
        .arg(&state)
        .run()
        .code(0);
    assert!(!tensile.join("TensileLibrary_lazy_gfx1010.dat").exists());
    assert_eq!(std::fs::read(lib.join("libhiplib.so")).unwrap(), b"old");
}

/// Processes whose command line is exactly `argv`.
fn processes_running(argv: &[&str]) -> usize {
    let want: Vec<u8> = argv.iter().flat_map(|a| a.bytes().chain([0])).collect();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == want))
        .count()
}

#[test]
fn ctrl_c_twice_quits_at_once_and_takes_the_step_with_it() {
    let t = tempfile::tempdir().unwrap();
    let r = file_recipe(t.path());
    // A build step that would run for minutes and ignores the first Ctrl-C.
    edit(
        &r,
        r#"run = ["cmake", "--build", "{build}", "--parallel", "{jobs}"]"#,
        r#"run = ["sh", "-c", "trap '' INT; exec sleep 317"]"#,
    );
    let cache = t.path().join("cache");
    let mut child = spawn_build(&r, &cache, &["--json"], Stdio::null());
    let pid = child.id();
    let err = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines() {
            let _ = tx.send(line.unwrap_or_default());
        }
    });
    loop {
        let l = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("the build step started");
        if l.contains("] build (log") {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(processes_running(&["sleep", "317"]), 1);
    // First Ctrl-C: passed on to the step (which ignores it) and reported.
    let _ = rp_sys::os::kill(pid, rp_sys::signal::SIGINT);
    let said: Vec<String> = (0..3)
        .filter_map(|_| rx.recv_timeout(Duration::from_secs(5)).ok())
        .take_while(|l| !l.contains("Ctrl-C again"))
        .collect();
    assert!(said.len() < 3, "no notice after the first Ctrl-C: {said:?}");
    assert!(
        child.try_wait().unwrap().is_none(),
        "quit on the first Ctrl-C"
    );
    // Second: rocm-patch dies of SIGINT at once, and the step's group with it.
    let _ = rp_sys::os::kill(pid, rp_sys::signal::SIGINT);
    let t0 = Instant::now();
    let st = child.wait().unwrap();
    assert!(t0.elapsed() < Duration::from_secs(5));
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(st.signal(), Some(2), "{st:?}");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        processes_running(&["sleep", "317"]),
        0,
        "the step outlived rocm-patch"
    );
}

/// A fake ROCm install: `include/hip/hip_version.h` of `version`, and (with `clang`) an
/// executable `llvm/bin/clang++` that prints a clang version.
fn fake_rocm(dir: &Path, version: &str, clang: bool) -> PathBuf {
    let r = dir.join(format!("rocm-{version}"));
    std::fs::create_dir_all(r.join("include/hip")).unwrap();
    let v: Vec<&str> = version.split('.').collect();
    std::fs::write(
        r.join("include/hip/hip_version.h"),
        format!(
            "#define HIP_VERSION_MAJOR {}\n#define HIP_VERSION_MINOR {}\n#define HIP_VERSION_PATCH {}\n",
            v[0], v[1], v[2]
        ),
    )
    .unwrap();
    if clang {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(r.join("llvm/bin")).unwrap();
        let c = r.join("llvm/bin/clang++");
        std::fs::write(&c, "#!/bin/sh\necho 'AMD clang version 18.0.0git'\n").unwrap();
        std::fs::set_permissions(&c, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    r
}

/// The report's preflight item of `kind`.
fn item(v: &BuildReport, kind: PreflightKind) -> &PreflightItem {
    v.preflight
        .iter()
        .find(|p| p.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} item: {v:#?}"))
}

/// The report's preflight item named `name`.
fn named<'a>(v: &'a BuildReport, name: &str) -> &'a PreflightItem {
    v.preflight
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no {name} item: {v:#?}"))
}

#[test]
fn the_rocm_in_use_and_its_compiler_come_from_the_machine_and_preflight_checks_them() {
    let t = tempfile::tempdir().unwrap();
    let cache = t.path().join("cache");
    // The output (its raw text too) and its report.
    let dry = |rocm: Option<&Path>, recipe: &str| {
        let c = rp()
            .args(["build", "--dry-run", recipe, "--gpu", "gfx1010", "--json"])
            .arg("--cache-dir")
            .arg(&cache);
        let c = match rocm {
            Some(r) => c.env("ROCM_PATH", r),
            None => c.env_remove("ROCM_PATH"),
        };
        let o = c.run();
        let v: BuildReport = o.json();
        (o, v)
    };
    // ROCM_PATH names a ROCm 6.2 without its compiler: the plan uses that install's
    // clang++, preflight says it does not exist, and the ROCm line matches.
    let r62 = fake_rocm(t.path(), "6.2.41134", false);
    let (_, v) = dry(Some(&r62), "miopen@3.2.0");
    let cxx = format!("{}/llvm/bin/clang++", r62.display());
    let toolchain = v.toolchain.as_ref().unwrap();
    assert_eq!(toolchain.rocm, r62.display().to_string());
    assert_eq!(toolchain.cxx, cxx);
    assert_eq!(toolchain.version.as_deref(), Some("6.2.41134"));
    let configure = &step(&v, 0).command;
    assert!(
        configure.contains(&format!("-DCMAKE_CXX_COMPILER={cxx}")),
        "{configure}"
    );
    assert!(item(&v, PreflightKind::Rocm).ok, "{v:#?}");
    let c = item(&v, PreflightKind::Compiler);
    assert!(!c.ok, "{v:#?}");
    assert!(
        c.problem.as_deref().unwrap().contains("does not exist"),
        "{c:#?}"
    );
    // The same install for a ROCm 6.4 recipe: refused by its ROCm line, with the
    // reason; the cost and the disk check are in the plan.
    let (_, v) = dry(Some(&r62), "rocrand@6.4.3");
    let rocm = item(&v, PreflightKind::Rocm);
    assert!(!rocm.ok, "{v:#?}");
    assert!(
        rocm.problem.as_deref().unwrap().contains("6.4 or newer"),
        "{rocm:#?}"
    );
    assert!(v.cost.as_ref().unwrap().disk_gib > 0.0, "{v:#?}");
    assert!(item(&v, PreflightKind::Disk).ok, "{v:#?}");
    // A ROCm 6.4 with its compiler passes both.
    let r64 = fake_rocm(t.path(), "6.4.43484", true);
    let (_, v) = dry(Some(&r64), "rocrand@6.4.3");
    assert!(item(&v, PreflightKind::Rocm).ok, "{v:#?}");
    assert!(item(&v, PreflightKind::Compiler).ok, "{v:#?}");
    // A real run reads the compiler's version and holds it to the recipe's minimum,
    // before anything is fetched.
    let r = file_recipe(t.path());
    edit(
        &r,
        "\n[[patch]]",
        "\n[[tool]]\nname = \"{cxx}\"\nmin = \"19\"\npackages = { debian = \"hipcc\" }\n\n[[patch]]",
    );
    let (_, v) = build_cmd(&r, "gfx1010", &cache)
        .arg("--json")
        .env("ROCM_PATH", &r64)
        .json::<BuildReport>();
    assert_eq!(v.outcome, BuildOutcome::PreflightFailed, "{v:#?}");
    let c = item(&v, PreflightKind::Compiler);
    assert_eq!(
        c.name,
        format!("{}/llvm/bin/clang++", r64.display()),
        "{c:#?}"
    );
    assert!(
        c.problem
            .as_deref()
            .unwrap()
            .ends_with("is 18.0.0; 19 or newer is needed"),
        "{c:#?}"
    );
    assert!(!cache.join("sources").exists(), "{v:#?}");
    // Without ROCM_PATH the install comes from doctor's list; a plan never names
    // /opt/rocm on a machine that has none.
    let (o, v) = dry(None, "miopen");
    let text = &o.stdout;
    if !Path::new("/opt/rocm").exists() {
        assert!(!text.contains("/opt/rocm"), "{text}");
    }
    assert!(!v.toolchain.as_ref().unwrap().from.is_empty(), "{v:#?}");
    // Whatever is missing is installed by one command per distribution.
    let missing: Vec<&PreflightItem> = v
        .preflight
        .iter()
        .filter(|p| !p.ok && !p.packages.is_empty())
        .collect();
    if missing.is_empty() {
        assert!(v.install.is_empty(), "{v:#?}");
    } else {
        let apt = v
            .install
            .iter()
            .filter(|l| l.starts_with("debian: apt install "))
            .collect::<Vec<_>>();
        assert_eq!(apt.len(), 1, "{v:#?}");
        for m in missing {
            for p in &m.packages {
                if let Some(names) = p.strip_prefix("debian: ") {
                    for n in names.split_whitespace() {
                        assert!(apt[0].split_whitespace().any(|w| w == n), "{n}: {}", apt[0]);
                    }
                }
            }
        }
    }
    // --show states the cost, the ROCm line and the mirrors.
    let o = rp().args(["build", "--show", "rocrand@6.4.3"]).run();
    let text = &o.stdout;
    assert!(
        text.contains("CPU-hours") && text.contains("6.4 or newer"),
        "{text}"
    );
    assert!(
        text.contains("mirror (same bytes): http://deb.debian.org"),
        "{text}"
    );
}

#[test]
fn a_dead_mirror_is_skipped_a_header_library_is_found_and_a_full_disk_stops_preflight() {
    let t = tempfile::tempdir().unwrap();
    let srv_dir = t.path().join("srv");
    std::fs::create_dir_all(&srv_dir).unwrap();
    let tb = tarball(t.path(), "hiplib-1.0.0", None);
    std::fs::copy(&tb, srv_dir.join("hiplib-1.0.0.tar.gz")).unwrap();
    let srv = serve(srv_dir, 0);
    // The first URL answers 404, the mirror serves the bytes.
    let dead = format!("http://127.0.0.1:{}/gone/hiplib-1.0.0.tar.gz", srv.port);
    let live = format!("http://127.0.0.1:{}/hiplib-1.0.0.tar.gz", srv.port);
    let r = recipe(t.path(), &dead, &sha256(&tb), None);
    edit(
        &r,
        "[source]\n",
        &format!("[source]\nmirrors = [\"{live}\"]\n"),
    );
    // A library without a pkg-config file, found by its header and library as CMake
    // finds it (a header in a CMAKE_PREFIX_PATH root).
    let inc = t.path().join("deps");
    std::fs::create_dir_all(inc.join("include/rp")).unwrap();
    std::fs::create_dir_all(inc.join("lib")).unwrap();
    std::fs::write(inc.join("include/rp/rp-test.h"), "").unwrap();
    std::fs::write(inc.join("lib/librptest.so"), "").unwrap();
    edit(
        &r,
        "\n[[patch]]",
        "\n[[library]]\nname = \"rptest\"\npkg_config = \"rp-no-such-module\"\nheader = \"rp/rp-test.h\"\nlib = \"rptest\"\npackages = { debian = \"librptest-dev\" }\n\n[[patch]]",
    );
    let cache = t.path().join("cache");
    let (_, v) = build_cmd(&r, "gfx1010", &cache)
        .args(["--json", "--jobs", "2"])
        .env("CMAKE_PREFIX_PATH", &inc)
        .json::<BuildReport>();
    assert_eq!(v.outcome, BuildOutcome::Ok, "{v:#?}");
    assert_eq!(source(&v).location, live, "{v:#?}");
    let notes = v.notes.join("\n");
    assert!(
        notes.contains(&dead) && notes.contains("404") && notes.contains("next mirror"),
        "{notes}"
    );
    let lib = named(&v, "rptest");
    assert!(lib.ok, "{lib:#?}");
    let found = lib.found.as_deref().unwrap();
    assert!(
        found.contains("no rp-no-such-module.pc") && found.contains("librptest.so"),
        "{lib:#?}"
    );
    // Without the library the header check fails and names the package.
    std::fs::remove_file(inc.join("lib/librptest.so")).unwrap();
    let (_, v) = build_cmd(&r, "gfx1010", &cache)
        .args(["--json", "--dry-run"])
        .env("CMAKE_PREFIX_PATH", &inc)
        .json::<BuildReport>();
    let lib = named(&v, "rptest");
    assert!(!lib.ok, "{lib:#?}");
    assert!(
        lib.problem.as_deref().unwrap().contains("librptest.so"),
        "{lib:#?}"
    );
    assert_eq!(
        v.install.first().map(String::as_str),
        Some("debian: apt install librptest-dev"),
        "{v:#?}"
    );
    // A cost larger than the free disk stops preflight before anything is fetched.
    edit(
        &r,
        "[source]\n",
        "[cost]\ncore_hours = 1.0\ndisk_gib = 1000000.0\nbasis = \"test\"\n\n[source]\n",
    );
    std::fs::write(inc.join("lib/librptest.so"), "").unwrap();
    let hits = srv.hits.load(Ordering::SeqCst);
    let cache2 = t.path().join("cache2");
    let (_, v) = build_cmd(&r, "gfx1010", &cache2)
        .args(["--json"])
        .env("CMAKE_PREFIX_PATH", &inc)
        .json::<BuildReport>();
    assert_eq!(v.outcome, BuildOutcome::PreflightFailed, "{v:#?}");
    let disk = item(&v, PreflightKind::Disk);
    assert!(!disk.ok, "{disk:#?}");
    assert!(
        disk.problem.as_deref().unwrap().contains("1000000.0 GiB"),
        "{disk:#?}"
    );
    assert_eq!(srv.hits.load(Ordering::SeqCst), hits);
}

/// A server on 127.0.0.1 that answers every request with `reply(path)` (raw bytes;
/// `None`: send headers for `len` bytes, then half of them, then nothing more).
fn hostile(reply: fn(&str) -> Result<Vec<u8>, usize>) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().take(20) {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                let mut first = String::new();
                let mut r = BufReader::new(s.try_clone().unwrap());
                let _ = r.read_line(&mut first);
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap_or(0) <= 2 {
                        break;
                    }
                }
                let path = first.split_whitespace().nth(1).unwrap_or("/").to_string();
                match reply(&path) {
                    Ok(bytes) => {
                        let _ = s.write_all(&bytes);
                    }
                    Err(len) => {
                        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n");
                        let _ = s.write_all(head.as_bytes());
                        let _ = s.write_all(&vec![0u8; len / 2]);
                        let _ = s.flush();
                        std::thread::sleep(std::time::Duration::from_secs(120));
                    }
                }
            });
        }
    });
    port
}

/// Issue 29: a redirect to file:// or to another host, an endless body, a body that
/// stops: each a clear refusal or error, quickly, never a panic or a hang.
#[test]
fn hostile_download_servers_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let cache = d.path().join("cache");
    let tb = tarball(d.path(), "hiplib-1.0.0", None);
    let sha = sha256(&tb);
    let size = std::fs::metadata(&tb).unwrap().len();
    let run = |url: String, extra_source: &str| {
        let r = recipe(d.path(), &url, &sha, None);
        if !extra_source.is_empty() {
            edit(
                &r,
                &format!("sha256 = \"{sha}\""),
                &format!("sha256 = \"{sha}\"\n{extra_source}"),
            );
        }
        let t = std::time::Instant::now();
        let o = build_cmd(&r, "gfx1010", &cache)
            .env("RP_BUILD_READ_TIMEOUT_S", "2")
            .arg("--json")
            .run();
        (o, t.elapsed())
    };
    // A redirect to file:// (the HTTP client used to panic on it: exit 101).
    let port = hostile(|_| {
        Ok(
            b"HTTP/1.1 302 Found\r\nLocation: file:///etc/passwd\r\nContent-Length: 0\r\n\r\n"
                .to_vec(),
        )
    });
    let (o, _) = run(format!("http://127.0.0.1:{port}/x.tar.gz"), "");
    assert_ne!(o.code, 101, "{}", o.stderr);
    assert!(matches!(o.code, 1 | 2), "{o:?}");
    let all = format!("{}{}", o.stdout, o.stderr);
    assert!(
        all.contains("redirects to file:///etc/passwd") && all.contains("refused"),
        "{all}"
    );
    // A redirect to a host the recipe does not list.
    let port = hostile(|_| {
        Ok(b"HTTP/1.1 301 Moved\r\nLocation: http://203.0.113.9/x.tar.gz\r\nContent-Length: 0\r\n\r\n".to_vec())
    });
    let (o, _) = run(format!("http://127.0.0.1:{port}/x.tar.gz"), "");
    let all = format!("{}{}", o.stdout, o.stderr);
    assert!(
        all.contains("redirects to http://203.0.113.9/x.tar.gz"),
        "{all}"
    );
    // An endless body (no Content-Length): cut at the recipe's size, the part removed.
    let port = hostile(|_| {
        let mut v = b"HTTP/1.0 200 OK\r\n\r\n".to_vec();
        v.extend(std::iter::repeat_n(0u8, 64 << 20));
        Ok(v)
    });
    let (o, t) = run(
        format!("http://127.0.0.1:{port}/x.tar.gz"),
        &format!("size = {size}"),
    );
    let all = format!("{}{}", o.stdout, o.stderr);
    assert!(all.contains(&format!("more than {size} bytes")), "{all}");
    assert!(t.as_secs() < 30, "{t:?}");
    let parts: Vec<_> = walkdir::WalkDir::new(&cache)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "part"))
        .filter(|e| e.metadata().unwrap().len() > size)
        .collect();
    assert!(
        parts.is_empty(),
        "an oversized download was kept: {parts:?}"
    );
    // A body that stops half way: the read times out (resumable), no hang.
    let port = hostile(|_| Err(4 << 20));
    let (o, t) = run(format!("http://127.0.0.1:{port}/x.tar.gz"), "");
    assert!(t.as_secs() < 60, "hung for {t:?}");
    assert_eq!(o.code, 1, "{o:?}");
}

/// Issue 29: every `--system` and `/` check before anything runs, the same guard for
/// `deploy`, `--source /` refused before it is read, and outputs confined to the prefix.
#[test]
fn paths_are_checked_before_anything_runs_and_outputs_stay_in_the_prefix() {
    let d = tempfile::tempdir().unwrap();
    let cache = d.path().join("cache");
    let r = file_recipe(d.path());
    for into in ["/", "/usr/lib"] {
        let t = std::time::Instant::now();
        let o = build_cmd(&r, "gfx1010", &cache)
            .args(["--deploy-into", into])
            .run();
        assert_eq!(o.code, 2, "{o:?}");
        let err = &o.stderr;
        assert!(
            err.contains("system path") && err.contains("--system"),
            "{err}"
        );
        assert!(t.elapsed().as_secs() < 10, "refused only after building");
        assert!(
            !cache.join("build").exists(),
            "something ran before the refusal"
        );
    }
    let name = format!("rocm-patch-test-{}.so", std::process::id());
    let lib = d.path().join(&name);
    std::fs::write(&lib, b"x").unwrap();
    let o = rp()
        .state_dir(d.path().join("state"))
        .args(["deploy", "lib"])
        .arg(&lib)
        .args(["--into", "/"])
        .run();
    let leaked = std::path::Path::new("/").join(&name);
    if leaked.exists() {
        let _ = std::fs::remove_file(&leaked);
        panic!("deploy wrote {} without --system", leaked.display());
    }
    assert_ne!(o.code, 0, "{o:?}");
    assert!(o.stderr.contains("system path"), "{o:?}");
    // --source / is refused at once, never hashed.
    let t = std::time::Instant::now();
    let o = build_cmd(&r, "gfx1010", &cache)
        .args(["--source", "/"])
        .run();
    assert_eq!(o.code, 2, "{o:?}");
    assert!(o.stderr.contains("root directory"), "{o:?}");
    assert!(t.elapsed().as_secs() < 10);
    // An output that names a file outside the prefix is never verified or deployed.
    edit(&r, "path = \"lib/libhiplib.so\"", "path = \"/etc/passwd\"");
    let lib_dir = d.path().join("torch-lib");
    std::fs::create_dir_all(&lib_dir).unwrap();
    let (o, v) = build_deploying(&r, &cache, &lib_dir, &d.path().join("state"));
    assert_ne!(o.code, 0, "{v:#?}");
    assert!(
        v.outputs.iter().any(|out| out
            .problem
            .as_deref()
            .is_some_and(|p| p.contains("not a path inside the prefix"))),
        "{v:#?}"
    );
    assert!(v.deploy.is_none(), "{v:#?}");
    assert_eq!(std::fs::read_dir(&lib_dir).unwrap().count(), 0);
}
