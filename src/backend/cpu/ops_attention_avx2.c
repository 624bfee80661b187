/* ops_attention_avx2.c — AVX2 + FMA inner kernels of attention (compiled with -mavx2 -mfma;
 * selected at backend creation only after a runtime CPU check). Same contract as the generic
 * kernels in ops_attention.c: each cached row is loaded once for the whole block of heads. */
#include <immintrin.h>

#include "backend/cpu/cpu_internal.h"

static inline float hsum8(__m256 v) {
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

/* four heads against one row */
static inline void dot4(float *out, int ss, const float *q, int hd, const float *k) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    const float *q1 = q + hd, *q2 = q1 + hd, *q3 = q2 + hd;
    int t = 0;
    for (; t + 8 <= hd; t += 8) {
        const __m256 kv = _mm256_loadu_ps(k + t);
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + t), kv, a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q1 + t), kv, a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(q2 + t), kv, a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(q3 + t), kv, a3);
    }
    float r0 = hsum8(a0), r1 = hsum8(a1), r2 = hsum8(a2), r3 = hsum8(a3);
    for (; t < hd; t++) {
        r0 += q[t] * k[t];
        r1 += q1[t] * k[t];
        r2 += q2[t] * k[t];
        r3 += q3[t] * k[t];
    }
    out[0] = r0;
    out[ss] = r1;
    out[2 * ss] = r2;
    out[3 * ss] = r3;
}

static inline float dot1(const float *q, int hd, const float *k) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    int t = 0;
    for (; t + 16 <= hd; t += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + t), _mm256_loadu_ps(k + t), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + t + 8), _mm256_loadu_ps(k + t + 8), a1);
    }
    for (; t + 8 <= hd; t += 8)
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + t), _mm256_loadu_ps(k + t), a0);
    float r = hsum8(_mm256_add_ps(a0, a1));
    for (; t < hd; t++) r += q[t] * k[t];
    return r;
}

void dp_cpu_attn_scores_avx2(float *s, int ss, const float *q, int nh, int hd,
                             const float *base, int64_t stride, int cnt, int avail) {
    for (int r = 0; r < cnt; r++) {
        const float *kr = base + r * stride;
        if (r + DP_CPU_ATTN_PREFETCH < avail)
            dp_cpu_prefetch_row(kr + DP_CPU_ATTN_PREFETCH * stride, hd);
        int h = 0;
        for (; h + 4 <= nh; h += 4) dot4(s + h * ss + r, ss, q + (size_t)h * hd, hd, kr);
        for (; h < nh; h++) s[h * ss + r] = dot1(q + (size_t)h * hd, hd, kr);
    }
}

void dp_cpu_attn_values_avx2(float *acc, const float *s, int ss, int nh, int hd,
                             const float *base, int64_t stride, int cnt, int avail) {
    for (int r = 0; r < cnt; r++) {
        const float *vr = base + r * stride;
        if (r + DP_CPU_ATTN_PREFETCH < avail)
            dp_cpu_prefetch_row(vr + DP_CPU_ATTN_PREFETCH * stride, hd);
        int h = 0;
        for (; h + 2 <= nh; h += 2) {
            const __m256 w0 = _mm256_set1_ps(s[h * ss + r]), w1 = _mm256_set1_ps(s[(h + 1) * ss + r]);
            float *a0 = acc + (size_t)h * hd, *a1 = a0 + hd;
            int t = 0;
            for (; t + 8 <= hd; t += 8) {
                const __m256 v = _mm256_loadu_ps(vr + t);
                _mm256_storeu_ps(a0 + t, _mm256_fmadd_ps(w0, v, _mm256_loadu_ps(a0 + t)));
                _mm256_storeu_ps(a1 + t, _mm256_fmadd_ps(w1, v, _mm256_loadu_ps(a1 + t)));
            }
            for (; t < hd; t++) {
                a0[t] += s[h * ss + r] * vr[t];
                a1[t] += s[(h + 1) * ss + r] * vr[t];
            }
        }
        for (; h < nh; h++) {
            const __m256 w0 = _mm256_set1_ps(s[h * ss + r]);
            float *a0 = acc + (size_t)h * hd;
            int t = 0;
            for (; t + 8 <= hd; t += 8)
                _mm256_storeu_ps(a0 + t, _mm256_fmadd_ps(w0, _mm256_loadu_ps(vr + t), _mm256_loadu_ps(a0 + t)));
            for (; t < hd; t++) a0[t] += s[h * ss + r] * vr[t];
        }
    }
}
