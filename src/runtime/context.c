/* context.c — one sequence: KV cache and scratch allocated once, chunked evaluation, sampling. */
#include <math.h>
#include <string.h>

#include "runtime/runtime.h"

#define DP_RNG_START 0x9E3779B97F4A7C15ull /* the generator's state in a new context */

void dp_ctx_params_default(dp_ctx_params *p) {
    memset(p, 0, sizeof *p);
}

dp_status dp_tensor_alloc4(dp_backend *be, dp_tensor *t, dp_dtype dtype, int64_t rows, int64_t cols, dp_error *e) {
    memset(t, 0, sizeof *t);
    t->dtype = dtype;
    t->ne[0] = cols;
    t->ne[1] = rows;
    t->nbytes = (uint64_t)rows * (uint64_t)cols * 4u;
    return be->i->tensor_alloc(be, t, e);
}

static dp_status alloc_f32(dp_backend *be, dp_tensor *t, int64_t rows, int64_t cols, dp_error *e) {
    return dp_tensor_alloc4(be, t, DP_DTYPE_F32, rows, cols, e);
}

dp_status dp_scratch_alloc(dp_backend *be, const dp_model *m, dp_scratch *s, int64_t B, int64_t logits_rows, dp_error *e) {
    const dp_model_desc *d = &m->d;
    int64_t q_dim = (int64_t)d->n_head * d->head_dim, kv_dim = (int64_t)d->n_kv_head * d->head_dim;
    int64_t wide = d->hidden > q_dim ? d->hidden : q_dim;
    dp_status st;
    memset(s, 0, sizeof *s);
    if ((st = alloc_f32(be, &s->x, B, d->hidden, e)) || (st = alloc_f32(be, &s->h, B, wide, e)) ||
        (st = alloc_f32(be, &s->q, B, q_dim, e)) || (st = alloc_f32(be, &s->k, B, kv_dim, e)) ||
        (st = alloc_f32(be, &s->v, B, kv_dim, e)) || (st = alloc_f32(be, &s->att, B, q_dim, e)) ||
        (st = alloc_f32(be, &s->gate, B, d->ffn, e)) || (st = alloc_f32(be, &s->up, B, d->ffn, e)) ||
        (st = alloc_f32(be, &s->ffn_out, B, d->hidden, e)) ||
        (st = alloc_f32(be, &s->router, B, d->n_expert > 0 ? d->n_expert : 1, e)) ||
        (st = alloc_f32(be, &s->logits, logits_rows, d->vocab, e)) ||
        (st = alloc_f32(be, &s->ids, 1, B, e)) || (st = alloc_f32(be, &s->pos, 1, B, e)) ||
        (st = alloc_f32(be, &s->token, 1, 1, e)) ||
        (st = alloc_f32(be, &s->inv_freq, 1, d->rot_dim / 2, e)) ||
        (st = alloc_f32(be, &s->inv_freq_local, 1, d->rot_dim / 2, e)) ||
        (dp_experts_predict_k(m->experts) > 0 && (st = alloc_f32(be, &s->router_next, B, d->n_expert, e))))
        return st;
    s->ids.dtype = s->pos.dtype = s->token.dtype = DP_DTYPE_I32;
    return DP_OK;
}

void dp_scratch_free(dp_backend *be, dp_scratch *s) {
    dp_tensor *all = (dp_tensor *)s;
    for (size_t i = 0; i < sizeof *s / sizeof(dp_tensor); i++) be->i->tensor_free(be, &all[i]);
}

static void free_ctx_tensors(dp_ctx *c) {
    dp_backend *be = c->be;
    if (!be) return;
    dp_scratch_free(be, &c->s);
    for (int l = 0; l < c->m->d.n_layers; l++) {
        if (c->k_cache) be->i->tensor_free(be, &c->k_cache[l]);
        if (c->v_cache) be->i->tensor_free(be, &c->v_cache[l]);
    }
}

