#!/usr/bin/env bash
# A real ROCm library built for real: rocRAND 6.4.3 (Debian's orig tarball) for gfx1010
# by `rocm-patch build rocrand@6.4.3`, with Debian sid's ROCm 6.4 toolchain (hipcc 7.0.2
# with clang-21, libamdhip64-dev 6.4.3, rocm-cmake) in a root made with mmdebstrap;
# then inspect (gfx1010 code objects), deploy into a torch-like tree, rollback byte for
# byte. Nothing from sid is installed into the system: the whole `rocm-patch build` runs
# inside the root (chroot), where doctor's machine layer finds sid's ROCm in /usr.
#
# Usage (root; Debian 12 with network to the Debian archive):
#   scripts/real-build.sh [ROOT_DIR] [ROCM_PATCH_BINARY]
# Needs: mmdebstrap (apt install mmdebstrap), ~2 GiB free under ROOT_DIR; about 436 s of
# CPU (4 min of wall time on 2 free cores) plus 84 s for the root (docs/build.md). Prints the figures recorded in docs/build.md; exit 0 only if every check
# passed.
set -euo pipefail
root=${1:-/tmp/rp-real-build/sid}
bin=${2:-target/debug/rocm-patch}
[ -x "$bin" ] || { echo "build rocm-patch first (cargo build -p rocm-patch), or pass its path" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "needs root (mmdebstrap and chroot)" >&2; exit 2; }
command -v mmdebstrap >/dev/null || { echo "needs mmdebstrap: apt install mmdebstrap" >&2; exit 2; }
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
t0=$(date +%s)
if [ ! -x "$root/usr/bin/hipcc" ]; then
  mkdir -p "$(dirname "$root")"
  # The mirror's sid Release file can be weeks old: no Valid-Until check.
  mmdebstrap --variant=apt --aptopt='Acquire::Check-Valid-Until "false"' \
    --include=hipcc,libamdhip64-dev,rocm-cmake,cmake,make,ca-certificates \
    sid "$root" "$mirror"
fi
t1=$(date +%s)
echo "root: $(du -sh "$root" | cut -f1) in $((t1 - t0)) s"
install -m 0755 "$bin" "$root/usr/local/bin/rocm-patch"
cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
mounted=()
cleanup() { for m in "${mounted[@]}"; do umount "$m" 2>/dev/null || true; done; }
trap cleanup EXIT
for d in proc dev; do
  if ! mountpoint -q "$root/$d"; then
    if [ $d = proc ]; then mount -t proc proc "$root/proc"; else mount --bind /dev "$root/dev"; fi
    mounted=("$root/$d" "${mounted[@]}")
  fi
done
in_root() { chroot "$root" env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root "$@"; }
cache=/rp-cache
rm -rf "$root$cache" "$root/torch" "$root/rp-state"
# A torch-like tree: torch/lib with a librocrand.so that carries no gfx1010 code.
mkdir -p "$root/torch/lib"
cp -L "$root/usr/lib/x86_64-linux-gnu/libamdhip64.so.6" "$root/torch/lib/librocrand.so"
before=$(sha256sum "$root/torch/lib/librocrand.so" | cut -d' ' -f1)
in_root rocm-patch build rocrand@6.4.3 --gpu gfx1010 --cache-dir "$cache" --dry-run
t2=$(date +%s)
in_root rocm-patch build rocrand@6.4.3 --gpu gfx1010 --cache-dir "$cache" --state-dir /rp-state \
  --deploy-into /torch/lib --json > "$root/build.json"
t3=$(date +%s)
python3 - "$root/build.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("outcome:", r["outcome"], r.get("error") or "")
for s in r["steps"]:
    print(f"  step {s['name']}: {s['state']} {s.get('seconds') or 0:.0f} s")
for o in r["outputs"]:
    print(f"  output {o['path']}: ok={o['ok']} targets={' '.join(o['targets'])}")
d = r.get("deploy") or {}
print("  deploy:", d.get("outcome") or d.get("state") or json.dumps(d)[:200])
assert r["outcome"] == "ok", r["outcome"]
assert any(t.startswith("amdgcn-amd-amdhsa--gfx1010") or "gfx1010" in t for o in r["outputs"] for t in o["targets"])
PY
echo "build: $((t3 - t2)) s wall; peak disk of the build directory and cache: $(du -sh "$root$cache" | cut -f1)"
in_root rocm-patch inspect /torch/lib/librocrand.so --gpu gfx1010 | head -20
after=$(sha256sum "$root/torch/lib/librocrand.so" | cut -d' ' -f1)
[ "$after" != "$before" ] || { echo "deploy changed nothing" >&2; exit 1; }
in_root rocm-patch rollback --last --state-dir /rp-state
back=$(sha256sum "$root/torch/lib/librocrand.so" | cut -d' ' -f1)
[ "$back" = "$before" ] || { echo "rollback did not restore the original ($back != $before)" >&2; exit 1; }
echo "rollback: original restored byte for byte ($before)"
echo "total: $(( $(date +%s) - t0 )) s"
