/* cpu_internal.h — the CPU backend's context and the op entry points its vtable points at.
 *
 * Ops execute eagerly on the calling thread plus the context's thread pool; each kernel splits
 * its rows by (ith, nth) and takes no locks. Ops return nothing (backend.h): a failure (a shape
 * that does not fit its tensors, an unsupported dtype, scratch that cannot grow) is recorded in
 * the context as a sticky error, the op leaves its output untouched, and the next flush returns
 * the first such error and clears it.
 *
 * Scratch (matmul workspace, MoE routing and expert buffers, sampling candidates) lives in the
 * context and only grows: it is allocated the first time a larger shape appears, so a forward
 * pass at a steady shape allocates nothing. Attention's scratch does not depend on the context
 * length (an online softmax over fixed-size chunks of keys), so it has no context limit. */
#ifndef DP_CPU_INTERNAL_H
#define DP_CPU_INTERNAL_H

#include "backend/backend.h"
#include "backend/cpu/matmul.h"


/* Attention inner kernels over one chunk of cnt cached rows (row r at base + r * stride):
 *   scores: s[h * ss + r] = q_h . k_r            for the nh query vectors q_h = q + h * hd
 *   values: acc_h += s[h * ss + r] * v_r           for acc_h = acc + h * hd
 * Rows up to avail (>= cnt) exist past the chunk start and may be prefetched. A generic version
 * (ops_attention.c) and per-ISA ones (ops_attention_<isa>.c) chosen at backend creation. */
typedef void (*dp_cpu_attn_scores_fn)(float *s, int ss, const float *q, int nh, int hd,
                                      const float *base, int64_t stride, int cnt, int avail);
typedef void (*dp_cpu_attn_values_fn)(float *acc, const float *s, int ss, int nh, int hd,
                                      const float *base, int64_t stride, int cnt, int avail);
void dp_cpu_attn_scores_generic(float *s, int ss, const float *q, int nh, int hd,
                                const float *base, int64_t stride, int cnt, int avail);
void dp_cpu_attn_values_generic(float *acc, const float *s, int ss, int nh, int hd,
                                const float *base, int64_t stride, int cnt, int avail);
#if defined(__x86_64__) || defined(_M_X64)
#define DP_CPU_HAVE_AVX2 1
void dp_cpu_attn_scores_avx2(float *s, int ss, const float *q, int nh, int hd,
                             const float *base, int64_t stride, int cnt, int avail);
void dp_cpu_attn_values_avx2(float *acc, const float *s, int ss, int nh, int hd,
                             const float *base, int64_t stride, int cnt, int avail);
#endif
/* Rows ahead the attention kernels prefetch: cache rows are n_kv_head * head_dim floats apart
 * (often a page or more), which defeats the hardware prefetcher. */
#define DP_CPU_ATTN_PREFETCH 4

static inline void dp_cpu_prefetch_row(const float *r, int n) {
#if defined(__GNUC__)
    for (int o = 0; o < n; o += 16) __builtin_prefetch(r + o);
#else
    (void)r;
    (void)n;
#endif
}

/* A grow-only scratch buffer. */
typedef struct dp_cpu_scratch {
    void *data;
    size_t cap;
} dp_cpu_scratch;

typedef struct dp_cpu_ctx {
    dp_pool *pool;            /* a stream's is its backend's (not freed with the stream) */
    bool is_stream;           /* made by stream_new: one context's scratch and error */
    int n_threads;
    const char *isa;                    /* "avx2" or "generic": which inner kernels run */
    dp_cpu_attn_scores_fn attn_scores;
    dp_cpu_attn_values_fn attn_values;
    dp_cpu_ws ws;             /* dp_cpu_matmul's activation workspace */
    dp_cpu_scratch attn;      /* per worker: q, accumulators and a chunk of scores */
    /* MoE */
    dp_cpu_scratch moe_route; /* per token: k expert ids + k weights; per expert: counts, lists */
    dp_cpu_scratch moe_act;   /* gathered x, gate, up, expert out, accumulator */
    /* sampling */
    dp_cpu_scratch sample;    /* probabilities + candidate ids, vocab-sized */
    /* sticky error, reported by flush */
    dp_status status;
    dp_error err;
} dp_cpu_ctx;

static inline dp_cpu_ctx *dp_cpu_ctx_of(dp_backend *b) { return (dp_cpu_ctx *)b->ctx; }

/* Select the portable inner kernels (tests compare them with the per-ISA ones). */
void dp_cpu_use_generic(dp_backend *b);

/* Record a failure (the first one wins until flush); returns false so ops can write
 * `if (!cond) return (void)dp_cpu_fail(...)`. */
bool dp_cpu_fail(dp_cpu_ctx *c, dp_status st, const char *fmt, ...) DP_PRINTF(3, 4);
/* Make s hold at least n bytes (grow only; contents are not kept). false (and a sticky error
 * naming what) when it cannot. */
