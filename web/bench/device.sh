#!/bin/bash
# device.sh — WebGPU benchmarks on a GPU machine without package access (the H200 device).
# Run from the repository root there, with these carried from here:
#   .bundle/      shared/tools/webgpu-runtime-bundle.sh .bundle   (node, dawn.node, Vulkan loader)
#   web/dist/     web/build.sh                                      (doppler.wasm)
# It builds the native tool, synthesizes Q4_K_M models of the benchmark shapes, and runs
# `node web/doppler.mjs bench` on each (JSON lines to stdout and to $OUT/bench.jsonl if set).
#   web/bench/device.sh [shape ...]     default: gemma-3-1b llama-3.1-8b
# Environment: BENCH_ARGS (default "-p 512 -n 128 -r 3"), MODELS (default /tmp/dp-models),
# DAWN_FLAGS (default enables f16 on NVIDIA + unsafe APIs for subgroup matrices),
# SWEEP="tune1 tune2 ..." (each a --tune value, e.g. "matvec_rows=32 act_quant=0"): after the
# main run, one short profiled run per setting and shape (-p 0 -n 64 -r 1 --profile).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
SHAPES=("$@")
[ ${#SHAPES[@]} -gt 0 ] || SHAPES=(gemma-3-1b llama-3.1-8b)
MODELS=${MODELS:-/tmp/dp-models}
BENCH_ARGS=${BENCH_ARGS:--p 512 -n 128 -r 3}
# shellcheck disable=SC1091
source web/bench/device-env.sh || exit 1

cmake -S . -B build-dev -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-dev -j"$(nproc)" --target doppler_cli >/dev/null
mkdir -p "$MODELS"
# synthesize every shape at once (synth is single-threaded; the machine has 16 cores)
t0=$(date +%s)
for s in "${SHAPES[@]}"; do
    m="$MODELS/$s-q4_k_m"
    [ -f "$m/manifest.json" ] || build-dev/doppler synth --shape "$s" --quant q4_k_m "$m" >/dev/null &
done
wait
echo "synth: $(( $(date +%s) - t0 )) s"
# correctness on this GPU first, when the fixtures travelled (FIXTURES=dir holding hf-tiny/)
if [ -n "${FIXTURES:-}" ] && [ -d "$FIXTURES/hf-tiny" ]; then
    for f in llama gemma3 gemma2 phi3 mixtral qwen3; do
        build-dev/doppler convert "$FIXTURES/hf-tiny/$f" "$MODELS/tiny/$f" --dtype f32 >/dev/null
    done
    "$DOPPLER_NODE" tests/webgpu/parity.mjs "$FIXTURES/hf-tiny" "$MODELS/tiny" /tmp/dp-parity || echo "parity FAILED on this GPU"
fi
emit() { echo "$1"; if [ -n "${OUT:-}" ]; then echo "$1" >> "$OUT/bench.jsonl"; fi; }
for s in "${SHAPES[@]}"; do
    m="$MODELS/$s-q4_k_m"
    # shellcheck disable=SC2086
    emit "$("$DOPPLER_NODE" web/doppler.mjs bench "$m" $BENCH_ARGS --json)"
done
for t in ${SWEEP:-}; do
    for s in "${SHAPES[@]}"; do
        emit "{\"tune\":\"$t\",\"result\":$("$DOPPLER_NODE" web/doppler.mjs bench "$MODELS/$s-q4_k_m" -p 0 -n 64 -r 1 --profile --json --tune "$t")}"
    done
done
