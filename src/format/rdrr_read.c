/* rdrr_read.c — RDRR v1 reader: manifest validation and verified shard access (rdrr.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sha256.h"
#include "format/rdrr.h"


typedef struct r_shard {
    char hex[65];
    uint8_t digest[32];
    uint64_t size;
    bool verified;
} r_shard;

typedef struct r_file {
    const char *name; /* in the manifest's JSON */
    r_shard h;        /* hex and digest */
} r_file;

struct dp_rdrr {
    char *dir;
    r_file *files;    /* "tokenizer": {"hashes": {...}} */
    uint32_t n_files;
    bool has_hashes;
    dp_json_doc *doc;
    const dp_json *model, *tokenizer;
    char id[65];
    r_shard *shards;
    uint32_t n_shards;
    dp_rdrr_tensor *tensors;
    size_t n_tensors;
    dp_rdrr_span *spans;
    const dp_rdrr_tensor **by_name;
    /* the most recently verified shard, in memory */
    uint8_t *cache;
    size_t cache_cap;
    int64_t cache_shard; /* -1: none */
    /* where shards come from: the directory's shards/ (owned) or the caller's */
    dp_shard_source src;
    bool own_src;
    /* shards mapped for tensors that use their bytes in place (dp_rdrr_map_tensor) */
    dp_reader *maps;     /* [n_shards], ctx NULL when not open */
    uint8_t **map_base;  /* [n_shards] */
};

/* ---- manifest validation ---- */

static bool r_hex_digit(char c, uint8_t *v) {
    if (c >= '0' && c <= '9') { *v = (uint8_t)(c - '0'); return true; }
    if (c >= 'a' && c <= 'f') { *v = (uint8_t)(c - 'a' + 10); return true; }
    return false;
}

/* "sha256:" + 64 lowercase hex digits. */
static bool r_parse_hash(const dp_json *v, r_shard *sh) {
    if (!dp_json_is(v, DP_JSON_STRING) || v->len != 7 + 64 || memcmp(v->u.str, "sha256:", 7) != 0)
        return false;
    const char *h = v->u.str + 7;
    for (int i = 0; i < 32; i++) {
        uint8_t hi, lo;
        if (!r_hex_digit(h[2 * i], &hi) || !r_hex_digit(h[2 * i + 1], &lo)) return false;
        sh->digest[i] = (uint8_t)(hi << 4 | lo);
    }
    memcpy(sh->hex, h, 64);
    sh->hex[64] = 0;
    return true;
}

