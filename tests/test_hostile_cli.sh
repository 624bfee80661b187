#!/bin/sh
# test_hostile_cli.sh — issue 10, each class of hostile input through the tool: files that are not
# regular files, names that are not one line, JSON with duplicate keys, unusable sampling
# settings, an empty prompt, a context the model or the machine cannot hold, silent truncation,
# tokenizer files outside the manifest's hashes, write failures with their reason.
set -u
T=${DP_TOOL:?}; S=${DP_SHARED:?}; W=${DP_TMP:-/tmp}/hostile_cli; ROOT=${DP_ROOT:-.}
rm -rf "$W"; mkdir -p "$W"
fail=0
ok() { printf 'ok   %s\n' "$1"; }
bad() { printf 'FAIL %s\n' "$1"; fail=1; }

# expect_error NAME WORDS CMD...: within 20 s a non-zero exit (no signal), exactly one stderr line
# starting "doppler", holding WORDS, and no control byte other than the newline.
expect_error() {
  name=$1; words=$2; shift 2
  timeout 20 "$@" >"$W/out" 2>"$W/err" </dev/null; rc=$?
  lines=$(wc -l <"$W/err")
  ctl=$(tr -d '\n' <"$W/err" | tr -d '[:print:]' | wc -c)
  if [ $rc -ne 0 ] && [ $rc -lt 124 ] && [ "$lines" -eq 1 ] && [ "$ctl" -eq 0 ] && grep -q '^doppler' "$W/err" &&
     grep -qF -- "$words" "$W/err"; then
    ok "$name: $(cat "$W/err")"
  else
    bad "$name (rc=$rc, $lines stderr lines, $ctl control bytes, want '$words')"; cat -v "$W/err"
  fi
}
# edit FILE PYTHON-EXPR: rewrite a text file through s = <expr of s>
edit() { python3 -c 'import sys; p=sys.argv[1]; s=open(p).read(); s=eval(sys.argv[2]); open(p,"w").write(s)' "$1" "$2"; }

"$T" synth --family llama --shape tiny "$W/tiny" 2>/dev/null || bad "synth"
fresh() { rm -rf "$W/$1"; cp -r "$W/tiny" "$W/$1"; }

