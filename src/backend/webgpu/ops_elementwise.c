/* ops_elementwise.c — add, copy, softcap, glu, rms_norm and rope as dispatches of
 * kernels/elementwise.wgsl, rms_norm.wgsl and rope.wgsl. */
#if defined(__wasm__)

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

void wg_op_add(dp_backend *b, dp_tensor *out, const dp_tensor *a, const dp_tensor *bb,
               int64_t count) {
    wg_ctx *c = wg_ctx_of(b);
    if (!count_ok(c, count, "add") || !wg_check_f32(c, a, count, "add", "a") ||
        !wg_check_f32(c, bb, count, "add", "b") || !wg_check_f32(c, out, count, "add", "out"))
        return;
    if (!count) return;
    elt_params p = {(uint32_t)count, 0, 0, 0};
    dp_gpu_binding o = wg_at(1, wg_bind(out)), x = wg_at(2, wg_bind(a)), y = wg_at(3, wg_bind(bb));
    if (wg_overlap(o, x) && o.offset == x.offset) { /* out += b */
        if (wg_same_buffer(o, y) && !wg_unalias(c, &y, o, WG_SCR_ALIAS0)) return;
        dp_gpu_binding bs[2] = {o, y};
        wg_dispatch_flat(c, "elementwise", "add_inplace", "", &p, sizeof p, bs, 2, groups_of(count));
        return;
    }
    if (!wg_unalias(c, &x, o, WG_SCR_ALIAS0) || !wg_unalias(c, &y, o, WG_SCR_ALIAS1)) return;
    dp_gpu_binding bs[3] = {o, x, y};
    wg_dispatch_flat(c, "elementwise", "add", "", &p, sizeof p, bs, 3, groups_of(count));
}

void wg_op_copy(dp_backend *b, dp_tensor *dst, int64_t dst_off, const dp_tensor *src,
                int64_t count) {
    wg_ctx *c = wg_ctx_of(b);
    if (dst_off < 0 || !count_ok(c, count, "copy") || !count_ok(c, dst_off + count, "copy") ||
        !wg_check_f32(c, src, count, "copy", "src") ||
        !wg_check_f32(c, dst, dst_off + count, "copy", "dst"))
        return;
    if (!count) return;
    elt_params p = {(uint32_t)count, (uint32_t)dst_off, 0, 0};
    dp_gpu_binding o = wg_at(1, wg_bind(dst)), s = wg_at(2, wg_bind(src));
    if (!wg_unalias(c, &s, o, WG_SCR_ALIAS0)) return;
    dp_gpu_binding bs[2] = {o, s};
    wg_dispatch_flat(c, "elementwise", "copy", "", &p, sizeof p, bs, 2, groups_of(count));
}

void wg_op_softcap(dp_backend *b, dp_tensor *x, int64_t count, float cap) {
    wg_ctx *c = wg_ctx_of(b);
    if (!(cap > 0.0f)) {
        wg_fail(c, DP_ERR_INVALID_ARG, "softcap: cap %g is not positive", (double)cap);
        return;
    }
    if (!count_ok(c, count, "softcap") || !wg_check_f32(c, x, count, "softcap", "x") || !count)
        return;
    elt_params p = {(uint32_t)count, 0, cap, 0};
    dp_gpu_binding bs[1] = {wg_at(1, wg_bind(x))};
    wg_dispatch_flat(c, "elementwise", "softcap", "", &p, sizeof p, bs, 1, groups_of(count));
}

void wg_op_glu(dp_backend *b, dp_tensor *out, const dp_tensor *gate, const dp_tensor *up, int n,
               int f, dp_act act) {
    wg_ctx *c = wg_ctx_of(b);
    if (n < 0 || f < 0 || (act != DP_ACT_SILU && act != DP_ACT_GELU_TANH)) {
        wg_fail(c, DP_ERR_INVALID_ARG, "glu: bad shape n=%d f=%d or activation %d", n, f, (int)act);
        return;
    }
    int64_t count = (int64_t)n * f;
    if (!count_ok(c, count, "glu") || !wg_check_f32(c, gate, count, "glu", "gate") ||
        !wg_check_f32(c, up, count, "glu", "up") || !wg_check_f32(c, out, count, "glu", "out"))
        return;
    if (!count) return;
    elt_params p = {(uint32_t)count, 0, 0, act == DP_ACT_GELU_TANH ? 1u : 0u};
    dp_gpu_binding o = wg_at(1, wg_bind(out)), g = wg_at(2, wg_bind(gate)), u = wg_at(3, wg_bind(up));
    if (wg_overlap(o, g) && o.offset == g.offset) {
        if (!wg_unalias(c, &u, o, WG_SCR_ALIAS0)) return;
        dp_gpu_binding bs[2] = {o, u};
        wg_dispatch_flat(c, "elementwise", "glu_inplace", "", &p, sizeof p, bs, 2, groups_of(count));
        return;
    }
    if (!wg_unalias(c, &g, o, WG_SCR_ALIAS0) || !wg_unalias(c, &u, o, WG_SCR_ALIAS1)) return;
    dp_gpu_binding bs[3] = {o, g, u};
    wg_dispatch_flat(c, "elementwise", "glu", "", &p, sizeof p, bs, 3, groups_of(count));
}

