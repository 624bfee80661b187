/* wg_dispatch.c — recording dispatches: pipeline and bind-group caches, the uniform ring,
 * scratch buffers, binding helpers. */
#if defined(__wasm__)

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "backend/webgpu/wg_internal.h"

bool wg_fail(wg_ctx *c, dp_status st, const char *fmt, ...) {
    if (c->status == DP_OK) {
        c->status = st;
        c->err.status = st;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err.msg, sizeof c->err.msg, fmt, ap);
        va_end(ap);
    }
    return false;
}

static uint64_t fnv_bytes(uint64_t h, const void *p, size_t n) {
    const uint8_t *s = p;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ull;
    return h;
}
#define FNV0 14695981039346656037ull

/* ---- the command list (host.h): the host gets one call per submit, not one per command ---- */

/* Process-wide like the host's open encoder it feeds (every device handle records into both). */
#define WG_CMDS_CAP 16384u /* words (~2700 dispatches); a full list is handed over early */
static uint32_t cmds[WG_CMDS_CAP];
static uint32_t cmds_n;

void wg_cmds_flush(void) {
    if (!cmds_n) return;
    dp_gpu_encode(cmds, cmds_n);
    cmds_n = 0;
}

static void cmd_put(uint32_t op, uint32_t a, uint32_t b, uint32_t c, uint32_t d, uint32_t e,
                    uint32_t n_args) {
    if (cmds_n + 1 + n_args > WG_CMDS_CAP) wg_cmds_flush();
    uint32_t w[6] = {op, a, b, c, d, e};
    memcpy(cmds + cmds_n, w, (1 + n_args) * sizeof *w);
    cmds_n += 1 + n_args;
}

void wg_copy(wg_ctx *c, uint32_t src, uint32_t src_off, uint32_t dst, uint32_t dst_off,
             uint32_t size) {
    wg_memo_forget(c, dst);
    wg_claim_encoder(c);
    cmd_put(DP_GPU_CMD_COPY, src, src_off, dst, dst_off, size, 5);
    c->dev->stats.copies++;
    c->dev->recorded++;
}

void wg_read(wg_ctx *c, uint32_t buf, uint32_t off, uint32_t size, void *dst) {
    wg_claim_encoder(c);
    cmd_put(DP_GPU_CMD_READ, buf, off, size, (uint32_t)(uintptr_t)dst, 0, 4);
    c->dev->stats.reads++;
}

/* ---- bindings ---- */

static uint32_t round4(uint64_t n) { return (uint32_t)((n + 3u) & ~(uint64_t)3u); }

dp_gpu_binding wg_bind(const dp_tensor *t) {
    dp_gpu_binding b = {0, t->handle, (uint32_t)t->offset, round4(t->nbytes ? t->nbytes : 4)};
    return b;
}

dp_gpu_binding wg_bind_buf(uint32_t buf, uint32_t off, uint32_t size) {
    dp_gpu_binding b = {0, buf, off, size};
    return b;
}

dp_gpu_binding wg_at(uint32_t binding, dp_gpu_binding b) {
    b.binding = binding;
    return b;
}

bool wg_same_buffer(dp_gpu_binding a, dp_gpu_binding b) { return a.buffer == b.buffer; }

bool wg_overlap(dp_gpu_binding a, dp_gpu_binding b) {
    return a.buffer == b.buffer && a.offset < b.offset + b.size && b.offset < a.offset + a.size;
}

bool wg_unalias(wg_ctx *c, dp_gpu_binding *in, dp_gpu_binding out) {
    if (!wg_same_buffer(*in, out)) return true;
    uint32_t s = wg_scratch(c, (wg_scratch_id)(WG_SCR_IN0 + in->binding), in->size);
    if (!s) return false;
    wg_copy(c, in->buffer, in->offset, s, 0, in->size);
    *in = wg_at(in->binding, wg_bind_buf(s, 0, in->size));
    return true;
}

static bool check_elems(wg_ctx *c, const dp_tensor *t, int64_t count, const char *op,
                        const char *what) {
    if (!t || !t->handle)
        return wg_fail(c, DP_ERR_INVALID_ARG, "%s: %s is not a device tensor", op, what);
    if (t->dtype != DP_DTYPE_F32 && t->dtype != DP_DTYPE_I32)
        return wg_fail(c, DP_ERR_INVALID_ARG, "%s: %s is %s, want f32/i32", op, what,
                       dp_dtype_name(t->dtype));
    if (count < 0 || (uint64_t)count > t->nbytes / 4 || (uint64_t)count * 4 > UINT32_MAX)
        return wg_fail(c, DP_ERR_INVALID_ARG, "%s: %s holds %llu bytes, needs %lld elements", op,
                       what, (unsigned long long)t->nbytes, (long long)count);
    if (t->offset % 4 || t->offset > UINT32_MAX)
        return wg_fail(c, DP_ERR_INVALID_ARG, "%s: %s offset %llu is not usable", op, what,
                       (unsigned long long)t->offset);
    return true;
}

