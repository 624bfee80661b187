/* matmul_act_avx2.c — activations to q8_K with AVX-512 (dp_mm_act_quantize's fast path on
 * CPUs with AVX-512 VNNI; built with the x86-64 kernels, used only after the runtime check):
 * matmul.c's act_q8_k (GGML's quantize_row_q8_K_ref) bit for bit: the maximum |x| is exact in
 * any order, the value kept is the first one reaching it (the scalar loop's strict >), values
 * are scaled by the same f32 product and rounded to nearest even (vcvtps2dq, the default
 * rounding, as nearest_int does for |v| < 2^22). */
#include <immintrin.h>
#include <string.h>

#include "backend/cpu/matmul_impl.h"
#include "format/quant.h"

DP_MM_VNNI_TARGET void dp_mm_act_q8_k_avx512(const float *x, void *dst, int k) {
    dp_block_q8_k *y = dst;
    for (int i = 0; i < k / DP_QK_K; i++, x += DP_QK_K) {
        __m512 am = _mm512_setzero_ps();
        for (int j = 0; j < 16; j++) /* max_ps keeps its second operand when the first is NaN */
            am = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + 16 * j)), am);
        const float amax = _mm512_reduce_max_ps(am);
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        int first = 0;
        for (int j = 0; j < 16; j++) {
            const __mmask16 eq = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(x + 16 * j)),
                                                    _mm512_set1_ps(amax), _CMP_EQ_OQ);
            if (eq) {
                first = 16 * j + __builtin_ctz(eq);
                break;
            }
        }
        const float iscale = -127.f / x[first];
        const __m512 is = _mm512_set1_ps(iscale);
        for (int j = 0; j < 16; j++) {
            const __m512i v = _mm512_min_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(is, _mm512_loadu_ps(x + 16 * j))),
                                               _mm512_set1_epi32(127));
            _mm_storeu_si128((__m128i *)(y[i].qs + 16 * j), _mm512_cvtepi32_epi8(v));
            y[i].bsums[j] = (int16_t)_mm512_reduce_add_epi32(v);
        }
        y[i].d = 1 / iscale;
    }
}
