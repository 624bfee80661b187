/* matmul_wasm.c — WebAssembly SIMD128 dot kernels (compiled by the wasm build, web/build.sh, with
 * -msimd128; native builds skip *_wasm.c). Same structure as matmul_neon.c: 8-bit products
 * widened to i16 with extmul, pairwise-added to i32, sub-block scales applied to the lane sums;
 * each weight block unpacked once for up to DP_MM_NC activation rows. */
#if defined(__wasm_simd128__)
#include <string.h>
#include <wasm_simd128.h>

#include "backend/cpu/matmul_impl.h"

const dp_mm_kernels *dp_mm_wasm_table(void);

#define INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")

/* i32 lanes += products of a and b, exact for any s8 inputs */
INLINE v128_t dot16(v128_t acc, v128_t a, v128_t b) {
    const v128_t lo = wasm_i32x4_extadd_pairwise_i16x8(wasm_i16x8_extmul_low_i8x16(a, b));
    const v128_t hi = wasm_i32x4_extadd_pairwise_i16x8(wasm_i16x8_extmul_high_i8x16(a, b));
    return wasm_i32x4_add(acc, wasm_i32x4_add(lo, hi));
}

/* the same when |a| <= 63 (K-quant levels), so two products fit an i16 lane */
INLINE v128_t dot16_small(v128_t acc, v128_t a, v128_t b) {
    const v128_t p = wasm_i16x8_add(wasm_i16x8_extmul_low_i8x16(a, b), wasm_i16x8_extmul_high_i8x16(a, b));
    return wasm_i32x4_add(acc, wasm_i32x4_extadd_pairwise_i16x8(p));
}

INLINE int32_t hsum_i32(v128_t v) {
    return wasm_i32x4_extract_lane(v, 0) + wasm_i32x4_extract_lane(v, 1) +
           wasm_i32x4_extract_lane(v, 2) + wasm_i32x4_extract_lane(v, 3);
}

INLINE float hsum_f32(v128_t v) {
    return (wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1)) +
           (wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3));
}

INLINE float f16s(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return dp_f16_to_f32(h);
}

/* ---- f32 / f16 / bf16 weights (f16 and bf16 converted 64 values at a time) ---- */

INLINE void dot_float_nc(int k, const uint8_t *w, const uint8_t *x, size_t xs, float *s,
                         dp_dtype t, const int NC) {
    float buf[64];
    v128_t acc[DP_MM_NC];
    UNROLL
    for (int c = 0; c < NC; c++) acc[c] = wasm_f32x4_splat(0);
    float tail[DP_MM_NC] = {0};
    for (int i = 0; i < k; i += 64) {
        const int nv = k - i < 64 ? k - i : 64;
        const float *wf;
        if (t == DP_DTYPE_F32) {
            wf = (const float *)(const void *)w + i;
        } else {
            for (int l = 0; l < nv; l++) {
                uint16_t h;
                memcpy(&h, w + 2 * (size_t)(i + l), 2);
                if (t == DP_DTYPE_F16) {
                    buf[l] = dp_f16_to_f32(h);
                } else {
                    const uint32_t u = (uint32_t)h << 16;
                    memcpy(&buf[l], &u, 4);
                }
            }
            wf = buf;
        }
        int l = 0;
        for (; l + 4 <= nv; l += 4) {
            const v128_t wv = wasm_v128_load(wf + l);
            UNROLL
            for (int c = 0; c < NC; c++) {
                const float *xc = (const float *)(const void *)(x + (size_t)c * xs) + i + l;
                acc[c] = wasm_f32x4_add(acc[c], wasm_f32x4_mul(wv, wasm_v128_load(xc)));
            }
        }
        for (; l < nv; l++) {
            UNROLL
            for (int c = 0; c < NC; c++) tail[c] += wf[l] * ((const float *)(const void *)(x + (size_t)c * xs))[i + l];
        }
    }
    UNROLL
    for (int c = 0; c < NC; c++) s[c] = hsum_f32(acc[c]) + tail[c];
}

/* ---- q8_0 x q8_0 ---- */

