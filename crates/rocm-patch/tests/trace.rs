//! `rocm-patch trace` with real parts: Debian's HIP 5.2 runtime (`libamdhip64`) and a
//! program hipcc builds for gfx1010 and gfx1030, run here without a GPU; a stand-in
//! runtime built in the test with the same versioned symbols, which records the flags it
//! receives; a program that segfaults right after a launch. The interposer
//! (librp_trace_preload.so) is built by scripts/test.sh beside the binary.
#![cfg(feature = "real-data")]

mod common;
#[path = "../../rp-codeobj/tests/support/kpack_writer.rs"]
mod kpack_writer;
#[path = "common/therock.rs"]
mod therock;

use common::{cli, Rp};
use rp_report::{ExplainReport, FatbinMagic, TracePolicy, TraceReport};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn rp() -> Rp {
    cli()
}

fn preload() -> PathBuf {
    let p = Path::new(env!("CARGO_BIN_EXE_rocm-patch"))
        .parent()
        .unwrap()
        .join("librp_trace_preload.so");
    assert!(
        p.is_file(),
        "{} is missing: scripts/test.sh builds it (cargo build --workspace --release)",
        p.display()
    );
    p
}

fn run(c: &mut Command) -> std::process::Output {
    let o = c.output().unwrap();
    assert!(
        o.status.code().is_some() || o.status.signal().is_some(),
        "no status"
    );
    o
}

const HIP_PROGRAM: &str = r#"
#include <hip/hip_runtime.h>
#include <stdio.h>
__global__ void add_one(float* x) { x[threadIdx.x] += 1.0f; }
int main() {
  int n = -1;
  hipError_t e = hipGetDeviceCount(&n);
  fprintf(stderr, "hipGetDeviceCount=%d\n", (int)e);
  float* p = 0;
  e = hipMalloc((void**)&p, 1024);
  fprintf(stderr, "hipMalloc=%d\n", (int)e);
  return 7;
}
"#;

/// Debian's real HIP runtime: the program's fat binary registration is recorded with both
/// targets (constructors run before any device is needed), the runtime's own error codes
/// come back through the interposer, and the exit status passes through. The program's
/// references are versioned (`hipMalloc@hip_4.2`), and they bind to the interposer.
#[test]
fn a_hipcc_program_under_the_real_runtime() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("t.hip");
    std::fs::write(&src, HIP_PROGRAM).unwrap();
    let exe = d.path().join("t");
    let o = run(Command::new("hipcc")
        .args(["--offload-arch=gfx1010", "--offload-arch=gfx1030"])
        .arg(&src)
        .arg("-o")
        .arg(&exe));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The references are versioned.
    let syms = run(Command::new("objdump").arg("-T").arg(&exe));
    let syms = String::from_utf8_lossy(&syms.stdout);
    assert!(
        syms.lines()
            .any(|l| l.contains("(hip_4.2)") && l.ends_with(" hipMalloc")),
        "{syms}"
    );
    // Without the interposer: the real runtime's answers.
    let plain = run(&mut Command::new(&exe));
    let plain_out = String::from_utf8_lossy(&plain.stderr).into_owned();
    assert_eq!(plain.status.code(), Some(7));
    let rec = d.path().join("t.jsonl");
    let o = rp()
        .args(["trace", "--gpu", "gfx1010", "--json", "-o"])
        .arg(&rec)
        .arg("--")
        .arg(&exe)
        .run();
    let v: TraceReport = serde_json::from_str(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", o.stdout.as_str(), o.stderr.as_str()));
    assert_eq!(o.code, 7, "{v:#?}");
    assert_eq!(v.exit.as_ref().unwrap().code, Some(7));
    // The program saw the same answers through the interposer.
    assert_eq!(o.stderr.as_str(), plain_out);
    let fb = &v.fatbins[0];
    assert_eq!(fb.magic, Some(FatbinMagic::Hipf));
    assert_eq!(fb.lib, Some(exe.display().to_string()));
    assert_eq!(fb.targets, ["gfx1010", "gfx1030"]);
    assert_eq!(fb.runs_here, Some(true));
    let errors = &v.errors;
    let code = |api: &str| {
        errors
            .iter()
            .find(|e| e.api == api)
            .map(|e| i64::from(e.code))
    };
    // The codes the program printed without the interposer.
    let want = |name: &str| -> i64 {
        plain_out
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(code("hipGetDeviceCount"), Some(want("hipGetDeviceCount")));
    assert_eq!(code("hipMalloc"), Some(want("hipMalloc")));
    assert_eq!(
        errors
            .iter()
            .find(|e| e.api == "hipGetDeviceCount")
            .unwrap()
            .name
            .as_deref(),
        Some("hipErrorNoDevice")
    );
    // The record holds the kernel's registration.
    let recs = std::fs::read_to_string(&rec).unwrap();
    assert!(recs.contains("\"name\":\"_Z7add_onePf\""), "{recs}");
    assert!(recs.lines().last().unwrap().contains("\"ev\":\"exit\""));
    // Checked against gfx90a, the same binary has nothing to run.
    let o = rp()
        .args(["trace", "--gpu", "gfx90a", "--read"])
        .arg(&rec)
        .run();
    let text = o.stdout.as_str();
    assert!(text.contains("NO CODE FOR THIS GPU"), "{text}");
    // A record is never written over.
    let o = rp()
        .args(["trace", "-o"])
        .arg(&rec)
        .arg("--")
        .arg(&exe)
        .run();
    assert_eq!(o.code, 2);
    assert!(o.stderr.as_str().contains("the file exists"));
}

const STANDIN: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
typedef struct { unsigned x, y, z; } dim3;
static FILE* logf(void) {
  static FILE* f;
  if (!f) f = fopen(getenv("STANDIN_LOG"), "a");
  return f;
}
static int depth;
#define ENTER(name, flags) do { \
  if (++depth > 1) { fprintf(logf(), "RECURSION %s\n", name); fflush(logf()); abort(); } \
  fprintf(logf(), "%s 0x%x\n", name, (unsigned)(flags)); fflush(logf()); } while (0)
