/* wg_fuse.c — the vtable's op entries, with peephole fusion of the sequences the forward pass
 * emits.
 *
 * Dispatches cost several microseconds each on a real GPU (3.5 us measured on an H200 in a long
 * pass), comparable to the work of a small decode op, so adjacent ops are folded:
 *
 *   rms_norm(h <- x) matmul(o1 <- h) [matmul(o2 <- h)] [matmul(o3 <- h)] [glu(o1 <- o1, o2)]
 *                -> rms_norm:main, weights_<t>:nmatvec / nmatvec3   (decode: n <= WG_FUSE_MAX_N)
 *                   (the products sharing h in one dispatch; the norm stays its own dispatch:
 *                   folded into the products, every workgroup of them re-read and re-reduced x)
 *   rms_norm(h <- h) add(y <- y + h)  -> rms_norm:norm_add      (sandwich norm + residual)
 *   rms_norm(q <- q) rope(q)          -> rope:norm_rope         (q/k norms)
 *   copy(kc <- k) copy(vc <- v)       -> elementwise:copy2      (KV cache writes)
 *
 * One op is held back at a time (plus the matmuls joining a norm); the next op either joins it
 * or first records it on its own. Fused kernels still write every output the ops one by one
 * would have written (h, o2, the normalised q), so later readers see the same values. flush,
 * tensor get/set/free record what is held back first. */
#if defined(__wasm__)

#include <stdio.h>
#include <string.h>

#include "backend/webgpu/wg_internal.h"

#define WG_FUSE_MAX_N 8

static bool same_view(const dp_tensor *a, const dp_tensor *b) {
    return a->handle == b->handle && a->offset == b->offset;
}

static bool shares_buffer(const dp_tensor *a, const dp_tensor *b) { return a->handle == b->handle; }

static void emit_rope2(wg_ctx *c, const struct wg_pending *r, const struct wg_pending *s);

/* Record the held-back norm, then its matmuls as one dispatch. */
static void emit_nmatvec(wg_ctx *c, const dp_act *glu_act) {
    wg_pending *p = &c->pend;
    dp_backend tmp = {NULL, c};
    wg_rec_rms_norm(&tmp, &p->out, &p->x, &p->w, p->n, p->d, p->eps, p->plus_one);
    if (c->status != DP_OK) return;
    const int nm = p->n_mm;
    const dp_tensor *w[3] = {&p->mm[0].w, nm > 1 ? &p->mm[1].w : &p->mm[0].w, nm > 2 ? &p->mm[2].w : NULL};
    uint32_t rb[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++)
        if (w[i] && !(rb[i] = wg_weights_check(c, w[i], "matmul"))) return;
    const int64_t k = w[0]->ne[0], m1 = w[0]->ne[1], m2 = nm > 1 ? w[1]->ne[1] : 0,
                  m3 = nm > 2 ? w[2]->ne[1] : 0;
    dp_gpu_binding bs[7];
    if (!wg_out(c, &p->mm[0].out, p->n * m1, 1, "matmul", "out", &bs[0]) ||
        !wg_in(c, &p->out, p->n * k, 3, "matmul", "x", &bs[2]) ||
        !wg_actq_input(c, w[0]->dtype, &bs[2], (uint64_t)p->n, (uint64_t)k))
        return;
    bs[1] = wg_at(2, wg_bind(w[0]));
    bs[4] = wg_at(5, wg_bind(w[1]));
    if (nm > 1) {
        if (!wg_out(c, &p->mm[1].out, p->n * m2, 4, "matmul", "out", &bs[3])) return;
    } else {
        uint32_t dummy = wg_scratch(c, WG_SCR_IN4, 4);
        if (!dummy) return;
        bs[3] = wg_at(4, wg_bind_buf(dummy, 0, 4));
    }
    if (nm > 2) {
        if (!wg_out(c, &p->mm[2].out, p->n * m3, 8, "matmul", "out", &bs[5])) return;
        bs[6] = wg_at(9, wg_bind(w[2]));
    }
    uint32_t flags = 0;
    if (glu_act) flags |= WG_NMV_GLU | (*glu_act == DP_ACT_GELU_TANH ? WG_NMV_GELU : 0u);
    wg_weights_params prm = {(uint32_t)p->n, (uint32_t)k, (uint32_t)m1, rb[0], 1.0f, 0, 0, 0,
                             (uint32_t)m2, rb[1], flags, p->eps, (uint32_t)m3, rb[2]};
    uint64_t rows = glu_act ? (uint64_t)m1 : (uint64_t)(m1 + m2 + m3);
    uint32_t per, gx, gy;
    char consts[48];
    wg_matvec_config(c, w[0]->dtype, k, (int64_t)rows, &per, consts, sizeof consts);
    wg_grid(c, (rows + per - 1) / per, &gx, &gy);
    wg_dispatch(c, wg_weights_file(w[0]->dtype), nm > 2 ? "nmatvec3" : "nmatvec", consts, &prm,
                sizeof prm, bs, nm > 2 ? 7 : 5, gx, gy, (uint32_t)p->n);
}

