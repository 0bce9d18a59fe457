#!/usr/bin/env bash
# What reading a trace costs (issue 29): time and peak memory of `rocm-patch trace` for
#   1. one process that made N calls (default 12,000,000: hipMalloc, hipLaunchKernel and
#      hipFree N/3 times each, every call recorded), summarised with `trace --read`;
#   2. a fork storm: a process that forks C children (default 200), each making a few
#      calls and leaving with _exit (no atexit: the record is not closed, as after a
#      crash, a kill or an exec), traced end to end with `rocm-patch trace -- …`;
# against a stand-in HIP runtime built here with the real library's versioned symbols.
# Also the record files' size on disk (apparent and allocated) before and after reading.
# Usage: scripts/bench-trace-summary.sh [N] [C]
# Env: RP_BIN (default target/release/rocm-patch, built if missing), RP_TRACE_LIB (the
# interposer; default beside RP_BIN), RP_BENCH_LIMIT (address-space limit of the reader,
# default 8G: an unbounded reader aborts instead of taking the machine), RP_BENCH_TIMEOUT
# (seconds per command, default 300).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-12000000}
children=${2:-200}
target=${CARGO_TARGET_DIR:-target}
bin=${RP_BIN:-$target/release/rocm-patch}
if [ -z "${RP_BIN:-}" ] && [ ! -x "$bin" ]; then
  cargo build -q --release -p rocm-patch -p rp-trace-preload
fi
lib=${RP_TRACE_LIB:-$(dirname "$bin")/librp_trace_preload.so}
[ -f "$lib" ] || { echo "no interposer at $lib (cargo build --release -p rp-trace-preload)" >&2; exit 2; }
limit=${RP_BENCH_LIMIT:-8G}
timeout=${RP_BENCH_TIMEOUT:-300}
command -v /usr/bin/time >/dev/null || { echo "/usr/bin/time is missing (Debian package time)" >&2; exit 2; }
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
cat > "$w/standin.c" <<'C'
#include <stddef.h>
typedef struct { unsigned x, y, z; } dim3;
static char heap[64];
int hipMalloc(void** p, size_t n) { *p = heap; return 0; }
int hipFree(void* p) { return 0; }
int hipLaunchKernel(const void* f, dim3 g, dim3 b, void** a, size_t s, void* st) { return 0; }
C
printf 'hip_4.2 { global: hipMalloc; hipFree; hipLaunchKernel; local: *; };\n' > "$w/standin.map"
cat > "$w/prog.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <unistd.h>
#include <sys/wait.h>
typedef struct { unsigned x, y, z; } dim3;
int hipMalloc(void**, size_t); int hipFree(void*);
int hipLaunchKernel(const void*, dim3, dim3, void**, size_t, void*);
static void k(void) {}
static void calls(long n) {
  void* p; dim3 g = {1, 1, 1}, b = {64, 1, 1};
  for (long i = 0; i < n; i++) { hipMalloc(&p, 64); hipLaunchKernel((const void*)k, g, b, 0, 0, 0); hipFree(p); }
}
int main(int argc, char** argv) {
  long n = atol(argv[2]);
  if (argv[1][0] == 'c') { calls(n); return 0; }           /* calls N */
  calls(10);                                                /* fork N */
  for (long i = 0; i < n; i++) {
    pid_t c = fork();
    if (c == 0) { calls(10); _exit(0); }
    if (c > 0) waitpid(c, 0, 0);
  }
  return 0;
}
C
cc -O2 -shared -fPIC -Wl,--version-script="$w/standin.map" -Wl,-soname,libhipstandin.so "$w/standin.c" -o "$w/libhipstandin.so"
cc -O2 "$w/prog.c" -o "$w/prog" -L"$w" -lhipstandin -Wl,-rpath,"$w"

# `/usr/bin/time` figures of one command: wall seconds and peak RSS in KiB.
measure() {
  local out=$1; shift
  local rc=0
  /usr/bin/time -f '%e %M' -o "$w/time" timeout "$timeout" prlimit --as="$(numfmt --from=iec "$limit")" -- "$@" > "$out" 2> "$w/err" || rc=$?
  read -r secs kib < <(tail -n 1 "$w/time")
  echo "$secs $kib $rc"
}
sizes() { # apparent and allocated bytes of the record files
  local a=0 d=0
  for f in "$@"; do
    a=$((a + $(stat -c %s "$f"))); d=$((d + $(stat -c %b "$f") * $(stat -c %B "$f")))
  done
  echo "$a $d"
}
calls=$((n / 3))
RP_TRACE_FILE="$w/calls.jsonl" LD_PRELOAD="$lib" "$w/prog" calls "$calls"
read -r ca cd < <(sizes "$w"/calls.jsonl*)
read -r secs kib rc < <(measure "$w/calls.json" "$bin" trace --read "$w/calls.jsonl" --json)
records=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("records", "?"))' "$w/calls.json" 2>/dev/null || echo "none (rc $rc)")
echo "$((calls * 3)) calls: record $((ca >> 20)) MiB; trace --read: ${secs} s, peak RSS ${kib} KiB, exit ${rc}, records summarised: ${records}"
rm -f "$w"/calls.jsonl*

read -r secs kib rc < <(measure "$w/storm.json" "$bin" trace -o "$w/storm.jsonl" --json -- "$w/prog" fork "$children")
nfiles=$(ls "$w"/storm.jsonl* | wc -l)
read -r sa sd < <(sizes "$w"/storm.jsonl*)
procs=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["files"]))' "$w/storm.json" 2>/dev/null || echo "none (rc $rc)")
echo "fork storm of ${children} children: trace -- prog: ${secs} s, peak RSS ${kib} KiB, exit ${rc}; ${nfiles} record files, processes summarised: ${procs}; on disk after: $((sa >> 10)) KiB apparent, $((sd >> 10)) KiB allocated"
