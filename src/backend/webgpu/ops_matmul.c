/* ops_matmul.c — matmul and get_rows over weights of any stored type (kernels weights_<type>:
 * kernels/weights/<type>.wgsl + kernels/weights_common.wgsl,
 * kernels/matmul_tiled.wgsl).
 *
 * matmul picks by the number of x rows n:
 *   n <= WG_MATVEC_MAX_N: weights_<type>:matvec reads the stored weights directly, TPR
 *     invocations per output value (decode);
 *   larger n: the tiled f32 product (prefill): matmul_tiled:main, 4 x 4 values per invocation
 *     in 64 x 64 tiles; with tune prefill_tile=64|128 (k a multiple of 4) matmul_tiled:blocked,
 *     8 x 8 values per invocation in tiles of that size (1.4x main on SwiftShader, 0.13-0.5x on
 *     the H200: docs/BENCHMARKS.md).
 *     Non-f32 weights are first expanded to f32 into scratch by weights_<type>:dequant,
 *     WG_DEQ_BUDGET bytes of rows at a time;
 *     or, with prefill_sgmat, matmul_sgmat:main on the matrix units: x to f16 by
 *     matmul_sgmat:x_half, the weights to f16 by weights_<type>:dequant_h, both padded to whole
 *     64-row tiles; with prefill_sgmat=2 matmul_sgmat:staged (128-row tiles staged through
 *     workgroup memory, into a padded out) + matmul_sgmat:unpad where subgroups are 32 wide,
 *     k is a multiple of 32, the device has 20 KiB of workgroup memory and the product has
 *     WG_SGMAT_STAGED_MIN such tiles, else main. */
#if defined(__wasm__)

#include <stdio.h>
#include <string.h>

#include "backend/webgpu/wg_internal.h"

#define WG_MATVEC_MAX_N 8
#define WG_DEQ_BUDGET (64u << 20)

const char *wg_weights_file(dp_dtype t) {
    switch (t) {
    case DP_DTYPE_F32: return "weights_f32";
    case DP_DTYPE_F16: return "weights_f16";
    case DP_DTYPE_BF16: return "weights_bf16";
    case DP_DTYPE_Q8_0: return "weights_q8_0";
    case DP_DTYPE_Q4_K: return "weights_q4_k";
    case DP_DTYPE_Q5_K: return "weights_q5_k";
    case DP_DTYPE_Q6_K: return "weights_q6_k";
    case DP_DTYPE_Q4_0: return "weights_q4_0";
    case DP_DTYPE_Q4_1: return "weights_q4_1";
    case DP_DTYPE_Q5_0: return "weights_q5_0";
    case DP_DTYPE_Q5_1: return "weights_q5_1";
    case DP_DTYPE_IQ4_NL: return "weights_iq4_nl";
    case DP_DTYPE_Q2_K: return "weights_q2_k";
    case DP_DTYPE_Q3_K: return "weights_q3_k";
    case DP_DTYPE_IQ4_XS: return "weights_iq4_xs";
    default: return NULL;
    }
}

/* values per matvec unit in weights_<type>.wgsl (UNIT) */
static uint32_t weights_unit(dp_dtype t) {
    switch (t) {
    case DP_DTYPE_Q8_0: return 8;
    case DP_DTYPE_Q4_K: return 16;
    case DP_DTYPE_Q5_K: return 8;
    case DP_DTYPE_Q6_K: return 16;
    case DP_DTYPE_Q4_0: case DP_DTYPE_Q4_1: case DP_DTYPE_Q5_0: case DP_DTYPE_Q5_1:
    case DP_DTYPE_IQ4_NL: case DP_DTYPE_IQ4_XS: return 8;
    case DP_DTYPE_Q2_K: case DP_DTYPE_Q3_K: return 16;
    default: return 1;
    }
}


