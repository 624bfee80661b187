/* wg_fuse.c — backend.h's fused shapes as single dispatches.
 *
 * Dispatches cost several microseconds each on a real GPU (3.5 us measured on an H200 in a long
 * pass), comparable to the work of a small decode op, so the forward pass hands the backend
 * whole shapes (src/runtime/fused.h) and they become:
 *
 *   norm_matmul  rms_norm(h <- x) + 1..3 products of h [+ glu of the first two]
 *                -> weights_<t>_n:nmatvec / nmatvec3 (decode: n <= WG_FUSE_MAX_N; h not wanted):
 *                   the norm folded into the products (kernels/weights_norm.wgsl), one dispatch
 *                   per run of products of one weight type, which read the sum of squares of each
 *                   x row from scratch (bind_rowss: written with x by norm_add_ss, else by one
 *                   rms_norm:row_ss dispatch before them);
 *                   else, with 8-bit products and matvec_pack, weights_<t>_i8p:nmatvec /
 *                   nmatvec3: each workgroup normalises and packs x itself (kernels/weights_i8p.wgsl);
 *                   else rms_norm:main (main_q for 8-bit products), weights_<t>:nmatvec / nmatvec3
 *                   (one weight type)
 *   norm_add     rms_norm(h <- h) + add(y <- y + h) -> rms_norm:norm_add   (sandwich norm + residual),
 *                   rms_norm:norm_add_ss when the norms fold (decode): the same, and the sums
 *                   of squares of y's rows for the folded norm that reads y next
 *   norm_qkv_rope  norm_matmul of q, k, v + rope_qk_kv without head norms
 *                -> weights_<t>_n:nmatvec3_rope (kernels/weights_rope.wgsl), or with 8-bit
 *                   products rms_norm:main_q + weights_<t>_i8:nmatvec3_rope (matvec_pack:
 *                   weights_<t>_i8p:nmatvec3_rope alone), else the two below
 *   rope_qk_kv   [q/k head norms] + ropes of q and k + the two KV cache writes
 *                -> rope:rope2kv (devices with 9+ storage buffers per stage), else
 *                   rope:rope2 + elementwise:copy2
 *   (lora_linear, the products with a LoRA adapter's deltas, is wg_lora.c's)
 *
 * Where the device or the operands do not allow it (fusion off, a prefill-sized n for the
 * products, a view not on a 256-byte boundary, operands sharing a buffer, mixed weight types,
 * too few storage buffers), the shape is recorded op by op (wg_rec_*), the same results. Fused
 * kernels write every output the ops would have written (the second product, the normalised
 * q and k; h only where the caller keeps it). */
#if defined(__wasm__)

#include <stdio.h>
#include <string.h>

#include "backend/webgpu/wg_internal.h"

#define WG_FUSE_MAX_N 8

static bool shares_buffer(const dp_tensor *a, const dp_tensor *b) { return a->handle == b->handle; }

static bool can_fuse(const wg_ctx *c) { return c->dev->fuse && c->status == DP_OK; }

/* ---- norm_matmul ---- */

/* matches `Params` of weights_common.wgsl with the fields past wg_weights_params (nmatvec3_rope's,
 * and out_off; every nmatvec dispatch passes them, the uniform slot is not cleared) */
typedef struct nmv_params {
    wg_weights_params w;
    uint32_t hd, half, interleaved;
    float mscale;
    uint32_t kc_off, vc_off, out_off;
} nmv_params;

/* Whether the operands of norm(x) + count products allow a fused form: fusion on, a decode n,
 * tensors on 256-byte boundaries where written, outputs apart from every input and each other
 * (the weight types and storage bindings are the caller's to check). */
