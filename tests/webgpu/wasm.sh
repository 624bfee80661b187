#!/bin/sh
# wasm.sh MODE TMP — prints the folder holding the WebAssembly build a WebGPU test runs
# (<folder>/webgpu_ops_test.wasm for MODE test, <folder>/dist/doppler.wasm for MODE lib):
# $DP_WASM_DIR when scripts/test.sh has built it once for every WebGPU test (`web/build.sh all`),
# else a fresh `web/build.sh MODE` into TMP/build. On failure: the build log, exit 1.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
mode=$1 tmp=$2
dir=${DP_WASM_DIR:-}
if [ -z "$dir" ]; then
    dir=$tmp/build
    mkdir -p "$dir"
    WASM_OUT="$dir" WASM_DIST="$dir/dist" "$ROOT/web/build.sh" "$mode" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; exit 1; }
fi
case $mode in test) want=$dir/webgpu_ops_test.wasm ;; *) want=$dir/dist/doppler.wasm ;; esac
[ -f "$want" ] || { echo "wasm.sh: no $want"; exit 1; }
echo "$dir"