# --- anything that is not a regular file (used to block forever in open)
fresh fifo; rm "$W/fifo/manifest.json"; mkfifo "$W/fifo/manifest.json"
expect_error "FIFO as manifest.json" "FIFO, not a regular file" "$T" info "$W/fifo"
fresh mdir; rm "$W/mdir/manifest.json"; mkdir "$W/mdir/manifest.json"
expect_error "directory as manifest.json" "directory, not a regular file" "$T" verify "$W/mdir"
fresh sfifo; f=$(ls "$W"/sfifo/shards/*.bin | head -1); rm "$f"; mkfifo "$f"
expect_error "FIFO as a shard (run)" "not a regular file" "$T" run "$W/sfifo" --ids "1 2" -n 1
expect_error "FIFO as a shard (verify)" "not a regular file" "$T" verify "$W/sfifo"
mkdir -p "$W/hf"; mkfifo "$W/hf/config.json"
expect_error "FIFO as config.json" "not a regular file" "$T" convert "$W/hf" "$W/hf-out"
mkfifo "$W/x.gguf"
expect_error "FIFO as a GGUF file" "not a regular file" "$T" convert "$W/x.gguf" "$W/gguf-out"
ln -s /dev/zero "$W/zero.gguf"
expect_error "a device as a GGUF file" "device, not a regular file" "$T" convert "$W/zero.gguf" "$W/gguf-out2"
mkfifo "$W/tok.json"
expect_error "FIFO as a tokenizer file" "not a regular file" "$T" tokenize "$W/tok.json"

# --- names from a file are escaped: one line, no terminal escapes
fresh fam; edit "$W/fam/manifest.json" 's.replace("\"family\":\"llama\"", "\"family\":\"lla\\n\\u001b[31mma\\u009b\\u202e\"")'
expect_error "family holding a newline and escapes" 'lla\n\x1b[31mma\u009b\u202e' "$T" info "$W/fam"
fresh tname; edit "$W/tname/manifest.json" 's.replace("\"token_embd.weight\": {\"dtype\": \"f32\"", "\"tok\\nen\\u001b]0;x\\u0007\": {\"dtype\": \"f99\"", 1)'
expect_error "tensor name holding a newline and escapes" 'tok\nen\x1b]0;x\x07' "$T" run "$W/tname" --ids "1 2" -n 1

# --- JSON with duplicate keys is a format error, in every JSON the engine reads
fresh dup; edit "$W/dup/manifest.json" 's.replace("\"version\": 1,", "\"version\": 1, \"version\": 2,")'
expect_error "manifest naming version twice" 'key "version" twice' "$T" info "$W/dup"
fresh dup2; edit "$W/dup2/manifest.json" 's.replace("\"head_dim\":64,", "\"head_dim\":64,\"head_dim\":32,")'
expect_error "model description naming head_dim twice" 'key "head_dim" twice' "$T" run "$W/dup2" --ids "1" -n 1
printf '{"model_type": "llama", "model_type": "gemma3"}' >"$W/dupcfg.json"
expect_error "config.json naming a key twice" 'key "model_type" twice' "$T" synth --config "$W/dupcfg.json" "$W/dupcfg"

# --- messages say what a user can look up, not internals
fresh hd; edit "$W/hd/manifest.json" 's.replace("\"head_dim\":64,", "\"head_dim\":2000,")'
expect_error "head_dim out of range" "head_dim is 2000, outside [2, 1024]" "$T" info "$W/hd"
grep -q 'd->' "$W/err" && bad "message names an internal expression"

# --- sampling settings a sampler cannot use: the library's reason, exit 2
for a in "--temp inf" "--temp nan" "--temp -1" "--top-p 5" "--top-p nan" "--top-p 0"; do
  expect_error "run $a" "sampling:" "$T" run "$W/tiny" --ids "1 2" -n 2 $a
done
expect_error "chat --temp nan" "sampling: temperature nan" "$T" chat "$W/tiny" --temp nan
"$T" run "$W/tiny" --ids "1 2" -n 2 --temp inf >/dev/null 2>&1; [ $? -eq 2 ] && ok "bad sampling exits 2" || bad "bad sampling exit code"

# --- sizes the caller asks for: bounded by the model's maximum and by memory, fast
start=$(date +%s)
expect_error "-c over the model's maximum" "over the model's maximum of 4096 positions" "$T" run "$W/tiny" --ids "1 2" -c 16777216 -n 2
cat >"$W/wide.json" <<'JSON'
{"model_type":"llama","vocab_size":256,"hidden_size":16,"num_hidden_layers":1,"num_attention_heads":16,
 "num_key_value_heads":16,"head_dim":1024,"intermediate_size":16,"rms_norm_eps":1e-5,
 "max_position_embeddings":1073741824,"tie_word_embeddings":true}
JSON
"$T" synth --config "$W/wide.json" "$W/wide" 2>/dev/null || bad "synth wide"
expect_error "-c whose KV cache is over the machine's memory" "GiB of memory here" "$T" run "$W/wide" --ids "1 2" -c 16777216 -n 2
[ $(( $(date +%s) - start )) -lt 15 ] && ok "context sizes fail fast" || bad "context sizes took $(( $(date +%s) - start )) s"

# --- silent truncation: fewer tokens than asked is an error unless an end token stopped it
expect_error "run stopped by a full context" "stopped after 3 of 10 tokens" "$T" run "$W/tiny" --ids "1 2 3" -c 5 -n 10 --ignore-eos --print-ids
out=$("$T" run "$W/tiny" --ids "1 2 3" -c 5 -n 10 --ignore-eos --print-ids 2>/dev/null)
set -- $out; [ $# -eq 6 ] && ok "the tokens before the context filled are printed" || bad "truncated output: $out"

# --- write failures carry the reason
expect_error "export-gguf to a full disk" "No space left on device" "$T" export-gguf "$W/tiny" /dev/full
[ -c /dev/full ] && ok "/dev/full is still there" || bad "/dev/full removed"

# --- text models: empty prompts, chat truncation, tokenizer files covered by the manifest's hashes
tj="$S/fixtures/tokenizers/llama3-tokenizer.json"
if [ -f "$tj" ]; then
  "$T" synth --config "$ROOT/tests/llama3-tiny-config.json" --tokenizer "$tj" "$W/l3" 2>/dev/null || bad "synth --tokenizer"
  ids=$("$T" run "$W/l3" --prompt "" -n 2 --greedy --print-ids --ignore-eos 2>"$W/err"); rc=$?
  set -- $ids
  [ $rc -eq 0 ] && [ $# -eq 3 ] && [ "$1" = 128000 ] && ok "empty prompt = BOS alone" || { bad "empty prompt: rc=$rc '$ids'"; cat "$W/err"; }
  printf 'Hello there, how are you today?\n' >"$W/line"
  expect_error "chat: the conversation no longer fits" "no longer fits the context of 16 tokens" sh -c "\"$T\" chat \"$W/l3\" -c 16 -n 4 <\"$W/line\""
  grep -q '"hashes":{"tokenizer.json":"sha256:' "$W/l3/manifest.json" && ok "synth records the tokenizer's SHA-256" || bad "no tokenizer hash in the manifest"
  "$T" verify "$W/l3" >/dev/null && ok "verify covers the tokenizer" || bad "verify of a good model"
  rm -rf "$W/l3e"; cp -r "$W/l3" "$W/l3e"; printf ' ' >>"$W/l3e/tokenizer.json"
  expect_error "verify: an edited tokenizer.json" "tokenizer.json does not match the manifest" "$T" verify "$W/l3e"
  expect_error "run: an edited tokenizer.json" "tokenizer.json does not match the manifest" "$T" run "$W/l3e" --prompt hi -n 1
  rm -rf "$W/l3c"; cp -r "$W/l3" "$W/l3c"; printf '{"add_bos_token": false}' >"$W/l3c/tokenizer_config.json"
  expect_error "run: a tokenizer_config.json slipped in" "tokenizer_config.json is not covered" "$T" run "$W/l3c" --prompt hi -n 1
  rm -rf "$W/l3o"; cp -r "$W/l3e" "$W/l3o"
  python3 - "$W/l3o/manifest.json" <<'PY'
import json, sys
p = sys.argv[1]; m = json.load(open(p)); del m["tokenizer"]["hashes"]; json.dump(m, open(p, "w"))
PY
  "$T" run "$W/l3o" --prompt hi -n 1 --greedy >/dev/null 2>&1 && ok "a manifest without tokenizer hashes still loads" || bad "old manifest refused"
  printf '{"model": {"type": "BPE", "type": "WordPiece"}}' >"$W/duptok.json"
  expect_error "tokenizer.json naming a key twice" 'key "type" twice' "$T" tokenize "$W/duptok.json"
fi
gpt2="$S/fixtures/tokenizers/ggml-vocab-gpt-2.gguf"
if [ -f "$gpt2" ]; then
  cat >"$W/nobos.json" <<'JSON'
{"model_type":"llama","vocab_size":50257,"hidden_size":64,"num_hidden_layers":1,"num_attention_heads":4,
 "num_key_value_heads":2,"intermediate_size":128,"rms_norm_eps":1e-5,"max_position_embeddings":2048,
 "tie_word_embeddings":true}
JSON
  "$T" synth --config "$W/nobos.json" --tokenizer "$gpt2" "$W/nobos" 2>/dev/null || bad "synth without BOS"
  expect_error "empty prompt, no BOS" "the prompt is empty and the model has no BOS token" "$T" run "$W/nobos" --prompt "" -n 2
fi
exit $fail
