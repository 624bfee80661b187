#!/bin/sh
# test_webgpu_page.sh — the chat page (web/index.html) in headless Chromium on SwiftShader
# WebGPU, driven as a person would use it (tests/webgpu/page_e2e.mjs): the trained model from a
# local HTTP server with progress, a streamed chat, a reload that loads from OPFS with zero
# shard requests, deletion from the cache panel. The chat's screenshot is kept in
# $DP_TMP/webgpu_page/page-chat.png (under the build folder in ctest).
# Installs what is missing (web/deps.sh browser: playwright-core, Debian's chromium); skips (77) only when impossible.
set -u
ROOT=${DP_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
TMP=${DP_TMP:-/tmp}/webgpu_page
[ -d "$ROOT/models/fable-21m-q4_k_m" ] || { echo "skip: no models/fable-21m-q4_k_m"; exit 77; }
mkdir -p "$TMP"
"$ROOT/web/deps.sh" browser || exit 77
W=$(sh "$ROOT/tests/webgpu/wasm.sh" lib "$TMP") || { echo "$W"; exit 1; }
exec node "$ROOT/tests/webgpu/page_e2e.mjs" "$W/dist" "$TMP"
