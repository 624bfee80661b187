/* backend_webgpu.c — the WebGPU backend's lifecycle, memory and flush; the vtable.
 * Ops are recorded by wg_rec_* (ops_*.c) and the fused shapes by wg_op_* (wg_fuse.c) through
 * wg_dispatch; see wg_internal.h. */
#include "backend/webgpu/webgpu.h"

#if defined(__wasm__)

#include <stdlib.h>
#include <string.h>

#include "backend/webgpu/wg_internal.h"

static void dev_free(wg_dev *d) {
    wg_cmds_flush(); /* the list may name the buffers and bind groups below */
    wg_cache_free(d);
    for (uint32_t i = 0; i < d->dead_n; i++) dp_gpu_buffer_destroy(d->dead[i]);
    if (d->uni_buf) dp_gpu_buffer_destroy(d->uni_buf);
    wg_release_encoder(d);
    dp_free(d->dead);
    dp_free(d->bsizes);
    dp_free(d->uni_host);
    dp_free(d);
}

/* A stream's scratch goes to its device's dead list; the backend itself also frees the device
 * (its streams must be gone by then). */
static void wg_free(dp_backend *b) {
    if (!b) return;
    wg_ctx *c = b->ctx;
    if (c) {
        for (int i = 0; i < WG_SCR_COUNT; i++)
            if (c->scratch[i].id) {
                c->dev->stats.bytes_allocated -= c->scratch[i].size;
                wg_destroy_later(c, c->scratch[i].id);
            }
        dp_free(c->sel_host);
        dp_free(c->views);
        if (c->owns_dev) {
            if (c->dev->recorded) wg_submit(c); /* leave nothing of ours in the host's open encoder */
            dev_free(c->dev);
        }
        dp_free(c);
    }
    dp_free(b);
}

static dp_status wg_tensor_alloc(dp_backend *b, dp_tensor *t, dp_error *e) {
    wg_ctx *c = b->ctx;
    uint64_t size = (t->nbytes + 3u) & ~(uint64_t)3u;
    if (size == 0) size = 4;
    if (size > c->dev->max_buffer)
        return dp_err_set(e, DP_ERR_LIMIT, "webgpu: tensor of %llu bytes is over the device's %u",
                          (unsigned long long)t->nbytes, c->dev->max_buffer);
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
    c->dev->stats.bytes_allocated += size;
    return DP_OK;
}

static void wg_tensor_free(dp_backend *b, dp_tensor *t) {
    if (!t || !t->handle) return;
    wg_ctx *c = b->ctx;
    uint64_t size = (t->nbytes + 3u) & ~(uint64_t)3u;
    c->dev->stats.bytes_allocated -= size ? size : 4;
    wg_memo_forget(c, t->handle);
    wg_destroy_later(c, t->handle); /* recorded commands may still use it */
    t->handle = 0;
}