/* Checks a weight tensor [m, k] and returns its row bytes (0 after a recorded failure). */
uint32_t wg_weights_check(wg_ctx *c, const dp_tensor *w, const char *op) {
    const char *file = w ? wg_weights_file(w->dtype) : NULL;
    if (!w || !w->handle || !file) {
        wg_fail(c, DP_ERR_UNSUPPORTED, "%s: weights missing or of unsupported type %s", op,
                w ? dp_dtype_name(w->dtype) : "-");
        return 0;
    }
    uint64_t rb = 0;
    if (w->ne[0] <= 0 || w->ne[1] <= 0 || !dp_dtype_row_bytes(w->dtype, (uint64_t)w->ne[0], &rb) ||
        rb * (uint64_t)w->ne[1] > w->nbytes || rb * (uint64_t)w->ne[1] > UINT32_MAX) {
        wg_fail(c, DP_ERR_INVALID_ARG, "%s: bad weight shape [%lld, %lld] (%s, %llu bytes)", op,
                (long long)w->ne[0], (long long)w->ne[1], dp_dtype_name(w->dtype),
                (unsigned long long)w->nbytes);
        return 0;
    }
    if (w->offset % 256) {
        wg_fail(c, DP_ERR_INVALID_ARG, "%s: weight offset not a multiple of 256", op);
        return 0;
    }
    return (uint32_t)rb;
}

void wg_rec_get_rows(dp_backend *b, dp_tensor *out, const dp_tensor *table, const dp_tensor *ids,
                    int n, float scale) {
    wg_ctx *c = wg_ctx_of(b);
    uint32_t rb = wg_weights_check(c, table, "get_rows");
    if (!rb) return;
    int64_t d = table->ne[0];
    dp_gpu_binding o, i;
    if (n < 0 || !wg_out(c, out, (int64_t)n * d, 1, "get_rows", "out", &o) ||
        !wg_in(c, ids, n, 3, "get_rows", "ids", &i))
        return;
    if ((uint64_t)n * (uint64_t)d > UINT32_MAX - 256) {
        wg_fail(c, DP_ERR_LIMIT, "get_rows: %d x %lld values is over the kernel's range", n,
                (long long)d);
        return;
    }
    if (!n) return;
    wg_weights_params p = {(uint32_t)n, (uint32_t)d, (uint32_t)table->ne[1], rb, scale, 0, 0, 0, 0, 0, 0, 0.0f, 0, 0, 0, 0, {0, 0, 0}, {0, 0, 0}};
    dp_gpu_binding t = wg_at(2, wg_bind(table));
    if (!wg_unalias(c, &t, o) || !wg_unalias(c, &i, o)) return;
    dp_gpu_binding bs[3] = {o, t, i};
    wg_dispatch_flat(c, wg_weights_file(table->dtype), "get_rows", "", &p, sizeof p, bs, 3,
                     ((uint64_t)n * (uint64_t)d + 255) / 256);
}

uint32_t wg_actq_block(const wg_ctx *c, dp_dtype t) {
    if (!c->dev->act_quant) return 0;
    return (uint32_t)dp_dtype_act_block(t);
}

/* x ([n, k] floats) through 8-bit blocks of qb values into scratch WG_SCR_ACTQ (bytes long) by
 * file:entry (act_quant or act_pack) over `groups` workgroups; *x is rebound there, binding
 * number kept. */
static bool act_blocks(wg_ctx *c, const char *file, const char *entry, uint32_t out_binding, dp_gpu_binding *x,
                       uint64_t n, uint64_t k, uint64_t qb, uint64_t bytes, uint64_t groups) {
    if (k % qb || n * k * 4 > UINT32_MAX) {
        wg_fail(c, DP_ERR_INVALID_ARG, "%s: rows of %llu values are not whole blocks of %llu", entry,
                (unsigned long long)k, (unsigned long long)qb);
        return false;
    }
    uint32_t q = wg_scratch(c, WG_SCR_ACTQ, bytes);
    if (!q) return false;
    wg_weights_params ap = {(uint32_t)n, (uint32_t)k, 0, 0, 1.0f, 0, 0, 0, 0, 0, 0, 0.0f, 0, 0, 0, 0, {0, 0, 0}, {0, 0, 0}};
    dp_gpu_binding qo = wg_at(out_binding, wg_bind_buf(q, 0, (uint32_t)bytes));
    dp_gpu_binding ab[2] = {qo, wg_at(3, *x)};
    wg_dispatch_flat(c, file, entry, "", &ap, sizeof ap, ab, 2, groups);
    *x = wg_at(x->binding, qo);
    return true;
}

bool wg_actq_input(wg_ctx *c, dp_dtype t, dp_gpu_binding *x, uint64_t n, uint64_t k) {
    uint32_t qb = wg_actq_block(c, t);
    if (!qb || !n) return true;
    return act_blocks(c, wg_weights_file(t), "act_quant", 1, x, n, k, qb, n * k * 4, (n * k / qb + 255) / 256);
}

