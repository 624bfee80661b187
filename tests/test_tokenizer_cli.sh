#!/bin/sh
# test_tokenizer_cli.sh — the `doppler tokenize` / `doppler detokenize` contract on the fixture
# tokenizers: ids on one line without BOS, --special, round trip, model-directory sources, --bench.
T=${DP_TOOL:-./doppler}
F=${DP_SHARED:-../shared}/fixtures/tokenizers
TMP=${DP_TMP:-/tmp}/test_tokenizer_cli
[ -d "$F" ] || { echo "fixtures/tokenizers absent, skipped"; exit 77; }
rm -rf "$TMP" && mkdir -p "$TMP" || exit 1
fail=0
check() { # name got want
    if [ "$2" != "$3" ]; then echo "FAIL $1: got [$2] want [$3]"; fail=1; else echo "ok   $1"; fi
}

for src in "$F/llama3-tokenizer.model" "$F/llama3-tokenizer.json"; do
    check "$(basename $src) hello" "$(printf 'Hello world' | "$T" tokenize "$src")" "9906 1917"
    check "$(basename $src) --special" "$(printf '<|begin_of_text|>Hi<|eot_id|>' | "$T" tokenize "$src" --special)" \
        "128000 13347 128009"
    # without --special the text is plain text
    check "$(basename $src) no --special" "$(printf '<|eot_id|>' | "$T" tokenize "$src")" "27 91 68 354 851 91 29"
    check "$(basename $src) detokenize" "$(echo 128000 9906 1917 128009 | "$T" detokenize "$src")" \
        "<|begin_of_text|>Hello world<|eot_id|>"
    check "$(basename $src) detokenize --no-special" "$(echo 128000 9906 1917 | "$T" detokenize "$src" --no-special)" \
        "Hello world"
done
check "gpt-2 gguf" "$(printf 'Hello world' | "$T" tokenize "$F/ggml-vocab-gpt-2.gguf")" "15496 995"
check "phi-3 gguf" "$(printf 'Hello world' | "$T" tokenize "$F/ggml-vocab-phi-3.gguf")" "15043 3186"
check "phi-3 detokenize" "$(echo 15043 3186 | "$T" detokenize "$F/ggml-vocab-phi-3.gguf")" "Hello world"
check "llama-spm empty" "$(printf '' | "$T" tokenize "$F/ggml-vocab-llama-spm.gguf")" ""

# round trip of a file with odd bytes (NUL, invalid UTF-8, CR LF, tabs) through ids
printf 'caf\303\251 \000 \377\376 a\r\n\tb  \360\237\246\231 end' > "$TMP/odd.txt"
for src in "$F/llama3-tokenizer.model" "$F/ggml-vocab-gpt-2.gguf" "$F/ggml-vocab-phi-3.gguf"; do
    "$T" tokenize "$src" < "$TMP/odd.txt" > "$TMP/ids.txt" && "$T" detokenize "$src" < "$TMP/ids.txt" > "$TMP/back.txt"
    if cmp -s "$TMP/odd.txt" "$TMP/back.txt"; then echo "ok   round trip $(basename $src)"
    else echo "FAIL round trip $(basename $src)"; fail=1; fi
done

# an RDRR / Hugging Face style directory: tokenizer.json + tokenizer_config.json
mkdir -p "$TMP/model"
ln -s "$F/llama3-tokenizer.json" "$TMP/model/tokenizer.json"
printf '{"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "add_bos_token": true}\n' \
    > "$TMP/model/tokenizer_config.json"
check "model dir" "$(printf 'Hello world' | "$T" tokenize "$TMP/model")" "9906 1917"
# a directory converted from GGUF: tokenizer.gguf
mkdir -p "$TMP/gguf-model" && ln -s "$F/ggml-vocab-phi-3.gguf" "$TMP/gguf-model/tokenizer.gguf"
check "gguf model dir" "$(printf 'Hello world' | "$T" tokenize "$TMP/gguf-model")" "15043 3186"

# errors: a missing source, a non-tokenizer file, a bad id
if printf 'x' | "$T" tokenize "$TMP/nope" 2>/dev/null; then echo "FAIL missing source accepted"; fail=1; fi
if printf 'x' | "$T" tokenize "$TMP/odd.txt" 2>/dev/null; then echo "FAIL text file accepted"; fail=1; fi
if echo "1 x 2" | "$T" detokenize "$F/ggml-vocab-gpt-2.gguf" >/dev/null 2>&1; then echo "FAIL bad id accepted"; fail=1; fi
if echo "99999999" | "$T" detokenize "$F/ggml-vocab-gpt-2.gguf" >/dev/null 2>&1; then echo "FAIL out-of-range id accepted"; fail=1; fi

# the benchmark prints MB/s for encode and decode
out=$("$T" tokenize "$F/llama3-tokenizer.model" --bench --mb 1 -r 1) || fail=1
echo "$out"
echo "$out" | grep -q '^encode: [0-9.]* MB/s' || { echo "FAIL bench encode line"; fail=1; }
echo "$out" | grep -q '^decode: [0-9.]* MB/s' || { echo "FAIL bench decode line"; fail=1; }
echo "$out" | grep -q '^round trip: identical' || { echo "FAIL bench round trip"; fail=1; }
exit $fail
