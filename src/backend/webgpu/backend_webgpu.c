/* backend_webgpu.c — the WebGPU backend's lifecycle, memory and flush; the vtable.
 * Ops are recorded by wg_op_* (ops_*.c) through wg_dispatch; see wg_internal.h. */
#include "backend/webgpu/webgpu.h"

#if defined(__wasm__)

#include <string.h>

#include "backend/webgpu/wg_internal.h"

static void wg_free(dp_backend *b) {
    if (!b) return;
    wg_ctx *c = b->ctx;
    if (c) {
        c->pend.kind = c->pend2.kind = WG_PEND_NONE; /* held-back ops die with the backend */
        if (c->recorded) wg_submit(c); /* leave nothing of ours in the host's open encoder */
        wg_cache_free(c);
        for (int i = 0; i < WG_SCR_COUNT; i++)
            if (c->scratch[i].id) dp_gpu_buffer_destroy(c->scratch[i].id);
        for (uint32_t i = 0; i < c->dead_n; i++) dp_gpu_buffer_destroy(c->dead[i]);
        if (c->uni_buf) dp_gpu_buffer_destroy(c->uni_buf);
        dp_free(c->dead);
        dp_free(c->bsizes);
        dp_free(c->uni_host);
        dp_free(c);
    }
    dp_free(b);
}

static dp_status wg_tensor_alloc(dp_backend *b, dp_tensor *t, dp_error *e) {
    wg_ctx *c = b->ctx;
    uint64_t size = (t->nbytes + 3u) & ~(uint64_t)3u;
    if (size == 0) size = 4;
    if (size > c->max_buffer)
        return dp_err_set(e, DP_ERR_LIMIT, "webgpu: tensor of %llu bytes is over the device's %u",
                          (unsigned long long)t->nbytes, c->max_buffer);
    uint32_t id = dp_gpu_buffer_create((uint32_t)size, DP_GPU_USAGE_STORAGE);
    if (!id) {
        char msg[200] = "";
        dp_gpu_error(msg, sizeof msg);
        return dp_err_set(e, DP_ERR_NOMEM, "webgpu: cannot create a %llu-byte buffer%s%s",
                          (unsigned long long)size, msg[0] ? ": " : "", msg);
    }
    if (!wg_bufsize_put(c, id, (uint32_t)size)) {
        dp_gpu_buffer_destroy(id);
        return dp_err_set(e, DP_ERR_NOMEM, "webgpu: out of memory");
    }
    t->handle = id;
    t->offset = 0;
    t->data = NULL;
    c->stats.bytes_allocated += size;
    return DP_OK;
}

static void wg_tensor_free(dp_backend *b, dp_tensor *t) {
    if (!t || !t->handle) return;
    wg_ctx *c = b->ctx;
    wg_pending_flush(c);
    uint64_t size = (t->nbytes + 3u) & ~(uint64_t)3u;
    c->stats.bytes_allocated -= size ? size : 4;
    wg_destroy_later(c, t->handle); /* recorded commands may still use it */
    t->handle = 0;
}

static dp_status wg_tensor_set(dp_backend *b, dp_tensor *t, uint64_t off, const void *src,
                               uint64_t n, dp_error *e) {
    wg_ctx *c = b->ctx;
    /* a queue write lands before every command not yet submitted: submit those first */
    wg_pending_flush(c);
    if (c->recorded) wg_submit(c);
    if (!t || !t->handle) return dp_err_set(e, DP_ERR_INVALID_ARG, "webgpu: tensor_set on no tensor");
    if (off > t->nbytes || n > t->nbytes - off)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "webgpu: tensor_set [%llu, +%llu) past %llu bytes",
                          (unsigned long long)off, (unsigned long long)n,
                          (unsigned long long)t->nbytes);
    if (off % 4 || (n % 4 && off + n != t->nbytes))
        return dp_err_set(e, DP_ERR_UNSUPPORTED,
                          "webgpu: tensor_set [%llu, +%llu): offset and length must be multiples "
                          "of 4 (length may be ragged only at the tensor's end)",
                          (unsigned long long)off, (unsigned long long)n);
    /* one host write per <= 1 GiB piece (the host copies out of our memory at once) */
    const uint8_t *s = src;
    while (n) {
        uint64_t piece = n > (1u << 30) ? (1u << 30) : n;
        dp_gpu_buffer_write(t->handle, (uint32_t)(t->offset + off), s, (uint32_t)piece);
        s += piece;
        off += piece;
        n -= piece;
    }
    return DP_OK;
}

