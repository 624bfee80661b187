/* wg_fuse.c — backend.h's fused shapes as single dispatches.
 *
 * Dispatches cost several microseconds each on a real GPU (3.5 us measured on an H200 in a long
 * pass), comparable to the work of a small decode op, so the forward pass hands the backend
 * whole shapes (src/runtime/fused.h) and they become:
 *
 *   norm_matmul  rms_norm(h <- x) + 1..3 products of h [+ glu of the first two]
 *                -> rms_norm:main, weights_<t>:nmatvec / nmatvec3     (decode: n <= WG_FUSE_MAX_N)
 *                   (the products sharing h in one dispatch; the norm stays its own dispatch:
 *                   folded into the products, every workgroup of them re-read and re-reduced x)
 *   norm_add     rms_norm(h <- h) + add(y <- y + h) -> rms_norm:norm_add   (sandwich norm + residual)
 *   rope_qk_kv   [q/k head norms] + ropes of q and k + the two KV cache writes
 *                -> rope:rope2kv (devices with 9+ storage buffers per stage), else
 *                   rope:rope2 + elementwise:copy2
 *   (lora_linear, the products with a LoRA adapter's deltas, is wg_lora.c's)
 *
 * Where the device or the operands do not allow it (fusion off, a prefill-sized n for the
 * products, a view not on a 256-byte boundary, operands sharing a buffer, mixed weight types,
 * too few storage buffers), the shape is recorded op by op (wg_rec_*), the same results. Fused
 * kernels write every output the ops would have written (h, the second product, the normalised
 * q and k). */
#if defined(__wasm__)

#include <stdio.h>
#include <string.h>

#include "backend/webgpu/wg_internal.h"

#define WG_FUSE_MAX_N 8

static bool shares_buffer(const dp_tensor *a, const dp_tensor *b) { return a->handle == b->handle; }

static bool can_fuse(const wg_ctx *c) { return c->dev->fuse && c->status == DP_OK; }

/* ---- norm_matmul ---- */

/* Whether h = norm(x) and the count products of h can be one norm + one nmatvec dispatch. */
bool wg_norm_matmul_fits(const wg_ctx *c, const dp_tensor *h, const dp_tensor *x,
                         const dp_tensor *w, int n, int d, dp_tensor *const *outs,
                         const dp_tensor *const *ws, int count, const dp_act *glu) {
    if (!can_fuse(c) || n < 1 || n > WG_FUSE_MAX_N || d <= 0 || count < 1 || count > 3 ||
        (count == 3 && c->dev->max_storage < 7) || !h || !x || !w || shares_buffer(h, w) ||
        shares_buffer(h, x) || h->offset % 256 || (uint64_t)n * (uint64_t)d * 4 > h->nbytes)
        return false;
    if (glu && (count != 2 || (*glu != DP_ACT_SILU && *glu != DP_ACT_GELU_TANH) ||
                ws[0]->ne[1] != ws[1]->ne[1]))
        return false;
    for (int i = 0; i < count; i++) {
        const dp_tensor *o = outs[i], *wi = ws[i];
        if (!o || !wi || wi->ne[0] != d || !wg_weights_file(wi->dtype) || wi->offset % 256 ||
            o->offset % 256 || wi->dtype != ws[0]->dtype || shares_buffer(o, h) ||
            shares_buffer(o, x) || shares_buffer(o, w) || shares_buffer(o, wi))
            return false;
        for (int j = 0; j < i; j++)
            if (shares_buffer(o, outs[j])) return false;
    }
    return true;
}

