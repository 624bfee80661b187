#!/bin/bash
# speed-device.sh — issue 18's WebGPU speed measurements on a GPU machine without package access
# (the H200 device), in one call. Run from the repository root there, with these carried:
#   .bundle/      shared/tools/webgpu-runtime-bundle.sh .bundle   (node, dawn.node, Vulkan loader)
#   web/dist/     web/build.sh                                      (doppler.wasm)
#   (optional) build-wasm/webgpu_ops_test.wasm  (web/build.sh test: the per-op test runs here too)
#   (optional) FIXTURES=dir holding hf-tiny/ (default shared/fixtures when shared/ travels)
# Steps, results under $OUT (default /tmp/dp-speed):
#   1. the native tool (cmake, all cores); Q4_K_M models of the three shapes synthesized at once
#   2. correctness on this GPU: the per-op test (every kernel against the CPU op; then the products
#      with matvec_i8=1), the hf-tiny parity test (tests/webgpu/parity.mjs), the subgroup-matrix
#      prefill against the fallback
#      (tests/webgpu/prefill_parity.mjs) on hf-tiny llama/gemma3 and each synthesized shape
#   3. `node web/doppler.mjs bench` per shape, one model load, every setting in CONFIGS
#      (pp512 / tg128, host ms and host calls per token, --profile: GPU time per kernel)
# Prints a summary table (summary.txt) of tok/s per shape and setting. Every step has its own
# time limit, so a hung step cannot take the call; a failed step says FAILED and the rest go on.
#   web/bench/speed-device.sh [shape ...]   default: llama-3.2-1b gemma-3-1b llama-3.1-8b
# Environment: OUT, MODELS (default /tmp/dp-models), BENCH_ARGS (default "-p 512 -n 128 -r 2
# --profile"), CONFIGS (';'-separated --tune settings, each giving every key it changes),
# DAWN_FLAGS (default enables f16 on NVIDIA + unsafe APIs for subgroup matrices).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
SHAPES=("$@")
[ ${#SHAPES[@]} -gt 0 ] || SHAPES=(llama-3.2-1b gemma-3-1b llama-3.1-8b)
OUT=${OUT:-/tmp/dp-speed}
MODELS=${MODELS:-/tmp/dp-models}
[ -n "${FIXTURES:-}" ] || { [ -d shared/fixtures/hf-tiny ] && FIXTURES=$ROOT/shared/fixtures; }
BENCH_ARGS=${BENCH_ARGS:--p 512 -n 128 -r 2 --profile}
CONFIGS=${CONFIGS:-matvec_i8=0,prefill_sgmat=0;matvec_i8=1,prefill_sgmat=0;matvec_i8=0,prefill_sgmat=1;matvec_i8=1,prefill_sgmat=1}
export DAWN_FLAGS=${DAWN_FLAGS:-enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia}
mkdir -p "$OUT" "$MODELS"
LOG="$OUT/log.txt"
say() { echo "$*" | tee -a "$LOG"; }
T0=$(date +%s)
stamp() { say "[$(( $(date +%s) - T0 )) s] $*"; }

[ -f .bundle/activate.sh ] || { say "speed-device.sh: carry .bundle (webgpu-runtime-bundle.sh)"; exit 1; }
[ -f web/dist/doppler.wasm ] || { say "speed-device.sh: carry web/dist (web/build.sh)"; exit 1; }
bash .bundle/activate.sh >/dev/null
# shellcheck disable=SC1091
source .bundle/env.sh
export DAWN_NODE
[ -n "${VK_DRIVER_FILES:-}" ] || export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
NODE=$DOPPLER_NODE
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee -a "$LOG"
git log --oneline -1 2>/dev/null | tee -a "$LOG"
# the adapter as this host sees it (features, subgroup matrix configurations, WGSL features)
timeout 60 "$NODE" --input-type=module -e "
import { requestDevice } from './web/gpu.mjs';
import { gpuFromNode } from './web/node-gpu.mjs';
const g = await gpuFromNode();
const d = await requestDevice(g);
console.log(JSON.stringify({ ...d.info, wgsl: [...(g.wgslLanguageFeatures ?? [])], subgroupMinSize: d.adapter.info?.subgroupMinSize, subgroupMaxSize: d.adapter.info?.subgroupMaxSize }));
process.exit(0);" > "$OUT/adapter.json" 2>&1
cat "$OUT/adapter.json" | tee -a "$LOG"

# 1. native tool + models (the writer converts rows on every core; all shapes at once)
stamp "building the native tool"
{ cmake -S . -B build-dev -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build build-dev -j"$(nproc)" --target doppler_cli >/dev/null; } 2>&1 | tail -5 | tee -a "$LOG"
[ -x build-dev/doppler ] || { say "speed-device.sh: native build FAILED"; exit 1; }
stamp "synthesizing ${SHAPES[*]}"
for s in "${SHAPES[@]}"; do
    m="$MODELS/$s-q4_k_m"
    [ -f "$m/manifest.json" ] || timeout 300 build-dev/doppler synth --shape "$s" --quant q4_k_m "$m" >/dev/null 2>>"$LOG" &
done
# meanwhile: correctness on this GPU
if [ -f build-wasm/webgpu_ops_test.wasm ]; then
    stamp "per-op test"
    timeout 150 "$NODE" tests/webgpu/run_ops.mjs build-wasm/webgpu_ops_test.wasm > "$OUT/ops.txt" 2>&1 &&
        say "per-op: $(tail -1 "$OUT/ops.txt")" || { say "per-op: FAILED"; grep -v " ok$" "$OUT/ops.txt" | tail -20 | tee -a "$LOG"; }
    DP_TUNE=matvec_i8=1 DP_KINDS=matmul,fused timeout 100 "$NODE" tests/webgpu/run_ops.mjs build-wasm/webgpu_ops_test.wasm > "$OUT/ops_i8.txt" 2>&1 &&
        say "per-op matvec_i8=1: $(tail -1 "$OUT/ops_i8.txt")" || { say "per-op matvec_i8=1: FAILED"; grep -v " ok$" "$OUT/ops_i8.txt" | tail -20 | tee -a "$LOG"; }
else
    say "per-op test: SKIPPED (carry build-wasm/webgpu_ops_test.wasm)"
fi
if [ -n "${FIXTURES:-}" ] && [ -d "$FIXTURES/hf-tiny" ]; then
    for f in llama gemma3 gemma2 phi3 mixtral qwen3; do
        build-dev/doppler convert "$FIXTURES/hf-tiny/$f" "$MODELS/tiny/$f" --dtype f32 >/dev/null 2>>"$LOG"
    done
    stamp "hf-tiny parity (default kernels)"
    timeout 240 "$NODE" tests/webgpu/parity.mjs "$FIXTURES/hf-tiny" "$MODELS/tiny" /tmp/dp-parity > "$OUT/parity.txt" 2>&1 &&
        say "parity: ok" || { say "parity: FAILED"; tail -20 "$OUT/parity.txt" | tee -a "$LOG"; }
    stamp "prefill on subgroup matrices against the fallback (hf-tiny)"
    timeout 120 "$NODE" tests/webgpu/prefill_parity.mjs "$MODELS/tiny/llama" "$MODELS/tiny/gemma3" --n 64 > "$OUT/prefill_parity_tiny.txt" 2>&1
    rc=$?; cat "$OUT/prefill_parity_tiny.txt" | tee -a "$LOG"
    [ $rc = 0 ] && say "prefill parity (tiny): ok" || say "prefill parity (tiny): FAILED (exit $rc)"
else
    say "hf-tiny parity: SKIPPED (set FIXTURES to a directory holding hf-tiny/)"
fi
wait
stamp "models ready"

# 2. the subgroup-matrix prefill against the fallback on the real shapes (one prompt of 128)
for s in "${SHAPES[@]}"; do
    m="$MODELS/$s-q4_k_m"
    [ -f "$m/manifest.json" ] || { say "$s: synth FAILED"; continue; }
    timeout 120 "$NODE" tests/webgpu/prefill_parity.mjs "$m" --n 128 > "$OUT/prefill_parity_$s.txt" 2>&1
    rc=$?; cat "$OUT/prefill_parity_$s.txt" | tee -a "$LOG"
    [ $rc = 0 ] || say "prefill parity ($s): FAILED (exit $rc)"
done
stamp "prefill parity done"

# 3. benchmarks: every setting on one load per shape
for s in "${SHAPES[@]}"; do
    m="$MODELS/$s-q4_k_m"
    [ -f "$m/manifest.json" ] || continue
    stamp "bench $s"
    # shellcheck disable=SC2086
    timeout 240 "$NODE" web/doppler.mjs bench "$m" $BENCH_ARGS --json --configs "$CONFIGS" \
        > "$OUT/bench_$s.jsonl" 2> "$OUT/bench_$s.err"
    rc=$?
    [ $rc = 0 ] || { say "bench $s: FAILED (exit $rc)"; tail -5 "$OUT/bench_$s.err" | tee -a "$LOG"; }
    cat "$OUT/bench_$s.jsonl" >> "$OUT/bench.jsonl"
done
stamp "benchmarks done"

# summary: shape, setting, pp / tg tok/s, GPU-bound share, host ms and calls per token
"$NODE" -e '
const fs = require("fs");
const lines = fs.existsSync(process.argv[1]) ? fs.readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean) : [];
const rows = ["| model | setting | pp t/s | tg t/s | tg GB/s | host ms/tok | wait ms/tok | dispatches/tok | host calls/tok | top kernels (ms/tok) |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"];
for (const l of lines) {
  let j; try { j = JSON.parse(l); } catch { continue; }
  const top = (j.profile ?? []).slice(0, 3).map((k) => `${k.kernel.replace(/\(.*\)/, "")} ${k.ms_per_token.toFixed(3)}`).join(", ");
  rows.push(`| ${j.model.split("/").pop()} | ${j.config ?? ""} | ${j.pp?.tps_mean.toFixed(0) ?? "-"} | ${j.tg?.tps_mean.toFixed(1) ?? "-"} | ${j.tg_weight_gbps ?? "-"} | ${j.tg_host_ms_per_token ?? "-"} | ${j.tg_wait_ms_per_token ?? "-"} | ${j.per_token?.dispatches ?? "-"} | ${j.per_token?.host_calls ?? "-"} | ${top} |`);
}
console.log(rows.join("\n"));' "$OUT/bench.jsonl" > "$OUT/summary.txt"
cat "$OUT/summary.txt" | tee -a "$LOG"
stamp "done"