/* An integer member in [lo, hi]. */
static bool r_int(const dp_json *obj, const char *key, int64_t lo, int64_t hi, int64_t *out) {
    int64_t v;
    if (!dp_json_i64(dp_json_get(obj, key), &v) || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static int r_cmp_name(const void *a, const void *b) {
    return strcmp((*(const dp_rdrr_tensor *const *)a)->name,
                  (*(const dp_rdrr_tensor *const *)b)->name);
}

#define R_BAD(...) dp_err_set(e, DP_ERR_FORMAT, "manifest: " __VA_ARGS__)

static dp_status r_parse_shards(dp_rdrr *m, const dp_json *arr, dp_error *e) {
    if (!dp_json_is(arr, DP_JSON_ARRAY)) return R_BAD("\"shards\" is not an array");
    if (arr->len > DP_RDRR_MAX_SHARDS)
        return dp_err_set(e, DP_ERR_LIMIT, "manifest: %u shards (max %u)", arr->len,
                          DP_RDRR_MAX_SHARDS);
    m->shards = dp_calloc(arr->len ? arr->len : 1, sizeof *m->shards);
    if (!m->shards) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    for (uint32_t i = 0; i < arr->len; i++) {
        const dp_json *s = &arr->u.items[i];
        int64_t size;
        if (!dp_json_is(s, DP_JSON_OBJECT) || !r_parse_hash(dp_json_get(s, "hash"), &m->shards[i]))
            return R_BAD("shard %u: \"hash\" is not \"sha256:<64 lowercase hex>\"", i);
        if (!r_int(s, "size", 1, DP_RDRR_MAX_SHARD, &size))
            return R_BAD("shard %u: \"size\" is not an integer in [1, %u]", i, DP_RDRR_MAX_SHARD);
        m->shards[i].size = (uint64_t)size;
    }
    m->n_shards = arr->len;
    return DP_OK;
}

/* "tokenizer": {"hashes": {"<file name>": "sha256:<hex>", ...}} (optional; older manifests have
 * none). Names are plain file names beside the manifest: no '/', NUL, "." or "..". */
static dp_status r_parse_files(dp_rdrr *m, dp_error *e) {
    const dp_json *h = dp_json_get(m->tokenizer, "hashes");
    if (!h) return DP_OK;
    if (!dp_json_is(h, DP_JSON_OBJECT)) return R_BAD("tokenizer \"hashes\" is not an object");
    if (h->len > DP_RDRR_MAX_FILES)
        return dp_err_set(e, DP_ERR_LIMIT, "manifest: %u tokenizer files (max %u)", h->len, DP_RDRR_MAX_FILES);
    m->files = dp_calloc(h->len ? h->len : 1, sizeof *m->files);
    if (!m->files) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    for (uint32_t i = 0; i < h->len; i++) {
        const dp_json *f = &h->u.items[i];
        const char *name = f->key;
        if (f->key_len == 0 || f->key_len > 255 || strlen(name) != f->key_len || strchr(name, '/') ||
            !strcmp(name, ".") || !strcmp(name, ".."))
            return R_BAD("tokenizer file %u: \"%s\" is not a plain file name", i, name);
        if (!r_parse_hash(f, &m->files[i].h))
            return R_BAD("tokenizer file %s: hash is not \"sha256:<64 lowercase hex>\"", name);
        m->files[i].name = name;
    }
    m->n_files = h->len;
    m->has_hashes = true;
    return DP_OK;
}

static dp_status r_parse_tensor(dp_rdrr *m, const dp_json *v, dp_rdrr_tensor *t, dp_rdrr_span *sp,
                                dp_error *e) {
    const char *name = v->key;
    if (v->key_len == 0 || v->key_len > DP_RDRR_MAX_NAME || memchr(name, 0, v->key_len))
        return R_BAD("tensor name of %u bytes (1..%u, no NUL)", v->key_len, DP_RDRR_MAX_NAME);
    t->name = name;
    if (!dp_json_is(v, DP_JSON_OBJECT)) return R_BAD("tensor '%s' is not an object", name);
    const char *s;
    if (!dp_json_str(dp_json_get(v, "dtype"), &s) || !dp_dtype_parse(s, &t->dtype))
        return R_BAD("tensor '%s': unknown dtype", name);
    const dp_json *shape = dp_json_get(v, "shape");
    int64_t d0, d1 = 1;
    const int64_t dmax = (int64_t)1 << 53;
    if (!dp_json_is(shape, DP_JSON_ARRAY) || shape->len < 1 || shape->len > 2 ||
        !dp_json_i64(dp_json_at(shape, 0), &d0) || d0 < 0 || d0 > dmax ||
        (shape->len == 2 && (!dp_json_i64(dp_json_at(shape, 1), &d1) || d1 < 0 || d1 > dmax)))
        return R_BAD("tensor '%s': \"shape\" is not [rows, row_len] or [n]", name);
    if (shape->len == 2) { t->ne[0] = (uint64_t)d1; t->ne[1] = (uint64_t)d0; }
    else { t->ne[0] = (uint64_t)d0; t->ne[1] = 1; }
    uint64_t row_bytes;
    if (!dp_dtype_row_bytes(t->dtype, t->ne[0], &row_bytes))
        return R_BAD("tensor '%s': row of %" PRIu64 " values is not a whole number of %s blocks",
                     name, t->ne[0], dp_dtype_name(t->dtype));
    if (!dp_mul_u64(row_bytes, t->ne[1], &t->size))
        return R_BAD("tensor '%s': size overflows", name);
    if (!dp_json_str(dp_json_get(v, "role"), &t->role))
        return R_BAD("tensor '%s': \"role\" is not a string", name);
    int64_t layer, expert = -1;
    if (!r_int(v, "layer", -1, DP_RDRR_MAX_LAYER, &layer))
        return R_BAD("tensor '%s': \"layer\" is not an integer in [-1, %d]", name,
                     DP_RDRR_MAX_LAYER);
    if (dp_json_get(v, "expert") && !r_int(v, "expert", -1, DP_RDRR_MAX_EXPERT, &expert))
        return R_BAD("tensor '%s': \"expert\" is not an integer in [-1, %d]", name,
                     DP_RDRR_MAX_EXPERT);
    t->layer = (int)layer;
    t->expert = (int)expert;

    const dp_json *spans = dp_json_get(v, "spans");
    if (!dp_json_is(spans, DP_JSON_ARRAY)) return R_BAD("tensor '%s': no \"spans\" array", name);
    uint64_t covered = 0;
    for (uint32_t i = 0; i < spans->len; i++) {
        const dp_json *j = &spans->u.items[i];
        int64_t shard, off, size;
        if (!dp_json_is(j, DP_JSON_OBJECT) || !r_int(j, "shard", 0, (int64_t)m->n_shards - 1, &shard))
            return R_BAD("tensor '%s': span %u names no valid shard", name, i);
        uint64_t shard_size = m->shards[shard].size;
        if (!r_int(j, "offset", 0, (int64_t)shard_size, &off) ||
            !r_int(j, "size", 1, (int64_t)shard_size, &size) ||
            (uint64_t)size > shard_size - (uint64_t)off)
            return R_BAD("tensor '%s': span %u is not inside shard %" PRId64 " (%" PRIu64
                         " bytes)", name, i, shard, shard_size);
        if ((uint64_t)off % DP_RDRR_ALIGN != 0)
            return R_BAD("tensor '%s': span %u offset %" PRId64 " is not %u-byte aligned", name, i,
                         off, DP_RDRR_ALIGN);
        if (row_bytes == 0 || (uint64_t)size % row_bytes != 0)
            return R_BAD("tensor '%s': span %u is not a whole number of rows", name, i);
        if ((uint64_t)size > t->size - covered)
            return R_BAD("tensor '%s': spans hold more than its %" PRIu64 " bytes", name, t->size);
        covered += (uint64_t)size;
        sp[i].shard = (uint32_t)shard;
        sp[i].offset = (uint64_t)off;
        sp[i].size = (uint64_t)size;
    }
    if (covered != t->size)
        return R_BAD("tensor '%s': spans hold %" PRIu64 " of its %" PRIu64 " bytes", name, covered,
                     t->size);
    t->spans = sp;
    t->n_spans = spans->len;
    return DP_OK;
}

static dp_status r_parse_tensors(dp_rdrr *m, const dp_json *obj, dp_error *e) {
    if (!dp_json_is(obj, DP_JSON_OBJECT)) return R_BAD("\"tensors\" is not an object");
    if (obj->len > DP_RDRR_MAX_TENSORS)
        return dp_err_set(e, DP_ERR_LIMIT, "manifest: %u tensors (max %u)", obj->len,
                          DP_RDRR_MAX_TENSORS);
    size_t n_spans = 0;
    for (uint32_t i = 0; i < obj->len; i++) {
        const dp_json *sp = dp_json_get(&obj->u.items[i], "spans");
        if (dp_json_is(sp, DP_JSON_ARRAY)) n_spans += sp->len; /* each is a parsed node */
    }
    size_t n = obj->len ? obj->len : 1;
    m->tensors = dp_calloc(n, sizeof *m->tensors);
    m->by_name = dp_calloc(n, sizeof *m->by_name);
    m->spans = dp_calloc(n_spans ? n_spans : 1, sizeof *m->spans);
    if (!m->tensors || !m->by_name || !m->spans) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    size_t used = 0;
    for (uint32_t i = 0; i < obj->len; i++) {
        dp_status s = r_parse_tensor(m, &obj->u.items[i], &m->tensors[i], m->spans + used, e);
        if (s) return s;
        used += m->tensors[i].n_spans;
        m->by_name[i] = &m->tensors[i];
    }
    m->n_tensors = obj->len;
    qsort(m->by_name, m->n_tensors, sizeof *m->by_name, r_cmp_name);
    for (size_t i = 1; i < m->n_tensors; i++)
        if (strcmp(m->by_name[i]->name, m->by_name[i - 1]->name) == 0)
            return R_BAD("tensor '%s' appears twice", m->by_name[i]->name);
    return DP_OK;
}

static dp_status r_parse(dp_rdrr *m, const char *text, size_t n, dp_error *e) {
    uint8_t digest[32];
    dp_sha256(text, n, digest);
    dp_sha256_hex(digest, m->id);
    dp_status s = dp_json_parse(text, n, &m->doc, e);
    if (s) { dp_err_prefix(e, "manifest"); return s; }
    const dp_json *root = dp_json_root(m->doc);
    if (!dp_json_is(root, DP_JSON_OBJECT)) return R_BAD("not a JSON object");
    const char *fmt;
    if (!dp_json_str(dp_json_get(root, "format"), &fmt) || strcmp(fmt, "rdrr") != 0)
        return R_BAD("\"format\" is not \"rdrr\"");
    int64_t version;
    if (!dp_json_i64(dp_json_get(root, "version"), &version))
        return R_BAD("no integer \"version\"");
    if (version != 1)
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "manifest: RDRR version %" PRId64 " (this build "
                          "reads version 1)", version);
    m->model = dp_json_get(root, "model");
    if (!dp_json_is(m->model, DP_JSON_OBJECT)) return R_BAD("\"model\" is not an object");
    m->tokenizer = dp_json_get(root, "tokenizer");
    if (dp_json_is(m->tokenizer, DP_JSON_NULL)) m->tokenizer = NULL;
    if (m->tokenizer && !dp_json_is(m->tokenizer, DP_JSON_OBJECT))
        return R_BAD("\"tokenizer\" is not an object");
    if ((s = r_parse_files(m, e))) return s;
    if ((s = r_parse_shards(m, dp_json_get(root, "shards"), e))) return s;
    return r_parse_tensors(m, dp_json_get(root, "tensors"), e);
}

dp_status dp_rdrr_parse_manifest(const char *text, size_t n, dp_rdrr **out, dp_error *e) {
    if (!text || !out) return dp_err_set(e, DP_ERR_INVALID_ARG, "dp_rdrr_parse_manifest: NULL argument");
    if (n > DP_RDRR_MAX_MANIFEST)
        return dp_err_set(e, DP_ERR_LIMIT, "manifest of %zu bytes (max %u)", n, DP_RDRR_MAX_MANIFEST);
    dp_rdrr *m = dp_calloc(1, sizeof *m);
    if (!m) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    m->cache_shard = -1;
    dp_status s = r_parse(m, text, n, e);
    if (s) {
        dp_rdrr_free(m);
        return s;
    }
    *out = m;
    return DP_OK;
}

dp_status dp_rdrr_open(const char *dir, dp_rdrr **out, dp_error *e) {
    if (!dir || !out) return dp_err_set(e, DP_ERR_INVALID_ARG, "dp_rdrr_open: NULL argument");
    char *path = dp_path_join(dir, "manifest.json");
    if (!path) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    char *text = NULL;
    size_t n = 0;
    dp_status s = dp_file_read_all(path, DP_RDRR_MAX_MANIFEST, &text, &n, e);
    dp_free(path);
    if (s) return s;
    dp_rdrr *m = NULL;
    s = dp_rdrr_parse_manifest(text, n, &m, e);
    dp_free(text);
    if (s) { dp_err_prefix(e, "%s", dir); return s; }
    m->dir = dp_strdup(dir);
    if (!m->dir) {
        dp_rdrr_free(m);
        return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    }
    if ((s = dp_shard_source_dir(dir, &m->src, e))) {
        dp_rdrr_free(m);
        return s;
    }
    m->own_src = true;
    *out = m;
    return DP_OK;
}

void dp_rdrr_set_source(dp_rdrr *m, const dp_shard_source *src) {
    if (!m || !src) return;
    if (m->own_src) dp_shard_source_dir_free(&m->src);
    m->src = *src;
    m->own_src = false;
}

static void r_unmap_all(dp_rdrr *m) {
    for (uint32_t i = 0; m->maps && i < m->n_shards; i++) dp_reader_close(&m->maps[i]);
    dp_free(m->maps);
    dp_free(m->map_base);
    m->maps = NULL;
    m->map_base = NULL;
}

void dp_rdrr_free(dp_rdrr *m) {
    if (!m) return;
    r_unmap_all(m);
    if (m->own_src) dp_shard_source_dir_free(&m->src);
    dp_json_free(m->doc);
    dp_free(m->dir);
    dp_free(m->shards);
    dp_free(m->files);
    dp_free(m->tensors);
    dp_free(m->spans);
    dp_free(m->by_name);
    dp_free(m->cache);
    dp_free(m);
}

/* ---- queries ---- */

const char *dp_rdrr_dir(const dp_rdrr *m) { return m ? m->dir : NULL; }
const char *dp_rdrr_id(const dp_rdrr *m) { return m ? m->id : NULL; }
const dp_json *dp_rdrr_model(const dp_rdrr *m) { return m ? m->model : NULL; }
const dp_json *dp_rdrr_tokenizer(const dp_rdrr *m) { return m ? m->tokenizer : NULL; }
size_t dp_rdrr_n_tensors(const dp_rdrr *m) { return m ? m->n_tensors : 0; }
size_t dp_rdrr_n_shards(const dp_rdrr *m) { return m ? m->n_shards : 0; }

const dp_rdrr_tensor *dp_rdrr_tensor_at(const dp_rdrr *m, size_t i) {
    return m && i < m->n_tensors ? &m->tensors[i] : NULL;
}

const dp_rdrr_tensor *dp_rdrr_find(const dp_rdrr *m, const char *name) {
    if (!m || !name) return NULL;
    size_t lo = 0, hi = m->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, m->by_name[mid]->name);
        if (c == 0) return m->by_name[mid];
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return NULL;
}

