/* gguf.c — GGUF v2/v3 reader (layout documented in gguf.h).
 *
 * The header is read through a small buffered cursor over the dp_reader. Every count and length
 * from the file is checked against the bytes that remain before anything is allocated for it,
 * so a file of S bytes never makes the reader allocate more than a small multiple of S.
 * Strings live in a chunked arena owned by the dp_gguf; names are indexed by a hash table that
 * also catches duplicates. */
#include "format/gguf.h"

#include <stdlib.h>
#include <string.h>

#define GGUF_MAGIC 0x46554747u /* "GGUF" little-endian */
#define GGUF_DEFAULT_ALIGNMENT 32u
#define GGUF_MAX_DIMS 4u
#define GGUF_CURSOR_BUF 65536u

/* ---- string arena ---- */

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    /* data follows */
} arena_chunk;

struct dp_gguf {
    uint32_t version;
    uint32_t alignment;
    uint64_t data_offset;        /* absolute start of the tensor data section */
    dp_gguf_kv *kv;
    size_t n_kv;
    dp_gguf_tensor *tensors;
    size_t n_tensors;
    uint32_t *kv_index, *t_index; /* open-addressing tables of index+1 (0 = empty) */
    size_t kv_mask, t_mask;
    arena_chunk *arena;
};

#define ARENA_HDR ((sizeof(arena_chunk) + 7) & ~(size_t)7)
#define ARENA_MAX (SIZE_MAX / 2) /* larger requests fail (only reachable on 32-bit targets) */

static void *arena_alloc(dp_gguf *g, uint64_t n64) {
    if (n64 > ARENA_MAX) return NULL;
    size_t n = ((size_t)n64 + 7) & ~(size_t)7;
    arena_chunk *c = g->arena;
    if (!c || c->cap - c->used < n) {
        const size_t hdr = ARENA_HDR;
        size_t cap = n > 65536 ? n : 65536;
        if (cap > SIZE_MAX - hdr) return NULL;
        c = dp_malloc(hdr + cap);
        if (!c) return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = g->arena;
        g->arena = c;
    }
    void *p = (char *)c + ARENA_HDR + c->used;
    c->used += n;
    return p;
}

/* ---- buffered cursor ---- */

typedef struct cursor {
    const dp_reader *r;
    uint64_t pos;      /* next byte to read */
    uint64_t buf_off;  /* file offset of buf[0] */
    size_t buf_len;
    uint8_t *buf;
    dp_error *e;
} cursor;

static uint64_t cur_left(const cursor *c) { return c->r->size - c->pos; }

static dp_status cur_read(cursor *c, void *dst, uint64_t n, const char *what) {
    if (n > cur_left(c))
        return dp_err_set(c->e, DP_ERR_FORMAT,
                          "gguf: truncated %s: needs %llu bytes at offset %llu, file has %llu",
                          what, (unsigned long long)n, (unsigned long long)c->pos,
                          (unsigned long long)c->r->size);
    uint8_t *d = dst;
    while (n > 0) {
        if (c->pos >= c->buf_off && c->pos < c->buf_off + c->buf_len) {
            size_t at = (size_t)(c->pos - c->buf_off);
            size_t k = c->buf_len - at;
            if (k > n) k = (size_t)n;
            memcpy(d, c->buf + at, k);
            d += k;
            n -= k;
            c->pos += k;
            continue;
        }
        if (n >= GGUF_CURSOR_BUF) { /* large read: straight through */
            dp_status st = dp_reader_read(c->r, c->pos, d, (size_t)n, c->e);
            if (st) return st;
            c->pos += n;
            return DP_OK;
        }
        uint64_t left = cur_left(c);
        size_t k = left < GGUF_CURSOR_BUF ? (size_t)left : GGUF_CURSOR_BUF;
        dp_status st = dp_reader_read(c->r, c->pos, c->buf, k, c->e);
        if (st) return st;
        c->buf_off = c->pos;
        c->buf_len = k;
    }
    return DP_OK;
}

