#!/bin/bash
# lora-device.sh — issue 13's WebGPU LoRA cost on a GPU machine without package access (the H200
# device), in one call of under 5 minutes: decode (tg) of the Llama-3.1-8B Q4_K_M shape without
# and with a random rank-16 adapter on every projection (q/k/v/o/gate/up/down of all 32 layers),
# three pairs alternated on one context (`bench --lora`: each rep runs without, then with), the
# cost in % of the base time per token and the dispatches per token of each.
# Run from the repository root there, with these carried:
#   .bundle/      ../shared/tools/webgpu-runtime-bundle.sh .bundle   (node, dawn.node, Vulkan loader)
#   web/dist/     web/build.sh                                        (doppler.wasm)
#   (optional) build-wasm/webgpu_ops_test.wasm  (web/build.sh test): the lora per-op cases on this GPU first
# Without .bundle (a local check: SwiftShader) it uses the node on PATH and the host's WebGPU.
# Steps, results under $OUT (default /tmp/dp-lora): the native tool (cmake, all cores); the model
# (doppler synth $SYNTH) and the adapter (synth --lora-for, rank $RANK); [per-op lora cases]; the
# bench (bench.txt); summary.txt: base and adapter tok/s, cost %, dispatches per token of each.
# Environment: OUT, MODELS (default /tmp/dp-models), SYNTH (default "--shape llama-3.1-8b --quant
# q4_k_m"; e.g. "--config my-tiny.json --quant q8_0" for a quick check), NAME (the model's folder
# name, default from SYNTH), RANK (16), N (tokens per tg run, 128), REPS (pairs, 3), DEADLINE
# (seconds for the whole call, 280), TOOL (a native doppler already built: no cmake step).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
OUT=${OUT:-/tmp/dp-lora}
MODELS=${MODELS:-/tmp/dp-models}
SYNTH=${SYNTH:---shape llama-3.1-8b --quant q4_k_m}
NAME=${NAME:-$(echo "$SYNTH" | tr -s ' ' '\n' | grep -v '^--' | sed 's,.*/,,; s,\.json$,,' | paste -sd- -)}
RANK=${RANK:-16} N=${N:-128} REPS=${REPS:-3}
DEADLINE=${DEADLINE:-280}
mkdir -p "$OUT" "$MODELS"
LOG="$OUT/log.txt"
: > "$LOG"
say() { echo "$*" | tee -a "$LOG"; }
T0=$(date +%s)
stamp() { say "[$(( $(date +%s) - T0 )) s] $*"; }
left() { echo $(( DEADLINE - ($(date +%s) - T0) )); }

if [ -f .bundle/activate.sh ]; then
    # shellcheck disable=SC1091
    source web/bench/device-env.sh > "$OUT/env.txt" 2>&1 || { cat "$OUT/env.txt"; exit 1; }
    cat "$OUT/env.txt" | tee -a "$LOG"
    NODE=$DOPPLER_NODE
else
    NODE=${DOPPLER_NODE:-node}
    say "no .bundle: $NODE and this host's WebGPU (a local check)"
    [ -f web/dist/doppler.wasm ] || { say "lora-device.sh: no web/dist/doppler.wasm (web/build.sh)"; exit 1; }
fi
git log --oneline -1 2>/dev/null | tee -a "$LOG"

TOOL=${TOOL:-build-dev/doppler}
if [ "$TOOL" = build-dev/doppler ]; then
    stamp "building the native tool"
    { cmake -S . -B build-dev -DCMAKE_BUILD_TYPE=Release >/dev/null &&
      cmake --build build-dev -j"$(nproc)" --target doppler_cli >/dev/null; } 2>&1 | tail -5 | tee -a "$LOG"
fi
[ -x "$TOOL" ] || { say "lora-device.sh: no native tool $TOOL (build FAILED?)"; exit 1; }
M="$MODELS/$NAME" A="$MODELS/$NAME-lora-r$RANK"
if [ ! -f "$M/manifest.json" ]; then
    stamp "synthesizing $NAME ($SYNTH)"
    # shellcheck disable=SC2086
    timeout "$(left)" "$TOOL" synth $SYNTH "$M" >/dev/null 2>>"$LOG" || { say "synth FAILED"; exit 1; }
fi
if [ ! -f "$A/manifest.json" ]; then
    stamp "a random rank-$RANK adapter on every projection"
    "$TOOL" synth --lora-for "$M" --rank "$RANK" "$A" >/dev/null 2>>"$LOG" || { say "synth --lora-for FAILED"; exit 1; }
fi

if [ -f build-wasm/webgpu_ops_test.wasm ]; then
    stamp "per-op lora cases on this GPU"
    if DP_KINDS=lora timeout 60 "$NODE" tests/webgpu/run_ops.mjs build-wasm/webgpu_ops_test.wasm > "$OUT/ops_lora.txt" 2>&1; then
        say "per-op lora: ok ($(grep -c ' ok$' "$OUT/ops_lora.txt") cases)"
    else
        say "per-op lora: FAILED"; grep -v ' ok$' "$OUT/ops_lora.txt" | tail -15 | tee -a "$LOG"
    fi
fi

stamp "bench: $REPS pairs of tg$N, without then with the adapter"
timeout "$(left)" "$NODE" web/doppler.mjs bench "$M" -p 0 -n "$N" -r "$REPS" --lora "$A" > "$OUT/bench.txt" 2>&1
rc=$?
cat "$OUT/bench.txt" | tee -a "$LOG"
[ $rc = 0 ] || { say "bench FAILED (exit $rc)"; exit 1; }
"$NODE" -e '
const t = require("fs").readFileSync(process.argv[1], "utf8");
const num = (re) => (t.match(re) ?? [])[1];
const base = num(/\| tg\d+ +\| +([\d.]+ ± +[\d.]+)/), with_ = num(/\| tg\d+ \+lora +\| +([\d.]+ ± +[\d.]+)/);
const d0 = Number(num(/per token: (\d+) dispatches/)), d1 = Number(num(/per token \+lora: (\d+) dispatches/));
console.log(`${num(/model: (\S+)/)}: tg base ${base} tok/s, with the adapter ${with_} tok/s: cost ${num(/lora cost per generated token: ([+-][\d.]+ %)/)} per token (goal: under 10 %)`);
console.log(`dispatches per token: ${d0} base, ${d1} with the adapter (+${d1 - d0})`);
' "$OUT/bench.txt" > "$OUT/summary.txt" 2>&1
cat "$OUT/summary.txt" | tee -a "$LOG"
stamp "done"