static dp_status ctx_alloc(dp_ctx *c, dp_error *e) {
    dp_model *m = c->m;
    const dp_model_desc *d = &m->d;
    dp_backend *be = m->be;
    dp_scratch *s = &c->s;
    dp_status st;
    if (be->i->stream_new) {
        if ((st = be->i->stream_new(be, &c->be, e))) return st;
        be = c->be;
    } else {
        c->be = be;
    }
    int64_t kv_dim = (int64_t)d->n_kv_head * d->head_dim;
    if ((st = dp_scratch_alloc(be, m, s, c->n_batch, c->logits_all ? c->n_batch : 1, e))) return st;
    c->k_cache = dp_calloc((size_t)d->n_layers, sizeof(dp_tensor));
    c->v_cache = dp_calloc((size_t)d->n_layers, sizeof(dp_tensor));
    if (!c->k_cache || !c->v_cache) return dp_err_set(e, DP_ERR_NOMEM, "context: out of memory");
    for (int l = 0; l < d->n_layers; l++) {
        if ((st = alloc_f32(be, &c->k_cache[l], c->n_ctx, kv_dim, e)) ||
            (st = alloc_f32(be, &c->v_cache[l], c->n_ctx, kv_dim, e))) {
            dp_err_prefix(e, "KV cache (n_ctx %d)", c->n_ctx);
            return st;
        }
    }
    float freqs[DP_MAX_ROPE_FACTORS];
    uint64_t fb = (uint64_t)(d->rot_dim / 2) * 4u;
    dp_model_rope_freqs(d, false, c->n_ctx, freqs, &c->mscale);
    if ((st = be->i->tensor_set(be, &s->inv_freq, 0, freqs, fb, e))) return st;
    dp_model_rope_freqs(d, true, c->n_ctx, freqs, &c->mscale_local);
    return be->i->tensor_set(be, &s->inv_freq_local, 0, freqs, fb, e);
}

/* Before anything is allocated: n_ctx within the model's positions, and a KV cache that this
 * machine's memory can hold (a caller's -c 16777216 failed only after 16 s and 6 GB). */
static dp_status ctx_check_size(const dp_model_desc *d, int64_t n_ctx, dp_error *e) {
    if (n_ctx > (1 << 24))
        return dp_err_set(e, DP_ERR_LIMIT, "context: n_ctx %lld is over the limit of %d", (long long)n_ctx, 1 << 24);
    if (n_ctx > d->max_pos)
        return dp_err_set(e, DP_ERR_LIMIT, "context: n_ctx %lld is over the model's maximum of %lld positions",
                          (long long)n_ctx, (long long)d->max_pos);
    uint64_t kv = 0, mem = dp_mem_total();
    bool ok = dp_mul_u64((uint64_t)n_ctx, (uint64_t)d->n_kv_head * (uint64_t)d->head_dim * 8u, &kv) &&
              dp_mul_u64(kv, (uint64_t)d->n_layers, &kv);
    if (!ok || (mem && kv > mem))
        return dp_err_set(e, DP_ERR_LIMIT, "context: n_ctx %lld needs a %.1f GiB KV cache, more than the %.1f GiB of memory here",
                          (long long)n_ctx, ok ? (double)kv / 1073741824.0 : INFINITY, (double)mem / 1073741824.0);
    return DP_OK;
}

dp_status dp_ctx_new(dp_model *m, const dp_ctx_params *p, dp_ctx **out, dp_error *e) {
    dp_ctx_params defaults;
    if (!p) {
        dp_ctx_params_default(&defaults);
        p = &defaults;
    }
    if (!m || !out) return dp_err_set(e, DP_ERR_INVALID_ARG, "dp_ctx_new: NULL argument");
    dp_ctx *c = dp_calloc(1, sizeof *c);
    if (!c) return dp_err_set(e, DP_ERR_NOMEM, "context: out of memory");
    c->m = m;
    int64_t max = m->d.max_pos < 4096 ? m->d.max_pos : 4096;
    c->n_ctx = p->n_ctx > 0 ? p->n_ctx : (int)max;
    c->n_batch = p->n_batch > 0 ? p->n_batch : 512;
    if (c->n_batch > c->n_ctx) c->n_batch = c->n_ctx;
    c->logits_all = p->logits_all != 0;
    c->rng = DP_RNG_START;
    dp_status st = ctx_check_size(&m->d, c->n_ctx, e);
    if (st == DP_OK) st = ctx_alloc(c, e);
    if (st != DP_OK) {
        dp_ctx_free(c);
        return st;
    }
    *out = c;
    return DP_OK;
}

void dp_ctx_free(dp_ctx *c) {
    if (!c) return;
    free_ctx_tensors(c);
    if (c->be && c->be != c->m->be) c->be->i->free(c->be);
    dp_free(c->k_cache);
    dp_free(c->v_cache);
    dp_free(c);
}

int32_t dp_ctx_pos(const dp_ctx *c) { return c->pos; }
int32_t dp_ctx_n_ctx(const dp_ctx *c) { return c->n_ctx; }
int64_t dp_ctx_n_evaluated(const dp_ctx *c) { return c->n_evaluated; }
void dp_ctx_reset(dp_ctx *c) {
    c->pos = 0;
    c->last_rows = 0;
    c->sampled = false;
    c->rng = DP_RNG_START; /* a new sequence: the next seed takes effect */
    c->seeded = false;
}

