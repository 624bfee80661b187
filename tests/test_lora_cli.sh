#!/bin/sh
# test_lora_cli.sh — LoRA through the tool: convert <peft-dir> --base, refusals as one stderr
# line with a non-zero exit, eval/run/bench --lora, synth --lora-for. The logits against PEFT's
# are test_lora.c's job; here the adapter must change eval's logits, scale 0 must give the base's
# bytes exactly, and bench must report both rates and the cost.
set -u
T=${DP_TOOL:?}; S=${DP_SHARED:?}; W=${DP_TMP:-/tmp}/lora_cli
F=$S/fixtures/lora/llama
if [ ! -d "$F" ]; then
    echo "fixtures/lora/llama missing"; [ -n "${CI:-}" ] && exit 1; exit 77
fi
rm -rf "$W"; mkdir -p "$W"
. "$(dirname "$0")/cli_expect.sh"

"$T" convert "$S/fixtures/hf-tiny/llama" "$W/base" --dtype f32 2>/dev/null || bad "convert base"
"$T" convert "$S/fixtures/hf-tiny/qwen3" "$W/qwen3" --dtype f32 2>/dev/null || bad "convert qwen3"
"$T" convert "$F/adapter_a" "$W/a" --base "$W/base" 2>/dev/null && ok "convert --base" || bad "convert --base"
"$T" verify "$W/a" >/dev/null && ok "verify adapter" || bad "verify adapter"
expect_error "adapter for another architecture" "$T" convert "$F/adapter_a" "$W/x" --base "$W/qwen3"
expect_error "adapter as --base" "$T" convert "$F/adapter_b" "$W/x" --base "$W/a"
expect_error "--quant with --base" "$T" convert "$F/adapter_a" "$W/x" --base "$W/base" --quant q8_0
expect_error "adapter loaded as a model" "$T" run "$W/a" --ids "1 2" -n 2
expect_error "adapter of another base" "$T" run "$W/qwen3" --ids "1 2" -n 2 --lora "$W/a"
expect_error "NaN scale" "$T" run "$W/base" --ids "1 2" -n 2 --lora "$W/a:nan"
expect_error "--lora twice" "$T" run "$W/base" --ids "1 2" -n 2 --lora "$W/a" --lora "$W/a"

echo "1 5 77 300 12 9" >"$W/ids"
"$T" eval "$W/base" --ids-file "$W/ids" --logits "$W/l0" || bad "eval"
"$T" eval "$W/base" --ids-file "$W/ids" --logits "$W/la" --lora "$W/a" || bad "eval --lora"
"$T" eval "$W/base" --ids-file "$W/ids" --logits "$W/lz" --lora "$W/a:0" || bad "eval --lora :0"
cmp -s "$W/l0" "$W/la" && bad "eval --lora: logits unchanged" || ok "eval --lora changes the logits"
cmp -s "$W/l0" "$W/lz" && ok "eval --lora DIR:0 is the base" || bad "eval --lora DIR:0 differs from the base"
r0=$("$T" run "$W/base" --ids "1 5 77" -n 6 --greedy --print-ids --ignore-eos)
ra=$("$T" run "$W/base" --ids "1 5 77" -n 6 --greedy --print-ids --ignore-eos --lora "$W/a:1.0") || bad "run --lora"
[ "$r0" != "$ra" ] && ok "run --lora: $ra (base: $r0)" || bad "run --lora gives the base's ids"
"$T" synth --lora-for "$W/base" --rank 8 "$W/r" 2>/dev/null && ok "synth --lora-for" || bad "synth --lora-for"
out=$("$T" bench "$W/base" -p 8 -n 4 -r 1 --lora "$W/r") || bad "bench --lora"
echo "$out" | grep -q '^| tg4 +lora ' && echo "$out" | grep -q '^lora cost per generated token: [-+0-9.]* % time' &&
    ok "bench --lora reports both and the cost" || { bad "bench --lora output"; echo "$out"; }
out=$("$T" bench "$W/base" -p 0 -n 4 -r 1 --json --lora "$W/r") || bad "bench --lora --json"
echo "$out" | grep -q '"lora":{"dir":"[^"]*","rank":8,"scale":1,"tg":{"n":4,"tps_mean":[0-9.]*,"tps_sd":[0-9.]*,"cost_pct":' &&
    ok "bench --lora --json" || { bad "bench --lora --json output"; echo "$out"; }
# static mode: the bundle must list the adapter (refused before loading otherwise); the audit
# record names it
"$T" bundle keygen "$W/key" >/dev/null && "$T" bundle create "$W/b.json" --model "$W/base" >/dev/null &&
    "$T" bundle sign "$W/b.json" --key "$W/key" && "$T" bundle create "$W/ba.json" --model "$W/base" --adapter "$W/a" >/dev/null &&
    "$T" bundle sign "$W/ba.json" --key "$W/key" || bad "bundles"
expect_error "--static with an adapter the bundle does not list" "$T" run "$W/base" --ids "1 5 77" -n 2 --greedy \
    --lora "$W/a" --static "$W/b.json" --pubkey "$W/key.pub"
out=$("$T" run "$W/base" --ids "1 5 77" -n 6 --greedy --print-ids --ignore-eos --lora "$W/a:1.0" --static "$W/ba.json" \
    --pubkey "$W/key.pub" --audit "$W/audit.jsonl") || bad "--static with a listed adapter"
[ "$out" = "$ra" ] && grep -q "\"adapters\": \[\"$(sha256sum "$W/a/manifest.json" | cut -c1-64)\"\]" "$W/audit.jsonl" &&
    ok "--static --lora: same ids, the audit record names the adapter" || { bad "--static --lora"; cat "$W/audit.jsonl"; }
exit $fail
