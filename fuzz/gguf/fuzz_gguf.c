/* fuzz_gguf.c — src/format/gguf.h: dp_gguf_open on a memory reader holding the input, then every
 * accessor: each key/value by index and by name through every typed getter, every array element
 * through every element getter, each tensor by index and by name (its data range must lie inside
 * the input). */
#include "fuzz_common.h"

#include "format/gguf.h"

static void use_kv(const dp_gguf *g, const dp_gguf_kv *kv) {
    if (!kv || dp_gguf_find(g, kv->key) != kv) abort();
    fz_sink(fz_touch(kv->key, strlen(kv->key) + 1));
    uint64_t u;
    int64_t i;
    double f;
    bool b;
    dp_gguf_str s;
    fz_sink((uint32_t)dp_gguf_get_u64(g, kv->key, &u) + (uint32_t)dp_gguf_get_i64(g, kv->key, &i) +
            (uint32_t)dp_gguf_get_f64(g, kv->key, &f) + (uint32_t)dp_gguf_get_bool(g, kv->key, &b));
    if (dp_gguf_get_str(g, kv->key, &s)) {
        if (s.s[s.len] != 0) abort();
        fz_sink(fz_touch(s.s, (size_t)s.len + 1));
    }
    if (kv->type != DP_GGUF_ARRAY) {
        if (dp_gguf_arr_f64(kv, 0, &f) || dp_gguf_arr_i64(kv, 0, &i) || dp_gguf_arr_str(kv, 0, &s)) abort();
        return;
    }
    for (uint64_t k = 0; k < kv->n; k++) {
        bool nf = dp_gguf_arr_f64(kv, k, &f), ni = dp_gguf_arr_i64(kv, k, &i);
        bool ns = dp_gguf_arr_str(kv, k, &s);
        if (ns) {
            if (s.s[s.len] != 0) abort();
            fz_sink(fz_touch(s.s, (size_t)s.len + 1));
        }
        if (ns != (kv->arr_type == DP_GGUF_STRING) || (ns && (nf || ni))) abort();
        fz_sink((uint32_t)nf + (uint32_t)ni);
    }
    if (dp_gguf_arr_f64(kv, kv->n, &f) || dp_gguf_arr_i64(kv, kv->n, &i) || dp_gguf_arr_str(kv, kv->n, &s))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_begin(size);
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) abort();
    if (size) memcpy(copy, data, size);
    dp_reader r;
    dp_reader_open_mem(&r, copy, size);
    dp_gguf *g = NULL;
    dp_error e = {0};
    dp_status st = dp_gguf_open(&r, &g, &e);
    if (st == DP_OK) {
        if (dp_gguf_version(g) != 2 && dp_gguf_version(g) != 3) abort();
        size_t n = dp_gguf_n_kv(g);
        for (size_t k = 0; k < n; k++) use_kv(g, dp_gguf_kv_at(g, k));
        if (dp_gguf_kv_at(g, n) || dp_gguf_find(g, "") != NULL) fz_sink(1);
        size_t nt = dp_gguf_n_tensors(g);
        for (size_t k = 0; k < nt; k++) {
            const dp_gguf_tensor *t = dp_gguf_tensor_at(g, k);
            if (!t || dp_gguf_tensor_find(g, t->name) != t) abort();
            if (t->n_dims < 1 || t->n_dims > 4 || t->offset > size || t->size > size - t->offset) abort();
            fz_sink(fz_touch(t->name, strlen(t->name)));
            fz_sink(fz_touch(copy + t->offset, (size_t)t->size));
        }
        if (dp_gguf_tensor_at(g, nt)) abort();
        dp_gguf_free(g);
    } else if (!e.msg[0]) {
        abort();
    }
    free(copy);
    fz_end();
    return 0;
}