static dp_status cur_u32(cursor *c, uint32_t *v, const char *what) {
    uint8_t b[4];
    dp_status st = cur_read(c, b, 4, what);
    if (st) return st;
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return DP_OK;
}

static dp_status cur_u64(cursor *c, uint64_t *v, const char *what) {
    uint8_t b[8];
    dp_status st = cur_read(c, b, 8, what);
    if (st) return st;
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--) x = x << 8 | b[i];
    *v = x;
    return DP_OK;
}

/* Reads a gguf_string into the arena (NUL-terminated). */
static dp_status cur_str(cursor *c, dp_gguf *g, dp_gguf_str *out, const char *what) {
    uint64_t len;
    dp_status st = cur_u64(c, &len, what);
    if (st) return st;
    if (len > cur_left(c))
        return dp_err_set(c->e, DP_ERR_FORMAT,
                          "gguf: %s: string length %llu exceeds the %llu bytes left", what,
                          (unsigned long long)len, (unsigned long long)cur_left(c));
    char *s = arena_alloc(g, len + 1);
    if (!s) return dp_err_set(c->e, DP_ERR_NOMEM, "gguf: out of memory reading %s", what);
    st = cur_read(c, s, len, what);
    if (st) return st;
    s[len] = 0;
    out->s = s;
    out->len = len;
    return DP_OK;
}

/* ---- name index ---- */

static uint64_t name_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static dp_status index_new(size_t n, uint32_t **tab, size_t *mask) {
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    *tab = dp_calloc(cap, sizeof(uint32_t));
    if (!*tab) return DP_ERR_NOMEM;
    *mask = cap - 1;
    return DP_OK;
}

/* Inserts entry idx named name; false when the name is already present. */
typedef const char *(*name_of_fn)(const dp_gguf *g, size_t i);
static const char *kv_name(const dp_gguf *g, size_t i) { return g->kv[i].key; }
static const char *t_name(const dp_gguf *g, size_t i) { return g->tensors[i].name; }

static bool index_insert(const dp_gguf *g, uint32_t *tab, size_t mask, name_of_fn name_of,
                         size_t idx) {
    const char *name = name_of(g, idx);
    for (size_t h = (size_t)name_hash(name) & mask;; h = (h + 1) & mask) {
        if (tab[h] == 0) {
            tab[h] = (uint32_t)(idx + 1);
            return true;
        }
        if (strcmp(name_of(g, tab[h] - 1), name) == 0) return false;
    }
}

static long index_find(const dp_gguf *g, const uint32_t *tab, size_t mask, name_of_fn name_of,
                       const char *name) {
    if (!tab || !name) return -1;
    for (size_t h = (size_t)name_hash(name) & mask;; h = (h + 1) & mask) {
        if (tab[h] == 0) return -1;
        if (strcmp(name_of(g, tab[h] - 1), name) == 0) return (long)(tab[h] - 1);
    }
}

/* ---- values ---- */

static size_t vtype_size(uint32_t t) {
    switch (t) {
    case DP_GGUF_U8: case DP_GGUF_I8: case DP_GGUF_BOOL: return 1;
    case DP_GGUF_U16: case DP_GGUF_I16: return 2;
    case DP_GGUF_U32: case DP_GGUF_I32: case DP_GGUF_F32: return 4;
    case DP_GGUF_U64: case DP_GGUF_I64: case DP_GGUF_F64: return 8;
    default: return 0; /* string, array, unknown */
    }
}

static bool vtype_known(uint32_t t) { return t <= DP_GGUF_F64; }