static dp_status wg_tensor_set(dp_backend *b, dp_tensor *t, uint64_t off, const void *src,
                               uint64_t n, dp_error *e) {
    wg_ctx *c = b->ctx;
    /* a queue write lands before every command not yet submitted: submit those first */
    if (c->dev->recorded) wg_submit(c);
    if (!t || !t->handle) return dp_err_set(e, DP_ERR_INVALID_ARG, "webgpu: tensor_set on no tensor");
    wg_memo_forget(c, t->handle);
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

static dp_status wg_tensor_read(dp_backend *b, const dp_tensor *t, uint64_t off, void *dst,
                                uint64_t n, dp_error *e) {
    wg_ctx *c = b->ctx;
    if (!t || !t->handle) return dp_err_set(e, DP_ERR_INVALID_ARG, "webgpu: tensor_read on no tensor");
    if (off > t->nbytes || n > t->nbytes - off || off % 4 || n % 4)
        return dp_err_set(e, DP_ERR_INVALID_ARG,
                          "webgpu: tensor_read [%llu, +%llu) of %llu bytes (multiples of 4 only)",
                          (unsigned long long)off, (unsigned long long)n,
                          (unsigned long long)t->nbytes);
    if (n) {
        wg_read(c, t->handle, (uint32_t)(t->offset + off), (uint32_t)n, dst);
    }
    wg_submit(c);
    return DP_OK;
}

static void wg_pace(dp_backend *b, bool on) {
    wg_ctx *c = b->ctx;
    c->dev->paced = on;
}

static dp_status wg_flush(dp_backend *b, dp_error *e) {
    wg_ctx *c = b->ctx;
    wg_submit(c);
    dp_status st = c->status;
    if (st != DP_OK) {
        wg_memo_forget(c, 0); /* its producer may not have been recorded */
        if (e) *e = c->err;
        c->status = DP_OK;
        return st;
    }
    char msg[240];
    if (dp_gpu_error(msg, sizeof msg)) return dp_err_set(e, DP_ERR_INTERNAL, "webgpu: %s", msg);
    return DP_OK;
}

static const dp_backend_i wg_vtable;

static dp_status wg_stream_new(dp_backend *b, dp_backend **out, dp_error *e) {
    dp_backend *sb = dp_calloc(1, sizeof *sb);
    wg_ctx *c = dp_calloc(1, sizeof *c);
    if (!sb || !c) {
        dp_free(sb);
        dp_free(c);
        return dp_err_set(e, DP_ERR_NOMEM, "webgpu: out of memory");
    }
    c->dev = wg_ctx_of(b)->dev;
    sb->i = &wg_vtable;
    sb->ctx = c;
    *out = sb;
    return DP_OK;
}

static const dp_backend_i wg_vtable = {
    .name = "webgpu",
    .free = wg_free,
    .tensor_alloc = wg_tensor_alloc,
    .tensor_free = wg_tensor_free,
    .tensor_set = wg_tensor_set,
    .tensor_read = wg_tensor_read,
    .flush = wg_flush,
    .pace = wg_pace,
    .reads_deferred = true,
    .get_rows = wg_rec_get_rows,
    .rms_norm = wg_rec_rms_norm,
    .matmul = wg_rec_matmul,
    .add = wg_rec_add,
    .rope = wg_rec_rope,
    .copy = wg_rec_copy,
    .attention = wg_rec_attention,
    .glu = wg_rec_glu,
    .softcap = wg_rec_softcap,
    .lora = wg_rec_lora,
    .moe = wg_rec_moe,
    .sample = wg_rec_sample,
    .verify = wg_rec_verify,
    .verify_sample = wg_rec_verify_sample,
    .stream_new = wg_stream_new,
    .norm_matmul = wg_op_norm_matmul,
    .norm_add = wg_op_norm_add,
    .rope_qk_kv = wg_op_rope_qk_kv,
    .norm_qkv_rope = wg_op_norm_qkv_rope,
    .lora_linear = wg_op_lora_linear,
};

dp_status dp_backend_webgpu_new(dp_backend **out, dp_error *e) {
    dp_backend *b = dp_calloc(1, sizeof *b);
    wg_ctx *c = dp_calloc(1, sizeof *c);
    wg_dev *d = dp_calloc(1, sizeof *d);
    uint8_t *uni = dp_calloc(WG_UNI_SLOTS, WG_UNI_SLOT);
    if (!b || !c || !d || !uni) {
        dp_free(b);
        dp_free(c);
        dp_free(d);
        dp_free(uni);
        return dp_err_set(e, DP_ERR_NOMEM, "webgpu: out of memory");
    }
    b->i = &wg_vtable;
    b->ctx = c;
    c->dev = d;
    c->owns_dev = true;
    c->dev->uni_host = uni;
    c->dev->fuse = true;
    c->dev->fold_norm = false;  /* the decode fusions: opt-in (tune), slower on the H200 (docs/WEBGPU.md) */
    c->dev->attn_one_slice = 0;
    c->dev->attn_flash = -1;
    c->dev->act_quant = false;
    c->dev->unroll = 4;
    c->dev->submit_every = 32; /* paced recordings (a speculative step): docs/WEBGPU.md */
    c->dev->features = dp_gpu_features();
    c->dev->max_buffer = dp_gpu_limit(DP_GPU_LIMIT_MAX_BUFFER);
    c->dev->max_binding = dp_gpu_limit(DP_GPU_LIMIT_MAX_BINDING);
    c->dev->max_groups = dp_gpu_limit(DP_GPU_LIMIT_MAX_GROUPS);
    c->dev->max_storage = dp_gpu_limit(DP_GPU_LIMIT_MAX_STORAGE);
    c->dev->max_invocations = dp_gpu_limit(DP_GPU_LIMIT_MAX_INVOCATIONS);
    c->dev->max_wg_storage = dp_gpu_limit(DP_GPU_LIMIT_MAX_WG_STORAGE);
    /* decode products over q4_K / q6_K / q8_0 with 8-bit x where WGSL has dot4I8Packed: on the
       H200 the Llama-3.1-8B Q4_K_M decodes 1.42x faster (docs/BENCHMARKS.md, issue 18) */
    c->dev->matvec_i8 = (c->dev->features & DP_GPU_FEATURE_DOT4I8) != 0;
    if (c->dev->features & DP_GPU_FEATURE_SUBGROUPS) { /* weights_sg.wgsl wants one fixed size */
        uint32_t lo = dp_gpu_limit(DP_GPU_LIMIT_SUBGROUP_MIN), hi = dp_gpu_limit(DP_GPU_LIMIT_SUBGROUP_MAX);
        if (lo == hi && lo >= 4 && lo <= 256 && !(lo & (lo - 1))) c->dev->sg_size = lo;
    }
    if (c->dev->max_binding < c->dev->max_buffer) c->dev->max_buffer = c->dev->max_binding; /* we bind whole tensors */
    if (!c->dev->max_buffer) {
        wg_free(b);
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "webgpu: the host has no GPU device");
    }
    c->dev->uni_buf = dp_gpu_buffer_create(WG_UNI_SLOTS * WG_UNI_SLOT, DP_GPU_USAGE_UNIFORM);
    if (!c->dev->uni_buf) {
        wg_free(b);
        return dp_err_set(e, DP_ERR_NOMEM, "webgpu: cannot create the uniform ring");
    }
    *out = b;
    return DP_OK;
}

