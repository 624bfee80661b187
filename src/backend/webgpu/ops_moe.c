/* ops_moe.c — mixture-of-experts FFN (kernels/moe.wgsl, weights_*.wgsl). */
#if defined(__wasm__)

#include "backend/webgpu/wg_internal.h"

void wg_op_moe(dp_backend *b, dp_tensor *out, const dp_tensor *x, const dp_tensor *logits,
               const dp_tensor *gate, const dp_tensor *up, const dp_tensor *down, int n,
               int n_expert, int k, dp_act act) {
    (void)out; (void)x; (void)logits; (void)gate; (void)up; (void)down; (void)n; (void)n_expert; (void)k; (void)act;
    wg_fail(wg_ctx_of(b), DP_ERR_UNSUPPORTED, "moe: not yet");
}

#else
typedef int dp_wg_ops_moe_unused;
#endif
