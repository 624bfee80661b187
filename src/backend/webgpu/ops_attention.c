/* ops_attention.c — causal GQA attention as dispatches of kernels/attention.wgsl: partial (one
 * workgroup per GQA chunk of query heads, query row and slice of keys) and combine; see the
 * kernel's header for the layout of the work.
 *
 * Shape of a call (keys: the longest row range, min(pos0 + n, window)):
 *   gc      query heads per workgroup: all heads of one KV head (so each K/V row is read once for
 *           them) up to 8 and gc * head_dim <= 1024 (q in workgroup memory); halved while the
 *           call would have fewer than WG_ATTN_MIN_GROUPS workgroups (few KV heads, e.g. Gemma's
 *           one: more workgroups that re-read K/V from L2 instead of a few that read it once);
 *   slice   keys per workgroup: as many as give about WG_ATTN_TARGET workgroups over all rows,
 *           heads and slices, at least one pass (32 keys), a multiple of 32; so a decode step
 *           gets n_kv_head * (group / gc) * keys / slice workgroups while a prefill (many rows)
 *           gets one slice per row up to WG_ATTN_MAX_SLICE keys (as before: a long causal row
 *           does not hold up the whole call);
 *   n_split at most WG_ATTN_MAX_SPLITS, and the partials (n * n_head * n_split * (head_dim + 2)
 *           floats of scratch) at most WG_ATTN_MAX_SCRATCH bytes: slices grow until they fit;
 *   one     a decode row (n == 1) over at most attn_one_slice keys (tune; default 0, off:
 *           slower on the H200, docs/WEBGPU.md) takes them in one slice: one dispatch instead
 *           of partial + combine, fewer workgroups.
 * flash (tune attn_flash; by default only on a device whose subgroups are fixed below 8 lanes, a
 * CPU emulating a GPU: 5.5x partial on SwiftShader, 0.42x on the H200, docs/BENCHMARKS.md): a
 * prefill of WG_ATTN_FLASH_ROWS rows or more whose output no 8-bit
 * product reads next takes blocks of rows per workgroup instead (kernel header: every K and V row
 * read once per block of bq rows x gc heads, not once per row), one dispatch; sized so that its
 * workgroup memory stays within FLASH_WGS bytes (the q vectors QV * head_dim <= 4096 floats, the
 * K/V tile FK * (head_dim + 1) <= 2112, the scores QV * FK <= 1024), else partial as above.
 * With a single slice partial writes out directly, one dispatch. out may alias q: out is written
 * only by combine, which does not read q; in the direct case q is first copied to scratch.
 * When the product that reads out next (a->w_next, the o projection) takes 8-bit x blocks of QB
 * values (wg_matvec_i8_block), combine_q replaces combine and writes them with out (noted in
 * c->actq, so that the product skips its act_pack), also for a single slice: partial +
 * combine_q + the product instead of partial + act_pack + the product. */
#if defined(__wasm__)

#include <stdio.h>

#include "backend/webgpu/wg_internal.h"

#define WG_ATTN_MAX_HEAD_DIM 512
#define WG_ATTN_PASS 32          /* keys per pass of a workgroup (KP) */
#define WG_ATTN_GMAX 8           /* query heads per workgroup (GMAX) */
#define WG_ATTN_QMAX 1024        /* gc * head_dim (QMAX) */
#define WG_ATTN_MAX_SPLITS 1024  /* MAXS */
#define WG_ATTN_TARGET 512       /* workgroups a call aims for */
#define WG_ATTN_MIN_GROUPS 128   /* fewer: take fewer heads per workgroup */
#define WG_ATTN_MAX_SLICE 256    /* keys per slice at most (long prefill rows split too) */
#define WG_ATTN_MAX_SCRATCH (64u << 20)
#define WG_ATTN_FLASH_ROWS 16    /* prefill rows from which flash is taken */
#define FLASH_Q 4096             /* FQ, FKV, FS, FVMAX of attention.wgsl */
#define FLASH_KV 2112
#define FLASH_S 1024
#define FLASH_VMAX 64
#define FLASH_WGS ((FLASH_Q + FLASH_KV + FLASH_S + 2 * FLASH_VMAX) * 4)

