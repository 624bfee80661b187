/* wg_fuse.c — the vtable's op entries, with peephole fusion of decode-sized sequences.
 *
 * Dispatches cost several microseconds each on a real GPU (3.5 us measured on an H200 in a long
 * pass), comparable to the work of a small decode op, so the sequences the forward pass emits
 * around every matrix-vector product are folded into one dispatch of weights_<t>:nmatvec:
 *
 *   rms_norm(h <- x, w)                               held back
 *   matmul(o1 <- h, W1) [, matmul(o2 <- h, W2)]       held back with it (same n, same weight type)
 *   [glu(o1 <- o1, o2)]                               folded in (act(W1 h) * (W2 h))
 *
 * The fused kernel still writes h (and o2 for glu), so later readers see exactly what the ops
 * one by one would have produced. Anything else — another op, flush, tensor get/set/free —
 * first records what is held back. Only decode-sized batches (n <= WG_FUSE_MAX_N) are held. */
#if defined(__wasm__)

#include <stdio.h>
#include <string.h>

#include "backend/webgpu/wg_internal.h"

#define WG_FUSE_MAX_N 8

static bool same_view(const dp_tensor *a, const dp_tensor *b) {
    return a->handle == b->handle && a->offset == b->offset;
}

static bool shares_buffer(const dp_tensor *a, const dp_tensor *b) { return a->handle == b->handle; }

/* Record the held-back norm (+ matmuls) as one dispatch. */
static void emit_nmatvec(wg_ctx *c, const dp_act *glu_act) {
    wg_pending *p = &c->pend;
    const dp_tensor *w1 = &p->mm[0].w, *w2 = p->n_mm > 1 ? &p->mm[1].w : &p->mm[0].w;
    uint32_t rb1 = wg_weights_check(c, w1, "matmul"), rb2 = wg_weights_check(c, w2, "matmul");
    if (!rb1 || !rb2) return;
    const int64_t k = w1->ne[0], m1 = w1->ne[1], m2 = p->n_mm > 1 ? w2->ne[1] : 0;
    dp_gpu_binding o1, x, o2, nw, h;
    if (!wg_out(c, &p->mm[0].out, p->n * m1, 1, "matmul", "out", &o1) ||
        !wg_in(c, &p->x, p->n * k, 3, "rms_norm", "x", &x) ||
        !wg_in(c, &p->w, k, 6, "rms_norm", "w", &nw) ||
        !wg_out(c, &p->out, p->n * k, 7, "rms_norm", "out", &h))
        return;
    if (p->n_mm > 1) {
        if (!wg_out(c, &p->mm[1].out, p->n * m2, 4, "matmul", "out", &o2)) return;
    } else {
        uint32_t dummy = wg_scratch(c, WG_SCR_IN4, 4);
        if (!dummy) return;
        o2 = wg_at(4, wg_bind_buf(dummy, 0, 4));
    }
    uint32_t flags = WG_NMV_NORM | (p->plus_one ? WG_NMV_PLUS_ONE : 0u);
    if (glu_act) flags |= WG_NMV_GLU | (*glu_act == DP_ACT_GELU_TANH ? WG_NMV_GELU : 0u);
    wg_weights_params prm = {(uint32_t)p->n, (uint32_t)k, (uint32_t)m1, rb1, 1.0f, 0, 0, 0,
                             (uint32_t)m2, rb2, flags, p->eps};
    uint32_t tpr = wg_matvec_tpr(w1->dtype, k);
    char consts[32];
    snprintf(consts, sizeof consts, "TPR=%u", tpr);
    uint64_t rows = glu_act ? (uint64_t)m1 : (uint64_t)(m1 + m2);
    uint32_t per = 256 / tpr, gx, gy;
    wg_grid(c, (rows + per - 1) / per, &gx, &gy);
    dp_gpu_binding bs[7] = {o1, wg_at(2, wg_bind(w1)), x, o2, wg_at(5, wg_bind(w2)), nw, h};
    wg_dispatch(c, wg_weights_file(w1->dtype), "nmatvec", consts, &prm, sizeof prm, bs, 7, gx, gy,
                (uint32_t)p->n);
}

void wg_pending_flush(wg_ctx *c) {
    wg_pending *p = &c->pend;
    if (!p->norm) return;
    p->norm = false; /* before recording: the records below must not see it */
    if (p->n_mm == 0) {
        dp_backend tmp = {NULL, c};
        wg_rec_rms_norm(&tmp, &p->out, &p->x, &p->w, p->n, p->d, p->eps, p->plus_one);
        return;
    }
    emit_nmatvec(c, NULL);
}

static wg_ctx *flushed(dp_backend *b) {
    wg_ctx *c = wg_ctx_of(b);
    wg_pending_flush(c);
    return c;
}

/* ---- fusable ops ---- */