void wg_emit_nmatvec(wg_ctx *c, const dp_tensor *h, int n, dp_tensor *const *outs, const dp_tensor *const *ws,
                     int nm, const dp_act *glu_act, const wg_lora_epi *lora) {
    const dp_tensor *w[3] = {ws[0], nm > 1 ? ws[1] : ws[0], nm > 2 ? ws[2] : NULL};
    uint32_t rb[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++)
        if (w[i] && !(rb[i] = wg_weights_check(c, w[i], "matmul"))) return;
    const int64_t k = w[0]->ne[0], m1 = w[0]->ne[1], m2 = nm > 1 ? w[1]->ne[1] : 0,
                  m3 = nm > 2 ? w[2]->ne[1] : 0;
    dp_gpu_binding bs[9];
    int nb = nm > 2 ? 7 : 5;
    if (!wg_out(c, outs[0], n * m1, 1, "matmul", "out", &bs[0]) ||
        !wg_in(c, h, n * k, 3, "matmul", "x", &bs[2]))
        return;
    const char *mv = wg_matvec_input(c, w[0]->dtype, &bs[2], (uint64_t)n, (uint64_t)k);
    if (!mv) return;
    bs[1] = wg_at(2, wg_bind(w[0]));
    bs[4] = wg_at(5, wg_bind(w[1]));
    if (nm > 1) {
        if (!wg_out(c, outs[1], n * m2, 4, "matmul", "out", &bs[3])) return;
    } else {
        uint32_t dummy = wg_scratch(c, WG_SCR_IN4, 4);
        if (!dummy) return;
        bs[3] = wg_at(4, wg_bind_buf(dummy, 0, 4));
    }
    if (nm > 2) {
        if (!wg_out(c, outs[2], n * m3, 8, "matmul", "out", &bs[5])) return;
        bs[6] = wg_at(9, wg_bind(w[2]));
    }
    uint32_t flags = 0;
    if (glu_act) flags |= WG_NMV_GLU | (*glu_act == DP_ACT_GELU_TANH ? WG_NMV_GELU : 0u);
    wg_weights_params prm = {(uint32_t)n, (uint32_t)k, (uint32_t)m1, rb[0], 1.0f, 0, 0, 0,
                             (uint32_t)m2, rb[1], flags, 0.0f, (uint32_t)m3, rb[2], 0, 0, {0, 0, 0}, {0, 0, 0}};
    if (lora) wg_lora_epi_put(lora, &prm, bs, &nb);
    uint64_t rows = glu_act ? (uint64_t)m1 : (uint64_t)(m1 + m2 + m3);
    uint32_t per, gx, gy;
    char consts[48];
    wg_matvec_config(c, w[0]->dtype, mv, k, (int64_t)rows, &per, consts, sizeof consts);
    wg_grid(c, (rows + per - 1) / per, &gx, &gy);
    const char *entry = nm > 2 ? (lora ? "nmatvec3_lora" : "nmatvec3") : (lora ? "nmatvec_lora" : "nmatvec");
    wg_dispatch(c, mv, entry, consts, &prm, sizeof prm, bs, nb, gx, gy, (uint32_t)n);
}

void wg_op_norm_matmul(dp_backend *b, dp_tensor *h, const dp_tensor *x, const dp_tensor *w,
                       int n, int d, float eps, bool plus_one, dp_tensor *const *outs,
                       const dp_tensor *const *ws, int count, const dp_act *glu) {
    wg_ctx *c = wg_ctx_of(b);
    if (outs && ws && wg_norm_matmul_fits(c, h, x, w, n, d, outs, ws, count, glu)) {
        wg_rec_rms_norm(b, h, x, w, n, d, eps, plus_one);
        if (c->status == DP_OK) wg_emit_nmatvec(c, h, n, outs, ws, count, glu, NULL);
        return;
    }
    wg_rec_rms_norm(b, h, x, w, n, d, eps, plus_one);
    for (int i = 0; outs && ws && i < count; i++) wg_rec_matmul(b, outs[i], h, ws[i], n, false);
    if (glu && count == 2 && outs && ws) wg_rec_glu(b, outs[0], outs[0], outs[1], n, (int)ws[0]->ne[1], *glu);
}

/* ---- norm_add ---- */

/* the first fields of `Params` in rms_norm.wgsl (the rest: lora_xa's, wg_lora.c) */
typedef struct norm_params {
    uint32_t n, d;
    float eps;
    uint32_t plus_one;
} norm_params;