bool wg_norm_matmul_fits(const wg_ctx *c, const dp_tensor *h, const dp_tensor *x,
                         const dp_tensor *w, int n, int d, dp_tensor *const *outs,
                         const dp_tensor *const *ws, int count, const dp_act *glu) {
    if (!can_fuse(c) || n < 1 || n > WG_FUSE_MAX_N || d <= 0 || count < 1 || count > 3 || !h ||
        !x || !w || shares_buffer(h, w) || shares_buffer(h, x) || h->offset % 256 ||
        (uint64_t)n * (uint64_t)d * 4 > h->nbytes)
        return false;
    if (glu && (count != 2 || (*glu != DP_ACT_SILU && *glu != DP_ACT_GELU_TANH) ||
                ws[0]->ne[1] != ws[1]->ne[1]))
        return false;
    for (int i = 0; i < count; i++) {
        const dp_tensor *o = outs[i], *wi = ws[i];
        if (!o || !wi || wi->ne[0] != d || !wg_weights_file(wi->dtype) || wi->offset % 256 ||
            o->offset % 256 || shares_buffer(o, h) || shares_buffer(o, x) || shares_buffer(o, w) ||
            shares_buffer(o, wi))
            return false;
        for (int j = 0; j < i; j++)
            if (shares_buffer(o, outs[j]) || shares_buffer(o, ws[j])) return false;
    }
    return true;
}

static bool ws_one_type(const dp_tensor *const *ws, int count) {
    for (int i = 1; i < count; i++)
        if (ws[i]->dtype != ws[0]->dtype) return false;
    return true;
}

/* the first fields of `Params` in rms_norm.wgsl (the rest: lora_xa's, wg_lora.c) */
typedef struct norm_params {
    uint32_t n, d;
    float eps;
    uint32_t plus_one;
} norm_params;

/* Bytes of scratch WG_SCR_ROWSS: always the same, so that it is never replaced (which would lose
 * what it holds); the folded norms' n is at most WG_FUSE_MAX_N. */
#define ROWSS_BYTES (WG_FUSE_MAX_N * 4)

/* Binding 13 of a folded norm's products: the sums of squares of the n rows of d values of x
 * (scratch WG_SCR_ROWSS), as they are when the scratch holds x's already (norm_add_ss wrote them
 * with x), else written now by rms_norm:row_ss (one workgroup per row). */
static bool bind_rowss(wg_ctx *c, const dp_tensor *x, int n, int d, dp_gpu_binding *b) {
    uint32_t s = wg_scratch(c, WG_SCR_ROWSS, ROWSS_BYTES);
    if (!s || n > WG_FUSE_MAX_N) return false;
    const wg_rowss *r = &c->rowss;
    if (!(r->buf == x->handle && r->off == x->offset && r->d == d && r->n >= n)) {
        dp_gpu_binding bs[2];
        if (!wg_in(c, x, (int64_t)n * d, 3, "rms_norm", "x", &bs[0])) return false;
        bs[1] = wg_at(6, wg_bind_buf(s, 0, (uint32_t)n * 4));
        norm_params np = {(uint32_t)n, (uint32_t)d, 0.0f, 0};
        char consts[16];
        wg_dispatch_flat(c, "rms_norm", "row_ss", wg_norm_consts(c, d, consts, sizeof consts), &np,
                         sizeof np, bs, 2, (uint64_t)n);
        if (c->status != DP_OK) return false;
        c->rowss = (wg_rowss){x->handle, x->offset, n, d};
    }
    *b = wg_at(13, wg_bind_buf(s, 0, (uint32_t)n * 4));
    return true;
}

/* One nmatvec / nmatvec3 dispatch of the nm (1..3) products ws[0..nm) of one weight type, over
 * the x bound at bs[2] by the caller: with nw (the norm's weight) by kernel `normed` — with rss
 * (bind_rowss's) weights_<t>_n[_sg] (the rms_norm of x folded in, kernels/weights_norm.wgsl),
 * without weights_<t>_i8p[_sg] (x normalised and packed by each workgroup,
 * kernels/weights_i8p.wgsl) —, else by the decode kernel of the type over x as it is; with lora
 * (nw NULL) the _lora entry, the adapter's deltas as its epilogue (wg_lora.c). */
