/* host.h — the narrow host interface the WebGPU backend drives (imported functions).
 *
 * In the WebAssembly build these are imports of module "dp_gpu", implemented by the JavaScript
 * host (web/gpu.mjs) on a GPUDevice; the C core never sees a JavaScript object, only small
 * integer ids. Nothing here exists in native builds.
 *
 * Ids are 32-bit, 0 means "none / failed". Pointers and lengths are into the module's memory.
 * Sizes and offsets are bytes and must be multiples of 4 (WebGPU's copy rules), except
 * dp_gpu_buffer_write's length, which the host pads with zeros up to a multiple of 4.
 *
 * Recording: dispatches and copies go into one open command encoder (dispatches share one compute
 * pass until a copy or submit closes it), handed over as a command list (dp_gpu_encode); a submit
 * ends the encoder and queues it after every earlier write. A read copies a range into a host
 * staging buffer and, once the queue has executed it, writes the bytes to dst in the module's
 * memory; the host's own `settle()`
 * (JS) awaits every outstanding read, so a read's dst must stay valid until the host has
 * settled. That is the step machine: C records + submits, JS awaits, JS calls the next step.
 *
 * Errors (validation, out of memory, device lost) are asynchronous in WebGPU: the host keeps the
 * first one and dp_gpu_error copies it out (and clears it). */
#ifndef DP_WEBGPU_HOST_H
#define DP_WEBGPU_HOST_H

#include <stdint.h>

#if defined(__wasm__)
#define DP_GPU_IMPORT(name) __attribute__((import_module("dp_gpu"), import_name(name)))

/* adapter features the device was created with */
enum {
    DP_GPU_FEATURE_F16 = 1u,
    DP_GPU_FEATURE_SUBGROUPS = 2u,
    DP_GPU_FEATURE_DOT4I8 = 4u,        /* WGSL packed_4x8_integer_dot_product (dot4I8Packed) */
    DP_GPU_FEATURE_SUBGROUP_MATRIX = 8u /* chromium-experimental-subgroup-matrix, f16 8x8 */
};
/* limits by number */
enum {
    DP_GPU_LIMIT_MAX_BUFFER = 0,        /* maxBufferSize (clamped to 4 GiB - 4) */
    DP_GPU_LIMIT_MAX_BINDING = 1,       /* maxStorageBufferBindingSize (same clamp) */
    DP_GPU_LIMIT_MAX_WG_STORAGE = 2,    /* maxComputeWorkgroupStorageSize */
    DP_GPU_LIMIT_MAX_INVOCATIONS = 3,   /* maxComputeInvocationsPerWorkgroup */
    DP_GPU_LIMIT_MAX_GROUPS = 4,        /* maxComputeWorkgroupsPerDimension */
    DP_GPU_LIMIT_SUBGROUP_MIN = 5,      /* subgroupMinSize (0 without subgroups) */
    DP_GPU_LIMIT_MAX_STORAGE = 6,       /* maxStorageBuffersPerShaderStage */
    DP_GPU_LIMIT_SUBGROUP_MAX = 7       /* subgroupMaxSize (0 without subgroups) */
};
/* buffer usages */
enum { DP_GPU_USAGE_STORAGE = 1u, DP_GPU_USAGE_UNIFORM = 2u };

/* one binding of a bind group: binding number, buffer, byte range */
typedef struct dp_gpu_binding {
    uint32_t binding, buffer, offset, size;
} dp_gpu_binding;

DP_GPU_IMPORT("features") uint32_t dp_gpu_features(void);
DP_GPU_IMPORT("limit") uint32_t dp_gpu_limit(uint32_t which);

/* A zero-filled buffer of size bytes (COPY_SRC | COPY_DST | usage). 0 on failure. */
DP_GPU_IMPORT("buffer_create") uint32_t dp_gpu_buffer_create(uint32_t size, uint32_t usage);
DP_GPU_IMPORT("buffer_destroy") void dp_gpu_buffer_destroy(uint32_t buffer);
/* Queue a write of len bytes from src (queue.writeBuffer: ordered before later submits). */
DP_GPU_IMPORT("buffer_write") void dp_gpu_buffer_write(uint32_t buffer, uint32_t offset,
                                                       const void *src, uint32_t len);

/* Compute pipeline from WGSL text, entry point and override constants given as text
 * "NAME=value,NAME=value" (may be empty). 0 on failure (message in dp_gpu_error). */
DP_GPU_IMPORT("pipeline_create")
uint32_t dp_gpu_pipeline_create(const char *wgsl, uint32_t wgsl_len, const char *entry,
                                uint32_t entry_len, const char *constants, uint32_t constants_len);
/* Bind group 0 of pipeline from n bindings. 0 on failure. */
DP_GPU_IMPORT("bind_group_create")
uint32_t dp_gpu_bind_group_create(uint32_t pipeline, const dp_gpu_binding *bindings, uint32_t n);
DP_GPU_IMPORT("bind_group_destroy") void dp_gpu_bind_group_destroy(uint32_t bind_group);

/* The command list: dispatches, copies, reads, the uniform ring's write and submits are not
 * imports of their own; the backend appends them to a list of u32 words in its memory and hands
 * the host the whole list with one call (one crossing per submit instead of one per dispatch).
 * The host runs the commands in order:
 *   DP_GPU_CMD_DISPATCH pipeline bind_group x y z    dispatch into the open compute pass
 *   DP_GPU_CMD_COPY src src_offset dst dst_offset size  buffer copy (closes the pass)
 *   DP_GPU_CMD_READ buffer offset size dst           copy to a staging buffer; dst (a pointer
 *                                                    into the module's memory) receives the bytes
 *                                                    when the host settles
 *   DP_GPU_CMD_WRITE buffer offset src len           queue.writeBuffer of len bytes at src, taken
 *                                                    when the command runs (before any later submit)
 *   DP_GPU_CMD_SUBMIT                                finish the open encoder and submit it
 * Ids the list names must stay alive until it has run: the backend hands over what it holds
 * before destroying a bind group or buffer (wg_cmds_flush). */
enum {
    DP_GPU_CMD_DISPATCH = 1u, /* + 5 words */
    DP_GPU_CMD_COPY = 2u,     /* + 5 words */
    DP_GPU_CMD_READ = 3u,     /* + 4 words */
    DP_GPU_CMD_WRITE = 4u,    /* + 4 words */
    DP_GPU_CMD_SUBMIT = 5u    /* + 0 words */
};
DP_GPU_IMPORT("encode") void dp_gpu_encode(const uint32_t *cmds, uint32_t n_words);
/* Wait until every read recorded and submitted so far has landed in the module's memory: the
 * module suspends while the host awaits the GPU (web/engine.mjs drives it with Binaryen's
 * asyncify, see web/build.sh) and resumes here. Only within the calls the host makes
 * resumable (evaluations); elsewhere, or in a build without asyncify, it returns 1 at once
 * with the reason in dp_gpu_error. 0: the reads landed. A paged MoE model's moe op uses it. */
DP_GPU_IMPORT("wait") uint32_t dp_gpu_wait(void);
/* Copy the first pending error message (NUL-terminated, truncated to cap) and clear it;
 * returns its length, 0 when there is none. */
DP_GPU_IMPORT("error") uint32_t dp_gpu_error(char *dst, uint32_t cap);

#endif /* __wasm__ */
#endif /* DP_WEBGPU_HOST_H */