/* Bytes to bind from t's offset: the whole tensor as far as its buffer goes (so bind groups do
 * not change when an op touches more of it, e.g. a growing KV cache), at least count elements. */
static uint32_t span_of(const wg_ctx *c, const dp_tensor *t, int64_t count) {
    uint32_t need = (uint32_t)(count ? count * 4 : 4);
    uint32_t bsz = wg_bufsize_get(c, t->handle);
    if (!bsz || t->offset >= bsz) return need;
    uint64_t span = (t->nbytes + 3u) & ~(uint64_t)3u;
    if (span > bsz - t->offset) span = (bsz - t->offset) & ~3u;
    return span > need ? (uint32_t)span : need;
}

bool wg_out(wg_ctx *c, const dp_tensor *t, int64_t count, uint32_t binding, const char *op,
            const char *what, dp_gpu_binding *b) {
    if (!check_elems(c, t, count, op, what)) return false;
    if (t->offset % 256)
        return wg_fail(c, DP_ERR_UNSUPPORTED, "%s: %s is a view at offset %llu (written views "
                       "need multiples of 256)", op, what, (unsigned long long)t->offset);
    wg_memo_forget(c, t->handle);
    *b = wg_at(binding, wg_bind_buf(t->handle, (uint32_t)t->offset, span_of(c, t, count)));
    return true;
}

bool wg_in(wg_ctx *c, const dp_tensor *t, int64_t count, uint32_t binding, const char *op,
           const char *what, dp_gpu_binding *b) {
    if (!check_elems(c, t, count, op, what)) return false;
    uint32_t size = (uint32_t)(count ? count * 4 : 4);
    *b = wg_at(binding, wg_bind_buf(t->handle, (uint32_t)t->offset, span_of(c, t, count)));
    if (t->offset % 256 == 0) return true;
    uint32_t s = wg_scratch(c, (wg_scratch_id)(WG_SCR_IN0 + binding), size);
    if (!s) return false;
    wg_copy(c, t->handle, (uint32_t)t->offset, s, 0, size);
    *b = wg_at(binding, wg_bind_buf(s, 0, size));
    return true;
}

/* ---- buffer sizes ---- */

static uint32_t bs_hash(uint32_t id) { return id * 2654435761u; }

bool wg_bufsize_put(wg_ctx *c, uint32_t id, uint32_t size) {
    if ((c->dev->bsizes_used + 1) * 2 > c->dev->bsizes_cap) { /* grow (and drop deleted entries) */
        uint32_t cap = c->dev->bsizes_cap ? c->dev->bsizes_cap * 2 : 256;
        wg_bsize *nb = dp_calloc(cap, sizeof *nb);
        if (!nb) return false;
        uint32_t used = 0;
        for (uint32_t i = 0; i < c->dev->bsizes_cap; i++) {
            if (!c->dev->bsizes[i].id || !c->dev->bsizes[i].size) continue;
            uint32_t j = bs_hash(c->dev->bsizes[i].id) & (cap - 1);
            while (nb[j].id) j = (j + 1) & (cap - 1);
            nb[j] = c->dev->bsizes[i];
            used++;
        }
        dp_free(c->dev->bsizes);
        c->dev->bsizes = nb;
        c->dev->bsizes_cap = cap;
        c->dev->bsizes_used = used;
    }
    uint32_t j = bs_hash(id) & (c->dev->bsizes_cap - 1);
    while (c->dev->bsizes[j].id) j = (j + 1) & (c->dev->bsizes_cap - 1);
    c->dev->bsizes[j].id = id;
    c->dev->bsizes[j].size = size;
    c->dev->bsizes_used++;
    return true;
}

static wg_bsize *bs_find(const wg_ctx *c, uint32_t id) {
    if (!c->dev->bsizes_cap || !id) return NULL;
    for (uint32_t j = bs_hash(id) & (c->dev->bsizes_cap - 1);; j = (j + 1) & (c->dev->bsizes_cap - 1)) {
        if (!c->dev->bsizes[j].id) return NULL;
        if (c->dev->bsizes[j].id == id && c->dev->bsizes[j].size) return &c->dev->bsizes[j];
    }
}

