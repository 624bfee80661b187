/* ops_elementwise.c — add, copy, softcap, scale, glu, rms_norm and rope as dispatches of
 * kernels/elementwise.wgsl, rms_norm.wgsl and rope.wgsl. */
#if defined(__wasm__)

#include <stdio.h>

#include "backend/webgpu/wg_internal.h"

#define WG_ELT_WG 256u

/* matches `Params` in elementwise.wgsl */
typedef struct elt_params {
    uint32_t count, dst_off;
    float cap;
    uint32_t act;
} elt_params;

static bool count_ok(wg_ctx *c, int64_t count, const char *op) {
    if (count < 0 || count > (int64_t)UINT32_MAX - WG_ELT_WG)
        return wg_fail(c, DP_ERR_LIMIT, "%s: %lld elements is over the kernel's range", op,
                       (long long)count);
    return true;
}

static uint64_t groups_of(int64_t count) { return ((uint64_t)count + WG_ELT_WG - 1) / WG_ELT_WG; }

/* out and in are the same range start of one buffer: the op runs in place */
static bool same_start(dp_gpu_binding o, dp_gpu_binding in) {
    return o.buffer == in.buffer && o.offset == in.offset;
}

void wg_rec_add(dp_backend *b, dp_tensor *out, const dp_tensor *a, const dp_tensor *bb,
               int64_t count) {
    wg_ctx *c = wg_ctx_of(b);
    dp_gpu_binding o, x, y;
    if (!count_ok(c, count, "add") || !wg_out(c, out, count, 1, "add", "out", &o) ||
        !wg_in(c, a, count, 2, "add", "a", &x) || !wg_in(c, bb, count, 3, "add", "b", &y) || !count)
        return;
    elt_params p = {(uint32_t)count, 0, 0, 0};
    if (same_start(o, x)) { /* out += b */
        if (!wg_unalias(c, &y, o)) return;
        dp_gpu_binding bs[2] = {o, y};
        wg_dispatch_flat(c, "elementwise", "add_inplace", "", &p, sizeof p, bs, 2, groups_of(count));
        return;
    }
    if (!wg_unalias(c, &x, o) || !wg_unalias(c, &y, o)) return;
    dp_gpu_binding bs[3] = {o, x, y};
    wg_dispatch_flat(c, "elementwise", "add", "", &p, sizeof p, bs, 3, groups_of(count));
}

void wg_rec_copy(dp_backend *b, dp_tensor *dst, int64_t dst_off, const dp_tensor *src,
                int64_t count) {
    wg_ctx *c = wg_ctx_of(b);
    dp_gpu_binding o, s;
    if (dst_off < 0 || !count_ok(c, count, "copy") || !count_ok(c, dst_off + count, "copy") ||
        !wg_out(c, dst, dst_off + count, 1, "copy", "dst", &o) ||
        !wg_in(c, src, count, 2, "copy", "src", &s) || !count)
        return;
    elt_params p = {(uint32_t)count, (uint32_t)dst_off, 0, 0};
    if (!wg_unalias(c, &s, o)) return;
    dp_gpu_binding bs[2] = {o, s};
    wg_dispatch_flat(c, "elementwise", "copy", "", &p, sizeof p, bs, 2, groups_of(count));
}

void wg_rec_softcap(dp_backend *b, dp_tensor *x, int64_t count, float cap) {
    wg_ctx *c = wg_ctx_of(b);
    if (!(cap > 0.0f)) {
        wg_fail(c, DP_ERR_INVALID_ARG, "softcap: cap %g is not positive", (double)cap);
        return;
    }
    dp_gpu_binding xb;
    if (!count_ok(c, count, "softcap") || !wg_out(c, x, count, 1, "softcap", "x", &xb) || !count)
        return;
    elt_params p = {(uint32_t)count, 0, cap, 0};
    wg_dispatch_flat(c, "elementwise", "softcap", "", &p, sizeof p, &xb, 1, groups_of(count));
}

