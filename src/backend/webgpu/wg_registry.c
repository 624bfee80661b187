/* wg_registry.c — the kernel registry (wg_registry.h): built-in kernels, candidates, keys. */
#include "backend/webgpu/wg_registry.h"

#include <stdio.h>
#include <string.h>

#include "backend/webgpu/wg_kernels.h"
#include "base/json.h"
#include "base/sha256.h"

typedef struct kreg_kernel {
    char op[DP_KREG_OP];
    const char *text;
    uint32_t len;
    char *owned;          /* candidate text (copied), NULL for built-ins */
    dp_wgsl_info *info;
    dp_wgsl_info *ref;    /* the built-in kernel's declarations (what a candidate must match) */
    uint8_t sha[32];
    const char *recorded; /* built-ins: the generator's hex SHA-256 */
    char source[DP_KREG_SOURCE];
} kreg_kernel;

struct dp_kreg {
    kreg_kernel *k;
    int n_k;
    dp_kentry *entries;
    int n_entries;
};

static void put_u32(dp_sha256_ctx *s, size_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    dp_sha256_update(s, b, 4);
}

void dp_kernel_key(const char *text, size_t len, const char *entry, const char *constants,
                   uint8_t out[32]) {
    dp_sha256_ctx s;
    dp_sha256_init(&s);
    dp_sha256_update(&s, "DPK1", 4);
    put_u32(&s, len);
    dp_sha256_update(&s, text, len);
    put_u32(&s, strlen(entry));
    dp_sha256_update(&s, entry, strlen(entry));
    put_u32(&s, strlen(constants));
    dp_sha256_update(&s, constants, strlen(constants));
    dp_sha256_final(&s, out);
}

static void kernel_clear(kreg_kernel *k) {
    dp_free(k->owned);
    dp_free(k->info);
    dp_free(k->ref);
    memset(k, 0, sizeof *k);
}

/* scans text into k (text borrowed; k->owned set by the caller when it owns it) */
static dp_status kernel_init(kreg_kernel *k, const char *op, const char *text, size_t len,
                             const char *source, dp_error *e) {
    memset(k, 0, sizeof *k);
    if (strlen(op) >= sizeof k->op) return dp_err_set(e, DP_ERR_LIMIT, "kernel op name too long");
    if (len > 0xffffffffu) return dp_err_set(e, DP_ERR_LIMIT, "kernel %s: text too long", op);
    k->info = dp_malloc(sizeof *k->info);
    if (!k->info) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    dp_status st = dp_wgsl_scan(text, len, k->info, e);
    if (st != DP_OK) {
        dp_free(k->info);
        k->info = NULL;
        return st;
    }
    strcpy(k->op, op);
    snprintf(k->source, sizeof k->source, "%s", source);
    k->text = text;
    k->len = (uint32_t)len;
    dp_sha256(text, len, k->sha);
    return DP_OK;
}

/* entries = every entry point of every kernel, in kernel order */
static dp_status rebuild(dp_kreg *r, dp_error *e) {
    int n = 0;
    for (int i = 0; i < r->n_k; i++) n += r->k[i].info->n_entries;
    dp_kentry *es = dp_calloc((size_t)n, sizeof *es);
    if (!es) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    int j = 0;
    for (int i = 0; i < r->n_k; i++) {
        const kreg_kernel *k = &r->k[i];
        for (int x = 0; x < k->info->n_entries; x++, j++) {
            dp_kentry *en = &es[j];
            strcpy(en->op, k->op);
            strcpy(en->entry, k->info->entries[x]);
            en->constants[0] = '\0';
            dp_kernel_key(k->text, k->len, en->entry, en->constants, en->key);
            memcpy(en->text_sha256, k->sha, 32);
            en->text = k->text;
            en->len = k->len;
            en->info = k->info;
            strcpy(en->source, k->source);
            en->builtin = k->owned == NULL;
        }
    }
    dp_free(r->entries);
    r->entries = es;
    r->n_entries = n;
    return DP_OK;
}

dp_status dp_kreg_new(dp_kreg **out, dp_error *e) {
    dp_kreg *r = dp_calloc(1, sizeof *r);
    if (!r) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    r->k = dp_calloc((size_t)(dp_wgsl_n_files ? dp_wgsl_n_files : 1), sizeof *r->k);
    if (!r->k) {
        dp_free(r);
        return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    }
    dp_status st = DP_OK;
    for (int i = 0; i < dp_wgsl_n_files && st == DP_OK; i++) {
        const dp_wgsl_file *f = &dp_wgsl_files[i];
        st = kernel_init(&r->k[i], f->name, f->text, f->len, "builtin", e);
        if (st != DP_OK) {
            dp_err_prefix(e, "built-in kernel %s", f->name);
            break;
        }
        r->k[i].recorded = f->sha256;
        r->n_k++;
        r->k[i].ref = dp_malloc(sizeof *r->k[i].ref);
        if (!r->k[i].ref) {
            st = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
            break;
        }
        memcpy(r->k[i].ref, r->k[i].info, sizeof *r->k[i].ref);
    }
    if (st == DP_OK) st = rebuild(r, e);
    if (st != DP_OK) {
        dp_kreg_free(r);
        return st;
    }
    *out = r;
    return DP_OK;
}