void dp_backend_webgpu_stats(const dp_backend *b, dp_webgpu_stats *s) {
    memset(s, 0, sizeof *s);
    if (b && b->i == &wg_vtable) *s = ((const wg_ctx *)b->ctx)->dev->stats;
}

void dp_backend_webgpu_set_fusion(dp_backend *b, bool on) {
    if (!b || b->i != &wg_vtable) return;
    wg_ctx *c = b->ctx;
    c->dev->fuse = on;
}

void dp_backend_webgpu_set_act_quant(dp_backend *b, bool on) {
    if (!b || b->i != &wg_vtable) return;
    wg_ctx *c = b->ctx;
    c->dev->act_quant = on;
}

void dp_backend_webgpu_set_registry(dp_backend *b, const dp_kreg *r) {
    if (!b || b->i != &wg_vtable) return;
    wg_ctx *c = b->ctx;
    wg_pipes_clear(c->dev);
    c->dev->reg = r ? r : c->dev->reg_own; /* NULL again: the built-ins, made at the next pipeline */
}

static int kentry_cmp(const void *a, const void *b) {
    const dp_kentry *x = *(const dp_kentry *const *)a, *y = *(const dp_kentry *const *)b;
    int d = strcmp(x->op, y->op);
    return d ? d : strcmp(x->entry, y->entry);
}

int dp_backend_webgpu_kernels_used(const dp_backend *b, const dp_kentry **out, int cap) {
    if (!b || b->i != &wg_vtable) return 0;
    const wg_ctx *c = b->ctx;
    int n = 0;
    for (uint32_t i = 0; i < c->dev->pipes_cap; i++) {
        const dp_kentry *k = c->dev->pipes[i].key ? c->dev->pipes[i].k : NULL;
        bool seen = !k;
        for (int j = 0; j < n && !seen; j++) seen = out[j] == k;
        if (seen) continue;
        if (n == cap) break;
        out[n++] = k;
    }
    qsort(out, (size_t)n, sizeof *out, kentry_cmp);
    return n;
}