static void emit_products(wg_ctx *c, dp_gpu_binding bs[10], const dp_tensor *nw, const dp_gpu_binding *rss,
                          const char *normed, int n, float eps, bool plus_one, dp_tensor *const *outs,
                          const dp_tensor *const *ws, int nm, const dp_act *glu_act, int64_t out_off,
                          const wg_lora_epi *lora) {
    /* bs holds 10: 7 for three products, then 2 for the folded norm, or 2 for the LoRA epilogue
       and 1 for a packing kernel's norm weight (not read) */
    if (nw && lora) {
        wg_fail(c, DP_ERR_INTERNAL, "webgpu: a folded norm and a LoRA epilogue in one product dispatch");
        return;
    }
    const dp_tensor *w[3] = {ws[0], nm > 1 ? ws[1] : ws[0], nm > 2 ? ws[2] : NULL};
    uint32_t rb[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++)
        if (w[i] && !(rb[i] = wg_weights_check(c, w[i], "matmul"))) return;
    const int64_t k = w[0]->ne[0], m1 = w[0]->ne[1], m2 = nm > 1 ? w[1]->ne[1] : 0,
                  m3 = nm > 2 ? w[2]->ne[1] : 0;
    if (!wg_out(c, outs[0], out_off + n * m1, 1, "matmul", "out", &bs[0])) return;
    const char *mv = normed ? normed : wg_matvec_input(c, w[0]->dtype, &bs[2], (uint64_t)n, (uint64_t)k);
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
    int nb = 5;
    if (nm > 2) {
        if (!wg_out(c, outs[2], n * m3, 8, "matmul", "out", &bs[5])) return;
        bs[6] = wg_at(9, wg_bind(w[2]));
        nb = 7;
    }
    uint32_t flags = 0;
    if (glu_act) flags |= WG_NMV_GLU | (*glu_act == DP_ACT_GELU_TANH ? WG_NMV_GELU : 0u);
    if (nw) {
        if (!wg_in(c, nw, k, 10, "rms_norm", "w", &bs[nb++])) return;
        if (rss) bs[nb++] = *rss;
        else flags |= WG_NMV_NORM;
        if (plus_one) flags |= WG_NMV_PLUS_ONE;
    }
    nmv_params prm = {{(uint32_t)n, (uint32_t)k, (uint32_t)m1, rb[0], 1.0f, 0, 0, 0, (uint32_t)m2, rb[1],
                       flags, eps, (uint32_t)m3, rb[2], 0, 0, {0, 0, 0}, {0, 0, 0}},
                      0, 0, 0, 0.0f, 0, 0, (uint32_t)out_off};
    if (!nw && wg_matvec_packs(mv)) bs[nb++] = wg_at(10, bs[2]); /* the norm weight: not read */
    if (lora) wg_lora_epi_put(lora, &prm.w, bs, &nb);
    uint64_t rows = glu_act ? (uint64_t)m1 : (uint64_t)(m1 + m2 + m3);
    uint32_t per, gx, gy;
    char consts[64];
    wg_matvec_config(c, w[0]->dtype, mv, k, (int64_t)rows, &per, consts, sizeof consts);
    wg_grid(c, (rows + per - 1) / per, &gx, &gy);
    const char *entry = nm > 2 ? (lora ? "nmatvec3_lora" : "nmatvec3") : (lora ? "nmatvec_lora" : "nmatvec");
    wg_dispatch(c, mv, entry, consts, &prm, sizeof prm, bs, (uint32_t)nb, gx, gy, (uint32_t)n);
}

void wg_emit_nmatvec(wg_ctx *c, const dp_tensor *h, int n, dp_tensor *const *outs, const dp_tensor *const *ws,
                     int nm, const dp_act *glu_act, const wg_lora_epi *lora) {
    dp_gpu_binding bs[10];
    if (!wg_in(c, h, (int64_t)n * ws[0]->ne[0], 3, "matmul", "x", &bs[2])) return;
    emit_products(c, bs, NULL, NULL, NULL, n, 0.0f, false, outs, ws, nm, glu_act, 0, lora);
}

/* Whether the norm can be folded into the products (no h wanted, fold_norm on, x by fours, a
 * folded kernel for every weight type, 7 storage buffers): then consecutive products of one type
 * go together, up to three (two where the device has fewer than 9 storage buffers per stage; a
 * glu's pair always together), one dispatch each. wg_norm_matmul_fits has checked everything
 * else but the types. */
static bool fold_fits(const wg_ctx *c, const dp_tensor *x, const dp_tensor *nw, int d,
                      dp_tensor *const *outs, const dp_tensor *const *ws, int count,
                      const dp_act *glu) {
    char name[48];
    if (!c->dev->fold_norm || c->dev->max_storage < 7 || d % 4 || shares_buffer(x, nw)) return false;
    for (int i = 0; i < count; i++)
        if (!wg_matvec_norm_kernel(c, ws[i]->dtype, name, sizeof name) || shares_buffer(outs[i], nw))
            return false;
    return !glu || ws[0]->dtype == ws[1]->dtype;
}