dp_status dp_ctx_truncate(dp_ctx *c, int32_t pos, dp_error *e) {
    if (!c || pos < 0 || pos > c->pos)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "truncate: position %d outside the sequence [0, %d]", pos, c ? c->pos : 0);
    c->pos = pos;
    c->last_rows = 0;
    c->sampled = false;
    return DP_OK;
}

static dp_status eval_check(dp_ctx *c, const int32_t *ids, int32_t n, dp_error *e) {
    if (n <= 0 || !ids) return dp_err_set(e, DP_ERR_INVALID_ARG, "eval: no tokens");
    if ((int64_t)c->pos + n > c->n_ctx)
        return dp_err_set(e, DP_ERR_LIMIT, "eval: %d tokens at position %d pass the context length %d", n, c->pos, c->n_ctx);
    for (int32_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= c->m->d.vocab)
            return dp_err_set(e, DP_ERR_INVALID_ARG, "eval: token id %d outside the vocabulary (%d)", ids[i], c->m->d.vocab);
    return DP_OK;
}

/* one forward pass over ids[0, chunk) (chunk <= n_batch) at c->pos, the ids from the host or,
 * when ids is NULL, read from the device tensor dev_ids; logits as dp_forward */
static dp_status eval_chunk(dp_ctx *c, const int32_t *ids, const dp_tensor *dev_ids, int32_t chunk, bool all,
                            dp_tensor *logits, dp_error *e) {
    dp_backend *be = c->be;
    int32_t pos_buf[64];
    dp_status st = ids ? be->i->tensor_set(be, &c->s.ids, 0, ids, (uint64_t)chunk * 4u, e) : DP_OK;
    for (int32_t i = 0; i < chunk && st == DP_OK; i += 64) {
        int32_t k = chunk - i < 64 ? chunk - i : 64;
        for (int32_t j = 0; j < k; j++) pos_buf[j] = c->pos + i + j;
        st = be->i->tensor_set(be, &c->s.pos, (uint64_t)i * 4u, pos_buf, (uint64_t)k * 4u, e);
    }
    if (st != DP_OK) return st;
    c->sampled = false;
    dp_forward(c, chunk, all, logits, ids ? NULL : dev_ids); /* device ids: read where they are */
    return be->i->flush(be, e);
}

/* after a failed evaluation: as before the call (positions past pos0 are rewritten by the next
 * eval), but nothing to sample: the logits may be from a half-done chunk */
static dp_status eval_failed(dp_ctx *c, int32_t pos0, dp_status st) {
    c->pos = pos0;
    c->last_rows = 0;
    c->sampled = false;
    return st;
}

dp_status dp_ctx_eval(dp_ctx *c, const int32_t *ids, int32_t n, float *logits, dp_error *e) {
    return dp_ctx_eval_from(c, ids, n, logits, 0, e);
}

dp_status dp_ctx_eval_from(dp_ctx *c, const int32_t *ids, int32_t n, float *logits, int32_t first_out, dp_error *e) {
    dp_model *m = c->m;
    dp_backend *be = c->be;
    if (logits && !c->logits_all) return dp_err_set(e, DP_ERR_INVALID_ARG, "eval: logits output needs a context with logits_all");
    dp_status st = eval_check(c, ids, n, e);
    if (st != DP_OK) return st;
    if (first_out < 0 || first_out >= n)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "eval: first logits row %d outside [0, %d)", first_out, n);
    const int32_t pos0 = c->pos;
    for (int32_t done = 0; done < n;) {
        int32_t chunk = n - done < c->n_batch ? n - done : c->n_batch;
        /* a batch wholly before first_out needs only its last row (what sampling reads) */
        bool rows_wanted = done + chunk > first_out;
        if ((st = eval_chunk(c, ids + done, NULL, chunk, c->logits_all && rows_wanted, NULL, e))) return eval_failed(c, pos0, st);
        if (logits && rows_wanted) {
            uint64_t row = (uint64_t)m->d.vocab * 4u;
            int32_t r0 = first_out > done ? first_out - done : 0;
            st = be->i->tensor_read(be, &c->s.logits, row * (uint64_t)r0,
                                    logits + (size_t)(done + r0 - first_out) * (size_t)m->d.vocab,
                                    row * (uint64_t)(chunk - r0), e);
            if (st != DP_OK) return eval_failed(c, pos0, st);
        }
        c->pos += chunk;
        c->n_evaluated += chunk;
        done += chunk;
    }
    return DP_OK;
}