static void pending_flush_one(wg_ctx *c, wg_pending *p) {
    wg_pend_kind kind = p->kind;
    p->kind = WG_PEND_NONE; /* before recording: the records below must not see it */
    dp_backend tmp = {NULL, c};
    switch (kind) {
    case WG_PEND_NONE: break;
    case WG_PEND_NORM:
        if (p->n_mm == 0) wg_rec_rms_norm(&tmp, &p->out, &p->x, &p->w, p->n, p->d, p->eps, p->plus_one);
        else emit_nmatvec(c, NULL);
        break;
    case WG_PEND_NORM_INPLACE:
        wg_rec_rms_norm(&tmp, &p->out, &p->out, &p->w, p->n, p->d, p->eps, p->plus_one);
        break;
    case WG_PEND_COPY:
        wg_rec_copy(&tmp, &p->out, p->off, &p->x, p->count);
        break;
    case WG_PEND_ROPE:
        emit_rope2(c, p, NULL);
        break;
    case WG_PEND_ROPE2: break; /* handled by wg_pending_flush */
    }
}

void wg_pending_flush(wg_ctx *c) {
    if (c->pend.kind == WG_PEND_ROPE2) { /* pend2 is its k rope, not an op of its own */
        wg_pending q = c->pend, k = c->pend2;
        c->pend.kind = c->pend2.kind = WG_PEND_NONE;
        emit_rope2(c, &q, &k);
        if (q.has_kcopy) {
            dp_backend tmp = {NULL, c};
            wg_rec_copy(&tmp, &q.kc, q.kc_off, &k.out, q.kc_count);
        }
        return;
    }
    /* emit_nmatvec reads c->pend: flush it first, then the second slot through the first */
    pending_flush_one(c, &c->pend);
    if (c->pend2.kind != WG_PEND_NONE) {
        c->pend = c->pend2;
        c->pend2.kind = WG_PEND_NONE;
        pending_flush_one(c, &c->pend);
    }
}

static wg_ctx *flushed(dp_backend *b) {
    wg_ctx *c = wg_ctx_of(b);
    wg_pending_flush(c);
    return c;
}

static bool can_hold(const wg_ctx *c) { return c->fuse && c->status == DP_OK; }

/* ---- fusable ops ---- */

