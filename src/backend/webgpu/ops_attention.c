/* ops_attention.c — causal GQA attention as dispatches of kernels/attention.wgsl: partial (one
 * workgroup per head, query row and slice of keys) and combine. Slices hold at least 256 keys
 * and a row is split into at most 32; the partials live in scratch (n * n_head * n_split *
 * (head_dim + 2) floats). With a single slice (key ranges up to 256: short decode contexts)
 * partial writes out directly, one dispatch. out may alias q: out is written only by combine,
 * which does not read q; in the direct case q is first copied to scratch. */
#if defined(__wasm__)

#include "backend/webgpu/wg_internal.h"

#define WG_ATTN_MAX_HEAD_DIM 512
#define WG_ATTN_MIN_SLICE 256   /* keys per slice at least; up to this many: one dispatch */
#define WG_ATTN_MAX_SPLITS 32

/* matches `Params` in attention.wgsl */
typedef struct attn_params {
    uint32_t n, n_head, n_kv_head, head_dim, pos0, window, n_split, split_len;
    float scale, softcap;
    uint32_t kv_stride, pad;
} attn_params;

void wg_rec_attention(dp_backend *b, dp_tensor *out, const dp_tensor *q, const dp_tensor *k_cache,
                     const dp_tensor *v_cache, const dp_attn_args *a) {
    wg_ctx *c = wg_ctx_of(b);
    if (!a || a->n_head <= 0 || a->n_kv_head <= 0 || a->n_head % a->n_kv_head ||
        a->head_dim <= 0 || a->head_dim > WG_ATTN_MAX_HEAD_DIM || a->pos0 < 0 || a->n < 0 ||
        a->window < 0 || a->pos0 > INT32_MAX - a->n || a->n > 65535 || a->n_head > 65535) {
        wg_fail(c, DP_ERR_INVALID_ARG, "attention: bad args");
        return;
    }
    const int64_t q_count = (int64_t)a->n * a->n_head * a->head_dim;
    const int64_t kv_stride = (int64_t)a->n_kv_head * a->head_dim;
    const int64_t kv_count = (int64_t)(a->pos0 + a->n) * kv_stride;
    dp_gpu_binding ob, qb, kb, vb;
    if (!wg_out(c, out, q_count, 1, "attention", "out", &ob) ||
        !wg_in(c, q, q_count, 2, "attention", "q", &qb) ||
        !wg_in(c, k_cache, kv_count, 3, "attention", "k_cache", &kb) ||
        !wg_in(c, v_cache, kv_count, 4, "attention", "v_cache", &vb))
        return;
    if (!a->n) return;
    /* the longest key range is the last row's */
    int64_t keys = a->pos0 + a->n;
    if (a->window > 0 && a->window < keys) keys = a->window;
    int64_t slice = (keys + WG_ATTN_MAX_SPLITS - 1) / WG_ATTN_MAX_SPLITS;
    slice = (slice + WG_ATTN_MIN_SLICE - 1) / WG_ATTN_MIN_SLICE * WG_ATTN_MIN_SLICE;
    int64_t n_split = (keys + slice - 1) / slice;
    attn_params p = {(uint32_t)a->n,        (uint32_t)a->n_head,  (uint32_t)a->n_kv_head,
                     (uint32_t)a->head_dim, (uint32_t)a->pos0,    (uint32_t)a->window,
                     (uint32_t)n_split,     (uint32_t)slice,      a->scale,
                     a->softcap,            (uint32_t)kv_stride,  n_split == 1 ? 1u : 0u};
    if (n_split == 1) {
        if (!wg_unalias(c, &qb, ob)) return; // out == q: read q from a snapshot
        dp_gpu_binding bs[4] = {ob, qb, kb, vb};
        wg_dispatch(c, "attention", "partial", "", &p, sizeof p, bs, 4, (uint32_t)a->n_head,
                    (uint32_t)a->n, 1);
        return;
    }
    uint64_t part_bytes = (uint64_t)a->n * (uint64_t)a->n_head * (uint64_t)n_split *
                          (uint64_t)(a->head_dim + 2) * 4u;
    uint32_t part = wg_scratch(c, WG_SCR_ATTN, part_bytes);
    if (!part) return;
    dp_gpu_binding pb = wg_at(1, wg_bind_buf(part, 0, (uint32_t)part_bytes));
    dp_gpu_binding bs[4] = {pb, qb, kb, vb};
    wg_dispatch(c, "attention", "partial", "", &p, sizeof p, bs, 4, (uint32_t)a->n_head,
                (uint32_t)a->n, (uint32_t)n_split);
    dp_gpu_binding pr = wg_at(2, wg_bind_buf(part, 0, (uint32_t)part_bytes));
    dp_gpu_binding cs[2] = {ob, pr};
    wg_dispatch(c, "attention", "combine", "", &p, sizeof p, cs, 2, (uint32_t)a->n_head,
                (uint32_t)a->n, 1);
}

#else
typedef int dp_wg_ops_attention_unused;
#endif /* __wasm__ */