#define LEAVE() (--depth)
static char heap[1 << 16];
int hipMalloc(void** p, size_t n) { ENTER("hipMalloc", 0); *p = heap; LEAVE(); return 0; }
int hipMallocAsync(void** p, size_t n, void* s) { ENTER("hipMallocAsync", 0); *p = heap; LEAVE(); return 0; }
int hipExtMallocWithFlags(void** p, size_t n, unsigned f) { ENTER("hipExtMallocWithFlags", f); *p = heap; LEAVE(); return 0; }
int hipHostMalloc(void** p, size_t n, unsigned f) { ENTER("hipHostMalloc", f); *p = heap; LEAVE(); return 0; }
int hipHostAlloc(void** p, size_t n, unsigned f) { ENTER("hipHostAlloc", f); *p = heap; LEAVE(); return 0; }
int hipExtHostAlloc(void** p, size_t n, unsigned f) { ENTER("hipExtHostAlloc", f); *p = heap; LEAVE(); return 0; }
int hipFree(void* p) { return 0; }
int hipLaunchKernel(const void* f, dim3 g, dim3 b, void** a, size_t s, void* st) { return 0; }
"#;

const STANDIN_MAP: &str = "hip_4.2 { global: hipMalloc; hipExtMallocWithFlags; hipHostMalloc; hipHostAlloc; hipFree; hipLaunchKernel; local: *; };\nhip_5.1 { global: hipMallocAsync; } hip_4.2;\nhip_6.3 { global: hipExtHostAlloc; } hip_5.1;\n";

const PROGRAM: &str = r#"
#include <stdio.h>
#include <string.h>
#include <stddef.h>
typedef struct { unsigned x, y, z; } dim3;
int hipMalloc(void**, size_t); int hipMallocAsync(void**, size_t, void*);
int hipExtMallocWithFlags(void**, size_t, unsigned); int hipHostMalloc(void**, size_t, unsigned);
int hipHostAlloc(void**, size_t, unsigned); int hipExtHostAlloc(void**, size_t, unsigned);
int hipFree(void*); int hipLaunchKernel(const void*, dim3, dim3, void**, size_t, void*);
static void kernel_stub(void) {}
int main(int argc, char** argv) {
  void* p;
  if (argc > 1 && strcmp(argv[1], "crash") == 0) {
    hipMalloc(&p, 4096);
    dim3 g = {4, 2, 1}, b = {256, 1, 1};
    hipLaunchKernel((const void*)kernel_stub, g, b, 0, 0, 0);
    *(volatile int*)0 = 1;
  }
  hipHostMalloc(&p, 64, 0);
  hipHostMalloc(&p, 64, 0x40000001);
  hipHostAlloc(&p, 64, 0x2);
  hipExtHostAlloc(&p, 64, 0x4);
  hipExtMallocWithFlags(&p, 64, 0x1);
  hipExtMallocWithFlags(&p, 64, 0x3);
  hipExtMallocWithFlags(&p, 64, 0x4);
  hipMalloc(&p, 64);
  hipMallocAsync(&p, 64, 0);
  hipFree(p);
  return 0;
}
"#;