/* the decode kernel of type t with x as floats (x 0), through 8-bit blocks read from scratch
 * (x 1: kernels/weights/i8/<t>.wgsl) or packed by each workgroup itself (x 2:
 * kernels/weights_i8p.wgsl), and / or subgroup row sums (kernels/weights_sg.wgsl):
 * weights_<t>[_i8 | _i8p][_sg]; NULL when t has none (web/tools/kernels.mjs makes them for the
 * types with an i8 file) */
enum { WV_F32 = 0, WV_I8 = 1, WV_I8P = 2 };
static const char *weights_variant(dp_dtype t, int x, bool sg) {
    static const char *const q8_0[6] = {"weights_q8_0", "weights_q8_0_i8", "weights_q8_0_i8p",
                                        "weights_q8_0_sg", "weights_q8_0_i8_sg", "weights_q8_0_i8p_sg"};
    static const char *const q4_k[6] = {"weights_q4_k", "weights_q4_k_i8", "weights_q4_k_i8p",
                                        "weights_q4_k_sg", "weights_q4_k_i8_sg", "weights_q4_k_i8p_sg"};
    static const char *const q6_k[6] = {"weights_q6_k", "weights_q6_k_i8", "weights_q6_k_i8p",
                                        "weights_q6_k_sg", "weights_q6_k_i8_sg", "weights_q6_k_i8p_sg"};
    const int v = x + (sg ? 3 : 0);
    switch (t) {
    case DP_DTYPE_Q8_0: return q8_0[v];
    case DP_DTYPE_Q4_K: return q4_k[v];
    case DP_DTYPE_Q6_K: return q6_k[v];
    default: return NULL;
    }
}

const char *wg_matvec_norm_kernel(const wg_ctx *c, dp_dtype t, char *buf, size_t size) {
    const char *file = wg_weights_file(t);
    if (!file || wg_actq_block(c, t) || (c->dev->matvec_i8 && weights_variant(t, WV_I8, false)))
        return NULL;
    bool sg = c->dev->matvec_sg && weights_variant(t, WV_F32, true);
    int len = snprintf(buf, size, "%s_n%s", file, sg ? "_sg" : "");
    return len > 0 && (size_t)len < size ? buf : NULL;
}

uint32_t wg_matvec_i8_block(const wg_ctx *c, dp_dtype t, uint64_t n) {
    if (!c->dev->matvec_i8 || !n || n > WG_MATVEC_MAX_N || !weights_variant(t, WV_I8, false)) return 0;
    return (uint32_t)dp_dtype_act_block(t);
}

uint32_t wg_matvec_i8_block_of(const wg_ctx *c, const dp_tensor *const *ws, int count, uint64_t n, int64_t d) {
    uint32_t qb = 0;
    for (int i = 0; i < count; i++) {
        const uint32_t q = ws[i] && ws[i]->ne[0] == d ? wg_matvec_i8_block(c, ws[i]->dtype, n) : 0;
        if (!q || (i && q != qb)) return 0;
        qb = q;
    }
    return qb && d > 0 && d % qb == 0 ? qb : 0;
}

/* bytes of xq for n rows of k values in blocks of qb (xq_words in kernels/pack_q8.wgsl: qb / 4
   words of packed bytes, the qb / 32 sums, the scale, zeros up to a multiple of 4 words) */
static uint64_t xq_bytes(uint64_t n, uint64_t k, uint64_t qb) {
    return n * (k / qb) * ((qb / 4 + qb / 32 + 4) / 4 * 4) * 4;
}

uint32_t wg_actq_scratch(wg_ctx *c, uint64_t n, uint64_t k, uint64_t qb, uint32_t *bytes) {
    *bytes = (uint32_t)xq_bytes(n, k, qb);
    return wg_scratch(c, WG_SCR_ACTQ, *bytes);
}

void wg_actq_note(wg_ctx *c, dp_gpu_binding x, uint64_t n, uint64_t k, uint64_t qb) {
    if (c->status == DP_OK) c->actq = (wg_actq){x.buffer, x.offset, x.size, n, k, qb, wg_recorded(c)};
}