bool dp_cpu_scratch_reserve(dp_cpu_ctx *c, dp_cpu_scratch *s, size_t n, const char *what);
/* Tensor t holds at least count elements of its dtype (f32/i32: 4 bytes) and has host data. */
bool dp_cpu_check_f32(dp_cpu_ctx *c, const dp_tensor *t, int64_t count, const char *op,
                      const char *what);
bool dp_cpu_check_i32(dp_cpu_ctx *c, const dp_tensor *t, int64_t count, const char *op,
                      const char *what);
/* Run fn over the pool, or on the calling thread alone when work (roughly: elements touched)
 * is too small to be worth waking the workers. */
void dp_cpu_run(dp_cpu_ctx *c, dp_pool_fn fn, void *arg, int64_t work);

/* Rows [*lo, *hi) of n for thread ith of nth (contiguous, balanced). */
static inline void dp_cpu_split(int64_t n, int ith, int nth, int64_t *lo, int64_t *hi) {
    int64_t per = n / nth, rem = n % nth;
    *lo = ith * per + (ith < rem ? ith : rem);
    *hi = *lo + per + (ith < rem ? 1 : 0);
}

/* Dot product with eight independent partial sums (the compiler vectorises the lanes; the
 * order of additions is fixed, so results do not depend on threading). */
static inline float dp_cpu_dot(const float *a, const float *b, int64_t n) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
        s4 += a[i + 4] * b[i + 4];
        s5 += a[i + 5] * b[i + 5];
        s6 += a[i + 6] * b[i + 6];
        s7 += a[i + 7] * b[i + 7];
    }
    float r = 0;
    for (; i < n; i++) r += a[i] * b[i];
    return r + ((s0 + s4) + (s1 + s5)) + ((s2 + s6) + (s3 + s7));
}

/* y[i] += a * x[i] */
static inline void dp_cpu_axpy(float *restrict y, float a, const float *restrict x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

/* Activations shared by glu and moe. */
void dp_cpu_glu_rows(float *out, const float *gate, const float *up, int64_t count, dp_act act);

/* ---- ops (the vtable entries) ---- */
void dp_cpu_op_get_rows(dp_backend *b, dp_tensor *out, const dp_tensor *table,
                        const dp_tensor *ids, int n, float scale);
void dp_cpu_op_rms_norm(dp_backend *b, dp_tensor *out, const dp_tensor *x, const dp_tensor *w,
                        int n, int d, float eps, bool plus_one);
void dp_cpu_op_matmul(dp_backend *b, dp_tensor *out, const dp_tensor *x, const dp_tensor *w, int n,
                      bool accumulate);
void dp_cpu_op_lora(dp_backend *b, dp_tensor *out, const dp_tensor *x, const dp_tensor *a,
                    const dp_tensor *bw, dp_tensor *tmp, int n, float scale);
void dp_cpu_op_matmul_multi(dp_backend *b, dp_tensor *const *outs, const dp_tensor *x,
                            const dp_tensor *const *ws, int count, int n);
void dp_cpu_op_add(dp_backend *b, dp_tensor *out, const dp_tensor *a, const dp_tensor *bb,
                   int64_t count);
void dp_cpu_op_rope(dp_backend *b, dp_tensor *x, const dp_tensor *pos, const dp_tensor *inv_freq,
                    int n, const dp_rope_args *a);
void dp_cpu_op_verify(dp_backend *b, dp_tensor *out, const dp_tensor *logits, const dp_tensor *ids, int k,
                      int vocab);
void dp_cpu_op_verify_sample(dp_backend *b, dp_tensor *out, const dp_tensor *logits, const dp_tensor *ids,
                             const dp_tensor *rnd, int k, int vocab, int d_vocab, const dp_sample_args *a);
void dp_cpu_op_copy(dp_backend *b, dp_tensor *dst, int64_t dst_off, const dp_tensor *src,
                    int64_t count);
void dp_cpu_op_attention(dp_backend *b, dp_tensor *out, const dp_tensor *q,
                         const dp_tensor *k_cache, const dp_tensor *v_cache,
                         const dp_attn_args *a);
void dp_cpu_op_glu(dp_backend *b, dp_tensor *out, const dp_tensor *gate, const dp_tensor *up,
                   int n, int f, dp_act act);
void dp_cpu_op_softcap(dp_backend *b, dp_tensor *x, int64_t count, float cap);
void dp_cpu_op_moe(dp_backend *b, dp_tensor *out, const dp_tensor *x, const dp_tensor *logits,
                   const dp_tensor *gate, const dp_tensor *up, const dp_tensor *down,
               const dp_expert_src *src, int n,
                   int n_expert, int k, dp_act act);
void dp_cpu_op_sample(dp_backend *b, dp_tensor *out, const dp_tensor *logits, int row, int vocab,
                      const dp_sample_args *a);

#endif /* DP_CPU_INTERNAL_H */
