/* test_tokenizer_hostile.c — hostile text and hostile tokenizer files.
 *
 * Text: invalid UTF-8, encoded lone surrogates, NUL bytes, 1 MB runs of one character (letters,
 * spaces, digits, a 2-byte and a 4-byte character), a 10 MB prompt and random byte strings must
 * encode, round-trip byte for byte and stream as valid UTF-8. Times are printed; the only bound
 * asserted is a generous 30 s per 1 MB run. Runs on small tokenizers built here (always) and on
 * the fixture tokenizers when present.
 * Files: malformed tokenizer.json / tiktoken inputs are refused with an error, and every
 * allocation failure while loading and encoding is reported as DP_ERR_NOMEM without leaks. */
#include <string.h>

#include "base/json.h"
#include "testutil.h"
#include "tokenizer/tok_internal.h"
#include "tokenizer/unicode.h"

/* ---- small tokenizers written here ---- */

static void put_bytelevel_raw(dp_buf *b, const char *raw) {
    for (const unsigned char *p = (const unsigned char *)raw; *p; p++) {
        uint32_t cp = 0;
        for (uint32_t c = 0x21; c < 0x200; c++)
            if (dp_bytelevel_byte(c) == *p) {
                cp = c;
                break;
            }
        uint8_t u[4];
        size_t n = dp_utf8_encode(cp, u);
        dp_buf_append(b, u, n);
    }
}

/* raw bytes in GPT-2's alphabet, as a JSON string body (quotes not included) */
static void put_bytelevel(dp_buf *b, const char *raw) {
    dp_buf tmp = {0}, q = {0};
    put_bytelevel_raw(&tmp, raw);
    dp_json_write_str(&q, tmp.data, tmp.len);
    dp_buf_append(b, q.data + 1, q.len - 2);
    dp_buf_free(&tmp);
    dp_buf_free(&q);
}

/* byte-level BPE with the Llama 3 regex: 256 byte tokens + a few merges */
static char *make_bytelevel_json(void) {
    static const char *const merges[][2] = {{"a", "a"}, {"aa", "aa"}, {"aaaa", "aaaa"}, {" ", " "}, {"  ", "  "},
                                            {"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {" ", "w"},
                                            {"1", "2"}, {"12", "3"}, {"\xc3", "\xa9"}};
    dp_buf b = {0};
    dp_buf_puts(&b, "{\"version\":\"1.0\",\"added_tokens\":[{\"id\":256,\"content\":\"<|eot|>\",\"special\":true}],"
                    "\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\","
                    "\"pattern\":{\"Regex\":");
    dp_json_write_str(&b,
                      "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
                      "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
                      strlen("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
                             "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"));
    dp_buf_puts(&b, "},\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
                    "\"use_regex\":false}]},\"decoder\":{\"type\":\"ByteLevel\"},\"model\":{\"type\":\"BPE\","
                    "\"ignore_merges\":true,\"vocab\":{");
    int id = 0;
    for (int c = 0; c < 256; c++, id++) {
        char raw[2] = {(char)c, 0};
        dp_buf_puts(&b, id ? ",\"" : "\"");
        if (c == 0) dp_buf_puts(&b, "\xc4\x80"); /* byte 0 is U+0100 */
        else put_bytelevel(&b, raw);
        dp_buf_printf(&b, "\":%d", id);
    }
    id++; /* 256 is the added token */
    for (size_t m = 0; m < sizeof merges / sizeof merges[0]; m++, id++) {
        char cat[16];
        snprintf(cat, sizeof cat, "%s%s", merges[m][0], merges[m][1]);
        dp_buf_puts(&b, ",\"");
        put_bytelevel(&b, cat);
        dp_buf_printf(&b, "\":%d", id);
    }
    dp_buf_puts(&b, "},\"merges\":[");
    for (size_t m = 0; m < sizeof merges / sizeof merges[0]; m++) {
        dp_buf_puts(&b, m ? ",\"" : "\"");
        put_bytelevel(&b, merges[m][0]);
        dp_buf_puts(&b, " ");
        put_bytelevel(&b, merges[m][1]);
        dp_buf_puts(&b, "\"");
    }
    dp_buf_puts(&b, "]}}");
    return b.data;
}

/* SentencePiece-style BPE: Prepend + Replace normalizers, byte fallback */
static char *make_spm_json(void) {
    static const char *const pieces[] = {"\xe2\x96\x81", "a", "b", "h", "i", "aa", "aaaa", "\xe2\x96\x81h", "\xe2\x96\x81hi",
                                         "\xe2\x96\x81\xe2\x96\x81"};
    static const char *const merges[] = {"a a", "aa aa", "\xe2\x96\x81 h", "\xe2\x96\x81h i", "\xe2\x96\x81 \xe2\x96\x81"};
    return t_spm_json(pieces, sizeof pieces / sizeof pieces[0], merges, sizeof merges / sizeof merges[0]);
}

static dp_tokenizer *from_json(const char *json) {
    dp_tokenizer *t = NULL;
    dp_error e = {0};
    if (dp_tokenizer_load_hfjson(json, strlen(json), NULL, 0, &t, &e) != DP_OK) {
        fprintf(stderr, "synthetic tokenizer: %s\n", e.msg);
        t_failures++;
    }
    return t;
}

/* ---- checks ---- */

static bool valid_utf8(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        size_t len;
        if (dp_utf8_decode((const uint8_t *)s + i, n - i, &len) == DP_UTF8_INVALID) return false;
        i += len;
    }
    return true;
}