uint64_t dp_rdrr_shard_size(const dp_rdrr *m, uint32_t shard) {
    return m && shard < m->n_shards ? m->shards[shard].size : 0;
}

const char *dp_rdrr_shard_hash(const dp_rdrr *m, uint32_t shard) {
    return m && shard < m->n_shards ? m->shards[shard].hex : NULL;
}

/* ---- shard access ---- */

dp_status dp_rdrr_shard_has(const dp_rdrr *m, uint32_t i, dp_error *e) {
    const r_shard *sh = &m->shards[i];
    if (!m->src.has)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "manifest parsed from memory: no shard source");
    uint64_t size = 0;
    dp_error oe = {0};
    dp_status s = m->src.has(m->src.ud, sh->hex, &size, &oe);
    if (s == DP_ERR_NOT_FOUND)
        return dp_err_set(e, DP_ERR_NOT_FOUND, "shard %u (sha256:%s) is missing", i, sh->hex);
    if (s) return dp_err_set(e, s, "shard %u: %s", i, oe.msg);
    if (size != sh->size)
        return dp_err_set(e, DP_ERR_HASH, "shard %u is %" PRIu64 " bytes, the manifest says %" PRIu64,
                          i, size, sh->size);
    return DP_OK;
}

/* Open shard i through the source and check its size against the manifest. */
static dp_status r_shard_open(const dp_rdrr *m, uint32_t i, dp_reader *r, dp_error *e) {
    const r_shard *sh = &m->shards[i];
    if (!m->src.open)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "manifest parsed from memory: shards unreadable");
    memset(r, 0, sizeof *r);
    dp_error oe = {0};
    dp_status s = m->src.open(m->src.ud, sh->hex, r, &oe);
    if (s == DP_ERR_NOT_FOUND)
        s = dp_err_set(e, DP_ERR_NOT_FOUND, "shard %u (sha256:%s) is missing: %s", i, sh->hex, oe.msg);
    else if (s)
        s = dp_err_set(e, s, "shard %u (sha256:%s): %s", i, sh->hex, oe.msg);
    else if (r->size != sh->size) {
        s = dp_err_set(e, DP_ERR_HASH, "shard %u (sha256:%s) is %" PRIu64 " bytes, the manifest "
                       "says %" PRIu64, i, sh->hex, r->size, sh->size);
        dp_reader_close(r);
    }
    return s;
}

