/* ops_attention.c — causal grouped-query attention over the KV caches.
 *
 * Query row i (position p = pos0 + i), head h reads KV head h / (n_head / n_kv_head) and sees
 * the keys j in [0, p], or only (p - window, p] when window > 0 (the last `window` positions,
 * itself included: HF sliding-window semantics). score_j = (q . k_j) * scale, then
 * cap * tanh(score / cap) when softcap > 0; out = softmax(score) @ V, all in f32.
 *
 * The softmax is computed online over chunks of DP_ATTN_CHUNK keys (the running maximum and
 * sum are rescaled when a chunk raises the maximum, as in FlashAttention), so the only scratch
 * is a chunk of scores, q and the accumulator on each worker's stack: no heap scratch and no
 * limit on the context length. Work is split over (query row, head) pairs, interleaved so that
 * causal rows of unequal length spread evenly over the threads. out may alias q. */
#include "backend/cpu/cpu_internal.h"

#include <math.h>
#include <string.h>

#define DP_ATTN_CHUNK 64

typedef struct attn_job {
    float *out;
    const float *q, *k, *v;
    int n_head, hd, group, pos0, n, window;
    int64_t kv_stride; /* floats per cache row: n_kv_head * hd */
    float scale, softcap;
} attn_job;

static void attn_one(const attn_job *j, int i, int h) {
    float qv[DP_CPU_ATTN_MAX_HEAD_DIM], acc[DP_CPU_ATTN_MAX_HEAD_DIM], s[DP_ATTN_CHUNK];
    const int hd = j->hd;
    const int64_t row = (int64_t)i * j->n_head * hd + (int64_t)h * hd;
    const float *q = j->q + row;
    for (int t = 0; t < hd; t++) {
        qv[t] = q[t] * j->scale;
        acc[t] = 0.0f;
    }
    const int p = j->pos0 + i;
    const int lo = j->window > 0 && p - j->window + 1 > 0 ? p - j->window + 1 : 0;
    const int64_t kv_off = (int64_t)(h / j->group) * hd;
    const float cap = j->softcap, inv_cap = cap > 0.0f ? 1.0f / cap : 0.0f;
    float m = -INFINITY, l = 0.0f;
    for (int j0 = lo; j0 <= p; j0 += DP_ATTN_CHUNK) {
        const int cnt = p + 1 - j0 < DP_ATTN_CHUNK ? p + 1 - j0 : DP_ATTN_CHUNK;
        const float *kr = j->k + (int64_t)j0 * j->kv_stride + kv_off;
        float cmax = -INFINITY;
        for (int jj = 0; jj < cnt; jj++, kr += j->kv_stride) {
            float sc = dp_cpu_dot(qv, kr, hd);
            if (cap > 0.0f) sc = cap * tanhf(sc * inv_cap);
            s[jj] = sc;
            cmax = sc > cmax ? sc : cmax;
        }
        if (cmax > m) {
            const float corr = expf(m - cmax); /* 0 on the first chunk */
            l *= corr;
            for (int t = 0; t < hd; t++) acc[t] *= corr;
            m = cmax;
        }
        const float *vr = j->v + (int64_t)j0 * j->kv_stride + kv_off;
        for (int jj = 0; jj < cnt; jj++, vr += j->kv_stride) {
            const float pj = expf(s[jj] - m);
            l += pj;
            dp_cpu_axpy(acc, pj, vr, hd);
        }
    }
    float *o = j->out + row;
    const float inv_l = l > 0.0f ? 1.0f / l : 0.0f;
    for (int t = 0; t < hd; t++) o[t] = acc[t] * inv_l;
}

static void attn_run(void *arg, int ith, int nth) {
    const attn_job *j = arg;
    const int64_t tasks = (int64_t)j->n * j->n_head;
    for (int64_t t = ith; t < tasks; t += nth) attn_one(j, (int)(t / j->n_head), (int)(t % j->n_head));
}

void dp_cpu_op_attention(dp_backend *b, dp_tensor *out, const dp_tensor *q,
                         const dp_tensor *k_cache, const dp_tensor *v_cache,
                         const dp_attn_args *a) {
    dp_cpu_ctx *c = dp_cpu_ctx_of(b);
    if (!a || a->n_head <= 0 || a->n_kv_head <= 0 || a->n_head % a->n_kv_head || a->head_dim <= 0 ||
        a->head_dim > DP_CPU_ATTN_MAX_HEAD_DIM || a->pos0 < 0 || a->n < 0 || a->window < 0 ||
        a->pos0 > INT32_MAX - a->n) {
        dp_cpu_fail(c, DP_ERR_INVALID_ARG, "attention: bad args");
        return;
    }
    const int64_t q_count = (int64_t)a->n * a->n_head * a->head_dim;
    const int64_t kv_stride = (int64_t)a->n_kv_head * a->head_dim;
    const int64_t kv_count = (int64_t)(a->pos0 + a->n) * kv_stride;
    if (!dp_cpu_check_f32(c, q, q_count, "attention", "q") ||
        !dp_cpu_check_f32(c, out, q_count, "attention", "out") ||
        !dp_cpu_check_f32(c, k_cache, kv_count, "attention", "k_cache") ||
        !dp_cpu_check_f32(c, v_cache, kv_count, "attention", "v_cache"))
        return;
    attn_job j = {out->data,   q->data,   k_cache->data,
                  v_cache->data, a->n_head, a->head_dim,
                  a->n_head / a->n_kv_head, a->pos0, a->n,
                  a->window,   kv_stride, a->scale,
                  a->softcap};
    int64_t keys = a->window > 0 && a->window < a->pos0 + a->n ? a->window : a->pos0 + a->n;
    dp_cpu_run(c, attn_run, &j, q_count * keys * 2);
}
