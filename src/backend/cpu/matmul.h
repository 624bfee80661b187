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

/* One product of dp_cpu_matmul_multi: y[n,m] = x[n,k] @ W[m,k]^T (+ y when accumulate). */
typedef struct dp_cpu_mm_part {
    float *y;
    const void *w;
    dp_dtype wt;
    int m;
    bool accumulate;
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