void dp_kreg_free(dp_kreg *r) {
    if (!r) return;
    for (int i = 0; i < r->n_k; i++) kernel_clear(&r->k[i]);
    dp_free(r->k);
    dp_free(r->entries);
    dp_free(r);
}

int dp_kreg_count(const dp_kreg *r) { return r ? r->n_entries : 0; }

const dp_kentry *dp_kreg_at(const dp_kreg *r, int i) {
    return r && i >= 0 && i < r->n_entries ? &r->entries[i] : NULL;
}

const dp_kentry *dp_kreg_find(const dp_kreg *r, const char *op, const char *entry) {
    for (int i = 0; r && i < r->n_entries; i++)
        if (!strcmp(r->entries[i].op, op) && !strcmp(r->entries[i].entry, entry)) return &r->entries[i];
    return NULL;
}

const dp_kentry *dp_kreg_find_key(const dp_kreg *r, const char *prefix) {
    if (!strncmp(prefix, "sha256:", 7)) prefix += 7;
    size_t n = strlen(prefix);
    if (n < 8 || n > 64) return NULL;
    for (size_t i = 0; i < n; i++) {
        char c = prefix[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return NULL;
    }
    const dp_kentry *hit = NULL;
    for (int i = 0; r && i < r->n_entries; i++) {
        char hex[65];
        dp_sha256_hex(r->entries[i].key, hex);
        if (!strncmp(hex, prefix, n)) {
            if (hit) return NULL;
            hit = &r->entries[i];
        }
    }
    return hit;
}

/* r->k[at] becomes *k (which keeps the built-in declarations); on failure (out of memory) *k
 * is freed and the registry is unchanged */
static dp_status swap_kernel(dp_kreg *r, int at, kreg_kernel *k, dp_error *e) {
    k->ref = r->k[at].ref;
    kreg_kernel old = r->k[at];
    r->k[at] = *k;
    dp_status st = rebuild(r, e);
    if (st != DP_OK) {
        r->k[at] = old;
        k->ref = NULL;
        kernel_clear(k);
        return st;
    }
    old.ref = NULL;
    kernel_clear(&old);
    return DP_OK;
}

/* what the backend relies on: every entry point, override constant and binding of ref */
static dp_status compatible(const dp_wgsl_info *ref, const dp_wgsl_info *c, const char *op,
                            dp_error *e) {
    for (int i = 0; i < ref->n_entries; i++)
        if (!dp_wgsl_has(c, 'e', ref->entries[i]))
            return dp_err_set(e, DP_ERR_UNSUPPORTED, "kernel %s: no entry point %s (the built-in kernel has it)",
                              op, ref->entries[i]);
    for (int i = 0; i < ref->n_overrides; i++)
        if (!dp_wgsl_has(c, 'o', ref->overrides[i]))
            return dp_err_set(e, DP_ERR_UNSUPPORTED,
                              "kernel %s: no override constant %s (the backend sets it)", op,
                              ref->overrides[i]);
    /* the binding layouts must be the same sets */
    for (int pass = 0; pass < 2; pass++) {
        const dp_wgsl_info *a = pass ? c : ref, *b = pass ? ref : c;
        for (int i = 0; i < a->n_bindings; i++) {
            bool found = false;
            for (int j = 0; j < b->n_bindings && !found; j++)
                found = a->bindings[i].group == b->bindings[j].group &&
                        a->bindings[i].binding == b->bindings[j].binding &&
                        a->bindings[i].kind == b->bindings[j].kind;
            if (!found)
                return dp_err_set(e, DP_ERR_UNSUPPORTED,
                                  "kernel %s: binding layout differs from the built-in kernel: "
                                  "@group(%u) @binding(%u) %s %s",
                                  op, a->bindings[i].group, a->bindings[i].binding,
                                  dp_wgsl_kind_str(a->bindings[i].kind),
                                  pass ? "is not in the built-in kernel" : "is missing");
        }
    }
    return DP_OK;
}

dp_status dp_kreg_override(dp_kreg *r, const char *op, const char *text, size_t len,
                           const char *source, dp_error *e) {
    int at = -1;
    for (int i = 0; i < r->n_k; i++)
        if (!strcmp(r->k[i].op, op)) at = i;
    if (at < 0) {
        char esc[80];
        return dp_err_set(e, DP_ERR_NOT_FOUND, "no kernel '%s' to override (`doppler kernels list`)",
                          dp_str_escape(esc, sizeof esc, op, strlen(op)));
    }
    char *copy = dp_strndup(text, len);
    if (!copy) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    kreg_kernel k;
    dp_status st = kernel_init(&k, op, copy, len, source, e);
    if (st == DP_OK) st = compatible(r->k[at].ref, k.info, op, e);
    else dp_err_prefix(e, "kernel %s", op);
    if (st != DP_OK) {
        dp_free(k.info);
        dp_free(copy);
        return st;
    }
    k.owned = copy;
    return swap_kernel(r, at, &k, e);
}

dp_status dp_kreg_verify(const dp_kreg *r, int *n_texts, dp_error *e) {
    int n = 0;
    for (int i = 0; i < r->n_k; i++) {
        const kreg_kernel *k = &r->k[i];
        uint8_t d[32];
        char hex[65];
        dp_sha256(k->text, k->len, d);
        dp_sha256_hex(d, hex);
        if (k->recorded && strcmp(hex, k->recorded))
            return dp_err_set(e, DP_ERR_HASH, "kernel %s: text hashes to %s, embedded as %s", k->op,
                              hex, k->recorded);
        if (memcmp(d, k->sha, 32))
            return dp_err_set(e, DP_ERR_HASH, "kernel %s: text changed since it was registered", k->op);
        n++;
    }
    for (int i = 0; i < r->n_entries; i++) {
        const dp_kentry *en = &r->entries[i];
        uint8_t key[32];
        dp_kernel_key(en->text, en->len, en->entry, en->constants, key);
        if (memcmp(key, en->key, 32))
            return dp_err_set(e, DP_ERR_HASH, "kernel %s:%s: key does not match its text", en->op, en->entry);
    }
    if (n_texts) *n_texts = n;
    return DP_OK;
}

dp_status dp_kreg_override_spec(dp_kreg *r, const char *spec, dp_error *e) {
    const char *eq = strchr(spec, '=');
    char op[DP_KREG_OP];
    if (!eq || eq == spec || !eq[1] || (size_t)(eq - spec) >= sizeof op)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "--kernel needs op=file.wgsl");
    memcpy(op, spec, (size_t)(eq - spec));
    op[eq - spec] = '\0';
    char *text = NULL;
    size_t n = 0;
    dp_status st = dp_file_read_all(eq + 1, 1u << 20, &text, &n, e);
    if (st == DP_OK) st = dp_kreg_override(r, op, text, n, eq + 1, e);
    dp_free(text);
    return st;
}

