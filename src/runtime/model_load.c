/* model_load.c — an RDRR directory onto a backend: description, tensor checks, uploads. */
#include <stdio.h>
#include <string.h>

#include "model/lora.h"
#include "runtime/runtime.h"

void dp_load_params_default(dp_load_params *p) {
    memset(p, 0, sizeof *p);
    p->backend = "cpu";
}

typedef struct loader {
    dp_model *m;
    const dp_load_params *p;
    uint8_t *seen;     /* per manifest tensor */
    bool paged;        /* experts stay in their shards (dp_load_params.ram_cache / gpu_mem) */
    bool device;       /* ... and are paged into a pool of device slots (a GPU backend's gpu_mem) */
    uint64_t done, total;
} loader;

/* the staging piece of a device tensor's upload (a multiple of 4) */
#define UPLOAD_PIECE ((size_t)4 << 20)

dp_status dp_tensor_upload(dp_backend *be, dp_rdrr *r, const dp_rdrr_tensor *rt, dp_tensor *t, bool map,
                           dp_error *e) {
    memset(t, 0, sizeof *t);
    t->dtype = rt->dtype;
    t->ne[0] = (int64_t)rt->ne[0];
    t->ne[1] = (int64_t)rt->ne[1];
    t->nbytes = rt->size;
    void *mapped = NULL; /* the bytes in place, in their mapped shard (CPU) */
    dp_status st = map && be->i->tensor_wrap ? dp_rdrr_map_tensor(r, rt, &mapped, e) : DP_OK;
    if ((uintptr_t)mapped % 64) mapped = NULL; /* spans are 256-aligned in page-aligned maps */
    if (st == DP_OK) st = mapped ? be->i->tensor_wrap(be, t, mapped, e) : be->i->tensor_alloc(be, t, e);
    if (st != DP_OK) {
        dp_err_prefix(e, "tensor '%s'", rt->name);
        return st;
    }
    return mapped ? DP_OK /* already there (and verified) */ : dp_tensor_fill(be, r, rt, t, e);
}

dp_status dp_tensor_fill(dp_backend *be, dp_rdrr *r, const dp_rdrr_tensor *rt, dp_tensor *t, dp_error *e) {
    if (t->data) return dp_rdrr_read_tensor(r, rt, t->data, e);
    /* a device tensor: staged through a bounded buffer, so that a model larger than this
     * process's memory (wasm32) still loads; pieces are multiples of 4 bytes (webgpu.h) */
    size_t cap = rt->size < UPLOAD_PIECE ? (size_t)rt->size : UPLOAD_PIECE;
    void *tmp = dp_malloc(cap ? cap : 1);
    if (!tmp) return dp_err_set(e, DP_ERR_NOMEM, "out of memory staging '%s'", rt->name);
    dp_status st = DP_OK;
    for (uint64_t off = 0; off < rt->size && st == DP_OK; off += cap) {
        size_t n = rt->size - off < cap ? (size_t)(rt->size - off) : cap;
        st = dp_rdrr_read_tensor_range(r, rt, off, tmp, n, e);
        if (st == DP_OK) st = be->i->tensor_set(be, t, off, tmp, n, e);
    }
    dp_free(tmp);
    return st;
}

/* Find `name`, check dtype class and shape, allocate on the backend and read it in (with
 * shape_only: only the checks and the shape, for a paged expert). matmul_w: the tensor is only
 * read by matmul / get_rows, so the backend may rearrange it (prepare_weight). */