void wg_op_norm_add(dp_backend *b, dp_tensor *y, dp_tensor *h, const dp_tensor *w, int n, int d,
                    float eps, bool plus_one) {
    wg_ctx *c = wg_ctx_of(b);
    const int64_t count = (int64_t)n * d;
    if (!(can_fuse(c) && y && h && w && n >= 1 && d > 0 && h->offset % 256 == 0 &&
          (uint64_t)count * 4 <= h->nbytes && !shares_buffer(h, w) && !shares_buffer(y, h) &&
          !shares_buffer(y, w))) {
        wg_rec_rms_norm(b, h, h, w, n, d, eps, plus_one);
        wg_rec_add(b, y, y, h, count);
        return;
    }
    dp_gpu_binding hb, wb, yb;
    if (!wg_out(c, h, count, 1, "rms_norm", "out", &hb) || !wg_in(c, w, d, 2, "rms_norm", "w", &wb) ||
        !wg_out(c, y, count, 4, "add", "out", &yb))
        return;
    norm_params np = {(uint32_t)n, (uint32_t)d, eps, plus_one ? 1u : 0u};
    dp_gpu_binding bs[3] = {hb, wb, yb};
    char consts[16];
    wg_dispatch_flat(c, "rms_norm", "norm_add", wg_norm_consts(c, d, consts, sizeof consts), &np,
                     sizeof np, bs, 3, (uint64_t)n);
}

/* ---- rope_qk_kv ---- */

/* matches `Params` in rope.wgsl */
typedef struct rope_params {
    uint32_t n, n_head, head_dim, half, interleaved;
    float mscale, eps;
    uint32_t plus_one, n_head2;
    float eps2;
    uint32_t plus_one2, norms, kc_off, vc_off;
} rope_params;

/* matches `Params` in elementwise.wgsl */
typedef struct copy2_params {
    uint32_t count, dst_off;
    float cap;
    uint32_t act, dst_off2;
} copy2_params;

static rope_params rope_params_of(const dp_qkv_args *a, bool norms) {
    const dp_rope_args *r = &a->rq;
    rope_params rp = {(uint32_t)a->n, (uint32_t)r->n_head, (uint32_t)r->head_dim,
                      (uint32_t)(r->rot_dim / 2), r->interleaved ? 1u : 0u,
                      r->mscale == 0.0f ? 1.0f : r->mscale, a->eps, a->plus_one ? 1u : 0u,
                      (uint32_t)a->rk.n_head, a->eps, a->plus_one ? 1u : 0u, norms ? 3u : 0u,
                      0, 0};
    return rp;
}

/* q, pos, inv_freq, q norm (or a placeholder), k, k norm (or a placeholder) at bindings 1..6 */
static bool bind_rope2(wg_ctx *c, const dp_qkv_args *a, bool norms, dp_gpu_binding bs[6]) {
    const int hd = a->rq.head_dim, half = a->rq.rot_dim / 2;
    if (!wg_out(c, a->q, (int64_t)a->n * a->rq.n_head * hd, 1, "rope", "x", &bs[0]) ||
        !wg_in(c, a->pos, a->n, 2, "rope", "pos", &bs[1]) ||
        !wg_in(c, a->inv_freq, half > 0 ? half : 1, 3, "rope", "inv_freq", &bs[2]) ||
        !wg_out(c, a->k, (int64_t)a->n * a->rk.n_head * hd, 5, "rope", "x", &bs[4]))
        return false;
    if (!norms) {
        bs[3] = wg_at(4, bs[2]); /* not read */
        bs[5] = wg_at(6, bs[2]);
        return true;
    }
    return wg_in(c, a->q_norm, hd, 4, "rms_norm", "w", &bs[3]) &&
           wg_in(c, a->k_norm, hd, 6, "rms_norm", "w", &bs[5]);
}

/* Whether the shape can be rope2 (+ copy2) or rope2kv: fusion on, one rope shape for q and k,
 * operands apart. */