static bool has_bytes(const char *h, size_t n, const char *needle, size_t k) {
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(h + i, needle, k)) return true;
    return false;
}

/* encode, round trip, stream; returns seconds spent encoding */
static double roundtrip(const char *name, dp_tokenizer *t, const char *text, size_t n, const char *what) {
    dp_tokens ids = {0};
    dp_buf back = {0}, stream = {0};
    dp_error e = {0};
    double t0 = dp_time_now();
    dp_status st = dp_tokenizer_encode(t, text, n, false, false, &ids, &e);
    double dt = dp_time_now() - t0;
    CHECK_MSG(st == DP_OK, "%s: %s: encode failed: %s", name, what, e.msg);
    if (st == DP_OK) {
        st = dp_tokenizer_decode(t, ids.ids, ids.n, 0, &back, &e);
        /* SentencePiece cannot tell a typed U+2581 from a space */
        bool lossy = t->escape_spaces && n >= 3 && has_bytes(text, n, "\xe2\x96\x81", 3);
        bool same = lossy || (st == DP_OK && back.len == n && (n == 0 || !memcmp(back.data, text, n)));
        CHECK_MSG(same, "%s: %s: decode(encode(x)) != x (%zu bytes back for %zu)", name, what, back.len, n);
        if (!same) {
            for (size_t i = 0; i < n; i++) fprintf(stderr, "%02x ", (unsigned char)text[i]);
            fprintf(stderr, "\n");
            for (size_t i = 0; i < back.len; i++) fprintf(stderr, "%02x ", (unsigned char)back.data[i]);
            fprintf(stderr, "\n");
        }
        dp_detok d;
        dp_detok_init(&d, t, DP_DECODE_STRIP_PREFIX);
        for (size_t i = 0; i < ids.n && st == DP_OK; i++) st = dp_detok_push(&d, ids.ids[i], &stream, &e);
        dp_detok_flush(&d, &stream);
        CHECK_MSG(st == DP_OK && valid_utf8(stream.data, stream.len), "%s: %s: stream output is not valid UTF-8", name,
                  what);
        if (valid_utf8(text, n) && !lossy)
            CHECK_MSG(stream.len == n && (n == 0 || !memcmp(stream.data, text, n)), "%s: %s: stream != text", name, what);
    }
    dp_tokens_free(&ids);
    dp_buf_free(&back);
    dp_buf_free(&stream);
    return dt;
}

