/* rdrr_write.c — RDRR v1 writer: aligned, content-named shards and manifest.json (rdrr.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/sha256.h"
#include "format/rdrr.h"

#define W_CHUNK (4u * 1024u * 1024u) /* bytes asked of the row callback at a time */

typedef struct w_shard { char hex[65]; uint64_t size; } w_shard;

struct dp_rdrr_writer {
    char *dir, *shards_dir;
    uint64_t shard_max;
    /* the open shard */
    FILE *f;
    char *tmp_path;
    dp_sha256_ctx sha;
    uint64_t pos;
    /* closed shards */
    w_shard *shards;
    uint32_t n_shards, cap_shards;
    uint64_t bytes_total;
    /* manifest pieces */
    dp_buf tensors;      /* ",\n\"name\": {...}" per tensor */
    size_t n_tensors;
    char **names;        /* open-addressing set of names written so far */
    size_t names_cap;
    uint8_t *buf;        /* chunk buffer for the row callback */
    size_t buf_cap;
    bool failed, finished;
    char id[65];
};

/* ---- name set (FNV-1a, linear probing, load <= 1/2) ---- */

static uint64_t w_hash(const char *s) {
    uint64_t h = 1469598103934665603u;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211u;
    return h;
}

static bool w_names_has(const dp_rdrr_writer *w, const char *s) {
    if (!w->names_cap) return false;
    size_t mask = w->names_cap - 1;
    for (size_t i = (size_t)w_hash(s) & mask; w->names[i]; i = (i + 1) & mask)
        if (strcmp(w->names[i], s) == 0) return true;
    return false;
}

static void w_names_put(char **slots, size_t cap, char *s) {
    size_t mask = cap - 1, i = (size_t)w_hash(s) & mask;
    while (slots[i]) i = (i + 1) & mask;
    slots[i] = s;
}

static dp_status w_names_add(dp_rdrr_writer *w, const char *s) {
    if ((w->n_tensors + 1) * 2 > w->names_cap) {
        size_t cap = w->names_cap ? w->names_cap * 2 : 256;
        char **slots = dp_calloc(cap, sizeof *slots);
        if (!slots) return DP_ERR_NOMEM;
        for (size_t i = 0; i < w->names_cap; i++)
            if (w->names[i]) w_names_put(slots, cap, w->names[i]);
        dp_free(w->names);
        w->names = slots;
        w->names_cap = cap;
    }
    char *copy = dp_strdup(s);
    if (!copy) return DP_ERR_NOMEM;
    w_names_put(w->names, w->names_cap, copy);
    return DP_OK;
}

/* ---- shards ---- */

static dp_status w_fail(dp_rdrr_writer *w, dp_status s) {
    w->failed = true;
    return s;
}

static dp_status w_shard_open(dp_rdrr_writer *w, dp_error *e) {
    char name[64];
    snprintf(name, sizeof name, ".tmp-%" PRIu32 ".part", w->n_shards);
    dp_free(w->tmp_path);
    w->tmp_path = dp_path_join(w->shards_dir, name);
    if (!w->tmp_path) return w_fail(w, dp_err_set(e, DP_ERR_NOMEM, "out of memory"));
    w->f = fopen(w->tmp_path, "wb");
    if (!w->f)
        return w_fail(w, dp_err_set(e, DP_ERR_IO, "cannot create %s: %s", w->tmp_path,
                                    strerror(errno)));
    dp_sha256_init(&w->sha);
    w->pos = 0;
    return DP_OK;
}

static dp_status w_write(dp_rdrr_writer *w, const void *p, size_t n, dp_error *e) {
    if (n && fwrite(p, 1, n, w->f) != n)
        return w_fail(w, dp_err_set(e, DP_ERR_IO, "write to %s failed: %s", w->tmp_path,
                                    strerror(errno)));
    dp_sha256_update(&w->sha, p, n);
    w->pos += n;
    w->bytes_total += n;
    return DP_OK;
}

static dp_status w_sync_close(FILE *f, const char *path, dp_error *e) {
    int err = 0;
    if (fflush(f) != 0) err = errno;
    else if (fsync(fileno(f)) != 0 && errno != EINVAL && errno != ENOTSUP) err = errno;
    if (fclose(f) != 0 && !err) err = errno;
    if (err) return dp_err_set(e, DP_ERR_IO, "cannot finish writing %s: %s", path, strerror(err));
    return DP_OK;
}

