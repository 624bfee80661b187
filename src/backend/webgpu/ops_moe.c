/* ops_moe.c — mixture-of-experts FFN on the GPU, routing included (no readback):
 *   moe.wgsl:route                      top-k experts + renormalised weights per token
 *   per expert e: weights_<t>:moe_matvec   G = gate_e x, U = up_e x   for the slots routed to e
 *   elementwise:glu_inplace             H = act(G) * U                (all slots)
 *   per expert e: weights_<t>:moe_matvec   Y = down_e H               for the slots routed to e
 *   moe.wgsl:combine                    out[t] = sum of the token's slots, weighted
 * A slot is (token t, rank j), n * k of them. Each expert's dispatches cover every slot, and the
 * workgroups of slots routed elsewhere return at once, so an expert nobody chose costs only its
 * (empty) dispatches: 3 * n_expert + 3 dispatches per call. Every expert must be resident on
 * the GPU (the routing is not read back); an expert without a device buffer is skipped, which
 * is only right if no token selects it. A paged model (src) reads the routing back instead and
 * runs only the selected experts, from device slots (moe_paged; docs/PAGING.md).
 * Scratch: routes (n * k ids + weights), G/H and U (n * k * f floats each), Y (n * k * d). */
#if defined(__wasm__)

#include <stdio.h>

#include "backend/webgpu/wg_internal.h"

#define WG_MOE_MAX_K 32
#define WG_MOE_MAX_EXPERT 512 /* experts per layer a paged moe tracks */

/* matches `Params` in moe.wgsl */
typedef struct moe_params {
    uint32_t n, n_expert, k, d;
} moe_params;

static bool expert_ok(wg_ctx *c, const dp_tensor *w, int64_t k, int64_t m, const char *what, int e) {
    uint64_t rb = 0;
    if (!wg_weights_file(w->dtype) || w->ne[0] != k || w->ne[1] != m ||
        !dp_dtype_row_bytes(w->dtype, (uint64_t)k, &rb) || rb * (uint64_t)m > w->nbytes ||
        w->offset % 256)
        return wg_fail(c, DP_ERR_INVALID_ARG, "moe: expert %d %s is [%lld, %lld] %s, want [%lld, %lld]",
                       e, what, (long long)w->ne[0], (long long)w->ne[1], dp_dtype_name(w->dtype),
                       (long long)k, (long long)m);
    return true;
}

/* The input of products over weights of type t (wg_actq_input), rows of k values: *cur, made
 * from x again only when t's 8-bit block (act_quant) differs from the last one made. */
static bool moe_input(wg_ctx *c, dp_dtype t, dp_gpu_binding x, uint64_t rows, uint64_t k,
                      int *cur_qb, dp_gpu_binding *cur) {
    int qb = (int)wg_actq_block(c, t);
    if (*cur_qb == qb) return true;
    *cur = x;
    *cur_qb = qb;
    return wg_actq_input(c, t, cur, rows, k);
}

/* out[s, :] = W x[s / x_div] for the slots s routed to expert e. */
static void expert_matvec(wg_ctx *c, const dp_tensor *w, int e, dp_gpu_binding out,
                          dp_gpu_binding x, dp_gpu_binding sel, uint32_t slots, uint32_t x_div) {
    uint64_t rb = 0;
    dp_dtype_row_bytes(w->dtype, (uint64_t)w->ne[0], &rb);
    uint32_t rows_per_wg, gx, gy;
    char consts[48];
    wg_matvec_config(c, w->dtype, wg_weights_file(w->dtype), w->ne[0], w->ne[1], &rows_per_wg,
                     consts, sizeof consts);
    wg_weights_params p = {slots, (uint32_t)w->ne[0], (uint32_t)w->ne[1], (uint32_t)rb, 1.0f, 0,
                        (uint32_t)e, x_div, 0, 0, 0, 0.0f, 0, 0, 0, 0, {0, 0, 0}, {0, 0, 0}};
    wg_grid(c, ((uint64_t)w->ne[1] + rows_per_wg - 1) / rows_per_wg, &gx, &gy);
    dp_gpu_binding bs[4] = {wg_at(1, out), wg_at(2, wg_bind(w)), wg_at(3, x), wg_at(4, sel)};
    wg_dispatch(c, wg_weights_file(w->dtype), "moe_matvec", consts, &p, sizeof p, bs, 4, gx, gy,
                slots);
}

