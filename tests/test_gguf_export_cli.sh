#!/bin/sh
# test_gguf_export_cli.sh — the CLI side of GGUF interchange: `doppler convert file.gguf` and
# `doppler export-gguf`, round trip through the tool, one-line errors on bad input.
set -u
T=${DP_TOOL:?}; S=${DP_SHARED:?}; W=${DP_TMP:-/tmp}/gguf_export_cli
g="$S/fixtures/gguf/llama-q4_k_m.gguf"
[ -f "$g" ] || { echo "fixtures absent, skipped"; exit 77; }
rm -rf "$W"; mkdir -p "$W"
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }

expect_error() {
  name=$1; want=$2; shift 2
  "$@" >"$W/out" 2>"$W/err"; rc=$?
  lines=$(wc -l <"$W/err")
  if [ $rc -eq "$want" ] && [ "$lines" -ge 1 ] && grep -q '^\(doppler\|usage\)' "$W/err"; then
    ok "$name: rc $rc: $(head -1 "$W/err")"
  else
    bad "$name (rc=$rc, $lines stderr lines)"; cat "$W/err"
  fi
}

"$T" convert "$g" "$W/a" 2>/dev/null && ok "convert gguf" || bad "convert gguf"
"$T" export-gguf "$W/a" "$W/a.gguf" 2>/dev/null && ok "export-gguf" || bad "export-gguf"
"$T" convert "$W/a.gguf" "$W/b" 2>/dev/null && ok "convert the exported file" || bad "convert exported"
# same weights: the two manifests list the same shard hashes
ha=$(grep -o 'sha256:[0-9a-f]*' "$W/a/manifest.json" | sort | tr '\n' ' ')
hb=$(grep -o 'sha256:[0-9a-f]*' "$W/b/manifest.json" | sort | tr '\n' ' ')
[ -n "$ha" ] && [ "$ha" = "$hb" ] && ok "round trip keeps every shard" || bad "shards differ after round trip"
size=$(wc -c <"$W/a.gguf"); orig=$(wc -c <"$g")
[ "$size" -gt $((orig * 9 / 10)) ] && ok "exported size $size (llama.cpp's file: $orig)" || bad "exported size $size"

expect_error "usage" 2 "$T" export-gguf "$W/a"
expect_error "missing model" 1 "$T" export-gguf "$W/nope" "$W/x.gguf"
"$T" synth --family gemma2 --shape tiny "$W/g2" >/dev/null 2>&1
[ -d "$W/g2" ] && expect_error "gemma2 refused" 1 "$T" export-gguf "$W/g2" "$W/g2.gguf"
[ ! -e "$W/g2.gguf" ] && ok "no file left after a refusal" || bad "file left after refusal"
printf 'GGUF\003\000\000\000' >"$W/trunc.gguf"
expect_error "truncated gguf" 1 "$T" convert "$W/trunc.gguf" "$W/t"
exit $fail