/* Decodes a little-endian scalar of type t at p into kv's value. */
static void scalar_decode(uint32_t t, const uint8_t *p, dp_gguf_kv *kv) {
    uint64_t u = 0;
    size_t n = vtype_size(t);
    for (size_t i = n; i > 0; i--) u = u << 8 | p[i - 1];
    switch (t) {
    case DP_GGUF_U8: case DP_GGUF_U16: case DP_GGUF_U32: case DP_GGUF_U64: kv->v.u = u; break;
    case DP_GGUF_I8: kv->v.i = (int8_t)(uint8_t)u; break;
    case DP_GGUF_I16: kv->v.i = (int16_t)(uint16_t)u; break;
    case DP_GGUF_I32: kv->v.i = (int32_t)(uint32_t)u; break;
    case DP_GGUF_I64: kv->v.i = (int64_t)u; break;
    case DP_GGUF_F32: {
        uint32_t b = (uint32_t)u;
        float f;
        memcpy(&f, &b, 4);
        kv->v.f = f;
        break;
    }
    case DP_GGUF_F64: memcpy(&kv->v.f, &u, 8); break;
    case DP_GGUF_BOOL: kv->v.b = u != 0; break;
    default: break;
    }
}

static dp_status read_value(cursor *c, dp_gguf *g, dp_gguf_kv *kv) {
    dp_error *e = c->e;
    dp_status st;
    if (kv->type == DP_GGUF_STRING) return cur_str(c, g, &kv->v.str, kv->key);
    if (kv->type != DP_GGUF_ARRAY) {
        uint8_t b[8];
        st = cur_read(c, b, vtype_size(kv->type), kv->key);
        if (st) return st;
        if (kv->type == DP_GGUF_BOOL && b[0] > 1)
            return dp_err_set(e, DP_ERR_FORMAT, "gguf: key '%s': bool value %u", kv->key, b[0]);
        scalar_decode(kv->type, b, kv);
        return DP_OK;
    }
    uint32_t at;
    uint64_t n;
    if ((st = cur_u32(c, &at, kv->key)) || (st = cur_u64(c, &n, kv->key))) return st;
    if (!vtype_known(at))
        return dp_err_set(e, DP_ERR_FORMAT, "gguf: key '%s': unknown array element type %u",
                          kv->key, at);
    if (at == DP_GGUF_ARRAY)
        return dp_err_set(e, DP_ERR_FORMAT, "gguf: key '%s': nested arrays are not supported",
                          kv->key);
    kv->arr_type = at;
    kv->n = n;
    /* the smallest encoding of each element must fit in what is left */
    const uint64_t min_elem = at == DP_GGUF_STRING ? 8 : vtype_size(at);
    if (n > cur_left(c) / min_elem)
        return dp_err_set(e, DP_ERR_FORMAT,
                          "gguf: key '%s': array of %llu elements exceeds the %llu bytes left",
                          kv->key, (unsigned long long)n, (unsigned long long)cur_left(c));
    if (at == DP_GGUF_STRING) {
        dp_gguf_str *arr = n <= ARENA_MAX / sizeof(dp_gguf_str)
                               ? arena_alloc(g, n * sizeof(dp_gguf_str)) : NULL;
        if (!arr) return dp_err_set(e, DP_ERR_NOMEM, "gguf: out of memory for '%s'", kv->key);
        for (uint64_t i = 0; i < n; i++)
            if ((st = cur_str(c, g, &arr[i], kv->key))) return st;
        kv->v.arr = arr;
        return DP_OK;
    }
    const uint64_t bytes = n * vtype_size(at); /* <= bytes left, checked above */
    uint8_t *arr = arena_alloc(g, bytes);
    if (!arr) return dp_err_set(e, DP_ERR_NOMEM, "gguf: out of memory for '%s'", kv->key);
    if ((st = cur_read(c, arr, bytes, kv->key))) return st;
    if (at == DP_GGUF_BOOL)
        for (size_t i = 0; i < (size_t)bytes; i++)
            if (arr[i] > 1)
                return dp_err_set(e, DP_ERR_FORMAT, "gguf: key '%s': bool value %u", kv->key,
                                  arr[i]);
    kv->v.arr = arr;
    return DP_OK;
}

/* ---- tensor types ---- */

