/* test_matmul.c — CPU matrix product: every kernel set (generic C, AVX2 when the CPU has it)
 * against the scalar reference dp_cpu_matmul_ref, for every weight type, odd n and m.
 *
 *  - exact checks: integer-valued weights and activations chosen so that every path computes
 *    exact integers (f32/f16/bf16 weights; quantized blocks with unit super-scales and
 *    activations whose 8-bit quantization is lossless) -> fast == reference bit for bit;
 *  - random data: the fast path quantizes activations to 8-bit blocks, so against the reference
 *    on the original x it may differ by at most sum_i |w_i| * |x_i - xq_i| (the perturbation
 *    bound, computed per output) plus float rounding; against the reference on the dequantized
 *    activations xq it must agree to float rounding (1e-5 of sum |w| |xq|);
 *  - threads: 1, 2 and 3 pool threads give bit-identical results; accumulate adds; bad shapes
 *    are refused. */
#include <math.h>
#include <string.h>

#include "backend/cpu/matmul_impl.h"
#include "base/base.h"
#include "format/quant.h"
#include "testutil.h"

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}
static float frand(void) { return (float)rnd() / 2147483648.0f - 1.0f; } /* [-1, 1) */
static int irand(int lo, int hi) { return lo + (int)(rnd() % (uint32_t)(hi - lo + 1)); }

static const dp_dtype all_types[] = {DP_DTYPE_F32,  DP_DTYPE_F16,  DP_DTYPE_BF16, DP_DTYPE_Q8_0,
                                     DP_DTYPE_Q4_K, DP_DTYPE_Q5_K, DP_DTYPE_Q6_K, DP_DTYPE_Q4_0,
                                     DP_DTYPE_Q4_1, DP_DTYPE_Q5_0, DP_DTYPE_Q5_1, DP_DTYPE_IQ4_NL,
                                     DP_DTYPE_Q2_K, DP_DTYPE_Q3_K, DP_DTYPE_IQ4_XS};
#define N_TYPES (sizeof all_types / sizeof all_types[0])

static size_t row_bytes(dp_dtype t, int k) {
    uint64_t b = 0;
    CHECK(dp_dtype_row_bytes(t, (uint64_t)k, &b));
    return (size_t)b;
}

static void set_f16(uint8_t *p, float f) {
    const uint16_t h = dp_f32_to_f16(f);
    memcpy(p, &h, 2);
}

/* One row of k random weights of type t at row; wf (k values) receives the values it holds.
 * scale spreads the magnitudes between rows. */
static void make_random_row(dp_dtype t, uint8_t *row, float *wf, int k, float scale) {
    const size_t rb = row_bytes(t, k);
    for (int i = 0; i < k; i++) wf[i] = frand() * scale;
    if (!dp_quant_row(t, wf, row, (size_t)k)) { /* no quantizer: random blocks */
        const size_t bb = dp_dtype_block_bytes(t);
        for (size_t i = 0; i < rb; i++) row[i] = (uint8_t)rnd();
        int off[2];
        const int nf = dp_block_f16_fields(t, off);
        for (size_t b = 0; b < rb; b += bb)
            for (int f = 0; f < nf; f++) set_f16(row + b + off[f], frand() * 0.05f * scale);
    }
    dp_dequant_row(t, row, wf, (size_t)k);
}

/* ---- exact data ---- */

/* Weights whose every path is exact: small integers, unit super-block scales. */
static void make_exact_weights(dp_dtype t, uint8_t *w, int k, int m) {
    const size_t rb = row_bytes(t, k);
    const uint16_t one = 0x3C00; /* f16 1.0 */
    for (int r = 0; r < m; r++) {
        uint8_t *row = w + (size_t)r * rb;
        if (!dp_dtype_is_quant(t)) {
            float *f = malloc((size_t)k * sizeof(float));
            for (int i = 0; i < k; i++) f[i] = (float)irand(-8, 8);
            dp_quant_row(t, f, row, (size_t)k); /* f16/bf16 hold small integers exactly */
            free(f);
            continue;
        }
        const size_t bb = dp_dtype_block_bytes(t);
        for (size_t b = 0; b < rb / bb; b++) {
            uint8_t *blk = row + b * bb;
            for (size_t i = 0; i < bb; i++) blk[i] = (uint8_t)rnd();
            switch (t) {
            case DP_DTYPE_Q8_0:
                for (int i = 2; i < 34; i++) blk[i] = (uint8_t)(int8_t)irand(-127, 127);
                break;
            case DP_DTYPE_Q4_K: case DP_DTYPE_Q5_K:
                for (int i = 4; i < 16; i++) blk[i] &= 0x37; /* scales, mins <= 55 */
                break;
            case DP_DTYPE_Q6_K:
                for (int i = 192; i < 208; i++) blk[i] = (uint8_t)(int8_t)irand(-40, 40);
                break;
            case DP_DTYPE_IQ4_XS: /* scales 32..47: levels x 0..15 */
                blk[2] = blk[3] = 0xAA;
                break;
            default: break;
            }
            int off[2];
            for (int f = dp_block_f16_fields(t, off) - 1; f >= 0; f--) memcpy(blk + off[f], &one, 2);
        }
    }
}

