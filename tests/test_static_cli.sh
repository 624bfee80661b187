#!/bin/sh
# test_static_cli.sh — static mode on the native tool: `doppler bundle keygen|create|sign|verify`,
# then `run --static BUNDLE --pubkey KEY --audit FILE`: a run the bundle allows appends one audit
# record; a bundle signed with another key, a tampered bundle and an unlisted model are each
# refused before the model loads (nothing on stdout, the audit log untouched).
T=${DP_TOOL:-./doppler}
FIX=${DP_SHARED:-../shared}/fixtures/hf-tiny
TMP=${DP_TMP:-/tmp}/test_static_cli
if [ ! -d "$FIX/llama" ]; then
    [ -n "${CI:-}" ] && { echo "FAIL: no $FIX (CI)"; exit 1; }
    echo "skip: no $FIX"; exit 77
fi
rm -rf "$TMP" && mkdir -p "$TMP" || exit 1
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }
"$T" convert "$FIX/llama" "$TMP/llama" --dtype f32 >/dev/null || { echo "convert failed"; exit 1; }
"$T" convert "$FIX/qwen3" "$TMP/other" --dtype f32 >/dev/null || { echo "convert failed"; exit 1; }
cd "$TMP" || exit 1

"$T" bundle keygen key > /dev/null && "$T" bundle keygen otherkey > /dev/null || bad "keygen"
[ "$(stat -c %a key)" = 600 ] && ok "secret key is 0600" || bad "secret key mode"
"$T" bundle keygen key 2>/dev/null && bad "keygen overwrote a key" || ok "keygen refuses to overwrite"
"$T" bundle create b.json --model llama > /dev/null && "$T" bundle sign b.json --key key || bad "create + sign"
"$T" bundle verify b.json --pubkey key.pub > /dev/null && ok "verify" || bad "verify"
"$T" bundle verify b.json --pubkey otherkey.pub 2>/dev/null && bad "verify with another key" || ok "verify with another key refused"
[ "$(grep -c '"' b.json)" -gt 100 ] && ok "bundle lists the built-in kernels" || bad "bundle kernels"

ids="1 5 77 300"
want=$("$T" run llama --ids "$ids" -n 4 --greedy --print-ids) || bad "plain run"
got=$("$T" run llama --ids "$ids" -n 4 --greedy --print-ids --static b.json --pubkey key.pub --audit audit.jsonl)
[ "$got" = "$want" ] && ok "static run" || bad "static run: '$got'"
[ "$(wc -l < audit.jsonl)" = 1 ] && grep -q "\"model\": \"$(sha256sum llama/manifest.json | cut -c1-64)\"" audit.jsonl &&
    grep -q '"kernels": \[\], "adapters": \[\]' audit.jsonl && grep -q '"n_prompt": 4, "n_output": 4' audit.jsonl &&
    ok "audit record" || bad "audit record: $(cat audit.jsonl)"

refused() { # name, then the run's extra arguments
    name=$1; shift
    out=$("$T" run "$@" --ids "$ids" -n 4 --greedy --print-ids --audit audit.jsonl 2> err.txt); rc=$?
    if [ $rc = 1 ] && [ -z "$out" ] && grep -q "refused before loading" err.txt && [ "$(wc -l < audit.jsonl)" = 1 ]; then
        ok "$name refused: $(cat err.txt)"
    else bad "$name: rc $rc, stdout '$out', $(cat err.txt)"; fi
}
refused "another key" llama --static b.json --pubkey otherkey.pub
# tampered: the other model's id put in place of the listed one, the signature kept
sed "s/$(sha256sum llama/manifest.json | cut -c1-64)/$(sha256sum other/manifest.json | cut -c1-64)/" b.json > t.json
refused "tampered bundle" other --static t.json --pubkey key.pub
refused "unlisted model" other --static b.json --pubkey key.pub
"$T" bundle create u.json --model llama > /dev/null
refused "unsigned bundle" llama --static u.json --pubkey key.pub
"$T" run llama --ids "$ids" --static b.json 2>/dev/null; [ $? = 2 ] && ok "--static without --pubkey: usage" || bad "--static without --pubkey"
# eval and bench check the model too
"$T" eval other --ids-file /dev/null --logits x.f32 --static b.json --pubkey key.pub 2>err.txt
grep -q "refused before loading" err.txt && [ ! -e x.f32 ] && ok "eval refused" || bad "eval: $(cat err.txt)"
"$T" bench other -p 4 -n 4 -r 1 --static b.json --pubkey key.pub > out.txt 2>err.txt
grep -q "refused before loading" err.txt && [ ! -s out.txt ] && ok "bench refused" || bad "bench: $(cat err.txt)"
# chat: one audit record per reply (the project's own model, which has a chat template)
FABLE=${DP_ROOT:-.}/models/fable-21m-q4_k_m
if [ -f "$FABLE/manifest.json" ]; then
    "$T" bundle create cb.json --model "$FABLE" > /dev/null && "$T" bundle sign cb.json --key key
    printf 'Tell me a joke.\nAnother.\n' | "$T" chat "$FABLE" -n 4 --seed 1 --static cb.json --pubkey key.pub --audit chat.jsonl > /dev/null
    [ "$(wc -l < chat.jsonl)" = 2 ] && grep -q "\"model\": \"$(sha256sum "$FABLE/manifest.json" | cut -c1-64)\"" chat.jsonl &&
        ok "chat: an audit record per reply" || bad "chat audit: $(cat chat.jsonl)"
    out=$(printf 'Hi\n' | "$T" chat "$FABLE" -n 4 --static b.json --pubkey key.pub --audit chat.jsonl 2> err.txt); rc=$?
    [ $rc = 1 ] && [ -z "$out" ] && grep -q "refused before loading" err.txt && [ "$(wc -l < chat.jsonl)" = 2 ] &&
        ok "chat: unlisted model refused" || bad "chat unlisted: rc $rc $(cat err.txt)"
else
    bad "no $FABLE"
fi
exit $fail