static dp_status wg_tensor_get(dp_backend *b, const dp_tensor *t, uint64_t off, void *dst,
                               uint64_t n, dp_error *e) {
    wg_ctx *c = b->ctx;
    if (!t || !t->handle) return dp_err_set(e, DP_ERR_INVALID_ARG, "webgpu: tensor_get on no tensor");
    if (off > t->nbytes || n > t->nbytes - off || off % 4 || n % 4)
        return dp_err_set(e, DP_ERR_INVALID_ARG,
                          "webgpu: tensor_get [%llu, +%llu) of %llu bytes (multiples of 4 only)",
                          (unsigned long long)off, (unsigned long long)n,
                          (unsigned long long)t->nbytes);
    wg_pending_flush(c);
    if (n) {
        dp_gpu_read(t->handle, (uint32_t)(t->offset + off), (uint32_t)n, dst);
        c->stats.reads++;
    }
    wg_submit(c);
    return DP_OK;
}

static dp_status wg_flush(dp_backend *b, dp_error *e) {
    wg_ctx *c = b->ctx;
    wg_pending_flush(c);
    wg_submit(c);
    dp_status st = c->status;
    if (st != DP_OK) {
        if (e) *e = c->err;
        c->status = DP_OK;
        return st;
    }
    char msg[240];
    if (dp_gpu_error(msg, sizeof msg)) return dp_err_set(e, DP_ERR_INTERNAL, "webgpu: %s", msg);
    return DP_OK;
}

static const dp_backend_i wg_vtable = {
    .name = "webgpu",
    .free = wg_free,
    .tensor_alloc = wg_tensor_alloc,
    .tensor_free = wg_tensor_free,
    .tensor_set = wg_tensor_set,
    .tensor_get = wg_tensor_get,
    .flush = wg_flush,
    .get_rows = wg_op_get_rows,
    .rms_norm = wg_op_rms_norm,
    .matmul = wg_op_matmul,
    .add = wg_op_add,
    .rope = wg_op_rope,
    .copy = wg_op_copy,
    .attention = wg_op_attention,
    .glu = wg_op_glu,
    .softcap = wg_op_softcap,
    .lora = wg_op_lora,
    .moe = wg_op_moe,
    .sample = wg_op_sample,
};

dp_status dp_backend_webgpu_new(dp_backend **out, dp_error *e) {
    dp_backend *b = dp_calloc(1, sizeof *b);
    wg_ctx *c = dp_calloc(1, sizeof *c);
    uint8_t *uni = dp_calloc(WG_UNI_SLOTS, WG_UNI_SLOT);
    if (!b || !c || !uni) {
        dp_free(b);
        dp_free(c);
        dp_free(uni);
        return dp_err_set(e, DP_ERR_NOMEM, "webgpu: out of memory");
    }
    b->i = &wg_vtable;
    b->ctx = c;
    c->uni_host = uni;
    c->fuse = true;
    c->act_quant = false;
    c->unroll = 4;
    c->features = dp_gpu_features();
    c->max_buffer = dp_gpu_limit(DP_GPU_LIMIT_MAX_BUFFER);
    c->max_binding = dp_gpu_limit(DP_GPU_LIMIT_MAX_BINDING);
    c->max_groups = dp_gpu_limit(DP_GPU_LIMIT_MAX_GROUPS);
    c->max_storage = dp_gpu_limit(DP_GPU_LIMIT_MAX_STORAGE);
    c->max_invocations = dp_gpu_limit(DP_GPU_LIMIT_MAX_INVOCATIONS);
    c->max_wg_storage = dp_gpu_limit(DP_GPU_LIMIT_MAX_WG_STORAGE);
    if (c->max_binding < c->max_buffer) c->max_buffer = c->max_binding; /* we bind whole tensors */
    if (!c->max_buffer) {
        wg_free(b);
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "webgpu: the host has no GPU device");
    }
    c->uni_buf = dp_gpu_buffer_create(WG_UNI_SLOTS * WG_UNI_SLOT, DP_GPU_USAGE_UNIFORM);
    if (!c->uni_buf) {
        wg_free(b);
        return dp_err_set(e, DP_ERR_NOMEM, "webgpu: cannot create the uniform ring");
    }
    *out = b;
    return DP_OK;
}

