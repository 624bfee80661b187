/* quant.h — GGML block codecs, byte-for-byte compatible with ggml-quants.c.
 *   q8_0: { f16 d; i8 qs[32] }                                   34 B / 32 values
 *   q4_K: { f16 d; f16 dmin; u8 scales[12]; u8 qs[128] }         144 B / 256
 *   q5_K: { f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128] } 176 B / 256
 *   q6_K: { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d }        210 B / 256
 *   q4_0, q4_1, q5_0, q5_1, iq4_nl: the 32-value forms below (dp_q32_form)
 *   q2_K, q3_K, iq4_xs: 256-value blocks read as 16 groups of 16 (dp_qk_groups)
 * Dequantization is bit-exact with GGML's reference; quantization reproduces GGML's reference
 * quantizers (quantize_row_*_ref, no importance matrix) byte for byte. */
#ifndef DP_QUANT_H
#define DP_QUANT_H

#include <string.h>

#include "format/dtype.h"

/* The 32-value block types share one layout, { f16 d; [f16 m;] [u8 qh[4];] u8 qs[16] }:
 *   q4_0 { d; qs }  18 B     q4_1 { d; m; qs }  20 B     iq4_nl { d; qs }  18 B
 *   q5_0 { d; qh; qs } 22 B  q5_1 { d; m; qh; qs } 24 B
 * Value i (< 32) has the 4 bits q = low nibble of qs[i] (i < 16) or high nibble of qs[i - 16],
 * with bit i of qh (little-endian u32) as bit 4 for q5_*; its level is q - bias, or table[q]
 * (iq4_nl's non-linear grid), and the value is d * level, plus m for q4_1 / q5_1. */
typedef struct dp_q32_form {
    uint8_t bytes, qh, qs; /* block bytes; offsets of qh (0: none) and qs */
    bool min;              /* an f16 m follows d */
    int8_t bias;
    const int8_t *table;   /* NULL: level = q - bias */
} dp_q32_form;
extern const int8_t dp_iq4_nl_grid[16];
/* The form of t ({0} when t is not a 32-value type); inline so that kernels specialized for a
 * constant t see constants. */
static inline dp_q32_form dp_q32_form_of(dp_dtype t) {
    switch (t) {
    case DP_DTYPE_Q4_0: return (dp_q32_form){18, 0, 2, false, 8, NULL};
    case DP_DTYPE_Q4_1: return (dp_q32_form){20, 0, 4, true, 0, NULL};
    case DP_DTYPE_Q5_0: return (dp_q32_form){22, 2, 6, false, 16, NULL};
    case DP_DTYPE_Q5_1: return (dp_q32_form){24, 4, 8, true, 0, NULL};
    case DP_DTYPE_IQ4_NL: return (dp_q32_form){18, 0, 2, false, 0, dp_iq4_nl_grid};
    default: return (dp_q32_form){0, 0, 0, false, 0, NULL};
    }
}
/* The 32 levels of a block of form f. */
void dp_q32_levels(const dp_q32_form *f, const uint8_t *blk, int8_t lv[32]);

/* The 256-value types q2_K, q3_K and iq4_xs as 16 groups g of 16 values, value i of group g
 * = (d * sc[g]) * lv[16 g + i] - dmin * mn[g]:
 *   q2_K   { u8 scales[16]; u8 qs[64]; f16 d; f16 dmin }      84 B   lv 0..3, sc, mn 0..15
 *   q3_K   { u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d }  110 B  lv -4..3, sc -32..31
 *   iq4_xs { f16 d; u16 scales_h; u8 scales_l[4]; u8 qs[128] } 136 B lv iq4_nl's grid, sc
 *          -32..31 per 32 values
 * (value v of q2_K / q3_K: 2 bits at 2 (v % 128 / 32) of qs[32 (v / 128) + v % 32], for q3_K
 * minus 4 unless bit v / 32 of hmask[v % 32] is set; iq4_xs: nibbles as the 32-value forms). */
typedef struct dp_qk_groups {
    float d, dmin;
    int8_t sc[16], mn[16];
    int8_t lv[256];
} dp_qk_groups;
/* Decodes one block of type t; false when t is not one of these types. */
bool dp_qk_decode(dp_dtype t, const uint8_t *blk, dp_qk_groups *o);
/* Only the scales and mins of one block (as in dp_qk_decode). */
void dp_qk_scales(dp_dtype t, const uint8_t *blk, int8_t sc[16], int8_t mn[16]);
/* q3_K's 16 6-bit scales (+ 32, i.e. 0..63) unpacked from the block's 12 scale bytes p as four
 * words of 4 bytes each (scale 4 w + i in byte i of a[w]); inline so that SIMD kernels keep the
 * words in registers. */
static inline void dp_q3k_scale_words(const uint8_t *p, uint32_t a[4]) {
    uint32_t a0, a1, tmp;
    memcpy(&a0, p, 4);
    memcpy(&a1, p + 4, 4);
    memcpy(&tmp, p + 8, 4);
    a[0] = (a0 & 0x0f0f0f0f) | (((tmp >> 0) & 0x03030303) << 4);
    a[1] = (a1 & 0x0f0f0f0f) | (((tmp >> 2) & 0x03030303) << 4);
    a[2] = ((a0 >> 4) & 0x0f0f0f0f) | (((tmp >> 4) & 0x03030303) << 4);
    a[3] = ((a1 >> 4) & 0x0f0f0f0f) | (((tmp >> 6) & 0x03030303) << 4);
}

/* Byte offsets in a block of type t of its f16 scale fields (d, then dmin / m where the type has
 * one) into off; returns their number (0 for plain types). */
int dp_block_f16_fields(dp_dtype t, int off[2]);

/* n values (a whole number of blocks for block types) from src of type t into dst as f32.
 * Works for every dtype except I32. */
void dp_dequant_row(dp_dtype t, const void *src, float *dst, size_t n);
/* n f32 values into dst of type t (reference quantizers); n must be a whole number of blocks.
 * false (dst untouched) for the types read from GGUF only, which have no quantizer here
 * (q4_0, q4_1, q5_0, q5_1, iq4_nl) and for I32. */
bool dp_quant_row(dp_dtype t, const float *src, void *dst, size_t n);

#endif /* DP_QUANT_H */
