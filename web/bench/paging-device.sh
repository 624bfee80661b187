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
#   web/bench/paging-device.sh llama  llama.cpp (LLAMA_BENCH: a prebuilt CUDA llama-bench, carried) on
#                                     the same Q4_K_M weights (doppler export-gguf), tg128 at -ngl 99
#                                     with --n-cpu-moe N matching each of BUDGETS (paging-plan.mjs)
#   web/bench/paging-device.sh webgpu WebGPU (Node + Dawn from the carried .bundle, doppler.wasm
#                                     from the carried web/dist), everything in one call:
#     1. smoke: SMOKE_LAYERS (8) layers of the shape's widths, synthesized there, at SMOKE_BUDGETS
#        ("25% 60%": the dense tensors + that share of the experts), short decodes: the paging
#        path works on this GPU before the 26 GB model spends the call's time;
#     2. the full shape at Q4_K_M, --gpu-mem in BUDGETS ("8G 4G 16G 0", 0 = unlimited): greedy
#        decode through web/bench/paging-webgpu.mjs after a WG_PROMPT prompt (default one id: a
#        4-token prompt would page ~27 GB first), at most WG_N (32) tokens in the time share
#        of each run: tg tok/s, load / prompt / warm-up seconds, device and RAM hit rates, MiB
#        paged to the device and read from the shards per token, wait ms per token;
#     3. with LLAMA_BENCH set: llama.cpp CUDA on the same weights (export-gguf runs in the
#        background during 2), tg LLAMA_N (128) at -ngl 99 --n-cpu-moe N for each budget, N
#        chosen so that llama.cpp's weights on the GPU fit the same budget (paging-plan.mjs:
#        llama.cpp keeps token_embd and the first N layers' experts on the CPU); unset: skipped,
#        with a line saying so.
#
# Results: JSON lines under $OUT as each run ends — paging-webgpu.jsonl ({"phase": "smoke" |
# "full", "budget", "rc", "plan": paging-plan.mjs's line, "run": paging-webgpu.mjs's line}),
# llama.jsonl ({"budget", "n_cpu_moe", "rc", "plan", "bench": llama-bench's jsonl line}) — and
# paging.log (progress, elapsed seconds), and logs.tar.gz: every log (paging-webgpu.log holds each
# run's progress lines), packed at every progress line and on exit ($OUT takes 8 files back).
# DEADLINE (default 540 s from the start, build included) bounds the call: every step has a
# timeout cut to what is left. Invocation, from the repository root on the device:
#   run(command="bash web/bench/paging-device.sh q8", timeout_s=600)
#   run(command="bash web/bench/paging-device.sh q8p", timeout_s=600)
#   run(command="bash web/bench/paging-device.sh q4", timeout_s=600)
#   run(command="LLAMA_BENCH=llama-cuda/llama-bench.xz bash web/bench/paging-device.sh webgpu",
#       carry=[".bundle", "web/dist", "llama-cuda"], timeout_s=600)
# (.bundle from shared/tools/webgpu-runtime-bundle.sh, 29.2 MiB; web/dist from web/build.sh after
# web/deps.sh, so that doppler.wasm has asyncify, 1.1 MiB; llama-cuda: a folder holding the
# static CUDA llama-bench, or llama-bench.xz (the carry is 64 MiB in all), unpacked there; the
# script adds torch's CUDA libraries to LD_LIBRARY_PATH when llama-bench misses some). Anywhere
# else (SwiftShader, the host's node) a dry run checks every step in minutes:
#   SHAPE=mixtral-tiny SMOKE_LAYERS=2 SMOKE_S=120 BUDGETS="3M 0" WG_N=6 DEADLINE=900 \
#   LLAMA_BENCH=<a stub printing one JSON line> bash web/bench/paging-device.sh webgpu
# Time on the H200 host (webgpu): build ~40 s, smoke synth ~15 s + 2 runs, the 8x7B synth
# 66 s (2026-12-04), then the runs share what is left, LLAMA_RESERVE (150 s) kept for llama.cpp.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
PART=${1:-q8}
OUT=${OUT:-/tmp/dp-paging-out}
MODELS=${MODELS:-build-dev/models} # ignored: kept between calls while the machine stays warm
SHAPE=${SHAPE:-mixtral-8x7b}       # SHAPE=mixtral-tiny checks the script in seconds anywhere
# $OUT gets back at most 8 files: the results' JSON lines and paging.log there, every other log
# in $LOGS, packed into $OUT/logs.tar.gz at each progress line and on exit
LOGS=${LOGS:-$(mktemp -d)}
mkdir -p "$OUT" "$MODELS" "$LOGS"
pack() { tar czf "$OUT/logs.tar.gz" -C "$LOGS" . 2>/dev/null || true; }
trap pack EXIT
T0=$(date +%s)
DEADLINE=${DEADLINE:-540}
left() { echo $(( DEADLINE - ($(date +%s) - T0) )); }
lim() { local l; l=$(left); echo $(( l > 1 ? l : 1 )); } # a timeout for what is left (timeout 0 would not limit)
note() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a "$OUT/paging.log"; pack; }

