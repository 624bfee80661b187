/* json.c — strict RFC 8259 reader into one arena, and the string writer.
 *
 * The parser is iterative: open containers are frames on a fixed stack (DP_JSON_MAX_DEPTH),
 * finished children wait on a growable node stack, and when a container closes its children are
 * copied, contiguous and in file order, into the arena. Strings are validated (UTF-8, no raw
 * control characters) in one scan, then copied or unescaped into the arena. The arena is a few
 * large blocks, each at least twice the previous. */
#include <errno.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"

/* ---- arena ---- */

typedef struct ablock {
    struct ablock *next;
    size_t cap, used, pad_; /* keeps the data that follows 8-byte aligned */
} ablock;

#define ARENA_MIN ((size_t)4096)
#define ARENA_MAX_STEP ((size_t)1 << 28) /* growth stops doubling past 256 MiB */

struct dp_json_doc {
    dp_json root;
    ablock *blocks;
};

static void arena_free(ablock *b) {
    while (b) {
        ablock *next = b->next;
        dp_free(b);
        b = next;
    }
}

/* ---- parser state ---- */

typedef struct frame {
    size_t start;    /* first child on the node stack */
    const char *key; /* the container's own member name, if inside an object */
    uint32_t key_len;
    bool is_obj;
} frame;

typedef struct parser {
    const unsigned char *s;
    size_t n, pos;
    ablock *blocks;   /* current block first */
    size_t next_cap;  /* size of the next block */
    dp_json *stk;
    size_t stk_len, stk_cap;
    int depth;
    const dp_json **keys; /* scratch for the duplicate-key check */
    size_t keys_cap;
    dp_error *e;
    frame frames[DP_JSON_MAX_DEPTH];
} parser;

static dp_status perr(parser *P, dp_status st, size_t off, const char *fmt, ...) DP_PRINTF(4, 5);

static dp_status perr(parser *P, dp_status st, size_t off, const char *fmt, ...) {
    if (!P->e) return st;
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return dp_err_set(P->e, st, "invalid JSON at byte %zu: %s", off, what);
}

static dp_status nomem(parser *P) {
    return dp_err_set(P->e, DP_ERR_NOMEM, "out of memory parsing JSON (at byte %zu of %zu)",
                      P->pos, P->n);
}

static void *arena_alloc(parser *P, size_t size, size_t align) {
    ablock *b = P->blocks;
    if (b) {
        size_t off = (b->used + align - 1) & ~(align - 1);
        if (off <= b->cap && size <= b->cap - off) {
            b->used = off + size;
            return (char *)(b + 1) + off;
        }
    }
    size_t cap = P->next_cap;
    if (size > SIZE_MAX - sizeof(ablock) - align) return NULL;
    if (cap < size + align) cap = size + align;
    ablock *nb = dp_malloc(sizeof(ablock) + cap);
    if (!nb) return NULL;
    nb->next = P->blocks;
    nb->cap = cap;
    nb->used = size;
    P->blocks = nb;
    P->next_cap = cap >= ARENA_MAX_STEP ? cap : cap * 2;
    return nb + 1;
}

/* Give back the last `n` bytes of the most recent allocation. */
static void arena_shrink(parser *P, size_t n) { P->blocks->used -= n; }

static bool stack_grow(parser *P) {
    size_t cap = P->stk_cap ? P->stk_cap * 2 : 256, bytes;
    if (!dp_mul_ok(cap, sizeof(dp_json), &bytes)) return false;
    dp_json *s = dp_realloc(P->stk, bytes);
    if (!s) return false;
    P->stk = s;
    P->stk_cap = cap;
    return true;
}

static inline bool push(parser *P, const dp_json *v) {
    if (P->stk_len == P->stk_cap && !stack_grow(P)) return false;
    P->stk[P->stk_len++] = *v;
    return true;
}

/* ---- duplicate keys ----
 * Two readers of one file must not disagree, and readers differ on a repeated key (first or last
 * wins), so an object that names a key twice is a format error. Small objects compare pairwise;
 * larger ones (a vocabulary of 200 000 entries) sort pointers to their members by key:
 * O(n log n) whatever the keys (a hash set could be flooded by chosen collisions). */