/* Activations whose 8-bit quantization is lossless: small integers with one +-127 in every
 * 32 values (so every q8_0 and q8_K block has scale exactly 1). */
static void make_exact_x(dp_dtype t, float *x, int n, int k) {
    for (int c = 0; c < n; c++) {
        float *xr = x + (size_t)c * (size_t)k;
        for (int i = 0; i < k; i++) xr[i] = (float)irand(-3, 3);
        if (dp_dtype_is_quant(t))
            for (int i = 0; i < k; i += 32) xr[i + irand(0, 31)] = rnd() & 1 ? 127.f : -127.f;
        else
            for (int i = 0; i < k; i++) xr[i] *= 2;
    }
}

static int diff_count(const float *a, const float *b, size_t n, size_t *first) {
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], 4) != 0 && bad++ == 0) *first = i;
    return bad;
}

/* The layout the checks below run the fast path with: DP_CPU_W_X8 repacks a copy of the
 * q4_K / q6_K weights first (and checks that every stored block reads back unchanged). */
static dp_cpu_wlayout g_lay = DP_CPU_W_ROWS;

static dp_status mm(const dp_mm_kernels *kern, dp_pool *pool, dp_cpu_ws *ws, float *y,
                    const float *x, const uint8_t *w, dp_dtype t, int n, int k, int m, bool acc) {
    if (g_lay != DP_CPU_W_X8 || (t != DP_DTYPE_Q4_K && t != DP_DTYPE_Q6_K))
        return dp_cpu_matmul_with(kern, pool, ws, y, x, w, t, n, k, m, acc);
    const size_t rb = row_bytes(t, k), bb = dp_dtype_block_bytes(t);
    uint8_t *wx = malloc(rb * (size_t)m), blk[256];
    memcpy(wx, w, rb * (size_t)m);
    const bool packed = dp_cpu_x8_repack(t, k, m, wx);
    CHECK(packed == (m >= 8));
    CHECK((memcmp(wx, w, rb * (size_t)m) != 0) == packed);
    int bad = 0;
    for (int r = 0; r < m; r++)
        for (int b = 0; b < k / 256; b++) {
            dp_cpu_weight_block(wx, t, packed ? DP_CPU_W_X8 : DP_CPU_W_ROWS, k, m, r, b, blk);
            bad += memcmp(blk, w + (size_t)r * rb + (size_t)b * bb, bb) != 0;
        }
    CHECK_MSG(bad == 0, "x8 %s k=%d m=%d: %d blocks do not read back", dp_dtype_name(t), k, m, bad);
    const dp_status st = dp_cpu_matmul_layout_with(kern, pool, ws, y, x, wx, t,
                                                   packed ? DP_CPU_W_X8 : DP_CPU_W_ROWS, n, k, m, acc);
    free(wx);
    return st;
}

