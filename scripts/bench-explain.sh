#!/usr/bin/env bash
# Throughput and peak memory of `rocm-patch explain` on a large synthetic log streamed
# through a pipe (training noise with a memory fault every 1000 lines).
# Then the same size of mixed input read from a file: ASCII lines with one UTF-8
# character every 60 bytes, and random bytes (the two inputs that used to be ~100x slower).
# Usage: scripts/bench-explain.sh [MiB]   (default 1024)
set -euo pipefail
cd "$(dirname "$0")/.."
mib=${1:-1024}
cargo build --release -q
rp=$PWD/target/release/rocm-patch
gen() {
  python3 - "$mib" <<'PY'
import sys
mib = int(sys.argv[1])
noise = ("epoch 3 step 1234 loss 0.123456 lr 0.0001 throughput 512.3 samples/s ###########\n" * 1000).encode()
out = sys.stdout.buffer
n = i = 0
while n < mib << 20:
    out.write(noise); n += len(noise); i += 1
    out.write(b"\x1b[31mMemory access fault by GPU node-%d (Agent handle: 0x%x) on address 0x%x. Reason: Page not present\x1b[0m\r\n" % (i % 4, i, i * 4096))
PY
}
s=$(date +%s%N)
rss=$(gen | /usr/bin/time -f "%M" "$rp" explain --json --no-machine 2>&1 >/dev/null | tail -n1 || true)
e=$(date +%s%N)
secs=$(awk "BEGIN {printf \"%.2f\", ($e - $s) / 1e9}")
echo "| measurement | result |"
echo "|---|---|"
echo "| explain, ${mib} MiB log through a pipe (generator included) | ${secs} s, $(awk "BEGIN {printf \"%.0f\", $mib / $secs}") MiB/s |"
echo "| peak RSS | ${rss} KiB |"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
python3 - "$mib" "$tmp" <<'PY'
import os, sys
mib, d = int(sys.argv[1]), sys.argv[2]
line = ("x" * 58 + "\u00e9\n").encode()
with open(f"{d}/utf8.log", "wb") as f:
    block = line * 10000
    for _ in range((mib << 20) // len(block) + 1):
        f.write(block)
with open(f"{d}/random.bin", "wb") as f:
    for _ in range(mib):
        f.write(os.urandom(1 << 20))
PY
for f in utf8.log random.bin; do
  s=$(date +%s%N)
  "$rp" explain --json --no-machine "$tmp/$f" >/dev/null || true
  e=$(date +%s%N)
  size=$(( $(stat -c %s "$tmp/$f") >> 20 ))
  secs=$(awk "BEGIN {printf \"%.2f\", ($e - $s) / 1e9}")
  echo "| explain, ${size} MiB file, $f | ${secs} s, $(awk "BEGIN {printf \"%.0f\", $size / $secs}") MiB/s |"
done
echo "(machine: $(nproc) cores, $(uname -m))"