dp_status dp_rdrr_shard_open(const dp_rdrr *m, uint32_t i, dp_reader *r, dp_error *e) {
    if (!m || !r || i >= m->n_shards) return dp_err_set(e, DP_ERR_INVALID_ARG, "dp_rdrr_shard_open: bad argument");
    return r_shard_open(m, i, r, e);
}

const uint8_t *dp_rdrr_shard_digest(const dp_rdrr *m, uint32_t i) {
    return m && i < m->n_shards ? m->shards[i].digest : NULL;
}

static dp_status r_digest_check(const dp_rdrr *m, uint32_t i, const uint8_t got[32], dp_error *e) {
    if (memcmp(got, m->shards[i].digest, 32) == 0) return DP_OK;
    char hex[65];
    dp_sha256_hex(got, hex);
    return dp_err_set(e, DP_ERR_HASH, "shard %u: SHA-256 mismatch (manifest sha256:%.16s..., "
                      "file %.16s...)", i, m->shards[i].hex, hex);
}

/* Load shard i into the cache and verify it (or find it there). */
static dp_status r_load(dp_rdrr *m, uint32_t i, dp_error *e) {
    if (m->cache_shard == (int64_t)i) return DP_OK;
    uint64_t size = m->shards[i].size;
    if (size > SIZE_MAX) return dp_err_set(e, DP_ERR_LIMIT, "shard %u is too large here", i);
    dp_reader r;
    dp_status s = r_shard_open(m, i, &r, e);
    if (s) return s;
    m->cache_shard = -1;
    if (size > m->cache_cap) {
        dp_free(m->cache);
        m->cache = dp_malloc((size_t)size);
        m->cache_cap = m->cache ? (size_t)size : 0;
        if (!m->cache) {
            dp_reader_close(&r);
            return dp_err_set(e, DP_ERR_NOMEM, "out of memory for shard %u (%" PRIu64 " bytes)", i,
                              size);
        }
    }
    s = dp_reader_read(&r, 0, m->cache, (size_t)size, e);
    dp_reader_close(&r);
    if (s) { dp_err_prefix(e, "shard %u", i); return s; }
    uint8_t got[32];
    dp_sha256(m->cache, (size_t)size, got);
    if ((s = r_digest_check(m, i, got, e))) return s;
    m->shards[i].verified = true;
    m->cache_shard = i;
    return DP_OK;
}