static void run_text(const char *name, dp_tokenizer *t) {
    static const struct {
        const char *what, *s;
        size_t n;
    } cases[] = {
#define CASE(what, lit) {what, lit, sizeof(lit) - 1}
        CASE("invalid UTF-8", "\xff\xfe\x80 abc \xc0\xaf \xe0\x80\x80 \xf8\x88\x80\x80\x80 \xc3"),
        CASE("lone surrogates", "\xed\xa0\x80 x\xed\xbf\xbfy \xed\xa0\xbd\xed\xb8\x80 (cesu)"),
        CASE("NUL bytes", "a\0b\0\0c \0 \0"),
        CASE("truncated sequences", "\xe2\x82 \xf0\x9f\x98 \xe2"),
        CASE("empty", ""),
        CASE("mixed", "Hello world! 123456 don't 'S '\xc5\xbf \xc3\xa9\r\n\n  \t x"),
#undef CASE
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) roundtrip(name, t, cases[i].s, cases[i].n, cases[i].what);

    /* 1 MB runs of one character */
    static const struct {
        const char *what, *unit;
    } runs[] = {{"1 MB of 'a'", "a"}, {"1 MB of ' '", " "}, {"1 MB of '7'", "7"},
                {"1 MB of U+00E9", "\xc3\xa9"}, {"1 MB of U+1F999", "\xf0\x9f\xa6\x99"}, {"1 MB of '\\n'", "\n"}};
    size_t mb = (size_t)1 << 20;
    char *buf = dp_malloc(10 * mb);
    for (size_t i = 0; buf && i < sizeof runs / sizeof runs[0]; i++) {
        size_t ul = strlen(runs[i].unit), n = mb / ul * ul;
        for (size_t k = 0; k < n; k += ul) memcpy(buf + k, runs[i].unit, ul);
        double dt = roundtrip(name, t, buf, n, runs[i].what);
        printf("%s: %s encoded in %.3f s\n", name, runs[i].what, dt);
        CHECK_MSG(dt < 30.0, "%s: %s took %.1f s", name, runs[i].what, dt);
    }
    /* 1 MB of special-token prefixes, specials parsed */
    if (buf) {
        for (size_t k = 0; k < mb; k++) buf[k] = "<|"[k & 1];
        dp_tokens ids = {0};
        double t0 = dp_time_now();
        CHECK(dp_tokenizer_encode(t, buf, mb, false, true, &ids, NULL) == DP_OK);
        double dt = dp_time_now() - t0;
        printf("%s: 1 MB of '<|' with specials parsed encoded in %.3f s\n", name, dt);
        CHECK(dt < 30.0);
        dp_tokens_free(&ids);
    }
    /* 10 MB prompt of random bytes biased towards text */
    if (buf) {
        uint64_t s = 12345;
        for (size_t k = 0; k < 10 * mb; k++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            unsigned r = (unsigned)(s >> 40) % 100;
            buf[k] = r < 60 ? (char)('a' + (s >> 20) % 26) : r < 75 ? ' ' : r < 80 ? '\n' : (char)(s >> 28);
        }
        double dt = roundtrip(name, t, buf, 10 * mb, "10 MB prompt");
        printf("%s: 10 MB prompt encoded in %.3f s\n", name, dt);
    }
    /* many short random byte strings */
    uint64_t s = 99;
    for (int k = 0; buf && k < 2000; k++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        size_t n = (size_t)(s % 40);
        for (size_t j = 0; j < n; j++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            static const char alpha[] = "a \n\x00\xc3\xa9\xe2\x96\x81\xf0\x9f\xa6\x99\xff'sS<|>1";
            buf[j] = (s >> 33) % 3 ? alpha[(s >> 8) % (sizeof alpha - 1)] : (char)(s >> 16);
        }
        roundtrip(name, t, buf, n, "random bytes");
    }
    dp_free(buf);
}

/* ---- hostile files ---- */

static void expect_fail_json(const char *what, const char *json) {
    dp_tokenizer *t = NULL;
    dp_error e = {0};
    dp_status st = dp_tokenizer_load_hfjson(json, strlen(json), NULL, 0, &t, &e);
    CHECK_MSG(st != DP_OK && t == NULL && e.msg[0], "tokenizer.json %s: accepted", what);
    dp_tokenizer_free(t);
}

static void expect_fail_tiktoken(const char *what, const char *text) {
    dp_tokenizer *t = NULL;
    dp_error e = {0};
    dp_status st = dp_tokenizer_load_tiktoken(text, strlen(text), &t, &e);
    CHECK_MSG(st != DP_OK && t == NULL && e.msg[0], "tiktoken %s: accepted", what);
    dp_tokenizer_free(t);
}

