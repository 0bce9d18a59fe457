#!/usr/bin/env bash
# Overhead of the trace interposer per intercepted call (issue: under 100 ns), measured
# against a stand-in HIP runtime built here with the real library's versioned symbols:
# a C program calls hipMalloc, hipLaunchKernel and hipFree N times each, directly and
# through librp_trace_preload.so (recording every call), and reports ns per call.
# Usage: scripts/bench-trace.sh [N]   (default 1000000; one run each, as the issue asks)
# Env: RP_TRACE_LIB measures that interposer instead of building this one (a before/after
# comparison).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
target=${CARGO_TARGET_DIR:-target}
if [ -n "${RP_TRACE_LIB:-}" ]; then
  lib=$RP_TRACE_LIB
else
  cargo build -q --release -p rp-trace-preload
  lib="$target/release/librp_trace_preload.so"
fi
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
cat > "$w/bench.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <stddef.h>
typedef struct { unsigned x, y, z; } dim3;
int hipMalloc(void**, size_t); int hipFree(void*);
int hipLaunchKernel(const void*, dim3, dim3, void**, size_t, void*);
static void k(void) {}
int main(int argc, char** argv) {
  long n = atol(argv[1]);
  void* p; dim3 g = {1, 1, 1}, b = {64, 1, 1};
  struct timespec a, z;
  for (long i = 0; i < 1000; i++) { hipMalloc(&p, 64); hipLaunchKernel((const void*)k, g, b, 0, 0, 0); hipFree(p); }
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < n; i++) { hipMalloc(&p, 64); hipLaunchKernel((const void*)k, g, b, 0, 0, 0); hipFree(p); }
  clock_gettime(CLOCK_MONOTONIC, &z);
  printf("%.1f\n", ((z.tv_sec - a.tv_sec) * 1e9 + (z.tv_nsec - a.tv_nsec)) / (3.0 * n));
  return 0;
}
C
cc -O2 -shared -fPIC -Wl,--version-script="$w/standin.map" -Wl,-soname,libhipstandin.so "$w/standin.c" -o "$w/libhipstandin.so"
cc -O2 "$w/bench.c" -o "$w/bench" -L"$w" -lhipstandin -Wl,-rpath,"$w"
direct=$("$w/bench" "$n")
traced=$(RP_TRACE_FILE="$w/trace.jsonl" LD_PRELOAD="$lib" "$w/bench" "$n")
records=$(wc -l < "$w/trace.jsonl")
python3 - "$direct" "$traced" "$n" "$records" <<'PY'
import sys
d, t, n, rec = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
print(f"{3 * n} calls (hipMalloc, hipLaunchKernel, hipFree), {rec} records written")
print(f"direct: {d:.1f} ns/call; through the interposer, recording: {t:.1f} ns/call")
print(f"overhead: {t - d:.1f} ns per intercepted call (ratio {t / d:.1f}x)")
PY