void wg_op_rms_norm(dp_backend *b, dp_tensor *out, const dp_tensor *x, const dp_tensor *w, int n,
                    int d, float eps, bool plus_one) {
    wg_ctx *c = flushed(b);
    if (c->fuse && c->status == DP_OK && n >= 1 && n <= WG_FUSE_MAX_N && d > 0 && out && x && w &&
        !shares_buffer(out, x) && !shares_buffer(out, w) && out->offset % 256 == 0 &&
        (uint64_t)n * (uint64_t)d * 4 <= out->nbytes) {
        wg_pending *p = &c->pend;
        memset(p, 0, sizeof *p);
        p->norm = true;
        p->out = *out;
        p->x = *x;
        p->w = *w;
        p->n = n;
        p->d = d;
        p->eps = eps;
        p->plus_one = plus_one;
        return;
    }
    wg_rec_rms_norm(b, out, x, w, n, d, eps, plus_one);
}

void wg_op_matmul(dp_backend *b, dp_tensor *out, const dp_tensor *x, const dp_tensor *w, int n,
                  bool accumulate) {
    wg_ctx *c = wg_ctx_of(b);
    wg_pending *p = &c->pend;
    if (p->norm && !accumulate && x && w && out && same_view(x, &p->out) && n == p->n &&
        w->ne[0] == p->d && wg_weights_file(w->dtype) && w->offset % 256 == 0 &&
        out->offset % 256 == 0 && !shares_buffer(out, &p->out) && !shares_buffer(out, &p->x) &&
        !shares_buffer(out, &p->w) && !shares_buffer(out, w) &&
        (p->n_mm == 0 || (p->n_mm == 1 && w->dtype == p->mm[0].w.dtype &&
                          !shares_buffer(out, &p->mm[0].out)))) {
        p->mm[p->n_mm].out = *out;
        p->mm[p->n_mm].w = *w;
        p->n_mm++; /* with two, a glu may follow */
        return;
    }
    wg_pending_flush(c);
    wg_rec_matmul(b, out, x, w, n, accumulate);
}

void wg_op_glu(dp_backend *b, dp_tensor *out, const dp_tensor *gate, const dp_tensor *up, int n,
               int f, dp_act act) {
    wg_ctx *c = wg_ctx_of(b);
    wg_pending *p = &c->pend;
    if (p->norm && p->n_mm == 2 && out && gate && up && same_view(out, gate) &&
        same_view(gate, &p->mm[0].out) && same_view(up, &p->mm[1].out) && n == p->n &&
        f == p->mm[0].w.ne[1] && f == p->mm[1].w.ne[1] &&
        (act == DP_ACT_SILU || act == DP_ACT_GELU_TANH)) {
        p->norm = false;
        emit_nmatvec(c, &act);
        return;
    }
    wg_pending_flush(c);
    wg_rec_glu(b, out, gate, up, n, f, act);
}

/* ---- the other ops: record what is held back, then the op ---- */

void wg_op_get_rows(dp_backend *b, dp_tensor *out, const dp_tensor *table, const dp_tensor *ids,
                    int n, float scale) {
    flushed(b);
    wg_rec_get_rows(b, out, table, ids, n, scale);
}

void wg_op_add(dp_backend *b, dp_tensor *out, const dp_tensor *a, const dp_tensor *bb,
               int64_t count) {
    flushed(b);
    wg_rec_add(b, out, a, bb, count);
}

void wg_op_rope(dp_backend *b, dp_tensor *x, const dp_tensor *pos, const dp_tensor *inv_freq, int n,
                const dp_rope_args *a) {
    flushed(b);
    wg_rec_rope(b, x, pos, inv_freq, n, a);
}

void wg_op_copy(dp_backend *b, dp_tensor *dst, int64_t dst_off, const dp_tensor *src,
                int64_t count) {
    flushed(b);
    wg_rec_copy(b, dst, dst_off, src, count);
}

void wg_op_attention(dp_backend *b, dp_tensor *out, const dp_tensor *q, const dp_tensor *k_cache,
                     const dp_tensor *v_cache, const dp_attn_args *a) {
    flushed(b);
    wg_rec_attention(b, out, q, k_cache, v_cache, a);
}

void wg_op_softcap(dp_backend *b, dp_tensor *x, int64_t count, float cap) {
    flushed(b);
    wg_rec_softcap(b, x, count, cap);
}

void wg_op_moe(dp_backend *b, dp_tensor *out, const dp_tensor *x, const dp_tensor *logits,
               const dp_tensor *gate, const dp_tensor *up, const dp_tensor *down, int n,
               int n_expert, int k, dp_act act) {
    flushed(b);
    wg_rec_moe(b, out, x, logits, gate, up, down, n, n_expert, k, act);
}

void wg_op_sample(dp_backend *b, dp_tensor *out, const dp_tensor *logits, int row, int vocab,
                  const dp_sample_args *a) {
    flushed(b);
    wg_rec_sample(b, out, logits, row, vocab, a);
}

#else
typedef int dp_wg_fuse_unused;
#endif /* __wasm__ */
