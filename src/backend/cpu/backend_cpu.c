/* backend_cpu.c — the CPU backend: context, host memory, sticky errors, the vtable.
 *
 * Memory: tensor_alloc gives 64-byte aligned, zero-filled host memory through dp_calloc and
 * marks the tensor as owned (handle = DP_CPU_OWNED); tensor_free releases only owned tensors,
 * so the runtime may also point a tensor's data at memory it manages itself (e.g. a mapped
 * weight file) and hand it to the ops. tensor_set / tensor_read are bounds-checked memcpy;
 * flush only reports (and clears) the first op failure since the previous flush. */
#include "backend/cpu/cpu_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define DP_CPU_ALIGN 64
#define DP_CPU_OWNED 1u

/* ---- sticky errors and scratch ---- */

bool dp_cpu_fail(dp_cpu_ctx *c, dp_status st, const char *fmt, ...) {
    if (c->status != DP_OK) return false;
    c->status = st;
    c->err.status = st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err.msg, sizeof c->err.msg, fmt, ap);
    va_end(ap);
    return false;
}

bool dp_cpu_scratch_reserve(dp_cpu_ctx *c, dp_cpu_scratch *s, size_t n, const char *what) {
    if (n <= s->cap) return true;
    size_t cap = s->cap ? s->cap : 4096;
    while (cap < n) cap = cap > SIZE_MAX / 2 ? n : cap * 2;
    void *p = dp_malloc(cap);
    if (!p) return dp_cpu_fail(c, DP_ERR_NOMEM, "cpu: cannot grow %s scratch to %zu bytes", what, n);
    dp_free(s->data);
    s->data = p;
    s->cap = cap;
    return true;
}

static bool check_tensor(dp_cpu_ctx *c, const dp_tensor *t, dp_dtype want, int64_t count,
                         const char *op, const char *what) {
    if (!t || !t->data) return dp_cpu_fail(c, DP_ERR_INVALID_ARG, "%s: %s has no data", op, what);
    if (t->dtype != want)
        return dp_cpu_fail(c, DP_ERR_UNSUPPORTED, "%s: %s is %s, want %s", op, what,
                           dp_dtype_name(t->dtype), dp_dtype_name(want));
    if (count < 0 || (uint64_t)count > t->nbytes / 4)
        return dp_cpu_fail(c, DP_ERR_INVALID_ARG, "%s: %s holds %llu bytes, need %lld elements",
                           op, what, (unsigned long long)t->nbytes, (long long)count);
    return true;
}

bool dp_cpu_check_f32(dp_cpu_ctx *c, const dp_tensor *t, int64_t count, const char *op,
                      const char *what) {
    return check_tensor(c, t, DP_DTYPE_F32, count, op, what);
}

bool dp_cpu_check_i32(dp_cpu_ctx *c, const dp_tensor *t, int64_t count, const char *op,
                      const char *what) {
    return check_tensor(c, t, DP_DTYPE_I32, count, op, what);
}

/* Below this many touched elements an op runs on the calling thread only. */
#define DP_CPU_PARALLEL_MIN 16384

void dp_cpu_run(dp_cpu_ctx *c, dp_pool_fn fn, void *arg, int64_t work) {
    if (work < DP_CPU_PARALLEL_MIN || c->n_threads <= 1)
        fn(arg, 0, 1);
    else
        dp_pool_run(c->pool, fn, arg);
}

/* ---- memory ---- */

static dp_status cpu_tensor_alloc(dp_backend *b, dp_tensor *t, dp_error *e) {
    (void)b;
    if (t->nbytes > SIZE_MAX - DP_CPU_ALIGN - sizeof(void *))
        return dp_err_set(e, DP_ERR_NOMEM, "cpu: tensor of %llu bytes is too large",
                          (unsigned long long)t->nbytes);
    size_t total = (size_t)t->nbytes + DP_CPU_ALIGN + sizeof(void *);
    char *raw = dp_calloc(1, total);
    if (!raw)
        return dp_err_set(e, DP_ERR_NOMEM, "cpu: cannot allocate a tensor of %llu bytes",
                          (unsigned long long)t->nbytes);
    uintptr_t p = (uintptr_t)(raw + sizeof(void *));
    p = (p + DP_CPU_ALIGN - 1) & ~(uintptr_t)(DP_CPU_ALIGN - 1);
    char *aligned = (char *)p;
    memcpy(aligned - sizeof(void *), &raw, sizeof raw);
    t->data = aligned;
    t->handle = DP_CPU_OWNED;
    t->offset = 0;
    return DP_OK;
}