uint32_t wg_bufsize_get(const wg_ctx *c, uint32_t id) {
    const wg_bsize *b = bs_find(c, id);
    return b ? b->size : 0;
}

void wg_bufsize_del(wg_ctx *c, uint32_t id) {
    wg_bsize *b = bs_find(c, id);
    if (b) b->size = 0; /* tombstone: the id stays so probes continue past it */
}

/* ---- scratch and deferred destruction ---- */

void wg_destroy_later(wg_ctx *c, uint32_t buf) {
    if (!buf) return;
    wg_bind_groups_drop_buffer(c, buf);
    wg_bufsize_del(c, buf);
    if (c->dev->dead_n == c->dev->dead_cap) {
        uint32_t cap = c->dev->dead_cap ? c->dev->dead_cap * 2 : 16;
        uint32_t *d = dp_realloc(c->dev->dead, cap * sizeof *d);
        if (!d) { /* cannot defer: leak the buffer rather than break the recording */
            wg_fail(c, DP_ERR_NOMEM, "webgpu: out of memory");
            return;
        }
        c->dev->dead = d;
        c->dev->dead_cap = cap;
    }
    c->dev->dead[c->dev->dead_n++] = buf;
}

uint32_t wg_scratch(wg_ctx *c, wg_scratch_id id, uint64_t size) {
    if (c->status != DP_OK) return 0;
    wg_buf *s = &c->scratch[id];
    if (size <= s->size && s->id) return s->id;
    if (size > c->dev->max_buffer) {
        wg_fail(c, DP_ERR_LIMIT, "webgpu: scratch of %llu bytes is over the device's limit %u",
                (unsigned long long)size, c->dev->max_buffer);
        return 0;
    }
    uint64_t want = size < 4096 ? 4096 : size;
    want = want + want / 4 > c->dev->max_buffer ? want : want + want / 4; /* some headroom */
    want = (want + 255u) & ~(uint64_t)255u;
    if (want > c->dev->max_buffer) want = size;
    uint32_t id2 = dp_gpu_buffer_create((uint32_t)want, DP_GPU_USAGE_STORAGE);
    if (!id2) {
        wg_fail(c, DP_ERR_NOMEM, "webgpu: cannot create a %llu-byte scratch buffer",
                (unsigned long long)want);
        return 0;
    }
    if (s->id) {
        c->dev->stats.bytes_allocated -= s->size;
        wg_destroy_later(c, s->id);
    }
    wg_bufsize_put(c, id2, (uint32_t)want);
    s->id = id2;
    s->size = (uint32_t)want;
    c->dev->stats.bytes_allocated += want;
    return id2;
}

void wg_grid(const wg_ctx *c, uint64_t n, uint32_t *x, uint32_t *y) {
    uint32_t mx = c->dev->max_groups ? c->dev->max_groups : 65535u;
    if (n <= mx) {
        *x = (uint32_t)(n ? n : 1);
        *y = 1;
    } else {
        *x = mx;
        *y = (uint32_t)((n + mx - 1) / mx);
    }
}

/* ---- pipelines ---- */

static bool pipes_grow(wg_ctx *c) {
    uint32_t cap = c->dev->pipes_cap ? c->dev->pipes_cap * 2 : 64;
    wg_pipe *np = dp_calloc(cap, sizeof *np);
    if (!np) return false;
    for (uint32_t i = 0; i < c->dev->pipes_cap; i++) {
        if (!c->dev->pipes[i].key) continue;
        uint32_t j = (uint32_t)c->dev->pipes[i].hash & (cap - 1);
        while (np[j].key) j = (j + 1) & (cap - 1);
        np[j] = c->dev->pipes[i];
    }
    dp_free(c->dev->pipes);
    c->dev->pipes = np;
    c->dev->pipes_cap = cap;
    return true;
}