static void check_exact(const dp_mm_kernels *kern, dp_pool *pool, dp_dtype t, int n, int k, int m) {
    uint8_t *w = malloc(row_bytes(t, k) * (size_t)m);
    float *x = malloc(sizeof(float) * (size_t)n * (size_t)k);
    float *y = malloc(sizeof(float) * (size_t)n * (size_t)m);
    float *yr = malloc(sizeof(float) * (size_t)n * (size_t)m);
    dp_cpu_ws ws = {0};
    make_exact_weights(t, w, k, m);
    make_exact_x(t, x, n, k);
    dp_cpu_matmul_ref(yr, x, w, t, n, k, m, false);
    CHECK(mm(kern, pool, &ws, y, x, w, t, n, k, m, false) == DP_OK);
    size_t first = 0;
    const int bad = diff_count(y, yr, (size_t)n * (size_t)m, &first);
    CHECK_MSG(bad == 0, "%s%s exact %s n=%d k=%d m=%d: %d differ, first [%zu] %.9g vs %.9g",
              kern->name, g_lay ? " x8" : "", dp_dtype_name(t), n, k, m, bad, first, (double)y[first],
              (double)yr[first]);
    dp_cpu_ws_free(&ws);
    free(w);
    free(x);
    free(y);
    free(yr);
}

/* ---- random data ---- */

static void check_random(const dp_mm_kernels *kern, dp_pool *pool, dp_dtype t, int n, int k, int m,
                         double *worst_rel) {
    const size_t rb = row_bytes(t, k);
    uint8_t *w = malloc(rb * (size_t)m);
    float *wf = malloc(sizeof(float) * (size_t)k * (size_t)m); /* dequantized weights */
    float *x = malloc(sizeof(float) * (size_t)n * (size_t)k);
    float *xq = malloc(sizeof(float) * (size_t)n * (size_t)k);
    float *y = malloc(sizeof(float) * (size_t)n * (size_t)m);
    float *yr = malloc(sizeof(float) * (size_t)n * (size_t)m);
    float *yq = malloc(sizeof(float) * (size_t)n * (size_t)m);
    uint8_t *act = malloc(dp_mm_act_row_bytes(t, k));
    dp_cpu_ws ws = {0};
    for (int r = 0; r < m; r++)
        make_random_row(t, w + (size_t)r * rb, wf + (size_t)r * k, k, 1 + (float)(r % 3));
    for (size_t i = 0; i < (size_t)n * (size_t)k; i++) x[i] = frand() * (i % 7 == 0 ? 4.f : 1.f);
    for (int c = 0; c < n; c++) {
        dp_mm_act_quantize(t, x + (size_t)c * k, act, k);
        dp_mm_act_dequantize(t, act, xq + (size_t)c * k, k);
    }
    dp_cpu_matmul_ref(yr, x, w, t, n, k, m, false);
    dp_cpu_matmul_ref(yq, xq, w, t, n, k, m, false);
    CHECK(mm(kern, pool, &ws, y, x, w, t, n, k, m, false) == DP_OK);
    int bad_q = 0, bad_x = 0;
    for (int c = 0; c < n; c++)
        for (int r = 0; r < m; r++) {
            double pert = 0, mag = 0;
            for (int i = 0; i < k; i++) {
                const double wi = fabs((double)wf[(size_t)r * k + i]);
                pert += wi * fabs((double)x[(size_t)c * k + i] - (double)xq[(size_t)c * k + i]);
                mag += wi * fabs((double)xq[(size_t)c * k + i]);
            }
            const size_t o = (size_t)c * m + r;
            const double dq = fabs((double)y[o] - (double)yq[o]);
            const double dx = fabs((double)y[o] - (double)yr[o]);
            if (dq > 1e-5 * mag + 1e-6 && bad_q++ == 0)
                fprintf(stderr, "%s %s n=%d k=%d m=%d [%d,%d]: %.9g vs ref(xq) %.9g (mag %g)\n",
                        kern->name, dp_dtype_name(t), n, k, m, c, r, (double)y[o], (double)yq[o], mag);
            if (dx > pert * 1.0001 + 1e-5 * mag + 1e-6 && bad_x++ == 0)
                fprintf(stderr, "%s %s n=%d k=%d m=%d [%d,%d]: %.9g vs ref %.9g, bound %g\n",
                        kern->name, dp_dtype_name(t), n, k, m, c, r, (double)y[o], (double)yr[o], pert);
            if (mag > 0 && dx / mag > *worst_rel) *worst_rel = dx / mag;
        }
    CHECK_MSG(bad_q == 0, "%s%s %s: %d outputs off ref(xq)", kern->name, g_lay ? " x8" : "",
              dp_dtype_name(t), bad_q);
    CHECK_MSG(bad_x == 0, "%s%s %s: %d outputs past the perturbation bound", kern->name,
              g_lay ? " x8" : "", dp_dtype_name(t), bad_x);

    /* accumulate adds onto y */
    float *ya = malloc(sizeof(float) * (size_t)n * (size_t)m);
    for (size_t i = 0; i < (size_t)n * (size_t)m; i++) ya[i] = (float)(i % 5);
    CHECK(mm(kern, pool, &ws, ya, x, w, t, n, k, m, true) == DP_OK);
    int bad_a = 0;
    for (size_t i = 0; i < (size_t)n * (size_t)m; i++)
        if (ya[i] != (float)(i % 5) + y[i]) bad_a++;
    CHECK_MSG(bad_a == 0, "%s %s accumulate: %d differ", kern->name, dp_dtype_name(t), bad_a);

    dp_cpu_ws_free(&ws);
    free(ya);
    free(w);
    free(wf);
    free(x);
    free(xq);
    free(y);
    free(yr);
    free(yq);
    free(act);
}