void wg_op_rms_norm(dp_backend *b, dp_tensor *out, const dp_tensor *x, const dp_tensor *w, int n,
                    int d, float eps, bool plus_one) {
    wg_ctx *c = wg_ctx_of(b);
    wg_pending *p = &c->pend;
    if (p->kind == WG_PEND_NORM_INPLACE && c->pend2.kind == WG_PEND_NONE && out && x && w &&
        same_view(out, x) && !shares_buffer(out, &p->out) && !shares_buffer(out, &p->w) &&
        !shares_buffer(out, w) && n >= 1 && d > 0 && out->offset % 256 == 0 &&
        (uint64_t)n * (uint64_t)d * 4 <= out->nbytes) {
        p = &c->pend2; /* two in-place norms in a row: both may meet their ropes */
        memset(p, 0, sizeof *p);
        p->kind = WG_PEND_NORM_INPLACE;
        p->out = *out;
        p->w = *w;
        p->n = n;
        p->d = d;
        p->eps = eps;
        p->plus_one = plus_one;
        return;
    }
    wg_pending_flush(c);
    bool ok = can_hold(c) && n >= 1 && d > 0 && out && x && w && !shares_buffer(out, w) &&
              out->offset % 256 == 0 && (uint64_t)n * (uint64_t)d * 4 <= out->nbytes;
    if (ok && same_view(out, x)) {
        memset(p, 0, sizeof *p);
        p->kind = WG_PEND_NORM_INPLACE;
    } else if (ok && n <= WG_FUSE_MAX_N && !shares_buffer(out, x)) {
        memset(p, 0, sizeof *p);
        p->kind = WG_PEND_NORM;
        p->x = *x;
    } else {
        wg_rec_rms_norm(b, out, x, w, n, d, eps, plus_one);
        return;
    }
    p->out = *out;
    p->w = *w;
    p->n = n;
    p->d = d;
    p->eps = eps;
    p->plus_one = plus_one;
}

void wg_op_matmul(dp_backend *b, dp_tensor *out, const dp_tensor *x, const dp_tensor *w, int n,
                  bool accumulate) {
    wg_ctx *c = wg_ctx_of(b);
    wg_pending *p = &c->pend;
    if (p->kind == WG_PEND_NORM && c->pend2.kind == WG_PEND_NONE && !accumulate && x && w && out && same_view(x, &p->out) &&
        n == p->n && w->ne[0] == p->d && wg_weights_file(w->dtype) && w->offset % 256 == 0 &&
        out->offset % 256 == 0 && !shares_buffer(out, &p->out) && !shares_buffer(out, &p->x) &&
        !shares_buffer(out, &p->w) && !shares_buffer(out, w) &&
        (p->n_mm == 0 ||
         (p->n_mm == 1 && w->dtype == p->mm[0].w.dtype && !shares_buffer(out, &p->mm[0].out)) ||
         (p->n_mm == 2 && c->max_storage >= 7 && w->dtype == p->mm[0].w.dtype &&
          !shares_buffer(out, &p->mm[0].out) && !shares_buffer(out, &p->mm[1].out)))) {
        p->mm[p->n_mm].out = *out;
        p->mm[p->n_mm].w = *w;
        p->n_mm++; /* with two, a glu may follow; a third joins (nmatvec3: 7 storage bindings) */
        return;
    }
    wg_pending_flush(c);
    wg_rec_matmul(b, out, x, w, n, accumulate);
}

void wg_op_glu(dp_backend *b, dp_tensor *out, const dp_tensor *gate, const dp_tensor *up, int n,
               int f, dp_act act) {
    wg_ctx *c = wg_ctx_of(b);
    wg_pending *p = &c->pend;
    if (p->kind == WG_PEND_NORM && c->pend2.kind == WG_PEND_NONE && p->n_mm == 2 && out && gate && up && same_view(out, gate) &&
        same_view(gate, &p->mm[0].out) && same_view(up, &p->mm[1].out) && n == p->n &&
        f == p->mm[0].w.ne[1] && f == p->mm[1].w.ne[1] &&
        (act == DP_ACT_SILU || act == DP_ACT_GELU_TANH)) {
        p->kind = WG_PEND_NONE;
        emit_nmatvec(c, &act);
        return;
    }
    wg_pending_flush(c);
    wg_rec_glu(b, out, gate, up, n, f, act);
}

/* matches `Params` in rms_norm.wgsl */
typedef struct norm_params {
    uint32_t n, d;
    float eps;
    uint32_t plus_one;
} norm_params;

