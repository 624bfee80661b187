/* safetensors.c — safetensors reader (single files and sharded sets); rules in safetensors.h. */
#include "format/safetensors.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/json.h"

#define ST_MAX_INDEX (64u * 1024u * 1024u) /* model.safetensors.index.json */
#define ST_MAX_FILES 65536u                /* shard files named by one index */

typedef struct st_file {
    dp_reader r;
    bool owned; /* opened here (closed by dp_st_free) */
} st_file;

typedef struct st_meta { char *key, *value; } st_meta;

struct dp_st {
    st_file *files;
    uint32_t n_files;
    dp_st_tensor *tensors;
    size_t n_tensors, cap_tensors;
    const dp_st_tensor **by_name; /* sorted by name; built once all files are parsed */
    st_meta *meta;
    size_t n_meta, cap_meta;
};

/* ---- small helpers ---- */

static bool st_utf8_valid(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t len;
        uint32_t cp, min;
        if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1Fu; min = 0x80; }
        else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0Fu; min = 0x800; }
        else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07u; min = 0x10000; }
        else return false;
        if (n - i < len) return false;
        for (size_t k = 1; k < len; k++) {
            uint8_t cc = s[i + k];
            if ((cc & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (cc & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += len;
    }
    return true;
}

static bool st_dtype_map(const char *s, dp_dtype *t) {
    if (strcmp(s, "F32") == 0) { *t = DP_DTYPE_F32; return true; }
    if (strcmp(s, "F16") == 0) { *t = DP_DTYPE_F16; return true; }
    if (strcmp(s, "BF16") == 0) { *t = DP_DTYPE_BF16; return true; }
    if (strcmp(s, "I32") == 0) { *t = DP_DTYPE_I32; return true; }
    return false;
}

static size_t st_elem_size(dp_dtype t) { return t == DP_DTYPE_F16 || t == DP_DTYPE_BF16 ? 2 : 4; }

uint64_t dp_st_numel(const dp_st_tensor *t) {
    uint64_t n = 1;
    for (uint32_t i = 0; i < t->n_dims; i++) n *= t->shape[i]; /* checked at parse time */
    return n;
}

static dp_status st_push_tensor(dp_st *st, dp_st_tensor **out) {
    if (st->n_tensors == st->cap_tensors) {
        size_t cap = st->cap_tensors ? st->cap_tensors * 2 : 64, bytes;
        if (!dp_mul_ok(cap, sizeof *st->tensors, &bytes)) return DP_ERR_NOMEM;
        dp_st_tensor *nt = dp_realloc(st->tensors, bytes);
        if (!nt) return DP_ERR_NOMEM;
        st->tensors = nt;
        st->cap_tensors = cap;
    }
    *out = &st->tensors[st->n_tensors++];
    memset(*out, 0, sizeof **out);
    return DP_OK;
}

static dp_status st_push_meta(dp_st *st, const char *k, size_t kn, const char *v, size_t vn) {
    for (size_t i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta[i].key, k) == 0) return DP_OK; /* first file wins */
    if (st->n_meta == st->cap_meta) {
        size_t cap = st->cap_meta ? st->cap_meta * 2 : 8;
        st_meta *nm = dp_realloc(st->meta, cap * sizeof *nm);
        if (!nm) return DP_ERR_NOMEM;
        st->meta = nm;
        st->cap_meta = cap;
    }
    char *ks = dp_strndup(k, kn), *vs = dp_strndup(v, vn);
    if (!ks || !vs) { dp_free(ks); dp_free(vs); return DP_ERR_NOMEM; }
    st->meta[st->n_meta].key = ks;
    st->meta[st->n_meta].value = vs;
    st->n_meta++;
    return DP_OK;
}

/* ---- one file's header ---- */

typedef struct st_span { uint64_t begin, end; size_t idx; } st_span;

static int st_cmp_span(const void *a, const void *b) {
    const st_span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static int st_cmp_name(const void *a, const void *b) {
    return strcmp((*(const dp_st_tensor *const *)a)->name, (*(const dp_st_tensor *const *)b)->name);
}

static dp_status st_parse_tensor(dp_st *st, const dp_json *v, uint32_t file, dp_error *e) {
    char name_buf[96];
    size_t nl = v->key_len < sizeof name_buf - 1 ? v->key_len : sizeof name_buf - 1;
    memcpy(name_buf, v->key, nl);
    name_buf[nl] = 0;
    if (memchr(v->key, 0, v->key_len))
        return dp_err_set(e, DP_ERR_FORMAT, "tensor name contains a NUL byte");
    if (!dp_json_is(v, DP_JSON_OBJECT))
        return dp_err_set(e, DP_ERR_FORMAT, "tensor '%s': entry is not an object", name_buf);
    const char *dts;
    if (!dp_json_str(dp_json_get(v, "dtype"), &dts))
        return dp_err_set(e, DP_ERR_FORMAT, "tensor '%s': missing dtype", name_buf);
    const dp_json *shape = dp_json_get(v, "shape");
    const dp_json *offs = dp_json_get(v, "data_offsets");
    if (!dp_json_is(shape, DP_JSON_ARRAY))
        return dp_err_set(e, DP_ERR_FORMAT, "tensor '%s': missing shape", name_buf);
    if (!dp_json_is(offs, DP_JSON_ARRAY) || offs->len != 2)
        return dp_err_set(e, DP_ERR_FORMAT, "tensor '%s': data_offsets is not [begin, end]", name_buf);
    dp_dtype dt;
    if (!st_dtype_map(dts, &dt))
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "tensor '%s': dtype %.16s is not supported "
                          "(F32, F16, BF16, I32 are)", name_buf, dts);
    if (shape->len > DP_ST_MAX_DIMS)
        return dp_err_set(e, DP_ERR_LIMIT, "tensor '%s': %u dimensions (max %d)", name_buf,
                          shape->len, DP_ST_MAX_DIMS);
    int64_t b, en;
    if (!dp_json_i64(dp_json_at(offs, 0), &b) || !dp_json_i64(dp_json_at(offs, 1), &en) || b < 0 ||
        en < b)
        return dp_err_set(e, DP_ERR_FORMAT, "tensor '%s': bad data_offsets", name_buf);

    dp_st_tensor *t;
    if (st_push_tensor(st, &t) != DP_OK) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    t->dtype = dt;
    t->n_dims = shape->len;
    t->file = file;
    uint64_t numel = 1;
    for (uint32_t i = 0; i < shape->len; i++) {
        int64_t d;
        if (!dp_json_i64(dp_json_at(shape, i), &d) || d < 0) {
            st->n_tensors--;
            return dp_err_set(e, DP_ERR_FORMAT, "tensor '%s': bad shape", name_buf);
        }
        t->shape[i] = (uint64_t)d;
        if (!dp_mul_u64(numel, (uint64_t)d, &numel)) {
            st->n_tensors--;
            return dp_err_set(e, DP_ERR_FORMAT, "tensor '%s': shape overflows", name_buf);
        }
    }
    uint64_t bytes;
    if (!dp_mul_u64(numel, st_elem_size(dt), &bytes) || bytes != (uint64_t)(en - b)) {
        st->n_tensors--;
        return dp_err_set(e, DP_ERR_FORMAT, "tensor '%s': shape x dtype is not the byte range "
                          "(%lld bytes)", name_buf, (long long)(en - b));
    }
    t->offset = (uint64_t)b; /* relative for now */
    t->size = bytes;
    t->name = dp_strndup(v->key, v->key_len);
    if (!t->name) {
        st->n_tensors--;
        return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    }
    return DP_OK;
}

static dp_status st_parse_file(dp_st *st, uint32_t file, dp_error *e) {
    const dp_reader *r = &st->files[file].r;
    uint8_t len8[8];
    if (r->size < 8) return dp_err_set(e, DP_ERR_FORMAT, "truncated: %llu bytes, no header length",
                                       (unsigned long long)r->size);
    dp_status s = dp_reader_read(r, 0, len8, 8, e);
    if (s) return s;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | len8[i];
    if (n > DP_ST_MAX_HEADER)
        return dp_err_set(e, DP_ERR_LIMIT, "header length %llu is over the %u-byte limit",
                          (unsigned long long)n, DP_ST_MAX_HEADER);
    if (n > r->size - 8)
        return dp_err_set(e, DP_ERR_FORMAT, "truncated: header length %llu runs past the end of "
                          "the file (%llu bytes)", (unsigned long long)n, (unsigned long long)r->size);
    if (n < 2) return dp_err_set(e, DP_ERR_FORMAT, "header too short");
    char *hdr = dp_malloc((size_t)n + 1);
    if (!hdr) return dp_err_set(e, DP_ERR_NOMEM, "out of memory for a %llu-byte header",
                                (unsigned long long)n);
    s = dp_reader_read(r, 8, hdr, (size_t)n, e);
    if (s) { dp_free(hdr); return s; }
    hdr[n] = 0;
    if (!st_utf8_valid((const uint8_t *)hdr, (size_t)n)) {
        dp_free(hdr);
        return dp_err_set(e, DP_ERR_FORMAT, "header is not valid UTF-8");
    }
    dp_json_doc *doc = NULL;
    s = dp_json_parse(hdr, (size_t)n, &doc, e);
    if (s) {
        dp_free(hdr);
        dp_err_prefix(e, "header");
        return s;
    }
    const dp_json *root = dp_json_root(doc);
    size_t first = st->n_tensors;
    bool seen_meta = false;
    if (!dp_json_is(root, DP_JSON_OBJECT)) {
        s = dp_err_set(e, DP_ERR_FORMAT, "header is not a JSON object");
        goto done;
    }
    for (uint32_t i = 0; i < root->len; i++) {
        const dp_json *v = &root->u.items[i];
        if (v->key_len == 12 && memcmp(v->key, "__metadata__", 12) == 0) {
            if (seen_meta || !dp_json_is(v, DP_JSON_OBJECT)) {
                s = dp_err_set(e, DP_ERR_FORMAT, "bad __metadata__");
                goto done;
            }
            seen_meta = true;
            for (uint32_t k = 0; k < v->len; k++) {
                const dp_json *m = &v->u.items[k];
                if (!dp_json_is(m, DP_JSON_STRING) || memchr(m->key, 0, m->key_len) ||
                    memchr(m->u.str, 0, m->len)) {
                    s = dp_err_set(e, DP_ERR_FORMAT, "__metadata__ values must be strings");
                    goto done;
                }
                if (st_push_meta(st, m->key, m->key_len, m->u.str, m->len) != DP_OK) {
                    s = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
                    goto done;
                }
            }
            continue;
        }
        s = st_parse_tensor(st, v, file, e);
        if (s) goto done;
    }

    /* Offsets: sorted, contiguous from 0, ending exactly at the end of the file. */
    uint64_t data_start = 8 + n, data_len = r->size - data_start;
    size_t cnt = st->n_tensors - first;
    st_span *sp = dp_malloc((cnt ? cnt : 1) * sizeof *sp);
    if (!sp) { s = dp_err_set(e, DP_ERR_NOMEM, "out of memory"); goto done; }
    for (size_t i = 0; i < cnt; i++) {
        const dp_st_tensor *t = &st->tensors[first + i];
        sp[i] = (st_span){ t->offset, t->offset + t->size, first + i };
    }
    qsort(sp, cnt, sizeof *sp, st_cmp_span);
    uint64_t expect = 0;
    for (size_t i = 0; i < cnt && !s; i++) {
        const dp_st_tensor *t = &st->tensors[sp[i].idx];
        if (t->offset > data_len || t->size > data_len - t->offset)
            s = dp_err_set(e, DP_ERR_FORMAT, "tensor '%s': data [%llu, %llu) runs past the end of "
                           "the file (%llu data bytes)", t->name, (unsigned long long)t->offset,
                           (unsigned long long)(t->offset + t->size), (unsigned long long)data_len);
        else if (t->offset < expect)
            s = dp_err_set(e, DP_ERR_FORMAT, "tensor '%s': data overlaps the previous tensor",
                           t->name);
        else if (t->offset > expect)
            s = dp_err_set(e, DP_ERR_FORMAT, "tensor '%s': %llu-byte gap before its data", t->name,
                           (unsigned long long)(t->offset - expect));
        expect = t->offset + t->size;
    }
    dp_free(sp);
    if (!s && expect != data_len)
        s = dp_err_set(e, DP_ERR_FORMAT, "%llu bytes after the last tensor are not indexed",
                       (unsigned long long)(data_len - expect));
    for (size_t i = first; i < st->n_tensors; i++) st->tensors[i].offset += data_start;
done:
    dp_json_free(doc);
    dp_free(hdr);
    return s;
}

/* Sort the name index and reject duplicates. */
static dp_status st_index_names(dp_st *st, dp_error *e) {
    st->by_name = dp_malloc((st->n_tensors ? st->n_tensors : 1) * sizeof *st->by_name);
    if (!st->by_name) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < st->n_tensors; i++) st->by_name[i] = &st->tensors[i];
    qsort(st->by_name, st->n_tensors, sizeof *st->by_name, st_cmp_name);
    for (size_t i = 1; i < st->n_tensors; i++)
        if (strcmp(st->by_name[i]->name, st->by_name[i - 1]->name) == 0)
            return dp_err_set(e, DP_ERR_FORMAT, "duplicate tensor name '%s'", st->by_name[i]->name);
    return DP_OK;
}