static dp_status read_tensor_info(cursor *c, dp_gguf *g, dp_gguf_tensor *t) {
    dp_error *e = c->e;
    dp_gguf_str name;
    dp_status st = cur_str(c, g, &name, "tensor name");
    if (st) return st;
    if (strlen(name.s) != name.len)
        return dp_err_set(e, DP_ERR_FORMAT, "gguf: tensor name contains a NUL byte");
    t->name = name.s;
    if ((st = cur_u32(c, &t->n_dims, t->name))) return st;
    if (t->n_dims == 0 || t->n_dims > GGUF_MAX_DIMS)
        return dp_err_set(e, DP_ERR_FORMAT, "gguf: tensor '%s': %u dimensions (1..4 allowed)",
                          t->name, t->n_dims);
    uint64_t nel = 1;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
        t->ne[d] = 1;
        if (d >= t->n_dims) continue;
        if ((st = cur_u64(c, &t->ne[d], t->name))) return st;
        if (t->ne[d] == 0 || t->ne[d] > (uint64_t)INT64_MAX)
            return dp_err_set(e, DP_ERR_FORMAT, "gguf: tensor '%s': dimension %u is %llu",
                              t->name, d, (unsigned long long)t->ne[d]);
        if (!dp_mul_u64(nel, t->ne[d], &nel) || nel > (uint64_t)INT64_MAX)
            return dp_err_set(e, DP_ERR_FORMAT, "gguf: tensor '%s': element count overflows",
                              t->name);
    }
    if ((st = cur_u32(c, &t->ggml_type, t->name))) return st;
    if (!dp_dtype_from_ggml(t->ggml_type, &t->dtype))
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "gguf: tensor '%s': unsupported GGML type %u",
                          t->name, t->ggml_type);
    uint64_t row;
    if (!dp_dtype_row_bytes(t->dtype, t->ne[0], &row))
        return dp_err_set(e, DP_ERR_FORMAT,
                          "gguf: tensor '%s': row of %llu values is not whole %s blocks", t->name,
                          (unsigned long long)t->ne[0], dp_dtype_name(t->dtype));
    t->size = row;
    for (uint32_t d = 1; d < GGUF_MAX_DIMS; d++)
        if (!dp_mul_u64(t->size, t->ne[d], &t->size))
            return dp_err_set(e, DP_ERR_FORMAT, "gguf: tensor '%s': byte size overflows",
                              t->name);
    return cur_u64(c, &t->offset, t->name); /* relative for now */
}

typedef struct span { uint64_t off, end; size_t idx; } span;

static int span_cmp(const void *a, const void *b) {
    const span *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off ? 1 : 0;
}

/* Places the tensors: absolute offsets, alignment, inside the file, no overlaps. */
static dp_status place_tensors(dp_gguf *g, uint64_t file_size, dp_error *e) {
    if (g->data_offset > file_size && g->n_tensors > 0)
        return dp_err_set(e, DP_ERR_FORMAT, "gguf: data section starts past the end of the file");
    span *sp = dp_calloc(g->n_tensors ? g->n_tensors : 1, sizeof(span));
    if (!sp) return dp_err_set(e, DP_ERR_NOMEM, "gguf: out of memory");
    dp_status st = DP_OK;
    for (size_t i = 0; i < g->n_tensors; i++) {
        dp_gguf_tensor *t = &g->tensors[i];
        uint64_t abs, end;
        if (t->offset % g->alignment != 0) {
            st = dp_err_set(e, DP_ERR_FORMAT, "gguf: tensor '%s': offset %llu not a multiple of %u",
                            t->name, (unsigned long long)t->offset, g->alignment);
            goto out;
        }
        if (!dp_add_u64(g->data_offset, t->offset, &abs) || !dp_add_u64(abs, t->size, &end) ||
            end > file_size) {
            st = dp_err_set(e, DP_ERR_FORMAT,
                            "gguf: tensor '%s': data [%llu, +%llu) lies outside the %llu-byte file",
                            t->name, (unsigned long long)t->offset, (unsigned long long)t->size,
                            (unsigned long long)file_size);
            goto out;
        }
        t->offset = abs;
        sp[i] = (span){abs, end, i};
    }
    qsort(sp, g->n_tensors, sizeof(span), span_cmp);
    for (size_t i = 1; i < g->n_tensors; i++)
        if (sp[i].off < sp[i - 1].end) {
            st = dp_err_set(e, DP_ERR_FORMAT, "gguf: tensors '%s' and '%s' overlap",
                            g->tensors[sp[i - 1].idx].name, g->tensors[sp[i].idx].name);
            goto out;
        }
out:
    dp_free(sp);
    return st;
}