/* bytes of workgroup memory weights_common.wgsl and pack_q8.wgsl take besides xq4 in a
   weights_<t>_i8p kernel of wg invocations: red, red2, pk_max, pk_sum */
static uint64_t i8p_wg_bytes(uint64_t wg) { return 4 * 4 * wg + 64; }

/* workgroup memory per workgroup the decode kernels may use (WebGPU's default limit at least) */
static uint32_t wg_storage(const wg_ctx *c) {
    return c->dev->max_wg_storage >= 16384 ? c->dev->max_wg_storage : 16384;
}

/* weights_<t>_i8p[_sg] for products of type t over rows of d values in 8-bit blocks of qb (0:
   none), where matvec_pack is on and one row's blocks fit the workgroup memory */
static const char *pack_kernel(const wg_ctx *c, dp_dtype t, uint64_t qb, int64_t d) {
    if (!c->dev->matvec_pack || !qb || d <= 0 || (uint64_t)d % qb ||
        xq_bytes(1, (uint64_t)d, qb) + i8p_wg_bytes(64) > wg_storage(c))
        return NULL;
    return weights_variant(t, WV_I8P, c->dev->matvec_sg && weights_variant(t, WV_F32, true));
}

bool wg_matvec_packs(const char *kernel) { return kernel && strstr(kernel, "_i8p") != NULL; }

const char *wg_matvec_pack_kernel(const wg_ctx *c, const dp_tensor *const *ws, int count, uint64_t n, int64_t d) {
    return count >= 1 && ws[0] ? pack_kernel(c, ws[0]->dtype, wg_matvec_i8_block_of(c, ws, count, n, d), d) : NULL;
}

const char *wg_matvec_i8_kernel(const wg_ctx *c, dp_dtype t, uint64_t n) {
    bool sg = c->dev->matvec_sg && weights_variant(t, WV_F32, true);
    return c->dev->matvec_i8 && n ? weights_variant(t, WV_I8, sg) : NULL;
}

const char *wg_matvec_input(wg_ctx *c, dp_dtype t, dp_gpu_binding *x, uint64_t n, uint64_t k) {
    const char *i8 = wg_matvec_i8_kernel(c, t, n);
    if (!i8) {
        bool sg = c->dev->matvec_sg && weights_variant(t, WV_F32, true);
        if (!wg_actq_input(c, t, x, n, k)) return NULL;
        return sg ? weights_variant(t, WV_F32, true) : wg_weights_file(t);
    }
    uint64_t qb = (uint64_t)dp_dtype_act_block(t), bytes = xq_bytes(n, k, qb);
    wg_actq *m = &c->actq;
    if (m->buf && m->buf == x->buffer && m->off == x->offset && m->size == x->size && m->n == n &&
        m->k == k && m->qb == qb && m->seq == wg_recorded(c) && c->scratch[WG_SCR_ACTQ].id) {
        *x = wg_at(x->binding, wg_bind_buf(c->scratch[WG_SCR_ACTQ].id, 0, (uint32_t)bytes));
    } else {
        /* weights_<t>_i8p: the product's workgroups pack x themselves (matvec_pack) */
        const char *pk = pack_kernel(c, t, qb, (int64_t)k);
        if (pk) return pk;
        const wg_actq src = {x->buffer, x->offset, x->size, n, k, qb, 0};
        /* act_pack (kernels/pack_q8.wgsl): 4 values per invocation, 1024 per workgroup of 256 */
        if (!act_blocks(c, i8, "act_pack", 7, x, n, k, qb, bytes, (n * k + 1023) / 1024)) return NULL;
        *m = src;
    }
    m->seq = wg_recorded(c) + 1; /* valid after the product about to be recorded, which reads it */
    return i8;
}

uint32_t wg_matvec_tpr(dp_dtype t, int64_t k) {
    uint32_t units = (uint32_t)(k / weights_unit(t)), tpr = 1;
    while (tpr * 2 <= units && tpr < 32) tpr *= 2;
    return tpr < 4 ? 4 : tpr;
}

/* weights_q4_k_i8[_sg]: 64-value units read 16 bytes at a time (kernels/weights/i8/q4_k.wgsl) */
static bool q4k_wide(dp_dtype t, const char *file) {
    return t == DP_DTYPE_Q4_K && strstr(file, "_i8") != NULL;
}

