/* quant.h — GGML block codecs, byte-for-byte compatible with ggml-quants.c.
 *   q8_0: { f16 d; i8 qs[32] }                                   34 B / 32 values
 *   q4_K: { f16 d; f16 dmin; u8 scales[12]; u8 qs[128] }         144 B / 256
 *   q5_K: { f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128] } 176 B / 256
 *   q6_K: { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d }        210 B / 256
 * Dequantization is bit-exact with GGML's reference; quantization reproduces GGML's reference
 * quantizers (quantize_row_*_ref, no importance matrix) byte for byte. */
#ifndef DP_QUANT_H
#define DP_QUANT_H

#include "format/dtype.h"

/* n values (a whole number of blocks for block types) from src of type t into dst as f32.
 * Works for every dtype except I32. */
void dp_dequant_row(dp_dtype t, const void *src, float *dst, size_t n);
/* n f32 values into dst of type t (reference quantizers); n must be a whole number of blocks. */
void dp_quant_row(dp_dtype t, const float *src, void *dst, size_t n);

#endif /* DP_QUANT_H */