/* Finish the current shard: flush, fsync, close, rename to its hash. On any failure the .part
 * file is removed (docs/RDRR.md promises no leftovers). */
static dp_status w_shard_close(dp_rdrr_writer *w, dp_error *e) {
    if (!w->f) return DP_OK;
    FILE *f = w->f;
    w->f = NULL;
    dp_status s = w_sync_close(f, w->tmp_path, e);
    if (!s && w->n_shards == w->cap_shards) {
        uint32_t cap = w->cap_shards ? w->cap_shards * 2 : 16;
        w_shard *ns = dp_realloc(w->shards, (size_t)cap * sizeof *ns);
        if (!ns) s = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
        else w->shards = ns, w->cap_shards = cap;
    }
    char *dest = NULL;
    if (!s) {
        uint8_t digest[32];
        w_shard *sh = &w->shards[w->n_shards];
        dp_sha256_final(&w->sha, digest);
        dp_sha256_hex(digest, sh->hex);
        sh->size = w->pos;
        char name[80];
        snprintf(name, sizeof name, "%s.bin", sh->hex);
        dest = dp_path_join(w->shards_dir, name);
        if (!dest) s = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
        else if (rename(w->tmp_path, dest) != 0)
            s = dp_err_set(e, DP_ERR_IO, "cannot rename %s to %s: %s", w->tmp_path, dest, strerror(errno));
    }
    dp_free(dest);
    if (s) {
        remove(w->tmp_path);
        return w_fail(w, s);
    }
    w->n_shards++;
    w->pos = 0;
    return DP_OK;
}

static dp_status w_pad_to(dp_rdrr_writer *w, uint64_t at, dp_error *e) {
    static const uint8_t zeros[DP_RDRR_ALIGN];
    while (w->pos < at) {
        uint64_t n = at - w->pos;
        dp_status s = w_write(w, zeros, n > sizeof zeros ? sizeof zeros : (size_t)n, e);
        if (s) return s;
    }
    return DP_OK;
}

/* ---- public ---- */

dp_status dp_rdrr_writer_new(const char *dir, uint64_t shard_max, dp_rdrr_writer **out, dp_error *e) {
    if (!dir || !out) return dp_err_set(e, DP_ERR_INVALID_ARG, "dp_rdrr_writer_new: NULL argument");
    if (shard_max == 0) shard_max = DP_RDRR_DEFAULT_SHARD;
    if (shard_max < DP_RDRR_MIN_SHARD || shard_max > DP_RDRR_MAX_SHARD)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "shard size %" PRIu64 " is outside [%u, %u]",
                          shard_max, DP_RDRR_MIN_SHARD, DP_RDRR_MAX_SHARD);
    dp_rdrr_writer *w = dp_calloc(1, sizeof *w);
    if (!w) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    w->shard_max = shard_max;
    w->dir = dp_strdup(dir);
    w->shards_dir = dp_path_join(dir, "shards");
    dp_status s = DP_OK;
    if (!w->dir || !w->shards_dir) s = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    if (!s) s = dp_mkdir_p(w->shards_dir, e);
    if (s) {
        dp_rdrr_writer_free(w);
        return s;
    }
    *out = w;
    return DP_OK;
}

static dp_status w_check_usable(const dp_rdrr_writer *w, dp_error *e) {
    if (!w) return dp_err_set(e, DP_ERR_INVALID_ARG, "NULL writer");
    if (w->failed) return dp_err_set(e, DP_ERR_INVALID_ARG, "the writer failed earlier");
    if (w->finished) return dp_err_set(e, DP_ERR_INVALID_ARG, "the writer is finished");
    return DP_OK;
}

static void w_span_json(dp_buf *b, uint32_t shard, uint64_t off, uint64_t size, bool first) {
    dp_buf_printf(b, "%s{\"shard\": %" PRIu32 ", \"offset\": %" PRIu64 ", \"size\": %" PRIu64 "}",
                  first ? "" : ", ", shard, off, size);
}