void wg_matvec_config(const wg_ctx *c, dp_dtype t, const char *file, int64_t k, int64_t m,
                      uint32_t *rows, char *consts, size_t consts_size) {
    uint32_t tpr = c->dev->tune_tpr > 0 ? (uint32_t)c->dev->tune_tpr : wg_matvec_tpr(t, k);
    const bool wide = q4k_wide(t, file);
    int unroll = c->dev->unroll;
    if (wide && c->dev->tune_tpr == 0 && c->dev->tune_rows == 0) {
        /* the best of web/bench/matvec-bench.mjs's sweep on an H200 for every shape it timed
           (14336 x 4096, 4096 x 14336, 2048 x 8192): 32 lanes per row, 8 rows, 2 units per
           iteration; more lanes per row for the few-row shapes lost 10-20 % */
        tpr = 32;
        unroll = 2;
    }
    uint32_t max_wg = c->dev->max_invocations >= 64 ? c->dev->max_invocations : 256;
    if (max_wg > 1024) max_wg = 1024;
    /* workgroup memory of weights_common.wgsl: red, red2 (WG floats each); the _i8p kernels'
       one x row of 8-bit blocks (xq4, XQ4 vec4 words) and pack_q8.wgsl's pk_max, pk_sum too */
    const uint32_t wgs = wg_storage(c);
    const bool packs = wg_matvec_packs(file);
    const uint64_t qb = (uint64_t)dp_dtype_act_block(t), xq = packs && qb ? xq_bytes(1, (uint64_t)k, qb) : 0;
    while (max_wg > 64 && (packs ? xq + i8p_wg_bytes(max_wg) : 2 * max_wg * 4 + 64) > wgs) max_wg /= 2;
    /* a device whose subgroups are fixed at fewer than 8 lanes is a CPU emulating one
       (SwiftShader: 4, one SIMD vector): there every lane past a subgroup only adds a barrier
       round to the row sum, and its barriers cost far more than the lanes gain (the trained 21M
       q4_K_M model on SwiftShader, fused products: 16.7 s per token at TPR 32, 1.2 s at 4) */
    const bool emulated = c->dev->tune_tpr == 0 && c->dev->sg_size > 0 && c->dev->sg_size < 8;
    if (emulated) {
        tpr = c->dev->sg_size;
        unroll = c->dev->unroll;
    }
    if (c->dev->tune_tpr == 0 && c->dev->tune_rows == 0 && !emulated && !wide) {
        /* few rows of long rows (a down projection: 4096 x 14336): more lanes per row, so that
           there are ~2048 workgroups of 256 and each lane's loop stays short, while every lane
           keeps at least two units */
        uint32_t units = (uint32_t)(k / weights_unit(t));
        while (tpr < 256 && tpr * 2 <= max_wg && (uint64_t)m * tpr / 256 < 2048 &&
               units / (tpr * 2) >= 2)
            tpr *= 2;
    }
    if (tpr > max_wg) tpr = max_wg;
    uint32_t r = 1;
    if (c->dev->tune_rows > 0) {
        while (r * 2 <= (uint32_t)c->dev->tune_rows) r *= 2;
    } else { /* small workgroups, many of them: no staging, so nothing to amortize */
        while (tpr * r < 256) r *= 2;
    }
    while (tpr * r < 64) r *= 2;
    while (tpr * r > max_wg && r > 1) r /= 2;
    *rows = r;
    size_t fl = strlen(file);
    if (fl > 3 && !strcmp(file + fl - 3, "_sg"))
        snprintf(consts, consts_size, "WG=%u,TPR=%u,UNR=%d,SGS=%u", tpr * r, tpr, unroll, c->dev->sg_size);
    else
        snprintf(consts, consts_size, "WG=%u,TPR=%u,UNR=%d", tpr * r, tpr, unroll);
    if (xq) {
        size_t cl = strlen(consts);
        snprintf(consts + cl, consts_size - cl, ",XQ4=%llu", (unsigned long long)(xq / 16));
    }
}