void wg_op_add(dp_backend *b, dp_tensor *out, const dp_tensor *a, const dp_tensor *bb,
               int64_t count) {
    wg_ctx *c = wg_ctx_of(b);
    wg_pending *p = &c->pend;
    if (p->kind == WG_PEND_NORM_INPLACE && c->pend2.kind == WG_PEND_NONE && out && a && bb &&
        same_view(out, a) &&
        same_view(bb, &p->out) && count == (int64_t)p->n * p->d && !shares_buffer(out, &p->out) &&
        !shares_buffer(out, &p->w)) {
        p->kind = WG_PEND_NONE;
        dp_gpu_binding hb, wb, yb;
        if (!wg_out(c, &p->out, count, 1, "rms_norm", "out", &hb) ||
            !wg_in(c, &p->w, p->d, 2, "rms_norm", "w", &wb) ||
            !wg_out(c, out, count, 4, "add", "out", &yb))
            return;
        norm_params np = {(uint32_t)p->n, (uint32_t)p->d, p->eps, p->plus_one ? 1u : 0u};
        dp_gpu_binding bs[3] = {hb, wb, yb};
        char consts[16];
        wg_dispatch_flat(c, "rms_norm", "norm_add", wg_norm_consts(c, p->d, consts, sizeof consts),
                         &np, sizeof np, bs, 3, (uint64_t)p->n);
        return;
    }
    wg_pending_flush(c);
    wg_rec_add(b, out, a, bb, count);
}

/* matches `Params` in rope.wgsl */
typedef struct rope_params {
    uint32_t n, n_head, head_dim, half, interleaved;
    float mscale, eps;
    uint32_t plus_one, n_head2;
    float eps2;
    uint32_t plus_one2, norms, kc_off, vc_off;
} rope_params;

/* One rope:rope2 dispatch for the held rope r (q) and, when s is set, a second one (k) with
 * the same positions and frequencies; either may carry its head norm. */
static void emit_rope2(wg_ctx *c, const wg_pending *r, const wg_pending *s) {
    const dp_rope_args *a = &r->ra;
    const int half = a->rot_dim / 2, n = r->n;
    if (!r->rope_norm && !s) { /* a plain rope: the per-pair kernel */
        dp_backend tmp = {NULL, c};
        wg_rec_rope(&tmp, (dp_tensor *)&r->out, &r->pos, &r->inv_freq, n, a);
        return;
    }
    dp_gpu_binding xb, pb, fb, wb, x2b = {0}, w2b;
    if (!wg_out(c, &r->out, (int64_t)n * a->n_head * a->head_dim, 1, "rope", "x", &xb) ||
        !wg_in(c, &r->pos, n, 2, "rope", "pos", &pb) ||
        !wg_in(c, &r->inv_freq, half > 0 ? half : 1, 3, "rope", "inv_freq", &fb))
        return;
    if (r->rope_norm) {
        if (!wg_in(c, &r->w, a->head_dim, 4, "rms_norm", "w", &wb)) return;
    } else {
        wb = wg_at(4, fb); /* not read */
    }
    uint32_t n_head2 = 0, norms = r->rope_norm ? 1u : 0u;
    float eps2 = 0.0f;
    bool p1b = false;
    if (s) {
        n_head2 = (uint32_t)s->ra.n_head;
        if (!wg_out(c, &s->out, (int64_t)n * s->ra.n_head * a->head_dim, 5, "rope", "x", &x2b)) return;
        if (s->rope_norm) {
            if (!wg_in(c, &s->w, a->head_dim, 6, "rms_norm", "w", &w2b)) return;
            norms |= 2u;
            eps2 = s->eps;
            p1b = s->plus_one;
        } else {
            w2b = wg_at(6, fb);
        }
    } else { /* a single normalised rope: x2 gets no workgroups; bind placeholders */
        uint32_t dummy = wg_scratch(c, WG_SCR_IN4, 4);
        if (!dummy) return;
        x2b = wg_at(5, wg_bind_buf(dummy, 0, 4));
        w2b = wg_at(6, fb);
    }
    rope_params rp = {(uint32_t)n, (uint32_t)a->n_head, (uint32_t)a->head_dim, (uint32_t)half,
                      a->interleaved ? 1u : 0u, a->mscale == 0.0f ? 1.0f : a->mscale, r->eps,
                      r->plus_one ? 1u : 0u, n_head2, eps2, p1b ? 1u : 0u, norms, 0, 0};
    dp_gpu_binding bs[6] = {xb, pb, fb, wb, x2b, w2b};
    wg_dispatch_flat(c, "rope", "rope2", "WG=64", &rp, sizeof rp, bs, 6,
                     (uint64_t)n * ((uint64_t)a->n_head + n_head2));
}

