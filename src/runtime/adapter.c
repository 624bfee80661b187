/* adapter.c — LoRA adapters on a loaded model: loading (every tensor checked against the base's
 * description before anything is allocated), and the per-context choice of adapter and scale.
 * The forward pass applies the adapter through its one linear() helper (forward.c). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "runtime/runtime.h"

const dp_lora_w *dp_adapter_w(const dp_adapter *a, int layer, dp_wrole r) {
    if (!a || layer < 0) return NULL;
    const dp_lora_w *w = &a->w[(size_t)layer * DP_W_LAYER_COUNT + (size_t)r];
    return w->a.nbytes ? w : NULL;
}

/* Every tensor is an A or B of a target role in a layer of the base with its shape, f32; both
 * halves of every pair are there. Checked before any allocation, so a hostile manifest cannot
 * make the loader allocate more than a real adapter of this rank would need. */
static dp_status check_tensors(const dp_adapter *ad, const dp_rdrr *r, dp_error *e) {
    const dp_model_desc *d = &ad->m->d;
    uint8_t *seen = dp_calloc((size_t)d->n_layers * DP_W_LAYER_COUNT, 1);
    if (!seen) return dp_err_set(e, DP_ERR_NOMEM, "adapter: out of memory");
    dp_status st = DP_OK;
    for (size_t i = 0; i < dp_rdrr_n_tensors(r) && st == DP_OK; i++) {
        const dp_rdrr_tensor *t = dp_rdrr_tensor_at(r, i);
        int l;
        dp_wrole role;
        bool is_b;
        if (!dp_lora_parse_name(t->name, &l, &role, &is_b) || l >= d->n_layers) {
            st = dp_err_set(e, DP_ERR_FORMAT, "adapter: tensor '%s' is not the A or B of a projection of this model", t->name);
            break;
        }
        if (!(ad->desc.targets >> role & 1u)) {
            st = dp_err_set(e, DP_ERR_FORMAT, "adapter: tensor '%s' is outside the adapter's targets", t->name);
            break;
        }
        int64_t rows, cols;
        dp_model_wshape(d, role, &rows, &cols);
        uint64_t want0 = is_b ? (uint64_t)ad->desc.rank : (uint64_t)cols, want1 = is_b ? (uint64_t)rows : (uint64_t)ad->desc.rank;
        if (t->ne[0] != want0 || t->ne[1] != want1)
            st = dp_err_set(e, DP_ERR_FORMAT, "adapter: tensor '%s' is [%llu, %llu], the base needs [%llu, %llu]", t->name,
                            (unsigned long long)t->ne[1], (unsigned long long)t->ne[0], (unsigned long long)want1,
                            (unsigned long long)want0);
        else if (t->dtype != DP_DTYPE_F32)
            st = dp_err_set(e, DP_ERR_FORMAT, "adapter: tensor '%s' must be f32, is %s", t->name, dp_dtype_name(t->dtype));
        seen[(size_t)l * DP_W_LAYER_COUNT + (size_t)role] |= (uint8_t)(is_b ? 2 : 1);
    }
    for (int l = 0; l < d->n_layers && st == DP_OK; l++)
        for (int k = 0; k < DP_W_LAYER_COUNT && st == DP_OK; k++) {
            uint8_t s = seen[(size_t)l * DP_W_LAYER_COUNT + (size_t)k];
            if (s == 1 || s == 2)
                st = dp_err_set(e, DP_ERR_NOT_FOUND, "adapter: blk.%d.%s has lora_%c but no lora_%c", l,
                                dp_wrole_name((dp_wrole)k), s == 1 ? 'a' : 'b', s == 1 ? 'b' : 'a');
        }
    if (st == DP_OK && dp_rdrr_n_tensors(r) == 0) st = dp_err_set(e, DP_ERR_NOT_FOUND, "adapter: no tensors");
    dp_free(seen);
    return st;
}

/* Every A and B of a layer goes into one tensor, the layer's pool, each at a 256-byte boundary
 * (a view: the pool's handle, its own offset), so that a backend can bind all the deltas of a
 * fused shape at once (backend.h, lora_linear). */
static dp_status load_tensors(dp_adapter *ad, dp_rdrr *r, dp_error *e) {
    dp_backend *be = ad->m->be;
    const int n_layers = ad->m->d.n_layers;
    ad->pool = dp_calloc((size_t)n_layers, sizeof *ad->pool);
    if (!ad->pool) return dp_err_set(e, DP_ERR_NOMEM, "adapter: out of memory");
    for (int pass = 0; pass < 2; pass++) { /* 0: places and pool sizes; 1: views, bytes */
        for (size_t i = 0; i < dp_rdrr_n_tensors(r); i++) {
            const dp_rdrr_tensor *rt = dp_rdrr_tensor_at(r, i);
            int l;
            dp_wrole role;
            bool is_b;
            dp_lora_parse_name(rt->name, &l, &role, &is_b); /* checked by check_tensors */
            dp_lora_w *w = &ad->w[(size_t)l * DP_W_LAYER_COUNT + (size_t)role];
            dp_tensor *t = is_b ? &w->b : &w->a, *pool = &ad->pool[l];
            if (pass == 0) {
                *t = (dp_tensor){rt->dtype, {(int64_t)rt->ne[0], (int64_t)rt->ne[1]}, rt->size, NULL, 0, pool->nbytes, 0};
                pool->nbytes += (rt->size + 255u) & ~(uint64_t)255u;
                continue;
            }
            t->handle = pool->handle;
            if (pool->data) t->data = (char *)pool->data + t->offset;
            t->offset += pool->offset;
            dp_status st = dp_tensor_fill(be, r, rt, t, e);
            if (st != DP_OK) return st;
        }
        for (int l = 0; pass == 0 && l < n_layers; l++) {
            dp_tensor *pool = &ad->pool[l];
            if (!pool->nbytes) continue;
            pool->dtype = DP_DTYPE_F32;
            pool->ne[0] = (int64_t)(pool->nbytes / 4u);
            pool->ne[1] = 1;
            dp_status st = be->i->tensor_alloc(be, pool, e);
            if (st != DP_OK) {
                pool->nbytes = 0; /* nothing to free */
                dp_err_prefix(e, "adapter: layer %d", l);
                return st;
            }
        }
    }
    return DP_OK;
}

