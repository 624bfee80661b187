#!/bin/bash
# spec-train-device.sh — issue 14's 1.5x goal with a larger trained target, on the H200 device in
# one call (≤ 9.5 minutes): trains the target (train/train.py --target-shape $SHAPE, the
# family's tokenizer from models/fable-21m-q4_k_m, time-boxed), converts it to RDRR Q4_K_M,
# measures its held-out perplexity with `doppler perplexity`, then speculative decoding with
# fable-21m and fable-4m as drafts, greedy, K = 1..$KMAX and adaptive against plain decode of the
# target (every row says whether its ids equal plain decode's):
#   (a) CPU: the native doppler on the host's CPU pinned to two cores (taskset -c $CPUS, -t 2):
#       first `bench --rows` (the cost of a pass of n rows against one, and the speedup those
#       costs allow), then `bench --draft D --sweep`
#   (b) WebGPU: `node web/doppler.mjs bench --draft D --sweep` (both models on the GPU)
# The trained weights cannot come back (> 16 MiB), so the CPU figures of the trained pair come
# from this host pinned to two cores, not from the development VM.
#
# Run from the repository root there, with these carried:
#   .bundle/              ../shared/tools/webgpu-runtime-bundle.sh .bundle (node, dawn.node, Vulkan loader)
#   web/dist/             web/build.sh (doppler.wasm)
#   .spec/corpus.tar.xz   the training text (train.txt, sources.txt of train/corpus.py's output):
#                         mkdir -p .spec && tar -C CORPUS -cf - train.txt sources.txt | xz -9 > .spec/corpus.tar.xz
#                         (5.9 MB; the held-out texts are models/text/)
# Without .bundle (a local dry run) it uses the node on PATH and this host's WebGPU (SwiftShader).
#
# Steps, each under its own time limit cut to what is left of DEADLINE, a failed step says FAILED
# and the rest go on; progress lines carry the seconds since the start:
#   1. the native tool (cmake, in the background while the target trains)
#   2. training (python3 train/train.py ... --target-seconds $TRAIN_SECONDS); TRAIN=0 takes the
#      checkpoint already at $MODELS/train/$SHAPE (a second call on a still-held machine), else (or
#      after a failed run) synthesizes the same shape instead (doppler synth --config, the family's tokenizer):
#      row costs and speeds still mean something then, acceptance does not
#   3. doppler convert --quant q4_k_m
#   4. CPU: bench --rows, then the sweep per draft; 5. WebGPU: the sweep per draft
#   6. doppler perplexity on both held-out styles (last: what time is left)
# Output under $OUT (default /tmp/dp-spec-train): log.txt (the progress lines), results.jsonl (one
# line per measurement: {"step":..., "result":...}), summary.txt (the tables), and
# spec-train.tar.gz (all of it plus every step's own output, the training log and results.json,
# the converted model's manifest), rewritten after each step.
# Environment: OUT, MODELS (default /tmp/dp-spec-models), DEADLINE (seconds for the whole call,
# default 555), SHAPE (train/shapes.json key, default target-278m), TRAIN_SECONDS (the training
# time box, default 180), TRAIN (1; 0: see step 2), TRAIN_ARGS (more train.py options, e.g.
# "--batch 64"),
# N (tokens per run, 128), REPS (timed runs per row, 2), KMAX (6), CPUS (the two cores, "2,3"),
# DRAFTS (default "models/fable-21m-q4_k_m models/fable-4m-q8_0"), PPL_CHUNKS (chunks of 512 per
# style, 40), GPU (1; 0: no WebGPU step), CPU (1; 0: no CPU step), TOOL (a native doppler already built: no cmake).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
OUT=${OUT:-/tmp/dp-spec-train}
MODELS=${MODELS:-/tmp/dp-spec-models}
DEADLINE=${DEADLINE:-555}
SHAPE=${SHAPE:-target-278m}
TRAIN_SECONDS=${TRAIN_SECONDS:-180} TRAIN=${TRAIN:-1} TRAIN_ARGS=${TRAIN_ARGS:-}
N=${N:-128} REPS=${REPS:-2} KMAX=${KMAX:-6} CPUS=${CPUS:-2,3} PPL_CHUNKS=${PPL_CHUNKS:-40} GPU=${GPU:-1} CPU=${CPU:-1}
DRAFTS=${DRAFTS:-models/fable-21m-q4_k_m models/fable-4m-q8_0}
PROMPT="The fork() system call creates a new process"   # the prompt of the CPU figures in docs/BENCHMARKS.md
mkdir -p "$OUT" "$MODELS" "$OUT/steps"
LOG="$OUT/log.txt"
: > "$LOG"
: > "$OUT/results.jsonl"
T0=$(date +%s)
say() { echo "$*" | tee -a "$LOG"; }
stamp() { say "[$(( $(date +%s) - T0 )) s] $*"; }
lim() { local left=$(( DEADLINE - ($(date +%s) - T0) )); [ "$left" -lt "$1" ] && echo "$left" || echo "$1"; }
pack() { local f=(log.txt results.jsonl steps); [ -f "$OUT/summary.txt" ] && f+=(summary.txt)
         tar -C "$OUT" -czf "$OUT/spec-train.tar.gz.tmp" "${f[@]}" 2>/dev/null && mv "$OUT/spec-train.tar.gz.tmp" "$OUT/spec-train.tar.gz"; }