static dp_status load_tensor_as(loader *L, const char *name, int64_t rows, int64_t cols, bool want_f32,
                                bool optional, bool matmul_w, bool shape_only, dp_tensor *t, dp_error *e) {
    dp_model *m = L->m;
    const dp_rdrr_tensor *rt = dp_rdrr_find(m->rdrr, name);
    if (!rt) {
        if (optional) return DP_OK;
        return dp_err_set(e, DP_ERR_NOT_FOUND, "model: tensor '%s' missing from manifest", name);
    }
    L->seen[rt - dp_rdrr_tensor_at(m->rdrr, 0)] = 1;
    if ((int64_t)rt->ne[0] != cols || (int64_t)rt->ne[1] != rows)
        return dp_err_set(e, DP_ERR_FORMAT, "model: tensor '%s' is [%llu, %llu], expected [%lld, %lld]", name,
                          (unsigned long long)rt->ne[1], (unsigned long long)rt->ne[0], (long long)rows,
                          (long long)cols);
    if (want_f32 && rt->dtype != DP_DTYPE_F32)
        return dp_err_set(e, DP_ERR_FORMAT, "model: tensor '%s' must be f32, is %s", name, dp_dtype_name(rt->dtype));
    if (rt->dtype == DP_DTYPE_I32) return dp_err_set(e, DP_ERR_FORMAT, "model: tensor '%s' has integer type", name);
    dp_status st = DP_OK;
    if (shape_only) {
        memset(t, 0, sizeof *t);
        t->dtype = rt->dtype;
        t->ne[0] = cols;
        t->ne[1] = rows;
        t->nbytes = rt->size;
    } else if ((st = dp_tensor_upload(m->be, m->rdrr, rt, t, true, e)) != DP_OK) {
        return st;
    }
    if (matmul_w && m->be->i->prepare_weight) m->be->i->prepare_weight(m->be, t);
    m->n_params += rows * cols;
    m->weight_bytes += rt->size;
    L->done += rt->size;
    if (L->p->progress) L->p->progress(L->p->progress_ud, L->done, L->total);
    return DP_OK;
}

static dp_status load_tensor(loader *L, const char *name, int64_t rows, int64_t cols, bool want_f32,
                             bool optional, bool matmul_w, dp_tensor *t, dp_error *e) {
    return load_tensor_as(L, name, rows, cols, want_f32, optional, matmul_w, false, t, e);
}

static dp_status load_all(loader *L, dp_error *e) {
    dp_model *m = L->m;
    const dp_model_desc *d = &m->d;
    char name[128];
    dp_status st;
    if ((st = load_tensor(L, "token_embd.weight", d->vocab, d->hidden, false, false,
                          d->tied_embeddings, &m->embd, e))) return st;
    if ((st = load_tensor(L, "output_norm.weight", 1, d->hidden, true, false, false, &m->out_norm, e))) return st;
    if (d->tied_embeddings) m->output = m->embd;
    else if ((st = load_tensor(L, "output.weight", d->vocab, d->hidden, false, false, true, &m->output, e))) return st;
    m->main_dtype = m->output.dtype;
    m->layers = dp_calloc((size_t)d->n_layers, sizeof *m->layers);
    if (!m->layers) return dp_err_set(e, DP_ERR_NOMEM, "model: out of memory");
    for (int l = 0; l < d->n_layers; l++) {
        dp_layer_w *lw = &m->layers[l];
        for (int r = 0; r < DP_W_LAYER_COUNT; r++) {
            if (!dp_model_has(d, (dp_wrole)r)) continue;
            int slot = dp_model_expert_slot(d, r);
            int64_t rows, cols;
            dp_model_wshape(d, (dp_wrole)r, &rows, &cols);
            bool is_norm = rows == 1;
            if (slot < 0) {
                dp_tensor_name(name, sizeof name, l, (dp_wrole)r, -1);
                if ((st = load_tensor(L, name, rows, cols, is_norm, false, !is_norm, &lw->w[r], e))) return st;
                if (r == DP_W_Q) m->main_dtype = lw->w[r].dtype;
                continue;
            }
            lw->experts[slot] = dp_calloc((size_t)d->n_expert, sizeof(dp_tensor));
            if (!lw->experts[slot]) return dp_err_set(e, DP_ERR_NOMEM, "model: out of memory");
            for (int x = 0; x < d->n_expert; x++) {
                dp_tensor_name(name, sizeof name, l, (dp_wrole)r, x);
                if ((st = load_tensor_as(L, name, rows, cols, false, false, false, L->paged, &lw->experts[slot][x], e)))
                    return st;
            }
        }
    }
    for (size_t i = 0; i < dp_rdrr_n_tensors(m->rdrr); i++)
        if (!L->seen[i])
            return dp_err_set(e, DP_ERR_FORMAT, "model: unexpected tensor '%s' for family %s",
                              dp_rdrr_tensor_at(m->rdrr, i)->name, dp_family_name(d->family));
    return DP_OK;
}