static uint32_t pipeline_get(wg_ctx *c, const char *file, const char *entry, const char *consts) {
    char key[256];
    int kl = snprintf(key, sizeof key, "%s|%s|%s", file, entry, consts);
    if (kl < 0 || (size_t)kl >= sizeof key) {
        wg_fail(c, DP_ERR_INTERNAL, "webgpu: pipeline key too long");
        return 0;
    }
    uint64_t h = fnv_bytes(FNV0, key, (size_t)kl);
    if (c->dev->pipes_cap) {
        for (uint32_t j = (uint32_t)h & (c->dev->pipes_cap - 1);; j = (j + 1) & (c->dev->pipes_cap - 1)) {
            wg_pipe *p = &c->dev->pipes[j];
            if (!p->key) break;
            if (p->hash == h && !strcmp(p->key, key)) return p->id;
        }
    }
    /* kernel lookup through the registry (built-in or admitted candidate), then the pipeline */
    if (!c->dev->reg) {
        dp_error e = {0};
        if (dp_kreg_new(&c->dev->reg_own, &e) != DP_OK) {
            wg_fail(c, e.status, "webgpu: %s", e.msg);
            return 0;
        }
        c->dev->reg = c->dev->reg_own;
    }
    const dp_kentry *f = dp_kreg_find(c->dev->reg, file, entry);
    if (!f) {
        wg_fail(c, DP_ERR_INTERNAL, "webgpu: no kernel %s:%s in the registry", file, entry);
        return 0;
    }
    uint32_t id = dp_gpu_pipeline_create(f->text, f->len, entry, (uint32_t)strlen(entry), consts,
                                         (uint32_t)strlen(consts));
    if (!id) {
        char msg[200] = "";
        dp_gpu_error(msg, sizeof msg);
        wg_fail(c, DP_ERR_INTERNAL, "webgpu: pipeline %s:%s (%s) failed: %s", file, entry, f->source, msg);
        return 0;
    }
    if ((c->dev->pipes_n + 1) * 4 > c->dev->pipes_cap * 3 && !pipes_grow(c)) {
        wg_fail(c, DP_ERR_NOMEM, "webgpu: out of memory");
        return 0;
    }
    char *k = dp_strdup(key);
    if (!k) {
        wg_fail(c, DP_ERR_NOMEM, "webgpu: out of memory");
        return 0;
    }
    uint32_t j = (uint32_t)h & (c->dev->pipes_cap - 1);
    while (c->dev->pipes[j].key) j = (j + 1) & (c->dev->pipes_cap - 1);
    c->dev->pipes[j].hash = h;
    c->dev->pipes[j].key = k;
    c->dev->pipes[j].id = id;
    c->dev->pipes[j].k = f;
    c->dev->pipes_n++;
    c->dev->stats.pipelines++;
    return id;
}

/* ---- bind groups ---- */

#define WG_BG_CAP 4096u

static void bgs_clear(wg_dev *d) {
    if (d->bgs_n) wg_cmds_flush(); /* the list may name them */
    for (uint32_t i = 0; i < d->bgs_cap; i++)
        if (d->bgs[i].id) {
            dp_gpu_bind_group_destroy(d->bgs[i].id);
            d->bgs[i].id = 0;
        }
    d->bgs_n = 0;
}

void wg_bind_groups_drop_buffer(wg_ctx *c, uint32_t buf) {
    if (!c->dev->bgs_n) return;
    /* open addressing without tombstones: rebuild the table without the dropped entries */
    bool any = false;
    for (uint32_t i = 0; i < c->dev->bgs_cap && !any; i++)
        for (uint32_t k = 0; c->dev->bgs[i].id && k < c->dev->bgs[i].n; k++)
            if (c->dev->bgs[i].b[k].buffer == buf) any = true;
    if (any) bgs_clear(c->dev);
}

static uint32_t bind_group_get(wg_ctx *c, uint32_t pipeline, const dp_gpu_binding *b, uint32_t n) {
    uint64_t h = fnv_bytes(FNV0, &pipeline, sizeof pipeline);
    h = fnv_bytes(h, b, n * sizeof *b);
    if (!c->dev->bgs) {
        c->dev->bgs = dp_calloc(WG_BG_CAP, sizeof *c->dev->bgs);
        if (!c->dev->bgs) {
            wg_fail(c, DP_ERR_NOMEM, "webgpu: out of memory");
            return 0;
        }
        c->dev->bgs_cap = WG_BG_CAP;
    }
    uint32_t j = (uint32_t)h & (c->dev->bgs_cap - 1);
    for (;; j = (j + 1) & (c->dev->bgs_cap - 1)) {
        wg_bg *g = &c->dev->bgs[j];
        if (!g->id) break;
        if (g->hash == h && g->pipeline == pipeline && g->n == n &&
            !memcmp(g->b, b, n * sizeof *b))
            return g->id;
    }
    uint32_t id = dp_gpu_bind_group_create(pipeline, b, n);
    if (!id) {
        char msg[200] = "";
        dp_gpu_error(msg, sizeof msg);
        wg_fail(c, DP_ERR_INTERNAL, "webgpu: bind group failed: %s", msg);
        return 0;
    }
    c->dev->stats.bind_groups_created++;
    if ((c->dev->bgs_n + 1) * 4 > c->dev->bgs_cap * 3) {
        /* full: start over rather than evict piecemeal (steady decode fits easily) */
        bgs_clear(c->dev);
        j = (uint32_t)h & (c->dev->bgs_cap - 1);
    }
    wg_bg *g = &c->dev->bgs[j];
    g->hash = h;
    g->id = id;
    g->n = n;
    g->pipeline = pipeline;
    memcpy(g->b, b, n * sizeof *b);
    c->dev->bgs_n++;
    return id;
}

