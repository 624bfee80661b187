/* test_streaming_detok.c — streaming detokenization never emits a split UTF-8 sequence: after
 * every token the output so far is valid UTF-8 and a prefix of the text; at the end it is the
 * text. Byte tokens of emoji/CJK (every multi-byte char split over several tokens), invalid
 * bytes (-> U+FFFD), the dummy-prefix strip and special tokens are covered. Runs on a byte-only
 * tiktoken vocabulary built here and, when present, on the fixture tokenizers. */
#include <string.h>

#include "testutil.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

static bool valid_utf8(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        size_t len;
        if (dp_utf8_decode((const uint8_t *)s + i, n - i, &len) == DP_UTF8_INVALID) return false;
        i += len;
    }
    return true;
}

static const char *const TEXTS[] = {
    "Hello, world!",
    "naïve café — Zürich",
    "日本語のテキスト 東京",
    "🦙🚀 emoji 👨\u200d👩\u200d👧\u200d👦 family",
    "Ελληνικά и русский текст",
    "mixed 1234 ✓ ∑ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "  leading and trailing  ",
};

/* stream-decode the encoding of text; checks the invariants; returns the streamed text */
static void stream_check(const char *name, const dp_tokenizer *t, const char *text, unsigned flags, const char *want) {
    dp_tokens ids = {0};
    dp_error e = {0};
    CHECK(dp_tokenizer_encode(t, text, strlen(text), false, false, &ids, &e) == DP_OK);
    dp_detok d;
    dp_detok_init(&d, t, flags);
    dp_buf out = {0};
    size_t held_max = 0;
    for (size_t i = 0; i < ids.n; i++) {
        CHECK(dp_detok_push(&d, ids.ids[i], &out, &e) == DP_OK);
        CHECK_MSG(valid_utf8(out.data, out.len), "%s: \"%s\": output after token %zu is not valid UTF-8", name, text, i);
        CHECK_MSG(out.len <= strlen(want) && !memcmp(out.data, want, out.len), "%s: \"%s\": output is not a prefix",
                  name, text);
        if (d.npend > held_max) held_max = d.npend;
    }
    dp_detok_flush(&d, &out);
    CHECK_MSG(out.len == strlen(want) && !memcmp(out.data, want, out.len), "%s: streamed \"%.*s\", want \"%s\"", name,
              (int)out.len, out.data ? out.data : "", want);
    CHECK(held_max <= 3);
    dp_tokens_free(&ids);
    dp_buf_free(&out);
}

static void raw_bytes(const dp_tokenizer *t) {
    /* push byte tokens directly: E2 82 AC is €; E2 82 'A' has a bad third byte; a lone F0 at the end */
    static const uint8_t seq[] = {'a', 0xE2, 0x82, 0xAC, 'b', 0xE2, 0x82, 'A', 0xFF, 0xED, 0xA0, 0x80, 'c', 0xF0};
    static const char want[] = "a\xE2\x82\xAC" "b\xEF\xBF\xBD\xEF\xBF\xBD" "A\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
                               "c\xEF\xBF\xBD";
    dp_detok d;
    dp_detok_init(&d, t, 0);
    dp_buf out = {0};
    dp_error e = {0};
    for (size_t i = 0; i < sizeof seq; i++) {
        uint8_t c = seq[i];
        int32_t id = dp_tokenizer_find(t, (const char *)&c, 1);
        CHECK(id >= 0 && dp_detok_push(&d, id, &out, &e) == DP_OK);
        CHECK(valid_utf8(out.data, out.len));
    }
    CHECK(d.npend == 1); /* the lone F0 is held */
    dp_detok_flush(&d, &out);
    CHECK_MSG(out.len == sizeof want - 1 && !memcmp(out.data, want, out.len), "invalid bytes streamed as \"%.*s\"",
              (int)out.len, out.data);
    /* the plain decode keeps raw bytes */
    dp_buf raw = {0};
    int32_t ids[sizeof seq];
    for (size_t i = 0; i < sizeof seq; i++) ids[i] = dp_tokenizer_find(t, (const char *)&seq[i], 1);
    CHECK(dp_tokenizer_decode(t, ids, sizeof seq, 0, &raw, &e) == DP_OK && raw.len == sizeof seq &&
          !memcmp(raw.data, seq, sizeof seq));
    CHECK(dp_detok_push(&d, 1 << 20, &out, &e) == DP_ERR_INVALID_ARG && e.msg[0]);
    dp_buf_free(&raw);
    dp_buf_free(&out);
}

int main(void) {
    dp_tokenizer *t = t_bytes_tokenizer();
    if (t) {
        for (size_t i = 0; i < sizeof TEXTS / sizeof TEXTS[0]; i++) stream_check("bytes-only", t, TEXTS[i], 0, TEXTS[i]);
        raw_bytes(t);
    }
    dp_tokenizer_free(t);

    const char *p = t_shared("fixtures/tokenizers/llama3-tokenizer.model");
    if (p) {
        dp_error e = {0};
        t = NULL;
        CHECK(dp_tokenizer_load(p, &t, &e) == DP_OK);
        for (size_t i = 0; t && i < sizeof TEXTS / sizeof TEXTS[0]; i++) stream_check("llama3", t, TEXTS[i], 0, TEXTS[i]);
        if (t) {
            /* control tokens: shown only with DP_DECODE_SPECIAL */
            int32_t eot = dp_tokenizer_eot(t);
            dp_detok d;
            dp_buf out = {0};
            dp_detok_init(&d, t, 0);
            CHECK(dp_detok_push(&d, eot, &out, &e) == DP_OK && out.len == 0);
            dp_detok_init(&d, t, DP_DECODE_SPECIAL);
            CHECK(dp_detok_push(&d, eot, &out, &e) == DP_OK && out.data && !strcmp(out.data, "<|eot_id|>"));
            dp_buf_free(&out);
        }
        dp_tokenizer_free(t);
    }
    p = t_shared("fixtures/tokenizers/ggml-vocab-phi-3.gguf");
    if (p) {
        dp_error e = {0};
        t = NULL;
        CHECK(dp_tokenizer_load(p, &t, &e) == DP_OK);
        for (size_t i = 0; t && i < sizeof TEXTS / sizeof TEXTS[0]; i++) {
            /* SentencePiece adds a dummy-prefix space: kept by default, dropped with the flag */
            char want[256];
            snprintf(want, sizeof want, " %s", TEXTS[i]);
            stream_check("phi3", t, TEXTS[i], 0, want);
            stream_check("phi3 strip", t, TEXTS[i], DP_DECODE_STRIP_PREFIX, TEXTS[i]);
        }
        dp_tokenizer_free(t);
    }
    return t_done("test_streaming_detok");
}