/* matches `Params` in attention.wgsl */
typedef struct attn_params {
    uint32_t n, n_head, n_kv_head, head_dim, pos0, window, n_split, split_len;
    float scale, softcap;
    uint32_t kv_stride, direct, gc, n_chunk, dw, pad;
} attn_params;

typedef struct attn_shape {
    int64_t gc, n_chunk, slice, n_split, groups;
} attn_shape;

static attn_shape attn_shape_for(const dp_attn_args *a, int64_t keys, int64_t one_slice) {
    const int64_t group = a->n_head / a->n_kv_head, kp = WG_ATTN_PASS;
    int64_t gc = group < WG_ATTN_GMAX ? group : WG_ATTN_GMAX;
    if (gc * a->head_dim > WG_ATTN_QMAX) gc = WG_ATTN_QMAX / a->head_dim > 0 ? WG_ATTN_QMAX / a->head_dim : 1;
    attn_shape s;
    for (;;) {
        s.gc = gc;
        s.n_chunk = (group + gc - 1) / gc;
        const int64_t base = (int64_t)a->n * a->n_kv_head * s.n_chunk;
        int64_t slice = (keys * base + WG_ATTN_TARGET - 1) / WG_ATTN_TARGET;
        int64_t min_slice = (keys + WG_ATTN_MAX_SPLITS - 1) / WG_ATTN_MAX_SPLITS;
        if (slice > WG_ATTN_MAX_SLICE) slice = WG_ATTN_MAX_SLICE;
        if (slice < min_slice) slice = min_slice;
        slice = (slice + kp - 1) / kp * kp;
        if (slice > keys || (a->n == 1 && keys <= one_slice)) slice = keys;
        for (;;) {
            s.n_split = (keys + slice - 1) / slice;
            uint64_t bytes = (uint64_t)a->n * (uint64_t)a->n_head * (uint64_t)s.n_split *
                             (uint64_t)(a->head_dim + 2) * 4u;
            if (s.n_split == 1 || bytes <= WG_ATTN_MAX_SCRATCH) break;
            slice *= 2;
        }
        s.slice = slice;
        s.groups = base * s.n_split;
        if (s.groups >= WG_ATTN_MIN_GROUPS || gc == 1) break;
        gc = (gc + 1) / 2;
    }
    return s;
}

/* The 8-bit block (values) of the x of the product that reads out next when combine_q can write
 * it (kernel header): QB and head_dim dividing one another, whole blocks per row, at most 16 heads
 * a workgroup, their splits in MAXS; else 0. */