/* Stream-hash shard i without holding it. */
static dp_status r_verify_stream(dp_rdrr *m, uint32_t i, dp_error *e) {
    dp_reader r;
    dp_status s = r_shard_open(m, i, &r, e);
    if (s) return s;
    uint8_t got[32];
    s = dp_sha256_reader(&r, got, e);
    dp_reader_close(&r);
    if (s) { dp_err_prefix(e, "shard %u", i); return s; }
    if ((s = r_digest_check(m, i, got, e))) return s;
    m->shards[i].verified = true;
    return DP_OK;
}

size_t dp_rdrr_n_files(const dp_rdrr *m) { return m ? m->n_files : 0; }

dp_status dp_rdrr_check_file(const dp_rdrr *m, const char *name, dp_error *e) {
    if (!m || !name) return dp_err_set(e, DP_ERR_INVALID_ARG, "dp_rdrr_check_file: NULL argument");
    if (!m->has_hashes) return DP_OK;
    if (!m->dir) return dp_err_set(e, DP_ERR_INVALID_ARG, "manifest parsed from memory: files unreadable");
    const r_file *f = NULL;
    for (uint32_t i = 0; i < m->n_files && !f; i++)
        if (!strcmp(m->files[i].name, name)) f = &m->files[i];
    if (!f) return dp_err_set(e, DP_ERR_HASH, "%s is not covered by the manifest's hashes", name);
    char *path = dp_path_join(m->dir, name);
    if (!path) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    uint8_t got[32];
    dp_status s = dp_sha256_file(path, got, e);
    dp_free(path);
    if (!s && memcmp(got, f->h.digest, 32) != 0) {
        char hex[65];
        dp_sha256_hex(got, hex);
        s = dp_err_set(e, DP_ERR_HASH, "%s does not match the manifest: sha256:%s, expected sha256:%s", name, hex,
                       f->h.hex);
    }
    return s;
}