void wg_emit_matvec(wg_ctx *c, dp_gpu_binding o, dp_gpu_binding xb, dp_gpu_binding wb, const dp_tensor *w,
                    uint32_t rb, int n, bool accumulate, const wg_lora_epi *lora) {
    const int64_t k = w->ne[0], m = w->ne[1];
    uint32_t rows_per_wg, gx, gy;
    char consts[64];
    const char *mv = wg_matvec_input(c, w->dtype, &xb, (uint64_t)n, (uint64_t)k);
    if (!mv) return;
    wg_matvec_config(c, w->dtype, mv, k, m, &rows_per_wg, consts, sizeof consts);
    wg_weights_params p = {(uint32_t)n, (uint32_t)k, (uint32_t)m, rb, 1.0f, accumulate, 0, 0, 0, 0,
                           0, 0.0f, 0, 0, 0, 0, {0, 0, 0}, {0, 0, 0}};
    wg_grid(c, ((uint64_t)m + rows_per_wg - 1) / rows_per_wg, &gx, &gy);
    dp_gpu_binding bs[6] = {o, wb, xb};
    int nb = 3;
    if (wg_matvec_packs(mv)) bs[nb++] = wg_at(10, xb); /* the norm weight of weights_<t>_i8p: not read */
    if (lora) wg_lora_epi_put(lora, &p, bs, &nb);
    wg_dispatch(c, mv, lora ? "matvec_lora" : "matvec", consts, &p, sizeof p, bs, nb, gx, gy, (uint32_t)n);
}

/* matches `Params` in matmul_tiled.wgsl */
typedef struct tiled_params {
    uint32_t n, k, m, col0, out_stride, accumulate;
} tiled_params;

#define WG_SGMAT_TILE 64u
#define WG_SGMAT_STAGED_TILE 128u
#define WG_SGMAT_STAGED_WGS 20480u /* bytes of workgroup memory matmul_sgmat:staged takes */
#define WG_SGMAT_STAGED_MIN 128u   /* blocks of 128 x 128 a product needs for staged (fewer: main's
                                      64 x 64 keep more of the GPU busy; sgmat-bench.mjs) */

/* out (+)= x W^T for f32 x [n, k] and f32 W rows [m, k] (a chunk: columns col0.. of out, rows
   out_stride apart), xb at binding 3 and wb at 2 */
static void emit_tiled(wg_ctx *c, dp_gpu_binding o, dp_gpu_binding wb, dp_gpu_binding xb, uint32_t n,
                       uint32_t k, uint32_t m, uint32_t col0, uint32_t out_stride, bool accumulate) {
    tiled_params p = {n, k, m, col0, out_stride, accumulate};
    dp_gpu_binding bs[3] = {o, wb, xb};
    const uint32_t tile = (uint32_t)c->dev->prefill_tile;
    if (!tile || k % 4) {
        wg_dispatch(c, "matmul_tiled", "main", "", &p, sizeof p, bs, 3, (m + 63) / 64, (n + 63) / 64, 1);
        return;
    }
    char consts[24];
    snprintf(consts, sizeof consts, "TX=%u,TY=%u", tile / 8, tile / 8);
    wg_dispatch(c, "matmul_tiled", "blocked", consts, &p, sizeof p, bs, 3, (m + tile - 1) / tile,
                (n + tile - 1) / tile, 1);
}

static uint64_t round_up(uint64_t v, uint64_t to) { return (v + to - 1) / to * to; }

/* The prefill product on subgroup matrices (kernels/matmul_sgmat.wgsl): x [n, k] and the weight
 * rows to f16 (rows padded to whole tiles), then TILE x TILE blocks of out per workgroup. */