dp_status dp_kreg_apply_file(dp_kreg *r, const char *path,
                             void (*refused)(void *ud, const char *op, const dp_error *why),
                             void *ud, dp_error *e) {
    char *text = NULL;
    size_t n = 0;
    dp_json_doc *doc = NULL;
    dp_status st = dp_file_read_all(path, 1u << 20, &text, &n, e);
    if (st == DP_OK) st = dp_json_parse(text, n, &doc, e);
    const dp_json *ks = st == DP_OK ? dp_json_get(dp_json_root(doc), "kernels") : NULL;
    if (st == DP_OK && !dp_json_is(ks, DP_JSON_OBJECT))
        st = dp_err_set(e, DP_ERR_FORMAT, "no \"kernels\" object");
    for (uint32_t i = 0; st == DP_OK && i < ks->len; i++) {
        const char *file = NULL;
        if (!dp_json_str(&ks->u.items[i], &file))
            st = dp_err_set(e, DP_ERR_FORMAT, "kernels.%s is not a file name", ks->u.items[i].key);
    }
    if (st != DP_OK) {
        dp_err_prefix(e, "%s", path);
        dp_json_free(doc);
        dp_free(text);
        return st;
    }
    /* paths relative to the registry file's folder */
    const char *slash = strrchr(path, '/');
    size_t dir = slash ? (size_t)(slash - path) : 0;
    for (uint32_t i = 0; i < ks->len; i++) {
        const dp_json *it = &ks->u.items[i];
        dp_buf spec = {0};
        dp_buf_printf(&spec, "%s=", it->key);
        if (it->u.str[0] != '/' && dir) {
            dp_buf_append(&spec, path, dir);
            dp_buf_puts(&spec, "/");
        }
        dp_buf_puts(&spec, it->u.str);
        dp_error why = {0};
        if (spec.oom) dp_err_set(&why, DP_ERR_NOMEM, "out of memory");
        else dp_kreg_override_spec(r, spec.data, &why);
        if (why.status != DP_OK && refused) refused(ud, it->key, &why);
        dp_buf_free(&spec);
    }
    dp_json_free(doc);
    dp_free(text);
    return DP_OK;
}

dp_status dp_kreg_revert(dp_kreg *r, const char *op, dp_error *e) {
    for (int i = 0; i < r->n_k; i++) {
        if (strcmp(r->k[i].op, op) || !r->k[i].owned) continue;
        for (int f = 0; f < dp_wgsl_n_files; f++) {
            if (strcmp(dp_wgsl_files[f].name, op)) continue;
            kreg_kernel k;
            dp_status st = kernel_init(&k, op, dp_wgsl_files[f].text, dp_wgsl_files[f].len, "builtin", e);
            if (st != DP_OK) return st;
            k.recorded = dp_wgsl_files[f].sha256;
            return swap_kernel(r, i, &k, e);
        }
    }
    return DP_OK;
}