INLINE void dot_q8_0_nc(int k, const uint8_t *w, const uint8_t *x, size_t xs, float *s,
                        const int NC) {
    const int nb = k / DP_QK8_0;
    float sum[DP_MM_NC];
    UNROLL
    for (int c = 0; c < NC; c++) sum[c] = 0;
    for (int i = 0; i < nb; i++, w += 34) {
        const float dw = f16s(w);
        const v128_t q0 = wasm_v128_load(w + 2), q1 = wasm_v128_load(w + 18);
        UNROLL
        for (int c = 0; c < NC; c++) {
            const dp_block_q8_0 *xb = (const dp_block_q8_0 *)(const void *)(x + (size_t)c * xs) + i;
            const v128_t p = dot16(dot16(wasm_i32x4_splat(0), q0, wasm_v128_load(xb->qs)), q1,
                                   wasm_v128_load(xb->qs + 16));
            sum[c] += (float)hsum_i32(p) * (dw * dp_f16_to_f32(xb->d));
        }
    }
    UNROLL
    for (int c = 0; c < NC; c++) s[c] = sum[c];
}

/* ---- q4_K / q5_K x q8_K ---- */

INLINE void k4_scales_mins(const uint8_t *packed, uint8_t sm[16]) {
    uint32_t u0, u1, u2;
    memcpy(&u0, packed, 4);
    memcpy(&u1, packed + 4, 4);
    memcpy(&u2, packed + 8, 4);
    const uint32_t m1 = 0x3f3f3f3f, m2 = 0x0f0f0f0f, m3 = 0x03030303;
    const uint32_t v[4] = {u0 & m1, (u2 & m2) | (((u0 >> 6) & m3) << 4), u1 & m1,
                           ((u2 >> 4) & m2) | (((u1 >> 6) & m3) << 4)};
    memcpy(sm, v, 16);
}

INLINE void dot_q45k_nc(int k, const uint8_t *w, const uint8_t *x, size_t xs, float *s,
                        const int NC, const int five) {
    const int nb = k / DP_QK_K;
    const size_t bb = five ? 176 : 144;
    const v128_t m4 = wasm_i8x16_splat(0xF), one = wasm_i8x16_splat(1);
    float sum[DP_MM_NC];
    UNROLL
    for (int c = 0; c < NC; c++) sum[c] = 0;
    for (int i = 0; i < nb; i++, w += bb) {
        uint8_t sm[16];
        k4_scales_mins(w + 4, sm);
        const uint8_t *qs = w + (five ? 48 : 16);
        const v128_t h0 = five ? wasm_v128_load(w + 16) : wasm_i8x16_splat(0);
        const v128_t h1 = five ? wasm_v128_load(w + 32) : wasm_i8x16_splat(0);
        int32_t sumi[DP_MM_NC];
        UNROLL
        for (int c = 0; c < NC; c++) sumi[c] = 0;
        UNROLL
        for (int j = 0; j < 4; j++) {
            const v128_t b0 = wasm_v128_load(qs + 32 * j), b1 = wasm_v128_load(qs + 32 * j + 16);
            v128_t l0 = wasm_v128_and(b0, m4), l1 = wasm_v128_and(b1, m4);
            v128_t u0 = wasm_u8x16_shr(b0, 4), u1 = wasm_u8x16_shr(b1, 4);
            if (five) { /* bit 2j of qh: high bit of sub-block 2j; bit 2j+1: of 2j+1 */
                l0 = wasm_v128_or(l0, wasm_i8x16_shl(wasm_v128_and(wasm_u8x16_shr(h0, (uint32_t)(2 * j)), one), 4));
                l1 = wasm_v128_or(l1, wasm_i8x16_shl(wasm_v128_and(wasm_u8x16_shr(h1, (uint32_t)(2 * j)), one), 4));
                u0 = wasm_v128_or(u0, wasm_i8x16_shl(wasm_v128_and(wasm_u8x16_shr(h0, (uint32_t)(2 * j + 1)), one), 4));
                u1 = wasm_v128_or(u1, wasm_i8x16_shl(wasm_v128_and(wasm_u8x16_shr(h1, (uint32_t)(2 * j + 1)), one), 4));
            }
            UNROLL
            for (int c = 0; c < NC; c++) {
                const int8_t *q8 = ((const dp_block_q8_k *)(const void *)(x + (size_t)c * xs) + i)->qs + 64 * j;
                const v128_t pl = dot16_small(dot16_small(wasm_i32x4_splat(0), l0, wasm_v128_load(q8)), l1,
                                              wasm_v128_load(q8 + 16));
                const v128_t ph = dot16_small(dot16_small(wasm_i32x4_splat(0), u0, wasm_v128_load(q8 + 32)), u1,
                                              wasm_v128_load(q8 + 48));
                sumi[c] += hsum_i32(pl) * sm[2 * j] + hsum_i32(ph) * sm[2 * j + 1];
            }
        }
        const float dw = f16s(w), dminw = f16s(w + 2);
        UNROLL
        for (int c = 0; c < NC; c++) {
            const dp_block_q8_k *xb = (const dp_block_q8_k *)(const void *)(x + (size_t)c * xs) + i;
            int32_t summ = 0;
            for (int j = 0; j < 8; j++) summ += sm[8 + j] * (xb->bsums[2 * j] + xb->bsums[2 * j + 1]);
            sum[c] += xb->d * dw * (float)sumi[c] - xb->d * dminw * (float)summ;
        }
    }
    UNROLL
    for (int c = 0; c < NC; c++) s[c] = sum[c];
}

