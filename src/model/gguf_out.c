/* gguf_out.c — GGUF v3 writer (see gguf_out.h). */
#include "model/gguf_out.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#define GGUF_ALIGN 32u

bool dp_gguf_type_of(dp_dtype t, uint32_t *ggml_type) {
    const int id = dp_dtype_ggml_id(t);
    if (id < 0) return false;
    *ggml_type = (uint32_t)id;
    return true;
}

static void put_u32(dp_buf *b, uint32_t v) {
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    dp_buf_append(b, x, 4);
}

static void put_u64(dp_buf *b, uint64_t v) {
    uint8_t x[8];
    for (int i = 0; i < 8; i++) x[i] = (uint8_t)(v >> (8 * i));
    dp_buf_append(b, x, 8);
}

static void put_str(dp_buf *b, const char *s, size_t n) {
    put_u64(b, n);
    dp_buf_append(b, s, n);
}

static void put_key(dp_gguf_out *o, const char *key, uint32_t type) {
    put_str(&o->kv, key, strlen(key));
    put_u32(&o->kv, type);
    o->n_kv++;
}

void dp_gguf_out_u32(dp_gguf_out *o, const char *key, uint32_t v) {
    put_key(o, key, DP_GGUF_U32);
    put_u32(&o->kv, v);
}

void dp_gguf_out_i32(dp_gguf_out *o, const char *key, int32_t v) {
    put_key(o, key, DP_GGUF_I32);
    put_u32(&o->kv, (uint32_t)v);
}

void dp_gguf_out_f32(dp_gguf_out *o, const char *key, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    put_key(o, key, DP_GGUF_F32);
    put_u32(&o->kv, u);
}

void dp_gguf_out_bool(dp_gguf_out *o, const char *key, bool v) {
    uint8_t b = v ? 1 : 0;
    put_key(o, key, DP_GGUF_BOOL);
    dp_buf_append(&o->kv, &b, 1);
}

void dp_gguf_out_str(dp_gguf_out *o, const char *key, const char *s) {
    put_key(o, key, DP_GGUF_STRING);
    put_str(&o->kv, s, strlen(s));
}

static size_t vsize(uint32_t t) {
    switch (t) {
    case DP_GGUF_U8: case DP_GGUF_I8: case DP_GGUF_BOOL: return 1;
    case DP_GGUF_U16: case DP_GGUF_I16: return 2;
    case DP_GGUF_U32: case DP_GGUF_I32: case DP_GGUF_F32: return 4;
    case DP_GGUF_U64: case DP_GGUF_I64: case DP_GGUF_F64: return 8;
    default: return 0;
    }
}

void dp_gguf_out_arr(dp_gguf_out *o, const char *key, uint32_t t, const void *data, uint64_t n) {
    size_t sz = vsize(t), bytes;
    if (!sz || !dp_mul_ok(sz, (size_t)n, &bytes)) {
        o->bad = true;
        return;
    }
    put_key(o, key, DP_GGUF_ARRAY);
    put_u32(&o->kv, t);
    put_u64(&o->kv, n);
    dp_buf_append(&o->kv, data, bytes);
}

void dp_gguf_out_arr_str_begin(dp_gguf_out *o, const char *key, uint64_t n) {
    put_key(o, key, DP_GGUF_ARRAY);
    put_u32(&o->kv, DP_GGUF_STRING);
    put_u64(&o->kv, n);
}

void dp_gguf_out_arr_put(dp_gguf_out *o, const char *s, size_t len) {
    put_str(&o->kv, s, len);
}

bool dp_gguf_out_copy(dp_gguf_out *o, const dp_gguf_kv *kv) {
    if (kv->type == DP_GGUF_ARRAY) {
        if (kv->arr_type == DP_GGUF_STRING) {
            const dp_gguf_str *s = kv->v.arr;
            dp_gguf_out_arr_str_begin(o, kv->key, kv->n);
            for (uint64_t i = 0; i < kv->n; i++) dp_gguf_out_arr_put(o, s[i].s, (size_t)s[i].len);
            return true;
        }
        if (!vsize(kv->arr_type)) return false;
        dp_gguf_out_arr(o, kv->key, kv->arr_type, kv->v.arr, kv->n);
        return true;
    }
    if (kv->type == DP_GGUF_STRING) {
        put_key(o, kv->key, DP_GGUF_STRING);
        put_str(&o->kv, kv->v.str.s, (size_t)kv->v.str.len);
        return true;
    }
    size_t sz = vsize(kv->type);
    if (!sz) return false;
    uint8_t x[8];
    if (kv->type == DP_GGUF_F32) {
        float f = (float)kv->v.f;
        memcpy(x, &f, 4);
    } else if (kv->type == DP_GGUF_F64) {
        memcpy(x, &kv->v.f, 8);
    } else if (kv->type == DP_GGUF_BOOL) {
        x[0] = kv->v.b ? 1 : 0;
    } else {
        /* integers: the low bytes of the two's-complement value, little-endian */
        uint64_t u = kv->v.u;
        for (size_t i = 0; i < sz; i++) x[i] = (uint8_t)(u >> (8 * i));
    }
    put_key(o, kv->key, kv->type);
    dp_buf_append(&o->kv, x, sz);
    return true;
}