static void emit_folded(wg_ctx *c, const dp_tensor *x, const dp_tensor *nw, int n, int d,
                        float eps, bool plus_one, dp_tensor *const *outs,
                        const dp_tensor *const *ws, int count, const dp_act *glu) {
    const int most = c->dev->max_storage >= 9 ? 3 : 2;
    dp_gpu_binding rss;
    if (!bind_rowss(c, x, n, d, &rss)) return;
    for (int i = 0; i < count && c->status == DP_OK;) {
        int nm = 1;
        while (i + nm < count && nm < most && ws[i + nm]->dtype == ws[i]->dtype) nm++;
        char name[48];
        dp_gpu_binding bs[10];
        if (!wg_in(c, x, (int64_t)n * d, 3, "matmul", "x", &bs[2])) return;
        emit_products(c, bs, nw, &rss, wg_matvec_norm_kernel(c, ws[i]->dtype, name, sizeof name), n,
                      eps, plus_one, outs + i, ws + i, nm, glu, 0, NULL);
        i += nm;
    }
}

void wg_op_norm_matmul(dp_backend *b, dp_tensor *h, const dp_tensor *x, const dp_tensor *w,
                       int n, int d, float eps, bool plus_one, dp_tensor *const *outs,
                       const dp_tensor *const *ws, int count, const dp_act *glu, bool keep_h) {
    wg_ctx *c = wg_ctx_of(b);
    bool fits = outs && ws && wg_norm_matmul_fits(c, h, x, w, n, d, outs, ws, count, glu);
    if (fits && !keep_h && fold_fits(c, x, w, d, outs, ws, count, glu)) {
        emit_folded(c, x, w, n, d, eps, plus_one, outs, ws, count, glu);
        return;
    }
    const int nw = outs && ws ? count : 0; /* the products that read h */
    if (fits && ws_one_type(ws, count) && (count < 3 || c->dev->max_storage >= 7)) {
        /* products that pack x themselves take the norm too (weights_<t>_i8p), unless the blocks
           are made already (norm_add_q) */
        const char *pk = keep_h || wg_normed_ready(c, h, x, w, n, d, eps, plus_one)
                             ? NULL : wg_matvec_pack_kernel(c, ws, count, (uint64_t)n, d);
        if (pk && c->dev->max_storage >= (count == 3 ? 8u : 6u)) {
            dp_gpu_binding bs[10];
            if (wg_in(c, x, (int64_t)n * d, 3, "matmul", "x", &bs[2]))
                emit_products(c, bs, w, NULL, pk, n, eps, plus_one, outs, ws, count, glu, 0, NULL);
            return;
        }
        wg_rec_rms_norm_for(b, h, x, w, n, d, eps, plus_one, ws, nw);
        if (c->status == DP_OK) wg_emit_nmatvec(c, h, n, outs, ws, count, glu, NULL);
        return;
    }
    wg_rec_rms_norm_for(b, h, x, w, n, d, eps, plus_one, ws, nw);
    for (int i = 0; outs && ws && i < count; i++) wg_rec_matmul(b, outs[i], h, ws[i], n, false);
    if (glu && count == 2 && outs && ws) wg_rec_glu(b, outs[0], outs[0], outs[1], n, (int)ws[0]->ne[1], *glu);
}

/* ---- norm_add ---- */

/* 8-bit block of the decode products after the norm `next` when rms_norm:norm_add_q can compute it
 * with the norm_add (fusion on, n a decode n, every product over 8-bit x in one block that divides d
 * — so the norm is not folded into them —, the next norm's weight and output apart from the
 * operands); else 0. */
static uint32_t next_norm_block(const wg_ctx *c, const dp_tensor *y, const dp_tensor *h, const dp_tensor *w,
                                int n, int d, const dp_norm_next *next) {
    if (!next || !next->h || !next->w || !next->ws || next->count < 1 || n > WG_FUSE_MAX_N ||
        next->h->offset % 256 || (uint64_t)n * (uint64_t)d * 4 > next->h->nbytes ||
        shares_buffer(next->h, y) || shares_buffer(next->h, w) || shares_buffer(next->w, y) ||
        shares_buffer(next->w, h) || shares_buffer(next->w, next->h) ||
        (shares_buffer(next->h, h) && next->h->offset != h->offset))
        return 0;
    return wg_matvec_i8_block_of(c, next->ws, next->count, (uint64_t)n, d);
}