/* The same product on 1, 2 and 3 threads is bit-identical. */
static void check_threads(dp_pool *p2, dp_pool *p3) {
    const dp_dtype t = DP_DTYPE_Q4_K;
    const int n = 7, k = 512, m = 67;
    uint8_t *w = malloc(row_bytes(t, k) * m);
    float *x = malloc(sizeof(float) * n * k), *y1 = malloc(sizeof(float) * n * m),
          *y2 = malloc(sizeof(float) * n * m), *y3 = malloc(sizeof(float) * n * m);
    float *wf = malloc(sizeof(float) * k);
    for (int r = 0; r < m; r++) {
        for (int i = 0; i < k; i++) wf[i] = frand();
        dp_quant_row(t, wf, w + (size_t)r * row_bytes(t, k), (size_t)k);
    }
    for (int i = 0; i < n * k; i++) x[i] = frand();
    dp_cpu_ws ws = {0};
    CHECK(dp_cpu_matmul(NULL, &ws, y1, x, w, t, n, k, m, false) == DP_OK);
    CHECK(dp_cpu_matmul(p2, &ws, y2, x, w, t, n, k, m, false) == DP_OK);
    CHECK(dp_cpu_matmul(p3, &ws, y3, x, w, t, n, k, m, false) == DP_OK);
    CHECK(memcmp(y1, y2, sizeof(float) * n * m) == 0);
    CHECK(memcmp(y1, y3, sizeof(float) * n * m) == 0);
    /* shapes that are not whole blocks are refused; empty products are fine */
    CHECK(dp_cpu_matmul(p2, &ws, y1, x, w, t, n, 300, m, false) == DP_ERR_INVALID_ARG);
    CHECK(dp_cpu_matmul(p2, &ws, y1, x, w, DP_DTYPE_Q8_0, n, 48, m, false) == DP_ERR_INVALID_ARG);
    CHECK(dp_cpu_matmul(p2, &ws, y1, x, w, DP_DTYPE_I32, n, 32, m, false) == DP_ERR_INVALID_ARG);
    CHECK(dp_cpu_matmul(p2, &ws, y1, x, w, t, 0, k, m, false) == DP_OK);
    dp_cpu_ws_free(&ws);
    dp_cpu_ws_free(&ws);
    free(w);
    free(x);
    free(y1);
    free(y2);
    free(y3);
    free(wf);
}

/* Up to 33 rows (a speculative verification pass, K <= 32), every row of a product is
 * bit-identical to the same row evaluated alone, on the best kernels through the real driver:
 * greedy speculative decoding must pick exactly plain decode's tokens, near-ties included
 * (q6_K's panel kernel, which sums in another order, starts above that). */