/* Write rows [row0, row0 + n) at the current position through the chunk buffer. */
static dp_status w_rows(dp_rdrr_writer *w, const dp_rdrr_tensor_desc *d, uint64_t row_bytes,
                        uint64_t row0, uint64_t n, dp_rdrr_rows_fn rows, void *ud, dp_error *e) {
    uint64_t chunk_rows = W_CHUNK / row_bytes;
    if (chunk_rows == 0) chunk_rows = 1;
    if (chunk_rows > n) chunk_rows = n;
    size_t need = (size_t)(chunk_rows * row_bytes); /* <= max(W_CHUNK, shard_max) */
    if (need > w->buf_cap) {
        dp_free(w->buf);
        w->buf = dp_malloc(need);
        w->buf_cap = w->buf ? need : 0;
        if (!w->buf) return w_fail(w, dp_err_set(e, DP_ERR_NOMEM, "out of memory"));
    }
    for (uint64_t r = 0; r < n; r += chunk_rows) {
        uint64_t k = n - r < chunk_rows ? n - r : chunk_rows;
        dp_status s = rows(ud, row0 + r, k, w->buf, e);
        if (s) {
            dp_err_prefix(e, "tensor '%s'", d->name);
            return w_fail(w, s);
        }
        s = w_write(w, w->buf, (size_t)(k * row_bytes), e);
        if (s) return s;
    }
    return DP_OK;
}

dp_status dp_rdrr_writer_add(dp_rdrr_writer *w, const dp_rdrr_tensor_desc *d, dp_rdrr_rows_fn rows,
                             void *ud, dp_error *e) {
    dp_status s = w_check_usable(w, e);
    if (s) return s;
    if (!d || !d->name || !rows)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "dp_rdrr_writer_add: NULL argument");
    size_t nl = strlen(d->name);
    if (nl == 0 || nl > DP_RDRR_MAX_NAME)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "tensor name of %zu bytes (1..%u allowed)", nl,
                          DP_RDRR_MAX_NAME);
    if ((unsigned)d->dtype >= DP_DTYPE_COUNT)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "tensor '%s': bad dtype", d->name);
    if (d->layer < -1 || d->layer > DP_RDRR_MAX_LAYER || d->expert < -1 ||
        d->expert > DP_RDRR_MAX_EXPERT)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "tensor '%s': bad layer or expert", d->name);
    uint64_t row_bytes, total;
    if (!dp_dtype_row_bytes(d->dtype, d->ne[0], &row_bytes))
        return dp_err_set(e, DP_ERR_INVALID_ARG, "tensor '%s': row of %" PRIu64 " values is not "
                          "a whole number of %s blocks", d->name, d->ne[0], dp_dtype_name(d->dtype));
    if (!dp_mul_u64(row_bytes, d->ne[1], &total) || d->ne[0] > ((uint64_t)1 << 53) ||
        d->ne[1] > ((uint64_t)1 << 53))
        return dp_err_set(e, DP_ERR_INVALID_ARG, "tensor '%s': size overflows", d->name);
    if (total > 0 && row_bytes > w->shard_max)
        return dp_err_set(e, DP_ERR_LIMIT, "tensor '%s': one row is %" PRIu64 " bytes, larger "
                          "than a shard (%" PRIu64 ")", d->name, row_bytes, w->shard_max);
    if (w_names_has(w, d->name))
        return dp_err_set(e, DP_ERR_INVALID_ARG, "tensor '%s' added twice", d->name);

    dp_buf spans = {0};
    bool first = true;
    uint64_t row0 = 0;
    while (row0 < d->ne[1] && row_bytes > 0) {
        if (!w->f && (s = w_shard_open(w, e))) goto out;
        uint64_t left = (d->ne[1] - row0) * row_bytes;
        uint64_t start = dp_rdrr_align_up(w->pos);
        uint64_t room = start < w->shard_max ? w->shard_max - start : 0;
        uint64_t n_rows;
        if (left <= room) {
            n_rows = d->ne[1] - row0;
        } else if (left > w->shard_max && room / row_bytes > 0) {
            n_rows = room / row_bytes; /* larger than any shard: fill the room left */
        } else {
            if (w->pos == 0) { /* cannot happen: an empty shard holds a row */
                s = w_fail(w, dp_err_set(e, DP_ERR_INTERNAL, "rdrr writer placement"));
                goto out;
            }
            if ((s = w_shard_close(w, e))) goto out;
            continue;
        }
        if ((s = w_pad_to(w, start, e))) goto out;
        if ((s = w_rows(w, d, row_bytes, row0, n_rows, rows, ud, e))) goto out;
        w_span_json(&spans, w->n_shards, start, n_rows * row_bytes, first);
        first = false;
        row0 += n_rows;
        if (w->pos >= w->shard_max && (s = w_shard_close(w, e))) goto out;
    }

    dp_buf *b = &w->tensors;
    dp_buf_puts(b, w->n_tensors ? ",\n    " : "\n    ");
    dp_json_write_str(b, d->name, nl);
    dp_buf_printf(b, ": {\"dtype\": \"%s\", \"shape\": [%" PRIu64 ", %" PRIu64 "], \"role\": ",
                  dp_dtype_name(d->dtype), d->ne[1], d->ne[0]);
    const char *role = d->role ? d->role : "";
    dp_json_write_str(b, role, strlen(role));
    dp_buf_printf(b, ", \"layer\": %d", d->layer);
    if (d->expert >= 0) dp_buf_printf(b, ", \"expert\": %d", d->expert);
    dp_buf_puts(b, ", \"spans\": [");
    if (spans.len) dp_buf_append(b, spans.data, spans.len);
    dp_buf_puts(b, "]}");
    if (b->oom || spans.oom || w_names_add(w, d->name) != DP_OK) {
        s = w_fail(w, dp_err_set(e, DP_ERR_NOMEM, "out of memory"));
        goto out;
    }
    w->n_tensors++;
