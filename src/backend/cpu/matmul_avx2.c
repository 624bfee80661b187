/* matmul_avx2.c — AVX2 + FMA + F16C dot kernels (compiled with -mavx2 -mfma -mf16c; used only
 * after a runtime CPU check). The integer kernels follow llama.cpp's x86 vec_dot_*_q8_*
 * (unsigned weights x signed activations with maddubs, sub-block scales with madd, the
 * minimum / offset terms through the activation block sums), extended to up to DP_MM_NC
 * activation rows per weight row: each weight block is loaded and unpacked once for all rows.
 * Each kernel is an always-inline template over the row count, instantiated for 1..4. */
#include <immintrin.h>
#include <string.h>

#include "backend/cpu/matmul_impl.h"
#include "format/quant.h"

const dp_mm_kernels *dp_mm_avx2_table(int set); /* 0 AVX2, 1 + VNNI, 2 + AMX */

#define INLINE static inline __attribute__((always_inline))
/* Software prefetch distance of the streaming (decode) kernels: 2 KiB ahead into L2. The
 * hardware prefetchers alone left the kernels short of the read bandwidth (q6_K x8 on a
 * Xeon: 9.1-9.5 GB/s a thread without, 11.1 with; 4 KiB and 8 KiB, or into L1, did less). */
#define PREFETCH_AHEAD 2048
INLINE void prefetch_ahead(const uint8_t *p) { _mm_prefetch((const char *)p + PREFETCH_AHEAD, _MM_HINT_T1); }
/* The per-row loops below have compile-time trip counts; -O2 does not always unroll them, and
 * rolled they keep the accumulators in memory. */
#define UNROLL _Pragma("GCC unroll 16")

INLINE float hsum8(__m256 v) {
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

INLINE float f16s(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

INLINE __m256i load256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* acc + madd(a, b). With vnni set (only in functions compiled for AVX-512 VNNI) this is one
 * vpdpwssd, written as assembly so the AVX2 instances of the same template still compile. */
INLINE __m256i madd_acc(__m256i acc, __m256i a, __m256i b, const int vnni) {
    if (vnni) {
        __asm__("vpdpwssd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
        return acc;
    }
    return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
}

/* ---- f32 / f16 / bf16 weights: float FMA, x in f32 ---- */

INLINE __m256 load_w8(const uint8_t *w, int i, dp_dtype t) {
    if (t == DP_DTYPE_F32) return _mm256_loadu_ps((const float *)w + i);
    const __m128i h = _mm_loadu_si128((const __m128i *)(w + 2 * (size_t)i));
    if (t == DP_DTYPE_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

INLINE float load_w1(const uint8_t *w, int i, dp_dtype t) {
    if (t == DP_DTYPE_F32) return ((const float *)w)[i];
    uint16_t h;
    memcpy(&h, w + 2 * (size_t)i, 2);
    if (t == DP_DTYPE_F16) return _cvtsh_ss(h);
    const uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

INLINE void dot_float_nc(int k, const uint8_t *w, const uint8_t *x, size_t xs, float *s,
                         dp_dtype t, const int NC) {
    __m256 a0[DP_MM_NC], a1[DP_MM_NC];
    UNROLL
    for (int c = 0; c < NC; c++) a0[c] = a1[c] = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= k; i += 16) {
        const __m256 w0 = load_w8(w, i, t), w1 = load_w8(w, i + 8, t);
        UNROLL
        for (int c = 0; c < NC; c++) {
            const float *xc = (const float *)(x + (size_t)c * xs);
            a0[c] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xc + i), a0[c]);
            a1[c] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xc + i + 8), a1[c]);
        }
    }
    for (; i + 8 <= k; i += 8) {
        const __m256 w0 = load_w8(w, i, t);
        UNROLL
        for (int c = 0; c < NC; c++)
            a0[c] = _mm256_fmadd_ps(w0, _mm256_loadu_ps((const float *)(x + (size_t)c * xs) + i), a0[c]);
    }
    UNROLL
    for (int c = 0; c < NC; c++) {
        const float *xc = (const float *)(x + (size_t)c * xs);
        float r = hsum8(_mm256_add_ps(a0[c], a1[c]));
        for (int l = i; l < k; l++) r += load_w1(w, l, t) * xc[l];
        s[c] = r;
    }
}

/* ---- q8_0 x q8_0 ---- */

INLINE void dot_q8_0_nc(int k, const uint8_t *w, const uint8_t *x, size_t xs, float *s,
                        const int NC) {
    const int nb = k / DP_QK8_0;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[DP_MM_NC];
    UNROLL
    for (int c = 0; c < NC; c++) acc[c] = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++, w += 34) {
        prefetch_ahead(w);
        const float dw = f16s(w);
        const __m256i qw = load256(w + 2);
        const __m256i aw = _mm256_sign_epi8(qw, qw);
        UNROLL
        for (int c = 0; c < NC; c++) {
            const dp_block_q8_0 *xb = (const dp_block_q8_0 *)(x + (size_t)c * xs) + i;
            const __m256i sx = _mm256_sign_epi8(load256(xb->qs), qw);
            const __m256i p = _mm256_madd_epi16(ones, _mm256_maddubs_epi16(aw, sx));
            const __m256 d = _mm256_set1_ps(dw * _cvtsh_ss(xb->d));
            acc[c] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc[c]);
        }
    }
    UNROLL
    for (int c = 0; c < NC; c++) s[c] = hsum8(acc[c]);
}

/* ---- the 32-value forms (q4_0, q4_1, q5_0, q5_1, iq4_nl; quant.h) x q8_0 ---- */

/* 32 bytes, byte i 0xFF when bit i of the u32 at p is set (llama.cpp's bytes_from_bits_32). */
INLINE __m256i bytes_from_bits32(const uint8_t *p) {
    uint32_t u;
    memcpy(&u, p, 4);
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32((int)u),
        _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
    return _mm256_cmpeq_epi8(_mm256_or_si256(spread, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe)),
                             _mm256_set1_epi64x(-1));
}

/* The 32 nibbles of 16 bytes in value order: low nibbles, then high nibbles. */
INLINE __m256i nibbles32(const uint8_t *p) {
    const __m128i qs = _mm_loadu_si128((const __m128i *)p);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(qs, 4), qs), _mm256_set1_epi8(0xF));
}

/* iq4_nl's grid value of each byte (< 16) of q */
INLINE __m256i iq4_grid(__m256i q) {
    return _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)dp_iq4_nl_grid)), q);
}

/* The 32 levels of a block of form f as signed bytes, in value order. */
INLINE __m256i q32_levels(const uint8_t *b, const dp_q32_form f) {
    __m256i q = nibbles32(b + f.qs);
    if (f.qh) q = _mm256_or_si256(q, _mm256_and_si256(bytes_from_bits32(b + f.qh), _mm256_set1_epi8(0x10)));
    if (f.table) return iq4_grid(q);
    return _mm256_sub_epi8(q, _mm256_set1_epi8(f.bias));
}

INLINE void dot_q32_nc(int k, const uint8_t *w, const uint8_t *x, size_t xs, float *s,
                       dp_dtype t, const int NC) {
    const dp_q32_form f = dp_q32_form_of(t);
    const int nb = k / 32;
    const __m256i ones = _mm256_set1_epi16(1), ones8 = _mm256_set1_epi8(1);
    __m256 acc[DP_MM_NC];
    UNROLL
    for (int c = 0; c < NC; c++) acc[c] = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++, w += f.bytes) {
        const float dw = f16s(w), mw = f.min ? f16s(w + 2) : 0.0f;
        const __m256i qw = q32_levels(w, f);
        const __m256i aw = _mm256_sign_epi8(qw, qw);
        UNROLL
        for (int c = 0; c < NC; c++) {
            const dp_block_q8_0 *xb = (const dp_block_q8_0 *)(x + (size_t)c * xs) + i;
            const __m256i qx = load256(xb->qs);
            const __m256i p = _mm256_madd_epi16(ones, _mm256_maddubs_epi16(aw, _mm256_sign_epi8(qx, qw)));
            const float dx = _cvtsh_ss(xb->d);
            acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(dw * dx), _mm256_cvtepi32_ps(p), acc[c]);
            if (f.min) {
                const __m256i sx = _mm256_madd_epi16(ones, _mm256_maddubs_epi16(ones8, qx));
                acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(mw * dx), _mm256_cvtepi32_ps(sx), acc[c]);
            }
        }
    }
    UNROLL
    for (int c = 0; c < NC; c++) s[c] = hsum8(acc[c]);
}

/* ---- q2_K / q3_K / iq4_xs (16 groups of 16, quant.h dp_qk_groups) x q8_K ---- */

/* Levels of values 32 s .. 32 s + 31 (s < 8) of a block as signed bytes. */
INLINE __m256i qk_levels(const uint8_t *b, int s, dp_dtype t) {
    if (t == DP_DTYPE_IQ4_XS) return iq4_grid(nibbles32(b + 8 + 16 * s));
    const __m256i qs = load256(b + (t == DP_DTYPE_Q2_K ? 16 : 32) + 32 * (s / 4));
    const __m256i q = _mm256_and_si256(_mm256_srl_epi16(qs, _mm_cvtsi32_si128(2 * (s % 4))),
                                       _mm256_set1_epi8(3));
    if (t == DP_DTYPE_Q2_K) return q;
    /* q3_K: minus 4 where bit s of hmask is clear */
    const __m256i h = _mm256_and_si256(load256(b), _mm256_set1_epi8((char)(1 << s)));
    const __m256i clear = _mm256_cmpeq_epi8(h, _mm256_setzero_si256());
    return _mm256_sub_epi8(q, _mm256_and_si256(clear, _mm256_set1_epi8(4)));
}

INLINE void dot_qk_nc(int k, const uint8_t *w, const uint8_t *x, size_t xs, float *s, dp_dtype t,
                      const int NC) {
    const size_t bb = t == DP_DTYPE_Q2_K ? 84 : t == DP_DTYPE_Q3_K ? 110 : 136;
    const size_t d_at = t == DP_DTYPE_Q2_K ? 80 : t == DP_DTYPE_Q3_K ? 108 : 0;
    const bool sign = t != DP_DTYPE_Q2_K; /* q2_K levels are unsigned: no sign trick */
    __m256 acc[DP_MM_NC];
    UNROLL
    for (int c = 0; c < NC; c++) acc[c] = _mm256_setzero_ps();
    for (int i = 0; i < k / DP_QK_K; i++, w += bb) {
        int8_t sc8[16], mn8[16];
        int16_t sc[16];
        dp_qk_scales(t, w, sc8, mn8);
        for (int g = 0; g < 16; g++) sc[g] = sc8[g];
        const __m256i mn = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)mn8));
        const float d = f16s(w + d_at), dmin = t == DP_DTYPE_Q2_K ? f16s(w + 82) : 0.0f;
        __m256i lv[8], scv[8];
        UNROLL
        for (int j = 0; j < 8; j++) {
            lv[j] = qk_levels(w, j, t);
            scv[j] = _mm256_set_m128i(_mm_set1_epi16(sc[2 * j + 1]), _mm_set1_epi16(sc[2 * j]));
        }
        UNROLL
        for (int c = 0; c < NC; c++) {
            const dp_block_q8_k *xb = (const dp_block_q8_k *)(x + (size_t)c * xs) + i;
            __m256i isum = _mm256_setzero_si256();
            UNROLL
            for (int j = 0; j < 8; j++) {
                const __m256i qx = load256(xb->qs + 32 * j);
                const __m256i p = sign ? _mm256_maddubs_epi16(_mm256_sign_epi8(lv[j], lv[j]),
                                                              _mm256_sign_epi8(qx, lv[j]))
                                       : _mm256_maddubs_epi16(lv[j], qx);
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, scv[j]));
            }
            acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(d * xb->d), _mm256_cvtepi32_ps(isum), acc[c]);
            if (t == DP_DTYPE_Q2_K) {
                const __m256i m = _mm256_madd_epi16(mn, load256(xb->bsums));
                acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(-dmin * xb->d), _mm256_cvtepi32_ps(m), acc[c]);
            }
        }
    }
    UNROLL
    for (int c = 0; c < NC; c++) s[c] = hsum8(acc[c]);
}

