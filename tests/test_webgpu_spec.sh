#!/bin/sh
# test_webgpu_spec.sh — speculative decoding on the WebGPU backend through the Node host:
#   greedy (tests/webgpu/spec.mjs): output identical to plain greedy decode, with the target and
#     its draft on one backend and one readback per speculative step, for hf-tiny families with
#     a q8_0 draft of the same family (f32 targets) and prompt lookup, and for the project's
#     trained pair (models/fable-21m-q4_k_m + models/fable-4m-q8_0), also with the step's
#     recording paced in pieces of 7 dispatches (tune submit_every; default 32) and checked to be;
#   sampling (tests/webgpu/spec_sample.mjs, then `test_speculative --sequences`): every token of
#     a long seeded generation follows the target's exact distribution at its position (the
#     randomized probability integral transform, Pearson chi-square over 10 bins at significance
#     0.001) with a q8_0 draft, another family's draft (often rejected) and prompt lookup; plain
#     GPU sampling of the target passes the same test and of the other family fails it;
#   `node web/doppler.mjs run --draft` against plain `run`, greedy and sampled.
# Installs what is missing (web/deps.sh); skips (77) only when that is impossible here or the
# fixtures are absent, and fails instead of skipping when CI is set.
set -u
ROOT=${DP_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
SHARED=${DP_SHARED:-$ROOT/../shared}
TOOL=${DP_TOOL:-$ROOT/build/doppler}
TMP=${DP_TMP:-/tmp}/webgpu_spec
FIX=$SHARED/fixtures/hf-tiny
skip() { echo "skip: $1"; [ -n "${CI:-}" ] && exit 1; exit 77; }
[ -d "$FIX" ] || skip "no $FIX"
[ -x "$TOOL" ] || skip "no doppler tool at $TOOL"
CHECK=$(dirname "$TOOL")/test_speculative
[ -x "$CHECK" ] || skip "no $CHECK (the sampling test's statistics)"
[ -f "$ROOT/models/fable-21m-q4_k_m/manifest.json" ] || skip "no trained models in $ROOT/models"
mkdir -p "$TMP/models"
"$ROOT/web/deps.sh" || skip "web/deps.sh cannot install the WebGPU host"
W=$(sh "$ROOT/tests/webgpu/wasm.sh" lib "$TMP") || exit 1
FAMS="llama qwen3 gemma2"
for f in $FAMS; do
    "$TOOL" convert "$FIX/$f" "$TMP/models/$f" --dtype f32 >/dev/null 2>&1 &&
        "$TOOL" convert "$FIX/$f" "$TMP/models/$f-q8" --quant q8_0 >/dev/null 2>&1 || { echo "convert $f failed"; exit 1; }
done
M=$TMP/models T=$ROOT/models/fable-21m-q4_k_m D=$ROOT/models/fable-4m-q8_0
export DP_WASM="$W/dist/doppler.wasm"
node "$ROOT/tests/webgpu/spec.mjs" 12 "1 37 211 5 88 400 37 211 5 17" \
    "$M/llama:$M/llama-q8" "$M/qwen3:$M/qwen3-q8" "$M/gemma2:$M/gemma2-q8" "$M/llama:lookup"
rc=$?
[ $rc = 77 ] && skip "no WebGPU adapter"
[ $rc = 0 ] || exit 1
# the command line: run --draft prints plain run's ids
W2="node $ROOT/web/doppler.mjs --wasm $DP_WASM"
plain=$($W2 run "$M/llama" --ids "1 37 211 5" -n 10 --greedy --print-ids --ignore-eos 2>/dev/null)
got=$($W2 run "$M/llama" --ids "1 37 211 5" -n 10 --greedy --print-ids --ignore-eos --draft "$M/llama-q8" 2>"$TMP/err")
if [ -n "$plain" ] && [ "$got" = "$plain" ] && grep -q 'speculative (draft): .* target passes' "$TMP/err"; then
    echo "ok   web/doppler.mjs run --draft: identical to plain; $(cat "$TMP/err")"
else
    echo "FAIL web/doppler.mjs run --draft: '$got' vs '$plain'"; cat "$TMP/err"; exit 1
fi
$W2 run "$M/llama" --ids "1 37 211 5" -n 10 --temp 0.8 --seed 5 --print-ids --ignore-eos --draft "$M/llama-q8" >"$TMP/out" 2>"$TMP/err"
if [ $? = 0 ] && [ "$(wc -w < "$TMP/out")" = 14 ] && grep -q 'speculative (draft): 10 tokens' "$TMP/err"; then
    echo "ok   web/doppler.mjs run --draft --temp 0.8: $(cat "$TMP/err")"
else echo "FAIL sampled speculation on webgpu: $(cat "$TMP/out" "$TMP/err")"; exit 1; fi
# sampling: every token of one long generation per case against the target's distribution there
node "$ROOT/tests/webgpu/spec_sample.mjs" "${DP_SPEC_TOKENS:-100}" "1 37 211 5 88 400 37 211 5 17 9 301 44 37 211" \
    "$M/llama" "$M/llama-q8" "$M/gemma2" "$TMP/sequences.txt" || exit 1
"$CHECK" --sequences "$M/llama" "$TMP/sequences.txt" || exit 1
# the trained pair (q4_K_M + q8_0, 4096-token vocabulary)
ids=$(printf 'The fork() system call' | "$TOOL" tokenize "$T" 2>/dev/null)
[ -n "$ids" ] || { echo "tokenize failed"; exit 1; }
node "$ROOT/tests/webgpu/spec.mjs" 24 "$ids" "$T:$D" "$T:$D:submit_every=7" || exit 1
exit 0