static void cpu_tensor_free(dp_backend *b, dp_tensor *t) {
    (void)b;
    if (!t || !t->data) return;
    if (t->handle == DP_CPU_OWNED) {
        char *raw;
        memcpy(&raw, (char *)t->data - sizeof(void *), sizeof raw);
        dp_free(raw);
    }
    t->data = NULL;
    t->handle = 0;
}

/* Not owned (handle 0): tensor_free leaves the memory to whoever mapped it. */
static dp_status cpu_tensor_wrap(dp_backend *b, dp_tensor *t, void *data, dp_error *e) {
    (void)b;
    if (!data || (uintptr_t)data % DP_CPU_ALIGN)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "cpu: tensor_wrap needs %d-byte aligned memory", DP_CPU_ALIGN);
    t->data = data;
    t->handle = 0;
    t->offset = 0;
    return DP_OK;
}

static dp_status cpu_tensor_set(dp_backend *b, dp_tensor *t, uint64_t off, const void *src,
                                uint64_t n, dp_error *e) {
    (void)b;
    if (!t->data || off > t->nbytes || n > t->nbytes - off)
        return dp_err_set(e, DP_ERR_INVALID_ARG,
                          "cpu: tensor_set of %llu bytes at %llu past a %llu-byte tensor",
                          (unsigned long long)n, (unsigned long long)off,
                          (unsigned long long)t->nbytes);
    if (n) memcpy((char *)t->data + off, src, (size_t)n);
    return DP_OK;
}

static dp_status cpu_tensor_read(dp_backend *b, const dp_tensor *t, uint64_t off, void *dst,
                                 uint64_t n, dp_error *e) {
    (void)b;
    if (!t->data || off > t->nbytes || n > t->nbytes - off)
        return dp_err_set(e, DP_ERR_INVALID_ARG,
                          "cpu: tensor_read of %llu bytes at %llu past a %llu-byte tensor",
                          (unsigned long long)n, (unsigned long long)off,
                          (unsigned long long)t->nbytes);
    if (n) memcpy(dst, (const char *)t->data + off, (size_t)n);
    return DP_OK;
}

static dp_status cpu_flush(dp_backend *b, dp_error *e) {
    dp_cpu_ctx *c = dp_cpu_ctx_of(b);
    dp_status st = c->status;
    if (st != DP_OK) {
        if (e) *e = c->err;
        c->status = DP_OK;
        memset(&c->err, 0, sizeof c->err);
    }
    return st;
}

static void cpu_free(dp_backend *b) {
    if (!b) return;
    dp_cpu_ctx *c = dp_cpu_ctx_of(b);
    if (c) {
        if (!c->is_stream) dp_pool_free(c->pool);
        dp_cpu_ws_free(&c->ws);
        dp_free(c->attn.data);
        dp_free(c->moe_route.data);
        dp_free(c->moe_act.data);
        dp_free(c->sample.data);
        dp_free(c);
    }
    dp_free(b);
}

/* ---- matmul: straight to the matmul module ---- */

/* Checks one product's operands; false (with the error recorded) when they do not fit. */
static bool matmul_check(dp_cpu_ctx *c, const dp_tensor *out, const dp_tensor *x,
                         const dp_tensor *w, int n) {
    if (!w || !w->data) {
        dp_cpu_fail(c, DP_ERR_INVALID_ARG, "matmul: weight has no data");
        return false;
    }
    int64_t k = w->ne[0], m = w->ne[1];
    uint64_t row_bytes = 0;
    if (k <= 0 || m <= 0 || k > INT32_MAX || m > INT32_MAX || n < 0 ||
        !dp_dtype_row_bytes(w->dtype, (uint64_t)k, &row_bytes) || w->dtype == DP_DTYPE_I32 ||
        row_bytes * (uint64_t)m > w->nbytes) {
        dp_cpu_fail(c, DP_ERR_INVALID_ARG, "matmul: bad weight shape [%lld, %lld] (%s)",
                    (long long)k, (long long)m, dp_dtype_name(w->dtype));
        return false;
    }
    return dp_cpu_check_f32(c, x, (int64_t)n * k, "matmul", "x") &&
           dp_cpu_check_f32(c, out, (int64_t)n * m, "matmul", "out");
}

