/* matmul_neon.c — AArch64 NEON dot kernels (compiled only on ARM). Integer kernels follow
 * llama.cpp's ARM vec_dot_*_q8_*: signed 8-bit dot products (sdot when the compiler targets
 * ARMv8.2 dot-product, e.g. Apple silicon; a widening-multiply fallback otherwise), sub-block
 * scales applied to the lane sums, minima through the activation block sums. As in the AVX2
 * file, each weight block is unpacked once for up to DP_MM_NC activation rows. */
#if defined(__aarch64__)
#include <arm_neon.h>
#include <string.h>

#include "backend/cpu/matmul_impl.h"

const dp_mm_kernels *dp_mm_neon_table(void);

#define INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")

/* acc + sum of a[i] * b[i] grouped by 4 (the total is what matters here) */
INLINE int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, a, b);
#else
    const int16x8_t p0 = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    const int16x8_t p1 = vmull_s8(vget_high_s8(a), vget_high_s8(b));
    return vaddq_s32(acc, vaddq_s32(vpaddlq_s16(p0), vpaddlq_s16(p1)));
#endif
}

INLINE float f16s(const uint8_t *p) {
    __fp16 h;
    memcpy(&h, p, 2);
    return (float)h;
}

/* ---- f32 / f16 / bf16 weights ---- */

INLINE float32x4_t load_w4(const uint8_t *w, int i, dp_dtype t) {
    if (t == DP_DTYPE_F32) return vld1q_f32((const float *)w + i);
    const uint16x4_t h = vld1_u16((const uint16_t *)(const void *)(w + 2 * (size_t)i));
    if (t == DP_DTYPE_F16) return vcvt_f32_f16(vreinterpret_f16_u16(h));
    return vreinterpretq_f32_u32(vshll_n_u16(h, 16));
}