dp_status dp_rdrr_shard_data(dp_rdrr *m, uint32_t shard, const uint8_t **data, dp_error *e) {
    if (!m || !data || shard >= m->n_shards)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "dp_rdrr_shard_data: bad argument");
    dp_status s = r_load(m, shard, e);
    if (s) return s;
    *data = m->cache;
    return DP_OK;
}

void dp_rdrr_drop_cache(dp_rdrr *m) {
    if (!m) return;
    dp_free(m->cache);
    m->cache = NULL;
    m->cache_cap = 0;
    m->cache_shard = -1;
}

dp_status dp_rdrr_read_tensor(dp_rdrr *m, const dp_rdrr_tensor *t, void *dst, dp_error *e) {
    if (!m || !t || t < m->tensors || t >= m->tensors + m->n_tensors || (!dst && t->size))
        return dp_err_set(e, DP_ERR_INVALID_ARG, "dp_rdrr_read_tensor: bad argument");
    if (t->size > SIZE_MAX)
        return dp_err_set(e, DP_ERR_LIMIT, "tensor '%s' is too large here", t->name);
    uint8_t *out = dst;
    for (uint32_t i = 0; i < t->n_spans; i++) {
        const dp_rdrr_span *sp = &t->spans[i];
        dp_status s = DP_OK;
        if (m->cache_shard == (int64_t)sp->shard || !m->shards[sp->shard].verified) {
            s = r_load(m, sp->shard, e);
            if (!s) memcpy(out, m->cache + sp->offset, (size_t)sp->size);
        } else {
            dp_reader r;
            s = r_shard_open(m, sp->shard, &r, e);
            if (!s) {
                s = dp_reader_read(&r, sp->offset, out, (size_t)sp->size, e);
                dp_reader_close(&r);
            }
        }
        if (s) { dp_err_prefix(e, "tensor '%s'", t->name); return s; }
        out += sp->size;
    }
    return DP_OK;
}