static void rec_matmul_sgmat(wg_ctx *c, dp_gpu_binding o, dp_gpu_binding xb, dp_gpu_binding wb,
                             const dp_tensor *w, uint32_t n, uint32_t k, uint32_t m, uint32_t rb,
                             bool accumulate) {
    /* prefill_sgmat=2: matmul_sgmat:staged (128-row tiles through workgroup memory) where its
       assumptions hold and the product has WG_SGMAT_STAGED_MIN tiles, then unpad; else main
       (64 x 64 tiles staged the same way ran 0.82-1.13x main on the smaller products,
       docs/BENCHMARKS.md) */
    const bool staged = c->dev->prefill_sgmat == 2 && c->dev->sg_size == 32 && k % 32 == 0 &&
                        wg_storage(c) >= WG_SGMAT_STAGED_WGS &&
                        round_up(m, WG_SGMAT_STAGED_TILE) / WG_SGMAT_STAGED_TILE *
                                (round_up(n, WG_SGMAT_STAGED_TILE) / WG_SGMAT_STAGED_TILE) >= WG_SGMAT_STAGED_MIN;
    const uint64_t tile = staged ? WG_SGMAT_STAGED_TILE : WG_SGMAT_TILE;
    uint64_t n_pad = round_up(n, tile), xh_bytes = n_pad * k * 2;
    uint64_t row_h = (uint64_t)k * 2;
    uint64_t budget = WG_DEQ_BUDGET < c->dev->max_buffer ? WG_DEQ_BUDGET : c->dev->max_buffer;
    uint64_t chunk = budget / row_h / tile * tile;
    if (chunk < tile) chunk = tile;
    if (chunk > round_up(m, tile)) chunk = round_up(m, tile);
    const uint64_t pad_bytes = staged ? n_pad * chunk * 4 : 0;
    if (xh_bytes > c->dev->max_buffer || chunk * row_h > c->dev->max_buffer || pad_bytes > c->dev->max_buffer) {
        wg_fail(c, DP_ERR_LIMIT, "matmul: %u x %u values in f16 are over the device's buffer limit", n, k);
        return;
    }
    uint32_t xh = wg_scratch(c, WG_SCR_XH, xh_bytes), deq = wg_scratch(c, WG_SCR_DEQ, chunk * row_h);
    uint32_t pad = staged ? wg_scratch(c, WG_SCR_PAD, pad_bytes) : 0;
    if (!xh || !deq || (staged && !pad)) return;
    tiled_params xp = {n, k, 0, 0, (uint32_t)n_pad, 0};
    dp_gpu_binding xbs[2] = {wg_at(1, wg_bind_buf(xh, 0, (uint32_t)xh_bytes)), xb};
    wg_dispatch_flat(c, "matmul_sgmat", "x_half", "", &xp, sizeof xp, xbs, 2, (n_pad * k + 255) / 256);
    for (uint64_t r0 = 0; r0 < m; r0 += chunk) {
        uint64_t cnt = m - r0 < chunk ? m - r0 : chunk, cnt_pad = round_up(cnt, tile);
        uint32_t bytes = (uint32_t)(cnt_pad * row_h);
        wg_weights_params dp = {(uint32_t)cnt_pad, k, m, rb, 1.0f, 0, (uint32_t)r0, 0, 0, 0, 0, 0.0f, 0, 0, 0, 0, {0, 0, 0}, {0, 0, 0}};
        dp_gpu_binding db[2] = {wg_at(1, wg_bind_buf(deq, 0, bytes)), wb};
        wg_dispatch_flat(c, wg_weights_file(w->dtype), "dequant_h", "", &dp, sizeof dp, db, 2,
                         (cnt_pad * k / 2 + 255) / 256);
        dp_gpu_binding wh = wg_at(2, wg_bind_buf(deq, 0, bytes)), xhb = wg_at(3, wg_bind_buf(xh, 0, (uint32_t)xh_bytes));
        if (staged) {
            const uint32_t pb = (uint32_t)(n_pad * cnt_pad * 4);
            tiled_params sp = {n, k, (uint32_t)cnt, 0, (uint32_t)cnt_pad, 0};
            dp_gpu_binding sb[3] = {wg_at(1, wg_bind_buf(pad, 0, pb)), wh, xhb};
            wg_dispatch(c, "matmul_sgmat", "staged", "", &sp, sizeof sp, sb, 3, (uint32_t)(cnt_pad / tile),
                        (uint32_t)(n_pad / tile), 1);
            tiled_params up = {n, (uint32_t)cnt_pad, (uint32_t)cnt, (uint32_t)r0, m, accumulate};
            dp_gpu_binding ub[2] = {o, wg_at(2, wg_bind_buf(pad, 0, pb))};
            wg_dispatch_flat(c, "matmul_sgmat", "unpad", "", &up, sizeof up, ub, 2, ((uint64_t)n * cnt + 255) / 256);
            continue;
        }
        tiled_params tp = {n, k, (uint32_t)cnt, (uint32_t)r0, m, accumulate};
        dp_gpu_binding tb[3] = {o, wh, xhb};
        wg_dispatch(c, "matmul_sgmat", "main", "", &tp, sizeof tp, tb, 3,
                    (uint32_t)(cnt_pad / tile), (uint32_t)(n_pad / tile), 1);
    }
}