static void check_rows_alone(dp_pool *pool) {
    enum { K = 512, M = 24, NMAX = 33 };
    static const int ns[] = {2, 5, 6, 9, 33};
    for (int q = 0; q < 3; q++) {
        const dp_dtype t = q == 2 ? DP_DTYPE_Q4_K : DP_DTYPE_Q6_K;
        const dp_cpu_wlayout lay = q == 2 ? DP_CPU_W_X8 : DP_CPU_W_ROWS;
        const size_t rb = row_bytes(t, K);
        uint8_t *w = malloc(rb * M);
        float *wf = malloc(sizeof(float) * K * M), *x = malloc(sizeof(float) * K * NMAX);
        float *y = malloc(sizeof(float) * M * NMAX), *y1 = malloc(sizeof(float) * M);
        dp_cpu_ws ws = {0};
        for (int r = 0; r < M; r++) make_random_row(t, w + (size_t)r * rb, wf + (size_t)r * K, K, 1 + (float)(r % 3));
        if (lay == DP_CPU_W_X8 && !dp_cpu_x8_repack(t, K, M, w)) {
            CHECK_MSG(false, "x8 repack of q4_K failed");
        } else {
            for (size_t i = 0; i < (size_t)K * NMAX; i++) x[i] = frand() * (i % 7 == 0 ? 4.f : 1.f);
            dp_pool *pl = q == 1 ? pool : NULL; /* q6_K on one thread, then on the pool */
            for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
                const int n = ns[ni];
                CHECK(dp_cpu_matmul_layout(pl, &ws, y, x, w, t, lay, n, K, M, false) == DP_OK);
                int bad = 0;
                for (int c = 0; c < n; c++) {
                    CHECK(dp_cpu_matmul_layout(pl, &ws, y1, x + (size_t)c * K, w, t, lay, 1, K, M, false) == DP_OK);
                    bad += memcmp(y1, y + (size_t)c * M, sizeof(float) * M) != 0;
                }
                CHECK_MSG(bad == 0, "%s%s n=%d: %d rows differ from the row alone", dp_dtype_name(t),
                          lay == DP_CPU_W_X8 ? " x8" : "", n, bad);
            }
        }
        dp_cpu_ws_free(&ws);
        free(w);
        free(wf);
        free(x);
        free(y);
        free(y1);
    }
}

/* dp_cpu_matmul_multi: each part bit-identical to its own dp_cpu_matmul_with (fused path for
 * small n with one activation format; the per-part fallback otherwise). */
static void check_multi(const dp_mm_kernels *kern, dp_pool *pool, const dp_dtype *types,
                        const int *ms, int count, int n, int k, bool x8) {
    uint8_t *w[4];
    float *y[4], *yr[4];
    dp_cpu_mm_part parts[4];
    float *x = malloc(sizeof(float) * (size_t)n * (size_t)k), *wf = malloc(sizeof(float) * (size_t)k);
    for (int i = 0; i < n * k; i++) x[i] = frand();
    dp_cpu_ws ws = {0};
    for (int p = 0; p < count; p++) {
        w[p] = malloc(row_bytes(types[p], k) * (size_t)ms[p]);
        for (int r = 0; r < ms[p]; r++) {
            make_random_row(types[p], w[p] + (size_t)r * row_bytes(types[p], k), wf, k, 1);
        }
        y[p] = malloc(sizeof(float) * (size_t)n * (size_t)ms[p]);
        yr[p] = malloc(sizeof(float) * (size_t)n * (size_t)ms[p]);
        const dp_cpu_wlayout lay = x8 && dp_cpu_x8_repack(types[p], k, ms[p], w[p]) ? DP_CPU_W_X8
                                                                                   : DP_CPU_W_ROWS;
        CHECK(dp_cpu_matmul_layout_with(kern, pool, &ws, yr[p], x, w[p], types[p], lay, n, k,
                                        ms[p], false) == DP_OK);
        parts[p] = (dp_cpu_mm_part){y[p], w[p], types[p], ms[p], false, lay};
    }
    CHECK(dp_cpu_matmul_multi_with(kern, pool, &ws, x, n, k, parts, count) == DP_OK);
    for (int p = 0; p < count; p++) {
        CHECK(memcmp(y[p], yr[p], sizeof(float) * (size_t)n * (size_t)ms[p]) == 0);
        free(w[p]);
        free(y[p]);
        free(yr[p]);
    }
    dp_cpu_ws_free(&ws);
    free(x);
    free(wf);
}