/* Before anything is allocated for the tensors: the source holds every shard with the
 * manifest's size, and the tensors do not claim more bytes than those files hold. Spans may overlap, so
 * without this a small hostile manifest could make the loader allocate (and zero) any amount of
 * memory before the first shard read failed. */
static dp_status check_shards(const dp_model *m, dp_error *e) {
    uint64_t have = 0, need = 0;
    for (uint32_t i = 0; i < (uint32_t)dp_rdrr_n_shards(m->rdrr); i++) {
        dp_status st = dp_rdrr_shard_has(m->rdrr, i, e);
        if (st != DP_OK) {
            dp_err_prefix(e, "model");
            return st;
        }
        have += dp_rdrr_shard_size(m->rdrr, i); /* <= 2^20 shards of <= 1 GiB: no overflow */
    }
    for (size_t i = 0; i < dp_rdrr_n_tensors(m->rdrr); i++)
        if (!dp_add_u64(need, dp_rdrr_tensor_at(m->rdrr, i)->size, &need)) need = UINT64_MAX;
    if (need > have)
        return dp_err_set(e, DP_ERR_FORMAT, "model: tensors claim %llu bytes, more than the %llu bytes of the shards",
                          (unsigned long long)need, (unsigned long long)have);
    return DP_OK;
}

/* Whether the experts are paged: on the CPU with a RAM budget; on a GPU backend with a gpu_mem
 * below the model's size (ram_cache is then the RAM tier in front of the shards). */
static dp_status paging_plan(loader *L, dp_error *e) {
    const dp_load_params *p = L->p;
    dp_model *m = L->m;
    bool moe = m->d.n_expert > 0;
    if (!strcmp(m->be->i->name, "cpu")) {
        L->paged = p->ram_cache > 0 && moe;
        return DP_OK;
    }
    bool under = p->gpu_mem && p->gpu_mem < L->total;
    if (under && !moe)
        return dp_err_set(e, DP_ERR_LIMIT, "gpu_mem %llu bytes is below the model's %llu bytes, and a dense model "
                          "cannot page", (unsigned long long)p->gpu_mem, (unsigned long long)L->total);
    if (p->ram_cache && moe && !under)
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "on the %s backend ram_cache is the RAM tier of paging into gpu_mem: "
                          "give a gpu_mem below the model's %llu bytes too", m->be->i->name,
                          (unsigned long long)L->total);
    if (under && p->expert_in_place)
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "expert_in_place is a CPU mode (the %s backend computes on the device)",
                          m->be->i->name);
    L->paged = L->device = under;
    return DP_OK;
}

