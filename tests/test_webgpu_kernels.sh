#!/bin/sh
# test_webgpu_kernels.sh — kernels as data on WebGPU (SwiftShader here), through web/doppler.mjs:
#   - the parity gate admits a candidate that computes the same op (rms_norm with a comment more)
#     and refuses one that differs beyond tolerance (weights scaled by 1.02), with the reason;
#   - a run with the admitted candidate uses it (the audit log names its keys and no built-in
#     rms_norm key) and gives the CPU's greedy ids; the refused one and a malformed one, and one
#     that scans but does not compile, leave the engine running on the built-in kernel with a
#     clear message (the compiler's for the last);
#   - static mode: a bundle of the built-in kernels and the model runs and audits; an unknown
#     kernel hash (the admitted candidate, not in the bundle), another key, a tampered bundle and
#     an unlisted model are refused before anything runs (no stdout, the audit log untouched);
#   - the JavaScript host and the native tool write the same audit record bytes;
#   - autotune: `kernels tune` puts one setting through the gate and caches the result under the
#     device class and model; run --tune-cache applies a cached setting.
# Installs what is missing (web/deps.sh); skips (77) when that is impossible, fails under CI.
set -u
ROOT=${DP_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
SHARED=${DP_SHARED:-$ROOT/../shared}
TOOL=${DP_TOOL:-$ROOT/build/doppler}
TMP=${DP_TMP:-/tmp}/webgpu_kernels
FIX=$SHARED/fixtures/hf-tiny
skip() { if [ -n "${CI:-}" ]; then echo "FAIL (CI): $1"; exit 1; fi; echo "skip: $1"; exit 77; }
[ -d "$FIX/llama" ] || skip "no $FIX"
[ -x "$TOOL" ] || skip "no doppler tool at $TOOL"
"$ROOT/web/deps.sh" || skip "web/deps.sh could not install what WebGPU needs"
rm -rf "$TMP" && mkdir -p "$TMP" || exit 1
WASM_OUT="$TMP/build" WASM_DIST="$TMP/dist" "$ROOT/web/build.sh" >"$TMP/build.log" 2>&1 || { cat "$TMP/build.log"; exit 1; }
"$TOOL" convert "$FIX/llama" "$TMP/llama" --dtype f32 >/dev/null || { echo "convert llama failed"; exit 1; }
"$TOOL" convert "$FIX/qwen3" "$TMP/other" --dtype f32 >/dev/null || { echo "convert qwen3 failed"; exit 1; }
cd "$TMP" || exit 1
W() { node "$ROOT/web/doppler.mjs" --wasm "$TMP/dist/doppler.wasm" "$@"; }
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }

# the built-in kernel's text as the registry holds it (kernels/rms_norm.wgsl joined with
# kernels/pack_q8.wgsl, web/tools/kernels.mjs): what an override of rms_norm replaces
key=$("$TOOL" kernels list | awk '$1 == "rms_norm" && $2 == "main" {print $3; exit}' | sed 's/^sha256://')
K=$TMP/rms_norm_builtin.wgsl
"$TOOL" kernels show "$key" --wgsl | sed '1,/^$/d' > "$K"
grep -q "fn main_q" "$K" || { echo "kernels show $key --wgsl: not the rms_norm kernel"; exit 1; }
{ echo "// candidate: the same computation"; cat "$K"; } > same.wgsl
sed 's/^  return w\[i\];/  return 1.02 * w[i];/' "$K" > off.wgsl
cmp -s off.wgsl "$K" && { echo "off.wgsl: pattern not in rms_norm.wgsl"; exit 1; }
printf '@compute @workgroup_size(WG) fn main( {\n/* never closed\n' > broken.wgsl
sed 's/let inv = 1.0 \/ sqrt/let inv: u32 = 1.0 \/ sqrt/' "$K" > typeerr.wgsl
cmp -s typeerr.wgsl "$K" && { echo "typeerr.wgsl: pattern not in rms_norm.wgsl"; exit 1; }