void dp_cpu_op_matmul(dp_backend *b, dp_tensor *out, const dp_tensor *x, const dp_tensor *w, int n,
                      bool accumulate) {
    dp_cpu_ctx *c = dp_cpu_ctx_of(b);
    if (!matmul_check(c, out, x, w, n)) return;
    const int64_t k = w->ne[0], m = w->ne[1];
    if (n == 0) return;
    dp_status st = dp_cpu_matmul_layout(c->pool, &c->ws, out->data, x->data, w->data, w->dtype,
                                        (dp_cpu_wlayout)w->layout, n, (int)k, (int)m, accumulate);
    if (st != DP_OK) dp_cpu_fail(c, st, "matmul: %s", dp_status_str(st));
}

#define MM_MULTI_MAX 4

void dp_cpu_op_matmul_multi(dp_backend *b, dp_tensor *const *outs, const dp_tensor *x,
                            const dp_tensor *const *ws, int count, int n) {
    dp_cpu_ctx *c = dp_cpu_ctx_of(b);
    if (count < 0 || (count > 0 && (!outs || !ws))) {
        dp_cpu_fail(c, DP_ERR_INVALID_ARG, "matmul_multi: bad arguments");
        return;
    }
    if (count > MM_MULTI_MAX) { /* more than the fused path takes: one product at a time */
        for (int i = 0; i < count; i++) dp_cpu_op_matmul(b, outs[i], x, ws[i], n, false);
        return;
    }
    dp_cpu_mm_part parts[MM_MULTI_MAX];
    for (int i = 0; i < count; i++) {
        if (!matmul_check(c, outs[i], x, ws[i], n)) return;
        if (ws[i]->ne[0] != ws[0]->ne[0] || outs[i]->data == x->data) {
            dp_cpu_fail(c, DP_ERR_INVALID_ARG, "matmul_multi: weights of different k or out aliasing x");
            return;
        }
        parts[i] = (dp_cpu_mm_part){outs[i]->data, ws[i]->data, ws[i]->dtype, (int)ws[i]->ne[1], false,
                                    (dp_cpu_wlayout)ws[i]->layout};
    }
    if (n == 0 || count == 0) return;
    dp_status st = dp_cpu_matmul_multi(c->pool, &c->ws, x->data, n, (int)ws[0]->ne[0], parts, count);
    if (st != DP_OK) dp_cpu_fail(c, st, "matmul_multi: %s", dp_status_str(st));
}

void dp_cpu_op_lora(dp_backend *b, dp_tensor *out, const dp_tensor *x, const dp_tensor *a,
                    const dp_tensor *bw, dp_tensor *tmp, int n, float scale) {
    dp_cpu_ctx *c = dp_cpu_ctx_of(b);
    if (!matmul_check(c, tmp, x, a, n) || !matmul_check(c, out, tmp, bw, n)) return;
    const int64_t k = a->ne[0], r = a->ne[1], m = bw->ne[1];
    if (a->dtype != DP_DTYPE_F32 || bw->dtype != DP_DTYPE_F32 || bw->ne[0] != r ||
        tmp->data == out->data || tmp->data == x->data) {
        dp_cpu_fail(c, DP_ERR_INVALID_ARG, "lora: A [%lld, %lld] and B [%lld, %lld] (f32) do not chain, or tmp is short",
                    (long long)r, (long long)k, (long long)m, (long long)bw->ne[0]);
        return;
    }
    if (n == 0) return;
    float *t = tmp->data;
    dp_status st = dp_cpu_matmul(c->pool, &c->ws, t, x->data, a->data, DP_DTYPE_F32, n, (int)k, (int)r, false);
    for (int64_t i = 0; i < (int64_t)n * r; i++) t[i] *= scale;
    if (st == DP_OK) st = dp_cpu_matmul(c->pool, &c->ws, out->data, t, bw->data, DP_DTYPE_F32, n, (int)r, (int)m, true);
    if (st != DP_OK) dp_cpu_fail(c, st, "lora: %s", dp_status_str(st));
}

/* q4_K weights (q6_K too when built with -DDP_MM_X8_Q6K_PREFERRED=1) of at least 8 rows go to
 * DP_CPU_W_X8 when this CPU's kernels have an x8 kernel for them (AVX2, AVX-512 VNNI): in
 * place, same bytes, so no extra memory. */