static bool same_key(const dp_json *a, const dp_json *b) {
    return a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0;
}

static int cmp_key(const void *pa, const void *pb) {
    const dp_json *a = *(const dp_json *const *)pa, *b = *(const dp_json *const *)pb;
    if (a->key_len != b->key_len) return a->key_len < b->key_len ? -1 : 1;
    return memcmp(a->key, b->key, a->key_len);
}

/* A member of m[0..n) whose key another member has, or NULL (*nomem on failure). */
static const dp_json *find_dup_key(parser *P, const dp_json *m, size_t n, bool *nomem) {
    if (n <= 16) {
        for (size_t i = 1; i < n; i++)
            for (size_t j = 0; j < i; j++)
                if (same_key(&m[i], &m[j])) return &m[i];
        return NULL;
    }
    if (n > P->keys_cap) {
        size_t bytes;
        const dp_json **k = dp_mul_ok(n, sizeof *k, &bytes) ? dp_realloc(P->keys, bytes) : NULL;
        if (!k) {
            *nomem = true;
            return NULL;
        }
        P->keys = k;
        P->keys_cap = n;
    }
    for (size_t i = 0; i < n; i++) P->keys[i] = &m[i];
    qsort(P->keys, n, sizeof *P->keys, cmp_key);
    for (size_t i = 1; i < n; i++)
        if (same_key(P->keys[i - 1], P->keys[i])) return P->keys[i];
    return NULL;
}

/* ---- lexical pieces ---- */

/* 1 for bytes that end the fast scan of a string: control, '"', '\\', and non-ASCII. */
static const unsigned char STR_STOP[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

static void skip_ws(parser *P) {
    const unsigned char *s = P->s;
    size_t i = P->pos, n = P->n;
    while (i < n && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) i++;
    P->pos = i;
}

/* Length of the well-formed UTF-8 sequence at p (first byte >= 0x80), or 0. Rejects overlong
 * forms, UTF-16 surrogates and code points past U+10FFFF. */
static size_t utf8_seq(const unsigned char *p, size_t n) {
    unsigned c = p[0];
    if (c < 0xc2) return 0;
    if (c < 0xe0) return n >= 2 && (p[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c < 0xf0) {
        if (n < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80) return 0;
        if (c == 0xe0 && p[1] < 0xa0) return 0;
        if (c == 0xed && p[1] >= 0xa0) return 0;
        return 3;
    }
    if (c < 0xf5) {
        if (n < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80)
            return 0;
        if (c == 0xf0 && p[1] < 0x90) return 0;
        if (c == 0xf4 && p[1] >= 0x90) return 0;
        return 4;
    }
    return 0;
}

static int hexval(unsigned c) {
    if (c >= '0' && c <= '9') return (int)(c - '0');
    c |= 0x20;
    if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
    return -1;
}

/* 4 hex digits at s[i..i+3] (bounded by end) into *cp. */
static bool hex4(const unsigned char *s, size_t i, size_t end, unsigned *cp) {
    if (end - i < 4) return false;
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(s[i + (size_t)k]);
        if (h < 0) return false;
        v = v << 4 | (unsigned)h;
    }
    *cp = v;
    return true;
}

static const char *printable(unsigned c, char buf[8]) {
    if (c >= 0x20 && c < 0x7f) snprintf(buf, 8, "'%c'", (char)c);
    else snprintf(buf, 8, "0x%02x", c & 0xffu);
    return buf;
}

/* Unescape s[start, end) into d; *len gets the bytes written. */
static dp_status unescape(parser *P, size_t start, size_t end, char *d, size_t *len) {
    const unsigned char *s = P->s;
    char *o = d;
    size_t i = start;
    while (i < end) {
        size_t run = i;
        while (run < end && s[run] != '\\') run++;
        memcpy(o, s + i, run - i);
        o += run - i;
        if (run == end) break;
        size_t at = run; /* the backslash */
        i = run + 2;     /* past the escape letter (the scan made sure it exists) */
        unsigned c = s[at + 1];
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned cp;
            if (!hex4(s, i, end, &cp))
                return perr(P, DP_ERR_FORMAT, at, "\\u escape needs 4 hex digits");
            i += 4;
            if (cp >= 0xdc00 && cp <= 0xdfff)
                return perr(P, DP_ERR_FORMAT, at, "lone low surrogate \\u%04x", cp);
            if (cp >= 0xd800 && cp <= 0xdbff) {
                unsigned lo;
                if (end - i < 6 || s[i] != '\\' || s[i + 1] != 'u' || !hex4(s, i + 2, end, &lo) ||
                    lo < 0xdc00 || lo > 0xdfff)
                    return perr(P, DP_ERR_FORMAT, at,
                                "high surrogate \\u%04x not followed by a low surrogate", cp);
                i += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            if (cp < 0x80) {
                *o++ = (char)cp;
            } else if (cp < 0x800) {
                *o++ = (char)(0xc0 | cp >> 6);
                *o++ = (char)(0x80 | (cp & 0x3f));
            } else if (cp < 0x10000) {
                *o++ = (char)(0xe0 | cp >> 12);
                *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
                *o++ = (char)(0x80 | (cp & 0x3f));
            } else {
                *o++ = (char)(0xf0 | cp >> 18);
                *o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
                *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
                *o++ = (char)(0x80 | (cp & 0x3f));
            }
            break;
        }
        default: {
            char pb[8];
            return perr(P, DP_ERR_FORMAT, at, "invalid escape \\ followed by %s", printable(c, pb));
        }
        }
    }
    *len = (size_t)(o - d);
    return DP_OK;
}