/* ---- q4_K / q5_K x q8_K ---- */

/* The 8 6-bit scales (low 128 bits, as i16) and mins (high 128 bits) of a q4_K/q5_K block. */
INLINE __m256i k4_scales_mins(const uint8_t *packed) {
    uint32_t u0, u1, u2;
    memcpy(&u0, packed, 4);
    memcpy(&u1, packed + 4, 4);
    memcpy(&u2, packed + 8, 4);
    const uint32_t m1 = 0x3f3f3f3f, m2 = 0x0f0f0f0f, m3 = 0x03030303;
    const uint32_t s0 = u0 & m1, s1 = (u2 & m2) | (((u0 >> 6) & m3) << 4);
    const uint32_t n0 = u1 & m1, n1 = ((u2 >> 4) & m2) | (((u1 >> 6) & m3) << 4);
    return _mm256_cvtepu8_epi16(_mm_set_epi32((int)n1, (int)n0, (int)s1, (int)s0));
}

/* Broadcast of i16 scale number j of `scales` (duplicated in both lanes) to all 16 i16 slots. */
INLINE __m256i scale_bcast(__m256i scales, int j) {
    const __m256i idx = _mm256_set1_epi16((short)(0x0100 * (2 * j + 1) + 2 * j));
    return _mm256_shuffle_epi8(scales, idx);
}

INLINE void dot_q45k_nc(int k, const uint8_t *w, const uint8_t *x, size_t xs, float *s,
                        const int NC, const int five, const int vnni) {
    const int nb = k / DP_QK_K;
    const size_t bb = five ? 176 : 144;
    const __m256i m4 = _mm256_set1_epi8(0xF);
    __m256 acc[DP_MM_NC];
    __m128 accm[DP_MM_NC];
    UNROLL
    for (int c = 0; c < NC; c++) {
        acc[c] = _mm256_setzero_ps();
        accm[c] = _mm_setzero_ps();
    }
    for (int i = 0; i < nb; i++, w += bb) {
        UNROLL
        for (int l = 0; l < 3; l++) prefetch_ahead(w + 64 * l);
        const float dw = f16s(w), dminw = f16s(w + 2);
        const __m256i ms = k4_scales_mins(w + 4);
        const __m128i mins = _mm256_extracti128_si256(ms, 1);
        const __m128i sc128 = _mm256_castsi256_si128(ms);
        const __m256i scales = _mm256_inserti128_si256(_mm256_castsi128_si256(sc128), sc128, 1);
        const uint8_t *qs = w + (five ? 48 : 16);
        const __m256i hbits = five ? load256(w + 16) : _mm256_setzero_si256();
        __m256i sumi[DP_MM_NC];
        UNROLL
        for (int c = 0; c < NC; c++) sumi[c] = _mm256_setzero_si256();
UNROLL
        for (int j = 0; j < 4; j++) {
            const __m256i bits = load256(qs + 32 * j);
            __m256i ql = _mm256_and_si256(bits, m4);
            __m256i qh = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
            if (five) {
                const __m256i one = _mm256_set1_epi8(1);
                const __m256i b0 = _mm256_and_si256(_mm256_srli_epi16(hbits, 2 * j), one);
                const __m256i b1 = _mm256_and_si256(_mm256_srli_epi16(hbits, 2 * j + 1), one);
                ql = _mm256_or_si256(ql, _mm256_slli_epi16(b0, 4));
                qh = _mm256_or_si256(qh, _mm256_slli_epi16(b1, 4));
            }
            const __m256i sl = scale_bcast(scales, 2 * j), sh = scale_bcast(scales, 2 * j + 1);
            UNROLL
            for (int c = 0; c < NC; c++) {
                const dp_block_q8_k *xb = (const dp_block_q8_k *)(x + (size_t)c * xs) + i;
                const __m256i pl = _mm256_maddubs_epi16(ql, load256(xb->qs + 64 * j));
                const __m256i ph = _mm256_maddubs_epi16(qh, load256(xb->qs + 64 * j + 32));
                sumi[c] = madd_acc(madd_acc(sumi[c], sl, pl, vnni), sh, ph, vnni);
            }
        }
        UNROLL
        for (int c = 0; c < NC; c++) {
            const dp_block_q8_k *xb = (const dp_block_q8_k *)(x + (size_t)c * xs) + i;
            const __m128i bs = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)xb->bsums),
                                              _mm_loadu_si128((const __m128i *)xb->bsums + 1));
            const __m128i prod = _mm_madd_epi16(mins, bs);
            accm[c] = _mm_fmadd_ps(_mm_set1_ps(-xb->d * dminw), _mm_cvtepi32_ps(prod), accm[c]);
            acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(xb->d * dw), _mm256_cvtepi32_ps(sumi[c]), acc[c]);
        }
    }
    UNROLL
    for (int c = 0; c < NC; c++) {
        __m128 m = _mm_add_ps(accm[c], _mm_movehl_ps(accm[c], accm[c]));
        m = _mm_add_ss(m, _mm_movehdup_ps(m));
        s[c] = hsum8(acc[c]) + _mm_cvtss_f32(m);
    }
}

/* ---- q6_K x q8_K ---- */

INLINE void dot_q6k_nc(int k, const uint8_t *w, const uint8_t *x, size_t xs, float *s,
                       const int NC, const int vnni) {
    const int nb = k / DP_QK_K;
    const __m256i m3 = _mm256_set1_epi8(3), m15 = _mm256_set1_epi8(15);
    __m256 acc[DP_MM_NC];
    UNROLL
    for (int c = 0; c < NC; c++) acc[c] = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++, w += 210) {
        UNROLL
        for (int l = 0; l < 4; l++) prefetch_ahead(w + 64 * l);
        const float dw = f16s(w + 208);
        const __m128i sc8 = _mm_loadu_si128((const __m128i *)(w + 192));
        const __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
        __m256i sumi[DP_MM_NC];
        UNROLL
        for (int c = 0; c < NC; c++) sumi[c] = _mm256_setzero_si256();
UNROLL
        for (int h = 0; h < 2; h++) {
            const __m256i b1 = load256(w + 64 * h), b2 = load256(w + 64 * h + 32);
            const __m256i bh = load256(w + 128 + 32 * h);
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(b1, m15),
                                   _mm256_slli_epi16(_mm256_and_si256(bh, m3), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(b2, m15),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(bh, 2), m3), 4));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b1, 4), m15),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(bh, 4), m3), 4));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b2, 4), m15),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(bh, 6), m3), 4));
            /* group g (32 values) uses scale 8h+2g for its first 16 values, 8h+2g+1 after */
            __m256i scv[4];
            UNROLL
            for (int g = 0; g < 4; g++) {
                const long long a = 8 * h + 2 * g;
                const __m128i idx = _mm_set_epi64x((a + 1) * 0x0101010101010101ll, a * 0x0101010101010101ll);
                scv[g] = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc8, idx));
            }
            UNROLL
            for (int c = 0; c < NC; c++) {
                const dp_block_q8_k *xb = (const dp_block_q8_k *)(x + (size_t)c * xs) + i;
                const int8_t *q8 = xb->qs + 128 * h;
                __m256i t = sumi[c];
                UNROLL
                for (int g = 0; g < 4; g++) {
                    const __m256i p = _mm256_maddubs_epi16(q[g], load256(q8 + 32 * g));
                    t = madd_acc(t, scv[g], p, vnni);
                }
                sumi[c] = t;
            }
        }
        UNROLL
        for (int c = 0; c < NC; c++) {
            const dp_block_q8_k *xb = (const dp_block_q8_k *)(x + (size_t)c * xs) + i;
            /* the stored levels are q + 32: subtract 32 * Σ_sub scale * bsum */
            const __m256i off = _mm256_slli_epi32(_mm256_madd_epi16(load256(xb->bsums), sc16), 5);
            const __m256i t = _mm256_sub_epi32(sumi[c], off);
            acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(xb->d * dw), _mm256_cvtepi32_ps(t), acc[c]);
        }
    }
    UNROLL
    for (int c = 0; c < NC; c++) s[c] = hsum8(acc[c]);
}

/* ---- panel GEMM for q4_K / q5_K / q6_K ----
 *
 * Packed panel, per super-block of 256 values (PB bytes):
 *   f32 d[8], dmin[8]                       super-block scales of the 8 rows
 *   i16 sc[16][16]                           per sub-block: the row's scale in lanes 2r, 2r+1
 *   i16 mn[8][16]                            per pair of sub-blocks p: lanes 2r, 2r+1 hold the
 *                                            row's mins of sub-blocks 2p, 2p+1
 *   u8  q[64][32]                            step t: values 4t..4t+3 of rows 0..7
 * q4_K / q5_K: 8 sub-blocks of 32, levels 0..15 / 0..31, w = d*sc*q - dmin*mn.
 * q6_K: 16 sub-blocks of 16, levels 0..63 (stored +32), w = d*sc*q - d*(32*sc): packed with
 * dmin = d and mn = 32*sc so one kernel serves all three.
 * Inner step: one 32-byte load of weights (4 values x 8 rows), a broadcast of 4 activation
 * bytes per activation row, maddubs, and an i16 add; the i16 sums are flushed through madd with
 * the scales before they can overflow (8 steps for 4-bit, 4 for 5-bit, 2 for 6-bit levels). */
#define PB_D 0
#define PB_DMIN 32
#define PB_SC 64
#define PB_MN (64 + 16 * 32)
#define PB_Q (64 + 16 * 32 + 8 * 32)
#define PB (PB_Q + 64 * 32)

static size_t avx2_panel_bytes(dp_dtype wt, int k) {
    if (wt != DP_DTYPE_Q4_K && wt != DP_DTYPE_Q5_K && wt != DP_DTYPE_Q6_K) return 0;
    return (size_t)(k / DP_QK_K) * PB;
}

/* 8x8 transpose of 32-bit elements: out[t] holds element t of rows 0..7. */
INLINE void transpose8x32(const __m256i in[8], __m256i out[8]) {
    __m256i a[8], b[8];
    UNROLL
    for (int i = 0; i < 4; i++) {
        a[2 * i] = _mm256_unpacklo_epi32(in[2 * i], in[2 * i + 1]);
        a[2 * i + 1] = _mm256_unpackhi_epi32(in[2 * i], in[2 * i + 1]);
    }
    UNROLL
    for (int i = 0; i < 2; i++) {
        b[4 * i + 0] = _mm256_unpacklo_epi64(a[4 * i + 0], a[4 * i + 2]);
        b[4 * i + 1] = _mm256_unpackhi_epi64(a[4 * i + 0], a[4 * i + 2]);
        b[4 * i + 2] = _mm256_unpacklo_epi64(a[4 * i + 1], a[4 * i + 3]);
        b[4 * i + 3] = _mm256_unpackhi_epi64(a[4 * i + 1], a[4 * i + 3]);
    }
    UNROLL
    for (int i = 0; i < 4; i++) {
        out[i] = _mm256_permute2x128_si256(b[i], b[4 + i], 0x20);
        out[i + 4] = _mm256_permute2x128_si256(b[i], b[4 + i], 0x31);
    }
}