static dp_st *st_new(uint32_t n_files) {
    dp_st *st = dp_calloc(1, sizeof *st);
    if (!st) return NULL;
    st->files = dp_calloc(n_files ? n_files : 1, sizeof *st->files);
    if (!st->files) { dp_free(st); return NULL; }
    return st;
}

void dp_st_free(dp_st *st) {
    if (!st) return;
    for (uint32_t i = 0; i < st->n_files; i++)
        if (st->files[i].owned) dp_reader_close(&st->files[i].r);
    for (size_t i = 0; i < st->n_tensors; i++) dp_free((void *)st->tensors[i].name);
    for (size_t i = 0; i < st->n_meta; i++) { dp_free(st->meta[i].key); dp_free(st->meta[i].value); }
    dp_free(st->meta);
    dp_free(st->tensors);
    dp_free(st->by_name);
    dp_free(st->files);
    dp_free(st);
}

dp_status dp_st_open_reader(const dp_reader *r, dp_st **out, dp_error *e) {
    if (!r || !out) return dp_err_set(e, DP_ERR_INVALID_ARG, "dp_st_open_reader: NULL argument");
    dp_st *st = st_new(1);
    if (!st) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    st->files[0].r = *r;
    st->files[0].owned = false;
    st->n_files = 1;
    dp_status s = st_parse_file(st, 0, e);
    if (!s) s = st_index_names(st, e);
    if (s) { dp_st_free(st); return s; }
    *out = st;
    return DP_OK;
}