static void check_multi_all(const dp_mm_kernels *kern, dp_pool *p2, dp_pool *p3) {
    static const dp_dtype qkv[3] = {DP_DTYPE_Q4_K, DP_DTYPE_Q4_K, DP_DTYPE_Q6_K};
    static const dp_dtype mixed[3] = {DP_DTYPE_Q4_K, DP_DTYPE_Q8_0, DP_DTYPE_F32};
    static const dp_dtype plain[2] = {DP_DTYPE_F16, DP_DTYPE_F32};
    static const dp_dtype blocks32[3] = {DP_DTYPE_Q5_0, DP_DTYPE_Q8_0, DP_DTYPE_IQ4_NL};
    static const int ms[3] = {37, 9, 16};
    for (int n = 1; n <= 7; n += 3) {
        dp_pool *pool = n == 1 ? p2 : n == 4 ? p3 : NULL;
        for (int x8 = 0; x8 < 2; x8++) {
            check_multi(kern, pool, qkv, ms, 3, n, 512, x8);
            check_multi(kern, pool, mixed, ms, 3, n, 256, x8);
            check_multi(kern, pool, plain, ms, 2, n, 256, x8);
            check_multi(kern, pool, blocks32, ms, 3, n, 1152, x8);
            check_multi(kern, p3, qkv + 1, ms + 1, 2, n, 256, x8);
            check_multi(kern, p2, qkv, ms, 1, n, 256, x8);
        }
    }
    CHECK(dp_cpu_matmul_multi_with(kern, p2, NULL, NULL, 1, 256, NULL, 0) == DP_OK);
    CHECK(dp_cpu_matmul_multi_with(kern, p2, NULL, NULL, 1, 0, NULL, 0) == DP_ERR_INVALID_ARG);
}

/* The activation quantizer (AVX-512 where the CPU has it) against the portable loop, bit for
 * bit: random rows, rows with ties of |x| of both signs (the first one sets the scale), zero
 * blocks, huge and tiny magnitudes. */
static void check_act_quantize(void) {
    enum { K = 1024 };
    float x[K];
    uint8_t a[K / 256 * sizeof(dp_block_q8_k)], b[K / 256 * sizeof(dp_block_q8_k)];
    const size_t bytes = dp_mm_act_row_bytes(DP_DTYPE_Q4_K, K);
    int bad = 0;
    for (int it = 0; it < 400; it++) {
        const float mag = it % 5 == 0 ? 1e-30f : it % 5 == 1 ? 3e4f : 1.f;
        for (int i = 0; i < K; i++) x[i] = frand() * mag;
        if (it % 4 == 1) /* ties: the same |x| with both signs, the maximum among them */
            for (int i = 0; i < K; i += 256) {
                const float v = 2 * mag;
                x[i + irand(0, 127)] = it % 8 == 1 ? -v : v;
                x[i + irand(128, 255)] = it % 8 == 1 ? v : -v;
            }
        if (it % 4 == 2) memset(x + 256, 0, 256 * sizeof(float)); /* a zero block */
        if (it % 4 == 3) /* values at rounding ties of the scaled value */
            for (int i = 0; i < K; i++) x[i] = (float)irand(-254, 254) * 0.5f;
        memset(a, 0xAB, sizeof a);
        memset(b, 0xAB, sizeof b);
        dp_mm_act_quantize(DP_DTYPE_Q4_K, x, a, K);
        dp_mm_act_quantize_ref(DP_DTYPE_Q4_K, x, b, K);
        bad += memcmp(a, b, bytes) != 0;
    }
    CHECK_MSG(bad == 0, "q8_K activations: %d of 400 rows differ from the portable quantizer", bad);
}

/* ---- AMX tiles against the VNNI kernels, bit for bit ---- */

/* One product on the AMX set and on the VNNI set (same layout, same pool), plus accumulate:
 * every output bit-identical. */
static void check_amx_shape(const dp_mm_kernels *amx, const dp_mm_kernels *vnni, dp_pool *pool,
                            dp_dtype t, dp_cpu_wlayout lay, int n, int k, int m) {
    const size_t rb = row_bytes(t, k), ny = (size_t)n * (size_t)m;
    uint8_t *w = malloc(rb * (size_t)m);
    float *wf = malloc(sizeof(float) * (size_t)k), *x = malloc(sizeof(float) * (size_t)n * k);
    float *ya = malloc(sizeof(float) * ny), *yv = malloc(sizeof(float) * ny);
    dp_cpu_ws ws = {0};
    for (int r = 0; r < m; r++) make_random_row(t, w + (size_t)r * rb, wf, k, 1 + (float)(r % 5));
    for (size_t i = 0; i < (size_t)n * k; i++) x[i] = frand() * (i % 11 == 0 ? 8.f : 1.f);
    if (lay == DP_CPU_W_X8) CHECK(dp_cpu_x8_repack(t, k, m, w));
    for (int acc = 0; acc < 2; acc++) {
        for (size_t i = 0; i < ny; i++) ya[i] = yv[i] = (float)(i % 7) - 3.f;
        CHECK(dp_cpu_matmul_layout_with(amx, pool, &ws, ya, x, w, t, lay, n, k, m, acc) == DP_OK);
        CHECK(dp_cpu_matmul_layout_with(vnni, pool, &ws, yv, x, w, t, lay, n, k, m, acc) == DP_OK);
        size_t first = 0;
        const int bad = diff_count(ya, yv, ny, &first);
        CHECK_MSG(bad == 0, "amx %s%s n=%d k=%d m=%d acc=%d: %d of %zu differ from vnni, first [%zu] %.9g vs %.9g",
                  dp_dtype_name(t), lay == DP_CPU_W_X8 ? " x8" : "", n, k, m, acc, bad, ny, first,
                  (double)ya[first], (double)yv[first]);
    }
    dp_cpu_ws_free(&ws);
    free(w);
    free(wf);
    free(x);
    free(ya);
    free(yv);
}