/* Levels of 32 values (vector v = values 32v..32v+31) of one block. */
INLINE __m256i levels32(dp_dtype wt, const uint8_t *blk, int v) {
    const __m256i m4 = _mm256_set1_epi8(0xF);
    if (wt == DP_DTYPE_Q6_K) {
        const int h = v / 4, g = v % 4;
        const __m256i lo = load256(blk + 64 * h + 32 * (g & 1));
        const __m256i hb = load256(blk + 128 + 32 * h);
        const __m256i nib = g < 2 ? _mm256_and_si256(lo, m4) : _mm256_and_si256(_mm256_srli_epi16(lo, 4), m4);
        const __m256i top = _mm256_and_si256(_mm256_srli_epi16(hb, 2 * g), _mm256_set1_epi8(3));
        return _mm256_or_si256(nib, _mm256_slli_epi16(top, 4));
    }
    const uint8_t *qs = blk + (wt == DP_DTYPE_Q5_K ? 48 : 16);
    const __m256i bits = load256(qs + 32 * (v / 2));
    __m256i q = v & 1 ? _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4) : _mm256_and_si256(bits, m4);
    if (wt == DP_DTYPE_Q5_K) {
        const __m256i hb = _mm256_and_si256(_mm256_srli_epi16(load256(blk + 16), v), _mm256_set1_epi8(1));
        q = _mm256_or_si256(q, _mm256_slli_epi16(hb, 4));
    }
    return q;
}

#define VNNI_TARGET DP_MM_VNNI_TARGET

/* 8x8 transpose of 16-bit elements: out[j] holds element j of rows 0..7. */
INLINE void transpose8x16(const __m128i in[8], __m128i out[8]) {
    __m128i a[8], c[8];
    UNROLL
    for (int i = 0; i < 4; i++) {
        a[2 * i] = _mm_unpacklo_epi16(in[2 * i], in[2 * i + 1]);
        a[2 * i + 1] = _mm_unpackhi_epi16(in[2 * i], in[2 * i + 1]);
    }
    UNROLL
    for (int i = 0; i < 2; i++) {
        c[4 * i + 0] = _mm_unpacklo_epi32(a[4 * i + 0], a[4 * i + 2]);
        c[4 * i + 1] = _mm_unpackhi_epi32(a[4 * i + 0], a[4 * i + 2]);
        c[4 * i + 2] = _mm_unpacklo_epi32(a[4 * i + 1], a[4 * i + 3]);
        c[4 * i + 3] = _mm_unpackhi_epi32(a[4 * i + 1], a[4 * i + 3]);
    }
    UNROLL
    for (int i = 0; i < 4; i++) {
        out[2 * i] = _mm_unpacklo_epi64(c[i], c[4 + i]);
        out[2 * i + 1] = _mm_unpackhi_epi64(c[i], c[4 + i]);
    }
}

/* Per sub-block scale vectors [s_r0, s_r0, s_r1, s_r1, ...] from rows' i16 scales. */
INLINE void store_scale_pairs(const __m128i rows_sc[8], uint8_t *dst) {
    __m128i col[8];
    transpose8x16(rows_sc, col);
    UNROLL
    for (int s = 0; s < 8; s++)
        _mm256_storeu_si256((__m256i *)(dst + 32 * s),
                            _mm256_set_m128i(_mm_unpackhi_epi16(col[s], col[s]), _mm_unpacklo_epi16(col[s], col[s])));
}

INLINE void panel_pack_block(dp_dtype wt, const uint8_t *const blk[8], uint8_t *out) {
    __m256i v[8], tr[8];
    __m128i h[8];
    if (wt == DP_DTYPE_Q6_K) {
        UNROLL
        for (int r = 0; r < 8; r++) v[r] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(blk[r] + 192)));
        UNROLL
        for (int r = 0; r < 8; r++) h[r] = _mm256_castsi256_si128(v[r]);
        store_scale_pairs(h, out + PB_SC);
        UNROLL
        for (int r = 0; r < 8; r++) h[r] = _mm256_extracti128_si256(v[r], 1);
        store_scale_pairs(h, out + PB_SC + 8 * 32);
        UNROLL
        for (int r = 0; r < 8; r++) v[r] = _mm256_slli_epi16(v[r], 5); /* mins: 32 * scale */
        transpose8x32(v, tr);
        UNROLL
        for (int p = 0; p < 8; p++) _mm256_storeu_si256((__m256i *)(out + PB_MN + 32 * p), tr[p]);
        const __m128i dh = _mm_setr_epi16(
            (short)(blk[0][208] | blk[0][209] << 8), (short)(blk[1][208] | blk[1][209] << 8),
            (short)(blk[2][208] | blk[2][209] << 8), (short)(blk[3][208] | blk[3][209] << 8),
            (short)(blk[4][208] | blk[4][209] << 8), (short)(blk[5][208] | blk[5][209] << 8),
            (short)(blk[6][208] | blk[6][209] << 8), (short)(blk[7][208] | blk[7][209] << 8));
        _mm256_storeu_ps((float *)(out + PB_D), _mm256_cvtph_ps(dh));
        _mm256_storeu_ps((float *)(out + PB_DMIN), _mm256_cvtph_ps(dh));
    } else {
        UNROLL
        for (int r = 0; r < 8; r++) v[r] = k4_scales_mins(blk[r] + 4);
        UNROLL
        for (int r = 0; r < 8; r++) h[r] = _mm256_castsi256_si128(v[r]);
        store_scale_pairs(h, out + PB_SC);
        memset(out + PB_SC + 8 * 32, 0, 8 * 32); /* sub-blocks 8..15 are unused */
        transpose8x32(v, tr); /* dwords 4..7 of each row are its mins pairs */
        UNROLL
        for (int p = 0; p < 4; p++) _mm256_storeu_si256((__m256i *)(out + PB_MN + 32 * p), tr[4 + p]);
        uint16_t d16[8], m16[8];
        UNROLL
        for (int r = 0; r < 8; r++) {
            memcpy(&d16[r], blk[r], 2);
            memcpy(&m16[r], blk[r] + 2, 2);
        }
        _mm256_storeu_ps((float *)(out + PB_D), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)d16)));
        _mm256_storeu_ps((float *)(out + PB_DMIN), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)m16)));
    }
    UNROLL
    for (int vi = 0; vi < 8; vi++) {
        UNROLL
        for (int r = 0; r < 8; r++) v[r] = levels32(wt, blk[r], vi);
        transpose8x32(v, tr);
        UNROLL
        for (int t = 0; t < 8; t++) _mm256_storeu_si256((__m256i *)(out + PB_Q + 32 * (8 * vi + t)), tr[t]);
    }
}

#define PACK_CASE(WT)                                                                         \
    for (int b = 0; b < nb; b++) {                                                            \
        const uint8_t *blk[8];                                                                \
        UNROLL                                                                                \
        for (int r = 0; r < 8; r++) blk[r] = rows + (size_t)r * w_stride + (size_t)b * bb;    \
        panel_pack_block(WT, blk, out + (size_t)b * PB);                                      \
    }

static void avx2_panel_pack(dp_dtype wt, int k, const void *w, size_t w_stride, void *dst) {
    const int nb = k / DP_QK_K;
    const size_t bb = dp_dtype_block_bytes(wt);
    const uint8_t *rows = w;
    uint8_t *out = dst;
    if (wt == DP_DTYPE_Q4_K) PACK_CASE(DP_DTYPE_Q4_K)
    else if (wt == DP_DTYPE_Q5_K) PACK_CASE(DP_DTYPE_Q5_K)
    else PACK_CASE(DP_DTYPE_Q6_K)
}

/* The same code given AVX-512VL's 32 vector registers (the transposes no longer spill). */
VNNI_TARGET static void vnni_panel_pack(dp_dtype wt, int k, const void *w, size_t w_stride,
                                        void *dst) {
    const int nb = k / DP_QK_K;
    const size_t bb = dp_dtype_block_bytes(wt);
    const uint8_t *rows = w;
    uint8_t *out = dst;
    if (wt == DP_DTYPE_Q4_K) PACK_CASE(DP_DTYPE_Q4_K)
    else if (wt == DP_DTYPE_Q5_K) PACK_CASE(DP_DTYPE_Q5_K)
    else PACK_CASE(DP_DTYPE_Q6_K)
}

/* One 8-row panel against NC activation rows. SUB: values per sub-block (32 or 16);
 * LIM: maddubs steps summed in i16 before the madd with the scales. */
INLINE void panel_tile_nc(int k, const uint8_t *P, const uint8_t *x, size_t xs, float *y,
                          size_t ldy, bool acc, const int NC, const int SUB, const int LIM) {
    const int nb = k / DP_QK_K, nsub = DP_QK_K / SUB, steps = SUB / 4;
    __m256 accf[DP_MM_NC];
    UNROLL
    for (int c = 0; c < NC; c++) accf[c] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++, P += PB) {
        __m256i acc32[DP_MM_NC];
        const int8_t *xq[DP_MM_NC];
        UNROLL
        for (int c = 0; c < NC; c++) {
            acc32[c] = _mm256_setzero_si256();
            xq[c] = ((const dp_block_q8_k *)(x + (size_t)c * xs) + b)->qs;
        }
        for (int s = 0; s < nsub; s++) {
            const __m256i sc = load256(P + PB_SC + 32 * s);
            for (int t0 = 0; t0 < steps; t0 += LIM) {
                __m256i a16[DP_MM_NC];
                UNROLL
                for (int c = 0; c < NC; c++) a16[c] = _mm256_setzero_si256();
                UNROLL
                for (int t = t0; t < t0 + LIM; t++) {
                    const __m256i wv = load256(P + PB_Q + 32 * (steps * s + t));
                    UNROLL
                    for (int c = 0; c < NC; c++) {
                        int32_t xv;
                        memcpy(&xv, xq[c] + SUB * s + 4 * t, 4);
                        a16[c] = _mm256_add_epi16(a16[c], _mm256_maddubs_epi16(wv, _mm256_set1_epi32(xv)));
                    }
                }
                UNROLL
                for (int c = 0; c < NC; c++) acc32[c] = _mm256_add_epi32(acc32[c], _mm256_madd_epi16(sc, a16[c]));
            }
        }
        const __m256 dv = _mm256_loadu_ps((const float *)(P + PB_D));
        const __m256 dmv = _mm256_loadu_ps((const float *)(P + PB_DMIN));
        UNROLL
        for (int c = 0; c < NC; c++) {
            const dp_block_q8_k *xb = (const dp_block_q8_k *)(x + (size_t)c * xs) + b;
            __m256i msum = _mm256_setzero_si256();
            if (SUB == 32) {
                const __m128i bs = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)xb->bsums),
                                                  _mm_loadu_si128((const __m128i *)xb->bsums + 1));
                const __m256i b2 = _mm256_broadcastsi128_si256(bs);
                msum = _mm256_add_epi32(_mm256_madd_epi16(load256(P + PB_MN), _mm256_shuffle_epi32(b2, 0x00)),
                                        _mm256_madd_epi16(load256(P + PB_MN + 32), _mm256_shuffle_epi32(b2, 0x55)));
                msum = _mm256_add_epi32(msum, _mm256_madd_epi16(load256(P + PB_MN + 64), _mm256_shuffle_epi32(b2, 0xAA)));
                msum = _mm256_add_epi32(msum, _mm256_madd_epi16(load256(P + PB_MN + 96), _mm256_shuffle_epi32(b2, 0xFF)));
            } else {
                const __m256i bs = load256(xb->bsums);
                for (int p = 0; p < 8; p++)
                    msum = _mm256_add_epi32(msum, _mm256_madd_epi16(load256(P + PB_MN + 32 * p),
                                                                    _mm256_permutevar8x32_epi32(bs, _mm256_set1_epi32(p))));
            }
            const __m256 xd = _mm256_set1_ps(xb->d);
            accf[c] = _mm256_fmadd_ps(_mm256_mul_ps(dv, xd), _mm256_cvtepi32_ps(acc32[c]), accf[c]);
            accf[c] = _mm256_fnmadd_ps(_mm256_mul_ps(dmv, xd), _mm256_cvtepi32_ps(msum), accf[c]);
        }
    }
    UNROLL
    for (int c = 0; c < NC; c++) {
        float *yc = y + (size_t)c * ldy;
        _mm256_storeu_ps(yc, acc ? _mm256_add_ps(_mm256_loadu_ps(yc), accf[c]) : accf[c]);
    }
}