# the gate (short runs: SwiftShader on a shared CPU; speed margin wide for the same reason)
G="-n 4 -r 1 --speed-margin 0.5 --wasm $TMP/dist/doppler.wasm"
# shellcheck disable=SC2086
"$TOOL" kernels gate llama --kernel rms_norm=same.wgsl $G > gate_same.txt 2>&1; rc=$?
[ $rc = 0 ] && grep -q '"admitted": true' same.wgsl.gate.json && grep -q '"architecture"' same.wgsl.gate.json &&
    ok "gate admits the same op: $(head -1 gate_same.txt)" || bad "gate same: rc $rc $(cat gate_same.txt)"
# shellcheck disable=SC2086
"$TOOL" kernels gate llama --kernel rms_norm=off.wgsl $G > gate_off.txt 2>&1; rc=$?
[ $rc = 1 ] && grep -q "^refused: .*logits differ from the CPU reference" gate_off.txt &&
    grep -q '"admitted": false' off.wgsl.gate.json && ok "gate refuses a 1.02-scaled norm: $(tail -1 gate_off.txt)" ||
    bad "gate off: rc $rc $(cat gate_off.txt)"

# more than 8 prompt ids: the prefill is then the tiled path, whose norms are rms_norm dispatches
# (decode's too unless fold_norm=1 folds them into the products), so the rms_norm candidates run
ids="1 5 77 300 12 9 41 7 230 18"
want=$("$TOOL" run llama --ids "$ids" -n 4 --greedy --print-ids) || { echo "native run failed"; exit 1; }
"$TOOL" kernels list --kernel rms_norm=same.wgsl | awk '$1 == "rms_norm" {print $3}' > cand_keys.txt
"$TOOL" kernels list | awk '$1 == "rms_norm" {print $3}' > builtin_keys.txt

got=$(W run llama --ids "$ids" -n 4 --greedy --print-ids --kernel rms_norm=same.wgsl --audit a.jsonl 2> err.txt)
used=$(grep -o '"op": "rms_norm", "entry": "[a-z_]*", "key": "[0-9a-f]*"' a.jsonl | sed 's/.*"key": "//; s/"//')
if [ "$got" = "$want" ] && [ ! -s err.txt ] && [ -n "$used" ] &&
   [ -z "$(echo "$used" | grep -v -x -F -f cand_keys.txt)" ] && [ -z "$(echo "$used" | grep -x -F -f builtin_keys.txt)" ]; then
    ok "admitted candidate used: the CPU's ids, audit names $(echo "$used" | wc -l) candidate rms_norm entries"
else bad "admitted candidate: ids '$got' (cpu '$want'), stderr $(cat err.txt), used [$used]"; fi

runs_builtin() { # name, file, expected message (grep -E)
    got=$(W run llama --ids "$ids" -n 4 --greedy --print-ids --kernel "rms_norm=$2" 2> err.txt); rc=$?
    if [ $rc = 0 ] && [ "$got" = "$want" ] && grep -Eq "$3.*the built-in kernel stays" err.txt; then ok "$1: $(cat err.txt)"
    else bad "$1: rc $rc ids '$got' stderr $(cat err.txt)"; fi
}
runs_builtin "refused candidate" off.wgsl "not admitted: it failed its gate: logits differ"
runs_builtin "malformed WGSL" broken.wgsl "unterminated block comment"
runs_builtin "does not compile" typeerr.wgsl "does not compile: [0-9]+:[0-9]+: "
runs_builtin "no gate record" "$K" "not admitted: no gate record"

# static mode on WebGPU
"$TOOL" bundle keygen key > /dev/null && "$TOOL" bundle keygen otherkey > /dev/null &&
"$TOOL" bundle create b.json --model llama > /dev/null && "$TOOL" bundle sign b.json --key key || bad "bundle"
rm -f s.jsonl
got=$(W run llama --ids "$ids" -n 4 --greedy --print-ids --static b.json --pubkey key.pub --audit s.jsonl 2> err.txt)
[ "$got" = "$want" ] && [ "$(wc -l < s.jsonl)" = 1 ] && grep -q '"op": "rms_norm"' s.jsonl && ok "static run on WebGPU" ||
    bad "static run: '$got' $(cat err.txt)"