static dp_status st_open_one(dp_st *st, const char *path, dp_error *e) {
    uint32_t f = st->n_files;
    dp_status s = dp_reader_open_file(&st->files[f].r, path, e);
    if (s) return s;
    st->files[f].owned = true;
    st->n_files++;
    s = st_parse_file(st, f, e);
    if (s) dp_err_prefix(e, "%s", path);
    return s;
}

/* ---- sharded sets: model.safetensors.index.json ---- */

static int st_cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool st_file_name_ok(const char *s, size_t n) {
    if (n == 0 || n > 255 || memchr(s, 0, n)) return false;
    if (memchr(s, '/', n) || memchr(s, '\\', n)) return false;
    for (size_t i = 0; i + 1 < n; i++)
        if (s[i] == '.' && s[i + 1] == '.') return false;
    return strcmp(s, ".") != 0;
}

static dp_status st_open_index(const char *dir, const char *index_path, dp_st **out, dp_error *e) {
    char *text = NULL;
    size_t n = 0;
    dp_json_doc *doc = NULL;
    const char **names = NULL;
    dp_st *st = NULL;
    char *path = NULL;
    dp_status s = dp_file_read_all(index_path, ST_MAX_INDEX, &text, &n, e);
    if (s) return s;
    s = dp_json_parse(text, n, &doc, e);
    if (s) { dp_err_prefix(e, "%s", index_path); goto done; }
    const dp_json *map = dp_json_get(dp_json_root(doc), "weight_map");
    if (!dp_json_is(map, DP_JSON_OBJECT)) {
        s = dp_err_set(e, DP_ERR_FORMAT, "%s: no weight_map object", index_path);
        goto done;
    }
    /* The distinct file names, sorted. */
    names = dp_malloc((map->len ? map->len : 1) * sizeof *names);
    if (!names) { s = dp_err_set(e, DP_ERR_NOMEM, "out of memory"); goto done; }
    for (uint32_t i = 0; i < map->len; i++) {
        const dp_json *v = &map->u.items[i];
        if (!dp_json_is(v, DP_JSON_STRING) || !st_file_name_ok(v->u.str, v->len)) {
            s = dp_err_set(e, DP_ERR_FORMAT, "%s: weight_map entry %u names a bad file (a plain "
                           "file name in the same folder is required)", index_path, i);
            goto done;
        }
        names[i] = v->u.str;
    }
    qsort(names, map->len, sizeof *names, st_cmp_str);
    size_t n_files = 0;
    for (uint32_t i = 0; i < map->len; i++)
        if (n_files == 0 || strcmp(names[n_files - 1], names[i]) != 0) names[n_files++] = names[i];
    if (n_files > ST_MAX_FILES) {
        s = dp_err_set(e, DP_ERR_LIMIT, "%s: %zu files (max %u)", index_path, n_files, ST_MAX_FILES);
        goto done;
    }
    st = st_new((uint32_t)n_files);
    if (!st) { s = dp_err_set(e, DP_ERR_NOMEM, "out of memory"); goto done; }
    for (size_t i = 0; i < n_files; i++) {
        path = dp_path_join(dir, names[i]);
        if (!path) { s = dp_err_set(e, DP_ERR_NOMEM, "out of memory"); goto done; }
        if (!dp_file_exists(path)) {
            s = dp_err_set(e, DP_ERR_NOT_FOUND, "%s: names %s, which is missing", index_path,
                           names[i]);
            goto done;
        }
        s = st_open_one(st, path, e);
        if (s) goto done;
        dp_free(path);
        path = NULL;
    }
    s = st_index_names(st, e);
    if (s) goto done;
    /* Every weight_map entry must be in the file it names. */
    for (uint32_t i = 0; i < map->len; i++) {
        const dp_json *v = &map->u.items[i];
        char *key = dp_strndup(v->key, v->key_len);
        if (!key) { s = dp_err_set(e, DP_ERR_NOMEM, "out of memory"); goto done; }
        const dp_st_tensor *t = dp_st_find(st, key);
        const char **f = bsearch(&v->u.str, names, n_files, sizeof *names, st_cmp_str);
        if (!t || !f || (size_t)(f - names) != t->file)
            s = dp_err_set(e, DP_ERR_FORMAT, "%s: tensor '%.80s' is not in %s", index_path, key,
                           v->u.str);
        dp_free(key);
        if (s) goto done;
    }
done:
    dp_free(path);
    dp_free(names);
    dp_json_free(doc);
    dp_free(text);
    if (s) { dp_st_free(st); return s; }
    *out = st;
    return DP_OK;
}