#define PANEL_CASES(SUB, LIM)                                                                 \
    switch (nc) {                                                                             \
    case 1: panel_tile_nc(k, P, xb, xs, y, ldy, acc, 1, SUB, LIM); break;                     \
    case 2: panel_tile_nc(k, P, xb, xs, y, ldy, acc, 2, SUB, LIM); break;                     \
    case 3: panel_tile_nc(k, P, xb, xs, y, ldy, acc, 3, SUB, LIM); break;                     \
    default: panel_tile_nc(k, P, xb, xs, y, ldy, acc, 4, SUB, LIM); break;                    \
    }

static void avx2_panel_tile(dp_dtype wt, int k, const void *panel, const void *x, size_t xs, int nc,
                            float *y, size_t ldy, bool acc) {
    const uint8_t *P = panel, *xb = x;
    if (wt == DP_DTYPE_Q4_K) PANEL_CASES(32, 8)
    else if (wt == DP_DTYPE_Q5_K) PANEL_CASES(32, 4)
    else PANEL_CASES(16, 2)
}

/* ---- the same panel tile with AVX-512 VNNI on 256-bit vectors (Zen 4, Ice Lake and later) ----
 * vpdpbusd multiplies the u8 levels by the s8 activations and accumulates straight into i32
 * lanes (one per panel row), so a step is one broadcast and one instruction per activation row
 * and a sub-block needs no i16 flush; its scale is applied once with an i32 multiply.
 * Compiled for that target only; used after a runtime CPU check. */

VNNI_TARGET INLINE void panel_tile_vnni_nc(int k, const uint8_t *P, const uint8_t *x, size_t xs,
                                           float *y, size_t ldy, bool acc, const int NC,
                                           const int SUB) {
    const int nb = k / DP_QK_K, nsub = DP_QK_K / SUB, steps = SUB / 4;
    __m256 accf[DP_MM_NC];
    UNROLL
    for (int c = 0; c < NC; c++) accf[c] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++, P += PB) {
        __m256i acc32[DP_MM_NC];
        const int8_t *xq[DP_MM_NC];
        UNROLL
        for (int c = 0; c < NC; c++) {
            acc32[c] = _mm256_setzero_si256();
            xq[c] = ((const dp_block_q8_k *)(x + (size_t)c * xs) + b)->qs;
        }
        for (int s = 0; s < nsub; s++) {
            /* the i16 pair [sc, sc] of each row read as i32, shifted down: the row's scale */
            const __m256i sc = _mm256_srai_epi32(load256(P + PB_SC + 32 * s), 16);
            __m256i a32[DP_MM_NC];
            UNROLL
            for (int c = 0; c < NC; c++) a32[c] = _mm256_setzero_si256();
            UNROLL
            for (int t = 0; t < steps; t++) {
                const __m256i wv = load256(P + PB_Q + 32 * (steps * s + t));
                UNROLL
                for (int c = 0; c < NC; c++) {
                    int32_t xv;
                    memcpy(&xv, xq[c] + SUB * s + 4 * t, 4);
                    a32[c] = _mm256_dpbusd_epi32(a32[c], wv, _mm256_set1_epi32(xv));
                }
            }
            UNROLL
            for (int c = 0; c < NC; c++) acc32[c] = _mm256_add_epi32(acc32[c], _mm256_mullo_epi32(sc, a32[c]));
        }
        const __m256 dv = _mm256_loadu_ps((const float *)(P + PB_D));
        const __m256 dmv = _mm256_loadu_ps((const float *)(P + PB_DMIN));
        UNROLL
        for (int c = 0; c < NC; c++) {
            const dp_block_q8_k *xb = (const dp_block_q8_k *)(x + (size_t)c * xs) + b;
            __m256i msum = _mm256_setzero_si256();
            if (SUB == 32) {
                const __m128i bs = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)xb->bsums),
                                                  _mm_loadu_si128((const __m128i *)xb->bsums + 1));
                const __m256i b2 = _mm256_broadcastsi128_si256(bs);
                msum = _mm256_dpwssd_epi32(msum, load256(P + PB_MN), _mm256_shuffle_epi32(b2, 0x00));
                msum = _mm256_dpwssd_epi32(msum, load256(P + PB_MN + 32), _mm256_shuffle_epi32(b2, 0x55));
                msum = _mm256_dpwssd_epi32(msum, load256(P + PB_MN + 64), _mm256_shuffle_epi32(b2, 0xAA));
                msum = _mm256_dpwssd_epi32(msum, load256(P + PB_MN + 96), _mm256_shuffle_epi32(b2, 0xFF));
            } else {
                const __m256i bs = load256(xb->bsums);
                UNROLL
                for (int p = 0; p < 8; p++)
                    msum = _mm256_dpwssd_epi32(msum, load256(P + PB_MN + 32 * p),
                                               _mm256_permutevar8x32_epi32(bs, _mm256_set1_epi32(p)));
            }
            const __m256 xd = _mm256_set1_ps(xb->d);
            accf[c] = _mm256_fmadd_ps(_mm256_mul_ps(dv, xd), _mm256_cvtepi32_ps(acc32[c]), accf[c]);
            accf[c] = _mm256_fnmadd_ps(_mm256_mul_ps(dmv, xd), _mm256_cvtepi32_ps(msum), accf[c]);
        }
    }
    UNROLL
    for (int c = 0; c < NC; c++) {
        float *yc = y + (size_t)c * ldy;
        _mm256_storeu_ps(yc, acc ? _mm256_add_ps(_mm256_loadu_ps(yc), accf[c]) : accf[c]);
    }
}

#define VNNI_TILE(NAME, NC, SUB)                                                              \
    VNNI_TARGET static void NAME(int k, const uint8_t *P, const uint8_t *x, size_t xs,        \
                                 float *y, size_t ldy, bool acc) {                            \
        panel_tile_vnni_nc(k, P, x, xs, y, ldy, acc, NC, SUB);                                \
    }
VNNI_TILE(vnni_tile_32_1, 1, 32)
VNNI_TILE(vnni_tile_32_2, 2, 32)
VNNI_TILE(vnni_tile_32_3, 3, 32)
VNNI_TILE(vnni_tile_32_4, 4, 32)
VNNI_TILE(vnni_tile_16_1, 1, 16)
VNNI_TILE(vnni_tile_16_2, 2, 16)
VNNI_TILE(vnni_tile_16_3, 3, 16)
VNNI_TILE(vnni_tile_16_4, 4, 16)

static void vnni_panel_tile(dp_dtype wt, int k, const void *panel, const void *x, size_t xs,
                            int nc, float *y, size_t ldy, bool acc) {
    typedef void (*tile_fn)(int, const uint8_t *, const uint8_t *, size_t, float *, size_t, bool);
    static const tile_fn t32[4] = {vnni_tile_32_1, vnni_tile_32_2, vnni_tile_32_3, vnni_tile_32_4};
    static const tile_fn t16[4] = {vnni_tile_16_1, vnni_tile_16_2, vnni_tile_16_3, vnni_tile_16_4};
    const int i = (nc < DP_MM_NC ? nc : DP_MM_NC) - 1;
    (wt == DP_DTYPE_Q6_K ? t16 : t32)[i](k, panel, x, xs, y, ldy, acc);
}

/* ---- DP_CPU_W_X8 group kernels: 8 interleaved rows against 1..4 activation rows ----
 * Layout in matmul_impl.h. Each 64-byte piece holds 8 bytes of each of the 8 rows; one 8-byte
 * broadcast of the activations feeds all 8 rows, and the block scales of the 8 rows are
 * applied as vectors (one lane per row), so a block of 8 rows costs about what the row kernels
 * spend on one. The i32 sums of a super-block are exact; the float sums run per super-block
 * and row (the row kernels keep 8 partial sums per row instead: results agree to rounding). */

/* Scales (s0: sub-blocks 0..3, s1: 4..7) and mins (n0, n1) of the 8 rows, one row per dword,
 * one 6-bit value per byte: k4_scales_mins for 8 rows at once. */
INLINE void x8_q4k_scales(const uint8_t *rec, __m256i *s0, __m256i *s1, __m256i *n0, __m256i *n1) {
    const __m256i u0 = load256(rec + 32), u1 = load256(rec + 64), u2 = load256(rec + 96);
    const __m256i m1 = _mm256_set1_epi32(0x3f3f3f3f), m2 = _mm256_set1_epi32(0x0f0f0f0f),
                  m3 = _mm256_set1_epi32(0x03030303);
    *s0 = _mm256_and_si256(u0, m1);
    *s1 = _mm256_or_si256(_mm256_and_si256(u2, m2),
                          _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(u0, 6), m3), 4));
    *n0 = _mm256_and_si256(u1, m1);
    *n1 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(u2, 4), m2),
                          _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(u1, 6), m3), 4));
}

/* Σ_j min_j * (Σ of the 32 activations of sub-block j), one row per lane. */
INLINE __m256i x8_q4k_minsum(__m256i n0, __m256i n1, const dp_block_q8_k *xb) {
    const __m128i bs = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)xb->bsums),
                                      _mm_loadu_si128((const __m128i *)xb->bsums + 1));
    /* dwords: (bs0, bs2), (bs1, bs3), (bs4, bs6), (bs5, bs7) */
    const __m128i p = _mm_shuffle_epi8(bs, _mm_setr_epi8(0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15));
    const __m256i lo = _mm256_set1_epi32(0x00FF00FF);
    __m256i m = _mm256_madd_epi16(_mm256_and_si256(n0, lo), _mm256_broadcastd_epi32(p));
    m = _mm256_add_epi32(m, _mm256_madd_epi16(_mm256_srli_epi16(n0, 8),
                                              _mm256_broadcastd_epi32(_mm_shuffle_epi32(p, 0x55))));
    m = _mm256_add_epi32(m, _mm256_madd_epi16(_mm256_and_si256(n1, lo),
                                              _mm256_broadcastd_epi32(_mm_shuffle_epi32(p, 0xAA))));
    m = _mm256_add_epi32(m, _mm256_madd_epi16(_mm256_srli_epi16(n1, 8),
                                              _mm256_broadcastd_epi32(_mm_shuffle_epi32(p, 0xFF))));
    return m;
}

INLINE __m256i bcast64(const int8_t *p) {
    int64_t v;
    memcpy(&v, p, 8);
    return _mm256_set1_epi64x(v);
}