/* matches `Params` in rms_norm.wgsl */
typedef struct norm_params {
    uint32_t n, d;
    float eps;
    uint32_t plus_one;
} norm_params;

void wg_op_rms_norm(dp_backend *b, dp_tensor *out, const dp_tensor *x, const dp_tensor *w, int n,
                    int d, float eps, bool plus_one) {
    wg_ctx *c = wg_ctx_of(b);
    if (n < 0 || d <= 0) {
        wg_fail(c, DP_ERR_INVALID_ARG, "rms_norm: bad shape n=%d d=%d", n, d);
        return;
    }
    int64_t count = (int64_t)n * d;
    if (!count_ok(c, count, "rms_norm") || !wg_check_f32(c, x, count, "rms_norm", "x") ||
        !wg_check_f32(c, w, d, "rms_norm", "w") || !wg_check_f32(c, out, count, "rms_norm", "out"))
        return;
    if (!n) return;
    norm_params p = {(uint32_t)n, (uint32_t)d, eps, plus_one ? 1u : 0u};
    dp_gpu_binding o = wg_at(1, wg_bind(out)), wb = wg_at(2, wg_bind(w)), xb = wg_at(3, wg_bind(x));
    if (!wg_unalias(c, &wb, o, WG_SCR_ALIAS1)) return;
    if (wg_overlap(o, xb) && o.offset == xb.offset) {
        dp_gpu_binding bs[2] = {o, wb};
        wg_dispatch_flat(c, "rms_norm", "inplace", "", &p, sizeof p, bs, 2, (uint64_t)n);
        return;
    }
    if (!wg_unalias(c, &xb, o, WG_SCR_ALIAS0)) return;
    dp_gpu_binding bs[3] = {o, wb, xb};
    wg_dispatch_flat(c, "rms_norm", "main", "", &p, sizeof p, bs, 3, (uint64_t)n);
}

/* matches `Params` in rope.wgsl */
typedef struct rope_params {
    uint32_t n, n_head, head_dim, half, interleaved;
    float mscale;
} rope_params;

void wg_op_rope(dp_backend *b, dp_tensor *x, const dp_tensor *pos, const dp_tensor *inv_freq, int n,
                const dp_rope_args *a) {
    wg_ctx *c = wg_ctx_of(b);
    if (!a || n < 0 || a->n_head <= 0 || a->head_dim <= 0 || a->rot_dim < 0 ||
        a->rot_dim > a->head_dim || a->rot_dim % 2) {
        wg_fail(c, DP_ERR_INVALID_ARG, "rope: bad args");
        return;
    }
    const int half = a->rot_dim / 2;
    int64_t count = (int64_t)n * a->n_head * a->head_dim;
    if (!count_ok(c, count, "rope") || !wg_check_f32(c, x, count, "rope", "x") ||
        !wg_check_f32(c, pos, n, "rope", "pos") ||
        !wg_check_f32(c, inv_freq, half, "rope", "inv_freq"))
        return;
    if (!n || !half) return;
    rope_params p = {(uint32_t)n, (uint32_t)a->n_head, (uint32_t)a->head_dim, (uint32_t)half,
                     a->interleaved ? 1u : 0u, a->mscale == 0.0f ? 1.0f : a->mscale};
    dp_gpu_binding xb = wg_at(1, wg_bind(x)), pb = wg_at(2, wg_bind(pos)), fb = wg_at(3, wg_bind(inv_freq));
    if (!wg_unalias(c, &pb, xb, WG_SCR_ALIAS0) || !wg_unalias(c, &fb, xb, WG_SCR_ALIAS1)) return;
    dp_gpu_binding bs[3] = {xb, pb, fb};
    uint64_t threads = (uint64_t)n * (uint64_t)a->n_head * (uint64_t)half;
    wg_dispatch_flat(c, "rope", "main", "", &p, sizeof p, bs, 3, (threads + 255) / 256);
}

#else
typedef int dp_wg_ops_elementwise_unused;
#endif /* __wasm__ */
