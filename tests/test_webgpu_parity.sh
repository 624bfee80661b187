#!/bin/sh
# test_webgpu_parity.sh — the hf-tiny fixtures on the WebGPU backend through the Node host:
# `node web/doppler.mjs eval` logits against the reference (max |diff| <= 2e-3, f32) and
# `run --greedy` against the reference greedy ids; models and contexts interleaved on one shared
# backend (tests/webgpu/shared_backend.mjs); dispatches per decoded token against the recorded
# numbers, with and without a LoRA fixture (tests/webgpu/dispatch_count.mjs); then the quantized GGUF fixtures (q4_k_m,
# q6_k, q8_0) against the CPU backend on the same file (tests/webgpu/quant_parity.mjs); and
# `doppler run --backend webgpu` (the native tool delegating to web/doppler.mjs).
# Models are converted with the native tool.
# Installs what is missing (web/deps.sh); skips (77) only when that is impossible here or the
# fixtures are absent.
# The WebAssembly build: tests/webgpu/wasm.sh (once for all WebGPU tests under scripts/test.sh).
set -u
ROOT=${DP_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
SHARED=${DP_SHARED:-$ROOT/../shared}
TOOL=${DP_TOOL:-$ROOT/build/doppler}
TMP=${DP_TMP:-/tmp}/webgpu_parity
FIX=$SHARED/fixtures/hf-tiny
[ -d "$FIX" ] || { echo "skip: no $FIX"; exit 77; }
[ -x "$TOOL" ] || { echo "skip: no doppler tool at $TOOL"; exit 77; }
mkdir -p "$TMP/models"
"$ROOT/web/deps.sh" || exit 77
W=$(sh "$ROOT/tests/webgpu/wasm.sh" lib "$TMP") || { echo "$W"; exit 1; }
for m in llama gemma3 gemma2 phi3 mixtral qwen3; do
    rm -rf "$TMP/models/$m"
    "$TOOL" convert "$FIX/$m" "$TMP/models/$m" --dtype f32 >/dev/null || { echo "convert $m failed"; exit 1; }
done
DP_WASM="$W/dist/doppler.wasm" node "$ROOT/tests/webgpu/parity.mjs" "$FIX" "$TMP/models" "$TMP/out"
rc=$?
[ $rc = 0 ] || exit $rc
# models and contexts interleaved on one shared backend: the same as each alone
DP_WASM="$W/dist/doppler.wasm" node "$ROOT/tests/webgpu/shared_backend.mjs" "$TMP/models" || exit 1
# GPU commands per decoded token as recorded (tests/webgpu/dispatches.json): lost fusion fails;
# with the LoRA fixtures (adapter_a) too, where they are: an adapter's extra dispatches
LORA=$SHARED/fixtures/lora
for m in llama gemma3 qwen3 mixtral; do
    rm -rf "$TMP/models/$m-lora"
    [ -d "$LORA/$m/adapter_a" ] || continue
    "$TOOL" convert "$LORA/$m/adapter_a" "$TMP/models/$m-lora" --base "$TMP/models/$m" >/dev/null ||
        { echo "convert $m adapter_a failed"; exit 1; }
done
DP_WASM="$W/dist/doppler.wasm" node "$ROOT/tests/webgpu/dispatch_count.mjs" "$TMP/models" || exit 1
# the native tool's --backend webgpu hands the command to web/doppler.mjs: same ids as the CPU
ids="1 5 77 300 12 9"
want=$("$TOOL" run "$TMP/models/llama" --ids "$ids" -n 8 --greedy --print-ids) || { echo "native run failed"; exit 1; }
got=$("$TOOL" run "$TMP/models/llama" --ids "$ids" -n 8 --greedy --print-ids --backend webgpu --wasm "$W/dist/doppler.wasm") ||
    { echo "doppler run --backend webgpu failed"; exit 1; }
[ "$got" = "$want" ] || { echo "doppler run --backend webgpu: '$got', cpu: '$want'"; exit 1; }
echo "doppler run --backend webgpu: same ids as the CPU backend ($got)"
GG=$SHARED/fixtures/gguf
[ -d "$GG" ] || { echo "no $GG: quantized parity not run"; exit 77; }
DP_WASM="$W/dist/doppler.wasm" exec node "$ROOT/tests/webgpu/quant_parity.mjs" "$TOOL" "$GG" "$TMP/quant"