/* String at P->pos (the opening quote) into the arena. */
static dp_status parse_string(parser *P, const char **out, uint32_t *out_len) {
    const unsigned char *s = P->s;
    size_t n = P->n, open = P->pos, start = open + 1, i = start;
    bool esc = false;
    for (;;) {
        while (i < n && !STR_STOP[s[i]]) i++;
        if (i >= n) return perr(P, DP_ERR_FORMAT, open, "unterminated string");
        unsigned c = s[i];
        if (c == '"') break;
        if (c == '\\') {
            esc = true;
            i += 2;
            continue;
        }
        if (c < 0x20)
            return perr(P, DP_ERR_FORMAT, i, "unescaped control character 0x%02x in string", c);
        size_t k = utf8_seq(s + i, n - i);
        if (!k) return perr(P, DP_ERR_FORMAT, i, "invalid UTF-8 in string");
        i += k;
    }
    size_t raw = i - start;
    if (raw > UINT32_MAX - 1)
        return perr(P, DP_ERR_LIMIT, open, "string of %zu bytes is over the 4 GiB limit", raw);
    char *d = arena_alloc(P, raw + 1, 1);
    if (!d) return nomem(P);
    size_t len = raw;
    if (!esc) {
        memcpy(d, s + start, raw);
    } else {
        dp_status st = unescape(P, start, i, d, &len);
        if (st != DP_OK) return st;
        arena_shrink(P, raw - len);
    }
    d[len] = '\0';
    *out = d;
    *out_len = (uint32_t)len;
    P->pos = i + 1;
    return DP_OK;
}

static bool is_digit(unsigned c) { return c - '0' < 10u; }

static const double POW10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

#define NUM_MAX_LEN 511