/* Two i32 lanes per row for rows 0..3 (a) and 4..7 (b) -> one lane per row 0..7. */
INLINE __m256i x8_rows8(__m256i a, __m256i b) {
    return _mm256_permute4x64_epi64(_mm256_hadd_epi32(a, b), 0xD8);
}

/* Byte `byte` of each dword of v as an i16 pair (both halves of the dword). */
INLINE __m256i byte_pair16(__m256i v, int byte) {
    const __m256i e = _mm256_and_si256(_mm256_srli_epi32(v, 8 * byte), _mm256_set1_epi32(0xFF));
    return _mm256_or_si256(e, _mm256_slli_epi32(e, 16));
}

/* AVX2: a 64-byte piece is two ymm (rows 0..3, rows 4..7); maddubs sums of the 4 steps of a
 * 32-value sub-block stay in i16 (4 x 2 x 15 x 127 < 2^15), then madd with the row scales. */
INLINE void x8_q4k_avx2_nc(int k, const uint8_t *w, const uint8_t *x, size_t xs, float *s,
                           const int NC) {
    const int nb = k / DP_QK_K;
    const __m256i m4 = _mm256_set1_epi8(0xF);
    const __m256i ia = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3), ib = _mm256_setr_epi32(4, 4, 5, 5, 6, 6, 7, 7);
    __m256 acc[DP_MM_NC];
    UNROLL
    for (int c = 0; c < NC; c++) acc[c] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++, w += 8 * 144) {
        __m256i s0, s1, n0, n1;
        x8_q4k_scales(w, &s0, &s1, &n0, &n1);
        const int8_t *xq[DP_MM_NC];
        __m256i sa[DP_MM_NC], sb[DP_MM_NC];
        UNROLL
        for (int c = 0; c < NC; c++) {
            xq[c] = ((const dp_block_q8_k *)(x + (size_t)c * xs) + b)->qs;
            sa[c] = sb[c] = _mm256_setzero_si256();
        }
        UNROLL
        for (int c4 = 0; c4 < 4; c4++) {
            __m256i la[DP_MM_NC], ha[DP_MM_NC], lb[DP_MM_NC], hb[DP_MM_NC];
            UNROLL
            for (int c = 0; c < NC; c++) la[c] = ha[c] = lb[c] = hb[c] = _mm256_setzero_si256();
            UNROLL
            for (int jj = 0; jj < 4; jj++) {
                const uint8_t *pc = w + DP_MM_X8_Q4K_QS + 64 * (4 * c4 + jj);
                const __m256i va = load256(pc), vb = load256(pc + 32);
                const __m256i qla = _mm256_and_si256(va, m4), qha = _mm256_and_si256(_mm256_srli_epi16(va, 4), m4);
                const __m256i qlb = _mm256_and_si256(vb, m4), qhb = _mm256_and_si256(_mm256_srli_epi16(vb, 4), m4);
                UNROLL
                for (int c = 0; c < NC; c++) {
                    const __m256i xl = bcast64(xq[c] + 64 * c4 + 8 * jj);
                    const __m256i xh = bcast64(xq[c] + 64 * c4 + 32 + 8 * jj);
                    la[c] = _mm256_add_epi16(la[c], _mm256_maddubs_epi16(qla, xl));
                    ha[c] = _mm256_add_epi16(ha[c], _mm256_maddubs_epi16(qha, xh));
                    lb[c] = _mm256_add_epi16(lb[c], _mm256_maddubs_epi16(qlb, xl));
                    hb[c] = _mm256_add_epi16(hb[c], _mm256_maddubs_epi16(qhb, xh));
                }
            }
            const __m256i S = c4 < 2 ? s0 : s1;
            const __m256i SA = _mm256_permutevar8x32_epi32(S, ia), SB = _mm256_permutevar8x32_epi32(S, ib);
            const int by = 2 * (c4 & 1);
            const __m256i sla = byte_pair16(SA, by), sha = byte_pair16(SA, by + 1);
            const __m256i slb = byte_pair16(SB, by), shb = byte_pair16(SB, by + 1);
            UNROLL
            for (int c = 0; c < NC; c++) {
                sa[c] = _mm256_add_epi32(sa[c], _mm256_add_epi32(_mm256_madd_epi16(la[c], sla), _mm256_madd_epi16(ha[c], sha)));
                sb[c] = _mm256_add_epi32(sb[c], _mm256_add_epi32(_mm256_madd_epi16(lb[c], slb), _mm256_madd_epi16(hb[c], shb)));
            }
        }
        const __m256 dv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)w));
        const __m256 dmv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + 16)));
        UNROLL
        for (int c = 0; c < NC; c++) {
            const dp_block_q8_k *xb = (const dp_block_q8_k *)(x + (size_t)c * xs) + b;
            const __m256 xd = _mm256_set1_ps(xb->d);
            acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(dv, xd), _mm256_cvtepi32_ps(x8_rows8(sa[c], sb[c])), acc[c]);
            acc[c] = _mm256_fnmadd_ps(_mm256_mul_ps(dmv, xd), _mm256_cvtepi32_ps(x8_q4k_minsum(n0, n1, xb)), acc[c]);
        }
    }
    UNROLL
    for (int c = 0; c < NC; c++) _mm256_storeu_ps(s + DP_MM_X8 * c, acc[c]);
}

/* q6_K levels of one piece pair: low nibbles of L with bits (2q, 2q+1) of H on top (group q),
 * high nibbles with bits (2q+4, 2q+5) (group q + 2). */
#define X8_Q6_LEVELS(T, and_, or_, sl, sr, L, H, q, m4, m30, vA, vB)                        \
    do {                                                                                      \
        vA = or_(and_(L, m4), and_(q ? sl(H, 2) : sl(H, 4), m30));                            \
        vB = or_(and_(sr(L, 4), m4), and_(q ? sr(H, 2) : H, m30));                            \
    } while (0)

/* AVX2 q6_K: i16 sums of the 2 steps of a 16-value sub-block (2 x 2 x 63 x 127 < 2^15).
 * Triple (h, j) gives 8 values of each of the 4 groups (g = q, q + 2 from ql piece q). */
INLINE void x8_q6k_avx2_nc(int k, const uint8_t *w, const uint8_t *x, size_t xs, float *s,
                           const int NC) {
    const int nb = k / DP_QK_K;
    const __m256i m4 = _mm256_set1_epi8(0xF), m30 = _mm256_set1_epi8(0x30);
    const __m256i ia = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3), ib = _mm256_setr_epi32(4, 4, 5, 5, 6, 6, 7, 7);
    const __m256i dup0 = _mm256_setr_epi8(0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13,
                                          0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13);
    const __m256i dup1 = _mm256_add_epi8(dup0, _mm256_set1_epi8(2));
    __m256 acc[DP_MM_NC];
    UNROLL
    for (int c = 0; c < NC; c++) acc[c] = _mm256_setzero_ps();
    const uint8_t *const grp = w;
    for (int b = 0; b < nb; b++) {
        size_t lo, ho;
        dp_mm_x8_q6k_at(nb, b, &lo, &ho);
        const uint8_t *hd = grp + ho;
        w = grp + lo;
        const int8_t *xq[DP_MM_NC];
        __m256i sa[DP_MM_NC], sb[DP_MM_NC];
        UNROLL
        for (int c = 0; c < NC; c++) {
            xq[c] = ((const dp_block_q8_k *)(x + (size_t)c * xs) + b)->qs;
            sa[c] = sb[c] = _mm256_setzero_si256();
        }
        for (int h = 0; h < 2; h++) {
            UNROLL
            for (int jh = 0; jh < 2; jh++) {
                __m256i a[4][DP_MM_NC], bq[4][DP_MM_NC]; /* per group: rows 0..3, rows 4..7 */
                UNROLL
                for (int g = 0; g < 4; g++)
                    UNROLL
                    for (int c = 0; c < NC; c++) a[g][c] = bq[g][c] = _mm256_setzero_si256();
                UNROLL
                for (int jj = 0; jj < 2; jj++) {
                    const int j = 2 * jh + jj;
                    const uint8_t *t = w + 192 * (4 * h + j);
                    const __m256i Ha = load256(t), Hb = load256(t + 32);
                    UNROLL
                    for (int q = 0; q < 2; q++) {
                        const __m256i La = load256(t + 64 + 64 * q), Lb = load256(t + 96 + 64 * q);
                        __m256i vAa, vBa, vAb, vBb;
                        X8_Q6_LEVELS(__m256i, _mm256_and_si256, _mm256_or_si256, _mm256_slli_epi16,
                                     _mm256_srli_epi16, La, Ha, q, m4, m30, vAa, vBa);
                        X8_Q6_LEVELS(__m256i, _mm256_and_si256, _mm256_or_si256, _mm256_slli_epi16,
                                     _mm256_srli_epi16, Lb, Hb, q, m4, m30, vAb, vBb);
                        UNROLL
                        for (int c = 0; c < NC; c++) {
                            const __m256i xA = bcast64(xq[c] + 128 * h + 32 * q + 8 * j);
                            const __m256i xB = bcast64(xq[c] + 128 * h + 32 * (q + 2) + 8 * j);
                            a[q][c] = _mm256_add_epi16(a[q][c], _mm256_maddubs_epi16(vAa, xA));
                            bq[q][c] = _mm256_add_epi16(bq[q][c], _mm256_maddubs_epi16(vAb, xA));
                            a[q + 2][c] = _mm256_add_epi16(a[q + 2][c], _mm256_maddubs_epi16(vBa, xB));
                            bq[q + 2][c] = _mm256_add_epi16(bq[q + 2][c], _mm256_maddubs_epi16(vBb, xB));
                        }
                    }
                }
                /* group g, half jh: sub-block 8h + 2g + jh, scale pair piece 4h + g */
                const __m256i dup = jh ? dup1 : dup0;
                UNROLL
                for (int g = 0; g < 4; g++) {
                    const __m256i P = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(hd + 16 + 16 * (4 * h + g))));
                    const __m256i sA = _mm256_shuffle_epi8(_mm256_permutevar8x32_epi32(P, ia), dup);
                    const __m256i sB = _mm256_shuffle_epi8(_mm256_permutevar8x32_epi32(P, ib), dup);
                    UNROLL
                    for (int c = 0; c < NC; c++) {
                        sa[c] = _mm256_add_epi32(sa[c], _mm256_madd_epi16(a[g][c], sA));
                        sb[c] = _mm256_add_epi32(sb[c], _mm256_madd_epi16(bq[g][c], sB));
                    }
                }
            }
        }
        const __m256 dv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)hd));
        UNROLL
        for (int c = 0; c < NC; c++) {
            const dp_block_q8_k *xb = (const dp_block_q8_k *)(x + (size_t)c * xs) + b;
            /* the stored levels are q + 32: subtract 32 * Σ_sub scale * bsum, per row */
            __m256i off = _mm256_setzero_si256();
            UNROLL
            for (int p = 0; p < 8; p++) {
                int32_t bp;
                memcpy(&bp, xb->bsums + 2 * p, 4);
                off = _mm256_add_epi32(off, _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(hd + 16 + 16 * p))),
                                                              _mm256_set1_epi32(bp)));
            }
            const __m256i t = _mm256_sub_epi32(x8_rows8(sa[c], sb[c]), _mm256_slli_epi32(off, 5));
            acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(dv, _mm256_set1_ps(xb->d)), _mm256_cvtepi32_ps(t), acc[c]);
        }
    }
    UNROLL
    for (int c = 0; c < NC; c++) _mm256_storeu_ps(s + DP_MM_X8 * c, acc[c]);
}