static void cpu_prepare_weight(dp_backend *b, dp_tensor *t) {
    (void)b;
    if (!t || !t->data || t->layout != DP_CPU_W_ROWS || !dp_cpu_x8_preferred(t->dtype) ||
        t->ne[0] <= 0 || t->ne[0] > INT32_MAX || t->ne[1] < 8 || t->ne[1] > INT32_MAX)
        return;
    uint64_t rb = 0;
    if (!dp_dtype_row_bytes(t->dtype, (uint64_t)t->ne[0], &rb) || rb * (uint64_t)t->ne[1] > t->nbytes)
        return;
    if (dp_cpu_x8_repack(t->dtype, (int)t->ne[0], (int)t->ne[1], t->data)) t->layout = DP_CPU_W_X8;
}

void dp_cpu_use_generic(dp_backend *b) {
    dp_cpu_ctx *c = dp_cpu_ctx_of(b);
    c->isa = "generic";
    c->attn_scores = dp_cpu_attn_scores_generic;
    c->attn_values = dp_cpu_attn_values_generic;
}

static void cpu_pick_kernels(dp_backend *b) {
    dp_cpu_use_generic(b);
#if defined(DP_CPU_HAVE_AVX2) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        dp_cpu_ctx *c = dp_cpu_ctx_of(b);
        c->isa = "avx2";
        c->attn_scores = dp_cpu_attn_scores_avx2;
        c->attn_values = dp_cpu_attn_values_avx2;
    }
#endif
}

static const dp_backend_i cpu_vtable;

/* A stream shares the pool and the kernel choice; scratch and the sticky error are its own. */
static dp_status cpu_stream_new(dp_backend *b, dp_backend **out, dp_error *e) {
    const dp_cpu_ctx *root = dp_cpu_ctx_of(b);
    dp_backend *sb = dp_calloc(1, sizeof *sb);
    dp_cpu_ctx *c = dp_calloc(1, sizeof *c);
    if (!sb || !c) {
        dp_free(sb);
        dp_free(c);
        return dp_err_set(e, DP_ERR_NOMEM, "cpu: cannot allocate a stream");
    }
    c->pool = root->pool;
    c->n_threads = root->n_threads;
    c->isa = root->isa;
    c->attn_scores = root->attn_scores;
    c->attn_values = root->attn_values;
    c->is_stream = true;
    sb->i = &cpu_vtable;
    sb->ctx = c;
    *out = sb;
    return DP_OK;
}

static const dp_backend_i cpu_vtable = {
    .name = "cpu",
    .free = cpu_free,
    .tensor_alloc = cpu_tensor_alloc,
    .tensor_free = cpu_tensor_free,
    .tensor_wrap = cpu_tensor_wrap,
    .tensor_set = cpu_tensor_set,
    .tensor_read = cpu_tensor_read,
    .flush = cpu_flush,
    .reads_deferred = false,
    .get_rows = dp_cpu_op_get_rows,
    .rms_norm = dp_cpu_op_rms_norm,
    .matmul = dp_cpu_op_matmul,
    .matmul_multi = dp_cpu_op_matmul_multi,
    .lora = dp_cpu_op_lora,
    .prepare_weight = cpu_prepare_weight,
    .add = dp_cpu_op_add,
    .rope = dp_cpu_op_rope,
    .copy = dp_cpu_op_copy,
    .attention = dp_cpu_op_attention,
    .glu = dp_cpu_op_glu,
    .softcap = dp_cpu_op_softcap,
    .moe = dp_cpu_op_moe,
    .sample = dp_cpu_op_sample,
    .verify = dp_cpu_op_verify,
    .verify_sample = dp_cpu_op_verify_sample,
    .stream_new = cpu_stream_new,
};

dp_status dp_backend_cpu_new(int n_threads, dp_backend **out, dp_error *e) {
    dp_backend *b = dp_calloc(1, sizeof *b);
    dp_cpu_ctx *c = dp_calloc(1, sizeof *c);
    if (!b || !c) {
        dp_free(b);
        dp_free(c);
        return dp_err_set(e, DP_ERR_NOMEM, "cpu: cannot allocate the backend");
    }
    b->i = &cpu_vtable;
    b->ctx = c;
    dp_status st = dp_pool_new(n_threads, &c->pool, e);
    if (st != DP_OK) {
        cpu_free(b);
        return st;
    }
    c->n_threads = dp_pool_size(c->pool);
    cpu_pick_kernels(b);
    *out = b;
    return DP_OK;
}
