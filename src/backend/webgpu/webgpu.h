/* webgpu.h — the WebGPU backend (records ops as GPU dispatches through host.h).
 *
 * Only the WebAssembly build has a GPU host; in native builds dp_backend_webgpu_new returns
 * DP_ERR_UNSUPPORTED.
 *
 * How it differs from the CPU backend (see docs/WEBGPU.md):
 *   - ops are recorded and run at flush; a failure while recording is sticky and returned by
 *     the next flush;
 *   - tensor_read records a read and submits it, but the bytes reach dst only when the JavaScript
 *     host has settled (awaited the GPU); the caller returns to the host between recording a
 *     step and using what it read (the step machine), and dst must stay valid until then;
 *   - tensor_set offsets must be multiples of 4, and so must lengths unless the write reaches
 *     the end of the tensor (the host pads the tail with zeros);
 *   - tensors are one GPU buffer each (offset 0); a tensor view (same handle, offset a multiple
 *     of 256) may be passed to any op. */
#ifndef DP_BACKEND_WEBGPU_H
#define DP_BACKEND_WEBGPU_H

#include "backend/backend.h"
#include "backend/webgpu/wg_registry.h"

/* Counters since the backend was created (dispatches and submits are what `bench` reports). */
typedef struct dp_webgpu_stats {
    uint64_t dispatches, copies, submits, reads;
    uint64_t pipelines, bind_groups_created;
    uint64_t bytes_allocated; /* live tensor + scratch bytes */
} dp_webgpu_stats;

/* A backend on the host's GPU device. Fails with DP_ERR_UNSUPPORTED in native builds. */
dp_status dp_backend_webgpu_new(dp_backend **out, dp_error *e);
/* Fills s from a backend made by dp_backend_webgpu_new (zeros for any other backend). */
void dp_backend_webgpu_stats(const dp_backend *b, dp_webgpu_stats *s);
/* backend.h's fused shapes as single dispatches (wg_fuse.c): on by default; off
 * records every op on its own (tests compare the two). No-op for other backends. */
void dp_backend_webgpu_set_fusion(dp_backend *b, bool on);
/* On: products over block-quantized weights (q8_0, q4_K, q5_K, q6_K) take x through the same
 * 8-bit activation blocks as the CPU backend (q8_0 / q8_K, as llama.cpp; one act_quant dispatch
 * before each product group), so both backends agree on a quantized model up to summation order.
 * Off (the default): exact f32 activations, faster. */
void dp_backend_webgpu_set_act_quant(dp_backend *b, bool on);
/* Experiment knobs: "matvec_rows" (rows per workgroup, 0 = automatic), "matvec_tpr" (lanes per
 * row: 0 = automatic, or a power of two 4..256), "matvec_unroll" (units per loop iteration: 1, 2,
 * 4, 8), "fuse" and "act_quant" (0/1), "fold_norm" (0/1, default 0: the rms_norm in front of
 * decode products as its own dispatch; 1: computed inside them, weights_<t>_n), "attn_one_slice"
 * (0..65536, default 0: decode attention split at every length; N: over at most N keys in one
 * dispatch instead of partial + combine; both fusions opt-in, slower on the H200, docs/WEBGPU.md),
 * "attn_flash" (0/1: prefill attention of 16 rows or more in blocks of rows per workgroup,
 * attention:flash, or row by row, partial + combine; default: flash only where subgroups are fixed
 * below 8 lanes, a CPU emulating a GPU, where it is 5.5x faster; 0.42x on the H200),
 * "matvec_i8" (0/1, default 1 where WGSL has packed_4x8_integer_dot_product: decode products
 * over q4_K, q6_K and q8_0 with x in the 8-bit blocks of act_quant and dot4I8Packed;
 * DP_ERR_UNSUPPORTED where WGSL lacks it), "matvec_sg" (0/1: their row sums by subgroup shuffles,
 * kernels/weights_sg.wgsl; DP_ERR_UNSUPPORTED unless the device's subgroups have one fixed size),
 * "prefill_sgmat" (0/1/2: prefill products on the matrix units (2: 128 x 128 tiles staged
 * through workgroup memory for products of 128 tiles or more where subgroups are 32 wide, else
 * as 1),
 * f16 operands, f32 sums, kernels/matmul_sgmat.wgsl; DP_ERR_UNSUPPORTED where the device lacks
 * shader-f16 or chromium-experimental-subgroup-matrix with f16 16x16x16 -> f32), "prefill_tile"
 * (0, 64, 128; default 0: the other prefill products in 64 x 64 tiles of 4 x 4 values per
 * invocation; 64 or 128: tiles of that size with 8 x 8 values per invocation, faster on
 * SwiftShader, several times slower on the H200), "submit_every"
 * (0..2048, default 32: in a paced recording — a speculative step's draft passes and
 * verification, see the vtable's pace — a submit after every N dispatches, so the GPU starts on
 * it while the host records the rest; 0: never), "pace" (0/1, default 0: only speculative steps
 * are paced; 1: every recording, plain decode and prefill too). DP_ERR_INVALID_ARG
 * for anything else. */
dp_status dp_backend_webgpu_tune(dp_backend *b, const char *key, int value, dp_error *e);

/* Pipelines from now on are made from registry r's entries (wg_registry.h; NULL: the built-in
 * kernels). r is borrowed: it must stay alive and unchanged until the backend is freed or another
 * registry is set. Pipelines made so far are forgotten. No-op for other backends. */
void dp_backend_webgpu_set_registry(dp_backend *b, const dp_kreg *r);
/* The registry entries pipelines were made from since the registry was set (the kernels that
 * ran), each once, sorted by op then entry, into out (at most cap; dp_kreg_count of the registry
 * is always enough); returns how many were written (0 for other backends). */
int dp_backend_webgpu_kernels_used(const dp_backend *b, const dp_kentry **out, int cap);

#endif /* DP_BACKEND_WEBGPU_H */
