#!/usr/bin/env bash
# Builds the C device hosts: wasm3 and WAMR (classic interpreter, no SIMD, no AOT, no WASI: the
# MCU-style builds) from the source snapshots in ../shared/wasm-runtimes, then
#   hosts/c/build/slimsplit-device-wasm3 and hosts/c/build/slimsplit-device-wamr.
# Needs gcc, cmake and ninja (Debian: apt-get install -y gcc cmake ninja-build). Outputs under
# hosts/c/build/ (gitignored). WASM_RUNTIMES overrides where the snapshots are.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
RT="${WASM_RUNTIMES:-$ROOT/../shared/wasm-runtimes}"
OUT="$HERE/build"
JOBS="${JOBS:-2}"
mkdir -p "$OUT/src"
for tgz in "$RT"/wasm3-*.tar.gz "$RT"/wamr-*.tar.gz; do
  [ -f "$tgz" ] || { echo "build.sh: no runtime snapshot at $tgz (set WASM_RUNTIMES)" >&2; exit 1; }
done
[ -d "$OUT/src/wasm3" ] || tar -xzf "$RT"/wasm3-*.tar.gz -C "$OUT/src"
[ -d "$OUT/src/wamr" ] || tar -xzf "$RT"/wamr-*.tar.gz -C "$OUT/src"

cmake -S "$OUT/src/wasm3" -B "$OUT/wasm3" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_WASI=none >/dev/null
ninja -C "$OUT/wasm3" -j "$JOBS" m3
cmake -S "$OUT/src/wamr/product-mini/platforms/linux" -B "$OUT/wamr" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DWAMR_BUILD_INTERP=1 -DWAMR_BUILD_FAST_INTERP=0 -DWAMR_BUILD_SIMD=0 -DWAMR_BUILD_AOT=0 -DWAMR_BUILD_JIT=0 \
  -DWAMR_BUILD_LIBC_WASI=0 -DWAMR_BUILD_LIBC_BUILTIN=0 >/dev/null
ninja -C "$OUT/wamr" -j "$JOBS" vmlib

CFLAGS=(-O2 -std=c11 -Wall -Wextra -Werror -I"$HERE")
gcc "${CFLAGS[@]}" -DSS_RUNTIME_WASM3 -I"$OUT/src/wasm3/source" "$HERE/main.c" "$HERE/slimsplit_device.c" "$HERE/rt_wasm3.c" \
  "$OUT/wasm3/source/libm3.a" -lm -o "$OUT/slimsplit-device-wasm3"
gcc "${CFLAGS[@]}" -DSS_RUNTIME_WAMR -I"$OUT/src/wamr/core/iwasm/include" "$HERE/main.c" "$HERE/slimsplit_device.c" "$HERE/rt_wamr.c" \
  "$OUT/wamr/libiwasm.a" -lm -lpthread -ldl -o "$OUT/slimsplit-device-wamr"
echo "built $OUT/slimsplit-device-wasm3 $OUT/slimsplit-device-wamr"