out:
    dp_buf_free(&spans);
    return s;
}

typedef struct w_mem { const uint8_t *data; uint64_t row_bytes; } w_mem;

static dp_status w_mem_rows(void *ud, uint64_t row0, uint64_t n_rows, void *dst, dp_error *e) {
    (void)e;
    const w_mem *m = ud;
    memcpy(dst, m->data + row0 * m->row_bytes, (size_t)(n_rows * m->row_bytes));
    return DP_OK;
}

dp_status dp_rdrr_writer_add_mem(dp_rdrr_writer *w, const dp_rdrr_tensor_desc *d, const void *data,
                                 dp_error *e) {
    if (!d) return dp_err_set(e, DP_ERR_INVALID_ARG, "dp_rdrr_writer_add_mem: NULL argument");
    w_mem m = {data, 0};
    if (!dp_dtype_row_bytes(d->dtype, d->ne[0], &m.row_bytes)) m.row_bytes = 0; /* add reports */
    if (!data && m.row_bytes && d->ne[1])
        return dp_err_set(e, DP_ERR_INVALID_ARG, "dp_rdrr_writer_add_mem: NULL data");
    return dp_rdrr_writer_add(w, d, w_mem_rows, &m, e);
}

dp_status dp_rdrr_writer_break(dp_rdrr_writer *w, uint64_t need_bytes, dp_error *e) {
    dp_status s = w_check_usable(w, e);
    if (s) return s;
    if (!w->f || w->pos == 0) return DP_OK;
    uint64_t start = dp_rdrr_align_up(w->pos);
    if (need_bytes == 0 || start >= w->shard_max || need_bytes > w->shard_max - start)
        return w_shard_close(w, e);
    return DP_OK;
}

static dp_status w_check_object(const char *what, const char *text, dp_error *e) {
    dp_json_doc *doc = NULL;
    dp_error pe = {0};
    dp_status s = dp_json_parse(text, strlen(text), &doc, &pe);
    if (s) return dp_err_set(e, s == DP_ERR_NOMEM ? s : DP_ERR_INVALID_ARG, "%s JSON: %s", what,
                             pe.msg);
    bool ok = dp_json_is(dp_json_root(doc), DP_JSON_OBJECT);
    dp_json_free(doc);
    if (!ok) return dp_err_set(e, DP_ERR_INVALID_ARG, "%s JSON is not an object", what);
    return DP_OK;
}