static dp_status parse_number(parser *P, double *out) {
    const unsigned char *s = P->s;
    size_t n = P->n, start = P->pos, i = start;
    bool neg = false;
    if (s[i] == '-') {
        neg = true;
        i++;
    }
    if (i >= n || !is_digit(s[i])) return perr(P, DP_ERR_FORMAT, i, "expected a digit after '-'");
    uint64_t mant = 0;
    int ndig = 0;      /* digits accumulated into mant */
    long exp10 = 0;
    bool fast = true;  /* mant holds every digit exactly */
    if (s[i] == '0') {
        i++;
        if (i < n && is_digit(s[i]))
            return perr(P, DP_ERR_FORMAT, start, "number with a leading zero");
    } else {
        for (; i < n && is_digit(s[i]); i++) {
            if (ndig < 19) mant = mant * 10 + (s[i] - '0'), ndig += mant != 0;
            else fast = false;
        }
    }
    if (i < n && s[i] == '.') {
        i++;
        if (i >= n || !is_digit(s[i]))
            return perr(P, DP_ERR_FORMAT, i, "expected a digit after the decimal point");
        for (; i < n && is_digit(s[i]); i++) {
            if (ndig < 19) mant = mant * 10 + (s[i] - '0'), ndig += mant != 0, exp10--;
            else fast = false;
        }
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        bool eneg = false;
        if (i < n && (s[i] == '+' || s[i] == '-')) eneg = s[i++] == '-';
        if (i >= n || !is_digit(s[i]))
            return perr(P, DP_ERR_FORMAT, i, "expected a digit in the exponent");
        long ex = 0;
        for (; i < n && is_digit(s[i]); i++)
            if (ex < 100000) ex = ex * 10 + (s[i] - '0');
        exp10 += eneg ? -ex : ex;
    }
    P->pos = i;
    if (fast && mant <= ((uint64_t)1 << 53) && exp10 >= -22 && exp10 <= 22) {
        /* both operands exact, one correctly rounded operation: exact result (Clinger) */
        double d = (double)mant;
        d = exp10 >= 0 ? d * POW10[exp10] : d / POW10[-exp10];
        *out = neg ? -d : d;
        return DP_OK;
    }
    if (fast && mant == 0) {
        *out = neg ? -0.0 : 0.0;
        return DP_OK;
    }
    /* slow path: strtod on a bounded copy, with '.' swapped for the locale's radix */
    size_t len = i - start;
    if (len > NUM_MAX_LEN)
        return perr(P, DP_ERR_LIMIT, start, "number of %zu characters is over the limit of %d",
                    len, NUM_MAX_LEN);
    char buf[NUM_MAX_LEN + 1];
    memcpy(buf, s + start, len);
    buf[len] = '\0';
    const struct lconv *lc = localeconv();
    char radix = lc && lc->decimal_point && lc->decimal_point[0] ? lc->decimal_point[0] : '.';
    if (radix != '.') {
        char *dot = memchr(buf, '.', len);
        if (dot) *dot = radix;
    }
    char *end;
    errno = 0;
    double d = strtod(buf, &end);
    if (end != buf + len)
        return perr(P, DP_ERR_INTERNAL, start, "number could not be converted");
    if (errno == ERANGE && (d > 1.0 || d < -1.0))
        return perr(P, DP_ERR_FORMAT, start, "number out of the range of a double");
    *out = d;
    return DP_OK;
}

/* ---- the parser proper ---- */