INLINE float load_w1(const uint8_t *w, int i, dp_dtype t) {
    if (t == DP_DTYPE_F32) return ((const float *)w)[i];
    if (t == DP_DTYPE_F16) return f16s(w + 2 * (size_t)i);
    uint16_t h;
    memcpy(&h, w + 2 * (size_t)i, 2);
    const uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

INLINE void dot_float_nc(int k, const uint8_t *w, const uint8_t *x, size_t xs, float *s,
                         dp_dtype t, const int NC) {
    float32x4_t a0[DP_MM_NC], a1[DP_MM_NC];
    UNROLL
    for (int c = 0; c < NC; c++) a0[c] = a1[c] = vdupq_n_f32(0);
    int i = 0;
    for (; i + 8 <= k; i += 8) {
        const float32x4_t w0 = load_w4(w, i, t), w1 = load_w4(w, i + 4, t);
        UNROLL
        for (int c = 0; c < NC; c++) {
            const float *xc = (const float *)(const void *)(x + (size_t)c * xs);
            a0[c] = vfmaq_f32(a0[c], w0, vld1q_f32(xc + i));
            a1[c] = vfmaq_f32(a1[c], w1, vld1q_f32(xc + i + 4));
        }
    }
    UNROLL
    for (int c = 0; c < NC; c++) {
        const float *xc = (const float *)(const void *)(x + (size_t)c * xs);
        float r = vaddvq_f32(vaddq_f32(a0[c], a1[c]));
        for (int l = i; l < k; l++) r += load_w1(w, l, t) * xc[l];
        s[c] = r;
    }
}

/* ---- q8_0 x q8_0 ---- */

INLINE void dot_q8_0_nc(int k, const uint8_t *w, const uint8_t *x, size_t xs, float *s,
                        const int NC) {
    const int nb = k / DP_QK8_0;
    float32x4_t acc[DP_MM_NC];
    UNROLL
    for (int c = 0; c < NC; c++) acc[c] = vdupq_n_f32(0);
    for (int i = 0; i < nb; i++, w += 34) {
        const float dw = f16s(w);
        const int8x16_t q0 = vld1q_s8((const int8_t *)(w + 2)), q1 = vld1q_s8((const int8_t *)(w + 18));
        UNROLL
        for (int c = 0; c < NC; c++) {
            const dp_block_q8_0 *xb = (const dp_block_q8_0 *)(const void *)(x + (size_t)c * xs) + i;
            const int32x4_t p = dot16(dot16(vdupq_n_s32(0), q0, vld1q_s8(xb->qs)), q1, vld1q_s8(xb->qs + 16));
            float16_t dx;
            memcpy(&dx, &xb->d, 2);
            acc[c] = vmlaq_n_f32(acc[c], vcvtq_f32_s32(p), dw * (float)dx);
        }
    }
    UNROLL
    for (int c = 0; c < NC; c++) s[c] = vaddvq_f32(acc[c]);
}

/* ---- q4_K / q5_K x q8_K ---- */

/* 8 scales then 8 mins of a q4_K/q5_K block, 6 bits each. */
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
    const uint8x16_t m4 = vdupq_n_u8(0xF);
    float sum[DP_MM_NC];
    UNROLL
    for (int c = 0; c < NC; c++) sum[c] = 0;
    for (int i = 0; i < nb; i++, w += bb) {
        uint8_t sm[16];
        k4_scales_mins(w + 4, sm);
        const int16x8_t mins = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(sm + 8)));
        const uint8_t *qs = w + (five ? 48 : 16);
        const uint8x16_t h0 = five ? vld1q_u8(w + 16) : vdupq_n_u8(0);
        const uint8x16_t h1 = five ? vld1q_u8(w + 32) : vdupq_n_u8(0);
        int32_t sumi[DP_MM_NC];
        UNROLL
        for (int c = 0; c < NC; c++) sumi[c] = 0;
        UNROLL
        for (int j = 0; j < 4; j++) {
            const uint8x16_t b0 = vld1q_u8(qs + 32 * j), b1 = vld1q_u8(qs + 32 * j + 16);
            uint8x16_t l0 = vandq_u8(b0, m4), l1 = vandq_u8(b1, m4);
            uint8x16_t u0 = vshrq_n_u8(b0, 4), u1 = vshrq_n_u8(b1, 4);
            if (five) { /* bit 2j of qh is the high bit of sub-block 2j, bit 2j+1 of 2j+1 */
                const uint8x16_t one = vdupq_n_u8(1);
                const int8x16_t sl = vdupq_n_s8((int8_t)(-2 * j)), sh = vdupq_n_s8((int8_t)(-2 * j - 1));
                l0 = vorrq_u8(l0, vshlq_n_u8(vandq_u8(vshlq_u8(h0, sl), one), 4));
                l1 = vorrq_u8(l1, vshlq_n_u8(vandq_u8(vshlq_u8(h1, sl), one), 4));
                u0 = vorrq_u8(u0, vshlq_n_u8(vandq_u8(vshlq_u8(h0, sh), one), 4));
                u1 = vorrq_u8(u1, vshlq_n_u8(vandq_u8(vshlq_u8(h1, sh), one), 4));
            }
            UNROLL
            for (int c = 0; c < NC; c++) {
                const int8_t *q8 = ((const dp_block_q8_k *)(const void *)(x + (size_t)c * xs) + i)->qs + 64 * j;
                const int32x4_t pl = dot16(dot16(vdupq_n_s32(0), vreinterpretq_s8_u8(l0), vld1q_s8(q8)),
                                           vreinterpretq_s8_u8(l1), vld1q_s8(q8 + 16));
                const int32x4_t ph = dot16(dot16(vdupq_n_s32(0), vreinterpretq_s8_u8(u0), vld1q_s8(q8 + 32)),
                                           vreinterpretq_s8_u8(u1), vld1q_s8(q8 + 48));
                sumi[c] += vaddvq_s32(pl) * sm[2 * j] + vaddvq_s32(ph) * sm[2 * j + 1];
            }
        }
        const float dw = f16s(w), dminw = f16s(w + 2);
        UNROLL
        for (int c = 0; c < NC; c++) {
            const dp_block_q8_k *xb = (const dp_block_q8_k *)(const void *)(x + (size_t)c * xs) + i;
            const int16x8_t bs = vpaddq_s16(vld1q_s16(xb->bsums), vld1q_s16(xb->bsums + 8));
            const int32x4_t prod = vaddq_s32(vmull_s16(vget_low_s16(bs), vget_low_s16(mins)),
                                             vmull_s16(vget_high_s16(bs), vget_high_s16(mins)));
            sum[c] += xb->d * dw * (float)sumi[c] - xb->d * dminw * (float)vaddvq_s32(prod);
        }
    }
    UNROLL
    for (int c = 0; c < NC; c++) s[c] = sum[c];
}

