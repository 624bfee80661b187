/* ops_attention.c — causal grouped-query attention over the KV caches.
 *
 * Query row i (position p = pos0 + i), head h reads KV head h / (n_head / n_kv_head) and sees
 * the keys j in [0, p], or only (p - window, p] when window > 0 (the last `window` positions,
 * itself included: HF sliding-window semantics). score_j = (q . k_j) * scale, then
 * cap * tanh(score / cap) when softcap > 0; out = softmax(score) @ V, all in f32.
 *
 * The softmax is computed online over chunks of DP_ATTN_CHUNK keys (the running maximum and
 * sum are rescaled when a chunk raises the maximum, as in FlashAttention), so the scratch does
 * not depend on the context length. A task is one query row and a block of up to
 * DP_ATTN_MAX_HB query heads sharing one KV head, so each cached K/V row is read once for the
 * whole block; blocks are smaller than the GQA group only when there would otherwise be too few
 * tasks for the threads. Tasks are dealt out interleaved so that causal rows of unequal length
 * spread evenly. The two inner loops (scores of a chunk, values of a chunk) are per-ISA kernels
 * (generic here, AVX2 in ops_attention_avx2.c); they prefetch the next cache rows explicitly.
 *
 * Scratch: per worker, hb * (2 * head_dim + DP_ATTN_CHUNK + 2) floats in the context, grown
 * only when a larger head_dim or block first appears. out may alias q (a task reads its q rows
 * into scratch before it writes the same rows of out). */
#include "backend/cpu/cpu_internal.h"

#include <math.h>
#include <string.h>

#define DP_ATTN_CHUNK 64
#define DP_ATTN_MAX_HB 8

typedef struct attn_job {
    float *out;
    const float *q, *k, *v;
    int n_head, n_kv, hd, group, pos0, n, window;
    int hb, n_hb; /* heads per task, tasks per KV head */
    int64_t kv_stride; /* floats per cache row: n_kv_head * hd */
    float scale, softcap;
    float *scratch;
    size_t per_thread; /* floats */
    dp_cpu_attn_scores_fn scores;
    dp_cpu_attn_values_fn values;
} attn_job;

void dp_cpu_attn_scores_generic(float *s, int ss, const float *q, int nh, int hd,
                                const float *base, int64_t stride, int cnt, int avail) {
    for (int r = 0; r < cnt; r++) {
        const float *kr = base + r * stride;
        if (r + DP_CPU_ATTN_PREFETCH < avail)
            dp_cpu_prefetch_row(kr + DP_CPU_ATTN_PREFETCH * stride, hd);
        for (int h = 0; h < nh; h++) s[h * ss + r] = dp_cpu_dot(q + (size_t)h * hd, kr, hd);
    }
}

void dp_cpu_attn_values_generic(float *acc, const float *s, int ss, int nh, int hd,
                                const float *base, int64_t stride, int cnt, int avail) {
    for (int r = 0; r < cnt; r++) {
        const float *vr = base + r * stride;
        if (r + DP_CPU_ATTN_PREFETCH < avail)
            dp_cpu_prefetch_row(vr + DP_CPU_ATTN_PREFETCH * stride, hd);
        for (int h = 0; h < nh; h++) dp_cpu_axpy(acc + (size_t)h * hd, s[h * ss + r], vr, hd);
    }
}

