/* ops_sample.c — token sampling on the GPU (kernels/sample.wgsl). */
#if defined(__wasm__)

#include "backend/webgpu/wg_internal.h"

void wg_op_sample(dp_backend *b, dp_tensor *out, const dp_tensor *logits, int row, int vocab,
                  const dp_sample_args *a) {
    (void)out; (void)logits; (void)row; (void)vocab; (void)a;
    wg_fail(wg_ctx_of(b), DP_ERR_UNSUPPORTED, "sample: not yet");
}

#else
typedef int dp_wg_ops_sample_unused;
#endif