static void check_amx(dp_pool *p2, dp_pool *p3) {
    const dp_mm_kernels *amx = dp_mm_kernels_amx(), *vnni = dp_mm_kernels_avx2_vnni();
    if (!dp_mm_amx_cpu()) {
        /* the fallback: no AMX set, and the best set is one without tiles */
        CHECK(amx == NULL);
        CHECK(dp_mm_kernels_best()->amx == NULL);
        printf("no AMX on this CPU: the AMX kernels are not used (best set: %s)\n", dp_mm_kernels_best()->name);
        return;
    }
    if (!amx) {
        CHECK_MSG(!getenv("CI"), "the CPU has AMX-INT8 but the AMX kernels are unusable (OS / arch_prctl)");
        t_skip_part("AMX: the CPU has it but the OS did not grant the tile state");
        return;
    }
    CHECK(vnni != NULL);
    if (!vnni) return;
    CHECK(getenv("DOPPLER_AMX") || dp_mm_kernels_best() == amx);
    const uint64_t runs0 = dp_mm_amx_runs();
    /* rows: whole 16-row panels, a tail of 8 + some (panel kernel + dot), of fewer than 8;
     * activation rows below the AMX threshold, odd counts, one and several pairs of tiles */
    static const int shapes[][3] = {{16, 256, 16}, {17, 768, 37}, {33, 512, 24}, {34, 256, 40},
                                    {64, 1024, 130}, {100, 512, 19}, {1, 256, 16}, {15, 512, 32},
                                    {600, 256, 21}, {47, 2048, 48}};
    for (int q = 0; q < 4; q++) {
        const dp_dtype t = q == 1 ? DP_DTYPE_Q6_K : q == 3 ? DP_DTYPE_Q5_K : DP_DTYPE_Q4_K;
        const dp_cpu_wlayout lay = q == 2 ? DP_CPU_W_X8 : DP_CPU_W_ROWS;
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            dp_pool *pool = si % 3 == 0 ? NULL : si % 3 == 1 ? p2 : p3;
            check_amx_shape(amx, vnni, pool, t, lay, shapes[si][0], shapes[si][1], shapes[si][2]);
        }
    }
    /* q6_K interleaved keeps its group kernel (another float order): still identical */
    check_amx_shape(amx, vnni, p2, DP_DTYPE_Q6_K, DP_CPU_W_X8, 40, 512, 24);
    const uint64_t runs = dp_mm_amx_runs() - runs0;
    CHECK_MSG(runs > 0, "the AMX kernel never ran");
    printf("AMX: %llu tile products, all bit-identical to %s\n", (unsigned long long)runs, vnni->name);
}