dp_status dp_backend_webgpu_tune(dp_backend *b, const char *key, int value, dp_error *e) {
    if (!b || b->i != &wg_vtable || !key)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "webgpu tune: not a WebGPU backend");
    wg_ctx *c = b->ctx;
    if (!strcmp(key, "matvec_rows") && value >= 0 && value <= 64) c->dev->tune_rows = value;
    else if (!strcmp(key, "matvec_tpr") && (value == 0 || (value >= 4 && value <= 256 && !(value & (value - 1))))) c->dev->tune_tpr = value;
    else if (!strcmp(key, "fuse") && (value == 0 || value == 1)) c->dev->fuse = value;
    else if (!strcmp(key, "fold_norm") && (value == 0 || value == 1)) c->dev->fold_norm = value;
    else if (!strcmp(key, "attn_one_slice") && value >= 0 && value <= 65536) c->dev->attn_one_slice = value;
    else if (!strcmp(key, "attn_flash") && (value == 0 || value == 1)) c->dev->attn_flash = value;
    else if (!strcmp(key, "act_quant") && (value == 0 || value == 1)) c->dev->act_quant = value;
    else if (!strcmp(key, "matvec_unroll") && (value == 1 || value == 2 || value == 4 || value == 8)) c->dev->unroll = value;
    else if (!strcmp(key, "matvec_i8") && (value == 0 || value == 1)) {
        if (value && !(c->dev->features & DP_GPU_FEATURE_DOT4I8))
            return dp_err_set(e, DP_ERR_UNSUPPORTED, "webgpu tune: matvec_i8 needs WGSL's "
                              "packed_4x8_integer_dot_product, which this device lacks");
        c->dev->matvec_i8 = value;
    } else if (!strcmp(key, "prefill_sgmat") && value >= 0 && value <= 2) {
        const uint32_t need = DP_GPU_FEATURE_F16 | DP_GPU_FEATURE_SUBGROUP_MATRIX;
        if (value && (c->dev->features & need) != need)
            return dp_err_set(e, DP_ERR_UNSUPPORTED, "webgpu tune: prefill_sgmat needs shader-f16 and "
                              "chromium-experimental-subgroup-matrix with f16 16x16x16 matrices");
        c->dev->prefill_sgmat = value;
    } else if (!strcmp(key, "prefill_tile") && (value == 0 || value == 64 || value == 128)) {
        c->dev->prefill_tile = value;
    } else if (!strcmp(key, "matvec_sg") && (value == 0 || value == 1)) {
        if (value && !c->dev->sg_size)
            return dp_err_set(e, DP_ERR_UNSUPPORTED, "webgpu tune: matvec_sg needs subgroups of one "
                              "fixed size (4..256), which this device does not report");
        c->dev->matvec_sg = value;
    } else if (!strcmp(key, "matvec_pack") && (value == 0 || value == 1)) {
        c->dev->matvec_pack = value; /* used where matvec_i8 is */
    } else if (!strcmp(key, "submit_every") && value >= 0 && value <= (int)WG_UNI_SLOTS)
        c->dev->submit_every = (uint32_t)value;
    else if (!strcmp(key, "pace") && (value == 0 || value == 1))
        c->dev->pace_always = value;
    else
        return dp_err_set(e, DP_ERR_INVALID_ARG,
                          "webgpu tune: unknown key or value %s=%d (matvec_rows 0..64, matvec_tpr 0|4|8|..|256, fuse 0|1, fold_norm 0|1, attn_one_slice 0..65536, attn_flash 0|1, act_quant 0|1, matvec_unroll 1|2|4|8, matvec_i8 0|1, prefill_sgmat 0|1|2, prefill_tile 0|64|128, matvec_sg 0|1, matvec_pack 0|1, submit_every 0..2048, pace 0|1)",
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

void dp_backend_webgpu_set_registry(dp_backend *b, const dp_kreg *r) {
    (void)b;
    (void)r;
}

int dp_backend_webgpu_kernels_used(const dp_backend *b, const dp_kentry **out, int cap) {
    (void)b;
    (void)out;
    (void)cap;
    return 0;
}

dp_status dp_backend_webgpu_tune(dp_backend *b, const char *key, int value, dp_error *e) {
    (void)b;
    (void)key;
    (void)value;
    return dp_err_set(e, DP_ERR_UNSUPPORTED, "webgpu: not in this build");
}

#endif
