#!/bin/sh
# test_speculative_cli.sh — `run --draft / --lookup` prints exactly plain greedy decode's ids,
# sampling with a seed is reproducible, `bench --draft --sweep` reports every row (text and
# JSON), and bad options are refused with one line.
set -u
T=${DP_TOOL:?}; S=${DP_SHARED:?}; W=${DP_TMP:-/tmp}/speculative-cli
rm -rf "$W"; mkdir -p "$W"
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }

fx="$S/fixtures/hf-tiny"
if [ ! -d "$fx/llama" ] || [ ! -d "$fx/gemma2" ]; then
  if [ -n "${CI:-}" ]; then echo "FAIL fixtures absent in CI"; exit 1; fi
  echo "skip: fixtures absent"; exit 77
fi
"$T" convert "$fx/llama" "$W/llama" 2>/dev/null || bad "convert llama"
"$T" convert "$fx/llama" "$W/llama-q8" --quant q8_0 2>/dev/null || bad "convert llama q8_0"
"$T" convert "$fx/gemma2" "$W/gemma2" 2>/dev/null || bad "convert gemma2"

ids="1 37 211 5 88 400 37 211 5 17"
plain=$("$T" run "$W/llama" --ids "$ids" -n 40 --greedy --print-ids --ignore-eos)
for d in "--draft $W/llama-q8" "--draft $W/gemma2" "--lookup 2" "--draft $W/llama --draft-max 3"; do
  got=$("$T" run "$W/llama" --ids "$ids" -n 40 --greedy --print-ids --ignore-eos $d 2>"$W/err")
  [ "$got" = "$plain" ] && grep -q '^doppler run: speculative .*tokens in .* target passes' "$W/err" \
    && ok "run $d: identical to plain greedy; $(cat "$W/err")" || bad "run $d: '$got' vs '$plain'"
done
a=$("$T" run "$W/llama" --ids "$ids" -n 24 --temp 0.9 --seed 7 --print-ids --draft "$W/gemma2" 2>/dev/null)
b=$("$T" run "$W/llama" --ids "$ids" -n 24 --temp 0.9 --seed 7 --print-ids --draft "$W/gemma2" 2>/dev/null)
set -- $a
[ "$a" = "$b" ] && [ $# -eq 34 ] && ok "sampled speculative run is reproducible with a seed" || bad "sampled: '$a' vs '$b'"

"$T" bench "$W/llama" --draft "$W/llama-q8" --draft-max 3 --sweep -n 16 -r 1 >"$W/bench" 2>&1
rows=$(grep -c '^| \(plain\|fixed\|adaptive\) ' "$W/bench"); same=$(grep -c 'identical |$' "$W/bench")
[ "$rows" -eq 5 ] && [ "$same" -eq 4 ] && ok "bench --sweep: plain, K=1..3, adaptive, all identical" || { bad "bench table"; cat "$W/bench"; }
"$T" bench "$W/llama" --lookup 3 -n 16 -r 1 --json >"$W/bench.json" 2>&1
python3 - "$W/bench.json" <<'PY' && ok "bench --json" || { bad "bench --json"; cat "$W/bench.json"; }
import json, sys
j = json.load(open(sys.argv[1]))
s = j["speculative"][0]
assert j["lookup"] == 3 and j["plain"]["tps_mean"] > 0 and s["adaptive"] and s["identical"]
assert 0 <= s["acceptance"] <= 1 and s["tokens_per_pass"] >= 1 and s["speedup"] > 0
PY

# expect RC NAME CMD...: that exit status and one stderr line
expect() {
  rc_want=$1 name=$2; shift 2
  "$@" >/dev/null 2>"$W/err"; rc=$?
  if [ $rc -eq "$rc_want" ] && { [ "$rc" -eq 2 ] || [ "$(wc -l <"$W/err")" -eq 1 ]; }; then ok "$name: $(head -1 "$W/err")"
  else bad "$name (rc=$rc)"; cat "$W/err"; fi
}
expect 2 "--draft with --lookup" "$T" run "$W/llama" --ids "1 2" --draft "$W/gemma2" --lookup 2
expect 2 "--lookup 0" "$T" run "$W/llama" --ids "1 2" --lookup 0
expect 2 "--draft-max 33" "$T" run "$W/llama" --ids "1 2" --lookup 2 --draft-max 33
expect 2 "bench --sweep without a draft" "$T" bench "$W/llama" --sweep
expect 1 "missing draft" "$T" run "$W/llama" --ids "1 2" --draft "$W/none"
"$T" synth --family llama --shape tiny "$W/big-vocab" 2>/dev/null || bad "synth"
expect 1 "draft with a larger vocabulary" "$T" run "$W/llama" --ids "1 2" --draft "$W/big-vocab"
grep -q "larger than the target's (512)" "$W/err" || bad "vocabulary message: $(cat "$W/err")"
exit $fail
