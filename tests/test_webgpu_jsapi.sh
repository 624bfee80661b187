#!/bin/sh
# test_webgpu_jsapi.sh — the JS API (web/index.mjs) under Node on WebGPU (SwiftShader without a
# GPU): web/README.md's example run against the package `npm pack` makes, the weights of a
# ~170 MB synthetic model streamed to the GPU with the module's memory staying under half of
# it, and requests checked field by field (tests/webgpu/js_api.mjs); first, the Node host's
# settle() sleeping through steady waits for the GPU instead of polling (tests/webgpu/nap.mjs).
# Installs what is missing (web/deps.sh); skips (77) only when impossible.
set -u
ROOT=${DP_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
TOOL=${DP_TOOL:-$ROOT/build/doppler}
TMP=${DP_TMP:-/tmp}/webgpu_jsapi
[ -x "$TOOL" ] || { echo "skip: no doppler tool at $TOOL"; exit 77; }
[ -d "$ROOT/models/fable-21m-q4_k_m" ] || { echo "skip: no models/fable-21m-q4_k_m"; exit 77; }
mkdir -p "$TMP"
"$ROOT/web/deps.sh" || exit 77
command -v npm >/dev/null 2>&1 || { echo "skip: no npm"; exit 77; }
W=$(sh "$ROOT/tests/webgpu/wasm.sh" lib "$TMP") || { echo "$W"; exit 1; }
node "$ROOT/tests/webgpu/nap.mjs" || exit $?
exec node "$ROOT/tests/webgpu/js_api.mjs" "$TOOL" "$W/dist" "$TMP/run"