/* ---- q6_K x q8_K ---- */

INLINE void dot_q6k_nc(int k, const uint8_t *w, const uint8_t *x, size_t xs, float *s,
                       const int NC) {
    const int nb = k / DP_QK_K;
    const v128_t m4 = wasm_i8x16_splat(0xF), m3 = wasm_i8x16_splat(3), off = wasm_i8x16_splat(32);
    float sum[DP_MM_NC];
    UNROLL
    for (int c = 0; c < NC; c++) sum[c] = 0;
    for (int i = 0; i < nb; i++, w += 210) {
        const int8_t *sc = (const int8_t *)(w + 192);
        int32_t sumi[DP_MM_NC];
        UNROLL
        for (int c = 0; c < NC; c++) sumi[c] = 0;
        UNROLL
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = w + 64 * h, *qh = w + 128 + 32 * h;
            UNROLL
            for (int half = 0; half < 2; half++) { /* values l in [16 half, 16 half + 16) */
                const v128_t lo0 = wasm_v128_load(ql + 16 * half), lo1 = wasm_v128_load(ql + 32 + 16 * half);
                const v128_t hb = wasm_v128_load(qh + 16 * half);
                v128_t q[4];
                q[0] = wasm_i8x16_sub(wasm_v128_or(wasm_v128_and(lo0, m4), wasm_i8x16_shl(wasm_v128_and(hb, m3), 4)), off);
                q[1] = wasm_i8x16_sub(wasm_v128_or(wasm_v128_and(lo1, m4),
                                                   wasm_i8x16_shl(wasm_v128_and(wasm_u8x16_shr(hb, 2), m3), 4)), off);
                q[2] = wasm_i8x16_sub(wasm_v128_or(wasm_u8x16_shr(lo0, 4),
                                                   wasm_i8x16_shl(wasm_v128_and(wasm_u8x16_shr(hb, 4), m3), 4)), off);
                q[3] = wasm_i8x16_sub(wasm_v128_or(wasm_u8x16_shr(lo1, 4), wasm_i8x16_shl(wasm_u8x16_shr(hb, 6), 4)), off);
                UNROLL
                for (int c = 0; c < NC; c++) {
                    const int8_t *q8 = ((const dp_block_q8_k *)(const void *)(x + (size_t)c * xs) + i)->qs +
                                       128 * h + 16 * half;
                    int32_t t = 0;
                    UNROLL
                    for (int g = 0; g < 4; g++)
                        t += hsum_i32(dot16_small(wasm_i32x4_splat(0), q[g], wasm_v128_load(q8 + 32 * g))) *
                             sc[8 * h + 2 * g + half];
                    sumi[c] += t;
                }
            }
        }
        const float dw = f16s(w + 208);
        UNROLL
        for (int c = 0; c < NC; c++) {
            const dp_block_q8_k *xb = (const dp_block_q8_k *)(const void *)(x + (size_t)c * xs) + i;
            sum[c] += xb->d * dw * (float)sumi[c];
        }
    }
    UNROLL
    for (int c = 0; c < NC; c++) s[c] = sum[c];
}

