/* matmul.h — CPU matrix products straight from stored weights (f32/f16/bf16 and GGML blocks).
 * A scalar reference for every weight type plus per-ISA fast paths (matmul_avx2.c, _neon.c,
 * _wasm.c); rows of the output are split over the pool's threads. */
#ifndef DP_CPU_MATMUL_H
#define DP_CPU_MATMUL_H

#include "base/base.h"
#include "format/dtype.h"

/* Workspace for activation conversion (e.g. x quantized to 8-bit blocks). Grown on demand by
 * dp_cpu_matmul (so it allocates only while shapes grow); freed with dp_cpu_ws_free. */
typedef struct dp_cpu_ws { void *data; size_t cap; } dp_cpu_ws;
void dp_cpu_ws_free(dp_cpu_ws *ws);

/* y[n,m] = x[n,k] @ W[m,k]^T (+ y when accumulate). W has dtype wt, row-major, rows of
 * dp_dtype_row_bytes(wt, k) bytes. Returns DP_ERR_NOMEM only when the workspace cannot grow. */
dp_status dp_cpu_matmul(dp_pool *pool, dp_cpu_ws *ws, float *y, const float *x, const void *w,
                        dp_dtype wt, int n, int k, int m, bool accumulate);

/* How a weight matrix's bytes are arranged in memory.
 *   DP_CPU_W_ROWS: row-major, rows of dp_dtype_row_bytes(wt, k) bytes (as stored in a file).
 *   DP_CPU_W_X8:   q4_K / q6_K only: every group of 8 whole rows (rows 8g..8g+7, the same
 *                  8 * row_bytes bytes at the same offset) is rearranged so that block b of the
 *                  8 rows sits together, values of the 8 rows interleaved 8 bytes at a time and
 *                  the block scales of the 8 rows side by side (layout in matmul_impl.h). The
 *                  m % 8 rows past the last whole group stay row-major. Same total bytes: one
 *                  pass over an activation block feeds 8 rows (decode reads weights once). */
typedef enum dp_cpu_wlayout { DP_CPU_W_ROWS = 0, DP_CPU_W_X8 = 1 } dp_cpu_wlayout;

/* Whether the fastest kernels on this CPU have a DP_CPU_W_X8 kernel for wt (repacking pays). */
bool dp_cpu_x8_preferred(dp_dtype wt);
/* Rearranges a row-major q4_K / q6_K matrix of m rows of k values in place into
 * DP_CPU_W_X8 (needs 8 rows of scratch, allocated and freed here). False (w untouched) when wt
 * has no such layout, k is not a whole number of blocks, m < 8, or scratch cannot be had. */
bool dp_cpu_x8_repack(dp_dtype wt, int k, int m, void *w);
/* Block b (dp_dtype_block_bytes(wt) bytes, as stored) of row r of a matrix in layout lay. */
void dp_cpu_weight_block(const void *w, dp_dtype wt, dp_cpu_wlayout lay, int k, int m, int r,
                         int b, void *dst);

/* dp_cpu_matmul for a weight matrix in layout lay. */
dp_status dp_cpu_matmul_layout(dp_pool *pool, dp_cpu_ws *ws, float *y, const float *x,
                               const void *w, dp_dtype wt, dp_cpu_wlayout lay, int n, int k,
                               int m, bool accumulate);

/* One product of dp_cpu_matmul_multi: y[n,m] = x[n,k] @ W[m,k]^T (+ y when accumulate). */
typedef struct dp_cpu_mm_part {
    float *y;
    const void *w;
    dp_dtype wt;
    int m;
    bool accumulate;
    dp_cpu_wlayout layout;
} dp_cpu_mm_part;

/* Several products of the same x (e.g. q/k/v, gate/up): when they take the row-dot path and
 * share an activation format, x is converted once and all rows go to the pool in one hand-off;
 * otherwise the same as dp_cpu_matmul per part. The y buffers must not overlap x or each other. */
dp_status dp_cpu_matmul_multi(dp_pool *pool, dp_cpu_ws *ws, const float *x, int n, int k,
                              const dp_cpu_mm_part *parts, int count);

/* The scalar reference of the same product (single thread), used as the oracle in tests. */
void dp_cpu_matmul_ref(float *y, const float *x, const void *w, dp_dtype wt, int n, int k, int m,
                       bool accumulate);

#endif /* DP_CPU_MATMUL_H */
