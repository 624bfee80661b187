/* wg_lora.c — backend.h's lora_linear: the products of one input with a LoRA adapter's deltas,
 * unmerged, in as many dispatches as the products alone (decode, n <= WG_LORA_MAX_N).
 *
 *   with a norm (q/k/v, gate/up):  rms_norm:lora_xa (norm=1)  h = rms_norm(x), u = scale * h A_i^T
 *                                  weights_<t>:nmatvec[3]_lora   the products of h + u B_i^T [glu]
 *                                  (the norm's own dispatch is replaced: no extra dispatch; with
 *                                  two weight types, as Q4_K_M's q/k/v often, one product
 *                                  dispatch per type, where the base records one per product)
 *   without (o, down):             rms_norm:lora_xa  u = scale * x A_i^T
 *                                  weights_<t>:matvec_lora       x W^T (+ out) + u B^T
 *                                  (one extra dispatch)
 *
 * So an adapter on every projection of a layer adds 2 dispatches (o, down) where the op-by-op
 * form (ops_matmul.c's lora: product, scale, accumulating product) added 3 per projection, 21.
 * u lives in the caller's tmp; the kernels find every A and B of the shape in one range of one
 * buffer (the runtime puts a layer's adapter in one tensor, adapter.c), bound once.
 * Anything else (prefill-sized n, fusion off, matrices in different buffers, too few storage
 * bindings) returns false: the runtime records the op sequence instead (fused.c). */
#if defined(__wasm__)

#include <stdio.h>
#include <string.h>

#include "backend/webgpu/wg_internal.h"

#define WG_LORA_MAX_N 8

void wg_lora_epi_put(const wg_lora_epi *e, wg_weights_params *prm, dp_gpu_binding *bs, int *nb) {
    prm->lr = e->lr;
    prm->lu = e->lu;
    memcpy(prm->lb, e->lb_at, sizeof prm->lb);
    memcpy(prm->lu_at, e->lu_at, sizeof prm->lu_at);
    bs[(*nb)++] = e->u;
    bs[(*nb)++] = e->lb;
}

/* The products of a by weight type (one product dispatch each: the fused products take one
 * type; Q4_K_M mixes q4_K and q6_K in q/k/v): indices into a's arrays, in order. */
typedef struct prod_group {
    int idx[3], count;
} prod_group;

static int type_groups(const dp_lora_linear *a, prod_group g[3]) {
    int ng = 0;
    for (int i = 0; i < a->count; i++) {
        int j = 0;
        while (j < ng && a->ws[g[j].idx[0]]->dtype != a->ws[i]->dtype) j++;
        if (j == ng) g[ng++].count = 0;
        g[j].idx[g[j].count++] = i;
    }
    return ng;
}

/* The range [*lo, *hi) of the one buffer holding every A and B of a, and the rank; false when
 * they are not f32 matrices that chain with the products, in one buffer, bindable at once. */
static bool adapter_range(const wg_ctx *c, const dp_lora_linear *a, int64_t k, uint64_t *lo, uint64_t *hi,
                          uint32_t *rank) {
    uint32_t handle = 0;
    int64_t r = 0;
    *lo = UINT64_MAX;
    *hi = 0;
    for (int i = 0; i < a->count; i++) {
        const dp_tensor *A = a->a[i], *B = a->b[i];
        if (!A) continue;
        if (!B || A->dtype != DP_DTYPE_F32 || B->dtype != DP_DTYPE_F32 || A->ne[0] != k || A->ne[1] < 1 ||
            (r && A->ne[1] != r) || B->ne[0] != A->ne[1] || B->ne[1] != a->ws[i]->ne[1] || !A->handle ||
            (handle && (A->handle != handle || B->handle != handle)) || B->handle != A->handle ||
            A->offset % 4 || B->offset % 4 || A->nbytes < (uint64_t)A->ne[0] * (uint64_t)A->ne[1] * 4u ||
            B->nbytes < (uint64_t)B->ne[0] * (uint64_t)B->ne[1] * 4u)
            return false;
        handle = A->handle;
        r = A->ne[1];
        const dp_tensor *ab[2] = {A, B};
        for (int j = 0; j < 2; j++) {
            if (ab[j]->offset < *lo) *lo = ab[j]->offset;
            if (ab[j]->offset + ab[j]->nbytes > *hi) *hi = ab[j]->offset + ab[j]->nbytes;
        }
    }
    if (!handle) return false;
    *lo &= ~(uint64_t)255u;
    *hi = (*hi + 3u) & ~(uint64_t)3u;
    *rank = (uint32_t)r;
    return *hi - *lo <= c->dev->max_binding && *hi <= UINT32_MAX && (uint64_t)r * 3u * WG_LORA_MAX_N <= UINT32_MAX / 4u;
}

