/* json.h — a strict RFC 8259 JSON reader (DOM into one arena) and helpers for writing JSON.
 *
 * Parsing is one pass, no recursion deeper than DP_JSON_MAX_DEPTH, strings unescaped (with
 * \uXXXX surrogate pairs to UTF-8; lone surrogates are rejected) and validated as UTF-8. An
 * object that names a key twice is DP_ERR_FORMAT (readers differ on which one wins).
 * Fast enough for a 17 MB tokenizer.json in well under a second. */
#ifndef DP_JSON_H
#define DP_JSON_H

#include "base/base.h"

#define DP_JSON_MAX_DEPTH 256

typedef enum dp_json_type {
    DP_JSON_NULL, DP_JSON_FALSE, DP_JSON_TRUE, DP_JSON_NUMBER,
    DP_JSON_STRING, DP_JSON_ARRAY, DP_JSON_OBJECT
} dp_json_type;

typedef struct dp_json dp_json;
struct dp_json {
    dp_json_type type;
    uint32_t len;        /* STRING: bytes (excl. NUL); ARRAY/OBJECT: number of items */
    const char *key;     /* member name when inside an object, else NULL */
    uint32_t key_len;
    union {
        double num;          /* NUMBER */
        const char *str;     /* STRING: NUL-terminated (may also contain NUL; use len) */
        dp_json *items;      /* ARRAY/OBJECT: len consecutive children */
    } u;
};

typedef struct dp_json_doc dp_json_doc;

dp_status dp_json_parse(const char *text, size_t n, dp_json_doc **out, dp_error *e);
const dp_json *dp_json_root(const dp_json_doc *doc);
void dp_json_free(dp_json_doc *doc);

/* Lookups return NULL when v is NULL, of the wrong type, or the key/index is absent.
 * dp_json_get is a linear scan; objects used as big maps should be walked. (Keys are unique:
 * the parser refuses an object that names a key twice.) */
const dp_json *dp_json_get(const dp_json *obj, const char *key);
const dp_json *dp_json_at(const dp_json *arr, size_t i);
/* Typed accessors: return false when v is missing or of another type (or, for ints, not an
 * exact integer inside the range). */
bool dp_json_str(const dp_json *v, const char **s);
bool dp_json_num(const dp_json *v, double *d);
bool dp_json_i64(const dp_json *v, int64_t *out);
bool dp_json_bool(const dp_json *v, bool *b);
static inline bool dp_json_is(const dp_json *v, dp_json_type t) { return v && v->type == t; }

/* Writing: append a JSON string literal (quoted, escaped) to b. */
void dp_json_write_str(dp_buf *b, const char *s, size_t n);

#endif /* DP_JSON_H */
