/* matmul.c — CPU matrix product driver, activation quantizers, the scalar reference and the
 * generic (portable C) kernels. Per-ISA kernels live in matmul_<isa>.c. */
#include "backend/cpu/matmul_impl.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "format/quant.h"

#if defined(__x86_64__) || defined(_M_X64)
#define DP_HAVE_AVX2_FILE 1
const dp_mm_kernels *dp_mm_avx2_table(int set); /* matmul_avx2.c: 0 AVX2, 1 + VNNI, 2 + AMX */
#if defined(__GNUC__)
#include <cpuid.h>
#define X86_AVX2 1 /* AVX2 + FMA + F16C, with the OS saving ymm state */
#define X86_VNNI 2 /* AVX-512 F/BW/VL/VNNI and BMI2, with the OS saving zmm state */
/* From CPUID and XGETBV directly (clang before 16 rejects some __builtin_cpu_supports names). */
static int x86_features_probe(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const bool osxsave = c & (1u << 27), avx = c & (1u << 28), fma = c & (1u << 12),
               f16c = c & (1u << 29);
    if (!osxsave || !avx || !fma || !f16c) return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    (void)hi;
    if ((lo & 0x6) != 0x6 || !__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    if (!(b & (1u << 5))) return 0;
    int f = X86_AVX2;
    const bool avx512 = (b & (1u << 16)) && (b & (1u << 30)) && (b & (1u << 31)) &&
                        (b & (1u << 8)) && (c & (1u << 11)) && (lo & 0xE6) == 0xE6;
    if (avx512) f |= X86_VNNI;
    return f;
}
/* CPUID is a hypervisor exit in a VM (tens of µs), so the features are probed once and kept:
 * -1 = not probed yet. Racing first callers store the same value. */
static _Atomic int x86_features_cache = -1;
static int x86_features(void) {
    int f = atomic_load_explicit(&x86_features_cache, memory_order_relaxed);
    if (f < 0) {
        f = x86_features_probe();
        atomic_store_explicit(&x86_features_cache, f, memory_order_relaxed);
    }
    return f;
}
#endif
#endif

#if defined(__aarch64__)
const dp_mm_kernels *dp_mm_neon_table(void); /* matmul_neon.c */
#endif
#if defined(__wasm_simd128__)
const dp_mm_kernels *dp_mm_wasm_table(void); /* matmul_wasm.c */
#endif

/* ==== activation formats ==== */

size_t dp_mm_act_row_bytes(dp_dtype wt, int k) {
    switch (dp_dtype_act_block(wt)) {
    case DP_QK8_0: return (size_t)(k / DP_QK8_0) * sizeof(dp_block_q8_0);
    case DP_QK_K: return (size_t)(k / DP_QK_K) * sizeof(dp_block_q8_k);
    default: return (size_t)k * sizeof(float);
    }
}

/* GGML's nearest_int: round to nearest even for |f| <= 4194303. */
static int nearest_int(float f) {
    float v = f + 12582912.f;
    int32_t i;
    memcpy(&i, &v, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

/* As llama.cpp's AVX2 quantize_row_q8_0: d = amax / 127 stored as f16, values scaled by
 * 127 / amax and rounded to nearest even. */
static void act_q8_0(const float *x, dp_block_q8_0 *y, int k) {
    for (int i = 0; i < k / DP_QK8_0; i++, x += DP_QK8_0) {
        float amax = 0;
        for (int j = 0; j < DP_QK8_0; j++) {
            const float a = fabsf(x[j]);
            amax = a > amax ? a : amax;
        }
        y[i].d = dp_f32_to_f16(amax / 127.f);
        const float id = amax != 0.0f ? 127.f / amax : 0.0f;
        for (int j = 0; j < DP_QK8_0; j++) y[i].qs[j] = (int8_t)nearest_int(x[j] * id);
    }
}

/* As GGML's quantize_row_q8_K_ref. */
static void act_q8_k(const float *x, dp_block_q8_k *y, int k) {
    for (int i = 0; i < k / DP_QK_K; i++, x += DP_QK_K) {
        float max = 0, amax = 0;
        for (int j = 0; j < DP_QK_K; j++) {
            const float ax = fabsf(x[j]);
            if (ax > amax) {
                amax = ax;
                max = x[j];
            }
        }
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < DP_QK_K; j++) {
            const int v = nearest_int(iscale * x[j]);
            y[i].qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int j = 0; j < DP_QK_K / 16; j++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += y[i].qs[j * 16 + l];
            y[i].bsums[j] = (int16_t)sum;
        }
        y[i].d = 1 / iscale;
    }
}

void dp_mm_act_quantize_ref(dp_dtype wt, const float *x, void *dst, int k) {
    switch (dp_dtype_act_block(wt)) {
    case DP_QK8_0: act_q8_0(x, dst, k); break;
    case DP_QK_K: act_q8_k(x, dst, k); break;
    default: memcpy(dst, x, (size_t)k * sizeof(float)); break;
    }
}

void dp_mm_act_quantize(dp_dtype wt, const float *x, void *dst, int k) {
#if defined(X86_VNNI)
    if (dp_dtype_act_block(wt) == DP_QK_K && (x86_features() & X86_VNNI)) {
        dp_mm_act_q8_k_avx512(x, dst, k); /* a tenth of the scalar loop's time */
        return;
    }
#endif
    dp_mm_act_quantize_ref(wt, x, dst, k);
}

void dp_mm_act_dequantize(dp_dtype wt, const void *src, float *x, int k) {
    if (dp_dtype_act_block(wt) == DP_QK8_0) {
        const dp_block_q8_0 *b = src;
        for (int i = 0; i < k; i++) x[i] = dp_f16_to_f32(b[i / DP_QK8_0].d) * b[i / DP_QK8_0].qs[i % DP_QK8_0];
    } else if (dp_dtype_act_block(wt) == DP_QK_K) {
        const dp_block_q8_k *b = src;
        for (int i = 0; i < k; i++) x[i] = b[i / DP_QK_K].d * b[i / DP_QK_K].qs[i % DP_QK_K];
    } else {
        memcpy(x, src, (size_t)k * sizeof(float));
    }
}

/* ==== the scalar reference ==== */

/* Dequantizes each weight row block by block (no allocation) and accumulates in double. */
void dp_cpu_matmul_ref(float *y, const float *x, const void *w, dp_dtype wt, int n, int k, int m,
                       bool accumulate) {
    uint64_t row_bytes;
    if (n <= 0 || m <= 0 || k <= 0 || !dp_dtype_row_bytes(wt, (uint64_t)k, &row_bytes)) return;
    const size_t bv = dp_dtype_block_values(wt), bb = dp_dtype_block_bytes(wt);
    const size_t chunk_vals = bv > 1 ? bv : 256; /* plain types: 256 values at a time */
    float tmp[256];
    for (int r = 0; r < m; r++) {
        const uint8_t *wr = (const uint8_t *)w + (size_t)r * row_bytes;
        for (int c = 0; c < n; c++) {
            const float *xr = x + (size_t)c * (size_t)k;
            double sum = 0;
            for (size_t i = 0; i < (size_t)k; i += chunk_vals) {
                const size_t nv = (size_t)k - i < chunk_vals ? (size_t)k - i : chunk_vals;
                dp_dequant_row(wt, wr + i / bv * bb, tmp, nv);
                for (size_t j = 0; j < nv; j++) sum += (double)tmp[j] * (double)xr[i + j];
            }
            float *yo = y + (size_t)c * (size_t)m + r;
            *yo = accumulate ? *yo + (float)sum : (float)sum;
        }
    }
}

/* ==== generic kernels (portable C, integer dot products) ==== */

static float f16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return dp_f16_to_f32(h);
}

static void k4_scale_min(int j, const uint8_t *q, int *sc, int *mn) {
    if (j < 4) {
        *sc = q[j] & 63;
        *mn = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *mn = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

static void gen_dot_f32(int k, const void *w, const void *x, size_t xs, int nc, float *s) {
    const float *wf = w;
    for (int c = 0; c < nc; c++) {
        const float *xf = (const float *)((const uint8_t *)x + (size_t)c * xs);
        float acc[8] = {0};
        int i = 0;
        for (; i + 8 <= k; i += 8)
            for (int l = 0; l < 8; l++) acc[l] += wf[i + l] * xf[i + l];
        for (; i < k; i++) acc[0] += wf[i] * xf[i];
        s[c] = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    }
}

static void gen_dot_half(int k, const void *w, const void *x, size_t xs, int nc, float *s,
                         bool bf16) {
    float buf[256];
    const uint8_t *wb = w;
    for (int c = 0; c < nc; c++) s[c] = 0;
    for (int i = 0; i < k; i += 256) {
        const int nv = k - i < 256 ? k - i : 256;
        dp_dequant_row(bf16 ? DP_DTYPE_BF16 : DP_DTYPE_F16, wb + 2 * (size_t)i, buf, (size_t)nv);
        for (int c = 0; c < nc; c++) {
            float part;
            gen_dot_f32(nv, buf, (const float *)((const uint8_t *)x + (size_t)c * xs) + i, 0, 1,
                        &part);
            s[c] += part;
        }
    }
}

static void gen_dot_f16(int k, const void *w, const void *x, size_t xs, int nc, float *s) {
    gen_dot_half(k, w, x, xs, nc, s, false);
}
static void gen_dot_bf16(int k, const void *w, const void *x, size_t xs, int nc, float *s) {
    gen_dot_half(k, w, x, xs, nc, s, true);
}

/* The 32-value forms (quant.h) x q8_0: Σ_blocks d dx Σ level q8 (+ m dx Σ q8) */
static void gen_dot_q32(dp_dtype wt, int k, const void *w, const void *x, size_t xs, int nc,
                        float *s) {
    const dp_q32_form form = dp_q32_form_of(wt), *f = &form;
    const int nb = k / 32;
    int8_t lv[32];
    for (int c = 0; c < nc; c++) {
        const dp_block_q8_0 *xb = (const dp_block_q8_0 *)((const uint8_t *)x + (size_t)c * xs);
        const uint8_t *wb = w;
        float sum = 0;
        for (int i = 0; i < nb; i++, wb += f->bytes) {
            dp_q32_levels(f, wb, lv);
            int isum = 0, xsum = 0;
            for (int j = 0; j < 32; j++) {
                isum += lv[j] * xb[i].qs[j];
                xsum += xb[i].qs[j];
            }
            const float dx = dp_f16_to_f32(xb[i].d);
            sum += (float)isum * (f16(wb) * dx);
            if (f->min) sum += f16(wb + 2) * dx * (float)xsum;
        }
        s[c] = sum;
    }
}


/* q2_K / q3_K / iq4_xs (groups of 16, quant.h) x q8_K: Σ d dx (Σ_g sc Σ lv q8 - dmin Σ_g mn bsum) */
static void gen_dot_qk(dp_dtype wt, int k, const void *w, const void *x, size_t xs, int nc,
                       float *s) {
    const size_t bb = dp_dtype_block_bytes(wt);
    dp_qk_groups q;
    for (int c = 0; c < nc; c++) s[c] = 0;
    for (int i = 0; i < k / DP_QK_K; i++) {
        dp_qk_decode(wt, (const uint8_t *)w + (size_t)i * bb, &q);
        for (int c = 0; c < nc; c++) {
            const dp_block_q8_k *xb = (const dp_block_q8_k *)((const uint8_t *)x + (size_t)c * xs) + i;
            int32_t sumi = 0, summ = 0;
            for (int g = 0; g < 16; g++) {
                int32_t isum = 0;
                for (int l = 0; l < 16; l++) isum += q.lv[16 * g + l] * xb->qs[16 * g + l];
                sumi += q.sc[g] * isum;
                summ += q.mn[g] * xb->bsums[g];
            }
            s[c] += xb->d * q.d * (float)sumi - xb->d * q.dmin * (float)summ;
        }
    }
}

/* the dot kernel of one type from a kernel taking the type */
#define GEN_DOT(name, fn, type)                                                               \
    static void name(int k, const void *w, const void *x, size_t xs, int nc, float *s) {      \
        fn(type, k, w, x, xs, nc, s);                                                         \
    }
GEN_DOT(gen_dot_q4_0, gen_dot_q32, DP_DTYPE_Q4_0)
GEN_DOT(gen_dot_q4_1, gen_dot_q32, DP_DTYPE_Q4_1)
GEN_DOT(gen_dot_q5_0, gen_dot_q32, DP_DTYPE_Q5_0)
GEN_DOT(gen_dot_q5_1, gen_dot_q32, DP_DTYPE_Q5_1)
GEN_DOT(gen_dot_iq4_nl, gen_dot_q32, DP_DTYPE_IQ4_NL)
GEN_DOT(gen_dot_q2_k, gen_dot_qk, DP_DTYPE_Q2_K)
GEN_DOT(gen_dot_q3_k, gen_dot_qk, DP_DTYPE_Q3_K)
GEN_DOT(gen_dot_iq4_xs, gen_dot_qk, DP_DTYPE_IQ4_XS)

static void gen_dot_q8_0(int k, const void *w, const void *x, size_t xs, int nc, float *s) {
    const int nb = k / DP_QK8_0;
    for (int c = 0; c < nc; c++) {
        const dp_block_q8_0 *xb = (const dp_block_q8_0 *)((const uint8_t *)x + (size_t)c * xs);
        const uint8_t *wb = w;
        float sum = 0;
        for (int i = 0; i < nb; i++, wb += 34) {
            const int8_t *q = (const int8_t *)(wb + 2);
            int isum = 0;
            for (int j = 0; j < DP_QK8_0; j++) isum += q[j] * xb[i].qs[j];
            sum += (float)isum * (f16(wb) * dp_f16_to_f32(xb[i].d));
        }
        s[c] = sum;
    }
}

/* q4_K / q5_K: Σ_sub (d*sc_j * Σ q*x8) - dmin * Σ_sub m_j * Σ x8 */
static void gen_dot_q45k(int k, const void *w, const void *x, size_t xs, int nc, float *s,
                         bool five) {
    const int nb = k / DP_QK_K;
    const size_t bb = five ? 176 : 144;
    for (int c = 0; c < nc; c++) {
        const dp_block_q8_k *xb = (const dp_block_q8_k *)((const uint8_t *)x + (size_t)c * xs);
        const uint8_t *wb = w;
        float sum = 0;
        for (int i = 0; i < nb; i++, wb += bb) {
            const uint8_t *scales = wb + 4, *qh = wb + 16, *qs = wb + (five ? 48 : 16);
            const int8_t *q8 = xb[i].qs;
            int32_t sumi = 0, summ = 0;
            for (int j = 0; j < 8; j++) {
                int sc, mn;
                k4_scale_min(j, scales, &sc, &mn);
                const uint8_t *q = qs + 32 * (j / 2);
                const int shift = 4 * (j & 1);
                int32_t isum = 0;
                for (int l = 0; l < 32; l++) {
                    int v = (q[l] >> shift) & 0xF;
                    if (five) v |= ((qh[l] >> j) & 1) << 4;
                    isum += v * q8[32 * j + l];
                }
                sumi += sc * isum;
                summ += mn * (xb[i].bsums[2 * j] + xb[i].bsums[2 * j + 1]);
            }
            const float d = xb[i].d * f16(wb), dmin = xb[i].d * f16(wb + 2);
            sum += d * (float)sumi - dmin * (float)summ;
        }
        s[c] = sum;
    }
}

static void gen_dot_q4_k(int k, const void *w, const void *x, size_t xs, int nc, float *s) {
    gen_dot_q45k(k, w, x, xs, nc, s, false);
}
static void gen_dot_q5_k(int k, const void *w, const void *x, size_t xs, int nc, float *s) {
    gen_dot_q45k(k, w, x, xs, nc, s, true);
}

static void gen_dot_q6_k(int k, const void *w, const void *x, size_t xs, int nc, float *s) {
    const int nb = k / DP_QK_K;
    for (int c = 0; c < nc; c++) {
        const dp_block_q8_k *xb = (const dp_block_q8_k *)((const uint8_t *)x + (size_t)c * xs);
        const uint8_t *wb = w;
        float sum = 0;
        for (int i = 0; i < nb; i++, wb += 210) {
            const int8_t *sc = (const int8_t *)(wb + 192);
            int32_t sumi = 0;
            for (int h = 0; h < 2; h++) { /* two halves of 128 values */
                const uint8_t *ql = wb + 64 * h, *qh = wb + 128 + 32 * h;
                const int8_t *q8 = xb[i].qs + 128 * h;
                for (int g = 0; g < 4; g++) { /* 4 groups of 32 values */
                    for (int half = 0; half < 2; half++) { /* 16-value sub-blocks */
                        int32_t isum = 0;
                        for (int l = 16 * half; l < 16 * half + 16; l++) {
                            const int lo = g & 1 ? ql[l + 32] : ql[l];
                            const int v = (((g < 2 ? lo & 0xF : lo >> 4)) |
                                           (((qh[l] >> (2 * g)) & 3) << 4)) - 32;
                            isum += v * q8[32 * g + l];
                        }
                        sumi += sc[8 * h + 2 * g + half] * isum;
                    }
                }
            }
            sum += xb[i].d * f16(wb + 208) * (float)sumi;
        }
        s[c] = sum;
    }
}

static const dp_mm_kernels generic_kernels = {
    "generic",
    {
        [DP_DTYPE_F32] = gen_dot_f32,
        [DP_DTYPE_F16] = gen_dot_f16,
        [DP_DTYPE_BF16] = gen_dot_bf16,
        [DP_DTYPE_Q8_0] = gen_dot_q8_0,
        [DP_DTYPE_Q4_K] = gen_dot_q4_k,
        [DP_DTYPE_Q5_K] = gen_dot_q5_k,
        [DP_DTYPE_Q6_K] = gen_dot_q6_k,
        [DP_DTYPE_Q4_0] = gen_dot_q4_0,
        [DP_DTYPE_Q4_1] = gen_dot_q4_1,
        [DP_DTYPE_Q5_0] = gen_dot_q5_0,
        [DP_DTYPE_Q5_1] = gen_dot_q5_1,
        [DP_DTYPE_IQ4_NL] = gen_dot_iq4_nl,
        [DP_DTYPE_Q2_K] = gen_dot_q2_k,
        [DP_DTYPE_Q3_K] = gen_dot_q3_k,
        [DP_DTYPE_IQ4_XS] = gen_dot_iq4_xs,
    },
    NULL, NULL, NULL,
    {NULL}, /* no x8 kernels: x8 weights take dp_mm_x8_dot_generic; never repacked for */
    NULL,
};

const dp_mm_kernels *dp_mm_kernels_generic(void) { return &generic_kernels; }

/* ==== DP_CPU_W_X8: 8 rows interleaved (layout in matmul_impl.h) ==== */

static size_t x8_rec_bytes(dp_dtype wt) {
    return wt == DP_DTYPE_Q4_K ? 8 * 144 : wt == DP_DTYPE_Q6_K ? 8 * 210 : 0;
}

/* Block b of each of the 8 rows (blk[r]) into a group of nb blocks a row. */
static void x8_pack_block(dp_dtype wt, const uint8_t *const blk[8], uint8_t *grp, int nb, int b) {
    for (int r = 0; r < 8; r++) {
        const uint8_t *q = blk[r];
        if (wt == DP_DTYPE_Q4_K) {
            uint8_t *rec = grp + (size_t)b * 8 * 144;
            memcpy(rec + 2 * r, q, 2);
            memcpy(rec + 16 + 2 * r, q + 2, 2);
            for (int w = 0; w < 3; w++) memcpy(rec + 32 + 32 * w + 4 * r, q + 4 + 4 * w, 4);
            for (int p = 0; p < 16; p++) memcpy(rec + DP_MM_X8_Q4K_QS + 64 * p + 8 * r, q + 16 + 8 * p, 8);
        } else {
            size_t lo, ho;
            dp_mm_x8_q6k_at(nb, b, &lo, &ho);
            uint8_t *lv = grp + lo, *hd = grp + ho;
            memcpy(hd + 2 * r, q + 208, 2);
            for (int p = 0; p < 8; p++) memcpy(hd + 16 + 16 * p + 2 * r, q + 192 + 2 * p, 2);
            for (int p = 0; p < 16; p++) memcpy(lv + DP_MM_X8_Q6K_QL(p) + 8 * r, q + 8 * p, 8);
            for (int p = 0; p < 8; p++) memcpy(lv + DP_MM_X8_Q6K_QH(p) + 8 * r, q + 128 + 8 * p, 8);
        }
    }
}

/* ql / qh / qs pieces are numbered so that piece p holds the row's bytes 8p..8p+7 of that
 * array: the interleave is a transpose of 8-byte words, undone the same way. */
void dp_mm_x8_block(dp_dtype wt, const uint8_t *grp, int nb, int b, int r, uint8_t *q) {
    if (wt == DP_DTYPE_Q4_K) {
        const uint8_t *rec = grp + (size_t)b * 8 * 144;
        memcpy(q, rec + 2 * r, 2);
        memcpy(q + 2, rec + 16 + 2 * r, 2);
        for (int w = 0; w < 3; w++) memcpy(q + 4 + 4 * w, rec + 32 + 32 * w + 4 * r, 4);
        for (int p = 0; p < 16; p++) memcpy(q + 16 + 8 * p, rec + DP_MM_X8_Q4K_QS + 64 * p + 8 * r, 8);
    } else {
        size_t lo, ho;
        dp_mm_x8_q6k_at(nb, b, &lo, &ho);
        const uint8_t *lv = grp + lo, *hd = grp + ho;
        memcpy(q + 208, hd + 2 * r, 2);
        for (int p = 0; p < 8; p++) memcpy(q + 192 + 2 * p, hd + 16 + 16 * p + 2 * r, 2);
        for (int p = 0; p < 16; p++) memcpy(q + 8 * p, lv + DP_MM_X8_Q6K_QL(p) + 8 * r, 8);
        for (int p = 0; p < 8; p++) memcpy(q + 128 + 8 * p, lv + DP_MM_X8_Q6K_QH(p) + 8 * r, 8);
    }
}

bool dp_cpu_x8_repack(dp_dtype wt, int k, int m, void *w) {
    const size_t rec = x8_rec_bytes(wt);
    if (!rec || k <= 0 || k % DP_QK_K || m < DP_MM_X8 || !w) return false;
    const int nb = k / DP_QK_K;
    const size_t bb = rec / 8, rb = (size_t)nb * bb, gb = 8 * rb;
    uint8_t *tmp = dp_malloc(gb);
    if (!tmp) return false;
    for (int g = 0; g < m / DP_MM_X8; g++) {
        uint8_t *grp = (uint8_t *)w + (size_t)g * gb;
        memcpy(tmp, grp, gb);
        for (int b = 0; b < nb; b++) {
            const uint8_t *blk[8];
            for (int r = 0; r < 8; r++) blk[r] = tmp + (size_t)r * rb + (size_t)b * bb;
            x8_pack_block(wt, blk, grp, nb, b);
        }
    }
    dp_free(tmp);
    return true;
}

void dp_cpu_weight_block(const void *w, dp_dtype wt, dp_cpu_wlayout lay, int k, int m, int r,
                         int b, void *dst) {
    const size_t bb = dp_dtype_block_bytes(wt), rb = (size_t)(k / (int)dp_dtype_block_values(wt)) * bb;
    const uint8_t *wb = w;
    if (lay == DP_CPU_W_X8 && r < m / DP_MM_X8 * DP_MM_X8)
        dp_mm_x8_block(wt, wb + (size_t)(r / 8) * 8 * rb, k / DP_QK_K, b, r % 8, dst);
    else
        memcpy(dst, wb + (size_t)r * rb + (size_t)b * bb, bb);
}

void dp_mm_x8_dot_generic(dp_dtype wt, int k, const void *w, const void *x, size_t xs, int nc,
                          float *s) {
    const int nb = k / DP_QK_K;
    const dp_mm_dot_fn dot = wt == DP_DTYPE_Q4_K ? gen_dot_q4_k : gen_dot_q6_k;
    uint8_t blk[210];
    for (int r = 0; r < 8; r++)
        for (int c = 0; c < nc; c++) {
            const uint8_t *xc = (const uint8_t *)x + (size_t)c * xs;
            float sum = 0, part;
            for (int b = 0; b < nb; b++) { /* the same float sums as the row-major dot */
                dp_mm_x8_block(wt, w, nb, b, r, blk);
                dot(DP_QK_K, blk, xc + (size_t)b * sizeof(dp_block_q8_k), 0, 1, &part);
                sum += part;
            }
            s[c * DP_MM_X8 + r] = sum;
        }
}

static void gen_x8_q4_k(int k, const void *w, const void *x, size_t xs, int nc, float *s) {
    dp_mm_x8_dot_generic(DP_DTYPE_Q4_K, k, w, x, xs, nc, s);
}
static void gen_x8_q6_k(int k, const void *w, const void *x, size_t xs, int nc, float *s) {
    dp_mm_x8_dot_generic(DP_DTYPE_Q6_K, k, w, x, xs, nc, s);
}

const dp_mm_kernels *dp_mm_kernels_avx2(void) {
#if defined(DP_HAVE_AVX2_FILE) && defined(__GNUC__)
    if (x86_features() & X86_AVX2) return dp_mm_avx2_table(0);
#endif
    return NULL;
}

const dp_mm_kernels *dp_mm_kernels_avx2_vnni(void) {
#if defined(DP_HAVE_AVX2_FILE) && defined(__GNUC__)
    if ((x86_features() & (X86_AVX2 | X86_VNNI)) == (X86_AVX2 | X86_VNNI)) return dp_mm_avx2_table(1);
#endif
    return NULL;
}

const dp_mm_kernels *dp_mm_kernels_amx(void) {
#if defined(DP_HAVE_AVX2_FILE) && defined(__GNUC__)
    if (dp_mm_kernels_avx2_vnni() && dp_mm_amx_usable()) return dp_mm_avx2_table(2);
#endif
    return NULL;
}

const dp_mm_kernels *dp_mm_kernels_neon(void) {
#if defined(__aarch64__)
    return dp_mm_neon_table();
#else
    return NULL;
#endif
}

const dp_mm_kernels *dp_mm_kernels_wasm(void) {
#if defined(__wasm_simd128__)
    return dp_mm_wasm_table();
#else
    return NULL;
#endif
}

/* DOPPLER_AMX=0 in the environment keeps the AMX kernels out (they are bit-identical to the
 * VNNI set's, so this only changes speed). */
static bool mm_amx_wanted(void) {
    const char *e = getenv("DOPPLER_AMX");
    return !e || strcmp(e, "0") != 0;
}

static const dp_mm_kernels *mm_kernels_pick(void) {
    const dp_mm_kernels *k = mm_amx_wanted() ? dp_mm_kernels_amx() : NULL;
    if (!k) k = dp_mm_kernels_avx2_vnni();
    if (!k) k = dp_mm_kernels_avx2();
    if (!k) k = dp_mm_kernels_neon();
    if (!k) k = dp_mm_kernels_wasm();
    return k ? k : dp_mm_kernels_generic();
}

/* Picked once: the tables are static constants, so a relaxed pointer is enough. */
static _Atomic(const dp_mm_kernels *) mm_best_cache;

const dp_mm_kernels *dp_mm_kernels_best(void) {
    const dp_mm_kernels *k = atomic_load_explicit(&mm_best_cache, memory_order_relaxed);
    if (!k) {
        k = mm_kernels_pick();
        atomic_store_explicit(&mm_best_cache, k, memory_order_relaxed);
    }
    return k;
}

/* q6_K weights stay row-major. The x8 kernels compute 1.6x faster in cache, but streaming from
 * memory (bench_gemv --type q6_k, 1 thread, CPU clock, both kernels prefetching 2 KiB ahead into
 * L2) the row kernel reads 8.9-9.5 GB/s and the x8 one 7.8-8.8; without the prefetch the x8
 * layout led (8.0 vs 6.5). Repacking also costs the prompt path a group unpack and turns the
 * mapped q6_K pages into private copies. -DDP_MM_X8_Q6K_PREFERRED=1 repacks q6_K too. */
#ifndef DP_MM_X8_Q6K_PREFERRED
#define DP_MM_X8_Q6K_PREFERRED 0
#endif

bool dp_cpu_x8_preferred(dp_dtype wt) {
    return (wt == DP_DTYPE_Q4_K || (DP_MM_X8_Q6K_PREFERRED && wt == DP_DTYPE_Q6_K)) &&
           dp_mm_kernels_best()->x8[wt];
}

/* ==== driver ==== */

#define MM_ROW_BLOCK 16   /* weight rows kept hot while every activation tile passes over them */
/* Below this many activation rows the panel repacking costs more than it saves (measured on
 * Zen 4: q4_K/q5_K panels win from 3 rows, q6_K's from about 6). q6_K starts at 34 rows instead:
 * the panel kernel sums in another order than the dot kernel, so from 6 rows the logits of a
 * pass through a q6_K LM head (Q4_K_M's) differed from a one-row pass by ~1e-5, and greedy
 * speculative decoding, whose verification pass is up to 33 rows (K <= 32), could pick another
 * token at a near-tie than plain decode (seen on a synthesized 278M target at K = 5, 6). Below
 * 34 rows every row's sums are those of a one-row pass; prefill chunks (512) keep the panels. */
#define MM_PANEL_MIN_N(wt) ((wt) == DP_DTYPE_Q6_K ? 34 : 3)
/* x8-interleaved weights (DP_CPU_W_X8) must be unpacked to rows before a panel is packed, so
 * the group kernel, which reads them as they are, stays faster up to many more rows (measured
 * on the 21M q4_K_M target, 1 thread: see docs/BENCHMARKS.md, speculative decoding) */
#ifndef MM_PANEL_MIN_N_X8
#define MM_PANEL_MIN_N_X8 1000000
#endif
static int mm_panel_min_n(dp_dtype wt, dp_cpu_wlayout lay) {
    return lay == DP_CPU_W_X8 ? MM_PANEL_MIN_N_X8 : MM_PANEL_MIN_N(wt);
}

typedef struct mm_job {
    const dp_mm_kernels *kern;
    dp_mm_dot_fn dot;
    dp_mm_x8_fn x8;     /* DP_CPU_W_X8 weights: the group kernel; NULL for row-major */
    dp_dtype wt;
    float *y;
    const float *x;
    uint8_t *xa;        /* converted activations (or x itself for f32 types) */
    size_t xa_stride;
    const uint8_t *w;
    size_t w_stride;
    int n, k, m;
    bool acc;
    uint8_t *panels;    /* per-thread panel scratch (NULL: no panel path) */
    size_t panel_bytes;
    size_t panel_stride; /* per-thread scratch: the panel, then (x8 weights) 8 rows unpacked */
    int amx_rows;       /* rows [0, amx_rows) go through kern->amx (0: none) */
    uint8_t *amx_act;   /* the activations in kern->amx's tile layout */
    uint8_t *amx_scratch; /* per-thread, amx_stride bytes each */
    size_t amx_stride;
} mm_job;

static void mm_quantize_task(void *arg, int ith, int nth) {
    mm_job *j = arg;
    const int r0 = (int)((int64_t)j->n * ith / nth), r1 = (int)((int64_t)j->n * (ith + 1) / nth);
    for (int r = r0; r < r1; r++)
        dp_mm_act_quantize(j->wt, j->x + (size_t)r * (size_t)j->k, j->xa + (size_t)r * j->xa_stride,
                           j->k);
}

/* The set's dot kernel for wt, the generic one where the set has none (NEON and wasm SIMD
 * leave the less common block types to it). */
static dp_mm_dot_fn mm_dot_fn(const dp_mm_kernels *kern, dp_dtype wt) {
    return kern->dot[wt] ? kern->dot[wt] : generic_kernels.dot[wt];
}

static dp_mm_x8_fn mm_x8_fn(const dp_mm_kernels *kern, dp_dtype wt, dp_cpu_wlayout lay) {
    if (lay != DP_CPU_W_X8) return NULL;
    if (kern->x8[wt]) return kern->x8[wt];
    return wt == DP_DTYPE_Q4_K ? gen_x8_q4_k : gen_x8_q6_k;
}

/* Weight rows [r0, r1) with the dot kernel, blocked so MM_ROW_BLOCK rows stay in cache. */
static void mm_rows(const mm_job *j, int r0, int r1) {
    float s[DP_MM_NC];

    for (int rb = r0; rb < r1; rb += MM_ROW_BLOCK) {
        const int re = rb + MM_ROW_BLOCK < r1 ? rb + MM_ROW_BLOCK : r1;
        for (int c = 0; c < j->n; c += DP_MM_NC) {
            const int nc = j->n - c < DP_MM_NC ? j->n - c : DP_MM_NC;
            const uint8_t *xa = j->xa + (size_t)c * j->xa_stride;
            for (int r = rb; r < re; r++) {
                j->dot(j->k, j->w + (size_t)r * j->w_stride, xa, j->xa_stride, nc, s);
                float *yo = j->y + (size_t)c * (size_t)j->m + r;
                for (int q = 0; q < nc; q++, yo += j->m) *yo = j->acc ? *yo + s[q] : s[q];
            }
        }
    }
}

/* Groups [g0, g1) of an x8 weight with the group kernel. */
static void mm_groups(const mm_job *j, int g0, int g1) {
    float s[DP_MM_NC * DP_MM_X8];
    for (int g = g0; g < g1; g++) {
        const uint8_t *wg = j->w + (size_t)g * DP_MM_X8 * j->w_stride;
        for (int c = 0; c < j->n; c += DP_MM_NC) {
            const int nc = j->n - c < DP_MM_NC ? j->n - c : DP_MM_NC;
            j->x8(j->k, wg, j->xa + (size_t)c * j->xa_stride, j->xa_stride, nc, s);
            for (int q = 0; q < nc; q++) {
                float *yo = j->y + (size_t)(c + q) * (size_t)j->m + (size_t)g * DP_MM_X8;
                const float *sq = s + q * DP_MM_X8;
                if (j->acc)
                    for (int r = 0; r < DP_MM_X8; r++) yo[r] += sq[r];
                else
                    memcpy(yo, sq, sizeof(float) * DP_MM_X8);
            }
        }
    }
}

/* Rows [r0, r1) (r0 a multiple of 8) of any layout. */
static void mm_range(const mm_job *j, int r0, int r1) {
    if (!j->x8) {
        mm_rows(j, r0, r1);
        return;
    }
    const int gend = j->m / DP_MM_X8 * DP_MM_X8; /* rows past gend stay row-major */
    const int ge = r1 < gend ? r1 : gend;
    if (r0 < ge) mm_groups(j, r0 / DP_MM_X8, ge / DP_MM_X8);
    if (r1 > gend) mm_rows(j, r0 > gend ? r0 : gend, r1);
}

/* Threads take whole units of 8 rows (an x8 group; the row-major rows the same way). */
static int mm_units(int m) { return (m + DP_MM_X8 - 1) / DP_MM_X8; }

/* Panels [p0, p1) of DP_MM_PANEL_ROWS rows with the panel kernels (thread ith's scratch). */
static void mm_panels(const mm_job *j, int p0, int p1, int ith) {
    uint8_t *panel = j->panels + (size_t)ith * j->panel_stride;
    uint8_t *rows = panel + j->panel_bytes; /* x8 weights: the panel's 8 rows, row-major */
    const size_t bb = dp_dtype_block_bytes(j->wt);
    const int nb = j->k / (int)dp_dtype_block_values(j->wt);
    for (int p = p0; p < p1; p++) {
        const int r = p * DP_MM_PANEL_ROWS;
        if (j->x8) { /* panel p is group p: rebuild its rows, then pack as usual */
            const uint8_t *wg = j->w + (size_t)r * j->w_stride;
            for (int b = 0; b < nb; b++)
                for (int q = 0; q < DP_MM_X8; q++)
                    dp_mm_x8_block(j->wt, wg, nb, b, q, rows + (size_t)q * j->w_stride + (size_t)b * bb);
            j->kern->panel_pack(j->wt, j->k, rows, j->w_stride, panel);
        } else {
            j->kern->panel_pack(j->wt, j->k, j->w + (size_t)r * j->w_stride, j->w_stride, panel);
        }
        for (int c = 0; c < j->n; c += DP_MM_NC) {
            const int nc = j->n - c < DP_MM_NC ? j->n - c : DP_MM_NC;
            j->kern->panel_tile(j->wt, j->k, panel, j->xa + (size_t)c * j->xa_stride, j->xa_stride,
                                nc, j->y + (size_t)c * (size_t)j->m + r, (size_t)j->m, j->acc);
        }
    }
}

/* Rows [r0, m) (r0 a multiple of 8) the way they go without AMX, on thread ith alone. */
static void mm_rest(const mm_job *j, int r0, int ith) {
    if (!j->panels) {
        mm_range(j, r0, j->m);
        return;
    }
    const int np = j->m / DP_MM_PANEL_ROWS;
    mm_panels(j, r0 / DP_MM_PANEL_ROWS, np, ith);
    mm_rows(j, np * DP_MM_PANEL_ROWS, j->m);
}

static void mm_task(void *arg, int ith, int nth) {
    mm_job *j = arg;
    if (j->amx_rows) { /* whole AMX panels per thread, the rows past them on the last thread */
        const int np = j->amx_rows / DP_MM_AMX_ROWS;
        const int p0 = (int)((int64_t)np * ith / nth), p1 = (int)((int64_t)np * (ith + 1) / nth);
        if (p0 < p1)
            j->kern->amx->rows(j->wt, j->x8 ? DP_CPU_W_X8 : DP_CPU_W_ROWS, j->k, j->w, j->w_stride,
                               p0 * DP_MM_AMX_ROWS, p1 * DP_MM_AMX_ROWS, j->amx_act, j->n, j->y,
                               (size_t)j->m, j->acc, j->amx_scratch + (size_t)ith * j->amx_stride);
        if (ith == nth - 1 && j->amx_rows < j->m) mm_rest(j, j->amx_rows, ith);
        return;
    }
    if (!j->panels) {
        const int u = mm_units(j->m);
        const int r0 = (int)((int64_t)u * ith / nth) * DP_MM_X8;
        int r1 = (int)((int64_t)u * (ith + 1) / nth) * DP_MM_X8;
        if (r1 > j->m) r1 = j->m;
        if (r0 < r1) mm_range(j, r0, r1);
        return;
    }
    /* whole panels per thread; the rows past the last whole panel go through the dot kernel */
    const int np = j->m / DP_MM_PANEL_ROWS;
    mm_panels(j, (int)((int64_t)np * ith / nth), (int)((int64_t)np * (ith + 1) / nth), ith);
    if (ith == nth - 1) mm_rows(j, np * DP_MM_PANEL_ROWS, j->m);
}

static void mm_amx_act_task(void *arg, int ith, int nth) {
    mm_job *j = arg;
    j->kern->amx->act_pack(j->wt, j->k, j->xa, j->xa_stride, j->n, ith, nth, j->amx_act);
}

/* Grows the workspace to at least need bytes (contents are not kept). */
static bool ws_reserve(dp_cpu_ws *ws, size_t need) {
    if (ws->cap >= need) return true;
    dp_free(ws->data);
    ws->data = dp_malloc(need);
    ws->cap = ws->data ? need : 0;
    return ws->data != NULL;
}

static bool mm_layout_ok(dp_dtype wt, dp_cpu_wlayout lay) {
    return lay == DP_CPU_W_ROWS || (lay == DP_CPU_W_X8 && x8_rec_bytes(wt));
}

static bool mm_panel_ok(const dp_mm_kernels *kern, dp_dtype wt, dp_cpu_wlayout lay, int n, int k,
                        int m) {
    return kern->panel_bytes && n >= mm_panel_min_n(wt, lay) && m >= DP_MM_PANEL_ROWS &&
           kern->panel_bytes(wt, k);
}

/* Activation rows from which the AMX tiles beat the VNNI kernels. A pass takes 32 rows (fewer
 * are padded): a 2048 x 2048 q4_K product, 1 thread, thread CPU time, VNNI x8 kernel / AMX:
 * 16 rows 0.47 / 0.67 ms, 24 rows 0.70 / 0.69, 32 rows 0.92 / 0.69, 64 rows 1.88 / 0.94. */
#ifndef MM_AMX_MIN_N
#define MM_AMX_MIN_N 24
#endif
/* AMX only where its sums are bit-identical to the path it replaces: the x8 group kernel of
 * q4_K (same float steps as the panel kernel), the panel kernel of row-major weights (q6_K's
 * x8 group kernel sums in another order). */
static bool mm_amx_ok(const dp_mm_kernels *kern, dp_dtype wt, dp_cpu_wlayout lay, int n, int k,
                      int m) {
    if (!kern->amx || n < MM_AMX_MIN_N || m < DP_MM_AMX_ROWS || !kern->amx->act_bytes(wt, n, k))
        return false;
    return lay == DP_CPU_W_X8 ? wt == DP_DTYPE_Q4_K : mm_panel_ok(kern, wt, lay, n, k, m);
}

dp_status dp_cpu_matmul_layout_with(const dp_mm_kernels *kern, dp_pool *pool, dp_cpu_ws *ws,
                                    float *y, const float *x, const void *w, dp_dtype wt,
                                    dp_cpu_wlayout lay, int n, int k, int m, bool accumulate) {
    uint64_t row_bytes;
    if (n < 0 || k <= 0 || m < 0 || (unsigned)wt >= DP_DTYPE_COUNT || !mm_dot_fn(kern, wt) ||
        !dp_dtype_row_bytes(wt, (uint64_t)k, &row_bytes) || !mm_layout_ok(wt, lay))
        return DP_ERR_INVALID_ARG;
    if (n == 0 || m == 0) return DP_OK;
    mm_job j = {kern, mm_dot_fn(kern, wt), mm_x8_fn(kern, wt, lay), wt, y, x, NULL, 0, w,
                (size_t)row_bytes, n, k, m, accumulate, NULL, 0, 0, 0, NULL, NULL, 0};
    const int nth = pool ? dp_pool_size(pool) : 1;
    size_t act_bytes = 0, panel_total = 0;
    if (dp_dtype_is_quant(wt)) {
        j.xa_stride = dp_mm_act_row_bytes(wt, k);
        if (!dp_mul_ok(j.xa_stride, (size_t)n, &act_bytes)) return DP_ERR_NOMEM;
        act_bytes = (act_bytes + 63) & ~(size_t)63;
        if (mm_panel_ok(kern, wt, lay, n, k, m)) j.panel_bytes = kern->panel_bytes(wt, k);
        if (j.panel_bytes) {
            j.panel_stride = j.panel_bytes + (j.x8 ? DP_MM_X8 * j.w_stride : 0);
            j.panel_stride = (j.panel_stride + 63) & ~(size_t)63;
            if (!dp_mul_ok(j.panel_stride, (size_t)nth, &panel_total)) return DP_ERR_NOMEM;
        }
        size_t amx_act = 0, amx_total = 0;
        if (mm_amx_ok(kern, wt, lay, n, k, m)) {
            j.amx_rows = m / DP_MM_AMX_ROWS * DP_MM_AMX_ROWS;
            amx_act = (kern->amx->act_bytes(wt, n, k) + 63) & ~(size_t)63;
            j.amx_stride = (kern->amx->scratch_bytes(wt, n, k) + 63) & ~(size_t)63;
            if (!dp_mul_ok(j.amx_stride, (size_t)nth, &amx_total) || amx_total + amx_act < amx_act)
                return DP_ERR_NOMEM;
            amx_total += amx_act;
        }
        if (!ws) return DP_ERR_INVALID_ARG;
        const size_t need = act_bytes + panel_total + amx_total;
        if (need < act_bytes + panel_total || act_bytes + panel_total < act_bytes || !ws_reserve(ws, need))
            return DP_ERR_NOMEM;
        j.xa = ws->data;
        if (j.panel_bytes) j.panels = (uint8_t *)ws->data + act_bytes;
        if (n >= 4 && pool) dp_pool_run(pool, mm_quantize_task, &j);
        else mm_quantize_task(&j, 0, 1);
        if (j.amx_rows) {
            j.amx_act = (uint8_t *)ws->data + act_bytes + panel_total;
            j.amx_scratch = j.amx_act + amx_act;
            dp_pool_run(pool, mm_amx_act_task, &j);
        }
    } else {
        j.xa = (uint8_t *)(uintptr_t)x;
        j.xa_stride = (size_t)k * sizeof(float);
    }
    dp_pool_run(pool, mm_task, &j);
    return DP_OK;
}

dp_status dp_cpu_matmul_with(const dp_mm_kernels *kern, dp_pool *pool, dp_cpu_ws *ws, float *y,
                             const float *x, const void *w, dp_dtype wt, int n, int k, int m,
                             bool accumulate) {
    return dp_cpu_matmul_layout_with(kern, pool, ws, y, x, w, wt, DP_CPU_W_ROWS, n, k, m,
                                     accumulate);
}

/* ==== several products sharing one input ==== */

typedef struct mm_multi_job {
    const dp_mm_kernels *kern;
    const dp_cpu_mm_part *parts;
    int count, n, k, u_total; /* u_total: units of 8 rows over all parts */
    const float *x;
    uint8_t *xa;
    size_t xa_stride;
    dp_dtype act_wt; /* the weight type whose activation format xa holds */
} mm_multi_job;

static void mm_multi_task(void *arg, int ith, int nth) {
    const mm_multi_job *mj = arg;
    const int u0 = (int)((int64_t)mj->u_total * ith / nth);
    const int u1 = (int)((int64_t)mj->u_total * (ith + 1) / nth);
    int base = 0;
    for (int i = 0; i < mj->count && base < u1; base += mm_units(mj->parts[i].m), i++) {
        const dp_cpu_mm_part *p = &mj->parts[i];
        const int pu = mm_units(p->m);
        const int a = u0 > base ? u0 - base : 0, z = u1 - base < pu ? u1 - base : pu;
        if (a >= z) continue;
        uint64_t row_bytes = 0;
        (void)dp_dtype_row_bytes(p->wt, (uint64_t)mj->k, &row_bytes);
        const mm_job j = {mj->kern, mm_dot_fn(mj->kern, p->wt), mm_x8_fn(mj->kern, p->wt, p->layout),
                          p->wt, p->y, mj->x, mj->xa, mj->xa_stride, p->w, (size_t)row_bytes,
                          mj->n, mj->k, p->m, p->accumulate, NULL, 0, 0, 0, NULL, NULL, 0};
        mm_range(&j, a * DP_MM_X8, z * DP_MM_X8 < p->m ? z * DP_MM_X8 : p->m);
    }
}

/* The activation format's identity: weights whose activations convert the same way share xa. */
static int mm_act_class(dp_dtype wt) { return (int)dp_dtype_act_block(wt); }

dp_status dp_cpu_matmul_multi_with(const dp_mm_kernels *kern, dp_pool *pool, dp_cpu_ws *ws,
                                   const float *x, int n, int k, const dp_cpu_mm_part *parts,
                                   int count) {
    if (n < 0 || k <= 0 || count < 0 || (count > 0 && !parts)) return DP_ERR_INVALID_ARG;
    bool fused = count > 1 && n > 0;
    int64_t u_total = 0;
    for (int i = 0; i < count; i++) {
        const dp_cpu_mm_part *p = &parts[i];
        uint64_t row_bytes;
        if (p->m < 0 || (unsigned)p->wt >= DP_DTYPE_COUNT || !mm_dot_fn(kern, p->wt) ||
            !dp_dtype_row_bytes(p->wt, (uint64_t)k, &row_bytes) || !mm_layout_ok(p->wt, p->layout))
            return DP_ERR_INVALID_ARG;
        u_total += mm_units(p->m);
        if (mm_act_class(p->wt) != mm_act_class(parts[0].wt) ||
            mm_panel_ok(kern, p->wt, p->layout, n, k, p->m) ||
            mm_amx_ok(kern, p->wt, p->layout, n, k, p->m))
            fused = false; /* mixed activation formats, or a product that takes panels or tiles */
    }
    if (u_total > INT32_MAX) fused = false;
    if (!fused) {
        for (int i = 0; i < count; i++) {
            const dp_status st = dp_cpu_matmul_layout_with(kern, pool, ws, parts[i].y, x,
                                                           parts[i].w, parts[i].wt,
                                                           parts[i].layout, n, k, parts[i].m,
                                                           parts[i].accumulate);
            if (st != DP_OK) return st;
        }
        return DP_OK;
    }
    mm_multi_job mj = {kern, parts, count, n, k, (int)u_total, x, NULL, 0, parts[0].wt};
    if (dp_dtype_is_quant(mj.act_wt)) {
        size_t act_bytes;
        mj.xa_stride = dp_mm_act_row_bytes(mj.act_wt, k);
        if (!dp_mul_ok(mj.xa_stride, (size_t)n, &act_bytes)) return DP_ERR_NOMEM;
        if (!ws) return DP_ERR_INVALID_ARG;
        if (!ws_reserve(ws, act_bytes)) return DP_ERR_NOMEM;
        mj.xa = ws->data;
        for (int r = 0; r < n; r++)
            dp_mm_act_quantize(mj.act_wt, x + (size_t)r * (size_t)k, mj.xa + (size_t)r * mj.xa_stride, k);
    } else {
        mj.xa = (uint8_t *)(uintptr_t)x;
        mj.xa_stride = (size_t)k * sizeof(float);
    }
    dp_pool_run(pool, mm_multi_task, &mj);
    return DP_OK;
}

dp_status dp_cpu_matmul_multi(dp_pool *pool, dp_cpu_ws *ws, const float *x, int n, int k,
                              const dp_cpu_mm_part *parts, int count) {
    return dp_cpu_matmul_multi_with(dp_mm_kernels_best(), pool, ws, x, n, k, parts, count);
}

dp_status dp_cpu_matmul(dp_pool *pool, dp_cpu_ws *ws, float *y, const float *x, const void *w,
                        dp_dtype wt, int n, int k, int m, bool accumulate) {
    return dp_cpu_matmul_with(dp_mm_kernels_best(), pool, ws, y, x, w, wt, n, k, m, accumulate);
}

dp_status dp_cpu_matmul_layout(dp_pool *pool, dp_cpu_ws *ws, float *y, const float *x,
                               const void *w, dp_dtype wt, dp_cpu_wlayout lay, int n, int k,
                               int m, bool accumulate) {
    return dp_cpu_matmul_layout_with(dp_mm_kernels_best(), pool, ws, y, x, w, wt, lay, n, k, m,
                                     accumulate);
}

void dp_cpu_ws_free(dp_cpu_ws *ws) {
    if (!ws) return;
    dp_free(ws->data);
    ws->data = NULL;
    ws->cap = 0;
}