/* Whether a can be lora_xa + one _lora product dispatch. */
static bool lora_fits(const wg_ctx *c, const dp_lora_linear *a, uint64_t *lo, uint64_t *hi, uint32_t *rank) {
    if (!c->dev->fuse || c->status != DP_OK || a->n < 1 || a->n > WG_LORA_MAX_N || a->count < 1 || a->count > 3 ||
        !a->x || !a->tmp || a->tmp->dtype != DP_DTYPE_F32 || a->tmp->offset % 256 || !a->tmp->handle)
        return false;
    /* storage bindings: the products' (matvec 3, nmatvec 5, nmatvec3 7) + u and B; lora_xa: 5 */
    prod_group g[3];
    const int ng = type_groups(a, g);
    for (int i = 0; i < ng; i++)
        if (c->dev->max_storage < (g[i].count > 2 ? 9u : g[i].count > 1 ? 7u : 5u)) return false;
    const dp_tensor *w0 = a->ws[0];
    int64_t k = a->norm_w ? a->d : (w0 ? w0->ne[0] : 0);
    if (!w0 || k <= 0 || !adapter_range(c, a, k, lo, hi, rank)) return false;
    if (a->tmp->nbytes < (uint64_t)a->n * (uint64_t)a->count * *rank * 4u) return false;
    /* u is written by lora_xa and read by the products: apart from everything else */
    const dp_tensor *all[9] = {a->x, a->h, a->norm_w, w0, a->count > 1 ? a->ws[1] : NULL,
                               a->count > 2 ? a->ws[2] : NULL, a->outs[0], a->count > 1 ? a->outs[1] : NULL,
                               a->count > 2 ? a->outs[2] : NULL};
    for (int i = 0; i < 9; i++)
        if (all[i] && all[i]->handle == a->tmp->handle) return false;
    for (int i = 0; i < a->count; i++)
        if (a->a[i] && a->a[i]->handle == a->tmp->handle) return false;
    if (!a->norm_w) return a->count == 1 && !a->glu && a->outs[0] && wg_weights_file(w0->dtype) && w0->offset % 256 == 0;
    if (a->accumulate || !a->h || (a->glu && a->count != 2)) return false;
    for (int i = 0; i < ng; i++) { /* each type's products as the fused products would take them */
        dp_tensor *outs[3];
        const dp_tensor *ws[3];
        for (int q = 0; q < g[i].count; q++) {
            outs[q] = a->outs[g[i].idx[q]];
            ws[q] = a->ws[g[i].idx[q]];
        }
        if (!wg_norm_matmul_fits(c, a->h, a->x, a->norm_w, a->n, a->d, outs, ws, g[i].count, ng == 1 ? a->glu : NULL))
            return false;
    }
    return true;
}

/* out = x W^T (+ out) + the epilogue: weights_<t>:matvec_lora */
static void emit_one(wg_ctx *c, dp_tensor *out, const dp_tensor *x, const dp_tensor *w, int n, bool accumulate,
                     const wg_lora_epi *epi) {
    uint32_t rb = wg_weights_check(c, w, "matmul");
    dp_gpu_binding o, xb, wb = wg_at(2, wg_bind(w));
    if (!rb || !wg_out(c, out, (int64_t)n * w->ne[1], 1, "matmul", "out", &o) ||
        !wg_in(c, x, (int64_t)n * w->ne[0], 3, "matmul", "x", &xb) || !wg_unalias(c, &xb, o) || !wg_unalias(c, &wb, o))
        return;
    wg_emit_matvec(c, o, xb, wb, w, rb, n, accumulate, epi);
}