static bool st_ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

dp_status dp_st_open(const char *path, dp_st **out, dp_error *e) {
    if (!path || !out) return dp_err_set(e, DP_ERR_INVALID_ARG, "dp_st_open: NULL argument");
    struct stat sb;
    if (stat(path, &sb) != 0) return dp_err_set(e, DP_ERR_NOT_FOUND, "%s: no such file", path);
    if (S_ISDIR(sb.st_mode)) {
        char *single = dp_path_join(path, "model.safetensors");
        char *index = dp_path_join(path, "model.safetensors.index.json");
        dp_status s;
        if (!single || !index) s = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
        else if (dp_file_exists(single)) s = dp_st_open(single, out, e);
        else if (dp_file_exists(index)) s = st_open_index(path, index, out, e);
        else s = dp_err_set(e, DP_ERR_NOT_FOUND, "%s: no model.safetensors or "
                            "model.safetensors.index.json", path);
        dp_free(single);
        dp_free(index);
        return s;
    }
    if (st_ends_with(path, ".index.json")) {
        const char *slash = strrchr(path, '/');
        char *dir = slash ? dp_strndup(path, (size_t)(slash - path)) : dp_strdup(".");
        if (!dir) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
        dp_status s = st_open_index(dir[0] ? dir : "/", path, out, e);
        dp_free(dir);
        return s;
    }
    dp_st *st = st_new(1);
    if (!st) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    dp_status s = st_open_one(st, path, e);
    if (!s) {
        s = st_index_names(st, e);
        if (s) dp_err_prefix(e, "%s", path);
    }
    if (s) { dp_st_free(st); return s; }
    *out = st;
    return DP_OK;
}

