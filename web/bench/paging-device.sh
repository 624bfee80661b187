#!/bin/bash
# paging-device.sh — MoE expert paging figures on the H200 host (issue 12, docs/PAGING.md), one
# part per device call (each well under the 10-minute command limit):
#
#   web/bench/paging-device.sh q8     "a 40 GB+ model on 16 GB": the Mixtral-8x7B shape at q8_0
#                                     (~46 GiB), CPU backend, --ram-cache 16G, paged from disk
#   web/bench/paging-device.sh q8p    the same model and budget with concurrent page-ins: runs
#                                     with --expert-predict 0 (none), 2 and 0 experts per token
#                                     (Q8P_ORDER, e.g. "0 2 0 1"), a one-token prompt, tokens
#                                     per run from the time left (Q8P_N overrides)
#   web/bench/paging-device.sh q4     the Mixtral-8x7B shape at Q4_K_M (~25 GiB): CPU paging at
#                                     --ram-cache 4G/8G/16G and unpaged (16 tokens each)
#   web/bench/paging-device.sh llama  llama.cpp (LLAMA_CPP: a carried folder holding a CUDA build's
#                                     llama-bench) on the same Q4_K_M weights (doppler export-gguf),
#                                     tg128 at -ngl 99 with --n-cpu-moe 32/24/16/0 (experts of that
#                                     many layers left on the CPU: about the 4/8/16 GB/unlimited
#                                     VRAM budgets)
#   web/bench/paging-device.sh webgpu WebGPU (Node + Dawn from the carried .bundle, doppler.wasm
#                                     from the carried web/dist): the same Q4_K_M model at
#                                     --gpu-mem 8G, 16G, 4G and unlimited (in that order), greedy
#                                     decode through web/bench/paging-webgpu.mjs: tg (at most
#                                     WG_N tokens, default 16, and what the time left allows;
#                                     the count is in each line), hit rates, bytes paged per token
#
# Results: JSON lines and logs under $OUT (paging.jsonl, paging-webgpu.jsonl, *.log), written as
# each run ends. Every part keeps to DEADLINE seconds (default 560: the device call allows 600):
# each run's limit is cut to what is left. Invocation, from the repository root on the device:
#   run(command="bash web/bench/paging-device.sh q8", timeout_s=600)
#   run(command="bash web/bench/paging-device.sh q8p", timeout_s=600)
#   run(command="bash web/bench/paging-device.sh q4", timeout_s=600)
#   run(command="LLAMA_CPP=llama-cuda bash web/bench/paging-device.sh llama", carry=["llama-cuda"], timeout_s=600)
#   run(command="bash web/bench/paging-device.sh webgpu", carry=[".bundle", "web/dist"], timeout_s=600)
# (the webgpu part: .bundle from shared/tools/webgpu-runtime-bundle.sh, 29.2 MiB; web/dist from
# this branch's web/build.sh after web/deps.sh, so that doppler.wasm has asyncify, 1.1 MiB: the
# carry of spec-device.sh's H200 run). SHAPE=mixtral-tiny checks any part anywhere (webgpu:
# SwiftShader, with the host's node and web/node_modules when .bundle is absent; BUDGETS="3M 4M
# 2M 0" pages that shape).
# Time (webgpu): the native build, then synth, which took 5 min 32 s for this shape on the 2-core
# build machine, disk-bound (BENCHMARKS.md); measured there on 1- and 2-layer configs of its
# widths: 19.5 s fixed (embedding, output) + 5.4 s wall / 2.3 s CPU per layer, i.e. about 80 s
# of CPU for 32 layers, so on the H200 host (page cache for the 26 GB) expect 1.5-3 min. The
# runs share what is left of DEADLINE: each run gets (time left) / (runs left), two thirds of
# it for decoding (a third for the unlimited run, which first loads and checks all 26 GB).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
PART=${1:-q8}
OUT=${OUT:-/tmp/dp-paging-out}
MODELS=${MODELS:-build-dev/models} # ignored: kept between calls while the machine stays warm
SHAPE=${SHAPE:-mixtral-8x7b}       # SHAPE=mixtral-tiny checks the script in seconds anywhere
mkdir -p "$OUT" "$MODELS"
T0=$(date +%s)
DEADLINE=${DEADLINE:-560}
left() { echo $(( DEADLINE - ($(date +%s) - T0) )); }
note() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a "$OUT/paging.log"; }

