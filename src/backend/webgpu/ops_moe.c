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
 * is only right if no token selects it.
 * Scratch: routes (n * k ids + weights), G/H and U (n * k * f floats each), Y (n * k * d). */
#if defined(__wasm__)

#include <stdio.h>

#include "backend/webgpu/wg_internal.h"

#define WG_MOE_MAX_K 32

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
    if (src) {
        wg_fail(c, DP_ERR_UNSUPPORTED, "moe: expert paging is not implemented on webgpu yet");
        return;
    }
    const int64_t d = gate[0].ne[0], f = gate[0].ne[1];
    dp_gpu_binding ob, xb, lb;
    if (!wg_out(c, out, (int64_t)n * d, 1, "moe", "out", &ob) ||
        !wg_in(c, x, (int64_t)n * d, 4, "moe", "x", &xb) || /* bound at 3, snapshot slot 4 */
        !wg_in(c, logits, (int64_t)n * n_expert, 3, "moe", "logits", &lb))
        return;
    for (int e = 0; e < n_expert; e++) {
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
    dp_gpu_binding bsel = wg_bind_buf(rsel, 0, (uint32_t)slots * 4);
    dp_gpu_binding bwt = wg_bind_buf(rwt, 0, (uint32_t)slots * 4);
    dp_gpu_binding bg = wg_bind_buf(hg, 0, (uint32_t)(slots * (uint64_t)f * 4));
    dp_gpu_binding bu = wg_bind_buf(hu, 0, (uint32_t)(slots * (uint64_t)f * 4));
    dp_gpu_binding by = wg_bind_buf(hy, 0, (uint32_t)(slots * (uint64_t)d * 4));

    moe_params mp = {(uint32_t)n, (uint32_t)n_expert, (uint32_t)k, (uint32_t)d};
    dp_gpu_binding rb[3] = {wg_at(1, bsel), wg_at(2, bwt), lb};
    wg_dispatch_flat(c, "moe", "route", "", &mp, sizeof mp, rb, 3, ((uint64_t)n + 63) / 64);

    int qb = -1;
    dp_gpu_binding xin = xb;
    for (int e = 0; e < n_expert; e++) {
        if (!gate[e].handle || !up[e].handle) continue;
        if (!moe_input(c, gate[e].dtype, xb, (uint64_t)n, (uint64_t)d, &qb, &xin)) return;
        expert_matvec(c, &gate[e], e, bg, xin, bsel, (uint32_t)slots, (uint32_t)k);
        if (!moe_input(c, up[e].dtype, xb, (uint64_t)n, (uint64_t)d, &qb, &xin)) return;
        expert_matvec(c, &up[e], e, bu, xin, bsel, (uint32_t)slots, (uint32_t)k);
    }
    struct { uint32_t count, dst_off; float cap; uint32_t act; } gp = {
        (uint32_t)(slots * (uint64_t)f), 0, 0.0f, act == DP_ACT_GELU_TANH ? 1u : 0u};
    dp_gpu_binding gb[2] = {wg_at(1, bg), wg_at(3, bu)};
    wg_dispatch_flat(c, "elementwise", "glu_inplace", "", &gp, sizeof gp, gb, 2,
                     (slots * (uint64_t)f + 255) / 256);
    qb = -1;
    for (int e = 0; e < n_expert; e++) {
        if (!down[e].handle) continue;
        if (!moe_input(c, down[e].dtype, bg, slots, (uint64_t)f, &qb, &xin)) return;
        expert_matvec(c, &down[e], e, by, xin, bsel, (uint32_t)slots, 1);
    }
    dp_gpu_binding cb[4] = {ob, wg_at(2, bsel), wg_at(3, bwt), wg_at(4, by)};
    wg_dispatch_flat(c, "moe", "combine", "", &mp, sizeof mp, cb, 4,
                     ((uint64_t)n * (uint64_t)d + 63) / 64);
}

#else
typedef int dp_wg_ops_moe_unused;
#endif /* __wasm__ */