/* ---- q6_K x q8_K ---- */

INLINE void dot_q6k_nc(int k, const uint8_t *w, const uint8_t *x, size_t xs, float *s,
                       const int NC) {
    const int nb = k / DP_QK_K;
    const uint8x16_t m4 = vdupq_n_u8(0xF), m3 = vdupq_n_u8(3);
    const int8x16_t off = vdupq_n_s8(32);
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
                const uint8x16_t lo0 = vld1q_u8(ql + 16 * half), lo1 = vld1q_u8(ql + 32 + 16 * half);
                const uint8x16_t hb = vld1q_u8(qh + 16 * half);
                int8x16_t q[4];
                q[0] = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vandq_u8(lo0, m4), vshlq_n_u8(vandq_u8(hb, m3), 4))), off);
                q[1] = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vandq_u8(lo1, m4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 2), m3), 4))), off);
                q[2] = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(lo0, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 4), m3), 4))), off);
                q[3] = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(lo1, 4), vshlq_n_u8(vshrq_n_u8(hb, 6), 4))), off);
                UNROLL
                for (int c = 0; c < NC; c++) {
                    const int8_t *q8 = ((const dp_block_q8_k *)(const void *)(x + (size_t)c * xs) + i)->qs + 128 * h + 16 * half;
                    int32_t t = 0;
                    UNROLL
                    for (int g = 0; g < 4; g++)
                        t += vaddvq_s32(dot16(vdupq_n_s32(0), q[g], vld1q_s8(q8 + 32 * g))) * sc[8 * h + 2 * g + half];
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

DP_MM_INSTANCES(neon_dot_f32, CALL_F32)
DP_MM_INSTANCES(neon_dot_f16, CALL_F16)
DP_MM_INSTANCES(neon_dot_bf16, CALL_BF16)
DP_MM_INSTANCES(neon_dot_q8_0, CALL_Q8_0)
DP_MM_INSTANCES(neon_dot_q4_k, CALL_Q4_K)
DP_MM_INSTANCES(neon_dot_q5_k, CALL_Q5_K)
DP_MM_INSTANCES(neon_dot_q6_k, CALL_Q6_K)

static const dp_mm_kernels neon_kernels = {
    "neon",
    {
        [DP_DTYPE_F32] = neon_dot_f32,
        [DP_DTYPE_F16] = neon_dot_f16,
        [DP_DTYPE_BF16] = neon_dot_bf16,
        [DP_DTYPE_Q8_0] = neon_dot_q8_0,
        [DP_DTYPE_Q4_K] = neon_dot_q4_k,
        [DP_DTYPE_Q5_K] = neon_dot_q5_k,
        [DP_DTYPE_Q6_K] = neon_dot_q6_k,
    },
    NULL, NULL, NULL,
    {NULL}, /* no x8 kernels: weights are never repacked for this set */
    NULL,
};

const dp_mm_kernels *dp_mm_neon_table(void) { return &neon_kernels; }

#endif /* __aarch64__ */
