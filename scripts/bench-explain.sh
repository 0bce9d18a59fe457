#!/usr/bin/env bash
# Throughput of `explain`'s classifier (rp-explain, the whole signature set) on four
# inputs of the same size: training noise with a memory fault every 1000 lines (through a
# pipe), ASCII lines with one UTF-8 character every 60 bytes, random bytes, and "mixed":
# dmesg, journalctl and traceback lines with ANSI colour codes and CRLF, one in fifty a
# recognised error. Builds only the rp-explain example (`explain_files`), not the CLI.
# Reports wall time and CPU time (user+sys): on a shared machine the CPU figure is the
# one that compares runs. The piped log is read from stdin (a redirect, not cat).
# Usage: scripts/bench-explain.sh [MiB]   (default 512)
#        RP_EXPLAIN_BIN=/path/to/explain_files scripts/bench-explain.sh   (a saved build)
set -euo pipefail
cd "$(dirname "$0")/.."
mib=${1:-512}
if [ -z "${RP_EXPLAIN_BIN:-}" ]; then
  nice cargo build --release -q -p rp-explain --example explain_files
  RP_EXPLAIN_BIN=$PWD/target/release/examples/explain_files
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
python3 - "$mib" "$tmp" <<'PY'
import os, random, sys
mib, d = int(sys.argv[1]), sys.argv[2]
size = mib << 20
def fill(name, block):
    with open(f"{d}/{name}", "wb") as f:
        n = 0
        while n < size:
            f.write(block); n += len(block)
noise = ("epoch 3 step 1234 loss 0.123456 lr 0.0001 throughput 512.3 samples/s ###########\n" * 1000).encode()
fault = b"\x1b[31mMemory access fault by GPU node-1 (Agent handle: 0x55d0) on address 0x7f00. Reason: Page not present\x1b[0m\r\n"
fill("pipe.log", noise + fault)
fill("utf8.log", ("x" * 58 + "\u00e9\n").encode() * 10000)
with open(f"{d}/random.bin", "wb") as f:
    for _ in range(mib):
        f.write(os.urandom(1 << 20))
r = random.Random(1)
benign = [
    "[  12.345678] amdgpu 0000:03:00.0: amdgpu: SMU is initialized successfully!",
    "Dec 04 05:00:01 host kernel: [drm] Initialized amdgpu 3.57.0 20150101 for 0000:03:00.0 on minor 1",
    "[Thu Dec  4 05:00:02 2025] usb 1-2: new high-speed USB device number 3 using xhci_hcd",
    '  File "/home/u/venv/lib/python3.12/site-packages/torch/nn/modules/module.py", line 1751, in _call_impl',
    "\x1b[32mINFO\x1b[0m:     127.0.0.1:52341 - \"POST /prompt HTTP/1.1\" 200 OK\r",
    "100%|\u2588\u2588\u2588\u2588\u2588\u2588\u2588\u2588\u2588\u2588| 20/20 [00:04<00:00,  4.61it/s]",
    "Dec 04 05:00:03 host systemd[1]: Started session-2.scope - Session 2 of User u.",
]
errors = [
    "kfd kfd: amdgpu: skipped device 1002:67df, PCI rejects atomics 730<0",
    "[  114.303173] amdgpu: failed to add hardware queue to MES, doorbell=0x1202",
    "RuntimeError: HIP error: invalid device function",
    "MIOpen Error: /long_pathname/MIOpen/src/hipoc/hipoc_program.cpp:300: Code object build failed. Source: MIOpenBatchNormFwdTrainSpatial.cl",
    "[    3.1] amdgpu 0000:03:00.0: Direct firmware load for amdgpu/navi10_gpu_info.bin failed with error -2",
]
lines = []
for i in range(5000):
    lines.append(r.choice(errors) if i % 50 == 0 else r.choice(benign))
fill("mixed.log", ("\n".join(lines) + "\n").encode())
PY
echo "| input (${mib} MiB) | wall | throughput | CPU (user+sys) | per CPU-second | peak RSS |"
echo "|---|---|---|---|---|---|"
for f in pipe.log utf8.log random.bin mixed.log; do
  size=$(( $(stat -c %s "$tmp/$f") >> 20 ))
  if [ "$f" = pipe.log ]; then
    t=$( { /usr/bin/time -f "%e %U %S %M" "$RP_EXPLAIN_BIN" <"$tmp/$f" >/dev/null; } 2>&1 | tail -n1)
  else
    t=$( { /usr/bin/time -f "%e %U %S %M" "$RP_EXPLAIN_BIN" "$tmp/$f" >/dev/null; } 2>&1 | tail -n1)
  fi
  read -r wall user sys rss <<<"$t"
  cpu=$(awk "BEGIN {printf \"%.2f\", $user + $sys}")
  echo "| $f | ${wall} s | $(awk "BEGIN {printf \"%.0f\", $size / $wall}") MiB/s | ${cpu} s | $(awk "BEGIN {printf \"%.0f\", $size / $cpu}") MiB/s | ${rss} KiB |"
done
echo "(machine: $(nproc) cores, $(uname -m); load $(cut -d' ' -f1-3 /proc/loadavg))"