static bool rope_args_ok(const dp_tensor *x, const dp_tensor *pos, const dp_tensor *inv_freq,
                         int n, const dp_rope_args *a) {
    return x && pos && inv_freq && a && n >= 1 && a->n_head > 0 && a->head_dim > 0 &&
           a->rot_dim >= 0 && a->rot_dim <= a->head_dim && a->rot_dim % 2 == 0 &&
           !shares_buffer(x, pos) && !shares_buffer(x, inv_freq) && x->offset % 256 == 0;
}

/* the held in-place norm p is the head norm of x for this rope */
static bool norm_fits(const wg_pending *p, const dp_tensor *x, int n, const dp_rope_args *a) {
    return p->kind == WG_PEND_NORM_INPLACE && same_view(x, &p->out) && a->head_dim == p->d &&
           (int64_t)n * a->n_head == p->n && !shares_buffer(x, &p->w);
}

void wg_op_rope(dp_backend *b, dp_tensor *x, const dp_tensor *pos, const dp_tensor *inv_freq, int n,
                const dp_rope_args *a) {
    wg_ctx *c = wg_ctx_of(b);
    wg_pending *p = &c->pend, *p2 = &c->pend2;
    if (c->fuse && c->status == DP_OK && rope_args_ok(x, pos, inv_freq, n, a)) {
        /* the second of q/k: fold into the held rope */
        if (p->kind == WG_PEND_ROPE && !shares_buffer(x, &p->out) && same_view(pos, &p->pos) &&
            same_view(inv_freq, &p->inv_freq) && n == p->n && a->head_dim == p->ra.head_dim &&
            a->rot_dim == p->ra.rot_dim && a->interleaved == p->ra.interleaved &&
            a->mscale == p->ra.mscale && !shares_buffer(x, &p->w) &&
            (p2->kind == WG_PEND_NONE || norm_fits(p2, x, n, a))) {
            wg_pending q = *p, k = {0};
            k.out = *x;
            k.ra = *a;
            k.n = n;
            if (p2->kind == WG_PEND_NORM_INPLACE) {
                k.rope_norm = true;
                k.w = p2->w;
                k.eps = p2->eps;
                k.plus_one = p2->plus_one;
            }
            if (c->max_storage >= 9) { /* the KV cache copies may follow */
                *p2 = k;
                p2->kind = WG_PEND_ROPE;
                p->kind = WG_PEND_ROPE2;
                p->has_kcopy = false;
                return;
            }
            p->kind = p2->kind = WG_PEND_NONE;
            emit_rope2(c, &q, &k);
            return;
        }
        /* the first: hold it (with its norm when that is what is held; anything else held is
           recorded first) */
        bool with_norm = norm_fits(p, x, n, a);
        if (!with_norm) wg_pending_flush(c);
        if (with_norm && p2->kind != WG_PEND_NONE &&
            (shares_buffer(&p2->out, pos) || shares_buffer(&p2->out, inv_freq))) {
            wg_pending_flush(c);
            wg_rec_rope(b, x, pos, inv_freq, n, a);
            return;
        }
        wg_pending r = *p;
        memset(p, 0, sizeof *p);
        p->kind = WG_PEND_ROPE;
        p->out = *x;
        p->pos = *pos;
        p->inv_freq = *inv_freq;
        p->ra = *a;
        p->n = n;
        if (with_norm) {
            p->rope_norm = true;
            p->w = r.w;
            p->eps = r.eps;
            p->plus_one = r.plus_one;
            p->d = r.d;
        }
        return;
    }
    wg_pending_flush(c);
    wg_rec_rope(b, x, pos, inv_freq, n, a);
}