void dp_backend_webgpu_stats(const dp_backend *b, dp_webgpu_stats *s) {
    memset(s, 0, sizeof *s);
    if (b && b->i == &wg_vtable) *s = ((const wg_ctx *)b->ctx)->stats;
}

void dp_backend_webgpu_set_fusion(dp_backend *b, bool on) {
    if (!b || b->i != &wg_vtable) return;
    wg_ctx *c = b->ctx;
    wg_pending_flush(c);
    c->fuse = on;
}

void dp_backend_webgpu_set_act_quant(dp_backend *b, bool on) {
    if (!b || b->i != &wg_vtable) return;
    wg_ctx *c = b->ctx;
    wg_pending_flush(c);
    c->act_quant = on;
}

dp_status dp_backend_webgpu_tune(dp_backend *b, const char *key, int value, dp_error *e) {
    if (!b || b->i != &wg_vtable || !key)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "webgpu tune: not a WebGPU backend");
    wg_ctx *c = b->ctx;
    wg_pending_flush(c);
    if (!strcmp(key, "matvec_rows") && value >= 0 && value <= 64) c->tune_rows = value;
    else if (!strcmp(key, "matvec_tpr") && (value == 0 || (value >= 4 && value <= 256 && !(value & (value - 1))))) c->tune_tpr = value;
    else if (!strcmp(key, "fuse") && (value == 0 || value == 1)) c->fuse = value;
    else if (!strcmp(key, "act_quant") && (value == 0 || value == 1)) c->act_quant = value;
    else if (!strcmp(key, "matvec_unroll") && (value == 1 || value == 2 || value == 4 || value == 8)) c->unroll = value;
    else
        return dp_err_set(e, DP_ERR_INVALID_ARG,
                          "webgpu tune: unknown key or value %s=%d (matvec_rows 0..64, matvec_tpr 0|4|8|..|256, fuse 0|1, act_quant 0|1, matvec_unroll 1|2|4|8)",
                          key, value);
    return DP_OK;
}

#else /* native: no GPU host */

#include <string.h>

dp_status dp_backend_webgpu_new(dp_backend **out, dp_error *e) {
    (void)out;
    return dp_err_set(e, DP_ERR_UNSUPPORTED,
                      "webgpu: this build has no WebGPU (use the WebAssembly build: "
                      "node web/doppler.mjs)");
}

void dp_backend_webgpu_stats(const dp_backend *b, dp_webgpu_stats *s) {
    (void)b;
    memset(s, 0, sizeof *s);
}

void dp_backend_webgpu_set_fusion(dp_backend *b, bool on) {
    (void)b;
    (void)on;
}

void dp_backend_webgpu_set_act_quant(dp_backend *b, bool on) {
    (void)b;
    (void)on;
}

dp_status dp_backend_webgpu_tune(dp_backend *b, const char *key, int value, dp_error *e) {
    (void)b;
    (void)key;
    (void)value;
    return dp_err_set(e, DP_ERR_UNSUPPORTED, "webgpu: not in this build");
}

#endif
