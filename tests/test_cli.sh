#!/bin/sh
# test_cli.sh — the command-line contract (issue 2): convert, eval, run, synth, verify, and
# one-line errors with a non-zero exit on bad input.
set -u
T=${DP_TOOL:?}; S=${DP_SHARED:?}; W=${DP_TMP:-/tmp}/cli; ROOT=${DP_ROOT:-.}
rm -rf "$W"; mkdir -p "$W"
. "$(dirname "$0")/cli_expect.sh"

# --- synth + run: the README's main job
"$T" synth --family llama --shape tiny "$W/tiny" 2>/dev/null || bad "synth"
out=$("$T" run "$W/tiny" --ids "2 17 9" -n 16 --greedy --print-ids --ignore-eos)
set -- $out
[ $# -eq 19 ] && [ "$1 $2 $3" = "2 17 9" ] && ok "run prints prompt + 16 ids" || bad "run output: $out"
"$T" verify "$W/tiny" >/dev/null && ok "verify" || bad "verify"

# --- convert + eval against the reference logits
fx="$S/fixtures/hf-tiny/llama"
if [ -d "$fx" ]; then
  "$T" convert "$fx" "$W/llama" 2>/dev/null || bad "convert"
  python3 - "$fx/reference.safetensors" "$W/ids.txt" "$W/ref.f32" "$W/greedy.txt" <<'PY'
import json, struct, sys
f = open(sys.argv[1], 'rb'); n = struct.unpack('<Q', f.read(8))[0]; h = json.loads(f.read(n)); base = 8 + n
def raw(name):
    a, b = h[name]['data_offsets']; f.seek(base + a); return f.read(b - a)
ids = struct.unpack('<%di' % (len(raw('input_ids')) // 4), raw('input_ids'))
open(sys.argv[2], 'w').write(' '.join(map(str, ids)) + '\n')
open(sys.argv[3], 'wb').write(raw('logits'))
g = struct.unpack('<%di' % (len(raw('greedy_ids')) // 4), raw('greedy_ids'))
p = struct.unpack('<i', raw('greedy_prompt_len'))[0]
open(sys.argv[4], 'w').write(' '.join(map(str, g[:p])) + '\n' + ' '.join(map(str, g)) + '\n')
PY
  "$T" eval "$W/llama" --ids-file "$W/ids.txt" --logits "$W/got.f32" || bad "eval"
  python3 - "$W/got.f32" "$W/ref.f32" <<'PY' && ok "eval logits within 1e-3" || bad "eval logits"
import struct, sys
a = open(sys.argv[1], 'rb').read(); b = open(sys.argv[2], 'rb').read()
assert len(a) == len(b), (len(a), len(b))
n = len(a) // 4
x = struct.unpack('<%df' % n, a); y = struct.unpack('<%df' % n, b)
d = max(abs(p - q) for p, q in zip(x, y)); print('  max |dlogit| =', d); sys.exit(0 if d <= 1e-3 else 1)
PY
  prompt=$(sed -n 1p "$W/greedy.txt"); want=$(sed -n 2p "$W/greedy.txt")
  got=$("$T" run "$W/llama" --ids "$prompt" -n 16 --greedy --print-ids --ignore-eos)
  [ "$got" = "$want" ] && ok "run --greedy reproduces the reference ids" || bad "greedy: got '$got' want '$want'"

  # --- bad input
  mkdir -p "$W/nofield" "$W/badfam" "$W/trunc"
  grep -v '"num_hidden_layers"' "$fx/config.json" >"$W/nofield/config.json"; cp "$fx/model.safetensors" "$W/nofield/"
  sed 's/"model_type": "llama"/"model_type": "gpt_neox"/' "$fx/config.json" >"$W/badfam/config.json"; cp "$fx/model.safetensors" "$W/badfam/"
  cp "$fx/config.json" "$W/trunc/"; head -c 100000 "$fx/model.safetensors" >"$W/trunc/model.safetensors"
  expect_error "config missing a field" "$T" convert "$W/nofield" "$W/o1"
  expect_error "unknown family" "$T" convert "$W/badfam" "$W/o2"
  expect_error "truncated safetensors" "$T" convert "$W/trunc" "$W/o3"
  expect_error "missing checkpoint dir" "$T" convert "$W/nonexistent" "$W/o4"
fi
cp -r "$W/tiny" "$W/missing"; rm "$(ls "$W"/missing/shards/*.bin | head -1)"
expect_error "manifest names a missing shard" "$T" run "$W/missing" --ids "1 2" -n 2
cp -r "$W/tiny" "$W/corrupt"; f=$(ls "$W"/corrupt/shards/*.bin | tail -1)
printf 'X' | dd of="$f" bs=1 seek=1000 conv=notrunc 2>/dev/null
expect_error "shard bytes do not match the hash" "$T" run "$W/corrupt" --ids "1 2" -n 2
expect_error "verify finds the corrupt shard" "$T" verify "$W/corrupt"
expect_error "token id outside the vocabulary" "$T" run "$W/tiny" --ids "1 999999" -n 2
expect_error "not a model directory" "$T" run "$W" --ids "1 2" -n 2
# --- text in, text out (the tokenizer files are third-party: used from ../shared only)
tj="$S/fixtures/tokenizers/llama3-tokenizer.json"
if [ -f "$tj" ]; then
  "$T" synth --config "$ROOT/tests/llama3-tiny-config.json" --tokenizer "$tj" "$W/l3" 2>/dev/null || bad "synth --tokenizer"
  ids=$("$T" run "$W/l3" --prompt "Hello, world" -n 3 --greedy --print-ids --ignore-eos)
  case "$ids" in "128000 9906 11 1917 "*) ok "run --prompt encodes with BOS" ;; *) bad "run --prompt ids: $ids" ;; esac
  txt=$("$T" run "$W/l3" --prompt "Hello, world" -n 4 --greedy --ignore-eos)
  case "$txt" in "Hello, world"*) ok "run --prompt streams text" ;; *) bad "run --prompt text: $txt" ;; esac
  printf 'Hi there\nHow are you?\n' | "$T" chat "$W/l3" -n 4 --seed 1 >"$W/chat.out" 2>"$W/chat.err" \
    && ok "chat answers two turns" || { bad "chat"; cat "$W/chat.err"; }
  # chat keeps its KV cache across turns: turn 2 evaluates only what the cache lacks (the
  # library's count of evaluated positions, printed by --verbose)
  printf 'Hi there\nHow are you?\n' | "$T" chat "$W/l3" -n 4 --seed 1 --verbose >/dev/null 2>"$W/chat.err"
  turns=$(sed -n 's/^chat: turn \([0-9]*\): prompt \([0-9]*\) tokens, \([0-9]*\) from the cache, \([0-9]*\) evaluated.*/\1 \2 \3 \4/p' "$W/chat.err" | tr '\n' ' ')
  set -- $turns
  if [ $# -eq 8 ] && [ "$3" -eq 0 ] && [ "$4" -eq "$2" ] && [ "$7" -ge "$2" ] && [ "$8" -eq $(($6 - $7)) ] && [ "$8" -lt "$6" ]; then
    ok "chat turn 2 evaluates $8 of its $6 prompt tokens ($7 from the cache)"
  else
    bad "chat cache reuse: $turns"; cat "$W/chat.err"
  fi
  expect_error "synth --tokenizer larger than the vocabulary" "$T" synth --shape tiny --tokenizer "$tj" "$W/small"
fi
exit $fail