# step LIMIT NAME command...: output to steps/NAME.txt, "NAME: ok|FAILED|SKIPPED" with the last line
step() {
    local t name=$2; t=$(lim "$1"); shift 2
    if [ "$t" -lt 10 ]; then stamp "$name: SKIPPED (out of time)"; return 1; fi
    stamp "$name (limit $t s)"
    timeout "$t" "$@" > "$OUT/steps/$name.txt" 2>&1; local rc=$?
    if [ $rc = 0 ]; then stamp "$name: ok ($(tail -1 "$OUT/steps/$name.txt" | cut -c1-160))"; pack; return 0; fi
    stamp "$name: FAILED (exit $rc$([ $rc = 124 ] && echo ", over its $t s"))"; tail -8 "$OUT/steps/$name.txt" | tee -a "$LOG"
    pack; return 1
}
# emit NAME FILE: FILE's JSON lines into results.jsonl as {"step":NAME,"result":...}
emit() { grep '^{' "$2" 2>/dev/null | while IFS= read -r l; do echo "{\"step\":\"$1\",\"result\":$l}"; done >> "$OUT/results.jsonl"; }

if [ -f .bundle/activate.sh ]; then
    # shellcheck disable=SC1091
    source web/bench/device-env.sh > "$OUT/steps/env.txt" 2>&1 || { cat "$OUT/steps/env.txt"; exit 1; }
    tee -a "$LOG" < "$OUT/steps/env.txt"
    NODE=$DOPPLER_NODE
else
    NODE=${DOPPLER_NODE:-node}
    export DOPPLER_NODE=$NODE
    say "no .bundle: $NODE and this host's WebGPU (a local check)"
fi
git log --oneline -1 2>/dev/null | tee -a "$LOG"
say "host: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), $(free -g | awk '/Mem/{print $2}') GiB"
[ -f web/dist/doppler.wasm ] || { say "no web/dist/doppler.wasm (web/build.sh): no WebGPU step"; GPU=0; }
PIN=(taskset -c "$CPUS")
command -v taskset >/dev/null || { say "no taskset: the CPU figures are NOT pinned to two cores"; PIN=(); }

# 1. the native tool, in the background while the target trains
TOOL=${TOOL:-build-dev/doppler}
BUILD_PID=
if [ "$TOOL" = build-dev/doppler ]; then
    stamp "building the native tool (background)"
    { cmake -S . -B build-dev -DCMAKE_BUILD_TYPE=Release && cmake --build build-dev -j"$(nproc)" --target doppler_cli; } \
        > "$OUT/steps/build.txt" 2>&1 &
    BUILD_PID=$!
fi
wait_build() {
    [ -z "$BUILD_PID" ] && return 0
    wait "$BUILD_PID"; local rc=$?; BUILD_PID=
    if [ $rc = 0 ] && [ -x "$TOOL" ]; then stamp "native tool built"; else stamp "native build FAILED"; tail -5 "$OUT/steps/build.txt" | tee -a "$LOG"; fi
}