static dp_status parse_doc(parser *P) {
    const unsigned char *s = P->s;
    const size_t n = P->n;
    const char *key = NULL;
    uint32_t key_len = 0;
    dp_json v;
    dp_status st;

    skip_ws(P);
    if (P->pos >= n) return perr(P, DP_ERR_FORMAT, P->pos, "empty document");

value:
    skip_ws(P);
    if (P->pos >= n) return perr(P, DP_ERR_FORMAT, P->pos, "unexpected end, expected a value");
    memset(&v, 0, sizeof v);
    v.key = key;
    v.key_len = key_len;
    switch (s[P->pos]) {
    case '{':
    case '[': {
        bool is_obj = s[P->pos] == '{';
        if (P->depth >= DP_JSON_MAX_DEPTH)
            return perr(P, DP_ERR_LIMIT, P->pos, "nesting deeper than %d", DP_JSON_MAX_DEPTH);
        frame *f = &P->frames[P->depth++];
        f->start = P->stk_len;
        f->key = key;
        f->key_len = key_len;
        f->is_obj = is_obj;
        key = NULL;
        key_len = 0;
        P->pos++;
        skip_ws(P);
        if (P->pos < n && s[P->pos] == (is_obj ? '}' : ']')) {
            P->pos++;
            goto close;
        }
        if (is_obj) goto member;
        goto value;
    }
    case '"':
        v.type = DP_JSON_STRING;
        if ((st = parse_string(P, &v.u.str, &v.len)) != DP_OK) return st;
        break;
    case 't':
        if (n - P->pos < 4 || memcmp(s + P->pos, "true", 4) != 0) goto bad_literal;
        v.type = DP_JSON_TRUE;
        P->pos += 4;
        break;
    case 'f':
        if (n - P->pos < 5 || memcmp(s + P->pos, "false", 5) != 0) goto bad_literal;
        v.type = DP_JSON_FALSE;
        P->pos += 5;
        break;
    case 'n':
        if (n - P->pos < 4 || memcmp(s + P->pos, "null", 4) != 0) goto bad_literal;
        v.type = DP_JSON_NULL;
        P->pos += 4;
        break;
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        v.type = DP_JSON_NUMBER;
        if ((st = parse_number(P, &v.u.num)) != DP_OK) return st;
        break;
    default: {
        char pb[8];
        return perr(P, DP_ERR_FORMAT, P->pos, "unexpected %s, expected a value",
                    printable(s[P->pos], pb));
    }
    }
    key = NULL;
    key_len = 0;
    if (!push(P, &v)) return nomem(P);

after_value:
    if (P->depth == 0) goto done;
    skip_ws(P);
    {
        bool is_obj = P->frames[P->depth - 1].is_obj;
        if (P->pos >= n)
            return perr(P, DP_ERR_FORMAT, P->pos, "unexpected end inside %s",
                        is_obj ? "an object" : "an array");
        unsigned c = s[P->pos];
        if (c == ',') {
            P->pos++;
            if (is_obj) goto member;
            goto value;
        }
        if (c == (is_obj ? '}' : ']')) {
            P->pos++;
            goto close;
        }
        char pb[8];
        return perr(P, DP_ERR_FORMAT, P->pos, "unexpected %s, expected ',' or '%c'",
                    printable(c, pb), is_obj ? '}' : ']');
    }

member:
    skip_ws(P);
    if (P->pos >= n || s[P->pos] != '"') {
        char pb[8];
        return perr(P, DP_ERR_FORMAT, P->pos, "expected a string key, found %s",
                    P->pos >= n ? "the end" : printable(s[P->pos], pb));
    }
    if ((st = parse_string(P, &key, &key_len)) != DP_OK) return st;
    skip_ws(P);
    if (P->pos >= n || s[P->pos] != ':')
        return perr(P, DP_ERR_FORMAT, P->pos, "expected ':' after an object key");
    P->pos++;
    goto value;

close: {
    frame *f = &P->frames[--P->depth];
    size_t count = P->stk_len - f->start;
    if (count > UINT32_MAX)
        return perr(P, DP_ERR_LIMIT, P->pos, "container with %zu items is over the limit", count);
    if (f->is_obj && count > 1) {
        bool oom = false;
        const dp_json *dup = find_dup_key(P, P->stk + f->start, count, &oom);
        if (oom) return nomem(P);
        if (dup) {
            char name[64];
            return perr(P, DP_ERR_FORMAT, P->pos - 1, "object names the key \"%s\" twice",
                        dp_str_escape(name, sizeof name, dup->key, dup->key_len));
        }
    }
    memset(&v, 0, sizeof v);
    v.type = f->is_obj ? DP_JSON_OBJECT : DP_JSON_ARRAY;
    v.len = (uint32_t)count;
    v.key = f->key;
    v.key_len = f->key_len;
    if (count) {
        dp_json *items = arena_alloc(P, count * sizeof(dp_json), _Alignof(dp_json));
        if (!items) return nomem(P);
        memcpy(items, P->stk + f->start, count * sizeof(dp_json));
        v.u.items = items;
    }
    P->stk_len = f->start;
    if (!push(P, &v)) return nomem(P); /* can only fail for an empty container */
    goto after_value;
}

bad_literal:
    return perr(P, DP_ERR_FORMAT, P->pos, "invalid literal (expected true, false or null)");

done:
    skip_ws(P);
    if (P->pos < n) {
        char pb[8];
        return perr(P, DP_ERR_FORMAT, P->pos, "trailing %s after the document",
                    printable(s[P->pos], pb));
    }
    return DP_OK;
}

