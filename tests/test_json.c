/* test_json.c — the strict JSON reader: valid documents, accessors, escapes, a long list of
 * invalid documents, depth limits, the llama3 tokenizer.json, and allocation failure at every
 * step (no leaks). */
#include <locale.h>
#include <math.h>
#include <string.h>

#include "base/json.h"
#include "testutil.h"

static dp_json_doc *parse_ok(const char *text) {
    dp_json_doc *doc = NULL;
    dp_error e = {0};
    dp_status st = dp_json_parse(text, strlen(text), &doc, &e);
    CHECK_MSG(st == DP_OK, "%s: %s", text, e.msg);
    return st == DP_OK ? doc : NULL;
}

static void check_invalid(const char *text, size_t n, dp_status want) {
    dp_json_doc *doc = NULL;
    dp_error e = {0};
    dp_status st = dp_json_parse(text, n, &doc, &e);
    CHECK_MSG(st == want, "accepted or wrong status (%d) for: %.*s", (int)st, (int)n, text);
    CHECK_MSG(doc == NULL, "output written on failure: %.*s", (int)n, text);
    CHECK_MSG(e.status == st && strstr(e.msg, "byte") != NULL, "no message for %.*s: '%s'",
              (int)n, text, e.msg);
    if (st == DP_OK) dp_json_free(doc);
}

static void test_values(void) {
    dp_json_doc *doc = parse_ok(
        " {\"a\": 1, \"b\": [true, false, null, -0.5e2, \"x\"], \"c\": {}, \"d\": [], "
        "\"e\": {\"f\": \"g\"}, \"a2\": 2, \"big\": 12345678901234567, \"neg\": -42} ");
    if (!doc) return;
    const dp_json *r = dp_json_root(doc);
    CHECK(dp_json_is(r, DP_JSON_OBJECT) && r->len == 8);
    int64_t i = 0;
    CHECK(dp_json_i64(dp_json_get(r, "a"), &i) && i == 1);
    CHECK(dp_json_i64(&r->u.items[5], &i) && i == 2);
    CHECK(r->u.items[5].key_len == 2 && strcmp(r->u.items[5].key, "a2") == 0);
    const dp_json *b = dp_json_get(r, "b");
    CHECK(dp_json_is(b, DP_JSON_ARRAY) && b->len == 5);
    bool bv = false;
    CHECK(dp_json_bool(dp_json_at(b, 0), &bv) && bv);
    CHECK(dp_json_bool(dp_json_at(b, 1), &bv) && !bv);
    CHECK(dp_json_is(dp_json_at(b, 2), DP_JSON_NULL));
    double d = 0;
    CHECK(dp_json_num(dp_json_at(b, 3), &d) && d == -50.0);
    CHECK(!dp_json_i64(dp_json_at(b, 3), &i) || i == -50);
    const char *s = NULL;
    CHECK(dp_json_str(dp_json_at(b, 4), &s) && strcmp(s, "x") == 0);
    CHECK(dp_json_at(b, 5) == NULL);
    CHECK(dp_json_at(b, 4)->key == NULL);
    CHECK(dp_json_is(dp_json_get(r, "c"), DP_JSON_OBJECT) && dp_json_get(r, "c")->len == 0);
    CHECK(dp_json_is(dp_json_get(r, "d"), DP_JSON_ARRAY) && dp_json_get(r, "d")->len == 0);
    CHECK(dp_json_str(dp_json_get(dp_json_get(r, "e"), "f"), &s) && strcmp(s, "g") == 0);
    CHECK(strcmp(dp_json_get(r, "e")->key, "e") == 0);
    CHECK(dp_json_i64(dp_json_get(r, "neg"), &i) && i == -42);
    CHECK(dp_json_i64(dp_json_get(r, "big"), &i) && i == 12345678901234568); /* nearest double */
    /* wrong types and missing things give NULL / false */
    CHECK(dp_json_get(r, "zz") == NULL);
    CHECK(dp_json_get(b, "a") == NULL);
    CHECK(dp_json_at(r, 0) == NULL);
    CHECK(!dp_json_str(dp_json_get(r, "a"), &s));
    CHECK(!dp_json_num(dp_json_get(r, "b"), &d));
    CHECK(!dp_json_bool(NULL, &bv));
    CHECK(dp_json_get(NULL, "a") == NULL);
    CHECK(!dp_json_i64(dp_json_at(b, 4), &i));
    dp_json_free(doc);
    dp_json_free(NULL);
    CHECK(dp_json_root(NULL) == NULL);

    /* scalars at the top level */
    static const char *scalars[] = {"0", "-0", "\"\"", "true", "false", "null", " 1 ", "[[[]]]"};
    for (size_t k = 0; k < sizeof scalars / sizeof scalars[0]; k++) dp_json_free(parse_ok(scalars[k]));
    doc = parse_ok("-0");
    if (doc) {
        CHECK(dp_json_root(doc)->u.num == 0.0 && signbit(dp_json_root(doc)->u.num));
        dp_json_free(doc);
    }
}