# 2. the target
CK="$MODELS/train/$SHAPE"
T="$MODELS/fable-${SHAPE#target-}-q4_k_m"
[ "$SHAPE" = target ] && T="$MODELS/fable-21m-retrained-q4_k_m"
trained=0
if [ "$TRAIN" != 1 ] && [ -f "$CK/config.json" ]; then
    stamp "TRAIN=0: the checkpoint already at $CK (a second call on a still-held machine)"
    trained=1
elif [ "$TRAIN" = 1 ]; then
    if [ -f .spec/corpus.tar.xz ]; then
        rm -rf "$MODELS/corpus" && mkdir -p "$MODELS/corpus" && tar -C "$MODELS/corpus" -xJf .spec/corpus.tar.xz &&
            cp models/text/heldout-*.txt "$MODELS/corpus/" && stamp "corpus: $(wc -c < "$MODELS/corpus/train.txt") bytes"
        nvidia-smi --query-gpu=name,memory.used,utilization.gpu --format=csv,noheader 2>&1 | tee -a "$LOG"
        # shellcheck disable=SC2086
        step $((TRAIN_SECONDS + 150)) train python3 train/train.py "$MODELS/corpus" "$MODELS/train" --models target \
            --target-shape "$SHAPE" --tokenizer models/fable-21m-q4_k_m --target-seconds "$TRAIN_SECONDS" \
            --target-steps 100000 $TRAIN_ARGS && trained=1
        python3 -c "import json, sys; print(json.dumps(json.load(open(sys.argv[1]))))" "$MODELS/train/results.json" \
            > "$OUT/steps/train-results.json" 2>/dev/null && emit train "$OUT/steps/train-results.json"
        grep -E "parameters|ms per step|step [0-9]+/|held-out|\{" "$OUT/steps/train.txt" | tail -12 | tee -a "$LOG"
    else
        stamp "train: FAILED (no .spec/corpus.tar.xz carried)"
    fi
fi
wait_build
[ -x "$TOOL" ] || { say "no native tool $TOOL: nothing more to do"; pack; exit 1; }

# 3. RDRR Q4_K_M (or, untrained, a synthesized twin of the shape)
if [ $trained = 1 ]; then
    rm -rf "$T"
    step 90 convert "$TOOL" convert "$CK" "$T" --quant q4_k_m || trained=0
fi
if [ $trained = 0 ]; then
    say "NOT TRAINED: a synthesized $SHAPE (random weights) stands in: row costs and speeds hold, acceptance does not"
    T="$MODELS/synth-$SHAPE-q4_k_m"
    python3 -c "
import json, sys
s = json.load(open('train/shapes.json'))['$SHAPE']
s.update(model_type='llama', vocab_size=4096, head_dim=64, tie_word_embeddings=True, max_position_embeddings=2048,
         rope_theta=10000.0, rms_norm_eps=1e-5, hidden_act='silu', bos_token_id=0, eos_token_id=1)
json.dump(s, open('$MODELS/$SHAPE.json', 'w'))"
    rm -rf "$T"
    step 120 synth "$TOOL" synth --config "$MODELS/$SHAPE.json" --quant q4_k_m --tokenizer models/fable-21m-q4_k_m/tokenizer.json "$T" ||
        { pack; exit 1; }
fi
cp "$T/manifest.json" "$OUT/steps/target-manifest.json" 2>/dev/null
say "target: $T ($(du -sh "$T" | cut -f1)), trained=$trained"

# 4. CPU, pinned to two cores: the row costs, then the sweep per draft
ROWS=$(seq -s, 1 $((KMAX + 1)))
[ "$CPU" = 1 ] || DRAFTS_CPU=
for d in ${DRAFTS_CPU-$DRAFTS}; do
    dn=$(basename "$d")
    step 60 "cpu-rows-$dn" "${PIN[@]}" "$TOOL" bench "$T" --rows "$ROWS" --draft "$d" -t 2 -r 9 --json &&
        emit "cpu-rows-$dn" "$OUT/steps/cpu-rows-$dn.txt"