void wg_pipes_clear(wg_dev *d) {
    bgs_clear(d); /* bind groups name pipelines */
    for (uint32_t i = 0; i < d->pipes_cap; i++) dp_free(d->pipes[i].key);
    dp_free(d->pipes);
    d->pipes = NULL;
    d->pipes_cap = d->pipes_n = 0;
}

void wg_cache_free(wg_dev *d) {
    wg_pipes_clear(d);
    dp_free(d->bgs);
    d->bgs = NULL;
    d->bgs_cap = 0;
    dp_kreg_free(d->reg_own);
    d->reg_own = NULL;
    d->reg = NULL;
}

/* ---- dispatch + submit ---- */

/* The device whose commands are in the host's open encoder (the host has one per process):
 * the only process-wide state of this backend, mirroring the host's. */
static const wg_dev *encoder_owner;

static void dev_submit(wg_dev *d) {
    if (d->uni_used)
        cmd_put(DP_GPU_CMD_WRITE, d->uni_buf, 0, (uint32_t)(uintptr_t)d->uni_host,
                d->uni_used * WG_UNI_SLOT, 0, 4);
    cmd_put(DP_GPU_CMD_SUBMIT, 0, 0, 0, 0, 0, 0);
    wg_cmds_flush();
    encoder_owner = NULL;
    d->stats.submits++;
    d->uni_used = 0;
    d->recorded = 0;
    for (uint32_t i = 0; i < d->dead_n; i++) dp_gpu_buffer_destroy(d->dead[i]);
    d->dead_n = 0;
}

void wg_submit(wg_ctx *c) { dev_submit(c->dev); }

void wg_claim_encoder(wg_ctx *c) {
    if (encoder_owner && encoder_owner != c->dev) dev_submit((wg_dev *)encoder_owner);
    encoder_owner = c->dev;
}

void wg_release_encoder(const wg_dev *d) {
    if (encoder_owner == d) encoder_owner = NULL;
}

void wg_dispatch(wg_ctx *c, const char *file, const char *entry, const char *consts,
                 const void *uni, uint32_t uni_len, const dp_gpu_binding *b, int nb, uint32_t gx,
                 uint32_t gy, uint32_t gz) {
    if (c->status != DP_OK) return;
    if (nb > WG_MAX_BIND || uni_len > WG_UNI_SLOT) {
        wg_fail(c, DP_ERR_INTERNAL, "webgpu: %s:%s has too many bindings", file, entry);
        return;
    }
    uint32_t pipe = pipeline_get(c, file, entry, consts);
    if (!pipe) return;
    const wg_dev *d = c->dev;
    if (d->uni_used == WG_UNI_SLOTS ||
        ((d->paced || d->pace_always) && d->submit_every && d->uni_used >= d->submit_every))
        wg_submit(c);
    uint32_t slot = c->dev->uni_used++;
    memset(c->dev->uni_host + slot * WG_UNI_SLOT, 0, WG_UNI_SLOT);
    memcpy(c->dev->uni_host + slot * WG_UNI_SLOT, uni, uni_len);
    dp_gpu_binding all[WG_MAX_BIND + 1];
    all[0] = wg_bind_buf(c->dev->uni_buf, slot * WG_UNI_SLOT, WG_UNI_SLOT);
    for (int i = 0; i < nb; i++) all[i + 1] = b[i];
    uint32_t bg = bind_group_get(c, pipe, all, (uint32_t)nb + 1);
    if (!bg) return;
    wg_claim_encoder(c);
    cmd_put(DP_GPU_CMD_DISPATCH, pipe, bg, gx, gy, gz, 5);
    c->dev->stats.dispatches++;
    c->dev->recorded++;
}

void wg_dispatch_flat(wg_ctx *c, const char *file, const char *entry, const char *consts,
                      const void *uni, uint32_t uni_len, const dp_gpu_binding *b, int nb,
                      uint64_t groups) {
    uint32_t gx, gy;
    wg_grid(c, groups, &gx, &gy);
    wg_dispatch(c, file, entry, consts, uni, uni_len, b, nb, gx, gy, 1);
}

#else
typedef int dp_wg_dispatch_unused;
#endif /* __wasm__ */