static bool rope_qk_fits(const wg_ctx *c, const dp_qkv_args *a) {
    const dp_rope_args *q = &a->rq, *k = &a->rk;
    if (!can_fuse(c) || !a->q || !a->k || !a->v || !a->pos || !a->inv_freq || !a->k_cache ||
        !a->v_cache || a->n < 1 || q->n_head <= 0 || k->n_head <= 0 || q->head_dim <= 0 ||
        q->rot_dim < 0 || q->rot_dim > q->head_dim || q->rot_dim % 2 || k->head_dim != q->head_dim ||
        k->rot_dim != q->rot_dim || k->interleaved != q->interleaved || k->mscale != q->mscale ||
        (!a->q_norm) != (!a->k_norm) || a->q->offset % 256 || a->k->offset % 256 ||
        a->k_cache->offset % 256 || a->v_cache->offset % 256 || a->cache_off < 0)
        return false;
    const int64_t count = (int64_t)a->n * k->n_head * k->head_dim;
    if (a->cache_off + count > (int64_t)UINT32_MAX) return false;
    const dp_tensor *all[9] = {a->q, a->k, a->v, a->pos, a->inv_freq, a->k_cache, a->v_cache,
                               a->q_norm, a->k_norm};
    for (int i = 0; i < 9; i++) /* written tensors (q, k, the caches) apart from everything */
        for (int j = i + 1; j < 9; j++)
            if (all[i] && all[j] && (i < 2 || i == 5 || i == 6 || j == 5 || j == 6) &&
                shares_buffer(all[i], all[j]))
                return false;
    return true;
}

static void emit_copy2(wg_ctx *c, const dp_qkv_args *a, int64_t count) {
    dp_gpu_binding bs[4];
    if (!wg_out(c, a->k_cache, a->cache_off + count, 1, "copy", "dst", &bs[0]) ||
        !wg_in(c, a->k, count, 2, "copy", "src", &bs[1]) ||
        !wg_out(c, a->v_cache, a->cache_off + count, 4, "copy", "dst", &bs[2]) ||
        !wg_in(c, a->v, count, 5, "copy", "src", &bs[3]))
        return;
    copy2_params cp = {(uint32_t)count, (uint32_t)a->cache_off, 0.0f, 0, (uint32_t)a->cache_off};
    wg_dispatch_flat(c, "elementwise", "copy2", "", &cp, sizeof cp, bs, 4, ((uint64_t)count + 255) / 256);
}

void wg_op_rope_qk_kv(dp_backend *b, const dp_qkv_args *a) {
    wg_ctx *c = wg_ctx_of(b);
    const bool norms = a->q_norm && a->k_norm;
    if (!rope_qk_fits(c, a)) {
        if (norms) {
            wg_rec_rms_norm(b, a->q, a->q, a->q_norm, a->n * a->rq.n_head, a->rq.head_dim, a->eps, a->plus_one);
            wg_rec_rms_norm(b, a->k, a->k, a->k_norm, a->n * a->rk.n_head, a->rk.head_dim, a->eps, a->plus_one);
        }
        wg_rec_rope(b, a->q, a->pos, a->inv_freq, a->n, &a->rq);
        wg_rec_rope(b, a->k, a->pos, a->inv_freq, a->n, &a->rk);
        const int64_t count = (int64_t)a->n * a->rk.n_head * a->rk.head_dim;
        wg_rec_copy(b, a->k_cache, a->cache_off, a->k, count);
        wg_rec_copy(b, a->v_cache, a->cache_off, a->v, count);
        return;
    }
    const int64_t count = (int64_t)a->n * a->rk.n_head * a->rk.head_dim;
    rope_params rp = rope_params_of(a, norms);
    dp_gpu_binding bs[9];
    if (!bind_rope2(c, a, norms, bs)) return;
    if (c->dev->max_storage >= 9) { /* everything in one rope2kv dispatch */
        if (!wg_out(c, a->k_cache, a->cache_off + count, 7, "copy", "dst", &bs[6]) ||
            !wg_in(c, a->v, count, 8, "copy", "src", &bs[7]) ||
            !wg_out(c, a->v_cache, a->cache_off + count, 9, "copy", "dst", &bs[8]))
            return;
        rp.kc_off = rp.vc_off = (uint32_t)a->cache_off;
        wg_dispatch_flat(c, "rope", "rope2kv", "WG=64", &rp, sizeof rp, bs, 9,
                         (uint64_t)a->n * ((uint64_t)a->rq.n_head + 2u * (uint64_t)a->rk.n_head));
        return;
    }
    /* both ropes (with their norms) in one dispatch, then both copies in another */
    wg_dispatch_flat(c, "rope", "rope2", "WG=64", &rp, sizeof rp, bs, 6,
                     (uint64_t)a->n * ((uint64_t)a->rq.n_head + (uint64_t)a->rk.n_head));
    emit_copy2(c, a, count);
}

#else
typedef int dp_wg_fuse_unused;
#endif /* __wasm__ */
