#!/bin/sh
# test_models.sh — the project's own trained models in models/ (train/ made them; docs/MODELS.md):
# they verify, load, share one tokenizer, generate the recorded greedy ids, write English, and
# `chat` follows its template.
set -u
T=${DP_TOOL:?}; ROOT=${DP_ROOT:-.}; W=${DP_TMP:-/tmp}/models
TARGET=$ROOT/models/fable-21m-q4_k_m; DRAFT=$ROOT/models/fable-4m-q8_0
rm -rf "$W"; mkdir -p "$W"
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }

for m in "$TARGET" "$DRAFT"; do
  "$T" verify "$m" >/dev/null && ok "verify $(basename "$m")" || bad "verify $m"
done
cmp -s "$TARGET/tokenizer.json" "$DRAFT/tokenizer.json" && ok "target and draft share the tokenizer" || bad "tokenizers differ"
"$T" info "$TARGET" | grep -q "family llama, 6 layers, hidden 512" && ok "target shape" || bad "target info"

# greedy ids recorded when the models were committed (CPU backend; the summation order is fixed,
# so thread counts and kernels agree)
want="0 662 3090 404 738 538 308 414 349 1338 302 331 586 17 224 858 308 271"
for t in 1 2; do
  got=$("$T" run "$TARGET" --prompt "The fork() system call" -n 12 --greedy --print-ids -t $t)
  [ "$got" = "$want" ] && ok "greedy ids, $t thread(s)" || bad "greedy ids with -t $t: $got"
done

# English: most generated words occur in the held-out texts
"$T" run "$TARGET" --prompt "The fork() system call" -n 128 --temp 0.7 --seed 3 >"$W/text" 2>"$W/err" || bad "run: $(cat "$W/err")"
tr -cs 'A-Za-z' '\n' <"$ROOT/models/text/heldout-manuals.txt" | tr 'A-Z' 'a-z' | sort -u >"$W/words"
tr -cs 'A-Za-z' '\n' <"$ROOT/models/text/heldout-fortunes.txt" | tr 'A-Z' 'a-z' | sort -u >>"$W/words"
sort -u -o "$W/words" "$W/words"
tr -cs 'A-Za-z' '\n' <"$W/text" | tr 'A-Z' 'a-z' | grep -v '^$' >"$W/gen"
total=$(wc -l <"$W/gen"); known=$(grep -cxFf "$W/words" "$W/gen")
[ "$total" -ge 40 ] && [ $((known * 100)) -ge $((total * 85)) ] && ok "English: $known of $total words known" ||
  bad "English: $known of $total words known"; cat "$W/text"

# --stats reports throughput
"$T" run "$TARGET" --prompt "Hello" -n 8 --greedy --stats >/dev/null 2>"$W/err"
grep -q "generated 8 tokens (.* tok/s)" "$W/err" && ok "run --stats: $(cat "$W/err")" || bad "--stats: $(cat "$W/err")"

# export-gguf carries the real tokenizer (llama.cpp's "gpt2" vocabulary): the exported file
# tokenizes the held-out texts exactly as tokenizer.json does, and converts back to a model that
# generates the same greedy ids
"$T" export-gguf "$DRAFT" "$W/draft.gguf" >/dev/null 2>"$W/err" || bad "export-gguf: $(cat "$W/err")"
for f in "$ROOT"/models/text/heldout-*.txt; do
  a=$("$T" tokenize "$W/draft.gguf" --special <"$f" | cksum); b=$("$T" tokenize "$DRAFT/tokenizer.json" --special <"$f" | cksum)
  [ "$a" = "$b" ] && ok "exported tokenizer: $(basename "$f") tokenizes the same" || bad "exported tokenizer differs on $f"
done
"$T" convert "$W/draft.gguf" "$W/draft-rt" >/dev/null 2>&1 || bad "convert the exported draft"
a=$("$T" run "$DRAFT" --prompt "The fork() system call" -n 16 --greedy --print-ids)
b=$("$T" run "$W/draft-rt" --prompt "The fork() system call" -n 16 --greedy --print-ids)
[ -n "$a" ] && [ "$a" = "$b" ] && ok "GGUF round trip: same greedy ids" || bad "GGUF round trip: '$a' vs '$b'"

# chat: ChatML from chat_template.jinja, a reply, a clean exit
printf 'Tell me a joke.\n' | timeout 60 "$T" chat "$TARGET" -n 32 --temp 0 >"$W/chat" 2>"$W/err"; rc=$?
[ $rc -eq 0 ] && [ "$(tr -d ' \n' <"$W/chat" | wc -c)" -gt 10 ] && ok "chat replies" || bad "chat (rc=$rc): $(cat "$W/err")"
exit $fail