static void test_numbers(void) {
    static const struct { const char *text; double want; } nums[] = {
        {"0", 0}, {"1", 1}, {"-1", -1}, {"0.1", 0.1}, {"1e10", 1e10}, {"1E+2", 100},
        {"1e-2", 0.01}, {"123.456e-7", 123.456e-7}, {"1.7976931348623157e308", 1.7976931348623157e308},
        {"5e-324", 5e-324}, {"2.2250738585072014e-308", 2.2250738585072014e-308},
        {"9007199254740993", 9007199254740992.0}, {"0.30000000000000004", 0.30000000000000004},
        {"123456789012345678901234567890", 123456789012345678901234567890.0},
        {"1e-400", 0.0}, {"3.14159265358979323846264338327950288", 3.14159265358979323846},
        {"-0.0000000000000000000000001", -1e-25}, {"1e22", 1e22}, {"1e23", 1e23},
        {"4294967296", 4294967296.0}, {"18446744073709551615", 18446744073709551615.0},
    };
    for (size_t k = 0; k < sizeof nums / sizeof nums[0]; k++) {
        dp_json_doc *doc = parse_ok(nums[k].text);
        if (!doc) continue;
        double d = dp_json_root(doc)->u.num;
        CHECK_MSG(d == nums[k].want, "%s parsed as %.17g", nums[k].text, d);
        dp_json_free(doc);
    }
    /* i64 range */
    dp_json_doc *doc = parse_ok("[9223372036854775807, -9223372036854775808, 1.5, 1e300]");
    if (doc) {
        const dp_json *r = dp_json_root(doc);
        int64_t i = 0;
        CHECK(!dp_json_i64(dp_json_at(r, 0), &i)); /* rounds to 2^63: out of range */
        CHECK(dp_json_i64(dp_json_at(r, 1), &i) && i == INT64_MIN);
        CHECK(!dp_json_i64(dp_json_at(r, 2), &i));
        CHECK(!dp_json_i64(dp_json_at(r, 3), &i));
        dp_json_free(doc);
    }
    /* a locale with ',' as the radix must not change the result */
    if (setlocale(LC_NUMERIC, "de_DE.UTF-8") || setlocale(LC_NUMERIC, "fr_FR.UTF-8")) {
        doc = parse_ok("[1.0000000000000000001e-5, 2.5e30]");
        if (doc) {
            CHECK(dp_json_at(dp_json_root(doc), 0)->u.num == 1e-5);
            CHECK(dp_json_at(dp_json_root(doc), 1)->u.num == 2.5e30);
            dp_json_free(doc);
        }
        setlocale(LC_NUMERIC, "C");
    }
}