/* u = scale * xn A_i^T into tmp (xn: x, or rms_norm(x) also written to h): rms_norm:lora_xa */
static bool emit_xa(wg_ctx *c, const dp_lora_linear *a, int64_t k, dp_gpu_binding range, uint64_t lo,
                    uint32_t r) {
    const uint32_t lu = (uint32_t)a->count * r;
    dp_gpu_binding bs[5];
    if (!wg_out(c, a->tmp, (int64_t)a->n * lu, 4, "lora", "u", &bs[3]) ||
        !wg_in(c, a->x, (int64_t)a->n * k, 3, "lora", "x", &bs[2]))
        return false;
    bs[4] = wg_at(5, range);
    if (a->norm_w) {
        if (!wg_out(c, a->h, (int64_t)a->n * k, 1, "lora", "h", &bs[0]) ||
            !wg_in(c, a->norm_w, k, 2, "lora", "norm w", &bs[1]))
            return false;
    } else { /* not read: x again, and a word of scratch to write nothing to */
        uint32_t dummy = wg_scratch(c, WG_SCR_IN4, 4);
        if (!dummy) return false;
        bs[0] = wg_at(1, wg_bind_buf(dummy, 0, 4));
        bs[1] = wg_at(2, bs[2]);
    }
    wg_norm_params p = {(uint32_t)a->n, (uint32_t)k, a->eps, a->plus_one ? 1u : 0u, r, (uint32_t)a->count, lu,
                   {WG_LORA_NONE, WG_LORA_NONE, WG_LORA_NONE}, a->scale, a->norm_w ? 1u : 0u};
    for (int i = 0; i < a->count; i++)
        if (a->a[i]) p.a_at[i] = (uint32_t)((a->a[i]->offset - lo) / 4u);
    /* lanes: enough for a few values each, at most the device's (and 1024) */
    uint32_t wg = 64, max_wg = c->dev->max_invocations >= 64 ? c->dev->max_invocations : 256;
    while (wg * 2 <= max_wg && wg * 2 <= 1024 && (int64_t)wg * 8 <= k) wg *= 2;
    char consts[16];
    snprintf(consts, sizeof consts, "WG=%u", wg);
    uint32_t gx, gy;
    wg_grid(c, (uint64_t)a->count * r, &gx, &gy);
    wg_dispatch(c, "rms_norm", "lora_xa", consts, &p, sizeof p, bs, 5, gx, gy, (uint32_t)a->n);
    return c->status == DP_OK;
}

bool wg_op_lora_linear(dp_backend *b, const dp_lora_linear *a) {
    wg_ctx *c = wg_ctx_of(b);
    uint64_t lo, hi;
    uint32_t r;
    if (!a || !a->outs || !a->ws || !lora_fits(c, a, &lo, &hi, &r)) return false;
    const int64_t k = a->norm_w ? a->d : a->ws[0]->ne[0];
    const uint32_t handle = a->a[0] ? a->a[0]->handle : a->a[1] ? a->a[1]->handle : a->a[2]->handle;
    dp_gpu_binding range = wg_bind_buf(handle, (uint32_t)lo, (uint32_t)(hi - lo));
    if (!emit_xa(c, a, k, range, lo, r)) return true;
    wg_lora_epi epi = {{0}, wg_at(7, range), r, (uint32_t)a->count * r, {0, 0, 0}, {0, 0, 0}};
    if (!wg_in(c, a->tmp, (int64_t)a->n * epi.lu, 6, "lora", "u", &epi.u)) return true;
    prod_group g[3];
    const int ng = type_groups(a, g);
    for (int i = 0; i < ng && c->status == DP_OK; i++) { /* one product dispatch per weight type */
        dp_tensor *outs[3];
        const dp_tensor *ws[3];
        for (int q = 0; q < g[i].count; q++) {
            const int j = g[i].idx[q];
            outs[q] = a->outs[j];
            ws[q] = a->ws[j];
            epi.lb_at[q] = a->b[j] ? (uint32_t)((a->b[j]->offset - lo) / 4u) : WG_LORA_NONE;
            epi.lu_at[q] = (uint32_t)j * r;
        }
        if (a->norm_w && g[i].count > 1)
            wg_emit_nmatvec(c, a->h, a->n, outs, ws, g[i].count, ng == 1 ? a->glu : NULL, &epi);
        else
            emit_one(c, outs[0], a->norm_w ? a->h : a->x, ws[0], a->n, a->accumulate, &epi);
    }
    /* gate and up of two weight types: their products apart, then the GLU */
    if (a->glu && ng > 1) wg_rec_glu(b, a->outs[0], a->outs[0], a->outs[1], a->n, (int)a->ws[0]->ne[1], *a->glu);
    return true;
}

#else
typedef int dp_wg_lora_unused;
#endif /* __wasm__ */