static dp_status parse(cursor *c, dp_gguf *g) {
    dp_error *e = c->e;
    dp_status st;
    uint32_t magic;
    uint64_t n_tensors, n_kv;
    if ((st = cur_u32(c, &magic, "header"))) return st;
    if (magic != GGUF_MAGIC) return dp_err_set(e, DP_ERR_FORMAT, "gguf: bad magic (not a GGUF file)");
    if ((st = cur_u32(c, &g->version, "header"))) return st;
    if (g->version != 2 && g->version != 3)
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "gguf: version %u (2 and 3 are read%s)",
                          g->version, g->version > 0xFFFF ? "; big-endian files are not" : "");
    if ((st = cur_u64(c, &n_tensors, "header")) || (st = cur_u64(c, &n_kv, "header"))) return st;
    /* a key/value takes at least 13 bytes (8 length + 4 type + 1 value), a tensor info at least
     * 8 + 4 + 8 + 4 + 8 = 32 bytes */
    if (n_kv > cur_left(c) / 13)
        return dp_err_set(e, DP_ERR_FORMAT, "gguf: %llu key/values cannot fit in %llu bytes",
                          (unsigned long long)n_kv, (unsigned long long)cur_left(c));
    if (n_tensors > cur_left(c) / 32 || n_tensors > UINT32_MAX - 1 ||
        n_tensors > SIZE_MAX / sizeof(dp_gguf_tensor) / 4 || n_kv > SIZE_MAX / sizeof(dp_gguf_kv) / 4)
        return dp_err_set(e, DP_ERR_FORMAT, "gguf: %llu tensors cannot fit in %llu bytes",
                          (unsigned long long)n_tensors, (unsigned long long)cur_left(c));

    g->kv = dp_calloc(n_kv ? (size_t)n_kv : 1, sizeof(dp_gguf_kv));
    if (!g->kv || index_new((size_t)n_kv, &g->kv_index, &g->kv_mask))
        return dp_err_set(e, DP_ERR_NOMEM, "gguf: out of memory");
    for (uint64_t i = 0; i < n_kv; i++) {
        dp_gguf_kv *kv = &g->kv[i];
        dp_gguf_str key;
        if ((st = cur_str(c, g, &key, "key"))) return st;
        if (strlen(key.s) != key.len)
            return dp_err_set(e, DP_ERR_FORMAT, "gguf: key contains a NUL byte");
        kv->key = key.s;
        if ((st = cur_u32(c, &kv->type, kv->key))) return st;
        if (!vtype_known(kv->type))
            return dp_err_set(e, DP_ERR_FORMAT, "gguf: key '%s': unknown value type %u", kv->key,
                              kv->type);
        if ((st = read_value(c, g, kv))) return st;
        g->n_kv = (size_t)i + 1;
        if (!index_insert(g, g->kv_index, g->kv_mask, kv_name, (size_t)i))
            return dp_err_set(e, DP_ERR_FORMAT, "gguf: duplicate key '%s'", kv->key);
    }

    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    const dp_gguf_kv *al = dp_gguf_find(g, "general.alignment");
    if (al) {
        if (al->type != DP_GGUF_U32)
            return dp_err_set(e, DP_ERR_FORMAT, "gguf: general.alignment is not a u32");
        if (al->v.u == 0 || (al->v.u & (al->v.u - 1)) != 0)
            return dp_err_set(e, DP_ERR_FORMAT, "gguf: general.alignment %llu is not a power of two",
                              (unsigned long long)al->v.u);
        g->alignment = (uint32_t)al->v.u;
    }

    g->tensors = dp_calloc(n_tensors ? (size_t)n_tensors : 1, sizeof(dp_gguf_tensor));
    if (!g->tensors || index_new((size_t)n_tensors, &g->t_index, &g->t_mask))
        return dp_err_set(e, DP_ERR_NOMEM, "gguf: out of memory");
    for (uint64_t i = 0; i < n_tensors; i++) {
        if ((st = read_tensor_info(c, g, &g->tensors[i]))) return st;
        g->n_tensors = (size_t)i + 1;
        if (!index_insert(g, g->t_index, g->t_mask, t_name, (size_t)i))
            return dp_err_set(e, DP_ERR_FORMAT, "gguf: duplicate tensor '%s'", g->tensors[i].name);
    }
    const uint64_t pad = (g->alignment - c->pos % g->alignment) % g->alignment;
    if (!dp_add_u64(c->pos, pad, &g->data_offset))
        return dp_err_set(e, DP_ERR_FORMAT, "gguf: data offset overflows");
    return place_tensors(g, c->r->size, e);
}

