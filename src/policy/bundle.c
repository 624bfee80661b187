/* bundle.c — static-mode bundles: parse, build, the signed message, key files (bundle.h). */
#include "policy/bundle.h"

#include <stdio.h>
#include <string.h>
#if !defined(__wasm__)
#include <fcntl.h>
#endif

#include "base/json.h"
#include "base/sha256.h"

static const char *const KIND_LIST[DP_BUNDLE_KINDS] = {"kernels", "models", "adapters"};
static const char *const KIND_LINE[DP_BUNDLE_KINDS] = {"kernel", "model", "adapter"};

typedef struct hash_list {
    uint8_t (*h)[32];
    size_t n, cap;
} hash_list;

struct dp_bundle {
    hash_list l[DP_BUNDLE_KINDS];
    bool signed_;
    uint8_t sig[64];
};

dp_status dp_bundle_new(dp_bundle **out, dp_error *e) {
    dp_bundle *b = dp_calloc(1, sizeof *b);
    if (!b) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    *out = b;
    return DP_OK;
}

void dp_bundle_free(dp_bundle *b) {
    if (!b) return;
    for (int k = 0; k < DP_BUNDLE_KINDS; k++) dp_free(b->l[k].h);
    dp_free(b);
}

bool dp_hex_decode(const char *s, size_t len, uint8_t *out, size_t n) {
    if (len != 2 * n) return false;
    for (size_t i = 0; i < 2 * n; i++) {
        char c = s[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0) return false;
        if (i & 1) out[i / 2] = (uint8_t)(out[i / 2] | v);
        else out[i / 2] = (uint8_t)(v << 4);
    }
    return true;
}

static void hex_put(dp_buf *b, const uint8_t *p, size_t n) {
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        char two[2] = {d[p[i] >> 4], d[p[i] & 15]};
        dp_buf_append(b, two, 2);
    }
}

