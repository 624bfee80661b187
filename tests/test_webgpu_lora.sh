#!/bin/sh
# test_webgpu_lora.sh — the LoRA fixtures on the WebGPU backend through the Node host
# (tests/webgpu/lora_parity.mjs): base and adapter logits against PEFT's (max |diff| <= 1e-3),
# two contexts with different adapters interleaved, the base after freeing the adapters, and
# `node web/doppler.mjs eval --lora`. Models and adapters are converted with the native tool.
# Installs what is missing (web/deps.sh); skips (77) only when that is impossible here or the
# fixtures are absent, and fails instead of skipping when CI is set.
set -u
ROOT=${DP_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
SHARED=${DP_SHARED:-$ROOT/../shared}
TOOL=${DP_TOOL:-$ROOT/build/doppler}
TMP=${DP_TMP:-/tmp}/webgpu_lora
FIX=$SHARED/fixtures/lora
skip() { echo "skip: $1"; [ -n "${CI:-}" ] && exit 1; exit 77; }
[ -d "$FIX" ] || skip "no $FIX"
[ -x "$TOOL" ] || skip "no doppler tool at $TOOL"
mkdir -p "$TMP/models"
"$ROOT/web/deps.sh" || skip "web/deps.sh cannot install the WebGPU host"
WASM_OUT="$TMP/build" WASM_DIST="$TMP/dist" "$ROOT/web/build.sh" >"$TMP/build.log" 2>&1 || { cat "$TMP/build.log"; exit 1; }
for m in llama gemma3 qwen3 mixtral; do
    rm -rf "$TMP/models/$m" "$TMP/models/$m-a" "$TMP/models/$m-b"
    "$TOOL" convert "$SHARED/fixtures/hf-tiny/$m" "$TMP/models/$m" --dtype f32 >/dev/null 2>&1 || { echo "convert $m failed"; exit 1; }
    for x in a b; do
        "$TOOL" convert "$FIX/$m/adapter_$x" "$TMP/models/$m-$x" --base "$TMP/models/$m" >/dev/null 2>&1 ||
            { echo "convert $m adapter_$x failed"; exit 1; }
    done
done
DP_WASM="$TMP/dist/doppler.wasm" node "$ROOT/tests/webgpu/lora_parity.mjs" "$FIX" "$TMP/models" "$TMP/out"
rc=$?
[ $rc = 77 ] && skip "no WebGPU adapter"
exit $rc
