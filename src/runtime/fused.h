/* fused.h — the fused shapes of backend.h (norm_matmul, norm_add, rope_qk_kv, norm_qkv_rope,
 * lora_linear) for any backend: the backend's method when it has one, else the ops they stand
 * for, one by one. The forward pass and the op tests call these; nothing else calls the methods. */
#ifndef DP_RUNTIME_FUSED_H
#define DP_RUNTIME_FUSED_H

#include "backend/backend.h"

void dp_fused_norm_matmul(dp_backend *be, dp_tensor *h, const dp_tensor *x, const dp_tensor *w,
                          int n, int d, float eps, bool plus_one, dp_tensor *const *outs,
                          const dp_tensor *const *ws, int count, const dp_act *glu, bool keep_h);
void dp_fused_norm_add(dp_backend *be, dp_tensor *y, dp_tensor *h, const dp_tensor *w, int n,
                       int d, float eps, bool plus_one, const dp_norm_next *next);
void dp_fused_rope_qk_kv(dp_backend *be, const dp_qkv_args *a);
void dp_fused_norm_qkv_rope(dp_backend *be, dp_tensor *h, const dp_tensor *x, const dp_tensor *w, int n,
                            int d, float eps, bool plus_one, const dp_tensor *const *ws,
                            const dp_qkv_args *a, bool keep_h);
void dp_fused_lora_linear(dp_backend *be, const dp_lora_linear *a);

#endif