dp_status dp_ctx_eval_rows(dp_ctx *c, const dp_tensor *ids, int32_t n, dp_tensor *logits, dp_error *e) {
    dp_status st;
    if (n <= 0 || n > c->n_batch || (int64_t)c->pos + n > c->n_ctx || ids->ne[0] * ids->ne[1] < n ||
        ids->dtype != DP_DTYPE_I32 || logits->ne[1] < n || logits->ne[0] != c->m->d.vocab)
        return dp_err_set(e, DP_ERR_INTERNAL, "eval_rows: %d rows at position %d for a batch of %d, %d positions and %lld logit rows",
                          n, c->pos, c->n_batch, c->n_ctx, (long long)logits->ne[1]);
    if ((st = eval_chunk(c, NULL, ids, n, true, logits, e))) return eval_failed(c, c->pos, st);
    c->pos += n;
    c->n_evaluated += n;
    return DP_OK;
}

static uint64_t rng_next(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

dp_status dp_sampling_check(const dp_sampling *s, dp_error *e) {
    if (!s) return DP_OK;
    float t = s->temperature;
    if (!(t == 0.0f || (t > 0.0f && isfinite(t) && isfinite(1.0f / t))))
        return dp_err_set(e, DP_ERR_INVALID_ARG, "sampling: temperature %g is not 0 (greedy) or a positive finite number",
                          (double)t);
    if (!(s->top_p > 0.0f && s->top_p <= 1.0f))
        return dp_err_set(e, DP_ERR_INVALID_ARG, "sampling: top_p %g is outside (0, 1] (1 keeps every token)",
                          (double)s->top_p);
    if (s->top_k < 0)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "sampling: top_k %d is negative (0 keeps every token)", (int)s->top_k);
    return DP_OK;
}

float dp_ctx_rand01(dp_ctx *c, const dp_sampling *sp) {
    if (sp && sp->seed && !c->seeded) {
        c->rng = sp->seed;
        c->seeded = true;
    }
    return (float)((double)(rng_next(&c->rng) >> 11) * (1.0 / 9007199254740992.0));
}

dp_status dp_ctx_sample_queue(dp_ctx *c, const dp_sampling *sp, dp_error *e) {
    return dp_ctx_sample_queue_from(c, sp, c, e);
}

dp_status dp_ctx_sample_queue_from(dp_ctx *c, const dp_sampling *sp, dp_ctx *gen, dp_error *e) {
    dp_backend *be = c->be;
    if (c->last_rows <= 0) return dp_err_set(e, DP_ERR_INVALID_ARG, "sample: nothing evaluated yet");
    dp_status st = dp_sampling_check(sp, e);
    if (st != DP_OK) return st;
    dp_sample_args a = {0, 0, 1.0f, 0};
    if (sp) {
        a.temperature = sp->temperature;
        a.top_k = sp->top_k;
        a.top_p = sp->top_p;
    }
    a.rand01 = dp_ctx_rand01(gen, sp);
    be->i->sample(be, &c->s.token, &c->s.logits, c->last_rows - 1, c->m->d.vocab, &a);
    st = be->i->flush(be, e);
    c->sampled = st == DP_OK;
    return st;
}

dp_status dp_ctx_sample(dp_ctx *c, const dp_sampling *sp, int32_t *token, dp_error *e) {
    dp_status st = dp_ctx_sample_queue(c, sp, e);
    if (st == DP_OK) st = c->be->i->tensor_read(c->be, &c->s.token, 0, token, 4, e);
    c->sampled = st == DP_OK;
    return st;
}

dp_status dp_ctx_eval_sampled(dp_ctx *c, dp_error *e) {
    dp_backend *be = c->be;
    if (!c->sampled) return dp_err_set(e, DP_ERR_INVALID_ARG, "eval_sampled: no token sampled since the last eval");
    if (c->pos + 1 > c->n_ctx)
        return dp_err_set(e, DP_ERR_LIMIT, "eval_sampled: position %d passes the context length %d", c->pos, c->n_ctx);
    int32_t pos = c->pos;
    dp_status st = be->i->tensor_set(be, &c->s.pos, 0, &pos, 4, e);
    if (st != DP_OK) return st;
    c->sampled = false;
    dp_forward(c, 1, c->logits_all, NULL, &c->s.token); /* the id stays on the device: the pass reads it */
    if ((st = be->i->flush(be, e)) != DP_OK) {
        c->last_rows = 0;
        return st;
    }
    c->pos += 1;
    c->n_evaluated += 1;
    return DP_OK;
}
