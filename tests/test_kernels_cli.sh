#!/bin/sh
# test_kernels_cli.sh — `doppler kernels list|show|verify` natively (no GPU): the registry is data.
# Built-in entries with their keys, show by op and by key prefix, verify, and candidates given
# with --kernel / --kernels: taken when they fit the op, refused with the reason otherwise.
T=${DP_TOOL:-./doppler}
ROOT=${DP_ROOT:-.}
TMP=${DP_TMP:-/tmp}/test_kernels_cli
rm -rf "$TMP" && mkdir -p "$TMP" || exit 1
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }

"$T" kernels list > "$TMP/list.txt" || bad "list exit status"
grep -Eq '^rms_norm +main +[0-9a-f]{64} WG,QB$' "$TMP/list.txt" && ok "list: rms_norm main" || bad "list: rms_norm main"
grep -Eq '^weights_q4_k +nmatvec +[0-9a-f]{64} WG,TPR,UNR$' "$TMP/list.txt" && ok "list: weights_q4_k" || bad "list: weights_q4_k"
# one line per entry point of every kernel as embedded (web/tools/kernels.mjs: weights/<t>.wgsl
# joined with weights_common.wgsl, and the _i8 / _sg variants joined with theirs)
want=$(${DOPPLER_NODE:-node} -e "import('$(cd "$ROOT" && pwd)/web/tools/kernels.mjs').then((m) => { let n = 0;
  for (const k of m.kernelSources('$ROOT/kernels/')) n += (k.text.match(/^@compute/gm) || []).length;
  console.log(n); })")
got=$(($(wc -l < "$TMP/list.txt") - 1))
[ "$got" = "$want" ] && ok "list: $got entries" || bad "list: $got entries, kernels/ has $want @compute lines"

"$T" kernels verify > "$TMP/verify.txt" && grep -q "entries ok" "$TMP/verify.txt" && ok "verify" || bad "verify"

key=$(awk '$1 == "rms_norm" && $2 == "inplace" {print $3}' "$TMP/list.txt")
"$T" kernels show "$(echo "$key" | cut -c1-12)" > "$TMP/show.txt" && grep -q "^entry: *inplace" "$TMP/show.txt" &&
    grep -q "^key: *sha256:$key" "$TMP/show.txt" && ok "show by key prefix" || bad "show by key prefix"
[ "$("$T" kernels show rms_norm | grep -c '^entry:')" = 8 ] && ok "show by op" || bad "show by op"
"$T" kernels show "sha256:$key" --wgsl | grep -q "fn inplace" && ok "show --wgsl" || bad "show --wgsl"
"$T" kernels show nothing_like_this 2>"$TMP/err.txt"; [ $? = 1 ] && grep -q "no kernel op" "$TMP/err.txt" &&
    ok "show unknown" || bad "show unknown"

# a candidate equal in function (one comment more): taken, new keys for the op's entries; made from
# the built-in text as the registry holds it (rms_norm.wgsl joined with pack_q8.wgsl)
"$T" kernels show "sha256:$key" --wgsl | sed '1,/^$/d' > "$TMP/builtin.wgsl"
{ echo "// a candidate"; cat "$TMP/builtin.wgsl"; } > "$TMP/norm.wgsl"
"$T" kernels list --kernel "rms_norm=$TMP/norm.wgsl" > "$TMP/cand.txt" || bad "candidate exit status"
ckey=$(awk '$1 == "rms_norm" && $2 == "inplace" {print $3}' "$TMP/cand.txt")
[ -n "$ckey" ] && [ "$ckey" != "$key" ] && grep -q "candidate: $TMP/norm.wgsl" "$TMP/cand.txt" &&
    ok "candidate listed with its own key" || bad "candidate listed with its own key"
# the same through a registry file (paths relative to it)
printf '{"kernels": {"rms_norm": "norm.wgsl"}}\n' > "$TMP/reg.json"
"$T" kernels list --kernels "$TMP/reg.json" | grep -q "^rms_norm *inplace *$ckey" && ok "registry file" ||
    bad "registry file"
# malformed: refused with the reason, the built-in stays, exit 1
printf '@compute @workgroup_size(WG) fn main( {\n/* open\n' > "$TMP/broken.wgsl"
"$T" kernels list --kernel "rms_norm=$TMP/broken.wgsl" > "$TMP/b.txt" 2> "$TMP/berr.txt"; rc=$?
[ $rc = 1 ] && grep -q "refused, the built-in kernel stays: .*unterminated block comment" "$TMP/berr.txt" &&
    grep -q "^rms_norm *inplace *$key" "$TMP/b.txt" && ok "malformed candidate refused" || bad "malformed candidate refused (rc $rc)"
# wrong binding layout
sed 's/@binding(2) var<storage, read>/@binding(8) var<storage, read>/' "$TMP/builtin.wgsl" > "$TMP/layout.wgsl"
"$T" kernels list --kernel "rms_norm=$TMP/layout.wgsl" > /dev/null 2> "$TMP/lerr.txt"
grep -q "binding layout differs" "$TMP/lerr.txt" && ok "wrong binding layout refused" || bad "wrong binding layout refused"
"$T" kernels list --kernel "rms_norm=$TMP/missing.wgsl" > /dev/null 2> "$TMP/merr.txt"
grep -q "missing.wgsl" "$TMP/merr.txt" && ok "missing file" || bad "missing file"
"$T" kernels list --kernels "$TMP/nothing.json" 2>/dev/null; [ $? = 1 ] && ok "missing registry file" || bad "missing registry file"
"$T" kernels frobnicate 2>/dev/null; [ $? = 2 ] && ok "usage" || bad "usage"
exit $fail
