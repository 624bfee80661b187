/* quant.c — GGML block codecs: dequantization and the reference quantizers.
 *
 * The arithmetic follows ggml-quants.c operation for operation (same float evaluation order,
 * same nearest_int rounding trick, no fused multiply-add) so that the bytes and floats produced
 * are identical to GGML's. Blocks are read and written through byte pointers (memcpy for the
 * 16-bit fields) so that no alignment is assumed. */
#include "format/quant.h"

#include <math.h>
#include <string.h>

#include "base/base.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF /* GGML's reference is built without contraction; so are we */
#endif

#define QK8_0 32
#define QK_K 256
#define GROUP_MAX_EPS 1e-15f

/* ---- byte access ---- */

static float rd_f16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return dp_f16_to_f32(h);
}

static void wr_f16(uint8_t *p, float f) {
    uint16_t h = dp_f32_to_f16(f);
    memcpy(p, &h, 2);
}

/* Round to nearest, ties to even, valid for |f| <= 4194303 (GGML's nearest_int). */
static int nearest_int(float f) {
    float v = f + 12582912.f;
    int32_t i;
    memcpy(&i, &v, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

static int imin(int a, int b) { return a < b ? a : b; }
static int imax(int a, int b) { return a > b ? a : b; }

/* q4_K / q5_K: the 6-bit scale and min of sub-block j from the 12 packed bytes. */
static void k4_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *mn) {
    if (j < 4) {
        *sc = q[j] & 63;
        *mn = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *mn = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* ==== the 32-value forms ==== */

const int8_t dp_iq4_nl_grid[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                   1,    13,   25,  38,  53,  69,  89,  113};

void dp_q32_levels(const dp_q32_form *f, const uint8_t *blk, int8_t lv[32]) {
    uint32_t qh = 0;
    if (f->qh) memcpy(&qh, blk + f->qh, 4);
    const uint8_t *qs = blk + f->qs;
    for (int i = 0; i < 32; i++) {
        const int q = ((qs[i % 16] >> (i < 16 ? 0 : 4)) & 0xF) | (int)((qh >> i) & 1) << 4;
        lv[i] = f->table ? f->table[q] : (int8_t)(q - f->bias);
    }
}

/* ==== q2_K, q3_K, iq4_xs as groups of 16 ==== */

/* The 16 6-bit q3_K scales from their 12 packed bytes (GGML's kmask unpacking). */
static void q3k_scales(const uint8_t *p, int8_t sc[16]) {
    uint32_t a[4];
    dp_q3k_scale_words(p, a);
    memcpy(sc, a, 16);
    for (int g = 0; g < 16; g++) sc[g] = (int8_t)(sc[g] - 32);
}

void dp_qk_scales(dp_dtype t, const uint8_t *b, int8_t sc[16], int8_t mn[16]) {
    memset(mn, 0, 16);
    if (t == DP_DTYPE_Q2_K) {
        for (int g = 0; g < 16; g++) {
            sc[g] = (int8_t)(b[g] & 0xF);
            mn[g] = (int8_t)(b[g] >> 4);
        }
    } else if (t == DP_DTYPE_Q3_K) {
        q3k_scales(b + 96, sc);
    } else {
        uint16_t sh;
        memcpy(&sh, b + 2, 2);
        for (int ib = 0; ib < 8; ib++) {
            const int ls = ((b[4 + ib / 2] >> 4 * (ib % 2)) & 0xF) | (((sh >> 2 * ib) & 3) << 4);
            sc[2 * ib] = sc[2 * ib + 1] = (int8_t)(ls - 32);
        }
    }
}

bool dp_qk_decode(dp_dtype t, const uint8_t *b, dp_qk_groups *o) {
    o->dmin = 0.0f;
    switch (t) {
    case DP_DTYPE_Q2_K: case DP_DTYPE_Q3_K: {
        const bool q2 = t == DP_DTYPE_Q2_K;
        const uint8_t *qs = b + (q2 ? 16 : 32), *hm = b;
        for (int v = 0; v < 256; v++) {
            const int lo = (qs[32 * (v / 128) + v % 32] >> (2 * (v % 128 / 32))) & 3;
            o->lv[v] = (int8_t)(q2 || (hm[v % 32] >> (v / 32) & 1) ? lo : lo - 4);
        }
        o->d = rd_f16(b + (q2 ? 80 : 108));
        if (q2) o->dmin = rd_f16(b + 82);
        break;
    }
    case DP_DTYPE_IQ4_XS:
        for (int v = 0; v < 256; v++)
            o->lv[v] = dp_iq4_nl_grid[(b[8 + 16 * (v / 32) + v % 16] >> (v % 32 < 16 ? 0 : 4)) & 0xF];
        o->d = rd_f16(b);
        break;
    default: return false;
    }
    dp_qk_scales(t, b, o->sc, o->mn);
    return true;
}

int dp_block_f16_fields(dp_dtype t, int off[2]) {
    switch (t) {
    case DP_DTYPE_Q4_K: case DP_DTYPE_Q5_K: case DP_DTYPE_Q4_1: case DP_DTYPE_Q5_1:
        off[0] = 0, off[1] = 2;
        return 2;
    case DP_DTYPE_Q2_K: off[0] = 80, off[1] = 82; return 2;
    case DP_DTYPE_Q3_K: off[0] = 108; return 1;
    case DP_DTYPE_Q6_K: off[0] = 208; return 1;
    default: off[0] = 0; return dp_dtype_is_quant(t) ? 1 : 0;
    }
}

/* ==== dequantization ==== */

static void dequant_qk_groups(dp_dtype t, const uint8_t *b, float *y, size_t nb) {
    dp_qk_groups q;
    const size_t bb = dp_dtype_block_bytes(t);
    for (size_t i = 0; i < nb; i++, b += bb) {
        dp_qk_decode(t, b, &q);
        for (int g = 0; g < 16; g++) {
            const float dl = q.d * (float)q.sc[g], ml = q.dmin * (float)q.mn[g];
            for (int l = 0; l < 16; l++) *y++ = dl * (float)q.lv[16 * g + l] - ml;
        }
    }
}

static void dequant_q32(const dp_q32_form *f, const uint8_t *b, float *y, size_t nb) {
    int8_t lv[32];
    for (size_t i = 0; i < nb; i++, b += f->bytes) {
        const float d = rd_f16(b);
        dp_q32_levels(f, b, lv);
        if (f->min) {
            const float m = rd_f16(b + 2);
            for (int j = 0; j < 32; j++) *y++ = (float)lv[j] * d + m;
        } else {
            for (int j = 0; j < 32; j++) *y++ = (float)lv[j] * d;
        }
    }
}

static void dequant_q8_0(const uint8_t *b, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, b += 34) {
        const float d = rd_f16(b);
        const int8_t *qs = (const int8_t *)(b + 2);
        for (int j = 0; j < QK8_0; j++) *y++ = (float)qs[j] * d;
    }
}

/* q4_K: d(2) dmin(2) scales(12) qs(128) */
static void dequant_q4_k(const uint8_t *b, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, b += 144) {
        const float d = rd_f16(b), mn = rd_f16(b + 2);
        const uint8_t *scales = b + 4, *q = b + 16;
        uint8_t sc, m;
        for (int j = 0, is = 0; j < QK_K; j += 64, is += 2, q += 32) {
            k4_scale_min(is, scales, &sc, &m);
            const float d1 = d * sc, m1 = mn * m;
            k4_scale_min(is + 1, scales, &sc, &m);
            const float d2 = d * sc, m2 = mn * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (float)(q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

/* q5_K: d(2) dmin(2) scales(12) qh(32) qs(128) */
static void dequant_q5_k(const uint8_t *b, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, b += 176) {
        const float d = rd_f16(b), mn = rd_f16(b + 2);
        const uint8_t *scales = b + 4, *qh = b + 16, *ql = b + 48;
        uint8_t sc, m, u1 = 1, u2 = 2;
        for (int j = 0, is = 0; j < QK_K; j += 64, is += 2, ql += 32) {
            k4_scale_min(is, scales, &sc, &m);
            const float d1 = d * sc, m1 = mn * m;
            k4_scale_min(is + 1, scales, &sc, &m);
            const float d2 = d * sc, m2 = mn * m;
            for (int l = 0; l < 32; l++)
                *y++ = d1 * (float)((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++)
                *y++ = d2 * (float)((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
            u1 = (uint8_t)(u1 << 2);
            u2 = (uint8_t)(u2 << 2);
        }
    }
}

/* q6_K: ql(128) qh(64) scales(16, i8) d(2) */
static void dequant_q6_k(const uint8_t *b, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, b += 210) {
        const float d = rd_f16(b + 208);
        const uint8_t *ql = b, *qh = b + 128;
        const int8_t *sc = (const int8_t *)(b + 192);
        for (int n = 0; n < QK_K; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l + 0] = d * (float)sc[is + 0] * (float)q1;
                y[l + 32] = d * (float)sc[is + 2] * (float)q2;
                y[l + 64] = d * (float)sc[is + 4] * (float)q3;
                y[l + 96] = d * (float)sc[is + 6] * (float)q4;
            }
        }
    }
}

void dp_dequant_row(dp_dtype t, const void *src, float *dst, size_t n) {
    const uint8_t *s = src;
    switch (t) {
    case DP_DTYPE_F32: memcpy(dst, src, n * sizeof(float)); break;
    case DP_DTYPE_F16:
        for (size_t i = 0; i < n; i++) dst[i] = rd_f16(s + 2 * i);
        break;
    case DP_DTYPE_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, s + 2 * i, 2);
            dst[i] = dp_bf16_to_f32(h);
        }
        break;
    case DP_DTYPE_Q8_0: dequant_q8_0(s, dst, n / QK8_0); break;
    case DP_DTYPE_Q4_K: dequant_q4_k(s, dst, n / QK_K); break;
    case DP_DTYPE_Q5_K: dequant_q5_k(s, dst, n / QK_K); break;
    case DP_DTYPE_Q6_K: dequant_q6_k(s, dst, n / QK_K); break;
    case DP_DTYPE_Q2_K: case DP_DTYPE_Q3_K: case DP_DTYPE_IQ4_XS:
        dequant_qk_groups(t, s, dst, n / QK_K);
        break;
    default:
        if (dp_q32_form_of(t).bytes) {
            const dp_q32_form f = dp_q32_form_of(t);
            dequant_q32(&f, s, dst, n / 32);
        }
        break;
    }
}

/* ==== reference quantizers ==== */

static void quant_q8_0(const float *x, uint8_t *b, size_t nb) {
    for (size_t i = 0; i < nb; i++, b += 34, x += QK8_0) {
        float amax = 0.0f;
        for (int j = 0; j < QK8_0; j++) {
            const float a = fabsf(x[j]);
            amax = amax > a ? amax : a;
        }
        const float d = amax / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        wr_f16(b, d);
        int8_t *qs = (int8_t *)(b + 2);
        for (int j = 0; j < QK8_0; j++) {
            const float v = roundf(x[j] * id); /* within [-127, 127] for finite input */
            qs[j] = (int8_t)(v >= -127.f && v <= 127.f ? v : 0.f); /* NaN/inf: no UB, 0 */
        }
    }
}

/* Asymmetric quantization of n values to 0..nmax with a scale and a min, searched over nstep
 * candidate scales around the range (GGML's make_qkx2_quants). Returns the scale; *the_min
 * receives the (positive) offset subtracted. */
static float make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L,
                              float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep) {
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        const float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        for (int i = 0; i < n; i++) L[i] = 0;
        *the_min = -min;
        return 0.f;
    }
    float iscale = (float)nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; i++) {
        const int l = nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)imax(0, imin(nmax, l));
        float diff = scale * (float)L[i] + min - x[i];
        diff = diff * diff;
        best_error += weights[i] * diff;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * (float)is + (float)nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = nearest_int(iscale * (x[i] - min));
            l = imax(0, imin(nmax, l));
            Laux[i] = (uint8_t)l;
            const float w = weights[i], fl = (float)l;
            sum_l += w * fl;
            sum_l2 += w * fl * fl;
            sum_xl += w * fl * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * (float)Laux[i] + this_min - x[i];
                diff = diff * diff;
                cur_error += weights[i] * diff;
            }
            if (cur_error < best_error) {
                memcpy(L, Laux, (size_t)n);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* Symmetric quantization of n values to -nmax..nmax-1 (stored + nmax), weighted by x^2, with a
 * search over 18 scales around the first guess (GGML's make_qx_quants, rmse_type 1, no
 * importance weights). Returns the scale. */
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        const float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.f;
    }
    float iscale = (float)(-nmax) / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = nearest_int(iscale * x[i]);
        l = imax(-nmax, imin(nmax - 1, l));
        L[i] = (int8_t)(l + nmax);
        const float w = x[i] * x[i], fl = (float)l;
        sumlx += w * x[i] * fl;
        suml2 += w * fl * fl;
    }
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -((float)nmax + 0.1f * (float)is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = nearest_int(iscale * x[i]);
            l = imax(-nmax, imin(nmax - 1, l));
            const float w = x[i] * x[i], fl = (float)l;
            sumlx += w * x[i] * fl;
            suml2 += w * fl * fl;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) {
                const int l = nearest_int(iscale * x[i]);
                L[i] = (int8_t)(nmax + imax(-nmax, imin(nmax - 1, l)));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Shared by q4_K and q5_K: per 32-value sub-block scales/mins, packed to 6 bits in the 12-byte
 * scales field, then the levels L (0..nmax) recomputed from the rounded scales. Writes d, dmin
 * and scales at b; L receives 256 levels. */
static void quant_k_scales(const float *x, uint8_t *b, uint8_t *L, int nmax, float rmin,
                           float rdelta, int nstep) {
    uint8_t Laux[32];
    float weights[32], mins[QK_K / 32], scales[QK_K / 32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < QK_K / 32; j++) {
        const float *xs = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += xs[l] * xs[l];
        const float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) weights[l] = av_x + fabsf(xs[l]);
        scales[j] = make_qkx2_quants(32, nmax, xs, weights, L + 32 * j, &mins[j], Laux, rmin, rdelta,
                                     nstep);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    uint8_t *sc = b + 4;
    for (int j = 0; j < QK_K / 32; j++) {
        uint8_t ls = (uint8_t)nearest_int(inv_scale * scales[j]);
        uint8_t lm = (uint8_t)nearest_int(inv_min * mins[j]);
        ls = ls < 63 ? ls : 63;
        lm = lm < 63 ? lm : 63;
        if (j < 4) {
            sc[j] = ls;
            sc[j + 4] = lm;
        } else {
            sc[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
            sc[j - 4] = (uint8_t)(sc[j - 4] | ((ls >> 4) << 6));
            sc[j] = (uint8_t)(sc[j] | ((lm >> 4) << 6));
        }
    }
    wr_f16(b, max_scale / 63.f);
    wr_f16(b + 2, max_min / 63.f);
    const float dd = rd_f16(b), dm_all = rd_f16(b + 2);
    for (int j = 0; j < QK_K / 32; j++) {
        uint8_t s, m;
        k4_scale_min(j, sc, &s, &m);
        const float d = dd * s;
        if (d == 0.0f) continue;
        const float dm = dm_all * m;
        for (int ii = 0; ii < 32; ii++) {
            const int l = nearest_int((x[32 * j + ii] + dm) / d);
            L[32 * j + ii] = (uint8_t)imax(0, imin(nmax, l));
        }
    }
}

static void quant_q4_k(const float *x, uint8_t *b, size_t nb) {
    uint8_t L[QK_K];
    for (size_t i = 0; i < nb; i++, b += 144, x += QK_K) {
        quant_k_scales(x, b, L, 15, -1.f, 0.1f, 20);
        uint8_t *q = b + 16;
        for (int j = 0; j < QK_K; j += 64, q += 32)
            for (int l = 0; l < 32; l++) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    }
}

static void quant_q5_k(const float *x, uint8_t *b, size_t nb) {
    uint8_t L[QK_K];
    for (size_t i = 0; i < nb; i++, b += 176, x += QK_K) {
        quant_k_scales(x, b, L, 31, -0.5f, 0.1f, 15);
        uint8_t *qh = b + 16, *ql = b + 48;
        memset(qh, 0, QK_K / 8);
        uint8_t m1 = 1, m2 = 2;
        for (int n = 0; n < QK_K; n += 64, ql += 32) {
            for (int j = 0; j < 32; j++) {
                int l1 = L[n + j], l2 = L[n + j + 32];
                if (l1 > 15) {
                    l1 -= 16;
                    qh[j] |= m1;
                }
                if (l2 > 15) {
                    l2 -= 16;
                    qh[j] |= m2;
                }
                ql[j] = (uint8_t)(l1 | (l2 << 4));
            }
            m1 = (uint8_t)(m1 << 2);
            m2 = (uint8_t)(m2 << 2);
        }
    }
}

static void quant_q6_k(const float *x, uint8_t *b, size_t nb) {
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (size_t i = 0; i < nb; i++, b += 210, x += QK_K) {
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < QK_K / 16; ib++) {
            const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
            scales[ib] = scale;
            const float abs_scale = fabsf(scale);
            if (abs_scale > max_abs_scale) {
                max_abs_scale = abs_scale;
                max_scale = scale;
            }
        }
        if (max_abs_scale < GROUP_MAX_EPS) {
            memset(b, 0, 210);
            wr_f16(b + 208, 0.f);
            continue;
        }
        const float iscale = -128.f / max_scale;
        int8_t *sc = (int8_t *)(b + 192);
        wr_f16(b + 208, 1 / iscale);
        for (int ib = 0; ib < QK_K / 16; ib++) sc[ib] = (int8_t)imin(127, nearest_int(iscale * scales[ib]));
        const float dd = rd_f16(b + 208);
        for (int j = 0; j < QK_K / 16; j++) {
            const float d = dd * sc[j];
            if (d == 0.0f) continue;
            for (int ii = 0; ii < 16; ii++) {
                const int l = nearest_int(x[16 * j + ii] / d);
                L[16 * j + ii] = (int8_t)(imax(-32, imin(31, l)) + 32);
            }
        }
        uint8_t *ql = b, *qh = b + 128;
        for (int j = 0; j < QK_K; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; l++) {
                const int q1 = L[j + l] & 0xF, q2 = L[j + l + 32] & 0xF;
                const int q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
                ql[l] = (uint8_t)(q1 | (q3 << 4));
                ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
                qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) |
                                  ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
            }
        }
    }
}

bool dp_quant_row(dp_dtype t, const float *src, void *dst, size_t n) {
    uint8_t *d = dst;
    switch (t) {
    case DP_DTYPE_F32: memcpy(dst, src, n * sizeof(float)); break;
    case DP_DTYPE_F16:
        for (size_t i = 0; i < n; i++) wr_f16(d + 2 * i, src[i]);
        break;
    case DP_DTYPE_BF16:
        for (size_t i = 0; i < n; i++) {
            const uint16_t h = dp_f32_to_bf16(src[i]);
            memcpy(d + 2 * i, &h, 2);
        }
        break;
    case DP_DTYPE_Q8_0: quant_q8_0(src, d, n / QK8_0); break;
    case DP_DTYPE_Q4_K: quant_q4_k(src, d, n / QK_K); break;
    case DP_DTYPE_Q5_K: quant_q5_k(src, d, n / QK_K); break;
    case DP_DTYPE_Q6_K: quant_q6_k(src, d, n / QK_K); break;
    default: return false;
    }
    return true;
}