cmake -S . -B build-dev -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-dev -j"$(nproc)" --target doppler_cli >/dev/null
D=build-dev/doppler
note "built; $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB RAM, $(df -h "$MODELS" | awk 'NR==2{print $4}') free on $MODELS"

synth() { # shape quant dir
    if [ ! -f "$3/manifest.json" ]; then
        /usr/bin/time -v "$D" synth --shape "$1" --quant "$2" "$3" >"$OUT/synth-$2.log" 2>&1
    fi
    note "synth $1 $2: $(du -sh "$3" | cut -f1)"
}

# one generation with the figures: tok/s, paging lines, peak RSS, bytes read from disk
gen() { # tag model args...
    local tag=$1 m=$2
    shift 2
    timeout "${GEN_TIMEOUT:-100}" /usr/bin/time -v "$D" run "$m" --ids "${GEN_IDS:-1 415 1291 349}" -n "${GEN_N:-16}" --temp 0.8 \
        --seed 1 --ignore-eos --print-ids --verbose "$@" >"$OUT/run-$tag.log" 2>&1 || note "run $tag FAILED or timed out"
    local tps rss disk
    tps=$(grep -o 'generated [0-9]* tokens ([0-9.]* tok/s)' "$OUT/run-$tag.log" | grep -o '[0-9.]* tok/s' || true)
    rss=$(awk '/Maximum resident/{print $6}' "$OUT/run-$tag.log")
    disk=$(awk '/File system inputs/{print $4}' "$OUT/run-$tag.log")
    rss=${rss:-0} disk=${disk:-0}
    note "$tag: $tps, peak RSS $((rss / 1024)) MiB, disk reads $((disk / 2048)) MiB; $(grep '^paging: per token' "$OUT/run-$tag.log" || true)"
    echo "{\"tag\":\"$tag\",\"tg\":\"$tps\",\"peak_rss_kib\":$rss,\"disk_read_blocks\":$disk,\"paging\":\"$(grep '^paging' "$OUT/run-$tag.log" | tr '\n' ' ' | tr -d '"')\"}" >>"$OUT/paging.jsonl"
}

# q8p: the 47 GB model at --ram-cache 16G with concurrent page-ins, without and with the
# layer-ahead prediction (experts per token). A run prints its figures only at its end, so its
# tokens come from its share of the time left at the first q8 run's pace: ~5.5 s per token, and
# ~40 s for the load and the first pass (one prompt token: 64 experts, 11 GiB, from a cold cache)
q8_predict() {
    local M="$MODELS/$SHAPE-q8_0" i=0 p t n
    rm -rf "$MODELS/$SHAPE-q4_k_m" "$MODELS/mixtral.gguf" # 64 GB of disk: one model at a time
    synth "$SHAPE" q8_0 "$M"
    timeout 120 sync || true # synth's writeback would share the disk with the page-ins
    note "synced; $(left) s left; SHA-NI: $(grep -q sha_ni /proc/cpuinfo && echo yes || echo no); $(df -h "$MODELS" | awk 'NR==2{print $1}')"
    # shellcheck disable=SC2086
    set -- ${Q8P_ORDER:-0 2 0}
    while [ $# -gt 0 ]; do
        p=$1
        shift
        i=$((i + 1))
        t=$(( $(left) / ($# + 1) ))
        [ "$t" -ge 40 ] || { note "q8p predict $p #$i: SKIPPED (out of time)"; continue; }
        n=$(( (t - 40) / 6 ))
        n=$(( n > 32 ? 32 : n < 4 ? 4 : n ))
        GEN_IDS=1 GEN_TIMEOUT=$t GEN_N=${Q8P_N:-$n} gen "q8p-predict-$p-$i" "$M" --ram-cache 16G --expert-predict "$p"
    done
}

case "$PART" in
q8)
    M="$MODELS/$SHAPE-q8_0"
    rm -rf "$MODELS/$SHAPE-q4_k_m" "$MODELS/mixtral.gguf" # 64 GB of disk: one model at a time
    synth "$SHAPE" q8_0 "$M"
    GEN_TIMEOUT=300 GEN_N=32 gen q8-ram16G "$M" --ram-cache 16G
    ;;
q8p) q8_predict ;;
q4)
    M="$MODELS/$SHAPE-q4_k_m"
    rm -rf "$MODELS/$SHAPE-q8_0"
    synth "$SHAPE" q4_k_m "$M"
    for b in 4G 8G 16G; do gen "q4-ram$b" "$M" --ram-cache "$b"; done
    gen q4-unpaged "$M"
    ;;
llama) # after q4 on the same warm machine (the model is kept in build-dev/models), or from scratch
    M="$MODELS/$SHAPE-q4_k_m"
    rm -rf "$MODELS/$SHAPE-q8_0"
    [ -n "${LLAMA_CPP:-}" ] && [ -x "$LLAMA_CPP/llama-bench" ] || { note "llama: set LLAMA_CPP to a carried folder with a CUDA llama-bench"; exit 2; }
    [ -f "$MODELS/mixtral.gguf" ] || { synth "$SHAPE" q4_k_m "$M"; "$D" export-gguf "$M" "$MODELS/mixtral.gguf" >"$OUT/export.log" 2>&1; }
    note "gguf: $(du -sh "$MODELS/mixtral.gguf" | cut -f1)"
    for n in 32 24 16 0; do
        timeout 100 "$LLAMA_CPP/llama-bench" -m "$MODELS/mixtral.gguf" -p 0 -n 128 -r 1 -ngl 99 --n-cpu-moe "$n" -o jsonl \
            >>"$OUT/llama.jsonl" 2>>"$OUT/llama.log" || note "llama-bench --n-cpu-moe $n FAILED or timed out"
        note "llama.cpp --n-cpu-moe $n: $(tail -1 "$OUT/llama.jsonl" | grep -o '"avg_ts": *[0-9.]*' || true)"
    done
    ;;