/* matches `Params` in elementwise.wgsl */
typedef struct copy2_params {
    uint32_t count, dst_off;
    float cap;
    uint32_t act, dst_off2;
} copy2_params;

/* rope2 + both cache copies as one rope2kv dispatch */
static void emit_rope2kv(wg_ctx *c, const wg_pending *q, const wg_pending *k, const dp_tensor *vc,
                         int64_t vc_off, const dp_tensor *v) {
    const dp_rope_args *a = &q->ra;
    const int half = a->rot_dim / 2, n = q->n;
    const int64_t kcount = q->kc_count;
    dp_gpu_binding bs[9];
    if (!wg_out(c, &q->out, (int64_t)n * a->n_head * a->head_dim, 1, "rope", "x", &bs[0]) ||
        !wg_in(c, &q->pos, n, 2, "rope", "pos", &bs[1]) ||
        !wg_in(c, &q->inv_freq, half > 0 ? half : 1, 3, "rope", "inv_freq", &bs[2]) ||
        !wg_out(c, &k->out, kcount, 5, "rope", "x", &bs[4]) ||
        !wg_out(c, &q->kc, q->kc_off + kcount, 7, "copy", "dst", &bs[6]) ||
        !wg_in(c, v, kcount, 8, "copy", "src", &bs[7]) ||
        !wg_out(c, vc, vc_off + kcount, 9, "copy", "dst", &bs[8]))
        return;
    if (q->rope_norm) {
        if (!wg_in(c, &q->w, a->head_dim, 4, "rms_norm", "w", &bs[3])) return;
    } else {
        bs[3] = wg_at(4, bs[2]);
    }
    if (k->rope_norm) {
        if (!wg_in(c, &k->w, a->head_dim, 6, "rms_norm", "w", &bs[5])) return;
    } else {
        bs[5] = wg_at(6, bs[2]);
    }
    rope_params rp = {(uint32_t)n, (uint32_t)a->n_head, (uint32_t)a->head_dim, (uint32_t)half,
                      a->interleaved ? 1u : 0u, a->mscale == 0.0f ? 1.0f : a->mscale, q->eps,
                      q->plus_one ? 1u : 0u, (uint32_t)k->ra.n_head, k->eps,
                      k->plus_one ? 1u : 0u, (q->rope_norm ? 1u : 0u) | (k->rope_norm ? 2u : 0u),
                      (uint32_t)q->kc_off, (uint32_t)vc_off};
    wg_dispatch_flat(c, "rope", "rope2kv", "WG=64", &rp, sizeof rp, bs, 9,
                     (uint64_t)n * ((uint64_t)a->n_head + 2u * (uint64_t)k->ra.n_head));
}