dp_status dp_model_load(const char *dir, const dp_load_params *p, dp_model **out, dp_error *e) {
    dp_load_params defaults;
    if (!p) {
        dp_load_params_default(&defaults);
        p = &defaults;
    }
    if (!dir || !out) return dp_err_set(e, DP_ERR_INVALID_ARG, "dp_model_load: NULL argument");
    if (!p->be && p->backend && strcmp(p->backend, "cpu") && strcmp(p->backend, "webgpu"))
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "backend '%s' is not available (cpu, webgpu)", p->backend);
    dp_model *m = dp_calloc(1, sizeof *m);
    if (!m) return dp_err_set(e, DP_ERR_NOMEM, "model: out of memory");
    loader L = {m, p, NULL, false, false, 0, 0};
    dp_status st = dp_rdrr_open(dir, &m->rdrr, e);
    if (st == DP_OK && dp_lora_is_adapter(dp_rdrr_model(m->rdrr)))
        st = dp_err_set(e, DP_ERR_INVALID_ARG, "%s is a LoRA adapter, not a model (load it with --lora / dp_adapter_load)", dir);
    if (st == DP_OK && p->shards) dp_rdrr_set_source(m->rdrr, p->shards);
    if (st == DP_OK) st = dp_model_from_json(dp_rdrr_model(m->rdrr), &m->d, e);
    if (st == DP_OK && !(m->dir = dp_strdup(dir))) st = dp_err_set(e, DP_ERR_NOMEM, "model: out of memory");
    if (st == DP_OK) st = check_shards(m, e);
    if (st == DP_OK && p->be) {
        m->be = p->be;
    } else if (st == DP_OK) {
        dp_backend_params bp;
        dp_backend_params_default(&bp);
        bp.n_threads = p->n_threads;
        st = dp_backend_new(p->backend, &bp, &m->be, e);
        m->owns_be = st == DP_OK;
    }
    if (st == DP_OK) {
        size_t nt = dp_rdrr_n_tensors(m->rdrr);
        L.seen = dp_calloc(nt ? nt : 1, 1);
        if (!L.seen) st = dp_err_set(e, DP_ERR_NOMEM, "model: out of memory");
        for (size_t i = 0; i < nt; i++) L.total += dp_rdrr_tensor_at(m->rdrr, i)->size;
    }
    if (st == DP_OK) st = paging_plan(&L, e);
    if (st == DP_OK && L.paged)
        st = dp_experts_new(m->rdrr, &m->d, p->ram_cache, p->expert_policy, p->expert_in_place != 0,
                            L.device ? 0 : p->expert_predict, &m->experts, e);
    uint64_t dense = m->experts ? L.total - dp_experts_bytes(m->experts) : L.total;
    if (st == DP_OK && L.device && p->gpu_mem < dense)
        st = dp_err_set(e, DP_ERR_LIMIT, "gpu_mem %llu bytes is below the model's %llu bytes of dense weights, which "
                        "stay on the device (experts are paged into what is left)", (unsigned long long)p->gpu_mem,
                        (unsigned long long)dense);
    if (st == DP_OK) st = load_all(&L, e);
    if (st == DP_OK && L.device) st = dp_experts_set_device(m->experts, m->be, p->gpu_mem - dense, e);
    dp_free(L.seen);
    if (m->rdrr) dp_rdrr_drop_cache(m->rdrr); /* the weights are on the backend (or mapped) now */
    if (st != DP_OK) {
        dp_model_free(m);
        return st;
    }
    *out = m;
    return DP_OK;
}

void dp_model_free(dp_model *m) {
    if (!m) return;
    dp_backend *be = m->be;
    dp_experts_free(m->experts); /* its device slots are on be */
    m->experts = NULL;
    if (be && m->layers) {
        for (int l = 0; l < m->d.n_layers; l++) {
            dp_layer_w *lw = &m->layers[l];
            for (int r = 0; r < DP_W_LAYER_COUNT; r++) be->i->tensor_free(be, &lw->w[r]);
            for (int s = 0; s < 3; s++) {
                if (!lw->experts[s]) continue;
                for (int x = 0; x < m->d.n_expert; x++) be->i->tensor_free(be, &lw->experts[s][x]);
                dp_free(lw->experts[s]);
            }
        }
    }
    if (be) {
        be->i->tensor_free(be, &m->embd);
        be->i->tensor_free(be, &m->out_norm);
        if (!m->d.tied_embeddings) be->i->tensor_free(be, &m->output);
        if (m->owns_be) be->i->free(be);
    }
    dp_free(m->layers);
    dp_rdrr_free(m->rdrr);
    dp_free(m->dir);
    dp_free(m);
}

void dp_model_paging_stats(const dp_model *m, dp_paging_stats *out) {
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (m && m->experts) dp_experts_stats(m->experts, out);
}

int32_t dp_model_n_vocab(const dp_model *m) { return m->d.vocab; }
int32_t dp_model_n_layers(const dp_model *m) { return m->d.n_layers; }
int64_t dp_model_n_params(const dp_model *m) { return m->n_params; }
uint64_t dp_model_weight_bytes(const dp_model *m) { return m->weight_bytes; }
int32_t dp_model_bos(const dp_model *m) { return m->d.bos_id; }
const char *dp_model_family(const dp_model *m) { return dp_family_name(m->d.family); }
const char *dp_model_dtype(const dp_model *m) { return dp_dtype_name(m->main_dtype); }
const char *dp_model_dir(const dp_model *m) { return m->dir; }

int dp_model_is_eos(const dp_model *m, int32_t id) {
    for (int i = 0; i < m->d.n_eos; i++)
        if (m->d.eos_ids[i] == id) return 1;
    return 0;
}
