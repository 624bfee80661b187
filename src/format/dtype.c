/* dtype.c — names and block geometry of the stored element types. */
#include <string.h>

#include "format/dtype.h"

static const struct {
    const char *name;
    size_t values, bytes;
    int ggml;         /* ggml_type id, -1: none */
    size_t act_block; /* dp_dtype_act_block */
} TYPES[DP_DTYPE_COUNT] = {
    [DP_DTYPE_F32] = {"f32", 1, 4, 0, 0},           [DP_DTYPE_F16] = {"f16", 1, 2, 1, 0},
    [DP_DTYPE_BF16] = {"bf16", 1, 2, 30, 0},        [DP_DTYPE_Q8_0] = {"q8_0", 32, 34, 8, 32},
    [DP_DTYPE_Q4_K] = {"q4_k", 256, 144, 12, 256},  [DP_DTYPE_Q5_K] = {"q5_k", 256, 176, 13, 256},
    [DP_DTYPE_Q6_K] = {"q6_k", 256, 210, 14, 256},  [DP_DTYPE_I32] = {"i32", 1, 4, -1, 0},
    [DP_DTYPE_Q4_0] = {"q4_0", 32, 18, 2, 32},      [DP_DTYPE_Q4_1] = {"q4_1", 32, 20, 3, 32},
    [DP_DTYPE_Q5_0] = {"q5_0", 32, 22, 6, 32},      [DP_DTYPE_Q5_1] = {"q5_1", 32, 24, 7, 32},
    [DP_DTYPE_IQ4_NL] = {"iq4_nl", 32, 18, 20, 32},   [DP_DTYPE_Q2_K] = {"q2_k", 256, 84, 10, 256},
    [DP_DTYPE_Q3_K] = {"q3_k", 256, 110, 11, 256},  [DP_DTYPE_IQ4_XS] = {"iq4_xs", 256, 136, 23, 256},
};

static bool valid(dp_dtype t) { return (unsigned)t < (unsigned)DP_DTYPE_COUNT; }

const char *dp_dtype_name(dp_dtype t) { return valid(t) ? TYPES[t].name : "?"; }

bool dp_dtype_parse(const char *name, dp_dtype *t) {
    if (!name) return false;
    for (int i = 0; i < DP_DTYPE_COUNT; i++) {
        if (strcmp(name, TYPES[i].name) == 0) {
            *t = (dp_dtype)i;
            return true;
        }
    }
    return false;
}

size_t dp_dtype_block_values(dp_dtype t) { return valid(t) ? TYPES[t].values : 0; }

size_t dp_dtype_block_bytes(dp_dtype t) { return valid(t) ? TYPES[t].bytes : 0; }

bool dp_dtype_row_bytes(dp_dtype t, uint64_t n, uint64_t *bytes) {
    if (!valid(t)) return false;
    uint64_t v = TYPES[t].values;
    if (n % v) return false;
    uint64_t blocks = n / v, b = TYPES[t].bytes;
    if (blocks > UINT64_MAX / b) return false;
    *bytes = blocks * b;
    return true;
}

bool dp_dtype_is_quant(dp_dtype t) { return valid(t) && TYPES[t].values > 1; }

int dp_dtype_ggml_id(dp_dtype t) { return valid(t) ? TYPES[t].ggml : -1; }

bool dp_dtype_from_ggml(uint32_t id, dp_dtype *t) {
    for (int i = 0; i < DP_DTYPE_COUNT; i++) {
        if (TYPES[i].ggml >= 0 && (uint32_t)TYPES[i].ggml == id) {
            *t = (dp_dtype)i;
            return true;
        }
    }
    return false;
}

size_t dp_dtype_act_block(dp_dtype t) { return valid(t) ? TYPES[t].act_block : 0; }