void wg_rec_matmul(dp_backend *b, dp_tensor *out, const dp_tensor *x, const dp_tensor *w, int n,
                  bool accumulate) {
    wg_ctx *c = wg_ctx_of(b);
    uint32_t rb = wg_weights_check(c, w, "matmul");
    if (!rb) return;
    const int64_t k = w->ne[0], m = w->ne[1];
    dp_gpu_binding o, xb, wb = wg_at(2, wg_bind(w));
    if (n < 0 || !wg_out(c, out, (int64_t)n * m, 1, "matmul", "out", &o) ||
        !wg_in(c, x, (int64_t)n * k, 3, "matmul", "x", &xb) || !n)
        return;
    if (!wg_unalias(c, &xb, o) || !wg_unalias(c, &wb, o)) return;
    const char *file = wg_weights_file(w->dtype);

    if (n <= WG_MATVEC_MAX_N) {
        wg_emit_matvec(c, o, xb, wb, w, rb, n, accumulate, NULL);
        return;
    }

    if (c->dev->prefill_sgmat && k % 16 == 0) {
        rec_matmul_sgmat(c, o, xb, wb, w, (uint32_t)n, (uint32_t)k, (uint32_t)m, rb, accumulate);
        return;
    }
    if (w->dtype == DP_DTYPE_F32) {
        emit_tiled(c, o, wb, xb, (uint32_t)n, (uint32_t)k, (uint32_t)m, 0, (uint32_t)m, accumulate);
        return;
    }
    if (!wg_actq_input(c, w->dtype, &xb, (uint64_t)n, (uint64_t)k)) return;
    uint64_t row_f32 = (uint64_t)k * 4;
    uint64_t budget = WG_DEQ_BUDGET < c->dev->max_buffer ? WG_DEQ_BUDGET : c->dev->max_buffer;
    int64_t chunk = (int64_t)(budget / row_f32);
    if (chunk < 1) chunk = 1;
    if (chunk > m) chunk = m;
    uint32_t deq = wg_scratch(c, WG_SCR_DEQ, (uint64_t)chunk * row_f32);
    if (!deq) return;
    for (int64_t r0 = 0; r0 < m; r0 += chunk) {
        int64_t cnt = m - r0 < chunk ? m - r0 : chunk;
        uint32_t bytes = (uint32_t)((uint64_t)cnt * row_f32);
        wg_weights_params dp = {(uint32_t)cnt, (uint32_t)k, (uint32_t)m, rb, 1.0f, 0, (uint32_t)r0, 0, 0, 0, 0, 0.0f, 0, 0, 0, 0, {0, 0, 0}, {0, 0, 0}};
        dp_gpu_binding db[2] = {wg_at(1, wg_bind_buf(deq, 0, bytes)), wb};
        wg_dispatch_flat(c, file, "dequant", "", &dp, sizeof dp, db, 2,
                         ((uint64_t)cnt * (uint64_t)k + 255) / 256);
        emit_tiled(c, o, wg_at(2, wg_bind_buf(deq, 0, bytes)), xb, (uint32_t)n, (uint32_t)k, (uint32_t)cnt,
                   (uint32_t)r0, (uint32_t)m, accumulate);
    }
}

/* LoRA delta: tmp = x A^T, tmp *= scale, out += tmp B^T (three dispatches) */
void wg_rec_lora(dp_backend *b, dp_tensor *out, const dp_tensor *x, const dp_tensor *a,
                 const dp_tensor *bw, dp_tensor *tmp, int n, float scale) {
    wg_ctx *c = wg_ctx_of(b);
    if (!a || !bw || !tmp || a->dtype != DP_DTYPE_F32 || bw->dtype != DP_DTYPE_F32 || bw->ne[0] != a->ne[1] ||
        n < 0 || tmp->nbytes < (uint64_t)n * (uint64_t)a->ne[1] * 4u) {
        wg_fail(c, DP_ERR_INVALID_ARG, "lora: A and B (f32) do not chain, or tmp is short");
        return;
    }
    wg_rec_matmul(b, tmp, x, a, n, false);
    wg_rec_scale(b, tmp, (int64_t)n * a->ne[1], scale);
    wg_rec_matmul(b, out, tmp, bw, n, true);
}

#else
typedef int dp_wg_ops_matmul_unused;
#endif /* __wasm__ */
