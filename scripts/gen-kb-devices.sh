#!/usr/bin/env bash
# Regenerate crates/rp-kb/data/asics.toml and families.toml from their primary sources:
# the Linux kernel source (Debian sid's linux-source package, downloaded with a private
# apt configuration and never installed) and Debian's pci.ids. Not part of the tests;
# run it when a new kernel adds GPUs, and commit the result.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${RP_DATA:-$PWD/target/testdata}/linux-source
mkdir -p "$work"
# The metapackage names the current versioned source package.
scripts/fetch-sid.sh "$work/deb" linux-source
pkg=$(dpkg-deb -f "$work"/deb/.apt/debs/linux-source_*.deb Depends | grep -o 'linux-source-[0-9.]*' | head -n1)
scripts/fetch-sid.sh "$work/deb" "$pkg"
tarball=$(ls "$work"/deb/usr/src/linux-source-*.tar.xz | tail -n1)
ver=$(basename "$tarball" .tar.xz)
[ -d "$work/$ver" ] || tar -xf "$tarball" -C "$work" --wildcards \
  "$ver/drivers/gpu/drm/amd/amdgpu/amdgpu_drv.c" "$ver/drivers/gpu/drm/amd/amdkfd/kfd_device.c" "$ver/Makefile"
kver=$(awk '/^VERSION =/{v=$3} /^PATCHLEVEL =/{p=$3} /^SUBLEVEL =/{s=$3} END{print v"."p"."s}' "$work/$ver/Makefile")
dpkg -s pci.ids >/dev/null 2>&1 || apt-get install -y -qq pci.ids >/dev/null
python3 scripts/gen-kb-devices.py "$work/$ver" /usr/share/misc/pci.ids "Linux $kver"
