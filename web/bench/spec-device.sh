#!/bin/bash
# spec-device.sh — WebGPU speculative decoding on a GPU machine without package access (the H200
# device), in one call: the trained pair (models/fable-21m-q4_k_m target, models/fable-4m-q8_0
# draft, both in the repository) for K = 1..8 fixed and adaptive against plain greedy decode of
# the target, then prompt lookup on a rewriting task, through `node web/doppler.mjs bench --draft
# ... --sweep`. Every row says whether its ids equal plain decode's and how many readbacks each
# target pass took (1 expected).
# Run from the repository root there, with these carried from here:
#   .bundle/      ../shared/tools/webgpu-runtime-bundle.sh .bundle   (node, dawn.node, Vulkan loader)
#   web/dist/     web/build.sh                                        (doppler.wasm)
# Output: the tables to stdout, JSON lines to $OUT/spec.jsonl when OUT is set.
# Environment: N (tokens per run, default 256), REPS (default 3), KMAX (default 8),
# DAWN_FLAGS (default: f16 on NVIDIA + unsafe APIs, as device.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
N=${N:-256} REPS=${REPS:-3} KMAX=${KMAX:-8}
export DAWN_FLAGS=${DAWN_FLAGS:-enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia}
T=models/fable-21m-q4_k_m D=models/fable-4m-q8_0

[ -f .bundle/activate.sh ] || { echo "spec-device.sh: carry .bundle (webgpu-runtime-bundle.sh)"; exit 1; }
[ -f web/dist/doppler.wasm ] || { echo "spec-device.sh: carry web/dist (web/build.sh)"; exit 1; }
[ -f "$T/manifest.json" ] && [ -f "$D/manifest.json" ] || { echo "spec-device.sh: no $T or $D"; exit 1; }
bash .bundle/activate.sh >/dev/null
# shellcheck disable=SC1091
source .bundle/env.sh
export DAWN_NODE
[ -n "${VK_DRIVER_FILES:-}" ] || export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true

emit() { if [ -n "${OUT:-}" ]; then echo "$1" >> "$OUT/spec.jsonl"; fi; }
bench() { # name, then bench arguments: the table to stdout, the JSON to $OUT
    local name=$1; shift
    echo "== $name"
    "$DOPPLER_NODE" web/doppler.mjs bench "$@" || echo "$name FAILED"
    emit "{\"run\":\"$name\",\"result\":$("$DOPPLER_NODE" web/doppler.mjs bench "$@" --json -r 1 || echo null)}"
}
# the prompt of the CPU figures in docs/BENCHMARKS.md
bench "draft K=1..$KMAX" "$T" --draft "$D" --draft-max "$KMAX" --sweep -n "$N" -r "$REPS" \
    --prompt "The fork() system call creates a new process"
# prompt lookup on a rewriting task: the passage, then the instruction to write it again
PASSAGE=$(head -c 1200 models/text/heldout-manuals.txt)
bench "lookup 3" "$T" --lookup 3 --draft-max "$KMAX" -n "$N" -r "$REPS" --prompt "$PASSAGE

Write the story above again, word for word:

$(printf '%s' "$PASSAGE" | head -c 200)"