# the native build needs Node (the GPU host has none but the bundle's)
if [ -f .bundle/activate.sh ]; then
    bash .bundle/activate.sh >/dev/null
    # shellcheck disable=SC1091
    . .bundle/env.sh
    export DOPPLER_NODE
fi
BUILD=${BUILD:-build-dev} # a dry run elsewhere may name an existing build
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
timeout 300 cmake --build "$BUILD" -j"$(nproc)" --target doppler_cli >/dev/null
D=$BUILD/doppler
note "built; $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB RAM, $(df -h "$MODELS" | awk 'NR==2{print $4}') free on $MODELS"

synth() { # shape quant dir
    if [ ! -f "$3/manifest.json" ]; then
        /usr/bin/time -v "$D" synth --shape "$1" --quant "$2" "$3" >"$LOGS/synth-$2.log" 2>&1
    fi
    note "synth $1 $2: $(du -sh "$3" | cut -f1)"
}

# one generation with the figures: tok/s, paging lines, peak RSS, bytes read from disk
gen() { # tag model args...
    local tag=$1 m=$2
    shift 2
    timeout "${GEN_TIMEOUT:-100}" /usr/bin/time -v "$D" run "$m" --ids "${GEN_IDS:-1 415 1291 349}" -n "${GEN_N:-16}" --temp 0.8 \
        --seed 1 --ignore-eos --print-ids --verbose "$@" >"$LOGS/run-$tag.log" 2>&1 || note "run $tag FAILED or timed out"
    local tps rss disk
    tps=$(grep -o 'generated [0-9]* tokens ([0-9.]* tok/s)' "$LOGS/run-$tag.log" | grep -o '[0-9.]* tok/s' || true)
    rss=$(awk '/Maximum resident/{print $6}' "$LOGS/run-$tag.log")
    disk=$(awk '/File system inputs/{print $4}' "$LOGS/run-$tag.log")
    rss=${rss:-0} disk=${disk:-0}
    note "$tag: $tps, peak RSS $((rss / 1024)) MiB, disk reads $((disk / 2048)) MiB; $(grep '^paging: per token' "$LOGS/run-$tag.log" || true)"
    echo "{\"tag\":\"$tag\",\"tg\":\"$tps\",\"peak_rss_kib\":$rss,\"disk_read_blocks\":$disk,\"paging\":\"$(grep '^paging' "$LOGS/run-$tag.log" | tr '\n' ' ' | tr -d '"')\"}" >>"$OUT/paging.jsonl"
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
llama | webgpu)
    M="$MODELS/$SHAPE-q4_k_m"
    G="$MODELS/$SHAPE-q4_k_m.gguf"
    rm -rf "$MODELS/$SHAPE-q8_0"
    NODE=${DOPPLER_NODE:-node}
    if [ "$PART" = webgpu ] && [ -f .bundle/activate.sh ]; then
        # shellcheck disable=SC1091
        source web/bench/device-env.sh >"$LOGS/env.log" 2>&1 || { cat "$LOGS/env.log"; exit 1; }
        NODE=$DOPPLER_NODE
    fi
    [ "$PART" = llama ] || [ -f web/dist/doppler.wasm ] || { note "webgpu: carry web/dist (web/build.sh)"; exit 1; }
    # budgets: the headline first, unlimited last (it loads and checks all 26 GB)
    BUDGETS=${BUDGETS:-8G 4G 16G 0}
    plan() { "$NODE" web/bench/paging-plan.mjs "$@"; } # model budget -> one JSON line
    field() { grep -o "\"$1\":[0-9.]*" | head -1 | cut -d: -f2; } # a number of a JSON line on stdin

    # one WebGPU run: phase model budget seconds (its whole time, load included)
    wg_run() {
        local phase=$1 m=$2 b=$3 t=$4 p bytes dec what rc=0
        p=$(plan "$m" "$b") || { note "$phase $b: no plan"; return 0; }
        bytes=$(echo "$p" | field gpu_mem)
        # decode for what is left of the share after load, prompt and warm-up: two thirds of it
        # (a third for the unlimited run, which first loads and checks every shard), >= 15 s
        dec=$(( t * 2 / 3 ))
        [ "$bytes" = 0 ] && dec=$(( t / 3 ))
        [ "$dec" -ge 15 ] || dec=15
        if [ "$bytes" = 0 ]; then what="unlimited: no paging"; else what="$bytes bytes, $(echo "$p" | field device_slots) device slots"; fi
        note "$phase gpu-mem $b ($what): up to ${WG_N:-32} tokens, $t s"
        : >"$LOGS/run.json"
        DP_PROMPT=${WG_PROMPT:-1} timeout "$t" "$NODE" web/bench/paging-webgpu.mjs "$m" "$bytes" "${WG_N:-32}" "$dec" ${RAM_CACHE:+$(numfmt --from=iec "$RAM_CACHE")} \
            >"$LOGS/run.json" 2>>"$LOGS/paging-webgpu.log" || rc=$?
        local run
        run=$(tail -1 "$LOGS/run.json")
        echo "{\"phase\":\"$phase\",\"budget\":\"$b\",\"rc\":$rc,\"plan\":$p,\"run\":${run:-null}}" >>"$OUT/paging-webgpu.jsonl"
        case $rc in
        0) note "$phase $b: $run" ;;
        124) note "$phase $b: over its $t s (last: $(tail -1 "$LOGS/paging-webgpu.log"))" ;;
        139) # Node + Dawn can die at exit, after the line is out: the figures stand
            if echo "$run" | grep -q '"tg"'; then note "$phase $b (then a segfault at exit): $run"
            else note "$phase $b: SEGFAULT (last: $(tail -1 "$LOGS/paging-webgpu.log"))"; fi ;;
        *) note "$phase $b: FAILED rc $rc: ${run:-$(tail -1 "$LOGS/paging-webgpu.log")}" ;;
        esac
    }

    # llama.cpp on the GGUF at each budget's --n-cpu-moe
    llama_all() {
        [ -n "${LLAMA_BENCH:-}" ] || { note "llama.cpp: skipped (LLAMA_BENCH is not set: a prebuilt CUDA llama-bench, carried)"; return 0; }
        local lb libs
        if [ "${LLAMA_BENCH%.xz}" != "$LLAMA_BENCH" ] && [ -f "$LLAMA_BENCH" ]; then # carried compressed (the carry is 64 MiB in all)
            lb=$(mktemp -d)/llama-bench
            if ! xz -dc "$LLAMA_BENCH" >"$lb" || ! chmod +x "$lb"; then note "llama.cpp: skipped (cannot unpack $LLAMA_BENCH)"; return 0; fi
        else
            [ -x "$LLAMA_BENCH" ] || { note "llama.cpp: skipped ($LLAMA_BENCH is not an executable)"; return 0; }
            lb=$(cd "$(dirname "$LLAMA_BENCH")" && pwd)/$(basename "$LLAMA_BENCH")
        fi
        if ldd "$lb" 2>/dev/null | grep -q 'not found'; then # CUDA's libraries from torch's wheels
            libs=$(python3 -c 'import glob, os, site; print(":".join(sorted({os.path.dirname(p) for d in site.getsitepackages() for p in glob.glob(d + "/nvidia/*/lib/*.so*")})))' 2>/dev/null || true)
            LD_LIBRARY_PATH="$(dirname "$lb")${libs:+:$libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
            export LD_LIBRARY_PATH
            ldd "$lb" | grep 'not found' | sed 's/^/llama-bench misses /' >>"$LOGS/llama.log" || true
        fi
        if [ -n "${EXPORT_PID:-}" ]; then
            note "llama.cpp: waiting for export-gguf"
            wait "$EXPORT_PID" || { note "llama.cpp: export-gguf FAILED or over its time: $(tail -2 "$LOGS/export.log" | tr '\n' ' ')"; return 0; }
        fi
        [ -f "$G" ] || { note "llama.cpp: no $G"; return 0; }
        note "gguf: $(du -sh "$G" | cut -f1)"
        # shellcheck disable=SC2086
        set -- $BUDGETS
        while [ $# -gt 0 ]; do
            local b=$1 p n t rc=0 line
            shift
            t=$(( $(left) / ($# + 1) ))
            [ "$t" -ge 20 ] || { note "llama.cpp $b: SKIPPED (out of time)"; continue; }
            p=$(plan "$M" "$b")
            n=$(echo "$p" | field n_cpu_moe)
            timeout "$t" "$lb" -m "$G" -p 0 -n "${LLAMA_N:-128}" -r 1 -ngl 99 --n-cpu-moe "$n" -o jsonl \
                >"$LOGS/llama-run.json" 2>>"$LOGS/llama.log" || rc=$?
            line=$(grep '^{' "$LOGS/llama-run.json" | tail -1 || true)
            echo "{\"budget\":\"$b\",\"n_cpu_moe\":$n,\"rc\":$rc,\"plan\":$p,\"bench\":${line:-null}}" >>"$OUT/llama.jsonl"
            note "llama.cpp $b (--n-cpu-moe $n, $(echo "$p" | field llama_gpu_weight_bytes) weight bytes on the GPU): rc $rc, $(echo "$line" | grep -o '"avg_ts": *[0-9.]*' || echo 'no figure')"
        done
    }

    export_bg() { # export-gguf in the background while the GPU runs (CPU and disk)
        [ -n "${LLAMA_BENCH:-}" ] && [ ! -f "$G" ] || return 0
        local need have
        need=$(du -sk "$M" | cut -f1)
        have=$(df -Pk "$MODELS" | awk 'NR==2{print $4}')
        [ "$have" -gt $(( need + 2097152 )) ] || { note "export-gguf: skipped (needs $((need >> 20)) GiB, $((have >> 20)) GiB free)"; return 0; }
        [ "$(left)" -ge 90 ] || { note "export-gguf: skipped (out of time)"; return 0; }
        timeout "$(( $(left) - 60 ))" "$D" export-gguf "$M" "$G" >"$LOGS/export.log" 2>&1 &
        EXPORT_PID=$!
        note "export-gguf started in the background"
    }

    if [ "$PART" = webgpu ]; then
        # 1. smoke: SMOKE_LAYERS layers of the shape's widths
        case $SHAPE in
        mixtral-8x7b) W='"vocab_size":32000,"hidden_size":4096,"num_attention_heads":32,"num_key_value_heads":8,"head_dim":128,"intermediate_size":14336' ;;
        mixtral-tiny) W='"vocab_size":2048,"hidden_size":256,"num_attention_heads":4,"num_key_value_heads":2,"head_dim":64,"intermediate_size":512' ;;
        *) note "webgpu: no smoke widths for $SHAPE"; exit 2 ;;
        esac
        S="$MODELS/smoke-$SHAPE-${SMOKE_LAYERS:-8}l"
        echo "{\"model_type\":\"mixtral\",$W,\"num_hidden_layers\":${SMOKE_LAYERS:-8},\"tie_word_embeddings\":false,\"max_position_embeddings\":32768,\"bos_token_id\":1,\"eos_token_id\":2,\"rms_norm_eps\":1e-5,\"rope_theta\":1000000.0,\"hidden_act\":\"silu\",\"num_local_experts\":8,\"num_experts_per_tok\":2}" >"$LOGS/smoke-config.json"
        if [ ! -f "$S/manifest.json" ]; then
            timeout "$(lim)" "$D" synth --config "$LOGS/smoke-config.json" --quant q4_k_m "$S" >"$LOGS/synth-smoke.log" 2>&1 ||
                { note "smoke synth FAILED: $(tail -1 "$LOGS/synth-smoke.log")"; exit 1; }
        fi
        note "smoke model: $(du -sh "$S" | cut -f1)"
        for b in ${SMOKE_BUDGETS:-25% 60%}; do wg_run smoke "$S" "$b" "${SMOKE_S:-35}"; done
        rm -rf "$S" # disk: the full model and its GGUF need ~54 GB of 64 GiB
        # 2. the full shape
        if [ ! -f "$M/manifest.json" ]; then
            timeout "$(lim)" /usr/bin/time -v "$D" synth --shape "$SHAPE" --quant q4_k_m "$M" >"$LOGS/synth-q4_k_m.log" 2>&1 ||
                { note "synth FAILED: $(tail -3 "$LOGS/synth-q4_k_m.log" | tr '\n' ' ')"; exit 1; }
        fi
        note "synth $SHAPE q4_k_m: $(du -sh "$M" | cut -f1); $(left) s left"
        export_bg
        reserve=0
        [ -n "${LLAMA_BENCH:-}" ] && reserve=${LLAMA_RESERVE:-150}
        # shellcheck disable=SC2086
        set -- $BUDGETS
        while [ $# -gt 0 ]; do
            b=$1
            shift
            t=$(( ($(left) - reserve) / ($# + 1) ))
            [ "$t" -ge 30 ] || { note "full gpu-mem $b: SKIPPED (out of time)"; continue; }
            wg_run full "$M" "$b" "$t"
        done
    else
        [ -f "$M/manifest.json" ] || timeout "$(lim)" "$D" synth --shape "$SHAPE" --quant q4_k_m "$M" >"$LOGS/synth-q4_k_m.log" 2>&1
        export_bg
    fi
    # 3. llama.cpp
    llama_all
    ;;
*) echo "paging-device.sh: part q8, q8p, q4, llama or webgpu"; exit 2 ;;
esac
note "done"