dp_status dp_json_parse(const char *text, size_t n, dp_json_doc **out, dp_error *e) {
    if (!text && n) return dp_err_set(e, DP_ERR_INVALID_ARG, "JSON text is NULL");
    dp_json_doc *doc = dp_malloc(sizeof *doc);
    if (!doc) return dp_err_set(e, DP_ERR_NOMEM, "out of memory parsing JSON");
    parser *P = dp_malloc(sizeof *P);
    if (!P) {
        dp_free(doc);
        return dp_err_set(e, DP_ERR_NOMEM, "out of memory parsing JSON");
    }
    memset(P, 0, offsetof(parser, frames));
    P->s = (const unsigned char *)(text ? text : "");
    P->n = n;
    P->e = e;
    /* Nodes (32 B) outnumber text bytes / 16 or so in typical files; start near the final size. */
    P->next_cap = n < ARENA_MIN ? ARENA_MIN : (n > ARENA_MAX_STEP ? ARENA_MAX_STEP : n * 2);
    dp_status st = parse_doc(P);
    if (st == DP_OK) {
        doc->root = P->stk[0];
        doc->blocks = P->blocks;
        *out = doc;
    } else {
        arena_free(P->blocks);
        dp_free(doc);
    }
    dp_free(P->stk);
    dp_free(P->keys);
    dp_free(P);
    return st;
}

const dp_json *dp_json_root(const dp_json_doc *doc) { return doc ? &doc->root : NULL; }

void dp_json_free(dp_json_doc *doc) {
    if (!doc) return;
    arena_free(doc->blocks);
    dp_free(doc);
}

/* ---- lookups ---- */

const dp_json *dp_json_get(const dp_json *obj, const char *key) {
    if (!obj || obj->type != DP_JSON_OBJECT || !key) return NULL;
    size_t kl = strlen(key);
    for (uint32_t i = 0; i < obj->len; i++) {
        const dp_json *m = &obj->u.items[i];
        if (m->key_len == kl && memcmp(m->key, key, kl) == 0) return m;
    }
    return NULL;
}

const dp_json *dp_json_at(const dp_json *arr, size_t i) {
    if (!arr || arr->type != DP_JSON_ARRAY || i >= arr->len) return NULL;
    return &arr->u.items[i];
}

bool dp_json_str(const dp_json *v, const char **s) {
    if (!v || v->type != DP_JSON_STRING) return false;
    *s = v->u.str;
    return true;
}

bool dp_json_num(const dp_json *v, double *d) {
    if (!v || v->type != DP_JSON_NUMBER) return false;
    *d = v->u.num;
    return true;
}

bool dp_json_i64(const dp_json *v, int64_t *out) {
    if (!v || v->type != DP_JSON_NUMBER) return false;
    double d = v->u.num;
    /* [-2^63, 2^63): every double in range converts without UB */
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) return false;
    int64_t i = (int64_t)d;
    if ((double)i != d) return false;
    *out = i;
    return true;
}

bool dp_json_bool(const dp_json *v, bool *b) {
    if (!v || (v->type != DP_JSON_TRUE && v->type != DP_JSON_FALSE)) return false;
    *b = v->type == DP_JSON_TRUE;
    return true;
}

/* ---- writing ---- */

void dp_json_write_str(dp_buf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    dp_buf_append(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        dp_buf_append(b, s + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t k = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            k = 6;
        }
        dp_buf_append(b, esc, k);
    }
    dp_buf_append(b, s + run, n - run);
    dp_buf_append(b, "\"", 1);
}