webgpu)
    M="$MODELS/$SHAPE-q4_k_m"
    rm -rf "$MODELS/$SHAPE-q8_0"
    NODE=node
    if [ -f .bundle/activate.sh ]; then
        # shellcheck disable=SC1091
        source web/bench/device-env.sh >"$OUT/env.log" 2>&1 || { cat "$OUT/env.log"; exit 1; }
        NODE=$DOPPLER_NODE
    fi
    [ -f web/dist/doppler.wasm ] || { note "webgpu: carry web/dist (web/build.sh)"; exit 1; }
    # synth: 5.5 min for the 8x7B shape on the 2-core build machine, disk-bound (BENCHMARKS.md);
    # its time here is in the log, and every run below gets what is left
    synth "$SHAPE" q4_k_m "$M"
    note "synth done; $(left) s left"
    # budgets: the headline first, unlimited last (it loads and checks all 26 GB); BUDGETS
    # overrides (e.g. "3M 4M 2M 0" pages the mixtral-tiny shape)
    # shellcheck disable=SC2086
    set -- ${BUDGETS:-8G 16G 4G 0}
    while [ $# -gt 0 ]; do
        b=$1
        shift
        t=$(( $(left) / ($# + 1) ))
        [ $# = 0 ] && t=$(left)
        [ "$t" -ge 30 ] || { note "webgpu gpu-mem $b: SKIPPED (out of time)"; continue; }
        bytes=$(numfmt --from=iec "$b")
        # decode for what is left of the run's share after load and warm-up (a third of it,
        # at least 20 s)
        dec=$(( t * 2 / 3 > 20 ? t * 2 / 3 : 20 ))
        [ "$b" = 0 ] && dec=$(( t / 3 > 15 ? t / 3 : 15 ))
        if timeout "$t" "$NODE" web/bench/paging-webgpu.mjs "$M" "$bytes" "${WG_N:-16}" "$dec" ${RAM_CACHE:+$(numfmt --from=iec "$RAM_CACHE")} \
            >"$OUT/run.json" 2>>"$OUT/paging-webgpu.log"; then
            cat "$OUT/run.json" >>"$OUT/paging-webgpu.jsonl"
            note "webgpu gpu-mem $b: $(cat "$OUT/run.json")"
        else
            note "webgpu gpu-mem $b: FAILED or over its $t s: $(cat "$OUT/run.json" 2>/dev/null)"
        fi
    done
    ;;
*) echo "paging-device.sh: part q8, q8p, q4, llama or webgpu"; exit 2 ;;
esac
note "done"