/* ---- queries ---- */

size_t dp_st_count(const dp_st *st) { return st ? st->n_tensors : 0; }

const dp_st_tensor *dp_st_at(const dp_st *st, size_t i) {
    return st && i < st->n_tensors ? &st->tensors[i] : NULL;
}

const dp_st_tensor *dp_st_find(const dp_st *st, const char *name) {
    if (!st || !name || !st->by_name) return NULL;
    size_t lo = 0, hi = st->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const dp_st_tensor *t = st->by_name[mid];
        int c = strcmp(name, t->name);
        if (c == 0) return t;
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return NULL;
}

const char *dp_st_metadata(const dp_st *st, const char *key) {
    if (!st || !key) return NULL;
    for (size_t i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta[i].key, key) == 0) return st->meta[i].value;
    return NULL;
}

dp_status dp_st_read(const dp_st *st, const dp_st_tensor *t, void *dst, dp_error *e) {
    if (!st || !t || (!dst && t->size) || t->file >= st->n_files)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "dp_st_read: bad argument");
    if (t->size > SIZE_MAX)
        return dp_err_set(e, DP_ERR_LIMIT, "tensor '%s' is too large for this platform", t->name);
    if (t->size == 0) return DP_OK;
    dp_status s = dp_reader_read(&st->files[t->file].r, t->offset, dst, (size_t)t->size, e);
    if (s) dp_err_prefix(e, "tensor '%s'", t->name);
    return s;
}

dp_status dp_st_read_f32(const dp_st *st, const dp_st_tensor *t, float *dst, dp_error *e) {
    if (!st || !t) return dp_err_set(e, DP_ERR_INVALID_ARG, "dp_st_read_f32: bad argument");
    if (t->dtype == DP_DTYPE_I32)
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "tensor '%s' is I32, not a float type", t->name);
    if (t->dtype == DP_DTYPE_F32) return dp_st_read(st, t, dst, e);
    /* 16-bit: read the raw halves into the upper half of dst, then widen front to back; the
     * write of element i never reaches source elements > i. */
    uint64_t n = dp_st_numel(t);
    if (n == 0) return DP_OK;
    uint8_t *raw = (uint8_t *)dst + n * 2;
    dp_status s = dp_st_read(st, t, raw, e);
    if (s) return s;
    for (uint64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, raw + i * 2, 2);
        dst[i] = t->dtype == DP_DTYPE_F16 ? dp_f16_to_f32(h) : dp_bf16_to_f32(h);
    }
    return DP_OK;
}
