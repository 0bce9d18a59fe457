#!/usr/bin/env bash
# Load-time cost of the trace interposer (docs/bench-preload.md): the median wall time
# and the median CPU time (user + system, from the child's rusage: steadier than wall
# time on a busy machine) of
#   empty:  python3 -c pass
#   fatbin: python3 loading a hipcc library (fixture libnative_gfx101x.so) whose
#           constructor registers a fat binary, which the interposer reads (the targets
#           of each bundle entry, each code object's ELF header) and records
# without LD_PRELOAD, and with each interposer given (recording to a fresh file in a
# temporary directory each run). n runs each (default 50) after one warm-up.
# Usage: scripts/bench-preload.sh [librp_trace_preload.so ...]
#   (default: this tree's, built with cargo build --release -p rp-trace-preload)
# Env: n (runs), RP_FIXTURES (the test fixtures; the fatbin case is skipped without them).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then
  cargo build -q --release -p rp-trace-preload
  set -- "${CARGO_TARGET_DIR:-target}/release/librp_trace_preload.so"
fi
exec python3 - "${n:-50}" "${RP_FIXTURES:-}" "$@" <<'PY'
import os, statistics, subprocess, sys, tempfile, time

n, fixtures, libs = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
fx = os.path.join(fixtures, "libnative_gfx101x.so") if fixtures else None
cases = [("empty", ["python3", "-c", "pass"])]
if fx and os.path.isfile(fx):
    cases.append(("fatbin", ["python3", "-c", f"import ctypes; ctypes.CDLL({fx!r})"]))

def one(cmd, env):
    t = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, _, ru = os.wait4(p.pid, 0)
    return time.perf_counter() - t, ru.ru_utime + ru.ru_stime

def median(cmd, lib, d):
    wall, cpu = [], []
    for i in range(n + 1):
        env = dict(os.environ)
        if lib:
            for f in os.listdir(d):
                os.unlink(os.path.join(d, f))
            env.update(LD_PRELOAD=lib, RP_TRACE_FILE=os.path.join(d, "t.jsonl"))
        w, c = one(cmd, env)
        if i:  # the first run warms the caches
            wall.append(w)
            cpu.append(c)
    return statistics.median(wall) * 1e3, statistics.median(cpu) * 1e3

print(f"{'interposer':<40} {'size_B':>9}" + "".join(
    f" {c + '_wall_ms':>16} {c + '_cpu_ms':>15}" for c, _ in cases))
with tempfile.TemporaryDirectory() as d:
    for lib in [None] + [os.path.realpath(l) for l in libs]:
        name = "(none)" if lib is None else os.path.join(
            os.path.basename(os.path.dirname(lib)), os.path.basename(lib))
        size = "-" if lib is None else str(os.stat(lib).st_size)
        row = f"{name:<40} {size:>9}"
        for _, cmd in cases:
            w, c = median(cmd, lib, d)
            row += f" {w:>16.2f} {c:>15.2f}"
        print(row, flush=True)
PY