static dp_status adapter_open(dp_adapter *ad, const char *dir, dp_rdrr **r, dp_error *e) {
    dp_model *m = ad->m;
    dp_status st = dp_rdrr_open(dir, r, e);
    if (st != DP_OK) return st;
    if (!dp_lora_is_adapter(dp_rdrr_model(*r)))
        return dp_err_set(e, DP_ERR_INVALID_ARG, "%s is a model, not a LoRA adapter", dir);
    if ((st = dp_lora_from_json(dp_rdrr_model(*r), &ad->desc, e))) return st;
    if (strcmp(ad->desc.base + 7, dp_rdrr_id(m->rdrr)))
        return dp_err_set(e, DP_ERR_INVALID_ARG, "adapter: made for base %.19s..., this model is sha256:%.12s...",
                          ad->desc.base, dp_rdrr_id(m->rdrr));
    if ((st = dp_lora_validate(&ad->desc, &m->d, e))) return st;
    ad->scale = dp_lora_scale(&ad->desc);
    ad->w = dp_calloc((size_t)m->d.n_layers * DP_W_LAYER_COUNT, sizeof *ad->w);
    if (!ad->w) return dp_err_set(e, DP_ERR_NOMEM, "adapter: out of memory");
    if ((st = check_tensors(ad, *r, e))) return st;
    return load_tensors(ad, *r, e);
}

dp_status dp_adapter_load(dp_model *m, const char *dir, dp_adapter **out, dp_error *e) {
    if (!m || !dir || !out) return dp_err_set(e, DP_ERR_INVALID_ARG, "dp_adapter_load: NULL argument");
    dp_adapter *ad = dp_calloc(1, sizeof *ad);
    if (!ad) return dp_err_set(e, DP_ERR_NOMEM, "adapter: out of memory");
    ad->m = m;
    dp_rdrr *r = NULL;
    dp_status st = adapter_open(ad, dir, &r, e);
    dp_rdrr_free(r);
    if (st != DP_OK) {
        dp_err_prefix(e, "%s", dir);
        dp_adapter_free(ad);
        return st;
    }
    *out = ad;
    return DP_OK;
}

void dp_adapter_free(dp_adapter *a) {
    if (!a) return;
    dp_backend *be = a->m->be;
    for (int l = 0; a->pool && l < a->m->d.n_layers; l++)
        if (a->pool[l].nbytes) be->i->tensor_free(be, &a->pool[l]); /* w's tensors are views into these */
    dp_free(a->pool);
    dp_free(a->w);
    dp_free(a);
}

int32_t dp_adapter_rank(const dp_adapter *a) { return a ? a->desc.rank : 0; }
float dp_adapter_scale(const dp_adapter *a) { return a ? a->scale : 0.0f; }

dp_status dp_lora_scratch_grow(dp_backend *be, dp_tensor *tmp, int rank, int rows, dp_error *e) {
    int64_t per_row = 3 * (int64_t)rank; /* up to three products share an input (dp_lora_linear) */
    if (tmp->ne[0] >= per_row && tmp->ne[1] >= rows) return DP_OK;
    dp_tensor t = {DP_DTYPE_F32, {per_row, rows}, (uint64_t)per_row * (uint64_t)rows * 4u, NULL, 0, 0, 0};
    dp_status st = be->i->tensor_alloc(be, &t, e);
    if (st != DP_OK) {
        dp_err_prefix(e, "adapter scratch");
        return st;
    }
    be->i->tensor_free(be, tmp);
    *tmp = t;
    return DP_OK;
}

dp_status dp_ctx_set_adapter(dp_ctx *c, dp_adapter *a, float scale, uint32_t flags, dp_error *e) {
    if (!c) return dp_err_set(e, DP_ERR_INVALID_ARG, "dp_ctx_set_adapter: NULL context");
    if (!isfinite(scale))
        return dp_err_set(e, DP_ERR_INVALID_ARG, "adapter scale %g is not a finite number", (double)scale);
    if (a && a->m != c->m) return dp_err_set(e, DP_ERR_INVALID_ARG, "adapter was loaded on another model");
    if (a && !isfinite(scale * a->scale))
        return dp_err_set(e, DP_ERR_INVALID_ARG, "adapter scale %g times the adapter's %g is not finite", (double)scale,
                          (double)a->scale);
    if (flags & ~DP_ADAPTER_KEEP_CACHE) return dp_err_set(e, DP_ERR_INVALID_ARG, "adapter: unknown flags 0x%x", flags);
    if (!a) scale = 0.0f;
    if (a == c->adapter && scale == c->user_scale) return DP_OK;
    if (a) { /* grow the (x A) scratch: here, never in the pass */
        dp_status st = dp_lora_scratch_grow(c->m->be, &c->s.lora, a->desc.rank, c->n_batch, e);
        if (st != DP_OK) return st;
    }
    c->adapter = a;
    c->user_scale = scale;
    c->lora_scale = a ? scale * a->scale : 0.0f;
    if (!(flags & DP_ADAPTER_KEEP_CACHE)) dp_ctx_reset(c);
    return DP_OK;
}
