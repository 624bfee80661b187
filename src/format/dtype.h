/* dtype.h — element types of stored tensors: plain floats and GGML's block layouts. */
#ifndef DP_DTYPE_H
#define DP_DTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum dp_dtype {
    DP_DTYPE_F32 = 0,
    DP_DTYPE_F16,
    DP_DTYPE_BF16,
    DP_DTYPE_Q8_0,   /* 34 B / 32 values  (GGML block_q8_0) */
    DP_DTYPE_Q4_K,   /* 144 B / 256 values (GGML block_q4_K) */
    DP_DTYPE_Q5_K,   /* 176 B / 256 values (GGML block_q5_K) */
    DP_DTYPE_Q6_K,   /* 210 B / 256 values (GGML block_q6_K) */
    DP_DTYPE_I32,
    DP_DTYPE_Q4_0,   /* 18 B / 32 values  (GGML block_q4_0) */
    DP_DTYPE_Q4_1,   /* 20 B / 32 values  (GGML block_q4_1) */
    DP_DTYPE_Q5_0,   /* 22 B / 32 values  (GGML block_q5_0) */
    DP_DTYPE_Q5_1,   /* 24 B / 32 values  (GGML block_q5_1) */
    DP_DTYPE_IQ4_NL, /* 18 B / 32 values  (GGML block_iq4_nl) */
    DP_DTYPE_Q2_K,   /* 84 B / 256 values (GGML block_q2_K) */
    DP_DTYPE_Q3_K,   /* 110 B / 256 values (GGML block_q3_K) */
    DP_DTYPE_IQ4_XS, /* 136 B / 256 values (GGML block_iq4_xs) */
    DP_DTYPE_COUNT
} dp_dtype;

const char *dp_dtype_name(dp_dtype t);            /* "f32", "q4_k", ... */
bool dp_dtype_parse(const char *name, dp_dtype *t); /* inverse of dp_dtype_name */
size_t dp_dtype_block_values(dp_dtype t);          /* 1 for plain types */
size_t dp_dtype_block_bytes(dp_dtype t);
/* Bytes of a row of n values; false when n is not a whole number of blocks or overflows. */
bool dp_dtype_row_bytes(dp_dtype t, uint64_t n, uint64_t *bytes);
bool dp_dtype_is_quant(dp_dtype t);
/* GGML's type id (ggml_type) of t, -1 when GGML has none; and the inverse. */
int dp_dtype_ggml_id(dp_dtype t);
bool dp_dtype_from_ggml(uint32_t id, dp_dtype *t);
/* Values per block of the 8-bit activations the integer kernels pair with weights of type t:
 * 32 (q8_0 blocks), 256 (q8_K blocks), 0 when the activations stay f32. */
size_t dp_dtype_act_block(dp_dtype t);

#endif /* DP_DTYPE_H */