/* The buffers of one moe call and the input of the products made last. */
typedef struct moe_run {
    wg_ctx *c;
    dp_gpu_binding xb, bsel, bg, bu, by, xin;
    uint32_t slots, k;
    uint64_t n, d, f;
    int qb;
} moe_run;

static bool gate_up(moe_run *r, const dp_tensor *g, const dp_tensor *u, int e) {
    if (!moe_input(r->c, g->dtype, r->xb, r->n, r->d, &r->qb, &r->xin)) return false;
    expert_matvec(r->c, g, e, r->bg, r->xin, r->bsel, r->slots, r->k);
    if (!moe_input(r->c, u->dtype, r->xb, r->n, r->d, &r->qb, &r->xin)) return false;
    expert_matvec(r->c, u, e, r->bu, r->xin, r->bsel, r->slots, r->k);
    return true;
}

static bool down_one(moe_run *r, const dp_tensor *w, int e) {
    if (!moe_input(r->c, w->dtype, r->bg, r->slots, r->f, &r->qb, &r->xin)) return false;
    expert_matvec(r->c, w, e, r->by, r->xin, r->bsel, r->slots, 1);
    return true;
}

static void glu_all(moe_run *r, dp_act act) {
    struct { uint32_t count, dst_off; float cap; uint32_t act; } gp = {
        (uint32_t)(r->slots * r->f), 0, 0.0f, act == DP_ACT_GELU_TANH ? 1u : 0u};
    dp_gpu_binding gb[2] = {wg_at(1, r->bg), wg_at(3, r->bu)};
    wg_dispatch_flat(r->c, "elementwise", "glu_inplace", "", &gp, sizeof gp, gb, 2,
                     ((uint64_t)r->slots * r->f + 255) / 256);
    r->qb = -1;
}

/* A paged model's experts: the selected ids read back (the module waits for the GPU here),
 * then each selected expert, in id order, fetched into a device slot (a page-in is a queue
 * write, ordered after everything submitted so far) and run on its slots with the same kernels
 * as the resident experts, so the numbers are those of the unpaged model. The selected experts
 * go in groups of at most src->device_slots; with more than one group, the down products page
 * the groups again (last group first: it is still resident). */