void wg_rec_scale(dp_backend *b, dp_tensor *x, int64_t count, float s) {
    wg_ctx *c = wg_ctx_of(b);
    dp_gpu_binding xb;
    if (!count_ok(c, count, "scale") || !wg_out(c, x, count, 1, "scale", "x", &xb) || !count) return;
    elt_params p = {(uint32_t)count, 0, s, 0};
    wg_dispatch_flat(c, "elementwise", "scale", "", &p, sizeof p, &xb, 1, groups_of(count));
}

void wg_rec_glu(dp_backend *b, dp_tensor *out, const dp_tensor *gate, const dp_tensor *up, int n,
               int f, dp_act act) {
    wg_ctx *c = wg_ctx_of(b);
    if (n < 0 || f < 0 || (act != DP_ACT_SILU && act != DP_ACT_GELU_TANH)) {
        wg_fail(c, DP_ERR_INVALID_ARG, "glu: bad shape n=%d f=%d or activation %d", n, f, (int)act);
        return;
    }
    int64_t count = (int64_t)n * f;
    dp_gpu_binding o, g, u;
    if (!count_ok(c, count, "glu") || !wg_out(c, out, count, 1, "glu", "out", &o) ||
        !wg_in(c, gate, count, 2, "glu", "gate", &g) || !wg_in(c, up, count, 3, "glu", "up", &u) ||
        !count)
        return;
    elt_params p = {(uint32_t)count, 0, 0, act == DP_ACT_GELU_TANH ? 1u : 0u};
    if (same_start(o, g)) {
        if (!wg_unalias(c, &u, o)) return;
        dp_gpu_binding bs[2] = {o, u};
        wg_dispatch_flat(c, "elementwise", "glu_inplace", "", &p, sizeof p, bs, 2, groups_of(count));
        return;
    }
    if (!wg_unalias(c, &g, o) || !wg_unalias(c, &u, o)) return;
    dp_gpu_binding bs[3] = {o, g, u};
    wg_dispatch_flat(c, "elementwise", "glu", "", &p, sizeof p, bs, 3, groups_of(count));
}

/* the first fields of `Params` in rms_norm.wgsl (the rest: lora_xa's, wg_lora.c) */
typedef struct norm_params {
    uint32_t n, d;
    float eps;
    uint32_t plus_one;
} norm_params;

const char *wg_norm_consts(const wg_ctx *c, int d, char *buf, size_t size) {
    /* one workgroup per row: about 4 values per invocation (a decode row is one workgroup, so its
       latency is the op's), a power of two in [64, the device's invocations, 1024] */
    uint32_t max = c->dev->max_invocations >= 64 ? c->dev->max_invocations : 256, wg = 64;
    if (max > 1024) max = 1024;
    while (wg * 2 <= max && wg * 8 <= (uint32_t)d) wg *= 2;
    snprintf(buf, size, "WG=%u", wg);
    return buf;
}

/* rms_norm of n rows of d values; qb > 0: also their 8-bit blocks of qb values for the products
 * that read out next (rms_norm:main_q) */