static void attn_task(const attn_job *j, float *ws, int i, int g, int sb) {
    const int hd = j->hd, hb = j->hb;
    const int h0 = g * j->group + sb * hb;
    const int nh = (g + 1) * j->group - h0 < hb ? (g + 1) * j->group - h0 : hb;
    float *qv = ws, *acc = qv + (size_t)hb * hd, *s = acc + (size_t)hb * hd;
    float *m = s + (size_t)hb * DP_ATTN_CHUNK, *l = m + hb;
    const int64_t row = (int64_t)i * j->n_head * hd + (int64_t)h0 * hd;
    const float *q = j->q + row;
    for (int t = 0; t < nh * hd; t++) {
        qv[t] = q[t] * j->scale;
        acc[t] = 0.0f;
    }
    for (int hh = 0; hh < nh; hh++) {
        m[hh] = -INFINITY;
        l[hh] = 0.0f;
    }
    const int p = j->pos0 + i;
    const int lo = j->window > 0 && p - j->window + 1 > 0 ? p - j->window + 1 : 0;
    const int64_t st = j->kv_stride;
    const float *kb = j->k + (int64_t)g * hd, *vb = j->v + (int64_t)g * hd;
    const float cap = j->softcap, inv_cap = cap > 0.0f ? 1.0f / cap : 0.0f;
    for (int j0 = lo; j0 <= p; j0 += DP_ATTN_CHUNK) {
        const int cnt = p + 1 - j0 < DP_ATTN_CHUNK ? p + 1 - j0 : DP_ATTN_CHUNK;
        j->scores(s, DP_ATTN_CHUNK, qv, nh, hd, kb + (int64_t)j0 * st, st, cnt, p + 1 - j0);
        /* soft-cap, running max, probabilities */
        for (int hh = 0; hh < nh; hh++) {
            float *sh = s + hh * DP_ATTN_CHUNK;
            if (cap > 0.0f)
                for (int jj = 0; jj < cnt; jj++) sh[jj] = cap * tanhf(sh[jj] * inv_cap);
            float cmax = -INFINITY;
            for (int jj = 0; jj < cnt; jj++) cmax = sh[jj] > cmax ? sh[jj] : cmax;
            if (cmax > m[hh]) {
                const float corr = expf(m[hh] - cmax); /* 0 on the first chunk */
                l[hh] *= corr;
                float *a = acc + (size_t)hh * hd;
                for (int t = 0; t < hd; t++) a[t] *= corr;
                m[hh] = cmax;
            }
            float sum = 0.0f;
            for (int jj = 0; jj < cnt; jj++) sum += sh[jj] = expf(sh[jj] - m[hh]);
            l[hh] += sum;
        }
        j->values(acc, s, DP_ATTN_CHUNK, nh, hd, vb + (int64_t)j0 * st, st, cnt, p + 1 - j0);
    }
    float *o = j->out + row;
    for (int hh = 0; hh < nh; hh++) {
        const float inv_l = l[hh] > 0.0f ? 1.0f / l[hh] : 0.0f;
        for (int t = 0; t < hd; t++) o[hh * hd + t] = acc[hh * hd + t] * inv_l;
    }
}

static void attn_run(void *arg, int ith, int nth) {
    const attn_job *j = arg;
    float *ws = j->scratch + (size_t)ith * j->per_thread;
    const int per_row = j->n_kv * j->n_hb;
    const int64_t tasks = (int64_t)j->n * per_row;
    for (int64_t t = ith; t < tasks; t += nth) {
        const int r = (int)(t % per_row);
        attn_task(j, ws, (int)(t / per_row), r / j->n_hb, r % j->n_hb);
    }
}

void dp_cpu_op_attention(dp_backend *b, dp_tensor *out, const dp_tensor *q,
                         const dp_tensor *k_cache, const dp_tensor *v_cache,
                         const dp_attn_args *a) {
    dp_cpu_ctx *c = dp_cpu_ctx_of(b);
    if (!a || a->n_head <= 0 || a->n_kv_head <= 0 || a->n_head % a->n_kv_head || a->head_dim <= 0 ||
        a->head_dim > 65536 || a->pos0 < 0 || a->n < 0 || a->window < 0 ||
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
    if (a->n == 0) return;
    /* head blocks: the whole group (up to DP_ATTN_MAX_HB) unless that leaves threads idle */
    const int group = a->n_head / a->n_kv_head, nth = c->n_threads > 0 ? c->n_threads : 1;
    const int64_t units = (int64_t)a->n * a->n_kv_head;
    int split = units >= 2 * nth ? 1 : (int)((2 * nth + units - 1) / units);
    if (split > group) split = group;
    int hb = (group + split - 1) / split;
    if (hb > DP_ATTN_MAX_HB) hb = DP_ATTN_MAX_HB;
    size_t per = (size_t)hb * (2 * (size_t)a->head_dim + DP_ATTN_CHUNK + 2);
    per = (per + 15) & ~(size_t)15; /* a cache line apart */
    if (!dp_cpu_scratch_reserve(c, &c->attn, per * (size_t)nth * sizeof(float), "attention"))
        return;
    attn_job j = {out->data, q->data, k_cache->data, v_cache->data, a->n_head, a->n_kv_head,
                  a->head_dim, group, a->pos0, a->n, a->window, hb, (group + hb - 1) / hb,
                  kv_stride, a->scale, a->softcap, c->attn.data, per, c->attn_scores,
                  c->attn_values};
    int64_t keys = a->window > 0 && a->window < a->pos0 + a->n ? a->window : a->pos0 + a->n;
    dp_cpu_run(c, attn_run, &j, q_count * keys * 2);
}