static void moe_paged(moe_run *r, uint32_t sel_buf, const dp_expert_src *src, int n_expert, dp_act act) {
    wg_ctx *c = r->c;
    if (n_expert > WG_MOE_MAX_EXPERT) {
        wg_fail(c, DP_ERR_LIMIT, "moe: paging %d experts per layer (at most %d)", n_expert, WG_MOE_MAX_EXPERT);
        return;
    }
    if (c->sel_cap < r->slots || c->views_cap < (uint32_t)n_expert) { /* grow only */
        uint32_t *ids = c->sel_cap < r->slots ? dp_realloc(c->sel_host, (size_t)r->slots * 4) : c->sel_host;
        if (ids) {
            c->sel_host = ids;
            c->sel_cap = c->sel_cap < r->slots ? r->slots : c->sel_cap;
        }
        dp_tensor(*v)[3] = c->views_cap < (uint32_t)n_expert ? dp_realloc(c->views, (size_t)n_expert * sizeof *v) : c->views;
        if (v) {
            c->views = v;
            c->views_cap = c->views_cap < (uint32_t)n_expert ? (uint32_t)n_expert : c->views_cap;
        }
        if (!ids || !v) {
            wg_fail(c, DP_ERR_NOMEM, "moe: out of memory");
            return;
        }
    }
    uint32_t *sel = c->sel_host;
    dp_tensor(*views)[3] = c->views; /* the fetched experts' gate, up, down in their slots */
    wg_read(c, sel_buf, 0, r->slots * 4u, sel);
    wg_submit(c);
    if (dp_gpu_wait()) {
        /* the read recorded above still lands in sel later: the buffer is given up (not freed,
           not grown) so that no later allocation can sit where it lands */
        c->sel_host = NULL;
        c->sel_cap = 0;
        char msg[200] = "";
        dp_gpu_error(msg, sizeof msg);
        wg_fail(c, DP_ERR_UNSUPPORTED, "moe: paging reads the selected experts back, and the host cannot wait "
                "for the GPU in this call (%s)", msg);
        return;
    }
    uint8_t used[WG_MOE_MAX_EXPERT] = {0};
    int list[WG_MOE_MAX_EXPERT], nl = 0;
    for (uint32_t i = 0; i < r->slots; i++) {
        if (sel[i] >= (uint32_t)n_expert) {
            wg_fail(c, DP_ERR_INTERNAL, "moe: the routing read back expert %u of %d", sel[i], n_expert);
            return;
        }
        used[sel[i]] = 1;
    }
    for (int e = 0; e < n_expert; e++)
        if (used[e]) list[nl++] = e;
    const int per = src->device_slots ? (int)src->device_slots : 1;
    dp_error err = {0};
    dp_status st;
    for (int g0 = 0; g0 < nl; g0 += per) {
        src->group(src->ud);
        for (int j = g0; j < nl && j < g0 + per; j++) {
            if ((st = src->fetch_device(src->ud, src->layer, list[j], false, views[j], &err)) != DP_OK) {
                wg_fail(c, st, "%s", err.msg);
                return;
            }
            if (!expert_ok(c, &views[j][0], (int64_t)r->d, (int64_t)r->f, "gate", list[j]) ||
                !expert_ok(c, &views[j][1], (int64_t)r->d, (int64_t)r->f, "up", list[j]) ||
                !expert_ok(c, &views[j][2], (int64_t)r->f, (int64_t)r->d, "down", list[j]) ||
                !gate_up(r, &views[j][0], &views[j][1], list[j]))
                return;
        }
    }
    glu_all(r, act);
    const int last = (nl - 1) / per * per; /* the first expert of the last group */
    for (int g0 = last; g0 >= 0; g0 -= per) {
        if (nl > per) src->group(src->ud);
        for (int j = g0; j < nl && j < g0 + per; j++) {
            if (nl > per && (st = src->fetch_device(src->ud, src->layer, list[j], true, views[j], &err)) != DP_OK) {
                wg_fail(c, st, "%s", err.msg);
                return;
            }
            if (!down_one(r, &views[j][2], list[j])) return;
        }
    }
}