int main(void) {
    dp_pool *p2 = NULL, *p3 = NULL;
    dp_error e = {0};
    CHECK(dp_pool_new(2, &p2, &e) == DP_OK);
    CHECK(dp_pool_new(3, &p3, &e) == DP_OK);
    /* the AVX2 set is run twice: with its panel GEMM and with only its dot kernels */
    dp_mm_kernels rows_only = {"avx2-dots", {0}, NULL, NULL, NULL, {0}, NULL};
    const dp_mm_kernels *avx2 = dp_mm_kernels_avx2();
    if (avx2) memcpy(rows_only.dot, avx2->dot, sizeof rows_only.dot);
    if (avx2) memcpy(rows_only.x8, avx2->x8, sizeof rows_only.x8);
    const dp_mm_kernels *sets[7] = {dp_mm_kernels_generic(), avx2, avx2 ? &rows_only : NULL,
                                    dp_mm_kernels_avx2_vnni(), dp_mm_kernels_neon(),
                                    dp_mm_kernels_wasm(), dp_mm_kernels_amx()};
    static const int shapes[][3] = {{1, 256, 7}, {3, 512, 5}, {5, 768, 13}, {9, 256, 1},
                                    {4, 1024, 33}, {2, 256, 2}, {11, 512, 9}, {6, 256, 24},
                                    {2, 512, 8}, {7, 256, 17}, {3, 512, 16}, {40, 256, 24}};
    for (int s = 0; s < 7; s++) {
        const dp_mm_kernels *kern = sets[s];
        if (!kern) {
            if (s == 1 || s == 3)
                printf("%s kernels unavailable on this CPU: skipped\n", s == 1 ? "avx2" : "vnni");
            continue;
        }
        for (size_t ti = 0; ti < N_TYPES; ti++) {
            const dp_dtype t = all_types[ti];
            double worst = 0;
            for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
                const int n = shapes[si][0], k = shapes[si][1], m = shapes[si][2];
                dp_pool *pool = si % 3 == 0 ? NULL : si % 3 == 1 ? p2 : p3;
                check_exact(kern, pool, t, n, k, m);
                check_random(kern, pool, t, n, k, m, &worst);
            }
            if (!dp_dtype_is_quant(t)) { /* row lengths that are not a multiple of 8 or 16 */
                check_exact(kern, p2, t, 3, 37, 5);
                check_exact(kern, p2, t, 5, 8, 3);
                check_random(kern, p2, t, 6, 13, 4, &worst);
            } else if (dp_dtype_block_values(t) == 32) {
                check_exact(kern, p2, t, 3, 96, 5);
                check_random(kern, p3, t, 2, 1152, 11, &worst);
                check_random(kern, p2, t, 5, 32, 3, &worst);
            }
            printf("%-10s %-5s: max |fast - ref| / sum|w||x| = %.2e\n", kern->name,
                   dp_dtype_name(t), worst);
        }
        /* q4_K / q6_K with 8 rows interleaved: the shapes above, rows that are not a multiple
         * of 8 (row-major tail), 1..9 activation rows (group kernel, panel path) */
        static const int x8_shapes[][3] = {{1, 256, 8}, {1, 512, 67}, {2, 768, 19}, {3, 256, 40},
                                           {4, 512, 13}, {5, 256, 24}, {6, 1024, 31}, {7, 256, 9},
                                           {9, 512, 17}, {1, 256, 7}, {2, 256, 72}};
        g_lay = DP_CPU_W_X8;
        for (int q = 0; q < 2; q++) {
            const dp_dtype t = q ? DP_DTYPE_Q6_K : DP_DTYPE_Q4_K;
            double worst = 0;
            for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
                dp_pool *pool = si % 3 == 0 ? NULL : si % 3 == 1 ? p2 : p3;
                check_exact(kern, pool, t, shapes[si][0], shapes[si][1], shapes[si][2]);
                check_random(kern, pool, t, shapes[si][0], shapes[si][1], shapes[si][2], &worst);
            }
            for (size_t si = 0; si < sizeof x8_shapes / sizeof x8_shapes[0]; si++) {
                dp_pool *pool = si % 3 == 0 ? p3 : si % 3 == 1 ? NULL : p2;
                check_exact(kern, pool, t, x8_shapes[si][0], x8_shapes[si][1], x8_shapes[si][2]);
                check_random(kern, pool, t, x8_shapes[si][0], x8_shapes[si][1], x8_shapes[si][2], &worst);
            }
            printf("%-10s %-5s x8: max |fast - ref| / sum|w||x| = %.2e\n", kern->name,
                   dp_dtype_name(t), worst);
        }
        g_lay = DP_CPU_W_ROWS;
        check_multi_all(kern, p2, p3);
    }
    check_threads(p2, p3);
    check_rows_alone(p3);
    check_act_quantize();
    check_amx(p2, p3);
    dp_pool_free(p2);
    dp_pool_free(p3);
    return t_done("test_matmul");
}