/* ---- instantiation over the row count ---- */

#define DP_MM_INSTANCES(name, call)                                                           \
    static void name##_1(int k, const uint8_t *wb, const uint8_t *xb, size_t xs, float *s) {  \
        call(1);                                                                              \
    }                                                                                         \
    static void name##_2(int k, const uint8_t *wb, const uint8_t *xb, size_t xs, float *s) {  \
        call(2);                                                                              \
    }                                                                                         \
    static void name##_3(int k, const uint8_t *wb, const uint8_t *xb, size_t xs, float *s) {  \
        call(3);                                                                              \
    }                                                                                         \
    static void name##_4(int k, const uint8_t *wb, const uint8_t *xb, size_t xs, float *s) {  \
        call(4);                                                                              \
    }                                                                                         \
    static void name(int k, const void *w, const void *x, size_t xs, int nc, float *s) {     \
        switch (nc) {                                                                         \
        case 1: name##_1(k, w, x, xs, s); break;                                              \
        case 2: name##_2(k, w, x, xs, s); break;                                              \
        case 3: name##_3(k, w, x, xs, s); break;                                              \
        default: name##_4(k, w, x, xs, s); break;                                             \
        }                                                                                     \
    }

#define CALL_F32(NC) dot_float_nc(k, wb, xb, xs, s, DP_DTYPE_F32, NC)
#define CALL_F16(NC) dot_float_nc(k, wb, xb, xs, s, DP_DTYPE_F16, NC)
#define CALL_BF16(NC) dot_float_nc(k, wb, xb, xs, s, DP_DTYPE_BF16, NC)
#define CALL_Q8_0(NC) dot_q8_0_nc(k, wb, xb, xs, s, NC)
#define CALL_Q4_K(NC) dot_q45k_nc(k, wb, xb, xs, s, NC, 0)
#define CALL_Q5_K(NC) dot_q45k_nc(k, wb, xb, xs, s, NC, 1)
#define CALL_Q6_K(NC) dot_q6k_nc(k, wb, xb, xs, s, NC)

DP_MM_INSTANCES(wasm_dot_f32, CALL_F32)
DP_MM_INSTANCES(wasm_dot_f16, CALL_F16)
DP_MM_INSTANCES(wasm_dot_bf16, CALL_BF16)
DP_MM_INSTANCES(wasm_dot_q8_0, CALL_Q8_0)
DP_MM_INSTANCES(wasm_dot_q4_k, CALL_Q4_K)
DP_MM_INSTANCES(wasm_dot_q5_k, CALL_Q5_K)
DP_MM_INSTANCES(wasm_dot_q6_k, CALL_Q6_K)

static const dp_mm_kernels wasm_kernels = {
    "wasm-simd128",
    {
        [DP_DTYPE_F32] = wasm_dot_f32,
        [DP_DTYPE_F16] = wasm_dot_f16,
        [DP_DTYPE_BF16] = wasm_dot_bf16,
        [DP_DTYPE_Q8_0] = wasm_dot_q8_0,
        [DP_DTYPE_Q4_K] = wasm_dot_q4_k,
        [DP_DTYPE_Q5_K] = wasm_dot_q5_k,
        [DP_DTYPE_Q6_K] = wasm_dot_q6_k,
    },
    NULL, NULL, NULL,
    {NULL}, /* no x8 kernels: weights are never repacked for this set */
    NULL,
};

const dp_mm_kernels *dp_mm_wasm_table(void) { return &wasm_kernels; }

#endif /* __wasm_simd128__ */