refused() { # name, then arguments
    name=$1; shift
    out=$(W run "$@" --ids "$ids" -n 4 --greedy --print-ids --audit s.jsonl 2> err.txt); rc=$?
    if [ $rc = 1 ] && [ -z "$out" ] && grep -q "refused before loading" err.txt && [ "$(wc -l < s.jsonl)" = 1 ]; then
        ok "$name refused: $(cat err.txt)"
    else bad "$name: rc $rc, stdout '$out', $(cat err.txt)"; fi
}
refused "unknown kernel hash" llama --static b.json --pubkey key.pub --kernel rms_norm=same.wgsl
grep -q "kernel rms_norm:.*is not in the bundle" err.txt || bad "unknown kernel: message names the kernel"
refused "another key" llama --static b.json --pubkey otherkey.pub
sed "s/$(sha256sum llama/manifest.json | cut -c1-64)/$(sha256sum other/manifest.json | cut -c1-64)/" b.json > t.json
refused "tampered bundle" other --static t.json --pubkey key.pub
refused "unlisted model" other --static b.json --pubkey key.pub
# the candidate in a bundle that lists it: runs, audited
"$TOOL" bundle create c.json --model llama --kernel rms_norm=same.wgsl > /dev/null && "$TOOL" bundle sign c.json --key key
got=$(W run llama --ids "$ids" -n 4 --greedy --print-ids --static c.json --pubkey key.pub --kernel rms_norm=same.wgsl --audit s.jsonl 2> err.txt)
[ "$got" = "$want" ] && [ "$(wc -l < s.jsonl)" = 2 ] && tail -1 s.jsonl | grep -q "$(head -1 cand_keys.txt)\|$(sed -n 2p cand_keys.txt)" &&
    ok "candidate listed in the bundle runs" || bad "candidate in bundle: '$got' $(cat err.txt)"

# the same audit bytes from both hosts (CPU backend, time masked)
rm -f n.jsonl j.jsonl
"$TOOL" run llama --ids "$ids" -n 4 --temp 0.8 --top-k 40 --top-p 0.95 --seed 7 --print-ids --audit n.jsonl > /dev/null
W run llama --ids "$ids" -n 4 --temp 0.8 --top-k 40 --top-p 0.95 --seed 7 --print-ids --audit j.jsonl --backend cpu > /dev/null
if [ "$(sed 's/"time": "[^"]*"//' n.jsonl)" = "$(sed 's/"time": "[^"]*"//' j.jsonl)" ]; then ok "native and JS audit records agree"
else bad "audit records differ:"; cat n.jsonl j.jsonl; fi

# autotune (one setting, short: SwiftShader), its CPU reference from the native tool (what a model
# larger than wasm32's 4 GiB needs; the gate runs above use the module's CPU backend)
DOPPLER_CPU_REF=native "$TOOL" kernels tune llama --grid "matvec_rows=8" -n 2 -r 1 --speed-margin 0.5 --cache tc.json --wasm "$TMP/dist/doppler.wasm" > tune.txt 2>&1; rc=$?
if [ $rc = 0 ] && grep -q "^matvec_rows=8: passes" tune.txt && grep -q "^best: " tune.txt &&
   grep -q "CPU reference from the native tool" tune.txt &&
   grep -q "\"key\": \"[0-9a-f]\{64\}:$(sha256sum llama/manifest.json | cut -c1-64)\"" tc.json; then ok "tune: $(tr '\n' ' ' < tune.txt)"
else bad "tune: rc $rc $(cat tune.txt)"; fi
sed 's/"best": "[^"]*"/"best": "matvec_rows=8"/' tc.json > tc2.json
got=$(W run llama --ids "$ids" -n 4 --greedy --print-ids --tune-cache tc2.json 2> err.txt)
[ "$got" = "$want" ] && grep -q "tune cache: matvec_rows=8" err.txt && ok "run applies the cached setting" ||
    bad "tune cache: '$got' $(cat err.txt)"
got=$(W run other --ids "$ids" -n 4 --greedy --print-ids --tune-cache tc2.json 2> err.txt)
grep -q "tune cache: no entry for this device class and model" err.txt && ok "tune cache: other model, defaults" ||
    bad "tune cache other model: $(cat err.txt)"
exit $fail