static void hostile_files(void) {
    expect_fail_json("not JSON", "{\"model\":");
    expect_fail_json("no model", "{}");
    expect_fail_json("no vocab", "{\"model\":{\"type\":\"BPE\"}}");
    expect_fail_json("unigram", "{\"model\":{\"type\":\"Unigram\",\"vocab\":[]}}");
    expect_fail_json("negative id", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-1}}}");
    expect_fail_json("huge id", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":2000000000}}}");
    expect_fail_json("fractional id", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":1.5}}}");
    expect_fail_json("bad merge", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[7]}}");
    expect_fail_json("merges not array", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":{}}}");
    expect_fail_json("unknown regex",
                     "{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"x+\"},\"behavior\":\"Isolated\"},"
                     "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}}}");
    expect_fail_json("unknown normalizer",
                     "{\"normalizer\":{\"type\":\"Lowercase\"},\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}}}");
    expect_fail_json("added token without content",
                     "{\"added_tokens\":[{\"id\":0}],\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}}}");
    expect_fail_json("bad byte token", "{\"model\":{\"type\":\"BPE\",\"byte_fallback\":true,\"vocab\":{\"<0xZZ>\":0}}}");
    /* merges naming unknown tokens are ignored, not fatal */
    dp_tokenizer *t = NULL;
    const char *ok = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[\"a b\",\"x y\",[\"a\",\"zz\"],\"ab\"]}}";
    CHECK(dp_tokenizer_load_hfjson(ok, strlen(ok), NULL, 0, &t, NULL) == DP_OK);
    dp_tokenizer_free(t);

    expect_fail_tiktoken("empty", "");
    expect_fail_tiktoken("bad base64", "YQ=Q 0\n");
    expect_fail_tiktoken("no rank", "YQ==\n");
    expect_fail_tiktoken("rank not a number", "YQ== x\n");
    expect_fail_tiktoken("duplicate rank", "YQ== 0\nYg== 0\n");
    expect_fail_tiktoken("rank far past the file", "YQ== 4000000\n");
    expect_fail_tiktoken("11-digit rank", "YQ== 12345678901\n");
    t = NULL;
    const char *tk = "YQ== 0\nYg== 1\nYWI= 2\n";
    CHECK(dp_tokenizer_load_tiktoken(tk, strlen(tk), &t, NULL) == DP_OK);
    if (t) {
        dp_tokens ids = {0};
        CHECK(dp_tokenizer_encode(t, "abab", 4, false, false, &ids, NULL) == DP_OK && ids.n == 2 && ids.ids[0] == 2);
        /* a byte with no token is dropped (llama.cpp) rather than failing */
        ids.n = 0;
        CHECK(dp_tokenizer_encode(t, "xab", 3, false, false, &ids, NULL) == DP_OK && ids.n == 1);
        dp_tokens_free(&ids);
        int32_t bad = 7;
        dp_buf b = {0};
        dp_error e = {0};
        CHECK(dp_tokenizer_decode(t, &bad, 1, 0, &b, &e) == DP_ERR_INVALID_ARG && e.msg[0]);
        dp_buf_free(&b);
    }
    dp_tokenizer_free(t);
}

/* byte flips, truncations and splices of a valid file: loading must fail cleanly or succeed */
static void mutations(const char *what, const char *text, bool json) {
    size_t n = strlen(text);
    char *m = dp_malloc(n + 1);
    uint64_t s = 7;
    int accepted = 0;
    for (int k = 0; m && k < 1500; k++) {
        memcpy(m, text, n + 1);
        size_t len = n;
        int flips = 1 + k % 4;
        for (int f = 0; f < flips; f++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            size_t at = (size_t)(s >> 16) % n;
            static const char pool[] = "\"{}[],: 0129-e.\\\x80\xff";
            m[at] = (s >> 8) % 2 ? pool[(s >> 40) % (sizeof pool - 1)] : (char)(s >> 24);
        }
        if (k % 5 == 0) len = (size_t)(s >> 20) % n; /* truncate */
        dp_tokenizer *t = NULL;
        dp_error e = {0};
        dp_status st = json ? dp_tokenizer_load_hfjson(m, len, NULL, 0, &t, &e) : dp_tokenizer_load_tiktoken(m, len, &t, &e);
        if (st == DP_OK) {
            accepted++;
            dp_tokens ids = {0};
            CHECK(dp_tokenizer_encode(t, "hello aaaa 123 \xff", 16, true, true, &ids, &e) == DP_OK);
            dp_tokens_free(&ids);
        } else {
            CHECK_MSG(e.msg[0] && t == NULL, "%s mutation %d: failure without a message", what, k);
        }
        dp_tokenizer_free(t);
    }
    printf("%s: 1500 mutated files, %d still loadable, none crashed\n", what, accepted);
    dp_free(m);
}

