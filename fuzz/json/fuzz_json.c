/* fuzz_json.c — src/base/json.h: dp_json_parse on arbitrary bytes, then every accessor over the
 * whole tree, and a round trip of each string through dp_json_write_str (which must parse back
 * to the same bytes). */
#include "fuzz_common.h"

#include "base/json.h"

static void check_string_round_trip(const char *s, size_t n) {
    dp_buf b = {0};
    dp_json_write_str(&b, s, n);
    dp_json_doc *doc = fz_json_written(&b, "fuzz_json");
    if (!doc) return;
    const dp_json *r = dp_json_root(doc);
    if (r->type != DP_JSON_STRING || r->len != n || memcmp(r->u.str, s, n) != 0) {
        fprintf(stderr, "fuzz_json: string changed in a write/parse round trip\n");
        abort();
    }
    dp_json_free(doc);
}

static void walk(const dp_json *v, int depth) {
    if (depth > DP_JSON_MAX_DEPTH + 1) abort();
    double d;
    int64_t i64;
    bool b;
    const char *s;
    fz_sink((uint32_t)dp_json_num(v, &d) + (uint32_t)dp_json_i64(v, &i64) + (uint32_t)dp_json_bool(v, &b));
    if (v->key) fz_sink(fz_touch(v->key, (size_t)v->key_len + 1));
    switch (v->type) {
    case DP_JSON_STRING:
        if (!dp_json_str(v, &s) || s[v->len] != 0) abort();
        fz_sink(fz_touch(s, (size_t)v->len + 1));
        check_string_round_trip(s, v->len);
        break;
    case DP_JSON_ARRAY:
        for (uint32_t i = 0; i < v->len; i++) {
            const dp_json *c = dp_json_at(v, i);
            if (c != &v->u.items[i] || c->key) abort();
            walk(c, depth + 1);
        }
        if (dp_json_at(v, v->len)) abort();
        break;
    case DP_JSON_OBJECT:
        for (uint32_t i = 0; i < v->len; i++) {
            const dp_json *c = &v->u.items[i];
            if (!c->key) abort();
            /* keys are unique (a duplicate is a format error): a lookup by a key with no NUL
             * finds this very member, and no earlier member has the same bytes */
            if (!memchr(c->key, 0, c->key_len) && dp_json_get(v, c->key) != c) abort();
            for (uint32_t j = 0; j < i && v->len <= 256; j++)
                if (v->u.items[j].key_len == c->key_len && !memcmp(v->u.items[j].key, c->key, c->key_len))
                    abort();
            walk(c, depth + 1);
        }
        break;
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_begin(size);
    dp_json_doc *doc = NULL;
    dp_error e = {0};
    /* the parser is given exactly the input's bytes, not a NUL-terminated copy */
    char *text = malloc(size ? size : 1);
    if (!text) abort();
    if (size) memcpy(text, data, size);
    dp_status st = dp_json_parse(text, size, &doc, &e);
    if (st == DP_OK) {
        walk(dp_json_root(doc), 0);
        dp_json_free(doc);
    } else if (!e.msg[0] || e.status != st) {
        abort(); /* every failure says why */
    }
    free(text);
    fz_end();
    return 0;
}