static uint32_t combine_q_block(const wg_ctx *c, const dp_attn_args *a, int64_t n_split) {
    const int64_t hd = a->head_dim, k = (int64_t)a->n_head * hd;
    const uint32_t qb = wg_matvec_i8_block_of(c, &a->w_next, 1, (uint64_t)a->n, k);
    const int64_t v = qb > hd ? qb : hd;
    if (!qb || hd % 4 || (hd % qb && qb % hd) || k % v || v / hd > 16 || v / hd * n_split > WG_ATTN_MAX_SPLITS)
        return 0;
    return qb;
}

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
    const attn_shape s = attn_shape_for(a, keys, c->dev->attn_one_slice);
    uint32_t dw = 32;
    while (dw < 256 && dw < (uint32_t)a->head_dim) dw *= 2;
    attn_params p = {(uint32_t)a->n,        (uint32_t)a->n_head,  (uint32_t)a->n_kv_head,
                     (uint32_t)a->head_dim, (uint32_t)a->pos0,    (uint32_t)a->window,
                     (uint32_t)s.n_split,   (uint32_t)s.slice,    a->scale,
                     a->softcap,            (uint32_t)kv_stride,  s.n_split == 1 ? 1u : 0u,
                     (uint32_t)s.gc,        (uint32_t)s.n_chunk,  dw,
                     0};
    const uint32_t gx = (uint32_t)(a->n_kv_head * s.n_chunk);
    const uint32_t xqb = combine_q_block(c, a, s.n_split);
    if (xqb) p.direct = 0;
    const bool flash = c->dev->attn_flash < 0 ? c->dev->sg_size > 0 && c->dev->sg_size < 8 : c->dev->attn_flash;
    if (!xqb && flash && a->n >= WG_ATTN_FLASH_ROWS && c->dev->max_wg_storage >= FLASH_WGS) {
        const int64_t group = a->n_head / a->n_kv_head, hd = a->head_dim;
        const int64_t qv = FLASH_Q / hd < FLASH_VMAX ? FLASH_Q / hd : FLASH_VMAX;
        const int64_t gc = group < qv ? group : qv, bq = qv / gc, n_chunk = (group + gc - 1) / gc;
        int64_t fk = FLASH_KV / (hd + 1);
        if (fk > FLASH_S / (bq * gc)) fk = FLASH_S / (bq * gc);
        attn_params f = p;
        f.gc = (uint32_t)gc;
        f.n_chunk = (uint32_t)n_chunk;
        f.n_split = (uint32_t)bq;   /* flash: rows per workgroup */
        f.split_len = (uint32_t)fk; /* flash: keys per tile */
        if (!wg_unalias(c, &qb, ob)) return; // out == q: read q from a snapshot
        dp_gpu_binding bs[4] = {ob, qb, kb, vb};
        wg_dispatch(c, "attention", "flash", "", &f, sizeof f, bs, 4, (uint32_t)(a->n_kv_head * n_chunk),
                    (uint32_t)((a->n + bq - 1) / bq), 1);
        return;
    }
    if (s.n_split == 1 && !xqb) {
        if (!wg_unalias(c, &qb, ob)) return; // out == q: read q from a snapshot
        dp_gpu_binding bs[4] = {ob, qb, kb, vb};
        wg_dispatch(c, "attention", "partial", "", &p, sizeof p, bs, 4, gx, (uint32_t)a->n, 1);
        return;
    }
    uint64_t part_bytes = (uint64_t)a->n * (uint64_t)a->n_head * (uint64_t)s.n_split *
                          (uint64_t)(a->head_dim + 2) * 4u;
    uint32_t part = wg_scratch(c, WG_SCR_ATTN, part_bytes);
    if (!part) return;
    dp_gpu_binding pb = wg_at(1, wg_bind_buf(part, 0, (uint32_t)part_bytes));
    dp_gpu_binding bs[4] = {pb, qb, kb, vb};
    wg_dispatch(c, "attention", "partial", "", &p, sizeof p, bs, 4, gx, (uint32_t)a->n,
                (uint32_t)s.n_split);
    dp_gpu_binding pr = wg_at(2, wg_bind_buf(part, 0, (uint32_t)part_bytes));
    if (xqb) {
        const uint64_t k = (uint64_t)a->n_head * (uint64_t)a->head_dim;
        const uint32_t v = xqb > (uint32_t)a->head_dim ? xqb : (uint32_t)a->head_dim;
        uint32_t bytes, xq = wg_actq_scratch(c, (uint64_t)a->n, k, xqb, &bytes);
        if (!xq) return;
        char consts[16];
        snprintf(consts, sizeof consts, "QB=%u", xqb);
        dp_gpu_binding cs[3] = {ob, pr, wg_at(7, wg_bind_buf(xq, 0, bytes))};
        wg_dispatch(c, "attention", "combine_q", consts, &p, sizeof p, cs, 3, (uint32_t)(k / v), (uint32_t)a->n, 1);
        wg_actq_note(c, ob, (uint64_t)a->n, k, xqb);
        return;
    }
    dp_gpu_binding cs[2] = {ob, pr};
    wg_dispatch(c, "attention", "combine", "", &p, sizeof p, cs, 2, (uint32_t)a->n_head,
                (uint32_t)a->n, 1);
}

#else
typedef int dp_wg_ops_attention_unused;
#endif /* __wasm__ */
