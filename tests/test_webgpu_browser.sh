#!/bin/sh
# test_webgpu_browser.sh — end to end in headless Chromium on SwiftShader WebGPU: the demo page
# (web/ids.html) fetches doppler.wasm and a converted hf-tiny model, generates greedily, and
# must produce the native CPU path's ids (tests/webgpu/browser_e2e.mjs).
# Installs what is missing (web/deps.sh, Debian's chromium); skips (77) only when impossible.
# The WebAssembly build: tests/webgpu/wasm.sh (once for all WebGPU tests under scripts/test.sh).
set -u
ROOT=${DP_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
SHARED=${DP_SHARED:-$ROOT/../shared}
TOOL=${DP_TOOL:-$ROOT/build/doppler}
TMP=${DP_TMP:-/tmp}/webgpu_browser
FIX=$SHARED/fixtures/hf-tiny/llama
[ -d "$FIX" ] || { echo "skip: no $FIX"; exit 77; }
[ -x "$TOOL" ] || { echo "skip: no doppler tool at $TOOL"; exit 77; }
mkdir -p "$TMP"
"$ROOT/web/deps.sh" browser || exit 77
W=$(sh "$ROOT/tests/webgpu/wasm.sh" lib "$TMP") || { echo "$W"; exit 1; }
rm -rf "$TMP/model"
"$TOOL" convert "$FIX" "$TMP/model" --dtype f32 >/dev/null || { echo "convert failed"; exit 1; }
exec node "$ROOT/tests/webgpu/browser_e2e.mjs" "$TOOL" "$TMP/model" "$W/dist"