/* AVX-512 VNNI: a piece is one zmm (two dword lanes per row); vpdpbusd accumulates u8 levels
 * x s8 activations straight into i32, and a sub-block's scale is one vpmulld. */
VNNI_TARGET INLINE __m512i bcast64z(const int8_t *p) {
    int64_t v;
    memcpy(&v, p, 8);
    return _mm512_set1_epi64(v);
}

/* Two dword lanes per row -> one lane per row. */
VNNI_TARGET INLINE __m256i x8_rows8z(__m512i v) {
    return _mm512_cvtepi64_epi32(_mm512_add_epi32(v, _mm512_srli_epi64(v, 32)));
}

VNNI_TARGET INLINE void x8_q4k_vnni_nc(int k, const uint8_t *w, const uint8_t *x, size_t xs,
                                       float *s, const int NC) {
    const int nb = k / DP_QK_K;
    const __m512i m4 = _mm512_set1_epi8(0xF), ff = _mm512_set1_epi32(0xFF);
    const __m512i dup = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    __m256 acc[DP_MM_NC];
    UNROLL
    for (int c = 0; c < NC; c++) acc[c] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++, w += 8 * 144) {
        UNROLL
        for (int l = 0; l < 18; l++) prefetch_ahead(w + 64 * l);
        __m256i s0, s1, n0, n1;
        x8_q4k_scales(w, &s0, &s1, &n0, &n1);
        const __m512i S0 = _mm512_permutexvar_epi32(dup, _mm512_castsi256_si512(s0));
        const __m512i S1 = _mm512_permutexvar_epi32(dup, _mm512_castsi256_si512(s1));
        const int8_t *xq[DP_MM_NC];
        __m512i si[DP_MM_NC];
        UNROLL
        for (int c = 0; c < NC; c++) {
            xq[c] = ((const dp_block_q8_k *)(x + (size_t)c * xs) + b)->qs;
            si[c] = _mm512_setzero_si512();
        }
        UNROLL
        for (int c4 = 0; c4 < 4; c4++) {
            __m512i al[DP_MM_NC], ah[DP_MM_NC];
            UNROLL
            for (int c = 0; c < NC; c++) al[c] = ah[c] = _mm512_setzero_si512();
            UNROLL
            for (int jj = 0; jj < 4; jj++) {
                const __m512i v = _mm512_loadu_si512(w + DP_MM_X8_Q4K_QS + 64 * (4 * c4 + jj));
                const __m512i ql = _mm512_and_si512(v, m4), qh = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
                UNROLL
                for (int c = 0; c < NC; c++) {
                    al[c] = _mm512_dpbusd_epi32(al[c], ql, bcast64z(xq[c] + 64 * c4 + 8 * jj));
                    ah[c] = _mm512_dpbusd_epi32(ah[c], qh, bcast64z(xq[c] + 64 * c4 + 32 + 8 * jj));
                }
            }
            const __m512i S = c4 < 2 ? S0 : S1;
            const unsigned sh = 16 * (unsigned)(c4 & 1);
            const __m512i sl = _mm512_and_si512(_mm512_srli_epi32(S, sh), ff);
            const __m512i shi = _mm512_and_si512(_mm512_srli_epi32(S, sh + 8), ff);
            /* each i32 lane of al / ah sums 16 products u4 x i8 (|.| <= 16 x 15 x 128 < 2^15) and the
             * scales are 6-bit with zero high halves, so madd_epi16 (one uop) gives the exact i32
             * product that mullo_epi32 (two) did */
            UNROLL
            for (int c = 0; c < NC; c++)
                si[c] = _mm512_add_epi32(si[c], _mm512_add_epi32(_mm512_madd_epi16(al[c], sl),
                                                                 _mm512_madd_epi16(ah[c], shi)));
        }
        const __m256 dv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)w));
        const __m256 dmv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + 16)));
        UNROLL
        for (int c = 0; c < NC; c++) {
            const dp_block_q8_k *xb = (const dp_block_q8_k *)(x + (size_t)c * xs) + b;
            const __m256 xd = _mm256_set1_ps(xb->d);
            acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(dv, xd), _mm256_cvtepi32_ps(x8_rows8z(si[c])), acc[c]);
            acc[c] = _mm256_fnmadd_ps(_mm256_mul_ps(dmv, xd), _mm256_cvtepi32_ps(x8_q4k_minsum(n0, n1, xb)), acc[c]);
        }
    }
    UNROLL
    for (int c = 0; c < NC; c++) _mm256_storeu_ps(s + DP_MM_X8 * c, acc[c]);
}

VNNI_TARGET INLINE void x8_q6k_vnni_nc(int k, const uint8_t *w, const uint8_t *x, size_t xs,
                                       float *s, const int NC) {
    const int nb = k / DP_QK_K;
    const __m512i m4 = _mm512_set1_epi8(0xF), m30 = _mm512_set1_epi8(0x30);
    __m256 acc[DP_MM_NC];
    UNROLL
    for (int c = 0; c < NC; c++) acc[c] = _mm256_setzero_ps();
    const uint8_t *const grp = w;
    for (int b = 0; b < nb; b++) {
        size_t lo, ho;
        dp_mm_x8_q6k_at(nb, b, &lo, &ho);
        const uint8_t *hd = grp + ho;
        w = grp + lo;
        const int8_t *xq[DP_MM_NC];
        __m512i si[DP_MM_NC];
        UNROLL
        for (int c = 0; c < NC; c++) {
            xq[c] = ((const dp_block_q8_k *)(x + (size_t)c * xs) + b)->qs;
            si[c] = _mm512_setzero_si512();
        }
        UNROLL
        for (int h = 0; h < 2; h++) {
            UNROLL
            for (int jh = 0; jh < 2; jh++) {
                __m512i a[4][DP_MM_NC]; /* per group g */
                UNROLL
                for (int g = 0; g < 4; g++)
                    UNROLL
                    for (int c = 0; c < NC; c++) a[g][c] = _mm512_setzero_si512();
                UNROLL
                for (int jj = 0; jj < 2; jj++) {
                    const int j = 2 * jh + jj;
                    const uint8_t *t = w + 192 * (4 * h + j);
                    UNROLL
                    for (int l = 0; l < 3; l++) prefetch_ahead(t + 64 * l);
                    const __m512i H = _mm512_loadu_si512(t);
                    UNROLL
                    for (int q = 0; q < 2; q++) {
                        const __m512i L = _mm512_loadu_si512(t + 64 + 64 * q);
                        __m512i vA, vB;
                        X8_Q6_LEVELS(__m512i, _mm512_and_si512, _mm512_or_si512, _mm512_slli_epi16,
                                     _mm512_srli_epi16, L, H, q, m4, m30, vA, vB);
                        UNROLL
                        for (int c = 0; c < NC; c++) {
                            a[q][c] = _mm512_dpbusd_epi32(a[q][c], vA, bcast64z(xq[c] + 128 * h + 32 * q + 8 * j));
                            a[q + 2][c] = _mm512_dpbusd_epi32(a[q + 2][c], vB, bcast64z(xq[c] + 128 * h + 32 * (q + 2) + 8 * j));
                        }
                    }
                }
                /* group g, half jh: sub-block 8h + 2g + jh; lanes 2r, 2r+1 of P: row r's
                 * scales of sub-blocks 8h + 2g and 8h + 2g + 1 */
                UNROLL
                for (int g = 0; g < 4; g++) {
                    const __m512i P = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(hd + 16 + 16 * (4 * h + g))));
                    const __m512i sc = jh ? _mm512_shuffle_epi32(P, (_MM_PERM_ENUM)0xF5) : _mm512_shuffle_epi32(P, (_MM_PERM_ENUM)0xA0);
                    UNROLL
                    for (int c = 0; c < NC; c++) si[c] = _mm512_add_epi32(si[c], _mm512_mullo_epi32(a[g][c], sc));
                }
            }
        }
        const __m256 dv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)hd));
        UNROLL
        for (int c = 0; c < NC; c++) {
            const dp_block_q8_k *xb = (const dp_block_q8_k *)(x + (size_t)c * xs) + b;
            __m256i off = _mm256_setzero_si256();
            UNROLL
            for (int p = 0; p < 8; p++) {
                int32_t bp;
                memcpy(&bp, xb->bsums + 2 * p, 4);
                off = _mm256_dpwssd_epi32(off, _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(hd + 16 + 16 * p))),
                                          _mm256_set1_epi32(bp));
            }
            const __m256i t = _mm256_sub_epi32(x8_rows8z(si[c]), _mm256_slli_epi32(off, 5));
            acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(dv, _mm256_set1_ps(xb->d)), _mm256_cvtepi32_ps(t), acc[c]);
        }
    }
    UNROLL
    for (int c = 0; c < NC; c++) _mm256_storeu_ps(s + DP_MM_X8 * c, acc[c]);
}

/* AVX-512 VNNI, the 32-value forms: four blocks a step as two zmm of 64 levels each. The
 * levels stay unsigned (q4_0 / q5_0 as stored, so the level + 8 / + 16; iq4_nl through the grid
 * + 128; q4_1 / q5_1 as stored) so that one vpdpbusd multiplies them with the signed activations;
 * the offset comes back as bias * Σx per block (a vpdpbusd of the activations against a constant
 * byte), the min of q4_1 / q5_1 as m dx Σx. Integer sums stay in 8 dword lanes per block, scaled
 * by d dx in f32 (the four blocks' scales converted at once). Blocks past the last four: the
 * AVX2 kernel above. */
VNNI_TARGET INLINE __m512i q32_levels2z(const uint8_t *b0, const uint8_t *b1, const dp_q32_form f) {
    const __m256i qs = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)(b1 + f.qs)),
                                        _mm_loadu_si128((const __m128i *)(b0 + f.qs)));
    const __m512i q2 = _mm512_shuffle_i64x2(_mm512_castsi256_si512(qs), _mm512_castsi256_si512(qs), 0x50);
    /* 128-bit lanes: block 0 low nibbles, block 0 high, block 1 low, block 1 high */
    const __m512i sh = _mm512_set_epi64(0x0004000400040004, 0x0004000400040004, 0, 0,
                                        0x0004000400040004, 0x0004000400040004, 0, 0);
    __m512i u = _mm512_and_si512(_mm512_srlv_epi16(q2, sh), _mm512_set1_epi8(0xF));
    if (f.qh) {
        uint32_t h0, h1;
        memcpy(&h0, b0 + f.qh, 4);
        memcpy(&h1, b1 + f.qh, 4);
        u = _mm512_mask_add_epi8(u, (__mmask64)h0 | (__mmask64)h1 << 32, u, _mm512_set1_epi8(16));
    }
    if (f.table) { /* the grid + 128 as unsigned bytes */
        const __m128i g = _mm_xor_si128(_mm_loadu_si128((const __m128i *)f.table), _mm_set1_epi8((char)0x80));
        u = _mm512_shuffle_epi8(_mm512_broadcast_i32x4(g), u);
    }
    return u;
}

/* The f16 at p, p + stride, p + 2 stride, p + 3 stride as four floats. */
VNNI_TARGET INLINE __m128 f16x4(const uint8_t *p, size_t stride) {
    uint16_t h[4];
    UNROLL
    for (int j = 0; j < 4; j++) memcpy(&h[j], p + (size_t)j * stride, 2);
    uint64_t v;
    memcpy(&v, h, 8);
    return _mm_cvtph_ps(_mm_cvtsi64_si128((long long)v));
}