static void rms_norm_emit(dp_backend *b, dp_tensor *out, const dp_tensor *x, const dp_tensor *w, int n,
                          int d, float eps, bool plus_one, uint32_t qb) {
    wg_ctx *c = wg_ctx_of(b);
    if (n < 0 || d <= 0) {
        wg_fail(c, DP_ERR_INVALID_ARG, "rms_norm: bad shape n=%d d=%d", n, d);
        return;
    }
    int64_t count = (int64_t)n * d;
    /* computed ahead with the sandwich norm's residual add that wrote x (wg_fuse.c, norm_add_q) */
    if (qb && out && x && w && wg_normed_ready(c, out, x, w, n, d, eps, plus_one)) return;
    dp_gpu_binding o, wb, xb;
    if (!count_ok(c, count, "rms_norm") || !wg_out(c, out, count, 1, "rms_norm", "out", &o) ||
        !wg_in(c, w, d, 2, "rms_norm", "w", &wb) || !wg_in(c, x, count, 3, "rms_norm", "x", &xb) ||
        !n)
        return;
    norm_params p = {(uint32_t)n, (uint32_t)d, eps, plus_one ? 1u : 0u};
    char consts[16];
    wg_norm_consts(c, d, consts, sizeof consts);
    if (!wg_unalias(c, &wb, o)) return;
    if (same_start(o, xb)) {
        dp_gpu_binding bs[2] = {o, wb};
        wg_dispatch_flat(c, "rms_norm", "inplace", consts, &p, sizeof p, bs, 2, (uint64_t)n);
        return;
    }
    if (!wg_unalias(c, &xb, o)) return;
    uint32_t bytes, q = qb ? wg_actq_scratch(c, (uint64_t)n, (uint64_t)d, qb, &bytes) : 0;
    if (q) {
        char qconsts[32];
        snprintf(qconsts, sizeof qconsts, "%s,QB=%u", consts, qb);
        dp_gpu_binding bs[4] = {o, wb, xb, wg_at(7, wg_bind_buf(q, 0, bytes))};
        wg_dispatch_flat(c, "rms_norm", "main_q", qconsts, &p, sizeof p, bs, 4, (uint64_t)n);
        wg_actq_note(c, o, (uint64_t)n, (uint64_t)d, qb);
        return;
    }
    dp_gpu_binding bs[3] = {o, wb, xb};
    wg_dispatch_flat(c, "rms_norm", "main", consts, &p, sizeof p, bs, 3, (uint64_t)n);
}

void wg_rec_rms_norm(dp_backend *b, dp_tensor *out, const dp_tensor *x, const dp_tensor *w, int n,
                     int d, float eps, bool plus_one) {
    rms_norm_emit(b, out, x, w, n, d, eps, plus_one, 0);
}

void wg_rec_rms_norm_for(dp_backend *b, dp_tensor *out, const dp_tensor *x, const dp_tensor *w, int n,
                         int d, float eps, bool plus_one, const dp_tensor *const *ws, int count) {
    rms_norm_emit(b, out, x, w, n, d, eps, plus_one,
                  wg_matvec_i8_block_of(wg_ctx_of(b), ws, count, (uint64_t)(n > 0 ? n : 0), d));
}

/* matches `Params` in rope.wgsl */
typedef struct rope_params {
    uint32_t n, n_head, head_dim, half, interleaved;
    float mscale;
} rope_params;

void wg_rec_rope(dp_backend *b, dp_tensor *x, const dp_tensor *pos, const dp_tensor *inv_freq, int n,
                const dp_rope_args *a) {
    wg_ctx *c = wg_ctx_of(b);
    if (!a || n < 0 || a->n_head <= 0 || a->head_dim <= 0 || a->rot_dim < 0 ||
        a->rot_dim > a->head_dim || a->rot_dim % 2) {
        wg_fail(c, DP_ERR_INVALID_ARG, "rope: bad args");
        return;
    }
    const int half = a->rot_dim / 2;
    int64_t count = (int64_t)n * a->n_head * a->head_dim;
    dp_gpu_binding xb, pb, fb;
    if (!count_ok(c, count, "rope") || !wg_out(c, x, count, 1, "rope", "x", &xb) ||
        !wg_in(c, pos, n, 2, "rope", "pos", &pb) ||
        !wg_in(c, inv_freq, half, 3, "rope", "inv_freq", &fb) || !n || !half)
        return;
    rope_params p = {(uint32_t)n, (uint32_t)a->n_head, (uint32_t)a->head_dim, (uint32_t)half,
                     a->interleaved ? 1u : 0u, a->mscale == 0.0f ? 1.0f : a->mscale};
    if (!wg_unalias(c, &pb, xb) || !wg_unalias(c, &fb, xb)) return;
    dp_gpu_binding bs[3] = {xb, pb, fb};
    uint64_t threads = (uint64_t)n * (uint64_t)a->n_head * (uint64_t)half;
    wg_dispatch_flat(c, "rope", "main", "", &p, sizeof p, bs, 3, (threads + 255) / 256);
}

#else
typedef int dp_wg_ops_elementwise_unused;
#endif /* __wasm__ */
