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
#      (the defaults: 8-bit decode products, no decode fusions, the 4 x 4 tiled prefill; the 8-bit
#      products packing x per workgroup, matvec_pack=1; f32 products, matvec_i8=0; subgroup row sums, matvec_sg=1; the
#      subgroup-matrix prefill, prefill_sgmat=1, and with its tiles staged, prefill_sgmat=2; the decode fusions, fold_norm=1,attn_one_slice=256
#      with f32 products)
#      (pp512 / tg128, host ms and host calls per token, --profile: GPU time per kernel in a decode
#      and in one prompt)
#   4. (with LLAMA_SRC) llama.cpp's llama-bench with CUDA on the same weights, side by side:
#      LLAMA_SRC is a llama.cpp source tree or a tarball of one (never fetched here), unpacked to
#      /tmp/lc and built outside the repository (GGML_CUDA=ON, CMAKE_CUDA_ARCHITECTURES=90,
#      target llama-bench only; LLAMA_CUDA_FA=ON|OFF, default OFF: the FlashAttention kernels
#      are most of a CUDA build's time) in the background (setsid) from the start, while the
#      steps above run; then the synthesized models go out through `doppler export-gguf` and
#      `llama-bench -m GGUF -p 512 -n 128 -r 2 -ngl 99 -o json` runs on each, as the build allows
#      before the deadline (an unfinished build keeps going: on a still-held machine the next
#      call finds /tmp/lc/b and only waits for it). llama.jsonl, side_by_side.txt.
#      LLAMA_BENCH=path: a llama-bench built elsewhere for this GPU (sm_90; built on a machine
#      with nvcc and carried, see docs/BENCHMARKS.md) is used instead and nothing is built.
# Prints a summary table (summary.txt) of tok/s per shape and setting. Every step has its own
# time limit, so a hung step cannot take the call; a failed step says FAILED and the rest go on.
#   web/bench/speed-device.sh [shape ...]   default: llama-3.2-1b gemma-3-1b llama-3.1-8b
# Environment: OUT, MODELS (default /tmp/dp-models), BENCH_ARGS (default "-p 512 -n 128 -r 2
# --profile"), CONFIGS (';'-separated --tune settings, each giving every key it changes),
# CHECKS (default "ops i8sg parity sgmat tiled": which correctness steps run; tiled: the
# prefill kernel bench, step 2b), BASE_WASM (a doppler.wasm
# of another tree, e.g. the last commit's: each shape benchmarked with it too, default settings,
# right after the module's own run: before / after in one call), LLAMA_SRC,
# LLAMA_CUDA_FA, DAWN_FLAGS (default enables f16 on NVIDIA + unsafe APIs for subgroup matrices),
# SGMAT_ON (the prefill_sgmat values whose prefill parity is checked on each shape, default "1 2").
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
SHAPES=("$@")
[ ${#SHAPES[@]} -gt 0 ] || SHAPES=(llama-3.2-1b gemma-3-1b llama-3.1-8b)
OUT=${OUT:-/tmp/dp-speed}
MODELS=${MODELS:-/tmp/dp-models}
[ -n "${FIXTURES:-}" ] || { [ -d shared/fixtures/hf-tiny ] && FIXTURES=$ROOT/shared/fixtures; }
BENCH_ARGS=${BENCH_ARGS:--p 512 -n 128 -r 2 --profile}
# the settings, each giving every key it changes: the defaults (8-bit decode products where WGSL
# has dot4I8Packed, norms and attention as their own dispatches), the products over f32 x, subgroup
# row sums, the subgroup-matrix prefill, the decode fusions (which need f32 x); a setting that
# fails prints an error line and the others are still measured
D=fold_norm=0,attn_one_slice=0,matvec_i8=1,matvec_sg=0,prefill_sgmat=0,matvec_pack=0,prefill_tile=0
CONFIGS=${CONFIGS:-$D;fold_norm=0,attn_one_slice=0,matvec_i8=1,matvec_sg=0,prefill_sgmat=0,matvec_pack=1;fold_norm=0,attn_one_slice=0,matvec_i8=0,matvec_sg=0,prefill_sgmat=0,matvec_pack=0;fold_norm=0,attn_one_slice=0,matvec_i8=1,matvec_sg=1,prefill_sgmat=0,matvec_pack=0;fold_norm=0,attn_one_slice=0,matvec_i8=1,matvec_sg=0,prefill_sgmat=1,matvec_pack=0;fold_norm=0,attn_one_slice=0,matvec_i8=1,matvec_sg=0,prefill_sgmat=2,matvec_pack=0;fold_norm=1,attn_one_slice=256,matvec_i8=0,matvec_sg=0,prefill_sgmat=0,matvec_pack=0}
CHECKS=" ${CHECKS:-ops i8sg parity sgmat tiled} "
check() { [[ "$CHECKS" == *" $1 "* ]]; }
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

# 4 (started first). llama.cpp with CUDA, outside the repository, in the background
LC=/tmp/lc
if [ -n "${LLAMA_BENCH:-}" ]; then
    [ -x "$LLAMA_BENCH" ] && say "llama.cpp: prebuilt $LLAMA_BENCH" || say "llama.cpp: LLAMA_BENCH=$LLAMA_BENCH is not executable"
elif [ -n "${LLAMA_SRC:-}" ]; then
    if [ -x $LC/b/bin/llama-bench ] || [ -f $LC/building ]; then
        say "llama.cpp: $LC/b already there (built or building)"
    else
        mkdir -p $LC/src
        if [ -f "$LLAMA_SRC" ]; then tar -xJf "$LLAMA_SRC" -C $LC/src; else cp -r "$LLAMA_SRC"/. $LC/src/; fi
        touch $LC/building
        # shellcheck disable=SC2016
        setsid nohup bash -c 'cmake -S '$LC'/src -B '$LC'/b -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=ON \
            -DCMAKE_CUDA_ARCHITECTURES=90 -DGGML_CUDA_FA='"${LLAMA_CUDA_FA:-OFF}"' -DGGML_CUDA_NCCL=OFF \
            -DGGML_NATIVE=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_APP=OFF \
            -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TESTS=OFF > '$LC'/cfg.log 2>&1 &&
            nice -n 5 cmake --build '$LC'/b -j'"$(nproc)"' --target llama-bench > '$LC'/build.log 2>&1;
            echo $? > '$LC'/done; rm -f '$LC'/building' > /dev/null 2>&1 < /dev/null &
        say "llama.cpp: CUDA build of llama-bench started in the background (FA ${LLAMA_CUDA_FA:-OFF})"
    fi
fi

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
if ! check ops; then
    :
elif [ -f build-wasm/webgpu_ops_test.wasm ]; then
    stamp "per-op test"
    run 90 "per-op" "$OUT/ops.txt" "$NODE" tests/webgpu/run_ops.mjs build-wasm/webgpu_ops_test.wasm
    # the products and fused shapes with the norm kept apart, then with each new path on
    TUNES="fold_norm=0"
    check i8sg && TUNES="$TUNES matvec_i8=1 matvec_sg=1,matvec_i8=0 matvec_sg=1,matvec_i8=1 matvec_i8=1,matvec_pack=1"
    for t in $TUNES; do
        DP_TUNE=$t DP_KINDS=matmul,fused,lora run 30 "per-op $t" "$OUT/ops_$t.txt" "$NODE" tests/webgpu/run_ops.mjs build-wasm/webgpu_ops_test.wasm
    done
else
    say "per-op test: SKIPPED (carry build-wasm/webgpu_ops_test.wasm)"
fi
if ! check parity; then
    :
elif [ -n "${FIXTURES:-}" ] && [ -d "$FIXTURES/hf-tiny" ]; then
    for f in llama gemma3 gemma2 phi3 mixtral qwen3; do
        build-dev/doppler convert "$FIXTURES/hf-tiny/$f" "$MODELS/tiny/$f" --dtype f32 >/dev/null 2>>"$LOG"
    done
    stamp "hf-tiny parity (default kernels)"
    run 120 "hf-tiny parity" "$OUT/parity.txt" "$NODE" tests/webgpu/parity.mjs "$FIXTURES/hf-tiny" "$MODELS/tiny" /tmp/dp-parity
    if check sgmat; then
        stamp "prefill on subgroup matrices against the fallback (hf-tiny)"
        run 45 "prefill parity (hf-tiny llama, gemma3)" "$OUT/prefill_parity_tiny.txt" \
            "$NODE" tests/webgpu/prefill_parity.mjs "$MODELS/tiny/llama" "$MODELS/tiny/gemma3" --n 64
        cat "$OUT/prefill_parity_tiny.txt" >> "$LOG"
        run 45 "prefill parity, staged tiles (hf-tiny llama, gemma3)" "$OUT/prefill_parity2_tiny.txt" \
            "$NODE" tests/webgpu/prefill_parity.mjs "$MODELS/tiny/llama" "$MODELS/tiny/gemma3" --n 64 --on 2
        cat "$OUT/prefill_parity2_tiny.txt" >> "$LOG"
    fi
else
    say "hf-tiny parity: SKIPPED (set FIXTURES to a directory holding hf-tiny/)"
fi
wait
stamp "models ready"

# 2b. the tiled prefill kernels alone (web/bench/tiled-bench.mjs: matmul_tiled main against blocked
#     at the prefill shapes, GPU timestamps), with CHECKS holding "tiled"
if check tiled; then
    run 60 "tiled prefill kernels" "$OUT/tiled.txt" "$NODE" web/bench/tiled-bench.mjs --reps 4 --trials 3
    cat "$OUT/tiled.txt" >> "$LOG"
fi

# 3. benchmarks: every setting on one load per shape (the 8B last: the longest load)
for s in "${SHAPES[@]}"; do
    m="$MODELS/$s-q4_k_m"
    [ -f "$m/manifest.json" ] || { say "$s: synth FAILED"; continue; }
    stamp "bench $s"
    # shellcheck disable=SC2086
    run 150 "bench $s" "$OUT/bench_$s.jsonl" "$NODE" web/doppler.mjs bench "$m" $BENCH_ARGS --json --configs "$CONFIGS"
    grep '^{' "$OUT/bench_$s.jsonl" >> "$OUT/bench.jsonl"
    if [ -n "${BASE_WASM:-}" ]; then # the same model and arguments, the defaults, another tree's module
        # shellcheck disable=SC2086
        run 100 "bench $s (BASE_WASM)" "$OUT/bench_base_$s.jsonl" "$NODE" web/doppler.mjs bench "$m" $BENCH_ARGS --json --wasm "$BASE_WASM"
        grep '^{' "$OUT/bench_base_$s.jsonl" | "$NODE" -e 'for (const l of require("fs").readFileSync(0, "utf8").split("\n").filter(Boolean))
          console.log(JSON.stringify({ ...JSON.parse(l), config: "BASE_WASM " + process.argv[1] }));' "$BASE_WASM" >> "$OUT/bench.jsonl"
    fi
done
stamp "benchmarks done"
# the subgroup-matrix prefill against the fallback on the real shapes (one prompt of 128 rows)
check sgmat && for s in "${SHAPES[@]}"; do
    m="$MODELS/$s-q4_k_m"
    [ -f "$m/manifest.json" ] || continue
    for on in ${SGMAT_ON:-1 2}; do   # prefill_sgmat=1, 2 (staged)
        run 60 "prefill parity $s, prefill_sgmat=$on" "$OUT/prefill_parity${on}_$s.txt" "$NODE" tests/webgpu/prefill_parity.mjs "$m" --n 128 --on "$on"
    done
done
stamp "prefill parity done"

# summary: shape, setting, pp / tg tok/s, GPU-bound share, host ms and calls per token
"$NODE" -e '
const fs = require("fs");
const lines = fs.existsSync(process.argv[1]) ? fs.readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean) : [];
const rows = ["| model | setting | pp t/s | tg t/s | tg GB/s | host ms/tok | wait ms/tok | dispatches/tok | host calls/tok | top kernels (ms/tok) | top prefill kernels (ms/prompt) |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|"];
for (const l of lines) {
  let j; try { j = JSON.parse(l); } catch { continue; }
  const top = (j.profile ?? []).slice(0, 3).map((k) => `${k.kernel.replace(/\(.*\)/, "")} ${k.ms_per_token.toFixed(3)}`).join(", ");
  const ptop = (j.pp_profile ?? []).slice(0, 4).map((k) => `${k.kernel.replace(/\(.*\)/, "")} ${k.ms.toFixed(2)}`).join(", ");
  rows.push(`| ${j.model.split("/").pop()} | ${j.config ?? ""} | ${j.pp?.tps_mean.toFixed(0) ?? "-"} | ${j.tg?.tps_mean.toFixed(1) ?? "-"} | ${j.tg_weight_gbps ?? "-"} | ${j.tg_host_ms_per_token ?? "-"} | ${j.tg_wait_ms_per_token ?? "-"} | ${j.per_token?.dispatches ?? "-"} | ${j.per_token?.host_calls ?? "-"} | ${top} | ${ptop} |`);
}
console.log(rows.join("\n"));' "$OUT/bench.jsonl" > "$OUT/summary.txt"
cat "$OUT/summary.txt" | tee -a "$LOG"

# 4. llama.cpp CUDA on the same weights (the exported GGUF of each synthesized model)
if [ -n "${LLAMA_SRC:-}${LLAMA_BENCH:-}" ]; then
    for s in "${SHAPES[@]}"; do
        m="$MODELS/$s-q4_k_m"
        [ -f "$m/manifest.json" ] && [ ! -f "$MODELS/$s.gguf" ] &&
            { build-dev/doppler export-gguf "$m" "$MODELS/$s.gguf" >/dev/null 2>>"$LOG" || rm -f "$MODELS/$s.gguf"; } &
    done
    wait
    stamp "GGUFs exported; waiting for the llama.cpp build"
    while [ -f $LC/building ] && [ "$(lim 30)" -ge 30 ]; do sleep 5; done
    LB=${LLAMA_BENCH:-$LC/b/bin/llama-bench}
    if [ -x $LB ]; then
        stamp "llama-bench"
        : > "$OUT/llama.jsonl"
        for s in "${SHAPES[@]}"; do
            [ -f "$MODELS/$s.gguf" ] || { say "llama-bench $s: no GGUF"; continue; }
            run 120 "llama-bench $s" "$OUT/llama_$s.json" bash -c '"$0" -m "$1" -p 512 -n 128 -r 2 -ngl 99 -o json 2>"$2"' "$LB" "$MODELS/$s.gguf" "$OUT/llama_$s.err" &&
                "$NODE" -e 'const [f, s] = process.argv.slice(1); for (const t of JSON.parse(require("fs").readFileSync(f, "utf8")))
                  console.log(JSON.stringify({ shape: s, test: t.n_gen > 0 ? "tg" : "pp", tps: t.avg_ts, sd: t.stddev_ts, build: t.build_commit }));' \
                  "$OUT/llama_$s.json" "$s" >> "$OUT/llama.jsonl"
        done
        # side by side: Doppler's default setting (the first of CONFIGS) against llama.cpp
        "$NODE" -e '
const fs = require("fs");
const rd = (f) => fs.existsSync(f) ? fs.readFileSync(f, "utf8").split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l)) : [];
const dp = rd(process.argv[1]), lc = rd(process.argv[2]);
const rows = ["| shape | Doppler WebGPU tg128 / pp512 | llama.cpp CUDA tg128 / pp512 | ratio tg / pp |", "|---|---:|---:|---:|"];
for (const s of process.argv.slice(3)) {
  const d = dp.find((j) => j.model.endsWith(s + "-q4_k_m"));
  const t = lc.find((j) => j.shape === s && j.test === "tg"), p = lc.find((j) => j.shape === s && j.test === "pp");
  const f = (v, n) => (v == null ? "-" : v.toFixed(n));
  const r = (a, b) => (a == null || b == null ? "-" : (a / b).toFixed(2) + "x");
  rows.push(`| ${s} | ${f(d?.tg?.tps_mean, 1)} / ${f(d?.pp?.tps_mean, 0)} | ${f(t?.tps, 1)} / ${f(p?.tps, 0)} | ${r(d?.tg?.tps_mean, t?.tps)} / ${r(d?.pp?.tps_mean, p?.tps)} |`);
}
console.log(rows.join("\n"));' "$OUT/bench.jsonl" "$OUT/llama.jsonl" "${SHAPES[@]}" > "$OUT/side_by_side.txt"
        cat "$OUT/side_by_side.txt" | tee -a "$LOG"
    else
        say "llama.cpp: llama-bench not built by the deadline ($(cat $LC/done 2>/dev/null || echo still building)); $(tail -2 $LC/build.log 2>/dev/null | tr '\n' ' ')"
        tail -5 $LC/cfg.log >> "$LOG" 2>/dev/null
    fi
fi
stamp "done"