static dp_status w_write_file(const char *dir, const char *name, const dp_buf *b, dp_error *e) {
    char tmp_name[128];
    snprintf(tmp_name, sizeof tmp_name, ".%s.tmp", name);
    char *tmp = dp_path_join(dir, tmp_name), *dest = dp_path_join(dir, name);
    dp_status s = DP_OK;
    FILE *f = NULL;
    if (!tmp || !dest) { s = dp_err_set(e, DP_ERR_NOMEM, "out of memory"); goto out; }
    f = fopen(tmp, "wb");
    if (!f) { s = dp_err_set(e, DP_ERR_IO, "cannot create %s: %s", tmp, strerror(errno)); goto out; }
    if (b->len && fwrite(b->data, 1, b->len, f) != b->len) {
        s = dp_err_set(e, DP_ERR_IO, "write to %s failed: %s", tmp, strerror(errno));
        fclose(f);
        remove(tmp);
        goto out;
    }
    s = w_sync_close(f, tmp, e);
    if (!s && rename(tmp, dest) != 0)
        s = dp_err_set(e, DP_ERR_IO, "cannot rename %s to %s: %s", tmp, dest, strerror(errno));
    if (s) remove(tmp);
out:
    dp_free(tmp);
    dp_free(dest);
    return s;
}

dp_status dp_rdrr_writer_finish(dp_rdrr_writer *w, const char *model_json, const char *tokenizer_json,
                                dp_error *e) {
    dp_status s = w_check_usable(w, e);
    if (s) return s;
    if (!model_json) return dp_err_set(e, DP_ERR_INVALID_ARG, "dp_rdrr_writer_finish: no model JSON");
    if ((s = w_check_object("model", model_json, e))) return s;
    if (tokenizer_json && (s = w_check_object("tokenizer", tokenizer_json, e))) return s;
    if ((s = w_shard_close(w, e))) return s;

    dp_buf b = {0};
    dp_buf_puts(&b, "{\n  \"format\": \"rdrr\",\n  \"version\": 1,\n  \"model\": ");
    dp_buf_puts(&b, model_json);
    if (tokenizer_json) {
        dp_buf_puts(&b, ",\n  \"tokenizer\": ");
        dp_buf_puts(&b, tokenizer_json);
    }
    dp_buf_puts(&b, ",\n  \"shards\": [");
    for (uint32_t i = 0; i < w->n_shards; i++)
        dp_buf_printf(&b, "%s\n    {\"hash\": \"sha256:%s\", \"size\": %" PRIu64 "}",
                      i ? "," : "", w->shards[i].hex, w->shards[i].size);
    dp_buf_puts(&b, w->n_shards ? "\n  ],\n  \"tensors\": {" : "],\n  \"tensors\": {");
    if (w->tensors.len) dp_buf_append(&b, w->tensors.data, w->tensors.len);
    dp_buf_puts(&b, w->n_tensors ? "\n  }\n}\n" : "}\n}\n");
    if (b.oom) {
        dp_buf_free(&b);
        return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    }
    /* The reader's validator is the specification: never write a manifest it would refuse. */
    dp_rdrr *check = NULL;
    s = dp_rdrr_parse_manifest(b.data, b.len, &check, e);
    if (s) {
        dp_err_prefix(e, "the manifest being written is invalid");
        dp_buf_free(&b);
        return s == DP_ERR_NOMEM ? s : DP_ERR_INVALID_ARG;
    }
    snprintf(w->id, sizeof w->id, "%s", dp_rdrr_id(check));
    dp_rdrr_free(check);
    s = w_write_file(w->dir, "manifest.json", &b, e);
    dp_buf_free(&b);
    if (s) return w_fail(w, s);
    w->finished = true;
    return DP_OK;
}

const char *dp_rdrr_writer_model_id(const dp_rdrr_writer *w) {
    return w && w->finished ? w->id : NULL;
}

uint64_t dp_rdrr_writer_bytes(const dp_rdrr_writer *w) { return w ? w->bytes_total : 0; }

void dp_rdrr_writer_free(dp_rdrr_writer *w) {
    if (!w) return;
    if (w->f) {
        fclose(w->f);
        remove(w->tmp_path);
    }
    for (size_t i = 0; i < w->names_cap; i++) dp_free(w->names[i]);
    dp_free(w->names);
    dp_free(w->tmp_path);
    dp_free(w->shards);
    dp_buf_free(&w->tensors);
    dp_free(w->buf);
    dp_free(w->dir);
    dp_free(w->shards_dir);
    dp_free(w);
}