done
for d in ${DRAFTS_CPU-$DRAFTS}; do
    dn=$(basename "$d")
    step 150 "cpu-spec-$dn" "${PIN[@]}" "$TOOL" bench "$T" --draft "$d" --draft-max "$KMAX" --sweep -n "$N" -r "$REPS" -t 2 \
        --prompt "$PROMPT" --json && emit "cpu-spec-$dn" "$OUT/steps/cpu-spec-$dn.txt"
done

# 5. WebGPU
if [ "$GPU" = 1 ]; then
    for d in $DRAFTS; do
        dn=$(basename "$d")
        step 120 "webgpu-spec-$dn" "$NODE" web/doppler.mjs bench "$T" --draft "$d" --draft-max "$KMAX" --sweep -n "$N" \
            -r "$REPS" --prompt "$PROMPT" --json && emit "webgpu-spec-$dn" "$OUT/steps/webgpu-spec-$dn.txt"
    done
fi

# 6. held-out perplexity (llama.cpp's method, ctx 512; last: train.py's own f32 figures are in
# results.json already)
if [ $trained = 1 ]; then
    for s in manuals fortunes; do
        step 45 "ppl-$s" "$TOOL" perplexity "$T" -f "models/text/heldout-$s.txt" --ctx 512 --chunks "$PPL_CHUNKS" \
            -t "$(( $(nproc) > 4 ? $(nproc) - 4 : 1 ))" &&
            echo "{\"step\":\"ppl-$s\",\"result\":{\"chunks\":$PPL_CHUNKS,\"line\":\"$(grep -m1 'PPL' "$OUT/steps/ppl-$s.txt" | tr -d '"' | tr -d '\\')\"}}" >> "$OUT/results.jsonl"
    done
fi

# the tables
python3 - "$OUT/results.jsonl" > "$OUT/summary.txt" 2>&1 <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    s, x = r["step"], r["result"]
    if s == "train":
        print(f"train: {x.get('target_shape')}, a stream of {x.get('train_tokens')} tokens; {json.dumps(x.get('training'))}; "
              "HF f32 held-out PPL:")
        for name, v in x.get("models", {}).items():
            print(f"  {name}: " + ", ".join(f"{k} {p['ppl']:.3f} ± {p['ppl_err']:.3f}" for k, p in v.items()))
    elif s.startswith("ppl-"):
        print(f"{s} ({x['chunks']} chunks): {x['line']}")
    elif s.startswith("cpu-rows-"):
        print(f"\n{s}: {x['model']} {x['params_b']} B, {x['size_mib']:.0f} MiB, {x['threads']} threads, at {x['at']}")
        print("  rows: " + "  ".join(f"{p['rows']}: {p['wall_ms_best']:.2f} ms ({p['x_one_row']:.2f}x)" for p in x["passes"]))
        print(f"  draft {x['draft']}: {x['draft_wall_ms_best']:.3f} ms, c = {x['c']:.3f}")
        for a in sorted({p["alpha"] for p in x["predicted"]}):
            print(f"  predicted at alpha {a}: " + "  ".join(f"K={p['k']} {p['speedup']:.2f}" for p in x["predicted"] if p["alpha"] == a))
    elif "speculative" in x:
        print(f"\n{s}: {x['model']} ({x['params_b']} B) with {x.get('draft')} on {x['backend']} ({x['hardware']}), "
              f"{x['prompt_tokens']} prompt tokens, {x['n']} generated, {x['reps']} reps")
        print("| decode | K | accepted | tokens/pass | tok/s | speedup | output |")
        print("|---|---|---|---|---|---|---|")
        print(f"| plain | – | – | 1.00 | {x['plain']['tps_mean']:.1f} ± {x['plain']['tps_sd']:.1f} | 1.00 | reference |")
        for q in x["speculative"]:
            print(f"| {'adaptive' if q['adaptive'] else 'fixed'} | {'≤' if q['adaptive'] else ''}{q['k']} | {100 * q['acceptance']:.1f} % | "
                  f"{q['tokens_per_pass']:.2f} | {q['tps_mean']:.1f} ± {q['tps_sd']:.1f} | {q['speedup']:.2f} | "
                  f"{'identical' if q.get('identical') else 'DIFFERENT'} |")
EOF
tee -a "$LOG" < "$OUT/summary.txt"
stamp "done"
pack
