/* ops_attention.c — causal GQA attention (kernels/attention.wgsl). */
#if defined(__wasm__)

#include "backend/webgpu/wg_internal.h"

void wg_op_attention(dp_backend *b, dp_tensor *out, const dp_tensor *q, const dp_tensor *k_cache,
                     const dp_tensor *v_cache, const dp_attn_args *a) {
    (void)out; (void)q; (void)k_cache; (void)v_cache; (void)a;
    wg_fail(wg_ctx_of(b), DP_ERR_UNSUPPORTED, "attention: not yet");
}

#else
typedef int dp_wg_ops_attention_unused;
#endif