static void test_strings(void) {
    dp_json_doc *doc = parse_ok(
        "[\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\", \"\\u0041\\u00e9\\u20ac\\ud83d\\ude00\", "
        "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\", \"nul\\u0000in\", \"\\uD834\\uDD1E\"]");
    if (!doc) return;
    const dp_json *r = dp_json_root(doc);
    const dp_json *v = dp_json_at(r, 0);
    CHECK(v->len == 12 && memcmp(v->u.str, "a\"b\\c/d\b\f\n\r\t", 13) == 0);
    v = dp_json_at(r, 1);
    CHECK(v->len == 10 && strcmp(v->u.str, "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80") == 0);
    v = dp_json_at(r, 2);
    CHECK(strcmp(v->u.str, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") == 0);
    v = dp_json_at(r, 3);
    CHECK(v->len == 6 && memcmp(v->u.str, "nul\0in", 7) == 0);
    v = dp_json_at(r, 4);
    CHECK(v->len == 4 && strcmp(v->u.str, "\xf0\x9d\x84\x9e") == 0);
    dp_json_free(doc);

    /* escaped keys */
    doc = parse_ok("{\"k\\u00e9y\": 1, \"\": 2}");
    if (doc) {
        int64_t i = 0;
        CHECK(dp_json_i64(dp_json_get(dp_json_root(doc), "k\xc3\xa9y"), &i) && i == 1);
        CHECK(dp_json_i64(dp_json_get(dp_json_root(doc), ""), &i) && i == 2);
        dp_json_free(doc);
    }

    /* writer: escapes and round trip through the parser */
    dp_buf b = {0};
    const char raw[] = "q\"b\\s/\n\r\t\b\f\x01\x1f\x7f caf\xc3\xa9";
    dp_json_write_str(&b, raw, sizeof raw - 1);
    CHECK(!b.oom);
    CHECK_MSG(strcmp(b.data, "\"q\\\"b\\\\s/\\n\\r\\t\\b\\f\\u0001\\u001f\x7f caf\xc3\xa9\"") == 0,
              "%s", b.data);
    doc = parse_ok(b.data);
    if (doc) {
        CHECK(dp_json_root(doc)->len == sizeof raw - 1 &&
              memcmp(dp_json_root(doc)->u.str, raw, sizeof raw) == 0);
        dp_json_free(doc);
    }
    b.len = 0;
    dp_json_write_str(&b, "a\0b", 3);
    CHECK(strcmp(b.data, "\"a\\u0000b\"") == 0);
    dp_buf_free(&b);
}

static void test_invalid(void) {
    static const char *bad[] = {
        "", " ", "\n\t ", "{", "}", "[", "]", "[1,]", "[,1]", "[1 2]", "{\"a\"}", "{\"a\":}",
        "{\"a\" 1}", "{\"a\":1,}", "{,}", "{1:2}", "{a:1}", "{'a':1}", "['a']", "[1]]", "[1]x",
        "{} {}", "01", "-01", "00", "1.", ".5", "-", "+1", "1e", "1e+", "1.e5", "0x10", "Infinity",
        "-Infinity", "NaN", "nan", "tru", "truex", "nul", "nulll", "fals", "True", "NULL",
        "\"abc", "\"\\\"", "\"\\x\"", "\"\\u12\"", "\"\\u12g4\"", "\"\\U0041\"", "\"\\ud800\"",
        "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"\\ud800x\"", "\"\\udbff\\udbff\"", "\"\\ud800\\",
        "\"a\tb\"", "\"a\nb\"", "\"\x01\"", "\"\x1f\"",
        "\"\x80\"", "\"\xc0\xaf\"", "\"\xc1\xbf\"", "\"\xe0\x80\xaf\"", "\"\xed\xa0\x80\"",
        "\"\xf0\x80\x80\xaf\"", "\"\xf4\x90\x80\x80\"", "\"\xf5\x80\x80\x80\"", "\"\xff\"",
        "\"\xc3\"", "\"\xe2\x82\"", "\"\xf0\x9f\x98\"", "\"\xc3(\"", "[\"\xe2\x28\xa1\"]",
        "[1,,2]", "[\"a\",]", "[-]", "[1e5.0]", "[1.2.3]", "1 2", "\"a\" \"b\"", "[true false]",
        "{\"a\":1 \"b\":2}", "{\"a\"::1}", "[\v1]", "[\f1]", "\xef\xbb\xbf{}", "/*c*/1", "[1]//",
        "[1e999]", "[-1e999]", "{\"\x80\":1}", "{\"a\\q\":1}", "[\"\\u00\"]",
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        dp_status want = DP_ERR_FORMAT;
        check_invalid(bad[k], strlen(bad[k]), want);
    }
    /* NUL bytes in the text (the length, not a terminator, bounds it) */
    check_invalid("[1]\0", 4, DP_ERR_FORMAT);
    check_invalid("\"a\0b\"", 5, DP_ERR_FORMAT);
    check_invalid("[1,\0 2]", 7, DP_ERR_FORMAT);
    /* the text need not be NUL-terminated: a prefix of a valid document is invalid */
    const char *full = "{\"key\": [1, 2.5e3, \"str\\u00e9\", true, null]}";
    size_t fl = strlen(full);
    for (size_t k = 0; k < fl; k++) check_invalid(full, k, DP_ERR_FORMAT);
    dp_json_free(parse_ok(full));

    /* the message names the byte and the problem */
    dp_json_doc *doc = NULL;
    dp_error e = {0};
    CHECK(dp_json_parse("[1, 2,, 3]", 10, &doc, &e) == DP_ERR_FORMAT);
    CHECK_MSG(strstr(e.msg, "byte 6") != NULL, "%s", e.msg);
    CHECK(dp_json_parse("{\"a\": 1 \"b\"}", 12, &doc, &e) == DP_ERR_FORMAT);
    CHECK_MSG(strstr(e.msg, "byte 8") && strstr(e.msg, "','"), "%s", e.msg);
    CHECK(dp_json_parse("[\"\\ud800\"]", 10, &doc, &e) == DP_ERR_FORMAT);
    CHECK_MSG(strstr(e.msg, "surrogate") != NULL, "%s", e.msg);
    CHECK(dp_json_parse("01", 2, &doc, &e) == DP_ERR_FORMAT);
    CHECK_MSG(strstr(e.msg, "leading zero") != NULL, "%s", e.msg);
    /* NULL error pointer is fine */
    CHECK(dp_json_parse("[", 1, &doc, NULL) == DP_ERR_FORMAT);
    CHECK(doc == NULL);
    /* overlong number token */
    char num[700];
    memset(num, '1', sizeof num - 1);
    num[sizeof num - 1] = '\0';
    check_invalid(num, strlen(num), DP_ERR_LIMIT);
}

/* Issue 10: a key named twice in one object is a format error (Python and JavaScript keep the
 * last, a first-match reader the first: two readers of one file would disagree). */
static void test_duplicate_keys(void) {
    static const char *const dups[] = {
        "{\"version\": 1, \"version\": 2}",
        "{\"a\": 1, \"b\": 2, \"a\": 3}",
        "{\"x\": {\"k\": 1, \"k\": {}}}",
        "[{\"k\": 1}, {\"k\": 1, \"k\": 1}]",
        "{\"\\u0061\": 1, \"a\": 2}",          /* the same key once escaped */
        "{\"a\\u0000\": 1, \"a\\u0000\": 2}",  /* keys holding NUL */
        "{\"\": 1, \"\": 2}",
    };
    for (size_t i = 0; i < sizeof dups / sizeof dups[0]; i++) {
        check_invalid(dups[i], strlen(dups[i]), DP_ERR_FORMAT);
        dp_json_doc *doc = NULL;
        dp_error e = {0};
        dp_json_parse(dups[i], strlen(dups[i]), &doc, &e);
        CHECK_MSG(strstr(e.msg, "twice") != NULL, "%s: %s", dups[i], e.msg);
    }
    /* not duplicates: a prefix, a NUL-extended key, the same key in sibling objects */
    dp_json_doc *doc = parse_ok("{\"a\": 1, \"ab\": 2, \"a\\u0000\": 3, \"o\": {\"a\": 1}, \"p\": {\"a\": 1}}");
    dp_json_free(doc);
    /* large objects (the sorted path), the duplicate at the end, first or nowhere */
    for (int where = 0; where < 3; where++) {
        dp_buf b = {0};
        dp_buf_puts(&b, "{");
        for (int i = 0; i < 5000; i++) dp_buf_printf(&b, "%s\"tok%d\": %d", i ? ", " : "", i, i);
        if (where == 0) dp_buf_puts(&b, ", \"tok4999\": 0");
        if (where == 1) dp_buf_puts(&b, ", \"tok0\": 0");
        dp_buf_puts(&b, "}");
        if (where < 2) check_invalid(b.data, b.len, DP_ERR_FORMAT);
        else {
            dp_json_doc *big = NULL;
            CHECK(dp_json_parse(b.data, b.len, &big, NULL) == DP_OK);
            dp_json_free(big);
        }
        dp_buf_free(&b);
    }
    /* the key is quoted escaped: the message stays one line */
    const char *esc = "{\"a\\n\\u001b[31mred\": 1, \"a\\n\\u001b[31mred\": 2}";
    dp_error e = {0};
    CHECK(dp_json_parse(esc, strlen(esc), &doc, &e) == DP_ERR_FORMAT);
    CHECK_MSG(!strchr(e.msg, '\n') && !strchr(e.msg, 0x1b) && strstr(e.msg, "a\\n\\x1b[31mred"), "%s", e.msg);
}

static void test_depth(void) {
    enum { BIG = 100000 };
    static char text[2 * BIG + 2];
    /* exactly the limit parses; one more is DP_ERR_LIMIT; a depth bomb fails fast */
    for (int depth = DP_JSON_MAX_DEPTH; depth <= DP_JSON_MAX_DEPTH + 1; depth++) {
        for (int i = 0; i < depth; i++) text[i] = '[';
        for (int i = 0; i < depth; i++) text[depth + i] = ']';
        dp_json_doc *doc = NULL;
        dp_error e = {0};
        dp_status st = dp_json_parse(text, (size_t)depth * 2, &doc, &e);
        if (depth == DP_JSON_MAX_DEPTH) {
            CHECK_MSG(st == DP_OK, "%s", e.msg);
            dp_json_free(doc);
        } else {
            CHECK_MSG(st == DP_ERR_LIMIT && strstr(e.msg, "deeper"), "%s", e.msg);
        }
    }
    for (int i = 0; i < BIG; i++) text[i] = '[';
    check_invalid(text, BIG, DP_ERR_LIMIT);
    /* objects nest too */
    dp_buf b = {0};
    for (int i = 0; i < 300; i++) dp_buf_puts(&b, "{\"a\":");
    check_invalid(b.data, b.len, DP_ERR_LIMIT);
    dp_buf_free(&b);
}

/* ---- allocation failure injection ---- */

typedef struct fail_alloc {
    long calls, fail_at, live;
} fail_alloc;

static void *failing_alloc(void *ud, void *ptr, size_t size) {
    fail_alloc *fa = ud;
    if (size == 0) {
        if (ptr) fa->live--;
        free(ptr);
        return NULL;
    }
    if (++fa->calls == fa->fail_at) return NULL;
    void *p = realloc(ptr, size);
    if (p && !ptr) fa->live++;
    return p;
}

static void test_nomem(const char *text, size_t n) {
    fail_alloc fa = {0, 0, 0};
    bool ok = false;
    long tries = 0;
    for (long at = 1; at < 100000 && !ok; at++) {
        fa.calls = 0;
        fa.fail_at = at;
        fa.live = 0;
        dp_set_allocator(failing_alloc, &fa);
        dp_json_doc *doc = NULL;
        dp_error e = {0};
        dp_status st = dp_json_parse(text, n, &doc, &e);
        if (st == DP_OK) {
            ok = true;
            CHECK(fa.calls < at); /* succeeded only once nothing failed */
            dp_json_free(doc);
        } else {
            CHECK_MSG(st == DP_ERR_NOMEM, "fail at %ld: status %d: %s", at, (int)st, e.msg);
            CHECK(doc == NULL && strstr(e.msg, "memory") != NULL);
        }
        dp_set_allocator(NULL, NULL);
        CHECK_MSG(fa.live == 0, "fail at %ld: %ld allocations leaked", at, fa.live);
        tries++;
    }
    CHECK(ok);
    CHECK(tries > 2); /* the document needed several allocations, each was failed once */
}

static void test_tokenizer(void) {
    const char *path = t_shared("fixtures/tokenizers/llama3-tokenizer.json");
    if (!path) {
        t_skip_part("llama3-tokenizer.json absent: its parse");
        return;
    }
    char *text = NULL;
    size_t n = 0;
    dp_error e = {0};
    if (dp_file_read_all(path, (size_t)1 << 30, &text, &n, &e) != DP_OK) {
        CHECK_MSG(0, "%s", e.msg);
        return;
    }
    dp_json_doc *doc = NULL;
    double t0 = dp_time_now();
    dp_status st = dp_json_parse(text, n, &doc, &e);
    double dt = dp_time_now() - t0;
    CHECK_MSG(st == DP_OK, "%s", e.msg);
    if (st == DP_OK) {
        printf("tokenizer.json: %zu bytes parsed in %.1f ms (%.0f MB/s)\n", n, dt * 1e3,
               (double)n / 1e6 / dt);
        const dp_json *r = dp_json_root(doc), *model = dp_json_get(r, "model");
        const char *s = NULL;
        CHECK(dp_json_str(dp_json_get(model, "type"), &s) && strcmp(s, "BPE") == 0);
        CHECK(dp_json_str(dp_json_get(r, "version"), &s) && strcmp(s, "1.0") == 0);
        CHECK(dp_json_is(dp_json_get(r, "truncation"), DP_JSON_NULL));
        const dp_json *vocab = dp_json_get(model, "vocab"), *merges = dp_json_get(model, "merges");
        CHECK(dp_json_is(vocab, DP_JSON_OBJECT) && vocab->len == 128000);
        CHECK(dp_json_is(merges, DP_JSON_ARRAY) && merges->len == 280147);
        int64_t id = -1;
        CHECK(dp_json_i64(dp_json_get(vocab, "!"), &id) && id == 0);
        CHECK(dp_json_i64(dp_json_get(vocab, "\""), &id) && id == 1);
        if (vocab && vocab->len == 128000) {
            const dp_json *last = &vocab->u.items[127999];
            CHECK(strcmp(last->key, "\xc3\xa9\xc4\xb6\xc2\xa6") == 0); /* "éĶ¦" */
            CHECK(dp_json_i64(last, &id) && id == 127999);
        }
        const dp_json *m0 = dp_json_at(merges, 0);
        CHECK(dp_json_is(m0, DP_JSON_ARRAY) && m0->len == 2);
        CHECK(dp_json_str(dp_json_at(m0, 0), &s) && strcmp(s, "\xc4\xa0") == 0); /* "Ġ" */
        bool b = false;
        CHECK(dp_json_bool(dp_json_get(model, "ignore_merges"), &b) && b);
        const dp_json *pre = dp_json_at(dp_json_get(dp_json_get(r, "pre_tokenizer"), "pretokenizers"), 0);
        CHECK(dp_json_str(dp_json_get(dp_json_get(pre, "pattern"), "Regex"), &s) &&
              strncmp(s, "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}", 40) == 0);
        dp_json_free(doc);
    }
    dp_free(text);
}

int main(void) {
    test_values();
    test_numbers();
    test_strings();
    test_invalid();
    test_depth();
    test_duplicate_keys();
    const char *small = "{\"a\": [1, 2, {\"b\": \"c\\u00e9\"}], \"d\": \"e\", \"f\": [[], {}, [null]]}";
    test_nomem(small, strlen(small));
    /* a document big enough to need several arena blocks and node-stack growth */
    dp_buf b = {0};
    dp_buf_puts(&b, "{\"list\": [");
    for (int i = 0; i < 3000; i++) dp_buf_printf(&b, "%s{\"k%d\": \"v\\n%d\"}", i ? "," : "", i, i);
    dp_buf_puts(&b, "]}");
    CHECK(!b.oom);
    test_nomem(b.data, b.len);
    dp_buf_free(&b);
    test_tokenizer();
    return t_done("test_json");
}