VNNI_TARGET INLINE void dot_q32_vnni_nc(int k, const uint8_t *w, const uint8_t *x, size_t xs,
                                        float *s, dp_dtype t, const int NC) {
    const dp_q32_form f = dp_q32_form_of(t);
    const int nb = k / 32, nb4 = nb / 4 * 4;
    const int bias = f.table ? 128 : f.bias; /* the unsigned levels are level + bias */
    const __m512i biasv = _mm512_set1_epi8((char)bias), ones = _mm512_set1_epi8(1);
    const __m512i lo = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(2));
    __m512 acc[DP_MM_NC];
    UNROLL
    for (int c = 0; c < NC; c++) acc[c] = _mm512_setzero_ps();
    for (int i = 0; i < nb4; i += 4, w += 4 * (size_t)f.bytes) {
        prefetch_ahead(w);
        prefetch_ahead(w + 64);
        const __m512i u01 = q32_levels2z(w, w + f.bytes, f);
        const __m512i u23 = q32_levels2z(w + 2 * f.bytes, w + 3 * f.bytes, f);
        const __m128 dw = f16x4(w, f.bytes);
        const __m128 mw = f.min ? f16x4(w + 2, f.bytes) : _mm_setzero_ps();
        UNROLL
        for (int c = 0; c < NC; c++) {
            const dp_block_q8_0 *xb = (const dp_block_q8_0 *)(x + (size_t)c * xs) + i;
            const __m512i x01 = _mm512_inserti64x4(_mm512_castsi256_si512(load256(xb[0].qs)), load256(xb[1].qs), 1);
            const __m512i x23 = _mm512_inserti64x4(_mm512_castsi256_si512(load256(xb[2].qs)), load256(xb[3].qs), 1);
            __m512i t01 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u01, x01);
            __m512i t23 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u23, x23);
            if (bias) {
                t01 = _mm512_sub_epi32(t01, _mm512_dpbusd_epi32(_mm512_setzero_si512(), biasv, x01));
                t23 = _mm512_sub_epi32(t23, _mm512_dpbusd_epi32(_mm512_setzero_si512(), biasv, x23));
            }
            const __m128 dx = f16x4((const uint8_t *)&xb[0].d, sizeof(dp_block_q8_0));
            const __m512 sd = _mm512_castps128_ps512(_mm_mul_ps(dw, dx));
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(t01), _mm512_permutexvar_ps(lo, sd), acc[c]);
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(t23), _mm512_permutexvar_ps(hi, sd), acc[c]);
            if (f.min) {
                const __m512 sm = _mm512_castps128_ps512(_mm_mul_ps(mw, dx));
                const __m512i s01 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, x01);
                const __m512i s23 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, x23);
                acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s01), _mm512_permutexvar_ps(lo, sm), acc[c]);
                acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s23), _mm512_permutexvar_ps(hi, sm), acc[c]);
            }
        }
    }
    float tail[DP_MM_NC] = {0};
    if (nb4 < nb) dot_q32_nc(k - 32 * nb4, w, x + (size_t)nb4 * sizeof(dp_block_q8_0), xs, tail, t, NC);
    UNROLL
    for (int c = 0; c < NC; c++) s[c] = _mm512_reduce_add_ps(acc[c]) + tail[c];
}

/* AVX-512 VNNI, q2_K / q3_K / iq4_xs: a block is four zmm of 64 values, one 16-value group per
 * 128-bit lane, so a zmm of i16 scales (one vpermw of the block's 16 scales) applies them all
 * with one vpdpwssd after the maddubs. Levels: q2_K as stored (0..3); q3_K + 4 (0..7, the high
 * bit set through a byte mask), the 4 Σ sc bsum taken back once per block; iq4_xs signed grid
 * values, multiplied as |level| x (activation with the level's sign). The scales are decoded
 * with vector / 32-bit word operations instead of dp_qk_scales. */
VNNI_TARGET INLINE __m256i qk_scales16(const uint8_t *b, dp_dtype t, __m256i *mn) {
    if (t == DP_DTYPE_Q2_K) {
        const __m128i v = _mm_loadu_si128((const __m128i *)b);
        *mn = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(v, 4), _mm_set1_epi8(0xF)));
        return _mm256_cvtepu8_epi16(_mm_and_si128(v, _mm_set1_epi8(0xF)));
    }
    *mn = _mm256_setzero_si256();
    __m128i v;
    if (t == DP_DTYPE_Q3_K) { /* the words kept in registers: four stored words read back as
                               * one vector would stall store forwarding */
        uint32_t a[4];
        dp_q3k_scale_words(b + 96, a);
        v = _mm_set_epi32((int)a[3], (int)a[2], (int)a[1], (int)a[0]);
    } else { /* iq4_xs: 8 scales of 32 values (4 low bits from b[4..8), 2 high from b[2..4)), each twice */
        uint16_t sh;
        uint32_t sl;
        memcpy(&sh, b + 2, 2);
        memcpy(&sl, b + 4, 4);
        const uint64_t ls = _pdep_u64(sl, 0x0F0F0F0F0F0F0F0Full) | _pdep_u64(sh, 0x3030303030303030ull);
        const __m128i l8 = _mm_cvtsi64_si128((long long)ls);
        v = _mm_unpacklo_epi8(l8, l8);
    }
    return _mm256_cvtepi8_epi16(_mm_sub_epi8(v, _mm_set1_epi8(32)));
}

VNNI_TARGET INLINE void dot_qk_vnni_nc(int k, const uint8_t *w, const uint8_t *x, size_t xs,
                                       float *s, dp_dtype t, const int NC) {
    const size_t bb = t == DP_DTYPE_Q2_K ? 84 : t == DP_DTYPE_Q3_K ? 110 : 136;
    const size_t d_at = t == DP_DTYPE_Q2_K ? 80 : t == DP_DTYPE_Q3_K ? 108 : 0;
    const __m512i m3 = _mm512_set1_epi8(3), m4 = _mm512_set1_epi8(0xF);
    /* srlv counts per 256-bit half: values 32 s.. of a q2_K/q3_K qs word shift by 2 (s % 4) */
    const __m512i sh02 = _mm512_set_epi64(0x0002000200020002, 0x0002000200020002, 0x0002000200020002,
                                          0x0002000200020002, 0, 0, 0, 0);
    const __m512i sh46 = _mm512_add_epi16(sh02, _mm512_set1_epi16(4));
    const __m512i sh04 = _mm512_set_epi64(0x0004000400040004, 0x0004000400040004, 0, 0,
                                          0x0004000400040004, 0x0004000400040004, 0, 0);
    __m512 acc[DP_MM_NC];
    UNROLL
    for (int c = 0; c < NC; c++) acc[c] = _mm512_setzero_ps();
    for (int i = 0; i < k / DP_QK_K; i++, w += bb) {
        UNROLL
        for (int l = 0; l < 3; l++) prefetch_ahead(w + 64 * l);
        __m256i mn;
        const __m256i sc = qk_scales16(w, t, &mn);
        const float d = f16s(w + d_at), dmin = t == DP_DTYPE_Q2_K ? f16s(w + 82) : 0.0f;
        __m512i lv[4], scv[4];
        UNROLL
        for (int j = 0; j < 4; j++) {
            /* lane L of zmm j: group 4 j + L */
            const __m512i idx = _mm512_add_epi16(_mm512_set1_epi16((short)(4 * j)),
                                                 _mm512_set_epi64(0x0003000300030003, 0x0003000300030003,
                                                                  0x0002000200020002, 0x0002000200020002,
                                                                  0x0001000100010001, 0x0001000100010001, 0, 0));
            scv[j] = _mm512_permutexvar_epi16(idx, _mm512_castsi256_si512(sc));
            if (t == DP_DTYPE_IQ4_XS) {
                const __m512i q = _mm512_shuffle_i64x2(_mm512_castsi256_si512(load256(w + 8 + 32 * j)),
                                                       _mm512_castsi256_si512(load256(w + 8 + 32 * j)), 0x50);
                const __m512i u = _mm512_and_si512(_mm512_srlv_epi16(q, sh04), m4);
                lv[j] = _mm512_shuffle_epi8(_mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)dp_iq4_nl_grid)), u);
            } else {
                const __m512i q = _mm512_broadcast_i64x4(load256(w + (t == DP_DTYPE_Q2_K ? 16 : 32) + 32 * (j / 2)));
                lv[j] = _mm512_and_si512(_mm512_srlv_epi16(q, j & 1 ? sh46 : sh02), m3);
                if (t == DP_DTYPE_Q3_K) { /* + 4 where bit 2 j (low half) / 2 j + 1 (high half) of hmask is set */
                    const __m512i bit = _mm512_inserti64x4(_mm512_set1_epi8((char)(1 << (2 * j))),
                                                           _mm256_set1_epi8((char)(1 << (2 * j + 1))), 1);
                    const __mmask64 hset = _mm512_test_epi8_mask(_mm512_broadcast_i64x4(load256(w)), bit);
                    lv[j] = _mm512_mask_add_epi8(lv[j], hset, lv[j], _mm512_set1_epi8(4));
                }
            }
        }
        UNROLL
        for (int c = 0; c < NC; c++) {
            const dp_block_q8_k *xb = (const dp_block_q8_k *)(x + (size_t)c * xs) + i;
            __m512i isum = _mm512_setzero_si512();
            UNROLL
            for (int j = 0; j < 4; j++) {
                const __m512i qx = _mm512_loadu_si512(xb->qs + 64 * j);
                __m512i p;
                if (t == DP_DTYPE_IQ4_XS) {
                    const __m512i sx = _mm512_mask_sub_epi8(qx, _mm512_movepi8_mask(lv[j]), _mm512_setzero_si512(), qx);
                    p = _mm512_maddubs_epi16(_mm512_abs_epi8(lv[j]), sx);
                } else {
                    p = _mm512_maddubs_epi16(lv[j], qx);
                }
                isum = _mm512_dpwssd_epi32(isum, p, scv[j]);
            }
            const __m256i bs = load256(xb->bsums);
            if (t == DP_DTYPE_Q3_K) /* the levels were + 4: minus 4 Σ_g sc_g bsum_g */
                isum = _mm512_sub_epi32(isum, _mm512_zextsi256_si512(_mm256_slli_epi32(_mm256_madd_epi16(sc, bs), 2)));
            acc[c] = _mm512_fmadd_ps(_mm512_set1_ps(d * xb->d), _mm512_cvtepi32_ps(isum), acc[c]);
            if (t == DP_DTYPE_Q2_K)
                acc[c] = _mm512_fmadd_ps(_mm512_set1_ps(-dmin * xb->d),
                                         _mm512_cvtepi32_ps(_mm512_zextsi256_si512(_mm256_madd_epi16(mn, bs))), acc[c]);
        }
    }
    UNROLL
    for (int c = 0; c < NC; c++) s[c] = _mm512_reduce_add_ps(acc[c]);
}

/* ---- instantiation over the row count ---- */

