#!/bin/sh
# test_speculative_cli.sh — `run --draft / --lookup` prints exactly plain greedy decode's ids,
# sampling with a seed is reproducible, `bench --draft --sweep` reports every row (text and
# JSON), `bench --rows` the cost of each pass and the predicted speedups, and bad options are
# refused with one line.
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
"$T" bench "$W/llama" --rows 1,2,4 --at 8 --draft "$W/llama-q8" --alpha 0.5,0.8 -r 2 --json >"$W/rows.json" 2>&1
python3 - "$W/rows.json" <<'PY' && ok "bench --rows --draft --json" || { bad "bench --rows"; cat "$W/rows.json"; }
import json, sys
j = json.load(open(sys.argv[1]))
p = j["passes"]
assert [q["rows"] for q in p] == [1, 2, 4] and j["at"] == 8 and abs(p[0]["x_one_row"] - 1) < 1e-9
assert all(q["wall_ms_best"] > 0 and q["wall_ms_median"] >= q["wall_ms_best"] for q in p)
assert j["c"] > 0 and [(q["alpha"], q["k"]) for q in j["predicted"]] == [(0.5, 1), (0.5, 3), (0.8, 1), (0.8, 3)]
# the formula, from the printed figures: E(K) / (K c + T(K+1)/T(1))
for q in j["predicted"]:
    a, k = q["alpha"], q["k"]
    r = next(x["x_one_row"] for x in p if x["rows"] == k + 1)
    assert abs(q["speedup"] - (1 - a ** (k + 1)) / (1 - a) / (k * j["c"] + r)) < 2e-3 * q["speedup"]
PY
"$T" bench "$W/llama" --rows 1,3 -r 1 >"$W/rows" 2>&1
[ "$(grep -c '^| *[13] |' "$W/rows")" -eq 2 ] && ok "bench --rows (table)" || { bad "bench --rows table"; cat "$W/rows"; }

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
expect 1 "bench --rows, draft with a larger vocabulary" "$T" bench "$W/llama" --rows 1,2 --draft "$W/big-vocab"
expect 2 "bench --rows not from 1" "$T" bench "$W/llama" --rows 2,3
expect 2 "bench --rows not ascending" "$T" bench "$W/llama" --rows 1,3,3
expect 2 "bench --alpha 1.5" "$T" bench "$W/llama" --rows 1,2 --alpha 1.5
expect 2 "bench --rows with --lookup" "$T" bench "$W/llama" --rows 1,2 --lookup 2
exit $fail