/// Build the stand-in runtime and the program linked against it.
fn standin(d: &Path) -> PathBuf {
    std::fs::write(d.join("standin.c"), STANDIN).unwrap();
    std::fs::write(d.join("standin.map"), STANDIN_MAP).unwrap();
    std::fs::write(d.join("prog.c"), PROGRAM).unwrap();
    let o = run(Command::new("cc").current_dir(d).args([
        "-shared",
        "-fPIC",
        "-O1",
        "-Wl,--version-script=standin.map",
        "-Wl,-soname,libhipstandin.so",
        "standin.c",
        "-o",
        "libhipstandin.so",
    ]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(Command::new("cc").current_dir(d).args([
        "-O1",
        "prog.c",
        "-o",
        "prog",
        "-L.",
        "-lhipstandin",
        "-Wl,-rpath,$ORIGIN",
    ]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    d.join("prog")
}

fn flags_seen(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

/// `--policy seed` changes exactly the documented flags (host: Coherent off,
/// NonCoherent on; device: Finegrained and Uncached become the default) and nothing else;
/// each function of the stand-in is entered once per call (no recursion).
#[test]
fn the_seed_policy_changes_exactly_the_documented_flags() {
    let d = tempfile::tempdir().unwrap();
    let prog = standin(d.path());
    let log = d.path().join("plain.log");
    let o = rp()
        .args(["trace", "--gpu", "gfx1010", "--json", "--"])
        .arg(&prog)
        .env("STANDIN_LOG", &log)
        .run();
    assert_eq!(o.code, 0, "{}", o.stderr.as_str());
    let asked = [
        "hipHostMalloc 0x0",
        "hipHostMalloc 0x40000001",
        "hipHostAlloc 0x2",
        "hipExtHostAlloc 0x4",
        "hipExtMallocWithFlags 0x1",
        "hipExtMallocWithFlags 0x3",
        "hipExtMallocWithFlags 0x4",
        "hipMalloc 0x0",
        "hipMallocAsync 0x0",
    ];
    assert_eq!(flags_seen(&log), asked);
    let v: TraceReport = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v.changed_by_policy, 0);
    assert_eq!(v.policy, TracePolicy::None);

    let log = d.path().join("seed.log");
    let o = rp()
        .args([
            "trace", "--policy", "seed", "--gpu", "gfx1010", "--json", "--",
        ])
        .arg(&prog)
        .env("STANDIN_LOG", &log)
        .run();
    assert_eq!(o.code, 0);
    assert_eq!(
        flags_seen(&log),
        [
            "hipHostMalloc 0x80000000",
            "hipHostMalloc 0x80000001",
            "hipHostAlloc 0x80000002",
            "hipExtHostAlloc 0x80000004",
            "hipExtMallocWithFlags 0x0",
            "hipExtMallocWithFlags 0x0",
            "hipExtMallocWithFlags 0x4",
            "hipMalloc 0x0",
            "hipMallocAsync 0x0",
        ]
    );
    let v: TraceReport = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v.policy, TracePolicy::Seed);
    // Six calls changed: four host allocations, two device ones.
    assert_eq!(v.changed_by_policy, 6);
    let a = &v.allocations;
    let coherent = a
        .iter()
        .find(|x| x.asked.as_deref() == Some("Portable|Coherent"))
        .unwrap_or_else(|| panic!("{a:#?}"));
    assert_eq!(coherent.flags.as_deref(), Some("Portable|NonCoherent"));
    assert!(a.iter().any(|x| x.api == "hipExtMallocWithFlags"
        && x.asked.as_deref() == Some("Finegrained")
        && x.flags.as_deref() == Some("Default")));
    assert!(a.iter().any(|x| x.api == "hipExtMallocWithFlags"
        && x.flags.as_deref() == Some("Contiguous")
        && x.asked.is_none()));
}

/// A program that segfaults right after a launch: its record's last line is that launch,
/// the summary shows it among the last launches, and the signal passes through.
#[test]
fn a_crash_right_after_a_launch_leaves_the_launch_last() {
    let d = tempfile::tempdir().unwrap();
    let prog = standin(d.path());
    let rec = d.path().join("crash.jsonl");
    let o = rp()
        .args(["trace", "--gpu", "gfx1010", "--json", "-o"])
        .arg(&rec)
        .arg("--")
        .arg(&prog)
        .arg("crash")
        .env("STANDIN_LOG", d.path().join("crash.log"))
        .run();
    assert_eq!(o.signal, Some(libc_sigsegv()), "{:?}", o);
    let v: TraceReport =
        serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", o.stdout.as_str()));
    assert_eq!(v.exit.as_ref().unwrap().signal.as_deref(), Some("SIGSEGV"));
    assert!(v.ended_abnormally);
    let recs = std::fs::read(&rec).unwrap();
    let text = String::from_utf8_lossy(&recs);
    // The last record (the interposer's own `clock` calibrations aside).
    let last = text
        .split('\n')
        .map(|l| l.trim_matches('\0'))
        .rfind(|l| !l.is_empty() && !l.contains("\"ev\":\"clock\""))
        .unwrap();
    assert!(last.contains("\"ev\":\"launch\""), "{last}");
    assert!(last.contains("\"grid\":[4,2,1]") && last.contains("\"block\":[256,1,1]"));
    let l = &v.last_launches[0];
    assert_eq!(l.grid, [4, 2, 1]);
    // explain reads the record: the launch was the last thing the program did.
    let o = rp()
        .args(["explain", "--no-machine", "--json", "--trace"])
        .arg(&rec)
        .arg(d.path().join("crash.log"))
        .run();
    let e: ExplainReport = serde_json::from_str(&o.stdout).unwrap();
    let ev: Vec<&str> = e.trace_evidence.iter().map(String::as_str).collect();
    assert!(
        ev.iter()
            .any(|l| l.contains("ended without its exit record")),
        "{ev:?}"
    );
    assert!(
        ev.iter()
            .any(|l| l.starts_with("the last kernel launched was `unregistered kernel")),
        "{ev:?}"
    );
}

fn libc_sigsegv() -> i32 {
    11
}

#[test]
fn without_a_command_or_with_a_bad_gpu_it_says_so() {
    let _ = preload();
    let o = rp().args(["trace"]).run();
    assert_eq!(o.code, 2);
    assert!(o.stderr.as_str().contains("put `--` before the command"));
    let o = rp().args(["trace", "--gpu", "gfx9999", "--", "true"]).run();
    assert_eq!(o.code, 2);
    assert!(o.stderr.as_str().contains("gfx9999"));
    let o = rp()
        .args(["trace", "--gpu", "gfx1010", "--", "/nonexistent/prog"])
        .run();
    assert_eq!(o.code, 127);
}

/// torch's case: the HIP runtime is a dependency of a library that Python loads into a
/// local scope (RTLD_LOCAL), where `dlsym(RTLD_NEXT)` cannot see it. The library's call
/// still reaches the real runtime through the interposer, which finds it by its handle.
#[test]
fn a_runtime_in_a_local_scope_is_still_reached() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("user.c"),
        "int hipGetDeviceCount(int*);\nint count(void) { int n = -1; return hipGetDeviceCount(&n); }\n",
    )
    .unwrap();
    let o = run(Command::new("cc").current_dir(d.path()).args([
        "-shared",
        "-fPIC",
        "user.c",
        "-o",
        "libuser.so",
        "-l:libamdhip64.so.5",
    ]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lib = d.path().join("libuser.so");
    let script = format!(
        "import ctypes, sys; sys.stderr.write('ret %d\\n' % ctypes.CDLL({:?}).count())",
        lib.display().to_string()
    );
    let plain = run(Command::new("python3").args(["-c", &script]));
    let want = String::from_utf8_lossy(&plain.stderr).into_owned();
    assert!(want.starts_with("ret "), "{want}");
    let o = rp()
        .args(["trace", "--gpu", "gfx1010", "--json", "--", "python3", "-c"])
        .arg(&script)
        .run();
    assert_eq!(o.stderr.as_str(), want);
    let v: TraceReport = serde_json::from_str(&o.stdout).unwrap();
    let code: i64 = want.trim().strip_prefix("ret ").unwrap().parse().unwrap();
    assert!(
        v.errors
            .iter()
            .any(|e| e.api == "hipGetDeviceCount" && i64::from(e.code) == code),
        "{v:#?}"
    );
    assert!(v.notes.is_empty(), "{v:#?}");
}

/// Libraries loaded with dlopen by a program linked against the real runtime: a
/// clang-19 library with compressed bundles (CCOB) is read through its compression, and a
/// kpack'd copy of a hipcc library registers `HIPK` wrappers, reported as such.
#[test]
fn compressed_bundles_and_kpack_wrappers_are_read() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("dl.c"),
        "#include <dlfcn.h>\n#include <stdio.h>\nint main(int c, char** v) { for (int i = 1; i < c; i++) { void* h = dlopen(v[i], RTLD_NOW); fprintf(stderr, \"%s\\n\", h ? \"loaded\" : dlerror()); } return 0; }\n",
    )
    .unwrap();
    let o = run(Command::new("cc").current_dir(d.path()).args([
        "dl.c",
        "-o",
        "dl",
        "-Wl,--no-as-needed",
        "-l:libamdhip64.so.5",
        "-ldl",
    ]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let kpackd = d.path().join("libkpackd.so");
    therock::kpackd(
        &common::fx("libnative_gfx101x.so"),
        &kpackd,
        "lib/libnative_gfx101x.so",
        &["../.kpack/native_gfx1010.kpack"],
        d.path(),
    );
    let o = rp()
        .args(["trace", "--gpu", "gfx1100", "--json", "--"])
        .arg(d.path().join("dl"))
        .arg(common::fx("libccob.so"))
        .arg(&kpackd)
        .run();
    let err = o.stderr.as_str();
    assert_eq!(err.matches("loaded").count(), 2, "{err}");
    let v: TraceReport = serde_json::from_str(&o.stdout).unwrap();
    let fb = &v.fatbins;
    let ccob: Vec<_> = fb
        .iter()
        .filter(|f| f.lib.as_deref().unwrap().ends_with("libccob.so"))
        .collect();
    assert_eq!(ccob.len(), 2, "two translation units: {v:#?}");
    for f in ccob {
        assert!(f.compressed);
        assert_eq!(f.targets, ["gfx1010", "gfx1100"]);
        assert_eq!(f.runs_here, Some(true));
    }
    let k: Vec<_> = fb
        .iter()
        .filter(|f| f.lib.as_deref().unwrap().ends_with("libkpackd.so"))
        .collect();
    assert!(!k.is_empty(), "{v:#?}");
    for f in k {
        assert_eq!(f.magic, Some(FatbinMagic::Hipk));
        // This copy adds .rocm_kpack_ref unmapped (TheRock maps it): the pointer leads to
        // the zeroed bundle, which is said, not misread.
        assert!(f.targets.is_empty());
        assert!(f.kpack.is_some() || f.error.is_some(), "{f:?}");
    }
}

/// A stand-in runtime with a kernel registration, and a program that registers a kernel,
/// launches it, then either makes N rounds of calls (`calls N`), forks N children that
/// each launch it twice and leave with `_exit` (`fork N`: no atexit, as after a crash,
/// a kill or an exec), dies by SIGKILL after N rounds (`kill N`), or replaces itself with
/// `calls N` (`exec N`).
const STORM_STANDIN: &str = r#"
#include <stddef.h>
typedef struct { unsigned x, y, z; } dim3;
static char heap[64];
int hipMalloc(void** p, size_t n) { *p = heap; return 0; }
int hipFree(void* p) { return 0; }
int hipLaunchKernel(const void* f, dim3 g, dim3 b, void** a, size_t s, void* st) { return 0; }
void __hipRegisterFunction(void** m, const void* h, char* d, const char* n, unsigned t,
  void* tid, void* bid, dim3* bd, dim3* gd, int* w) {}
"#;

const STORM_MAP: &str =
    "hip_4.2 { global: hipMalloc; hipFree; hipLaunchKernel; __hipRegisterFunction; local: *; };\n";

const STORM: &str = r#"
#include <signal.h>
#include <stdlib.h>
#include <stddef.h>
#include <unistd.h>
#include <sys/wait.h>
typedef struct { unsigned x, y, z; } dim3;
int hipMalloc(void**, size_t); int hipFree(void*);
int hipLaunchKernel(const void*, dim3, dim3, void**, size_t, void*);
void __hipRegisterFunction(void**, const void*, char*, const char*, unsigned, void*, void*,
  dim3*, dim3*, int*);
static void kernel(void) {}
static void round_(void) {
  void* p; dim3 g = {1, 1, 1}, b = {64, 1, 1};
  hipMalloc(&p, 64); hipLaunchKernel((const void*)kernel, g, b, 0, 0, 0); hipFree(p);
}
int main(int argc, char** argv) {
  long n = atol(argv[2]);
  __hipRegisterFunction(0, (const void*)kernel, 0, "_Z6kernelv", 0, 0, 0, 0, 0, 0);
  round_();
  if (argv[1][0] == 'c') { for (long i = 0; i < n; i++) round_(); return 0; }
  if (argv[1][0] == 'k') { for (long i = 0; i < n; i++) round_(); raise(SIGKILL); }
  if (argv[1][0] == 'e') { char* again[] = {argv[0], "calls", argv[2], 0}; execv(argv[0], again); return 9; }
  for (long i = 0; i < n; i++) {
    pid_t c = fork();
    if (c == 0) { round_(); round_(); _exit(0); }
    if (c > 0) waitpid(c, 0, 0);
  }
  return 0;
}
"#;

fn storm_prog(d: &Path) -> PathBuf {
    std::fs::write(d.join("s.c"), STORM_STANDIN).unwrap();
    std::fs::write(d.join("s.map"), STORM_MAP).unwrap();
    std::fs::write(d.join("storm.c"), STORM).unwrap();
    let o = run(Command::new("cc").current_dir(d).args([
        "-shared",
        "-fPIC",
        "-O1",
        "-Wl,--version-script=s.map",
        "-Wl,-soname,libhipstorm.so",
        "s.c",
        "-o",
        "libhipstorm.so",
    ]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(Command::new("cc").current_dir(d).args([
        "-O1",
        "storm.c",
        "-o",
        "storm",
        "-L.",
        "-lhipstorm",
        "-Wl,-rpath,$ORIGIN",
    ]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    d.join("storm")
}

/// Whether a record file holds exactly its records: it ends with a newline and has no
/// zeros.
fn just_records(p: &Path) -> bool {
    let b = std::fs::read(p).unwrap();
    b.last() == Some(&b'\n') && !b.contains(&0)
}

/// A process killed by SIGKILL leaves its records and at most a few MiB more (the file
/// grows by use; it was 1 GiB, sparse), and the next reader cuts the file to its records
/// and says so; nothing of the summary is lost.
#[test]
fn a_killed_process_leaves_a_small_record_that_the_reader_cuts() {
    let d = tempfile::tempdir().unwrap();
    let prog = storm_prog(d.path());
    let rec = d.path().join("k.jsonl");
    let o = run(Command::new(&prog)
        .args(["kill", "1000"])
        .env("LD_PRELOAD", preload())
        .env("RP_TRACE_FILE", &rec));
    assert_eq!(o.status.signal(), Some(9));
    let left = std::fs::metadata(&rec).unwrap().len();
    assert!(left < 16 << 20, "a killed process left {left} bytes");
    let o = rp().args(["trace", "--json", "--read"]).arg(&rec).run();
    let v: TraceReport =
        serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", o.stderr.as_str()));
    assert!(just_records(&rec), "not cut to its records");
    let now = std::fs::metadata(&rec).unwrap().len();
    assert!(now <= left);
    assert_eq!(v.launches, 1001);
    assert!(v.ended_abnormally);
    assert_eq!(v.kernels[0].name, "_Z6kernelv");
    assert_eq!(v.allocations[0].count, 1001);
    assert_eq!(v.frees, 1001);
    assert!(left > now, "{left} bytes, not cut");
    let notes = serde_json::to_string(&v.notes).unwrap();
    assert!(
        notes.contains(&format!("the file was cut from {left} to {now} bytes")),
        "{notes}"
    );
    // Read again: the same summary, nothing more to cut.
    let again = rp().args(["trace", "--json", "--read"]).arg(&rec).run();
    let w: TraceReport = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(w.launches, v.launches);
    assert_eq!(w.records, v.records);
    assert!(!serde_json::to_string(&w.notes).unwrap().contains("was cut"));
}

/// 200 forked children that leave with `_exit`: traced end to end in under 10 s (it took
/// over 60 s with a 1 GiB sparse file per process), each file cut to its records, and a
/// child's launches of a kernel its parent registered carry the kernel's name.
#[test]
fn a_fork_storm_of_200_children_is_summarised_in_under_10_s() {
    let d = tempfile::tempdir().unwrap();
    let prog = storm_prog(d.path());
    let rec = d.path().join("storm.jsonl");
    let t = std::time::Instant::now();
    let o = rp()
        .args(["trace", "--json", "-o"])
        .arg(&rec)
        .arg("--")
        .arg(&prog)
        .args(["fork", "200"])
        .run();
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(o.code, 0, "{}", o.stderr.as_str());
    assert!(secs < 10.0, "{secs:.1} s");
    let v: TraceReport = serde_json::from_str(&o.stdout).unwrap();
    let files = &v.files;
    assert_eq!(files.len(), 201);
    let mut bytes = 0;
    for f in files {
        let f = Path::new(f);
        assert!(just_records(f), "{} not cut to its records", f.display());
        bytes += std::fs::metadata(f).unwrap().len();
    }
    assert!(bytes < 201 * 16 * 1024, "{bytes} bytes of records");
    assert_eq!(v.launches, 1 + 200 * 2);
    assert_eq!(v.kernels.len(), 1, "{:#?}", v.kernels);
    assert_eq!(v.kernels[0].name, "_Z6kernelv");
    assert_eq!(v.kernels[0].launches, 401);
    assert!(v.ended_abnormally);
    // One note for the 200 cuts, not 200.
    let notes = serde_json::to_string(&v.notes).unwrap();
    assert!(
        notes.contains("200 processes did not end their records"),
        "{notes}"
    );
    assert_eq!(
        notes.matches("was cut").count() + notes.matches("were cut").count(),
        1
    );
}

/// Peak memory of `trace --read`, in KiB (GNU time's %M).
fn peak_rss_of(args: &[&std::ffi::OsStr]) -> (std::process::Output, u64) {
    let o = run(Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(env!("CARGO_BIN_EXE_rocm-patch"))
        .args(args));
    let err = String::from_utf8_lossy(&o.stderr);
    let kib = err
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no %M: {err}"));
    (o, kib)
}

/// A record of 900,000 calls (about 90 MB) is summarised in bounded memory: the reader
/// streams it (it kept every record, about six times the file).
#[test]
fn a_long_record_is_summarised_in_bounded_memory() {
    let d = tempfile::tempdir().unwrap();
    let prog = storm_prog(d.path());
    let rec = d.path().join("long.jsonl");
    let o = run(Command::new(&prog)
        .args(["calls", "300000"])
        .env("LD_PRELOAD", preload())
        .env("RP_TRACE_FILE", &rec));
    assert_eq!(o.status.code(), Some(0));
    let size = std::fs::metadata(&rec).unwrap().len();
    assert!(size > 80 << 20, "{size} bytes");
    let (o, kib) = peak_rss_of(&[
        "trace".as_ref(),
        "--json".as_ref(),
        "--read".as_ref(),
        rec.as_os_str(),
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    let v: TraceReport = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(v.launches, 300_001);
    assert!(v.records >= 900_003);
    assert!(
        kib < 64 * 1024,
        "peak RSS {kib} KiB for a {size}-byte record"
    );
}

/// The summary says which kpack loader variables were in force in the traced processes,
/// and what each does; from the record alone too.
#[test]
fn the_summary_shows_the_kpack_variables_in_force() {
    let d = tempfile::tempdir().unwrap();
    let prog = storm_prog(d.path());
    let rec = d.path().join("kp.jsonl");
    let o = rp()
        .args(["trace", "-o"])
        .arg(&rec)
        .arg("--")
        .arg(&prog)
        .args(["calls", "1"])
        .env(
            "ROCM_KPACK_PATH",
            "/opt/kp/torch_gfx1010.kpack:/opt/kp/extra.kpack",
        )
        .env("ROCM_KPACK_DEBUG", "1")
        .env_remove("ROCM_KPACK_DISABLE")
        .run();
    let text = o.stdout.as_str();
    assert!(
        text.contains("note: ROCM_KPACK_PATH=/opt/kp/torch_gfx1010.kpack:/opt/kp/extra.kpack was in force: kpack'd libraries read GPU code only from these archives"),
        "{text}"
    );
    assert!(
        text.contains("note: ROCM_KPACK_DEBUG=1 was in force: the kpack loader logged every archive and kernel lookup to stderr"),
        "{text}"
    );
    assert!(!text.contains("ROCM_KPACK_DISABLE"), "{text}");
    // From the record, read later in a shell without them.
    let o = rp()
        .args(["trace", "--json", "--read"])
        .arg(&rec)
        .env_remove("ROCM_KPACK_PATH")
        .env_remove("ROCM_KPACK_DEBUG")
        .run();
    let v: TraceReport = serde_json::from_str(&o.stdout).unwrap();
    let notes: Vec<&str> = v.notes.iter().map(String::as_str).collect();
    assert!(
        notes.iter().any(|n| n.starts_with(
            "ROCM_KPACK_PATH=/opt/kp/torch_gfx1010.kpack:/opt/kp/extra.kpack was in force"
        )),
        "{notes:?}"
    );
}

/// On a terminal, reading records that takes longer than the threshold (2 s;
/// `RP_PROGRESS_AFTER_MS` sets it, here 0) shows a progress line on stderr, erased when
/// done; without a terminal nothing is added.
#[test]
fn reading_records_shows_progress_on_a_terminal() {
    let d = tempfile::tempdir().unwrap();
    let prog = storm_prog(d.path());
    let rec = d.path().join("p.jsonl");
    let o = run(Command::new(&prog)
        .args(["calls", "1000"])
        .env("LD_PRELOAD", preload())
        .env("RP_TRACE_FILE", &rec));
    assert_eq!(o.status.code(), Some(0));
    let cmd = format!(
        "'{}' trace --read '{}' > /dev/null",
        env!("CARGO_BIN_EXE_rocm-patch"),
        rec.display()
    );
    let o = run(Command::new("script")
        .args(["-qefc", &cmd, "/dev/null"])
        .env("RP_PROGRESS_AFTER_MS", "0"));
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let tty = String::from_utf8_lossy(&o.stdout);
    assert!(
        tty.starts_with("rocm-patch: reading trace records: ") && tty.ends_with("\x1b[2K"),
        "{tty:?}"
    );
    assert!(tty.contains(" of 1 files, 0 of 0 MiB "), "{tty:?}");
    let o = rp()
        .args(["trace", "--read"])
        .arg(&rec)
        .env("RP_PROGRESS_AFTER_MS", "0")
        .run();
    assert!(o.stderr.is_empty(), "{}", o.stderr.as_str());
}

/// A traced process that replaces itself (exec): the image before leaves its record
/// unfinished, and it is cut to its records; the image after writes `FILE.<pid>`; both
/// are summarised.
#[test]
fn an_exec_leaves_two_records_both_summarised() {
    let d = tempfile::tempdir().unwrap();
    let prog = storm_prog(d.path());
    let rec = d.path().join("e.jsonl");
    let o = rp()
        .args(["trace", "--json", "-o"])
        .arg(&rec)
        .arg("--")
        .arg(&prog)
        .args(["exec", "5"])
        .run();
    assert_eq!(o.code, 0, "{}", o.stderr.as_str());
    let v: TraceReport = serde_json::from_str(&o.stdout).unwrap();
    let files = &v.files;
    assert_eq!(files.len(), 2, "{files:?}");
    for f in files {
        let f = Path::new(f);
        assert!(just_records(f), "{} not cut to its records", f.display());
        assert!(std::fs::metadata(f).unwrap().len() < 64 << 10);
    }
    // One round before the exec; one and five after.
    assert_eq!(v.launches, 7);
    assert_eq!(v.kernels[0].name, "_Z6kernelv");
}

/// Issue 29: `cargo install` installs the binary alone (a cdylib is not installed). The
/// binary carries the interposer it was built with and writes it to the user's cache
/// when none lies beside it, so `trace` works from a lone copy; a second run reuses the
/// cached file.
#[test]
fn a_binary_installed_alone_traces_with_its_built_in_interposer() {
    let d = tempfile::tempdir().unwrap();
    let prog = storm_prog(d.path());
    let bin = d.path().join("bin/rocm-patch");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_rocm-patch"), &bin).unwrap();
    let home = d.path().join("home");
    let trace = |rec: &str| {
        Rp::new(&bin)
            .args(["trace", "--json", "-o"])
            .arg(d.path().join(rec))
            .arg("--")
            .arg(&prog)
            .args(["exec", "5"])
            .env_remove("RP_TRACE_LIB")
            .env_remove("XDG_CACHE_HOME")
            .env("HOME", &home)
            .run()
    };
    let o = trace("a.jsonl");
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v: TraceReport = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v.launches, 7, "{v:#?}");
    let cached: Vec<PathBuf> = std::fs::read_dir(home.join(".cache/rocm-patch"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    let name = cached[0].file_name().unwrap().to_str().unwrap().to_string();
    assert!(
        name.starts_with("librp_trace_preload-") && name.ends_with(".so"),
        "{name}"
    );
    let before = std::fs::metadata(&cached[0]).unwrap().modified().unwrap();
    let o = trace("b.jsonl");
    assert_eq!(o.code, 0);
    assert_eq!(
        std::fs::metadata(&cached[0]).unwrap().modified().unwrap(),
        before,
        "the cached interposer was written again"
    );
    // A damaged cached copy is replaced, not loaded.
    std::fs::write(&cached[0], b"not an ELF").unwrap();
    let o = trace("c.jsonl");
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(std::fs::metadata(&cached[0]).unwrap().len() > 100_000);
}
