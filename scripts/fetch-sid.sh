#!/usr/bin/env bash
# Download Debian sid's ROCm 6.4 binaries WITHOUT installing them into the system:
# a private apt configuration (own sources list, lists and cache directories) reuses the
# URI of the machine's Debian sources file; packages are unpacked with `dpkg -x`.
# Usage: scripts/fetch-sid.sh DEST PACKAGE...
set -euo pipefail
dest=$1; shift
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
work="$dest/.apt"
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs"
uri=$(grep -h -m1 -E '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | head -n1 || true)
if [ -z "$uri" ]; then
  uri=$(grep -h -m1 -E '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | head -n1 || true)
fi
uri=${uri:-http://deb.debian.org/debian}
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri sid main" > "$work/sources.list"
opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
      -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache"
      -o "Dir::State::status=/dev/null" -o "APT::Architecture=amd64")
apt-get "${opts[@]}" update -qq
cd "$work/debs"
for p in "$@"; do
  if ! ls "$work/debs/${p}_"*.deb >/dev/null 2>&1; then
    apt-get "${opts[@]}" download "$p"
  fi
  dpkg -x "$work/debs/${p}_"*.deb "$dest"
done