/* index of the first hash >= h */
static size_t lower_bound(const hash_list *l, const uint8_t h[32]) {
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (memcmp(l->h[mid], h, 32) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

dp_status dp_bundle_add(dp_bundle *b, dp_bundle_kind kind, const uint8_t hash[32], dp_error *e) {
    hash_list *l = &b->l[kind];
    size_t at = lower_bound(l, hash);
    if (at < l->n && !memcmp(l->h[at], hash, 32)) return DP_OK;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        uint8_t (*nh)[32] = dp_realloc(l->h, cap * 32);
        if (!nh) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
        l->h = nh;
        l->cap = cap;
    }
    memmove(l->h[at + 1], l->h[at], (l->n - at) * 32);
    memcpy(l->h[at], hash, 32);
    l->n++;
    b->signed_ = false;
    return DP_OK;
}

bool dp_bundle_allows(const dp_bundle *b, dp_bundle_kind kind, const uint8_t hash[32]) {
    const hash_list *l = &b->l[kind];
    size_t at = lower_bound(l, hash);
    return at < l->n && !memcmp(l->h[at], hash, 32);
}

size_t dp_bundle_count(const dp_bundle *b, dp_bundle_kind kind) { return b->l[kind].n; }

dp_status dp_bundle_parse(const char *text, size_t n, dp_bundle **out, dp_error *e) {
    dp_json_doc *doc = NULL;
    dp_bundle *b = NULL;
    dp_status st = dp_json_parse(text, n, &doc, e);
    if (st == DP_OK) st = dp_bundle_new(&b, e);
    const dp_json *root = st == DP_OK ? dp_json_root(doc) : NULL;
    const char *fmt = NULL;
    double ver = 0;
    if (st == DP_OK && (!dp_json_is(root, DP_JSON_OBJECT) || !dp_json_str(dp_json_get(root, "format"), &fmt) ||
                        strcmp(fmt, "doppler-bundle") || !dp_json_num(dp_json_get(root, "version"), &ver) || ver != 1))
        st = dp_err_set(e, DP_ERR_FORMAT, "not a doppler bundle (format \"doppler-bundle\", version 1)");
    for (uint32_t i = 0; st == DP_OK && i < root->len; i++) {
        const dp_json *m = &root->u.items[i];
        if (!strcmp(m->key, "format") || !strcmp(m->key, "version")) continue;
        if (!strcmp(m->key, "signature")) {
            if (m->type != DP_JSON_STRING || !dp_hex_decode(m->u.str, m->len, b->sig, 64))
                st = dp_err_set(e, DP_ERR_FORMAT, "signature: not 128 lowercase hex digits");
            b->signed_ = true;
            continue;
        }
        int kind = -1;
        for (int k = 0; k < DP_BUNDLE_KINDS; k++)
            if (!strcmp(m->key, KIND_LIST[k])) kind = k;
        if (kind < 0) {
            st = dp_err_set(e, DP_ERR_FORMAT, "unknown member \"%s\"", m->key);
            break;
        }
        if (m->type != DP_JSON_ARRAY) {
            st = dp_err_set(e, DP_ERR_FORMAT, "%s: not a list", m->key);
            break;
        }
        hash_list *l = &b->l[kind];
        for (uint32_t j = 0; st == DP_OK && j < m->len; j++) {
            const dp_json *h = &m->u.items[j];
            uint8_t d[32];
            if (h->type != DP_JSON_STRING || !dp_hex_decode(h->u.str, h->len, d, 32))
                st = dp_err_set(e, DP_ERR_FORMAT, "%s[%u]: not 64 lowercase hex digits", m->key, j);
            else if (l->n && memcmp(l->h[l->n - 1], d, 32) >= 0)
                st = dp_err_set(e, DP_ERR_FORMAT, "%s[%u]: out of ascending order (or repeated)", m->key, j);
            else {
                bool was = b->signed_;
                st = dp_bundle_add(b, (dp_bundle_kind)kind, d, e);
                b->signed_ = was;
            }
        }
    }
    dp_json_free(doc);
    if (st != DP_OK) {
        dp_bundle_free(b);
        return dp_err_prefix(e, "bundle");
    }
    *out = b;
    return DP_OK;
}

void dp_bundle_message(const dp_bundle *b, dp_buf *out) {
    dp_buf_puts(out, "doppler-bundle-v1\n");
    for (int k = 0; k < DP_BUNDLE_KINDS; k++)
        for (size_t i = 0; i < b->l[k].n; i++) {
            dp_buf_printf(out, "%s ", KIND_LINE[k]);
            hex_put(out, b->l[k].h[i], 32);
            dp_buf_puts(out, "\n");
        }
}

void dp_bundle_write(const dp_bundle *b, dp_buf *out) {
    dp_buf_puts(out, "{\"format\": \"doppler-bundle\", \"version\": 1");
    for (int k = 0; k < DP_BUNDLE_KINDS; k++) {
        dp_buf_printf(out, ",\n \"%s\": [", KIND_LIST[k]);
        for (size_t i = 0; i < b->l[k].n; i++) {
            dp_buf_puts(out, i ? ",\n  \"" : "\n  \"");
            hex_put(out, b->l[k].h[i], 32);
            dp_buf_puts(out, "\"");
        }
        dp_buf_puts(out, "]");
    }
    if (b->signed_) {
        dp_buf_puts(out, ",\n \"signature\": \"");
        hex_put(out, b->sig, 64);
        dp_buf_puts(out, "\"");
    }
    dp_buf_puts(out, "}\n");
}

const uint8_t *dp_bundle_signature(const dp_bundle *b) { return b->signed_ ? b->sig : NULL; }

void dp_bundle_set_signature(dp_bundle *b, const uint8_t sig[64]) {
    memcpy(b->sig, sig, 64);
    b->signed_ = true;
}

dp_status dp_key_read(const char *path, uint8_t *out, size_t n, dp_error *e) {
    char *text = NULL;
    size_t len = 0;
    dp_status st = dp_file_read_all(path, 4096, &text, &len, e);
    if (st != DP_OK) return st;
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' ')) len--;
    if (!dp_hex_decode(text, len, out, n))
        st = dp_err_set(e, DP_ERR_FORMAT, "%s: not a key (%zu lowercase hex digits)", path, 2 * n);
    dp_free(text);
    return st;
}

dp_status dp_key_write(const char *path, const uint8_t *key, size_t n, bool secret, dp_error *e) {
    dp_buf b = {0};
    hex_put(&b, key, n);
    dp_buf_puts(&b, "\n");
    dp_status st = b.oom ? dp_err_set(e, DP_ERR_NOMEM, "out of memory") : DP_OK;
    if (st == DP_OK && secret) { /* created owner-only before any byte is written */
        FILE *f = NULL;
#if !defined(__wasm__)
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
        f = fd >= 0 ? fdopen(fd, "wb") : NULL;
#endif
        if (!f || fwrite(b.data, 1, b.len, f) != b.len) st = dp_err_set(e, DP_ERR_IO, "%s: cannot create the key file (it must not exist yet)", path);
        if (f && fclose(f) && st == DP_OK) st = dp_err_set(e, DP_ERR_IO, "%s: write failed", path);
    } else if (st == DP_OK) {
        st = dp_file_write_all(path, b.data, b.len, e);
    }
    dp_buf_free(&b);
    return st;
}