/* ---- allocation failures ---- */

static long g_alloc_left = -1;
static void *failing_alloc(void *ud, void *p, size_t n) {
    (void)ud;
    if (n == 0) {
        free(p);
        return NULL;
    }
    if (g_alloc_left == 0) return NULL;
    if (g_alloc_left > 0) g_alloc_left--;
    return realloc(p, n);
}

static void alloc_failures(const char *json) {
    dp_set_allocator(failing_alloc, NULL);
    int nomem = 0, ok = 0;
    for (long k = 0; k < 100000; k++) {
        g_alloc_left = k;
        dp_tokenizer *t = NULL;
        dp_error e = {0};
        dp_status st = dp_tokenizer_load_hfjson(json, strlen(json), NULL, 0, &t, &e);
        if (st == DP_OK) {
            dp_tokens ids = {0};
            dp_buf b = {0};
            st = dp_tokenizer_encode(t, "hello world aaaa 123 <|eot|>", 28, true, true, &ids, &e);
            if (st == DP_OK) st = dp_tokenizer_decode(t, ids.ids, ids.n, DP_DECODE_SPECIAL, &b, &e);
            dp_tokens_free(&ids);
            dp_buf_free(&b);
        }
        dp_tokenizer_free(t);
        if (st == DP_OK) {
            ok = 1;
            break;
        }
        CHECK_MSG(st == DP_ERR_NOMEM, "allocation failure %ld reported as %s (%s)", k, dp_status_str(st), e.msg);
        nomem++;
    }
    g_alloc_left = -1;
    dp_set_allocator(NULL, NULL);
    CHECK_MSG(ok, "never succeeded under the failing allocator");
    printf("allocation failures: %d failure points, each reported as out of memory\n", nomem);
}

int main(void) {
    char *bl = make_bytelevel_json(), *sp = make_spm_json();
    dp_tokenizer *tb = bl ? from_json(bl) : NULL, *ts = sp ? from_json(sp) : NULL;
    if (tb) {
        dp_tokens ids = {0};
        CHECK(dp_tokenizer_encode(tb, "hello aaaa", 10, false, false, &ids, NULL) == DP_OK);
        CHECK(ids.n == 3); /* "hello", " ", "aaaa" */
        dp_tokens_free(&ids);
        run_text("byte-level (synthetic)", tb);
    }
    if (ts) {
        dp_tokens ids = {0};
        CHECK(dp_tokenizer_encode(ts, "hi aaaaaa", 9, true, false, &ids, NULL) == DP_OK);
        /* <s> ▁hi ▁ aaaa aa */
        CHECK(ids.n == 5 && ids.ids[0] == 1);
        dp_tokens_free(&ids);
        run_text("sentencepiece (synthetic)", ts);
    }
    dp_tokenizer_free(tb);
    dp_tokenizer_free(ts);
    hostile_files();
    if (bl) alloc_failures(bl);
    if (bl) mutations("tokenizer.json (byte-level)", bl, true);
    if (sp) mutations("tokenizer.json (sentencepiece)", sp, true);
    {
        dp_buf tk = {0};
        static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for (int c = 0; c < 256; c++) dp_buf_printf(&tk, "%c%c== %d\n", b64[c >> 2], b64[(c & 3) << 4], c);
        dp_buf_puts(&tk, "YWE= 256\nYWFhYQ== 257\n");
        if (tk.data) mutations("tiktoken", tk.data, false);
        dp_buf_free(&tk);
    }
    dp_free(bl);
    dp_free(sp);

    static const char *const fixtures[] = {"fixtures/tokenizers/llama3-tokenizer.model",
                                           "fixtures/tokenizers/ggml-vocab-phi-3.gguf",
                                           "fixtures/tokenizers/ggml-vocab-gpt-2.gguf"};
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
        const char *p = t_shared(fixtures[i]);
        if (!p) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s", p);
        dp_tokenizer *t = NULL;
        dp_error e = {0};
        if (dp_tokenizer_load(path, &t, &e) != DP_OK) {
            CHECK_MSG(0, "%s: %s", path, e.msg);
            continue;
        }
        run_text(strrchr(fixtures[i], '/') + 1, t);
        dp_tokenizer_free(t);
    }
    return t_done("test_tokenizer_hostile");
}