dp_status dp_gguf_open(const dp_reader *r, dp_gguf **out, dp_error *e) {
    if (!r || !out) return dp_err_set(e, DP_ERR_INVALID_ARG, "gguf: no reader");
    *out = NULL;
    dp_gguf *g = dp_calloc(1, sizeof *g);
    uint8_t *buf = dp_malloc(GGUF_CURSOR_BUF);
    if (!g || !buf) {
        dp_free(g);
        dp_free(buf);
        return dp_err_set(e, DP_ERR_NOMEM, "gguf: out of memory");
    }
    cursor c = {r, 0, 0, 0, buf, e};
    dp_status st = parse(&c, g);
    dp_free(buf);
    if (st) {
        dp_gguf_free(g);
        return st;
    }
    *out = g;
    return DP_OK;
}

void dp_gguf_free(dp_gguf *g) {
    if (!g) return;
    while (g->arena) {
        arena_chunk *n = g->arena->next;
        dp_free(g->arena);
        g->arena = n;
    }
    dp_free(g->kv);
    dp_free(g->tensors);
    dp_free(g->kv_index);
    dp_free(g->t_index);
    dp_free(g);
}

/* ---- queries ---- */

uint32_t dp_gguf_version(const dp_gguf *g) { return g->version; }
size_t dp_gguf_n_kv(const dp_gguf *g) { return g->n_kv; }
const dp_gguf_kv *dp_gguf_kv_at(const dp_gguf *g, size_t i) { return i < g->n_kv ? &g->kv[i] : NULL; }

const dp_gguf_kv *dp_gguf_find(const dp_gguf *g, const char *key) {
    long i = index_find(g, g->kv_index, g->kv_mask, kv_name, key);
    return i < 0 ? NULL : &g->kv[i];
}

size_t dp_gguf_n_tensors(const dp_gguf *g) { return g->n_tensors; }
const dp_gguf_tensor *dp_gguf_tensor_at(const dp_gguf *g, size_t i) {
    return i < g->n_tensors ? &g->tensors[i] : NULL;
}
const dp_gguf_tensor *dp_gguf_tensor_find(const dp_gguf *g, const char *name) {
    long i = index_find(g, g->t_index, g->t_mask, t_name, name);
    return i < 0 ? NULL : &g->tensors[i];
}

static bool is_unsigned(uint32_t t) {
    return t == DP_GGUF_U8 || t == DP_GGUF_U16 || t == DP_GGUF_U32 || t == DP_GGUF_U64;
}
static bool is_signed(uint32_t t) {
    return t == DP_GGUF_I8 || t == DP_GGUF_I16 || t == DP_GGUF_I32 || t == DP_GGUF_I64;
}