bool wg_normed_ready(const wg_ctx *c, const dp_tensor *out, const dp_tensor *x, const dp_tensor *w, int n, int d,
                     float eps, bool plus_one) {
    const wg_normed *r = &c->normed;
    return r->out_buf && r->out_buf == out->handle && r->out_off == out->offset && r->x_buf == x->handle &&
           r->x_off == x->offset && r->w_buf == w->handle && r->w_off == w->offset && r->n == n && r->d == d &&
           r->eps == eps && r->plus_one == plus_one && r->seq == wg_recorded(c) &&
           c->status == DP_OK;
}

void wg_op_norm_add(dp_backend *b, dp_tensor *y, dp_tensor *h, const dp_tensor *w, int n, int d,
                    float eps, bool plus_one, const dp_norm_next *next) {
    wg_ctx *c = wg_ctx_of(b);
    const int64_t count = (int64_t)n * d;
    if (!(can_fuse(c) && y && h && w && n >= 1 && d > 0 && h->offset % 256 == 0 &&
          (uint64_t)count * 4 <= h->nbytes && !shares_buffer(h, w) && !shares_buffer(y, h) &&
          !shares_buffer(y, w))) {
        wg_rec_rms_norm(b, h, h, w, n, d, eps, plus_one);
        wg_rec_add(b, y, y, h, count);
        return;
    }
    dp_gpu_binding bs[6];
    if (!wg_out(c, h, count, 1, "rms_norm", "out", &bs[0]) || !wg_in(c, w, d, 2, "rms_norm", "w", &bs[1]) ||
        !wg_out(c, y, count, 4, "add", "out", &bs[2]))
        return;
    char consts[32];
    wg_norm_consts(c, d, consts, sizeof consts);
    /* the next norm too (rms_norm:norm_add_q): its output, its 8-bit blocks, noted for it */
    const uint32_t qb = next_norm_block(c, y, h, w, n, d, next);
    if (qb) {
        const bool in_h = shares_buffer(next->h, h);
        uint32_t bytes, q = wg_actq_scratch(c, (uint64_t)n, (uint64_t)d, qb, &bytes), dummy = wg_scratch(c, WG_SCR_IN9, 4);
        dp_gpu_binding h2;
        if (!q || !dummy || !wg_in(c, next->w, d, 8, "rms_norm", "w", &bs[3]) ||
            (!in_h && !wg_out(c, next->h, count, 9, "rms_norm", "out", &h2)))
            return;
        bs[4] = in_h ? wg_at(9, wg_bind_buf(dummy, 0, 4)) : h2;
        bs[5] = wg_at(7, wg_bind_buf(q, 0, bytes));
        wg_norm_params np = {(uint32_t)n, (uint32_t)d, eps, plus_one ? 1u : 0u, 0, 0, 0, {0, 0, 0}, 0.0f, in_h ? 1u : 0u};
        snprintf(consts + strlen(consts), sizeof consts - strlen(consts), ",QB=%u", qb);
        wg_dispatch_flat(c, "rms_norm", "norm_add_q", consts, &np, sizeof np, bs, 6, (uint64_t)n);
        if (c->status != DP_OK) return;
        const dp_gpu_binding ho = in_h ? bs[0] : h2;
        wg_actq_note(c, ho, (uint64_t)n, (uint64_t)d, qb);
        c->normed = (wg_normed){next->h->handle, y->handle, next->w->handle, next->h->offset, y->offset, next->w->offset,
                                wg_recorded(c), n, d, eps, plus_one};
        return;
    }
    /* decode with the norms folded: the sums of squares of y's rows too, for the norm after */
    const bool ss = c->dev->fold_norm && n <= WG_FUSE_MAX_N;
    if (ss) {
        uint32_t s = wg_scratch(c, WG_SCR_ROWSS, ROWSS_BYTES);
        if (!s) return;
        bs[3] = wg_at(6, wg_bind_buf(s, 0, (uint32_t)n * 4));
    }
    norm_params np = {(uint32_t)n, (uint32_t)d, eps, plus_one ? 1u : 0u};
    wg_dispatch_flat(c, "rms_norm", ss ? "norm_add_ss" : "norm_add", consts, &np, sizeof np, bs, ss ? 4 : 3, (uint64_t)n);
    if (ss && c->status == DP_OK) c->rowss = (wg_rowss){y->handle, y->offset, n, d};
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

/* ---- norm_qkv_rope ---- */

/* One nmatvec3_rope dispatch when everything allows (else false, nothing recorded): no head
 * norms, q and k whole heads of one weight type, an even number of rows per workgroup (a rotated
 * pair stays in one), caches apart from the inputs, and either
 *   - the norm foldable: weights_<t>_n:nmatvec3_rope (11 storage buffers), the norm inside;
 *   - or products over 8-bit x (matvec_i8): rms_norm:main_q writes h and its blocks, then
 *     weights_<t>_i8:nmatvec3_rope over them (9 storage buffers); with matvec_pack
 *     weights_<t>_i8p:nmatvec3_rope alone, its workgroups normalising and packing x (10).
 * v of the same type is its third matrix; v of another type (Q4_K_M's q6_K layers) a second
 * dispatch (weights_<t'>_n:nmatvec, weights_<t'>_i8:nmatvec over the same blocks, or
 * weights_<t'>_i8p:nmatvec) writing into the value cache. */
static bool emit_qkv_rope(dp_backend *b, dp_tensor *h, const dp_tensor *x, const dp_tensor *nw,
                          int n, int d, float eps, bool plus_one, const dp_tensor *const *ws,
                          const dp_qkv_args *a) {
    wg_ctx *c = wg_ctx_of(b);
    dp_tensor *outs[3] = {a->q, a->k, a->v};
    const int64_t hd = a->rq.head_dim, kvd = a->rk.n_head * hd;
    const bool v_apart = ws[2] && ws[0] && ws[2]->dtype != ws[0]->dtype;
    if (a->q_norm || a->n != n || !wg_norm_matmul_fits(c, h, x, nw, n, d, outs, ws, 3, NULL) ||
        !ws_one_type(ws, 2) || !rope_qk_fits(c, a) || ws[0]->ne[1] != a->rq.n_head * hd ||
        ws[1]->ne[1] != kvd || ws[2]->ne[1] != kvd)
        return false;
    const bool folded = fold_fits(c, x, nw, d, outs, ws, 3, NULL);
    /* or products that normalise and pack x themselves (weights_<t>_i8p), unless the blocks are
       made already (norm_add_q) */
    const char *pk = folded || wg_normed_ready(c, h, x, nw, n, d, eps, plus_one)
                         ? NULL : wg_matvec_pack_kernel(c, ws, 3, (uint64_t)n, d);
    const char *pk_v = pk && v_apart ? wg_matvec_pack_kernel(c, ws + 2, 1, (uint64_t)n, d) : pk;
    if (!pk_v) pk = NULL;
    if (!folded && !wg_matvec_i8_block_of(c, ws, 3, (uint64_t)n, d)) return false;
    if (c->dev->max_storage < (folded ? 11u : pk ? 10u : 9u)) return false;
    const dp_tensor *in[5] = {x, nw, ws[0], ws[1], ws[2]};
    for (int i = 0; i < 5; i++)
        if (shares_buffer(in[i], a->k_cache) || shares_buffer(in[i], a->v_cache) ||
            shares_buffer(in[i], a->q))
            return false;
    char name[48], consts[64];
    const char *mv = folded ? wg_matvec_norm_kernel(c, ws[0]->dtype, name, sizeof name)
                     : pk   ? pk
                            : wg_matvec_i8_kernel(c, ws[0]->dtype, (uint64_t)n);
    const int64_t m3 = v_apart ? 0 : kvd, rows = ws[0]->ne[1] + kvd + m3;
    uint32_t per, gx, gy, rb[3];
    wg_matvec_config(c, ws[0]->dtype, mv, d, rows, &per, consts, sizeof consts);
    if (per % 2) return false;
    for (int i = 0; i < 3; i++)
        if (!(rb[i] = wg_weights_check(c, ws[i], "matmul"))) return true;
    /* the products' x: x with the norm folded in or packed by them, else the blocks main_q
       writes with h */
    const dp_tensor *xin = folded || pk ? x : h;
    if (!folded && !pk) wg_rec_rms_norm_for(b, h, x, nw, n, d, eps, plus_one, ws, 3);
    dp_gpu_binding bs[11];
    int nb = 9;
    if (!wg_out(c, a->q, n * ws[0]->ne[1], 1, "matmul", "out", &bs[0]) ||
        !wg_in(c, xin, (int64_t)n * d, 3, "matmul", "x", &bs[2]) ||
        !wg_out(c, a->k_cache, a->cache_off + n * kvd, 4, "copy", "dst", &bs[3]) ||
        !wg_in(c, a->pos, n, 11, "rope", "pos", &bs[7]) ||
        !wg_in(c, a->inv_freq, a->rq.rot_dim > 1 ? a->rq.rot_dim / 2 : 1, 12, "rope", "inv_freq", &bs[8]))
        return true;
    if (folded || pk) {
        if (!wg_in(c, nw, d, 10, "rms_norm", "w", &bs[9]) || (folded && !bind_rowss(c, x, n, d, &bs[10])))
            return true;
        nb = folded ? 11 : 10;
    } else if (!wg_matvec_input(c, ws[0]->dtype, &bs[2], (uint64_t)n, (uint64_t)d)) { /* main_q's blocks */
        return true;
    }
    bs[1] = wg_at(2, wg_bind(ws[0]));
    bs[4] = wg_at(5, wg_bind(ws[1]));
    if (v_apart) { /* not read: no v rows */
        uint32_t dummy = wg_scratch(c, WG_SCR_IN8, 4);
        if (!dummy) return true;
        bs[5] = wg_at(8, wg_bind_buf(dummy, 0, 4));
        bs[6] = wg_at(9, bs[4]);
    } else {
        if (!wg_out(c, a->v_cache, a->cache_off + n * kvd, 8, "copy", "dst", &bs[5])) return true;
        bs[6] = wg_at(9, wg_bind(ws[2]));
    }
    nmv_params prm = {{(uint32_t)n, (uint32_t)d, (uint32_t)ws[0]->ne[1], rb[0], 1.0f, 0, 0, 0, (uint32_t)kvd,
                       rb[1], ((folded || pk) && plus_one ? WG_NMV_PLUS_ONE : 0u) | (pk ? WG_NMV_NORM : 0u), eps, (uint32_t)m3, rb[2], 0, 0, {0, 0, 0},
                       {0, 0, 0}},
                      (uint32_t)hd, (uint32_t)(a->rq.rot_dim / 2), a->rq.interleaved ? 1u : 0u,
                      a->rq.mscale == 0.0f ? 1.0f : a->rq.mscale, (uint32_t)a->cache_off,
                      (uint32_t)a->cache_off, 0};
    wg_grid(c, ((uint64_t)rows + per - 1) / per, &gx, &gy);
    wg_dispatch(c, mv, "nmatvec3_rope", consts, &prm, sizeof prm, bs, (uint32_t)nb, gx, gy, (uint32_t)n);
    if (v_apart) { /* v = norm(x) Wv straight into the value cache */
        if (!wg_in(c, xin, (int64_t)n * d, 3, "matmul", "x", &bs[2])) return true;
        emit_products(c, bs, folded || pk ? nw : NULL, folded ? &bs[10] : NULL,
                      folded ? wg_matvec_norm_kernel(c, ws[2]->dtype, name, sizeof name)
                      : pk   ? pk_v
                             : NULL,
                      n, eps, plus_one, &a->v_cache, ws + 2, 1, NULL, a->cache_off, NULL);
    }
    return true;
}

void wg_op_norm_qkv_rope(dp_backend *b, dp_tensor *h, const dp_tensor *x, const dp_tensor *w, int n,
                         int d, float eps, bool plus_one, const dp_tensor *const *ws,
                         const dp_qkv_args *a, bool keep_h) {
    if (!keep_h && ws && a && emit_qkv_rope(b, h, x, w, n, d, eps, plus_one, ws, a)) return;
    dp_tensor *outs[3] = {a ? a->q : NULL, a ? a->k : NULL, a ? a->v : NULL};
    wg_op_norm_matmul(b, h, x, w, n, d, eps, plus_one, outs, ws, 3, NULL, keep_h);
    if (a) wg_op_rope_qk_kv(b, a);
}

#else
typedef int dp_wg_fuse_unused;
#endif /* __wasm__ */