void dp_gguf_out_tensor(dp_gguf_out *o, const char *name, dp_dtype t, uint32_t n_dims, const uint64_t ne[4]) {
    uint32_t gt;
    uint64_t row, bytes = 0, rows = 1;
    bool ok = dp_gguf_type_of(t, &gt) && n_dims >= 1 && n_dims <= 4 && dp_dtype_row_bytes(t, ne[0], &row);
    for (uint32_t i = 1; ok && i < n_dims; i++) ok = dp_mul_u64(rows, ne[i], &rows);
    ok = ok && dp_mul_u64(row, rows, &bytes);
    if (!ok) {
        o->bad = true;
        return;
    }
    put_str(&o->ti, name, strlen(name));
    put_u32(&o->ti, n_dims);
    for (uint32_t i = 0; i < n_dims; i++) put_u64(&o->ti, ne[i]);
    put_u32(&o->ti, gt);
    put_u64(&o->ti, o->data_size);
    o->data_size += (bytes + GGUF_ALIGN - 1) / GGUF_ALIGN * GGUF_ALIGN;
    o->n_tensors++;
}

/* err: the errno of the failed call (0: a short write without one). */
static dp_status fail_io(dp_gguf_out *o, int err, dp_error *e) {
    return dp_err_set(e, DP_ERR_IO, "cannot write %s: %s", o->path ? o->path : "gguf",
                      err ? strerror(err) : "short write");
}

/* A half-written output goes, but only a regular file (never a device given as the output). */
static void remove_partial(const char *path) {
    struct stat st;
    if (path && stat(path, &st) == 0 && S_ISREG(st.st_mode)) remove(path);
}

dp_status dp_gguf_out_open(dp_gguf_out *o, const char *path, dp_error *e) {
    if (o->kv.oom || o->ti.oom) return dp_err_set(e, DP_ERR_NOMEM, "gguf writer: out of memory");
    if (o->bad) return dp_err_set(e, DP_ERR_INTERNAL, "gguf writer: invalid metadata or tensor declaration");
    dp_buf h = {0};
    dp_buf_append(&h, "GGUF", 4);
    put_u32(&h, 3);
    put_u64(&h, o->n_tensors);
    put_u64(&h, o->n_kv);
    if (h.oom || !(o->path = dp_strdup(path))) {
        dp_buf_free(&h);
        return dp_err_set(e, DP_ERR_NOMEM, "gguf writer: out of memory");
    }
    o->f = fopen(path, "wb");
    if (!o->f) {
        dp_buf_free(&h);
        return dp_err_set(e, DP_ERR_IO, "cannot create %s: %s", path, strerror(errno));
    }
    size_t head = h.len + o->kv.len + o->ti.len;
    errno = 0;
    static const uint8_t zeros[GGUF_ALIGN] = {0};
    size_t pad = (GGUF_ALIGN - head % GGUF_ALIGN) % GGUF_ALIGN;
    bool ok = fwrite(h.data, 1, h.len, o->f) == h.len &&
              (!o->kv.len || fwrite(o->kv.data, 1, o->kv.len, o->f) == o->kv.len) &&
              (!o->ti.len || fwrite(o->ti.data, 1, o->ti.len, o->f) == o->ti.len) &&
              (!pad || fwrite(zeros, 1, pad, o->f) == pad);
    int err = errno;
    dp_buf_free(&h);
    return ok ? DP_OK : fail_io(o, err, e);
}

dp_status dp_gguf_out_write(dp_gguf_out *o, const void *data, size_t n, dp_error *e) {
    if (!o->f) return dp_err_set(e, DP_ERR_INTERNAL, "gguf writer: not open");
    if (n > o->data_size - o->written) return dp_err_set(e, DP_ERR_INTERNAL, "gguf writer: more data than declared");
    errno = 0;
    if (n && fwrite(data, 1, n, o->f) != n) return fail_io(o, errno, e);
    o->written += n;
    return DP_OK;
}

dp_status dp_gguf_out_end_tensor(dp_gguf_out *o, dp_error *e) {
    static const uint8_t zeros[GGUF_ALIGN] = {0};
    size_t pad = (size_t)((GGUF_ALIGN - o->written % GGUF_ALIGN) % GGUF_ALIGN);
    return dp_gguf_out_write(o, zeros, pad, e);
}

dp_status dp_gguf_out_close(dp_gguf_out *o, dp_error *e) {
    if (!o->f) return dp_err_set(e, DP_ERR_INTERNAL, "gguf writer: not open");
    if (o->written != o->data_size)
        return dp_err_set(e, DP_ERR_INTERNAL, "gguf writer: %llu of %llu data bytes written",
                          (unsigned long long)o->written, (unsigned long long)o->data_size);
    int rc = fclose(o->f), err = errno;
    o->f = NULL;
    if (rc == 0) return DP_OK;
    remove_partial(o->path);
    return fail_io(o, err, e);
}

void dp_gguf_out_free(dp_gguf_out *o) {
    if (o->f) {
        fclose(o->f);
        o->f = NULL;
        remove_partial(o->path);
    }
    dp_buf_free(&o->kv);
    dp_buf_free(&o->ti);
    dp_free(o->path);
    memset(o, 0, sizeof *o);
}