void wg_rec_moe(dp_backend *b, dp_tensor *out, const dp_tensor *x, const dp_tensor *logits,
               const dp_tensor *gate, const dp_tensor *up, const dp_tensor *down,
               const dp_expert_src *src, int n,
               int n_expert, int k, dp_act act) {
    wg_ctx *c = wg_ctx_of(b);
    if (n < 0 || n_expert <= 0 || k <= 0 || k > n_expert || k > WG_MOE_MAX_K || !gate || !up ||
        !down || (act != DP_ACT_SILU && act != DP_ACT_GELU_TANH)) {
        wg_fail(c, DP_ERR_INVALID_ARG, "moe: bad args n=%d n_expert=%d k=%d", n, n_expert, k);
        return;
    }
    if (src && c->status != DP_OK) return; /* failed earlier in the pass: no readback to wait for */
    if (src && (!src->fetch_device || !src->group || !src->device_slots)) {
        wg_fail(c, DP_ERR_UNSUPPORTED, "moe: a paged model on webgpu needs a device tier (gpu_mem)");
        return;
    }
    const int64_t d = gate[0].ne[0], f = gate[0].ne[1];
    dp_gpu_binding ob, xb, lb;
    if (!wg_out(c, out, (int64_t)n * d, 1, "moe", "out", &ob) ||
        !wg_in(c, x, (int64_t)n * d, 4, "moe", "x", &xb) || /* bound at 3, snapshot slot 4 */
        !wg_in(c, logits, (int64_t)n * n_expert, 3, "moe", "logits", &lb))
        return;
    for (int e = 0; e < n_expert && !src; e++) {
        if (!gate[e].handle && !up[e].handle && !down[e].handle) continue; /* not resident */
        if (!expert_ok(c, &gate[e], d, f, "gate", e) || !expert_ok(c, &up[e], d, f, "up", e) ||
            !expert_ok(c, &down[e], f, d, "down", e))
            return;
    }
    if (!n) return;
    const uint64_t slots = (uint64_t)n * (uint64_t)k;
    if (slots > 65535 || slots * (uint64_t)(f > d ? f : d) > UINT32_MAX / 4) {
        wg_fail(c, DP_ERR_LIMIT, "moe: %d tokens x %d experts is over the kernel's range", n, k);
        return;
    }
    uint32_t rsel = wg_scratch(c, WG_SCR_MOE_ROUTE, slots * 4);
    uint32_t rwt = wg_scratch(c, WG_SCR_MOE_W, slots * 4);
    uint32_t hg = wg_scratch(c, WG_SCR_MOE_H, slots * (uint64_t)f * 4);
    uint32_t hu = wg_scratch(c, WG_SCR_MOE_U, slots * (uint64_t)f * 4);
    uint32_t hy = wg_scratch(c, WG_SCR_MOE_Y, slots * (uint64_t)d * 4);
    if (!rsel || !rwt || !hg || !hu || !hy) return;
    moe_run r = {c, xb, wg_bind_buf(rsel, 0, (uint32_t)slots * 4),
                 wg_bind_buf(hg, 0, (uint32_t)(slots * (uint64_t)f * 4)),
                 wg_bind_buf(hu, 0, (uint32_t)(slots * (uint64_t)f * 4)),
                 wg_bind_buf(hy, 0, (uint32_t)(slots * (uint64_t)d * 4)), xb, (uint32_t)slots,
                 (uint32_t)k, (uint64_t)n, (uint64_t)d, (uint64_t)f, -1};
    dp_gpu_binding bwt = wg_bind_buf(rwt, 0, (uint32_t)slots * 4);

    moe_params mp = {(uint32_t)n, (uint32_t)n_expert, (uint32_t)k, (uint32_t)d};
    dp_gpu_binding rb[3] = {wg_at(1, r.bsel), wg_at(2, bwt), lb};
    wg_dispatch_flat(c, "moe", "route", "", &mp, sizeof mp, rb, 3, ((uint64_t)n + 63) / 64);

    if (src) {
        moe_paged(&r, rsel, src, n_expert, act);
        if (c->status != DP_OK) return;
    } else {
        for (int e = 0; e < n_expert; e++)
            if (gate[e].handle && up[e].handle && !gate_up(&r, &gate[e], &up[e], e)) return;
        glu_all(&r, act);
        for (int e = 0; e < n_expert; e++)
            if (down[e].handle && !down_one(&r, &down[e], e)) return;
    }
    dp_gpu_binding cb[4] = {ob, wg_at(2, r.bsel), wg_at(3, bwt), wg_at(4, r.by)};
    wg_dispatch_flat(c, "moe", "combine", "", &mp, sizeof mp, cb, 4,
                     ((uint64_t)n * (uint64_t)d + 63) / 64);
}

#else
typedef int dp_wg_ops_moe_unused;
#endif /* __wasm__ */