/* One function per row count (so each gets its own register allocation) and a dispatcher. */
#define DP_MM_INSTANCES(name, call, ATTR)                                                           \
    ATTR static void name##_1(int k, const uint8_t *wb, const uint8_t *xb, size_t xs, float *s) {  \
        call(1);                                                                              \
    }                                                                                         \
    ATTR static void name##_2(int k, const uint8_t *wb, const uint8_t *xb, size_t xs, float *s) {  \
        call(2);                                                                              \
    }                                                                                         \
    ATTR static void name##_3(int k, const uint8_t *wb, const uint8_t *xb, size_t xs, float *s) {  \
        call(3);                                                                              \
    }                                                                                         \
    ATTR static void name##_4(int k, const uint8_t *wb, const uint8_t *xb, size_t xs, float *s) {  \
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
#define CALL_Q4_K(NC) dot_q45k_nc(k, wb, xb, xs, s, NC, 0, 0)
#define CALL_Q5_K(NC) dot_q45k_nc(k, wb, xb, xs, s, NC, 1, 0)
#define CALL_Q6_K(NC) dot_q6k_nc(k, wb, xb, xs, s, NC, 0)
#define CALL_Q4_K_VNNI(NC) dot_q45k_nc(k, wb, xb, xs, s, NC, 0, 1)
#define CALL_Q5_K_VNNI(NC) dot_q45k_nc(k, wb, xb, xs, s, NC, 1, 1)
#define CALL_Q6_K_VNNI(NC) dot_q6k_nc(k, wb, xb, xs, s, NC, 1)
#define CALL_X8_Q4_K(NC) x8_q4k_avx2_nc(k, wb, xb, xs, s, NC)
#define CALL_X8_Q6_K(NC) x8_q6k_avx2_nc(k, wb, xb, xs, s, NC)
#define CALL_X8_Q4_K_VNNI(NC) x8_q4k_vnni_nc(k, wb, xb, xs, s, NC)
#define CALL_X8_Q6_K_VNNI(NC) x8_q6k_vnni_nc(k, wb, xb, xs, s, NC)
#define CALL_Q4_0(NC) dot_q32_nc(k, wb, xb, xs, s, DP_DTYPE_Q4_0, NC)
#define CALL_Q4_0_VNNI(NC) dot_q32_vnni_nc(k, wb, xb, xs, s, DP_DTYPE_Q4_0, NC)
#define CALL_Q4_1(NC) dot_q32_nc(k, wb, xb, xs, s, DP_DTYPE_Q4_1, NC)
#define CALL_Q4_1_VNNI(NC) dot_q32_vnni_nc(k, wb, xb, xs, s, DP_DTYPE_Q4_1, NC)
#define CALL_Q5_0(NC) dot_q32_nc(k, wb, xb, xs, s, DP_DTYPE_Q5_0, NC)
#define CALL_Q5_0_VNNI(NC) dot_q32_vnni_nc(k, wb, xb, xs, s, DP_DTYPE_Q5_0, NC)
#define CALL_Q5_1(NC) dot_q32_nc(k, wb, xb, xs, s, DP_DTYPE_Q5_1, NC)
#define CALL_Q5_1_VNNI(NC) dot_q32_vnni_nc(k, wb, xb, xs, s, DP_DTYPE_Q5_1, NC)
#define CALL_IQ4_NL(NC) dot_q32_nc(k, wb, xb, xs, s, DP_DTYPE_IQ4_NL, NC)
#define CALL_IQ4_NL_VNNI(NC) dot_q32_vnni_nc(k, wb, xb, xs, s, DP_DTYPE_IQ4_NL, NC)
#define CALL_Q2_K(NC) dot_qk_nc(k, wb, xb, xs, s, DP_DTYPE_Q2_K, NC)
#define CALL_Q3_K(NC) dot_qk_nc(k, wb, xb, xs, s, DP_DTYPE_Q3_K, NC)
#define CALL_IQ4_XS(NC) dot_qk_nc(k, wb, xb, xs, s, DP_DTYPE_IQ4_XS, NC)
#define CALL_Q2_K_VNNI(NC) dot_qk_vnni_nc(k, wb, xb, xs, s, DP_DTYPE_Q2_K, NC)
#define CALL_Q3_K_VNNI(NC) dot_qk_vnni_nc(k, wb, xb, xs, s, DP_DTYPE_Q3_K, NC)
#define CALL_IQ4_XS_VNNI(NC) dot_qk_vnni_nc(k, wb, xb, xs, s, DP_DTYPE_IQ4_XS, NC)
#define NO_ATTR

DP_MM_INSTANCES(avx2_dot_f32, CALL_F32, NO_ATTR)
DP_MM_INSTANCES(avx2_dot_f16, CALL_F16, NO_ATTR)
DP_MM_INSTANCES(avx2_dot_bf16, CALL_BF16, NO_ATTR)
DP_MM_INSTANCES(avx2_dot_q8_0, CALL_Q8_0, NO_ATTR)
DP_MM_INSTANCES(avx2_dot_q4_k, CALL_Q4_K, NO_ATTR)
DP_MM_INSTANCES(avx2_dot_q5_k, CALL_Q5_K, NO_ATTR)
DP_MM_INSTANCES(avx2_dot_q6_k, CALL_Q6_K, NO_ATTR)
DP_MM_INSTANCES(avx2_dot_q4_0, CALL_Q4_0, NO_ATTR)
DP_MM_INSTANCES(avx2_dot_q4_1, CALL_Q4_1, NO_ATTR)
DP_MM_INSTANCES(avx2_dot_q5_0, CALL_Q5_0, NO_ATTR)
DP_MM_INSTANCES(avx2_dot_q5_1, CALL_Q5_1, NO_ATTR)
DP_MM_INSTANCES(avx2_dot_iq4_nl, CALL_IQ4_NL, NO_ATTR)
DP_MM_INSTANCES(avx2_dot_q2_k, CALL_Q2_K, NO_ATTR)
DP_MM_INSTANCES(avx2_dot_q3_k, CALL_Q3_K, NO_ATTR)
DP_MM_INSTANCES(avx2_dot_iq4_xs, CALL_IQ4_XS, NO_ATTR)
/* the same kernels compiled for AVX-512VL/VNNI: 32 vector registers, vpdpwssd */
DP_MM_INSTANCES(vnni_dot_f32, CALL_F32, VNNI_TARGET)
DP_MM_INSTANCES(vnni_dot_f16, CALL_F16, VNNI_TARGET)
DP_MM_INSTANCES(vnni_dot_bf16, CALL_BF16, VNNI_TARGET)
DP_MM_INSTANCES(vnni_dot_q8_0, CALL_Q8_0, VNNI_TARGET)
DP_MM_INSTANCES(vnni_dot_q4_k, CALL_Q4_K_VNNI, VNNI_TARGET)
DP_MM_INSTANCES(vnni_dot_q5_k, CALL_Q5_K_VNNI, VNNI_TARGET)
DP_MM_INSTANCES(vnni_dot_q6_k, CALL_Q6_K_VNNI, VNNI_TARGET)
DP_MM_INSTANCES(vnni_dot_q4_0, CALL_Q4_0_VNNI, VNNI_TARGET)
DP_MM_INSTANCES(vnni_dot_q4_1, CALL_Q4_1_VNNI, VNNI_TARGET)
DP_MM_INSTANCES(vnni_dot_q5_0, CALL_Q5_0_VNNI, VNNI_TARGET)
DP_MM_INSTANCES(vnni_dot_q5_1, CALL_Q5_1_VNNI, VNNI_TARGET)
DP_MM_INSTANCES(vnni_dot_iq4_nl, CALL_IQ4_NL_VNNI, VNNI_TARGET)
DP_MM_INSTANCES(vnni_dot_q2_k, CALL_Q2_K_VNNI, VNNI_TARGET)
DP_MM_INSTANCES(vnni_dot_q3_k, CALL_Q3_K_VNNI, VNNI_TARGET)
DP_MM_INSTANCES(vnni_dot_iq4_xs, CALL_IQ4_XS_VNNI, VNNI_TARGET)
DP_MM_INSTANCES(avx2_x8_q4_k, CALL_X8_Q4_K, NO_ATTR)
DP_MM_INSTANCES(avx2_x8_q6_k, CALL_X8_Q6_K, NO_ATTR)
DP_MM_INSTANCES(vnni_x8_q4_k, CALL_X8_Q4_K_VNNI, VNNI_TARGET)
DP_MM_INSTANCES(vnni_x8_q6_k, CALL_X8_Q6_K_VNNI, VNNI_TARGET)

static const dp_mm_kernels avx2_kernels = {
    "avx2",
    {
        [DP_DTYPE_F32] = avx2_dot_f32,
        [DP_DTYPE_F16] = avx2_dot_f16,
        [DP_DTYPE_BF16] = avx2_dot_bf16,
        [DP_DTYPE_Q8_0] = avx2_dot_q8_0,
        [DP_DTYPE_Q4_K] = avx2_dot_q4_k,
        [DP_DTYPE_Q5_K] = avx2_dot_q5_k,
        [DP_DTYPE_Q6_K] = avx2_dot_q6_k,
        [DP_DTYPE_Q4_0] = avx2_dot_q4_0,
        [DP_DTYPE_Q4_1] = avx2_dot_q4_1,
        [DP_DTYPE_Q5_0] = avx2_dot_q5_0,
        [DP_DTYPE_Q5_1] = avx2_dot_q5_1,
        [DP_DTYPE_IQ4_NL] = avx2_dot_iq4_nl,
        [DP_DTYPE_Q2_K] = avx2_dot_q2_k,
        [DP_DTYPE_Q3_K] = avx2_dot_q3_k,
        [DP_DTYPE_IQ4_XS] = avx2_dot_iq4_xs,
    },
    avx2_panel_bytes,
    avx2_panel_pack,
    avx2_panel_tile,
    {[DP_DTYPE_Q4_K] = avx2_x8_q4_k, [DP_DTYPE_Q6_K] = avx2_x8_q6_k},
    NULL,
};

/* The AVX-512 VNNI set, and the same with the AMX tile product for prompt processing
 * (matmul_amx.c; picked only after its runtime check). */
#define VNNI_SET(NAME, LABEL, AMX)                                                            \
    static const dp_mm_kernels NAME = {                                                       \
        LABEL,                                                                                \
        {                                                                                     \
            [DP_DTYPE_F32] = vnni_dot_f32,                                                    \
            [DP_DTYPE_F16] = vnni_dot_f16,                                                    \
            [DP_DTYPE_BF16] = vnni_dot_bf16,                                                  \
            [DP_DTYPE_Q8_0] = vnni_dot_q8_0,                                                  \
            [DP_DTYPE_Q4_K] = vnni_dot_q4_k,                                                  \
            [DP_DTYPE_Q5_K] = vnni_dot_q5_k,                                                  \
            [DP_DTYPE_Q6_K] = vnni_dot_q6_k,                                                  \
            [DP_DTYPE_Q4_0] = vnni_dot_q4_0,                                                  \
            [DP_DTYPE_Q4_1] = vnni_dot_q4_1,                                                  \
            [DP_DTYPE_Q5_0] = vnni_dot_q5_0,                                                  \
            [DP_DTYPE_Q5_1] = vnni_dot_q5_1,                                                  \
            [DP_DTYPE_IQ4_NL] = vnni_dot_iq4_nl,                                              \
            [DP_DTYPE_Q2_K] = vnni_dot_q2_k,                                                  \
            [DP_DTYPE_Q3_K] = vnni_dot_q3_k,                                                  \
            [DP_DTYPE_IQ4_XS] = vnni_dot_iq4_xs,                                              \
        },                                                                                    \
        avx2_panel_bytes,                                                                     \
        vnni_panel_pack,                                                                      \
        vnni_panel_tile,                                                                      \
        {[DP_DTYPE_Q4_K] = vnni_x8_q4_k, [DP_DTYPE_Q6_K] = vnni_x8_q6_k},                     \
        AMX,                                                                                  \
    };
VNNI_SET(vnni_kernels, "avx2+vnni", NULL)
VNNI_SET(amx_kernels, "avx2+vnni+amx", &dp_mm_amx_impl)

const dp_mm_kernels *dp_mm_avx2_table(int set) {
    return set == 2 ? &amx_kernels : set == 1 ? &vnni_kernels : &avx2_kernels;
}