void wg_op_copy(dp_backend *b, dp_tensor *dst, int64_t dst_off, const dp_tensor *src,
                int64_t count) {
    wg_ctx *c = wg_ctx_of(b);
    wg_pending *p = &c->pend;
    if (p->kind == WG_PEND_ROPE2 && dst && src && dst_off >= 0 && count > 0 &&
        dst_off + count <= (int64_t)UINT32_MAX && dst->offset % 256 == 0) {
        wg_pending *k = &c->pend2;
        const int64_t kcount = (int64_t)k->n * k->ra.n_head * k->ra.head_dim;
        bool clean = !shares_buffer(dst, &p->out) && !shares_buffer(dst, &k->out) &&
                     !shares_buffer(dst, &p->pos) && !shares_buffer(dst, &p->inv_freq) &&
                     !shares_buffer(dst, &p->w) && !shares_buffer(dst, &k->w);
        if (!p->has_kcopy && clean && same_view(src, &k->out) && count == kcount) {
            p->has_kcopy = true;
            p->kc = *dst;
            p->kc_off = dst_off;
            p->kc_count = count;
            return;
        }
        if (p->has_kcopy && clean && count == p->kc_count && !shares_buffer(dst, &p->kc) &&
            !shares_buffer(src, &p->out) && !shares_buffer(src, &k->out) &&
            !shares_buffer(src, &p->kc) && !shares_buffer(src, dst)) {
            wg_pending q = *p, kk = *k;
            p->kind = k->kind = WG_PEND_NONE;
            emit_rope2kv(c, &q, &kk, dst, dst_off, src);
            return;
        }
    }
    if (p->kind == WG_PEND_COPY && c->pend2.kind == WG_PEND_NONE && dst && src && count == p->count && count > 0 && dst_off >= 0 &&
        !shares_buffer(dst, &p->out) && !shares_buffer(dst, &p->x) && !shares_buffer(dst, src) &&
        !shares_buffer(&p->out, src) && dst_off + count <= (int64_t)UINT32_MAX &&
        p->off + count <= (int64_t)UINT32_MAX) {
        p->kind = WG_PEND_NONE;
        dp_gpu_binding o1, s1, o2, s2;
        if (!wg_out(c, &p->out, p->off + count, 1, "copy", "dst", &o1) ||
            !wg_in(c, &p->x, count, 2, "copy", "src", &s1) ||
            !wg_out(c, dst, dst_off + count, 4, "copy", "dst", &o2) ||
            !wg_in(c, src, count, 5, "copy", "src", &s2))
            return;
        copy2_params cp = {(uint32_t)count, (uint32_t)p->off, 0.0f, 0, (uint32_t)dst_off};
        dp_gpu_binding bs[4] = {o1, s1, o2, s2};
        wg_dispatch_flat(c, "elementwise", "copy2", "", &cp, sizeof cp, bs, 4,
                         ((uint64_t)count + 255) / 256);
        return;
    }
    wg_pending_flush(c);
    if (can_hold(c) && dst && src && count > 0 && dst_off >= 0 && !shares_buffer(dst, src)) {
        memset(p, 0, sizeof *p);
        p->kind = WG_PEND_COPY;
        p->out = *dst;
        p->x = *src;
        p->off = dst_off;
        p->count = count;
        return;
    }
    wg_rec_copy(b, dst, dst_off, src, count);
}

/* ---- the other ops: record what is held back, then the op ---- */

void wg_op_get_rows(dp_backend *b, dp_tensor *out, const dp_tensor *table, const dp_tensor *ids,
                    int n, float scale) {
    flushed(b);
    wg_rec_get_rows(b, out, table, ids, n, scale);
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

/* LoRA delta: tmp = x A^T, tmp *= scale, out += tmp B^T (three dispatches; nothing held back
 * joins them) */
void wg_op_lora(dp_backend *b, dp_tensor *out, const dp_tensor *x, const dp_tensor *a,
                const dp_tensor *bw, dp_tensor *tmp, int n, float scale) {
    wg_ctx *c = flushed(b);
    if (!a || !bw || !tmp || a->dtype != DP_DTYPE_F32 || bw->dtype != DP_DTYPE_F32 || bw->ne[0] != a->ne[1] ||
        n < 0 || tmp->nbytes < (uint64_t)n * (uint64_t)a->ne[1] * 4u) {
        wg_fail(c, DP_ERR_INVALID_ARG, "lora: A and B (f32) do not chain, or tmp is short");
        return;
    }
    wg_rec_matmul(b, tmp, x, a, n, false);
    wg_rec_scale(b, tmp, (int64_t)n * a->ne[1], scale);
    wg_rec_matmul(b, out, tmp, bw, n, true);
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