bool dp_gguf_get_u64(const dp_gguf *g, const char *key, uint64_t *out) {
    const dp_gguf_kv *kv = dp_gguf_find(g, key);
    if (!kv) return false;
    if (is_unsigned(kv->type)) return *out = kv->v.u, true;
    if (is_signed(kv->type) && kv->v.i >= 0) return *out = (uint64_t)kv->v.i, true;
    return false;
}

bool dp_gguf_get_i64(const dp_gguf *g, const char *key, int64_t *out) {
    const dp_gguf_kv *kv = dp_gguf_find(g, key);
    if (!kv) return false;
    if (is_signed(kv->type)) return *out = kv->v.i, true;
    if (is_unsigned(kv->type) && kv->v.u <= (uint64_t)INT64_MAX) return *out = (int64_t)kv->v.u, true;
    return false;
}

bool dp_gguf_get_f64(const dp_gguf *g, const char *key, double *out) {
    const dp_gguf_kv *kv = dp_gguf_find(g, key);
    if (!kv) return false;
    if (kv->type == DP_GGUF_F32 || kv->type == DP_GGUF_F64) return *out = kv->v.f, true;
    if (is_signed(kv->type)) return *out = (double)kv->v.i, true;
    if (is_unsigned(kv->type)) return *out = (double)kv->v.u, true;
    return false;
}

bool dp_gguf_get_bool(const dp_gguf *g, const char *key, bool *out) {
    const dp_gguf_kv *kv = dp_gguf_find(g, key);
    if (!kv || kv->type != DP_GGUF_BOOL) return false;
    *out = kv->v.b;
    return true;
}

bool dp_gguf_get_str(const dp_gguf *g, const char *key, dp_gguf_str *out) {
    const dp_gguf_kv *kv = dp_gguf_find(g, key);
    if (!kv || kv->type != DP_GGUF_STRING) return false;
    *out = kv->v.str;
    return true;
}

/* Array element i decoded into a scalar kv (numbers only). */
static bool arr_elem(const dp_gguf_kv *kv, uint64_t i, dp_gguf_kv *tmp) {
    if (!kv || kv->type != DP_GGUF_ARRAY || i >= kv->n || kv->arr_type == DP_GGUF_STRING)
        return false;
    const size_t sz = vtype_size(kv->arr_type);
    scalar_decode(kv->arr_type, (const uint8_t *)kv->v.arr + (size_t)i * sz, tmp);
    return true;
}

bool dp_gguf_arr_f64(const dp_gguf_kv *kv, uint64_t i, double *out) {
    dp_gguf_kv t;
    if (!arr_elem(kv, i, &t)) return false;
    const uint32_t at = kv->arr_type;
    if (at == DP_GGUF_F32 || at == DP_GGUF_F64) *out = t.v.f;
    else if (is_signed(at)) *out = (double)t.v.i;
    else if (is_unsigned(at)) *out = (double)t.v.u;
    else return false;
    return true;
}

bool dp_gguf_arr_i64(const dp_gguf_kv *kv, uint64_t i, int64_t *out) {
    dp_gguf_kv t;
    if (!arr_elem(kv, i, &t)) return false;
    const uint32_t at = kv->arr_type;
    if (is_signed(at)) *out = t.v.i;
    else if (is_unsigned(at) && t.v.u <= (uint64_t)INT64_MAX) *out = (int64_t)t.v.u;
    else if (at == DP_GGUF_BOOL) *out = t.v.b;
    else return false;
    return true;
}

bool dp_gguf_arr_str(const dp_gguf_kv *kv, uint64_t i, dp_gguf_str *out) {
    if (!kv || kv->type != DP_GGUF_ARRAY || kv->arr_type != DP_GGUF_STRING || i >= kv->n)
        return false;
    *out = ((const dp_gguf_str *)kv->v.arr)[i];
    return true;
}