dp_status dp_rdrr_read_tensor_range(dp_rdrr *m, const dp_rdrr_tensor *t, uint64_t off, void *dst, size_t n,
                                    dp_error *e) {
    if (!m || !t || t < m->tensors || t >= m->tensors + m->n_tensors || (!dst && n) || off > t->size ||
        n > t->size - off)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "dp_rdrr_read_tensor_range: bad argument");
    uint8_t *out = dst;
    uint64_t base = 0; /* the tensor offset where span i starts */
    for (uint32_t i = 0; i < t->n_spans && n; base += t->spans[i].size, i++) {
        const dp_rdrr_span *sp = &t->spans[i];
        if (off >= base + sp->size) continue;
        uint64_t in = off - base; /* into this span */
        size_t k = sp->size - in < n ? (size_t)(sp->size - in) : n;
        dp_status s = DP_OK;
        if (!m->shards[sp->shard].verified) s = r_verify_stream(m, sp->shard, e);
        dp_reader r;
        if (!s && !(s = r_shard_open(m, sp->shard, &r, e))) {
            s = dp_reader_read(&r, sp->offset + in, out, k, e);
            dp_reader_close(&r);
        }
        if (s) { dp_err_prefix(e, "tensor '%s'", t->name); return s; }
        out += k;
        off += k;
        n -= k;
    }
    return DP_OK;
}

dp_status dp_rdrr_map_tensor(dp_rdrr *m, const dp_rdrr_tensor *t, void **data, dp_error *e) {
    *data = NULL;
    if (!m || !t || t < m->tensors || t >= m->tensors + m->n_tensors)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "dp_rdrr_map_tensor: bad argument");
    if (t->n_spans != 1 || t->size == 0) return DP_OK;
    const uint32_t i = t->spans[0].shard;
    dp_status s = DP_OK;
    if (!m->shards[i].verified && (s = r_verify_stream(m, i, e))) return s;
    if (!m->maps) {
        m->maps = dp_calloc(m->n_shards, sizeof *m->maps);
        m->map_base = dp_calloc(m->n_shards, sizeof *m->map_base);
        if (!m->maps || !m->map_base) {
            r_unmap_all(m);
            return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
        }
    }
    if (!m->maps[i].ctx) {
        if ((s = r_shard_open(m, i, &m->maps[i], e))) return s;
        m->map_base[i] = dp_reader_map(&m->maps[i]);
        if (!m->map_base[i]) { /* not mappable: the caller copies */
            dp_reader_close(&m->maps[i]);
            return DP_OK;
        }
    }
    if (m->map_base[i]) *data = m->map_base[i] + t->spans[0].offset;
    return DP_OK;
}

dp_status dp_rdrr_verify(dp_rdrr *m, dp_error *e) {
    if (!m) return dp_err_set(e, DP_ERR_INVALID_ARG, "dp_rdrr_verify: NULL model");
    dp_status s = DP_OK;
    for (uint32_t i = 0; i < m->n_shards && !s; i++)
        if (!m->shards[i].verified) s = r_verify_stream(m, i, e);
    for (uint32_t i = 0; i < m->n_files && !s; i++) s = dp_rdrr_check_file(m, m->files[i].name, e);
    return s;
}
