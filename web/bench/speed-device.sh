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
#      with each new path on), the hf-tiny parity test (tests/webgpu/parity.mjs), the subgroup-matrix
#      prefill against the fallback
#      (tests/webgpu/prefill_parity.mjs) on hf-tiny llama/gemma3 and each synthesized shape
#   3. `node web/doppler.mjs bench` per shape, one model load, every setting in CONFIGS
#      ({matvec_i8, matvec_sg} off/on for decode, prefill_sgmat for prefill)
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
# the settings: the defaults, then each new path (decode: 8-bit x, subgroup row sums, both; prefill:
# subgroup matrices, last since it is the one not yet run on any GPU); a setting that fails prints
# an error line and the others are still measured
D=matvec_i8=0,matvec_sg=0,prefill_sgmat=0
CONFIGS=${CONFIGS:-$D;matvec_i8=1,matvec_sg=0,prefill_sgmat=0;matvec_i8=0,matvec_sg=1,prefill_sgmat=0;matvec_i8=1,matvec_sg=1,prefill_sgmat=0;matvec_i8=0,matvec_sg=0,prefill_sgmat=1}
mkdir -p "$OUT" "$MODELS"
LOG="$OUT/log.txt"
say() { echo "$*" | tee -a "$LOG"; }
T0=$(date +%s)
stamp() { say "[$(( $(date +%s) - T0 )) s] $*"; }
# every step's time limit is cut to what is left of DEADLINE seconds (default 510: the device call
# allows 600); a step with under 10 s left is skipped and says so
DEADLINE=${DEADLINE:-510}
lim() { local left=$(( DEADLINE - ($(date +%s) - T0) )); [ "$left" -lt "$1" ] && echo "$left" || echo "$1"; }
run() { # run LIMIT NAME OUTFILE command...: the command under the limit, "NAME: ok|FAILED|SKIPPED"
    local t name=$2 of=$3; t=$(lim "$1"); shift 3
    if [ "$t" -lt 10 ]; then say "$name: SKIPPED (out of time)"; return 1; fi
    timeout "$t" "$@" > "$of" 2>&1; local rc=$?
    if [ $rc = 0 ]; then say "$name: ok ($(tail -1 "$of" | cut -c1-150))"; return 0; fi
    say "$name: FAILED (exit $rc$([ $rc = 124 ] && echo ", over its $t s"))"; grep -v " ok$" "$of" | tail -15 | tee -a "$LOG"
    return 1
}

# shellcheck disable=SC1091
source web/bench/device-env.sh > "$OUT/env.txt" 2>&1; rc=$?
cat "$OUT/env.txt" | tee -a "$LOG"
[ $rc = 0 ] || exit 1
NODE=$DOPPLER_NODE
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
    run 90 "per-op" "$OUT/ops.txt" "$NODE" tests/webgpu/run_ops.mjs build-wasm/webgpu_ops_test.wasm
    for t in matvec_i8=1 matvec_sg=1,matvec_i8=0 matvec_sg=1,matvec_i8=1; do
        DP_TUNE=$t DP_KINDS=matmul,fused,lora run 30 "per-op $t" "$OUT/ops_$t.txt" "$NODE" tests/webgpu/run_ops.mjs build-wasm/webgpu_ops_test.wasm
    done
else
    say "per-op test: SKIPPED (carry build-wasm/webgpu_ops_test.wasm)"
fi
if [ -n "${FIXTURES:-}" ] && [ -d "$FIXTURES/hf-tiny" ]; then
    for f in llama gemma3 gemma2 phi3 mixtral qwen3; do
        build-dev/doppler convert "$FIXTURES/hf-tiny/$f" "$MODELS/tiny/$f" --dtype f32 >/dev/null 2>>"$LOG"
    done
    stamp "hf-tiny parity (default kernels)"
    run 120 "hf-tiny parity" "$OUT/parity.txt" "$NODE" tests/webgpu/parity.mjs "$FIXTURES/hf-tiny" "$MODELS/tiny" /tmp/dp-parity
    stamp "prefill on subgroup matrices against the fallback (hf-tiny)"
    run 45 "prefill parity (hf-tiny llama, gemma3)" "$OUT/prefill_parity_tiny.txt" \
        "$NODE" tests/webgpu/prefill_parity.mjs "$MODELS/tiny/llama" "$MODELS/tiny/gemma3" --n 64
    cat "$OUT/prefill_parity_tiny.txt" >> "$LOG"
else
    say "hf-tiny parity: SKIPPED (set FIXTURES to a directory holding hf-tiny/)"
fi
wait
stamp "models ready"

# 3. benchmarks: every setting on one load per shape (the 8B last: the longest load)
for s in "${SHAPES[@]}"; do
    m="$MODELS/$s-q4_k_m"
    [ -f "$m/manifest.json" ] || { say "$s: synth FAILED"; continue; }
    stamp "bench $s"
    # shellcheck disable=SC2086
    run 150 "bench $s" "$OUT/bench_$s.jsonl" "$NODE" web/doppler.mjs bench "$m" $BENCH_ARGS --json --configs "$CONFIGS"
    grep '^{' "$OUT/bench_$s.jsonl" >> "$OUT/bench.jsonl"
done
stamp "benchmarks done"
# the subgroup-matrix prefill against the fallback on the real shapes (one prompt of 128 rows)
for s in "${SHAPES[@]}"; do
    m="$MODELS/$s-q4_k_m"
    [ -f "$m/manifest.json" ] || continue
    run 60 "prefill parity $s" "$OUT/prefill_parity_$s.txt" "$NODE" tests/webgpu/prefill_parity.mjs "$m" --n 128
done
stamp "prefill parity done"

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
